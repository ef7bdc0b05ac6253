/*
 * The counting allocator: every byte an engine holds passes through here.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "util.h"

static void *libc_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

static void *libc_realloc(void *ctx, void *p, size_t old_n, size_t new_n)
{
    (void)ctx;
    (void)old_n;
    return realloc(p, new_n);
}

static void *libc_calloc(void *ctx, size_t n)
{
    (void)ctx;
    return calloc(1, n);
}

static void libc_free(void *ctx, void *p, size_t n)
{
    (void)ctx;
    (void)n;
    free(p);
}

void cw__mem_init(cw__mem *m, const cw_allocator *a)
{
    if (a && a->malloc && a->realloc && a->free) {
        m->a = *a;
    } else {
        m->a.malloc = libc_malloc;
        m->a.realloc = libc_realloc;
        m->a.free = libc_free;
        m->a.calloc = libc_calloc;
        m->a.ctx = NULL;
    }
    atomic_init(&m->in_use, 0);
}

void *cw__malloc(cw__mem *m, size_t n)
{
    void *p = m->a.malloc(m->a.ctx, n ? n : 1);
    if (p)
        atomic_fetch_add_explicit(&m->in_use, n, memory_order_relaxed);
    return p;
}

void *cw__calloc(cw__mem *m, size_t n)
{
    if (!m->a.calloc) {
        void *p = cw__malloc(m, n);
        if (p)
            memset(p, 0, n);
        return p;
    }
    void *p = m->a.calloc(m->a.ctx, n ? n : 1);
    if (p)
        atomic_fetch_add_explicit(&m->in_use, n, memory_order_relaxed);
    return p;
}

void *cw__realloc(cw__mem *m, void *p, size_t old_n, size_t new_n)
{
    if (!p)
        return cw__malloc(m, new_n);
    void *q = m->a.realloc(m->a.ctx, p, old_n, new_n ? new_n : 1);
    if (q) {
        atomic_fetch_add_explicit(&m->in_use, new_n, memory_order_relaxed);
        atomic_fetch_sub_explicit(&m->in_use, old_n, memory_order_relaxed);
    }
    return q;
}

void cw__free(cw__mem *m, void *p, size_t n)
{
    if (!p)
        return;
    m->a.free(m->a.ctx, p, n);
    atomic_fetch_sub_explicit(&m->in_use, n, memory_order_relaxed);
}

void cw__mem_charge(cw__mem *m, int64_t delta)
{
    atomic_fetch_add_explicit(&m->in_use, (uint64_t)delta, memory_order_relaxed);
}

static size_t region_round(size_t bytes)
{
    return (bytes + CW_REGION_MIN - 1) & ~(CW_REGION_MIN - 1);
}

void *cw__region_reserve(cw__mem *m, size_t bytes)
{
    if (m->a.malloc != libc_malloc || bytes == 0 || bytes > SIZE_MAX / 2)
        return NULL;
    size_t len = region_round(bytes);
    /* One huge page of slack so that the region can start on a 2 MiB
     * boundary (only aligned 2 MiB ranges can be huge pages); the slack is
     * unmapped again. NORESERVE: untouched pages are not committed. */
    size_t map = len + CW_REGION_MIN;
    unsigned char *p = mmap(NULL, map, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + CW_REGION_MIN - 1) & ~(uintptr_t)(CW_REGION_MIN - 1);
    size_t head = (size_t)(a - (uintptr_t)p);
    if (head)
        munmap(p, head);
    if (map - head - len)
        munmap((unsigned char *)a + len, map - head - len);
#ifdef MADV_HUGEPAGE
    /* Advice only: a kernel without THP, or with it off, gives 4 KiB. */
    madvise((void *)a, len, MADV_HUGEPAGE);
#endif
    return (void *)a;
}

void cw__region_release(void *p, size_t bytes)
{
    if (p)
        munmap(p, region_round(bytes));
}

/* With libc, a table of CW_REGION_MIN or more is always a region (libc's
 * calloc would mmap it too, only without the advice), so that free knows
 * which it is from n alone. */
static bool table_is_region(const cw__mem *m, size_t n)
{
    return n >= CW_REGION_MIN && m->a.malloc == libc_malloc;
}

void *cw__table_alloc(cw__mem *m, size_t n)
{
    if (!table_is_region(m, n))
        return cw__calloc(m, n);
    void *p = cw__region_reserve(m, n);
    if (p)
        cw__mem_charge(m, (int64_t)n);
    return p;
}

void cw__table_free(cw__mem *m, void *p, size_t n)
{
    if (!p)
        return;
    if (table_is_region(m, n)) {
        cw__region_release(p, n);
        cw__mem_charge(m, -(int64_t)n);
        return;
    }
    cw__free(m, p, n);
}

int cw__grow(cw__mem *m, void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2 / elem)
            return CW_ENOMEM;
        n *= 2;
    }
    void *p = cw__realloc(m, *arr, *cap * elem, n * elem);
    if (!p)
        return CW_ENOMEM;
    *arr = p;
    *cap = n;
    return 0;
}

void cw__scratch_init(cw__scratch *s, cw__mem *m, cw__arena *a)
{
    s->m = m;
    s->arena = a;
    s->total = 0;
    s->cur = s->local;
    s->used = 0;
    s->cap = sizeof s->local;
    s->k = 0;
    s->failed = false;
}

void cw__arena_free(cw__mem *m, cw__arena *a)
{
    cw__free(m, a->blk, a->cap);
    a->blk = NULL;
    a->cap = 0;
}

void *cw__scratch_get(cw__scratch *s, size_t bytes)
{
    /* 16-byte pieces: every scratch array is of scalars or small structs. */
    if (bytes > SIZE_MAX - 15) {
        s->failed = true;
        return NULL;
    }
    bytes = bytes ? (bytes + 15) & ~(size_t)15 : 16;
    if (s->cap - s->used < bytes) {
        cw__arena *a = s->arena;
        if (s->cur == s->local && a && a->blk && a->cap >= bytes) {
            /* The arena's block, next after the local one. */
            s->cur = a->blk;
            s->used = 0;
            s->cap = a->cap;
        } else {
            if (s->k == CW_SCRATCH_MAX) {
                s->failed = true;
                return NULL;
            }
            size_t n = s->cap * 2 > bytes ? s->cap * 2 : bytes;
            /* Large blocks are regions (huge pages, no fault per 4 KiB);
             * small ones plain malloc, since get zeroes each piece anyway.
             * cw__table_free() frees either by size. */
            unsigned char *b =
                n >= CW_REGION_MIN ? cw__table_alloc(s->m, n) : cw__malloc(s->m, n);
            if (!b) {
                s->failed = true;
                return NULL;
            }
            s->blk[s->k] = b;
            s->blen[s->k++] = n;
            s->cur = b;
            s->used = 0;
            s->cap = n;
        }
    }
    void *p = s->cur + s->used;
    s->used += bytes;
    s->total += bytes;
    memset(p, 0, bytes);
    return p;
}

void cw__scratch_free(cw__scratch *s)
{
    for (int i = 0; i < s->k; i++)
        cw__table_free(s->m, s->blk[i], s->blen[i]);
    cw__arena *a = s->arena;
    /* Leave the arena one block for all of this computation, next time. A
     * failed allocation is not retried here: the arena just stays. */
    if (a && s->k && s->total <= CW_ARENA_KEEP_MAX) {
        unsigned char *b = cw__malloc(s->m, s->total);
        if (b) {
            cw__arena_free(s->m, a);
            a->blk = b;
            a->cap = s->total;
        }
    }
    cw__scratch_init(s, s->m, a);
}
