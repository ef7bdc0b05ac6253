/*
 * lib/net: the receiver and the query API over real sockets, with a raw
 * client producing every status code of SPEC.md section 1, and checking
 * that correct clients are served throughout.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "causeway.h"
#include "support.h"

/* ------------------------------------------------------------- fixture */

typedef struct srv {
    cw_engine *e;
    cw_receiver *r;
    int port, api;
} srv;

static void start(srv *s, cw_engine_options *eo, cw_receiver_options *ro)
{
    cw_engine_options e;
    cw_receiver_options r;
    if (!eo) {
        cw_engine_options_init(&e);
        eo = &e;
    }
    if (!ro) {
        cw_receiver_options_init(&r);
        ro = &r;
    }
    ro->listen = "127.0.0.1:0";
    ro->api_listen = "127.0.0.1:0";
    cr_assert_eq(cw_engine_new(&s->e, eo), 0);
    cr_assert_eq(cw_receiver_start(&s->r, s->e, ro), 0);
    s->port = cw_receiver_port(s->r, 0);
    s->api = cw_receiver_port(s->r, 1);
    cr_assert_gt(s->port, 0);
    cr_assert_gt(s->api, 0);
}

static void stop(srv *s)
{
    cw_receiver_stop(s->r);
    cr_assert(cw_receiver_stopped(s->r));
    cw_receiver_free(s->r);
    cw_engine_free(s->e);
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect");
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0)
            return; /* the server may have closed: the reply tells */
        c += k;
        n -= (size_t)k;
    }
}

/* One response: status, headers (raw), body. Reads until Content-Length is
 * satisfied or the peer closes; gives up after timeout_ms. */
typedef struct resp {
    int status;
    char head[4096];
    uint8_t *body;
    size_t body_len;
    bool closed;
} resp;

static bool read_resp_buf(int fd, char *buf, size_t *have, size_t cap, resp *r, int timeout_ms)
{
    memset(r, 0, sizeof *r);
    for (;;) {
        char *end = memmem(buf, *have, "\r\n\r\n", 4);
        if (end) {
            size_t hl = (size_t)(end - buf) + 4;
            size_t cl = 0;
            const char *h = memmem(buf, hl, "Content-Length: ", 16);
            if (h)
                cl = strtoul(h + 16, NULL, 10);
            if (*have >= hl + cl) {
                sscanf(buf, "HTTP/1.1 %d", &r->status);
                memcpy(r->head, buf, hl < sizeof r->head - 1 ? hl : sizeof r->head - 1);
                r->body = malloc(cl + 1);
                memcpy(r->body, buf + hl, cl);
                r->body[cl] = 0;
                r->body_len = cl;
                memmove(buf, buf + hl + cl, *have - hl - cl);
                *have -= hl + cl;
                return true;
            }
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0)
            return false;
        ssize_t k = recv(fd, buf + *have, cap - *have, 0);
        if (k <= 0) {
            r->closed = true;
            return false;
        }
        *have += (size_t)k;
    }
}

static resp request(int port, const char *head, const void *body, size_t n)
{
    int fd = dial(port);
    send_all(fd, head, strlen(head));
    if (n)
        send_all(fd, body, n);
    char *buf = malloc(1 << 20);
    size_t have = 0;
    resp r;
    bool ok = read_resp_buf(fd, buf, &have, 1 << 20, &r, 5000);
    cr_assert(ok, "no response to: %.60s", head);
    free(buf);
    close(fd);
    return r;
}

static resp post(int port, const char *ctype, const char *extra, const void *body, size_t n)
{
    char head[1024];
    snprintf(head, sizeof head,
             "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n%sContent-Length: %zu\r\n\r\n",
             ctype, extra ? extra : "", n);
    return request(port, head, body, n);
}

static resp get(int port, const char *path)
{
    char head[512];
    snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    return request(port, head, NULL, 0);
}

static uint8_t *capture(const char *name, size_t *n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/captures/%s", cwt_data_dir(), name);
    uint8_t *p = cwt_read_file(path, n);
    cr_assert_not_null(p, "%s", path);
    return p;
}

static bool has(const resp *r, const char *needle)
{
    return strstr(r->head, needle) != NULL;
}

/* A correct client still gets served. */
static void healthy(srv *s)
{
    size_t n;
    uint8_t *p = capture("retry-proto-0000.pb", &n);
    resp r = post(s->port, "application/x-protobuf", NULL, p, n);
    cr_assert_eq(r.status, 200, "a correct client is still served");
    free(r.body);
    free(p);
}

/* ------------------------------------------------------------- success */

Test(net_otlp, protobuf_json_and_gzip_get_200_in_their_own_encoding)
{
    srv s;
    start(&s, NULL, NULL);
    size_t n;
    uint8_t *p = capture("fanout-proto-0000.pb", &n);
    resp r = post(s.port, "application/x-protobuf", NULL, p, n);
    cr_assert_eq(r.status, 200);
    cr_assert(has(&r, "Content-Type: application/x-protobuf"));
    cr_assert_eq(r.body_len, 0, "an empty ExportTraceServiceResponse");
    free(r.body);
    free(p);
    p = capture("fanout-json-0000.json", &n);
    r = post(s.port, "application/json; charset=utf-8", NULL, p, n);
    cr_assert_eq(r.status, 200);
    cr_assert(has(&r, "Content-Type: application/json"));
    cr_assert_str_eq((char *)r.body, "{}");
    free(r.body);
    free(p);
    p = capture("fanout-proto-gzip-0000.pb.gz", &n);
    r = post(s.port, "application/x-protobuf", "Content-Encoding: gzip\r\n", p, n);
    cr_assert_eq(r.status, 200);
    free(r.body);
    free(p);
    cw_stats st;
    cw_engine_stats(s.e, &st);
    cr_assert_eq(st.spans_accepted, 153);
    stop(&s);
}

Test(net_otlp, partial_success_names_the_rejected_spans)
{
    srv s;
    start(&s, NULL, NULL);
    const char *js = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
                     "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0000000000000001\"},"
                     "{\"traceId\":\"01\",\"spanId\":\"0000000000000002\"}]}]}]}";
    resp r = post(s.port, "application/json", NULL, js, strlen(js));
    cr_assert_eq(r.status, 200);
    cr_assert(strstr((char *)r.body, "\"rejectedSpans\":\"1\""), "%s", r.body);
    cr_assert(strstr((char *)r.body, "invalid trace id"), "%s", r.body);
    free(r.body);
    stop(&s);
}

Test(net_otlp, chunked_keepalive_pipelining_and_expect_continue)
{
    srv s;
    start(&s, NULL, NULL);
    size_t n;
    uint8_t *p = capture("chain-proto-0000.pb", &n);
    int fd = dial(s.port);
    /* Two pipelined requests in one write: chunked (as the JS exporters
     * send), then Content-Length. */
    char req[8192];
    int k = snprintf(req, sizeof req,
                     "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%zx\r\n",
                     n);
    memcpy(req + k, p, n);
    k += (int)n;
    k += snprintf(req + k, sizeof req - (size_t)k,
                  "\r\n0\r\n\r\nPOST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  "application/x-protobuf\r\nContent-Length: %zu\r\n\r\n",
                  n);
    memcpy(req + k, p, n);
    k += (int)n;
    send_all(fd, req, (size_t)k);
    char buf[65536];
    size_t have = 0;
    resp r1, r2;
    cr_assert(read_resp_buf(fd, buf, &have, sizeof buf, &r1, 5000));
    cr_assert(read_resp_buf(fd, buf, &have, sizeof buf, &r2, 5000));
    cr_assert_eq(r1.status, 200);
    cr_assert_eq(r2.status, 200);
    cr_assert_not(has(&r1, "Connection: close"), "keep-alive");
    free(r1.body);
    free(r2.body);
    /* Expect: 100-continue on the same connection. */
    k = snprintf(req, sizeof req,
                 "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                 "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n",
                 n);
    send_all(fd, req, (size_t)k);
    char cont[64] = {0};
    struct pollfd pf = {fd, POLLIN, 0};
    cr_assert_gt(poll(&pf, 1, 5000), 0);
    ssize_t got = recv(fd, cont, 25, 0);
    cr_assert_eq(got, 25);
    cr_assert_eq(strncmp(cont, "HTTP/1.1 100 Continue\r\n\r\n", 25), 0);
    send_all(fd, p, n);
    have = 0;
    cr_assert(read_resp_buf(fd, buf, &have, sizeof buf, &r1, 5000));
    cr_assert_eq(r1.status, 200);
    free(r1.body);
    close(fd);
    free(p);
    stop(&s);
}

/* -------------------------------------------------------------- errors */

Test(net_errors, wrong_method_path_type_and_encoding)
{
    srv s;
    start(&s, NULL, NULL);
    resp r = get(s.port, "/v1/traces");
    cr_assert_eq(r.status, 405);
    cr_assert(has(&r, "Allow: POST"));
    free(r.body);
    r = request(s.port, "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: 2\r\n\r\n",
                "{}", 2);
    cr_assert_eq(r.status, 404);
    cr_assert(strstr((char *)r.body, "\"code\":12"), "google.rpc.Status in JSON: %s", r.body);
    free(r.body);
    r = post(s.port, "text/plain", NULL, "x", 1);
    cr_assert_eq(r.status, 415);
    free(r.body);
    r = post(s.port, "application/x-protobuf", "Content-Encoding: br\r\n", "x", 1);
    cr_assert_eq(r.status, 415);
    cr_assert(has(&r, "Content-Type: application/x-protobuf"), "Status in protobuf");
    cr_assert_gt(r.body_len, 2);
    free(r.body);
    healthy(&s);
    stop(&s);
}

Test(net_errors, undecodable_bodies_are_400_with_a_reason)
{
    srv s;
    start(&s, NULL, NULL);
    resp r = post(s.port, "application/json", NULL, "{\"resourceSpans\":[", 18);
    cr_assert_eq(r.status, 400);
    cr_assert(strstr((char *)r.body, "\"code\":3,\"message\":\"malformed JSON"), "%s", r.body);
    free(r.body);
    r = post(s.port, "application/x-protobuf", NULL, "\x0a\x05\x12", 3);
    cr_assert_eq(r.status, 400);
    cr_assert_gt(r.body_len, 5, "a protobuf google.rpc.Status");
    cr_assert_eq(r.body[0], 0x08, "field 1 (code) first");
    cr_assert_eq(r.body[1], 3, "INVALID_ARGUMENT");
    free(r.body);
    r = post(s.port, "application/x-protobuf", "Content-Encoding: gzip\r\n", "notgzip", 7);
    cr_assert_eq(r.status, 400);
    free(r.body);
    /* Not HTTP at all. */
    r = request(s.port, "GARBAGE\r\n\r\n", NULL, 0);
    cr_assert_eq(r.status, 400);
    free(r.body);
    healthy(&s);
    stop(&s);
}

Test(net_errors, oversized_bodies_headers_and_gzip_bombs)
{
    cw_engine_options eo;
    cw_engine_options_init(&eo);
    eo.max_decompressed_bytes = 64 * 1024;
    cw_receiver_options ro;
    cw_receiver_options_init(&ro);
    ro.max_body_bytes = 32 * 1024;
    ro.max_header_bytes = 2048;
    srv s;
    start(&s, &eo, &ro);
    /* Content-Length over the limit: refused before the body is read. */
    resp r = request(s.port, "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             "application/x-protobuf\r\nContent-Length: 999999999\r\n\r\n",
                     NULL, 0);
    cr_assert_eq(r.status, 413);
    cr_assert(has(&r, "Connection: close"));
    free(r.body);
    /* A chunked body that grows past it. */
    char *big = malloc(40000);
    memset(big, 'a', 40000);
    char head[256];
    snprintf(head, sizeof head, "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                "application/json\r\nTransfer-Encoding: chunked\r\n\r\n9c40\r\n");
    r = request(s.port, head, big, 40000);
    cr_assert_eq(r.status, 413);
    free(r.body);
    free(big);
    /* Headers past max_header_bytes. */
    char *hdr = malloc(4096);
    int k = snprintf(hdr, 4096, "POST /v1/traces HTTP/1.1\r\nX-Pad: ");
    memset(hdr + k, 'x', 3000);
    strcpy(hdr + k + 3000, "\r\n\r\n");
    r = request(s.port, hdr, NULL, 0);
    cr_assert_eq(r.status, 431);
    free(r.body);
    free(hdr);
    /* A gzip bomb: 10 MB of zeros in 10 kB, over the decompressed limit. */
    size_t zn;
    uint8_t *zeros = calloc(1, 10 << 20);
    uint8_t *bomb = cwt_gzip(zeros, 10 << 20, &zn);
    free(zeros);
    cr_assert_lt(zn, 32 * 1024);
    r = post(s.port, "application/x-protobuf", "Content-Encoding: gzip\r\n", bomb, zn);
    cr_assert_eq(r.status, 413);
    cr_assert(strstr((char *)r.body, "decompressed"), "%s", r.body);
    free(r.body);
    free(bomb);
    healthy(&s);
    stop(&s);
}

Test(net_errors, a_client_that_stops_mid_body_loses_only_its_request)
{
    srv s;
    start(&s, NULL, NULL);
    size_t n;
    uint8_t *p = capture("chain-proto-0000.pb", &n);
    int fd = dial(s.port);
    char head[256];
    snprintf(head, sizeof head, "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                "application/x-protobuf\r\nContent-Length: %zu\r\n\r\n", n);
    send_all(fd, head, strlen(head));
    send_all(fd, p, n / 2);
    close(fd);
    usleep(100000);
    cw_stats st;
    cw_engine_stats(s.e, &st);
    cr_assert_eq(st.spans_received, 0, "nothing of the cut request was kept");
    healthy(&s);
    free(p);
    stop(&s);
}

Test(net_errors, a_slow_client_is_cut_off_with_408)
{
    cw_receiver_options ro;
    cw_receiver_options_init(&ro);
    ro.read_timeout_ns = 300 * 1000000ull;
    srv s;
    start(&s, NULL, &ro);
    int fd = dial(s.port);
    const char *head = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 100\r\n\r\n{";
    /* Drip-feed: a byte every 100 ms never completes in time. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    send_all(fd, head, strlen(head));
    char buf[4096];
    size_t have = 0;
    resp r;
    bool got = false;
    for (int i = 0; i < 30 && !got; i++) {
        send_all(fd, " ", 1);
        got = read_resp_buf(fd, buf, &have, sizeof buf, &r, 100);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert(got, "the server answered");
    cr_assert_eq(r.status, 408);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert_lt(waited, 2.5, "cut off after the read timeout, not kept alive by drips");
    free(r.body);
    close(fd);
    healthy(&s);
    stop(&s);
}

Test(net_errors, a_flood_of_connections_gets_503_and_service_goes_on)
{
    cw_receiver_options ro;
    cw_receiver_options_init(&ro);
    ro.max_connections = 8;
    srv s;
    start(&s, NULL, &ro);
    int fds[8];
    for (int i = 0; i < 8; i++)
        fds[i] = dial(s.port);
    usleep(100000);
    resp r = get(s.port, "/v1/traces");
    cr_assert_eq(r.status, 503, "the ninth connection is refused");
    cr_assert(has(&r, "Retry-After: 1"));
    free(r.body);
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    usleep(100000);
    healthy(&s);
    stop(&s);
}

Test(net_errors, over_budget_answers_429_with_retry_after)
{
    cw_engine_options eo;
    cw_engine_options_init(&eo);
    eo.memory_budget = 16 * 1024;
    srv s;
    start(&s, &eo, NULL);
    int saw429 = 0;
    char path[4096];
    for (int i = 0; i < 43 && !saw429; i++) {
        snprintf(path, sizeof path, "%s/samples/basic/pb/%04d.pb", cwt_data_dir(), i);
        size_t n;
        uint8_t *p = cwt_read_file(path, &n);
        resp r = post(s.port, "application/x-protobuf", NULL, p, n);
        if (r.status == 429) {
            saw429 = 1;
            cr_assert(has(&r, "Retry-After: 1"));
            cr_assert_eq(r.body[0], 0x08);
            cr_assert_eq(r.body[1], 8, "RESOURCE_EXHAUSTED");
        } else {
            cr_assert_eq(r.status, 200);
        }
        free(r.body);
        free(p);
    }
    cr_assert(saw429);
    cw_stats st;
    cw_engine_stats(s.e, &st);
    cr_assert_eq(st.spans_received, st.spans_accepted + st.spans_rejected,
                 "no span dropped silently");
    /* Completing traces frees the budget: service resumes. */
    cw_engine_flush(s.e);
    healthy(&s);
    stop(&s);
}

Test(net_errors, bearer_tokens_are_checked)
{
    cw_receiver_options ro;
    cw_receiver_options_init(&ro);
    const char *tokens[] = {"s3cret", "other-token"};
    ro.tokens = tokens;
    ro.ntokens = 2;
    srv s;
    start(&s, NULL, &ro);
    size_t n;
    uint8_t *p = capture("chain-proto-0000.pb", &n);
    resp r = post(s.port, "application/x-protobuf", NULL, p, n);
    cr_assert_eq(r.status, 401);
    cr_assert(has(&r, "WWW-Authenticate: Bearer"));
    free(r.body);
    r = post(s.port, "application/x-protobuf", "Authorization: Bearer s3cre\r\n", p, n);
    cr_assert_eq(r.status, 401);
    free(r.body);
    r = post(s.port, "application/x-protobuf", "Authorization: Bearer s3cret\r\n", p, n);
    cr_assert_eq(r.status, 200);
    free(r.body);
    r = post(s.port, "application/x-protobuf", "Authorization: bearer other-token\r\n", p, n);
    cr_assert_eq(r.status, 200);
    free(r.body);
    free(p);
    stop(&s);
}

/* ----------------------------------------------------------- query API */

Test(net_api, health_metrics_and_summaries)
{
    cw_engine_options eo;
    cw_engine_options_init(&eo);
    srv s;
    start(&s, &eo, NULL);
    resp r = get(s.api, "/healthz");
    cr_assert_eq(r.status, 200);
    free(r.body);
    size_t n;
    uint8_t *p = capture("async-proto-0000.pb", &n);
    r = post(s.port, "application/x-protobuf", NULL, p, n);
    free(r.body);
    free(p);
    p = capture("async-proto-0001.pb", &n);
    r = post(s.port, "application/x-protobuf", NULL, p, n);
    free(r.body);
    free(p);
    r = get(s.api, "/api/v1/traces/4801ca04cf4a2cd7d41ca2a68d289f2c");
    cr_assert_eq(r.status, 200);
    cr_assert(strstr((char *)r.body, "\"complete\":false"), "live: %s", r.body);
    free(r.body);
    cw_engine_flush(s.e);
    r = get(s.api, "/api/v1/traces/4801ca04cf4a2cd7d41ca2a68d289f2c");
    cr_assert(strstr((char *)r.body, "\"complete\":true"), "%s", r.body);
    cr_assert(strstr((char *)r.body, "\"max_fanout\":1"), "%s", r.body);
    free(r.body);
    r = get(s.api, "/api/v1/chains/4801ca04cf4a2cd7d41ca2a68d289f2c");
    cr_assert_eq(r.status, 200);
    cr_assert(strstr((char *)r.body, "\"traces\":2"), "%s", r.body);
    free(r.body);
    r = get(s.api, "/api/v1/edges");
    cr_assert(strstr((char *)r.body, "\"caller\":\"fn-a\",\"callee\":\"fn-b\",\"kind\":\"async\""),
              "%s", r.body);
    free(r.body);
    r = get(s.api, "/api/v1/traces?sort=spans&limit=1");
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body[0], '[');
    free(r.body);
    r = get(s.api, "/api/v1/traces?sort=nope");
    cr_assert_eq(r.status, 400);
    free(r.body);
    r = get(s.api, "/api/v1/traces/ffffffffffffffffffffffffffffffff");
    cr_assert_eq(r.status, 404);
    free(r.body);
    r = get(s.api, "/api/v1/alerts?since=0");
    cr_assert_str_eq((char *)r.body, "[]\n");
    free(r.body);
    r = get(s.api, "/metrics");
    cr_assert(strstr((char *)r.body, "causeway_spans_accepted_total 3"), "%s", r.body);
    cr_assert(strstr((char *)r.body, "causeway_spans_rejected_total{reason=\"over_budget\"} 0"));
    cr_assert(strstr((char *)r.body, "causeway_http_requests_total{code=\"2xx\"} 2"));
    free(r.body);
    r = request(s.api, "DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 0);
    cr_assert_eq(r.status, 405);
    free(r.body);
    stop(&s);
}

Test(net_lifecycle, stop_answers_requests_in_flight_then_closes)
{
    srv s;
    start(&s, NULL, NULL);
    /* An idle keep-alive connection and a request in flight at stop. */
    int idle = dial(s.port);
    size_t n;
    uint8_t *p = capture("fanout-proto-0000.pb", &n);
    int fd = dial(s.port);
    char head[256];
    snprintf(head, sizeof head, "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                "application/x-protobuf\r\nContent-Length: %zu\r\n\r\n", n);
    send_all(fd, head, strlen(head));
    send_all(fd, p, n);
    char buf[4096];
    size_t have = 0;
    resp r;
    cr_assert(read_resp_buf(fd, buf, &have, sizeof buf, &r, 5000));
    cr_assert_eq(r.status, 200);
    free(r.body);
    cw_receiver_stop(s.r);
    /* Both connections are closed by the server. */
    char c;
    struct pollfd pf = {idle, POLLIN, 0};
    cr_assert_gt(poll(&pf, 1, 2000), 0);
    cr_assert_eq(recv(idle, &c, 1, 0), 0);
    close(idle);
    close(fd);
    cr_assert(cw_receiver_stopped(s.r));
    cw_stats st;
    cw_engine_stats(s.e, &st);
    cr_assert_eq(st.spans_accepted, 51);
    cw_receiver_free(s.r);
    cw_engine_free(s.e);
    free(p);
}
