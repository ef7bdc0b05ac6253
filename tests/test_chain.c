/*
 * lib/chain: each rule of SPEC.md section 2, through the public API, and the
 * large shapes (a million spans, a fan-out of 100,000).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "query/engine.h"

/* ------------------------------------------------------- request builder */

/* One span of a test request. Ids are short hex strings, left-padded. */
typedef struct sp {
    const char *trace, *span, *parent;
    const char *fn;      /* resource service.name */
    int kind;
    int start, end;      /* microseconds */
    int status;
    const char *attrs;   /* JSON array body, may be NULL */
    const char *links;   /* "trace:span,trace:span", may be NULL */
    const char *name;
} sp;

static void pad(char *out, const char *id, int width)
{
    int n = (int)strlen(id);
    sprintf(out, "%0*d%s", width - n, 0, id);
}

static char *request(const sp *s, size_t n)
{
    size_t cap = 4096 + n * 2048, k = 0;
    char *b = malloc(cap);
    cr_assert_not_null(b);
    k += (size_t)sprintf(b + k, "{\"resourceSpans\":[");
    for (size_t i = 0; i < n; i++) {
        char t[40], id[40], par[40];
        pad(t, s[i].trace, 32);
        pad(id, s[i].span, 16);
        k += (size_t)sprintf(b + k,
                             "%s{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
                             "{\"stringValue\":\"%s\"}}]},\"scopeSpans\":[{\"spans\":[{\"traceId\":"
                             "\"%s\",\"spanId\":\"%s\",\"name\":\"%s\",\"kind\":%d,"
                             "\"startTimeUnixNano\":\"%d\",\"endTimeUnixNano\":\"%d\"",
                             i ? "," : "", s[i].fn, t, id, s[i].name ? s[i].name : "op",
                             s[i].kind, s[i].start * 1000,
                             (s[i].end ? s[i].end : s[i].start + 10) * 1000);
        if (s[i].parent) {
            pad(par, s[i].parent, 16);
            k += (size_t)sprintf(b + k, ",\"parentSpanId\":\"%s\"", par);
        }
        if (s[i].status)
            k += (size_t)sprintf(b + k, ",\"status\":{\"code\":%d}", s[i].status);
        if (s[i].attrs)
            k += (size_t)sprintf(b + k, ",\"attributes\":[%s]", s[i].attrs);
        if (s[i].links) {
            k += (size_t)sprintf(b + k, ",\"links\":[");
            char *copy = strdup(s[i].links), *save = NULL;
            int first = 1;
            for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                char *colon = strchr(tok, ':');
                *colon = '\0';
                char lt[40], ls[40];
                pad(lt, tok, 32);
                pad(ls, colon + 1, 16);
                k += (size_t)sprintf(b + k, "%s{\"traceId\":\"%s\",\"spanId\":\"%s\"}",
                                     first ? "" : ",", lt, ls);
                first = 0;
            }
            free(copy);
            k += (size_t)sprintf(b + k, "]");
        }
        k += (size_t)sprintf(b + k, "}]}]}");
        cr_assert_lt(k, cap - 2048);
    }
    sprintf(b + k, "]}");
    return b;
}

static cw_engine *analyse(const sp *s, size_t n)
{
    cw_engine *e;
    cr_assert_eq(cw_engine_new(&e, NULL), 0);
    char *js = request(s, n);
    cw_ingest_result res;
    int rc = cw_engine_ingest(e, js, strlen(js), CW_ENC_JSON, &res);
    cr_assert_eq(rc, 0, "ingest: %s at %llu\n%s", res.reason,
                 (unsigned long long)res.error_offset, js);
    free(js);
    cw_engine_flush(e);
    return e;
}

static cw_trace_summary trace(cw_engine *e, const char *t, const char **fns, size_t cap)
{
    char id[40];
    pad(id, t, 32);
    cw_trace_summary s;
    int rc = cw_engine_trace(e, id, &s, fns, cap);
    cr_assert_eq(rc, 0, "trace %s: %s", id, cw_strerror(rc));
    return s;
}

static cw_chain_summary chain(cw_engine *e, const char *t)
{
    char id[40];
    pad(id, t, 32);
    cw_chain_summary s;
    int rc = cw_engine_chain(e, id, &s, NULL, 0);
    cr_assert_eq(rc, 0, "chain %s: %s", id, cw_strerror(rc));
    return s;
}

enum { INTERNAL = 1, SERVER = 2, CLIENT = 3, PRODUCER = 4, CONSUMER = 5 };

#define INVOKE(fn) "{\"key\":\"faas.invoked_name\",\"value\":{\"stringValue\":\"" fn "\"}}"
#define HTTP(code) "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":" #code "}}"
#define RESEND(n) "{\"key\":\"http.request.resend_count\",\"value\":{\"intValue\":" #n "}}"
#define INVID(x) "{\"key\":\"faas.invocation_id\",\"value\":{\"stringValue\":\"" x "\"}}"
#define FAAS(fn) "{\"key\":\"faas.name\",\"value\":{\"stringValue\":\"" fn "\"}}"

/* ------------------------------------------------------------ the rules */

Test(chain_rules, invocations_start_at_server_consumer_root_other_function_and_orphan)
{
    sp s[] = {
        {"1", "a1", NULL, "api", SERVER, 0, 100},     /* root, SERVER */
        {"1", "a2", "a1", "api", INTERNAL, 1, 5},     /* same invocation */
        {"1", "a3", "a1", "api", CLIENT, 6, 50},      /* call site */
        {"1", "b1", "a3", "orders", INTERNAL, 7, 40}, /* other function: entry */
        {"1", "b2", "b1", "orders", SERVER, 8, 30},   /* SERVER: entry, same fn */
        {"1", "c1", "ff", "api", INTERNAL, 60, 70},   /* orphan: entry */
    };
    cw_engine *e = analyse(s, 6);
    const char *fns[4];
    cw_trace_summary t = trace(e, "1", fns, 4);
    cr_assert_eq(t.spans, 6);
    cr_assert_eq(t.invocations, 4);
    cr_assert_eq(t.depth, 3, "api -> orders -> orders (SERVER)");
    cr_assert_eq(t.span_depth, 4);
    cr_assert_eq(t.max_span_fanout, 2);
    cr_assert_eq(t.max_fanout, 1);
    cr_assert_eq(t.nfunctions, 2);
    cr_assert_str_eq(fns[0], "api");
    cr_assert_str_eq(fns[1], "orders");
    cr_assert_str_eq(t.root_function, "api");
    cr_assert_eq(t.complete, 1);
    cr_assert_eq(t.start_unix_nano, 0);
    cr_assert_eq(t.duration_ns, 100000);
    cw_engine_free(e);
}

Test(chain_rules, orphans_have_span_depth_one_and_are_not_a_fanout)
{
    sp s[] = {
        {"1", "a1", "ff", "api", INTERNAL, 0, 10},
        {"1", "a2", "ff", "api", INTERNAL, 1, 10},
        {"1", "a3", "a2", "api", INTERNAL, 2, 10},
    };
    cw_engine *e = analyse(s, 3);
    cw_trace_summary t = trace(e, "1", NULL, 0);
    cr_assert_eq(t.span_depth, 2);
    cr_assert_eq(t.max_span_fanout, 1, "the missing parent's two children are orphans");
    cr_assert_eq(t.invocations, 2, "each orphan starts an invocation");
    cr_assert_str_eq(t.root_function, "api", "no parentless entry: the earliest entry");
    cw_engine_free(e);
}

Test(chain_rules, self_calls_are_recursion)
{
    sp s[] = {
        {"1", "1", NULL, "fib", SERVER, 0, 100}, {"1", "2", "1", "fib", CLIENT, 1, 90},
        {"1", "3", "2", "fib", SERVER, 2, 80},   {"1", "4", "3", "fib", CLIENT, 3, 70},
        {"1", "5", "4", "fib", SERVER, 4, 60},   {"1", "6", "5", "other", CLIENT, 5, 50},
        {"1", "7", "6", "other", SERVER, 6, 40},
    };
    cw_engine *e = analyse(s, 7);
    cw_trace_summary t = trace(e, "1", NULL, 0);
    cr_assert_eq(t.invocations, 5, "span 6 (other) has a fib parent: an entry");
    cr_assert_eq(t.depth, 5);
    cr_assert_eq(t.max_recursion, 3);
    char id[40];
    pad(id, "1", 32);
    cw_detail *d;
    cr_assert_eq(cw_engine_detail(e, id, &d), 0);
    uint32_t occ;
    cr_assert_str_eq(cw_detail_loop_function(d, &occ), "fib");
    cr_assert_eq(occ, 3);
    const char *path[8];
    uint64_t spans[8];
    cr_assert_eq(cw_detail_loop_path(d, path, spans, 8), 3);
    cr_assert_str_eq(path[0], "fib");
    cr_assert_eq(spans[0], 1);
    cr_assert_eq(spans[2], 5);
    cw_detail_free(d);
    cw_engine_free(e);
}

Test(chain_rules, a_batch_consumer_with_several_links_has_several_callers)
{
    sp s[] = {
        {"1", "11", NULL, "producer-a", SERVER, 0, 100},
        {"1", "12", "11", "producer-a", PRODUCER, 1, 2},
        {"2", "21", NULL, "producer-b", SERVER, 3, 100},
        {"2", "22", "21", "producer-b", PRODUCER, 4, 5},
        {"3", "31", NULL, "consumer", CONSUMER, 10, 20, 0, NULL, "1:12,2:22,1:11"},
        {"3", "32", "31", "consumer", CLIENT, 11, 19, 0, INVOKE("sink")},
        {"3", "33", "32", "sink", SERVER, 12, 18},
    };
    cw_engine *e = analyse(s, 7);
    cw_chain_summary c = chain(e, "1");
    cr_assert_eq(c.traces, 3);
    cr_assert_eq(c.invocations, 4);
    cr_assert_eq(c.depth, 3, "producer -> consumer -> sink");
    cr_assert_eq(trace(e, "1", NULL, 0).max_fanout, 1,
                 "two links into one producer invocation count once");
    cr_assert_eq(trace(e, "2", NULL, 0).max_fanout, 1);
    cw_trace_summary t3 = trace(e, "3", NULL, 0);
    cr_assert_str_eq(t3.chain_id, "00000000000000000000000000000001");
    cr_assert_eq(t3.depth, 2);
    cw_edge_summary edges[8];
    size_t n;
    cr_assert_eq(cw_engine_edges(e, edges, 8, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(edges[0].caller, "consumer");
    cr_assert_eq(edges[0].async, 0);
    cr_assert_str_eq(edges[1].caller, "producer-a");
    cr_assert_eq(edges[1].async, 1);
    cr_assert_eq(edges[1].calls, 1);
    cr_assert_str_eq(edges[2].caller, "producer-b");
    cw_engine_free(e);
}

Test(chain_rules, platform_redelivery_counts_as_retries)
{
    sp s[] = {
        {"1", "1", NULL, "api", PRODUCER, 0, 5},
        {"1", "2", "1", "worker", CONSUMER, 10, 20, 2, INVID("evt-1")},
        {"1", "3", "1", "worker", CONSUMER, 30, 40, 2, INVID("evt-1")},
        {"1", "4", "1", "worker", CONSUMER, 50, 60, 0, INVID("evt-1")},
        {"1", "5", "1", "worker", CONSUMER, 70, 80, 0, INVID("evt-2")},
    };
    cw_engine *e = analyse(s, 5);
    cw_trace_summary t = trace(e, "1", NULL, 0);
    cr_assert_eq(t.retries, 2);
    cr_assert_eq(t.errors, 2);
    cr_assert_eq(chain(e, "1").retries, 2);
    char id[40];
    pad(id, "1", 32);
    cw_detail *d;
    cr_assert_eq(cw_engine_detail(e, id, &d), 0);
    cr_assert_eq(cw_detail_retry_count(d), 1);
    cw_retry_group g;
    cr_assert_eq(cw_detail_retry_group(d, 0, &g), 0);
    cr_assert(g.redelivery);
    cr_assert_eq(g.attempts, 3);
    cr_assert_eq(g.failed, 2);
    cr_assert_eq(g.nspans, 3);
    cr_assert_eq(g.final_status, 0);
    cw_detail_free(d);
    cw_engine_free(e);
}

Test(chain_rules, successful_repeated_calls_are_not_retries)
{
    sp s[] = {
        {"1", "1", NULL, "api", SERVER, 0, 100},
        {"1", "2", "1", "api", CLIENT, 1, 5, 0, INVOKE("orders")},
        {"1", "3", "1", "api", CLIENT, 6, 9, 0, INVOKE("orders")},
        {"1", "4", "1", "api", CLIENT, 10, 15, 0, INVOKE("orders")},
    };
    cw_engine *e = analyse(s, 4);
    cr_assert_eq(trace(e, "1", NULL, 0).retries, 0);
    cw_engine_free(e);
}

Test(chain_rules, a_retry_follows_a_failure_or_carries_a_resend_count)
{
    sp s[] = {
        {"1", "1", NULL, "api", SERVER, 0, 100},
        /* orders: error, 503, ok -> 2 retries */
        {"1", "2", "1", "api", CLIENT, 1, 5, 2, INVOKE("orders")},
        {"1", "3", "1", "api", CLIENT, 6, 9, 0, INVOKE("orders") "," HTTP(503)},
        {"1", "4", "1", "api", CLIENT, 10, 15, 0, INVOKE("orders")},
        /* billing: 429 then ok -> 1 retry; a later ok -> not a retry */
        {"1", "5", "1", "api", CLIENT, 20, 25, 0, INVOKE("billing") "," HTTP(429)},
        {"1", "6", "1", "api", CLIENT, 26, 30, 0, INVOKE("billing")},
        {"1", "7", "1", "api", CLIENT, 31, 35, 0, INVOKE("billing")},
        /* auth: a lone attempt with resend_count >= 1 is a retry */
        {"1", "8", "1", "api", CLIENT, 40, 45, 0, INVOKE("auth") "," RESEND(1)},
        /* a 404 is not a failure: the next call is not a retry */
        {"1", "9", "1", "api", CLIENT, 50, 55, 0, INVOKE("cart") "," HTTP(404)},
        {"1", "a", "1", "api", CLIENT, 56, 60, 0, INVOKE("cart")},
    };
    cw_engine *e = analyse(s, 10);
    cr_assert_eq(trace(e, "1", NULL, 0).retries, 4);
    char id[40];
    pad(id, "1", 32);
    cw_detail *d;
    cr_assert_eq(cw_engine_detail(e, id, &d), 0);
    cr_assert_eq(cw_detail_retry_count(d), 3);
    cw_retry_group g;
    bool seen_orders = false;
    for (size_t i = 0; i < 3; i++) {
        cw_detail_retry_group(d, i, &g);
        if (strcmp(g.target, "orders") == 0) {
            seen_orders = true;
            cr_assert_eq(g.attempts, 3);
            cr_assert_eq(g.failed, 2);
            cr_assert_eq(g.retries, 2);
            cr_assert_eq(g.final_status, 0);
            cr_assert_str_eq(g.caller, "api");
            cr_assert_eq(g.span_ids[0], 2);
            cr_assert_eq(g.span_ids[2], 4);
        }
    }
    cr_assert(seen_orders);
    cw_detail_free(d);
    cw_engine_free(e);
}

Test(chain_rules, a_call_site_without_target_attributes_groups_by_callee_then_name)
{
    sp s[] = {
        {"1", "1", NULL, "api", SERVER, 0, 100},
        /* Two failing calls whose callee invocations name them as parent:
         * grouped by the callee function. */
        {"1", "2", "1", "api", CLIENT, 1, 5, 2, NULL, NULL, "call-a"},
        {"1", "3", "2", "orders", SERVER, 2, 4, 2},
        {"1", "4", "1", "api", CLIENT, 6, 9, 0, NULL, NULL, "call-b"},
        {"1", "5", "4", "orders", SERVER, 7, 8},
        /* No callee: grouped by span name. */
        {"1", "6", "1", "api", CLIENT, 20, 25, 2, NULL, NULL, "GET /x"},
        {"1", "7", "1", "api", CLIENT, 26, 30, 0, NULL, NULL, "GET /x"},
    };
    cw_engine *e = analyse(s, 7);
    cr_assert_eq(trace(e, "1", NULL, 0).retries, 2);
    cw_engine_free(e);
}

Test(chain_rules, links_to_spans_never_received_are_ignored)
{
    sp s[] = {
        {"1", "1", NULL, "worker", CONSUMER, 0, 10, 0, NULL, "9:99,1:77"},
    };
    cw_engine *e = analyse(s, 1);
    cw_trace_summary t = trace(e, "1", NULL, 0);
    cr_assert_eq(t.invocations, 1);
    cr_assert_eq(t.max_fanout, 0);
    cw_chain_summary c = chain(e, "1");
    cr_assert_eq(c.traces, 1);
    size_t n;
    cw_engine_edges(e, NULL, 0, &n);
    cr_assert_eq(n, 0);
    char id[40];
    pad(id, "9", 32);
    cw_trace_summary none;
    cr_assert_eq(cw_engine_trace(e, id, &none, NULL, 0), CW_ENOTFOUND,
                 "a trace of placeholders only has no summary");
    cw_engine_free(e);
}

Test(chain_rules, parent_cycles_are_cut_not_fatal)
{
    sp s[] = {
        {"1", "1", "3", "api", INTERNAL, 0, 10},
        {"1", "2", "1", "api", INTERNAL, 1, 10},
        {"1", "3", "2", "api", INTERNAL, 2, 10},
        {"1", "4", "3", "api", INTERNAL, 3, 10},
        {"1", "5", "5", "api", INTERNAL, 4, 10}, /* its own parent */
    };
    cw_engine *e = analyse(s, 5);
    cw_trace_summary t = trace(e, "1", NULL, 0);
    cr_assert_eq(t.spans, 5);
    cr_assert_eq(t.span_depth, 4, "span 1 (earliest) loses its parent: 1-2-3-4");
    cr_assert_eq(t.invocations, 2);
    cw_engine_free(e);
}

Test(chain_rules, duplicates_count_once_and_the_later_copy_wins)
{
    sp s[] = {
        {"1", "1", NULL, "api", SERVER, 0, 100},
        {"1", "2", "1", "api", CLIENT, 1, 5, 0, INVOKE("x")},
        {"1", "2", "1", "api", CLIENT, 1, 5, 2, INVOKE("x")}, /* now an error */
        {"1", "3", "1", "api", CLIENT, 6, 9, 0, INVOKE("x")},
    };
    cw_engine *e = analyse(s, 4);
    cw_trace_summary t = trace(e, "1", NULL, 0);
    cr_assert_eq(t.spans, 3);
    cr_assert_eq(t.errors, 1);
    cr_assert_eq(t.retries, 1, "the later copy failed, so the next call is a retry");
    cw_stats st;
    cw_engine_stats(e, &st);
    cr_assert_eq(st.duplicates, 1);
    cw_engine_free(e);
}

Test(chain_rules, faas_name_on_spans_names_the_function)
{
    /* Azure style: one app (service.name) hosts several functions. */
    sp s[] = {
        {"1", "1", NULL, "app", SERVER, 0, 100, 0, FAAS("HttpStart")},
        {"1", "2", "1", "app", CLIENT, 1, 50, 0, FAAS("HttpStart")},
        {"1", "3", "2", "app", SERVER, 2, 40, 0, FAAS("Activity")},
    };
    cw_engine *e = analyse(s, 3);
    const char *fns[4];
    cw_trace_summary t = trace(e, "1", fns, 4);
    cr_assert_eq(t.nfunctions, 2);
    cr_assert_str_eq(fns[0], "HttpStart");
    cr_assert_str_eq(fns[1], "Activity");
    cr_assert_eq(t.depth, 2);
    cw_engine_free(e);
}

Test(chain_rules, async_loops_through_queues_are_chain_recursion)
{
    sp s[] = {
        {"1", "11", NULL, "loop", SERVER, 0, 10},
        {"1", "12", "11", "loop", PRODUCER, 1, 2},
        {"2", "21", NULL, "loop", CONSUMER, 20, 30, 0, NULL, "1:12"},
        {"2", "22", "21", "loop", PRODUCER, 21, 22},
        {"3", "31", NULL, "loop", CONSUMER, 40, 50, 0, NULL, "2:22"},
    };
    cw_engine *e = analyse(s, 5);
    cw_chain_summary c = chain(e, "1");
    cr_assert_eq(c.traces, 3);
    cr_assert_eq(c.depth, 3);
    cr_assert_eq(c.max_recursion, 3);
    cr_assert_eq(trace(e, "2", NULL, 0).max_recursion, 1, "per trace: parent edges only");
    cw_engine_free(e);
}

Test(chain_rules, a_live_trace_has_a_summary_marked_incomplete)
{
    cw_engine *e;
    cr_assert_eq(cw_engine_new(&e, NULL), 0);
    sp s[] = {{"1", "1", NULL, "api", SERVER, 0, 100}, {"1", "2", "1", "api", CLIENT, 1, 5}};
    char *js = request(s, 2);
    cr_assert_eq(cw_engine_ingest(e, js, strlen(js), CW_ENC_JSON, NULL), 0);
    free(js);
    cw_trace_summary t = trace(e, "1", NULL, 0);
    cr_assert_eq(t.complete, 0);
    cr_assert_eq(t.spans, 2);
    cw_engine_flush(e);
    cr_assert_eq(trace(e, "1", NULL, 0).complete, 1);
    cw_engine_free(e);
}

/* ---------------------------------------------------------- large shapes */

/* Inserts records straight into the engine's graph (a million spans as JSON
 * would test the test). */
static void insert_batch(cw_engine *e, cw__span *spans, size_t n)
{
    cw__batch b;
    cw__batch_init(&b, &e->mem);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(cw__batch_push_span(&b, &spans[i]), 0);
    cw__insert_result res;
    cr_assert_eq(cw__graph_insert(e->g, &b, 0, &res), 0);
    cr_assert_eq(res.accepted, n);
    cw__batch_free(&b);
}

static cw__span big_span(uint64_t id, uint64_t parent, uint32_t fn, int kind)
{
    cw__span s;
    memset(&s, 0, sizeof s);
    s.trace = (cw__tid){0, 0xb16};
    s.span_id = id;
    s.parent_id = parent;
    s.function = fn;
    s.kind = (uint8_t)kind;
    s.start_ns = 1000 + id;
    s.end_ns = 2000000000 - id;
    return s;
}

Test(chain_large, a_trace_of_a_million_spans_in_one_path, .timeout = 600)
{
    cw_engine *e;
    cw_engine_options o;
    cw_engine_options_init(&o);
    o.memory_budget = 1ull << 30;
    cr_assert_eq(cw_engine_new(&e, &o), 0);
    uint32_t fa = cw__intern(e->in, "fn-a", 4), fb = cw__intern(e->in, "fn-b", 4);
    const size_t n = 1000000;
    cw__span *s = malloc(n * sizeof *s);
    /* span i's parent is i-1; pairs alternate fn-a / fn-b, each pair a
     * SERVER entry and a CLIENT call site. Inserted leaf first. */
    for (size_t i = 0; i < n; i++) {
        size_t k = n - 1 - i;
        uint32_t fn = (k / 2) % 2 ? fb : fa;
        s[i] = big_span(k + 1, k ? k : 0, fn, k % 2 ? CW_KIND_CLIENT : CW_KIND_SERVER);
    }
    insert_batch(e, s, n);
    free(s);
    cw_engine_flush(e);
    cw_trace_summary t;
    cr_assert_eq(cw_engine_trace(e, "00000000000000000000000000000b16", &t, NULL, 0), 0);
    cr_assert_eq(t.spans, n);
    cr_assert_eq(t.span_depth, n);
    cr_assert_eq(t.max_span_fanout, 1);
    cr_assert_eq(t.invocations, n / 2);
    cr_assert_eq(t.depth, n / 2);
    cr_assert_eq(t.max_fanout, 1);
    cr_assert_eq(t.max_recursion, n / 4);
    cr_assert_eq(t.retries, 0);
    cw_chain_summary c;
    cr_assert_eq(cw_engine_chain(e, "00000000000000000000000000000b16", &c, NULL, 0), 0);
    cr_assert_eq(c.depth, n / 2);
    cr_assert_eq(c.max_recursion, n / 4);
    cw_engine_free(e);
}

Test(chain_large, a_fanout_of_100000, .timeout = 600)
{
    cw_engine *e;
    cr_assert_eq(cw_engine_new(&e, NULL), 0);
    uint32_t root = cw__intern(e->in, "fn-root", 7), leaf = cw__intern(e->in, "fn-leaf", 7);
    const size_t fan = 100000;
    cw__span *s = malloc((2 * fan + 1) * sizeof *s);
    size_t k = 0;
    for (size_t i = 0; i < fan; i++) {
        s[k++] = big_span(1000000 + i, 10 + i, leaf, CW_KIND_SERVER); /* callee first */
        s[k++] = big_span(10 + i, 1, root, CW_KIND_CLIENT);
    }
    s[k++] = big_span(1, 0, root, CW_KIND_SERVER);
    insert_batch(e, s, k);
    free(s);
    cw_engine_flush(e);
    cw_trace_summary t;
    cr_assert_eq(cw_engine_trace(e, "00000000000000000000000000000b16", &t, NULL, 0), 0);
    cr_assert_eq(t.spans, 2 * fan + 1);
    cr_assert_eq(t.invocations, fan + 1);
    cr_assert_eq(t.depth, 2);
    cr_assert_eq(t.max_fanout, fan);
    cr_assert_eq(t.max_span_fanout, fan);
    cr_assert_eq(t.span_depth, 3);
    cr_assert_eq(t.retries, 0, "all calls target fn-leaf and none failed");
    cw_edge_summary ed;
    size_t n;
    cr_assert_eq(cw_engine_edges(e, &ed, 1, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(ed.calls, fan);
    cw_engine_free(e);
}
