/*
 * OTLP JSON decoder: a single-pass reader that walks the OTLP schema and
 * skips everything else, filling the same records as the protobuf path.
 *
 * Why hand-written: a generic JSON library first builds a document tree (one
 * allocation per node) that we would then walk again; reading the schema
 * directly keeps the decoder allocation-free (bench/README.md has the
 * comparison with cJSON, json-c and jansson).
 *
 * The OTLP JSON mapping (opentelemetry-proto docs/specification.md): ids are
 * hex strings (either case accepted), keys lowerCamelCase (the proto field
 * names are accepted too, as the Collector does), enums integers (their proto
 * names accepted too), 64-bit integers as decimal strings or numbers, unknown
 * keys ignored, null treated as absent.
 *
 * What is validated: the JSON grammar of every value we read or skip;
 * nesting depth (MAX_DEPTH); escapes; UTF-8 of every string we keep.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>
#include <stdlib.h>

#include "otlp.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Deepest nesting accepted anywhere in a request. OTLP's own structure is 11
 * levels to an attribute value; 64 leaves room for nested kvlist values while
 * keeping the skipper's recursion bounded. */
#define MAX_DEPTH 64

typedef struct jctx {
    cw__decoder *d;
    const char *base;
    const char *p;
    const char *end;
    cw__attrs res_attrs;
    cw__attrs span_attrs;
} jctx;

static CW_NOINLINE int fail(jctx *c, const char *why)
{
    c->d->reason = why;
    c->d->err_off = (size_t)(c->p - c->base);
    return CW_EJSON;
}

CW_INLINE void ws(jctx *c)
{
    while (c->p < c->end && (unsigned char)*c->p <= ' ' &&
           (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

/* ------------------------------------------------------------- strings */

/* Position of the first '"', '\\' or control byte at or after p (or end). */
static const char *scan_string(const char *p, const char *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i ctl = _mm_set1_epi8(0x1f);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* Control bytes are 0x00-0x1f: unsigned v <= 0x1f, i.e.
         * min(v, 0x1f) == v. */
        __m128i m = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
            _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));
        int mask = _mm_movemask_epi8(m);
        if (mask)
            return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
        p++;
    return p;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = cw__hexval[(unsigned char)p[i]];
        if (h < 0)
            return -1;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | cp >> 12);
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | cp >> 18);
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* Room for n unescaped bytes in the scratch. Scratch blocks never move
 * (views into them stay valid for the whole request); each begins with a
 * header linking the previous block and giving its own size, for
 * cw__decoder_done(). A new block starts when the current one is short. */
#define SCRATCH_BLOCK (64u * 1024u)

static char *scratch_room(cw__decoder *d, size_t n)
{
    if (d->scratch && d->scratch_cap - d->scratch_used >= n)
        return d->scratch + d->scratch_used;
    cw__scratch_hdr h = {d->scratch, 0};
    h.cap = n + sizeof h > SCRATCH_BLOCK ? n + sizeof h : SCRATCH_BLOCK;
    char *b = cw__malloc(d->batch->mem, h.cap);
    if (!b)
        return NULL;
    memcpy(b, &h, sizeof h);
    d->scratch = b;
    d->scratch_cap = h.cap;
    d->scratch_used = sizeof h;
    return b + d->scratch_used;
}

/* The escaped length of the string starting at start (just after its
 * opening quote): up to its closing quote, or the end of input. */
static size_t escaped_extent(const char *start, const char *end)
{
    const char *p = start;
    for (;;) {
        p = scan_string(p, end);
        if (p >= end || *p == '"')
            return (size_t)(p - start);
        if (*p == '\\' && end - p >= 2)
            p += 2;
        else
            p++;
    }
}

/* Unescapes the string starting at c->p (just after the opening quote) into
 * the scratch buffer; c->p ends after the closing quote. An unescaped string
 * is never longer than its escaped form, so its extent bounds the room. */
static CW_NOINLINE int string_escaped(jctx *c, const char *start, cw__sv *out)
{
    cw__decoder *d = c->d;
    char *o0 = scratch_room(d, escaped_extent(start, c->end)), *o = o0;
    if (!o0)
        return CW_ENOMEM;
    const char *p = start;
    for (;;) {
        const char *q = scan_string(p, c->end);
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        p = q;
        if (p >= c->end) {
            c->p = p;
            return fail(c, "unterminated string");
        }
        if (*p == '"')
            break;
        if ((unsigned char)*p < 0x20) {
            c->p = p;
            return fail(c, "control character in a string");
        }
        /* backslash */
        if (c->end - p < 2) {
            c->p = p;
            return fail(c, "unterminated escape");
        }
        char e = p[1];
        p += 2;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp;
            if (c->end - p < 4 || hex4(p, &cp)) {
                c->p = p;
                return fail(c, "invalid \\u escape");
            }
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo;
                if (c->end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                    hex4(p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                    c->p = p;
                    return fail(c, "unpaired UTF-16 surrogate in \\u escape");
                }
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                c->p = p;
                return fail(c, "unpaired UTF-16 surrogate in \\u escape");
            }
            o = put_utf8(o, cp);
            break;
        }
        default:
            c->p = p - 2;
            return fail(c, "invalid escape in a string");
        }
    }
    /* An escape never expands (\uXXXX is 6 bytes for at most 3; a surrogate
     * pair 12 for 4): the room reserved above suffices. */
    d->scratch_used += (size_t)(o - o0);
    c->p = p + 1;
    out->p = o0;
    out->n = (uint32_t)(o - o0);
    return 0;
}

/* Reads a string at c->p (which must be at its opening quote). The view
 * points into the input, or into scratch when the string had escapes. */
static int string(jctx *c, cw__sv *out)
{
    if (CW_UNLIKELY(c->p >= c->end || *c->p != '"'))
        return fail(c, "expected a string");
    const char *start = c->p + 1;
    const char *q = scan_string(start, c->end);
    if (CW_LIKELY(q < c->end && *q == '"')) {
        if (CW_UNLIKELY((size_t)(q - start) > UINT32_MAX))
            return fail(c, "string too long");
        out->p = start;
        out->n = (uint32_t)(q - start);
        c->p = q + 1;
        return 0;
    }
    if (q < c->end && *q == '\\')
        return string_escaped(c, start, out);
    c->p = q;
    return fail(c, q < c->end ? "control character in a string"
                              : "unterminated string");
}

/* ------------------------------------------------------------ skipping */

static int skip_value(jctx *c, int depth);

static int literal(jctx *c, const char *lit, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return fail(c, "invalid literal");
    c->p += n;
    return 0;
}

/* Checks the JSON number grammar and moves past it. */
static int skip_number(jctx *c)
{
    const char *p = c->p, *end = c->end;
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        goto bad;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        goto bad;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            goto bad;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            goto bad;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    c->p = p;
    return 0;
bad:
    c->p = p;
    return fail(c, "invalid number");
}

/* Member and element iteration. Each returns 1 when positioned at a value (a
 * member's key already read into *key), 0 at the closing bracket (consumed),
 * or a negative error. *first starts true. */
static int obj_next(jctx *c, bool *first, cw__sv *key)
{
    ws(c);
    if (CW_UNLIKELY(c->p >= c->end))
        return fail(c, "unexpected end of input in an object");
    if (*c->p == '}') {
        c->p++;
        return 0;
    }
    if (!*first) {
        if (CW_UNLIKELY(*c->p != ','))
            return fail(c, "expected ',' or '}' in an object");
        c->p++;
        ws(c);
    }
    *first = false;
    int r = string(c, key);
    if (r)
        return r;
    ws(c);
    if (CW_UNLIKELY(c->p >= c->end || *c->p != ':'))
        return fail(c, "expected ':' after an object key");
    c->p++;
    ws(c);
    if (CW_UNLIKELY(c->p >= c->end))
        return fail(c, "unexpected end of input after ':'");
    return 1;
}

static int arr_next(jctx *c, bool *first)
{
    ws(c);
    if (CW_UNLIKELY(c->p >= c->end))
        return fail(c, "unexpected end of input in an array");
    if (*c->p == ']') {
        c->p++;
        return 0;
    }
    if (!*first) {
        if (CW_UNLIKELY(*c->p != ','))
            return fail(c, "expected ',' or ']' in an array");
        c->p++;
        ws(c);
        if (CW_UNLIKELY(c->p >= c->end))
            return fail(c, "unexpected end of input in an array");
    }
    *first = false;
    return 1;
}

/* Opens an object or array at c->p. Returns 1 when opened, 0 when the value
 * was null (treated as absent/empty), or an error. */
static int jopen(jctx *c, char ch, int depth)
{
    ws(c);
    if (CW_UNLIKELY(depth > MAX_DEPTH))
        return fail(c, "nesting too deep");
    if (CW_LIKELY(c->p < c->end && *c->p == ch)) {
        c->p++;
        return 1;
    }
    if (c->p < c->end && *c->p == 'n') {
        int r = literal(c, "null", 4);
        return r ? r : 0;
    }
    return fail(c, ch == '{' ? "expected an object" : "expected an array");
}

static int skip_value(jctx *c, int depth)
{
    ws(c);
    if (c->p >= c->end)
        return fail(c, "unexpected end of input, expected a value");
    switch (*c->p) {
    case '"': {
        cw__sv s;
        /* Skipped strings are not unescaped: only checked and passed. */
        const char *start = c->p + 1;
        for (;;) {
            const char *q = scan_string(start, c->end);
            if (q >= c->end) {
                c->p = q;
                return fail(c, "unterminated string");
            }
            if (*q == '"') {
                c->p = q + 1;
                return 0;
            }
            if (*q == '\\') {
                c->p = start - 1;
                return string(c, &s); /* validates escapes */
            }
            c->p = q;
            return fail(c, "control character in a string");
        }
    }
    case '{': {
        if (depth + 1 > MAX_DEPTH)
            return fail(c, "nesting too deep");
        c->p++;
        bool first = true;
        cw__sv k;
        int r;
        while ((r = obj_next(c, &first, &k)) > 0)
            if ((r = skip_value(c, depth + 1)))
                return r;
        return r;
    }
    case '[': {
        if (depth + 1 > MAX_DEPTH)
            return fail(c, "nesting too deep");
        c->p++;
        bool first = true;
        int r;
        while ((r = arr_next(c, &first)) > 0)
            if ((r = skip_value(c, depth + 1)))
                return r;
        return r;
    }
    case 't':
        return literal(c, "true", 4);
    case 'f':
        return literal(c, "false", 5);
    case 'n':
        return literal(c, "null", 4);
    default:
        return skip_number(c);
    }
}

/* -------------------------------------------------------------- scalars */

/* An integer given as a JSON number or a decimal string (OTLP's 64-bit
 * mapping). Fractions and exponents are rejected: these fields are integers. */
static int integer(jctx *c, bool allow_neg, uint64_t *mag, bool *neg)
{
    bool quoted = false;
    cw__sv s;
    const char *p, *end;
    if (*c->p == '"') {
        int r = string(c, &s);
        if (r)
            return r;
        p = s.p;
        end = s.p + s.n;
        quoted = true;
    } else {
        p = c->p;
        end = c->end;
    }
    *neg = false;
    if (p < end && *p == '-' && allow_neg) {
        *neg = true;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9') {
        if (!quoted)
            c->p = p;
        return fail(c, "expected an integer");
    }
    uint64_t v = 0;
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9') {
        unsigned dgt = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - dgt) / 10) {
            if (!quoted)
                c->p = p;
            return fail(c, "integer out of range");
        }
        v = v * 10 + dgt;
        p++;
    }
    /* The JSON grammar forbids leading zeros in numbers; inside a string
     * ("007", the 64-bit mapping) they are accepted, as Go's protojson does. */
    if (!quoted && p - digits > 1 && *digits == '0') {
        c->p = digits;
        return fail(c, "leading zero in an integer");
    }
    if (quoted) {
        if (p != end)
            return fail(c, "expected an integer");
    } else {
        if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) {
            c->p = p;
            return fail(c, "expected an integer, got a fraction or exponent");
        }
        c->p = p;
    }
    *mag = v;
    return 0;
}

static int u64_value(jctx *c, uint64_t *out)
{
    bool neg;
    if (*c->p == 'n') {
        *out = 0;
        return literal(c, "null", 4);
    }
    return integer(c, false, out, &neg);
}

static int i64_value(jctx *c, int64_t *out)
{
    uint64_t m;
    bool neg;
    int r = integer(c, true, &m, &neg);
    if (r)
        return r;
    if (neg ? m > (uint64_t)INT64_MAX + 1 : m > (uint64_t)INT64_MAX)
        return fail(c, "integer out of range");
    *out = neg ? (int64_t)(0 - m) : (int64_t)m;
    return 0;
}

/* An enum: its integer, or its proto name looked up in names[] (NULL
 * ending). Unknown names read as 0, as for unknown enum values. */
static int enum_value(jctx *c, const char *const *names, uint64_t *out)
{
    if (*c->p == 'n') {
        *out = 0;
        return literal(c, "null", 4);
    }
    if (*c->p == '"') {
        cw__sv s;
        int r = string(c, &s);
        if (r)
            return r;
        for (uint64_t i = 0; names[i]; i++) {
            if (strlen(names[i]) == s.n && memcmp(names[i], s.p, s.n) == 0) {
                *out = i;
                return 0;
            }
        }
        /* A number in a string is the value too; anything else is an
         * unknown name, read as 0 like an unknown value. */
        uint64_t v = 0;
        bool digits = s.n > 0 && s.n <= 9;
        for (uint32_t i = 0; digits && i < s.n; i++) {
            digits = s.p[i] >= '0' && s.p[i] <= '9';
            v = v * 10 + (uint64_t)(s.p[i] - '0');
        }
        *out = digits ? v : 0;
        return 0;
    }
    int64_t v;
    int r = i64_value(c, &v);
    if (r)
        return r;
    *out = v < 0 ? 255 : (uint64_t)v;
    return 0;
}

static const char *const kind_names[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER", NULL};
static const char *const status_names[] = {
    "STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR", NULL};

/* An id: hex string. Returns its byte length in *n (0 for "" or null), or a
 * decode error for a non-hex digit or an odd length. Ids longer than 16 bytes
 * keep their length (the span is then rejected) but only 16 are stored. */
static int hex_id(jctx *c, uint8_t out[16], size_t *n)
{
    if (*c->p == 'n') {
        *n = 0;
        return literal(c, "null", 4);
    }
    cw__sv s;
    int r = string(c, &s);
    if (r)
        return r;
    if (s.n & 1)
        return fail(c, "id with an odd number of hex digits");
    size_t bytes = s.n / 2;
    size_t keep = bytes > 16 ? 16 : bytes;
    if (!cw__hex_decode(s.p, keep, out))
        return fail(c, "invalid hex digit in an id");
    for (size_t i = keep * 2; i < s.n; i++)
        if (cw__hexval[(unsigned char)s.p[i]] < 0)
            return fail(c, "invalid hex digit in an id");
    *n = bytes;
    return 0;
}

/* ------------------------------------------------------------ schema */

#define KEY(lit) (key.n == sizeof(lit) - 1 && memcmp(key.p, lit, sizeof(lit) - 1) == 0)
#define KEY2(a, b) (KEY(a) || KEY(b))

/* AnyValue object of an attribute the model reads. */
static int any_value(jctx *c, cw__attrs *a, cw__attr_key k, int depth)
{
    int r = jopen(c, '{', depth);
    if (r <= 0)
        return r;
    bool first = true, numeric = cw__attr_numeric(k);
    cw__sv key;
    while ((r = obj_next(c, &first, &key)) > 0) {
        if (KEY2("stringValue", "string_value") && *c->p == '"') {
            cw__sv s;
            if ((r = string(c, &s)))
                return r;
            if (numeric) {
                int64_t v = 0;
                bool ok = s.n > 0 && s.n <= 18;
                for (uint32_t i = 0; ok && i < s.n; i++) {
                    ok = s.p[i] >= '0' && s.p[i] <= '9';
                    v = v * 10 + (s.p[i] - '0');
                }
                if (ok) {
                    a->num[k] = v;
                    a->have |= 1u << k;
                }
            } else {
                a->s[k] = s;
                a->have |= 1u << k;
            }
        } else if (numeric && KEY2("intValue", "int_value") && *c->p != 'n') {
            int64_t v;
            if ((r = i64_value(c, &v)))
                return r;
            a->num[k] = v;
            a->have |= 1u << k;
        } else if (numeric && KEY2("doubleValue", "double_value") &&
                   *c->p != '"' && *c->p != 'n') {
            const char *s0 = c->p;
            if ((r = skip_number(c)))
                return r;
            char tmp[64];
            size_t n = (size_t)(c->p - s0);
            if (n < sizeof tmp) {
                memcpy(tmp, s0, n);
                tmp[n] = '\0';
                double dv = strtod(tmp, NULL);
                if (dv >= 0 && dv < 1e15) {
                    a->num[k] = (int64_t)dv;
                    a->have |= 1u << k;
                }
            }
        } else if ((r = skip_value(c, depth + 1))) {
            return r;
        }
    }
    return r;
}

static int key_value(jctx *c, cw__attrs *a, int depth)
{
    int r = jopen(c, '{', depth);
    if (r <= 0)
        return r;
    bool first = true, have_key = false;
    cw__attr_key k = CW_ATTR_NONE;
    const char *value_at = NULL; /* a "value" seen before "key" */
    cw__sv key;
    while ((r = obj_next(c, &first, &key)) > 0) {
        if (KEY("key")) {
            cw__sv name;
            if (*c->p == 'n') {
                if ((r = literal(c, "null", 4)))
                    return r;
                continue;
            }
            if ((r = string(c, &name)))
                return r;
            k = cw__attr_lookup(name.p, name.n);
            have_key = true;
        } else if (KEY("value") && have_key && k != CW_ATTR_NONE) {
            if ((r = any_value(c, a, k, depth + 1)))
                return r;
        } else {
            if (KEY("value") && !have_key)
                value_at = c->p;
            if ((r = skip_value(c, depth + 1)))
                return r;
        }
    }
    if (r < 0)
        return r;
    if (value_at && k != CW_ATTR_NONE) {
        /* The value came first: read it again now that the key is known. */
        const char *resume = c->p;
        c->p = value_at;
        if ((r = any_value(c, a, k, depth + 1)))
            return r;
        c->p = resume;
    }
    return 0;
}

static int attributes(jctx *c, cw__attrs *a, int depth)
{
    int r = jopen(c, '[', depth);
    if (r <= 0)
        return r;
    bool first = true;
    while ((r = arr_next(c, &first)) > 0)
        if ((r = key_value(c, a, depth + 1)))
            return r;
    return r;
}

static int link(jctx *c, int depth)
{
    int r = jopen(c, '{', depth);
    if (r <= 0)
        return r;
    uint8_t tid[16], sid[16];
    size_t tidn = 0, sidn = 0;
    bool first = true;
    cw__sv key;
    while ((r = obj_next(c, &first, &key)) > 0) {
        if (KEY2("traceId", "trace_id"))
            r = hex_id(c, tid, &tidn);
        else if (KEY2("spanId", "span_id"))
            r = hex_id(c, sid, &sidn);
        else
            r = skip_value(c, depth + 1);
        if (r)
            return r;
    }
    if (r < 0)
        return r;
    cw__batch *b = c->d->batch;
    if (tidn == 16 && sidn == 8) {
        cw__link l;
        l.trace.hi = cw__load_be64(tid);
        l.trace.lo = cw__load_be64(tid + 8);
        l.span_id = cw__load_be64(sid);
        if (!cw__tid_is_zero(l.trace) && l.span_id != 0)
            return cw__batch_push_link(b, &l);
    }
    b->links_dropped++;
    return 0;
}

static int status(jctx *c, uint8_t *code, int depth)
{
    int r = jopen(c, '{', depth);
    if (r <= 0)
        return r;
    bool first = true;
    cw__sv key;
    while ((r = obj_next(c, &first, &key)) > 0) {
        if (KEY("code")) {
            uint64_t v;
            if ((r = enum_value(c, status_names, &v)))
                return r;
            *code = v > 255 ? 255 : (uint8_t)v;
        } else if ((r = skip_value(c, depth + 1))) {
            return r;
        }
    }
    return r;
}

static int span(jctx *c, int depth)
{
    int r = jopen(c, '{', depth);
    if (r <= 0)
        return r;
    cw__batch *b = c->d->batch;
    cw__span s;
    memset(&s, 0, sizeof s);
    cw__attrs *a = &c->span_attrs;
    cw__attrs_clear(a);
    cw__sv name = {"", 0};
    uint8_t tid[16], sid[16], pid[16];
    size_t tidn = 0, sidn = 0, pidn = 0;
    size_t link_first = b->nlinks;
    const char *span_start = c->p;
    bool first = true;
    cw__sv key;
    while ((r = obj_next(c, &first, &key)) > 0) {
        uint64_t v;
        switch (key.n) {
        case 4:
            if (KEY("name")) {
                if (*c->p == 'n')
                    r = literal(c, "null", 4);
                else
                    r = string(c, &name);
                goto next;
            }
            if (KEY("kind")) {
                r = enum_value(c, kind_names, &v);
                s.kind = v > 255 ? 255 : (uint8_t)v;
                goto next;
            }
            break;
        case 5:
            if (KEY("links")) {
                if ((r = jopen(c, '[', depth + 1)) <= 0)
                    goto next;
                bool lf = true;
                while ((r = arr_next(c, &lf)) > 0)
                    if ((r = link(c, depth + 2)))
                        return r;
                goto next;
            }
            break;
        case 6:
            if (KEY("spanId")) {
                r = hex_id(c, sid, &sidn);
                goto next;
            }
            if (KEY("status")) {
                r = status(c, &s.status, depth + 1);
                goto next;
            }
            break;
        case 7:
            if (KEY("traceId") || KEY("span_id")) {
                r = key.p[0] == 't' ? hex_id(c, tid, &tidn)
                                    : hex_id(c, sid, &sidn);
                goto next;
            }
            break;
        case 8:
            if (KEY("trace_id")) {
                r = hex_id(c, tid, &tidn);
                goto next;
            }
            break;
        case 10:
            if (KEY("attributes")) {
                r = attributes(c, a, depth + 1);
                goto next;
            }
            break;
        case 12:
            if (KEY("parentSpanId")) {
                r = hex_id(c, pid, &pidn);
                goto next;
            }
            break;
        case 14:
            if (KEY("parent_span_id")) {
                r = hex_id(c, pid, &pidn);
                goto next;
            }
            break;
        case 15:
            if (KEY("endTimeUnixNano")) {
                r = u64_value(c, &s.end_ns);
                goto next;
            }
            break;
        case 17:
            if (KEY("startTimeUnixNano")) {
                r = u64_value(c, &s.start_ns);
                goto next;
            }
            break;
        case 18:
            if (KEY("end_time_unix_nano")) {
                r = u64_value(c, &s.end_ns);
                goto next;
            }
            break;
        case 20:
            if (KEY("start_time_unix_nano")) {
                r = u64_value(c, &s.start_ns);
                goto next;
            }
            break;
        }
        r = skip_value(c, depth + 1);
    next:
        if (r)
            return r;
    }
    if (r < 0)
        return r;

    cw_reject_reason why = cw__span_ids(&s, tid, tidn, sid, sidn, pid, pidn);
    if (why != CW_REJECT_COUNT) {
        b->rejected[why]++;
        b->nlinks = link_first;
        return 0;
    }
    r = cw__dec_span_attrs(c->d, &s, a, name, CW_EJSON);
    if (r) {
        c->d->err_off = (size_t)(span_start - c->base);
        return r;
    }
    s.link_first = (uint32_t)link_first;
    s.link_count = (uint32_t)(b->nlinks - link_first);
    return cw__batch_push_span(b, &s);
}

static int scope_spans(jctx *c, int depth)
{
    int r = jopen(c, '{', depth);
    if (r <= 0)
        return r;
    bool first = true;
    cw__sv key;
    while ((r = obj_next(c, &first, &key)) > 0) {
        if (KEY("spans")) {
            if ((r = jopen(c, '[', depth + 1)) < 0)
                return r;
            if (r == 0)
                continue;
            bool sf = true;
            while ((r = arr_next(c, &sf)) > 0)
                if ((r = span(c, depth + 2)))
                    return r;
            if (r < 0)
                return r;
        } else if ((r = skip_value(c, depth + 1))) {
            return r;
        }
    }
    return r;
}

static int resource(jctx *c, int depth)
{
    int r = jopen(c, '{', depth);
    if (r <= 0)
        return r;
    bool first = true;
    cw__sv key;
    while ((r = obj_next(c, &first, &key)) > 0) {
        if (KEY("attributes"))
            r = attributes(c, &c->res_attrs, depth + 1);
        else
            r = skip_value(c, depth + 1);
        if (r)
            return r;
    }
    return r;
}

static int resource_spans(jctx *c, int depth)
{
    int r = jopen(c, '{', depth);
    if (r <= 0)
        return r;
    size_t first_span = c->d->batch->n;
    const char *start = c->p;
    cw__attrs_clear(&c->res_attrs);
    bool first = true;
    cw__sv key;
    while ((r = obj_next(c, &first, &key)) > 0) {
        if (KEY("resource")) {
            r = resource(c, depth + 1);
        } else if (KEY2("scopeSpans", "scope_spans")) {
            if ((r = jopen(c, '[', depth + 1)) < 0)
                return r;
            if (r == 0)
                continue;
            bool sf = true;
            while ((r = arr_next(c, &sf)) > 0)
                if ((r = scope_spans(c, depth + 2)))
                    return r;
        } else {
            r = skip_value(c, depth + 1);
        }
        if (r < 0)
            return r;
    }
    if (r < 0)
        return r;
    cw__resource res;
    r = cw__dec_resource(c->d, &c->res_attrs, &res, CW_EJSON);
    if (r) {
        c->d->err_off = (size_t)(start - c->base);
        return r;
    }
    cw__dec_apply_resource(c->d, first_span, &res);
    return 0;
}

int cw__decode_json(cw__decoder *d, const char *buf, size_t len)
{
    jctx ctx;
    jctx *c = &ctx;
    c->d = d;
    c->base = c->p = buf;
    c->end = buf + len;
    /* A UTF-8 byte order mark is tolerated, as most JSON readers do. */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        c->p += 3;
    int r = jopen(c, '{', 1);
    if (r == 0)
        return fail(c, "expected an object");
    if (r < 0)
        return r;
    bool first = true;
    cw__sv key;
    while ((r = obj_next(c, &first, &key)) > 0) {
        if (KEY2("resourceSpans", "resource_spans")) {
            if ((r = jopen(c, '[', 2)) < 0)
                return r;
            if (r == 0)
                continue;
            bool rf = true;
            while ((r = arr_next(c, &rf)) > 0)
                if ((r = resource_spans(c, 3)))
                    return r;
            if (r < 0)
                return r;
        } else if ((r = skip_value(c, 2))) {
            return r;
        }
    }
    if (r < 0)
        return r;
    ws(c);
    if (c->p != c->end)
        return fail(c, "trailing characters after the JSON object");
    return 0;
}
