/*
 * causeway-bench: command line, timing and output (SPEC.md section 7).
 *
 *   causeway-bench SCENARIO [--quick] [--json] [--out DIR] [--threads N]
 *                  [--connections N] [--gzip] [--spans N]
 *
 * SCENARIO is decode, graph, analyze, http, query, scaling or all. Every
 * figure is the median of repeated
 * runs with their min and max; a ratio always divides two medians measured
 * in the same process run. See bench/README.md.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"

/* Target length of one run of a decode figure: long enough that timer and
 * loop overhead vanish (a run repeats its operation hundreds of times), short
 * enough that "all --quick" stays well under a minute on two cores. */
#define RUN_S_FULL 0.25
#define RUN_S_QUICK 0.04

static void usage(void)
{
    fprintf(stderr, "usage: causeway-bench decode|graph|analyze|http|query|scaling|all [--quick] "
                    "[--json] [--out DIR] [--threads N] [--connections N] [--gzip] "
                    "[--spans N]\n");
}

double cwb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t cwb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

cwb_stat cwb_stat_of(double *v, int n)
{
    cwb_stat s = {0, 0, 0};
    if (n <= 0)
        return s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return s;
}

void cwb_fig_init(cwb_fig *f, const char *bench, const char *name, unsigned threads,
                  const char *unit)
{
    memset(f, 0, sizeof *f);
    f->bench = bench;
    f->name = name;
    f->threads = threads;
    f->unit = unit;
    f->spans_per_s = -1;
    f->bytes_per_span = -1;
    f->mb_per_s = -1;
    f->ratio = -1;
    f->p50_ns = -1;
    f->p99_ns = -1;
}

static volatile uint64_t sink;

void *cwb_huge_alloc(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, CWB_HUGE_PAGE, n ? n : 1))
        return NULL;
#ifdef MADV_HUGEPAGE
    /* Advice only: on 4 KiB pages everything still works, slower. */
    (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

void cwb_sink(uint64_t v)
{
    sink += v;
}

/* JSON has no NaN or infinity: a figure that could not be computed reads as
 * null. */
static void json_num(FILE *out, const char *key, double v, const char *fmt)
{
    if (isfinite(v)) {
        fprintf(out, ",\"%s\":", key);
        fprintf(out, fmt, v);
    } else {
        fprintf(out, ",\"%s\":null", key);
    }
}

static void json_line(FILE *out, const cwb_fig *f)
{
    /* Names are fixed identifiers: nothing to escape. */
    fprintf(out, "{\"bench\":\"%s\",\"name\":\"%s\",\"threads\":%u,\"unit\":\"%s\"",
            f->bench, f->name, f->threads, f->unit);
    json_num(out, "median", f->st.median, "%.6g");
    json_num(out, "min", f->st.min, "%.6g");
    json_num(out, "max", f->st.max, "%.6g");
    if (f->spans_per_s >= 0)
        json_num(out, "spans_per_s", f->spans_per_s, "%.6g");
    if (f->bytes_per_span >= 0)
        json_num(out, "bytes_per_span", f->bytes_per_span, "%.6g");
    if (f->mb_per_s >= 0)
        json_num(out, "mb_per_s", f->mb_per_s, "%.6g");
    if (f->p50_ns >= 0)
        json_num(out, "p50_ns", f->p50_ns, "%.6g");
    if (f->p99_ns >= 0)
        json_num(out, "p99_ns", f->p99_ns, "%.6g");
    /* Extras may be counts: enough digits to print them exactly. */
    for (int i = 0; i < 4; i++)
        if (f->extra_name[i])
            json_num(out, f->extra_name[i], f->extra[i], "%.10g");
    if (f->baseline) {
        fprintf(out, ",\"baseline\":\"%s\"", f->baseline);
        json_num(out, "ratio", f->ratio, "%.4g");
    }
    fprintf(out, "}\n");
}

void cwb_emit(const cwb_ctx *c, const cwb_fig *f)
{
    if (c->json) {
        json_line(stdout, f);
    } else {
        char vs[64] = "";
        if (f->baseline)
            snprintf(vs, sizeof vs, "%.2fx %s", f->ratio, f->baseline);
        printf("  %-20s %3u %-10s %11.4g %11.4g %11.4g  %-26s %s\n", f->name, f->threads,
               f->unit, f->st.median, f->st.min, f->st.max, vs, f->note);
    }
    fflush(stdout);
    if (c->out_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/results.jsonl", c->out_dir);
        FILE *o = fopen(path, "a");
        if (o) {
            json_line(o, f);
            fclose(o);
        }
    }
}

void cwb_heading(const cwb_ctx *c, const char *title)
{
    if (c->json)
        return;
    printf("\n%s\n", title);
    printf("  %-20s %3s %-10s %11s %11s %11s  %-26s %s\n", "figure", "thr", "unit", "median",
           "min", "max", "ratio vs baseline", "notes");
}

void cwb_info(const cwb_ctx *c, const char *fmt, ...)
{
    FILE *out = c->json ? stderr : stdout;
    if (!fmt) /* never; tells GCC's -fsanitize=undefined build so (-Wformat-overflow) */
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
}

#if defined(__clang__)
#define CWB_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define CWB_COMPILER "gcc " __VERSION__
#else
#define CWB_COMPILER "unknown"
#endif

/* DIR/machine.json: what the figures were measured on, for report.py. */
static void write_machine(const cwb_ctx *c)
{
    char path[4096], model[256] = "unknown", line[512];
    FILE *cpu = fopen("/proc/cpuinfo", "r");
    if (cpu) {
        while (fgets(line, sizeof line, cpu))
            if (!strncmp(line, "model name", 10)) {
                const char *v = strchr(line, ':');
                if (v) {
                    snprintf(model, sizeof model, "%s", v + 2);
                    model[strcspn(model, "\n\"\\")] = 0;
                }
                break;
            }
        fclose(cpu);
    }
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    host[strcspn(host, "\"\\")] = 0;
    snprintf(path, sizeof path, "%s/machine.json", c->out_dir);
    FILE *o = fopen(path, "w");
    if (!o) {
        fprintf(stderr, "causeway-bench: %s: cannot write\n", path);
        return;
    }
    struct utsname u;
    if (uname(&u) != 0)
        snprintf(u.release, sizeof u.release, "unknown");
    u.release[strcspn(u.release, "\"\\")] = 0;
    fprintf(o, "{\"cpu\":\"%s\",\"cpus\":%u,\"memory_bytes\":%lld,\"host\":\"%s\","
               "\"kernel\":\"%s\",\"compiler\":\"%s\",\"quick\":%s,\"runs\":%d}\n",
            model, c->ncpu, (long long)pages * psz, host, u.release, CWB_COMPILER,
            c->quick ? "true" : "false", c->runs);
    fclose(o);
}

static const char *const scenarios[] = {"decode", "graph", "analyze", "http", "query",
                                        "scaling", "all"};

int main(int argc, char **argv)
{
    cwb_ctx c;
    memset(&c, 0, sizeof c);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    c.ncpu = ncpu > 0 ? (unsigned)ncpu : 1;
    const char *scenario = NULL;
    long threads = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        if (!strcmp(a, "--quick")) {
            c.quick = true;
        } else if (!strcmp(a, "--json")) {
            c.json = true;
        } else if (!strcmp(a, "--gzip")) {
            c.gzip = true;
        } else if (!strcmp(a, "--out") && i + 1 < argc) {
            c.out_dir = argv[++i];
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            threads = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || threads < 1 || threads > CWB_MAX_THREADS) {
                usage();
                return 2;
            }
        } else if (!strcmp(a, "--connections") && i + 1 < argc) {
            long n = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || n < 1 || n > 1024) {
                usage();
                return 2;
            }
            c.connections = (unsigned)n;
        } else if (!strcmp(a, "--spans") && i + 1 < argc) {
            long long n = strtoll(argv[++i], &end, 10);
            if (*end || end == argv[i] || n < CWB_SPANS_MIN || n > CWB_SPANS_MAX) {
                usage();
                return 2;
            }
            c.spans = (size_t)n;
        } else if (!scenario) {
            for (size_t k = 0; k < sizeof scenarios / sizeof *scenarios; k++)
                if (!strcmp(a, scenarios[k]))
                    scenario = a;
            if (!scenario) {
                usage();
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (!scenario) {
        usage();
        return 2;
    }
    /* Default: every online CPU, and at least two so that scaling is always
     * measured (on one CPU it then measures time slicing, and says so). */
    c.threads = threads ? (unsigned)threads : (c.ncpu < 2 ? 2 : c.ncpu);
    c.runs = c.quick ? CWB_RUNS_QUICK : CWB_RUNS_FULL;
    c.run_s = c.quick ? RUN_S_QUICK : RUN_S_FULL;
    c.causeway_bin = getenv("CWB_CAUSEWAY");
    if (!c.causeway_bin)
        c.causeway_bin = CWB_CAUSEWAY_BIN;
    c.source_dir = getenv("CWB_SOURCE_DIR");
    if (!c.source_dir)
        c.source_dir = CWB_SOURCE_DIR;
    if (c.out_dir) {
        mkdir(c.out_dir, 0777); /* may exist */
        char path[4096];
        snprintf(path, sizeof path, "%s/results.jsonl", c.out_dir);
        FILE *o = fopen(path, "w"); /* a fresh file per run */
        if (!o) {
            fprintf(stderr, "causeway-bench: %s: cannot write\n", path);
            return 2;
        }
        fclose(o);
        write_machine(&c);
    }

    static int (*const run[])(const cwb_ctx *) = {cwb_decode, cwb_graph, cwb_analyze,
                                                  cwb_http, cwb_query, cwb_scaling};
    int rc = 0;
    double t0 = cwb_now();
    for (size_t k = 0; k < sizeof run / sizeof *run; k++)
        if (!strcmp(scenario, scenarios[k]) || !strcmp(scenario, "all"))
            rc |= run[k](&c);
    if (!strcmp(scenario, "all"))
        cwb_info(&c, "all: %.1f s", cwb_now() - t0);
    return rc ? 1 : 0;
}
