/*
 * causeway-memprobe: what memory costs on this machine, apart from Causeway.
 *
 * The graph's inserts are bound by random accesses to large tables and by
 * fresh memory (bench/README.md, "Machine"). Two properties of a virtual
 * machine decide both, and they are measured here with nothing but mmap:
 *
 *   random     independent random 4-byte reads over a region, each
 *              prefetched 8 reads ahead (as the graph's inserts prefetch
 *              their slots): ns per read, with the region in transparent
 *              huge pages (MADV_HUGEPAGE) and in 4 KiB pages
 *              (MADV_NOHUGEPAGE). On bare metal huge pages make large
 *              regions much cheaper (the TLB covers them); a hypervisor
 *              that backs guest memory with 4 KiB pages erases the gap.
 *   first-touch  one write per 4 KiB into a fresh region, GB/s: the first
 *              time (memory the host may not have backed yet, or took back
 *              after the guest freed it), then again into a second fresh
 *              region right after the first was unmapped.
 *
 * Usage: causeway-memprobe [--json]. Runs about 5 s; touches up to 256 MiB.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define HUGE_PAGE ((size_t)2 << 20)
#define READS 20000000
#define AHEAD 8

/* Where the reads' sum goes, so that the compiler keeps them. */
static volatile uint32_t sink;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A region of n bytes on a huge-page boundary, advised as asked; the
 * mapping to unmap is returned in *map, *maplen. */
static unsigned char *region(size_t n, int huge, void **map, size_t *maplen)
{
    *maplen = n + HUGE_PAGE;
    unsigned char *p = mmap(NULL, *maplen, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    *map = p;
    unsigned char *a =
        (unsigned char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    madvise(a, n, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    return a;
}

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* ns per random read over n bytes (the region written once first). */
static double random_reads(size_t n, int huge)
{
    void *map;
    size_t maplen;
    unsigned char *p = region(n, huge, &map, &maplen);
    if (!p)
        return -1;
    memset(p, 1, n);
    size_t words = n / 4, at[AHEAD];
    uint64_t x = 88172645463325252ull;
    uint32_t s = 0;
    for (int i = 0; i < AHEAD; i++) {
        at[i] = (size_t)(xorshift(&x) % words) * 4;
        __builtin_prefetch(p + at[i]);
    }
    double t0 = now();
    for (int i = 0; i < READS; i++) {
        size_t o = (size_t)(xorshift(&x) % words) * 4;
        __builtin_prefetch(p + o);
        uint32_t v;
        memcpy(&v, p + at[i % AHEAD], sizeof v);
        s += v;
        at[i % AHEAD] = o;
    }
    double t1 = now();
    sink += s;
    munmap(map, maplen);
    return (t1 - t0) / READS * 1e9;
}

/* GB/s writing one byte per 4 KiB of a fresh region of n bytes. */
static double first_touch(size_t n, int huge)
{
    void *map;
    size_t maplen;
    unsigned char *p = region(n, huge, &map, &maplen);
    if (!p)
        return -1;
    double t0 = now();
    for (size_t o = 0; o < n; o += 4096)
        ((volatile unsigned char *)p)[o] = 1;
    double t1 = now();
    munmap(map, maplen);
    return (double)n / (t1 - t0) / 1e9;
}

int main(int argc, char **argv)
{
    int json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 2 || (argc == 2 && !json)) {
        fprintf(stderr, "usage: causeway-memprobe [--json]\n");
        return 2;
    }
    /* First touch before anything else has warmed this process's memory. */
    const size_t ft = (size_t)256 << 20;
    double ft_first = first_touch(ft, 1), ft_again = first_touch(ft, 1);
    double ft_small = first_touch(ft, 0);
    if (json) {
        printf("{\"bench\":\"memprobe\",\"name\":\"first-touch\",\"unit\":\"GB/s\","
               "\"bytes\":%zu,\"huge_first\":%.3f,\"huge_again\":%.3f,\"small_pages\":%.3f}\n",
               ft, ft_first, ft_again, ft_small);
    } else {
        printf("first touch of 256 MiB, one write a 4 KiB page:\n"
               "  huge pages, first region  %7.2f GB/s\n"
               "  huge pages, next region   %7.2f GB/s\n"
               "  4 KiB pages               %7.2f GB/s\n",
               ft_first, ft_again, ft_small);
        printf("random 4-byte reads, prefetched %d ahead (ns a read):\n"
               "  region      huge pages   4 KiB pages\n", AHEAD);
    }
    const size_t mib[] = {2, 8, 64, 256};
    for (size_t i = 0; i < sizeof mib / sizeof mib[0]; i++) {
        size_t n = mib[i] << 20;
        double h = random_reads(n, 1), s = random_reads(n, 0);
        if (json)
            printf("{\"bench\":\"memprobe\",\"name\":\"random-%zumib\",\"unit\":\"ns\","
                   "\"huge\":%.2f,\"small_pages\":%.2f}\n",
                   mib[i], h, s);
        else
            printf("  %4zu MiB   %9.2f   %11.2f\n", mib[i], h, s);
    }
    return 0;
}
