/*
 * Engine lifecycle, ingest, sweeps and statistics.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <time.h>
#include <unistd.h>

#include "engine.h"

CW_API void cw_engine_options_init(cw_engine_options *o)
{
    memset(o, 0, sizeof *o);
    o->memory_budget = 1ull << 30;
    o->idle_timeout_ns = 10ull * 1000000000;      /* SPEC.md section 5 */
    o->max_trace_age_ns = 300ull * 1000000000;
    o->max_decompressed_bytes = 64ull << 20;     /* SPEC.md section 6 */
    o->max_file_bytes = 4ull << 30;
    o->max_attr_len = 1024;
    o->intern_limit = 1u << 18;
    o->summary_budget = 256ull << 20;
}

static uint64_t monotonic_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t cw__engine_now(cw_engine *e)
{
    return e->o.clock(e->o.clock_ctx);
}

/* ------------------------------------------------------------ completion */

/* Traces a completion thread takes at a time. */
#define CJOB_CHUNK 4

/* Analyses trace i of a sweep on completion thread w into d. */
static void analyze_into(cw_engine *e, cw__graph *g, const cw__completion *c, size_t i,
                         unsigned w, cw__done *d)
{
    cw__cworker *k = &e->cw[w];
    d->worker = w;
    d->calls_from = k->calls.n;
    d->r = cw__analyze_trace(e->st, g, c->traces[i], c->nodes ? c->nodes + c->first[i] : NULL,
                             c->nodes ? c->first[i + 1] - c->first[i] : 0, true, &k->arena,
                             &k->calls);
    d->calls_to = k->calls.n;
}

/* Adds an analysed trace to the store (writer only), after the edge calls
 * its analysis observed; a trace of placeholders only is dropped. */
static void add_done(cw_engine *e, const cw__done *d)
{
    if (!d->r)
        return;
    if (d->r->spans == 0) {
        /* Only placeholders: links and parents that were never received. */
        cw__record_free(e->st, d->r);
        return;
    }
    if (d->calls_to > d->calls_from) /* else calls.v may be NULL */
        cw__store_add_calls(e->st, e->cw[d->worker].calls.v + d->calls_from,
                            d->calls_to - d->calls_from);
    cw__store_add(e->st, d->r);
    if (e->on_trace &&
        !cw__grow(&e->mem, (void **)&e->swept, &e->swept_cap, e->nswept + 1, sizeof *e->swept))
        e->swept[e->nswept++] = d->r;
}

typedef struct cjob {
    cw_engine *e;
    cw__graph *g;
    const cw__completion *c;
} cjob;

static void analyze_one(void *ctx, size_t i, unsigned worker)
{
    cjob *j = ctx;
    analyze_into(j->e, j->g, j->c, i, worker, &j->e->done[i]);
}

/* Threads for a sweep: one unless its traces hold enough spans. */
static unsigned threads_for(cw_engine *e, cw__graph *g, const cw__completion *c)
{
    if (e->cthreads < 2 || c->n < 2)
        return 1;
    uint64_t spans = 0;
    for (size_t i = 0; i < c->n && spans < CW_COMPLETION_PARALLEL_SPANS; i++)
        spans += atomic_load_explicit(&((cw__trace *)cw__graph_trace(g, c->traces[i]))->nspans,
                                      memory_order_relaxed);
    if (spans < CW_COMPLETION_PARALLEL_SPANS)
        return 1;
    return c->n < e->cthreads ? (unsigned)c->n : e->cthreads;
}

/* Adds the sweep's records to the store in slot order (its one writer),
 * then lets go of what the sweep grew past what is worth keeping. */
static void commit(cw_engine *e)
{
    for (size_t i = 0; i < e->ndone; i++)
        add_done(e, &e->done[i]);
    for (uint32_t w = 0; w < CW_COMPLETION_MAX; w++) {
        cw__calls *c = &e->cw[w].calls;
        c->n = 0;
        if (c->cap * sizeof *c->v > CW_CALLS_KEEP_MAX) {
            cw__free(&e->mem, c->v, c->cap * sizeof *c->v);
            c->v = NULL;
            c->cap = 0;
        }
    }
    e->ndone = 0;
    if (e->done_cap * sizeof *e->done > CW_CALLS_KEEP_MAX) {
        cw__free(&e->mem, e->done, e->done_cap * sizeof *e->done);
        e->done = NULL;
        e->done_cap = 0;
    }
}

static void *commit_main(void *p)
{
    commit(p);
    return NULL;
}

/* Graph completion: analyses the frozen traces into records, on up to
 * cthreads threads (the analysis only reads the graph and the store), then
 * adds them to the store in slot order, its one writer, so that the result
 * is the same whatever the thread count. */
static void on_complete(void *ctx, cw__graph *g, const cw__completion *cp)
{
    cw_engine *e = ctx;
    size_t n = cp->n;
    if (n > e->done_cap &&
        cw__grow(&e->mem, (void **)&e->done, &e->done_cap, n, sizeof *e->done)) {
        /* No room for the list: analyse and add one at a time. */
        for (size_t i = 0; i < n; i++) {
            cw__done d;
            analyze_into(e, g, cp, i, 0, &d);
            add_done(e, &d);
            e->cw[0].calls.n = 0;
        }
        return;
    }
    cjob j = {.e = e, .g = g, .c = cp};
    unsigned ran = cw__par_for(threads_for(e, g, cp), n, CJOB_CHUNK, analyze_one, &j);
    e->ndone = n;
    /* A sweep big enough for helpers adds its records on one more thread,
     * while the graph unlinks the traces on this one (they share nothing:
     * records do not point into the graph); the sweep joins it before the
     * store is used again. */
    if (ran > 1 && pthread_create(&e->committer, NULL, commit_main, e) == 0)
        e->committing = true;
    else
        commit(e);
}

static uint32_t online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > CW_COMPLETION_MAX ? CW_COMPLETION_MAX : (uint32_t)n;
}

CW_API int cw_engine_new(cw_engine **out, const cw_engine_options *opt)
{
    *out = NULL;
    cw_engine_options o;
    if (opt)
        o = *opt;
    else
        cw_engine_options_init(&o);
    if (o.max_attr_len == 0 || o.max_attr_len > CW__MAX_ATTR_LEN_CAP || o.intern_limit == 0 ||
        o.memory_budget < 4096 || o.idle_timeout_ns == 0 || o.max_trace_age_ns == 0 ||
        o.max_decompressed_bytes == 0 || o.summary_budget == 0 ||
        o.completion_threads > CW_COMPLETION_MAX)
        return CW_EINVAL;
    if (!o.clock)
        o.clock = monotonic_ns;
    cw__mem mem;
    cw__mem_init(&mem, &o.allocator);
    cw_engine *e = mem.a.malloc(mem.a.ctx, sizeof *e);
    if (!e)
        return CW_ENOMEM;
    memset(e, 0, sizeof *e);
    e->mem = mem;
    atomic_fetch_add_explicit(&e->mem.in_use, sizeof *e, memory_order_relaxed);
    e->o = o;
    e->cthreads = o.completion_threads ? o.completion_threads : online_cpus();
    int r = cw__intern_new(&e->in, &e->mem, o.intern_limit);
    cw__graph_limits gl = {o.memory_budget, o.idle_timeout_ns, o.max_trace_age_ns,
                           o.expected_spans};
    if (!r)
        r = cw__graph_new(&e->g, &e->mem, &gl, on_complete, e);
    cw__store_limits sl = {o.summary_budget};
    if (!r)
        r = cw__store_new(&e->st, &e->mem, e->in, &sl);
    if (r) {
        cw__graph_free(e->g);
        cw__intern_free(e->in);
        e->mem.a.free(e->mem.a.ctx, e, sizeof *e);
        return r;
    }
    pthread_mutex_init(&e->sweep_lock, NULL);
    *out = e;
    return 0;
}

/* ------------------------------------------------------------ workspaces */

static void ws_free(cw_engine *e, cw__ws *w)
{
    cw__batch_free(&w->b);
    cw__free(&e->mem, w->in, w->in_cap);
    cw__free(&e->mem, w->out, w->out_cap);
    cw__free(&e->mem, w, sizeof *w);
}

cw__ws *cw__ws_take(cw_engine *e)
{
    for (int i = 0; i < CW_WS_SLOTS; i++) {
        /* Relaxed peek first: most slots are empty under load. */
        if (!atomic_load_explicit(&e->ws[i], memory_order_relaxed))
            continue;
        cw__ws *w = atomic_exchange_explicit(&e->ws[i], NULL, memory_order_acq_rel);
        if (w)
            return w;
    }
    cw__ws *w = cw__calloc(&e->mem, sizeof *w);
    if (w)
        cw__batch_init(&w->b, &e->mem);
    return w;
}

void cw__ws_give(cw_engine *e, cw__ws *w)
{
    cw__batch_reset(&w->b);
    if (w->b.cap * sizeof *w->b.spans + w->b.links_cap * sizeof *w->b.links > CW_WS_KEEP_MAX)
        cw__batch_free(&w->b);
    if (w->in_cap > CW_WS_KEEP_MAX) {
        cw__free(&e->mem, w->in, w->in_cap);
        w->in = NULL;
        w->in_cap = 0;
    }
    if (w->out_cap > CW_WS_KEEP_MAX) {
        cw__free(&e->mem, w->out, w->out_cap);
        w->out = NULL;
        w->out_cap = 0;
    }
    for (int i = 0; i < CW_WS_SLOTS; i++) {
        cw__ws *expect = NULL;
        if (atomic_compare_exchange_strong_explicit(&e->ws[i], &expect, w, memory_order_acq_rel,
                                                    memory_order_relaxed))
            return;
    }
    ws_free(e, w);
}

CW_API void cw_engine_free(cw_engine *e)
{
    if (!e)
        return;
    for (int i = 0; i < CW_WS_SLOTS; i++) {
        cw__ws *w = atomic_load_explicit(&e->ws[i], memory_order_acquire);
        if (w)
            ws_free(e, w);
    }
    cw__graph_free(e->g);
    cw__store_free(e->st);
    cw__intern_free(e->in);
    for (uint32_t w = 0; w < CW_COMPLETION_MAX; w++) {
        cw__arena_free(&e->mem, &e->cw[w].arena);
        cw__free(&e->mem, e->cw[w].calls.v, e->cw[w].calls.cap * sizeof *e->cw[w].calls.v);
    }
    cw__free(&e->mem, e->done, e->done_cap * sizeof *e->done);
    cw__free(&e->mem, e->swept, e->swept_cap * sizeof *e->swept);
    cw__free(&e->mem, e->chains, e->chains_cap * sizeof *e->chains);
    pthread_mutex_destroy(&e->sweep_lock);
    cw_allocator a = e->mem.a;
    a.free(a.ctx, e, sizeof *e);
}

CW_API void cw_engine_on_trace(cw_engine *e, cw_trace_fn fn, void *ctx)
{
    e->on_trace = fn;
    e->on_trace_ctx = ctx;
}

CW_API void cw_engine_on_chain(cw_engine *e, cw_chain_fn fn, void *ctx)
{
    e->on_chain = fn;
    e->on_chain_ctx = ctx;
}

/* ----------------------------------------------------------------- ingest */

static void count(_Atomic uint64_t *c, uint64_t n)
{
    if (n)
        atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

CW_API int cw_engine_ingest(cw_engine *e, const void *buf, size_t len, unsigned encoding,
                            cw_ingest_result *res)
{
    cw_ingest_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    unsigned fmt = encoding & CW_ENC_FORMAT_MASK;
    if (!e || (!buf && len) || (encoding & ~(CW_ENC_FORMAT_MASK | CW_ENC_GZIP)) ||
        (fmt != CW_ENC_PROTOBUF && fmt != CW_ENC_JSON)) {
        res->error = CW_EINVAL;
        res->reason = "invalid argument";
        return CW_EINVAL;
    }
    count(&e->requests, 1);
    const uint8_t *p = buf ? buf : (const uint8_t *)"";
    int rc = 0;
    cw__ws *w = cw__ws_take(e);
    if (!w) {
        rc = CW_ENOMEM;
        res->reason = "out of memory";
        goto fail;
    }
    if (encoding & CW_ENC_GZIP) {
        size_t n;
        rc = cw__gunzip_into(&e->mem, p, len, e->o.max_decompressed_bytes, &w->out, &w->out_cap,
                             &n, &res->reason);
        if (rc) {
            if (rc == CW_ENOMEM)
                res->reason = "out of memory";
            goto fail_free;
        }
        p = w->out;
        len = n;
    }
    cw__batch *b = &w->b;
    /* Reserve for the common size, so the batch rarely grows: about 100
     * bytes a span in protobuf (captures), 400 in JSON. */
    size_t guess = len / (fmt == CW_ENC_JSON ? 400 : 100) + 16;
    if (cw__grow(&e->mem, (void **)&b->spans, &b->cap, guess, sizeof *b->spans)) {
        rc = CW_ENOMEM;
        res->reason = "out of memory";
        goto fail_free;
    }
    cw__decoder d;
    cw__decoder_init(&d, e->in, e->o.max_attr_len, b);
    rc = fmt == CW_ENC_PROTOBUF ? cw__decode_pb(&d, p, len)
                                : cw__decode_json(&d, (const char *)p, len);
    cw__decoder_done(&d);
    if (rc) {
        res->reason = rc == CW_ENOMEM ? "out of memory" : d.reason;
        res->error_offset = d.err_off;
        goto fail_free;
    }
    for (int k = 0; k < CW_REJECT_COUNT; k++) {
        res->rejected[k] = b->rejected[k];
        res->spans_rejected += b->rejected[k];
    }
    /* Received: every span decoded, kept or rejected for its ids. */
    count(&e->spans_received, b->n + res->spans_rejected);
    res->links_dropped = b->links_dropped;
    count(&e->truncated, b->truncated);
    cw__insert_result ir;
    rc = cw__graph_insert(e->g, b, cw__engine_now(e), &ir);
    cw__ws_give(e, w);
    res->spans_accepted = ir.accepted;
    res->rejected[CW_REJECT_OVER_BUDGET] += ir.rejected_budget;
    res->rejected[CW_REJECT_NO_MEMORY] += ir.rejected_nomem;
    res->spans_rejected += ir.rejected_budget + ir.rejected_nomem;
    for (int k = 0; k < CW_REJECT_COUNT; k++) {
        count(&e->rejected[k], res->rejected[k]);
        if (res->rejected[k] && !res->reason)
            res->reason = cw_reject_reason_str((cw_reject_reason)k);
    }
    count(&e->spans_accepted, res->spans_accepted);
    count(&e->spans_rejected, res->spans_rejected);
    count(&e->links_dropped, res->links_dropped);
    res->error = rc;
    if (rc)
        count(&e->requests_rejected, 1);
    return rc;

fail_free:
    cw__ws_give(e, w);
fail:
    res->error = rc;
    count(&e->requests_rejected, 1);
    return rc;
}

/* ----------------------------------------------------------------- sweeps */

static void collect_chain(void *ctx, const cw__chain *c)
{
    cw_engine *e = ctx;
    if (e->on_chain &&
        !cw__grow(&e->mem, (void **)&e->chains, &e->chains_cap, e->nchains + 1, sizeof *e->chains))
        e->chains[e->nchains++] = c;
}

/* Functions of a summary, up to a stack-sized batch for callbacks. */
#define CB_FUNCTIONS 256

static uint64_t sweep(cw_engine *e, bool all)
{
    pthread_mutex_lock(&e->sweep_lock);
    e->nswept = e->nchains = 0;
    uint64_t n = all ? cw__graph_flush(e->g) : cw__graph_tick(e->g, cw__engine_now(e));
    if (e->committing) {
        pthread_join(e->committer, NULL);
        e->committing = false;
    }
    cw__store_finish(e->st, e->cthreads, collect_chain, e);
    const char *fns[CB_FUNCTIONS];
    for (size_t i = 0; i < e->nswept; i++) {
        const cw__record *r = e->swept[i];
        if (!r->root)
            continue; /* evicted within the sweep */
        cw_trace_summary s;
        cw__fill_trace(e, r, &s, fns, CB_FUNCTIONS);
        e->on_trace(e->on_trace_ctx, &s, fns);
    }
    for (size_t i = 0; i < e->nchains; i++) {
        cw_chain_summary s;
        cw__fill_chain(e, e->chains[i], &s, fns, CB_FUNCTIONS);
        e->on_chain(e->on_chain_ctx, &s, fns);
    }
    cw__store_reclaim(e->st);
    pthread_mutex_unlock(&e->sweep_lock);
    return n;
}

CW_API uint64_t cw_engine_tick(cw_engine *e)
{
    return sweep(e, false);
}

CW_API uint64_t cw_engine_flush(cw_engine *e)
{
    return sweep(e, true);
}

/* ------------------------------------------------------------------ stats */

static uint64_t load(const _Atomic uint64_t *c)
{
    return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

CW_API void cw_engine_stats(const cw_engine *e, cw_stats *out)
{
    memset(out, 0, sizeof *out);
    out->requests = load(&e->requests);
    out->requests_rejected = load(&e->requests_rejected);
    out->spans_received = load(&e->spans_received);
    out->spans_accepted = load(&e->spans_accepted);
    out->spans_rejected = load(&e->spans_rejected);
    for (int k = 0; k < CW_REJECT_COUNT; k++)
        out->rejected[k] = load(&e->rejected[k]);
    out->links_dropped = load(&e->links_dropped);
    out->strings_truncated = load(&e->truncated);
    cw__graph_stats gs;
    cw__graph_stats_get(e->g, &gs);
    out->duplicates = gs.duplicates;
    out->spans_live = gs.spans_live;
    out->traces_live = gs.traces_live;
    out->traces_completed = gs.traces_completed;
    out->bytes_live_spans = gs.bytes_live;
    cw__store_stats ss;
    cw__store_stats_get(e->st, &ss);
    out->chains = ss.chains;
    out->summaries = ss.records;
    out->summaries_evicted = ss.evicted;
    out->links_pending = ss.links_pending;
    out->links_unresolved = ss.links_unresolved;
    out->bytes_in_use = load(&e->mem.in_use);
    out->intern_strings = cw__intern_count(e->in);
    out->intern_overflow = cw__intern_overflows(e->in);
}
