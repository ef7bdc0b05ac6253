/*
 * Lock-free string interner: maps repeating strings (function and span names,
 * call targets, regions) to dense 32-bit ids.
 *
 * Algorithm. An open-addressing table of 64-bit slots with linear probing,
 * sized at creation to at least twice the id limit, so it never fills past
 * half and never resizes. A slot is 0 (empty) or (hash >> 32) << 32 | id. Ids
 * are handed out by an atomic counter; id -> string goes through a directory
 * of lazily allocated chunks; strings live in an append-only arena of chunks
 * with an atomic bump offset. Nothing is ever removed before the interner is
 * freed.
 *
 * Insert of a new string: reserve an id, copy the string into the arena,
 * publish the directory entry, then CAS the empty slot from 0 to the slot
 * word. A thread that loses the CAS re-reads the slot and, if the winner
 * inserted the same string, returns the winner's id; its own reserved id is
 * burned (never reachable from a slot; counted against the limit like any
 * other). This only happens when two threads intern the same new string at the
 * same instant.
 *
 * Invariants. (1) A non-zero slot never changes. (2) A slot's id has its
 * directory entry and string fully written before the slot becomes non-zero.
 * (3) At most limit ids are handed out, so at most limit slots are non-zero
 * and a probe always reaches an empty slot or a match.
 *
 * Progress: lookups of present strings are wait-free (bounded probe); inserts
 * are lock-free (a failed CAS means another thread's insert succeeded).
 *
 * Ordering guarantees. The slot CAS is release and slot loads are acquire:
 * whoever reads a slot word also sees the directory entry and string bytes
 * written before it (invariant 2). Directory entries are additionally stored
 * release / loaded acquire because ids also travel to readers through other
 * paths (span records published by the graph), and this keeps
 * cw__intern_str() correct without relying on how the id arrived. The id and
 * overflow counters are relaxed: they order nothing.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>

#include "util.h"

#define DIR_SHIFT 12
#define DIR_CHUNK (1u << DIR_SHIFT)
/* Arena chunk: 64 KiB holds ~2,000 typical names; large enough that chunk
 * allocation is rare, small enough that an idle engine wastes little. */
#define ARENA_CHUNK (64u * 1024u)

typedef struct str_hdr {
    uint32_t len;
    char s[];
} str_hdr;

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t cap;
    /* Relaxed: each fetch_add hands out a disjoint range; the bytes written
     * there are published by the slot CAS, not by this counter. */
    _Atomic size_t used;
    _Alignas(8) char data[];
} arena_chunk;

typedef struct dir_chunk {
    _Atomic(str_hdr *) e[DIR_CHUNK];
} dir_chunk;

struct cw__interner {
    cw__mem *mem;
    uint32_t max_id; /* exclusive */
    uint64_t mask;
    _Atomic uint64_t *slots;
    size_t ndirs;
    _Atomic(dir_chunk *) *dirs;
    _Atomic(arena_chunk *) arena;
    _Atomic uint32_t next_id;
    _Atomic uint64_t overflows;
};

static const char overflow_str[] = "<overflow>";
static const char unknown_service[] = "unknown_service";

int cw__intern_new(cw__interner **out, cw__mem *mem, uint32_t limit)
{
    *out = NULL;
    if (limit == 0 || limit > (UINT32_MAX >> 2))
        return CW_EINVAL;
    cw__interner *t = cw__calloc(mem, sizeof *t);
    if (!t)
        return CW_ENOMEM;
    t->mem = mem;
    t->max_id = CW_STR_FIRST_FREE + limit;
    uint64_t cap = 16;
    while (cap < 2ull * t->max_id)
        cap <<= 1;
    t->mask = cap - 1;
    t->slots = cw__calloc(mem, cap * sizeof *t->slots);
    t->ndirs = (t->max_id >> DIR_SHIFT) + 1;
    t->dirs = cw__calloc(mem, t->ndirs * sizeof *t->dirs);
    if (!t->slots || !t->dirs) {
        cw__intern_free(t);
        return CW_ENOMEM;
    }
    atomic_init(&t->arena, NULL);
    atomic_init(&t->next_id, CW_STR_UNKNOWN_SERVICE);
    atomic_init(&t->overflows, 0);
    /* The first string interned gets CW_STR_UNKNOWN_SERVICE. */
    if (cw__intern(t, unknown_service, sizeof unknown_service - 1) !=
        CW_STR_UNKNOWN_SERVICE) {
        cw__intern_free(t);
        return CW_ENOMEM;
    }
    *out = t;
    return 0;
}

void cw__intern_free(cw__interner *t)
{
    if (!t)
        return;
    arena_chunk *c = atomic_load_explicit(&t->arena, memory_order_relaxed);
    while (c) {
        arena_chunk *next = c->next;
        cw__free(t->mem, c, sizeof *c + c->cap);
        c = next;
    }
    if (t->dirs) {
        for (size_t i = 0; i < t->ndirs; i++)
            cw__free(t->mem,
                     atomic_load_explicit(&t->dirs[i], memory_order_relaxed),
                     sizeof(dir_chunk));
        cw__free(t->mem, t->dirs, t->ndirs * sizeof *t->dirs);
    }
    cw__free(t->mem, t->slots, (t->mask + 1) * sizeof *t->slots);
    cw__free(t->mem, t, sizeof *t);
}

/* Bump-allocates n bytes (8-aligned) from the arena. Lock-free: a failed CAS
 * means another thread installed a chunk, which we then use. */
static void *arena_alloc(cw__interner *t, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    for (;;) {
        /* Acquire pairs with the release CAS below: a chunk's cap and next
         * are visible before we bump its offset. */
        arena_chunk *c = atomic_load_explicit(&t->arena, memory_order_acquire);
        if (c) {
            size_t off = atomic_fetch_add_explicit(&c->used, n,
                                                   memory_order_relaxed);
            if (off + n <= c->cap)
                return c->data + off;
        }
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        arena_chunk *nc = cw__malloc(t->mem, sizeof *nc + cap);
        if (!nc)
            return NULL;
        nc->next = c;
        nc->cap = cap;
        atomic_init(&nc->used, n);
        if (atomic_compare_exchange_strong_explicit(
                &t->arena, &c, nc, memory_order_release, memory_order_relaxed))
            return nc->data;
        cw__free(t->mem, nc, sizeof *nc + cap);
    }
}

static _Atomic(str_hdr *) *dir_entry(cw__interner *t, uint32_t id, bool create)
{
    _Atomic(dir_chunk *) *dp = &t->dirs[id >> DIR_SHIFT];
    /* Acquire pairs with the release CAS below (zeroed chunk visible). */
    dir_chunk *d = atomic_load_explicit(dp, memory_order_acquire);
    if (!d) {
        if (!create)
            return NULL;
        dir_chunk *nd = cw__calloc(t->mem, sizeof *nd);
        if (!nd)
            return NULL;
        if (atomic_compare_exchange_strong_explicit(dp, &d, nd,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire)) {
            d = nd;
        } else {
            cw__free(t->mem, nd, sizeof *nd);
        }
    }
    return &d->e[id & (DIR_CHUNK - 1)];
}

static bool same(const str_hdr *h, const char *s, size_t n)
{
    return h && h->len == n && memcmp(h->s, s, n) == 0;
}

static uint32_t overflow(cw__interner *t)
{
    atomic_fetch_add_explicit(&t->overflows, 1, memory_order_relaxed);
    return CW_STR_OVERFLOW;
}

uint32_t cw__intern_hashed(cw__interner *t, const char *s, size_t n, uint64_t h)
{
    uint64_t tag = h & 0xffffffff00000000ULL;
    uint32_t mine = 0; /* id reserved by this call, 0 until needed */
    for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
        /* Acquire pairs with the release CAS that filled the slot: the
         * directory entry and string of its id are visible (invariant 2). */
        uint64_t w = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (w == 0) {
            if (!mine) {
                /* Checked before the fetch_add so that a flood of new strings
                 * past the limit cannot wrap the counter around: it
                 * overshoots max_id by at most the number of threads. */
                if (atomic_load_explicit(&t->next_id, memory_order_relaxed) >=
                    t->max_id)
                    return overflow(t);
                uint32_t id = atomic_fetch_add_explicit(&t->next_id, 1,
                                                        memory_order_relaxed);
                if (id >= t->max_id || n > UINT32_MAX)
                    return overflow(t);
                _Atomic(str_hdr *) *e = dir_entry(t, id, true);
                str_hdr *hs = arena_alloc(t, sizeof *hs + n + 1);
                if (!e || !hs)
                    return overflow(t);
                hs->len = (uint32_t)n;
                memcpy(hs->s, s, n);
                hs->s[n] = '\0';
                /* Release: see "Ordering guarantees". */
                atomic_store_explicit(e, hs, memory_order_release);
                mine = id;
            }
            if (atomic_compare_exchange_strong_explicit(
                    &t->slots[i], &w, tag | mine, memory_order_release,
                    memory_order_acquire))
                return mine;
            /* Lost the race for this slot; w now holds the winner's word
             * (acquire on failure, for the same reason as the load). */
        }
        if ((w & 0xffffffff00000000ULL) == tag) {
            uint32_t id = (uint32_t)w;
            _Atomic(str_hdr *) *e = dir_entry(t, id, false);
            str_hdr *hs = e ? atomic_load_explicit(e, memory_order_acquire)
                            : NULL;
            if (same(hs, s, n))
                return id; /* a reserved id of ours, if any, stays burned */
        }
    }
}

uint32_t cw__intern_find_hashed(const cw__interner *t, const char *s, size_t n,
                                uint64_t h)
{
    uint64_t tag = h & 0xffffffff00000000ULL;
    for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
        /* Acquire: as in cw__intern_hashed(). */
        uint64_t w = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (w == 0)
            return CW_STR_NONE;
        if ((w & 0xffffffff00000000ULL) == tag) {
            size_t len;
            const char *str = cw__intern_str(t, (uint32_t)w, &len);
            if (str && len == n && memcmp(str, s, n) == 0)
                return (uint32_t)w;
        }
    }
}

uint32_t cw__intern(cw__interner *t, const char *s, size_t n)
{
    return cw__intern_hashed(t, s, n, cw__hash_bytes(s, n));
}

const char *cw__intern_str(const cw__interner *t, uint32_t id, size_t *len)
{
    if (id == CW_STR_NONE) {
        if (len)
            *len = 0;
        return "";
    }
    if (id == CW_STR_OVERFLOW) {
        if (len)
            *len = sizeof overflow_str - 1;
        return overflow_str;
    }
    if (id >= t->max_id)
        return NULL;
    /* Acquire pairs with the release CAS installing the chunk. */
    dir_chunk *d = atomic_load_explicit(&((cw__interner *)t)->dirs[id >> DIR_SHIFT],
                                        memory_order_acquire);
    if (!d)
        return NULL;
    /* Acquire: see "Ordering guarantees". */
    str_hdr *h = atomic_load_explicit(&d->e[id & (DIR_CHUNK - 1)],
                                      memory_order_acquire);
    if (!h)
        return NULL;
    if (len)
        *len = h->len;
    return h->s;
}

uint64_t cw__intern_count(const cw__interner *t)
{
    uint32_t n = atomic_load_explicit(&((cw__interner *)t)->next_id,
                                      memory_order_relaxed);
    if (n > t->max_id)
        n = t->max_id;
    return n - CW_STR_UNKNOWN_SERVICE;
}

uint64_t cw__intern_overflows(const cw__interner *t)
{
    return atomic_load_explicit(&((cw__interner *)t)->overflows,
                                memory_order_relaxed);
}
