/*
 * Reference decoder on protobuf-c: unpack the whole request into messages
 * (one allocation per message), then walk them and apply the same model rules
 * (lib/otlp/attrs.c) as the hot path. Differential tests compare the two
 * record by record; benchmarks use cwt_pbc_unpack_free() as the baseline.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "support.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Req;
typedef Opentelemetry__Proto__Common__V1__KeyValue KV;
typedef Opentelemetry__Proto__Common__V1__AnyValue AV;
typedef Opentelemetry__Proto__Trace__V1__Span Span;

static bool numeric(cw__attr_key k)
{
    return k == CW_ATTR_HTTP_STATUS || k == CW_ATTR_HTTP_STATUS_LEGACY ||
           k == CW_ATTR_RESEND_COUNT;
}

static void feed(cw__attrs *a, const KV *kv)
{
    if (!kv->key || !kv->value)
        return;
    cw__attr_key k = cw__attr_lookup(kv->key, strlen(kv->key));
    if (k == CW_ATTR_NONE)
        return;
    const AV *v = kv->value;
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        if (numeric(k)) {
            size_t n = strlen(v->string_value);
            int64_t x = 0;
            bool ok = n > 0 && n <= 18;
            for (size_t i = 0; ok && i < n; i++) {
                ok = v->string_value[i] >= '0' && v->string_value[i] <= '9';
                x = x * 10 + (v->string_value[i] - '0');
            }
            if (ok) {
                a->num[k] = x;
                a->have |= 1u << k;
            }
        } else {
            a->s[k].p = v->string_value;
            a->s[k].n = (uint32_t)strlen(v->string_value);
            a->have |= 1u << k;
        }
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        if (numeric(k)) {
            a->num[k] = v->int_value;
            a->have |= 1u << k;
        }
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        if (numeric(k) && v->double_value >= 0 && v->double_value < 1e15) {
            a->num[k] = (int64_t)v->double_value;
            a->have |= 1u << k;
        }
        break;
    default:
        break;
    }
}

static int span(cw__decoder *d, const Span *sp)
{
    cw__batch *b = d->batch;
    cw__span s;
    memset(&s, 0, sizeof s);
    cw__attrs a;
    cw__attrs_clear(&a);
    size_t link_first = b->nlinks;
    for (size_t i = 0; i < sp->n_attributes; i++)
        feed(&a, sp->attributes[i]);
    for (size_t i = 0; i < sp->n_links; i++) {
        const Opentelemetry__Proto__Trace__V1__Span__Link *l = sp->links[i];
        cw__link cl;
        if (l->trace_id.len == 16 && l->span_id.len == 8) {
            cl.trace.hi = cw__load_be64(l->trace_id.data);
            cl.trace.lo = cw__load_be64(l->trace_id.data + 8);
            cl.span_id = cw__load_be64(l->span_id.data);
            if (!cw__tid_is_zero(cl.trace) && cl.span_id) {
                if (cw__batch_push_link(b, &cl))
                    return CW_ENOMEM;
                continue;
            }
        }
        b->links_dropped++;
    }
    s.kind = (unsigned)sp->kind > 255 ? 255 : (uint8_t)sp->kind;
    s.start_ns = sp->start_time_unix_nano;
    s.end_ns = sp->end_time_unix_nano;
    if (sp->status)
        s.status = (unsigned)sp->status->code > 255 ? 255 : (uint8_t)sp->status->code;

    cw_reject_reason why = CW_REJECT_COUNT;
    if (sp->trace_id.len != 16) {
        why = CW_REJECT_BAD_TRACE_ID;
    } else {
        s.trace.hi = cw__load_be64(sp->trace_id.data);
        s.trace.lo = cw__load_be64(sp->trace_id.data + 8);
        if (cw__tid_is_zero(s.trace))
            why = CW_REJECT_BAD_TRACE_ID;
    }
    if (why == CW_REJECT_COUNT) {
        if (sp->span_id.len != 8 || (s.span_id = cw__load_be64(sp->span_id.data)) == 0)
            why = CW_REJECT_BAD_SPAN_ID;
        else if (sp->parent_span_id.len == 8)
            s.parent_id = cw__load_be64(sp->parent_span_id.data);
        else if (sp->parent_span_id.len != 0)
            why = CW_REJECT_BAD_PARENT_ID;
    }
    if (why != CW_REJECT_COUNT) {
        b->rejected[why]++;
        b->nlinks = link_first;
        return 0;
    }
    cw__sv name = {sp->name ? sp->name : "", sp->name ? (uint32_t)strlen(sp->name) : 0};
    int r = cw__dec_span_attrs(d, &s, &a, name, CW_EPROTO);
    if (r)
        return r;
    s.link_first = (uint32_t)link_first;
    s.link_count = (uint32_t)(b->nlinks - link_first);
    return cw__batch_push_span(b, &s);
}

int cwt_ref_decode_pb(cw__decoder *d, const uint8_t *buf, size_t len)
{
    Req *req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, len, buf);
    if (!req) {
        d->reason = "protobuf-c could not unpack the request";
        return CW_EPROTO;
    }
    int r = 0;
    for (size_t i = 0; i < req->n_resource_spans && !r; i++) {
        const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[i];
        cw__attrs ra;
        cw__attrs_clear(&ra);
        if (rs->resource)
            for (size_t k = 0; k < rs->resource->n_attributes; k++)
                feed(&ra, rs->resource->attributes[k]);
        size_t first = d->batch->n;
        for (size_t k = 0; k < rs->n_scope_spans && !r; k++) {
            const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[k];
            for (size_t m = 0; m < ss->n_spans && !r; m++)
                r = span(d, ss->spans[m]);
        }
        if (r)
            break;
        cw__resource res;
        r = cw__dec_resource(d, &ra, &res, CW_EPROTO);
        if (!r)
            cw__dec_apply_resource(d, first, &res);
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
                                                                                            NULL);
    return r;
}

long cwt_pbc_unpack_free(const uint8_t *buf, size_t len)
{
    Req *req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, len, buf);
    if (!req)
        return -1;
    long n = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++)
        for (size_t k = 0; k < req->resource_spans[i]->n_scope_spans; k++)
            n += (long)req->resource_spans[i]->scope_spans[k]->n_spans;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
                                                                                            NULL);
    return n;
}
