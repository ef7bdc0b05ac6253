/*
 * HTTP/1.1 requests on llhttp, without I/O.
 *
 * A connection is READING (feeding bytes to llhttp), DISPATCHED (a whole
 * request handed to the user, parser paused until it is answered) or CLOSED.
 * Pipelined requests are answered in order: when on_message_complete pauses
 * the parser, the bytes after the request stay in `pend` until the response
 * is written. Limits: request line and headers together at most max_header
 * bytes (431), a body at most max_body bytes as sent (413, checked against
 * Content-Length before reading, and while reading a chunked body).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <strings.h>

#include "http.h"

enum { ST_READ, ST_DISPATCHED, ST_CLOSED };

static cw__http_conn *C(llhttp_t *p)
{
    return p->data;
}

/* --------------------------------------------------------------- headers */

static int hput(cw__http_conn *c, const char *at, size_t n)
{
    c->header_bytes += (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n);
    if (c->header_bytes > c->lim->max_header) {
        c->reject = 431;
        return HPE_USER;
    }
    /* Trailers of a chunked body count toward the limit but are not kept:
     * the request's path points into hbuf and must not move. */
    if (c->headers_done)
        return 0;
    if (cw__grow(c->mem, (void **)&c->hbuf, &c->hcap, c->hlen + n + 1, 1)) {
        c->reject = 503;
        return HPE_USER;
    }
    memcpy(c->hbuf + c->hlen, at, n);
    c->hlen += n;
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    cw__http_conn *c = C(p);
    memset(&c->req, 0, sizeof c->req);
    c->req.content_length = UINT64_MAX;
    c->hlen = 0;
    c->header_bytes = 0;
    c->header_state = 0;
    c->body_len = 0;
    c->reject = 0;
    c->ctype_buf[0] = c->cenc_buf[0] = c->auth_buf[0] = c->expect_buf[0] = '\0';
    c->in_request = true;
    c->headers_done = false;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    return hput(C(p), at, n);
}

static int on_url_complete(llhttp_t *p)
{
    cw__http_conn *c = C(p);
    int r = hput(c, "", 1); /* NUL */
    c->field_at = c->hlen;
    return r;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    return hput(C(p), at, n);
}

static int on_header_field_complete(llhttp_t *p)
{
    cw__http_conn *c = C(p);
    if (c->headers_done)
        return 0;
    int r = hput(c, "", 1);
    c->value_at = c->hlen;
    return r;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    return hput(C(p), at, n);
}

static void keep(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap) {
        dst[0] = '\x01'; /* too long: never matches anything valid */
        dst[1] = '\0';
        return;
    }
    memcpy(dst, v, n + 1);
}

static int on_header_value_complete(llhttp_t *p)
{
    cw__http_conn *c = C(p);
    if (c->headers_done)
        return 0;
    int r = hput(c, "", 1);
    if (r)
        return r;
    const char *name = c->hbuf + c->field_at, *value = c->hbuf + c->value_at;
    if (strcasecmp(name, "content-type") == 0)
        keep(c->ctype_buf, sizeof c->ctype_buf, value);
    else if (strcasecmp(name, "content-encoding") == 0)
        keep(c->cenc_buf, sizeof c->cenc_buf, value);
    else if (strcasecmp(name, "authorization") == 0)
        keep(c->auth_buf, sizeof c->auth_buf, value);
    else if (strcasecmp(name, "expect") == 0)
        keep(c->expect_buf, sizeof c->expect_buf, value);
    /* The next header reuses the space after the URL. */
    c->hlen = c->field_at;
    return 0;
}

static int content_type_of(const char *v)
{
    if (!v[0])
        return CW_CT_NONE;
    /* The media type, before any parameter, trimmed, case-insensitive. */
    size_t n = strcspn(v, ";");
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    if (n == 22 && strncasecmp(v, "application/x-protobuf", 22) == 0)
        return CW_CT_PROTOBUF;
    if (n == 16 && strncasecmp(v, "application/json", 16) == 0)
        return CW_CT_JSON;
    return CW_CT_OTHER;
}

static int content_encoding_of(const char *v)
{
    if (!v[0] || strcasecmp(v, "identity") == 0)
        return CW_CE_IDENTITY;
    if (strcasecmp(v, "gzip") == 0 || strcasecmp(v, "x-gzip") == 0)
        return CW_CE_GZIP;
    return CW_CE_OTHER;
}

static void write_str(cw__http_conn *c, const char *s)
{
    c->io.write(c->io.ctx, s, strlen(s));
}

static int on_headers_complete(llhttp_t *p)
{
    cw__http_conn *c = C(p);
    cw__http_req *q = &c->req;
    q->method = (uint8_t)p->method;
    q->keep_alive = llhttp_should_keep_alive(p);
    q->chunked = (p->flags & F_CHUNKED) != 0;
    if (p->flags & F_CONTENT_LENGTH)
        q->content_length = p->content_length;
    q->ctype = (uint8_t)content_type_of(c->ctype_buf);
    q->cenc = (uint8_t)content_encoding_of(c->cenc_buf);
    q->auth = c->auth_buf[0] ? c->auth_buf : NULL;
    q->expect_continue = strcasecmp(c->expect_buf, "100-continue") == 0;
    /* The URL: path, then the query after '?'. The header bytes after it
     * are no longer needed, so its NUL-terminated pieces stay put. */
    char *url = c->hbuf ? c->hbuf : (char *)"";
    char *qm = strchr(url, '?');
    if (qm) {
        *qm = '\0';
        q->query = qm + 1;
    } else {
        q->query = "";
    }
    q->path = url;
    c->headers_done = true;
    if (q->content_length != UINT64_MAX && q->content_length > c->lim->max_body)
        c->reject = 413;
    if (!c->reject)
        c->reject = c->io.headers(c->io.ctx, c, q);
    if (c->reject)
        return HPE_PAUSED; /* answered by feed, without reading the body */
    if (q->expect_continue)
        write_str(c, "HTTP/1.1 100 Continue\r\n\r\n");
    if (q->content_length != UINT64_MAX && q->content_length > c->body_cap &&
        cw__grow(c->mem, (void **)&c->body, &c->body_cap, (size_t)q->content_length, 1)) {
        c->reject = 503;
        return HPE_PAUSED;
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    cw__http_conn *c = C(p);
    if (c->body_len + n > c->lim->max_body) {
        c->reject = 413;
        return HPE_USER;
    }
    if (c->body_len + n > c->body_cap &&
        cw__grow(c->mem, (void **)&c->body, &c->body_cap, c->body_len + n, 1)) {
        c->reject = 503;
        return HPE_USER;
    }
    memcpy(c->body + c->body_len, at, n);
    c->body_len += n;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED;
}

static const llhttp_settings_t *settings(void)
{
    static llhttp_settings_t s;
    static bool done; /* set once, before any concurrency (first conn_init) */
    if (!done) {
        llhttp_settings_init(&s);
        s.on_message_begin = on_message_begin;
        s.on_url = on_url;
        s.on_url_complete = on_url_complete;
        s.on_header_field = on_header_field;
        s.on_header_field_complete = on_header_field_complete;
        s.on_header_value = on_header_value;
        s.on_header_value_complete = on_header_value_complete;
        s.on_headers_complete = on_headers_complete;
        s.on_body = on_body;
        s.on_message_complete = on_message_complete;
        done = true;
    }
    return &s;
}

/* ------------------------------------------------------------ connection */

void cw__http_conn_init(cw__http_conn *c, cw__mem *mem, const cw__http_limits *lim,
                        const cw__http_io *io)
{
    memset(c, 0, sizeof *c);
    c->mem = mem;
    c->lim = lim;
    c->io = *io;
    llhttp_init(&c->parser, HTTP_REQUEST, settings());
    c->parser.data = c;
    c->state = ST_READ;
}

void cw__http_conn_free(cw__http_conn *c)
{
    cw__free(c->mem, c->hbuf, c->hcap);
    cw__free(c->mem, c->body, c->body_cap);
    cw__free(c->mem, c->pend, c->pend_cap);
    c->hbuf = NULL;
    c->body = NULL;
    c->pend = NULL;
    c->hcap = c->body_cap = c->pend_cap = 0;
}

bool cw__http_busy(const cw__http_conn *c)
{
    return c->state == ST_DISPATCHED;
}

bool cw__http_mid_request(const cw__http_conn *c)
{
    return c->in_request && c->state == ST_READ;
}

static bool pend_append(cw__http_conn *c, const void *data, size_t n)
{
    if (!n)
        return true;
    if (cw__grow(c->mem, (void **)&c->pend, &c->pend_cap, c->pend_len + n, 1))
        return false;
    memcpy(c->pend + c->pend_len, data, n);
    c->pend_len += n;
    return true;
}

static void dispatch(cw__http_conn *c)
{
    c->state = ST_DISPATCHED;
    c->in_request = false;
    c->req.body = c->body;
    c->req.body_len = c->body_len;
    c->io.dispatch(c->io.ctx, c, &c->req);
}

void cw__http_fail(cw__http_conn *c, int status)
{
    cw__http_reply r = {.status = status, .close = true};
    c->state = ST_DISPATCHED;
    cw__http_respond(c, &r);
}

bool cw__http_feed(cw__http_conn *c, const void *data, size_t len)
{
    if (c->state == ST_CLOSED)
        return false;
    /* Keep arrivals in order behind what is already waiting. */
    if (len && (c->state == ST_DISPATCHED || c->pend_len)) {
        if (!pend_append(c, data, len)) {
            cw__http_fail(c, 503);
            return false;
        }
        data = NULL;
        len = 0;
    }
    while (c->state == ST_READ) {
        const uint8_t *src = c->pend_len ? c->pend : data;
        size_t n = c->pend_len ? c->pend_len : len;
        if (n == 0)
            return true;
        llhttp_errno_t err = llhttp_execute(&c->parser, (const char *)src, n);
        if (err == HPE_OK) {
            if (src == c->pend)
                c->pend_len = 0;
            else
                len = 0;
            return true;
        }
        size_t used = (size_t)((const uint8_t *)llhttp_get_error_pos(&c->parser) - src);
        if (used > n)
            used = n;
        if (err == HPE_PAUSED) {
            llhttp_resume(&c->parser);
            /* Whatever follows this request waits in pend. */
            if (src == c->pend) {
                memmove(c->pend, c->pend + used, n - used);
                c->pend_len = n - used;
            } else {
                len = 0;
                if (!pend_append(c, src + used, n - used)) {
                    cw__http_fail(c, 503);
                    return false;
                }
            }
            /* A rejection (chosen at headers) answers without the body. */
            dispatch(c);
            continue; /* answered at once: go on with what is pending */
        }
        /* Parse error, or a limit hit while reading (reject set). */
        c->in_request = false;
        if (c->reject) {
            dispatch(c);
        } else {
            cw__http_fail(c, 400);
        }
        return false;
    }
    return c->state != ST_CLOSED;
}

const char *cw__http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

void cw__http_continue(cw__http_conn *c)
{
    write_str(c, "HTTP/1.1 100 Continue\r\n\r\n");
}

void cw__http_respond(cw__http_conn *c, const cw__http_reply *r)
{
    if (c->state == ST_CLOSED)
        return;
    /* A rejected request's body may not have been read, and a protocol
     * error leaves the stream unsynchronized: both close. */
    bool close = r->close || c->reject || !c->req.keep_alive;
    char head[1024];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\n", r->status,
                     cw__http_reason(r->status));
    if (r->content_type)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Type: %s\r\n",
                      r->content_type);
    n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", r->body_len);
    for (int i = 0; i < 3 && r->extra[i]; i++)
        n += snprintf(head + n, sizeof head - (size_t)n, "%s\r\n", r->extra[i]);
    n += snprintf(head + n, sizeof head - (size_t)n, "%s\r\n",
                  close ? "Connection: close\r\n" : "");
    if (n > (int)sizeof head)
        n = (int)sizeof head;
    c->io.write(c->io.ctx, head, (size_t)n);
    if (r->body_len)
        c->io.write(c->io.ctx, r->body, r->body_len);
    /* A large body buffer is not kept for an idle connection. */
    if (c->body_cap > (1u << 20)) {
        cw__free(c->mem, c->body, c->body_cap);
        c->body = NULL;
        c->body_cap = 0;
    }
    c->body_len = 0;
    if (close) {
        c->state = ST_CLOSED;
        c->io.close(c->io.ctx);
    } else {
        c->state = ST_READ;
    }
}
