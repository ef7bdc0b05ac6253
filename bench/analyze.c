/*
 * The analyze scenario: OTLP files to invocation-chain summaries, the way
 * `causeway analyze` does it (cw_engine_ingest_file, cw_engine_flush),
 * against the same analysis done the way an analyst would today: Python
 * with python3-protobuf and networkx (bench/python_analyst.py), on the same
 * files in the same run.
 *
 * Workload: generated serverless traces (tools/gen, seed 7), 200,000 spans
 * (30,000 with --quick: the Python baseline analyses about 12,000 spans a
 * second, and all --quick must stay under two minutes), written as one .pb
 * file per 512-span request into a temporary directory, 30% of the spans
 * out of order. Both sides read every file from disk (page cache warm) and
 * produce every trace and chain summary; the figure is spans / wall time.
 * The Python side times itself from opening the first file to its last
 * summary, so that interpreter start-up and imports are not counted
 * against it. Both report totals of their summaries (spans, traces, chains,
 * span_depth, depth, max_fanout, retries, max_recursion, chain depth); a
 * difference is reported as an error, so the ratio always compares two
 * programs that computed the same thing. The engine runs with its default
 * options, as `causeway analyze` does: ingest on the calling thread, and
 * the final flush's analyses on one thread per online CPU (the "threads"
 * of the line); the Python analyst's program is single-threaded, as such
 * scripts are.
 *
 * Then the latency of one big trace: a single 100,201-span trace (an API
 * invocation fanning out to 100 workers, each fanning out to 10 leaf
 * invocations of 100 spans) ingested in one request, and the time for its
 * summary: completing it (cw_engine_flush, which runs the per-trace
 * analysis) plus reading the summary (cw_engine_trace). Target: < 50 ms.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "causeway.h"
#include "gen.h"

#define WORK_SEED 7
#define WORK_SPANS_FULL 200000
#define WORK_SPANS_QUICK 30000
#define BIG_WORKERS 100
#define BIG_LEAVES 10
#define BIG_LEAF_SPANS 100
#define BIG_TARGET_NS 50e6

typedef struct totals {
    uint64_t spans, traces, chains, span_depth, depth, max_fanout, retries, max_recursion,
        chain_depth;
} totals;

typedef struct awork {
    char dir[64];
    char **files;
    size_t nfiles;
    uint64_t spans;
    size_t bytes;
} awork;

static void release(awork *w)
{
    for (size_t i = 0; i < w->nfiles; i++) {
        unlink(w->files[i]);
        free(w->files[i]);
    }
    free(w->files);
    if (w->dir[0])
        rmdir(w->dir);
    memset(w, 0, sizeof *w);
}

static int prepare(awork *w, const cwb_ctx *c)
{
    memset(w, 0, sizeof *w);
    cwg_options o;
    cwg_options_init(&o);
    o.seed = WORK_SEED;
    o.spans = c->quick ? WORK_SPANS_QUICK : WORK_SPANS_FULL;
    o.batch_spans = 512;
    o.shuffle = 0.3;
    cwg_workload wl;
    if (cwg_generate(&wl, &o))
        return -1;
    snprintf(w->dir, sizeof w->dir, "/tmp/causeway-bench-analyze-XXXXXX");
    if (!mkdtemp(w->dir)) {
        w->dir[0] = 0;
        cwg_free(&wl);
        return -1;
    }
    w->files = calloc(wl.nreq, sizeof *w->files);
    cwg_buf buf = {0};
    int rc = w->files ? 0 : -1;
    for (size_t r = 0; !rc && r < wl.nreq; r++) {
        buf.n = 0;
        char path[128];
        snprintf(path, sizeof path, "%s/%05zu.pb", w->dir, r);
        FILE *f = NULL;
        rc = cwg_encode_pb(&wl, r, &buf) || !(f = fopen(path, "wb")) ||
             fwrite(buf.p, 1, buf.n, f) != buf.n;
        if (f && fclose(f))
            rc = -1;
        w->files[w->nfiles] = strdup(path);
        if (!w->files[w->nfiles])
            rc = -1;
        else
            w->nfiles++;
        w->bytes += buf.n;
    }
    w->spans = wl.nspans;
    cwg_buf_free(&buf);
    cwg_free(&wl);
    return rc;
}

/* ------------------------------------------------------------ causeway */

static void on_trace(void *ctx, const cw_trace_summary *s, const char *const *functions)
{
    (void)functions;
    totals *t = ctx;
    t->traces++;
    t->spans += s->spans;
    t->span_depth += s->span_depth;
    t->depth += s->depth;
    t->max_fanout += s->max_fanout;
    t->retries += s->retries;
    t->max_recursion += s->max_recursion;
}

/* Ingests every file into a fresh engine and completes every trace; the
 * chain totals come from the final chain summaries. Returns seconds, or a
 * negative number on error. */
static double causeway_run(const awork *w, totals *t)
{
    memset(t, 0, sizeof *t);
    cw_engine_options o;
    cw_engine_options_init(&o);
    /* The budgets `causeway analyze` gives the same files (tools/causeway.c,
     * offline_budgets): four times the input's bytes for spans, once for
     * summaries, at least 64 MiB each; indexes for a span a 100 bytes. */
    uint64_t floor = 64ull << 20;
    o.memory_budget = w->bytes * 4 < floor ? floor : w->bytes * 4;
    o.summary_budget = w->bytes < floor ? floor : w->bytes;
    o.expected_spans = w->bytes / 100;
    cw_engine *e;
    if (cw_engine_new(&e, &o))
        return -1;
    cw_engine_on_trace(e, on_trace, t);
    double t0 = cwb_now();
    for (size_t i = 0; i < w->nfiles; i++) {
        cw_ingest_result res;
        int rc = cw_engine_ingest_file(e, w->files[i], &res);
        if (rc) {
            fprintf(stderr, "analyze: %s: %s\n", w->files[i], cw_strerror(rc));
            cw_engine_free(e);
            return -1;
        }
    }
    cw_engine_flush(e);
    /* Every chain, final: ask for more than there can be. */
    size_t cap = (size_t)t->traces + 1, n = 0;
    cw_chain_summary *cs = malloc(cap * sizeof *cs);
    int rc = cs ? cw_engine_top_chains(e, CW_SORT_DEPTH, cap, cs, &n) : CW_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++)
        t->chain_depth += cs[i].depth;
    t->chains = n;
    double secs = cwb_now() - t0;
    free(cs);
    cw_engine_free(e);
    return rc ? -1 : secs;
}

/* -------------------------------------------------------------- Python */

/* Runs bench/python_analyst.py over the files; reads its one JSON line.
 * Returns its own timing in seconds, or a negative number when Python, its
 * modules or protoc are missing (why in reason). */
static double python_run(const cwb_ctx *c, const awork *w, totals *t, char *reason,
                         size_t reason_cap)
{
    char script[4096], proto[4096];
    snprintf(script, sizeof script, "%s/bench/python_analyst.py", c->source_dir);
    snprintf(proto, sizeof proto, "%s/proto", c->source_dir);
    int out[2];
    if (pipe(out)) {
        snprintf(reason, reason_cap, "pipe: %s", strerror(errno));
        return -1;
    }
    char **argv = calloc(w->nfiles + 6, sizeof *argv);
    if (!argv) {
        close(out[0]);
        close(out[1]);
        snprintf(reason, reason_cap, "out of memory");
        return -1;
    }
    size_t k = 0;
    argv[k++] = "/usr/bin/python3";
    argv[k++] = script;
    argv[k++] = "--proto-dir";
    argv[k++] = proto;
    for (size_t i = 0; i < w->nfiles; i++)
        argv[k++] = w->files[i];
    argv[k] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    free(argv);
    close(out[1]);
    if (pid < 0) {
        close(out[0]);
        snprintf(reason, reason_cap, "fork: %s", strerror(errno));
        return -1;
    }
    char line[1024];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof line - 1 && (got = read(out[0], line + n, sizeof line - 1 - n)) > 0)
        n += (size_t)got;
    line[n] = 0;
    close(out[0]);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        snprintf(reason, reason_cap,
                 "python_analyst.py failed (needs /usr/bin/python3 with python3-protobuf, "
                 "python3-networkx and protoc from protobuf-compiler)");
        return -1;
    }
    double secs = -1;
    memset(t, 0, sizeof *t);
    /* The script prints fixed keys in a fixed order. */
    unsigned long long v[10];
    if (sscanf(line,
               "{\"spans\": %llu, \"traces\": %llu, \"chains\": %llu, \"seconds\": %lf, "
               "\"span_depth\": %llu, \"depth\": %llu, \"max_fanout\": %llu, \"retries\": "
               "%llu, \"max_recursion\": %llu, \"chain_depth\": %llu}",
               &v[0], &v[1], &v[2], &secs, &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) != 10) {
        snprintf(reason, reason_cap, "unexpected output from python_analyst.py: %.200s", line);
        return -1;
    }
    *t = (totals){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]};
    return secs;
}

static bool same(const totals *a, const totals *b, char *why, size_t cap)
{
    static const char *const names[] = {"spans", "traces", "chains", "span_depth", "depth",
                                        "max_fanout", "retries", "max_recursion",
                                        "chain depth"};
    const uint64_t *x = &a->spans, *y = &b->spans;
    for (int i = 0; i < 9; i++)
        if (x[i] != y[i]) {
            snprintf(why, cap, "%s: causeway %llu, python %llu", names[i],
                     (unsigned long long)x[i], (unsigned long long)y[i]);
            return false;
        }
    return true;
}

/* ------------------------------------------------------------- big trace */

static void big_span(cwg_span *s, uint64_t id, uint64_t parent, unsigned res, int kind,
                     uint64_t start, uint64_t dur)
{
    memset(s, 0, sizeof *s);
    memset(s->trace_id, 0xb1, sizeof s->trace_id);
    for (int i = 0; i < 8; i++) {
        s->span_id[7 - i] = (uint8_t)(id >> (8 * i));
        s->parent_id[7 - i] = (uint8_t)(parent >> (8 * i));
    }
    s->name = kind == 3 ? "call" : kind == 2 ? "handle" : "work";
    s->resource = res;
    s->kind = kind;
    s->start_ns = start;
    s->end_ns = start + dur;
}

/* One request holding the big trace, encoded by tools/gen. */
static int big_request(cwg_buf *out, uint64_t *nspans)
{
    size_t n = 1 + BIG_WORKERS * 2 + BIG_WORKERS * BIG_LEAVES * (2 + (BIG_LEAF_SPANS - 2));
    cwg_span *sp = calloc(n, sizeof *sp);
    size_t *order = malloc(n * sizeof *order);
    if (!sp || !order) {
        free(sp);
        free(order);
        return -1;
    }
    static cwg_resource res[] = {{"fn-api", NULL, "eu-west-1"},
                                 {"fn-worker", NULL, "eu-west-1"},
                                 {"fn-leaf", NULL, "eu-west-1"}};
    const uint64_t t0 = 1763000000000000000ull;
    uint64_t id = 1;
    size_t k = 0;
    /* Kinds: 1 INTERNAL, 2 SERVER, 3 CLIENT. */
    uint64_t root = id++;
    big_span(&sp[k++], root, 0, 0, 2, t0, 1000000000);
    for (int wk = 0; wk < BIG_WORKERS; wk++) {
        uint64_t call = id++, entry = id++;
        uint64_t ts = t0 + 1000 + (uint64_t)wk * 1000;
        big_span(&sp[k++], call, root, 0, 3, ts, 900000000);
        big_span(&sp[k++], entry, call, 1, 2, ts + 10, 800000000);
        for (int lf = 0; lf < BIG_LEAVES; lf++) {
            uint64_t lcall = id++, lentry = id++;
            uint64_t ls = ts + 100 + (uint64_t)lf * 100;
            big_span(&sp[k++], lcall, entry, 1, 3, ls, 700000000);
            big_span(&sp[k++], lentry, lcall, 2, 2, ls + 5, 600000000);
            for (int s = 0; s < BIG_LEAF_SPANS - 2; s++)
                big_span(&sp[k++], id++, lentry, 2, 1, ls + 10 + (uint64_t)s, 1000);
        }
    }
    for (size_t i = 0; i < k; i++)
        order[i] = i;
    cwg_workload w;
    memset(&w, 0, sizeof w);
    w.spans = sp;
    w.nspans = k;
    w.res = res;
    w.nres = 3;
    w.traces = 1;
    w.order = order;
    cwg_options_init(&w.o);
    int rc = cwg_encode_all_pb(&w, out);
    *nspans = k;
    free(sp);
    free(order);
    return rc;
}

/* Ingests the big trace (not timed), then times its completion and summary.
 * Returns seconds, or a negative number on error. */
static double big_run(const cwg_buf *req, uint64_t nspans, double *ingest_s)
{
    cw_engine *e;
    if (cw_engine_new(&e, NULL))
        return -1;
    cw_ingest_result res;
    double t0 = cwb_now();
    int rc = cw_engine_ingest(e, req->p, req->n, CW_ENC_PROTOBUF, &res);
    double t1 = cwb_now();
    cw_trace_summary s;
    if (!rc) {
        cw_engine_flush(e);
        char id[CW_TRACE_ID_LEN]; /* every byte 0xb1 (big_span) */
        for (int i = 0; i < 16; i++)
            memcpy(id + 2 * i, "b1", 2);
        id[32] = 0;
        rc = cw_engine_trace(e, id, &s, NULL, 0);
    }
    double t2 = cwb_now();
    cw_engine_free(e);
    if (rc || s.spans != nspans) {
        fprintf(stderr, "analyze: big trace: %s (%llu of %llu spans)\n",
                rc ? cw_strerror(rc) : "span count differs",
                rc ? 0ull : (unsigned long long)s.spans, (unsigned long long)nspans);
        return -1;
    }
    *ingest_s = t1 - t0;
    return t2 - t1;
}

/* -------------------------------------------------------------- scenario */

int cwb_analyze(const cwb_ctx *c)
{
    awork w;
    if (prepare(&w, c)) {
        fprintf(stderr, "analyze: workload preparation failed\n");
        release(&w);
        return -1;
    }
    cwb_info(c, "analyze: %llu spans in %zu .pb files (%zu bytes) under %s",
             (unsigned long long)w.spans, w.nfiles, w.bytes, w.dir);

    double cw_sps[CWB_RUNS_MAX], py_sps[CWB_RUNS_MAX];
    int py_runs = 0;
    char reason[512] = "", why[256] = "";
    totals ct, pt;
    bool agree = true;
    /* Warm-up: page cache, allocator, the interpreter's .pyc files. */
    if (causeway_run(&w, &ct) < 0) {
        release(&w);
        return -1;
    }
    bool python = python_run(c, &w, &pt, reason, sizeof reason) >= 0;
    if (!python)
        cwb_info(c, "analyze: python-analyst baseline unavailable: %s", reason);
    for (int run = 0; run < c->runs; run++) {
        double s = causeway_run(&w, &ct);
        if (s <= 0) {
            release(&w);
            return -1;
        }
        cw_sps[run] = (double)ct.spans / s;
        if (python) {
            double p = python_run(c, &w, &pt, reason, sizeof reason);
            if (p <= 0) {
                cwb_info(c, "analyze: python-analyst failed: %s", reason);
                python = false;
                continue;
            }
            py_sps[py_runs++] = (double)pt.spans / p;
            if (agree && !same(&ct, &pt, why, sizeof why))
                agree = false;
        }
    }

    cwb_heading(c, "analyze (files to every trace and chain summary; spans/s)");
    cwb_stat cs = cwb_stat_of(cw_sps, c->runs);
    cwb_fig f;
    /* The engine's default completion threads, as `causeway analyze` has
     * them: one per online CPU, at most 8. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cwb_fig_init(&f, "analyze", "files", cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus, "spans/s");
    f.st = cs;
    f.spans_per_s = cs.median;
    f.extra_name[0] = "traces";
    f.extra[0] = (double)ct.traces;
    f.extra_name[1] = "chains";
    f.extra[1] = (double)ct.chains;
    if (py_runs) {
        cwb_stat ps = cwb_stat_of(py_sps, py_runs);
        f.baseline = "python-analyst";
        f.ratio = cs.median / ps.median;
        snprintf(f.note, sizeof f.note, "target >= 50x python-analyst; summaries %s",
                 agree ? "identical" : "DIFFER");
        cwb_emit(c, &f);
        cwb_fig_init(&f, "analyze", "python-analyst", 1, "spans/s");
        f.st = ps;
        f.spans_per_s = ps.median;
        snprintf(f.note, sizeof f.note, "python3-protobuf + networkx");
        cwb_emit(c, &f);
    } else {
        snprintf(f.note, sizeof f.note, "no python-analyst baseline: %.60s", reason);
        cwb_emit(c, &f);
    }
    if (!agree)
        cwb_info(c, "analyze: ERROR: causeway and python-analyst summaries differ (%s)", why);
    release(&w);

    /* The big trace. */
    cwg_buf req = {0};
    uint64_t nspans = 0;
    if (big_request(&req, &nspans)) {
        fprintf(stderr, "analyze: big trace: out of memory\n");
        return -1;
    }
    double lat[CWB_RUNS_MAX], ing[CWB_RUNS_MAX];
    for (int run = 0; run < c->runs; run++) {
        lat[run] = big_run(&req, nspans, &ing[run]);
        if (lat[run] < 0) {
            cwg_buf_free(&req);
            return -1;
        }
    }
    cwg_buf_free(&req);
    cwb_stat ls = cwb_stat_of(lat, c->runs), is = cwb_stat_of(ing, c->runs);
    cwb_fig_init(&f, "analyze", "trace-summary-100k", 1, "ms");
    f.st = (cwb_stat){ls.median * 1e3, ls.min * 1e3, ls.max * 1e3};
    f.p50_ns = ls.median * 1e9;
    f.extra_name[0] = "spans";
    f.extra[0] = (double)nspans;
    f.extra_name[1] = "target_ms";
    f.extra[1] = BIG_TARGET_NS / 1e6;
    snprintf(f.note, sizeof f.note, "%llu-span trace: complete + summary; target < 50 ms",
             (unsigned long long)nspans);
    cwb_emit(c, &f);
    cwb_fig_init(&f, "analyze", "ingest-100k", 1, "ms");
    f.st = (cwb_stat){is.median * 1e3, is.min * 1e3, is.max * 1e3};
    f.spans_per_s = (double)nspans / is.median;
    snprintf(f.note, sizeof f.note, "the same trace's request: decode + insert");
    cwb_emit(c, &f);
    return agree ? 0 : -1;
}
