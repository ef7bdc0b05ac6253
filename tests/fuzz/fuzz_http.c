/*
 * Fuzz target: the HTTP request handler. The input is an HTTP byte stream
 * fed to the protocol layer in chunks whose sizes the first bytes choose
 * (any split across reads); requests are routed and ingested as the
 * receiver does, synchronously. Every reply must be a well-formed status
 * line, the connection must never be answered twice for one request, and
 * nothing may crash, leak or over-read.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <strings.h>

#include "net/http.h"
#include "query/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fx {
    cw_engine *e;
    cw__buf out;
    int answers, dispatches;
    bool closed;
} fx;

static void io_write(void *ctx, const void *p, size_t n)
{
    fx *f = ctx;
    if (f->out.n < (1u << 20))
        cw__buf_put(&f->out, p, n);
}

static int io_headers(void *ctx, cw__http_conn *c, const cw__http_req *q)
{
    (void)ctx;
    (void)c;
    if (strcmp(q->path, "/v1/traces") != 0)
        return 404;
    if (q->method != HTTP_POST)
        return 405;
    if (q->ctype != CW_CT_PROTOBUF && q->ctype != CW_CT_JSON)
        return 415;
    return q->cenc == CW_CE_OTHER ? 415 : 0;
}

static void io_dispatch(void *ctx, cw__http_conn *c, const cw__http_req *q)
{
    fx *f = ctx;
    f->dispatches++;
    cw__http_reply r = {.status = 200};
    uint8_t body[1024];
    size_t n = 0;
    if (c->reject) {
        r.status = c->reject;
    } else {
        cw_ingest_result res;
        unsigned enc = (q->ctype == CW_CT_PROTOBUF ? CW_ENC_PROTOBUF : CW_ENC_JSON) |
                       (q->cenc == CW_CE_GZIP ? CW_ENC_GZIP : 0);
        int rc = cw_engine_ingest(f->e, q->body, q->body_len, enc, &res);
        if (rc == 0 && cw__otlp_success_body(q->ctype, res.spans_rejected, res.reason, body,
                                             sizeof body, &n)) {
            r.body = body;
            r.body_len = n;
        } else if (rc) {
            r.status = rc == CW_ETOOBIG ? 413 : rc == CW_EBUDGET ? 429 : 400;
            if (cw__otlp_status_body(q->ctype, 3, res.reason, body, sizeof body, &n)) {
                r.body = body;
                r.body_len = n;
            }
        }
    }
    cw__http_respond(c, &r);
}

static void io_close(void *ctx)
{
    ((fx *)ctx)->closed = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static cw_engine *e;
    if (!e) {
        cw_engine_options o;
        cw_engine_options_init(&o);
        o.memory_budget = 16u << 20;
        o.intern_limit = 4096;
        o.max_decompressed_bytes = 1u << 20;
        if (cw_engine_new(&e, &o))
            abort();
    }
    fx f = {.e = e};
    cw__buf_init(&f.out, &e->mem);
    cw__http_limits lim = {.max_body = 256 * 1024, .max_header = 4096};
    cw__http_io io = {&f, io_write, io_headers, io_dispatch, io_close};
    cw__http_conn c;
    cw__http_conn_init(&c, &e->mem, &lim, &io);
    /* Chunk sizes from the first two bytes: 1..64 bytes, stepping. */
    size_t step = (size_t)(data[0] % 64) + 1, grow = data[1] % 8;
    data += 2;
    size -= 2;
    for (size_t off = 0; off < size && !f.closed;) {
        size_t n = step < size - off ? step : size - off;
        if (!cw__http_feed(&c, data + off, n))
            break;
        off += n;
        step += grow;
    }
    /* Every reply is a status line; answers never outnumber requests. */
    f.answers = 0;
    for (size_t i = 0; i + 9 <= f.out.n; i++)
        if (memcmp(f.out.p + i, "HTTP/1.1 ", 9) == 0 &&
            (i == 0 || (i >= 2 && f.out.p[i - 1] == '\n')))
            f.answers++;
    if (f.out.n && memcmp(f.out.p, "HTTP/1.1 ", 9) != 0)
        abort();
    if (cw__http_busy(&c))
        abort(); /* dispatch answers synchronously here */
    cw__http_conn_free(&c);
    cw__buf_free(&f.out);
    cw_engine_flush(e); /* keep the engine small across inputs */
    return 0;
}
