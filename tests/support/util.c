/*
 * File and guard-page helpers for tests.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libdeflate.h>

#include "support.h"

uint8_t *cwt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *p = malloc(cap);
    for (;;) {
        if (!p) {
            fclose(f);
            return NULL;
        }
        n += fread(p + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        uint8_t *q = realloc(p, cap);
        if (!q)
            free(p);
        p = q;
    }
    fclose(f);
    *len = n;
    return p;
}

int cwt_guard(cwt_guarded *g, const void *data, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (len + page - 1) / page * page;
    g->map_len = body + page;
    g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED)
        return -1;
    if (mprotect((uint8_t *)g->map + body, page, PROT_NONE) != 0) {
        munmap(g->map, g->map_len);
        return -1;
    }
    g->data = (uint8_t *)g->map + body - len;
    if (len)
        memcpy(g->data, data, len);
    return 0;
}

void cwt_unguard(cwt_guarded *g)
{
    if (g->map)
        munmap(g->map, g->map_len);
    g->map = NULL;
}

const char *cwt_data_dir(void)
{
    const char *d = getenv("CW_TEST_DATA");
    return d ? d : "tests/data";
}

uint8_t *cwt_gzip(const void *p, size_t n, size_t *zn)
{
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(9);
    if (!c)
        return NULL;
    size_t cap = libdeflate_gzip_compress_bound(c, n);
    uint8_t *z = malloc(cap);
    *zn = z ? libdeflate_gzip_compress(c, p, n, z, cap) : 0;
    libdeflate_free_compressor(c);
    return z;
}

int cwt_requests_pb(cwt_requests *q, uint64_t seed, uint64_t spans, unsigned batch,
                    double shuffle)
{
    memset(q, 0, sizeof *q);
    cwg_options o;
    cwg_options_init(&o);
    o.seed = seed;
    o.spans = spans;
    o.batch_spans = batch;
    o.shuffle = shuffle;
    cwg_workload w;
    if (cwg_generate(&w, &o))
        return -1;
    q->r = calloc(w.nreq, sizeof *q->r);
    int rc = q->r ? 0 : -1;
    for (size_t i = 0; !rc && i < w.nreq; i++, q->n++)
        rc = cwg_encode_pb(&w, i, &q->r[i]);
    q->spans = w.nspans;
    cwg_free(&w);
    if (rc)
        cwt_requests_free(q);
    return rc;
}

void cwt_requests_free(cwt_requests *q)
{
    for (size_t i = 0; q->r && i < q->n; i++)
        cwg_buf_free(&q->r[i]);
    free(q->r);
    memset(q, 0, sizeof *q);
}
