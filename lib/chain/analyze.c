/*
 * Per-trace analysis: SPEC.md section 2 on one trace of the graph.
 *
 * Everything here is linear in the trace's nodes and links (plus one sort of
 * the spans by start time, which makes every traversal and tie-break
 * deterministic whatever the arrival order) and iterative: a trace of a
 * million spans, a fan-out of 100,000 or a chain 100,000 deep needs no
 * recursion.
 *
 * Decisions where SPEC.md is silent (docs/model.md has the user-facing
 * version):
 *  - Parent cycles: in each cycle the earliest span (start, then span id)
 *    loses its parent link and is treated as having none.
 *  - max_span_fanout counts children of received spans only; the children
 *    of a parent that never arrived are orphans, not a fan-out.
 *  - A call site's target when no attribute names one: the function of its
 *    earliest callee (an entry span whose parent is the call site, else one
 *    that links to it), else the span name.
 *  - The deepest recursion path kept for details is the one ending at the
 *    earliest invocation reaching max_recursion.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>

#include "chain.h"
#include "internal.h"

/* ------------------------------------------------------------ u64 map */

/* Open addressing, keys != 0, for node index -> local index and function ->
 * dense index within one analysis. */
typedef struct umap {
    uint64_t *k;
    uint32_t *v;
    uint64_t mask;
} umap;

/* Maps live in the analysis' scratch, freed with it. */
static bool umap_init(cw__scratch *S, umap *u, size_t n)
{
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)n)
        cap <<= 1;
    u->mask = cap - 1;
    u->k = cw__scratch_get(S, cap * sizeof *u->k);
    u->v = cw__scratch_get(S, cap * sizeof *u->v);
    return u->k && u->v;
}

static void umap_put(umap *u, uint64_t key, uint32_t v)
{
    for (uint64_t i = cw__mix64(key) & u->mask;; i = (i + 1) & u->mask) {
        if (u->k[i] == 0 || u->k[i] == key) {
            u->k[i] = key;
            u->v[i] = v;
            return;
        }
    }
}

static uint32_t umap_get(const umap *u, uint64_t key)
{
    for (uint64_t i = cw__mix64(key) & u->mask;; i = (i + 1) & u->mask) {
        if (u->k[i] == key)
            return u->v[i];
        if (u->k[i] == 0)
            return CW_NIL;
    }
}

/* --------------------------------------------------------- local spans */

typedef struct lspan {
    uint64_t sid;
    uint64_t start, end;
    uint64_t invid;
    uint32_t node;
    uint32_t parent;   /* local index (real or placeholder), CW_NIL */
    uint32_t function, name, target;
    uint32_t inv;
    uint32_t fn_dense;
    uint16_t http;
    uint8_t kind, status, resend;
    uint8_t real;
    uint8_t entry;
    uint8_t has_parent; /* parent edge usable: real parent, not cut */
} lspan;

typedef struct key {
    uint64_t start, sid;
    uint32_t node;
    uint32_t real;
} key;

static int key_cmp(const void *a, const void *b)
{
    const key *x = a, *y = b;
    if (x->real != y->real)
        return x->real ? -1 : 1; /* placeholders last */
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->sid != y->sid)
        return x->sid < y->sid ? -1 : 1;
    return 0;
}

static bool failed(const lspan *s)
{
    return s->status == CW_STATUS_ERROR || s->http >= 500 || s->http == 429;
}

static bool call_site(const lspan *s)
{
    return s->real && (s->kind == CW_KIND_CLIENT || s->kind == CW_KIND_PRODUCER);
}

/* Grows a record array by one element. */
#define GROW(m, arr, n, cap) cw__grow((m), (void **)&(arr), &(cap), (n) + 1, sizeof *(arr))

typedef struct gcall {
    uint32_t inv, target;
    uint64_t start, sid;
    uint32_t local;
} gcall;

static int gcall_cmp(const void *a, const void *b)
{
    const gcall *x = a, *y = b;
    if (x->inv != y->inv)
        return x->inv < y->inv ? -1 : 1;
    if (x->target != y->target)
        return x->target < y->target ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->sid < y->sid ? -1 : x->sid > y->sid;
}

typedef struct redel {
    uint32_t function;
    uint64_t invid, start, sid;
    uint32_t local;
} redel;

static int redel_cmp(const void *a, const void *b)
{
    const redel *x = a, *y = b;
    if (x->function != y->function)
        return x->function < y->function ? -1 : 1;
    if (x->invid != y->invid)
        return x->invid < y->invid ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->sid < y->sid ? -1 : x->sid > y->sid;
}

static int spaninv_cmp(const void *a, const void *b)
{
    const cw__spaninv *x = a, *y = b;
    return x->span_id < y->span_id ? -1 : x->span_id > y->span_id;
}

static bool linkable(cw__graph *g, const lspan *s)
{
    return s->inv != CW_NIL &&
           (call_site(s) || s->entry || cw__links_in(g, s->node) != CW_NIL);
}

/* Is a span (read from the graph, maybe in another trace) an entry span? */
static bool node_is_entry(cw__graph *g, const cw__payload *p)
{
    if (p->kind == CW_KIND_SERVER || p->kind == CW_KIND_CONSUMER || p->parent == CW_NIL)
        return true;
    cw__payload pp;
    if (!cw__graph_node_read(g, p->parent, &pp))
        return true; /* parent never arrived (so far) */
    return pp.function != p->function;
}

/* Frees what an unfinished record grew outside the scratch. */
static void free_parts(cw__mem *m, cw__record *r)
{
    cw__free(m, r->ledges, r->ledges_cap * sizeof *r->ledges);
    cw__free(m, r->plinks, r->plinks_cap * sizeof *r->plinks);
    cw__free(m, r->groups, r->groups_cap * sizeof *r->groups);
    cw__free(m, r->group_spans, r->group_spans_cap * sizeof *r->group_spans);
}

/* Copies an array of n elements into the block at *p; returns where it
 * went, or NULL for none. */
static void *place(unsigned char **p, const void *src, size_t bytes)
{
    if (!bytes)
        return NULL;
    void *d = *p;
    memcpy(d, src, bytes);
    *p += bytes;
    return d;
}

/* Moves the finished record, built in scratch memory and a few growing
 * arrays, into one allocation sized exactly: the record, then its arrays
 * from the strictest alignment down (every 8-byte array's size is a
 * multiple of 8). Records are what the summary store keeps, so the bytes
 * saved (no growth slack) and the allocations saved (one, not up to
 * nine) are paid for by every completed trace. Returns the record, or
 * NULL when out of memory (r is then left as it was). */
static cw__record *pack(cw__mem *m, cw__record *r)
{
    size_t b_rec = (sizeof *r + 15) & ~(size_t)15,
           b_inv = (r->invocations + 1) * sizeof *r->inv,
           b_fstart = (r->nfunctions + 1) * sizeof *r->fstart,
           b_spaninv = (r->nspaninv + 1) * sizeof *r->spaninv,
           b_gspans = r->ngroup_spans * sizeof *r->group_spans,
           b_plinks = r->nplinks * sizeof *r->plinks,
           b_ledges = r->nledges * sizeof *r->ledges,
           b_groups = r->ngroups * sizeof *r->groups,
           b_fn = (r->nfunctions + 1) * sizeof *r->functions,
           b_loop = r->nloop * sizeof *r->loop_path;
    size_t total = b_rec + b_inv + b_fstart + b_spaninv + b_gspans + b_plinks + b_ledges +
                   b_groups + b_fn + b_loop;
    unsigned char *blk = cw__heap_alloc(m, total);
    if (!blk)
        return NULL;
    cw__record *q = (cw__record *)blk;
    memcpy(q, r, sizeof *r);
    unsigned char *p = blk + b_rec;
    q->inv = place(&p, r->inv, b_inv);
    q->fstart = place(&p, r->fstart, b_fstart);
    q->spaninv = place(&p, r->spaninv, b_spaninv);
    q->group_spans = place(&p, r->group_spans, b_gspans);
    q->plinks = place(&p, r->plinks, b_plinks);
    q->ledges = place(&p, r->ledges, b_ledges);
    q->groups = place(&p, r->groups, b_groups);
    q->functions = place(&p, r->functions, b_fn);
    q->loop_path = place(&p, r->loop_path, b_loop);
    q->group_spans_cap = r->ngroup_spans;
    q->plinks_cap = r->nplinks;
    q->ledges_cap = r->nledges;
    q->groups_cap = r->ngroups;
    q->block_bytes = total;
    free_parts(m, r);
    /* What points at the record itself points at its final place. */
    atomic_init(&q->chain, NULL);
    atomic_init(&q->chain_root, q);
    atomic_init(&q->hnext, NULL);
    atomic_init(&q->older, NULL);
    atomic_init(&q->xedges, NULL);
    atomic_init(&q->nxedges, 0);
    q->root = q;
    q->cnext = q;
    return q;
}

/* Appends one observed call; false when out of memory. */
static bool call_add(cw__mem *m, cw__calls *c, uint32_t caller, uint32_t callee, bool async,
                     bool error, bool retry, uint64_t latency_ns)
{
    if (c->n == c->cap && cw__grow(m, (void **)&c->v, &c->cap, c->n + 1, sizeof *c->v))
        return false;
    c->v[c->n++] = (cw__call){caller, callee, latency_ns, async, error, retry};
    return true;
}

/* How far ahead the analysis prefetches the nodes it will read. */
#define NODE_PF 8

static void prefetch_node(cw__graph *g, uint32_t i)
{
    const char *p = (const char *)cw__graph_node(g, i);
    __builtin_prefetch(p);
    __builtin_prefetch(p + sizeof(cw__node) - 1);
}

cw__record *cw__analyze_trace(cw__store *st, cw__graph *g, uint32_t trace,
                              const uint32_t *nodes, size_t nn, bool complete, cw__arena *arena,
                              cw__calls *obs)
{
    size_t obs_n0 = obs ? obs->n : 0;
    cw__mem *m = cw__store_mem(st);
    const cw__trace *tr = cw__graph_trace(g, trace);
    cw__tid tid = cw__trace_id(tr);
    cw__scratch S;
    cw__scratch_init(&S, m, arena);
    /* Built in scratch; pack() gives it its one allocation at the end. */
    cw__record *r = cw__scratch_get(&S, sizeof *r);
    if (!r)
        goto oom;
    r->id = tid;
    r->complete = complete;
    r->root_function = CW_STR_NONE;
    r->loop_function = CW_STR_NONE;
    r->members = 1;

    /* 1. Nodes, sorted by (real first, start, span id). A live trace's
     * list may grow meanwhile: the first walk's count bounds the second. */
    size_t n = nn;
    if (!nodes) {
        for (uint32_t i = atomic_load_explicit(&((cw__trace *)tr)->nodes, memory_order_acquire);
             i != CW_NIL; i = cw__graph_node(g, i)->next_in_trace)
            n++;
        uint32_t *list = cw__scratch_get(&S, (n + 1) * sizeof *list);
        if (!list)
            goto oom;
        size_t k = 0;
        for (uint32_t i = atomic_load_explicit(&((cw__trace *)tr)->nodes, memory_order_acquire);
             i != CW_NIL && k < n; i = cw__graph_node(g, i)->next_in_trace)
            list[k++] = i;
        n = k;
        nodes = list;
    }
    key *keys = cw__scratch_get(&S, n * sizeof *keys);
    lspan *sp = cw__scratch_get(&S, n * sizeof *sp);
    umap nodemap = {0};
    if (!keys || !sp || !umap_init(&S, &nodemap, n))
        goto oom;
    for (size_t k = 0; k < n && k < NODE_PF; k++)
        prefetch_node(g, nodes[k]);
    for (size_t k = 0; k < n; k++) {
        if (k + NODE_PF < n)
            prefetch_node(g, nodes[k + NODE_PF]);
        uint32_t i = nodes[k];
        cw__payload p;
        keys[k].real = cw__graph_node_read(g, i, &p);
        keys[k].start = keys[k].real ? p.start_ns : UINT64_MAX;
        keys[k].sid = cw__node_span_id(cw__graph_node(g, i));
        keys[k].node = i;
    }
    qsort(keys, n, sizeof *keys, key_cmp);
    size_t nreal = 0;
    for (size_t i = 0; i < n; i++) {
        umap_put(&nodemap, (uint64_t)keys[i].node + 1, (uint32_t)i);
        nreal += keys[i].real;
    }
    for (size_t i = 0; i < n; i++) {
        if (i + NODE_PF < n)
            prefetch_node(g, keys[i + NODE_PF].node);
        lspan *s = &sp[i];
        s->sid = keys[i].sid;
        s->node = keys[i].node;
        s->parent = CW_NIL;
        s->inv = CW_NIL;
        cw__payload p;
        if (!keys[i].real || !cw__graph_node_read(g, keys[i].node, &p))
            continue;
        s->real = 1;
        s->start = p.start_ns;
        s->end = p.end_ns;
        s->invid = p.invocation_id;
        s->function = p.function;
        s->name = p.name;
        s->target = p.target;
        s->http = p.http_status;
        s->kind = p.kind;
        s->status = p.status;
        s->resend = p.resend_count;
        if (p.parent != CW_NIL)
            s->parent = umap_get(&nodemap, (uint64_t)p.parent + 1);
    }
    r->spans = nreal;

    /* 2. Children of received spans (CSR, in time order). */
    uint32_t *ccount = cw__scratch_get(&S, (n + 1) * sizeof *ccount);
    uint32_t *cfirst = cw__scratch_get(&S, (n + 1) * sizeof *cfirst);
    uint32_t *child = cw__scratch_get(&S, (n + 1) * sizeof *child);
    uint32_t *queue = cw__scratch_get(&S, (n + 1) * sizeof *queue);
    uint32_t *depth = cw__scratch_get(&S, (n + 1) * sizeof *depth);
    uint32_t *stamp = cw__scratch_get(&S, (n + 1) * sizeof *stamp);
    if (!ccount || !cfirst || !child || !queue || !depth || !stamp)
        goto oom;
    for (size_t i = 0; i < nreal; i++)
        if (sp[i].parent != CW_NIL && sp[sp[i].parent].real)
            ccount[sp[i].parent]++;
    {
        uint32_t acc = 0;
        for (size_t i = 0; i < n; i++) {
            cfirst[i] = acc;
            acc += ccount[i];
            ccount[i] = 0;
        }
        cfirst[n] = acc;
    }
    for (size_t i = 0; i < nreal; i++) {
        uint32_t p = sp[i].parent;
        if (p != CW_NIL && sp[p].real)
            child[cfirst[p] + ccount[p]++] = (uint32_t)i;
    }

    /* 3. Breadth-first from the roots (no parent, or a parent that never
     * arrived), then from one cut per parent cycle. */
    size_t qh = 0, qt = 0;
    uint8_t *seen = cw__scratch_get(&S, n + 1);
    if (!seen)
        goto oom;
    for (size_t i = 0; i < nreal; i++) {
        if (sp[i].parent == CW_NIL || !sp[sp[i].parent].real) {
            queue[qt++] = (uint32_t)i;
            seen[i] = 1;
            depth[i] = 1;
        } else {
            sp[i].has_parent = 1;
        }
    }
    uint32_t walk = 0;
    for (size_t next_unseen = 0;;) {
        while (qh < qt) {
            uint32_t v = queue[qh++];
            for (uint32_t c = cfirst[v]; c < cfirst[v] + ccount[v]; c++) {
                uint32_t w = child[c];
                if (!seen[w]) {
                    seen[w] = 1;
                    depth[w] = depth[v] + 1;
                    queue[qt++] = w;
                }
            }
        }
        /* Spans still unseen hang in or below a parent cycle. */
        while (next_unseen < nreal && seen[next_unseen])
            next_unseen++;
        if (next_unseen >= nreal)
            break;
        walk++;
        uint32_t v = (uint32_t)next_unseen;
        while (stamp[v] != walk) {
            stamp[v] = walk;
            v = sp[v].parent;
        }
        /* v is on the cycle: cut the cycle's earliest span. */
        uint32_t cut = v;
        for (uint32_t u = sp[v].parent; u != v; u = sp[u].parent)
            if (u < cut)
                cut = u;
        sp[cut].has_parent = 0;
        seen[cut] = 1;
        depth[cut] = 1;
        queue[qt++] = cut;
    }
    for (size_t i = 0; i < nreal; i++) {
        if (depth[i] > r->span_depth)
            r->span_depth = depth[i];
        uint32_t nc = 0;
        for (uint32_t c = cfirst[i]; c < cfirst[i] + ccount[i]; c++)
            nc += sp[child[c]].has_parent;
        if (nc > r->max_span_fanout)
            r->max_span_fanout = nc;
        r->errors += sp[i].status == CW_STATUS_ERROR;
    }

    /* 4. Invocations, in breadth-first order (callers before callees). */
    uint32_t ninv = 0;
    for (size_t q = 0; q < qt; q++) {
        lspan *s = &sp[queue[q]];
        const lspan *p = s->has_parent ? &sp[s->parent] : NULL;
        s->entry = s->kind == CW_KIND_SERVER || s->kind == CW_KIND_CONSUMER || !p ||
                   p->function != s->function;
        if (s->entry)
            s->inv = ninv++;
        else
            s->inv = p->inv;
    }
    r->invocations = ninv;
    r->inv = cw__scratch_get(&S, (ninv + 1) * sizeof *r->inv);
    uint32_t *inv_entry = cw__scratch_get(&S, (ninv + 1) * sizeof *inv_entry);
    if (!r->inv || !inv_entry)
        goto oom;
    for (size_t q = 0; q < qt; q++) {
        const lspan *s = &sp[queue[q]];
        if (!s->entry)
            continue;
        cw__inv *iv = &r->inv[s->inv];
        inv_entry[s->inv] = queue[q];
        iv->entry_span = s->sid;
        iv->start_ns = s->start;
        iv->end_ns = s->end;
        iv->invocation_id = s->invid;
        iv->function = s->function;
        iv->kind = s->kind;
        iv->entry_failed = s->status == CW_STATUS_ERROR;
        iv->parent = CW_NIL;
        if (s->has_parent) {
            const lspan *p = &sp[s->parent];
            iv->parent = p->inv;
            iv->parent_async = p->kind == CW_KIND_PRODUCER || s->kind == CW_KIND_CONSUMER;
            r->inv[p->inv].fanout++;
        }
    }

    /* 5. Links of entry spans: same-trace ones become edges now; the others
     * wait for the store. Links to spans never received are ignored. */
    for (size_t q = 0; q < qt; q++) {
        const lspan *s = &sp[queue[q]];
        if (!s->entry)
            continue;
        uint32_t callers[64];
        uint32_t ncallers = 0;
        if (s->has_parent)
            callers[ncallers++] = sp[s->parent].inv;
        for (uint32_t l = cw__links_out(g, s->node); l != CW_NIL;
             l = cw__graph_link(g, l)->next_out) {
            const cw__link_node *ln = cw__graph_link(g, l);
            cw__tid lt = cw__link_dst_trace(ln);
            if (!cw__tid_eq(lt, tid)) {
                if (GROW(m, r->plinks, r->nplinks, r->plinks_cap))
                    goto oom;
                r->plinks[r->nplinks++] = (cw__plink){lt, cw__link_dst_span(ln), s->inv};
                continue;
            }
            uint32_t d = atomic_load_explicit(&((cw__link_node *)ln)->dst, memory_order_acquire);
            uint32_t dl = d == CW_NIL ? CW_NIL : umap_get(&nodemap, (uint64_t)d + 1);
            if (dl == CW_NIL || !sp[dl].real || sp[dl].inv == CW_NIL || sp[dl].inv == s->inv)
                continue;
            uint32_t c = sp[dl].inv;
            bool dup = false;
            for (uint32_t k = 0; k < ncallers; k++)
                dup |= callers[k] == c;
            if (dup || ncallers == CW_ARRAY_LEN(callers))
                continue;
            callers[ncallers++] = c;
            r->inv[c].fanout++;
            if (GROW(m, r->ledges, r->nledges, r->ledges_cap))
                goto oom;
            r->ledges[r->nledges++] = (cw__ledge){c, s->inv};
        }
    }

    /* 6. Invocation depth and recursion along parent edges (a forest). */
    {
        uint32_t *idepth = cw__scratch_get(&S, (ninv + 1) * sizeof *idepth);
        uint32_t *icount = cw__scratch_get(&S, (ninv + 1) * sizeof *icount);
        uint32_t *ifirst = cw__scratch_get(&S, (ninv + 2) * sizeof *ifirst);
        uint32_t *ichild = cw__scratch_get(&S, (ninv + 1) * sizeof *ichild);
        uint32_t *rec = cw__scratch_get(&S, (ninv + 1) * sizeof *rec);
        uint32_t *saved = cw__scratch_get(&S, (ninv + 1) * sizeof *saved);
        uint32_t *stack = cw__scratch_get(&S, (ninv + 1) * sizeof *stack);
        uint32_t *cursor = cw__scratch_get(&S, (ninv + 1) * sizeof *cursor);
        if (!idepth || !icount || !ifirst || !ichild || !rec || !saved || !stack || !cursor)
            goto oom;
        for (uint32_t v = 0; v < ninv; v++) {
            idepth[v] = r->inv[v].parent == CW_NIL ? 1 : idepth[r->inv[v].parent] + 1;
            if (idepth[v] > r->depth)
                r->depth = idepth[v];
            if (r->inv[v].parent != CW_NIL)
                icount[r->inv[v].parent]++;
        }
        uint32_t acc = 0;
        for (uint32_t v = 0; v < ninv; v++) {
            ifirst[v] = acc;
            acc += icount[v];
            icount[v] = 0;
        }
        ifirst[ninv] = acc;
        for (uint32_t v = 0; v < ninv; v++)
            if (r->inv[v].parent != CW_NIL)
                ichild[ifirst[r->inv[v].parent] + icount[r->inv[v].parent]++] = v;
        /* Dense function indexes for the per-function "last seen" array. */
        umap fmap = {0};
        if (!umap_init(&S, &fmap, ninv + 1))
            goto oom;
        uint32_t nf = 0;
        uint32_t *ifn = cw__scratch_get(&S, (ninv + 1) * sizeof *ifn);
        if (!ifn)
            goto oom;
        for (uint32_t v = 0; v < ninv; v++) {
            uint64_t k = (uint64_t)r->inv[v].function + 1;
            uint32_t d = umap_get(&fmap, k);
            if (d == CW_NIL) {
                d = nf++;
                umap_put(&fmap, k, d);
            }
            ifn[v] = d;
        }
        uint32_t *last = cw__scratch_get(&S, (nf + 1) * sizeof *last);
        if (!last)
            goto oom;
        uint32_t best = 0, best_inv = CW_NIL;
        for (uint32_t root = 0; root < ninv; root++) {
            if (r->inv[root].parent != CW_NIL)
                continue;
            uint32_t top = 0;
            stack[top++] = root;
            cursor[root] = ifirst[root];
            saved[root] = last[ifn[root]];
            rec[root] = last[ifn[root]] + 1;
            last[ifn[root]] = rec[root];
            while (top) {
                uint32_t v = stack[top - 1];
                if (rec[v] > best) {
                    best = rec[v];
                    best_inv = v;
                }
                if (cursor[v] < ifirst[v] + icount[v]) {
                    uint32_t w = ichild[cursor[v]++];
                    saved[w] = last[ifn[w]];
                    rec[w] = last[ifn[w]] + 1;
                    last[ifn[w]] = rec[w];
                    cursor[w] = ifirst[w];
                    stack[top++] = w;
                } else {
                    last[ifn[v]] = saved[v];
                    top--;
                }
            }
        }
        r->max_recursion = best ? best : 1;
        if (best > 1 && best_inv != CW_NIL) {
            r->loop_function = r->inv[best_inv].function;
            uint32_t len = 0;
            for (uint32_t v = best_inv; v != CW_NIL; v = r->inv[v].parent)
                len++;
            r->loop_path = cw__scratch_get(&S, len * sizeof *r->loop_path);
            if (!r->loop_path)
                goto oom;
            r->nloop = len;
            for (uint32_t v = best_inv; v != CW_NIL; v = r->inv[v].parent)
                r->loop_path[--len] = v;
        }
    }

    /* 7. Targets of call sites, then retry groups (SPEC.md "Retries"). */
    {
        size_t ncalls = 0;
        for (size_t i = 0; i < nreal; i++)
            ncalls += call_site(&sp[i]) && sp[i].inv != CW_NIL;
        gcall *calls = cw__scratch_get(&S, (ncalls + 1) * sizeof *calls);
        if (!calls)
            goto oom;
        size_t k = 0;
        for (size_t i = 0; i < nreal; i++) {
            lspan *s = &sp[i];
            if (!call_site(s) || s->inv == CW_NIL)
                continue;
            uint32_t t = s->target;
            if (t == CW_STR_NONE) {
                /* The earliest callee: children first (time order)... */
                for (uint32_t c = cfirst[i]; c < cfirst[i] + ccount[i] && t == CW_STR_NONE; c++)
                    if (sp[child[c]].entry && sp[child[c]].has_parent)
                        t = sp[child[c]].function;
                /* ...then spans linking to it, live or already completed. */
                uint64_t best_start = UINT64_MAX;
                for (uint32_t l = t == CW_STR_NONE ? cw__links_in(g, s->node) : CW_NIL;
                     l != CW_NIL;
                     l = atomic_load_explicit(&((cw__link_node *)cw__graph_link(g, l))->next_in,
                                              memory_order_acquire)) {
                    cw__payload cp;
                    uint32_t src = cw__graph_link(g, l)->src;
                    if (cw__graph_node_read(g, src, &cp) && node_is_entry(g, &cp) &&
                        cp.start_ns < best_start) {
                        best_start = cp.start_ns;
                        t = cp.function;
                    }
                }
                if (t == CW_STR_NONE && complete)
                    t = cw__store_pending_callee(st, tid, s->sid);
                if (t == CW_STR_NONE)
                    t = s->name;
            }
            calls[k++] = (gcall){s->inv, t, s->start, s->sid, (uint32_t)i};
        }
        qsort(calls, k, sizeof *calls, gcall_cmp);
        uint8_t *is_retry = cw__scratch_get(&S, n + 1);
        if (!is_retry)
            goto oom;
        for (size_t a = 0; a < k;) {
            size_t b = a;
            while (b < k && calls[b].inv == calls[a].inv && calls[b].target == calls[a].target)
                b++;
            uint32_t retries = 0, nfailed = 0;
            for (size_t c = a; c < b; c++) {
                const lspan *s = &sp[calls[c].local];
                bool retry = (c > a && failed(&sp[calls[c - 1].local])) || s->resend >= 1;
                retries += retry;
                nfailed += failed(s);
                is_retry[calls[c].local] = retry;
            }
            if (retries) {
                if (cw__record_add_group(st, r, r->inv[calls[a].inv].function, calls[a].target,
                                         (uint32_t)(b - a), nfailed, retries,
                                         sp[calls[b - 1].local].status, false))
                    goto oom;
                for (size_t c = a; c < b; c++)
                    if (cw__record_add_group_span(st, r, calls[c].sid))
                        goto oom;
            }
            r->callsite_retries += retries;
            a = b;
        }

        /* Platform redelivery: entry spans of one function sharing an
         * invocation id; each beyond the first is a retry. */
        size_t nred = 0;
        for (uint32_t v = 0; v < ninv; v++)
            nred += r->inv[v].invocation_id != 0;
        redel *rd = cw__scratch_get(&S, (nred + 1) * sizeof *rd);
        uint8_t *redelivered = cw__scratch_get(&S, ninv + 1);
        if (!rd || !redelivered)
            goto oom;
        size_t kr = 0;
        for (uint32_t v = 0; v < ninv; v++)
            if (r->inv[v].invocation_id)
                rd[kr++] = (redel){r->inv[v].function, r->inv[v].invocation_id,
                                   r->inv[v].start_ns, r->inv[v].entry_span, v};
        qsort(rd, kr, sizeof *rd, redel_cmp);
        uint32_t redeliveries = 0;
        for (size_t a = 0; a < kr;) {
            size_t b = a;
            while (b < kr && rd[b].function == rd[a].function && rd[b].invid == rd[a].invid)
                b++;
            if (b - a > 1) {
                redeliveries += (uint32_t)(b - a - 1);
                uint32_t nf = 0;
                for (size_t c = a; c < b; c++) {
                    nf += r->inv[rd[c].local].entry_failed;
                    if (c > a)
                        redelivered[rd[c].local] = 1;
                }
                if (cw__record_add_group(st, r, rd[a].function, rd[a].function,
                                         (uint32_t)(b - a), nf, (uint32_t)(b - a - 1),
                                         r->inv[rd[b - 1].local].entry_failed ? CW_STATUS_ERROR
                                                                              : CW_STATUS_UNSET,
                                         true))
                    goto oom;
                for (size_t c = a; c < b; c++)
                    if (cw__record_add_group_span(st, r, rd[c].sid))
                        goto oom;
            }
            a = b;
        }
        r->retries = r->callsite_retries + redeliveries;

        for (uint32_t v = 0; v < ninv; v++)
            r->inv[v].redelivered = redelivered[v];

        /* 8. Service-graph edges: parent edges (the call site's outcome
         * counts) and same-trace link edges; link edges across traces are
         * added by the store when they resolve. A live summary (not
         * complete) observes nothing: its trace counts when it completes. */
        for (uint32_t v = 0; v < ninv && obs; v++) {
            const cw__inv *iv = &r->inv[v];
            if (iv->parent == CW_NIL)
                continue;
            const lspan *e = &sp[inv_entry[v]], *cs = &sp[e->parent];
            if (!call_add(m, obs, r->inv[iv->parent].function, iv->function, iv->parent_async,
                          failed(cs) || iv->entry_failed, is_retry[e->parent] || iv->redelivered,
                          iv->end_ns - iv->start_ns))
                goto oom;
        }
        for (size_t k2 = 0; k2 < r->nledges && obs; k2++) {
            const cw__inv *iv = &r->inv[r->ledges[k2].callee];
            if (!call_add(m, obs, r->inv[r->ledges[k2].caller].function, iv->function, true,
                          iv->entry_failed, iv->redelivered, iv->end_ns - iv->start_ns))
                goto oom;
        }
    }

    /* 9. Functions by earliest span start (ties by name), root function,
     * time span. Spans are in start order, so first appearance is
     * earliest. */
    {
        umap fm = {0};
        if (!umap_init(&S, &fm, nreal + 1))
            goto oom;
        uint32_t *fns = cw__scratch_get(&S, (nreal + 1) * sizeof *fns);
        uint64_t *fstart = cw__scratch_get(&S, (nreal + 1) * sizeof *fstart);
        if (!fns || !fstart)
            goto oom;
        uint32_t nf = 0;
        uint64_t end = 0;
        for (size_t i = 0; i < nreal; i++) {
            uint64_t k = (uint64_t)sp[i].function + 1;
            if (umap_get(&fm, k) == CW_NIL) {
                umap_put(&fm, k, nf);
                fstart[nf] = sp[i].start;
                fns[nf++] = sp[i].function;
            }
            if (sp[i].end > end)
                end = sp[i].end;
        }
        r->functions = cw__scratch_get(&S, (nf + 1) * sizeof *r->functions);
        r->fstart = cw__scratch_get(&S, (nf + 1) * sizeof *r->fstart);
        r->nfunctions = nf; /* the size pack() copies */
        if (!r->functions || !r->fstart)
            goto oom;
        /* Already in start order; equal starts sort by name. */
        for (uint32_t i = 0; i < nf; i++) {
            uint32_t j = i;
            while (j > 0 && r->fstart[j - 1] == fstart[i] &&
                   strcmp(cw__store_str(st, r->functions[j - 1]), cw__store_str(st, fns[i])) > 0) {
                r->functions[j] = r->functions[j - 1];
                r->fstart[j] = r->fstart[j - 1];
                j--;
            }
            r->functions[j] = fns[i];
            r->fstart[j] = fstart[i];
        }
        r->start_ns = nreal ? sp[0].start : 0;
        r->duration_ns = nreal && end > r->start_ns ? end - r->start_ns : 0;
        /* Root: the earliest entry span without a parent, else the
         * earliest entry span (local indexes are in start order). */
        uint32_t root = CW_NIL, first_entry = CW_NIL;
        for (size_t i = 0; i < nreal && root == CW_NIL; i++) {
            if (!sp[i].entry || sp[i].inv == CW_NIL)
                continue;
            if (first_entry == CW_NIL)
                first_entry = (uint32_t)i;
            if (sp[i].parent == CW_NIL)
                root = (uint32_t)i;
        }
        if (root == CW_NIL)
            root = first_entry;
        if (root != CW_NIL)
            r->root_function = sp[root].function;
    }

    /* 10. Spans a later link may name: call sites, entries, and spans
     * already linked to. */
    {
        uint32_t ns = 0;
        for (size_t i = 0; i < nreal; i++)
            ns += linkable(g, &sp[i]);
        r->spaninv = cw__scratch_get(&S, (ns + 1) * sizeof *r->spaninv);
        if (!r->spaninv)
            goto oom;
        r->nspaninv = ns; /* the size pack() copies */
        uint32_t k = 0;
        for (size_t i = 0; i < nreal; i++)
            if (linkable(g, &sp[i]))
                r->spaninv[k++] = (cw__spaninv){sp[i].sid, sp[i].inv};
        qsort(r->spaninv, r->nspaninv, sizeof *r->spaninv, spaninv_cmp);
    }

    {
        uint32_t mf = 0;
        for (uint32_t v = 0; v < ninv; v++)
            if (r->inv[v].fanout > mf)
                mf = r->inv[v].fanout;
        atomic_init(&r->max_fanout, mf);
    }
    cw__record *q = pack(m, r);
    if (!q)
        goto oom;
    cw__scratch_free(&S);
    cw__record_account(st, q);
    return q;
oom:
    if (r)
        free_parts(m, r);
    cw__scratch_free(&S);
    if (obs)
        obs->n = obs_n0;
    return NULL;
}
