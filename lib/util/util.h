/*
 * Internal utilities shared by every layer: the counting allocator, the string
 * interner, byte-order and hex helpers, UTF-8 checks.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CW_UTIL_H
#define CW_UTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "causeway.h"

#if defined(__GNUC__)
#define CW_LIKELY(x) __builtin_expect(!!(x), 1)
#define CW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CW_INLINE static inline __attribute__((always_inline))
#define CW_NOINLINE __attribute__((noinline))
#else
#define CW_LIKELY(x) (x)
#define CW_UNLIKELY(x) (x)
#define CW_INLINE static inline
#define CW_NOINLINE
#endif

#define CW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------- allocation */

/* An engine's allocator with its byte count. Every internal allocation goes
 * through these functions so that bytes_in_use is exact (tests check it
 * returns to its start after teardown). */
typedef struct cw__mem {
    cw_allocator a;
    /* Relaxed: a statistic and a budget input; a momentarily stale value only
     * moves the budget decision by one allocation. */
    _Atomic uint64_t in_use;
} cw__mem;

void cw__mem_init(cw__mem *m, const cw_allocator *a);
void *cw__malloc(cw__mem *m, size_t n);
void *cw__calloc(cw__mem *m, size_t n);
void *cw__realloc(cw__mem *m, void *p, size_t old_n, size_t new_n);
void cw__free(cw__mem *m, void *p, size_t n);

/* Regions: large runs of address space for bulk data (the graph's pools and
 * indexes), reserved at once and backed by the kernel only as first touched,
 * zeroed, in transparent huge pages where the kernel allows (MADV_HUGEPAGE).
 * A page fault costs the same for 4 KiB as for 2 MiB, and a random probe
 * over hundreds of megabytes misses the TLB on nearly every 4 KiB page, so
 * huge pages make both the first fill and every later lookup cheaper.
 * Regions bypass the allocator, so they exist only with the default (libc)
 * one: cw__region_reserve() returns NULL with a host allocator, or when the
 * kernel refuses, and the caller falls back to the allocator. Reserving
 * charges nothing; the caller charges what it uses (cw__mem_charge), so
 * bytes_in_use stays what the engine uses, not what it reserved. */
#define CW_REGION_MIN ((size_t)2 << 20)
void *cw__region_reserve(cw__mem *m, size_t bytes);
void cw__region_release(void *p, size_t bytes);
void cw__mem_charge(cw__mem *m, int64_t delta);

/* Blocks that an engine keeps long and makes by the thousand (summary
 * records, edge aggregates): up to CW_HEAP_MAX bytes, they come from a
 * process-wide heap of size classes carved out of regions, so that they are
 * backed by huge pages where glibc's heap would fault each 4 KiB in (on
 * this project's VMs a 4 KiB fault costs about 11 us). Freed blocks return
 * to their class's list, for any engine of the process to reuse; the
 * regions are never unmapped. With a host allocator, larger blocks, or a
 * build under AddressSanitizer (which must see every block), they come from
 * the allocator as usual. Thread-safe. Free with the size given at
 * allocation. */
#define CW_HEAP_MAX ((size_t)4096)
void *cw__heap_alloc(cw__mem *m, size_t n);
void *cw__heap_calloc(cw__mem *m, size_t n);
void cw__heap_free(cw__mem *m, void *p, size_t n);

/* A zeroed table of n bytes: a region when n is at least CW_REGION_MIN and
 * regions exist, else the allocator's calloc. Freed by cw__table_free() with
 * the same n. */
void *cw__table_alloc(cw__mem *m, size_t n);
void cw__table_free(cw__mem *m, void *p, size_t n);

/* Grows an array of elem-sized items so that it holds at least need items;
 * doubles. Returns 0 or CW_ENOMEM (the array is left as it was). */
int cw__grow(cw__mem *m, void **arr, size_t *cap, size_t need, size_t elem);

/* Scratch allocations of one computation, zeroed, freed together: an
 * arena whose first block lives in the struct (on the caller's stack), so
 * that the common small computation allocates nothing; larger ones take
 * blocks from m, each at least twice the last. Past CW_SCRATCH_MAX blocks,
 * or out of memory, get returns NULL and sets failed. */
#define CW_SCRATCH_MAX 40
#define CW_SCRATCH_LOCAL 8192

/* A block a scratch may start from and hand back, so that a thread doing
 * one computation after another (the sweeps) reuses its memory instead of
 * mapping, faulting in and unmapping it each time. */
typedef struct cw__arena {
    unsigned char *blk;
    size_t cap;
} cw__arena;

/* Blocks beyond this are not kept between computations. */
#define CW_ARENA_KEEP_MAX (64u << 20)

typedef struct cw__scratch {
    cw__mem *m;
    cw__arena *arena;   /* NULL: none */
    size_t total;       /* bytes handed out, for sizing the arena */
    unsigned char *cur; /* the block being carved */
    size_t used, cap;
    unsigned char *blk[CW_SCRATCH_MAX];
    size_t blen[CW_SCRATCH_MAX];
    int k;
    bool failed;
    _Alignas(16) unsigned char local[CW_SCRATCH_LOCAL];
} cw__scratch;

/* a may be NULL. A scratch with an arena starts in the arena's block
 * (after the local one) and, when freed, leaves the arena a block large
 * enough for everything it handed out (up to CW_ARENA_KEEP_MAX). One
 * scratch at a time per arena. */
void cw__scratch_init(cw__scratch *s, cw__mem *m, cw__arena *a);
void cw__arena_free(cw__mem *m, cw__arena *a);
void *cw__scratch_get(cw__scratch *s, size_t bytes);
void cw__scratch_free(cw__scratch *s);

/* ------------------------------------------------------------ parallel */

/* Threads a parallel loop uses at most. */
#define CW_PAR_MAX 8

/* One iteration: index i, on worker 0 (the caller) .. threads - 1. */
typedef void (*cw__par_fn)(void *ctx, size_t i, unsigned worker);

/* Runs fn for every i in [0, n) on the calling thread and up to threads - 1
 * (at most CW_PAR_MAX - 1) helper threads started for this call and joined
 * before it returns (fewer when they cannot start); threads take chunk
 * indexes at a time. What fn writes is visible to the caller on return.
 * Returns the number of threads that ran, the caller included. */
unsigned cw__par_for(unsigned threads, size_t n, size_t chunk, cw__par_fn fn, void *ctx);

/* ------------------------------------------------------------ byte order */

CW_INLINE uint64_t cw__load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

CW_INLINE void cw__store_be64(uint8_t *p, uint64_t v)
{
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

CW_INLINE uint64_t cw__load_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

CW_INLINE uint32_t cw__load_le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

/* --------------------------------------------------------------------- ids */

/* Trace ids are kept as two big-endian halves, so numeric order is the order
 * of their lowercase hex (SPEC.md sorts output by trace_id) and hex printing
 * is two %016x. Span ids likewise as one big-endian word. Zero is "absent"
 * (OTLP forbids all-zero ids). */
typedef struct cw__tid {
    uint64_t hi, lo;
} cw__tid;

CW_INLINE bool cw__tid_eq(cw__tid a, cw__tid b)
{
    return a.hi == b.hi && a.lo == b.lo;
}

CW_INLINE bool cw__tid_is_zero(cw__tid a)
{
    return (a.hi | a.lo) == 0;
}

CW_INLINE int cw__tid_cmp(cw__tid a, cw__tid b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo)
        return a.lo < b.lo ? -1 : 1;
    return 0;
}

/* Writes 32 lowercase hex digits and a NUL (33 bytes). */
void cw__tid_hex(cw__tid t, char out[33]);
/* Writes 16 lowercase hex digits and a NUL (17 bytes). */
void cw__sid_hex(uint64_t s, char out[17]);

/* Value of one hex digit, or -1. Accepts both cases: the OTLP example request
 * uses upper case. */
extern const int8_t cw__hexval[256];

/* Parses exactly 2*n hex digits into n bytes. Returns false on a non-hex
 * digit. */
bool cw__hex_decode(const char *s, size_t n, uint8_t *out);

/* ------------------------------------------------------------------- UTF-8 */

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, no
 * code point above U+10FFFF). */
bool cw__utf8_valid(const char *s, size_t n);

/* Largest m <= n such that s[0..m) does not end inside a multi-byte
 * sequence; used to cut strings at max_attr_len. */
size_t cw__utf8_cut(const char *s, size_t n);

/* ----------------------------------------------------------------- hashing */

uint64_t cw__hash_bytes(const void *p, size_t n);

/* A 64-bit mix for integer keys (the finalizer of SplitMix64). */
CW_INLINE uint64_t cw__mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* -------------------------------------------------------------- interning */

/* Interned string ids. 0 means "absent"; CW_STR_OVERFLOW stands for every
 * string past the cardinality limit (or that could not be stored). */
enum {
    CW_STR_NONE = 0,
    CW_STR_OVERFLOW = 1,
    CW_STR_UNKNOWN_SERVICE = 2, /* "unknown_service", SPEC.md section 2 */
    CW_STR_FIRST_FREE = 3,
};

typedef struct cw__interner cw__interner;

/* Creates an interner for at most limit distinct strings (beyond the
 * predefined ones). Memory: 16 bytes of hash slots per possible string,
 * allocated up front; the id directory and the string arena grow in chunks as
 * strings arrive. */
int cw__intern_new(cw__interner **out, cw__mem *mem, uint32_t limit);
void cw__intern_free(cw__interner *t);

/* Returns the id of s[0..n), adding it if new. Never fails: when the limit is
 * reached or memory runs out it returns CW_STR_OVERFLOW and counts it.
 * Progress: lock-free (a thread that loses a race to insert the same string
 * retries on the winner's slot). Thread safety: any thread, concurrently with
 * every other intern function. */
uint32_t cw__intern(cw__interner *t, const char *s, size_t n);

/* Same, with the hash already computed by cw__hash_bytes(). */
uint32_t cw__intern_hashed(cw__interner *t, const char *s, size_t n, uint64_t h);

/* The id of s[0..n) if it is already interned, else CW_STR_NONE. Wait-free;
 * any thread. */
uint32_t cw__intern_find_hashed(const cw__interner *t, const char *s, size_t n,
                                uint64_t h);

/* The string of an id (NUL-terminated, stable until cw__intern_free()), and
 * its length. CW_STR_NONE gives "" and CW_STR_OVERFLOW "<overflow>". An id
 * never returned by cw__intern() gives NULL. Wait-free; any thread. */
const char *cw__intern_str(const cw__interner *t, uint32_t id, size_t *len);

uint64_t cw__intern_count(const cw__interner *t);
uint64_t cw__intern_overflows(const cw__interner *t);

#endif /* CW_UTIL_H */
