/*
 * The nanopb baseline: an OTLP decoder on nanopb's generated descriptors
 * (proto/meson.build, no .options file) with field callbacks, written the
 * way a careful nanopb user would write a receiver:
 *
 *  - every repeated message (resource_spans, scope_spans, spans, attributes,
 *    links) is a pb_callback_t; the callbacks decode one element at a time
 *    into a stack struct, so memory stays bounded whatever the request size;
 *  - ids, names and string values are read without copying: the input is a
 *    buffer stream, whose state is the read pointer (pb_istream_from_buffer),
 *    so a callback takes a view and skips the bytes;
 *  - fields the model does not read (events, scopes, trace_state, link
 *    attributes) get no callback and nanopb skips them.
 *
 * It produces exactly the records cw__decode_pb produces (decode.c checks
 * this before timing): same id checks, same attribute classification
 * (cw__attr_lookup) and the same interning and model rules (lib/otlp/attrs.c).
 * The timed difference against the hot path is therefore the wire parsing
 * alone: nanopb's generic descriptor walk and per-field callbacks against a
 * hand-written scan.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pb_decode.h>

#include "bench.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

typedef opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest npb_request;
typedef opentelemetry_proto_trace_v1_ResourceSpans npb_resource_spans;
typedef opentelemetry_proto_trace_v1_ScopeSpans npb_scope_spans;
typedef opentelemetry_proto_trace_v1_Span npb_span;
typedef opentelemetry_proto_trace_v1_Span_Link npb_link;
typedef opentelemetry_proto_common_v1_KeyValue npb_kv;

typedef struct npb_ctx npb_ctx;

/* Where a KeyValue callback puts what it reads. */
typedef struct kv_target {
    npb_ctx *c;
    cw__attrs *a;
} kv_target;

struct npb_ctx {
    cw__decoder *d;
    int err; /* a cw error from inside a callback, 0: nanopb's own error */
    cw__attrs res_attrs, span_attrs;
    kv_target kv_res, kv_span;
};

typedef struct view {
    const uint8_t *p;
    size_t n;
    bool set;
} view;

/* Takes a view of a string/bytes field and skips it. Valid because the
 * stream is a buffer stream: its state points at the field's bytes. */
static bool view_cb(pb_istream_t *stream, const pb_field_iter_t *field, void **arg)
{
    (void)field;
    view *v = *arg;
    v->p = (const uint8_t *)stream->state;
    v->n = stream->bytes_left;
    v->set = true;
    return pb_read(stream, NULL, stream->bytes_left);
}

/* One KeyValue of a repeated attributes field. */
static bool kv_cb(pb_istream_t *stream, const pb_field_iter_t *field, void **arg)
{
    (void)field;
    kv_target *t = *arg;
    view key = {0}, str = {0};
    npb_kv kv = opentelemetry_proto_common_v1_KeyValue_init_zero;
    kv.key.funcs.decode = view_cb;
    kv.key.arg = &key;
    /* A callback inside the AnyValue oneof: nanopb leaves the union alone
     * when it sets defaults, and zeroes it before a submessage member
     * (array/kvlist) is decoded, so this pointer is used only for a
     * string_value. An AnyValue carrying a scalar and then a string (never
     * sent by an exporter) would overwrite it: the workload has none. */
    kv.value.value.string_value.funcs.decode = view_cb;
    kv.value.value.string_value.arg = &str;
    if (!pb_decode(stream, opentelemetry_proto_common_v1_KeyValue_fields, &kv))
        return false;
    if (!key.set || !kv.has_value)
        return true;
    cw__attr_key k = cw__attr_lookup((const char *)key.p, key.n);
    if (k == CW_ATTR_NONE)
        return true;
    cw__attrs *a = t->a;
    bool numeric = cw__attr_numeric(k);
    if (str.set) {
        if (numeric) {
            int64_t v;
            if (cw__parse_decimal(str.p, str.n, &v)) {
                a->num[k] = v;
                a->have |= 1u << k;
            }
        } else {
            a->s[k].p = (const char *)str.p;
            a->s[k].n = (uint32_t)str.n;
            a->have |= 1u << k;
        }
    } else if (numeric &&
               kv.value.which_value == opentelemetry_proto_common_v1_AnyValue_int_value_tag) {
        a->num[k] = kv.value.value.int_value;
        a->have |= 1u << k;
    } else if (numeric &&
               kv.value.which_value == opentelemetry_proto_common_v1_AnyValue_double_value_tag) {
        double dv = kv.value.value.double_value;
        if (dv >= 0 && dv < 1e15) {
            a->num[k] = (int64_t)dv;
            a->have |= 1u << k;
        }
    }
    return true;
}

static bool link_cb(pb_istream_t *stream, const pb_field_iter_t *field, void **arg)
{
    (void)field;
    npb_ctx *c = *arg;
    view tid = {0}, sid = {0};
    npb_link l = opentelemetry_proto_trace_v1_Span_Link_init_zero;
    l.trace_id.funcs.decode = view_cb;
    l.trace_id.arg = &tid;
    l.span_id.funcs.decode = view_cb;
    l.span_id.arg = &sid;
    if (!pb_decode(stream, opentelemetry_proto_trace_v1_Span_Link_fields, &l))
        return false;
    cw__batch *b = c->d->batch;
    if (tid.n == 16 && sid.n == 8) {
        cw__link out;
        out.trace.hi = cw__load_be64(tid.p);
        out.trace.lo = cw__load_be64(tid.p + 8);
        out.span_id = cw__load_be64(sid.p);
        if (!cw__tid_is_zero(out.trace) && out.span_id != 0) {
            c->err = cw__batch_push_link(b, &out);
            return c->err == 0;
        }
    }
    b->links_dropped++;
    return true;
}

static bool span_cb(pb_istream_t *stream, const pb_field_iter_t *field, void **arg)
{
    (void)field;
    npb_ctx *c = *arg;
    cw__batch *b = c->d->batch;
    view tid = {0}, sid = {0}, pid = {0}, name = {0};
    npb_span sp = opentelemetry_proto_trace_v1_Span_init_zero;
    sp.trace_id.funcs.decode = view_cb;
    sp.trace_id.arg = &tid;
    sp.span_id.funcs.decode = view_cb;
    sp.span_id.arg = &sid;
    sp.parent_span_id.funcs.decode = view_cb;
    sp.parent_span_id.arg = &pid;
    sp.name.funcs.decode = view_cb;
    sp.name.arg = &name;
    sp.attributes.funcs.decode = kv_cb;
    sp.attributes.arg = &c->kv_span;
    sp.links.funcs.decode = link_cb;
    sp.links.arg = c;
    cw__attrs_clear(&c->span_attrs);
    size_t link_first = b->nlinks;
    if (!pb_decode(stream, opentelemetry_proto_trace_v1_Span_fields, &sp))
        return false;

    cw__span s;
    memset(&s, 0, sizeof s);
    s.kind = (uint32_t)sp.kind > 255 ? 255 : (uint8_t)sp.kind;
    s.start_ns = sp.start_time_unix_nano;
    s.end_ns = sp.end_time_unix_nano;
    if (sp.has_status)
        s.status = (uint32_t)sp.status.code > 255 ? 255 : (uint8_t)sp.status.code;

    cw_reject_reason why = cw__span_ids(&s, tid.p, tid.n, sid.p, sid.n, pid.p, pid.n);
    if (why != CW_REJECT_COUNT) {
        b->rejected[why]++;
        b->nlinks = link_first;
        return true;
    }
    cw__sv nm = {name.set ? (const char *)name.p : "", (uint32_t)name.n};
    c->err = cw__dec_span_attrs(c->d, &s, &c->span_attrs, nm, CW_EPROTO);
    if (c->err)
        return false;
    s.link_first = (uint32_t)link_first;
    s.link_count = (uint32_t)(b->nlinks - link_first);
    c->err = cw__batch_push_span(b, &s);
    return c->err == 0;
}

static bool scope_spans_cb(pb_istream_t *stream, const pb_field_iter_t *field, void **arg)
{
    (void)field;
    npb_scope_spans ss = opentelemetry_proto_trace_v1_ScopeSpans_init_zero;
    ss.spans.funcs.decode = span_cb;
    ss.spans.arg = *arg;
    return pb_decode(stream, opentelemetry_proto_trace_v1_ScopeSpans_fields, &ss);
}

static bool resource_spans_cb(pb_istream_t *stream, const pb_field_iter_t *field, void **arg)
{
    (void)field;
    npb_ctx *c = *arg;
    npb_resource_spans rs = opentelemetry_proto_trace_v1_ResourceSpans_init_zero;
    rs.resource.attributes.funcs.decode = kv_cb;
    rs.resource.attributes.arg = &c->kv_res;
    rs.scope_spans.funcs.decode = scope_spans_cb;
    rs.scope_spans.arg = c;
    size_t first = c->d->batch->n;
    cw__attrs_clear(&c->res_attrs);
    if (!pb_decode(stream, opentelemetry_proto_trace_v1_ResourceSpans_fields, &rs))
        return false;
    /* The resource may follow the spans on the wire: apply it after the
     * whole ResourceSpans, as the hot path does. */
    cw__resource res;
    c->err = cw__dec_resource(c->d, &c->res_attrs, &res, CW_EPROTO);
    if (c->err)
        return false;
    cw__dec_apply_resource(c->d, first, &res);
    return true;
}

int cwb_npb_decode(cw__decoder *d, const uint8_t *buf, size_t len)
{
    npb_ctx c;
    c.d = d;
    c.err = 0;
    c.kv_res.c = &c;
    c.kv_res.a = &c.res_attrs;
    c.kv_span.c = &c;
    c.kv_span.a = &c.span_attrs;
    npb_request req = opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest_init_zero;
    req.resource_spans.funcs.decode = resource_spans_cb;
    req.resource_spans.arg = &c;
    pb_istream_t in = pb_istream_from_buffer(buf, len);
    if (!pb_decode(&in, opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest_fields,
                   &req)) {
        if (!c.err) {
            d->reason = PB_GET_ERROR(&in);
            c.err = CW_EPROTO;
        }
        return c.err;
    }
    return 0;
}
