/*
 * The receiver on libuv: listeners for OTLP/HTTP and the query API,
 * connections, timeouts, the thread-pool hand-off, ticking and shutdown.
 *
 * Everything here runs on the loop thread except the ingest and tick work
 * functions, which run on libuv's thread pool and touch only the request's
 * body (the connection stops reading while its request is out, so nothing
 * else touches it) and the engine (thread-safe).
 *
 * A connection lives until its handles are closed, its writes done and its
 * work (if any) returned: closing waits for all three.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <uv.h>

#include "../query/api.h"
#include "http.h"

enum { KIND_OTLP = 0, KIND_API = 1 };

/* Read buffer per connection: the exporters' requests are a few kB to a
 * few MB; 64 KiB keeps syscalls few without holding much per idle
 * connection (it is freed while a connection is idle). */
#define READ_BUF (64 * 1024)

typedef struct listener {
    uv_tcp_t tcp;
    struct cw_receiver *r;
    int kind;
    int port;
    bool open;
    uint32_t conns;
} listener;

typedef struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct cw_receiver *r;
    listener *l;
    cw__http_conn http;
    struct conn *prev, *next;
    char *rbuf;
    cw__buf out;            /* bytes written by the protocol, not yet sent */
    int writes;             /* uv_write requests in flight */
    int handles;            /* open handles (tcp, timer) */
    bool want_close, closing, reading, eof;
    /* The request out on the thread pool. */
    uv_work_t work;
    bool working;
    const cw__http_req *req;
    cw_ingest_result res;
    int rc;
} conn;

typedef struct wreq {
    uv_write_t w;
    conn *c;
    size_t len;
    char data[];
} wreq;

struct cw_receiver {
    cw_engine *e;
    cw__mem *mem;
    cw_receiver_options o;
    char **tokens;
    size_t *token_len;
    uv_loop_t *loop;
    uv_loop_t own_loop;
    bool own;
    uv_thread_t thread;
    uv_async_t stop_async;
    uv_timer_t tick_timer;
    uv_work_t tick_work;
    bool ticking;
    listener ls[2];
    cw__http_limits lim;
    conn *conns;
    int open_handles;
    bool stopping;
    _Atomic int stopped;
    uint64_t last_log_sec;
    unsigned logs_this_sec;
    /* Counters for /metrics (loop thread only). */
    uint64_t http_requests[6]; /* by status class 1xx..5xx, [0] other */
    uint64_t bytes_in, conns_total, conns_refused;
};

static void logf_(cw_receiver *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logf_(cw_receiver *r, const char *fmt, ...)
{
    if (!r->o.log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->o.log(r->o.log_ctx, line);
}

/* Per-request lines are capped at 20 a second, so a flood cannot turn the
 * log into the bottleneck. */
static bool log_budget(cw_receiver *r)
{
    uint64_t sec = uv_now(r->loop) / 1000;
    if (sec != r->last_log_sec) {
        r->last_log_sec = sec;
        r->logs_this_sec = 0;
    }
    return ++r->logs_this_sec <= 20;
}

/* ------------------------------------------------------------ closing */

static void maybe_finished(cw_receiver *r);

static void conn_free(conn *c)
{
    cw_receiver *r = c->r;
    if (c->prev)
        c->prev->next = c->next;
    else
        r->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->l->conns--;
    cw__http_conn_free(&c->http);
    cw__buf_free(&c->out);
    cw__free(r->mem, c->rbuf, c->rbuf ? READ_BUF : 0);
    cw__free(r->mem, c, sizeof *c);
    maybe_finished(r);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    conn *c = h->data;
    if (--c->handles == 0 && !c->working && c->writes == 0)
        conn_free(c);
}

/* Closes when nothing is in flight; called again as things finish. */
static void conn_close_if_done(conn *c)
{
    if (!c->want_close || c->closing || c->working || c->writes)
        return;
    c->closing = true;
    c->handles = 2;
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static void conn_want_close(conn *c)
{
    c->want_close = true;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    conn_close_if_done(c);
}

/* ------------------------------------------------------------- writing */

static void on_written(uv_write_t *w, int status)
{
    wreq *q = (wreq *)w;
    conn *c = q->c;
    c->writes--;
    cw__free(c->r->mem, q, sizeof *q + q->len);
    if (status < 0)
        c->want_close = true;
    if (c->want_close)
        conn_close_if_done(c);
    else if (c->closing && c->handles == 0 && !c->working && c->writes == 0)
        conn_free(c);
}

static void flush(conn *c)
{
    if (!c->out.n || c->closing)
        return;
    wreq *q = cw__malloc(c->r->mem, sizeof *q + c->out.n);
    if (!q) {
        c->out.n = 0;
        conn_want_close(c);
        return;
    }
    q->c = c;
    q->len = c->out.n;
    memcpy(q->data, c->out.p, c->out.n);
    c->out.n = 0;
    uv_buf_t b = uv_buf_init(q->data, (unsigned)q->len);
    if (uv_write(&q->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        cw__free(c->r->mem, q, sizeof *q + q->len);
        conn_want_close(c);
        return;
    }
    c->writes++;
}

static int grpc_code(int status)
{
    switch (status) {
    case 400: case 413: case 415: case 431: return 3;  /* INVALID_ARGUMENT */
    case 401: return 16;                               /* UNAUTHENTICATED */
    case 404: case 405: return 12;                     /* UNIMPLEMENTED */
    case 408: return 4;                                /* DEADLINE_EXCEEDED */
    case 429: return 8;                                /* RESOURCE_EXHAUSTED */
    case 503: return 14;                               /* UNAVAILABLE */
    default: return 2;                                 /* UNKNOWN */
    }
}

static void count_status(cw_receiver *r, int status)
{
    int cls = status / 100;
    r->http_requests[cls >= 1 && cls <= 5 ? cls : 0]++;
}

/* -------------------------------------------------------------- timers */

static void on_timeout(uv_timer_t *t)
{
    conn *c = t->data;
    if (cw__http_mid_request(&c->http)) {
        /* Too slow: answer 408 and cut it off. */
        count_status(c->r, 408);
        cw__http_fail(&c->http, 408);
        flush(c);
    }
    conn_want_close(c);
}

static void arm(conn *c)
{
    if (c->closing)
        return;
    if (cw__http_busy(&c->http)) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t ns = cw__http_mid_request(&c->http) ? c->r->o.read_timeout_ns
                                                 : c->r->o.keepalive_timeout_ns;
    uv_timer_start(&c->timer, on_timeout, ns / 1000000 ? ns / 1000000 : 1, 0);
}

/* -------------------------------------------------------------- reading */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn *c = h->data;
    if (!c->rbuf)
        c->rbuf = cw__malloc(c->r->mem, READ_BUF);
    *buf = uv_buf_init(c->rbuf, c->rbuf ? READ_BUF : 0);
}

static void resume_reading(conn *c);

static void after_feed(conn *c, bool was_mid)
{
    flush(c);
    if (c->closing)
        return;
    if (c->want_close) {
        conn_want_close(c); /* closes once the reply is written */
        return;
    }
    if (cw__http_busy(&c->http)) {
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
        uv_timer_stop(&c->timer);
        return;
    }
    if (c->eof) {
        conn_want_close(c);
        return;
    }
    /* The read timeout runs from a request's first byte; it is not reset
     * by later bytes (a client sending one byte a second gets cut off). */
    bool mid = cw__http_mid_request(&c->http);
    if (!mid || !was_mid)
        arm(c);
    resume_reading(c);
    if (!mid && c->rbuf && !c->reading) {
        cw__free(c->r->mem, c->rbuf, READ_BUF);
        c->rbuf = NULL;
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    conn *c = s->data;
    if (n == 0)
        return;
    if (n < 0) {
        /* EOF or error. A request cut off mid-body is simply dropped: none
         * of its spans were accepted. */
        c->eof = true;
        if (c->reading) {
            uv_read_stop(s);
            c->reading = false;
        }
        if (!cw__http_busy(&c->http))
            conn_want_close(c);
        return;
    }
    if (c->l->kind == KIND_OTLP) /* the metric is OTLP traffic, not queries */
        c->r->bytes_in += (uint64_t)n;
    bool was_mid = cw__http_mid_request(&c->http);
    cw__http_feed(&c->http, c->rbuf, (size_t)n);
    after_feed(c, was_mid);
}

static void resume_reading(conn *c)
{
    if (c->reading || c->closing || c->want_close || c->eof)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
}

/* ------------------------------------------------------------ requests */

/* An OTLP error reply: google.rpc.Status in the request's encoding (JSON
 * when the request's content type is neither). */
static void otlp_error(conn *c, int status, const char *message)
{
    cw_receiver *r = c->r;
    const cw__http_req *q = &c->http.req;
    int ct = q->ctype == CW_CT_PROTOBUF ? CW_CT_PROTOBUF : CW_CT_JSON;
    uint8_t body[1024];
    size_t n = 0;
    if (!cw__otlp_status_body(ct, grpc_code(status), message, body, sizeof body, &n))
        n = 0;
    char retry[32], allow[] = "Allow: POST", auth[] = "WWW-Authenticate: Bearer";
    snprintf(retry, sizeof retry, "Retry-After: %u", r->o.retry_after_s);
    cw__http_reply rep = {
        .status = status,
        .content_type = ct == CW_CT_PROTOBUF ? "application/x-protobuf" : "application/json",
        .body = body,
        .body_len = n,
    };
    if (status == 429 || status == 503)
        rep.extra[0] = retry;
    else if (status == 405)
        rep.extra[0] = allow;
    else if (status == 401)
        rep.extra[0] = auth;
    count_status(r, status);
    if (log_budget(r))
        logf_(r, "%s %s -> %d %s", llhttp_method_name((llhttp_method_t)q->method),
              q->path ? q->path : "?", status, message);
    cw__http_respond(&c->http, &rep);
}

static bool ct_equal(const char *a, size_t an, const char *b, size_t bn)
{
    /* Time depends on the configured token's length only, not on where a
     * presented token first differs. */
    volatile unsigned d = (unsigned)(an != bn);
    for (size_t i = 0; i < bn; i++)
        d |= (unsigned char)b[i] ^ (unsigned char)(i < an ? a[i] : 0);
    return d == 0;
}

static bool authorized(cw_receiver *r, const char *auth)
{
    if (!r->o.ntokens)
        return true;
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *t = auth + 7;
    size_t tn = strlen(t);
    bool ok = false;
    for (size_t k = 0; k < r->o.ntokens; k++)
        ok |= ct_equal(t, tn, r->tokens[k], r->token_len[k]);
    return ok;
}

static int otlp_headers(conn *c, const cw__http_req *q)
{
    if (strcmp(q->path, "/v1/traces") != 0)
        return 404;
    if (q->method != HTTP_POST)
        return 405;
    if (!authorized(c->r, q->auth))
        return 401;
    if (q->ctype != CW_CT_PROTOBUF && q->ctype != CW_CT_JSON)
        return 415;
    if (q->cenc == CW_CE_OTHER)
        return 415;
    return 0;
}

static const char *reject_message(int status)
{
    switch (status) {
    case 404: return "no such path: OTLP traces go to POST /v1/traces";
    case 405: return "method not allowed: use POST";
    case 401: return "missing or invalid bearer token";
    case 413: return "request body exceeds the size limit";
    case 415: return "unsupported content type or encoding: use application/x-protobuf or "
                     "application/json, identity or gzip";
    case 431: return "request headers exceed the size limit";
    default: return "request rejected";
    }
}

static void ingest_work(uv_work_t *w)
{
    conn *c = w->data;
    const cw__http_req *q = c->req;
    unsigned enc = (q->ctype == CW_CT_PROTOBUF ? CW_ENC_PROTOBUF : CW_ENC_JSON) |
                   (q->cenc == CW_CE_GZIP ? CW_ENC_GZIP : 0);
    c->rc = cw_engine_ingest(c->r->e, q->body, q->body_len, enc, &c->res);
}

static void continue_after_reply(conn *c)
{
    bool was_mid = cw__http_mid_request(&c->http);
    if (!c->want_close && !c->closing && !cw__http_busy(&c->http))
        cw__http_feed(&c->http, NULL, 0); /* pipelined requests */
    after_feed(c, was_mid);
}

static void ingest_done(uv_work_t *w, int status)
{
    conn *c = w->data;
    cw_receiver *r = c->r;
    c->working = false;
    if (status == UV_ECANCELED || c->closing) {
        conn_close_if_done(c);
        if (c->closing && c->handles == 0 && c->writes == 0)
            conn_free(c);
        return;
    }
    const cw__http_req *q = c->req;
    int rc = c->rc;
    if (rc == 0) {
        uint8_t body[1024];
        size_t n = 0;
        cw__otlp_success_body(q->ctype, c->res.spans_rejected, c->res.reason, body, sizeof body,
                              &n);
        cw__http_reply rep = {
            .status = 200,
            .content_type =
                q->ctype == CW_CT_PROTOBUF ? "application/x-protobuf" : "application/json",
            .body = body,
            .body_len = n,
        };
        count_status(r, 200);
        cw__http_respond(&c->http, &rep);
    } else if (rc == CW_EPROTO || rc == CW_EJSON || rc == CW_EGZIP) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s: %s (at byte %llu)", cw_strerror(rc),
                 c->res.reason ? c->res.reason : "", (unsigned long long)c->res.error_offset);
        otlp_error(c, 400, msg);
    } else if (rc == CW_ETOOBIG) {
        otlp_error(c, 413, "decompressed body exceeds the size limit");
    } else if (rc == CW_EBUDGET) {
        /* Spans before the budget ran out are kept; the client resends the
         * request and duplicates count once. */
        otlp_error(c, 429, "memory budget exhausted: retry later");
    } else {
        otlp_error(c, 503, cw_strerror(rc));
    }
    continue_after_reply(c);
}

static void api_dispatch(conn *c, const cw__http_req *q)
{
    cw_receiver *r = c->r;
    if (c->http.reject) {
        cw__http_reply rep = {.status = c->http.reject, .close = true};
        count_status(r, rep.status);
        cw__http_respond(&c->http, &rep);
        return;
    }
    cw__buf b;
    cw__buf_init(&b, r->mem);
    const char *ctype = "application/json";
    int status;
    if (q->method != HTTP_GET && q->method != HTTP_HEAD) {
        cw__buf_put(&b, "{\"error\":\"method not allowed: use GET\"}\n", 40);
        status = 405;
    } else {
        status = cw__api_get(r->e, q->path, q->query, &b, &ctype);
        if (status == 200 && strcmp(q->path, "/metrics") == 0) {
            static const char *const cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
            cw__buf_printf(&b, "# HELP causeway_http_requests_total OTLP/HTTP requests by "
                               "status class.\n# TYPE causeway_http_requests_total counter\n");
            for (int i = 0; i < 6; i++)
                cw__buf_printf(&b, "causeway_http_requests_total{code=\"%s\"} %llu\n", cls[i],
                               (unsigned long long)r->http_requests[i]);
            cw__buf_printf(&b,
                           "# HELP causeway_http_received_bytes_total Bytes read from OTLP "
                           "clients.\n# TYPE causeway_http_received_bytes_total counter\n"
                           "causeway_http_received_bytes_total %llu\n"
                           "# HELP causeway_http_connections Open OTLP connections.\n"
                           "# TYPE causeway_http_connections gauge\n"
                           "causeway_http_connections %u\n"
                           "# HELP causeway_http_connections_refused_total Connections "
                           "refused past max_connections.\n"
                           "# TYPE causeway_http_connections_refused_total counter\n"
                           "causeway_http_connections_refused_total %llu\n",
                           (unsigned long long)r->bytes_in, r->ls[KIND_OTLP].conns,
                           (unsigned long long)r->conns_refused);
        }
        if (b.oom) {
            b.n = 0;
            status = 503;
        }
    }
    char allow[] = "Allow: GET";
    cw__http_reply rep = {
        .status = status,
        .content_type = ctype,
        .body = q->method == HTTP_HEAD ? NULL : b.p,
        .body_len = q->method == HTTP_HEAD ? 0 : b.n,
    };
    if (status == 405)
        rep.extra[0] = allow;
    cw__http_respond(&c->http, &rep);
    cw__buf_free(&b);
}

/* ----------------------------------------------- protocol callbacks */

static void io_write(void *ctx, const void *data, size_t len)
{
    conn *c = ctx;
    cw__buf_put(&c->out, data, len);
}

static int io_headers(void *ctx, cw__http_conn *h, const cw__http_req *q)
{
    (void)h;
    conn *c = ctx;
    return c->l->kind == KIND_OTLP ? otlp_headers(c, q) : 0;
}

static void io_dispatch(void *ctx, cw__http_conn *h, const cw__http_req *q)
{
    conn *c = ctx;
    cw_receiver *r = c->r;
    if (c->l->kind == KIND_API) {
        api_dispatch(c, q);
        return;
    }
    if (h->reject) {
        otlp_error(c, h->reject, reject_message(h->reject));
        return;
    }
    if (r->stopping) {
        otlp_error(c, 503, "shutting down: retry later");
        return;
    }
    cw_stats st;
    /* Over budget already: answer before spending CPU on the body. */
    cw_engine_stats(r->e, &st);
    if (st.bytes_live_spans >= r->e->o.memory_budget) {
        otlp_error(c, 429, "memory budget exhausted: retry later");
        return;
    }
    c->req = q;
    c->working = true;
    c->work.data = c;
    if (uv_queue_work(r->loop, &c->work, ingest_work, ingest_done) != 0) {
        c->working = false;
        otlp_error(c, 503, "cannot schedule the request");
    }
}

static void io_close(void *ctx)
{
    conn *c = ctx;
    c->want_close = true; /* after_feed / flush close it once written */
}

/* ------------------------------------------------------------ accepting */

static void on_refused_closed(uv_handle_t *h)
{
    cw_receiver *r = h->data;
    cw__free(r->mem, h, sizeof(uv_tcp_t));
}

static void on_refused_written(uv_write_t *w, int status)
{
    (void)status;
    cw_receiver *r = w->handle->data;
    uv_close((uv_handle_t *)w->handle, on_refused_closed);
    cw__free(r->mem, w, sizeof *w);
}

static void refuse(cw_receiver *r, listener *l)
{
    uv_tcp_t *t = cw__malloc(r->mem, sizeof *t);
    if (!t)
        return;
    uv_tcp_init(r->loop, t);
    t->data = r;
    if (uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)t) != 0) {
        uv_close((uv_handle_t *)t, on_refused_closed);
        return;
    }
    r->conns_refused++;
    static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                              "Content-Length: 0\r\nConnection: close\r\n\r\n";
    uv_write_t *w = cw__malloc(r->mem, sizeof *w);
    uv_buf_t b = uv_buf_init((char *)msg, sizeof msg - 1);
    if (!w || uv_write(w, (uv_stream_t *)t, &b, 1, on_refused_written) != 0) {
        cw__free(r->mem, w, sizeof *w);
        uv_close((uv_handle_t *)t, on_refused_closed);
    }
}

static void on_connection(uv_stream_t *s, int status)
{
    listener *l = s->data;
    cw_receiver *r = l->r;
    if (status < 0 || r->stopping)
        return;
    if (l->conns >= r->o.max_connections) {
        refuse(r, l);
        return;
    }
    conn *c = cw__calloc(r->mem, sizeof *c);
    if (!c) {
        refuse(r, l);
        return;
    }
    c->r = r;
    c->l = l;
    cw__buf_init(&c->out, r->mem);
    uv_tcp_init(r->loop, &c->tcp);
    uv_timer_init(r->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    c->next = r->conns;
    if (r->conns)
        r->conns->prev = c;
    r->conns = c;
    l->conns++;
    r->conns_total++;
    cw__http_io io = {c, io_write, io_headers, io_dispatch, io_close};
    cw__http_conn_init(&c->http, r->mem, &r->lim, &io);
    if (uv_accept(s, (uv_stream_t *)&c->tcp) != 0) {
        conn_want_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    arm(c);
    resume_reading(c);
}

static int parse_addr(const char *s, struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
            return CW_EINVAL;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host)
            return CW_EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || !colon[1])
        return CW_EINVAL;
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return CW_EINVAL;
}

static int listen_on(cw_receiver *r, listener *l, const char *addr, int kind)
{
    struct sockaddr_storage ss;
    if (parse_addr(addr, &ss)) {
        logf_(r, "cannot listen on %s: not HOST:PORT", addr);
        return CW_EINVAL;
    }
    l->r = r;
    l->kind = kind;
    uv_tcp_init(r->loop, &l->tcp);
    l->tcp.data = l;
    l->open = true;
    r->open_handles++;
    int e = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0);
    if (!e)
        e = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
    if (e) {
        logf_(r, "cannot listen on %s: %s", addr, uv_strerror(e));
        return CW_EIO;
    }
    struct sockaddr_storage got;
    int len = sizeof got;
    uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&got, &len);
    l->port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                              : ((struct sockaddr_in *)&got)->sin_port);
    logf_(r, "listening on %s (port %d) for %s", addr, l->port,
          kind == KIND_OTLP ? "OTLP/HTTP (POST /v1/traces)" : "the query API");
    return 0;
}

/* --------------------------------------------------------------- ticking */

static void tick_work(uv_work_t *w)
{
    cw_receiver *r = w->data;
    cw_engine_tick(r->e);
}

static void tick_done(uv_work_t *w, int status)
{
    (void)status;
    cw_receiver *r = w->data;
    r->ticking = false;
    maybe_finished(r);
}

static void on_tick(uv_timer_t *t)
{
    cw_receiver *r = t->data;
    if (r->ticking || r->stopping)
        return;
    r->ticking = true;
    r->tick_work.data = r;
    if (uv_queue_work(r->loop, &r->tick_work, tick_work, tick_done) != 0)
        r->ticking = false;
}

/* ------------------------------------------------------------ lifecycle */

CW_API void cw_receiver_options_init(cw_receiver_options *o)
{
    memset(o, 0, sizeof *o);
    o->listen = "127.0.0.1:4318";
    o->api_listen = "127.0.0.1:4320";
    o->max_body_bytes = 20u << 20;
    o->max_header_bytes = 64u << 10;
    o->max_connections = 1024;
    o->read_timeout_ns = 30ull * 1000000000;
    o->keepalive_timeout_ns = 60ull * 1000000000;
    o->tick_interval_ns = 250ull * 1000000;
    o->retry_after_s = 1;
}

static void on_handle_closed(uv_handle_t *h)
{
    cw_receiver *r = h->data;
    r->open_handles--;
    maybe_finished(r);
}

static void on_listener_closed(uv_handle_t *h)
{
    listener *l = h->data;
    l->r->open_handles--;
    maybe_finished(l->r);
}

/* Everything closed: the loop can end (own thread) or the host may free. */
static void maybe_finished(cw_receiver *r)
{
    if (!r->stopping || r->conns || r->ticking || r->open_handles)
        return;
    if (!atomic_load(&r->stopped)) {
        atomic_store(&r->stopped, 1);
        logf_(r, "stopped");
    }
}

static void begin_stop(cw_receiver *r)
{
    if (r->stopping)
        return;
    r->stopping = true;
    logf_(r, "stopping: no new connections, answering requests in flight");
    for (int i = 0; i < 2; i++)
        if (r->ls[i].open) {
            r->ls[i].open = false;
            uv_close((uv_handle_t *)&r->ls[i].tcp, on_listener_closed);
        }
    /* The timer exists only once open_all() got past the listeners (its
     * loop field, public and read-only, stays NULL in the calloc'd receiver
     * until uv_timer_init): a start that failed to listen stops here too. */
    if (r->o.tick_interval_ns && r->tick_timer.loop) {
        uv_timer_stop(&r->tick_timer);
        uv_close((uv_handle_t *)&r->tick_timer, on_handle_closed);
    }
    if (r->own)
        uv_close((uv_handle_t *)&r->stop_async, on_handle_closed);
    /* Idle connections close now; busy ones after their reply. */
    for (conn *c = r->conns, *next; c; c = next) {
        next = c->next;
        c->want_close = true;
        if (!cw__http_busy(&c->http))
            conn_want_close(c);
    }
    maybe_finished(r);
}

static void on_stop_async(uv_async_t *a)
{
    begin_stop(a->data);
}

static int setup(cw_receiver *r, cw_engine *e, const cw_receiver_options *o)
{
    r->e = e;
    r->mem = &e->mem;
    if (o)
        r->o = *o;
    else
        cw_receiver_options_init(&r->o);
    if (!r->o.listen || !r->o.max_body_bytes || !r->o.max_header_bytes ||
        !r->o.max_connections || !r->o.read_timeout_ns || !r->o.keepalive_timeout_ns)
        return CW_EINVAL;
    r->lim.max_body = r->o.max_body_bytes;
    r->lim.max_header = r->o.max_header_bytes;
    if (r->o.ntokens) {
        r->tokens = cw__calloc(r->mem, r->o.ntokens * sizeof *r->tokens);
        r->token_len = cw__calloc(r->mem, r->o.ntokens * sizeof *r->token_len);
        if (!r->tokens || !r->token_len)
            return CW_ENOMEM;
        for (size_t k = 0; k < r->o.ntokens; k++) {
            size_t n = strlen(r->o.tokens[k]);
            if (!n)
                return CW_EINVAL;
            r->tokens[k] = cw__malloc(r->mem, n + 1);
            if (!r->tokens[k])
                return CW_ENOMEM;
            memcpy(r->tokens[k], r->o.tokens[k], n + 1);
            r->token_len[k] = n;
        }
    }
    return 0;
}

/* Opens listeners and the tick timer on r->loop. */
static int open_all(cw_receiver *r)
{
    int rc = listen_on(r, &r->ls[KIND_OTLP], r->o.listen, KIND_OTLP);
    if (!rc && r->o.api_listen && r->o.api_listen[0])
        rc = listen_on(r, &r->ls[KIND_API], r->o.api_listen, KIND_API);
    if (!rc && r->o.tick_interval_ns) {
        uv_timer_init(r->loop, &r->tick_timer);
        r->tick_timer.data = r;
        r->open_handles++;
        uint64_t ms = r->o.tick_interval_ns / 1000000 ? r->o.tick_interval_ns / 1000000 : 1;
        uv_timer_start(&r->tick_timer, on_tick, ms, ms);
    }
    return rc;
}

static void free_tokens(cw_receiver *r)
{
    if (r->tokens) {
        for (size_t k = 0; k < r->o.ntokens; k++)
            cw__free(r->mem, r->tokens[k], r->tokens[k] ? r->token_len[k] + 1 : 0);
        cw__free(r->mem, r->tokens, r->o.ntokens * sizeof *r->tokens);
    }
    cw__free(r->mem, r->token_len, r->token_len ? r->o.ntokens * sizeof *r->token_len : 0);
    r->tokens = NULL;
    r->token_len = NULL;
}

CW_API int cw_receiver_start_on(cw_receiver **out, struct uv_loop_s *loop, cw_engine *e,
                                const cw_receiver_options *o)
{
    *out = NULL;
    if (!loop || !e)
        return CW_EINVAL;
    cw_receiver *r = cw__calloc(&e->mem, sizeof *r);
    if (!r)
        return CW_ENOMEM;
    int rc = setup(r, e, o);
    r->loop = loop;
    if (!rc)
        rc = open_all(r);
    if (rc) {
        /* Close what opened; the host's loop finishes it. */
        begin_stop(r);
        uv_run(loop, UV_RUN_NOWAIT);
        while (!atomic_load(&r->stopped) && uv_run(loop, UV_RUN_ONCE))
            ;
        free_tokens(r);
        cw__free(&e->mem, r, sizeof *r);
        return rc;
    }
    *out = r;
    return 0;
}

static void thread_main(void *arg)
{
    cw_receiver *r = arg;
    uv_run(r->loop, UV_RUN_DEFAULT);
}

CW_API int cw_receiver_start(cw_receiver **out, cw_engine *e, const cw_receiver_options *o)
{
    *out = NULL;
    if (!e)
        return CW_EINVAL;
    cw_receiver *r = cw__calloc(&e->mem, sizeof *r);
    if (!r)
        return CW_ENOMEM;
    int rc = setup(r, e, o);
    r->own = true;
    r->loop = &r->own_loop;
    if (!rc && uv_loop_init(r->loop) != 0)
        rc = CW_ENOMEM;
    if (!rc) {
        uv_async_init(r->loop, &r->stop_async, on_stop_async);
        r->stop_async.data = r;
        r->open_handles++;
        rc = open_all(r);
        if (rc) {
            begin_stop(r);
            uv_run(r->loop, UV_RUN_DEFAULT);
            uv_loop_close(r->loop);
        } else if (uv_thread_create(&r->thread, thread_main, r) != 0) {
            begin_stop(r);
            uv_run(r->loop, UV_RUN_DEFAULT);
            uv_loop_close(r->loop);
            rc = CW_ENOMEM;
        }
    }
    if (rc) {
        free_tokens(r);
        cw__free(&e->mem, r, sizeof *r);
        return rc;
    }
    *out = r;
    return 0;
}

CW_API int cw_receiver_port(const cw_receiver *r, int api)
{
    if (!r)
        return 0;
    return r->ls[api ? KIND_API : KIND_OTLP].port;
}

CW_API void cw_receiver_stop(cw_receiver *r)
{
    if (!r)
        return;
    if (r->own) {
        if (!atomic_load(&r->stopped)) {
            uv_async_send(&r->stop_async);
            uv_thread_join(&r->thread);
            uv_loop_close(r->loop);
        }
        return;
    }
    begin_stop(r);
}

CW_API int cw_receiver_stopped(const cw_receiver *r)
{
    return r ? atomic_load(&((cw_receiver *)r)->stopped) : 1;
}

CW_API void cw_receiver_free(cw_receiver *r)
{
    if (!r)
        return;
    cw__mem *mem = r->mem;
    free_tokens(r);
    cw__free(mem, r, sizeof *r);
}
