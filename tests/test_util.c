/*
 * lib/util: errors, allocator accounting, UTF-8, hex, the interner.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

Test(util_errors, every_code_has_a_name_and_message)
{
    int codes[] = {
#define X(name, num, msg) num,
        CW_ERRNO_MAP(X)
#undef X
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(codes); i++) {
        cr_assert(codes[i] < 0);
        cr_assert_not_null(cw_err_name(codes[i]));
        cr_assert_str_neq(cw_strerror(codes[i]), "unknown error");
        for (size_t k = 0; k < i; k++)
            cr_assert_neq(codes[i], codes[k], "duplicate code %d", codes[i]);
    }
    cr_assert_str_eq(cw_err_name(CW_EPROTO), "CW_EPROTO");
    cr_assert_str_eq(cw_strerror(CW_EBUDGET), "memory budget exhausted");
    cr_assert_str_eq(cw_err_name(0), "CW_OK");
    cr_assert_null(cw_err_name(-9999));
    cr_assert_str_eq(cw_strerror(-9999), "unknown error");
}

Test(util_errors, reject_reasons_have_text)
{
    for (int r = 0; r < CW_REJECT_COUNT; r++)
        cr_assert_not_null(cw_reject_reason_str((cw_reject_reason)r));
    cr_assert_null(cw_reject_reason_str(CW_REJECT_COUNT));
}

Test(util_version, header_matches_library)
{
    cr_assert_eq(cw_version_int(), CW_VERSION);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", CW_VERSION_MAJOR, CW_VERSION_MINOR,
             CW_VERSION_PATCH);
    cr_assert_str_eq(cw_version(), want);
}

Test(util_utf8, accepts_well_formed_and_rejects_the_rest)
{
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"", true},
        {"plain ascii, longer than eight bytes", true},
        {"caf\xc3\xa9", true},
        {"\xe2\x82\xac euro", true},
        {"\xf0\x9f\x98\x80 emoji", true},
        {"\xf4\x8f\xbf\xbf", true},    /* U+10FFFF */
        {"\xc0\xaf", false},           /* overlong '/' */
        {"\xe0\x80\xaf", false},       /* overlong */
        {"\xed\xa0\x80", false},       /* surrogate D800 */
        {"\xf4\x90\x80\x80", false},   /* above U+10FFFF */
        {"\xf5\x80\x80\x80", false},
        {"\x80", false},               /* lone continuation */
        {"abc\xc3", false},            /* truncated */
        {"abcdefgh\xe2\x82", false},   /* truncated after the fast path */
        {"\xff", false},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++)
        cr_assert_eq(cw__utf8_valid(cases[i].s, strlen(cases[i].s)), cases[i].ok,
                     "case %zu", i);
}

Test(util_utf8, cut_never_splits_a_sequence)
{
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* 1+2+3+4 bytes */
    size_t want[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10};
    for (size_t n = 0; n <= 10; n++)
        cr_assert_eq(cw__utf8_cut(s, n), want[n], "n=%zu", n);
}

Test(util_hex, decodes_both_cases_and_rejects_non_hex)
{
    uint8_t b[4];
    cr_assert(cw__hex_decode("00ffAb9C", 4, b));
    cr_assert_eq(b[0], 0x00);
    cr_assert_eq(b[1], 0xff);
    cr_assert_eq(b[2], 0xab);
    cr_assert_eq(b[3], 0x9c);
    cr_assert_not(cw__hex_decode("0g", 1, b));
    cr_assert_not(cw__hex_decode("-1", 1, b));
    char out[33];
    cw__tid_hex((cw__tid){0x0123456789abcdefULL, 0xfedcba9876543210ULL}, out);
    cr_assert_str_eq(out, "0123456789abcdeffedcba9876543210");
}

Test(util_mem, counts_bytes_and_returns_to_zero)
{
    cw__mem m;
    cw__mem_init(&m, NULL);
    void *a = cw__malloc(&m, 100);
    void *b = cw__calloc(&m, 50);
    cr_assert_eq(atomic_load(&m.in_use), 150);
    a = cw__realloc(&m, a, 100, 1000);
    cr_assert_eq(atomic_load(&m.in_use), 1050);
    cw__free(&m, a, 1000);
    cw__free(&m, b, 50);
    cr_assert_eq(atomic_load(&m.in_use), 0);
}

Test(util_mem, large_tables_are_aligned_zeroed_regions_counted_exactly)
{
    cw__mem m;
    cw__mem_init(&m, NULL);
    size_t n = CW_REGION_MIN * 3 + 4096;
    unsigned char *t = cw__table_alloc(&m, n);
    cr_assert_not_null(t);
    cr_assert_eq((uintptr_t)t % CW_REGION_MIN, 0, "starts on a huge-page boundary");
    cr_assert_eq(atomic_load(&m.in_use), n, "charged its size, not the rounded mapping");
    for (size_t i = 0; i < n; i += 4093)
        cr_assert_eq(t[i], 0);
    t[n - 1] = 1; /* the whole size is writable */
    cw__table_free(&m, t, n);
    cr_assert_eq(atomic_load(&m.in_use), 0);

    /* Small tables come from the allocator, zeroed as well. */
    unsigned char *s = cw__table_alloc(&m, 4096);
    cr_assert_not_null(s);
    cr_assert_eq(s[4095], 0);
    cr_assert_eq(atomic_load(&m.in_use), 4096);
    cw__table_free(&m, s, 4096);
    cr_assert_eq(atomic_load(&m.in_use), 0);

    /* Reservations charge nothing until the owner charges what it uses. */
    void *r = cw__region_reserve(&m, 64u << 20);
    cr_assert_not_null(r);
    cr_assert_eq(atomic_load(&m.in_use), 0);
    cw__mem_charge(&m, 4096);
    cr_assert_eq(atomic_load(&m.in_use), 4096);
    cw__mem_charge(&m, -4096);
    cw__region_release(r, 64u << 20);
}

static void *host_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

static void *host_realloc(void *ctx, void *p, size_t o, size_t n)
{
    (void)ctx;
    (void)o;
    return realloc(p, n);
}

static void host_free(void *ctx, void *p, size_t n)
{
    (void)ctx;
    (void)n;
    free(p);
}

Test(util_mem, a_host_allocator_gets_every_table_and_no_regions)
{
    cw_allocator a = {host_malloc, host_realloc, host_free, NULL, NULL};
    cw__mem m;
    cw__mem_init(&m, &a);
    cr_assert_null(cw__region_reserve(&m, 64u << 20), "regions bypass the host's allocator");
    size_t n = CW_REGION_MIN * 2;
    unsigned char *t = cw__table_alloc(&m, n);
    cr_assert_not_null(t);
    cr_assert_eq(t[n / 2], 0, "zeroed by malloc + memset");
    cr_assert_eq(atomic_load(&m.in_use), n);
    cw__table_free(&m, t, n);
    cr_assert_eq(atomic_load(&m.in_use), 0);
}

/* Built under AddressSanitizer, the heap hands every block to libc. */
#if defined(__SANITIZE_ADDRESS__)
#define HEAP_ON 0
#else
#define HEAP_ON 1
#endif

Test(util_mem, small_blocks_come_from_the_heap_reused_zeroed_and_counted)
{
    cw__mem m;
    cw__mem_init(&m, NULL);
    /* Every size class, and both ends of the heap's range. */
    size_t sizes[] = {1, 15, 16, 17, 255, 256, 257, 700, 1000, 4095, CW_HEAP_MAX};
    void *p[11];
    size_t total = 0;
    for (int i = 0; i < 11; i++) {
        unsigned char *b = cw__heap_calloc(&m, sizes[i]);
        cr_assert_not_null(b);
        for (size_t k = 0; k < sizes[i]; k++)
            cr_assert_eq(b[k], 0);
        memset(b, 0xa5, sizes[i]);
        p[i] = b;
        total += sizes[i];
        cr_assert_eq(atomic_load(&m.in_use), total, "counted at its size, not its class's");
    }
    for (int i = 0; i < 11; i++) {
        /* Neighbours were not overwritten: each block still has its bytes. */
        unsigned char *b = p[i];
        cr_assert(b[0] == 0xa5 && b[sizes[i] - 1] == 0xa5, "block %d intact", i);
    }
    /* A freed block is the next one its class hands out, zeroed again by
     * calloc; a size of the same class shares it. */
    cw__heap_free(&m, p[8], 1000);
    unsigned char *again = cw__heap_calloc(&m, 990);
    if (HEAP_ON)
        cr_assert_eq(again, p[8], "the class's list is reused first");
    for (size_t k = 0; k < 990; k++)
        cr_assert_eq(again[k], 0, "calloc zeroes a reused block");
    cw__heap_free(&m, again, 990);
    for (int i = 0; i < 11; i++)
        if (i != 8)
            cw__heap_free(&m, p[i], sizes[i]);
    cr_assert_eq(atomic_load(&m.in_use), 0);
    /* Past CW_HEAP_MAX, blocks are the allocator's; still counted. */
    void *big = cw__heap_alloc(&m, CW_HEAP_MAX + 1);
    cr_assert_not_null(big);
    cr_assert_eq(atomic_load(&m.in_use), CW_HEAP_MAX + 1);
    cw__heap_free(&m, big, CW_HEAP_MAX + 1);
    cr_assert_eq(atomic_load(&m.in_use), 0);
}

static _Atomic long host_calls;

static void *counting_malloc(void *ctx, size_t n)
{
    (void)ctx;
    atomic_fetch_add(&host_calls, 1);
    return malloc(n);
}

Test(util_mem, a_host_allocator_gets_every_heap_block)
{
    cw_allocator a = {counting_malloc, host_realloc, host_free, NULL, NULL};
    cw__mem m;
    cw__mem_init(&m, &a);
    long before = atomic_load(&host_calls);
    void *b = cw__heap_alloc(&m, 100);
    void *c = cw__heap_calloc(&m, 200);
    cr_assert(b && c);
    cr_assert_eq(atomic_load(&host_calls), before + 2, "both from the host");
    cr_assert_eq(((unsigned char *)c)[199], 0);
    cw__heap_free(&m, b, 100);
    cw__heap_free(&m, c, 200);
    cr_assert_eq(atomic_load(&m.in_use), 0);
}

Test(util_intern, same_string_same_id_and_round_trip)
{
    cw__mem m;
    cw__mem_init(&m, NULL);
    cw__interner *t;
    cr_assert_eq(cw__intern_new(&t, &m, 100), 0);
    uint32_t a = cw__intern(t, "fn-orders", 9);
    uint32_t b = cw__intern(t, "fn-billing", 10);
    cr_assert_geq(a, CW_STR_FIRST_FREE);
    cr_assert_neq(a, b);
    cr_assert_eq(cw__intern(t, "fn-orders", 9), a);
    size_t n;
    cr_assert_str_eq(cw__intern_str(t, a, &n), "fn-orders");
    cr_assert_eq(n, 9);
    cr_assert_eq(cw__intern(t, "unknown_service", 15), CW_STR_UNKNOWN_SERVICE);
    cr_assert_str_eq(cw__intern_str(t, CW_STR_OVERFLOW, NULL), "<overflow>");
    cr_assert_str_eq(cw__intern_str(t, CW_STR_NONE, NULL), "");
    cr_assert_null(cw__intern_str(t, 99, NULL));
    cr_assert_eq(cw__intern_find_hashed(t, "nope", 4, cw__hash_bytes("nope", 4)), 0);
    cr_assert_eq(cw__intern_count(t), 3);
    cw__intern_free(t);
    cr_assert_eq(atomic_load(&m.in_use), 0);
}

Test(util_intern, cardinality_limit_gives_overflow_and_counts)
{
    cw__mem m;
    cw__mem_init(&m, NULL);
    cw__interner *t;
    cr_assert_eq(cw__intern_new(&t, &m, 10), 0);
    char buf[32];
    unsigned overflowed = 0;
    for (int i = 0; i < 20; i++) {
        int n = snprintf(buf, sizeof buf, "name-%d", i);
        if (cw__intern(t, buf, (size_t)n) == CW_STR_OVERFLOW)
            overflowed++;
    }
    /* The limit counts strings beyond the predefined "unknown_service". */
    cr_assert_eq(overflowed, 10);
    cr_assert_eq(cw__intern_overflows(t), 10);
    /* Strings interned before the limit keep their ids. */
    cr_assert_neq(cw__intern(t, "name-0", 6), CW_STR_OVERFLOW);
    cw__intern_free(t);
    cr_assert_eq(atomic_load(&m.in_use), 0);
}

Test(util_intern, long_strings_get_their_own_arena_chunk)
{
    cw__mem m;
    cw__mem_init(&m, NULL);
    cw__interner *t;
    cr_assert_eq(cw__intern_new(&t, &m, 10), 0);
    size_t n = 200 * 1024;
    char *big = malloc(n);
    memset(big, 'x', n);
    uint32_t id = cw__intern(t, big, n);
    size_t got;
    const char *s = cw__intern_str(t, id, &got);
    cr_assert_eq(got, n);
    cr_assert_eq(memcmp(s, big, n), 0);
    free(big);
    cw__intern_free(t);
    cr_assert_eq(atomic_load(&m.in_use), 0);
}
