/*
 * The decode scenario: request bytes to span records on one core, against
 * protobuf-c, nanopb, generic JSON parsers and plain inflate, all in one
 * process run (bench/README.md explains every figure).
 *
 * Inputs: one generated request (tools/gen, seed 42, 10,000 spans in a
 * single ExportTraceServiceRequest) in protobuf, OTLP JSON and gzip
 * (libdeflate level 6, the usual exporter level), and the captured exporter
 * requests in tests/data/captures, decoded as they were sent.
 *
 * Method: every operation is checked once before timing (the decoders must
 * agree record for record). Each figure's run repeats its operation for
 * about run_s seconds; runs are interleaved (round r measures every figure
 * once) so that a figure and its baseline see the same machine state, and
 * each figure reports the median run with min and max.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <dirent.h>
#include <libdeflate.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "bench.h"
#include "gen.h"
#include "support.h"

/* The brief's workload: 10,000 spans, one request, a fixed seed. */
#define REQ_SPANS 10000
#define REQ_SEED 42
/* The engine's defaults (include/causeway.h, cw_engine_options):
 * max_attr_len 1024 bytes, intern_limit 262,144 strings. */
#define MAX_ATTR_LEN 1024
#define INTERN_LIMIT (1u << 18)
/* Decompressed-body limit, SPEC.md section 6 (64 MiB). */
#define GUNZIP_LIMIT (64u << 20)
/* gzip level of the test request: 6 is zlib's and the exporters' default. */
#define GZIP_LEVEL 6
/* Calibration: time at least this long to estimate one operation's cost. */
#define CALIBRATE_S 0.01

typedef struct capture {
    char name[64];
    uint8_t *data;
    size_t len;
    bool gz, json;
    size_t spans;
} capture;

typedef struct dstate {
    cw__mem mem;
    cw__interner *in;
    cw__batch batch;
    /* The generated request. */
    cwg_buf pb, json;
    uint8_t *gz;
    size_t gz_len;
    size_t nspans;
    /* inflate-only and zlib: a decompressor made once, a buffer of exactly
     * the output size. */
    struct libdeflate_decompressor *dd;
    uint8_t *out;
    size_t out_len;
    /* gzip, gzip+hotpath: cw__gunzip_into()'s buffer, kept from request to
     * request as the engine's workers keep theirs. */
    uint8_t *zbuf;
    size_t zcap;
    z_stream z;
    bool z_ready;
    /* Captures. */
    capture *caps;
    size_t ncaps;
    size_t cap_pb_spans, cap_json_spans;
    size_t cap_pb_bytes, cap_json_bytes;
} dstate;

/* One timed operation; 0 on success. */
typedef int (*op_fn)(dstate *s);

typedef struct dcase {
    const char *name;
    const char *baseline; /* NULL: a baseline or a stand-alone figure */
    op_fn op;
    double spans;         /* spans per operation */
    double out_bytes;     /* inflated bytes per operation (mb_per_s), or 0 */
    const char *note;
    unsigned iters;
    double v[CWB_RUNS_MAX]; /* spans/s of each run */
    cwb_stat st;
} dcase;

/* ------------------------------------------------------------ operations */

static int decode_pb_into(dstate *s, const uint8_t *p, size_t n)
{
    cw__batch_reset(&s->batch);
    cw__decoder d;
    cw__decoder_init(&d, s->in, MAX_ATTR_LEN, &s->batch);
    int r = cw__decode_pb(&d, p, n);
    cw__decoder_done(&d);
    return r;
}

static int decode_json_into(dstate *s, const uint8_t *p, size_t n)
{
    cw__batch_reset(&s->batch);
    cw__decoder d;
    cw__decoder_init(&d, s->in, MAX_ATTR_LEN, &s->batch);
    int r = cw__decode_json(&d, (const char *)p, n);
    cw__decoder_done(&d);
    return r;
}

static int op_hotpath(dstate *s)
{
    return decode_pb_into(s, s->pb.p, s->pb.n);
}

static int op_pbc(dstate *s)
{
    return cwt_pbc_unpack_free(s->pb.p, s->pb.n) < 0;
}

static int op_nanopb(dstate *s)
{
    cw__batch_reset(&s->batch);
    cw__decoder d;
    cw__decoder_init(&d, s->in, MAX_ATTR_LEN, &s->batch);
    int r = cwb_npb_decode(&d, s->pb.p, s->pb.n);
    cw__decoder_done(&d);
    return r;
}

static int op_json(dstate *s)
{
    return decode_json_into(s, s->json.p, s->json.n);
}

#ifdef CWB_HAVE_CJSON
static int op_cjson(dstate *s)
{
    return cwb_cjson_parse((const char *)s->json.p, s->json.n);
}
#endif

#ifdef CWB_HAVE_JSONC
static int op_jsonc(dstate *s)
{
    return cwb_jsonc_parse((const char *)s->json.p, s->json.n);
}
#endif

#ifdef CWB_HAVE_JANSSON
static int op_jansson(dstate *s)
{
    return cwb_jansson_parse((const char *)s->json.p, s->json.n);
}
#endif

/* The generated request inflated into the kept buffer s->zbuf. */
static int inflate_kept(dstate *s, size_t *n)
{
    const char *reason;
    return cw__gunzip_into(&s->mem, s->gz, s->gz_len, GUNZIP_LIMIT, &s->zbuf, &s->zcap, n,
                           &reason);
}

static int op_gzip(dstate *s)
{
    size_t n;
    int r = inflate_kept(s, &n);
    if (r)
        return r;
    cwb_sink(s->zbuf[n / 2]);
    return n != s->pb.n;
}

static int op_inflate_only(dstate *s)
{
    size_t got;
    enum libdeflate_result r =
        libdeflate_gzip_decompress(s->dd, s->gz, s->gz_len, s->out, s->out_len, &got);
    return r != LIBDEFLATE_SUCCESS || got != s->pb.n;
}

static int op_zlib(dstate *s)
{
    if (inflateReset(&s->z) != Z_OK)
        return -1;
    s->z.next_in = s->gz;
    s->z.avail_in = (uInt)s->gz_len;
    s->z.next_out = s->out;
    s->z.avail_out = (uInt)s->out_len;
    int r = inflate(&s->z, Z_FINISH);
    return r != Z_STREAM_END || s->z.total_out != s->pb.n;
}

/* What the receiver does with a gzipped protobuf body (cw_engine_ingest:
 * the worker's reused inflate buffer, then the decode). */
static int op_gzip_hotpath(dstate *s)
{
    size_t out_len;
    int r = inflate_kept(s, &out_len);
    return r ? r : decode_pb_into(s, s->zbuf, out_len);
}

/* Protobuf captures (.pb and .pb.gz) through the hot path, inflating the
 * gzipped ones with cw__gunzip first, one request at a time. */
static int op_cap_hotpath(dstate *s)
{
    for (size_t i = 0; i < s->ncaps; i++) {
        const capture *c = &s->caps[i];
        if (c->json)
            continue;
        int r;
        if (c->gz) {
            uint8_t *out;
            size_t out_len, out_cap;
            const char *reason;
            r = cw__gunzip(&s->mem, c->data, c->len, GUNZIP_LIMIT, &out, &out_len, &out_cap,
                           &reason);
            if (r)
                return r;
            r = decode_pb_into(s, out, out_len);
            cw__free(&s->mem, out, out_cap);
        } else {
            r = decode_pb_into(s, c->data, c->len);
        }
        if (r)
            return r;
    }
    return 0;
}

/* The same requests through protobuf-c (the same inflate first). */
static int op_cap_pbc(dstate *s)
{
    for (size_t i = 0; i < s->ncaps; i++) {
        const capture *c = &s->caps[i];
        if (c->json)
            continue;
        long n;
        if (c->gz) {
            uint8_t *out;
            size_t out_len, out_cap;
            const char *reason;
            int r = cw__gunzip(&s->mem, c->data, c->len, GUNZIP_LIMIT, &out, &out_len,
                               &out_cap, &reason);
            if (r)
                return r;
            n = cwt_pbc_unpack_free(out, out_len);
            cw__free(&s->mem, out, out_cap);
        } else {
            n = cwt_pbc_unpack_free(c->data, c->len);
        }
        if (n < 0)
            return -1;
    }
    return 0;
}

static int op_cap_json(dstate *s)
{
    for (size_t i = 0; i < s->ncaps; i++) {
        const capture *c = &s->caps[i];
        if (!c->json)
            continue;
        int r = decode_json_into(s, c->data, c->len);
        if (r)
            return r;
    }
    return 0;
}

/* ----------------------------------------------------------------- setup */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int cmp_capture(const void *a, const void *b)
{
    return strcmp(((const capture *)a)->name, ((const capture *)b)->name);
}

static const char *data_dir(void)
{
    const char *d = getenv("CW_TEST_DATA");
#ifdef CWB_DATA_DIR
    if (!d)
        d = CWB_DATA_DIR;
#endif
    return d ? d : cwt_data_dir();
}

/* Loads every request body in tests/data/captures: *.pb, *.pb.gz and *.json
 * except manifest.json (the description of the captures, not a request). */
static int load_captures(dstate *s, const cwb_ctx *c)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/captures", data_dir());
    DIR *dh = opendir(dir);
    if (!dh) {
        cwb_info(c, "decode: no captures at %s (set CW_TEST_DATA): capture figures skipped",
                 dir);
        return 0;
    }
    size_t cap = 0;
    for (struct dirent *e; (e = readdir(dh));) {
        const char *nm = e->d_name;
        bool gz = ends_with(nm, ".pb.gz"), pb = ends_with(nm, ".pb"),
             json = ends_with(nm, ".json") && strcmp(nm, "manifest.json") != 0;
        if (!(gz || pb || json) || strlen(nm) >= sizeof s->caps[0].name)
            continue;
        if (s->ncaps == cap) {
            cap = cap ? cap * 2 : 64;
            capture *nc = realloc(s->caps, cap * sizeof *nc);
            if (!nc) {
                closedir(dh);
                return CW_ENOMEM;
            }
            s->caps = nc;
        }
        capture *k = &s->caps[s->ncaps];
        memset(k, 0, sizeof *k);
        snprintf(k->name, sizeof k->name, "%s", nm);
        k->gz = gz;
        k->json = json;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        k->data = cwt_read_file(path, &k->len);
        if (!k->data) {
            cwb_info(c, "decode: cannot read %s", path);
            continue;
        }
        s->ncaps++;
    }
    closedir(dh);
    qsort(s->caps, s->ncaps, sizeof *s->caps, cmp_capture);
    /* Count each capture's spans with the hot path (checked below against
     * protobuf-c for the protobuf ones). */
    for (size_t i = 0; i < s->ncaps; i++) {
        capture *k = &s->caps[i];
        int r;
        if (k->json) {
            r = decode_json_into(s, k->data, k->len);
            s->cap_json_bytes += k->len;
        } else if (k->gz) {
            uint8_t *out;
            size_t out_len, out_cap;
            const char *reason;
            r = cw__gunzip(&s->mem, k->data, k->len, GUNZIP_LIMIT, &out, &out_len, &out_cap,
                           &reason);
            if (!r) {
                r = decode_pb_into(s, out, out_len);
                long n = cwt_pbc_unpack_free(out, out_len);
                if (!r && n != (long)s->batch.n)
                    r = -1;
                cw__free(&s->mem, out, out_cap);
            }
            s->cap_pb_bytes += k->len;
        } else {
            r = decode_pb_into(s, k->data, k->len);
            if (!r && cwt_pbc_unpack_free(k->data, k->len) != (long)s->batch.n)
                r = -1;
            s->cap_pb_bytes += k->len;
        }
        if (r) {
            fprintf(stderr, "decode: capture %s does not decode (%d)\n", k->name, r);
            return -1;
        }
        k->spans = s->batch.n;
        if (k->json)
            s->cap_json_spans += k->spans;
        else
            s->cap_pb_spans += k->spans;
    }
    return 0;
}

static bool span_eq(const cw__span *a, const cw__span *b)
{
    return cw__tid_eq(a->trace, b->trace) && a->span_id == b->span_id &&
           a->parent_id == b->parent_id && a->start_ns == b->start_ns &&
           a->end_ns == b->end_ns && a->invocation_id == b->invocation_id &&
           a->function == b->function && a->name == b->name && a->target == b->target &&
           a->region == b->region && a->client == b->client &&
           a->link_first == b->link_first && a->link_count == b->link_count &&
           a->http_status == b->http_status && a->resend_count == b->resend_count &&
           a->kind == b->kind && a->status == b->status && a->flags == b->flags &&
           a->trigger == b->trigger;
}

/* Index of the first record where the batch differs from ref, or -1. */
static long batch_diff(const cw__batch *b, const cw__span *ref, size_t n,
                       const cw__link *links, size_t nlinks)
{
    if (b->n != n || b->nlinks != nlinks)
        return (long)(b->n < n ? b->n : n);
    for (size_t i = 0; i < n; i++)
        if (!span_eq(&b->spans[i], &ref[i]))
            return (long)i;
    for (size_t i = 0; i < nlinks; i++)
        if (!cw__tid_eq(b->links[i].trace, links[i].trace) ||
            b->links[i].span_id != links[i].span_id)
            return (long)n;
    return -1;
}

static int setup(dstate *s, const cwb_ctx *c)
{
    cw__mem_init(&s->mem, NULL);
    if (cw__intern_new(&s->in, &s->mem, INTERN_LIMIT))
        return CW_ENOMEM;
    cw__batch_init(&s->batch, &s->mem);

    cwg_options o;
    cwg_options_init(&o);
    o.seed = REQ_SEED;
    o.spans = REQ_SPANS;
    o.batch_spans = REQ_SPANS;
    cwg_workload w;
    if (cwg_generate(&w, &o))
        return CW_ENOMEM;
    s->nspans = w.nspans;
    int r = cwg_encode_all_pb(&w, &s->pb) || cwg_encode_all_json(&w, &s->json);
    cwg_free(&w);
    if (r)
        return CW_ENOMEM;

    struct libdeflate_compressor *cz = libdeflate_alloc_compressor(GZIP_LEVEL);
    if (!cz)
        return CW_ENOMEM;
    size_t bound = libdeflate_gzip_compress_bound(cz, s->pb.n);
    s->gz = malloc(bound);
    s->gz_len = s->gz ? libdeflate_gzip_compress(cz, s->pb.p, s->pb.n, s->gz, bound) : 0;
    libdeflate_free_compressor(cz);
    if (!s->gz_len)
        return CW_ENOMEM;

    s->dd = libdeflate_alloc_decompressor();
    s->out_len = s->pb.n;
    s->out = malloc(s->out_len);
    if (!s->dd || !s->out)
        return CW_ENOMEM;
    memset(&s->z, 0, sizeof s->z);
    if (inflateInit2(&s->z, 16 + 15) != Z_OK) /* 16: gzip wrapper, 15: 32 KiB window */
        return CW_ENOMEM;
    s->z_ready = true;

    cwb_info(c, "decode: request of %zu spans: protobuf %zu bytes (%.1f bytes/span), "
                "JSON %zu bytes (%.1f bytes/span), gzip %zu bytes (%.1fx)",
             s->nspans, s->pb.n, (double)s->pb.n / (double)s->nspans, s->json.n,
             (double)s->json.n / (double)s->nspans, s->gz_len,
             (double)s->pb.n / (double)s->gz_len);

    /* Checks, untimed: every decoder sees the same spans, and ours agree
     * record for record. */
    if ((r = op_hotpath(s)) || s->batch.n != s->nspans) {
        fprintf(stderr, "decode: hot path failed on the request (%d, %zu spans)\n", r,
                s->batch.n);
        return -1;
    }
    size_t nref = s->batch.n, nlinks = s->batch.nlinks;
    cw__span *ref = malloc(nref * sizeof *ref);
    cw__link *lref = malloc((nlinks ? nlinks : 1) * sizeof *lref);
    if (!ref || !lref) {
        free(ref);
        free(lref);
        return CW_ENOMEM;
    }
    memcpy(ref, s->batch.spans, nref * sizeof *ref);
    memcpy(lref, s->batch.links, nlinks * sizeof *lref);
    int bad = 0;
    if (cwt_pbc_unpack_free(s->pb.p, s->pb.n) != (long)s->nspans) {
        fprintf(stderr, "decode: protobuf-c disagrees on the span count\n");
        bad = -1;
    }
    long at;
    if ((r = op_nanopb(s)) || (at = batch_diff(&s->batch, ref, nref, lref, nlinks)) >= 0) {
        fprintf(stderr, "decode: nanopb baseline differs from the hot path (%d)\n", r);
        bad = -1;
    }
    if ((r = op_json(s)) || (at = batch_diff(&s->batch, ref, nref, lref, nlinks)) >= 0) {
        /* A lib/ disagreement, not the benchmark's: report it, keep going. */
        cwb_info(c, "decode: WARNING: JSON decoder differs from the protobuf hot path "
                    "(rc %d, %zu spans)", r, s->batch.n);
    }
    free(ref);
    free(lref);
    if (op_gzip(s) || op_inflate_only(s) || memcmp(s->out, s->pb.p, s->pb.n) ||
        op_zlib(s) || memcmp(s->out, s->pb.p, s->pb.n) || op_gzip_hotpath(s) ||
        s->batch.n != s->nspans) {
        fprintf(stderr, "decode: inflate check failed\n");
        bad = -1;
    }
    if (bad)
        return bad;
    return load_captures(s, c);
}

static void teardown(dstate *s)
{
    for (size_t i = 0; i < s->ncaps; i++)
        free(s->caps[i].data);
    free(s->caps);
    if (s->z_ready)
        inflateEnd(&s->z);
    free(s->out);
    cw__free(&s->mem, s->zbuf, s->zcap);
    libdeflate_free_decompressor(s->dd);
    free(s->gz);
    cwg_buf_free(&s->pb);
    cwg_buf_free(&s->json);
    cw__batch_free(&s->batch);
    cw__intern_free(s->in);
}

/* ---------------------------------------------------------------- timing */

static int calibrate(dstate *s, dcase *k, double run_s)
{
    if (k->op(s)) /* warm caches and allocator, and check it works */
        return -1;
    unsigned n = 1;
    for (;;) {
        double t0 = cwb_now();
        for (unsigned i = 0; i < n; i++)
            if (k->op(s))
                return -1;
        double dt = cwb_now() - t0;
        if (dt >= CALIBRATE_S || n >= (1u << 24)) {
            double per = dt / n;
            double it = run_s / (per > 0 ? per : 1e-9);
            k->iters = it < 1 ? 1 : it > 1e8 ? 100000000u : (unsigned)it;
            return 0;
        }
        n *= 2;
    }
}

/* One run of a figure. Its first call is untimed: the run then measures
 * the operation, not the change from the figure before it. Without it the
 * gzip figure, which follows the generic JSON parsers, read 0.83-0.87x
 * inflate-only in every round while the same operation placed after
 * inflate-only read 1.00x: one slow first call after the parsers' runs
 * (cause not pinned down; it is not the buffer, the decompressor's
 * allocation or the call, each tried in place of the other). */
static int time_run(dstate *s, dcase *k, int run)
{
    if (k->op(s))
        return -1;
    double t0 = cwb_now();
    for (unsigned i = 0; i < k->iters; i++)
        if (k->op(s))
            return -1;
    double dt = cwb_now() - t0;
    k->v[run] = k->spans * k->iters / dt;
    return 0;
}

static const dcase *find_case(const dcase *ks, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ks[i].name, name))
            return &ks[i];
    return NULL;
}

static void emit_case(const cwb_ctx *c, const dcase *ks, size_t n, const dcase *k,
                      const char *name, const char *baseline)
{
    cwb_fig f;
    cwb_fig_init(&f, "decode", name, 1, "spans/s");
    f.st = k->st;
    f.spans_per_s = k->st.median;
    if (k->out_bytes > 0)
        f.mb_per_s = k->st.median / k->spans * k->out_bytes / 1e6;
    const dcase *b = baseline ? find_case(ks, n, baseline) : NULL;
    if (b) {
        f.baseline = b->name;
        f.ratio = k->st.median / b->st.median;
    }
    if (k->note)
        snprintf(f.note, sizeof f.note, "%s", k->note);
    if (f.mb_per_s >= 0) {
        size_t l = strlen(f.note);
        snprintf(f.note + l, sizeof f.note - l, "%s%.0f MB/s out", l ? "; " : "", f.mb_per_s);
    }
    cwb_emit(c, &f);
}

/* Pins the calling thread to the CPU it runs on, saving its affinity in
 * *old; false when that is not possible (the figures are then taken
 * unpinned). Every figure here is one thread, and a ratio compares two
 * figures of the same run: on this project's VM the two vCPUs run
 * memory-bound code at different speeds, and a thread the scheduler moved
 * between them put gzip and inflate-only on different vCPUs (0.84x
 * unpinned where both pinned to either vCPU read 0.99x). */
static bool pin_here(cpu_set_t *old)
{
    int cpu = sched_getcpu();
    if (cpu < 0 || sched_getaffinity(0, sizeof *old, old))
        return false;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof one, &one) == 0;
}

int cwb_decode(const cwb_ctx *c)
{
    dstate s;
    memset(&s, 0, sizeof s);
    double t_start = cwb_now();
    int r = setup(&s, c);
    if (r) {
        fprintf(stderr, "decode: setup failed (%d)\n", r);
        teardown(&s);
        return -1;
    }
    double sp = (double)s.nspans;
    dcase ks[16];
    size_t n = 0;
#define ADD(nm, bl, fn, spans_, out_, note_)                                          \
    do {                                                                             \
        memset(&ks[n], 0, sizeof ks[n]);                                             \
        ks[n].name = nm;                                                             \
        ks[n].baseline = bl;                                                         \
        ks[n].op = fn;                                                               \
        ks[n].spans = spans_;                                                        \
        ks[n].out_bytes = out_;                                                      \
        ks[n].note = note_;                                                          \
        n++;                                                                         \
    } while (0)
    ADD("hotpath", "protobuf-c", op_hotpath, sp, 0, "cw__decode_pb, records + interning");
    ADD("protobuf-c", NULL, op_pbc, sp, 0, "unpack + free_unpacked (baseline)");
    ADD("nanopb", "protobuf-c", op_nanopb, sp, 0, "field callbacks, same records");
    ADD("json", "protobuf-c", op_json, sp, 0, "cw__decode_json, same records");
#ifdef CWB_HAVE_CJSON
    ADD("cjson-parse", "protobuf-c", op_cjson, sp, 0, "cJSON parse + delete, no spans");
#endif
#ifdef CWB_HAVE_JSONC
    ADD("json-c-parse", "protobuf-c", op_jsonc, sp, 0, "json-c parse + put, no spans");
#endif
#ifdef CWB_HAVE_JANSSON
    ADD("jansson-parse", "protobuf-c", op_jansson, sp, 0, "jansson load + decref, no spans");
#endif
    ADD("gzip", "inflate-only", op_gzip, sp, (double)s.pb.n, "cw__gunzip_into (bounded)");
    ADD("inflate-only", NULL, op_inflate_only, sp, (double)s.pb.n, "libdeflate, preallocated");
    ADD("zlib", "inflate-only", op_zlib, sp, (double)s.pb.n, "zlib inflate, preallocated");
    ADD("gzip+hotpath", "protobuf-c", op_gzip_hotpath, sp, 0, "inflate, then decode");
    if (s.cap_pb_spans) {
        ADD("hotpath-captures", "protobuf-c-captures", op_cap_hotpath, (double)s.cap_pb_spans,
            0, NULL);
        ADD("protobuf-c-captures", NULL, op_cap_pbc, (double)s.cap_pb_spans, 0,
            "baseline over the same bodies");
    }
    if (s.cap_json_spans)
        ADD("json-captures", "protobuf-c-captures", op_cap_json, (double)s.cap_json_spans, 0,
            NULL);
#undef ADD

    cpu_set_t affinity;
    bool pinned = pin_here(&affinity);
    int failed = 0;
    for (size_t i = 0; i < n && !failed; i++)
        if (calibrate(&s, &ks[i], c->run_s))
            failed = (int)i + 1;
    for (int run = 0; run < c->runs && !failed; run++)
        for (size_t i = 0; i < n && !failed; i++)
            if (time_run(&s, &ks[i], run))
                failed = (int)i + 1;
    if (pinned)
        sched_setaffinity(0, sizeof affinity, &affinity);
    if (failed) {
        fprintf(stderr, "decode: %s failed\n", ks[failed - 1].name);
        teardown(&s);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        ks[i].st = cwb_stat_of(ks[i].v, c->runs);

    if (s.ncaps) {
        size_t npb = 0, ngz = 0;
        for (size_t i = 0; i < s.ncaps; i++) {
            npb += !s.caps[i].json;
            ngz += s.caps[i].gz;
        }
        cwb_info(c, "decode: captures: %zu protobuf bodies (%zu gzipped, %zu bytes, %zu spans), "
                    "%zu JSON bodies (%zu bytes, %zu spans)",
                 npb, ngz, s.cap_pb_bytes, s.cap_pb_spans, s.ncaps - npb,
                 s.cap_json_bytes, s.cap_json_spans);
    }
    cwb_heading(c, "decode (one core; spans/s; ratio = median / baseline median, same run)");
    for (size_t i = 0; i < n; i++) {
        emit_case(c, ks, n, &ks[i], ks[i].name, ks[i].baseline);
        if (!strcmp(ks[i].name, "nanopb"))
            emit_case(c, ks, n, find_case(ks, n, "hotpath"), "hotpath-vs-nanopb", "nanopb");
    }
    cwb_info(c, "decode: %d runs per figure, %.1f s in all", c->runs, cwb_now() - t_start);
    teardown(&s);
    return 0;
}
