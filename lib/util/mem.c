/*
 * The counting allocator: every byte an engine holds passes through here.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>

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

void *cw__scratch_get(cw__scratch *s, size_t bytes)
{
    if (bytes == 0)
        bytes = 1;
    if (s->k == CW_SCRATCH_MAX) {
        s->failed = true;
        return NULL;
    }
    void *p = cw__calloc(s->m, bytes);
    if (!p) {
        s->failed = true;
        return NULL;
    }
    s->p[s->k] = p;
    s->n[s->k++] = bytes;
    return p;
}

void cw__scratch_free(cw__scratch *s)
{
    for (int i = 0; i < s->k; i++)
        cw__free(s->m, s->p[i], s->n[i]);
    s->k = 0;
}
