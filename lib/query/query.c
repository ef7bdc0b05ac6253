/*
 * The query API: summaries, top-N, edges, details, JSON, the ordered dump.
 *
 * Every call takes a read section of the store (or the graph, for a live
 * trace) for its own duration only and copies what it returns, so a host that
 * holds results for long never holds up reclamation.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine.h"

bool cw__parse_tid(const char *s, cw__tid *out)
{
    uint8_t b[16];
    if (!s || strlen(s) != 32 || !cw__hex_decode(s, 16, b))
        return false;
    out->hi = cw__load_be64(b);
    out->lo = cw__load_be64(b + 8);
    return !cw__tid_is_zero(*out);
}

static const char *str(cw_engine *e, uint32_t id)
{
    const char *s = cw__intern_str(e->in, id, NULL);
    return s ? s : "";
}

void cw__fill_trace(cw_engine *e, const cw__record *r, cw_trace_summary *out,
                    const char **functions, size_t cap)
{
    memset(out, 0, sizeof *out);
    cw__tid_hex(r->id, out->trace_id);
    const cw__chain *c = cw__store_chain_of(r);
    cw__tid_hex(c ? c->id : r->id, out->chain_id);
    out->spans = r->spans;
    out->span_depth = r->span_depth;
    out->max_span_fanout = r->max_span_fanout;
    out->invocations = r->invocations;
    out->depth = r->depth;
    out->max_fanout = atomic_load_explicit(&((cw__record *)r)->max_fanout, memory_order_relaxed);
    out->retries = r->retries;
    out->max_recursion = r->max_recursion;
    out->errors = r->errors;
    out->start_unix_nano = r->start_ns;
    out->duration_ns = r->duration_ns;
    out->complete = r->complete;
    out->root_function = str(e, r->root_function);
    out->nfunctions = r->nfunctions;
    for (size_t i = 0; i < cap && i < r->nfunctions; i++)
        functions[i] = str(e, r->functions[i]);
}

void cw__fill_chain(cw_engine *e, const cw__chain *c, cw_chain_summary *out,
                    const char **functions, size_t cap)
{
    memset(out, 0, sizeof *out);
    cw__tid_hex(c->id, out->chain_id);
    out->traces = c->traces;
    out->invocations = c->invocations;
    out->depth = c->depth;
    out->max_fanout = c->max_fanout;
    out->retries = c->retries;
    out->max_recursion = c->max_recursion;
    out->nfunctions = c->nfunctions;
    for (size_t i = 0; i < cap && i < c->nfunctions; i++)
        functions[i] = str(e, c->functions[i]);
}

CW_API int cw_engine_trace(cw_engine *e, const char *trace_id, cw_trace_summary *out,
                           const char **functions, size_t functions_cap)
{
    cw__tid id;
    if (!e || !out || !cw__parse_tid(trace_id, &id))
        return CW_EINVAL;
    cw__rs rs = cw__store_read_lock(e->st);
    const cw__record *r = cw__store_find(e->st, id);
    if (r)
        cw__fill_trace(e, r, out, functions, functions_cap);
    cw__store_read_unlock(e->st, rs);
    if (r)
        return 0;
    /* Not completed: a live trace, summarized on the spot. */
    int rc = CW_ENOTFOUND;
    cw__rs gs = cw__graph_read_lock(e->g);
    uint32_t t = cw__graph_find_trace(e->g, id);
    if (t != CW_NIL) {
        cw__record *live = cw__analyze_trace(e->st, e->g, t, NULL, 0, false, NULL, NULL);
        if (!live) {
            rc = CW_ENOMEM;
        } else {
            if (live->spans) {
                cw__fill_trace(e, live, out, functions, functions_cap);
                rc = 0;
            }
            cw__record_free(e->st, live);
        }
    }
    cw__graph_read_unlock(e->g, gs);
    return rc;
}

CW_API int cw_engine_chain(cw_engine *e, const char *chain_id, cw_chain_summary *out,
                           const char **functions, size_t functions_cap)
{
    cw__tid id;
    if (!e || !out || !cw__parse_tid(chain_id, &id))
        return CW_EINVAL;
    cw__rs rs = cw__store_read_lock(e->st);
    const cw__chain *c = cw__store_find_chain(e->st, id);
    if (c)
        cw__fill_chain(e, c, out, functions, functions_cap);
    cw__store_read_unlock(e->st, rs);
    return c ? 0 : CW_ENOTFOUND;
}

/* ----------------------------------------------------------------- top-N */

/* The k best of a stream by cmp (negative: the first ranks before the
 * second; a total order), in O(N log k) and k elements of memory instead of
 * sorting all N: a heap with the worst element kept at its root, sorted at
 * the end. A dashboard asking for the 10 deepest of 100,000 traces then
 * costs a pass, not a sort of the whole store. */
typedef struct topk {
    cw__mem *mem;
    unsigned char *v;
    size_t n, cap, k, elem; /* held, room, wanted, element size */
    int (*cmp)(const void *, const void *);
} topk;

/* Room grows with what is held (a caller may ask for more than there is). */
#define TOPK_FIRST 256

static void *tk_at(const topk *t, size_t i)
{
    return t->v + i * t->elem;
}

/* Element sizes tk_swap() can hold (ranked, cranked: 48 bytes). */
#define TOPK_ELEM_MAX 64

static void tk_swap(topk *t, size_t i, size_t j)
{
    unsigned char tmp[TOPK_ELEM_MAX];
    memcpy(tmp, tk_at(t, i), t->elem);
    memcpy(tk_at(t, i), tk_at(t, j), t->elem);
    memcpy(tk_at(t, j), tmp, t->elem);
}

/* Element i ranks after element j: it belongs nearer the root. */
static bool tk_worse(const topk *t, size_t i, size_t j)
{
    return t->cmp(tk_at(t, i), tk_at(t, j)) > 0;
}

static void tk_down(topk *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, w = i;
        if (l < t->n && tk_worse(t, l, w))
            w = l;
        if (l + 1 < t->n && tk_worse(t, l + 1, w))
            w = l + 1;
        if (w == i)
            return;
        tk_swap(t, i, w);
        i = w;
    }
}

static int tk_add(topk *t, const void *x)
{
    if (t->n < t->k) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : TOPK_FIRST;
            if (cap > t->k)
                cap = t->k;
            void *v = cw__realloc(t->mem, t->v, t->cap * t->elem, cap * t->elem);
            if (!v)
                return CW_ENOMEM;
            t->v = v;
            t->cap = cap;
        }
        size_t i = t->n++;
        memcpy(tk_at(t, i), x, t->elem);
        while (i && tk_worse(t, i, (i - 1) / 2)) {
            tk_swap(t, i, (i - 1) / 2);
            i = (i - 1) / 2;
        }
    } else if (t->k && t->cmp(x, t->v) < 0) {
        memcpy(t->v, x, t->elem);
        tk_down(t, 0);
    }
    return 0;
}

static void tk_free(topk *t)
{
    cw__free(t->mem, t->v, t->cap * t->elem);
}

typedef struct ranked {
    uint64_t key, spans;
    cw__tid id;
    const cw__record *r;
} ranked;

static int ranked_cmp(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    if (x->spans != y->spans)
        return x->spans > y->spans ? -1 : 1;
    return cw__tid_cmp(x->id, y->id);
}

_Static_assert(sizeof(ranked) <= TOPK_ELEM_MAX, "tk_swap's buffer");

static uint64_t sort_key(const cw__record *r, cw_sort by)
{
    switch (by) {
    case CW_SORT_DEPTH:
        return r->depth;
    case CW_SORT_FANOUT:
        return atomic_load_explicit(&((cw__record *)r)->max_fanout, memory_order_relaxed);
    case CW_SORT_RETRIES:
        return r->retries;
    case CW_SORT_RECURSION:
        return r->max_recursion;
    default:
        return r->spans;
    }
}

CW_API int cw_engine_top(cw_engine *e, cw_sort by, size_t n, cw_trace_summary *out,
                         size_t *count)
{
    if (!e || !count || (n && !out) || (unsigned)by > CW_SORT_SPANS)
        return CW_EINVAL;
    *count = 0;
    int rc = 0;
    topk t = {&e->mem, NULL, 0, 0, n, sizeof(ranked), ranked_cmp};
    cw__rs rs = cw__store_read_lock(e->st);
    for (const cw__record *r = cw__store_first(e->st); r; r = cw__store_next(e->st, r)) {
        ranked x = {sort_key(r, by), r->spans, r->id, r};
        if ((rc = tk_add(&t, &x)))
            break;
    }
    if (!rc) {
        const ranked *v = (const ranked *)t.v;
        if (t.n)
            qsort(t.v, t.n, t.elem, ranked_cmp);
        for (size_t i = 0; i < t.n; i++)
            cw__fill_trace(e, v[i].r, &out[i], NULL, 0);
        *count = t.n;
    }
    cw__store_read_unlock(e->st, rs);
    tk_free(&t);
    return rc;
}

/* ----------------------------------------------------------------- edges */

static int edge_cmp(const void *a, const void *b)
{
    const cw_edge_summary *x = a, *y = b;
    int c = strcmp(x->caller, y->caller);
    if (c)
        return c;
    c = strcmp(x->callee, y->callee);
    if (c)
        return c;
    /* kind sorts as text: "async" before "sync" */
    return y->async - x->async;
}

/* Snapshots the edge aggregates, sorted. Free *out with *cap elements. */
static int collect_edges(cw_engine *e, cw_edge_summary **out, size_t *n, size_t *cap)
{
    *out = NULL;
    *n = *cap = 0;
    int rc = 0;
    cw__rs rs = cw__store_read_lock(e->st);
    for (const cw__edge *ed = cw__store_edges(e->st); ed;
         ed = atomic_load_explicit(&((cw__edge *)ed)->next, memory_order_acquire)) {
        if (cw__grow(&e->mem, (void **)out, cap, *n + 1, sizeof **out)) {
            rc = CW_ENOMEM;
            break;
        }
        (*out)[(*n)++] = (cw_edge_summary){
            .caller = str(e, ed->caller),
            .callee = str(e, ed->callee),
            .async = ed->async,
            .calls = atomic_load_explicit(&((cw__edge *)ed)->calls, memory_order_relaxed),
            .errors = atomic_load_explicit(&((cw__edge *)ed)->errors, memory_order_relaxed),
            .retries = atomic_load_explicit(&((cw__edge *)ed)->retries, memory_order_relaxed),
            .p50_ns = cw__edge_quantile(ed, 0.50),
            .p99_ns = cw__edge_quantile(ed, 0.99),
        };
    }
    cw__store_read_unlock(e->st, rs);
    if (*n)
        qsort(*out, *n, sizeof **out, edge_cmp);
    return rc;
}

CW_API int cw_engine_edges(cw_engine *e, cw_edge_summary *out, size_t cap, size_t *total)
{
    if (!e || !total || (cap && !out))
        return CW_EINVAL;
    cw_edge_summary *v;
    size_t n, vcap;
    int rc = collect_edges(e, &v, &n, &vcap);
    if (!rc) {
        *total = n;
        if (cap && n)
            memcpy(out, v, (cap < n ? cap : n) * sizeof *out);
    }
    cw__free(&e->mem, v, vcap * sizeof *v);
    return rc;
}

/* --------------------------------------------------------------- details */

struct cw_detail {
    cw_engine *e;
    size_t bytes;
    cw_retry_group *groups;
    size_t ngroups;
    uint64_t *spans;
    const char *loop_function;
    uint32_t loop_occurrences;
    const char **loop_functions;
    uint64_t *loop_spans;
    size_t nloop;
};

CW_API int cw_engine_detail(cw_engine *e, const char *trace_id, cw_detail **out)
{
    cw__tid id;
    if (!e || !out || !cw__parse_tid(trace_id, &id))
        return CW_EINVAL;
    *out = NULL;
    int rc = CW_ENOTFOUND;
    cw__rs rs = cw__store_read_lock(e->st);
    const cw__record *r = cw__store_find(e->st, id);
    if (r) {
        /* One block: header, groups, span ids, loop path. */
        size_t bytes = sizeof(cw_detail) + r->ngroups * sizeof(cw_retry_group) +
                       r->ngroup_spans * sizeof(uint64_t) +
                       r->nloop * (sizeof(const char *) + sizeof(uint64_t));
        cw_detail *d = cw__calloc(&e->mem, bytes);
        if (!d) {
            rc = CW_ENOMEM;
        } else {
            d->e = e;
            d->bytes = bytes;
            d->groups = (cw_retry_group *)(d + 1);
            d->spans = (uint64_t *)(d->groups + r->ngroups);
            d->loop_spans = d->spans + r->ngroup_spans;
            d->loop_functions = (const char **)(d->loop_spans + r->nloop);
            d->ngroups = r->ngroups;
            if (r->ngroup_spans)
                memcpy(d->spans, r->group_spans, r->ngroup_spans * sizeof *d->spans);
            for (size_t i = 0; i < r->ngroups; i++) {
                const cw__rgroup *g = &r->groups[i];
                size_t end = i + 1 < r->ngroups ? r->groups[i + 1].first_span : r->ngroup_spans;
                d->groups[i] = (cw_retry_group){
                    .caller = str(e, g->caller_function),
                    .target = str(e, g->target),
                    .attempts = g->attempts,
                    .failed = g->failed,
                    .retries = g->retries,
                    .final_status = g->final_status,
                    .redelivery = g->redelivery,
                    .span_ids = d->spans + g->first_span,
                    .nspans = end - g->first_span,
                };
            }
            if (r->nloop) {
                d->loop_function = str(e, r->loop_function);
                d->loop_occurrences = r->max_recursion;
                d->nloop = r->nloop;
                for (size_t i = 0; i < r->nloop; i++) {
                    d->loop_functions[i] = str(e, r->inv[r->loop_path[i]].function);
                    d->loop_spans[i] = r->inv[r->loop_path[i]].entry_span;
                }
            }
            *out = d;
            rc = 0;
        }
    }
    cw__store_read_unlock(e->st, rs);
    return rc;
}

CW_API void cw_detail_free(cw_detail *d)
{
    if (d)
        cw__free(&d->e->mem, d, d->bytes);
}

CW_API size_t cw_detail_retry_count(const cw_detail *d)
{
    return d ? d->ngroups : 0;
}

CW_API int cw_detail_retry_group(const cw_detail *d, size_t i, cw_retry_group *out)
{
    if (!d || !out || i >= d->ngroups)
        return CW_EINVAL;
    *out = d->groups[i];
    return 0;
}

CW_API const char *cw_detail_loop_function(const cw_detail *d, uint32_t *occurrences)
{
    if (occurrences)
        *occurrences = d && d->loop_function ? d->loop_occurrences : 1;
    return d ? d->loop_function : NULL;
}

CW_API size_t cw_detail_loop_path(const cw_detail *d, const char **functions,
                                  uint64_t *entry_spans, size_t cap)
{
    if (!d)
        return 0;
    for (size_t i = 0; i < cap && i < d->nloop; i++) {
        if (functions)
            functions[i] = d->loop_functions[i];
        if (entry_spans)
            entry_spans[i] = d->loop_spans[i];
    }
    return d->nloop;
}

/* ------------------------------------------------------------------ JSON */

typedef struct jbuf {
    char *p;
    size_t cap, n;
} jbuf;

static void put(jbuf *b, const char *s, size_t n)
{
    if (b->n < b->cap) {
        size_t k = b->cap - b->n < n ? b->cap - b->n : n;
        memcpy(b->p + b->n, s, k);
    }
    b->n += n;
}

static void puts_(jbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void putu(jbuf *b, const char *fmt, uint64_t v)
{
    char t[64];
    int n = snprintf(t, sizeof t, fmt, (unsigned long long)v);
    put(b, t, (size_t)n);
}

/* A JSON string with the escapes RFC 8259 requires. */
static void putjs(jbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            put(b, e, 2);
        } else if (*p < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            put(b, e, 6);
        } else {
            put(b, (const char *)p, 1);
        }
    }
    put(b, "\"", 1);
}

static void put_functions(jbuf *b, const char *const *f, uint32_t n)
{
    puts_(b, ",\"functions\":[");
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            put(b, ",", 1);
        putjs(b, f[i]);
    }
    put(b, "]", 1);
}

static size_t finish(jbuf *b)
{
    if (b->cap)
        b->p[b->n < b->cap ? b->n : b->cap - 1] = '\0';
    return b->n;
}

CW_API size_t cw_trace_json(const cw_trace_summary *s, const char *const *functions, char *buf,
                            size_t cap)
{
    jbuf b = {buf, cap, 0};
    puts_(&b, "{\"type\":\"trace\",\"trace_id\":\"");
    puts_(&b, s->trace_id);
    puts_(&b, "\",\"chain_id\":\"");
    puts_(&b, s->chain_id);
    putu(&b, "\",\"spans\":%llu", s->spans);
    putu(&b, ",\"span_depth\":%llu", s->span_depth);
    putu(&b, ",\"max_span_fanout\":%llu", s->max_span_fanout);
    putu(&b, ",\"invocations\":%llu", s->invocations);
    putu(&b, ",\"depth\":%llu", s->depth);
    putu(&b, ",\"max_fanout\":%llu", s->max_fanout);
    putu(&b, ",\"retries\":%llu", s->retries);
    putu(&b, ",\"max_recursion\":%llu", s->max_recursion);
    putu(&b, ",\"errors\":%llu", s->errors);
    put_functions(&b, functions, s->nfunctions);
    puts_(&b, ",\"root_function\":");
    putjs(&b, s->root_function ? s->root_function : "");
    putu(&b, ",\"start_unix_nano\":\"%llu\"", s->start_unix_nano);
    putu(&b, ",\"duration_ns\":\"%llu\"", s->duration_ns);
    puts_(&b, s->complete ? ",\"complete\":true}" : ",\"complete\":false}");
    return finish(&b);
}

CW_API size_t cw_chain_json(const cw_chain_summary *s, const char *const *functions, char *buf,
                            size_t cap)
{
    jbuf b = {buf, cap, 0};
    puts_(&b, "{\"type\":\"chain\",\"chain_id\":\"");
    puts_(&b, s->chain_id);
    putu(&b, "\",\"traces\":%llu", s->traces);
    putu(&b, ",\"invocations\":%llu", s->invocations);
    putu(&b, ",\"depth\":%llu", s->depth);
    putu(&b, ",\"max_fanout\":%llu", s->max_fanout);
    putu(&b, ",\"retries\":%llu", s->retries);
    putu(&b, ",\"max_recursion\":%llu", s->max_recursion);
    put_functions(&b, functions, s->nfunctions);
    put(&b, "}", 1);
    return finish(&b);
}

CW_API size_t cw_edge_json(const cw_edge_summary *s, char *buf, size_t cap)
{
    jbuf b = {buf, cap, 0};
    puts_(&b, "{\"type\":\"edge\",\"caller\":");
    putjs(&b, s->caller);
    puts_(&b, ",\"callee\":");
    putjs(&b, s->callee);
    puts_(&b, s->async ? ",\"kind\":\"async\"" : ",\"kind\":\"sync\"");
    putu(&b, ",\"calls\":%llu", s->calls);
    putu(&b, ",\"errors\":%llu", s->errors);
    putu(&b, ",\"retries\":%llu", s->retries);
    putu(&b, ",\"p50_ns\":\"%llu\"", s->p50_ns);
    putu(&b, ",\"p99_ns\":\"%llu\"", s->p99_ns);
    put(&b, "}", 1);
    return finish(&b);
}

/* ------------------------------------------------------------------ dump */

static int tid_cmp(const void *a, const void *b)
{
    return cw__tid_cmp(*(const cw__tid *)a, *(const cw__tid *)b);
}

/* Writes one object; the line buffer grows to fit. */
typedef struct out {
    cw_engine *e;
    char *buf;
    size_t cap;
    cw_write_fn write;
    void *ctx;
    const char **fns;
    size_t fcap;
} out;

static int emit(out *o, size_t need, size_t (*fmt)(out *, char *, size_t, const void *),
                const void *obj)
{
    if (need + 2 > o->cap) {
        size_t cap = need + 2 > o->cap * 2 ? need + 2 : o->cap * 2;
        char *nb = cw__realloc(&o->e->mem, o->buf, o->cap, cap);
        if (!nb)
            return CW_ENOMEM;
        o->buf = nb;
        o->cap = cap;
        fmt(o, o->buf, o->cap, obj);
    }
    o->buf[need] = '\n';
    return o->write(o->ctx, o->buf, need + 1);
}

static size_t fmt_trace(out *o, char *b, size_t cap, const void *s)
{
    return cw_trace_json(s, o->fns, b, cap);
}

static size_t fmt_chain(out *o, char *b, size_t cap, const void *s)
{
    return cw_chain_json(s, o->fns, b, cap);
}

static size_t fmt_edge(out *o, char *b, size_t cap, const void *s)
{
    (void)o;
    return cw_edge_json(s, b, cap);
}

/* Snapshots the ids of the completed traces (or chains), sorted. */
static int snapshot_ids(cw_engine *e, bool chains, cw__tid **ids, size_t *n, size_t *cap)
{
    *ids = NULL;
    *n = *cap = 0;
    int rc = 0;
    cw__rs rs = cw__store_read_lock(e->st);
    for (const cw__record *r = cw__store_first(e->st); r; r = cw__store_next(e->st, r)) {
        cw__tid id = r->id;
        if (chains) {
            const cw__chain *c = cw__store_chain_of(r);
            if (!c || !cw__tid_eq(c->id, r->id))
                continue; /* count each chain once, at its id's record */
            id = c->id;
        }
        if (cw__grow(&e->mem, (void **)ids, cap, *n + 1, sizeof **ids)) {
            rc = CW_ENOMEM;
            break;
        }
        (*ids)[(*n)++] = id;
    }
    cw__store_read_unlock(e->st, rs);
    if (*n)
        qsort(*ids, *n, sizeof **ids, tid_cmp);
    return rc;
}

static int ensure_fns(out *o, size_t n)
{
    if (n <= o->fcap)
        return 0;
    const char **f = cw__realloc(&o->e->mem, (void *)o->fns, o->fcap * sizeof *f, n * sizeof *f);
    if (!f)
        return CW_ENOMEM;
    o->fns = f;
    o->fcap = n;
    return 0;
}

CW_API int cw_engine_dump(cw_engine *e, unsigned what, cw_write_fn write, void *ctx)
{
    out o = {.e = e, .write = write, .ctx = ctx};
    o.cap = 4096;
    o.buf = cw__malloc(&e->mem, o.cap);
    if (!o.buf || ensure_fns(&o, 64)) {
        cw__free(&e->mem, o.buf, o.cap);
        return CW_ENOMEM;
    }
    int rc = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        bool chains = pass == 1;
        if (!(what & (chains ? CW_DUMP_CHAINS : CW_DUMP_TRACES)))
            continue;
        cw__tid *ids;
        size_t n, cap;
        rc = snapshot_ids(e, chains, &ids, &n, &cap);
        for (size_t i = 0; i < n && !rc; i++) {
            cw__rs rs = cw__store_read_lock(e->st);
            size_t need = 0;
            if (chains) {
                const cw__chain *c = cw__store_find_chain(e->st, ids[i]);
                cw_chain_summary s;
                if (c && !(rc = ensure_fns(&o, c->nfunctions))) {
                    cw__fill_chain(e, c, &s, o.fns, o.fcap);
                    need = cw_chain_json(&s, o.fns, o.buf, o.cap);
                    cw__store_read_unlock(e->st, rs);
                    rc = emit(&o, need, fmt_chain, &s);
                    continue;
                }
            } else {
                const cw__record *r = cw__store_find(e->st, ids[i]);
                cw_trace_summary s;
                if (r && !(rc = ensure_fns(&o, r->nfunctions))) {
                    cw__fill_trace(e, r, &s, o.fns, o.fcap);
                    need = cw_trace_json(&s, o.fns, o.buf, o.cap);
                    cw__store_read_unlock(e->st, rs);
                    rc = emit(&o, need, fmt_trace, &s);
                    continue;
                }
            }
            cw__store_read_unlock(e->st, rs);
        }
        cw__free(&e->mem, ids, cap * sizeof *ids);
    }
    if (!rc && (what & CW_DUMP_EDGES)) {
        cw_edge_summary *v;
        size_t n, vcap;
        rc = collect_edges(e, &v, &n, &vcap);
        for (size_t i = 0; i < n && !rc; i++) {
            size_t need = cw_edge_json(&v[i], o.buf, o.cap);
            rc = emit(&o, need, fmt_edge, &v[i]);
        }
        cw__free(&e->mem, v, vcap * sizeof *v);
    }
    cw__free(&e->mem, o.buf, o.cap);
    cw__free(&e->mem, (void *)o.fns, o.fcap * sizeof *o.fns);
    return rc;
}

/* ---------------------------------------------------------- chains top-N */

typedef struct cranked {
    uint64_t key, traces;
    cw__tid id;
    const cw__chain *c;
} cranked;

static int cranked_cmp(const void *a, const void *b)
{
    const cranked *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    if (x->traces != y->traces)
        return x->traces > y->traces ? -1 : 1;
    return cw__tid_cmp(x->id, y->id);
}

_Static_assert(sizeof(cranked) <= TOPK_ELEM_MAX, "tk_swap's buffer");

static uint64_t chain_key(const cw__chain *c, cw_sort by)
{
    switch (by) {
    case CW_SORT_DEPTH:
        return c->depth;
    case CW_SORT_FANOUT:
        return c->max_fanout;
    case CW_SORT_RETRIES:
        return c->retries;
    case CW_SORT_RECURSION:
        return c->max_recursion;
    default:
        return c->invocations;
    }
}

CW_API int cw_engine_top_chains(cw_engine *e, cw_sort by, size_t n, cw_chain_summary *out,
                                size_t *count)
{
    if (!e || !count || (n && !out) || (unsigned)by > CW_SORT_SPANS)
        return CW_EINVAL;
    *count = 0;
    int rc = 0;
    topk t = {&e->mem, NULL, 0, 0, n, sizeof(cranked), cranked_cmp};
    cw__rs rs = cw__store_read_lock(e->st);
    for (const cw__record *r = cw__store_first(e->st); r; r = cw__store_next(e->st, r)) {
        const cw__chain *c = cw__store_chain_of(r);
        if (!c || !cw__tid_eq(c->id, r->id))
            continue;
        cranked x = {chain_key(c, by), c->traces, c->id, c};
        if ((rc = tk_add(&t, &x)))
            break;
    }
    if (!rc) {
        const cranked *v = (const cranked *)t.v;
        if (t.n)
            qsort(t.v, t.n, t.elem, cranked_cmp);
        for (size_t i = 0; i < t.n; i++)
            cw__fill_chain(e, v[i].c, &out[i], NULL, 0);
        *count = t.n;
    }
    cw__store_read_unlock(e->st, rs);
    tk_free(&t);
    return rc;
}

/* ------------------------------------------------------------------- DOT */

typedef struct dotw {
    cw_engine *e;
    cw_write_fn write;
    void *ctx;
    int rc;
} dotw;

static void dprintf_(dotw *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void dprintf_(dotw *d, const char *fmt, ...)
{
    if (d->rc)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    d->rc = d->write(d->ctx, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A DOT-safe label: quotes and backslashes escaped. */
static void dot_label(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    for (; *s && k + 2 < cap; s++) {
        if (*s == '"' || *s == '\\')
            out[k++] = '\\';
        out[k++] = *s;
    }
    out[k] = '\0';
}

CW_API int cw_engine_dot(cw_engine *e, const char *id_hex, cw_write_fn write, void *ctx)
{
    cw__tid id;
    if (!e || !write || !cw__parse_tid(id_hex, &id))
        return CW_EINVAL;
    dotw d = {e, write, ctx, 0};
    cw__rs rs = cw__store_read_lock(e->st);
    const cw__record *r = cw__store_find(e->st, id);
    const cw__chain *c = r ? NULL : cw__store_find_chain(e->st, id);
    if (!r && !c) {
        cw__store_read_unlock(e->st, rs);
        return CW_ENOTFOUND;
    }
    /* A chain id names its smallest trace: draw the whole chain then. */
    const cw__chain *ch = r ? cw__store_chain_of(r) : c;
    bool whole_chain = !r || (ch && cw__tid_eq(ch->id, id) && ch->traces > 1);
    size_t nmem = whole_chain && ch ? ch->traces : 1;
    char hex[33];
    cw__tid_hex(id, hex);
    dprintf_(&d, "digraph \"%s\" {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
             hex);
    for (size_t k = 0; k < nmem; k++) {
        const cw__record *m = whole_chain && ch ? ch->members[k] : r;
        char th[33];
        cw__tid_hex(m->id, th);
        dprintf_(&d, "  subgraph \"cluster_%s\" {\n    label=\"trace %s\";\n", th, th);
        for (uint32_t v = 0; v < m->invocations; v++) {
            char lab[512];
            dot_label(str(e, m->inv[v].function), lab, sizeof lab);
            dprintf_(&d, "    \"%s-%u\" [label=\"%s\\n%016llx\"%s];\n", th, v, lab,
                     (unsigned long long)m->inv[v].entry_span,
                     m->inv[v].entry_failed ? ", color=red" : "");
        }
        dprintf_(&d, "  }\n");
        for (uint32_t v = 0; v < m->invocations; v++)
            if (m->inv[v].parent != CW_NIL)
                dprintf_(&d, "  \"%s-%u\" -> \"%s-%u\"%s;\n", th, m->inv[v].parent, th, v,
                         m->inv[v].parent_async ? " [style=dashed]" : "");
        for (size_t l = 0; l < m->nledges; l++)
            dprintf_(&d, "  \"%s-%u\" -> \"%s-%u\" [style=dotted];\n", th, m->ledges[l].caller,
                     th, m->ledges[l].callee);
        size_t nx = atomic_load_explicit(&((cw__record *)m)->nxedges, memory_order_acquire);
        const cw__xedge *xs = atomic_load_explicit(&((cw__record *)m)->xedges, memory_order_acquire);
        for (size_t x = 0; x < nx && whole_chain; x++) {
            char chh[33];
            cw__tid_hex(xs[x].caller->id, chh);
            dprintf_(&d, "  \"%s-%u\" -> \"%s-%u\" [style=dotted];\n", chh, xs[x].caller_inv, th,
                     xs[x].callee_inv);
        }
    }
    dprintf_(&d, "}\n");
    cw__store_read_unlock(e->st, rs);
    return d.rc;
}
