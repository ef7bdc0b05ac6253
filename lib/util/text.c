/*
 * Hex ids, UTF-8 validation, hashing.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "util.h"

uint64_t cw__hash_bytes(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

/* A constant expression per byte, so the table needs no range designators
 * (a GNU extension). */
#define HV(c)                                                                  \
    ((c) >= '0' && (c) <= '9'   ? (c) - '0'                                    \
     : (c) >= 'a' && (c) <= 'f' ? (c) - 'a' + 10                              \
     : (c) >= 'A' && (c) <= 'F' ? (c) - 'A' + 10                              \
                                : -1)
#define HV4(b) HV(b), HV(b + 1), HV(b + 2), HV(b + 3)
#define HV16(b) HV4(b), HV4(b + 4), HV4(b + 8), HV4(b + 12)
#define HV64(b) HV16(b), HV16(b + 16), HV16(b + 32), HV16(b + 48)
const int8_t cw__hexval[256] = {HV64(0), HV64(64), HV64(128), HV64(192)};
#undef HV64
#undef HV16
#undef HV4
#undef HV

static const char hexdig[16] = "0123456789abcdef";

static void u64_hex(uint64_t v, char *out)
{
    for (int i = 15; i >= 0; i--) {
        out[i] = hexdig[v & 15];
        v >>= 4;
    }
}

void cw__tid_hex(cw__tid t, char out[33])
{
    u64_hex(t.hi, out);
    u64_hex(t.lo, out + 16);
    out[32] = '\0';
}

void cw__sid_hex(uint64_t s, char out[17])
{
    u64_hex(s, out);
    out[16] = '\0';
}

bool cw__hex_decode(const char *s, size_t n, uint8_t *out)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        int hi = cw__hexval[u[2 * i]], lo = cw__hexval[u[2 * i + 1]];
        if ((hi | lo) < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* Table-free validation after the Unicode standard's table 3-7 of well-formed
 * byte sequences. Eight ASCII bytes at a time on the fast path: most
 * attribute values are ASCII. */
bool cw__utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + n;
    while (s < end) {
        if (end - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            if ((w & 0x8080808080808080ULL) == 0) {
                s += 8;
                continue;
            }
        }
        unsigned c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f; /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f; /* nothing above U+10FFFF */
        } else {
            return false;
        }
        if ((size_t)(end - s) <= need)
            return false;
        if (s[1] < lo || s[1] > hi)
            return false;
        for (size_t i = 2; i <= need; i++)
            if ((s[i] & 0xc0) != 0x80)
                return false;
        s += need + 1;
    }
    return true;
}

size_t cw__utf8_cut(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    /* Step back over continuation bytes to the start of the last sequence,
     * then keep it only if it is complete. */
    size_t i = n;
    while (i > 0 && n - i < 4 && (s[i - 1] & 0xc0) == 0x80)
        i--;
    if (i == 0)
        return n;
    unsigned c = s[i - 1];
    size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return (n - (i - 1) >= len) ? n : i - 1;
}
