/*
 * lib/otlp: the protobuf, JSON and gzip decoders.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "gen.h"
#include "support.h"

/* ------------------------------------------------------------- fixture */

typedef struct fx {
    cw__mem mem;
    cw__interner *in;
    cw__batch b;
    cw__decoder d;
} fx;

static void fx_init(fx *f, uint32_t max_attr_len)
{
    cw__mem_init(&f->mem, NULL);
    cr_assert_eq(cw__intern_new(&f->in, &f->mem, 1 << 16), 0);
    cw__batch_init(&f->b, &f->mem);
    cw__decoder_init(&f->d, f->in, max_attr_len, &f->b);
}

static void fx_free(fx *f)
{
    cw__decoder_done(&f->d);
    cw__batch_free(&f->b);
    cw__intern_free(f->in);
    cr_assert_eq(atomic_load(&f->mem.in_use), 0, "leaked %llu bytes",
                 (unsigned long long)atomic_load(&f->mem.in_use));
}

enum { PB, JSON, REF };

static int decode(fx *f, int how, const void *p, size_t n)
{
    cw__decoder_done(&f->d);
    cw__batch_reset(&f->b);
    cw__decoder_init(&f->d, f->in, f->d.max_attr_len, &f->b);
    switch (how) {
    case PB:
        return cw__decode_pb(&f->d, p, n);
    case JSON:
        return cw__decode_json(&f->d, p, n);
    default:
        return cwt_ref_decode_pb(&f->d, p, n);
    }
}

/* A deep copy of a batch, to compare two decodes. */
typedef struct snap {
    cw__span *s;
    size_t n;
    cw__link *l;
    size_t nl;
    uint64_t rejected[CW_REJECT_COUNT];
    uint64_t links_dropped;
} snap;

static snap take(const cw__batch *b)
{
    snap s = {0};
    s.n = b->n;
    s.nl = b->nlinks;
    s.s = malloc((b->n + 1) * sizeof *s.s);
    s.l = malloc((b->nlinks + 1) * sizeof *s.l);
    if (b->n)
        memcpy(s.s, b->spans, b->n * sizeof *s.s);
    if (b->nlinks)
        memcpy(s.l, b->links, b->nlinks * sizeof *s.l);
    memcpy(s.rejected, b->rejected, sizeof s.rejected);
    s.links_dropped = b->links_dropped;
    return s;
}

static void drop(snap *s)
{
    free(s->s);
    free(s->l);
}

/* Field-by-field comparison; names the first difference. */
static void same_records(const snap *a, const cw__batch *b, const char *what)
{
    cr_assert_eq(a->n, b->n, "%s: %zu spans vs %zu", what, a->n, b->n);
    cr_assert_eq(a->links_dropped, b->links_dropped, "%s: links dropped", what);
    for (int r = 0; r < CW_REJECT_COUNT; r++)
        cr_assert_eq(a->rejected[r], b->rejected[r], "%s: rejected[%d]", what, r);
    for (size_t i = 0; i < a->n; i++) {
        const cw__span *x = &a->s[i], *y = &b->spans[i];
#define F(field)                                                               \
    cr_assert_eq(x->field, y->field, "%s: span %zu field " #field " %llu vs %llu", what, \
                 i, (unsigned long long)x->field, (unsigned long long)y->field)
        F(trace.hi);
        F(trace.lo);
        F(span_id);
        F(parent_id);
        F(start_ns);
        F(end_ns);
        F(invocation_id);
        F(function);
        F(name);
        F(target);
        F(region);
        F(trigger);
        F(client);
        F(link_count);
        F(http_status);
        F(resend_count);
        F(kind);
        F(status);
        F(flags);
#undef F
        for (uint32_t k = 0; k < x->link_count; k++) {
            const cw__link *la = &a->l[x->link_first + k], *lb = &b->links[y->link_first + k];
            cr_assert(cw__tid_eq(la->trace, lb->trace) && la->span_id == lb->span_id,
                      "%s: span %zu link %u", what, i, k);
        }
    }
}

static char *path_of(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", cwt_data_dir(), rel);
    return buf;
}

static uint8_t *load(const char *rel, size_t *n)
{
    uint8_t *p = cwt_read_file(path_of(rel), n);
    cr_assert_not_null(p, "cannot read %s", path_of(rel));
    return p;
}

static uint8_t *load_gunzip(const char *rel, size_t *n, fx *f)
{
    size_t zn;
    uint8_t *z = load(rel, &zn);
    uint8_t *out;
    size_t cap;
    const char *why;
    cr_assert_eq(cw__gunzip(&f->mem, z, zn, 1u << 30, &out, n, &cap, &why), 0, "%s", rel);
    free(z);
    uint8_t *copy = malloc(*n + 1);
    memcpy(copy, out, *n);
    cw__free(&f->mem, out, cap);
    return copy;
}

/* ------------------------------------------------------------- captures */

/* The manifest is JSON we did not write; a tiny reader for its shape
 * ("file": "...", then that file's "spans": N) keeps the test free of a JSON
 * library. */
typedef struct cap_file {
    char name[128];
    long spans;
} cap_file;

static size_t manifest_files(const char *m, cap_file *out, size_t max)
{
    size_t n = 0;
    const char *p = m;
    while (n < max && (p = strstr(p, "\"file\": \"")) != NULL) {
        p += 9;
        const char *q = strchr(p, '"');
        size_t len = (size_t)(q - p);
        cr_assert_lt(len, sizeof out[n].name);
        memcpy(out[n].name, p, len);
        out[n].name[len] = '\0';
        const char *s = strstr(q, "\"spans\": ");
        cr_assert_not_null(s);
        out[n].spans = strtol(s + 9, NULL, 10);
        n++;
        p = q;
    }
    return n;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

/* Decodes one capture file the way the receiver will: by its encoding. */
static void decode_capture(fx *f, const char *name, int *how_out)
{
    char rel[256];
    snprintf(rel, sizeof rel, "captures/%s", name);
    size_t n;
    uint8_t *p;
    int how = ends_with(name, ".json") ? JSON : PB;
    if (ends_with(name, ".gz"))
        p = load_gunzip(rel, &n, f);
    else
        p = load(rel, &n);
    cr_assert_eq(decode(f, how, p, n), 0, "%s: %s", name, f->d.reason);
    free(p);
    *how_out = how;
}

Test(otlp_captures, span_counts_match_the_manifest)
{
    fx f;
    fx_init(&f, 1024);
    size_t mn;
    char *m = (char *)load("captures/manifest.json", &mn);
    m = realloc(m, mn + 1);
    m[mn] = '\0';
    cap_file files[64];
    size_t nf = manifest_files(m, files, 64);
    cr_assert_eq(nf, 33, "manifest lists %zu files", nf);
    for (size_t i = 0; i < nf; i++) {
        int how;
        decode_capture(&f, files[i].name, &how);
        cr_assert_eq((long)f.b.n, files[i].spans, "%s: %zu spans, manifest says %ld",
                     files[i].name, f.b.n, files[i].spans);
        for (int r = 0; r < CW_REJECT_COUNT; r++)
            cr_assert_eq(f.b.rejected[r], 0, "%s rejected spans", files[i].name);
    }
    free(m);
    fx_free(&f);
}

/* Every trace id and function the manifest's analysis names appears in the
 * decoded records of that scenario and encoding, and nothing else does. */
Test(otlp_captures, trace_ids_and_functions_match_the_analysis)
{
    fx f;
    fx_init(&f, 1024);
    size_t mn;
    char *m = (char *)load("captures/manifest.json", &mn);
    m = realloc(m, mn + 1);
    m[mn] = '\0';
    int scenarios = 0;
    for (char *sc = strstr(m, "\"scenario\": "); sc; scenarios++) {
        char *next = strstr(sc + 1, "\"scenario\": ");
        char *end = next ? next : m + mn;
        char saved = *end;
        *end = '\0';
        /* Decoded ids and functions of all files of this scenario. */
        char ids[64][33], fns[64][64];
        size_t nids = 0, nfns = 0;
        cap_file files[16];
        size_t nf = manifest_files(sc, files, 16);
        cr_assert_gt(nf, 0);
        for (size_t i = 0; i < nf; i++) {
            int how;
            decode_capture(&f, files[i].name, &how);
            for (size_t k = 0; k < f.b.n; k++) {
                char hex[33];
                cw__tid_hex(f.b.spans[k].trace, hex);
                size_t j = 0;
                while (j < nids && strcmp(ids[j], hex))
                    j++;
                if (j == nids)
                    strcpy(ids[nids++], hex);
                const char *fn = cw__intern_str(f.in, f.b.spans[k].function, NULL);
                j = 0;
                while (j < nfns && strcmp(fns[j], fn))
                    j++;
                if (j == nfns)
                    snprintf(fns[nfns++], 64, "%s", fn);
            }
        }
        /* Expected: the analysis' trace lines. */
        size_t want_ids = 0;
        for (char *t = strstr(sc, "\"trace_id\": \""); t; t = strstr(t + 1, "\"trace_id\": \"")) {
            char hex[33];
            memcpy(hex, t + 13, 32);
            hex[32] = '\0';
            size_t j = 0;
            while (j < nids && strcmp(ids[j], hex))
                j++;
            cr_assert_lt(j, nids, "trace %s of the analysis was not decoded", hex);
            want_ids++;
        }
        cr_assert_eq(want_ids, nids, "decoded %zu traces, analysis has %zu", nids, want_ids);
        for (size_t j = 0; j < nfns; j++) {
            char quoted[80];
            snprintf(quoted, sizeof quoted, "\"%s\"", fns[j]);
            cr_assert_not_null(strstr(strstr(sc, "\"analysis\""), quoted),
                               "function %s not in the analysis", fns[j]);
        }
        *end = saved;
        sc = next;
    }
    cr_assert_eq(scenarios, 15);
    free(m);
    fx_free(&f);
}

Test(otlp_captures, fields_of_the_retry_capture)
{
    /* retry-proto-0000.pb: two failed Lambda.Invoke calls to fn-b. */
    fx f;
    fx_init(&f, 1024);
    int how;
    decode_capture(&f, "retry-proto-0000.pb", &how);
    size_t clients = 0, errors = 0;
    for (size_t i = 0; i < f.b.n; i++) {
        const cw__span *s = &f.b.spans[i];
        if (s->kind != CW_KIND_CLIENT)
            continue;
        clients++;
        cr_assert_str_eq(cw__intern_str(f.in, s->name, NULL), "Lambda.Invoke");
        cr_assert_str_eq(cw__intern_str(f.in, s->target, NULL), "fn-b");
        cr_assert_str_eq(cw__intern_str(f.in, s->function, NULL), "fn-a");
        cr_assert_str_eq(cw__intern_str(f.in, s->region, NULL), "eu-west-1");
        cr_assert_neq(s->parent_id, 0);
        cr_assert_gt(s->end_ns, s->start_ns);
        errors += s->status == CW_STATUS_ERROR;
    }
    cr_assert_eq(clients, 3);
    cr_assert_eq(errors, 2);
    fx_free(&f);
}

Test(otlp_captures, async_capture_carries_the_link)
{
    fx f;
    fx_init(&f, 1024);
    int how;
    decode_capture(&f, "async-proto-0000.pb", &how);
    snap producer = take(&f.b);
    decode_capture(&f, "async-proto-0001.pb", &how);
    cr_assert_eq(f.b.n, 1);
    const cw__span *c = &f.b.spans[0];
    cr_assert_eq(c->kind, CW_KIND_CONSUMER);
    cr_assert_eq(c->link_count, 1);
    const cw__link *l = &f.b.links[c->link_first];
    bool found = false;
    for (size_t i = 0; i < producer.n; i++)
        found |= producer.s[i].span_id == l->span_id &&
                 cw__tid_eq(producer.s[i].trace, l->trace) &&
                 producer.s[i].kind == CW_KIND_PRODUCER;
    cr_assert(found, "the consumer's link names the producer span");
    drop(&producer);
    fx_free(&f);
}

/* --------------------------------------------------- differential tests */

static void differential(fx *f, const uint8_t *p, size_t n, const char *what)
{
    int r = decode(f, REF, p, n);
    cr_assert_eq(r, 0, "%s: protobuf-c: %s", what, f->d.reason);
    snap ref = take(&f->b);
    r = decode(f, PB, p, n);
    cr_assert_eq(r, 0, "%s: hot path: %s at %zu", what, f->d.reason, f->d.err_off);
    same_records(&ref, &f->b, what);
    drop(&ref);
}

static void for_each_file(const char *dir, const char *suffix,
                          void (*fn)(fx *, const char *), fx *f)
{
    DIR *d = opendir(path_of(dir));
    cr_assert_not_null(d, "cannot open %s", dir);
    struct dirent *e;
    int count = 0;
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, suffix))
            continue;
        char rel[512];
        snprintf(rel, sizeof rel, "%s/%s", dir, e->d_name);
        fn(f, rel);
        count++;
    }
    closedir(d);
    cr_assert_gt(count, 0, "no %s files in %s", suffix, dir);
}

static void diff_file(fx *f, const char *rel)
{
    size_t n;
    uint8_t *p = ends_with(rel, ".gz") ? load_gunzip(rel, &n, f) : load(rel, &n);
    differential(f, p, n, rel);
    free(p);
}

Test(otlp_differential, hot_path_equals_protobuf_c_on_shared_data)
{
    fx f;
    fx_init(&f, 1024);
    for_each_file("captures", ".pb", diff_file, &f);
    for_each_file("captures", ".pb.gz", diff_file, &f);
    for_each_file("samples/basic/pb", ".pb", diff_file, &f);
    for_each_file("samples/mixed/pb", ".pb", diff_file, &f);
    for_each_file("realdata/otlp-proto", ".pb", diff_file, &f);
    fx_free(&f);
}

Test(otlp_differential, hot_path_equals_protobuf_c_on_random_requests)
{
    fx f;
    fx_init(&f, 64); /* short limit: the cut path is compared too */
    for (uint64_t seed = 1; seed <= 60; seed++) {
        cwg_options o;
        cwg_options_init(&o);
        o.seed = seed;
        o.spans = 50 + seed * 7;
        o.batch_spans = 40;
        o.chaos = (int)(seed % 2);
        o.extra_attrs = (unsigned)(seed % 5);
        o.retry_rate = 0.3;
        o.async_rate = 0.3;
        cwg_workload w;
        cr_assert_eq(cwg_generate(&w, &o), 0);
        for (size_t r = 0; r < w.nreq; r++) {
            cwg_buf b = {0};
            cr_assert_eq(cwg_encode_pb(&w, r, &b), 0);
            char what[64];
            snprintf(what, sizeof what, "seed %llu request %zu", (unsigned long long)seed, r);
            differential(&f, b.p, b.n, what);
            cwg_buf_free(&b);
        }
        cwg_free(&w);
    }
    fx_free(&f);
}

/* JSON and protobuf forms of the same request decode to the same records. */
static void json_vs_pb(fx *f, const uint8_t *js, size_t jn, const uint8_t *pb, size_t pn,
                       const char *what)
{
    int r = decode(f, PB, pb, pn);
    cr_assert_eq(r, 0, "%s (pb): %s", what, f->d.reason);
    snap a = take(&f->b);
    r = decode(f, JSON, js, jn);
    cr_assert_eq(r, 0, "%s (json): %s at byte %zu", what, f->d.reason, f->d.err_off);
    same_records(&a, &f->b, what);
    drop(&a);
}

Test(otlp_json, samples_json_lines_equal_their_protobuf_files)
{
    fx f;
    fx_init(&f, 1024);
    const char *sets[] = {"basic", "mixed"};
    for (int s = 0; s < 2; s++) {
        char rel[128];
        snprintf(rel, sizeof rel, "samples/%s/all.jsonl.gz", sets[s]);
        size_t n;
        uint8_t *all = load_gunzip(rel, &n, &f);
        size_t line = 0;
        for (uint8_t *p = all, *end = all + n; p < end; line++) {
            uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl)
                nl = end;
            char pbrel[128];
            snprintf(pbrel, sizeof pbrel, "samples/%s/pb/%04zu.pb", sets[s], line);
            size_t pn;
            uint8_t *pb = load(pbrel, &pn);
            json_vs_pb(&f, p, (size_t)(nl - p), pb, pn, pbrel);
            free(pb);
            p = nl + 1;
        }
        cr_assert_gt(line, 40);
        free(all);
    }
    fx_free(&f);
}

static void realdata_pair(fx *f, const char *rel)
{
    /* realdata/otlp/X.json <-> realdata/otlp-proto/X.pb */
    const char *base = strrchr(rel, '/') + 1;
    char pbrel[512];
    snprintf(pbrel, sizeof pbrel, "realdata/otlp-proto/%.*s.pb",
             (int)(strlen(base) - 5), base);
    size_t jn, pn;
    uint8_t *js = load(rel, &jn), *pb = load(pbrel, &pn);
    json_vs_pb(f, js, jn, pb, pn, rel);
    free(js);
    free(pb);
}

Test(otlp_json, realdata_json_equals_its_protobuf)
{
    fx f;
    fx_init(&f, 1024);
    for_each_file("realdata/otlp", ".json", realdata_pair, &f);
    fx_free(&f);
}

Test(otlp_json, generated_requests_in_both_encodings_agree)
{
    fx f;
    fx_init(&f, 1024);
    for (uint64_t seed = 1; seed <= 40; seed++) {
        cwg_options o;
        cwg_options_init(&o);
        o.seed = seed;
        o.spans = 300;
        o.batch_spans = 100;
        o.chaos = (int)(seed % 2); /* escapes, enum names, number forms */
        o.retry_rate = 0.3;
        cwg_workload w;
        cr_assert_eq(cwg_generate(&w, &o), 0);
        for (size_t r = 0; r < w.nreq; r++) {
            cwg_buf j = {0}, b = {0};
            cr_assert_eq(cwg_encode_json(&w, r, &j), 0);
            /* The protobuf side without chaos: JSON chaos keeps meaning. */
            w.o.chaos = 0;
            cr_assert_eq(cwg_encode_pb(&w, r, &b), 0);
            w.o.chaos = o.chaos;
            char what[64];
            snprintf(what, sizeof what, "seed %llu request %zu", (unsigned long long)seed, r);
            json_vs_pb(&f, j.p, j.n, b.p, b.n, what);
            cwg_buf_free(&j);
            cwg_buf_free(&b);
        }
        cwg_free(&w);
    }
    fx_free(&f);
}

Test(otlp_json, upper_case_ids_and_missing_parent_of_the_otlp_example)
{
    fx f;
    fx_init(&f, 1024);
    size_t n;
    uint8_t *p = load("realdata/otlp/otel-proto-trace.json", &n);
    cr_assert_eq(decode(&f, JSON, p, n), 0, "%s", f.d.reason);
    cr_assert_eq(f.b.n, 1);
    char hex[33];
    cw__tid_hex(f.b.spans[0].trace, hex);
    cr_assert_str_eq(hex, "5b8efff798038103d269b633813fc60c");
    cr_assert_eq(f.b.spans[0].span_id, 0xeee19b7ec3c1b174ULL);
    cr_assert_eq(f.b.spans[0].parent_id, 0xeee19b7ec3c1b173ULL);
    cr_assert_str_eq(cw__intern_str(f.in, f.b.spans[0].function, NULL), "my.service");
    cr_assert_eq(f.b.spans[0].kind, CW_KIND_SERVER);
    free(p);
    fx_free(&f);
}

static void json_one(fx *f, const char *js)
{
    int r = decode(f, JSON, js, strlen(js));
    cr_assert_eq(r, 0, "%s: %s at %zu", js, f->d.reason, f->d.err_off);
}

#define SPAN_JSON(extra)                                                        \
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\"," \
    "\"value\":{\"stringValue\":\"svc\"}}]},\"scopeSpans\":[{\"spans\":[{"       \
    "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"1112131415161718\"" extra \
    "}]}]}]}"

Test(otlp_json, mapping_details)
{
    fx f;
    fx_init(&f, 1024);
    /* snake_case keys, enum names, numbers as numbers, null, whitespace. */
    json_one(&f, "{ \"resource_spans\" : [ { \"scope_spans\" : [ { \"spans\" : [ {"
                 " \"trace_id\" : \"0102030405060708090A0B0C0D0E0F10\" ,"
                 " \"span_id\" : \"1112131415161718\", \"parent_span_id\": \"\","
                 " \"kind\" : \"SPAN_KIND_CONSUMER\", \"start_time_unix_nano\": 5,"
                 " \"end_time_unix_nano\": \"7\", \"status\": {\"code\": \"STATUS_CODE_ERROR\"},"
                 " \"name\": null, \"links\": null, \"attributes\": null } ] } ],"
                 " \"resource\": null } ] }\n");
    cr_assert_eq(f.b.n, 1);
    cr_assert_eq(f.b.spans[0].kind, CW_KIND_CONSUMER);
    cr_assert_eq(f.b.spans[0].status, CW_STATUS_ERROR);
    cr_assert_eq(f.b.spans[0].start_ns, 5);
    cr_assert_eq(f.b.spans[0].end_ns, 7);
    cr_assert_eq(f.b.spans[0].parent_id, 0);
    cr_assert_eq(f.b.spans[0].function, CW_STR_UNKNOWN_SERVICE);
    /* Escapes are unescaped before interning; value before key works. */
    json_one(&f, SPAN_JSON(",\"name\":\"GET \\/caf\\u00e9\\ud83d\\ude00\",\"attributes\":["
                           "{\"value\":{\"stringValue\":\"fn-x\"},\"key\":\"faas.name\"}]"));
    cr_assert_str_eq(cw__intern_str(f.in, f.b.spans[0].name, NULL),
                     "GET /caf\xc3\xa9\xf0\x9f\x98\x80");
    cr_assert_str_eq(cw__intern_str(f.in, f.b.spans[0].function, NULL), "fn-x");
    /* 64-bit times beyond 2^53 survive both forms exactly. */
    json_one(&f, SPAN_JSON(",\"startTimeUnixNano\":18446744073709551615,"
                           "\"endTimeUnixNano\":\"18446744073709551614\""));
    cr_assert_eq(f.b.spans[0].start_ns, UINT64_MAX);
    cr_assert_eq(f.b.spans[0].end_ns, UINT64_MAX - 1);
    /* Unknown keys of every type are skipped. */
    json_one(&f, SPAN_JSON(",\"x\":[1,2.5e-3,true,false,null,{\"a\":[]}],\"y\":-0"));
    cr_assert_eq(f.b.n, 1);
    fx_free(&f);
}

/* ------------------------------------------------------- model attributes */

static const cw__span *one_span(fx *f, const char *attrs)
{
    char js[4096];
    snprintf(js, sizeof js, SPAN_JSON(",\"kind\":3,\"name\":\"call\",\"attributes\":[%s]"), attrs);
    json_one(f, js);
    cr_assert_eq(f->b.n, 1);
    return &f->b.spans[0];
}

static const char *str(fx *f, uint32_t id)
{
    return cw__intern_str(f->in, id, NULL);
}

#define A(k, t, v) "{\"key\":\"" k "\",\"value\":{\"" t "\":" v "}}"

Test(otlp_model, target_follows_the_spec_precedence)
{
    fx f;
    fx_init(&f, 1024);
    const cw__span *s;
    s = one_span(&f, A("rpc.service", "stringValue", "\"Lambda\"") ","
                     A("faas.invoked_name", "stringValue", "\"fn-b\"") ","
                     A("rpc.method", "stringValue", "\"Invoke\""));
    cr_assert_str_eq(str(&f, s->target), "fn-b");
    s = one_span(&f, A("rpc.service", "stringValue", "\"Billing\"") ","
                     A("rpc.method", "stringValue", "\"Charge\"") ","
                     A("server.address", "stringValue", "\"x\""));
    cr_assert_str_eq(str(&f, s->target), "Billing/Charge");
    s = one_span(&f, A("server.address", "stringValue", "\"api.example.com\"") ","
                     A("url.path", "stringValue", "\"/u/1\"") ","
                     A("http.route", "stringValue", "\"/u/{id}\""));
    cr_assert_str_eq(str(&f, s->target), "api.example.com/u/{id}");
    s = one_span(&f, A("server.address", "stringValue", "\"api\"") ","
                     A("url.path", "stringValue", "\"orders\""));
    cr_assert_str_eq(str(&f, s->target), "api/orders");
    s = one_span(&f, A("messaging.destination.name", "stringValue", "\"jobs\""));
    cr_assert_str_eq(str(&f, s->target), "jobs");
    s = one_span(&f, A("url.path", "stringValue", "\"/only-path\""));
    cr_assert_eq(s->target, CW_STR_NONE, "no server.address: left to the analysis");
    fx_free(&f);
}

Test(otlp_model, function_precedence_span_then_resource)
{
    fx f;
    fx_init(&f, 1024);
    json_one(&f, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
                 "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0000000000000001\"},"
                 "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0000000000000002\","
                 "\"attributes\":[" A("faas.name", "stringValue", "\"span-fn\"") "]}]}],"
                 "\"resource\":{\"attributes\":[" A("service.name", "stringValue", "\"svc\"") ","
                 A("faas.name", "stringValue", "\"res-fn\"") ","
                 A("cloud.region", "stringValue", "\"eu-west-1\"") "]}},"
                 "{\"resource\":{\"attributes\":[" A("service.name", "stringValue", "\"only-svc\"")
                 "]},\"scopeSpans\":[{\"spans\":[{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\","
                 "\"spanId\":\"0000000000000003\"}]}]}]}");
    cr_assert_eq(f.b.n, 3);
    cr_assert_str_eq(str(&f, f.b.spans[0].function), "res-fn");
    cr_assert_str_eq(str(&f, f.b.spans[0].region), "eu-west-1");
    cr_assert_str_eq(str(&f, f.b.spans[1].function), "span-fn");
    cr_assert(f.b.spans[1].flags & CW_SPAN_F_FN_ON_SPAN);
    cr_assert_str_eq(str(&f, f.b.spans[2].function), "only-svc");
    fx_free(&f);
}

Test(otlp_model, retry_attributes_in_any_numeric_form)
{
    fx f;
    fx_init(&f, 1024);
    const cw__span *s;
    s = one_span(&f, A("http.response.status_code", "intValue", "\"503\"") ","
                     A("http.request.resend_count", "intValue", "2"));
    cr_assert_eq(s->http_status, 503);
    cr_assert_eq(s->resend_count, 2);
    cr_assert(s->flags & CW_SPAN_F_HTTP_STATUS);
    s = one_span(&f, A("http.response.status_code", "stringValue", "\"429\""));
    cr_assert_eq(s->http_status, 429);
    s = one_span(&f, A("http.status_code", "doubleValue", "500.0"));
    cr_assert_eq(s->http_status, 500, "legacy key, double value");
    s = one_span(&f, A("http.response.status_code", "stringValue", "\"n/a\""));
    cr_assert_eq(s->http_status, 0);
    cr_assert_not(s->flags & CW_SPAN_F_HTTP_STATUS);
    s = one_span(&f, A("faas.invocation_id", "stringValue", "\"abc\"") ","
                     A("faas.trigger", "stringValue", "\"pubsub\"") ","
                     A("client.address", "stringValue", "\"10.0.0.1\""));
    cr_assert_eq(s->invocation_id, cw__hash_bytes("abc", 3));
    cr_assert_eq(s->trigger, CW_TRIGGER_PUBSUB);
    cr_assert_str_eq(str(&f, s->client), "10.0.0.1");
    fx_free(&f);
}

Test(otlp_model, long_values_are_cut_at_a_utf8_boundary_and_counted)
{
    fx f;
    fx_init(&f, 8);
    const cw__span *s = one_span(&f, A("faas.invoked_name", "stringValue",
                                       "\"abcdefg\\u00e9xyz\""));
    /* "abcdefg" + 2-byte e-acute would make 9 bytes: cut to 7. */
    cr_assert_str_eq(str(&f, s->target), "abcdefg");
    cr_assert_eq(f.b.truncated, 1);
    fx_free(&f);
}

Test(otlp_model, invalid_ids_reject_the_span_not_the_request)
{
    fx f;
    fx_init(&f, 1024);
    json_one(&f, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
                 "{\"traceId\":\"00000000000000000000000000000000\",\"spanId\":\"0000000000000001\"},"
                 "{\"traceId\":\"0102\",\"spanId\":\"0000000000000001\"},"
                 "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0000000000000000\"},"
                 "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0000000000000001\","
                 "\"parentSpanId\":\"0102\"},"
                 "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0000000000000002\","
                 "\"parentSpanId\":\"0000000000000000\",\"links\":[{\"traceId\":\"01\",\"spanId\":\"02\"}]}"
                 "]}]}]}");
    cr_assert_eq(f.b.n, 1);
    cr_assert_eq(f.b.rejected[CW_REJECT_BAD_TRACE_ID], 2);
    cr_assert_eq(f.b.rejected[CW_REJECT_BAD_SPAN_ID], 1);
    cr_assert_eq(f.b.rejected[CW_REJECT_BAD_PARENT_ID], 1);
    cr_assert_eq(f.b.spans[0].parent_id, 0, "an all-zero parent reads as none");
    cr_assert_eq(f.b.links_dropped, 1);
    cr_assert_eq(f.b.spans[0].link_count, 0);
    fx_free(&f);
}

/* ------------------------------------------------------ malformed input */

typedef struct bad {
    const char *bytes;
    size_t n;
    const char *why;
} bad;

#define B(lit, why) {lit, sizeof(lit) - 1, why}

Test(otlp_malformed, protobuf_errors_name_a_reason)
{
    static const bad cases[] = {
        B("\x0a", "tag without its length"),
        B("\x0a\x05\x12\x03", "length past the end"),
        B("\x0a\x80", "truncated length varint"),
        B("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", "varint over 64 bits"),
        B("\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", "varint of 11 bytes"),
        B("\x0b", "start group"),
        B("\x0e", "wire type 6"),
        B("\x00\x00", "field number 0"),
        B("\x08\x01", "resource_spans as a varint"),
        B("\x0a\x04\x12\x02\x10\x01", "scope_spans.spans... wrong type"),
        B("\x0a\x06\x12\x04\x12\x02\x08\x01", "span field 1 as varint"),
        B("\x0a\x05\x12\x03\x12\x01\x39", "span start time truncated"),
        B("\x0a\x24\x12\x22\x12\x20\x0a\x10"
          "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
          "\x12\x08\x02\x02\x02\x02\x02\x02\x02\x02\x2a\x02\xc3\x28",
          "name with bad UTF-8"),
    };
    fx f;
    fx_init(&f, 1024);
    for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
        cwt_guarded g;
        cr_assert_eq(cwt_guard(&g, cases[i].bytes, cases[i].n), 0);
        int r = decode(&f, PB, g.data, cases[i].n);
        cwt_unguard(&g);
        cr_assert_eq(r, CW_EPROTO, "case %zu (%s) gave %d", i, cases[i].why, r);
        cr_assert_not_null(f.d.reason);
        cr_assert_leq(f.d.err_off, cases[i].n);
    }
    fx_free(&f);
}

Test(otlp_malformed, json_errors_name_a_reason)
{
    static const char *const cases[] = {
        "",
        "[]",
        "{",
        "{\"resourceSpans\":",
        "{\"resourceSpans\":[",
        "{\"resourceSpans\":[{]}",
        "{\"resourceSpans\":[],}",
        "{\"resourceSpans\":[] x",
        "{\"a\":\"unterminated}",
        "{\"a\":\"bad \\q escape\"}",
        "{\"a\":\"\\ud800 lone\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"ctl \x01\"}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":-}",
        "{\"a\":tru}",
        "{\"a\" 1}",
        SPAN_JSON(",\"startTimeUnixNano\":1.5"),
        SPAN_JSON(",\"startTimeUnixNano\":-1"),
        SPAN_JSON(",\"startTimeUnixNano\":\"12x\""),
        SPAN_JSON(",\"startTimeUnixNano\":99999999999999999999"),
        SPAN_JSON(",\"parentSpanId\":\"zz00000000000000\""),
        SPAN_JSON(",\"parentSpanId\":\"123\""),
        SPAN_JSON(",\"name\":\"\xc3\x28\""),
        SPAN_JSON(",\"kind\":{}"),
    };
    fx f;
    fx_init(&f, 1024);
    for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
        size_t n = strlen(cases[i]);
        cwt_guarded g;
        cr_assert_eq(cwt_guard(&g, cases[i], n), 0);
        int r = decode(&f, JSON, g.data, n);
        cwt_unguard(&g);
        cr_assert_eq(r, CW_EJSON, "case %zu <%s> gave %d", i, cases[i], r);
        cr_assert_not_null(f.d.reason);
    }
    fx_free(&f);
}

Test(otlp_malformed, json_nesting_is_bounded)
{
    fx f;
    fx_init(&f, 1024);
    size_t depth = 100000;
    char *s = malloc(2 * depth + 16);
    size_t n = 0;
    n += (size_t)sprintf(s, "{\"x\":");
    for (size_t i = 0; i < depth; i++)
        s[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        s[n++] = ']';
    s[n++] = '}';
    int r = decode(&f, JSON, s, n);
    cr_assert_eq(r, CW_EJSON);
    cr_assert_str_eq(f.d.reason, "nesting too deep");
    free(s);
    fx_free(&f);
}

/* Every prefix of a valid request, ending at a guard page: decodes or fails
 * cleanly, never reads past the end (the fault would kill the test). */
static void every_prefix(fx *f, int how, const uint8_t *p, size_t n)
{
    for (size_t k = 0; k <= n; k++) {
        cwt_guarded g;
        cr_assert_eq(cwt_guard(&g, p, k), 0);
        int r = decode(f, how, g.data, k);
        cwt_unguard(&g);
        cr_assert(r == 0 || r == CW_EPROTO || r == CW_EJSON, "prefix %zu gave %d", k, r);
        if (k == n)
            cr_assert_eq(r, 0);
    }
}

Test(otlp_malformed, every_prefix_of_a_capture_at_a_guard_page)
{
    fx f;
    fx_init(&f, 1024);
    size_t n;
    uint8_t *p = load("captures/retry-proto-0000.pb", &n);
    every_prefix(&f, PB, p, n);
    free(p);
    p = load("captures/retry-json-0000.json", &n);
    every_prefix(&f, JSON, p, n);
    free(p);
    fx_free(&f);
}

/* ------------------------------------------------------------------ gzip */

Test(otlp_gzip, inflates_captures_to_what_the_exporter_compressed)
{
    fx f;
    fx_init(&f, 1024);
    size_t n, pn;
    uint8_t *p = load_gunzip("captures/chain-proto-gzip-0000.pb.gz", &n, &f);
    cr_assert_gt(n, 0);
    cr_assert_eq(decode(&f, PB, p, n), 0);
    cr_assert_eq(f.b.n, 2);
    free(p);
    uint8_t *z = load("captures/fanout-proto-gzip-0000.pb.gz", &pn);
    uint8_t *out;
    size_t outn, cap;
    const char *why = NULL;
    cr_assert_eq(cw__gunzip(&f.mem, z, pn, 1 << 20, &out, &outn, &cap, &why), 0);
    cr_assert_eq(decode(&f, PB, out, outn), 0);
    cr_assert_eq(f.b.n, 51);
    cw__free(&f.mem, out, cap);
    free(z);
    fx_free(&f);
}

/* Compresses with libdeflate directly (the tests' own gzip writer). */
#include <libdeflate.h>
static uint8_t *gz(const void *p, size_t n, size_t *zn)
{
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(9);
    size_t cap = libdeflate_gzip_compress_bound(c, n);
    uint8_t *z = malloc(cap);
    *zn = libdeflate_gzip_compress(c, p, n, z, cap);
    libdeflate_free_compressor(c);
    cr_assert_gt(*zn, 0);
    return z;
}

/* n zero bytes, gzipped: a bomb's body. */
static uint8_t *gz_zeros(size_t n, size_t *zn)
{
    uint8_t *zeros = calloc(1, n);
    cr_assert_not_null(zeros);
    uint8_t *z = gz(zeros, n, zn);
    free(zeros);
    return z;
}

Test(otlp_gzip, bomb_stops_at_the_limit_whatever_the_trailer_says)
{
    fx f;
    fx_init(&f, 1024);
    size_t n = 64u << 20, zn;
    uint8_t *z = gz_zeros(n, &zn);
    cr_assert_lt(zn, 100000, "a 64 MiB bomb compresses to %zu bytes", zn);
    uint8_t *out;
    size_t outn, cap;
    const char *why = NULL;
    uint64_t before = atomic_load(&f.mem.in_use);
    /* An honest trailer: over a 1 MiB limit. */
    cr_assert_eq(cw__gunzip(&f.mem, z, zn, 1u << 20, &out, &outn, &cap, &why), CW_ETOOBIG);
    cr_assert_eq(atomic_load(&f.mem.in_use), before, "nothing kept on the error path");
    /* Within a 64 MiB limit it inflates. */
    cr_assert_eq(cw__gunzip(&f.mem, z, zn, 64u << 20, &out, &outn, &cap, &why), 0);
    cr_assert_eq(outn, 64u << 20);
    cw__free(&f.mem, out, cap);
    /* A trailer that lies (claims 100 bytes) changes nothing about the
     * limit, and is caught as corruption when the limit would allow it. */
    z[zn - 4] = 100;
    z[zn - 3] = z[zn - 2] = z[zn - 1] = 0;
    cr_assert_eq(cw__gunzip(&f.mem, z, zn, 1u << 20, &out, &outn, &cap, &why), CW_ETOOBIG);
    cr_assert_eq(cw__gunzip(&f.mem, z, zn, 64u << 20, &out, &outn, &cap, &why), CW_EGZIP);
    cr_assert_eq(atomic_load(&f.mem.in_use), before);
    free(z);
    fx_free(&f);
}

Test(otlp_gzip, a_kept_buffer_is_reused_and_the_limit_still_holds)
{
    fx f;
    fx_init(&f, 1024);
    size_t n = 4u << 20, zn;
    uint8_t *z = gz_zeros(n, &zn);
    uint8_t *buf = NULL;
    size_t cap = 0, outn;
    const char *why = NULL;
    uint64_t before = atomic_load(&f.mem.in_use);
    cr_assert_eq(cw__gunzip_into(&f.mem, z, zn, 8u << 20, &buf, &cap, &outn, &why), 0);
    cr_assert_eq(outn, n);
    cr_assert_geq(cap, n);
    uint8_t *first = buf;
    size_t first_cap = cap;
    /* Large enough already: the same buffer, no allocation. */
    cr_assert_eq(cw__gunzip_into(&f.mem, z, zn, 8u << 20, &buf, &cap, &outn, &why), 0);
    cr_assert_eq(buf, first);
    cr_assert_eq(cap, first_cap);
    cr_assert_eq(outn, n);
    /* A buffer larger than a later, smaller limit: the limit still holds,
     * and the buffer stays the caller's on the error. */
    cr_assert_eq(cw__gunzip_into(&f.mem, z, zn, 1u << 20, &buf, &cap, &outn, &why),
                 CW_ETOOBIG);
    cr_assert_eq(buf, first);
    cr_assert_eq(atomic_load(&f.mem.in_use), before + cap, "only the kept buffer is held");
    /* Corrupt input: same. */
    cr_assert_eq(cw__gunzip_into(&f.mem, (const uint8_t *)"not gzip at all, really", 23,
                                 8u << 20, &buf, &cap, &outn, &why),
                 CW_EGZIP);
    cr_assert_eq(buf, first);
    cw__free(&f.mem, buf, cap);
    cr_assert_eq(atomic_load(&f.mem.in_use), before);
    free(z);
    fx_free(&f);
}

Test(otlp_gzip, multi_member_streams_concatenate)
{
    fx f;
    fx_init(&f, 1024);
    size_t an, bn;
    uint8_t *a = gz("hello ", 6, &an), *b = gz("world", 5, &bn);
    uint8_t *ab = malloc(an + bn);
    memcpy(ab, a, an);
    memcpy(ab + an, b, bn);
    uint8_t *out;
    size_t outn, cap;
    const char *why = NULL;
    cr_assert_eq(cw__gunzip(&f.mem, ab, an + bn, 1 << 20, &out, &outn, &cap, &why), 0);
    cr_assert_eq(outn, 11);
    cr_assert_eq(memcmp(out, "hello world", 11), 0);
    cw__free(&f.mem, out, cap);
    free(a);
    free(b);
    free(ab);
    fx_free(&f);
}

Test(otlp_gzip, corrupt_streams_fail_cleanly)
{
    fx f;
    fx_init(&f, 1024);
    size_t zn;
    const char *text = "some text that is long enough to compress a little bit bit bit";
    uint8_t *z = gz(text, strlen(text), &zn);
    uint8_t *out;
    size_t outn, cap;
    const char *why;
    /* Not gzip at all. */
    cr_assert_eq(cw__gunzip(&f.mem, (const uint8_t *)"{\"a\":1}", 7, 1 << 20, &out, &outn,
                            &cap, &why),
                 CW_EGZIP);
    /* Every truncation. */
    for (size_t k = 0; k < zn; k++) {
        cwt_guarded g;
        cr_assert_eq(cwt_guard(&g, z, k), 0);
        int r = cw__gunzip(&f.mem, g.data, k, 1 << 20, &out, &outn, &cap, &why);
        cwt_unguard(&g);
        cr_assert_eq(r, CW_EGZIP, "truncated at %zu", k);
    }
    /* A flipped CRC byte. */
    z[zn - 6] ^= 0x55;
    cr_assert_eq(cw__gunzip(&f.mem, z, zn, 1 << 20, &out, &outn, &cap, &why), CW_EGZIP);
    z[zn - 6] ^= 0x55;
    /* Trailing garbage. */
    uint8_t *zz = malloc(zn + 3);
    memcpy(zz, z, zn);
    memcpy(zz + zn, "xyz", 3);
    cr_assert_eq(cw__gunzip(&f.mem, zz, zn + 3, 1 << 20, &out, &outn, &cap, &why), CW_EGZIP);
    cr_assert_str_eq(why, "trailing bytes after the gzip stream");
    free(zz);
    free(z);
    fx_free(&f);
}
