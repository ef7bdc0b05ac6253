/*
 * causeway: the command line (SPEC.md section 4).
 *
 *   causeway serve [--config FILE] [--listen HOST:PORT] [--api HOST:PORT]
 *                  [--idle-timeout SECONDS]
 *   causeway analyze [--json] [--detail] FILE...
 *   causeway dot TRACE_OR_CHAIN_ID FILE...
 *
 * Exit codes: 0 success, 2 usage or input error with a one-line message on
 * stderr naming the file and the reason.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "causeway.h"
#include "config.h"

#define PROG "causeway"

static int usage(void)
{
    fprintf(stderr,
            "usage: " PROG " serve [--config FILE] [--listen HOST:PORT] [--api HOST:PORT]\n"
            "                      [--idle-timeout SECONDS]\n"
            "       " PROG " analyze [--json] [--detail] FILE...\n"
            "       " PROG " dot TRACE_OR_CHAIN_ID FILE...\n"
            "       " PROG " --version\n");
    return 2;
}

static int write_stdout(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    return fwrite(line, 1, len, stdout) == len ? 0 : CW_EIO;
}

/* Budgets for an offline run, from the input's size. Every span of a file
 * set may stay in memory at once, so the span budget must hold them all:
 * four times the input's bytes does (a span costs the graph about 100
 * bytes and takes at least 46 on the wire, its ids and times; gzip files
 * count ten times their size, and standard input or a file that cannot be
 * sized counts 1 GiB). The engine
 * sizes its hash indexes from the budgets up front, so budgets far beyond
 * the input would cost page faults on index pages touched once each: the
 * floor is 64 MiB, the ceiling 16 GiB (and 4 GiB of summaries). */
static void offline_budgets(cw_engine_options *o, char **files, int nfiles)
{
    uint64_t bytes = 0;
    for (int i = 0; i < nfiles; i++) {
        struct stat st;
        size_t len = strlen(files[i]);
        if (strcmp(files[i], "-") != 0 && stat(files[i], &st) == 0 && st.st_size >= 0)
            bytes += (uint64_t)st.st_size *
                     (len > 3 && !strcmp(files[i] + len - 3, ".gz") ? 10 : 1);
        else
            bytes += 1ull << 30;
    }
    uint64_t spans = bytes * 4, summaries = bytes;
    const uint64_t floor = 64ull << 20;
    o->memory_budget = spans < floor ? floor : spans > 16ull << 30 ? 16ull << 30 : spans;
    o->summary_budget =
        summaries < floor ? floor : summaries > 4ull << 30 ? 4ull << 30 : summaries;
    /* Index sizing: about 100 bytes of input a span (protobuf; JSON takes
     * more, so is over-planned, which only costs index memory). */
    o->expected_spans = bytes / 100;
}

/* Reads every file into a new engine and completes all traces. Prints the
 * one-line error and returns 2 on the first bad file. */
static int load(cw_engine **out, char **files, int nfiles)
{
    cw_engine_options o;
    cw_engine_options_init(&o);
    offline_budgets(&o, files, nfiles);
    cw_engine *e;
    int rc = cw_engine_new(&e, &o);
    if (rc) {
        fprintf(stderr, PROG ": cannot create engine: %s\n", cw_strerror(rc));
        return 2;
    }
    for (int i = 0; i < nfiles; i++) {
        cw_ingest_result res;
        rc = cw_engine_ingest_file(e, files[i], &res);
        if (rc) {
            if (res.error_line)
                fprintf(stderr, PROG ": %s: line %llu: %s: %s\n", files[i],
                        (unsigned long long)res.error_line, cw_strerror(rc),
                        res.reason ? res.reason : "");
            else if (rc == CW_EIO)
                fprintf(stderr, PROG ": %s: %s\n", files[i], res.reason);
            else
                fprintf(stderr, PROG ": %s: %s: %s (at byte %llu)\n", files[i], cw_strerror(rc),
                        res.reason ? res.reason : "", (unsigned long long)res.error_offset);
            cw_engine_free(e);
            return 2;
        }
        if (res.spans_rejected)
            fprintf(stderr, PROG ": %s: warning: %llu spans rejected: %s\n", files[i],
                    (unsigned long long)res.spans_rejected, res.reason ? res.reason : "");
    }
    cw_engine_flush(e);
    *out = e;
    return 0;
}

/* ---------------------------------------------------------------- detail */

static const char *status_name(int s)
{
    return s == 2 ? "ERROR" : s == 1 ? "OK" : "UNSET";
}

/* JSON string with the escapes RFC 8259 requires. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Detail objects (SPEC.md section 3.4) of one trace: retry groups and the
 * deepest recursion path, as JSON lines or text. */
static void print_detail(cw_engine *e, const char *trace_id, bool json)
{
    cw_detail *d;
    if (cw_engine_detail(e, trace_id, &d))
        return;
    for (size_t i = 0; i < cw_detail_retry_count(d); i++) {
        cw_retry_group g;
        cw_detail_retry_group(d, i, &g);
        if (json) {
            printf("{\"type\":\"retry_group\",\"trace_id\":\"%s\",\"caller\":", trace_id);
            json_str(stdout, g.caller);
            printf(",\"target\":");
            json_str(stdout, g.target);
            printf(",\"kind\":\"%s\",\"attempts\":%u,\"failed\":%u,\"retries\":%u,"
                   "\"final_status\":\"%s\",\"span_ids\":[",
                   g.redelivery ? "redelivery" : "call", g.attempts, g.failed, g.retries,
                   status_name(g.final_status));
            for (size_t k = 0; k < g.nspans; k++)
                printf("%s\"%016llx\"", k ? "," : "", (unsigned long long)g.span_ids[k]);
            printf("]}\n");
        } else {
            printf("    %s %s -> %s: %u attempts, %u failed, %u retries, final %s\n",
                   g.redelivery ? "redelivery" : "retries", g.caller, g.target, g.attempts,
                   g.failed, g.retries, status_name(g.final_status));
        }
    }
    uint32_t occ;
    const char *fn = cw_detail_loop_function(d, &occ);
    if (fn) {
        size_t n = cw_detail_loop_path(d, NULL, NULL, 0);
        const char **fns = calloc(n ? n : 1, sizeof *fns);
        uint64_t *spans = calloc(n ? n : 1, sizeof *spans);
        if (fns && spans) {
            cw_detail_loop_path(d, fns, spans, n);
            if (json) {
                printf("{\"type\":\"loop\",\"trace_id\":\"%s\",\"function\":", trace_id);
                json_str(stdout, fn);
                printf(",\"occurrences\":%u,\"path\":[", occ);
                for (size_t k = 0; k < n; k++) {
                    printf("%s{\"function\":", k ? "," : "");
                    json_str(stdout, fns[k]);
                    printf(",\"span_id\":\"%016llx\"}", (unsigned long long)spans[k]);
                }
                printf("]}\n");
            } else {
                printf("    loop: %s appears %u times on one path:", fn, occ);
                for (size_t k = 0; k < n && k < 12; k++)
                    printf(" %s%s", k ? "-> " : "", fns[k]);
                printf("%s\n", n > 12 ? " ..." : "");
            }
        }
        free(fns);
        free(spans);
    }
    cw_detail_free(d);
}

/* Traces with details, for --detail --json: every trace that retried or
 * recursed. */
typedef struct idlist {
    char (*ids)[CW_TRACE_ID_LEN];
    size_t n, cap;
} idlist;

static int collect_ids(void *ctx, const char *line, size_t len)
{
    idlist *l = ctx;
    (void)len;
    const char *t = strstr(line, "\"trace_id\":\"");
    const char *r = strstr(line, "\"retries\":");
    const char *m = strstr(line, "\"max_recursion\":");
    if (!t || !r || !m)
        return 0;
    if (atoi(r + 10) == 0 && atoi(m + 16) <= 1)
        return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        void *p = realloc(l->ids, l->cap * sizeof *l->ids);
        if (!p)
            return CW_ENOMEM;
        l->ids = p;
    }
    memcpy(l->ids[l->n], t + 12, 32);
    l->ids[l->n++][32] = '\0';
    return 0;
}

/* ------------------------------------------------------------ the table */

static void chain_table(cw_engine *e, const char *title, cw_sort by, size_t n, bool only_pos)
{
    cw_chain_summary s[10];
    size_t got = 0;
    cw_engine_top_chains(e, by, n < 10 ? n : 10, s, &got);
    size_t shown = 0;
    for (size_t i = 0; i < got; i++) {
        uint32_t key = by == CW_SORT_RETRIES     ? s[i].retries
                       : by == CW_SORT_RECURSION ? s[i].max_recursion - 1
                                                 : 1;
        if (only_pos && key == 0)
            continue;
        if (!shown++)
            printf("\n%s\n  %-32s %6s %6s %6s %6s %7s %9s  %s\n", title, "CHAIN", "TRACES",
                   "INVOC", "DEPTH", "FANOUT", "RETRIES", "RECURSION", "FUNCTIONS");
        const char *fns[4];
        cw_chain_summary full;
        size_t nf = 0;
        if (cw_engine_chain(e, s[i].chain_id, &full, fns, 4) == 0)
            nf = full.nfunctions;
        printf("  %-32s %6u %6u %6u %6u %7u %9u  ", s[i].chain_id, s[i].traces, s[i].invocations,
               s[i].depth, s[i].max_fanout, s[i].retries, s[i].max_recursion);
        for (size_t k = 0; k < nf && k < 4; k++)
            printf("%s%s", k ? ", " : "", fns[k]);
        printf("%s\n", nf > 4 ? ", ..." : "");
    }
}

static void human(cw_engine *e, bool detail)
{
    cw_stats st;
    cw_engine_stats(e, &st);
    size_t nedges = 0;
    cw_engine_edges(e, NULL, 0, &nedges);
    printf("causeway %s: %llu spans in %llu traces, %llu chains, %zu service-graph edges",
           cw_version(), (unsigned long long)st.spans_accepted,
           (unsigned long long)st.summaries, (unsigned long long)st.chains, nedges);
    if (st.spans_rejected || st.duplicates)
        printf(" (%llu spans rejected, %llu duplicates)", (unsigned long long)st.spans_rejected,
               (unsigned long long)st.duplicates);
    printf("\n");
    chain_table(e, "Deepest chains", CW_SORT_DEPTH, 10, false);
    chain_table(e, "Widest chains (fan-out)", CW_SORT_FANOUT, 10, false);
    chain_table(e, "Most retried chains", CW_SORT_RETRIES, 10, true);
    chain_table(e, "Looping chains (a function recurring on one path)", CW_SORT_RECURSION, 10,
                true);

    cw_edge_summary *edges = calloc(nedges ? nedges : 1, sizeof *edges);
    if (edges && nedges) {
        cw_engine_edges(e, edges, nedges, &nedges);
        /* Busiest first. */
        for (size_t i = 1; i < nedges; i++)
            for (size_t k = i; k > 0 && edges[k].calls > edges[k - 1].calls; k--) {
                cw_edge_summary t = edges[k];
                edges[k] = edges[k - 1];
                edges[k - 1] = t;
            }
        printf("\nService graph (busiest edges)\n  %-24s %-24s %-5s %7s %6s %7s %10s %10s\n",
               "CALLER", "CALLEE", "KIND", "CALLS", "ERRORS", "RETRIES", "P50 ms", "P99 ms");
        for (size_t i = 0; i < nedges && i < 15; i++)
            printf("  %-24s %-24s %-5s %7llu %6llu %7llu %10.3f %10.3f\n", edges[i].caller,
                   edges[i].callee, edges[i].async ? "async" : "sync",
                   (unsigned long long)edges[i].calls, (unsigned long long)edges[i].errors,
                   (unsigned long long)edges[i].retries, (double)edges[i].p50_ns / 1e6,
                   (double)edges[i].p99_ns / 1e6);
    }
    free(edges);
    if (detail) {
        printf("\nDetails of the most retried and looping traces\n");
        cw_trace_summary t[10];
        size_t got;
        for (int pass = 0; pass < 2; pass++) {
            cw_engine_top(e, pass ? CW_SORT_RECURSION : CW_SORT_RETRIES, 10, t, &got);
            for (size_t i = 0; i < got; i++) {
                if ((pass == 0 && !t[i].retries) || (pass == 1 && t[i].max_recursion <= 1))
                    continue;
                printf("  trace %s (%s): %u retries, recursion %u\n", t[i].trace_id,
                       t[i].root_function, t[i].retries, t[i].max_recursion);
                print_detail(e, t[i].trace_id, false);
            }
        }
    }
}

/* -------------------------------------------------------------- commands */

static int cmd_analyze(int argc, char **argv)
{
    bool json = false, detail = false;
    int i = 0;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--detail") == 0)
            detail = true;
        else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            fprintf(stderr, PROG ": analyze: unknown option %s\n", argv[i]);
            return usage();
        }
    }
    if (i == argc) {
        fprintf(stderr, PROG ": analyze: no input files\n");
        return usage();
    }
    cw_engine *e;
    if (load(&e, argv + i, argc - i))
        return 2;
    int rc = 0;
    if (json) {
        rc = cw_engine_dump(e, CW_DUMP_ALL, write_stdout, NULL);
        if (!rc && detail) {
            idlist l = {0};
            rc = cw_engine_dump(e, CW_DUMP_TRACES, collect_ids, &l);
            for (size_t k = 0; k < l.n; k++)
                print_detail(e, l.ids[k], true);
            free(l.ids);
        }
    } else {
        human(e, detail);
    }
    cw_engine_free(e);
    if (fflush(stdout) != 0 || rc) {
        fprintf(stderr, PROG ": analyze: cannot write output: %s\n",
                rc ? cw_strerror(rc) : strerror(errno));
        return 2;
    }
    return 0;
}

static int cmd_dot(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, PROG ": dot: need an id and at least one file\n");
        return usage();
    }
    cw_engine *e;
    if (load(&e, argv + 1, argc - 1))
        return 2;
    int rc = cw_engine_dot(e, argv[0], write_stdout, NULL);
    cw_engine_free(e);
    if (rc == CW_EINVAL) {
        fprintf(stderr, PROG ": dot: %s: not a trace or chain id (32 hex digits)\n", argv[0]);
        return 2;
    }
    if (rc == CW_ENOTFOUND) {
        fprintf(stderr, PROG ": dot: %s: no such trace or chain in the input\n", argv[0]);
        return 2;
    }
    return rc ? 2 : 0;
}

/* ----------------------------------------------------------------- serve */

static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s " PROG " serve: %s\n", ts, line);
}

typedef struct daemon {
    cw_receiver *r;
    uv_signal_t sigint, sigterm;
} daemon_t;

static void on_signal(uv_signal_t *s, int signum)
{
    daemon_t *d = s->data;
    char line[64];
    snprintf(line, sizeof line, "received %s: draining", signum == SIGINT ? "SIGINT" : "SIGTERM");
    log_line(NULL, line);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    cw_receiver_stop(d->r);
}

/* HOST:PORT as configured, with the port it was bound to. */
static void bound_addr(char *out, size_t n, const char *addr, int port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || port <= 0)
        snprintf(out, n, "%s", addr);
    else
        snprintf(out, n, "%.*s:%d", (int)(colon - addr), addr, port);
}

static int cmd_serve(int argc, char **argv)
{
    const char *config = NULL, *listen = NULL, *api = NULL, *idle = NULL;
    for (int i = 0; i < argc; i++) {
        const char **dst = strcmp(argv[i], "--config") == 0        ? &config
                           : strcmp(argv[i], "--listen") == 0      ? &listen
                           : strcmp(argv[i], "--api") == 0         ? &api
                           : strcmp(argv[i], "--idle-timeout") == 0 ? &idle
                                                                   : NULL;
        if (!dst || i + 1 == argc) {
            fprintf(stderr, PROG ": serve: %s %s\n", dst ? "missing a value for" : "unknown option",
                    argv[i]);
            return usage();
        }
        *dst = argv[++i];
    }
    cfg c;
    cfg_init(&c);
    char err[600];
    if (config && cfg_load(&c, config, err, sizeof err)) {
        fprintf(stderr, PROG ": %s\n", err);
        cfg_free(&c);
        return 2;
    }
    if (idle && cfg_parse_duration(idle, &c.engine.idle_timeout_ns)) {
        fprintf(stderr, PROG ": serve: --idle-timeout: expected seconds (or 500ms, 2m...), got %s\n",
                idle);
        cfg_free(&c);
        return 2;
    }
    cw_receiver_options *ro = &c.receiver;
    ro->listen = listen ? listen : c.listen ? c.listen : ro->listen;
    ro->api_listen = api ? api : c.api_set ? (c.api_listen ? c.api_listen : "") : ro->api_listen;
    if (c.max_header)
        ro->max_header_bytes = c.max_header > UINT32_MAX ? UINT32_MAX : (uint32_t)c.max_header;
    ro->tokens = (const char *const *)c.tokens;
    ro->ntokens = c.ntokens;
    ro->log = log_line;

    /* Decoding runs on libuv's pool: one thread per core (it must be set
     * before the pool first starts). */
    if (!getenv("UV_THREADPOOL_SIZE")) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        char v[24];
        snprintf(v, sizeof v, "%ld", n < 2 ? 2 : n > 1024 ? 1024 : n);
        setenv("UV_THREADPOOL_SIZE", v, 1);
    }
    cw_engine *e;
    int rc = cw_engine_new(&e, &c.engine);
    if (rc) {
        fprintf(stderr, PROG ": serve: %s (check the engine options)\n", cw_strerror(rc));
        cfg_free(&c);
        return 2;
    }
    uv_loop_t *loop = uv_default_loop();
    daemon_t d = {0};
    rc = cw_receiver_start_on(&d.r, loop, e, ro);
    if (rc) {
        fprintf(stderr, PROG ": serve: cannot start the receiver: %s\n", cw_strerror(rc));
        cw_engine_free(e);
        cfg_free(&c);
        return 2;
    }
    uv_signal_init(loop, &d.sigint);
    uv_signal_init(loop, &d.sigterm);
    d.sigint.data = d.sigterm.data = &d;
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    /* The addresses as bound: port 0 in the configuration picks a free one. */
    char otlp_at[300], api_at[300];
    bound_addr(otlp_at, sizeof otlp_at, ro->listen, cw_receiver_port(d.r, 0));
    bound_addr(api_at, sizeof api_at, ro->api_listen, cw_receiver_port(d.r, 1));
    char line[1024];
    snprintf(line, sizeof line,
             "causeway %s ready: send OTLP/HTTP traces to http://%s/v1/traces; %s%s%s "
             "(idle timeout %.3g s, memory budget %llu MiB)",
             cw_version(), otlp_at, ro->api_listen[0] ? "query http://" : "no query API",
             ro->api_listen[0] ? api_at : "",
             ro->api_listen[0] ? "/api/v1/traces?sort=depth, /metrics, /healthz" : "",
             (double)c.engine.idle_timeout_ns / 1e9,
             (unsigned long long)(c.engine.memory_budget >> 20));
    log_line(NULL, line);
    uv_run(loop, UV_RUN_DEFAULT);
    uint64_t n = cw_engine_flush(e);
    snprintf(line, sizeof line, "completed %llu live traces; exiting", (unsigned long long)n);
    log_line(NULL, line);
    cw_receiver_free(d.r);
    cw_engine_free(e);
    uv_loop_close(loop);
    cfg_free(&c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "--version") == 0) {
        printf(PROG " %s\n", cw_version());
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "analyze") == 0)
        return cmd_analyze(argc - 2, argv + 2);
    if (strcmp(argv[1], "dot") == 0)
        return cmd_dot(argc - 2, argv + 2);
    fprintf(stderr, PROG ": unknown command %s\n", argv[1]);
    return usage();
}
