/*
 * OTLP decoding: request bytes (protobuf or JSON, maybe gzipped) to batches of
 * compact span records. The only header of lib/otlp other layers include.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CW_OTLP_H
#define CW_OTLP_H

#include "../util/util.h"

/* Largest accepted max_attr_len: call targets join two values on the stack,
 * so the cap bounds that buffer (16 KiB). Longer names are unheard of. */
#define CW__MAX_ATTR_LEN_CAP 8192u

/* OTLP SpanKind values, as on the wire. */
enum {
    CW_KIND_UNSPECIFIED = 0,
    CW_KIND_INTERNAL = 1,
    CW_KIND_SERVER = 2,
    CW_KIND_CLIENT = 3,
    CW_KIND_PRODUCER = 4,
    CW_KIND_CONSUMER = 5,
};

/* OTLP StatusCode values, as on the wire. */
enum {
    CW_STATUS_UNSET = 0,
    CW_STATUS_OK = 1,
    CW_STATUS_ERROR = 2,
};

/* faas.trigger, an enum in the semantic conventions; a value outside it
 * reads as OTHER. */
enum {
    CW_TRIGGER_NONE = 0,
    CW_TRIGGER_DATASOURCE,
    CW_TRIGGER_HTTP,
    CW_TRIGGER_PUBSUB,
    CW_TRIGGER_TIMER,
    CW_TRIGGER_OTHER,
};

uint8_t cw__trigger_of(const char *s, size_t n);

enum {
    /* The function came from the span's own faas.name (Azure style). */
    CW_SPAN_F_FN_ON_SPAN = 1u << 0,
    /* http.response.status_code (or legacy http.status_code) was present. */
    CW_SPAN_F_HTTP_STATUS = 1u << 1,
};

/* One decoded span: exactly what SPEC.md section 2 reads, nothing else. The
 * strings are interned ids (0 = absent). */
typedef struct cw__span {
    cw__tid trace;
    uint64_t span_id;
    uint64_t parent_id;     /* 0: no parent */
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t invocation_id; /* XXH3 of faas.invocation_id, 0: absent */
    uint32_t function;      /* span faas.name > resource faas.name >
                               resource service.name > unknown_service */
    uint32_t name;
    /* The call target from attributes, SPEC.md section 2 "Retries": the
     * first present of faas.invoked_name; rpc.service "/" rpc.method;
     * server.address + (http.route or url.path); messaging.destination.name.
     * 0 when none: the analysis then uses the callee function, else the span
     * name. */
    uint32_t target;
    uint32_t region;        /* cloud.region, span else resource */
    uint32_t client;        /* client.address */
    uint32_t link_first;    /* index of the first link in the batch */
    uint32_t link_count;
    uint16_t http_status;   /* 0: absent */
    uint16_t resend_count;  /* http.request.resend_count, saturated */
    uint8_t kind;           /* CW_KIND_*, values past 5 kept as sent */
    uint8_t status;         /* CW_STATUS_* */
    uint8_t flags;          /* CW_SPAN_F_* */
    uint8_t trigger;        /* CW_TRIGGER_* */
} cw__span;

/* The id rules of every decoder: a trace id of 16 bytes, not all zero; a
 * span id of 8 bytes, not zero; a parent id of 8 bytes (all zero reads as
 * "none") or absent. Sets s->trace, s->span_id and s->parent_id. Returns
 * CW_REJECT_COUNT when the span is kept, else why it is rejected. */
static inline cw_reject_reason cw__span_ids(cw__span *s, const uint8_t *tid, size_t tidn,
                                            const uint8_t *sid, size_t sidn,
                                            const uint8_t *pid, size_t pidn)
{
    if (tidn != 16)
        return CW_REJECT_BAD_TRACE_ID;
    s->trace.hi = cw__load_be64(tid);
    s->trace.lo = cw__load_be64(tid + 8);
    if (cw__tid_is_zero(s->trace))
        return CW_REJECT_BAD_TRACE_ID;
    if (sidn != 8 || (s->span_id = cw__load_be64(sid)) == 0)
        return CW_REJECT_BAD_SPAN_ID;
    if (pidn == 8)
        s->parent_id = cw__load_be64(pid);
    else if (pidn != 0)
        return CW_REJECT_BAD_PARENT_ID;
    return CW_REJECT_COUNT;
}

typedef struct cw__link {
    cw__tid trace;
    uint64_t span_id;
} cw__link;

/* The decoded form of one request. Reused across requests by its owner
 * (cw__batch_reset), so steady-state decoding allocates nothing. */
typedef struct cw__batch {
    cw__mem *mem;
    cw__span *spans;
    size_t n, cap;
    cw__link *links;
    size_t nlinks, links_cap;
    uint64_t rejected[CW_REJECT_COUNT];
    uint64_t links_dropped;
    uint64_t truncated;
} cw__batch;

void cw__batch_init(cw__batch *b, cw__mem *mem);
void cw__batch_reset(cw__batch *b);
void cw__batch_free(cw__batch *b);

/* What a decoder needs besides the input. */
typedef struct cw__decoder {
    cw__interner *intern;
    uint32_t max_attr_len;
    cw__batch *batch;
    /* Set on error: a static reason and the byte offset where decoding
     * stopped. */
    const char *reason;
    size_t err_off;
    /* JSON only: blocks of scratch for unescaped strings (json.c); the
     * current block, its size and how much of it is used. */
    char *scratch;
    size_t scratch_cap, scratch_used;
} cw__decoder;

/* Header of a JSON scratch block. */
typedef struct cw__scratch_hdr {
    char *prev;
    size_t cap;
} cw__scratch_hdr;

void cw__decoder_init(cw__decoder *d, cw__interner *in, uint32_t max_attr_len,
                      cw__batch *b);
void cw__decoder_done(cw__decoder *d);

/* Decodes an ExportTraceServiceRequest or TracesData (same wire shape) and
 * appends its spans to d->batch. Returns 0, CW_EPROTO (d->reason/err_off
 * set), or CW_ENOMEM. On error the batch holds a prefix of the spans; callers
 * discard it (a request is all or nothing). Points into buf only for the
 * duration of the call. */
int cw__decode_pb(cw__decoder *d, const uint8_t *buf, size_t len);

/* The same for the OTLP JSON mapping. Returns 0, CW_EJSON or CW_ENOMEM. */
int cw__decode_json(cw__decoder *d, const char *buf, size_t len);

/* Inflates a gzip stream (one or more members) into a buffer allocated from
 * mem, never producing more than limit bytes whatever the gzip trailer
 * claims. Returns 0 with *out and *out_len set (free with cw__free(mem, *out,
 * *out_cap)), CW_EGZIP (*reason set), CW_ETOOBIG or CW_ENOMEM. */
int cw__gunzip(cw__mem *mem, const uint8_t *in, size_t in_len, size_t limit,
               uint8_t **out, size_t *out_len, size_t *out_cap,
               const char **reason);
/* The same into a buffer the caller keeps between calls: *buf (*cap bytes,
 * NULL/0 for none) is used as it is when large enough, else replaced by a
 * larger one; on any return *buf and *cap describe the buffer the caller now
 * owns. */
int cw__gunzip_into(cw__mem *mem, const uint8_t *in, size_t in_len, size_t limit,
                    uint8_t **buf, size_t *cap, size_t *out_len, const char **reason);

/* ---------------------------------------------- shared by both decoders */

/* A byte range of the input (or of the JSON scratch). */
typedef struct cw__sv {
    const char *p;
    uint32_t n;
} cw__sv;

/* Attribute keys the model reads (SPEC.md section 2); all others are
 * skipped. */
typedef enum cw__attr_key {
    CW_ATTR_NONE = 0,
    CW_ATTR_SERVICE_NAME,
    CW_ATTR_FAAS_NAME,
    CW_ATTR_FAAS_INVOKED_NAME,
    CW_ATTR_FAAS_INVOCATION_ID,
    CW_ATTR_FAAS_TRIGGER,
    CW_ATTR_RPC_SERVICE,
    CW_ATTR_RPC_METHOD,
    CW_ATTR_SERVER_ADDRESS,
    CW_ATTR_HTTP_ROUTE,
    CW_ATTR_URL_PATH,
    CW_ATTR_MSG_DEST,
    CW_ATTR_HTTP_STATUS,        /* http.response.status_code */
    CW_ATTR_HTTP_STATUS_LEGACY, /* http.status_code (semconv < 1.21) */
    CW_ATTR_RESEND_COUNT,
    CW_ATTR_CLOUD_REGION,
    CW_ATTR_CLIENT_ADDRESS,
    CW_ATTR_COUNT
} cw__attr_key;

/* Classifies an attribute key. Branches on the length first, so a key the
 * model does not read costs one switch and rarely one compare. */
cw__attr_key cw__attr_lookup(const char *k, size_t n);

/* The attributes whose value the model reads as a number: an int, or a
 * string of 1 to 18 decimal digits (cw__parse_decimal), which some SDKs
 * send. */
static inline bool cw__attr_numeric(cw__attr_key k)
{
    return k == CW_ATTR_HTTP_STATUS || k == CW_ATTR_HTTP_STATUS_LEGACY ||
           k == CW_ATTR_RESEND_COUNT;
}

static inline bool cw__parse_decimal(const uint8_t *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Attribute values collected while a span (or resource) is decoded: string
 * views for string keys, numbers for numeric ones. */
typedef struct cw__attrs {
    cw__sv s[CW_ATTR_COUNT];
    int64_t num[CW_ATTR_COUNT];
    uint32_t have; /* bit per cw__attr_key */
} cw__attrs;

CW_INLINE void cw__attrs_clear(cw__attrs *a)
{
    a->have = 0;
}

/* Resource-level values, resolved once per ResourceSpans. */
typedef struct cw__resource {
    uint32_t function;
    uint32_t region;
} cw__resource;

/* Interns a decoded string: cuts it to max_attr_len, validates UTF-8 when
 * it is new to the interner. Returns the id, or CW_STR_NONE with
 * d->reason set when the string is not UTF-8. */
uint32_t cw__dec_intern(cw__decoder *d, const char *s, size_t n, bool *bad);

/* Resolves resource attributes into r. Returns 0 or an error code (bad
 * UTF-8 -> err, with d->reason set). */
int cw__dec_resource(cw__decoder *d, const cw__attrs *a, cw__resource *r,
                     int err);

/* Fills the interned and numeric fields of s from its attributes and name.
 * Returns 0 or err with d->reason set. */
int cw__dec_span_attrs(cw__decoder *d, cw__span *s, const cw__attrs *a,
                       cw__sv name, int err);

/* Applies the resource of a ResourceSpans to the spans decoded from it
 * (batch indexes first..batch->n): the function where the span carried no
 * faas.name of its own, and the region where the span had none. Runs after
 * the whole ResourceSpans is read, since protobuf and JSON may both put the
 * resource after the spans. */
void cw__dec_apply_resource(cw__decoder *d, size_t first,
                            const cw__resource *r);

/* Appends a span (already filled) and returns 0, or CW_ENOMEM. */
int cw__batch_push_span(cw__batch *b, const cw__span *s);
int cw__batch_push_link(cw__batch *b, const cw__link *l);

#endif /* CW_OTLP_H */
