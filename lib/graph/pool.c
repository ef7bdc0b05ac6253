/*
 * Index-addressed object pools for the graph.
 *
 * Algorithm. Objects live in chunks of 2^CW_POOL_CHUNK_SHIFT, allocated on
 * first use and installed by CAS; an index names (chunk, slot) forever.
 * With the default allocator the chunks are consecutive in one region
 * reserved for the pool's whole capacity (util.h, regions: huge pages,
 * memory committed as touched); a chunk is then charged, not allocated.
 * Never-used objects come from an atomic bump counter. Freed objects (only
 * ever freed by the graph's reclaimer, after a grace period) are chained into
 * segments of up to SEG objects through their first words, and segments
 * are pushed on a Treiber stack whose head is {first object, tag}; taking
 * objects pops a whole segment into the caller's cache, which then hands out
 * the segment's objects along its chain. A freed object is cold (freed a
 * sweep ago), so the chain also carries a skip link to the object
 * CW_POOL_PREFETCH further on: handing out one object prefetches that one,
 * and no walk waits on a miss per object. A batch of frees is sorted by
 * index first (a radix sort), so that objects come back in address order.
 *
 * Invariants. (1) An object on the free stack is reachable from exactly one
 * segment. (2) While an object is free, word 0 holds the next object of its
 * segment (CW_NIL at the end), word 2 the object CW_POOL_PREFETCH further on
 * (or CW_NIL) and, in a segment's first object, word 1 holds the first object
 * of the next segment. (3) Every access to words 0 and 1, free or in use, is
 * atomic: a thread that read a stale head may still read them after the
 * object has been reused, and that must not be a data race (objects
 * therefore begin with two _Atomic uint32_t, see graph.h). Word 2 is read
 * only by the thread that popped the segment. (4) A cache's chain is a
 * segment popped by its owner: no one else reaches it.
 *
 * Progress: lock-free. A pop or push retries only when another pop or push
 * succeeded; the tag makes a stale head (ABA) fail its CAS.
 *
 * Ordering guarantees. Push CAS is release and pop loads/CAS acquire: the
 * segment's chain words written by the pusher are visible to the popper
 * before it walks them. Chunk installation is acq_rel/acquire so that a
 * chunk's memory is seen allocated by whoever gets an index into it; later
 * accesses rely on that index having been delivered with acquire.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "graph.h"

#define CHUNK (1u << CW_POOL_CHUNK_SHIFT)
#define EMPTY ((uint64_t)CW_NIL)

static uint64_t head_pack(uint32_t idx, uint32_t tag)
{
    return (uint64_t)tag << 32 | idx;
}

static _Atomic uint32_t *word(cw__pool *p, uint32_t i, int w)
{
    return (_Atomic uint32_t *)cw__pool_at(p, i) + w;
}

int cw__pool_init(cw__pool *p, cw__mem *mem, size_t elem, uint32_t max, bool zeroed)
{
    memset(p, 0, sizeof *p);
    if (elem < 12 || max == 0 || max >= CW_NIL)
        return CW_EINVAL;
    p->mem = mem;
    p->elem = elem;
    p->max = max;
    p->zeroed = zeroed;
    p->nchunks = (uint32_t)(((uint64_t)max + CHUNK - 1) >> CW_POOL_CHUNK_SHIFT);
    p->chunks = cw__calloc(mem, p->nchunks * sizeof *p->chunks);
    if (!p->chunks)
        return CW_ENOMEM;
    if ((size_t)p->nchunks * CHUNK * elem >= CW_REGION_MIN)
        p->region = cw__region_reserve(mem, (size_t)p->nchunks * CHUNK * elem);
    atomic_init(&p->bump, 0);
    atomic_init(&p->free_segs, EMPTY);
    atomic_init(&p->in_use, 0);
    return 0;
}

void cw__pool_destroy(cw__pool *p)
{
    if (!p->chunks)
        return;
    for (uint32_t c = 0; c < p->nchunks; c++) {
        unsigned char *mem = atomic_load_explicit(&p->chunks[c], memory_order_relaxed);
        if (mem && p->region)
            cw__mem_charge(p->mem, -(int64_t)(CHUNK * p->elem));
        else
            cw__free(p->mem, mem, CHUNK * p->elem);
    }
    cw__region_release(p->region, (size_t)p->nchunks * CHUNK * p->elem);
    p->region = NULL;
    cw__free(p->mem, p->chunks, p->nchunks * sizeof *p->chunks);
    p->chunks = NULL;
}

static bool ensure_chunk(cw__pool *p, uint32_t c)
{
    if (atomic_load_explicit(&p->chunks[c], memory_order_acquire))
        return true;
    /* Zeroed only when asked: a pool whose never-used objects are read
     * (the trace sweep reads every state word below the bump counter)
     * needs them zero; the others write each object whole when they hand
     * it out, and skip the cost of zeroing megabytes. */
    unsigned char *mem;
    if (p->region) {
        /* Fresh region pages read as zero. */
        mem = p->region + (size_t)c * CHUNK * p->elem;
        cw__mem_charge(p->mem, (int64_t)(CHUNK * p->elem));
    } else {
        mem = p->zeroed ? cw__calloc(p->mem, CHUNK * p->elem)
                        : cw__malloc(p->mem, CHUNK * p->elem);
        if (!mem)
            return false;
    }
    unsigned char *expect = NULL;
    if (!atomic_compare_exchange_strong_explicit(&p->chunks[c], &expect, mem,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire)) {
        if (p->region)
            cw__mem_charge(p->mem, -(int64_t)(CHUNK * p->elem));
        else
            cw__free(p->mem, mem, CHUNK * p->elem);
    }
    return true;
}

/* Pops one segment into the cache's (empty) chain. Returns false when the
 * stack is empty. */
static bool pop_segment(cw__pool *p, cw__pool_cache *c)
{
    uint64_t h = atomic_load_explicit(&p->free_segs, memory_order_acquire);
    for (;;) {
        uint32_t first = (uint32_t)h;
        if (first == CW_NIL)
            return false;
        /* May be stale (the segment popped and reused meanwhile): then the
         * CAS fails on the tag, and the read was atomic (invariant 3). */
        uint32_t next_seg = atomic_load_explicit(word(p, first, 1), memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(
                &p->free_segs, &h, head_pack(next_seg, (uint32_t)(h >> 32) + 1),
                memory_order_acquire, memory_order_acquire))
            break;
    }
    uint32_t first = (uint32_t)h;
    c->chain = first + 1u;
    /* The first objects have no skip link pointing at them. */
    uint32_t second = atomic_load_explicit(word(p, first, 0), memory_order_relaxed);
    if (second != CW_NIL)
        __builtin_prefetch(cw__pool_at(p, second), 1);
    return true;
}

uint32_t cw__pool_get(cw__pool *p, cw__pool_cache *c)
{
    if (CW_UNLIKELY(c->n == 0) && c->chain == 0 && !pop_segment(p, c)) {
        /* Fresh objects, 32 at a time. */
        uint32_t b = atomic_fetch_add_explicit(&p->bump, 32, memory_order_relaxed);
        if (b >= p->max) {
            atomic_fetch_sub_explicit(&p->bump, 32, memory_order_relaxed);
            /* A segment may have been pushed meanwhile. */
            if (!pop_segment(p, c))
                return CW_NIL;
        } else {
            uint32_t e = b + 32 > p->max ? p->max : b + 32;
            if (!ensure_chunk(p, b >> CW_POOL_CHUNK_SHIFT) ||
                !ensure_chunk(p, (e - 1) >> CW_POOL_CHUNK_SHIFT))
                return CW_NIL; /* the range is lost: out of memory anyway */
            for (uint32_t i = e; i > b; i--)
                c->idx[c->n++] = i - 1;
        }
    }
    c->taken++; /* published in cw__pool_cache_release() */
    if (c->n == 0) {
        /* From the popped segment (invariant 4: plain reads would do; the
         * words are atomic for the stale readers of invariant 3). */
        uint32_t i = c->chain - 1u;
        c->chain = atomic_load_explicit(word(p, i, 0), memory_order_relaxed) + 1u;
        uint32_t ahead = atomic_load_explicit(word(p, i, 2), memory_order_relaxed);
        if (ahead != CW_NIL)
            __builtin_prefetch(cw__pool_at(p, ahead), 1);
        return i;
    }
    /* Fresh or returned objects: the caller writes them whole at once;
     * fetch a later one for writing now. */
    if (c->n > CW_POOL_PREFETCH)
        __builtin_prefetch(cw__pool_at(p, c->idx[c->n - 1 - CW_POOL_PREFETCH]), 1);
    return c->idx[--c->n];
}

void cw__pool_unget(cw__pool *p, cw__pool_cache *c, uint32_t i)
{
    (void)p;
    /* The index came out of this cache, so there is room for it. */
    c->taken--;
    c->idx[c->n++] = i;
}

/* Pushes the segment that begins with first (its words 0 and 2 written). */
static void push_segment(cw__pool *p, uint32_t first)
{
    uint64_t h = atomic_load_explicit(&p->free_segs, memory_order_relaxed);
    do {
        atomic_store_explicit(word(p, first, 1), (uint32_t)h, memory_order_relaxed);
        /* Release: the segment's words before the segment is reachable. */
    } while (!atomic_compare_exchange_weak_explicit(
        &p->free_segs, &h, head_pack(first, (uint32_t)(h >> 32) + 1), memory_order_release,
        memory_order_relaxed));
}

static void push_chain(cw__pool *p, const uint32_t *idx, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++) {
        atomic_store_explicit(word(p, idx[k], 0), k + 1 < n ? idx[k + 1] : CW_NIL,
                              memory_order_relaxed);
        atomic_store_explicit(word(p, idx[k], 2),
                              k + CW_POOL_PREFETCH < n ? idx[k + CW_POOL_PREFETCH] : CW_NIL,
                              memory_order_relaxed);
    }
    push_segment(p, idx[0]);
}

/* Pushes idx[0..n) as segments, the last first, so that the stack hands
 * them out in the order of idx. */
static void push_all(cw__pool *p, const uint32_t *idx, uint32_t n)
{
    if (!n)
        return;
    for (uint32_t k = (n - 1) / CW_POOL_SEG * CW_POOL_SEG;; k -= CW_POOL_SEG) {
        push_chain(p, idx + k, n - k < CW_POOL_SEG ? n - k : CW_POOL_SEG);
        if (!k)
            break;
    }
}

/* Sorts indexes below max in place: LSD radix, RADIX_BITS a pass, as many
 * passes as max needs (two up to 4 M objects). Returns false, leaving idx
 * as it was, when there is no memory for the scratch copy. */
#define RADIX_BITS 11
#define RADIX_SORT_MIN 64 /* shorter lists: not worth a pass */

static bool sort_indexes(cw__mem *mem, uint32_t *idx, uint32_t n, uint32_t max)
{
    uint32_t *tmp = cw__malloc(mem, (size_t)n * sizeof *tmp);
    if (!tmp)
        return false;
    uint32_t *src = idx, *dst = tmp;
    for (unsigned shift = 0; shift < 32 && (max - 1) >> shift; shift += RADIX_BITS) {
        uint32_t count[1u << RADIX_BITS] = {0};
        const uint32_t mask = (1u << RADIX_BITS) - 1;
        for (uint32_t i = 0; i < n; i++)
            count[(src[i] >> shift) & mask]++;
        uint32_t sum = 0;
        for (uint32_t d = 0; d <= mask; d++) {
            uint32_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (uint32_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & mask]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx)
        memcpy(idx, src, (size_t)n * sizeof *idx);
    cw__free(mem, tmp, (size_t)n * sizeof *tmp);
    return true;
}

void cw__pool_free_many(cw__pool *p, uint32_t *idx, uint32_t n)
{
    atomic_fetch_sub_explicit(&p->in_use, n, memory_order_relaxed);
    /* Freed objects come back in the order their traces completed, which
     * is no order in memory: handed out that way, every new object is a
     * cache miss of its own (and, 80-byte nodes spanning two lines, often
     * two). In address order, consecutive objects share lines and the
     * hardware prefetcher follows them, as with never-used objects. A sort
     * that finds no memory frees them unsorted. */
    if (n >= RADIX_SORT_MIN)
        sort_indexes(p->mem, idx, n, p->max);
    push_all(p, idx, n);
}

void cw__pool_cache_release(cw__pool *p, cw__pool_cache *c)
{
    if (c->n)
        push_all(p, c->idx, c->n);
    c->n = 0;
    /* The rest of a popped segment is still a segment (words 0 and 2 point
     * forward along it). */
    if (c->chain)
        push_segment(p, c->chain - 1u);
    c->chain = 0;
    /* One shared write per batch, not per object: relaxed, a statistic. */
    if (c->taken)
        atomic_fetch_add_explicit(&p->in_use, (uint64_t)c->taken, memory_order_relaxed);
    c->taken = 0;
}
