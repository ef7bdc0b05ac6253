/*
 * Hot-path protobuf decoder: a hand-written scan of the OTLP wire format that
 * reads only the fields SPEC.md section 2 needs and skips everything else by
 * length. No allocation per span: records go into the caller's batch, whose
 * arrays grow geometrically and are reused across requests.
 *
 * Why not nanopb or protobuf-c: both materialize every field (protobuf-c
 * allocates each message; nanopb calls back per field through generic
 * descriptors). bench/README.md has the measured ratios.
 *
 * What is validated: every tag, varint and length on the path we read; wire
 * types of every known field of the messages we read; UTF-8 of every string we
 * keep. Messages we skip (events, scopes, attribute values of keys we do not
 * read) are skipped by length without looking inside, as any skipping decoder
 * does; a reference decoder that parses them may reject bytes we accept there.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "otlp.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

/* Expected wire type by field number for each message we read (-1: field
 * unknown to us, skipped by whatever wire type it has). */
#define NO (-1)
static const int8_t wt_request[2] = {NO, WT_LEN};
static const int8_t wt_resource_spans[4] = {NO, WT_LEN, WT_LEN, WT_LEN};
static const int8_t wt_resource[4] = {NO, WT_LEN, WT_VARINT, WT_LEN};
static const int8_t wt_scope_spans[4] = {NO, WT_LEN, WT_LEN, WT_LEN};
static const int8_t wt_span[17] = {
    NO,     WT_LEN,    WT_LEN, WT_LEN,    WT_LEN, WT_LEN,    WT_VARINT,
    WT_I64, WT_I64,    WT_LEN, WT_VARINT, WT_LEN, WT_VARINT, WT_LEN,
    WT_VARINT, WT_LEN, WT_I32};
static const int8_t wt_link[7] = {NO, WT_LEN, WT_LEN, WT_LEN, WT_LEN, WT_VARINT, WT_I32};
/* Field 1 of Status is reserved (the removed deprecated_code): unknown,
 * skipped whatever its wire type. */
static const int8_t wt_status[4] = {NO, NO, WT_LEN, WT_VARINT};
static const int8_t wt_kv[4] = {NO, WT_LEN, WT_LEN, WT_VARINT};
static const int8_t wt_any[9] = {NO,     WT_LEN, WT_VARINT, WT_VARINT, WT_I64,
                                 WT_LEN, WT_LEN, WT_LEN,    WT_VARINT};
#undef NO

typedef struct pbctx {
    cw__decoder *d;
    const uint8_t *base;
    cw__attrs res_attrs;
    cw__attrs span_attrs;
} pbctx;

static CW_NOINLINE int fail(pbctx *c, const uint8_t *at, const char *why)
{
    c->d->reason = why;
    c->d->err_off = (size_t)(at - c->base);
    return CW_EPROTO;
}

/* Varints: one byte on the fast path (tags, kinds, short lengths). Returns
 * the position after the varint, or NULL when truncated or longer than ten
 * bytes / over 64 bits. */
static CW_NOINLINE const uint8_t *varint_slow(const uint8_t *p, const uint8_t *end,
                                              uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (p >= end)
            return NULL;
        uint8_t b = *p++;
        if (i == 9 && b > 1)
            return NULL;
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return p;
        }
    }
    return NULL;
}

CW_INLINE const uint8_t *varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    if (CW_LIKELY(p < end && *p < 0x80)) {
        *v = *p;
        return p + 1;
    }
    if (CW_LIKELY(end - p >= 2 && p[1] < 0x80)) {
        *v = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
        return p + 2;
    }
    return varint_slow(p, end, v);
}

/* Reads one field header. On success *field and *wt are set and, for a LEN
 * field, [*sub, *sub_end) is its payload and the return points past it. */
typedef struct field {
    uint32_t num;
    unsigned wt;
    uint64_t v;            /* VARINT value, or I64/I32 raw value */
    const uint8_t *sub;    /* LEN payload */
    const uint8_t *sub_end;
} field;

CW_INLINE const uint8_t *next_field(pbctx *c, const uint8_t *p, const uint8_t *end,
                                 field *f, int *err)
{
    uint64_t tag;
    const uint8_t *q = varint(p, end, &tag);
    if (CW_UNLIKELY(!q)) {
        *err = fail(c, p, "truncated or overlong varint in a field tag");
        return NULL;
    }
    f->num = (uint32_t)(tag >> 3);
    f->wt = (unsigned)(tag & 7);
    if (CW_UNLIKELY(tag >> 3 == 0 || tag >> 3 > 0x1fffffff)) {
        *err = fail(c, p, "invalid field number");
        return NULL;
    }
    switch (f->wt) {
    case WT_LEN: {
        uint64_t len;
        const uint8_t *r = varint(q, end, &len);
        if (CW_UNLIKELY(!r)) {
            *err = fail(c, q, "truncated or overlong varint in a length");
            return NULL;
        }
        if (CW_UNLIKELY(len > (uint64_t)(end - r))) {
            *err = fail(c, q, "length runs past the end of its message");
            return NULL;
        }
        f->sub = r;
        f->sub_end = r + len;
        return r + len;
    }
    case WT_VARINT: {
        const uint8_t *r = varint(q, end, &f->v);
        if (CW_UNLIKELY(!r)) {
            *err = fail(c, q, "truncated or overlong varint value");
            return NULL;
        }
        return r;
    }
    case WT_I64:
        if (CW_UNLIKELY(end - q < 8)) {
            *err = fail(c, q, "truncated 64-bit field");
            return NULL;
        }
        f->v = cw__load_le64(q);
        return q + 8;
    case WT_I32:
        if (CW_UNLIKELY(end - q < 4)) {
            *err = fail(c, q, "truncated 32-bit field");
            return NULL;
        }
        f->v = cw__load_le32(q);
        return q + 4;
    case WT_SGROUP:
    case WT_EGROUP:
        *err = fail(c, p, "groups are not part of OTLP (proto3)");
        return NULL;
    default:
        *err = fail(c, p, "invalid wire type");
        return NULL;
    }
}

/* Checks a known field's wire type against its message's table. */
#define CHECK_WT(tbl, f, at)                                                   \
    do {                                                                       \
        if ((f).num < CW_ARRAY_LEN(tbl) && (tbl)[(f).num] >= 0 &&              \
            (unsigned)(tbl)[(f).num] != (f).wt)                                \
            return fail(c, at, "wrong wire type for a known field");           \
    } while (0)

#define NEXT(tbl)                                                              \
    const uint8_t *at = p;                                                     \
    field f;                                                                   \
    int err_ = 0;                                                              \
    p = next_field(c, p, end, &f, &err_);                                      \
    if (CW_UNLIKELY(!p))                                                       \
        return err_;                                                           \
    CHECK_WT(tbl, f, at)

/* AnyValue of an attribute the model reads. */
static int decode_any(pbctx *c, const uint8_t *p, const uint8_t *end,
                      cw__attrs *a, cw__attr_key k)
{
    bool numeric = cw__attr_numeric(k);
    while (p < end) {
        NEXT(wt_any);
        switch (f.num) {
        case 1: /* string_value */
            if (numeric) {
                int64_t v;
                if (cw__parse_decimal(f.sub, (size_t)(f.sub_end - f.sub), &v)) {
                    a->num[k] = v;
                    a->have |= 1u << k;
                }
            } else {
                a->s[k].p = (const char *)f.sub;
                a->s[k].n = (uint32_t)(f.sub_end - f.sub);
                a->have |= 1u << k;
            }
            break;
        case 3: /* int_value */
            if (numeric) {
                a->num[k] = (int64_t)f.v;
                a->have |= 1u << k;
            }
            break;
        case 4: /* double_value */
            if (numeric) {
                double dv;
                memcpy(&dv, &f.v, 8);
                if (dv >= 0 && dv < 1e15) {
                    a->num[k] = (int64_t)dv;
                    a->have |= 1u << k;
                }
            }
            break;
        default:
            break;
        }
    }
    return 0;
}

static int decode_kv(pbctx *c, const uint8_t *p, const uint8_t *end, cw__attrs *a)
{
    /* Fast path: how every encoder writes a KeyValue, key (field 1) then
     * value (field 2), one-byte lengths, nothing else. Anything else takes
     * the general loop below, which checks every tag. */
    if (end - p >= 4 && p[0] == 0x0a && p[1] < 0x80 && (size_t)p[1] + 4 <= (size_t)(end - p)) {
        const uint8_t *k0 = p + 2, *k1 = k0 + p[1];
        if (k1[0] == 0x12 && k1[1] < 0x80 && k1 + 2 + k1[1] == end) {
            cw__attr_key k = cw__attr_lookup((const char *)k0, (size_t)(k1 - k0));
            return k == CW_ATTR_NONE ? 0 : decode_any(c, k1 + 2, end, a, k);
        }
    }
    const uint8_t *key = NULL, *key_end = NULL, *val = NULL, *val_end = NULL;
    while (p < end) {
        NEXT(wt_kv);
        if (f.num == 1) {
            key = f.sub;
            key_end = f.sub_end;
        } else if (f.num == 2) {
            val = f.sub;
            val_end = f.sub_end;
        }
    }
    if (!key || !val)
        return 0;
    cw__attr_key k = cw__attr_lookup((const char *)key, (size_t)(key_end - key));
    if (k == CW_ATTR_NONE)
        return 0;
    return decode_any(c, val, val_end, a, k);
}

static int decode_resource(pbctx *c, const uint8_t *p, const uint8_t *end)
{
    while (p < end) {
        NEXT(wt_resource);
        if (f.num == 1) {
            int r = decode_kv(c, f.sub, f.sub_end, &c->res_attrs);
            if (r)
                return r;
        }
    }
    return 0;
}

static int decode_link(pbctx *c, const uint8_t *p, const uint8_t *end)
{
    const uint8_t *tid = NULL, *sid = NULL;
    size_t tidn = 0, sidn = 0;
    while (p < end) {
        NEXT(wt_link);
        if (f.num == 1) {
            tid = f.sub;
            tidn = (size_t)(f.sub_end - f.sub);
        } else if (f.num == 2) {
            sid = f.sub;
            sidn = (size_t)(f.sub_end - f.sub);
        }
    }
    cw__link l;
    if (tidn == 16 && sidn == 8) {
        l.trace.hi = cw__load_be64(tid);
        l.trace.lo = cw__load_be64(tid + 8);
        l.span_id = cw__load_be64(sid);
        if (!cw__tid_is_zero(l.trace) && l.span_id != 0)
            return cw__batch_push_link(c->d->batch, &l);
    }
    c->d->batch->links_dropped++;
    return 0;
}

static int decode_status(pbctx *c, const uint8_t *p, const uint8_t *end,
                         uint8_t *code)
{
    while (p < end) {
        NEXT(wt_status);
        if (f.num == 3)
            *code = f.v > 255 ? 255 : (uint8_t)f.v;
    }
    return 0;
}

static int decode_span(pbctx *c, const uint8_t *p, const uint8_t *end)
{
    cw__batch *b = c->d->batch;
    cw__span s;
    memset(&s, 0, sizeof s);
    cw__attrs *a = &c->span_attrs;
    cw__attrs_clear(a);
    cw__sv name = {"", 0};
    const uint8_t *tid = NULL, *sid = NULL, *pid = NULL;
    size_t tidn = 0, sidn = 0, pidn = 0;
    size_t link_first = b->nlinks;

    while (p < end) {
        NEXT(wt_span);
        switch (f.num) {
        case 1:
            tid = f.sub;
            tidn = (size_t)(f.sub_end - f.sub);
            break;
        case 2:
            sid = f.sub;
            sidn = (size_t)(f.sub_end - f.sub);
            break;
        case 4:
            pid = f.sub;
            pidn = (size_t)(f.sub_end - f.sub);
            break;
        case 5:
            name.p = (const char *)f.sub;
            name.n = (uint32_t)(f.sub_end - f.sub);
            break;
        case 6:
            s.kind = f.v > 255 ? 255 : (uint8_t)f.v;
            break;
        case 7:
            s.start_ns = f.v;
            break;
        case 8:
            s.end_ns = f.v;
            break;
        case 9: {
            int r = decode_kv(c, f.sub, f.sub_end, a);
            if (r)
                return r;
            break;
        }
        case 13: {
            int r = decode_link(c, f.sub, f.sub_end);
            if (r)
                return r;
            break;
        }
        case 15: {
            int r = decode_status(c, f.sub, f.sub_end, &s.status);
            if (r)
                return r;
            break;
        }
        default:
            break;
        }
    }

    cw_reject_reason why = cw__span_ids(&s, tid, tidn, sid, sidn, pid, pidn);
    if (why != CW_REJECT_COUNT) {
        b->rejected[why]++;
        b->nlinks = link_first;
        return 0;
    }
    int r = cw__dec_span_attrs(c->d, &s, a, name, CW_EPROTO);
    if (r) {
        c->d->err_off = (size_t)(end - c->base);
        return r;
    }
    s.link_first = (uint32_t)link_first;
    s.link_count = (uint32_t)(b->nlinks - link_first);
    return cw__batch_push_span(b, &s);
}

static int decode_scope_spans(pbctx *c, const uint8_t *p, const uint8_t *end)
{
    while (p < end) {
        NEXT(wt_scope_spans);
        if (f.num == 2) {
            int r = decode_span(c, f.sub, f.sub_end);
            if (r)
                return r;
        }
    }
    return 0;
}

static int decode_resource_spans(pbctx *c, const uint8_t *p, const uint8_t *end)
{
    size_t first = c->d->batch->n;
    cw__attrs_clear(&c->res_attrs);
    const uint8_t *start = p;
    while (p < end) {
        NEXT(wt_resource_spans);
        int r = 0;
        if (f.num == 1)
            r = decode_resource(c, f.sub, f.sub_end);
        else if (f.num == 2)
            r = decode_scope_spans(c, f.sub, f.sub_end);
        if (r)
            return r;
    }
    cw__resource res;
    int r = cw__dec_resource(c->d, &c->res_attrs, &res, CW_EPROTO);
    if (r) {
        c->d->err_off = (size_t)(start - c->base);
        return r;
    }
    cw__dec_apply_resource(c->d, first, &res);
    return 0;
}

int cw__decode_pb(cw__decoder *d, const uint8_t *buf, size_t len)
{
    pbctx ctx;
    pbctx *c = &ctx;
    c->d = d;
    c->base = buf;
    const uint8_t *p = buf, *end = buf + len;
    while (p < end) {
        NEXT(wt_request);
        if (f.num == 1) {
            int r = decode_resource_spans(c, f.sub, f.sub_end);
            if (r)
                return r;
        }
    }
    return 0;
}
