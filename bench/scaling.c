/*
 * The scaling scenario: how the cost of the whole pipeline (decode, graph
 * insert, completion, analysis, summary) grows with the shape of the input,
 * so that a reader sees what is linear and what is not.
 *
 * Each dimension is a geometric series of points. A point builds its
 * traces, encodes them as OTLP protobuf requests of at most 4,096 spans
 * (untimed), and then times, in a fresh engine: ingesting every request,
 * completing every trace (cw_engine_flush) and reading the summary the
 * dimension is about. The figure of a point is that time (median of the
 * runs); the dimension's slope is the least-squares slope of log(time)
 * against log(size): 1.0 is linear, 2.0 quadratic, below 1 sublinear
 * (fixed costs dominating small sizes).
 *
 *   trace-size    one trace of N spans (10 .. 1,000,000): a tree of
 *                 invocations, each an entry span and 4 call sites
 *   fanout        one invocation calling F others (1 .. 100,000)
 *   chain-depth   D traces joined by span links into one chain, each
 *                 trace one invocation consuming the previous one's
 *                 message (1 .. 100)
 *   live-traces   N traces of 2 spans live at once (1,000 .. 10,000,000),
 *                 completed together: cost per span as the indexes grow
 *   threads       the same serverless workload ingested by T threads
 *                 (1 .. --threads); the slope of spans/s against T is 1.0
 *                 for linear scaling
 *
 * --quick stops each series one or two points early (100,000-span traces,
 * 10,000-call fan-out, 100,000 live traces) to stay within seconds.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "causeway.h"
#include "gen.h"

#define REQ_SPANS 4096
#define MAX_POINTS 8

/* Kinds (OTLP): 1 INTERNAL, 2 SERVER, 3 CLIENT, 4 PRODUCER, 5 CONSUMER. */
enum { K_INTERNAL = 1, K_SERVER = 2, K_CLIENT = 3, K_PRODUCER = 4, K_CONSUMER = 5 };

/* ----------------------------------------------------- building traces */

typedef struct builder {
    cwg_span *sp;
    size_t n, cap;
    uint8_t (*links)[24];
    size_t nlinks, links_cap;
    uint64_t t0;
} builder;

static cwg_resource resources[] = {{"fn-api", NULL, "eu-west-1"},
                                   {"fn-worker", NULL, "eu-west-1"},
                                   {"fn-store", NULL, "eu-west-1"}};

static void put_id(uint8_t *dst, uint64_t v, int len)
{
    memset(dst, 0, (size_t)len);
    for (int i = 0; i < 8; i++)
        dst[len - 1 - i] = (uint8_t)(v >> (8 * i));
}

/* Appends a span of trace tr (a number; the trace id is derived from it).
 * Returns its index, or -1 when out of memory. */
static long add(builder *b, uint64_t tr, uint64_t id, uint64_t parent, unsigned res, int kind,
                uint64_t start)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        cwg_span *p = realloc(b->sp, cap * sizeof *p);
        if (!p)
            return -1;
        b->sp = p;
        b->cap = cap;
    }
    cwg_span *s = &b->sp[b->n];
    memset(s, 0, sizeof *s);
    put_id(s->trace_id, tr + 1, 16);
    s->trace_id[0] = 0x5c; /* distinct from other scenarios' ids */
    put_id(s->span_id, id, 8);
    if (parent)
        put_id(s->parent_id, parent, 8);
    s->name = kind == K_CLIENT ? "call" : kind == K_PRODUCER ? "publish" : "handle";
    s->resource = res;
    s->kind = kind;
    s->start_ns = b->t0 + start;
    s->end_ns = s->start_ns + 1000;
    return (long)b->n++;
}

/* Gives span i a link to (trace tr, span id). Links are stored in the
 * builder and pointed to once every span is added (see encode). */
static int add_link(builder *b, size_t i, uint64_t tr, uint64_t id)
{
    if (b->nlinks == b->links_cap) {
        size_t cap = b->links_cap ? b->links_cap * 2 : 64;
        uint8_t(*p)[24] = realloc(b->links, cap * sizeof *p);
        if (!p)
            return -1;
        b->links = p;
        b->links_cap = cap;
    }
    put_id(b->links[b->nlinks], tr + 1, 16);
    b->links[b->nlinks][0] = 0x5c;
    put_id(b->links[b->nlinks] + 16, id, 8);
    /* Index into links, fixed up to a pointer in encode(). */
    b->sp[i].links = (uint8_t(*)[24])(uintptr_t)(b->nlinks + 1);
    b->sp[i].nlinks = 1;
    b->nlinks++;
    return 0;
}

static void builder_free(builder *b)
{
    free(b->sp);
    free(b->links);
    memset(b, 0, sizeof *b);
}

typedef struct reqs {
    cwg_buf *r;
    size_t n;
    uint64_t spans;
} reqs;

static void reqs_free(reqs *q)
{
    for (size_t i = 0; i < q->n; i++)
        cwg_buf_free(&q->r[i]);
    free(q->r);
    memset(q, 0, sizeof *q);
}

/* Encodes the builder's spans, in order, as requests of REQ_SPANS. */
static int encode(builder *b, reqs *q)
{
    memset(q, 0, sizeof *q);
    for (size_t i = 0; i < b->n; i++)
        if (b->sp[i].nlinks)
            b->sp[i].links = &b->links[(uintptr_t)b->sp[i].links - 1];
    size_t nreq = (b->n + REQ_SPANS - 1) / REQ_SPANS;
    size_t *order = malloc((b->n ? b->n : 1) * sizeof *order);
    size_t *first = malloc((nreq + 1) * sizeof *first);
    q->r = calloc(nreq ? nreq : 1, sizeof *q->r);
    int rc = order && first && q->r ? 0 : -1;
    if (!rc) {
        for (size_t i = 0; i < b->n; i++)
            order[i] = i;
        for (size_t r = 0; r <= nreq; r++)
            first[r] = r * REQ_SPANS < b->n ? r * REQ_SPANS : b->n;
        cwg_workload w;
        memset(&w, 0, sizeof w);
        w.spans = b->sp;
        w.nspans = b->n;
        w.res = resources;
        w.nres = sizeof resources / sizeof *resources;
        w.order = order;
        w.req_first = first;
        w.nreq = nreq;
        cwg_options_init(&w.o);
        for (size_t r = 0; !rc && r < nreq; r++, q->n++)
            rc = cwg_encode_pb(&w, r, &q->r[r]);
        q->spans = b->n;
    }
    free(order);
    free(first);
    if (rc)
        reqs_free(q);
    return rc;
}

/* One trace of about n spans: invocations of 5 spans (an entry span and 4
 * CLIENT call sites), each call site calling a new invocation, breadth
 * first, functions taking turns. */
static int build_trace(builder *b, uint64_t n)
{
    /* Span ids are index + 1. */
    if (add(b, 0, 1, 0, 0, K_SERVER, 0) < 0)
        return -1;
    for (size_t next = 0; b->n < n; next++) {
        /* next: an entry span whose call sites are yet to be added. */
        while (b->sp[next].kind != K_SERVER)
            next++;
        unsigned fn = b->sp[next].resource;
        for (int c = 0; c < 4 && b->n < n; c++) {
            uint64_t call = b->n + 1;
            if (add(b, 0, call, next + 1, fn, K_CLIENT, b->n) < 0)
                return -1;
            if (b->n < n && add(b, 0, b->n + 1, call, (fn + 1) % 3, K_SERVER, b->n) < 0)
                return -1;
        }
    }
    return 0;
}

/* One invocation making f calls, each to an invocation of another
 * function: 2f + 1 spans. */
static int build_fanout(builder *b, uint64_t f)
{
    if (add(b, 0, 1, 0, 0, K_SERVER, 0) < 0)
        return -1;
    for (uint64_t i = 0; i < f; i++)
        if (add(b, 0, 2 + 2 * i, 1, 0, K_CLIENT, i) < 0 ||
            add(b, 0, 3 + 2 * i, 2 + 2 * i, 1, K_SERVER, i) < 0)
            return -1;
    return 0;
}

/* d traces, trace k one invocation (CONSUMER entry + PRODUCER call site)
 * whose entry links to trace k-1's PRODUCER: a chain of depth d. */
static int build_chain(builder *b, uint64_t d)
{
    for (uint64_t k = 0; k < d; k++) {
        long e = add(b, k, 1, 0, (unsigned)(k % 3), k ? K_CONSUMER : K_SERVER, k * 10);
        if (e < 0 || add(b, k, 2, 1, (unsigned)(k % 3), K_PRODUCER, k * 10 + 1) < 0)
            return -1;
        if (k && add_link(b, (size_t)e, k - 1, 2))
            return -1;
    }
    return 0;
}

/* n traces of 2 spans (an entry and a call site). */
static int build_live(builder *b, uint64_t n)
{
    for (uint64_t k = 0; k < n; k++)
        if (add(b, k, 1, 0, 0, K_SERVER, 0) < 0 || add(b, k, 2, 1, 0, K_CLIENT, 1) < 0)
            return -1;
    return 0;
}

/* ------------------------------------------------------------ measuring */

typedef enum dim { D_TRACE, D_FANOUT, D_CHAIN, D_LIVE } dim;

static void hex_id(char *out, uint64_t tr)
{
    uint8_t id[16];
    put_id(id, tr + 1, 16);
    id[0] = 0x5c;
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", id[i]);
}

/* Ingests q into a fresh engine, completes everything and reads the
 * dimension's summary; returns seconds, or a negative number on error. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double run_point(const reqs *q, dim d, uint64_t x, double *cpu)
{
    cw_engine_options o;
    cw_engine_options_init(&o);
    /* Room for every span at once (about 100 bytes each) and more: the
     * point is the cost, never the budget. */
    uint64_t need = q->spans * 256;
    o.memory_budget = need < (64ull << 20) ? 64ull << 20 : need;
    o.summary_budget = o.memory_budget;
    cw_engine *e;
    if (cw_engine_new(&e, &o))
        return -1;
    double t0 = cwb_now(), c0 = cpu_now();
    int rc = 0;
    for (size_t i = 0; !rc && i < q->n; i++) {
        cw_ingest_result res;
        rc = cw_engine_ingest(e, q->r[i].p, q->r[i].n, CW_ENC_PROTOBUF, &res);
        if (!rc && res.spans_rejected)
            rc = CW_EBUDGET;
    }
    if (!rc)
        cw_engine_flush(e);
    char id[CW_TRACE_ID_LEN];
    if (!rc && d != D_LIVE) {
        hex_id(id, 0);
        if (d == D_CHAIN) {
            cw_chain_summary s;
            rc = cw_engine_chain(e, id, &s, NULL, 0);
            if (!rc && s.depth != x)
                rc = CW_EINVAL;
        } else {
            cw_trace_summary s;
            rc = cw_engine_trace(e, id, &s, NULL, 0);
            if (!rc && s.spans != q->spans)
                rc = CW_EINVAL;
            if (!rc && d == D_FANOUT && s.max_fanout != x)
                rc = CW_EINVAL;
        }
    } else if (!rc) {
        cw_trace_summary s;
        size_t n;
        rc = cw_engine_top(e, CW_SORT_SPANS, 1, &s, &n);
        hex_id(id, x - 1); /* the last trace: all of them completed */
        if (!rc)
            rc = cw_engine_trace(e, id, &s, NULL, 0);
    }
    double t1 = cwb_now();
    *cpu = cpu_now() - c0;
    cw_engine_free(e);
    if (rc) {
        fprintf(stderr, "scaling: a point failed: %s\n", cw_strerror(rc));
        return -1;
    }
    return t1 - t0;
}

/* Least-squares slope of log(y) against log(x). */
static double loglog_slope(const double *x, const double *y, int n)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double lx = log(x[i]), ly = log(y[i]);
        sx += lx;
        sy += ly;
        sxx += lx * lx;
        sxy += lx * ly;
    }
    double den = n * sxx - sx * sx;
    return den != 0 ? (n * sxy - sx * sy) / den : NAN;
}

typedef struct series {
    const char *name, *what;
    dim d;
    uint64_t full[MAX_POINTS], quick[MAX_POINTS];
} series;

static const series all_series[] = {
    {"trace-size", "spans in one trace", D_TRACE,
     {10, 100, 1000, 10000, 100000, 1000000}, {10, 100, 1000, 10000, 100000}},
    {"fanout", "calls of one invocation", D_FANOUT,
     {1, 10, 100, 1000, 10000, 100000}, {1, 10, 100, 1000, 10000}},
    {"chain-depth", "traces in one chain", D_CHAIN,
     {1, 3, 10, 30, 100}, {1, 3, 10, 30, 100}},
    {"live-traces", "traces live at once", D_LIVE,
     {1000, 10000, 100000, 1000000, 10000000}, {1000, 10000, 100000}},
};

static int build(builder *b, dim d, uint64_t x)
{
    switch (d) {
    case D_TRACE:
        return build_trace(b, x);
    case D_FANOUT:
        return build_fanout(b, x);
    case D_CHAIN:
        return build_chain(b, x);
    case D_LIVE:
        return build_live(b, x);
    }
    return -1;
}

static int run_series(const cwb_ctx *c, const series *s)
{
    const uint64_t *pts = c->quick ? s->quick : s->full;
    double xs[MAX_POINTS], ys[MAX_POINTS];
    int np = 0;
    for (int p = 0; p < MAX_POINTS && pts[p]; p++) {
        builder b = {.t0 = 1763000000000000000ull};
        reqs q;
        if (build(&b, s->d, pts[p]) || encode(&b, &q)) {
            builder_free(&b);
            fprintf(stderr, "scaling: %s %llu: out of memory\n", s->name,
                    (unsigned long long)pts[p]);
            return -1;
        }
        builder_free(&b);
        double v[CWB_RUNS_MAX], cpu[CWB_RUNS_MAX];
        for (int r = 0; r < c->runs; r++) {
            v[r] = run_point(&q, s->d, pts[p], &cpu[r]);
            if (v[r] < 0) {
                reqs_free(&q);
                return -1;
            }
        }
        cwb_stat st = cwb_stat_of(v, c->runs);
        cwb_fig f;
        cwb_fig_init(&f, "scaling", s->name, 1, "ms");
        f.st = (cwb_stat){st.median * 1e3, st.min * 1e3, st.max * 1e3};
        f.spans_per_s = (double)q.spans / st.median;
        f.extra_name[0] = "x";
        f.extra[0] = (double)pts[p];
        f.extra_name[1] = "spans";
        f.extra[1] = (double)q.spans;
        f.extra_name[2] = "ns_per_span";
        f.extra[2] = st.median * 1e9 / (double)q.spans;
        /* CPU time too: on a shared machine it is the steadier figure. */
        f.extra_name[3] = "cpu_ms";
        f.extra[3] = cwb_stat_of(cpu, c->runs).median * 1e3;
        snprintf(f.note, sizeof f.note, "x = %llu %s; %.0f ns/span; cpu %.3g ms",
                 (unsigned long long)pts[p], s->what, f.extra[2], f.extra[3]);
        cwb_emit(c, &f);
        xs[np] = (double)pts[p];
        ys[np++] = st.median;
        reqs_free(&q);
    }
    char name[64];
    snprintf(name, sizeof name, "%s-slope", s->name);
    cwb_fig f;
    cwb_fig_init(&f, "scaling", name, 1, "log-log");
    double sl = loglog_slope(xs, ys, np);
    /* The slope over the upper half of the series too: fixed costs of an
     * engine flatten the small points. */
    double su = loglog_slope(xs + np / 2, ys + np / 2, np - np / 2);
    f.st = (cwb_stat){sl, sl, sl};
    f.extra_name[0] = "upper_half_slope";
    f.extra[0] = su;
    snprintf(f.note, sizeof f.note, "time ~ x^%.2f (upper half x^%.2f); 1 = linear", sl, su);
    cwb_emit(c, &f);
    return 0;
}

/* ------------------------------------------------------------- threads */

typedef struct tshare {
    cw_engine *e;
    const reqs *q;
    _Atomic size_t next;
    _Atomic int failed;
} tshare;

static void *ingester(void *arg)
{
    tshare *t = arg;
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (i >= t->q->n)
            return NULL;
        cw_ingest_result res;
        if (cw_engine_ingest(t->e, t->q->r[i].p, t->q->r[i].n, CW_ENC_PROTOBUF, &res) ||
            res.spans_rejected)
            atomic_store(&t->failed, 1);
    }
}

/* Spans/s of decode + insert with T threads (completion is the tick
 * thread's work, measured above). */
static double thread_point(const reqs *q, unsigned T)
{
    cw_engine_options o;
    cw_engine_options_init(&o);
    o.memory_budget = q->spans * 256 < (64ull << 20) ? 64ull << 20 : q->spans * 256;
    tshare t = {.q = q};
    if (cw_engine_new(&t.e, &o))
        return -1;
    atomic_init(&t.next, 0);
    atomic_init(&t.failed, 0);
    pthread_t th[CWB_MAX_THREADS];
    double t0 = cwb_now();
    unsigned started = 0;
    for (; started < T; started++)
        if (pthread_create(&th[started], NULL, ingester, &t))
            break;
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double secs = cwb_now() - t0;
    cw_engine_free(t.e);
    return started == T && !atomic_load(&t.failed) ? (double)q->spans / secs : -1;
}

static int run_threads(const cwb_ctx *c)
{
    cwg_options o;
    cwg_options_init(&o);
    o.seed = 11;
    o.spans = c->quick ? 100000 : 400000;
    o.batch_spans = 512;
    cwg_workload wl;
    if (cwg_generate(&wl, &o))
        return -1;
    reqs q = {.r = calloc(wl.nreq, sizeof(cwg_buf))};
    int rc = q.r ? 0 : -1;
    for (size_t r = 0; !rc && r < wl.nreq; r++, q.n++)
        rc = cwg_encode_pb(&wl, r, &q.r[r]);
    q.spans = wl.nspans;
    cwg_free(&wl);
    if (rc) {
        reqs_free(&q);
        return -1;
    }
    unsigned N = c->threads;
    double xs[CWB_MAX_THREADS], ys[CWB_MAX_THREADS];
    int np = 0;
    for (unsigned T = 1; T <= N; T = T < 8 ? T + 1 : T * 2) {
        double v[CWB_RUNS_MAX];
        for (int r = 0; r < c->runs; r++)
            if ((v[r] = thread_point(&q, T)) < 0) {
                reqs_free(&q);
                fprintf(stderr, "scaling: threads %u failed\n", T);
                return -1;
            }
        cwb_stat st = cwb_stat_of(v, c->runs);
        cwb_fig f;
        cwb_fig_init(&f, "scaling", "threads", T, "spans/s");
        f.st = st;
        f.spans_per_s = st.median;
        f.extra_name[0] = "x";
        f.extra[0] = T;
        snprintf(f.note, sizeof f.note, "decode + insert, %u ingest threads%s", T,
                 T > c->ncpu ? " (more than CPUs)" : "");
        cwb_emit(c, &f);
        xs[np] = T;
        ys[np++] = st.median;
    }
    reqs_free(&q);
    if (np > 1) {
        cwb_fig f;
        cwb_fig_init(&f, "scaling", "threads-slope", N, "log-log");
        double sl = loglog_slope(xs, ys, np);
        f.st = (cwb_stat){sl, sl, sl};
        snprintf(f.note, sizeof f.note, "spans/s ~ T^%.2f; 1 = linear scaling", sl);
        cwb_emit(c, &f);
    }
    return 0;
}

int cwb_scaling(const cwb_ctx *c)
{
    double t0 = cwb_now();
    cwb_heading(c, "scaling (ingest + complete + summary in a fresh engine; time per point)");
    /* CWB_SCALING_ONLY=NAME runs one series (for profiling). */
    const char *only = getenv("CWB_SCALING_ONLY");
    for (size_t i = 0; i < sizeof all_series / sizeof *all_series; i++)
        if ((!only || !strcmp(only, all_series[i].name)) && run_series(c, &all_series[i]))
            return -1;
    if ((!only || !strcmp(only, "threads")) && run_threads(c))
        return -1;
    cwb_info(c, "scaling: %.1f s", cwb_now() - t0);
    return 0;
}
