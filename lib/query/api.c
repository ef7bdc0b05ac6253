/*
 * The query API of SPEC.md section 5, without I/O: a GET path and query in,
 * a status, content type and body out. lib/net serves it over HTTP.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "api.h"

void cw__buf_init(cw__buf *b, cw__mem *mem)
{
    memset(b, 0, sizeof *b);
    b->mem = mem;
}

void cw__buf_free(cw__buf *b)
{
    cw__free(b->mem, b->p, b->cap);
    b->p = NULL;
    b->n = b->cap = 0;
}

void cw__buf_put(cw__buf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (cw__grow(b->mem, (void **)&b->p, &b->cap, b->n + n + 1, 1)) {
        b->oom = true;
        return;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void cw__buf_printf(cw__buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        cw__buf_put(b, tmp, (size_t)n);
        return;
    }
    char *big = cw__malloc(b->mem, (size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    cw__buf_put(b, big, (size_t)n);
    cw__free(b->mem, big, (size_t)n + 1);
}

/* ------------------------------------------------------------------ JSON */

#define MAX_FUNCTIONS 4096

static void put_trace(cw_engine *e, cw__buf *b, const char *id)
{
    static _Thread_local const char *fns[MAX_FUNCTIONS];
    cw_trace_summary s;
    if (cw_engine_trace(e, id, &s, fns, MAX_FUNCTIONS) != 0)
        return;
    if (s.nfunctions > MAX_FUNCTIONS)
        s.nfunctions = MAX_FUNCTIONS; /* a cap for the API; the C API has all */
    size_t need = cw_trace_json(&s, fns, NULL, 0);
    char *tmp = cw__malloc(b->mem, need + 1);
    if (!tmp) {
        b->oom = true;
        return;
    }
    cw_trace_json(&s, fns, tmp, need + 1);
    cw__buf_put(b, tmp, need);
    cw__free(b->mem, tmp, need + 1);
}

static const char *arg(const char *query, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t vlen = len - n - 1;
            if (vlen >= cap)
                vlen = cap - 1;
            memcpy(out, p + n + 1, vlen);
            out[vlen] = '\0';
            return out;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static int error(cw__buf *b, int status, const char *msg)
{
    b->n = 0;
    cw__buf_printf(b, "{\"error\":\"%s\"}\n", msg);
    return status;
}

static int traces_list(cw_engine *e, const char *query, cw__buf *b)
{
    char v[32];
    cw_sort by = CW_SORT_DEPTH;
    if (arg(query, "sort", v, sizeof v)) {
        static const char *const names[] = {"depth", "fanout", "retries", "recursion", "spans"};
        unsigned i = 0;
        while (i < 5 && strcmp(v, names[i]) != 0)
            i++;
        if (i == 5)
            return error(b, 400, "sort must be depth, fanout, retries, recursion or spans");
        by = (cw_sort)i;
    }
    size_t limit = 100;
    if (arg(query, "limit", v, sizeof v)) {
        char *end;
        unsigned long n = strtoul(v, &end, 10);
        if (*end || !v[0] || n == 0 || n > 10000)
            return error(b, 400, "limit must be an integer from 1 to 10000");
        limit = n;
    }
    cw_trace_summary *top = cw__malloc(b->mem, limit * sizeof *top);
    if (!top)
        return error(b, 503, "out of memory");
    size_t got = 0;
    int rc = cw_engine_top(e, by, limit, top, &got);
    cw__buf_put(b, "[", 1);
    for (size_t i = 0; i < got && !rc; i++) {
        if (i)
            cw__buf_put(b, ",", 1);
        put_trace(e, b, top[i].trace_id);
    }
    cw__buf_put(b, "]\n", 2);
    cw__free(b->mem, top, limit * sizeof *top);
    return rc ? error(b, 503, "out of memory") : 200;
}

static int edges(cw_engine *e, cw__buf *b)
{
    size_t n = 0;
    cw_engine_edges(e, NULL, 0, &n);
    cw_edge_summary *v = cw__malloc(b->mem, (n ? n : 1) * sizeof *v);
    if (!v)
        return error(b, 503, "out of memory");
    size_t total = 0;
    int rc = cw_engine_edges(e, v, n, &total);
    cw__buf_put(b, "[", 1);
    for (size_t i = 0; i < n && i < total && !rc; i++) {
        char tmp[1024];
        size_t need = cw_edge_json(&v[i], tmp, sizeof tmp);
        if (i)
            cw__buf_put(b, ",", 1);
        if (need < sizeof tmp) {
            cw__buf_put(b, tmp, need);
        } else {
            char *big = cw__malloc(b->mem, need + 1);
            if (big) {
                cw_edge_json(&v[i], big, need + 1);
                cw__buf_put(b, big, need);
                cw__free(b->mem, big, need + 1);
            } else {
                b->oom = true;
            }
        }
    }
    cw__buf_put(b, "]\n", 2);
    cw__free(b->mem, v, (n ? n : 1) * sizeof *v);
    return rc ? error(b, 503, "out of memory") : 200;
}

/* --------------------------------------------------------------- metrics */

static void metric(cw__buf *b, const char *name, const char *type, const char *help,
                   uint64_t v)
{
    cw__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
                   (unsigned long long)v);
}

static void metrics(cw_engine *e, cw__buf *b)
{
    cw_stats st;
    cw_engine_stats(e, &st);
    metric(b, "causeway_requests_total", "counter", "Ingest calls (requests, file parts).",
           st.requests);
    metric(b, "causeway_requests_rejected_total", "counter",
           "Ingest calls that returned an error.", st.requests_rejected);
    metric(b, "causeway_spans_received_total", "counter",
           "Spans in requests that decoded (accepted + rejected).", st.spans_received);
    metric(b, "causeway_spans_accepted_total", "counter", "Spans kept.", st.spans_accepted);
    cw__buf_printf(b, "# HELP causeway_spans_rejected_total Spans not kept, by reason.\n"
                      "# TYPE causeway_spans_rejected_total counter\n");
    static const char *const names[] = {
#define CW__N(name, msg) #name,
        CW_REJECT_MAP(CW__N)
#undef CW__N
    };
    for (int k = 0; k < CW_REJECT_COUNT; k++) {
        char lower[64];
        size_t i = 0;
        for (; names[k][i] && i < sizeof lower - 1; i++) {
            char ch = names[k][i];
            lower[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
        }
        lower[i] = '\0';
        cw__buf_printf(b, "causeway_spans_rejected_total{reason=\"%s\"} %llu\n", lower,
                       (unsigned long long)st.rejected[k]);
    }
    metric(b, "causeway_span_links_dropped_total", "counter", "Links with invalid ids.",
           st.links_dropped);
    metric(b, "causeway_span_duplicates_total", "counter", "Spans received again.",
           st.duplicates);
    metric(b, "causeway_spans_live", "gauge", "Spans held in live traces.", st.spans_live);
    metric(b, "causeway_traces_live", "gauge", "Live traces.", st.traces_live);
    metric(b, "causeway_traces_completed_total", "counter", "Traces completed.",
           st.traces_completed);
    metric(b, "causeway_summaries", "gauge", "Trace summaries held.", st.summaries);
    metric(b, "causeway_summaries_evicted_total", "counter",
           "Chains evicted for the summary budget.", st.summaries_evicted);
    metric(b, "causeway_chains", "gauge", "Chain summaries held.", st.chains);
    metric(b, "causeway_links_pending", "gauge", "Links waiting for their target trace.",
           st.links_pending);
    metric(b, "causeway_links_unresolved_total", "counter",
           "Links to a completed trace's span that is not a call site.", st.links_unresolved);
    metric(b, "causeway_bytes_in_use", "gauge", "Bytes the engine holds.", st.bytes_in_use);
    metric(b, "causeway_bytes_live_spans", "gauge", "Bytes counted against memory_budget.",
           st.bytes_live_spans);
    metric(b, "causeway_intern_strings", "gauge", "Distinct interned strings.",
           st.intern_strings);
    metric(b, "causeway_intern_overflow_total", "counter",
           "Strings past the interning cardinality limit.", st.intern_overflow);
    metric(b, "causeway_strings_truncated_total", "counter", "Values cut to max_attr_len.",
           st.strings_truncated);
    metric(b, "causeway_alerts_total", "counter",
           "Alerts raised (no detector is configured in this version).", 0);
}

/* ----------------------------------------------------------------- route */

int cw__api_get(cw_engine *e, const char *path, const char *query, cw__buf *b,
                const char **ctype)
{
    *ctype = "application/json";
    if (strcmp(path, "/healthz") == 0) {
        *ctype = "text/plain";
        cw__buf_put(b, "ok\n", 3);
        return 200;
    }
    if (strcmp(path, "/metrics") == 0) {
        *ctype = "text/plain; version=0.0.4";
        metrics(e, b);
        return 200;
    }
    static const char traces[] = "/api/v1/traces", chains[] = "/api/v1/chains/";
    if (strcmp(path, traces) == 0)
        return traces_list(e, query, b);
    if (strncmp(path, traces, sizeof traces - 1) == 0 && path[sizeof traces - 1] == '/') {
        const char *id = path + sizeof traces;
        if (strlen(id) != 32)
            return error(b, 400, "a trace id is 32 hex digits");
        put_trace(e, b, id);
        if (b->n == 0)
            return error(b, 404, "no such trace");
        cw__buf_put(b, "\n", 1);
        return 200;
    }
    if (strncmp(path, chains, sizeof chains - 1) == 0) {
        const char *id = path + sizeof chains - 1;
        static _Thread_local const char *fns[MAX_FUNCTIONS];
        cw_chain_summary s;
        int rc = cw_engine_chain(e, id, &s, fns, MAX_FUNCTIONS);
        if (rc == CW_EINVAL)
            return error(b, 400, "a chain id is 32 hex digits");
        if (rc)
            return error(b, 404, "no such chain");
        if (s.nfunctions > MAX_FUNCTIONS)
            s.nfunctions = MAX_FUNCTIONS;
        size_t need = cw_chain_json(&s, fns, NULL, 0);
        char *tmp = cw__malloc(b->mem, need + 1);
        if (!tmp)
            return error(b, 503, "out of memory");
        cw_chain_json(&s, fns, tmp, need + 1);
        cw__buf_put(b, tmp, need);
        cw__buf_put(b, "\n", 1);
        cw__free(b->mem, tmp, need + 1);
        return 200;
    }
    if (strcmp(path, "/api/v1/edges") == 0)
        return edges(e, b);
    if (strcmp(path, "/api/v1/alerts") == 0) {
        char v[32];
        if (arg(query, "since", v, sizeof v)) {
            char *end;
            strtoull(v, &end, 10);
            if (*end || !v[0])
                return error(b, 400, "since must be unix nanoseconds");
        }
        /* No detector raises alerts in this version (baselines are a later
         * piece of work): the list is truthfully empty. */
        cw__buf_put(b, "[]\n", 3);
        return 200;
    }
    return error(b, 404, "no such path");
}
