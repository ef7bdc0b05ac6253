/*
 * Fuzz target: the hot-path protobuf decoder, differential against
 * protobuf-c. When protobuf-c unpacks the bytes, the hot path must decode
 * them to the same records, unless it rejected what protobuf-c lets through
 * without checking: a string that is not UTF-8 (proto3 requires UTF-8), a
 * field number above 2^29-1, a varint above 64 bits (protobuf-c's parsers
 * shift those bits out), or a known varint field (bool, int, enum) sent with
 * another wire type (protobuf-c does not check those; issue 2 requires
 * wrong wire types to be errors). A reserved field is unknown, not known:
 * a regression seed covers it. Strings with an embedded
 * NUL (valid UTF-8) are cut short by protobuf-c, whose strings are C
 * strings: for such inputs the string-derived fields are not compared.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>

#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cw__mem mem;
static cw__interner *in;

/* ------------------------------------------------------------------ wire */

/* A minimal walk over the fields the model reads as strings (span names,
 * attribute keys and string values), to find an embedded NUL. Returns true
 * when one is found; stops quietly on malformed bytes. */
static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int i = 0; i < 10 && *p < end; i++) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            return true;
    }
    return false;
}

static bool has_nul(const uint8_t *p, const uint8_t *end)
{
    return memchr(p, 0, (size_t)(end - p)) != NULL;
}

/* level: 0 request, 1 ResourceSpans, 2 Resource, 3 ScopeSpans, 4 Span,
 * 5 KeyValue, 6 AnyValue. */
static bool nul_in_strings(const uint8_t *p, const uint8_t *end, int level)
{
    while (p < end) {
        uint64_t tag, len;
        if (!varint(&p, end, &tag))
            return false;
        unsigned f = (unsigned)(tag >> 3), wt = (unsigned)(tag & 7);
        if (wt == 0) {
            if (!varint(&p, end, &len))
                return false;
            continue;
        }
        if (wt == 1 || wt == 5) {
            p += wt == 1 ? 8 : 4;
            continue;
        }
        if (wt != 2 || !varint(&p, end, &len) || len > (uint64_t)(end - p))
            return false;
        const uint8_t *sub = p, *sub_end = p + len;
        p = sub_end;
        int next = -1;
        switch (level) {
        case 0: next = f == 1 ? 1 : -1; break;
        case 1: next = f == 1 ? 2 : f == 2 ? 3 : -1; break;
        case 2: next = f == 1 ? 5 : -1; break;
        case 3: next = f == 2 ? 4 : -1; break;
        case 4:
            if (f == 5 && has_nul(sub, sub_end))
                return true;
            next = f == 9 ? 5 : -1;
            break;
        case 5:
            if (f == 1 && has_nul(sub, sub_end))
                return true;
            next = f == 2 ? 6 : -1;
            break;
        case 6:
            if (f == 1 && has_nul(sub, sub_end))
                return true;
            break;
        }
        if (next >= 0 && nul_in_strings(sub, sub_end, next))
            return true;
    }
    return false;
}

static bool same(const cw__batch *a, const cw__batch *b, bool strings)
{
    if (a->n != b->n || a->nlinks != b->nlinks || a->links_dropped != b->links_dropped)
        return false;
    for (int r = 0; r < CW_REJECT_COUNT; r++)
        if (a->rejected[r] != b->rejected[r])
            return false;
    for (size_t i = 0; i < a->n; i++) {
        cw__span x = a->spans[i], y = b->spans[i];
        if (!cw__tid_eq(x.trace, y.trace) || x.span_id != y.span_id ||
            x.parent_id != y.parent_id || x.start_ns != y.start_ns || x.end_ns != y.end_ns ||
            x.link_count != y.link_count || x.kind != y.kind || x.status != y.status)
            return false;
        /* Numeric attributes may come as strings, so they count as strings. */
        if (strings && (x.invocation_id != y.invocation_id || x.function != y.function ||
                        x.http_status != y.http_status || x.resend_count != y.resend_count ||
                        x.name != y.name || x.target != y.target || x.region != y.region ||
                        x.client != y.client || x.flags != y.flags || x.trigger != y.trigger))
            return false;
    }
    for (size_t i = 0; i < a->nlinks; i++)
        if (!cw__tid_eq(a->links[i].trace, b->links[i].trace) ||
            a->links[i].span_id != b->links[i].span_id)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!in) {
        cw__mem_init(&mem, NULL);
        if (cw__intern_new(&in, &mem, 1 << 16))
            abort();
    }
    cw__batch hot, ref;
    cw__batch_init(&hot, &mem);
    cw__batch_init(&ref, &mem);
    cw__decoder d;
    cw__decoder_init(&d, in, 64, &hot);
    int rh = cw__decode_pb(&d, data, size);
    const char *why = d.reason;
    cw__decoder_done(&d);
    cw__decoder_init(&d, in, 64, &ref);
    int rr = cwt_ref_decode_pb(&d, data, size);
    cw__decoder_done(&d);
    if (rr == 0) {
        bool stricter = rh == CW_EPROTO && why &&
                        (strstr(why, "UTF-8") || strstr(why, "field number") ||
                         strstr(why, "overlong") || strstr(why, "wrong wire type"));
        bool strings = !nul_in_strings(data, data + size, 0);
        if (!stricter && (rh != 0 || !same(&hot, &ref, strings)))
            abort(); /* the hot path disagrees with protobuf-c */
    }
    cw__batch_free(&hot);
    cw__batch_free(&ref);
    return 0;
}
