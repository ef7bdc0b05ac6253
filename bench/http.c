/*
 * The http and query scenarios: `causeway serve` driven over loopback by a
 * libuv load generator, against the decode-only ceiling of the same request
 * bodies, and query-API latency with and without that load
 * (bench/README.md, "http and query").
 *
 * http. Workload: generated serverless traces (tools/gen, seed 42),
 * 1,000,000 spans (200,000 with --quick) in requests of 512 spans, half of
 * the spans moved to a random request (shuffle 0.5, as the graph scenario),
 * encoded as OTLP protobuf and, for the gzip variant, compressed with
 * libdeflate level 6 before any timing. One run of a variant:
 *   - decode-1core / decode-only: the same bodies decoded in this process
 *     (cw__gunzip_into a reused buffer first for gzip, as the engine's
 *     workers do, then cw__decode_pb), by one thread and by
 *     as many threads as the daemon's decode pool (UV_THREADPOOL_SIZE, which
 *     the daemon sets to the core count);
 *   - e2e-cold: a fresh `causeway serve` child (ephemeral ports, read back
 *     from its log; idle timeout 2 s) takes a first workload of the same
 *     size (seed 43) over N keep-alive connections with one request in
 *     flight on each (the receiver stops reading a connection while its
 *     request is decoded, so pipelining would not add concurrency): a
 *     daemon's first traces, every object on fresh memory;
 *   - e2e: once that workload's traces have gone idle and completed (the
 *     daemon's memory recycled, as in a long-running daemon), the measured
 *     workload is sent once, each request exactly once, the same way.
 *     spans/s = spans in 200 responses / wall time from the first request
 *     written to the last response read. The server's CPU is read from
 *     /proc before and after each window, its peak RSS (VmHWM) at the end;
 *     it is then stopped with SIGTERM and the CPU its shutdown flush takes
 *     (completing every live trace: the summary work a long-running daemon
 *     does as traces go idle) is reported apart, from wait4()'s rusage.
 * Rounds interleave the figures (round r runs each once), so that an e2e
 * figure and its decode-only baseline see the same machine state. Without
 * --gzip both variants are measured (identity and gzip); --gzip narrows the
 * scenario to gzip, the variant the target is stated for.
 *
 * query. Each run starts a fresh `causeway serve` child (idle timeout 2 s,
 * so that traces complete and top-N has something to rank), preloaded with
 * a separate workload that is then left to complete. The idle phase sends
 * a fixed number of trace-summary and top-N queries, alternating, one at a
 * time, 2 ms apart, on one keep-alive connection; the loaded phase sends the
 * same queries the same way while the load generator sends protobuf requests
 * as fast as the server answers for a fixed time. Trace ids queried under
 * load are those of the request answered last (live traces); idle, random
 * ones of the preload (complete traces). The load cycles through its
 * workload; before a request is sent again its trace ids are rewritten (a
 * per-pass value XORed into 4 bytes of every trace id, links included), so
 * every pass sends new traces rather than duplicates.
 *
 * Everything is bounded: every wait has a deadline, a stalled load (no
 * response for STALL_S) fails the run, and the child is killed on every
 * error path (and by the kernel should this process die: PR_SET_PDEATHSIG).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "bench.h"
#include "gen.h"

/* Workload: the graph scenario's shape (bench/graph.c): 512-span requests,
 * half of the spans out of order. 1,000,000 spans make a run of about a
 * second at the target rate; 200,000 keep --quick well under 20 s. */
#define WORK_SEED 42
#define WORK_SPANS_FULL 1000000
#define WORK_SPANS_QUICK 200000
#define WORK_BATCH 512
#define WORK_SHUFFLE 0.5
/* The first pass (http) and preload (query) workload: another seed, so
 * that none of its traces is one of the measured workload's. */
#define WARM_SEED 43
/* http: the daemon's idle timeout: the first pass completes in about that
 * long after it ends, and a measured pass (1 s at most at 1 M spans/s) ends
 * before any of its own traces could. */
#define E2E_IDLE_TIMEOUT "2"
/* gzip level: 6 is zlib's default and the exporters'. */
#define GZIP_LEVEL 6
/* The engine's defaults (include/causeway.h, cw_engine_options). */
#define MAX_ATTR_LEN 1024
#define INTERN_LIMIT (1u << 18)
#define GUNZIP_LIMIT (64u << 20)
/* A decode-only run repeats the workload until it lasts about this long on
 * one thread (the workload alone decodes in 20-100 ms, too short to be
 * steady when threads are scheduled around other work). */
#define DECODE_RUN_S_FULL 0.3
#define DECODE_RUN_S_QUICK 0.1

/* Client connections when --connections is not given: eight per decode
 * thread, at least 16. A request spends most of its round trip outside the
 * pool threads (written by the client, read and parsed by the loop thread,
 * answered), so with few connections both pool threads are at times
 * without work while the machine idles: the measured window's idle share
 * (/proc/stat, reported with server-cpu) on the README's machine, gzip,
 * 1 M spans: 4 connections 15%, 8 9%, 16 3%, 32 1%; e2e-gzip 1.49 M,
 * 1.85-1.94 M, 1.97-2.09 M, 1.82 M spans/s. A throughput figure is taken
 * at saturation: 16, where the idle share stops mattering; p50 latency
 * doubles from 8 (2.1 ms to 4.0 ms). */
#define CONN_MIN 16
#define CONN_PER_THREAD 8

/* Bounds. A run that gets no response for STALL_S seconds fails (the
 * daemon's own read timeout is 30 s; nothing legitimate takes 10). */
#define STALL_S 10.0
#define START_TIMEOUT_S 10.0 /* spawn to /healthz answering */
#define STOP_TIMEOUT_S 30.0  /* SIGTERM to exit: drains and flushes */
#define SETTLE_TIMEOUT_S 15.0 /* query: live traces completing after a run */
#define IO_TIMEOUT_S 10      /* blocking query-API socket operations */

/* query: the daemon's idle timeout, and the length of each phase of a run
 * (idle queries, loaded queries, load alone). A phase no longer than the
 * idle timeout sees no trace of its own complete, so top-N ranks the same
 * summaries (the preload's) idle and under load: its cost grows with the
 * summaries stored (it sorts them all), and a ratio between two different
 * counts would measure that growth instead of the load. The preload is a
 * quarter of the workload. */
#define QUERY_IDLE_TIMEOUT "2"
#define QUERY_IDLE_TIMEOUT_S 2.0
#define QUERY_PHASE_S_FULL 1.5
#define QUERY_PHASE_S_QUICK 1.0
#define QUERY_PRELOAD_DIV 4
/* Query pace: each kind waits its period after its previous answer (a
 * trace lookup 5 ms, a top-N 50 ms), one query at a time: a few
 * dashboards' worth, enough lookups for a p99 per run, and not a second
 * load generator competing for two cores. */
#define QUERY_TRACE_PERIOD_NS 5000000u
#define QUERY_TOP_PERIOD_NS 50000000u
#define QUERY_TOP_PATH "/api/v1/traces?sort=depth&limit=10"
/* Latencies kept per kind and run (later ones are dropped, counted). */
#define QUERY_MAX 100000

/* Response header block the client accepts (the daemon's are ~100 bytes),
 * and its read buffer (responses are headers plus a tiny protobuf). */
#define HEAD_CAP 1024
#define RBUF 4096
/* Blocking client (health, metrics, queries): one response, headers and
 * body; a top-10 list is ~4 kB, /metrics ~5 kB. */
#define HCLI_BUF (256 * 1024)

/* ------------------------------------------------------------ workload */

typedef struct hreq {
    uint8_t *pb;
    size_t pb_len;
    uint8_t *gz;
    size_t gz_len;
    uint32_t spans;
    /* Request heads, built once: [0] identity, [1] gzip. */
    char head[2][192];
    unsigned head_len[2];
    /* A trace id of the request (its first span's), for queries. */
    uint8_t tid[16];
    /* query: offsets of every trace id in pb (spans and links), and the
     * pass whose salt the body now carries. */
    uint32_t *tid_off;
    uint32_t ntid;
    uint32_t salted;
    bool inflight;
} hreq;

typedef struct hwork {
    hreq *r;
    size_t n;
    uint64_t spans;
    uint64_t traces;
    uint64_t pb_bytes, gz_bytes;
} hwork;

static void work_free(hwork *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->r[i].pb);
        free(w->r[i].gz);
        free(w->r[i].tid_off);
    }
    free(w->r);
    memset(w, 0, sizeof *w);
}

static void build_heads(hreq *q)
{
    for (int g = 0; g < 2; g++) {
        int n = snprintf(q->head[g], sizeof q->head[g],
                         "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Type: application/x-protobuf\r\n%s"
                         "Content-Length: %zu\r\n\r\n",
                         g ? "Content-Encoding: gzip\r\n" : "", g ? q->gz_len : q->pb_len);
        q->head_len[g] = (unsigned)n;
    }
}

static int work_make(hwork *w, uint64_t seed, uint64_t spans)
{
    memset(w, 0, sizeof *w);
    cwg_options o;
    cwg_options_init(&o);
    o.seed = seed;
    o.spans = spans;
    o.batch_spans = WORK_BATCH;
    o.shuffle = WORK_SHUFFLE;
    cwg_workload wl;
    if (cwg_generate(&wl, &o))
        return -1;
    w->r = calloc(wl.nreq ? wl.nreq : 1, sizeof *w->r);
    if (!w->r) {
        cwg_free(&wl);
        return -1;
    }
    cwg_buf b = {0};
    int rc = 0;
    for (size_t i = 0; i < wl.nreq && !rc; i++) {
        b.n = 0;
        size_t first = wl.req_first[i], end = wl.req_first[i + 1];
        if (first == end)
            continue; /* nothing to send */
        hreq *q = &w->r[w->n];
        if (cwg_encode_pb(&wl, i, &b) || !(q->pb = malloc(b.n))) {
            rc = -1;
            break;
        }
        memcpy(q->pb, b.p, b.n);
        q->pb_len = b.n;
        q->spans = (uint32_t)(end - first);
        memcpy(q->tid, wl.spans[wl.order[first]].trace_id, 16);
        build_heads(q);
        w->spans += q->spans;
        w->pb_bytes += b.n;
        w->n++;
    }
    w->traces = wl.traces;
    cwg_buf_free(&b);
    cwg_free(&wl);
    return rc;
}

/* Compresses every body on `threads` threads (setup only, untimed). */
typedef struct gzjob {
    hwork *w;
    _Atomic size_t next;
    _Atomic int failed;
} gzjob;

static void *gz_thread(void *arg)
{
    gzjob *j = arg;
    struct libdeflate_compressor *cz = libdeflate_alloc_compressor(GZIP_LEVEL);
    if (!cz) {
        atomic_store(&j->failed, 1);
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (i >= j->w->n)
            break;
        hreq *q = &j->w->r[i];
        size_t bound = libdeflate_gzip_compress_bound(cz, q->pb_len);
        q->gz = malloc(bound);
        q->gz_len = q->gz ? libdeflate_gzip_compress(cz, q->pb, q->pb_len, q->gz, bound) : 0;
        if (!q->gz_len)
            atomic_store(&j->failed, 1);
    }
    libdeflate_free_compressor(cz);
    return NULL;
}

static int work_gzip(hwork *w, unsigned threads)
{
    gzjob j = {.w = w};
    atomic_init(&j.next, 0);
    atomic_init(&j.failed, 0);
    pthread_t th[CWB_MAX_THREADS];
    unsigned started = 0;
    for (; started < threads && started < CWB_MAX_THREADS; started++)
        if (pthread_create(&th[started], NULL, gz_thread, &j))
            break;
    if (!started)
        gz_thread(&j);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (atomic_load(&j.failed))
        return -1;
    w->gz_bytes = 0;
    for (size_t i = 0; i < w->n; i++) {
        build_heads(&w->r[i]);
        w->gz_bytes += w->r[i].gz_len;
    }
    return 0;
}

/* Protobuf wire reading, just enough to find trace ids: a varint. Returns
 * bytes read, 0 on a malformed one. */
static size_t pb_varint(const uint8_t *p, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

/* Calls fn for every length-delimited field `field` of the message in
 * [p, p + n). Returns -1 on malformed input. */
typedef int (*pb_fn)(void *ctx, const uint8_t *base, const uint8_t *p, size_t n);

static int pb_each(const uint8_t *base, const uint8_t *p, size_t n, uint32_t field, pb_fn fn,
                   void *ctx)
{
    size_t i = 0;
    while (i < n) {
        uint64_t key, len;
        size_t k = pb_varint(p + i, n - i, &key);
        if (!k)
            return -1;
        i += k;
        switch (key & 7) {
        case 0:
            k = pb_varint(p + i, n - i, &len);
            if (!k)
                return -1;
            i += k;
            break;
        case 1:
            i += 8;
            break;
        case 5:
            i += 4;
            break;
        case 2:
            k = pb_varint(p + i, n - i, &len);
            if (!k || len > n - i - k)
                return -1;
            i += k;
            if ((key >> 3) == field && fn(ctx, base, p + i, (size_t)len))
                return -1;
            i += (size_t)len;
            break;
        default:
            return -1;
        }
        if (i > n)
            return -1;
    }
    return 0;
}

typedef struct tidscan {
    hreq *q;
    size_t cap;
} tidscan;

static int on_tid(void *ctx, const uint8_t *base, const uint8_t *p, size_t n)
{
    tidscan *s = ctx;
    if (n != 16)
        return 0; /* not a valid id: the server rejects it anyway */
    if (s->q->ntid == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        uint32_t *o = realloc(s->q->tid_off, s->cap * sizeof *o);
        if (!o)
            return -1;
        s->q->tid_off = o;
    }
    s->q->tid_off[s->q->ntid++] = (uint32_t)(p - base);
    return 0;
}

/* OTLP field numbers (opentelemetry-proto trace/v1, collector/trace/v1):
 * ExportTraceServiceRequest.resource_spans 1, ResourceSpans.scope_spans 2,
 * ScopeSpans.spans 2, Span.trace_id 1, Span.links 13, Link.trace_id 1. */
static int on_link(void *ctx, const uint8_t *base, const uint8_t *p, size_t n)
{
    return pb_each(base, p, n, 1, on_tid, ctx);
}

static int on_span(void *ctx, const uint8_t *base, const uint8_t *p, size_t n)
{
    return pb_each(base, p, n, 1, on_tid, ctx) || pb_each(base, p, n, 13, on_link, ctx);
}

static int on_scope(void *ctx, const uint8_t *base, const uint8_t *p, size_t n)
{
    return pb_each(base, p, n, 2, on_span, ctx);
}

static int on_resource(void *ctx, const uint8_t *base, const uint8_t *p, size_t n)
{
    return pb_each(base, p, n, 2, on_scope, ctx);
}

/* Finds every trace id of every request (query's re-salting). */
static int work_index_tids(hwork *w)
{
    for (size_t i = 0; i < w->n; i++) {
        hreq *q = &w->r[i];
        tidscan s = {q, 0};
        if (pb_each(q->pb, q->pb, q->pb_len, 1, on_resource, &s) || q->ntid < q->spans ||
            memcmp(q->pb + q->tid_off[0], q->tid, 16) != 0)
            return -1;
    }
    return 0;
}

/* The value XORed into bytes 4..7 of every trace id on pass p: 0 on pass
 * 0 (the generated ids); odd multiplier, so distinct passes differ. */
static uint32_t salt_of(uint32_t pass)
{
    return pass * 0x9e3779b1u;
}

static void apply_salt(uint8_t *tid, uint32_t x)
{
    tid[4] ^= (uint8_t)x;
    tid[5] ^= (uint8_t)(x >> 8);
    tid[6] ^= (uint8_t)(x >> 16);
    tid[7] ^= (uint8_t)(x >> 24);
}

static void resalt(hreq *q, uint32_t pass)
{
    uint32_t x = salt_of(q->salted) ^ salt_of(pass);
    for (uint32_t k = 0; k < q->ntid; k++)
        apply_salt(q->pb + q->tid_off[k], x);
    q->salted = pass;
}

/* --------------------------------------------------------- decode-only */

typedef struct dthread {
    const hwork *w;
    bool gzip;
    size_t total;           /* requests of the run: reps x w->n */
    _Atomic size_t *next;
    cw__mem mem;
    cw__interner *in;
    cw__batch batch;
    uint8_t *zbuf; /* the inflate buffer, reused (cw_engine_ingest's too) */
    size_t zcap;
    bool ready;
    uint64_t spans;
    int rc;
    pthread_t th;
} dthread;

static int dthread_init(dthread *t)
{
    memset(t, 0, sizeof *t);
    cw__mem_init(&t->mem, NULL);
    if (cw__intern_new(&t->in, &t->mem, INTERN_LIMIT))
        return -1;
    cw__batch_init(&t->batch, &t->mem);
    t->ready = true;
    return 0;
}

static void dthread_free(dthread *t)
{
    if (!t->ready)
        return;
    cw__batch_free(&t->batch);
    cw__free(&t->mem, t->zbuf, t->zcap);
    cw__intern_free(t->in);
    t->ready = false;
}

/* What the receiver's pool thread does with a body before the graph: the
 * bounded inflate into the thread's reused buffer (as cw_engine_ingest
 * does) and the decode into a reused batch. */
static int decode_one(dthread *t, const hreq *q)
{
    const uint8_t *p = q->pb;
    size_t n = q->pb_len;
    if (t->gzip) {
        const char *reason;
        int r = cw__gunzip_into(&t->mem, q->gz, q->gz_len, GUNZIP_LIMIT, &t->zbuf, &t->zcap, &n,
                                &reason);
        if (r)
            return r;
        p = t->zbuf;
    }
    cw__batch_reset(&t->batch);
    cw__decoder d;
    cw__decoder_init(&d, t->in, MAX_ATTR_LEN, &t->batch);
    int r = cw__decode_pb(&d, p, n);
    cw__decoder_done(&d);
    if (!r && t->batch.n != q->spans)
        r = -1;
    t->spans += t->batch.n;
    return r;
}

static void *decode_thread(void *arg)
{
    dthread *t = arg;
    for (;;) {
        size_t i = atomic_fetch_add_explicit(t->next, 1, memory_order_relaxed);
        if (i >= t->total)
            break;
        if ((t->rc = decode_one(t, &t->w->r[i % t->w->n])) != 0)
            break;
    }
    return NULL;
}

/* The workload reps times over by n threads taking requests from a shared
 * counter; spans/s, or -1. */
static double decode_pass(dthread *ts, unsigned n, const hwork *w, bool gzip, unsigned reps)
{
    _Atomic size_t next;
    atomic_init(&next, 0);
    for (unsigned i = 0; i < n; i++) {
        ts[i].w = w;
        ts[i].gzip = gzip;
        ts[i].total = (size_t)reps * w->n;
        ts[i].next = &next;
        ts[i].spans = 0;
        ts[i].rc = 0;
    }
    double t0 = cwb_now();
    unsigned started = 0;
    if (n == 1) {
        decode_thread(&ts[0]);
        started = 1;
    } else {
        for (; started < n; started++)
            if (pthread_create(&ts[started].th, NULL, decode_thread, &ts[started]))
                break;
        for (unsigned i = 0; i < started; i++)
            pthread_join(ts[i].th, NULL);
    }
    double dt = cwb_now() - t0;
    uint64_t spans = 0;
    for (unsigned i = 0; i < started; i++) {
        if (ts[i].rc)
            return -1;
        spans += ts[i].spans;
    }
    if (started < n || spans != (uint64_t)reps * w->spans)
        return -1;
    return (double)spans / dt;
}

/* Repetitions of the workload for a decode-only run of about target_s on
 * one thread, from one untimed pass (which also warms the caches and the
 * allocator, and checks every body decodes to its span count). */
static int decode_reps(dthread *ts, const hwork *w, bool gzip, double target_s, unsigned *reps)
{
    double v = decode_pass(ts, 1, w, gzip, 1);
    if (v <= 0)
        return -1;
    double once = (double)w->spans / v;
    double r = target_s / once;
    *reps = r < 1 ? 1 : r > 1000 ? 1000 : (unsigned)(r + 0.5);
    return 0;
}

/* ------------------------------------------------------- the daemon */

typedef struct server {
    pid_t pid;
    int log_fd; /* the child's stdout and stderr, an unlinked temp file */
    int port, api_port;
    int exit_status;
    double exit_cpu_s; /* user + system, from wait4, after it exited */
} server;

/* Copies up to cap - 1 bytes of the child's log from offset off. */
static size_t log_read(const server *s, off_t off, char *buf, size_t cap)
{
    ssize_t n = pread(s->log_fd, buf, cap - 1, off);
    n = n < 0 ? 0 : n;
    buf[n] = 0;
    return (size_t)n;
}

static void log_tail(const server *s)
{
    if (s->log_fd < 0)
        return;
    char buf[2048];
    off_t end = lseek(s->log_fd, 0, SEEK_END);
    off_t off = end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0;
    log_read(s, off, buf, sizeof buf);
    fprintf(stderr, "--- causeway serve log (tail) ---\n%s--- end of log ---\n", buf);
}

/* The port the daemon logged for a listener (tools/causeway.c and
 * lib/net/server.c: "listening on ADDR (port N) for WHAT"). */
static int logged_port(const char *log, const char *what)
{
    for (const char *p = log; (p = strstr(p, "(port ")) != NULL; p++) {
        int port;
        char rest[32];
        if (sscanf(p, "(port %d) for %31[^\n]", &port, rest) == 2 &&
            strncmp(rest, what, strlen(what)) == 0)
            return port;
    }
    return 0;
}

static bool child_alive(server *s)
{
    int st;
    struct rusage ru;
    pid_t r = wait4(s->pid, &st, WNOHANG, &ru);
    if (r == s->pid) {
        s->pid = 0;
        s->exit_status = st;
        return false;
    }
    return r == 0;
}

static void sleep_ns(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

/* Stops the child: SIGTERM (drain, flush, exit), SIGKILL after timeout_s.
 * Fills exit_status and exit_cpu_s. Safe to call on a stopped server. */
static void server_stop(server *s, double timeout_s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        double t_end = cwb_now() + timeout_s;
        int st = 0;
        struct rusage ru;
        pid_t r;
        bool killed = false;
        for (;;) {
            r = wait4(s->pid, &st, WNOHANG, &ru);
            if (r == s->pid || (r < 0 && errno != EINTR))
                break;
            if (!killed && cwb_now() > t_end) {
                fprintf(stderr, "http: causeway serve (pid %d) did not exit %.0f s after "
                                "SIGTERM: killed\n", (int)s->pid, timeout_s);
                kill(s->pid, SIGKILL);
                killed = true;
            }
            sleep_ns(2000000);
        }
        if (r == s->pid) {
            s->exit_status = st;
            s->exit_cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
                            (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
        }
        s->pid = 0;
    }
    if (s->log_fd >= 0)
        close(s->log_fd);
    s->log_fd = -1;
}

/* Stops the child at once (nothing to drain or measure). */
static void server_kill(server *s)
{
    if (s->pid > 0)
        kill(s->pid, SIGKILL);
    server_stop(s, STOP_TIMEOUT_S);
}

/* Server CPU time so far, seconds: the sum of its threads' run time
 * (/proc/PID/task/TID/schedstat, nanoseconds), else utime + stime from
 * /proc/PID/stat (clock ticks, 10 ms). */
static double proc_cpu_s(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d) {
        unsigned long long sum = 0;
        bool ok = true;
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.')
                continue;
            char p2[320];
            snprintf(p2, sizeof p2, "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
            FILE *f = fopen(p2, "r");
            unsigned long long ns;
            if (!f) /* a thread that just exited */
                continue;
            if (fscanf(f, "%llu", &ns) == 1)
                sum += ns;
            else
                ok = false;
            fclose(f);
        }
        closedir(d);
        if (ok && sum)
            return (double)sum * 1e-9;
    }
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Fields after the command name, which may hold spaces: from the last
     * ')'; utime and stime are fields 14 and 15 (proc(5)). */
    const char *p = strrchr(buf, ')');
    unsigned long long ut, stt;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                     &stt) != 2)
        return -1;
    return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

/* A field of /proc/PID/status in kB (VmHWM, VmRSS), or -1. */
/* The machine's idle and total CPU time so far (/proc/stat, all CPUs, in
 * clock ticks); false when unreadable. */
static bool machine_cpu(double *idle, double *total)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return false;
    unsigned long long v[8] = {0};
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                     &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (got < 5)
        return false;
    *idle = (double)(v[3] + v[4]); /* idle + iowait */
    *total = 0;
    for (int i = 0; i < 8; i++)
        *total += (double)v[i];
    return true;
}

static double proc_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    double v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl) && line[fl] == ':') {
            v = strtod(line + fl + 1, NULL);
            break;
        }
    fclose(f);
    return v;
}

/* ------------------------------------------------ the blocking client */

/* One keep-alive connection for health checks, /metrics and queries:
 * blocking sockets with timeouts, so that it cannot hang. */
typedef struct hcli {
    int fd;
    int port;
    char *buf;
    const char *body; /* the last response's body, NUL-terminated */
    size_t body_len;
} hcli;

static int hcli_init(hcli *h, int port)
{
    h->fd = -1;
    h->port = port;
    h->buf = malloc(HCLI_BUF);
    return h->buf ? 0 : -1;
}

static void hcli_close(hcli *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
}

static void hcli_free(hcli *h)
{
    hcli_close(h);
    free(h->buf);
    h->buf = NULL;
}

static int hcli_connect(hcli *h)
{
    h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (h->fd < 0)
        return -1;
    int one = 1;
    struct timeval tv = {IO_TIMEOUT_S, 0};
    setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(h->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(h->fd, (struct sockaddr *)&a, sizeof a)) {
        hcli_close(h);
        return -1;
    }
    return 0;
}

/* GET path; returns the status (h->body, h->body_len: the body, cut at
 * HCLI_BUF), or -1 on a transport error (the connection is then closed;
 * the next call reconnects). */
static int hget(hcli *h, const char *path)
{
    if (h->fd < 0 && hcli_connect(h))
        return -1;
    char req[512];
    int rn = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (rn < 0 || rn >= (int)sizeof req || send(h->fd, req, (size_t)rn, MSG_NOSIGNAL) != rn) {
        hcli_close(h);
        return -1;
    }
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have == HCLI_BUF - 1) {
            hcli_close(h);
            return -1;
        }
        ssize_t n = recv(h->fd, h->buf + have, HCLI_BUF - 1 - have, 0);
        if (n <= 0) {
            hcli_close(h);
            return -1;
        }
        have += (size_t)n;
        h->buf[have] = 0;
        end = strstr(h->buf, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(h->buf, "HTTP/1.1 %d", &status) != 1) {
        hcli_close(h);
        return -1;
    }
    size_t head = (size_t)(end + 4 - h->buf), clen = 0;
    bool close_after = false;
    for (char *l = strstr(h->buf, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n")) {
        if (!strncasecmp(l + 2, "Content-Length:", 15))
            clen = strtoull(l + 17, NULL, 10);
        else if (!strncasecmp(l + 2, "Connection: close", 17))
            close_after = true;
    }
    /* Keep what fits, read and drop the rest so that the stream stays in
     * step. */
    size_t want = head + clen, kept = have < want ? have : want;
    while (have < want) {
        char sink[4096];
        char *dst = have < HCLI_BUF - 1 ? h->buf + have : sink;
        size_t room = have < HCLI_BUF - 1 ? HCLI_BUF - 1 - have : sizeof sink;
        if (room > want - have)
            room = want - have;
        ssize_t n = recv(h->fd, dst, room, 0);
        if (n <= 0) {
            hcli_close(h);
            return -1;
        }
        have += (size_t)n;
        if (dst != sink)
            kept = have;
    }
    h->buf[kept] = 0;
    h->body = h->buf + head;
    h->body_len = kept - head;
    if (close_after)
        hcli_close(h);
    return status;
}

/* A counter from /metrics (Prometheus text: "name value"), or -1. */
static double metric(hcli *h, const char *name)
{
    if (hget(h, "/metrics") != 200)
        return -1;
    size_t nl = strlen(name);
    for (const char *p = h->body; (p = strstr(p, name)) != NULL; p += nl)
        if ((p == h->body || p[-1] == '\n') && p[nl] == ' ')
            return strtod(p + nl + 1, NULL);
    return -1;
}

/* Starts `causeway serve` on ephemeral loopback ports with extra options
 * (NULL-terminated), and waits until /healthz answers. */
static int server_start(server *s, const cwb_ctx *c, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    s->log_fd = -1;
    char tmpl[] = "/tmp/causeway-bench-serve-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        fprintf(stderr, "http: cannot create a temporary file: %s\n", strerror(errno));
        return -1;
    }
    unlink(tmpl); /* gone with the last descriptor, whatever happens */
    s->log_fd = fd;
    if (access(c->causeway_bin, X_OK)) {
        fprintf(stderr, "http: %s: not executable (build tools/causeway, or set "
                        "CWB_CAUSEWAY)\n", c->causeway_bin);
        server_stop(s, 0);
        return -1;
    }
    const char *argv[16] = {c->causeway_bin, "serve", "--listen", "127.0.0.1:0",
                            "--api", "127.0.0.1:0"};
    int argc = 6;
    for (int i = 0; extra && extra[i] && argc < 15; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "http: fork: %s\n", strerror(errno));
        server_stop(s, 0);
        return -1;
    }
    if (pid == 0) {
        /* The child must not outlive the benchmark, even one killed by a
         * signal: the kernel sends it SIGKILL when this thread dies. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    double t_end = cwb_now() + START_TIMEOUT_S;
    char log[4096];
    while (!s->port || !s->api_port) {
        if (!child_alive(s) || cwb_now() > t_end) {
            fprintf(stderr, "http: causeway serve did not report its ports\n");
            log_tail(s);
            server_stop(s, 1);
            return -1;
        }
        log_read(s, 0, log, sizeof log);
        s->port = logged_port(log, "OTLP");
        s->api_port = logged_port(log, "the query API");
        if (!s->port || !s->api_port)
            sleep_ns(5000000);
    }
    hcli h;
    if (hcli_init(&h, s->api_port)) {
        server_stop(s, 1);
        return -1;
    }
    while (hget(&h, "/healthz") != 200) {
        if (!child_alive(s) || cwb_now() > t_end) {
            fprintf(stderr, "http: causeway serve: /healthz did not answer 200\n");
            log_tail(s);
            hcli_free(&h);
            server_stop(s, 1);
            return -1;
        }
        sleep_ns(5000000);
    }
    hcli_free(&h);
    return 0;
}

/* ------------------------------------------------------- load generator */

typedef struct hload hload;

typedef struct hconn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    hload *L;
    uv_buf_t bufs[2];
    size_t req;        /* request in flight */
    uint64_t t0;       /* when it was written */
    bool open;         /* connected, reading */
    bool busy;         /* a request is in flight */
    bool in_head;      /* reading the response's header block */
    bool server_closes;/* the response said Connection: close */
    bool reopening;
    size_t hlen;
    uint64_t body_left;
    size_t body_len;
    int status;
    char head[HEAD_CAP];
    char rbuf[RBUF];
} hconn;

struct hload {
    uv_loop_t loop;
    bool loop_ready;
    uv_timer_t timer;
    struct sockaddr_in addr;
    hconn *c;
    unsigned n;
    unsigned handles; /* open handles, for teardown */
    int connecting;
    /* The pass. */
    hwork *w;
    int gz;            /* 0 identity, 1 gzip */
    bool cycle;        /* query: until end_ns, re-salting every pass */
    bool stopping;
    bool running;
    uint64_t end_ns;
    uint32_t pass_base;
    size_t next;       /* requests taken */
    size_t outstanding;
    size_t done, non200, partial;
    uint64_t spans_ok;
    uint64_t *lat;
    size_t nlat, lat_cap, lat_dropped;
    uint64_t t_first, t_last, last_progress;
    char fail[160];
    /* The request answered last, for the query thread: (pass << 32) |
     * (index + 1); 0 before any. Release pairs with the query thread's
     * acquire load: the pass's salt was written before. */
    _Atomic uint64_t acked;
};

static void load_fail(hload *L, const char *what, int err)
{
    if (!L->fail[0])
        snprintf(L->fail, sizeof L->fail, "%s%s%s", what, err ? ": " : "",
                 err ? uv_strerror(err) : "");
    L->stopping = true;
    uv_stop(&L->loop);
}

static void maybe_done(hload *L)
{
    if (!L->running || L->outstanding)
        return;
    if (L->stopping || (!L->cycle && L->next >= L->w->n)) {
        L->running = false;
        uv_stop(&L->loop);
    }
}

static void conn_reopen(hconn *k);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *wr, int status)
{
    hconn *k = wr->data;
    if (status < 0 && status != UV_ECANCELED)
        load_fail(k->L, "write", status);
}

/* Takes the next request and writes it; or, at the end of the pass, goes
 * idle. No allocation: heads and bodies were built before timing. */
static void send_next(hconn *k)
{
    hload *L = k->L;
    if (!L->running || L->stopping || !k->open || k->busy)
        goto idle;
    size_t r;
    if (L->cycle) {
        if (cwb_now_ns() >= L->end_ns) {
            L->stopping = true;
            goto idle;
        }
        r = L->next % L->w->n;
        uint32_t pass = L->pass_base + (uint32_t)(L->next / L->w->n);
        hreq *q = &L->w->r[r];
        if (q->inflight) {
            /* Fewer requests than connections: never with the workloads
             * used here (hundreds of requests, a few connections). */
            load_fail(L, "workload smaller than the connection count", 0);
            return;
        }
        if (q->salted != pass)
            resalt(q, pass);
    } else {
        if (L->next >= L->w->n)
            goto idle;
        r = L->next;
    }
    L->next++;
    hreq *q = &L->w->r[r];
    q->inflight = true;
    k->req = r;
    k->busy = true;
    k->in_head = true;
    k->hlen = 0;
    k->server_closes = false;
    L->outstanding++;
    k->bufs[0] = uv_buf_init(q->head[L->gz], q->head_len[L->gz]);
    k->bufs[1] = L->gz ? uv_buf_init((char *)q->gz, (unsigned)q->gz_len)
                       : uv_buf_init((char *)q->pb, (unsigned)q->pb_len);
    k->t0 = cwb_now_ns();
    if (!L->t_first)
        L->t_first = k->t0;
    k->wreq.data = k;
    int e = uv_write(&k->wreq, (uv_stream_t *)&k->tcp, k->bufs, 2, on_written);
    if (e)
        load_fail(L, "write", e);
    return;
idle:
    maybe_done(L);
}

static void response_done(hconn *k)
{
    hload *L = k->L;
    uint64_t now = cwb_now_ns();
    hreq *q = &L->w->r[k->req];
    q->inflight = false;
    k->busy = false;
    L->outstanding--;
    L->done++;
    L->t_last = L->last_progress = now;
    if (L->nlat < L->lat_cap)
        L->lat[L->nlat++] = now - k->t0;
    else
        L->lat_dropped++;
    if (k->status == 200) {
        L->spans_ok += q->spans;
        /* A 200 with a body carries partial_success: spans rejected (an
         * empty ExportTraceServiceResponse encodes as 0 bytes). */
        if (k->body_len)
            L->partial++;
        atomic_store_explicit(&L->acked, ((uint64_t)q->salted << 32) | (k->req + 1),
                              memory_order_release);
    } else {
        L->non200++;
    }
    if (k->server_closes)
        conn_reopen(k);
    else
        send_next(k);
}

/* Parses the header block: status, Content-Length, Connection: close. */
static int parse_head(hconn *k)
{
    k->head[k->hlen] = 0;
    if (sscanf(k->head, "HTTP/1.1 %d", &k->status) != 1)
        return -1;
    bool have_len = false;
    for (char *l = strstr(k->head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
        if (!strncasecmp(l + 2, "Content-Length:", 15)) {
            k->body_left = strtoull(l + 17, NULL, 10);
            have_len = true;
        } else if (!strncasecmp(l + 2, "Connection: close", 17)) {
            k->server_closes = true;
        }
    }
    k->body_len = (size_t)k->body_left;
    return have_len ? 0 : -1;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    hconn *k = h->data;
    *buf = uv_buf_init(k->rbuf, sizeof k->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    hconn *k = s->data;
    hload *L = k->L;
    if (n == 0)
        return;
    if (n < 0) {
        if (!k->busy && n == UV_EOF) {
            /* The server closed an idle keep-alive connection. */
            conn_reopen(k);
            return;
        }
        load_fail(L, n == UV_EOF ? "the server closed a connection with a request in flight"
                                 : "read",
                  n == UV_EOF ? 0 : (int)n);
        return;
    }
    const char *p = buf->base;
    size_t len = (size_t)n;
    while (len && !L->fail[0]) {
        if (!k->busy) {
            load_fail(L, "bytes from the server with no request in flight", 0);
            return;
        }
        if (k->in_head) {
            /* Copy up to the end of the header block: the blank line. */
            size_t take = 0;
            char *end = NULL;
            while (take < len && !end) {
                if (k->hlen == HEAD_CAP - 1) {
                    load_fail(L, "response header block too long", 0);
                    return;
                }
                k->head[k->hlen++] = p[take++];
                if (k->hlen >= 4 && !memcmp(k->head + k->hlen - 4, "\r\n\r\n", 4))
                    end = k->head + k->hlen;
            }
            p += take;
            len -= take;
            if (!end)
                continue;
            k->in_head = false;
            if (parse_head(k)) {
                load_fail(L, "malformed response", 0);
                return;
            }
        }
        size_t take = len < k->body_left ? len : (size_t)k->body_left;
        p += take;
        len -= take;
        k->body_left -= take;
        if (!k->body_left)
            response_done(k);
    }
}

static void on_connect(uv_connect_t *cr, int status)
{
    hconn *k = cr->data;
    hload *L = k->L;
    L->connecting--;
    k->reopening = false;
    if (status < 0) {
        load_fail(L, "connect", status);
        return;
    }
    int e = uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
    if (e) {
        load_fail(L, "read", e);
        return;
    }
    k->open = true;
    if (L->running)
        send_next(k);
    else if (!L->connecting)
        uv_stop(&L->loop);
}

static int conn_open(hconn *k)
{
    hload *L = k->L;
    int e = uv_tcp_init(&L->loop, &k->tcp);
    if (e)
        return e;
    L->handles++;
    k->tcp.data = k;
    uv_tcp_nodelay(&k->tcp, 1);
    k->creq.data = k;
    e = uv_tcp_connect(&k->creq, &k->tcp, (const struct sockaddr *)&L->addr, on_connect);
    if (!e)
        L->connecting++;
    return e;
}

static void on_closed(uv_handle_t *h)
{
    hconn *k = h->data;
    k->L->handles--;
}

static void on_closed_reopen(uv_handle_t *h)
{
    hconn *k = h->data;
    hload *L = k->L;
    L->handles--;
    if (L->stopping || L->fail[0])
        return;
    int e = conn_open(k);
    if (e)
        load_fail(L, "connect", e);
}

/* The server closes after a response that said so (or an idle
 * connection): connect again and go on. */
static void conn_reopen(hconn *k)
{
    k->open = false;
    k->reopening = true;
    uv_close((uv_handle_t *)&k->tcp, on_closed_reopen);
}

static void on_tick(uv_timer_t *t)
{
    hload *L = t->data;
    if (!L->running)
        return;
    uint64_t now = cwb_now_ns();
    if ((double)(now - L->last_progress) * 1e-9 > STALL_S) {
        load_fail(L, "no response from the server for 10 s", 0);
        return;
    }
    if (L->cycle && now >= L->end_ns) {
        L->stopping = true;
        maybe_done(L);
    }
}

static void load_close(hload *L)
{
    if (!L->loop_ready)
        return;
    for (unsigned i = 0; i < L->n; i++) {
        uv_handle_t *h = (uv_handle_t *)&L->c[i].tcp;
        if (h->loop && !uv_is_closing(h))
            uv_close(h, on_closed);
    }
    uv_close((uv_handle_t *)&L->timer, NULL);
    /* Closing cancels writes and connects; their callbacks run here. */
    L->stopping = true;
    uv_run(&L->loop, UV_RUN_DEFAULT);
    uv_loop_close(&L->loop);
    L->loop_ready = false;
    free(L->c);
    free(L->lat);
    L->c = NULL;
    L->lat = NULL;
}

/* Connects n keep-alive connections to the server's OTLP port. */
static int load_open(hload *L, int port, unsigned n, size_t lat_cap)
{
    memset(L, 0, sizeof *L);
    atomic_init(&L->acked, 0);
    L->c = calloc(n, sizeof *L->c);
    L->lat = malloc((lat_cap ? lat_cap : 1) * sizeof *L->lat);
    L->lat_cap = lat_cap;
    if (!L->c || !L->lat || uv_loop_init(&L->loop)) {
        free(L->c);
        free(L->lat);
        return -1;
    }
    L->loop_ready = true;
    L->n = n;
    uv_timer_init(&L->loop, &L->timer);
    L->timer.data = L;
    uv_ip4_addr("127.0.0.1", port, &L->addr);
    for (unsigned i = 0; i < n; i++) {
        L->c[i].L = L;
        int e = conn_open(&L->c[i]);
        if (e) {
            load_fail(L, "connect", e);
            return -1;
        }
    }
    /* Connect with the stall bound (uv_stop from on_connect ends it). */
    L->last_progress = cwb_now_ns();
    L->running = false;
    uv_timer_start(&L->timer, on_tick, 50, 50);
    while (L->connecting && !L->fail[0]) {
        uv_run(&L->loop, UV_RUN_ONCE);
        if ((double)(cwb_now_ns() - L->last_progress) * 1e-9 > STALL_S)
            load_fail(L, "connect: timed out", 0);
    }
    uv_timer_stop(&L->timer);
    return L->fail[0] ? -1 : 0;
}

typedef struct pass_result {
    double wall_s;
    size_t requests, non200, partial;
    uint64_t spans_ok;
    double p50_ns, p99_ns;
    /* Cycling passes: the first pass number (salt) and the requests sent,
     * so that request g of the run was index g % n of pass first + g / n. */
    uint32_t first_pass;
    size_t sent;
} pass_result;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array; NaN when it is empty. */
static double pct(const uint64_t *v, size_t n, double p)
{
    if (!n)
        return NAN;
    size_t i = (size_t)((double)n * p + 0.999999);
    return (double)v[i ? i - 1 : 0];
}

/* One pass: every request of w once (cycle false), or requests round and
 * round for dur_s (cycle true). Runs the loop on this thread. */
static int load_pass(hload *L, hwork *w, int gz, bool cycle, double dur_s, pass_result *out)
{
    L->w = w;
    L->gz = gz;
    L->cycle = cycle;
    L->stopping = false;
    L->next = L->outstanding = L->done = L->non200 = L->partial = 0;
    L->spans_ok = 0;
    L->nlat = L->lat_dropped = 0;
    L->t_first = L->t_last = 0;
    /* acked names a request of this pass's workload only. */
    atomic_store_explicit(&L->acked, 0, memory_order_relaxed);
    L->last_progress = cwb_now_ns();
    L->end_ns = L->last_progress + (uint64_t)(dur_s * 1e9);
    L->running = true;
    uv_timer_start(&L->timer, on_tick, 20, 20);
    for (unsigned i = 0; i < L->n && !L->fail[0]; i++)
        if (L->c[i].open)
            send_next(&L->c[i]);
        else if (!L->c[i].reopening) {
            int e = conn_open(&L->c[i]);
            if (e)
                load_fail(L, "connect", e);
        }
    if (!L->fail[0])
        uv_run(&L->loop, UV_RUN_DEFAULT);
    uv_timer_stop(&L->timer);
    L->running = false;
    out->first_pass = L->pass_base;
    out->sent = L->next;
    if (cycle) /* the next cycling pass starts with new salts */
        L->pass_base += (uint32_t)(L->next / (w->n ? w->n : 1)) + 1;
    if (L->fail[0])
        return -1;
    out->wall_s = (double)(L->t_last - L->t_first) * 1e-9;
    out->requests = L->done;
    out->non200 = L->non200;
    out->partial = L->partial;
    out->spans_ok = L->spans_ok;
    qsort(L->lat, L->nlat, sizeof *L->lat, cmp_u64);
    out->p50_ns = pct(L->lat, L->nlat, 0.50);
    out->p99_ns = pct(L->lat, L->nlat, 0.99);
    return 0;
}

/* ------------------------------------------------------------- shared */

static unsigned server_threads(const cwb_ctx *c)
{
    /* What tools/causeway.c gives libuv's pool: UV_THREADPOOL_SIZE when
     * set, else the online CPUs, at least 2. */
    const char *e = getenv("UV_THREADPOOL_SIZE");
    long n = e ? strtol(e, NULL, 10) : (long)c->ncpu;
    if (!e && n < 2)
        n = 2;
    return n < 1 ? 1 : n > CWB_MAX_THREADS ? CWB_MAX_THREADS : (unsigned)n;
}

static unsigned connections(const cwb_ctx *c, unsigned threads)
{
    if (c->connections)
        return c->connections;
    unsigned n = CONN_PER_THREAD * threads;
    return n < CONN_MIN ? CONN_MIN : n;
}

static double process_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Median, min and max of the runs that produced a value (a query phase
 * may have no answer of one kind: NaN); NaN when none did. */
static cwb_stat stat_of(const double *v, int n)
{
    double t[CWB_RUNS_MAX];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]))
            t[k++] = v[i];
    if (!k)
        return (cwb_stat){NAN, NAN, NAN};
    return cwb_stat_of(t, k);
}

/* Starts figure f from its R runs (copied: the statistic sorts them); a
 * spans/s figure also gets spans_per_s. */
static void fig_of_runs(cwb_fig *f, const char *bench, const char *name, unsigned threads,
                        const char *unit, const double *runs, int R)
{
    double t[CWB_RUNS_MAX];
    cwb_fig_init(f, bench, name, threads, unit);
    memcpy(t, runs, (size_t)R * sizeof *t);
    f->st = cwb_stat_of(t, R);
    if (!strcmp(unit, "spans/s"))
        f->spans_per_s = f->st.median;
}

static double median_of(const double *v, int n)
{
    return stat_of(v, n).median;
}

/* SIGPIPE would kill the benchmark when the server closes a socket under a
 * write; errors are handled where they are returned instead. */
typedef struct sigpipe_guard {
    struct sigaction old;
} sigpipe_guard;

static void sigpipe_ignore(sigpipe_guard *g)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &g->old);
}

static void sigpipe_restore(const sigpipe_guard *g)
{
    sigaction(SIGPIPE, &g->old, NULL);
}

/* ---------------------------------------------------------------- http */

enum { V_IDENTITY, V_GZIP, NVARIANT };

typedef struct vres {
    double dec1[CWB_RUNS_MAX], decT[CWB_RUNS_MAX];
    double e2e[CWB_RUNS_MAX], rps[CWB_RUNS_MAX];
    double p50[CWB_RUNS_MAX], p99[CWB_RUNS_MAX];
    double cpu[CWB_RUNS_MAX], ccpu[CWB_RUNS_MAX], flush[CWB_RUNS_MAX];
    double cold[CWB_RUNS_MAX], cold_cpu[CWB_RUNS_MAX];
    double cores[CWB_RUNS_MAX];
    double idle[CWB_RUNS_MAX]; /* the machine's idle share, measured pass */
    double rss[CWB_RUNS_MAX], rss0[CWB_RUNS_MAX];
    size_t non200, partial, requests;
    uint64_t mismatch; /* runs whose /metrics disagreed with what was sent */
} vres;

static void settle(const cwb_ctx *c, hcli *h, pid_t pid);

/* One e2e run: a fresh daemon, the first pass, its traces completed, the
 * measured pass, CPU and RSS, the shutdown. */
static int e2e_run(const cwb_ctx *c, hwork *w, hwork *warm, int gz, unsigned nconn,
                   vres *v, int run)
{
    server s;
    const char *const extra[] = {"--idle-timeout", E2E_IDLE_TIMEOUT, NULL};
    if (server_start(&s, c, extra))
        return -1;
    double rss0 = proc_status_kb(s.pid, "VmRSS");
    hload L;
    hcli h;
    bool cli = false;
    if (load_open(&L, s.port, nconn, w->n > warm->n ? w->n : warm->n))
        goto fail_load;
    pass_result wr, pr;
    double wcpu0 = proc_cpu_s(s.pid);
    if (load_pass(&L, warm, gz, false, 0, &wr))
        goto fail_load;
    double wcpu1 = proc_cpu_s(s.pid);
    /* One query client for the settling and the checks (it reconnects if
     * the daemon closed it while idle). */
    if (hcli_init(&h, s.api_port))
        goto fail_load;
    cli = true;
    settle(c, &h, s.pid);
    double idle0 = 0, tot0 = 0, idle1 = 0, tot1 = 0;
    bool mcpu = machine_cpu(&idle0, &tot0);
    double cpu0 = proc_cpu_s(s.pid), ccpu0 = process_cpu_s();
    if (load_pass(&L, w, gz, false, 0, &pr))
        goto fail_load;
    double cpu1 = proc_cpu_s(s.pid), ccpu1 = process_cpu_s();
    mcpu = mcpu && machine_cpu(&idle1, &tot1) && tot1 > tot0;
    double hwm = proc_status_kb(s.pid, "VmHWM");
    /* Check with the server what was sent, outside the measured window. */
    double acc = metric(&h, "causeway_spans_accepted_total");
    double dup = metric(&h, "causeway_span_duplicates_total");
    double sent = (double)(w->spans + warm->spans);
    if (acc != sent || dup != 0) {
        v->mismatch++;
        cwb_info(c, "http: WARNING: run %d: the server accepted %.0f spans (%.0f duplicates) "
                    "of %.0f sent", run, acc, dup, sent);
    }
    hcli_free(&h);
    cli = false;
    load_close(&L);
    server_stop(&s, STOP_TIMEOUT_S);
    if (!WIFEXITED(s.exit_status) || WEXITSTATUS(s.exit_status) != 0)
        cwb_info(c, "http: WARNING: causeway serve exited with status 0x%x after SIGTERM",
                 s.exit_status);

    double spans = (double)pr.spans_ok;
    v->e2e[run] = spans / pr.wall_s;
    v->rps[run] = (double)pr.requests / pr.wall_s;
    v->p50[run] = pr.p50_ns;
    v->p99[run] = pr.p99_ns;
    v->cpu[run] = (cpu1 - cpu0) / spans * 1e6;
    v->cores[run] = (cpu1 - cpu0) / pr.wall_s;
    v->idle[run] = mcpu ? (idle1 - idle0) / (tot1 - tot0) : -1;
    v->ccpu[run] = (ccpu1 - ccpu0) / spans * 1e6;
    v->cold[run] = (double)wr.spans_ok / wr.wall_s;
    v->cold_cpu[run] = (wcpu1 - wcpu0) / (double)wr.spans_ok * 1e6;
    /* The shutdown flush completes the measured pass's traces (the first
     * pass's completed before it). */
    v->flush[run] = s.exit_cpu_s > 0 ? (s.exit_cpu_s - cpu1) / spans * 1e6 : -1;
    v->rss[run] = hwm / 1024;
    v->rss0[run] = rss0 / 1024;
    v->non200 += pr.non200 + wr.non200;
    v->partial += pr.partial + wr.partial;
    v->requests += pr.requests;
    return 0;

fail_load:
    fprintf(stderr, "http: load: %s\n", L.fail[0] ? L.fail : "failed");
    log_tail(&s);
    if (cli)
        hcli_free(&h);
    load_close(&L);
    server_stop(&s, 2);
    return -1;
}

static const char *const vname[NVARIANT][6] = {
    {"decode-1core", "decode-only", "e2e", "server-cpu", "server-rss", "e2e-cold"},
    {"decode-1core-gzip", "decode-only-gzip", "e2e-gzip", "server-cpu-gzip",
     "server-rss-gzip", "e2e-cold-gzip"},
};

static void emit_variant(const cwb_ctx *c, const vres *v, int var, unsigned T, unsigned nconn,
                         uint64_t spans_live)
{
    int R = c->runs;
    cwb_fig f;

    fig_of_runs(&f, "http", vname[var][0], 1, "spans/s", v->dec1, R);
    snprintf(f.note, sizeof f.note, "%s, one thread (per core)",
             var ? "cw__gunzip_into + cw__decode_pb" : "cw__decode_pb");
    cwb_emit(c, &f);

    fig_of_runs(&f, "http", vname[var][1], T, "spans/s", v->decT, R);
    double ceiling = f.st.median;
    snprintf(f.note, sizeof f.note, "%u threads = the daemon's decode pool (baseline)", T);
    cwb_emit(c, &f);

    fig_of_runs(&f, "http", vname[var][2], T, "spans/s", v->e2e, R);
    f.baseline = vname[var][1];
    f.ratio = f.st.median / ceiling;
    f.p50_ns = median_of(v->p50, R);
    f.p99_ns = median_of(v->p99, R);
    f.extra_name[0] = "requests_per_s";
    f.extra[0] = median_of(v->rps, R);
    f.extra_name[1] = "connections";
    f.extra[1] = nconn;
    f.extra_name[2] = "non_200";
    f.extra[2] = (double)v->non200;
    f.extra_name[3] = "partial_success";
    f.extra[3] = (double)v->partial;
    snprintf(f.note, sizeof f.note, "%.0f req/s, p50 %.2f ms, p99 %.2f ms%s", f.extra[0],
             f.p50_ns / 1e6, f.p99_ns / 1e6,
             v->non200 || v->partial ? ", NON-200 OR PARTIAL" : ", all 200");
    cwb_emit(c, &f);
    double e2e = f.st.median, ratio = f.ratio;

    fig_of_runs(&f, "http", vname[var][5], T, "spans/s", v->cold, R);
    f.baseline = vname[var][1];
    f.ratio = f.st.median / ceiling;
    f.extra_name[0] = "server_cpu_s_per_mspans";
    f.extra[0] = median_of(v->cold_cpu, R);
    snprintf(f.note, sizeof f.note, "a fresh daemon's first pass; server %.2f cpu-s/Mspans",
             f.extra[0]);
    cwb_emit(c, &f);

    fig_of_runs(&f, "http", vname[var][3], T, "cpu-s/Mspans", v->cpu, R);
    f.extra_name[0] = "server_cores";
    f.extra[0] = median_of(v->cores, R);
    f.extra_name[1] = "client_cpu_s_per_mspans";
    f.extra[1] = median_of(v->ccpu, R);
    f.extra_name[2] = "flush_cpu_s_per_mspans";
    f.extra[2] = median_of(v->flush, R);
    f.extra_name[3] = "machine_idle";
    f.extra[3] = median_of(v->idle, R);
    snprintf(f.note, sizeof f.note,
             "%.2f cores busy; client %.2f; shutdown flush %.2f; machine idle %.0f%%",
             f.extra[0], f.extra[1], f.extra[2], f.extra[3] * 100);
    cwb_emit(c, &f);

    fig_of_runs(&f, "http", vname[var][4], T, "MiB", v->rss, R);
    f.extra_name[0] = "spans_live";
    f.extra[0] = (double)spans_live;
    f.extra_name[1] = "rss_at_start_mib";
    f.extra[1] = median_of(v->rss0, R);
    snprintf(f.note, sizeof f.note, "VmHWM, ~%.0f k spans live at a time (%.0f MiB at start)",
             f.extra[0] / 1e3, f.extra[1]);
    cwb_emit(c, &f);

    if (var == V_GZIP)
        cwb_info(c, "http: targets (gzip): >= 1e6 spans/s end to end: %s (%.3g); >= 50%% of "
                    "decode-only: %s (%.0f%%)",
                 e2e >= 1e6 ? "met" : "NOT met", e2e, ratio >= 0.5 ? "met" : "NOT met",
                 ratio * 100);
}

int cwb_http(const cwb_ctx *c)
{
    double t_start = cwb_now();
    unsigned T = server_threads(c), nconn = connections(c, T);
    uint64_t nspans = c->quick ? WORK_SPANS_QUICK : WORK_SPANS_FULL;
    bool want[NVARIANT] = {!c->gzip, true};
    hwork w, warm;
    memset(&warm, 0, sizeof warm);
    dthread *ts = calloc(T, sizeof *ts);
    vres *v = calloc(NVARIANT, sizeof *v);
    sigpipe_guard g;
    sigpipe_ignore(&g);
    int rc = -1;
    if (!ts || !v || work_make(&w, WORK_SEED, nspans)) {
        fprintf(stderr, "http: out of memory making the workload\n");
        goto out_early;
    }
    if (work_make(&warm, WARM_SEED, nspans) || work_gzip(&w, c->ncpu) ||
        work_gzip(&warm, c->ncpu)) {
        fprintf(stderr, "http: out of memory making the workload\n");
        goto out;
    }
    for (unsigned i = 0; i < T; i++)
        if (dthread_init(&ts[i])) {
            fprintf(stderr, "http: out of memory\n");
            goto out;
        }
    cwb_info(c, "http: %llu spans in %llu traces, %zu requests of up to %d spans "
                "(shuffle %.1f); protobuf %.1f bytes/span, gzip %.1f (%.1fx); first pass %llu "
                "spans; %u connections, daemon decode pool %u threads",
             (unsigned long long)w.spans, (unsigned long long)w.traces, w.n, WORK_BATCH,
             WORK_SHUFFLE, (double)w.pb_bytes / (double)w.spans,
             (double)w.gz_bytes / (double)w.spans, (double)w.pb_bytes / (double)w.gz_bytes,
             (unsigned long long)warm.spans, nconn, T);

    unsigned reps[NVARIANT] = {1, 1};
    for (int var = 0; var < NVARIANT; var++)
        if (want[var] && decode_reps(ts, &w, var == V_GZIP,
                                     c->quick ? DECODE_RUN_S_QUICK : DECODE_RUN_S_FULL,
                                     &reps[var])) {
            fprintf(stderr, "http: the in-process decoder failed on the workload\n");
            goto out;
        }
    for (int run = 0; run < c->runs; run++)
        for (int var = 0; var < NVARIANT; var++) {
            if (!want[var])
                continue;
            vres *r = &v[var];
            r->dec1[run] = decode_pass(ts, 1, &w, var == V_GZIP, reps[var]);
            r->decT[run] = decode_pass(ts, T, &w, var == V_GZIP, reps[var]);
            if (r->dec1[run] < 0 || r->decT[run] < 0) {
                fprintf(stderr, "http: the in-process decoder failed on the workload\n");
                goto out;
            }
            if (e2e_run(c, &w, &warm, var == V_GZIP, nconn, r, run))
                goto out;
        }

    cwb_heading(c, "http (causeway serve over loopback; e2e ratio = e2e / decode-only, same "
                   "run; threads = decode threads)");
    for (int var = 0; var < NVARIANT; var++)
        if (want[var])
            emit_variant(c, &v[var], var, T, nconn, w.spans);
    cwb_info(c, "http: %d runs per figure, %.1f s in all", c->runs, cwb_now() - t_start);
    rc = 0;
out:
    for (unsigned i = 0; i < T; i++)
        dthread_free(&ts[i]);
    work_free(&warm);
    work_free(&w);
out_early:
    free(ts);
    free(v);
    sigpipe_restore(&g);
    return rc;
}

/* --------------------------------------------------------------- query */

enum { Q_TRACE, Q_TOP, NQKIND };

static const uint64_t q_period_ns[NQKIND] = {QUERY_TRACE_PERIOD_NS, QUERY_TOP_PERIOD_NS};

typedef struct qrun {
    hcli cli;
    hwork *w;         /* the load's workload: whose trace ids to query */
    hload *L;         /* loaded: the request answered last */
    bool loaded;
    /* Idle: trace ids of requests sent by the loaded phase (pass_result
     * first_pass and sent), and when to stop. */
    uint32_t first_pass;
    size_t sent;
    uint64_t end_ns;
    _Atomic int stop; /* loaded: set when the load ends */
    uint64_t *lat[NQKIND];
    size_t n[NQKIND], non200[NQKIND], dropped;
    uint64_t rng;
    int err;          /* a transport error */
    int bad_status;   /* the first non-200, for the report */
    char bad_path[192];
} qrun;

static void hex16(char *out, const uint8_t *id)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[32] = 0;
}

static bool q_done(qrun *q)
{
    return q->loaded ? atomic_load_explicit(&q->stop, memory_order_acquire) != 0
                     : cwb_now_ns() >= q->end_ns;
}

/* The trace id of request r as sent on pass `pass`. */
static void sent_tid(const hwork *w, size_t r, uint32_t pass, uint8_t tid[16])
{
    memcpy(tid, w->r[r].tid, 16);
    apply_salt(tid, salt_of(pass));
}

/* The query client: one request at a time on one keep-alive connection,
 * each kind sent QUERY_*_PERIOD_NS after its previous answer. Latency is
 * each query's own (the client never queues one kind behind the other). */
static void *query_thread(void *arg)
{
    qrun *q = arg;
    uint64_t due[NQKIND];
    due[Q_TRACE] = due[Q_TOP] = cwb_now_ns();
    while (!q_done(q)) {
        int kind = due[Q_TOP] <= due[Q_TRACE] ? Q_TOP : Q_TRACE;
        uint64_t now = cwb_now_ns();
        if (due[kind] > now) {
            /* Short naps, so that the end of the phase is noticed. */
            uint64_t d = due[kind] - now;
            sleep_ns((long)(d < 5000000 ? d : 5000000));
            continue;
        }
        char path[160];
        if (kind == Q_TRACE) {
            uint8_t tid[16];
            if (q->loaded) {
                /* The most recently answered request: a live trace. */
                uint64_t a = atomic_load_explicit(&q->L->acked, memory_order_acquire);
                if (!a) {
                    due[kind] = now + 1000000;
                    continue;
                }
                sent_tid(q->w, (size_t)(a & 0xffffffffu) - 1, (uint32_t)(a >> 32), tid);
            } else {
                /* Any request of the load, its traces complete by now. */
                size_t g = (size_t)(cwb_xorshift(&q->rng) % q->sent);
                sent_tid(q->w, g % q->w->n, q->first_pass + (uint32_t)(g / q->w->n), tid);
            }
            char hex[33];
            hex16(hex, tid);
            snprintf(path, sizeof path, "/api/v1/traces/%s", hex);
        } else {
            snprintf(path, sizeof path, "%s", QUERY_TOP_PATH);
        }
        uint64_t t0 = cwb_now_ns();
        int st = hget(&q->cli, path);
        uint64_t t1 = cwb_now_ns();
        if (st < 0) {
            q->err = 1;
            break;
        }
        if (st != 200 && !q->non200[kind]++ && !q->bad_status) {
            q->bad_status = st;
            snprintf(q->bad_path, sizeof q->bad_path, "%s%s", path,
                     q->loaded ? " (under load)" : " (idle)");
        }
        if (q->n[kind] < QUERY_MAX)
            q->lat[kind][q->n[kind]++] = t1 - t0;
        else
            q->dropped++;
        due[kind] = t1 + q_period_ns[kind];
    }
    return NULL;
}

typedef struct qres {
    double p50[NQKIND][CWB_RUNS_MAX], p99[NQKIND][CWB_RUNS_MAX], n[NQKIND][CWB_RUNS_MAX];
    size_t non200[NQKIND], total[NQKIND];
} qres;

static void qrun_stats(qrun *q, qres *r, int run)
{
    for (int k = 0; k < NQKIND; k++) {
        qsort(q->lat[k], q->n[k], sizeof *q->lat[k], cmp_u64);
        r->p50[k][run] = pct(q->lat[k], q->n[k], 0.50);
        r->p99[k][run] = pct(q->lat[k], q->n[k], 0.99);
        r->n[k][run] = (double)q->n[k];
        r->non200[k] += q->non200[k];
        r->total[k] += q->n[k];
        q->n[k] = q->non200[k] = 0;
    }
}

/* Waits until no trace is live (every one completed after the idle
 * timeout) and the daemon has finished the sweep that completed them, so
 * that what comes next (the measured e2e pass, the idle queries) runs on a
 * quiet server. traces_live reaches zero inside the sweep, before the
 * store recomputes the chains the traces joined, which for a 1 M-span
 * workload kept a helper thread busy into the measured pass (6% of the
 * daemon's samples there, and e2e read up to 9% below e2e-cold): the
 * sweep's end is read as the daemon's CPU falling under SETTLE_QUIET_CORES
 * over a SETTLE_WINDOW_NS window. */
#define SETTLE_WINDOW_NS 100000000L
#define SETTLE_QUIET_CORES 0.02

static void settle(const cwb_ctx *c, hcli *h, pid_t pid)
{
    double t_end = cwb_now() + SETTLE_TIMEOUT_S;
    double live;
    while ((live = metric(h, "causeway_traces_live")) != 0 && cwb_now() < t_end)
        sleep_ns(50000000);
    if (live != 0) {
        cwb_info(c, "WARNING: %.0f traces still live %.0f s after a load", live,
                 SETTLE_TIMEOUT_S);
        return;
    }
    double busy = 1;
    while (cwb_now() < t_end) {
        double c0 = proc_cpu_s(pid), t0 = cwb_now();
        sleep_ns(SETTLE_WINDOW_NS);
        busy = (proc_cpu_s(pid) - c0) / (cwb_now() - t0);
        if (busy < SETTLE_QUIET_CORES)
            return;
    }
    cwb_info(c, "WARNING: the daemon still used %.2f cores %.0f s after a load", busy,
             SETTLE_TIMEOUT_S);
}

typedef struct qstate {
    hwork w, pre;
    server s;
    hload L;
    hcli h;
    qrun q;
    qres idle, busy;
    double alone[CWB_RUNS_MAX], with_q[CWB_RUNS_MAX];
    double sum_idle[CWB_RUNS_MAX], sum_load[CWB_RUNS_MAX];
    size_t otlp_non200;
} qstate;

/* One run on a fresh daemon: the preload, left to complete; the queries
 * idle; the same queries while the load runs; the load alone. The loaded
 * phase is no longer than the idle timeout, so no trace completes during
 * it and top-N ranks the preload's summaries in both phases. The load
 * alone comes last, after the loaded phase, so that neither query phase
 * follows a burst of completions; it is the ingest baseline the loaded
 * phase's ingest is compared with. */
static int query_run(const cwb_ctx *c, qstate *z, unsigned nconn, double phase_s, int run)
{
    const char *const extra[] = {"--idle-timeout", QUERY_IDLE_TIMEOUT, NULL};
    qrun *q = &z->q;
    pass_result pr;
    int rc = -1;
    if (server_start(&z->s, c, extra))
        return -1;
    if (hcli_init(&z->h, z->s.api_port) || hcli_init(&q->cli, z->s.api_port))
        goto out;
    if (load_open(&z->L, z->s.port, nconn, 1u << 20) ||
        load_pass(&z->L, &z->pre, 0, false, 0, &pr)) {
        fprintf(stderr, "query: load: %s\n", z->L.fail[0] ? z->L.fail : "failed");
        goto out;
    }
    z->otlp_non200 += pr.non200;
    settle(c, &z->h, z->s.pid);
    z->sum_idle[run] = metric(&z->h, "causeway_summaries");

    /* Idle: the preload's traces, complete. */
    q->w = &z->pre;
    q->L = NULL;
    q->loaded = false;
    q->first_pass = 0;
    q->sent = z->pre.n;
    q->rng = 0x2545f4914f6cdd1dULL + (uint64_t)run;
    q->end_ns = cwb_now_ns() + (uint64_t)(phase_s * 1e9);
    query_thread(q);
    if (q->err) {
        fprintf(stderr, "query: the query API stopped answering (idle)\n");
        goto out;
    }
    qrun_stats(q, &z->idle, run);

    /* Loaded: the queries on a second thread while this one runs the
     * load; trace lookups of the request answered last (live traces). */
    q->w = &z->w;
    q->L = &z->L;
    q->loaded = true;
    atomic_store(&q->stop, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, query_thread, q)) {
        fprintf(stderr, "query: cannot start a thread\n");
        goto out;
    }
    int lr = load_pass(&z->L, &z->w, 0, true, phase_s, &pr);
    atomic_store_explicit(&q->stop, 1, memory_order_release);
    pthread_join(th, NULL);
    if (lr) {
        fprintf(stderr, "query: load: %s\n", z->L.fail);
        goto out;
    }
    if (q->err) {
        fprintf(stderr, "query: the query API stopped answering (under load)\n");
        goto out;
    }
    z->otlp_non200 += pr.non200;
    z->with_q[run] = (double)pr.spans_ok / pr.wall_s;
    z->sum_load[run] = metric(&z->h, "causeway_summaries");
    qrun_stats(q, &z->busy, run);

    if (load_pass(&z->L, &z->w, 0, true, phase_s, &pr)) {
        fprintf(stderr, "query: load: %s\n", z->L.fail);
        goto out;
    }
    z->otlp_non200 += pr.non200;
    z->alone[run] = (double)pr.spans_ok / pr.wall_s;
    rc = 0;
out:
    if (rc)
        log_tail(&z->s);
    load_close(&z->L);
    hcli_free(&q->cli);
    hcli_free(&z->h);
    /* SIGKILL: a graceful stop would flush a second or two of live traces
     * for nothing (the http scenario checks the graceful stop). */
    server_kill(&z->s);
    return rc;
}

static void emit_query(const cwb_ctx *c, const qres *idle, const qres *busy, int k,
                       const char *name, const char *idle_name)
{
    int R = c->runs;
    cwb_fig f;
    cwb_fig_init(&f, "query", idle_name, 1, "ns");
    f.st = stat_of(idle->p99[k], R);
    f.p50_ns = median_of(idle->p50[k], R);
    f.p99_ns = f.st.median;
    f.extra_name[0] = "queries_per_run";
    f.extra[0] = median_of(idle->n[k], R);
    f.extra_name[1] = "non_200";
    f.extra[1] = (double)idle->non200[k];
    snprintf(f.note, sizeof f.note, "p99; p50 %.3f ms; %.0f a run; no ingest (baseline)%s",
             f.p50_ns / 1e6, f.extra[0], idle->non200[k] ? "; NON-200" : "");
    cwb_emit(c, &f);
    double base = f.st.median;

    cwb_fig_init(&f, "query", name, 1, "ns");
    f.st = stat_of(busy->p99[k], R);
    f.p50_ns = median_of(busy->p50[k], R);
    f.p99_ns = f.st.median;
    f.baseline = idle_name;
    f.ratio = f.st.median / base;
    f.extra_name[0] = "queries_per_run";
    f.extra[0] = median_of(busy->n[k], R);
    f.extra_name[1] = "non_200";
    f.extra[1] = (double)busy->non200[k];
    snprintf(f.note, sizeof f.note, "p99; p50 %.3f ms; %.0f a run; under ingest%s",
             f.p50_ns / 1e6, f.extra[0], busy->non200[k] ? "; NON-200" : "");
    cwb_emit(c, &f);
}

int cwb_query(const cwb_ctx *c)
{
    double t_start = cwb_now();
    unsigned T = server_threads(c), nconn = connections(c, T);
    uint64_t nspans = c->quick ? WORK_SPANS_QUICK : WORK_SPANS_FULL;
    double phase_s = c->quick ? QUERY_PHASE_S_QUICK : QUERY_PHASE_S_FULL;
    qstate *z = calloc(1, sizeof *z);
    if (!z) {
        fprintf(stderr, "query: out of memory\n");
        return -1;
    }
    z->s.log_fd = -1;
    z->h.fd = z->q.cli.fd = -1;
    qrun *q = &z->q;
    sigpipe_guard g;
    sigpipe_ignore(&g);
    int rc = -1;

    if (work_make(&z->w, WORK_SEED, nspans) || work_index_tids(&z->w) ||
        work_make(&z->pre, WARM_SEED, nspans / QUERY_PRELOAD_DIV)) {
        fprintf(stderr, "query: cannot make the workload\n");
        goto out;
    }
    for (int k = 0; k < NQKIND; k++)
        if (!(q->lat[k] = malloc(QUERY_MAX * sizeof *q->lat[k]))) {
            fprintf(stderr, "query: out of memory\n");
            goto out;
        }
    cwb_info(c, "query: per run, a fresh daemon (idle timeout %s s): a preload of %llu spans "
                "in %llu traces, left to complete; %.1f s of queries idle; %.1f s of queries "
                "under load; %.1f s of load alone. Load: %llu spans in %zu protobuf requests "
                "over %u connections, sent round and round with new trace ids each pass",
             QUERY_IDLE_TIMEOUT, (unsigned long long)z->pre.spans,
             (unsigned long long)z->pre.traces, phase_s, phase_s, phase_s,
             (unsigned long long)z->w.spans, z->w.n, nconn);
    for (int run = 0; run < c->runs; run++)
        if (query_run(c, z, nconn, phase_s, run))
            goto out;

    if (q->bad_status)
        cwb_info(c, "query: WARNING: %zu of %zu trace-summary and %zu of %zu top-N queries "
                    "not answered 200; the first: GET %s -> %d",
                 z->idle.non200[Q_TRACE] + z->busy.non200[Q_TRACE],
                 z->idle.total[Q_TRACE] + z->busy.total[Q_TRACE],
                 z->idle.non200[Q_TOP] + z->busy.non200[Q_TOP],
                 z->idle.total[Q_TOP] + z->busy.total[Q_TOP], q->bad_path, q->bad_status);
    if (z->otlp_non200)
        cwb_info(c, "query: WARNING: %zu OTLP requests not answered 200", z->otlp_non200);
    if (q->dropped)
        cwb_info(c, "query: %zu latencies past %d per run not kept", q->dropped, QUERY_MAX);
    cwb_info(c, "query: top-N ranks every stored summary: %.0f idle, %.0f at the end of the "
                "loaded phase (medians)",
             median_of(z->sum_idle, c->runs), median_of(z->sum_load, c->runs));
    cwb_heading(c, "query (query API latency: value = p99 of a run, ns; ratio = loaded / idle, "
                   "same run)");
    emit_query(c, &z->idle, &z->busy, Q_TRACE, "trace-summary", "idle-trace-summary");
    emit_query(c, &z->idle, &z->busy, Q_TOP, "top-n", "idle-top-n");
    cwb_fig f;
    fig_of_runs(&f, "query", "ingest-alone", T, "spans/s", z->alone, c->runs);
    double base = f.st.median;
    snprintf(f.note, sizeof f.note, "protobuf load, no queries (baseline)");
    cwb_emit(c, &f);
    fig_of_runs(&f, "query", "ingest-with-queries", T, "spans/s", z->with_q, c->runs);
    f.baseline = "ingest-alone";
    f.ratio = f.st.median / base;
    snprintf(f.note, sizeof f.note, "the same load while the queries above run");
    cwb_emit(c, &f);
    cwb_info(c, "query: %d runs, %.1f s in all", c->runs, cwb_now() - t_start);
    rc = 0;
out:
    for (int k = 0; k < NQKIND; k++)
        free(q->lat[k]);
    work_free(&z->pre);
    work_free(&z->w);
    free(z);
    sigpipe_restore(&g);
    return rc;
}
