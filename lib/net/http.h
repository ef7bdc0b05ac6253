/*
 * The receiver: an HTTP/1.1 protocol layer (http.c, no I/O, so that it can be
 * fuzzed with any split of the input), the OTLP and query-API request
 * handlers, and the libuv server (server.c). The only header of lib/net.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CW_NET_HTTP_H
#define CW_NET_HTTP_H

#include <llhttp.h>

#include "../query/engine.h"

enum { CW_CT_NONE, CW_CT_PROTOBUF, CW_CT_JSON, CW_CT_OTHER };
enum { CW_CE_IDENTITY, CW_CE_GZIP, CW_CE_OTHER };

typedef struct cw__http_limits {
    uint64_t max_body;       /* bytes of body as sent (compressed) */
    uint32_t max_header;     /* bytes of request line and headers */
} cw__http_limits;

/* A parsed request, valid from dispatch until the response. */
typedef struct cw__http_req {
    uint8_t method;          /* llhttp_method_t */
    uint8_t ctype;           /* CW_CT_* */
    uint8_t cenc;            /* CW_CE_* */
    bool expect_continue;
    bool keep_alive;
    bool chunked;
    const char *path;        /* NUL-terminated, without the query */
    const char *query;       /* after '?', NUL-terminated, "" when none */
    const char *auth;        /* Authorization value, NULL when absent */
    uint64_t content_length; /* UINT64_MAX when not given */
    const uint8_t *body;
    size_t body_len;
} cw__http_req;

typedef struct cw__http_conn cw__http_conn;

/* What the protocol layer needs from its user (the server, or a fuzzer). */
typedef struct cw__http_io {
    void *ctx;
    /* Appends response bytes to the connection's output. */
    void (*write)(void *ctx, const void *data, size_t len);
    /* Headers are complete: returns 0 to read the body, or an HTTP status
     * to answer at once (the handler fills the reply through
     * cw__http_respond; the connection then closes). */
    int (*headers)(void *ctx, cw__http_conn *c, const cw__http_req *req);
    /* A whole request: handle it now or later; every dispatch is answered
     * by exactly one cw__http_respond(). */
    void (*dispatch)(void *ctx, cw__http_conn *c, const cw__http_req *req);
    /* The connection should close once its output is written. */
    void (*close)(void *ctx);
} cw__http_io;

struct cw__http_conn {
    llhttp_t parser;
    cw__mem *mem;
    const cw__http_limits *lim;
    cw__http_io io;
    cw__http_req req;
    /* Request line and header bytes, bounded by max_header: url, then the
     * header being read; values we keep are copied into small fields. */
    char *hbuf;
    size_t hlen, hcap;
    size_t field_at, value_at; /* offsets into hbuf of the current header */
    uint32_t header_bytes;
    int header_state;          /* 0 field, 1 value */
    char ctype_buf[64], cenc_buf[32], auth_buf[512], expect_buf[32];
    /* The body as sent. */
    uint8_t *body;
    size_t body_len, body_cap;
    /* Input left unparsed when a request paused the parser. */
    uint8_t *pend;
    size_t pend_len, pend_cap;
    int state;                 /* see http.c */
    int reject;                /* status chosen at headers, 0 none */
    bool closing;
    bool in_request;           /* bytes of a request seen, not yet dispatched */
    bool headers_done;         /* trailers follow: count, do not keep */
};

void cw__http_conn_init(cw__http_conn *c, cw__mem *mem, const cw__http_limits *lim,
                        const cw__http_io *io);
void cw__http_conn_free(cw__http_conn *c);

/* Feeds bytes received (len may be 0 to continue with buffered input after
 * a response). Parses as far as it can; dispatches a complete request and
 * then stops until it is answered. Returns true while the connection is
 * usable (false: it is closing, having answered or being unable to answer).
 */
bool cw__http_feed(cw__http_conn *c, const void *data, size_t len);

/* True when a dispatched request awaits its response (the server stops
 * reading meanwhile). */
bool cw__http_busy(const cw__http_conn *c);
/* True when some bytes of a request have arrived but not all of it. */
bool cw__http_mid_request(const cw__http_conn *c);

/* One extra header line ("Name: value", no CRLF), or NULL. */
typedef struct cw__http_reply {
    int status;
    const char *content_type; /* NULL: no body type */
    const void *body;
    size_t body_len;
    const char *extra[3];     /* extra header lines, NULL-terminated */
    bool close;               /* close after this reply */
} cw__http_reply;

/* Answers the dispatched (or rejected) request. Afterwards the caller feeds
 * an empty buffer to continue with pipelined input, unless closing. */
void cw__http_respond(cw__http_conn *c, const cw__http_reply *r);

/* Answers the request in progress with status (no body) and closes: a
 * protocol failure, or a timeout (408). */
void cw__http_fail(cw__http_conn *c, int status);

/* Writes "100 Continue" (for Expect: 100-continue, once accepted). */
void cw__http_continue(cw__http_conn *c);

const char *cw__http_reason(int status);

/* ----------------------------------------------------------- OTLP bodies */

/* Encodes the OTLP replies in the request's content type into buf:
 * google.rpc.Status for an error, ExportTraceServiceResponse (with
 * partial_success when spans were rejected) for 200. Returns false when buf
 * is too small; *len may be 0 (an empty protobuf message). */
bool cw__otlp_status_body(int ctype, int grpc_code, const char *message, uint8_t *buf,
                          size_t cap, size_t *len);
bool cw__otlp_success_body(int ctype, uint64_t rejected, const char *message, uint8_t *buf,
                           size_t cap, size_t *len);

#endif
