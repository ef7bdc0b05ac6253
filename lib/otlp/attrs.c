/*
 * What the protobuf and JSON decoders share: attribute key classification,
 * interning with length cut and UTF-8 check, the span's derived fields
 * (function, target, retry and redelivery attributes) and the batch.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "otlp.h"

void cw__batch_init(cw__batch *b, cw__mem *mem)
{
    memset(b, 0, sizeof *b);
    b->mem = mem;
}

void cw__batch_reset(cw__batch *b)
{
    b->n = 0;
    b->nlinks = 0;
    memset(b->rejected, 0, sizeof b->rejected);
    b->links_dropped = 0;
    b->truncated = 0;
}

void cw__batch_free(cw__batch *b)
{
    cw__free(b->mem, b->spans, b->cap * sizeof *b->spans);
    cw__free(b->mem, b->links, b->links_cap * sizeof *b->links);
    b->spans = NULL;
    b->links = NULL;
    b->n = b->cap = b->nlinks = b->links_cap = 0;
}

int cw__batch_push_span(cw__batch *b, const cw__span *s)
{
    if (CW_UNLIKELY(b->n == b->cap) &&
        cw__grow(b->mem, (void **)&b->spans, &b->cap, b->n + 1, sizeof *s))
        return CW_ENOMEM;
    b->spans[b->n++] = *s;
    return 0;
}

int cw__batch_push_link(cw__batch *b, const cw__link *l)
{
    if (CW_UNLIKELY(b->nlinks == b->links_cap) &&
        cw__grow(b->mem, (void **)&b->links, &b->links_cap, b->nlinks + 1,
                 sizeof *l))
        return CW_ENOMEM;
    b->links[b->nlinks++] = *l;
    return 0;
}

void cw__decoder_init(cw__decoder *d, cw__interner *in, uint32_t max_attr_len,
                      cw__batch *b)
{
    memset(d, 0, sizeof *d);
    d->intern = in;
    d->max_attr_len = max_attr_len;
    d->batch = b;
}

void cw__decoder_done(cw__decoder *d)
{
    for (char *b = d->scratch; b;) {
        cw__scratch_hdr h;
        memcpy(&h, b, sizeof h);
        cw__free(d->batch->mem, b, h.cap);
        b = h.prev;
    }
    d->scratch = NULL;
    d->scratch_cap = d->scratch_used = 0;
}

#define KEY_IS(lit) (n == sizeof(lit) - 1 && memcmp(k, lit, sizeof(lit) - 1) == 0)

cw__attr_key cw__attr_lookup(const char *k, size_t n)
{
    /* Every key the model reads starts with one of these letters; one byte
     * test rejects most attributes before the length switch. */
    switch (k[0] * (n != 0)) {
    case 'c': case 'f': case 'h': case 'm': case 'r': case 's': case 'u':
        break;
    default:
        return CW_ATTR_NONE;
    }
    switch (n) {
    case 8:
        if (KEY_IS("url.path"))
            return CW_ATTR_URL_PATH;
        break;
    case 9:
        if (KEY_IS("faas.name"))
            return CW_ATTR_FAAS_NAME;
        break;
    case 10:
        if (KEY_IS("rpc.method"))
            return CW_ATTR_RPC_METHOD;
        if (KEY_IS("http.route"))
            return CW_ATTR_HTTP_ROUTE;
        break;
    case 11:
        if (KEY_IS("rpc.service"))
            return CW_ATTR_RPC_SERVICE;
        break;
    case 12:
        if (KEY_IS("service.name"))
            return CW_ATTR_SERVICE_NAME;
        if (KEY_IS("faas.trigger"))
            return CW_ATTR_FAAS_TRIGGER;
        if (KEY_IS("cloud.region"))
            return CW_ATTR_CLOUD_REGION;
        break;
    case 14:
        if (KEY_IS("server.address"))
            return CW_ATTR_SERVER_ADDRESS;
        if (KEY_IS("client.address"))
            return CW_ATTR_CLIENT_ADDRESS;
        break;
    case 16:
        if (KEY_IS("http.status_code"))
            return CW_ATTR_HTTP_STATUS_LEGACY;
        break;
    case 17:
        if (KEY_IS("faas.invoked_name"))
            return CW_ATTR_FAAS_INVOKED_NAME;
        break;
    case 18:
        if (KEY_IS("faas.invocation_id"))
            return CW_ATTR_FAAS_INVOCATION_ID;
        break;
    case 25:
        if (KEY_IS("http.response.status_code"))
            return CW_ATTR_HTTP_STATUS;
        if (KEY_IS("http.request.resend_count"))
            return CW_ATTR_RESEND_COUNT;
        break;
    case 26:
        if (KEY_IS("messaging.destination.name"))
            return CW_ATTR_MSG_DEST;
        break;
    }
    return CW_ATTR_NONE;
}

uint8_t cw__trigger_of(const char *k, size_t n)
{
    if (n == 0)
        return CW_TRIGGER_NONE;
    if (KEY_IS("http"))
        return CW_TRIGGER_HTTP;
    if (KEY_IS("pubsub"))
        return CW_TRIGGER_PUBSUB;
    if (KEY_IS("datasource"))
        return CW_TRIGGER_DATASOURCE;
    if (KEY_IS("timer"))
        return CW_TRIGGER_TIMER;
    return CW_TRIGGER_OTHER;
}

#undef KEY_IS

uint32_t cw__dec_intern(cw__decoder *d, const char *s, size_t n, bool *bad)
{
    if (n == 0)
        return CW_STR_NONE;
    if (n > d->max_attr_len) {
        n = cw__utf8_cut(s, d->max_attr_len);
        d->batch->truncated++;
        if (n == 0)
            return CW_STR_NONE;
    }
    uint64_t h = cw__hash_bytes(s, n);
    uint32_t id = cw__intern_find_hashed(d->intern, s, n, h);
    if (CW_LIKELY(id != CW_STR_NONE))
        return id; /* the same bytes were checked when first interned */
    if (!cw__utf8_valid(s, n)) {
        *bad = true;
        return CW_STR_NONE;
    }
    return cw__intern_hashed(d->intern, s, n, h);
}

static bool has(const cw__attrs *a, cw__attr_key k)
{
    return (a->have >> k) & 1u;
}

static uint32_t intern_attr(cw__decoder *d, const cw__attrs *a, cw__attr_key k,
                            bool *bad)
{
    if (!has(a, k))
        return CW_STR_NONE;
    return cw__dec_intern(d, a->s[k].p, a->s[k].n, bad);
}

int cw__dec_resource(cw__decoder *d, const cw__attrs *a, cw__resource *r,
                     int err)
{
    bool bad = false;
    uint32_t fn = intern_attr(d, a, CW_ATTR_FAAS_NAME, &bad);
    if (fn == CW_STR_NONE)
        fn = intern_attr(d, a, CW_ATTR_SERVICE_NAME, &bad);
    r->function = fn != CW_STR_NONE ? fn : CW_STR_UNKNOWN_SERVICE;
    r->region = intern_attr(d, a, CW_ATTR_CLOUD_REGION, &bad);
    if (bad) {
        d->reason = "invalid UTF-8 in a resource attribute";
        return err;
    }
    return 0;
}

/* Joins two attribute values into the call target ("a" sep "b", b optional),
 * cut to max_attr_len, and interns it. The longest possible join is two
 * maximal values and a separator; max_attr_len is capped so that it fits. */
static uint32_t intern_join(cw__decoder *d, cw__sv a, cw__sv b, bool slash,
                            bool *bad)
{
    char buf[2 * CW__MAX_ATTR_LEN_CAP + 1];
    size_t an = a.n < d->max_attr_len ? a.n : d->max_attr_len;
    size_t bn = b.n < d->max_attr_len ? b.n : d->max_attr_len;
    memcpy(buf, a.p, an);
    size_t n = an;
    if (bn) {
        if (slash && b.p[0] != '/')
            buf[n++] = '/';
        memcpy(buf + n, b.p, bn);
        n += bn;
    }
    return cw__dec_intern(d, buf, n, bad);
}

static uint32_t target_of(cw__decoder *d, const cw__attrs *a, bool *bad)
{
    static const cw__sv none = {"", 0};
    if (has(a, CW_ATTR_FAAS_INVOKED_NAME) && a->s[CW_ATTR_FAAS_INVOKED_NAME].n)
        return intern_attr(d, a, CW_ATTR_FAAS_INVOKED_NAME, bad);
    if (has(a, CW_ATTR_RPC_SERVICE) && a->s[CW_ATTR_RPC_SERVICE].n)
        return intern_join(d, a->s[CW_ATTR_RPC_SERVICE],
                           has(a, CW_ATTR_RPC_METHOD) ? a->s[CW_ATTR_RPC_METHOD]
                                                      : none,
                           true, bad);
    if (has(a, CW_ATTR_SERVER_ADDRESS) && a->s[CW_ATTR_SERVER_ADDRESS].n) {
        cw__sv path = has(a, CW_ATTR_HTTP_ROUTE)  ? a->s[CW_ATTR_HTTP_ROUTE]
                      : has(a, CW_ATTR_URL_PATH) ? a->s[CW_ATTR_URL_PATH]
                                                 : none;
        return intern_join(d, a->s[CW_ATTR_SERVER_ADDRESS], path, true, bad);
    }
    if (has(a, CW_ATTR_MSG_DEST) && a->s[CW_ATTR_MSG_DEST].n)
        return intern_attr(d, a, CW_ATTR_MSG_DEST, bad);
    return CW_STR_NONE;
}

int cw__dec_span_attrs(cw__decoder *d, cw__span *s, const cw__attrs *a,
                       cw__sv name, int err)
{
    bool bad = false;
    s->name = cw__dec_intern(d, name.p, name.n, &bad);
    if (a->have) {
        if (has(a, CW_ATTR_FAAS_NAME) && a->s[CW_ATTR_FAAS_NAME].n) {
            s->function = intern_attr(d, a, CW_ATTR_FAAS_NAME, &bad);
            s->flags |= CW_SPAN_F_FN_ON_SPAN;
        }
        s->target = target_of(d, a, &bad);
        s->region = intern_attr(d, a, CW_ATTR_CLOUD_REGION, &bad);
        if (has(a, CW_ATTR_FAAS_TRIGGER))
            s->trigger = cw__trigger_of(a->s[CW_ATTR_FAAS_TRIGGER].p,
                                        a->s[CW_ATTR_FAAS_TRIGGER].n);
        s->client = intern_attr(d, a, CW_ATTR_CLIENT_ADDRESS, &bad);
        if (has(a, CW_ATTR_FAAS_INVOCATION_ID)) {
            cw__sv v = a->s[CW_ATTR_FAAS_INVOCATION_ID];
            /* Hashed, not interned: invocation ids are unique per event and
             * would exhaust the interner. 64 bits make a false match between
             * two live entry spans of one function negligible. Zero is kept
             * for "absent". */
            if (v.n) {
                uint64_t h = cw__hash_bytes(v.p, v.n);
                s->invocation_id = h ? h : 1;
            }
        }
        cw__attr_key hk = has(a, CW_ATTR_HTTP_STATUS) ? CW_ATTR_HTTP_STATUS
                          : has(a, CW_ATTR_HTTP_STATUS_LEGACY)
                              ? CW_ATTR_HTTP_STATUS_LEGACY
                              : CW_ATTR_NONE;
        if (hk != CW_ATTR_NONE) {
            int64_t v = a->num[hk];
            if (v > 0 && v <= UINT16_MAX) {
                s->http_status = (uint16_t)v;
                s->flags |= CW_SPAN_F_HTTP_STATUS;
            }
        }
        if (has(a, CW_ATTR_RESEND_COUNT)) {
            int64_t v = a->num[CW_ATTR_RESEND_COUNT];
            s->resend_count = v <= 0 ? 0 : v > UINT16_MAX ? UINT16_MAX
                                                          : (uint16_t)v;
        }
    }
    if (bad) {
        d->reason = "invalid UTF-8 in a span name or attribute";
        return err;
    }
    return 0;
}

void cw__dec_apply_resource(cw__decoder *d, size_t first, const cw__resource *r)
{
    cw__span *s = d->batch->spans;
    for (size_t i = first; i < d->batch->n; i++) {
        if (!(s[i].flags & CW_SPAN_F_FN_ON_SPAN))
            s[i].function = r->function;
        if (s[i].region == CW_STR_NONE)
            s[i].region = r->region;
    }
}
