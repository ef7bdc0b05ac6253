/*
 * Bounded gunzip on libdeflate.
 *
 * libdeflate inflates a whole member into a caller-sized buffer and stops with
 * LIBDEFLATE_INSUFFICIENT_SPACE instead of writing past it, so the output
 * limit holds while inflating: a bomb costs at most about twice the limit in
 * work (the buffer doubles up to the limit) and never more than the limit in
 * memory. The gzip trailer's size field only sizes the first buffer, clamped
 * to the limit; a lie costs a retry, never an overrun.
 *
 * libdeflate over zlib: one-shot inflate is about twice zlib's speed on the
 * same data (bench/README.md, "inflate-only").
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <libdeflate.h>

#include "otlp.h"

/* First buffer when the trailer hint is useless: OTLP protobuf compresses
 * 4-10x (captures in tests/data), so 8x the input is usually one pass. */
#define GUESS_RATIO 8
#define MIN_CAP (64u * 1024u)

int cw__gunzip(cw__mem *mem, const uint8_t *in, size_t in_len, size_t limit,
               uint8_t **out, size_t *out_len, size_t *out_cap,
               const char **reason)
{
    *out = NULL;
    *out_cap = 0;
    int rc = cw__gunzip_into(mem, in, in_len, limit, out, out_cap, out_len, reason);
    if (rc) {
        cw__free(mem, *out, *out_cap);
        *out = NULL;
        *out_cap = 0;
    }
    return rc;
}

int cw__gunzip_into(cw__mem *mem, const uint8_t *in, size_t in_len, size_t limit,
                    uint8_t **bufp, size_t *capp, size_t *out_len, const char **reason)
{
    *out_len = 0;
    if (in_len < 18 || in[0] != 0x1f || in[1] != 0x8b) {
        *reason = "not gzip data (bad magic or shorter than a gzip header)";
        return CW_EGZIP;
    }
    struct libdeflate_decompressor *dd = libdeflate_alloc_decompressor();
    if (!dd)
        return CW_ENOMEM;

    uint64_t hint = cw__load_le32(in + in_len - 4);
    uint64_t guess = (uint64_t)in_len * GUESS_RATIO;
    uint64_t cap = hint > guess ? hint : guess;
    if (cap < MIN_CAP)
        cap = MIN_CAP;
    if (cap > limit)
        cap = limit;
    if (cap == 0)
        cap = 1;

    int rc = 0;
    uint8_t *buf = *bufp;
    size_t used = 0, off = 0;
    if (*capp >= cap) {
        /* Reuse the caller's buffer, as much of it as the limit allows:
         * cap is the window inflated into, *capp the allocation. */
        cap = *capp < limit ? *capp : limit;
    } else {
        /* Grow without copying: nothing in the old buffer is kept. */
        cw__free(mem, buf, *capp);
        *bufp = NULL;
        *capp = 0;
        buf = cw__malloc(mem, cap);
        if (!buf) {
            rc = CW_ENOMEM;
            goto done;
        }
        *bufp = buf;
        *capp = cap;
    }
    while (off < in_len) {
        if (in_len - off < 18 || in[off] != 0x1f || in[off + 1] != 0x8b) {
            *reason = "trailing bytes after the gzip stream";
            rc = CW_EGZIP;
            goto done;
        }
        size_t in_used = 0, got = 0;
        enum libdeflate_result res = libdeflate_gzip_decompress_ex(
            dd, in + off, in_len - off, buf + used, cap - used, &in_used, &got);
        if (res == LIBDEFLATE_INSUFFICIENT_SPACE) {
            if (cap >= limit) {
                *reason = "decompressed body exceeds the limit";
                rc = CW_ETOOBIG;
                goto done;
            }
            uint64_t ncap = cap * 2 > limit ? limit : cap * 2;
            if (ncap > *capp) {
                uint8_t *nb = cw__realloc(mem, buf, *capp, ncap);
                if (!nb) {
                    rc = CW_ENOMEM;
                    goto done;
                }
                buf = *bufp = nb;
                *capp = ncap;
            }
            cap = ncap;
            continue; /* inflate this member again into the larger buffer */
        }
        if (res != LIBDEFLATE_SUCCESS) {
            *reason = "corrupt gzip data (bad header, deflate stream or CRC)";
            rc = CW_EGZIP;
            goto done;
        }
        used += got;
        off += in_used;
    }
done:
    libdeflate_free_decompressor(dd);
    if (!rc)
        *out_len = used;
    return rc;
}
