/*
 * causeway-bench: shared declarations of the benchmark driver (main.c), its
 * scenarios (decode.c, graph.c) and their baselines (nanopb_baseline.c,
 * mutex_table.c). Output format: SPEC.md section 7; what each figure means:
 * bench/README.md.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CW_BENCH_H
#define CW_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp/otlp.h"

/* Runs per figure: 7 for a full run, 3 with --quick (the brief's numbers; an
 * odd count so that the median is one measured run, not an average). */
#define CWB_RUNS_FULL 7
#define CWB_RUNS_QUICK 3
#define CWB_RUNS_MAX CWB_RUNS_FULL

/* --threads above this is surely a typo: the graph scenario makes one run
 * per thread count from 1 to N. */
#define CWB_MAX_THREADS 256

/* --spans bounds: a few batches at least; at most what fits the 32-bit
 * node indexes of the graph with room for its placeholders. */
#define CWB_SPANS_MIN 1000
#define CWB_SPANS_MAX 50000000

typedef struct cwb_ctx {
    bool quick;
    bool json;
    unsigned threads; /* highest writer thread count of the graph scenario */
    unsigned ncpu;    /* online CPUs */
    int runs;
    /* Target wall time of one run of a decode figure, seconds. */
    double run_s;
    /* http: client connections (0: the scenario's default) and whether
     * requests are gzip-compressed. */
    unsigned connections;
    bool gzip;
    /* graph: --spans N, the workload's size (0: the scenario's default). */
    size_t spans;
    /* --out DIR: every figure is also appended, as JSON, to
     * DIR/results.jsonl, and the machine is described in DIR/machine.json.
     * NULL when not asked. */
    const char *out_dir;
    /* The causeway daemon driven by the http and query scenarios, and the
     * source tree (the bench scripts): from the build, overridable with the
     * CWB_CAUSEWAY and CWB_SOURCE_DIR environment variables. */
    const char *causeway_bin;
    const char *source_dir;
} cwb_ctx;

/* Seconds on CLOCK_MONOTONIC. */
double cwb_now(void);
uint64_t cwb_now_ns(void);

typedef struct cwb_stat {
    double median, min, max;
} cwb_stat;

/* Median (of an odd or even count), min and max of v[0..n); v is sorted in
 * place. */
cwb_stat cwb_stat_of(double *v, int n);

/* One measured figure, one output line. Optional fields are left out of the
 * JSON when negative (numbers) or NULL (strings). */
typedef struct cwb_fig {
    const char *bench;
    const char *name;
    unsigned threads;
    const char *unit;
    cwb_stat st;
    double spans_per_s;    /* throughput figures */
    double bytes_per_span; /* memory figures */
    double mb_per_s;       /* inflate figures: output bytes, 1e6 a MB */
    const char *baseline;
    double ratio;          /* median over the baseline's median */
    /* Latency figures: p50_ns/p99_ns on the JSON line when >= 0. */
    double p50_ns, p99_ns;
    /* Scenario-specific extras, JSON only when named. */
    const char *extra_name[4];
    double extra[4];
    /* The table's last column, free text (may be NULL). */
    char note[96];
} cwb_fig;

/* Starts a figure with every optional field absent. */
void cwb_fig_init(cwb_fig *f, const char *bench, const char *name, unsigned threads,
                  const char *unit);

/* Prints one figure: a JSON line with --json, else a table row. */
void cwb_emit(const cwb_ctx *c, const cwb_fig *f);
/* Prints a table heading (nothing with --json). */
void cwb_heading(const cwb_ctx *c, const char *title);
/* Prints a line of context for people (stderr with --json, so that stdout
 * stays one JSON object per line). */
void cwb_info(const cwb_ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* n bytes aligned to 2 MiB and advised for transparent huge pages, as the
 * engine's regions are (cw__region_reserve); freed with free(). For the
 * baselines' big arrays: with plain malloc they get huge pages only when the
 * kernel's THP mode is "always": on this project's VM in "madvise" mode
 * the mutex table ran at 1.5-2.0 M spans/s (1 M-span workload, one thread)
 * on 4 KiB pages and 2.8-3.1 M on huge pages, which turned a 1.65x lead of
 * the graph at two threads into 3.05x: a ratio of page sizes, not of
 * structures (bench/README.md). */
#define CWB_HUGE_PAGE ((size_t)2 << 20)
void *cwb_huge_alloc(size_t n);

/* Keeps the compiler from dropping a computation whose result is unused. */
void cwb_sink(uint64_t v);

/* Scenarios: each prints its figures and returns 0, or -1 after a message
 * on stderr. */
int cwb_decode(const cwb_ctx *c);
int cwb_graph(const cwb_ctx *c);
int cwb_analyze(const cwb_ctx *c);
int cwb_http(const cwb_ctx *c);
int cwb_query(const cwb_ctx *c);
int cwb_scaling(const cwb_ctx *c);

/* ---------------------------------------------------- nanopb_baseline.c */

/* Decodes an ExportTraceServiceRequest with nanopb's generated descriptors
 * and field callbacks into d->batch, producing the same records as
 * cw__decode_pb (ids, times, kind, status, model attributes interned, links).
 * Returns 0, or CW_EPROTO when nanopb rejects the bytes. */
int cwb_npb_decode(cw__decoder *d, const uint8_t *buf, size_t len);

/* ------------------------------------- json_cjson.c, json_jsonc.c, ... */

/* Generic JSON libraries, each in its own file (json-c and jansson clash):
 * parse a whole document and free it. Return 0, or -1 when it does not
 * parse. Built only when meson finds the library (CWB_HAVE_*). */
int cwb_cjson_parse(const char *p, size_t n);
int cwb_jsonc_parse(const char *p, size_t n);
int cwb_jansson_parse(const char *p, size_t n);

/* -------------------------------------------------------- mutex_table.c */

typedef struct cwb_mtable cwb_mtable;

/* The span graph of lib/graph built behind one pthread mutex: traces,
 * nodes, parent placeholders, child lists and two-way link indexes in
 * chained hash tables, sized for cap spans (no resizing: the benchmark
 * knows its workload). */
int cwb_mt_new(cwb_mtable **out, size_t cap);
void cwb_mt_free(cwb_mtable *t);
/* Inserts a batch's spans under one lock acquisition, as the graph does
 * (now stamps the traces). Returns the spans accepted, duplicates
 * included. */
size_t cwb_mt_insert(cwb_mtable *t, const cw__batch *b, uint64_t now);
/* Walks one trace under the lock: every node and its children. Returns the
 * nodes visited. */
unsigned cwb_mt_walk(cwb_mtable *t, cw__tid trace);
/* Real spans stored. */
size_t cwb_mt_count(const cwb_mtable *t);
/* Bytes of records and buckets. */
size_t cwb_mt_bytes(const cwb_mtable *t);

/* ----------------------------------------------------------- oa_index.c */

/* The index baseline issue 3 quotes: 24-byte keys into an open-addressing
 * table with CAS on 64-bit slots. */
typedef struct cwb_cas cwb_cas;
int cwb_cas_new(cwb_cas **out, size_t nkeys);
void cwb_cas_free(cwb_cas *t);
/* Empties the table (untimed) for the next run. */
void cwb_cas_reset(cwb_cas *t);
/* Inserts keys from the shared counter until none is left; any number of
 * threads at once. Returns the keys this caller inserted. */
size_t cwb_cas_work(cwb_cas *t);

/* The graph's insert work on open-addressing indexes, without deletion:
 * a prototype to measure a redesign of the span index by (see the file's
 * top comment for what it leaves out). Sized for spans and traces. */
typedef struct cwb_oa cwb_oa;
int cwb_oa_new(cwb_oa **out, size_t spans, size_t traces);
void cwb_oa_free(cwb_oa *t);
/* Inserts a batch; any number of threads at once. Returns the spans
 * placed (fewer only when sized too small). */
size_t cwb_oa_insert(cwb_oa *t, const cw__batch *b, uint64_t now);
/* Walks one trace's nodes and their children; concurrent with inserts.
 * Returns the nodes visited. */
unsigned cwb_oa_walk(cwb_oa *t, cw__tid trace);
size_t cwb_oa_index_bytes(const cwb_oa *t);
/* FINAL entries in the node index: the spans and placeholders held. */
size_t cwb_oa_nodes(const cwb_oa *t);

/* The smallest power of two >= n, at least 1024: the baselines' table
 * sizes. */
static inline size_t cwb_pow2_at_least(size_t n)
{
    size_t p = 1024;
    while (p < n)
        p <<= 1;
    return p;
}

/* A xorshift64 step: the load generators' cheap random numbers (*s != 0). */
static inline uint64_t cwb_xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

#endif /* CW_BENCH_H */
