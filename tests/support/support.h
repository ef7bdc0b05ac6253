/*
 * Test and benchmark support: the protobuf-c reference decoder, file and
 * guard-page helpers.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CW_TEST_SUPPORT_H
#define CW_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "gen.h"
#include "otlp/otlp.h"

/* Decodes buf with protobuf-c (unpack into full messages, then walk them)
 * into d->batch, applying the same model rules as the hot path. Returns 0 or
 * CW_EPROTO when protobuf-c cannot unpack the bytes. */
int cwt_ref_decode_pb(cw__decoder *d, const uint8_t *buf, size_t len);

/* protobuf-c unpack + free only, no conversion: the benchmark baseline.
 * Returns the number of spans, or -1 when the bytes do not unpack. */
long cwt_pbc_unpack_free(const uint8_t *buf, size_t len);

/* Reads a whole file (malloc'd, caller frees). Returns NULL on error. */
uint8_t *cwt_read_file(const char *path, size_t *len);

/* A copy of data placed so that its last byte is followed by an inaccessible
 * page: any read past the end faults. */
typedef struct cwt_guarded {
    uint8_t *data;
    void *map;
    size_t map_len;
} cwt_guarded;

int cwt_guard(cwt_guarded *g, const void *data, size_t len);
void cwt_unguard(cwt_guarded *g);

/* A generated workload (tools/gen, default shape) as protobuf requests. */
typedef struct cwt_requests {
    cwg_buf *r;
    size_t n;
    size_t spans;
} cwt_requests;

/* Generates spans spans from seed, batch to a request, the given share
 * moved to random requests (out of order), and encodes every request.
 * Returns 0 or -1. */
int cwt_requests_pb(cwt_requests *q, uint64_t seed, uint64_t spans, unsigned batch,
                    double shuffle);
void cwt_requests_free(cwt_requests *q);

/* gzip-compresses n bytes (malloc'd result, caller frees). */
uint8_t *cwt_gzip(const void *p, size_t n, size_t *zn);

/* Directory of the test data (tests/data), from the CW_TEST_DATA
 * environment variable set by meson. */
const char *cwt_data_dir(void);

#endif
