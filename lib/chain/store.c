/*
 * The summary store: trace records that outlive their spans, links resolved
 * across traces, chains, and the service-graph edge aggregates.
 *
 * Algorithm. One writer (the engine's sweep, under its lock) adds records;
 * any number of readers query concurrently. Records hang off a hash table of
 * atomic heads (pushed with release, newest first, so a lookup by trace id
 * meets the latest incarnation first). A link from a new record's entry span
 * to another trace resolves at once when that trace's record exists, else it
 * waits in a pending map keyed by the target trace id and resolves when that
 * trace completes: either completion order gives the same edges. Each
 * resolved link joins two chains: members carry a pointer to their chain's
 * root, relabelled union-by-size (each record moves O(log n) times), and the
 * root carries the published chain summary, recomputed once per sweep for
 * every chain that changed.
 *
 * Invariants. (1) Only the writer modifies the hash chains, pending map,
 * membership lists, eviction list and edge table. (2) A chain's members are
 * evicted together, so cross-record pointers (link edges, membership) never
 * leave a chain and never dangle. (3) Removed records and replaced chain
 * summaries are freed only after a grace period (cw__epoch).
 *
 * Progress: readers are wait-free; the writer blocks only in the grace
 * period at the end of a sweep.
 *
 * Ordering guarantees. Records, chain summaries and edges are fully built
 * before the release store that makes them reachable; readers load heads,
 * next pointers, chain_root and chain with acquire. Counters are relaxed:
 * statistics. max_fanout is relaxed: a reader sees the old or the new value.
 * shadowed is relaxed: an add sets it on the incarnation it hides before the
 * release stores that publish the new one, so an iteration that reached the
 * new one skips the old; one that started before may miss both for that
 * instant, as a lookup could.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>

#include "internal.h"

typedef struct pend {
    struct pend *next;
    cw__tid target;
    uint64_t span;
    cw__record *src;
    uint32_t callee_inv;
} pend;

struct cw__store {
    cw__mem *mem;
    cw__interner *in;
    cw__store_limits lim;
    cw__epoch ep;
    _Atomic(cw__record *) *rb;
    uint64_t rmask;
    cw__record *oldest;
    _Atomic(cw__record *) newest;
    pend **pb;
    uint64_t pmask;
    cw__record **dirty;
    size_t ndirty, dirty_cap;
    /* Chains computed by a parallel finish, by position in dirty. */
    cw__chain **fout;
    size_t fout_cap;
    cw__edge **eb;
    uint64_t emask;
    _Atomic(cw__edge *) ehead;
    void **retire;
    size_t *retire_bytes;
    size_t nretire, retire_cap, retire_bytes_cap;
    uint64_t bytes_w;
    _Atomic uint64_t records, chains, edges, bytes, evicted, links_resolved, links_pending,
        links_unresolved;
};

/* Bytes a record is planned at, to size the hash table from the budget. */
#define PLAN_RECORD_BYTES 512
#define EDGE_BUCKETS 4096

static uint64_t tid_hash(cw__tid id)
{
    return cw__mix64(id.hi ^ cw__mix64(id.lo));
}

cw__mem *cw__store_mem(cw__store *st)
{
    return st->mem;
}

const char *cw__store_str(cw__store *st, uint32_t id)
{
    const char *s = cw__intern_str(st->in, id, NULL);
    return s ? s : "";
}

int cw__store_new(cw__store **out, cw__mem *mem, cw__interner *in, const cw__store_limits *lim)
{
    *out = NULL;
    cw__store *st = cw__calloc(mem, sizeof *st);
    if (!st)
        return CW_ENOMEM;
    st->mem = mem;
    st->in = in;
    st->lim = *lim;
    cw__epoch_init(&st->ep);
    uint64_t n = 1024;
    while (n * PLAN_RECORD_BYTES < lim->budget && n < (1ull << 26))
        n <<= 1;
    st->rmask = n - 1;
    st->pmask = n / 4 - 1;
    st->emask = EDGE_BUCKETS - 1;
    st->rb = cw__calloc(mem, n * sizeof *st->rb);
    st->pb = cw__calloc(mem, (st->pmask + 1) * sizeof *st->pb);
    st->eb = cw__calloc(mem, EDGE_BUCKETS * sizeof *st->eb);
    if (!st->rb || !st->pb || !st->eb) {
        cw__store_free(st);
        return CW_ENOMEM;
    }
    atomic_init(&st->ehead, NULL);
    *out = st;
    return 0;
}

void cw__record_free(cw__store *st, cw__record *r)
{
    if (!r)
        return;
    cw__mem *m = st->mem;
    cw__heap_free(m, atomic_load_explicit(&r->xedges, memory_order_relaxed),
                  r->xedges_cap * sizeof(cw__xedge));
    cw__heap_free(m, r, r->block_bytes); /* with all its fixed arrays */
}

static size_t chain_bytes(const cw__chain *c)
{
    return c->bytes;
}

void cw__store_free(cw__store *st)
{
    if (!st)
        return;
    for (cw__record *r = st->oldest; r;) {
        cw__record *next = r->newer;
        cw__chain *c = atomic_load_explicit(&r->chain, memory_order_relaxed);
        if (c)
            cw__heap_free(st->mem, c, chain_bytes(c));
        cw__record_free(st, r);
        r = next;
    }
    if (st->pb)
        for (uint64_t i = 0; i <= st->pmask; i++)
            for (pend *p = st->pb[i]; p;) {
                pend *next = p->next;
                cw__free(st->mem, p, sizeof *p);
                p = next;
            }
    if (st->eb)
        for (uint64_t i = 0; i <= st->emask; i++)
            for (cw__edge *e = st->eb[i]; e;) {
                cw__edge *next = e->hnext;
                cw__heap_free(st->mem, e, sizeof *e);
                e = next;
            }
    for (size_t i = 0; i < st->nretire; i++) {
        if (st->retire_bytes[i] == 0)
            cw__record_free(st, st->retire[i]);
        else
            cw__heap_free(st->mem, st->retire[i], st->retire_bytes[i]);
    }
    cw__free(st->mem, st->retire, st->retire_cap * sizeof *st->retire);
    cw__free(st->mem, st->retire_bytes, st->retire_bytes_cap * sizeof *st->retire_bytes);
    cw__free(st->mem, st->dirty, st->dirty_cap * sizeof *st->dirty);
    cw__free(st->mem, st->fout, st->fout_cap * sizeof *st->fout);
    cw__free(st->mem, st->rb, (st->rmask + 1) * sizeof *st->rb);
    cw__free(st->mem, st->pb, (st->pmask + 1) * sizeof *st->pb);
    cw__free(st->mem, st->eb, EDGE_BUCKETS * sizeof *st->eb);
    cw__free(st->mem, st, sizeof *st);
}

/* ------------------------------------------------------- record helpers */

int cw__record_add_group(cw__store *st, cw__record *r, uint32_t caller, uint32_t target,
                         uint32_t attempts, uint32_t failed, uint32_t retries,
                         uint8_t final_status, bool redelivery)
{
    if (cw__grow(st->mem, (void **)&r->groups, &r->groups_cap, r->ngroups + 1, sizeof *r->groups))
        return CW_ENOMEM;
    r->groups[r->ngroups++] = (cw__rgroup){
        .caller_function = caller,
        .target = target,
        .attempts = attempts,
        .failed = failed,
        .retries = retries,
        .final_status = final_status,
        .redelivery = redelivery,
        .first_span = (uint32_t)r->ngroup_spans,
    };
    return 0;
}

int cw__record_add_group_span(cw__store *st, cw__record *r, uint64_t span)
{
    if (cw__grow(st->mem, (void **)&r->group_spans, &r->group_spans_cap, r->ngroup_spans + 1,
                 sizeof *r->group_spans))
        return CW_ENOMEM;
    r->group_spans[r->ngroup_spans++] = span;
    return 0;
}

void cw__record_account(cw__store *st, cw__record *r)
{
    (void)st;
    r->bytes = r->block_bytes + r->xedges_cap * sizeof(cw__xedge);
}

static void retire(cw__store *st, void *p, size_t bytes)
{
    if (cw__grow(st->mem, (void **)&st->retire, &st->retire_cap, st->nretire + 1,
                 sizeof *st->retire) ||
        cw__grow(st->mem, (void **)&st->retire_bytes, &st->retire_bytes_cap, st->nretire + 1,
                 sizeof *st->retire_bytes)) {
        /* No room to defer the free: wait for readers now instead. */
        cw__epoch_sync(&st->ep);
        if (bytes == 0)
            cw__record_free(st, p);
        else
            cw__heap_free(st->mem, p, bytes);
        return;
    }
    st->retire[st->nretire] = p;
    st->retire_bytes[st->nretire++] = bytes;
}

static void mark_dirty(cw__store *st, cw__record *root)
{
    if (root->dirty)
        return;
    if (cw__grow(st->mem, (void **)&st->dirty, &st->dirty_cap, st->ndirty + 1, sizeof *st->dirty))
        return; /* recomputed at the next change instead */
    root->dirty = true;
    st->dirty[st->ndirty++] = root;
}

static cw__record *find_w(cw__store *st, cw__tid id)
{
    for (cw__record *r = atomic_load_explicit(&st->rb[tid_hash(id) & st->rmask],
                                              memory_order_relaxed);
         r; r = atomic_load_explicit(&r->hnext, memory_order_relaxed))
        if (cw__tid_eq(r->id, id))
            return r;
    return NULL;
}

static uint32_t span_inv(const cw__record *r, uint64_t span)
{
    uint32_t lo = 0, hi = r->nspaninv;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->spaninv[mid].span_id < span)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->nspaninv && r->spaninv[lo].span_id == span ? r->spaninv[lo].inv : CW_NIL;
}

/* ---------------------------------------------------------------- edges */

static unsigned hist_index(uint64_t v)
{
    if (v < 16)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* e >= 4 */
    return (e - 3) * 16 + (unsigned)((v >> (e - 4)) & 15);
}

static uint64_t hist_value(unsigned i)
{
    if (i < 16)
        return i;
    unsigned e = i / 16 + 3, sub = i % 16;
    uint64_t lo = (uint64_t)(16 + sub) << (e - 4), width = 1ull << (e - 4);
    return lo + width / 2;
}

void cw__store_edge_add(cw__store *st, uint32_t caller, uint32_t callee, bool async, bool error,
                        bool retry, uint64_t latency_ns)
{
    uint64_t h = cw__mix64((uint64_t)caller << 33 ^ (uint64_t)callee << 1 ^ async) & st->emask;
    cw__edge *e = st->eb[h];
    while (e && !(e->caller == caller && e->callee == callee && e->async == async))
        e = e->hnext;
    if (!e) {
        e = cw__heap_calloc(st->mem, sizeof *e);
        if (!e)
            return;
        e->caller = caller;
        e->callee = callee;
        e->async = async;
        e->hnext = st->eb[h];
        st->eb[h] = e;
        atomic_store_explicit(&e->next, atomic_load_explicit(&st->ehead, memory_order_relaxed),
                              memory_order_relaxed);
        /* Release: the zeroed edge before readers can reach it. */
        atomic_store_explicit(&st->ehead, e, memory_order_release);
        atomic_fetch_add_explicit(&st->edges, 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&e->calls, 1, memory_order_relaxed);
    if (error)
        atomic_fetch_add_explicit(&e->errors, 1, memory_order_relaxed);
    if (retry)
        atomic_fetch_add_explicit(&e->retries, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->hist[hist_index(latency_ns)], 1, memory_order_relaxed);
}

void cw__store_add_calls(cw__store *st, const cw__call *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cw__store_edge_add(st, v[i].caller, v[i].callee, v[i].async, v[i].error, v[i].retry,
                           v[i].latency_ns);
}

const cw__edge *cw__store_edges(cw__store *st)
{
    return atomic_load_explicit(&st->ehead, memory_order_acquire);
}

uint64_t cw__edge_quantile(const cw__edge *e, double q)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < CW_HIST_BUCKETS; i++)
        total += atomic_load_explicit(&((cw__edge *)e)->hist[i], memory_order_relaxed);
    if (!total)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)(total - 1)) + 1, acc = 0;
    for (unsigned i = 0; i < CW_HIST_BUCKETS; i++) {
        acc += atomic_load_explicit(&((cw__edge *)e)->hist[i], memory_order_relaxed);
        if (acc >= rank)
            return hist_value(i);
    }
    return hist_value(CW_HIST_BUCKETS - 1);
}

/* --------------------------------------------------------------- chains */

static void join(cw__store *st, cw__record *a, cw__record *b)
{
    cw__record *ra = a->root, *rb = b->root;
    if (ra == rb) {
        mark_dirty(st, ra);
        return;
    }
    if (ra->members < rb->members) {
        cw__record *t = ra;
        ra = rb;
        rb = t;
    }
    /* Relabel the smaller chain's members. */
    cw__record *m = rb;
    do {
        m->root = ra;
        /* Release: readers following chain_root see ra's published fields. */
        atomic_store_explicit(&m->chain_root, ra, memory_order_release);
        m = m->cnext;
    } while (m != rb);
    cw__record *t = ra->cnext;
    ra->cnext = rb->cnext;
    rb->cnext = t;
    ra->members += rb->members;
    cw__chain *old = atomic_exchange_explicit(&rb->chain, NULL, memory_order_acq_rel);
    if (old) {
        retire(st, old, chain_bytes(old));
        atomic_fetch_sub_explicit(&st->chains, 1, memory_order_relaxed);
    }
    rb->dirty = false; /* no longer a root; its dirty-list entry is skipped */
    mark_dirty(st, ra);
}

static void add_xedge(cw__store *st, cw__record *caller, uint32_t ci, cw__record *callee,
                      uint32_t c)
{
    size_t nx = atomic_load_explicit(&callee->nxedges, memory_order_relaxed);
    cw__xedge *xs = atomic_load_explicit(&callee->xedges, memory_order_relaxed);
    for (size_t k = 0; k < nx; k++)
        if (xs[k].caller == caller && xs[k].caller_inv == ci && xs[k].callee_inv == c)
            return; /* several links between two invocations count once */
    if (nx == callee->xedges_cap) {
        size_t cap = nx ? nx * 2 : 4;
        cw__xedge *nxs = cw__heap_alloc(st->mem, cap * sizeof *nxs);
        if (!nxs)
            return;
        if (nx)
            memcpy(nxs, xs, nx * sizeof *xs);
        /* Release: the copy before readers can load the new array. */
        atomic_store_explicit(&callee->xedges, nxs, memory_order_release);
        if (xs)
            retire(st, xs, callee->xedges_cap * sizeof *xs);
        st->bytes_w += (cap - callee->xedges_cap) * sizeof *xs;
        callee->bytes += (cap - callee->xedges_cap) * sizeof *xs;
        callee->xedges_cap = cap;
        xs = nxs;
    }
    xs[nx] = (cw__xedge){caller, ci, c};
    /* Release: the entry before the count that covers it. */
    atomic_store_explicit(&callee->nxedges, nx + 1, memory_order_release);
    uint32_t f = ++caller->inv[ci].fanout;
    if (f > atomic_load_explicit(&caller->max_fanout, memory_order_relaxed))
        atomic_store_explicit(&caller->max_fanout, f, memory_order_relaxed);
    const cw__inv *iv = &callee->inv[c];
    cw__store_edge_add(st, caller->inv[ci].function, iv->function, true, iv->entry_failed,
                       iv->redelivered, iv->end_ns - iv->start_ns);
    atomic_fetch_add_explicit(&st->links_resolved, 1, memory_order_relaxed);
    join(st, caller, callee);
}

static pend **pend_bucket(cw__store *st, cw__tid id)
{
    return &st->pb[tid_hash(id) & st->pmask];
}

uint32_t cw__store_pending_callee(cw__store *st, cw__tid trace, uint64_t span)
{
    uint32_t fn = CW_STR_NONE;
    uint64_t best = UINT64_MAX;
    for (pend *p = *pend_bucket(st, trace); p; p = p->next) {
        if (cw__tid_eq(p->target, trace) && p->span == span &&
            p->src->inv[p->callee_inv].start_ns < best) {
            best = p->src->inv[p->callee_inv].start_ns;
            fn = p->src->inv[p->callee_inv].function;
        }
    }
    return fn;
}

/* ------------------------------------------------------------- eviction */

static void unlink_record(cw__store *st, cw__record *r)
{
    _Atomic(cw__record *) *b = &st->rb[tid_hash(r->id) & st->rmask];
    cw__record *next = atomic_load_explicit(&r->hnext, memory_order_relaxed);
    for (_Atomic(cw__record *) *pp = b;;) {
        cw__record *cur = atomic_load_explicit(pp, memory_order_relaxed);
        if (!cur)
            break;
        if (cur == r) {
            atomic_store_explicit(pp, next, memory_order_release);
            break;
        }
        pp = &cur->hnext;
    }
    /* The latest incarnation gone, the one before it is the latest. */
    if (!atomic_load_explicit(&r->shadowed, memory_order_relaxed)) {
        cw__record *prev = find_w(st, r->id);
        if (prev)
            atomic_store_explicit(&prev->shadowed, false, memory_order_relaxed);
    }
    cw__record *older = atomic_load_explicit(&r->older, memory_order_relaxed);
    if (older)
        older->newer = r->newer;
    else
        st->oldest = r->newer;
    /* Release: a reader that reaches older through here sees it whole. A
     * reader standing on r still follows r->older, which stays valid. */
    if (r->newer)
        atomic_store_explicit(&r->newer->older, older, memory_order_release);
    else
        atomic_store_explicit(&st->newest, older, memory_order_release);
    /* Its waiting links go with it. */
    for (size_t k = 0; k < r->nplinks; k++) {
        pend **pp = pend_bucket(st, r->plinks[k].trace);
        while (*pp) {
            if ((*pp)->src == r) {
                pend *dead = *pp;
                *pp = dead->next;
                cw__free(st->mem, dead, sizeof *dead);
                atomic_fetch_sub_explicit(&st->links_pending, 1, memory_order_relaxed);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
}

static void evict(cw__store *st)
{
    while (st->bytes_w > st->lim.budget && st->oldest) {
        cw__record *root = st->oldest->root;
        cw__chain *c = atomic_exchange_explicit(&root->chain, NULL, memory_order_acq_rel);
        if (c) {
            retire(st, c, chain_bytes(c));
            atomic_fetch_sub_explicit(&st->chains, 1, memory_order_relaxed);
        }
        cw__record *m = root;
        uint32_t n = root->members;
        for (uint32_t i = 0; i < n; i++) {
            cw__record *next = m->cnext;
            unlink_record(st, m);
            m->dirty = false;
            st->bytes_w -= m->bytes;
            atomic_fetch_sub_explicit(&st->records, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&st->evicted, 1, memory_order_relaxed);
            m->root = NULL; /* marks it gone for the dirty list */
            retire(st, m, 0); /* freed whole by cw__record_free after sync */
            m = next;
        }
    }
    atomic_store_explicit(&st->bytes, st->bytes_w, memory_order_relaxed);
}

/* ----------------------------------------------------------------- add */

void cw__store_add(cw__store *st, cw__record *r)
{
    _Atomic(cw__record *) *b = &st->rb[tid_hash(r->id) & st->rmask];
    /* The incarnation this one shadows, before readers can reach this one
     * (the release stores below publish the flag with it). */
    cw__record *prev = find_w(st, r->id);
    if (prev)
        atomic_store_explicit(&prev->shadowed, true, memory_order_relaxed);
    atomic_store_explicit(&r->shadowed, false, memory_order_relaxed);
    atomic_store_explicit(&r->hnext, atomic_load_explicit(b, memory_order_relaxed),
                          memory_order_relaxed);
    /* Release: the record is complete before readers can find it. */
    atomic_store_explicit(b, r, memory_order_release);
    cw__record *newest = atomic_load_explicit(&st->newest, memory_order_relaxed);
    atomic_store_explicit(&r->older, newest, memory_order_relaxed);
    r->newer = NULL;
    if (newest)
        newest->newer = r;
    else
        st->oldest = r;
    /* Release: the record is complete before readers iterate onto it. */
    atomic_store_explicit(&st->newest, r, memory_order_release);
    st->bytes_w += r->bytes;
    atomic_fetch_add_explicit(&st->records, 1, memory_order_relaxed);
    mark_dirty(st, r);

    /* Our links to other traces. */
    for (size_t k = 0; k < r->nplinks; k++) {
        const cw__plink *pl = &r->plinks[k];
        cw__record *t = find_w(st, pl->trace);
        if (t) {
            uint32_t ci = span_inv(t, pl->span_id);
            if (ci == CW_NIL)
                atomic_fetch_add_explicit(&st->links_unresolved, 1, memory_order_relaxed);
            else
                add_xedge(st, t, ci, r, pl->callee_inv);
            continue;
        }
        pend *p = cw__malloc(st->mem, sizeof *p);
        if (!p)
            continue;
        *p = (pend){*pend_bucket(st, pl->trace), pl->trace, pl->span_id, r, pl->callee_inv};
        *pend_bucket(st, pl->trace) = p;
        atomic_fetch_add_explicit(&st->links_pending, 1, memory_order_relaxed);
    }
    /* Links that were waiting for us. */
    for (pend **pp = pend_bucket(st, r->id); *pp;) {
        pend *p = *pp;
        if (!cw__tid_eq(p->target, r->id)) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        atomic_fetch_sub_explicit(&st->links_pending, 1, memory_order_relaxed);
        uint32_t ci = span_inv(r, p->span);
        if (ci == CW_NIL)
            atomic_fetch_add_explicit(&st->links_unresolved, 1, memory_order_relaxed);
        else
            add_xedge(st, r, ci, p->src, p->callee_inv);
        cw__free(st->mem, p, sizeof *p);
    }
    evict(st);
}

/* -------------------------------------------------------- chain summary */

typedef struct fnstart {
    uint32_t function;
    uint64_t start;
} fnstart;

typedef struct fninv {
    uint32_t function;
    uint64_t invid;
} fninv;

/* qsort has no context argument: compute_chain() sets this for the sort
 * it runs. Per thread: finishes compute chains on several threads, and
 * engines sweep on threads of their own. */
static _Thread_local cw__store *cmp_store;

static int fnstart_by_fn(const void *a, const void *b)
{
    const fnstart *x = a, *y = b;
    if (x->function != y->function)
        return x->function < y->function ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int fnstart_by_time(const void *a, const void *b)
{
    const fnstart *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return strcmp(cw__store_str(cmp_store, x->function), cw__store_str(cmp_store, y->function));
}

static int fninv_cmp(const void *a, const void *b)
{
    const fninv *x = a, *y = b;
    if (x->function != y->function)
        return x->function < y->function ? -1 : 1;
    return x->invid < y->invid ? -1 : x->invid > y->invid;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The most times one function appears on one path. */
static uint32_t chain_recursion(cw__scratch *S, size_t V, const uint32_t *fn, const uint32_t *first,
                                const uint32_t *adj, const uint32_t *indeg, const uint32_t *order,
                                bool forest)
{
    if (V == 0)
        return 0;
    /* Dense function indexes. */
    uint32_t *uniq = cw__scratch_get(S, V * sizeof *uniq);
    uint32_t *fidx = cw__scratch_get(S, V * sizeof *fidx);
    if (S->failed)
        return 1;
    memcpy(uniq, fn, V * sizeof *fn);
    qsort(uniq, V, sizeof *uniq, u32_cmp);
    size_t nu = 0;
    for (size_t i = 0; i < V; i++)
        if (i == 0 || uniq[i] != uniq[i - 1])
            uniq[nu++] = uniq[i];
    uint32_t *count = cw__scratch_get(S, (nu + 1) * sizeof *count);
    if (S->failed)
        return 1;
    for (size_t v = 0; v < V; v++) {
        uint32_t *hit = bsearch(&fn[v], uniq, nu, sizeof *uniq, u32_cmp);
        fidx[v] = (uint32_t)(hit - uniq);
        count[fidx[v]]++;
    }
    uint32_t best = 1;
    if (forest) {
        /* Depth-first with the per-function count of the current path:
         * O(V). Roots: no caller; then anything left (a ring) cut open. */
        uint32_t *last = cw__scratch_get(S, (nu + 1) * sizeof *last);
        uint32_t *saved = cw__scratch_get(S, V * sizeof *saved);
        uint32_t *stack = cw__scratch_get(S, V * sizeof *stack);
        uint32_t *cursor = cw__scratch_get(S, V * sizeof *cursor);
        uint8_t *seen = cw__scratch_get(S, V);
        if (S->failed)
            return 1;
        for (int pass = 0; pass < 2; pass++) {
            for (size_t r = 0; r < V; r++) {
                if (seen[r] || (pass == 0 && indeg[r] != 0))
                    continue;
                size_t top = 0;
                stack[top++] = (uint32_t)r;
                seen[r] = 1;
                saved[r] = last[fidx[r]];
                last[fidx[r]]++;
                cursor[r] = first[r];
                while (top) {
                    uint32_t v = stack[top - 1];
                    if (last[fidx[v]] > best)
                        best = last[fidx[v]];
                    if (cursor[v] < first[v + 1]) {
                        uint32_t w = adj[cursor[v]++];
                        if (seen[w])
                            continue;
                        seen[w] = 1;
                        saved[w] = last[fidx[w]];
                        last[fidx[w]] = last[fidx[w]] + 1;
                        cursor[w] = first[w];
                        stack[top++] = w;
                    } else {
                        last[fidx[v]] = saved[v];
                        top--;
                    }
                }
            }
        }
        return best;
    }
    /* Fan-in (a batch consumer with several callers): one pass per function
     * that appears at least twice, in topological order, carrying the best
     * count of that function over every path into each invocation. */
    uint32_t *cur = cw__scratch_get(S, V * sizeof *cur);
    uint32_t *pos = cw__scratch_get(S, V * sizeof *pos);
    if (S->failed)
        return 1;
    for (size_t i = 0; i < V; i++)
        pos[order[i]] = (uint32_t)i;
    for (size_t f = 0; f < nu; f++) {
        if (count[f] < 2)
            continue;
        memset(cur, 0, V * sizeof *cur);
        for (size_t i = 0; i < V; i++) {
            uint32_t v = order[i];
            uint32_t val = cur[v] + (fidx[v] == f);
            if (val > best)
                best = val;
            for (uint32_t a = first[v]; a < first[v + 1]; a++)
                if (pos[adj[a]] > i && cur[adj[a]] < val)
                    cur[adj[a]] = val; /* edges back up a cycle are ignored */
        }
    }
    return best;
}

/* Computes the summary of the chain rooted at root (SPEC.md section 3.2):
 * the union of its traces' invocation graphs joined by link edges. */
static cw__chain *compute_chain(cw__store *st, cw__record *root)
{
    cw__scratch S = {.m = st->mem};
    cw__chain *c = NULL;
    uint32_t nm = root->members;
    cw__record **mem = cw__scratch_get(&S, nm * sizeof *mem);
    uint32_t *off = cw__scratch_get(&S, (nm + 1) * sizeof *off);
    if (S.failed)
        goto done;
    size_t V = 0, E = 0, nfs = 0;
    {
        cw__record *r = root;
        for (uint32_t k = 0; k < nm; k++, r = r->cnext) {
            mem[k] = r;
            off[k] = (uint32_t)V;
            V += r->invocations;
            nfs += r->nfunctions;
            E += r->nledges + atomic_load_explicit(&r->nxedges, memory_order_relaxed);
            for (uint32_t v = 0; v < r->invocations; v++)
                E += r->inv[v].parent != CW_NIL;
        }
        off[nm] = (uint32_t)V;
    }
    uint32_t *fn = cw__scratch_get(&S, (V + 1) * sizeof *fn);
    uint32_t *efrom = cw__scratch_get(&S, (E + 1) * sizeof *efrom);
    uint32_t *eto = cw__scratch_get(&S, (E + 1) * sizeof *eto);
    uint32_t *indeg = cw__scratch_get(&S, (V + 1) * sizeof *indeg);
    uint32_t *first = cw__scratch_get(&S, (V + 2) * sizeof *first);
    uint32_t *adj = cw__scratch_get(&S, (E + 1) * sizeof *adj);
    uint32_t *order = cw__scratch_get(&S, (V + 1) * sizeof *order);
    uint32_t *deg = cw__scratch_get(&S, (V + 1) * sizeof *deg);
    uint32_t *dist = cw__scratch_get(&S, (V + 1) * sizeof *dist);
    uint8_t *placed = cw__scratch_get(&S, V + 1);
    fnstart *fs = cw__scratch_get(&S, (nfs + 1) * sizeof *fs);
    fninv *fi = cw__scratch_get(&S, (V + 1) * sizeof *fi);
    if (S.failed)
        goto done;

    cw__tid id = root->id;
    uint32_t retries = 0, max_fanout = 0;
    size_t ne = 0, nfi = 0, nf = 0;
    for (uint32_t k = 0; k < nm; k++) {
        cw__record *r = mem[k];
        if (cw__tid_cmp(r->id, id) < 0)
            id = r->id;
        retries += r->callsite_retries;
        uint32_t mf = atomic_load_explicit(&r->max_fanout, memory_order_relaxed);
        if (mf > max_fanout)
            max_fanout = mf;
        for (uint32_t f = 0; f < r->nfunctions; f++)
            fs[nf++] = (fnstart){r->functions[f], r->fstart[f]};
        for (uint32_t v = 0; v < r->invocations; v++) {
            fn[off[k] + v] = r->inv[v].function;
            if (r->inv[v].invocation_id)
                fi[nfi++] = (fninv){r->inv[v].function, r->inv[v].invocation_id};
            if (r->inv[v].parent != CW_NIL) {
                efrom[ne] = off[k] + r->inv[v].parent;
                eto[ne++] = off[k] + v;
            }
        }
        for (size_t l = 0; l < r->nledges; l++) {
            efrom[ne] = off[k] + r->ledges[l].caller;
            eto[ne++] = off[k] + r->ledges[l].callee;
        }
        const cw__xedge *xs = atomic_load_explicit(&r->xedges, memory_order_relaxed);
        size_t nx = atomic_load_explicit(&r->nxedges, memory_order_relaxed);
        for (size_t x = 0; x < nx; x++) {
            uint32_t ck = 0;
            while (ck < nm && mem[ck] != xs[x].caller)
                ck++;
            if (ck == nm)
                continue; /* cannot happen: link edges stay inside a chain */
            efrom[ne] = off[ck] + xs[x].caller_inv;
            eto[ne++] = off[k] + xs[x].callee_inv;
        }
    }

    /* Functions: each one's earliest start across the traces, then sorted
     * by that start (ties by name). */
    cmp_store = st;
    qsort(fs, nf, sizeof *fs, fnstart_by_fn);
    size_t nuf = 0;
    for (size_t i = 0; i < nf; i++)
        if (i == 0 || fs[i].function != fs[i - 1].function)
            fs[nuf++] = fs[i];
    qsort(fs, nuf, sizeof *fs, fnstart_by_time);

    /* Redeliveries, grouped across the chain's traces. */
    qsort(fi, nfi, sizeof *fi, fninv_cmp);
    for (size_t a = 0; a < nfi;) {
        size_t b = a;
        while (b < nfi && fi[b].function == fi[a].function && fi[b].invid == fi[a].invid)
            b++;
        retries += (uint32_t)(b - a - 1);
        a = b;
    }

    /* CSR by caller, and Kahn's order. A cycle (only damaged links make
     * one) is cut at its lowest-indexed invocation. */
    for (size_t e = 0; e < ne; e++) {
        first[efrom[e]]++;
        indeg[eto[e]]++;
    }
    {
        uint32_t acc = 0;
        for (size_t v = 0; v < V; v++) {
            uint32_t cnt = first[v];
            first[v] = acc;
            acc += cnt;
        }
        first[V] = acc;
        memset(deg, 0, V * sizeof *deg); /* reused as fill cursors */
        for (size_t e = 0; e < ne; e++)
            adj[first[efrom[e]] + deg[efrom[e]]++] = eto[e];
    }
    bool forest = true;
    for (size_t v = 0; v < V; v++)
        forest &= indeg[v] <= 1;
    memcpy(deg, indeg, V * sizeof *deg);
    size_t head = 0, tail = 0;
    for (size_t v = 0; v < V; v++)
        if (deg[v] == 0) {
            order[tail++] = (uint32_t)v;
            placed[v] = 1;
        }
    for (size_t scan = 0;;) {
        while (head < tail) {
            uint32_t v = order[head++];
            for (uint32_t a = first[v]; a < first[v + 1]; a++)
                if (!placed[adj[a]] && --deg[adj[a]] == 0) {
                    placed[adj[a]] = 1;
                    order[tail++] = adj[a];
                }
        }
        while (scan < V && placed[scan])
            scan++;
        if (scan >= V)
            break;
        placed[scan] = 1;
        order[tail++] = (uint32_t)scan;
    }
    /* Longest path in invocations, forward along the order. */
    uint32_t depth = 0;
    memset(placed, 0, V);
    for (size_t i = 0; i < tail; i++) {
        uint32_t v = order[i];
        placed[v] = 1;
        if (dist[v] < 1)
            dist[v] = 1;
        if (dist[v] > depth)
            depth = dist[v];
        for (uint32_t a = first[v]; a < first[v + 1]; a++)
            if (!placed[adj[a]] && dist[adj[a]] < dist[v] + 1)
                dist[adj[a]] = dist[v] + 1;
    }
    uint32_t rec = chain_recursion(&S, V, fn, first, adj, indeg, order, forest);
    if (S.failed)
        goto done;

    size_t bytes = sizeof *c + nuf * sizeof(uint32_t) + nm * sizeof(cw__record *);
    c = cw__heap_alloc(st->mem, bytes);
    if (!c)
        goto done;
    c->bytes = bytes;
    c->members = (const cw__record **)(c + 1);
    c->functions = (uint32_t *)(c->members + nm);
    for (uint32_t k = 0; k < nm; k++)
        c->members[k] = mem[k];
    c->id = id;
    c->traces = nm;
    c->invocations = (uint32_t)V;
    c->depth = depth;
    c->max_fanout = max_fanout;
    c->retries = retries;
    c->max_recursion = rec;
    c->nfunctions = (uint32_t)nuf;
    for (size_t i = 0; i < nuf; i++)
        c->functions[i] = fs[i].function;
done:
    cw__scratch_free(&S);
    return c;
}

/* Chains recomputed in one finish, from which helper threads are worth
 * starting (each chain costs a few microseconds). */
#define FINISH_PARALLEL 512
#define FINISH_CHUNK 16

/* compute_chain() only reads the records and the membership lists, which
 * nothing changes during a finish, so chains are computed on several
 * threads, each into its slot of fout. */
static void finish_one(void *ctx, size_t i, unsigned worker)
{
    (void)worker;
    cw__store *st = ctx;
    st->fout[i] = compute_chain(st, st->dirty[i]);
}

void cw__store_finish(cw__store *st, unsigned threads, cw__chain_cb cb, void *ctx)
{
    /* The roots to recompute, in the order they became dirty. */
    size_t n = 0;
    for (size_t i = 0; i < st->ndirty; i++) {
        cw__record *r = st->dirty[i];
        if (!r->root || r->root != r || !r->dirty)
            continue; /* evicted, merged into another chain, or done */
        r->dirty = false;
        st->dirty[n++] = r;
    }
    st->ndirty = 0;
    bool many = threads > 1 && n >= FINISH_PARALLEL &&
                !cw__grow(st->mem, (void **)&st->fout, &st->fout_cap, n, sizeof *st->fout);
    if (many)
        cw__par_for(threads, n, FINISH_CHUNK, finish_one, st);
    for (size_t i = 0; i < n; i++) {
        cw__record *r = st->dirty[i];
        cw__chain *c = many ? st->fout[i] : compute_chain(st, r);
        if (!c)
            continue;
        cw__chain *old = atomic_exchange_explicit(&r->chain, c, memory_order_acq_rel);
        if (old)
            retire(st, old, chain_bytes(old));
        else
            atomic_fetch_add_explicit(&st->chains, 1, memory_order_relaxed);
        if (cb)
            cb(ctx, c);
    }
}

void cw__store_reclaim(cw__store *st)
{
    if (st->nretire) {
        cw__epoch_sync(&st->ep);
        for (size_t i = 0; i < st->nretire; i++) {
            if (st->retire_bytes[i] == 0)
                cw__record_free(st, st->retire[i]);
            else
                cw__heap_free(st->mem, st->retire[i], st->retire_bytes[i]);
        }
        st->nretire = 0;
    }
}

/* -------------------------------------------------------------- readers */

cw__rs cw__store_read_lock(cw__store *st)
{
    return cw__read_lock(&st->ep);
}

void cw__store_read_unlock(cw__store *st, cw__rs rs)
{
    cw__read_unlock(&st->ep, rs);
}

const cw__record *cw__store_find(cw__store *st, cw__tid id)
{
    for (cw__record *r = atomic_load_explicit(&st->rb[tid_hash(id) & st->rmask],
                                              memory_order_acquire);
         r; r = atomic_load_explicit(&r->hnext, memory_order_acquire))
        if (cw__tid_eq(r->id, id))
            return r;
    return NULL;
}

const cw__chain *cw__store_chain_of(const cw__record *r)
{
    cw__record *root = atomic_load_explicit(&((cw__record *)r)->chain_root, memory_order_acquire);
    return atomic_load_explicit(&root->chain, memory_order_acquire);
}

const cw__chain *cw__store_find_chain(cw__store *st, cw__tid chain_id)
{
    const cw__record *r = cw__store_find(st, chain_id);
    if (!r)
        return NULL;
    const cw__chain *c = cw__store_chain_of(r);
    return c && cw__tid_eq(c->id, chain_id) ? c : NULL;
}

/* Iteration walks the records from the newest along older, skipping older
 * incarnations of a trace id (those lookup does not find: a flag instead of
 * a lookup a record, which made top-N queries a hash probe per trace). */
static const cw__record *visible(const cw__record *r)
{
    while (r && atomic_load_explicit(&((cw__record *)r)->shadowed, memory_order_relaxed))
        r = atomic_load_explicit(&((cw__record *)r)->older, memory_order_acquire);
    return r;
}

const cw__record *cw__store_first(cw__store *st)
{
    return visible(atomic_load_explicit(&st->newest, memory_order_acquire));
}

const cw__record *cw__store_next(cw__store *st, const cw__record *r)
{
    (void)st;
    return visible(atomic_load_explicit(&((cw__record *)r)->older, memory_order_acquire));
}

void cw__store_stats_get(cw__store *st, cw__store_stats *out)
{
    out->records = atomic_load_explicit(&st->records, memory_order_relaxed);
    out->chains = atomic_load_explicit(&st->chains, memory_order_relaxed);
    out->edges = atomic_load_explicit(&st->edges, memory_order_relaxed);
    out->bytes = atomic_load_explicit(&st->bytes, memory_order_relaxed);
    out->evicted = atomic_load_explicit(&st->evicted, memory_order_relaxed);
    out->links_resolved = atomic_load_explicit(&st->links_resolved, memory_order_relaxed);
    out->links_pending = atomic_load_explicit(&st->links_pending, memory_order_relaxed);
    out->links_unresolved = atomic_load_explicit(&st->links_unresolved, memory_order_relaxed);
}
