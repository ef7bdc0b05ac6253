/*
 * The public API (include/causeway.h): ingest and its results, files, limits,
 * callbacks, queries, JSON, and allocation failure at every point.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "causeway.h"
#include "gen.h"
#include "support.h"

static uint8_t *data(const char *rel, size_t *n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", cwt_data_dir(), rel);
    uint8_t *p = cwt_read_file(path, n);
    cr_assert_not_null(p, "cannot read %s", path);
    return p;
}

static char *data_path(const char *rel)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", cwt_data_dir(), rel);
    return path;
}

static cw_engine *engine(void)
{
    cw_engine *e;
    cr_assert_eq(cw_engine_new(&e, NULL), 0);
    return e;
}

Test(engine_api, options_defaults_follow_the_spec)
{
    cw_engine_options o;
    cw_engine_options_init(&o);
    cr_assert_eq(o.idle_timeout_ns, 10ull * 1000000000);
    cr_assert_eq(o.max_decompressed_bytes, 64ull << 20);
    cr_assert_eq(o.completion_threads, 0, "0: as many as online CPUs");
    cw_engine *e;
    o.max_attr_len = 0;
    cr_assert_eq(cw_engine_new(&e, &o), CW_EINVAL);
    cw_engine_options_init(&o);
    o.completion_threads = 9;
    cr_assert_eq(cw_engine_new(&e, &o), CW_EINVAL);
    cw_engine_free(NULL);
}

Test(engine_ingest, protobuf_json_and_gzip_captures)
{
    cw_engine *e = engine();
    const char *files[] = {"captures/fanout-proto-0000.pb", "captures/fanout-json-0000.json",
                           "captures/fanout-proto-gzip-0000.pb.gz"};
    unsigned enc[] = {CW_ENC_PROTOBUF, CW_ENC_JSON, CW_ENC_PROTOBUF | CW_ENC_GZIP};
    for (int i = 0; i < 3; i++) {
        size_t n;
        uint8_t *p = data(files[i], &n);
        cw_ingest_result r;
        cr_assert_eq(cw_engine_ingest(e, p, n, enc[i], &r), 0, "%s: %s", files[i], r.reason);
        cr_assert_eq(r.spans_accepted, 51);
        cr_assert_eq(r.spans_rejected, 0);
        cr_assert_null(r.reason);
        free(p);
    }
    cw_stats st;
    cw_engine_stats(e, &st);
    cr_assert_eq(st.requests, 3);
    cr_assert_eq(st.spans_received, 153);
    cr_assert_eq(st.spans_accepted, 153);
    cr_assert_eq(st.traces_live, 3);
    cr_assert_eq(cw_engine_flush(e), 3);
    cw_engine_stats(e, &st);
    cr_assert_eq(st.summaries, 3);
    cr_assert_eq(st.spans_live, 0);
    cw_engine_free(e);
}

Test(engine_ingest, a_bad_request_keeps_nothing_and_says_why)
{
    cw_engine *e = engine();
    size_t n;
    uint8_t *p = data("captures/retry-proto-0000.pb", &n);
    cw_ingest_result r;
    /* Truncated in the middle: the spans before the cut are not kept. */
    cr_assert_eq(cw_engine_ingest(e, p, n - 7, CW_ENC_PROTOBUF, &r), CW_EPROTO);
    cr_assert_not_null(r.reason);
    cr_assert_eq(r.spans_accepted, 0);
    cr_assert_eq(r.error, CW_EPROTO);
    cr_assert_leq(r.error_offset, n);
    cr_assert_eq(cw_engine_ingest(e, "{\"resourceSpans\":[", 18, CW_ENC_JSON, &r), CW_EJSON);
    cr_assert_eq(cw_engine_ingest(e, p, n, CW_ENC_PROTOBUF | CW_ENC_GZIP, &r), CW_EGZIP);
    cr_assert_eq(cw_engine_ingest(e, p, n, 0x77, &r), CW_EINVAL);
    cr_assert_eq(cw_engine_ingest(e, NULL, 5, CW_ENC_JSON, &r), CW_EINVAL);
    cr_assert_eq(cw_engine_ingest(e, NULL, 0, CW_ENC_PROTOBUF, &r), 0, "an empty request");
    cw_stats st;
    cw_engine_stats(e, &st);
    cr_assert_eq(st.spans_accepted, 0);
    cr_assert_eq(st.requests_rejected, 3);
    cr_assert_eq(st.traces_live, 0);
    free(p);
    cw_engine_free(e);
}

Test(engine_ingest, partial_success_counts_each_reason)
{
    cw_engine *e = engine();
    const char *js =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0000000000000001\"},"
        "{\"traceId\":\"01\",\"spanId\":\"0000000000000002\"},"
        "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"00\"}]}]}]}";
    cw_ingest_result r;
    cr_assert_eq(cw_engine_ingest(e, js, strlen(js), CW_ENC_JSON, &r), 0);
    cr_assert_eq(r.spans_accepted, 1);
    cr_assert_eq(r.spans_rejected, 2);
    cr_assert_eq(r.rejected[CW_REJECT_BAD_TRACE_ID], 1);
    cr_assert_eq(r.rejected[CW_REJECT_BAD_SPAN_ID], 1);
    cr_assert_str_eq(r.reason, cw_reject_reason_str(CW_REJECT_BAD_TRACE_ID));
    cw_stats st;
    cw_engine_stats(e, &st);
    cr_assert_eq(st.rejected[CW_REJECT_BAD_TRACE_ID], 1);
    cr_assert_eq(st.spans_rejected, 2);
    cw_engine_free(e);
}

Test(engine_ingest, the_decompressed_limit_holds_while_inflating)
{
    cw_engine_options o;
    cw_engine_options_init(&o);
    o.max_decompressed_bytes = 1000;
    cw_engine *e;
    cr_assert_eq(cw_engine_new(&e, &o), 0);
    size_t n;
    uint8_t *p = data("captures/fanout-proto-gzip-0000.pb.gz", &n); /* 10 kB inflated */
    cw_ingest_result r;
    cr_assert_eq(cw_engine_ingest(e, p, n, CW_ENC_PROTOBUF | CW_ENC_GZIP, &r), CW_ETOOBIG);
    cr_assert_not_null(r.reason);
    free(p);
    cw_engine_free(e);
}

Test(engine_ingest, over_budget_refuses_and_counts)
{
    cw_engine_options o;
    cw_engine_options_init(&o);
    o.memory_budget = 20000;
    cw_engine *e;
    cr_assert_eq(cw_engine_new(&e, &o), 0);
    /* Distinct traces until the budget is reached (re-sending one request
     * would only make duplicates). */
    cw_ingest_result r;
    int rc = CW_OK;
    char rel[64];
    for (int i = 0; i < 43 && rc == CW_OK; i++) {
        snprintf(rel, sizeof rel, "samples/basic/pb/%04d.pb", i);
        rc = cw_engine_ingest_file(e, data_path(rel), &r);
    }
    cr_assert_eq(rc, CW_EBUDGET);
    cr_assert_gt(r.rejected[CW_REJECT_OVER_BUDGET], 0);
    cr_assert_str_eq(r.reason, cw_reject_reason_str(CW_REJECT_OVER_BUDGET));
    cw_stats st;
    cw_engine_stats(e, &st);
    cr_assert_gt(st.rejected[CW_REJECT_OVER_BUDGET], 0);
    cr_assert_eq(st.spans_received, st.spans_accepted + st.spans_rejected,
                 "every span is accounted for");
    /* Completing the live traces makes room again. */
    cw_engine_flush(e);
    cr_assert_eq(cw_engine_ingest_file(e, data_path("captures/fanout-proto-0000.pb"), &r), 0);
    cw_engine_free(e);
}

/* ----------------------------------------------------------------- files */

Test(engine_files, every_format_by_name_and_by_content)
{
    const char *files[] = {
        "captures/chain-proto-0000.pb",
        "captures/chain-json-0000.json",
        "captures/chain-proto-gzip-0000.pb.gz",
        "samples/basic/all.jsonl.gz",
        "realdata/otlp-proto/zipkin-yelp.pb",
    };
    uint64_t want[] = {2, 2, 2, 0, 16};
    for (int i = 0; i < 5; i++) {
        cw_engine *e = engine();
        cw_ingest_result r;
        cr_assert_eq(cw_engine_ingest_file(e, data_path(files[i]), &r), 0, "%s: %s", files[i],
                     r.reason);
        if (want[i])
            cr_assert_eq(r.spans_accepted, want[i], "%s", files[i]);
        else
            cr_assert_gt(r.spans_accepted, 1000, "%s", files[i]);
        cw_engine_free(e);
    }
    /* Unknown names are recognized by content. */
    char tmpl[] = "/tmp/cw-test-XXXXXX";
    int fd = mkstemp(tmpl);
    size_t n;
    uint8_t *p = data("captures/retry-proto-gzip-0000.pb.gz", &n);
    cr_assert_eq(write(fd, p, n), (ssize_t)n);
    close(fd);
    free(p);
    cw_engine *e = engine();
    cw_ingest_result r;
    cr_assert_eq(cw_engine_ingest_file(e, tmpl, &r), 0, "%s", r.reason);
    cr_assert_eq(r.spans_accepted, 4);
    cw_engine_free(e);
    unlink(tmpl);
}

Test(engine_files, a_bad_line_names_its_line_and_keeps_the_lines_before)
{
    char tmpl[] = "/tmp/cw-test-XXXXXX.jsonl";
    int fd = mkstemps(tmpl, 6);
    size_t n;
    uint8_t *p = data("captures/chain-json-0000.json", &n);
    cr_assert_eq(write(fd, p, n), (ssize_t)n);
    cr_assert_eq(write(fd, "\n\n", 2), 2);
    cr_assert_eq(write(fd, "{\"resourceSpans\": [oops]}\n", 26), 26);
    close(fd);
    free(p);
    cw_engine *e = engine();
    cw_ingest_result r;
    cr_assert_eq(cw_engine_ingest_file(e, tmpl, &r), CW_EJSON);
    cr_assert_eq(r.error_line, 3);
    cr_assert_eq(r.spans_accepted, 2, "line 1 stays ingested");
    cr_assert_not_null(r.reason);
    cw_stats st;
    cw_engine_stats(e, &st);
    cr_assert_eq(st.spans_accepted, 2);
    cw_engine_free(e);
    unlink(tmpl);
}

Test(engine_files, missing_and_unreadable_files_are_io_errors)
{
    cw_engine *e = engine();
    cw_ingest_result r;
    cr_assert_eq(cw_engine_ingest_file(e, "/nonexistent/x.pb", &r), CW_EIO);
    cr_assert_str_eq(r.reason, "No such file or directory");
    cr_assert_eq(cw_engine_ingest_file(e, "/tmp", &r), CW_EIO);
    cw_engine_free(e);
}

/* ------------------------------------------------------------- callbacks */

typedef struct seen {
    int traces, chains;
    char chain_of_consumer[CW_TRACE_ID_LEN];
    int fn_ok;
} seen;

static void on_trace(void *ctx, const cw_trace_summary *s, const char *const *fns)
{
    seen *x = ctx;
    x->traces++;
    if (strcmp(s->trace_id, "1411d577addd12bba585ba3873e2f0f7") == 0) {
        strcpy(x->chain_of_consumer, s->chain_id);
        x->fn_ok = s->nfunctions == 1 && strcmp(fns[0], "fn-b") == 0;
    }
}

static void on_chain(void *ctx, const cw_chain_summary *s, const char *const *fns)
{
    seen *x = ctx;
    x->chains++;
    cr_assert_eq(s->traces, 2);
    cr_assert_str_eq(fns[0], "fn-a");
}

Test(engine_callbacks, traces_and_chains_are_reported_on_completion)
{
    cw_engine *e = engine();
    seen x = {0};
    cw_engine_on_trace(e, on_trace, &x);
    cw_engine_on_chain(e, on_chain, &x);
    cw_ingest_result r;
    cr_assert_eq(cw_engine_ingest_file(e, data_path("captures/async-json-0001.json"), &r), 0);
    cr_assert_eq(cw_engine_ingest_file(e, data_path("captures/async-json-0000.json"), &r), 0);
    cr_assert_eq(cw_engine_tick(e), 0, "nothing idle yet");
    cr_assert_eq(cw_engine_flush(e), 2);
    cr_assert_eq(x.traces, 2);
    cr_assert_eq(x.chains, 1);
    cr_assert_str_eq(x.chain_of_consumer, "0dde54ccefec5e463d1809be0554e9af");
    cr_assert(x.fn_ok);
    cw_engine_free(e);
}

/* A clock the test drives. */
static uint64_t fake_now;
static uint64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

Test(engine_callbacks, tick_completes_by_idle_time_on_the_injected_clock)
{
    cw_engine_options o;
    cw_engine_options_init(&o);
    o.clock = fake_clock;
    fake_now = 1000;
    cw_engine *e;
    cr_assert_eq(cw_engine_new(&e, &o), 0);
    cw_ingest_result r;
    cr_assert_eq(cw_engine_ingest_file(e, data_path("captures/chain-proto-0000.pb"), &r), 0);
    fake_now += o.idle_timeout_ns - 1;
    cr_assert_eq(cw_engine_tick(e), 0);
    fake_now += 1;
    cr_assert_eq(cw_engine_tick(e), 1);
    cw_engine_free(e);
}

/* --------------------------------------------------------------- queries */

/* A summary's sort key, from its public fields: the test's own reading of
 * SPEC.md, not the library's. */
static uint64_t trace_key(const cw_trace_summary *t, cw_sort by)
{
    switch (by) {
    case CW_SORT_DEPTH:
        return t->depth;
    case CW_SORT_FANOUT:
        return t->max_fanout;
    case CW_SORT_RETRIES:
        return t->retries;
    case CW_SORT_RECURSION:
        return t->max_recursion;
    default:
        return t->spans;
    }
}

static uint64_t chain_key(const cw_chain_summary *c, cw_sort by)
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

/* The SPEC order of a ranking: key descending, then size descending, then
 * id ascending. */
static bool ranks_before(uint64_t ka, uint64_t kb, uint64_t sa, uint64_t sb, const char *ida,
                         const char *idb)
{
    if (ka != kb)
        return ka > kb;
    if (sa != sb)
        return sa > sb;
    return strcmp(ida, idb) < 0;
}

/* Top-N keeps the n best in a bounded heap instead of sorting every
 * trace: what it returns for any n must be the head of the whole ranking,
 * and the whole ranking must follow the SPEC order. */
Test(engine_queries, top_n_is_the_head_of_the_whole_ranking)
{
    cw_engine *e = engine();
    cwg_options o;
    cwg_options_init(&o);
    o.seed = 11;
    o.spans = 20000;
    o.batch_spans = 512;
    o.shuffle = 0.5;
    o.retry_rate = 0.2;
    o.async_rate = 0.3;
    o.loop_rate = 0.05;
    cwg_workload w;
    cr_assert_eq(cwg_generate(&w, &o), 0);
    for (size_t i = 0; i < w.nreq; i++) {
        cwg_buf b = {0};
        cr_assert_eq(cwg_encode_pb(&w, i, &b), 0);
        cw_ingest_result r;
        cr_assert_eq(cw_engine_ingest(e, b.p, b.n, CW_ENC_PROTOBUF, &r), 0, "%s", r.reason);
        cwg_buf_free(&b);
    }
    size_t all = (size_t)w.traces + 10;
    cwg_free(&w);
    cw_engine_flush(e);

    cw_trace_summary *full = calloc(all, sizeof *full), *part = calloc(all, sizeof *part);
    cw_chain_summary *cfull = calloc(all, sizeof *cfull), *cpart = calloc(all, sizeof *cpart);
    cr_assert(full && part && cfull && cpart);
    const size_t ks[] = {1, 10, 255, 256, 257, 1000};
    for (cw_sort by = CW_SORT_DEPTH; by <= CW_SORT_SPANS; by++) {
        size_t nf, ncf, n;
        cr_assert_eq(cw_engine_top(e, by, all, full, &nf), 0);
        cr_assert_eq(nf, all - 10, "every trace once");
        for (size_t i = 1; i < nf; i++)
            cr_assert(ranks_before(trace_key(&full[i - 1], by), trace_key(&full[i], by),
                                   full[i - 1].spans, full[i].spans, full[i - 1].trace_id,
                                   full[i].trace_id),
                      "sort %d: rank %zu before %zu", (int)by, i - 1, i);
        cr_assert_eq(cw_engine_top_chains(e, by, all, cfull, &ncf), 0);
        cr_assert_gt(ncf, 100);
        for (size_t i = 1; i < ncf; i++)
            cr_assert(ranks_before(chain_key(&cfull[i - 1], by), chain_key(&cfull[i], by),
                                   cfull[i - 1].traces, cfull[i].traces, cfull[i - 1].chain_id,
                                   cfull[i].chain_id),
                      "chains, sort %d: rank %zu before %zu", (int)by, i - 1, i);
        for (size_t j = 0; j < sizeof ks / sizeof *ks; j++) {
            cr_assert_eq(cw_engine_top(e, by, ks[j], part, &n), 0);
            cr_assert_eq(n, ks[j] < nf ? ks[j] : nf);
            for (size_t i = 0; i < n; i++)
                cr_assert_str_eq(part[i].trace_id, full[i].trace_id, "sort %d, n %zu, rank %zu",
                                 (int)by, ks[j], i);
            cr_assert_eq(cw_engine_top_chains(e, by, ks[j], cpart, &n), 0);
            cr_assert_eq(n, ks[j] < ncf ? ks[j] : ncf);
            for (size_t i = 0; i < n; i++)
                cr_assert_str_eq(cpart[i].chain_id, cfull[i].chain_id,
                                 "chains, sort %d, n %zu, rank %zu", (int)by, ks[j], i);
        }
        cr_assert_eq(cw_engine_top(e, by, 0, NULL, &n), 0);
        cr_assert_eq(n, 0);
    }
    free(full);
    free(part);
    free(cfull);
    free(cpart);
    cw_engine_free(e);
}

/* A span that comes after its trace completed starts a new incarnation;
 * listings show the trace once, as its latest incarnation. */
static void ingest_json(cw_engine *e, const char *spans)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
             "\"value\":{\"stringValue\":\"svc\"}}]},\"scopeSpans\":[{\"spans\":[%s]}]}]}",
             spans);
    cw_ingest_result r;
    cr_assert_eq(cw_engine_ingest(e, body, strlen(body), CW_ENC_JSON, &r), 0, "%s", r.reason);
    cr_assert_eq(r.spans_accepted, 1);
}

#define LATE_TRACE "5b8efff798038103d269b633813fc60c"
#define LATE_SPAN(id, parent)                                                                     \
    "{\"traceId\":\"" LATE_TRACE "\",\"spanId\":\"" id "\",\"parentSpanId\":\"" parent        \
    "\",\"name\":\"op\",\"kind\":2,\"startTimeUnixNano\":\"1000\",\"endTimeUnixNano\":\"2000\"}"

Test(engine_queries, a_trace_completed_again_is_listed_once_as_its_latest_incarnation)
{
    cw_engine *e = engine();
    cw_trace_summary top[4], t;
    size_t n;
    ingest_json(e, LATE_SPAN("eee19b7ec3c1b174", ""));
    cw_engine_flush(e);
    cr_assert_eq(cw_engine_top(e, CW_SORT_SPANS, 4, top, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(top[0].spans, 1);
    /* Two late children: the second incarnation has a placeholder root. */
    ingest_json(e, LATE_SPAN("eee19b7ec3c1b175", "eee19b7ec3c1b174"));
    ingest_json(e, LATE_SPAN("eee19b7ec3c1b176", "eee19b7ec3c1b174"));
    cw_engine_flush(e);
    cr_assert_eq(cw_engine_trace(e, LATE_TRACE, &t, NULL, 0), 0);
    cr_assert_eq(t.spans, 2);
    cr_assert_eq(cw_engine_top(e, CW_SORT_SPANS, 4, top, &n), 0);
    cr_assert_eq(n, 1, "one trace, however many incarnations");
    cr_assert_str_eq(top[0].trace_id, LATE_TRACE);
    cr_assert_eq(top[0].spans, 2, "the latest incarnation");
    ingest_json(e, LATE_SPAN("eee19b7ec3c1b177", ""));
    cw_engine_flush(e);
    cr_assert_eq(cw_engine_top(e, CW_SORT_SPANS, 4, top, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(top[0].spans, 1);
    cw_engine_free(e);
}

static int to_buffer(void *ctx, const char *line, size_t len)
{
    FILE *f = ctx;
    return fwrite(line, 1, len, f) == len ? 0 : 1;
}

Test(engine_queries, top_edges_json_and_dot)
{
    cw_engine *e = engine();
    cw_ingest_result r;
    const char *fs[] = {"captures/recursion-proto-0000.pb", "captures/fanout-proto-0000.pb",
                        "captures/fanout-proto-0001.pb", "captures/retry-proto-0000.pb",
                        "captures/retry-proto-0001.pb"};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(cw_engine_ingest_file(e, data_path(fs[i]), &r), 0);
    cw_engine_flush(e);
    cw_trace_summary top[3];
    size_t n;
    cr_assert_eq(cw_engine_top(e, CW_SORT_FANOUT, 3, top, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(top[0].max_fanout, 50);
    cr_assert_eq(cw_engine_top(e, CW_SORT_RETRIES, 1, top, &n), 0);
    cr_assert_eq(top[0].retries, 2);
    cw_chain_summary ch[1];
    cr_assert_eq(cw_engine_top_chains(e, CW_SORT_RECURSION, 1, ch, &n), 0);
    cr_assert_eq(ch[0].max_recursion, 20);
    cr_assert_eq(ch[0].traces, 20);
    cr_assert_eq(cw_engine_top(e, (cw_sort)99, 1, top, &n), CW_EINVAL);

    /* JSON: sizes like snprintf, objects parse back field by field. */
    const char *fns[8];
    cw_trace_summary t;
    cr_assert_eq(cw_engine_trace(e, top[0].trace_id, &t, fns, 8), 0);
    char small[16];
    size_t need = cw_trace_json(&t, fns, small, sizeof small);
    cr_assert_gt(need, sizeof small);
    cr_assert_eq(strlen(small), sizeof small - 1);
    char *big = malloc(need + 1);
    cr_assert_eq(cw_trace_json(&t, fns, big, need + 1), need);
    cr_assert(strstr(big, "\"retries\":2"));
    cr_assert(strstr(big, "\"complete\":true}"));
    free(big);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(cw_engine_dump(e, CW_DUMP_ALL, to_buffer, f), 0);
    fclose(f);
    cr_assert_gt(len, 1000);
    cr_assert_eq(strncmp(buf, "{\"type\":\"trace\"", 15), 0);
    cr_assert(strstr(buf, "{\"type\":\"edge\",\"caller\":\"fn-a\",\"callee\":\"fn-b\",\"kind\":\"sync\""));
    free(buf);

    f = open_memstream(&buf, &len);
    cr_assert_eq(cw_engine_dot(e, ch[0].chain_id, to_buffer, f), 0);
    fclose(f);
    cr_assert_eq(strncmp(buf, "digraph", 7), 0);
    cr_assert(strstr(buf, "style=dotted"), "link edges of the queue loop");
    free(buf);
    cr_assert_eq(cw_engine_dot(e, "ffffffffffffffffffffffffffffffff", to_buffer, NULL),
                 CW_ENOTFOUND);
    cr_assert_eq(cw_engine_dot(e, "xyz", to_buffer, NULL), CW_EINVAL);
    cw_engine_free(e);
}

/* ------------------------------------------------------------ completion */

/* Every summary, chain and edge of a flush, as JSON lines (caller frees). */
static char *flushed_dump(unsigned threads, uint64_t expected, const cwt_requests *q,
                          cw_stats *st)
{
    cw_engine_options o;
    cw_engine_options_init(&o);
    o.completion_threads = threads;
    o.expected_spans = expected;
    cw_engine *e;
    cr_assert_eq(cw_engine_new(&e, &o), 0);
    for (size_t r = 0; r < q->n; r++) {
        cw_ingest_result res;
        cr_assert_eq(cw_engine_ingest(e, q->r[r].p, q->r[r].n, CW_ENC_PROTOBUF, &res), 0);
    }
    cw_engine_flush(e);
    cw_engine_stats(e, st);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(cw_engine_dump(e, CW_DUMP_ALL, to_buffer, f), 0);
    fclose(f);
    cw_engine_free(e);
    return buf;
}

/* The first mismatching line of two dumps, for a failure message. */
static const char *first_difference(const char *a, const char *b)
{
    size_t at = 0;
    while (a[at] && a[at] == b[at])
        at++;
    while (at > 0 && a[at - 1] != '\n')
        at--;
    return a + at;
}

Test(engine_completion, any_number_of_threads_gives_the_same_summaries, .timeout = 120)
{
    /* Big enough for the flush to start helpers (8,192 spans), with
     * retries, queue hops (links across traces), loops and redeliveries. */
    cwt_requests q;
    cr_assert_eq(cwt_requests_pb(&q, 11, 40000, 400, 0.3), 0);
    cw_stats one, many;
    char *a = flushed_dump(1, 0, &q, &one);
    char *b = flushed_dump(4, 0, &q, &many);
    cr_assert_gt(one.traces_completed, 1000);
    cr_assert_gt(one.chains, 0);
    cr_assert_lt(one.chains, one.summaries, "some chains join traces through links");
    cr_assert_eq(many.traces_completed, one.traces_completed);
    cr_assert_eq(many.summaries, one.summaries);
    cr_assert_eq(many.chains, one.chains);
    cr_assert_eq(many.links_unresolved, one.links_unresolved);
    cr_assert(strcmp(a, b) == 0, "with 4 threads, differs from:\n%.300s",
              first_difference(a, b));
    free(a);
    free(b);
    cwt_requests_free(&q);
}

Test(engine_completion, indexes_sized_for_fewer_spans_give_the_same_summaries, .timeout = 120)
{
    /* expected_spans sizes the span index (4 slots a planned span) and
     * bounds the nodes it can hold (3 a planned span): planned for 8,000
     * it holds these 20,000 spans, an estimate 2.5 times too low. */
    cwt_requests q;
    cr_assert_eq(cwt_requests_pb(&q, 12, 20000, 400, 0.3), 0);
    cw_stats big, small;
    char *a = flushed_dump(2, 0, &q, &big);
    char *b = flushed_dump(2, 8000, &q, &small);
    cr_assert_gt(big.traces_completed, 500);
    cr_assert(strcmp(a, b) == 0, "small indexes differ from:\n%.300s", first_difference(a, b));
    cr_assert_eq(small.spans_accepted, big.spans_accepted);
    cr_assert_lt(small.bytes_in_use, big.bytes_in_use, "smaller indexes, fewer bytes");
    free(a);
    free(b);
    cwt_requests_free(&q);
}

Test(engine_completion, an_index_planned_too_small_refuses_spans_and_counts_them)
{
    /* Planned for 16 spans: 64 slots, at most 48 nodes. The rest of a
     * request is refused as out of memory (counted, never a hang in a full
     * table), and completing frees room for the next. */
    cwt_requests q;
    cr_assert_eq(cwt_requests_pb(&q, 13, 2000, 400, 0.3), 0);
    cw_engine_options o;
    cw_engine_options_init(&o);
    o.expected_spans = 16;
    cw_engine *e;
    cr_assert_eq(cw_engine_new(&e, &o), 0);
    uint64_t accepted = 0, refused = 0;
    for (size_t r = 0; r < q.n; r++) {
        cw_ingest_result res;
        cr_assert_eq(cw_engine_ingest(e, q.r[r].p, q.r[r].n, CW_ENC_PROTOBUF, &res), 0);
        accepted += res.spans_accepted;
        refused += res.rejected[CW_REJECT_NO_MEMORY];
        cw_engine_flush(e);
    }
    cw_stats st;
    cw_engine_stats(e, &st);
    cr_assert_gt(accepted, 48 * q.n / 2, "each flush makes room again");
    cr_assert_gt(refused, 0);
    cr_assert_eq(st.rejected[CW_REJECT_NO_MEMORY], refused);
    cr_assert_eq(st.spans_accepted, accepted);
    cw_engine_free(e);
    cwt_requests_free(&q);
}

/* -------------------------------------------------- allocation failures */

/* An allocator that fails the Nth allocation (and counts bytes itself). */
/* Atomic: an engine calls its allocator from its completion threads too. */
typedef struct failing {
    long n;
    _Atomic long calls;
    _Atomic long long bytes;
} failing;

static bool f_fails(failing *f)
{
    return atomic_fetch_add(&f->calls, 1) + 1 == f->n;
}

static void *f_malloc(void *ctx, size_t size)
{
    failing *f = ctx;
    if (f_fails(f))
        return NULL;
    atomic_fetch_add(&f->bytes, (long long)size);
    return malloc(size);
}

static void *f_calloc(void *ctx, size_t size)
{
    failing *f = ctx;
    if (f_fails(f))
        return NULL;
    atomic_fetch_add(&f->bytes, (long long)size);
    return calloc(1, size);
}

static void *f_realloc(void *ctx, void *p, size_t old, size_t size)
{
    failing *f = ctx;
    if (f_fails(f))
        return NULL;
    void *q = realloc(p, size);
    if (q)
        atomic_fetch_add(&f->bytes, (long long)size - (long long)old);
    return q;
}

static void f_free(void *ctx, void *p, size_t size)
{
    failing *f = ctx;
    if (p)
        atomic_fetch_sub(&f->bytes, (long long)size);
    free(p);
}

static int discard(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    (void)line;
    (void)len;
    return 0;
}

/* The whole life of an engine with allocation N failing: every call either
 * succeeds or reports CW_ENOMEM / a rejection, nothing crashes, and every
 * byte comes back. Returns the number of allocations the run made. */
static long run_with_failure(long n)
{
    failing f = {.n = n};
    cw_engine_options o;
    cw_engine_options_init(&o);
    o.allocator = (cw_allocator){f_malloc, f_realloc, f_free, f_calloc, &f};
    o.memory_budget = 1 << 22;
    o.summary_budget = 1 << 20;
    o.intern_limit = 1024;
    cw_engine *e;
    int rc = cw_engine_new(&e, &o);
    if (rc) {
        cr_assert_eq(rc, CW_ENOMEM);
        cr_assert_eq(f.bytes, 0, "failure %ld at creation leaks %lld bytes", n, f.bytes);
        return f.calls;
    }
    const char *fs[] = {"captures/async-proto-0000.pb", "captures/async-json-0001.json",
                        "captures/retry-proto-gzip-0000.pb.gz"};
    for (int i = 0; i < 3; i++) {
        cw_ingest_result r;
        rc = cw_engine_ingest_file(e, data_path(fs[i]), &r);
        cr_assert(rc == 0 || rc == CW_ENOMEM, "failure %ld: %s", n, cw_strerror(rc));
    }
    cw_engine_flush(e);
    cw_engine_dump(e, CW_DUMP_ALL, discard, NULL);
    cw_trace_summary t;
    cw_engine_trace(e, "0dde54ccefec5e463d1809be0554e9af", &t, NULL, 0);
    cw_detail *d;
    if (cw_engine_detail(e, "0dde54ccefec5e463d1809be0554e9af", &d) == 0)
        cw_detail_free(d);
    cw_engine_free(e);
    cr_assert_eq(f.bytes, 0, "failure %ld leaks %lld bytes", n, f.bytes);
    return f.calls;
}

Test(engine_memory, failing_every_allocation_in_turn_crashes_and_leaks_nothing, .timeout = 600)
{
    long total = run_with_failure(0); /* 0: nothing fails */
    cr_assert_gt(total, 20);
    for (long n = 1; n <= total; n++)
        run_with_failure(n);
}

/* An engine with default options on the counting allocator f. */
static cw_engine *counted_engine(failing *f)
{
    cw_engine_options o;
    cw_engine_options_init(&o);
    o.allocator = (cw_allocator){f_malloc, f_realloc, f_free, f_calloc, f};
    cw_engine *e;
    cr_assert_eq(cw_engine_new(&e, &o), 0);
    return e;
}

/* One engine on the failing allocator, completion_threads 4: ingests q,
 * then fails the k-th allocation from the flush on (0: none). Returns the
 * allocations the flush made. Nothing may crash or leak. */
static long parallel_flush_failing(const cwt_requests *q, long k)
{
    failing f = {0};
    cw_engine_options o;
    cw_engine_options_init(&o);
    o.allocator = (cw_allocator){f_malloc, f_realloc, f_free, f_calloc, &f};
    o.completion_threads = 4;
    cw_engine *e;
    cr_assert_eq(cw_engine_new(&e, &o), 0);
    for (size_t r = 0; r < q->n; r++) {
        cw_ingest_result res;
        cr_assert_eq(cw_engine_ingest(e, q->r[r].p, q->r[r].n, CW_ENC_PROTOBUF, &res), 0);
    }
    long before = atomic_load(&f.calls);
    if (k)
        f.n = before + k;
    cw_engine_flush(e);
    long made = atomic_load(&f.calls) - before;
    /* What a failure left live (the sweep's own list could not grow)
     * completes on the next sweep: nothing is stuck. */
    cw_engine_flush(e);
    cw_stats st;
    cw_engine_stats(e, &st);
    cr_assert_eq(st.traces_live, 0, "failure %ld: every trace completed", k);
    cr_assert_eq((long long)st.bytes_in_use, atomic_load(&f.bytes), "failure %ld: counted", k);
    cw_engine_dump(e, CW_DUMP_ALL, discard, NULL);
    cw_engine_free(e);
    cr_assert_eq(atomic_load(&f.bytes), 0, "failure %ld of the flush leaks %lld bytes", k,
                 (long long)atomic_load(&f.bytes));
    return made;
}

Test(engine_memory, allocation_failures_in_a_parallel_flush_crash_and_leak_nothing,
     .timeout = 300)
{
    /* Past 8,192 spans: gathering, helper analyses, the committing thread
     * and the parallel chain finish all run, and any of their allocations
     * may be the one that fails (which one is the k-th varies with the
     * threads' interleaving; every outcome must be clean). */
    cwt_requests q;
    cr_assert_eq(cwt_requests_pb(&q, 13, 12000, 400, 0.3), 0);
    long total = parallel_flush_failing(&q, 0);
    cr_assert_gt(total, 1000);
    for (long k = 1; k <= total; k = k < 64 ? k + 1 : k + k / 4)
        parallel_flush_failing(&q, k);
    cwt_requests_free(&q);
}

Test(engine_memory, steady_state_ingest_allocates_nothing)
{
    failing f = {0};
    cw_engine *e = counted_engine(&f);
    size_t n;
    uint8_t *p = data("captures/fanout-proto-gzip-0000.pb.gz", &n);
    cw_ingest_result r;
    /* A few rounds until both workspaces in play have every buffer (which
     * one a call gets depends on the order they came back in). */
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(cw_engine_ingest(e, p, n, CW_ENC_PROTOBUF | CW_ENC_GZIP, &r), 0);
        cr_assert_eq(cw_engine_ingest_file(e, data_path("captures/fanout-proto-0000.pb"), &r),
                     0);
    }
    long calls = f.calls;
    long long bytes = f.bytes;
    /* The same request and file again: duplicates, which the graph keeps
     * in place, decoded, inflated and read into the kept buffers. */
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(cw_engine_ingest(e, p, n, CW_ENC_PROTOBUF | CW_ENC_GZIP, &r), 0);
        cr_assert_eq(r.spans_accepted, 51);
        cr_assert_eq(cw_engine_ingest_file(e, data_path("captures/fanout-proto-0000.pb"), &r),
                     0);
        cr_assert_eq(r.spans_accepted, 51);
    }
    cr_assert_eq(f.calls, calls, "%ld allocator calls in 40 steady-state ingests",
                 f.calls - calls);
    cr_assert_eq(f.bytes, bytes);
    cw_stats st;
    cw_engine_stats(e, &st);
    cr_assert_eq(st.duplicates, 23 * 102);
    cr_assert_eq((long long)st.bytes_in_use, f.bytes, "the engine counts what it holds");
    free(p);
    cw_engine_flush(e);
    cw_engine_free(e);
    cr_assert_eq(f.bytes, 0);
}

Test(engine_memory, teardown_returns_every_byte)
{
    failing f = {0};
    cw_engine *e = counted_engine(&f);
    cw_ingest_result r;
    cr_assert_eq(cw_engine_ingest_file(e, data_path("samples/mixed/all.jsonl.gz"), &r), 0);
    cw_stats st;
    cw_engine_stats(e, &st);
    cr_assert_eq((long long)st.bytes_in_use, f.bytes, "the engine counts what it holds");
    cw_engine_flush(e);
    cw_engine_free(e);
    cr_assert_eq(f.bytes, 0);
}
