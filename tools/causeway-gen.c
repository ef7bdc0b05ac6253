/*
 * causeway-gen: writes a generated serverless workload as OTLP files.
 *
 *   causeway-gen [options] DIR
 *     --spans N        spans to generate (default 10000)
 *     --seed N         random seed (default 42)
 *     --format F       pb (one .pb file per request), json (one .json per
 *                      request) or jsonl (all.jsonl, a request per line);
 *                      default pb
 *     --batch N        spans per request (default 512)
 *     --functions N    distinct functions (default 24)
 *     --depth N        chain depth (default 5)
 *     --fanout N       calls per invocation, at most (default 4)
 *     --retry-rate R   chance a call fails and is retried (default 0.05)
 *     --async-rate R   chance a call goes through a queue (default 0.15)
 *     --loop-rate R    chance a call re-invokes the caller (default 0.02)
 *     --attrs N        filler attributes per span (default 4)
 *     --shuffle R      fraction of spans sent out of order (default 0.3)
 *
 * Requests are written in send order (children often before parents).
 * Exit codes: 0, 2 usage or output error.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gen.h"

#define PROG "causeway-gen"

static int usage(void)
{
    fprintf(stderr, "usage: " PROG " [--spans N] [--seed N] [--format pb|json|jsonl] [--batch N]\n"
                    "       [--functions N] [--depth N] [--fanout N] [--retry-rate R]\n"
                    "       [--async-rate R] [--loop-rate R] [--attrs N] [--shuffle R] DIR\n");
    return 2;
}

static int num(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v ? v : "", &end);
    if (!v || *end || errno || d < lo || d > hi) {
        fprintf(stderr, PROG ": %s: expected a number from %g to %g, got %s\n", opt, lo, hi,
                v ? v : "nothing");
        return -1;
    }
    *out = d;
    return 0;
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    cwg_options o;
    cwg_options_init(&o);
    const char *format = "pb", *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (strcmp(a, "--format") == 0 && v) {
            format = v;
            i++;
            continue;
        }
        if (a[0] != '-') {
            if (dir)
                return usage();
            dir = a;
            continue;
        }
        struct {
            const char *name;
            double lo, hi;
        } known[] = {{"--spans", 1, 1e9},      {"--seed", 0, 1e18},       {"--batch", 1, 1e7},
                     {"--functions", 2, 1e6},  {"--depth", 1, 1000},      {"--fanout", 0, 1e6},
                     {"--retry-rate", 0, 1},   {"--async-rate", 0, 1},    {"--loop-rate", 0, 1},
                     {"--attrs", 0, 1000},     {"--shuffle", 0, 1}};
        int k = 0;
        while (k < (int)(sizeof known / sizeof known[0]) && strcmp(a, known[k].name) != 0)
            k++;
        if (k == (int)(sizeof known / sizeof known[0])) {
            fprintf(stderr, PROG ": unknown option %s\n", a);
            return usage();
        }
        if (num(a, v, known[k].lo, known[k].hi, &d))
            return 2;
        i++;
        switch (k) {
        case 0: o.spans = (uint64_t)d; break;
        case 1: o.seed = (uint64_t)d; break;
        case 2: o.batch_spans = (unsigned)d; break;
        case 3: o.functions = (unsigned)d; break;
        case 4: o.max_depth = (unsigned)d; break;
        case 5: o.max_fanout = (unsigned)d; break;
        case 6: o.retry_rate = d; break;
        case 7: o.async_rate = d; break;
        case 8: o.loop_rate = d; break;
        case 9: o.extra_attrs = (unsigned)d; break;
        case 10: o.shuffle = d; break;
        }
    }
    if (!dir)
        return usage();
    if (strcmp(format, "pb") && strcmp(format, "json") && strcmp(format, "jsonl")) {
        fprintf(stderr, PROG ": --format: expected pb, json or jsonl, got %s\n", format);
        return 2;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, PROG ": %s: %s\n", dir, strerror(errno));
        return 2;
    }
    cwg_workload w;
    if (cwg_generate(&w, &o)) {
        fprintf(stderr, PROG ": out of memory\n");
        return 2;
    }
    int rc = 0;
    FILE *lines = NULL;
    char path[4096];
    if (strcmp(format, "jsonl") == 0) {
        snprintf(path, sizeof path, "%s/all.jsonl", dir);
        lines = fopen(path, "wb");
        if (!lines) {
            fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
            cwg_free(&w);
            return 2;
        }
    }
    for (size_t r = 0; r < w.nreq && !rc; r++) {
        cwg_buf b = {0};
        bool pb = strcmp(format, "pb") == 0;
        if (pb ? cwg_encode_pb(&w, r, &b) : cwg_encode_json(&w, r, &b)) {
            fprintf(stderr, PROG ": out of memory\n");
            rc = 2;
        } else if (lines) {
            if (fwrite(b.p, 1, b.n, lines) != b.n || fputc('\n', lines) == EOF) {
                fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
                rc = 2;
            }
        } else {
            snprintf(path, sizeof path, "%s/%04zu.%s", dir, r, format);
            if (write_file(path, b.p, b.n))
                rc = 2;
        }
        cwg_buf_free(&b);
    }
    if (lines && fclose(lines) != 0 && !rc) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        rc = 2;
    }
    if (!rc)
        printf(PROG ": %zu spans in %llu traces, %zu requests written to %s\n", w.nspans,
               (unsigned long long)w.traces, w.nreq, dir);
    cwg_free(&w);
    return rc;
}
