/*
 * The counting allocator: every byte an engine holds passes through here.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
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

/* ------------------------------------------------------ small-block heap */

#if defined(__SANITIZE_ADDRESS__)
#define HEAP_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_ON 0
#endif
#endif
#ifndef HEAP_ON
#define HEAP_ON 1
#endif

/* Classes: 16-byte steps up to 256 bytes, 64-byte steps up to CW_HEAP_MAX
 * (at most a quarter wasted, and 6% for the records' typical 700 bytes). */
#define HEAP_FINE 256u
#define HEAP_CLASSES (HEAP_FINE / 16 + (unsigned)(CW_HEAP_MAX - HEAP_FINE) / 64)
#define HEAP_REGION CW_REGION_MIN

static struct {
    pthread_mutex_t lock;
    void *free; /* list linked through each block's first word */
} heap_cls[HEAP_CLASSES];
static pthread_mutex_t heap_carve = PTHREAD_MUTEX_INITIALIZER;
static unsigned char *heap_cur, *heap_end;
static pthread_once_t heap_once = PTHREAD_ONCE_INIT;

static void heap_lock_all(void)
{
    pthread_mutex_lock(&heap_carve);
    for (unsigned c = 0; c < HEAP_CLASSES; c++)
        pthread_mutex_lock(&heap_cls[c].lock);
}

static void heap_unlock_all(void)
{
    for (unsigned c = HEAP_CLASSES; c-- > 0;)
        pthread_mutex_unlock(&heap_cls[c].lock);
    pthread_mutex_unlock(&heap_carve);
}

static void heap_init(void)
{
    for (unsigned c = 0; c < HEAP_CLASSES; c++)
        pthread_mutex_init(&heap_cls[c].lock, NULL);
    /* A fork while another thread holds a lock must not leave the child's
     * copy locked forever (as glibc's malloc does for its arenas). */
    pthread_atfork(heap_lock_all, heap_unlock_all, heap_unlock_all);
}

static unsigned heap_class(size_t n)
{
    if (n <= HEAP_FINE)
        return n ? (unsigned)((n - 1) / 16) : 0;
    return HEAP_FINE / 16 + (unsigned)((n - HEAP_FINE - 1) / 64);
}

static size_t heap_class_size(unsigned c)
{
    if (c < HEAP_FINE / 16)
        return (size_t)(c + 1) * 16;
    return HEAP_FINE + (size_t)(c - HEAP_FINE / 16 + 1) * 64;
}

static bool heap_serves(const cw__mem *m, size_t n)
{
    return HEAP_ON && n <= CW_HEAP_MAX && m->a.malloc == libc_malloc;
}

/* A block of class c: its list's head, else carved from the current region
 * (a new one when it is used up; the few bytes left at its end are not). */
static void *heap_take(cw__mem *m, unsigned c, bool *fresh)
{
    pthread_once(&heap_once, heap_init);
    pthread_mutex_lock(&heap_cls[c].lock);
    void *p = heap_cls[c].free;
    if (p)
        heap_cls[c].free = *(void **)p;
    pthread_mutex_unlock(&heap_cls[c].lock);
    *fresh = !p;
    if (p)
        return p;
    size_t sz = heap_class_size(c);
    pthread_mutex_lock(&heap_carve);
    if ((size_t)(heap_end - heap_cur) < sz) {
        unsigned char *r = cw__region_reserve(m, HEAP_REGION);
        if (r) {
            heap_cur = r;
            heap_end = r + HEAP_REGION;
        }
    }
    if ((size_t)(heap_end - heap_cur) >= sz) {
        p = heap_cur;
        heap_cur += sz;
    }
    pthread_mutex_unlock(&heap_carve);
    return p;
}

void *cw__heap_alloc(cw__mem *m, size_t n)
{
    if (!heap_serves(m, n))
        return cw__malloc(m, n);
    bool fresh;
    void *p = heap_take(m, heap_class(n), &fresh);
    if (p)
        atomic_fetch_add_explicit(&m->in_use, n, memory_order_relaxed);
    return p;
}

void *cw__heap_calloc(cw__mem *m, size_t n)
{
    if (!heap_serves(m, n))
        return cw__calloc(m, n);
    bool fresh;
    void *p = heap_take(m, heap_class(n), &fresh);
    if (!p)
        return NULL;
    if (!fresh) /* carved blocks are still as the kernel zeroed them */
        memset(p, 0, n);
    atomic_fetch_add_explicit(&m->in_use, n, memory_order_relaxed);
    return p;
}

void cw__heap_free(cw__mem *m, void *p, size_t n)
{
    if (!p)
        return;
    if (!heap_serves(m, n)) {
        cw__free(m, p, n);
        return;
    }
    unsigned c = heap_class(n);
    pthread_mutex_lock(&heap_cls[c].lock);
    *(void **)p = heap_cls[c].free;
    heap_cls[c].free = p;
    pthread_mutex_unlock(&heap_cls[c].lock);
    atomic_fetch_sub_explicit(&m->in_use, n, memory_order_relaxed);
}
