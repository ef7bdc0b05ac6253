/*
 * The graph scenario: concurrent inserts into the lock-free span graph
 * (lib/graph) against a hash table behind one mutex (mutex_table.c), with a
 * concurrent reader in both, and the graph's bytes per span.
 *
 * Workload: generated serverless traces (tools/gen, seed 42), 1,000,000
 * spans (200,000 with --quick, N with --spans N) in requests of 512 spans,
 * half of the spans moved to a random request (shuffle 0.5) so that children
 * often come before their parents. Every request is encoded and decoded into its own cw__batch
 * before any timing: the timed region is the inserts alone.
 *
 * One run at T threads: a fresh graph (or table), T writers that take
 * batches from a shared atomic counter until none is left, and one reader
 * that meanwhile looks up random trace ids of the workload inside read
 * sections and walks each trace's nodes and their children (the table's
 * reader does the same walk under the mutex).
 * spans/s = spans inserted / wall time from releasing the writers to the
 * last writer's end. Rounds interleave every thread count and every
 * structure, so each ratio compares runs made side by side.
 *
 * Two reference points run in the same rounds (oa_index.c): the graph's
 * insert work on open-addressing indexes without deletion (oa-prototype,
 * the same workload, writers and reader), and the CAS table over 10 M
 * 24-byte keys that issue 3 quotes as its index baseline (cas-table).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "gen.h"
#include "graph/graph.h"

#define WORK_SEED 42
/* The brief's sizes: 1,000,000 spans (200,000 quick) in 512-span requests,
 * half of them out of order. */
#define WORK_SPANS_FULL 1000000
#define WORK_SPANS_QUICK 200000
#define WORK_BATCH 512
#define WORK_SHUFFLE 0.5
/* Graph budgets in bytes per workload span: 160 for the insert runs (room
 * to spare: nothing is refused), 128 for the memory figure (the brief's;
 * above the graph's 96 B/span plan, lib/graph/graph.c PLAN_BYTES_PER_SPAN). */
#define BUDGET_INSERT 160
#define BUDGET_MEMORY 128
/* The engine's defaults (include/causeway.h, cw_engine_options). */
#define MAX_ATTR_LEN 1024
#define INTERN_LIMIT (1u << 18)
/* The CAS-table baseline: 10 M 24-byte keys (issue 3); 2 M with
 * --quick, which keeps the quick suite under its 2 minutes. */
#define CAS_KEYS_FULL 10000000
#define CAS_KEYS_QUICK 2000000
/* Trace ids the reader picks from (random spans of the workload). */
#define NPROBE 65536
/* A paced reader walks this many traces, then sleeps this long: a query
 * load of some tens of thousands of trace walks a second (about 36,000 on
 * the README's machine) instead of a core of its own. */
#define PACE_WALKS 8
#define PACE_SLEEP_NS 100000

typedef struct gwork {
    cw__mem mem; /* batches and interner; the graph has its own */
    cw__interner *in;
    cw__batch *b;
    size_t nb;
    size_t nspans;
    uint64_t ntraces;
    cw__tid *probe_tid;
} gwork;

typedef struct grun {
    const gwork *w;
    cw__graph *g;     /* one of g, mt and oa */
    cwb_mtable *mt;
    cwb_oa *oa;
    bool paced;
    _Atomic size_t next;    /* next batch to take */
    _Atomic unsigned ready; /* writers waiting for go */
    _Atomic int go;
    _Atomic int stop;       /* tells the reader the writers are done */
    _Atomic uint64_t accepted, refused;
    uint64_t walks, nodes_seen;
} grun;

/* ------------------------------------------------------------- threads */

static void *writer(void *arg)
{
    grun *r = arg;
    const gwork *w = r->w;
    uint64_t acc = 0, ref = 0;
    atomic_fetch_add_explicit(&r->ready, 1, memory_order_release);
    while (!atomic_load_explicit(&r->go, memory_order_acquire))
        sched_yield();
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed);
        if (i >= w->nb)
            break;
        if (r->g) {
            cw__insert_result res;
            cw__graph_insert(r->g, &w->b[i], cwb_now_ns(), &res);
            acc += res.accepted;
            ref += res.rejected_budget + res.rejected_nomem;
        } else if (r->mt) {
            size_t got = cwb_mt_insert(r->mt, &w->b[i], cwb_now_ns());
            acc += got;
            ref += w->b[i].n - got;
        } else {
            size_t got = cwb_oa_insert(r->oa, &w->b[i], cwb_now_ns());
            acc += got;
            ref += w->b[i].n - got;
        }
    }
    atomic_fetch_add_explicit(&r->accepted, acc, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->refused, ref, memory_order_relaxed);
    return NULL;
}

/* Walks one trace of the graph: every node's payload and its children. */
static uint64_t walk_trace(cw__graph *g, cw__tid id, uint64_t *acc)
{
    uint64_t seen = 0;
    cw__rs rs = cw__graph_read_lock(g);
    uint32_t t = cw__graph_find_trace(g, id);
    if (t != CW_NIL) {
        cw__trace *tr = (cw__trace *)cw__graph_trace(g, t);
        /* Acquire pairs with the insert's release push of the node list
         * head; next_in_trace is written before that push and immutable. */
        for (uint32_t n = atomic_load_explicit(&tr->nodes, memory_order_acquire); n != CW_NIL;
             n = cw__graph_node(g, n)->next_in_trace) {
            cw__payload p;
            if (cw__graph_node_read(g, n, &p))
                *acc += p.end_ns - p.start_ns;
            cw__child_iter it;
            cw__children_begin(g, n, &it);
            for (uint32_t ch; (ch = cw__children_next(g, &it)) != CW_NIL;)
                *acc += ch;
            seen++;
        }
    }
    cw__graph_read_unlock(g, rs);
    return seen;
}

static void *reader(void *arg)
{
    grun *r = arg;
    const gwork *w = r->w;
    uint64_t rng = 0x9e3779b97f4a7c15ULL, acc = 0;
    while (!atomic_load_explicit(&r->stop, memory_order_acquire)) {
        for (int k = 0; k < PACE_WALKS; k++) {
            size_t i = (size_t)(cwb_xorshift(&rng) % NPROBE);
            if (r->g)
                r->nodes_seen += walk_trace(r->g, w->probe_tid[i], &acc);
            else if (r->mt)
                r->nodes_seen += cwb_mt_walk(r->mt, w->probe_tid[i]);
            else
                r->nodes_seen += cwb_oa_walk(r->oa, w->probe_tid[i]);
            r->walks++;
        }
        if (r->paced) {
            struct timespec ts = {0, PACE_SLEEP_NS};
            nanosleep(&ts, NULL);
        }
    }
    cwb_sink(acc);
    return NULL;
}

typedef struct run_result {
    double spans_per_s;
    double walks_per_s;
    uint64_t accepted, refused;
    uint64_t nodes; /* graph and prototype: spans and placeholders held */
} run_result;

/* One insert run with T writers and one reader; the graph or table is
 * r->g / r->mt, made by the caller. */
static int run_inserts(grun *r, unsigned T, run_result *out)
{
    pthread_t th[CWB_MAX_THREADS];
    pthread_t rd;
    atomic_init(&r->next, 0);
    atomic_init(&r->ready, 0);
    atomic_init(&r->go, 0);
    atomic_init(&r->stop, 0);
    atomic_init(&r->accepted, 0);
    atomic_init(&r->refused, 0);
    r->walks = r->nodes_seen = 0;
    if (pthread_create(&rd, NULL, reader, r))
        return -1;
    unsigned started = 0;
    for (; started < T; started++)
        if (pthread_create(&th[started], NULL, writer, r))
            break;
    while (atomic_load_explicit(&r->ready, memory_order_acquire) < started)
        sched_yield();
    double t0 = cwb_now();
    atomic_store_explicit(&r->go, 1, memory_order_release);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double t1 = cwb_now();
    atomic_store_explicit(&r->stop, 1, memory_order_release);
    pthread_join(rd, NULL);
    if (started < T)
        return -1;
    out->accepted = atomic_load(&r->accepted);
    out->refused = atomic_load(&r->refused);
    out->spans_per_s = (double)out->accepted / (t1 - t0);
    out->walks_per_s = (double)r->walks / (t1 - t0);
    return 0;
}

/* ------------------------------------------------------------- workload */

static int prepare(gwork *w, const cwb_ctx *c)
{
    cw__mem_init(&w->mem, NULL);
    if (cw__intern_new(&w->in, &w->mem, INTERN_LIMIT))
        return CW_ENOMEM;
    cwg_options o;
    cwg_options_init(&o);
    o.seed = WORK_SEED;
    o.spans = c->spans ? c->spans : c->quick ? WORK_SPANS_QUICK : WORK_SPANS_FULL;
    o.batch_spans = WORK_BATCH;
    o.shuffle = WORK_SHUFFLE;
    cwg_workload wl;
    if (cwg_generate(&wl, &o))
        return CW_ENOMEM;
    w->b = calloc(wl.nreq ? wl.nreq : 1, sizeof *w->b);
    if (!w->b) {
        cwg_free(&wl);
        return CW_ENOMEM;
    }
    cwg_buf buf = {0};
    size_t bytes = 0;
    int rc = 0;
    for (size_t r = 0; r < wl.nreq && !rc; r++) {
        buf.n = 0;
        if (cwg_encode_pb(&wl, r, &buf)) {
            rc = CW_ENOMEM;
            break;
        }
        bytes += buf.n;
        cw__batch_init(&w->b[r], &w->mem);
        w->nb++;
        cw__decoder d;
        cw__decoder_init(&d, w->in, MAX_ATTR_LEN, &w->b[r]);
        rc = cw__decode_pb(&d, buf.p, buf.n);
        cw__decoder_done(&d);
        w->nspans += w->b[r].n;
    }
    cwg_buf_free(&buf);
    uint64_t traces = wl.traces;
    w->ntraces = traces;
    cwg_free(&wl);
    if (rc)
        return rc;

    w->probe_tid = malloc(NPROBE * sizeof *w->probe_tid);
    if (!w->probe_tid || !w->nspans)
        return CW_ENOMEM;
    uint64_t rng = 0x2545f4914f6cdd1dULL;
    for (size_t i = 0; i < NPROBE; i++) {
        const cw__batch *b;
        do
            b = &w->b[cwb_xorshift(&rng) % w->nb];
        while (!b->n);
        const cw__span *s = &b->spans[cwb_xorshift(&rng) % b->n];
        w->probe_tid[i] = s->trace;
    }
    cwb_info(c, "graph: %zu spans in %llu traces, %zu requests of up to %d spans "
                "(%zu bytes protobuf), shuffle %.1f; %llu strings interned",
             w->nspans, (unsigned long long)traces, w->nb, WORK_BATCH, bytes, WORK_SHUFFLE,
             (unsigned long long)cw__intern_count(w->in));
    return 0;
}

static void release(gwork *w)
{
    for (size_t i = 0; i < w->nb; i++)
        cw__batch_free(&w->b[i]);
    free(w->b);
    free(w->probe_tid);
    cw__intern_free(w->in);
}

/* ---------------------------------------------------------------- runs */

/* One insert run into a fresh graph; with recycled, the graph has first
 * held the whole workload and completed it (every object the run takes
 * comes back from the pools' free lists, as in a long-running receiver). */
static int graph_run(const gwork *w, unsigned T, bool paced, bool recycled, run_result *out)
{
    cw__mem gm;
    cw__mem_init(&gm, NULL);
    cw__graph_limits lim = {
        .budget = (uint64_t)w->nspans * BUDGET_INSERT,
        /* Nothing completes during a run: the benchmark never ticks. */
        .idle_ns = UINT64_MAX / 4,
        .max_age_ns = UINT64_MAX / 4,
    };
    grun r;
    memset(&r, 0, sizeof r);
    r.w = w;
    r.paced = paced;
    if (cw__graph_new(&r.g, &gm, &lim, NULL, NULL))
        return -1;
    if (recycled) {
        for (size_t i = 0; i < w->nb; i++) {
            cw__insert_result res;
            cw__graph_insert(r.g, &w->b[i], cwb_now_ns(), &res);
        }
        cw__graph_flush(r.g);
    }
    int rc = run_inserts(&r, T, out);
    cw__graph_stats st;
    cw__graph_stats_get(r.g, &st);
    out->nodes = st.nodes_live;
    cw__graph_free(r.g);
    return rc;
}

static int mutex_run(const gwork *w, unsigned T, bool paced, run_result *out)
{
    grun r;
    memset(&r, 0, sizeof r);
    r.w = w;
    r.paced = paced;
    if (cwb_mt_new(&r.mt, w->nspans))
        return -1;
    int rc = run_inserts(&r, T, out);
    cwb_mt_free(r.mt);
    return rc;
}

/* The open-addressing prototype (oa_index.c) on the same workload. */
static int oa_run(const gwork *w, unsigned T, bool paced, run_result *out, double *index_bps)
{
    grun r;
    memset(&r, 0, sizeof r);
    r.w = w;
    r.paced = paced;
    if (cwb_oa_new(&r.oa, w->nspans, w->ntraces))
        return -1;
    int rc = run_inserts(&r, T, out);
    out->nodes = cwb_oa_nodes(r.oa);
    *index_bps = out->nodes ? (double)cwb_oa_index_bytes(r.oa) / (double)out->nodes : 0;
    cwb_oa_free(r.oa);
    return rc;
}

typedef struct cas_arg {
    cwb_cas *t;
    _Atomic unsigned *ready;
    _Atomic int *go;
} cas_arg;

static void *cas_writer(void *arg)
{
    cas_arg *a = arg;
    atomic_fetch_add_explicit(a->ready, 1, memory_order_release);
    while (!atomic_load_explicit(a->go, memory_order_acquire))
        sched_yield();
    cwb_cas_work(a->t);
    return NULL;
}

/* One run of the CAS table at T threads: keys/s. */
static int cas_run(cwb_cas *t, size_t nkeys, unsigned T, double *keys_per_s)
{
    pthread_t th[CWB_MAX_THREADS];
    _Atomic unsigned ready = 0;
    _Atomic int go = 0;
    cas_arg a = {t, &ready, &go};
    cwb_cas_reset(t);
    unsigned started = 0;
    for (; started < T; started++)
        if (pthread_create(&th[started], NULL, cas_writer, &a))
            break;
    while (atomic_load_explicit(&ready, memory_order_acquire) < started)
        sched_yield();
    double t0 = cwb_now();
    atomic_store_explicit(&go, 1, memory_order_release);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double t1 = cwb_now();
    if (started < T)
        return -1;
    *keys_per_s = (double)nkeys / (t1 - t0);
    return 0;
}

typedef struct mem_result {
    double bytes_per_span;     /* cw__mem in_use / spans_live */
    double accounted_per_span; /* (bytes_live + bytes_index) / spans_live */
    uint64_t spans_live, refused;
} mem_result;

/* The whole workload into a graph budgeted at BUDGET_MEMORY bytes a span,
 * on one thread, then what the graph's allocator holds per live span. */
static int memory_run(const gwork *w, mem_result *out)
{
    cw__mem gm;
    cw__mem_init(&gm, NULL);
    cw__graph_limits lim = {
        .budget = (uint64_t)w->nspans * BUDGET_MEMORY,
        .idle_ns = UINT64_MAX / 4,
        .max_age_ns = UINT64_MAX / 4,
    };
    cw__graph *g;
    if (cw__graph_new(&g, &gm, &lim, NULL, NULL))
        return -1;
    uint64_t refused = 0;
    for (size_t i = 0; i < w->nb; i++) {
        cw__insert_result res;
        cw__graph_insert(g, &w->b[i], cwb_now_ns(), &res);
        refused += res.rejected_budget + res.rejected_nomem;
    }
    cw__graph_stats st;
    cw__graph_stats_get(g, &st);
    uint64_t held = atomic_load_explicit(&gm.in_use, memory_order_relaxed);
    out->spans_live = st.spans_live;
    out->refused = refused;
    out->bytes_per_span = st.spans_live ? (double)held / (double)st.spans_live : 0;
    out->accounted_per_span =
        st.spans_live ? (double)(st.bytes_live + st.bytes_index) / (double)st.spans_live : 0;
    cw__graph_free(g);
    return 0;
}

/* Thread counts measured: every count up to 8, then powers of two, and N
 * itself, so that a many-core machine does not take an hour. */
static unsigned next_count(unsigned T, unsigned N)
{
    unsigned n = T < 8 ? T + 1 : T * 2;
    return n > N && T < N ? N : n;
}

int cwb_graph(const cwb_ctx *c)
{
    double t_start = cwb_now();
    gwork w;
    memset(&w, 0, sizeof w);
    if (prepare(&w, c)) {
        fprintf(stderr, "graph: workload preparation failed\n");
        release(&w);
        return -1;
    }
    unsigned N = c->threads;
    if (N > CWB_MAX_THREADS)
        N = CWB_MAX_THREADS;
    /* The reader gets a core of its own when there is one for it at every
     * thread count; else it is paced so that it does not take the writers'
     * cores (on 2 CPUs, 2 writers + a busy reader would measure time
     * slicing). Chosen once, so that every thread count sees the same
     * reader. */
    bool paced = N + 1 > c->ncpu;
    cwb_info(c, "graph: writers 1..%u on %u online CPUs; 1 concurrent reader, %s", N, c->ncpu,
             paced ? "paced (8 trace walks, then 100 us asleep)" : "busy (walks back to back)");

    double ins[CWB_MAX_THREADS + 1][CWB_RUNS_MAX], mtx[CWB_MAX_THREADS + 1][CWB_RUNS_MAX];
    double rec[CWB_MAX_THREADS + 1][CWB_RUNS_MAX];
    double ins_walks[CWB_MAX_THREADS + 1][CWB_RUNS_MAX],
        mtx_walks[CWB_MAX_THREADS + 1][CWB_RUNS_MAX];
    double oa[CWB_MAX_THREADS + 1][CWB_RUNS_MAX], cas[CWB_MAX_THREADS + 1][CWB_RUNS_MAX];
    double oa_index_bps = 0;
    double mem_b[CWB_RUNS_MAX], mem_acc[CWB_RUNS_MAX];
    /* The index baseline: 10 M keys (2 M quick). */
    size_t cas_keys = c->quick ? CAS_KEYS_QUICK : CAS_KEYS_FULL;
    cwb_cas *ct;
    if (cwb_cas_new(&ct, cas_keys)) {
        fprintf(stderr, "graph: no memory for the CAS table\n");
        release(&w);
        return -1;
    }
    uint64_t refused_ins = 0, refused_mtx = 0, refused_mem = 0, live_mem = 0, refused_oa = 0;
    /* One untimed round first: the first graph, table and prototype of the
     * process pay for the allocator's first growth; later runs start from a warm
     * allocator, as a long-running receiver does. */
    {
        run_result gr, mr, orr;
        double bps;
        if (graph_run(&w, 1, paced, false, &gr) || mutex_run(&w, 1, paced, &mr) ||
            oa_run(&w, 1, paced, &orr, &bps)) {
            fprintf(stderr, "graph: warm-up run failed\n");
            cwb_cas_free(ct);
            release(&w);
            return -1;
        }
    }
    for (int run = 0; run < c->runs; run++) {
        for (unsigned T = 1; T <= N; T = next_count(T, N)) {
            run_result gr, mr, rr, orr;
            if (graph_run(&w, T, paced, false, &gr) || mutex_run(&w, T, paced, &mr) ||
                graph_run(&w, T, paced, true, &rr) ||
                oa_run(&w, T, paced, &orr, &oa_index_bps) ||
                cas_run(ct, cas_keys, T, &cas[T][run])) {
                fprintf(stderr, "graph: run failed\n");
                cwb_cas_free(ct);
                release(&w);
                return -1;
            }
            /* The prototype is checked, not trusted: one node per key, as
             * the graph holds (a duplicate or a lost key differs). */
            if (orr.nodes != gr.nodes) {
                fprintf(stderr, "graph: the prototype holds %llu nodes, the graph %llu\n",
                        (unsigned long long)orr.nodes, (unsigned long long)gr.nodes);
                cwb_cas_free(ct);
                release(&w);
                return -1;
            }
            oa[T][run] = orr.spans_per_s;
            refused_oa += orr.refused;
            ins[T][run] = gr.spans_per_s;
            ins_walks[T][run] = gr.walks_per_s;
            mtx[T][run] = mr.spans_per_s;
            rec[T][run] = rr.spans_per_s;
            mtx_walks[T][run] = mr.walks_per_s;
            refused_ins += gr.refused + rr.refused;
            refused_mtx += mr.refused;
        }
        mem_result m;
        if (memory_run(&w, &m)) {
            fprintf(stderr, "graph: memory run failed\n");
            cwb_cas_free(ct);
            release(&w);
            return -1;
        }
        mem_b[run] = m.bytes_per_span;
        mem_acc[run] = m.accounted_per_span;
        refused_mem = m.refused;
        live_mem = m.spans_live;
    }
    cwb_cas_free(ct);
    if (refused_ins || refused_mtx || refused_oa)
        cwb_info(c,
                 "graph: WARNING: %llu graph / %llu table / %llu prototype inserts refused "
                 "over all runs",
                 (unsigned long long)refused_ins, (unsigned long long)refused_mtx,
                 (unsigned long long)refused_oa);

    /* Per-round scaling ratios, before the sorts below reorder the runs. */
    double scale[CWB_MAX_THREADS + 1][CWB_RUNS_MAX];
    for (unsigned T = 2; T <= N; T = next_count(T, N))
        for (int run = 0; run < c->runs; run++)
            scale[T][run] = ins[T][run] / ins[1][run];

    cwb_heading(c, "graph (spans inserted/s, wall time of the insert phase; 1 concurrent "
                   "reader)");
    cwb_stat gst[CWB_MAX_THREADS + 1];
    for (unsigned T = 1; T <= N; T = next_count(T, N)) {
        cwb_stat ms = cwb_stat_of(mtx[T], c->runs);
        gst[T] = cwb_stat_of(ins[T], c->runs);
        cwb_stat gw = cwb_stat_of(ins_walks[T], c->runs);
        cwb_stat mw = cwb_stat_of(mtx_walks[T], c->runs);

        cwb_fig f;
        cwb_fig_init(&f, "graph", "insert", T, "spans/s");
        f.st = gst[T];
        f.spans_per_s = gst[T].median;
        f.extra_name[0] = "reader_walks_per_s";
        f.extra[0] = gw.median;
        f.baseline = "mutex-table";
        f.ratio = gst[T].median / ms.median;
        snprintf(f.note, sizeof f.note, "reader: %.0f trace walks/s", gw.median);
        cwb_emit(c, &f);

        cwb_fig_init(&f, "graph", "insert-recycled", T, "spans/s");
        f.st = cwb_stat_of(rec[T], c->runs);
        f.spans_per_s = f.st.median;
        f.baseline = "insert";
        f.ratio = f.st.median / gst[T].median;
        snprintf(f.note, sizeof f.note, "a graph that held and completed the workload first");
        cwb_emit(c, &f);

        cwb_fig_init(&f, "graph", "mutex-table", T, "spans/s");
        f.st = ms;
        f.spans_per_s = ms.median;
        f.extra_name[0] = "reader_walks_per_s";
        f.extra[0] = mw.median;
        snprintf(f.note, sizeof f.note, "reader: %.0f trace walks/s", mw.median);
        cwb_emit(c, &f);

        cwb_fig_init(&f, "graph", "oa-prototype", T, "spans/s");
        f.st = cwb_stat_of(oa[T], c->runs);
        f.spans_per_s = f.st.median;
        f.baseline = "insert";
        f.ratio = f.st.median / gst[T].median;
        f.extra_name[0] = "index_bytes_per_node";
        f.extra[0] = oa_index_bps;
        snprintf(f.note, sizeof f.note,
                 "open addressing, inserts only (oa_index.c); index %.1f B/node", oa_index_bps);
        cwb_emit(c, &f);

        cwb_fig_init(&f, "graph", "cas-table", T, "keys/s");
        f.st = cwb_stat_of(cas[T], c->runs);
        f.extra_name[0] = "keys";
        f.extra[0] = (double)cas_keys;
        snprintf(f.note, sizeof f.note, "issue 3's index baseline: %zu 24-byte keys", cas_keys);
        cwb_emit(c, &f);
    }
    for (unsigned T = 2; T <= N; T = T == 2 && N > 2 ? N : N + 1) {
        char name[32];
        snprintf(name, sizeof name, "scaling-%u", T);
        cwb_fig f;
        cwb_fig_init(&f, "graph", name, T, "x");
        f.st = cwb_stat_of(scale[T], c->runs);
        f.baseline = "insert";
        f.ratio = gst[T].median / gst[1].median;
        snprintf(f.note, sizeof f.note, "insert at %u threads / insert at 1", T);
        cwb_emit(c, &f);
    }
    {
        cwb_stat acc = cwb_stat_of(mem_acc, c->runs);
        cwb_fig f;
        cwb_fig_init(&f, "graph", "memory", 1, "bytes/span");
        f.st = cwb_stat_of(mem_b, c->runs);
        f.bytes_per_span = f.st.median;
        f.extra_name[0] = "accounted_bytes_per_span";
        f.extra[0] = acc.median;
        f.extra_name[1] = "spans_live";
        f.extra[1] = (double)live_mem;
        snprintf(f.note, sizeof f.note, "allocator; %.1f B/span accounted; %llu refused",
                 acc.median, (unsigned long long)refused_mem);
        cwb_emit(c, &f);
    }
    cwb_info(c, "graph: %d rounds, %.1f s in all", c->runs, cwb_now() - t_start);
    release(&w);
    return 0;
}
