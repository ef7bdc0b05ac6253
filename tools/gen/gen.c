/*
 * Workload generator. See gen.h.
 *
 * Shape of a generated trace (serverless): an entry span (SERVER for a sync
 * call or HTTP trigger, CONSUMER for a queue delivery) per invocation, a few
 * INTERNAL work spans, and calls: CLIENT spans (Lambda.Invoke style, with
 * faas.invoked_name and rpc.*) whose callee invocation is parented to them, or
 * PRODUCER spans whose consumer starts a new trace linked back to the
 * producer. Calls fail and are retried at retry_rate, re-invoke the caller at
 * loop_rate, and queue deliveries are redelivered (same faas.invocation_id)
 * at redeliver_rate.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "gen.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- the pool */

typedef struct pool_block {
    struct pool_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} pool_block;

static void *pool_alloc(cwg_workload *w, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    pool_block *b = w->pool;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 1u << 20 ? n : 1u << 20;
        pool_block *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        w->pool = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static char *pool_strdup(cwg_workload *w, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = pool_alloc(w, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* ------------------------------------------------------------------ rng */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next_u64(rng *r)
{
    /* SplitMix64: small, fast, and good enough for workloads. */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned below(rng *r, unsigned n)
{
    return n ? (unsigned)(next_u64(r) % n) : 0;
}

static double unit(rng *r)
{
    return (double)(next_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

static void rand_bytes(rng *r, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i % 8 == 0) {
            uint64_t v = next_u64(r);
            for (size_t j = 0; j < 8 && i + j < n; j++)
                p[i + j] = (uint8_t)(v >> (8 * j));
        }
    }
    /* Never all zero: OTLP forbids it. */
    p[n - 1] |= 1;
}

/* ----------------------------------------------------------- generation */

void cwg_options_init(cwg_options *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 42;
    o->spans = 10000;
    o->functions = 24;
    o->max_depth = 5;
    o->max_fanout = 4;
    o->work_spans = 2;
    o->retry_rate = 0.05;
    o->async_rate = 0.15;
    o->loop_rate = 0.02;
    o->redeliver_rate = 0.05;
    o->extra_attrs = 4;
    o->batch_spans = 512;
    o->shuffle = 0.3;
}

static const char *const fn_words[] = {
    "api",   "orders", "billing", "auth",  "notify", "search", "stock",
    "ship",  "ledger", "fraud",   "mailer", "thumbs", "score",  "geo",
    "cart",  "refund", "quote",   "users", "audit",  "export"};
static const char *const regions[] = {"eu-west-1", "us-east-1", "ap-south-1",
                                      "us-west-2"};

typedef struct genctx {
    cwg_workload *w;
    rng r;
    uint64_t clock;
    char **fn;
    int oom;
} genctx;

static cwg_span *new_span(genctx *g, const uint8_t trace[16], const uint8_t *parent,
                          unsigned fn, int kind, const char *name)
{
    cwg_workload *w = g->w;
    if (w->nspans == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        cwg_span *s = realloc(w->spans, cap * sizeof *s);
        if (!s) {
            g->oom = 1;
            return NULL;
        }
        w->spans = s;
        w->cap = cap;
    }
    cwg_span *s = &w->spans[w->nspans++];
    memset(s, 0, sizeof *s);
    memcpy(s->trace_id, trace, 16);
    rand_bytes(&g->r, s->span_id, 8);
    if (parent)
        memcpy(s->parent_id, parent, 8);
    s->resource = fn;
    s->kind = kind;
    s->name = name;
    s->start_ns = g->clock;
    return s;
}

/* Spans are addressed by index: the array moves as it grows. */
#define SP(i) (&g->w->spans[(i)])

static cwg_attr *add_attrs(genctx *g, size_t si, unsigned n)
{
    cwg_attr *a = pool_alloc(g->w, (SP(si)->nattrs + n) * sizeof *a);
    if (!a) {
        g->oom = 1;
        return NULL;
    }
    if (SP(si)->nattrs)
        memcpy(a, SP(si)->attrs, SP(si)->nattrs * sizeof *a);
    memset(a + SP(si)->nattrs, 0, n * sizeof *a);
    SP(si)->attrs = a;
    a += SP(si)->nattrs;
    SP(si)->nattrs += n;
    return a;
}

static void set_str(cwg_attr *a, const char *k, const char *v)
{
    a->key = k;
    a->type = CWG_STR;
    a->s = v;
}

static void set_int(cwg_attr *a, const char *k, int64_t v)
{
    a->key = k;
    a->type = CWG_INT;
    a->i = v;
}

static const char *hexstr(genctx *g, unsigned nbytes)
{
    static const char dig[] = "0123456789abcdef";
    char *s = pool_alloc(g->w, 2 * nbytes + 1);
    if (!s) {
        g->oom = 1;
        return "";
    }
    for (unsigned i = 0; i < nbytes; i++) {
        unsigned v = below(&g->r, 256);
        s[2 * i] = dig[v >> 4];
        s[2 * i + 1] = dig[v & 15];
    }
    s[2 * nbytes] = '\0';
    return s;
}

static void filler(genctx *g, size_t si)
{
    static const char *const keys[] = {"app.tenant", "app.version", "host.arch",
                                       "code.function", "app.feature", "app.shard"};
    unsigned n = g->w->o.extra_attrs;
    cwg_attr *a = add_attrs(g, si, n);
    if (!a)
        return;
    for (unsigned i = 0; i < n; i++) {
        if (i % 3 == 2)
            set_int(&a[i], keys[i % 6], (int64_t)below(&g->r, 100000));
        else
            set_str(&a[i], keys[i % 6], hexstr(g, 6));
    }
}

static void invoke(genctx *g, unsigned fn, const uint8_t trace[16],
                   const uint8_t *call_site, unsigned depth, bool async,
                   const uint8_t *link_to, const char *inv_id, size_t *out_entry);

static void call(genctx *g, unsigned fn, size_t entry, const uint8_t trace[16],
                 unsigned depth)
{
    const cwg_options *o = &g->w->o;
    unsigned callee;
    if (unit(&g->r) < o->loop_rate)
        callee = fn;
    else
        callee = (fn + 1 + below(&g->r, o->functions - 1)) % o->functions;
    uint8_t entry_id[8];
    memcpy(entry_id, SP(entry)->span_id, 8);

    if (unit(&g->r) < o->async_rate) {
        /* Queue hop: PRODUCER here, CONSUMER in a new trace linked to it. */
        char qname[64];
        snprintf(qname, sizeof qname, "queue-%s", g->fn[callee]);
        const char *q = pool_strdup(g->w, qname);
        char pname[80];
        snprintf(pname, sizeof pname, "publish %s", qname);
        cwg_span *p = new_span(g, trace, entry_id, fn, 4, pool_strdup(g->w, pname));
        if (!p)
            return;
        size_t pi = (size_t)(p - g->w->spans);
        cwg_attr *a = add_attrs(g, pi, 2);
        if (!a)
            return;
        set_str(&a[0], "messaging.destination.name", q);
        set_str(&a[1], "messaging.system", "aws_sqs");
        filler(g, pi);
        g->clock += 20000 + below(&g->r, 80000);
        SP(pi)->end_ns = g->clock;
        uint8_t link[24];
        memcpy(link, trace, 16);
        memcpy(link + 16, SP(pi)->span_id, 8);
        uint8_t ntrace[16];
        rand_bytes(&g->r, ntrace, 16);
        g->w->traces++;
        const char *inv = hexstr(g, 16);
        uint64_t save = g->clock;
        invoke(g, callee, ntrace, NULL, depth + 1, true, link, inv, NULL);
        if (unit(&g->r) < o->redeliver_rate)
            invoke(g, callee, ntrace, NULL, depth + 1, true, link, inv, NULL);
        g->clock = save;
        return;
    }

    /* Sync call, retried while it fails. */
    unsigned attempts = 1;
    while (attempts < 3 && unit(&g->r) < o->retry_rate)
        attempts++;
    for (unsigned k = 0; k < attempts; k++) {
        bool failed = k + 1 < attempts;
        cwg_span *c = new_span(g, trace, entry_id, fn, 3, "Lambda.Invoke");
        if (!c)
            return;
        size_t ci = (size_t)(c - g->w->spans);
        cwg_attr *a = add_attrs(g, ci, 3);
        if (!a)
            return;
        set_str(&a[0], "faas.invoked_name", g->fn[callee]);
        set_str(&a[1], "rpc.service", "Lambda");
        set_str(&a[2], "rpc.method", "Invoke");
        if (failed) {
            switch (below(&g->r, 3)) {
            case 0:
                SP(ci)->status = 2;
                break;
            case 1:
                set_int(add_attrs(g, ci, 1), "http.response.status_code", 503);
                break;
            default:
                set_int(add_attrs(g, ci, 1), "http.response.status_code", 429);
                break;
            }
        } else if (k > 0 && below(&g->r, 2)) {
            set_int(add_attrs(g, ci, 1), "http.request.resend_count", k);
        }
        if (g->oom)
            return;
        filler(g, ci);
        g->clock += 3000;
        uint8_t cid[8];
        memcpy(cid, SP(ci)->span_id, 8);
        if (!failed || below(&g->r, 2))
            invoke(g, callee, trace, cid, depth + 1, false, NULL, hexstr(g, 16), NULL);
        g->clock += 2000;
        SP(ci)->end_ns = g->clock;
    }
}

static void invoke(genctx *g, unsigned fn, const uint8_t trace[16],
                   const uint8_t *call_site, unsigned depth, bool async,
                   const uint8_t *link_to, const char *inv_id, size_t *out_entry)
{
    const cwg_options *o = &g->w->o;
    char name[80];
    snprintf(name, sizeof name, async ? "%s process" : "invoke %s", g->fn[fn]);
    cwg_span *e = new_span(g, trace, call_site, fn, async ? 5 : 2,
                           pool_strdup(g->w, name));
    if (!e)
        return;
    size_t ei = (size_t)(e - g->w->spans);
    if (out_entry)
        *out_entry = ei;
    cwg_attr *a = add_attrs(g, ei, 2);
    if (!a)
        return;
    set_str(&a[0], "faas.trigger", async ? "pubsub" : "http");
    set_str(&a[1], "faas.invocation_id", inv_id);
    if (link_to) {
        SP(ei)->links = pool_alloc(g->w, 24);
        if (!SP(ei)->links) {
            g->oom = 1;
            return;
        }
        memcpy(SP(ei)->links[0], link_to, 24);
        SP(ei)->nlinks = 1;
    }
    filler(g, ei);
    g->clock += 1000;

    uint8_t eid[8];
    memcpy(eid, SP(ei)->span_id, 8);
    unsigned nwork = below(&g->r, o->work_spans + 1);
    for (unsigned i = 0; i < nwork && !g->oom; i++) {
        static const char *const wn[] = {"work-0", "work-1", "work-2", "work-3"};
        cwg_span *wsp = new_span(g, trace, eid, fn, 1, wn[i % 4]);
        if (!wsp)
            return;
        size_t wi = (size_t)(wsp - g->w->spans);
        filler(g, wi);
        g->clock += 5000 + below(&g->r, 20000);
        SP(wi)->end_ns = g->clock;
    }
    if (depth < o->max_depth) {
        unsigned fan = o->max_fanout >> (depth - 1);
        unsigned ncalls = below(&g->r, fan + 1);
        if (depth == 1 && ncalls == 0 && o->max_fanout)
            ncalls = 1;
        for (unsigned i = 0; i < ncalls && !g->oom; i++)
            call(g, fn, ei, trace, depth);
    }
    g->clock += 1000;
    SP(ei)->end_ns = g->clock;
}

static int build_requests(genctx *g)
{
    cwg_workload *w = g->w;
    size_t n = w->nspans;
    w->order = malloc((n ? n : 1) * sizeof *w->order);
    if (!w->order)
        return -1;
    for (size_t i = 0; i < n; i++)
        w->order[i] = i;
    /* Exporters send spans as they end, children before parents; then some
     * spans arrive in other requests (other exporters, retries). */
    for (size_t i = 0; i + 1 < n; i++) {
        if (unit(&g->r) < w->o.shuffle) {
            size_t j = i + 1 + (size_t)(next_u64(&g->r) % (n - i - 1));
            size_t t = w->order[i];
            w->order[i] = w->order[j];
            w->order[j] = t;
        }
    }
    size_t b = w->o.batch_spans ? w->o.batch_spans : n ? n : 1;
    w->nreq = n ? (n + b - 1) / b : 0;
    w->req_first = malloc((w->nreq + 1) * sizeof *w->req_first);
    if (!w->req_first)
        return -1;
    for (size_t r = 0; r <= w->nreq; r++)
        w->req_first[r] = r * b < n ? r * b : n;
    return 0;
}

int cwg_generate(cwg_workload *w, const cwg_options *o)
{
    memset(w, 0, sizeof *w);
    w->o = *o;
    if (w->o.functions < 2)
        w->o.functions = 2;
    if (w->o.max_depth < 1)
        w->o.max_depth = 1;
    genctx g = {.w = w, .r = {o->seed * 0x2545f4914f6cdd1dULL + 1},
                .clock = 1763000000000000000ULL + (o->seed % 1000) * 1000000000ULL};
    g.fn = pool_alloc(w, w->o.functions * sizeof *g.fn);
    w->res = pool_alloc(w, w->o.functions * sizeof *w->res);
    w->nres = w->o.functions;
    if (!g.fn || !w->res)
        goto oom;
    for (unsigned i = 0; i < w->o.functions; i++) {
        char name[64];
        snprintf(name, sizeof name, "fn-%s-%u",
                 fn_words[i % (sizeof fn_words / sizeof fn_words[0])], i);
        g.fn[i] = pool_strdup(w, name);
        if (!g.fn[i])
            goto oom;
        w->res[i].service_name = g.fn[i];
        w->res[i].faas_name = g.fn[i];
        w->res[i].region = regions[i % 4];
    }
    while (w->nspans < o->spans && !g.oom) {
        uint8_t trace[16];
        rand_bytes(&g.r, trace, 16);
        w->traces++;
        invoke(&g, below(&g.r, w->o.functions), trace, NULL, 1, false, NULL,
               hexstr(&g, 16), NULL);
        g.clock += 1000000;
    }
    if (g.oom || build_requests(&g))
        goto oom;
    return 0;
oom:
    cwg_free(w);
    return -1;
}

void cwg_free(cwg_workload *w)
{
    pool_block *b = w->pool;
    while (b) {
        pool_block *n = b->next;
        free(b);
        b = n;
    }
    free(w->spans);
    free(w->order);
    free(w->req_first);
    memset(w, 0, sizeof *w);
}

/* ------------------------------------------------------------- buffers */

void cwg_buf_free(cwg_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static int put(cwg_buf *b, const void *p, size_t n)
{
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n)
            cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q)
            return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

static int puts_(cwg_buf *b, const char *s)
{
    return put(b, s, strlen(s));
}

/* ------------------------------------------------------------ protobuf */

typedef struct pbw {
    cwg_buf *out;
    rng r;
    int chaos;
    int err;
} pbw;

static void pb_varint(pbw *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    w->err |= put(w->out, b, n);
}

static void pb_tag(pbw *w, unsigned field, unsigned wt)
{
    pb_varint(w, (uint64_t)field << 3 | wt);
}

static void pb_bytes(pbw *w, unsigned field, const void *p, size_t n)
{
    pb_tag(w, field, 2);
    pb_varint(w, n);
    w->err |= put(w->out, p, n);
}

static void pb_str(pbw *w, unsigned field, const char *s)
{
    pb_bytes(w, field, s, strlen(s));
}

static void pb_fixed64(pbw *w, unsigned field, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    pb_tag(w, field, 1);
    w->err |= put(w->out, b, 8);
}

static void pb_fixed32(pbw *w, unsigned field, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    pb_tag(w, field, 5);
    w->err |= put(w->out, b, 4);
}

/* Nested messages: encode into a fresh buffer, then append as a LEN field. */
typedef struct pb_sub {
    cwg_buf *saved;
    cwg_buf buf;
} pb_sub;

static void sub_begin(pbw *w, pb_sub *s)
{
    s->saved = w->out;
    memset(&s->buf, 0, sizeof s->buf);
    w->out = &s->buf;
}

static void sub_end(pbw *w, pb_sub *s, unsigned field)
{
    w->out = s->saved;
    pb_bytes(w, field, s->buf.p ? (const void *)s->buf.p : "", s->buf.n);
    cwg_buf_free(&s->buf);
}

static void pb_unknown(pbw *w)
{
    /* Fields no OTLP message defines: a decoder must skip them. */
    switch (below(&w->r, 4)) {
    case 0:
        pb_tag(w, 1000 + below(&w->r, 50), 0);
        pb_varint(w, next_u64(&w->r));
        break;
    case 1:
        pb_str(w, 2000 + below(&w->r, 50), "unknown payload");
        break;
    case 2:
        pb_fixed64(w, 3000, next_u64(&w->r));
        break;
    default:
        pb_fixed32(w, 3001, (uint32_t)next_u64(&w->r));
        break;
    }
}

static void pb_any(pbw *w, const cwg_attr *a)
{
    pb_sub s;
    sub_begin(w, &s);
    switch (a->type) {
    case CWG_STR:
        pb_str(w, 1, a->s);
        break;
    case CWG_INT:
        pb_tag(w, 3, 0);
        pb_varint(w, (uint64_t)a->i);
        break;
    case CWG_DOUBLE: {
        uint64_t v;
        memcpy(&v, &a->d, 8);
        pb_fixed64(w, 4, v);
        break;
    }
    case CWG_BOOL:
        pb_tag(w, 2, 0);
        pb_varint(w, a->i != 0);
        break;
    }
    sub_end(w, &s, 2);
}

static void pb_kv(pbw *w, unsigned field, const cwg_attr *a)
{
    pb_sub s;
    sub_begin(w, &s);
    if (w->chaos && below(&w->r, 2)) {
        pb_any(w, a); /* value before key */
        pb_str(w, 1, a->key);
    } else {
        pb_str(w, 1, a->key);
        pb_any(w, a);
    }
    sub_end(w, &s, field);
}

static void pb_span_field(pbw *w, const cwg_span *sp, unsigned which)
{
    switch (which) {
    case 0:
        pb_bytes(w, 1, sp->trace_id, 16);
        break;
    case 1:
        pb_bytes(w, 2, sp->span_id, 8);
        break;
    case 2: {
        static const uint8_t zero[8];
        if (memcmp(sp->parent_id, zero, 8) != 0)
            pb_bytes(w, 4, sp->parent_id, 8);
        break;
    }
    case 3:
        pb_str(w, 5, sp->name);
        break;
    case 4:
        if (sp->kind) {
            pb_tag(w, 6, 0);
            pb_varint(w, (uint64_t)sp->kind);
        }
        break;
    case 5:
        pb_fixed64(w, 7, sp->start_ns);
        break;
    case 6:
        pb_fixed64(w, 8, sp->end_ns);
        break;
    case 7:
        for (unsigned i = 0; i < sp->nattrs; i++)
            pb_kv(w, 9, &sp->attrs[i]);
        break;
    case 8:
        for (unsigned i = 0; i < sp->nlinks; i++) {
            pb_sub s;
            sub_begin(w, &s);
            pb_bytes(w, 1, sp->links[i], 16);
            pb_bytes(w, 2, sp->links[i] + 16, 8);
            if (w->chaos) {
                pb_str(w, 3, "vendor=1");
                pb_fixed32(w, 6, 0x301);
            }
            sub_end(w, &s, 13);
        }
        break;
    case 9:
        if (sp->status) {
            pb_sub s;
            sub_begin(w, &s);
            if (sp->status == 2)
                pb_str(w, 2, "call failed");
            pb_tag(w, 3, 0);
            pb_varint(w, (uint64_t)sp->status);
            sub_end(w, &s, 15);
        }
        break;
    case 10:
        pb_fixed32(w, 16, 0x101);
        break;
    case 11:
        if (w->chaos) {
            /* Things the decoder must skip: events, trace_state, counts. */
            pb_sub s;
            sub_begin(w, &s);
            pb_fixed64(w, 1, sp->start_ns + 10);
            pb_str(w, 2, "exception");
            cwg_attr ea = {.key = "exception.message", .type = CWG_STR, .s = "boom"};
            pb_kv(w, 3, &ea);
            sub_end(w, &s, 11);
            pb_str(w, 3, "rojo=00f067aa0ba902b7");
            pb_tag(w, 10, 0);
            pb_varint(w, 3);
            pb_tag(w, 12, 0);
            pb_varint(w, 1);
            pb_unknown(w);
        }
        break;
    }
}

#define SPAN_FIELDS 12

static void pb_span(pbw *w, const cwg_span *sp)
{
    pb_sub s;
    sub_begin(w, &s);
    unsigned order[SPAN_FIELDS];
    for (unsigned i = 0; i < SPAN_FIELDS; i++)
        order[i] = i;
    if (w->chaos) {
        for (unsigned i = SPAN_FIELDS - 1; i > 0; i--) {
            unsigned j = below(&w->r, i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
    for (unsigned i = 0; i < SPAN_FIELDS; i++)
        pb_span_field(w, sp, order[i]);
    sub_end(w, &s, 2);
}

static void pb_resource(pbw *w, const cwg_resource *r)
{
    pb_sub s;
    sub_begin(w, &s);
    cwg_attr a[4];
    unsigned n = 0;
    a[n++] = (cwg_attr){.key = "service.name", .type = CWG_STR, .s = r->service_name};
    if (r->faas_name)
        a[n++] = (cwg_attr){.key = "faas.name", .type = CWG_STR, .s = r->faas_name};
    a[n++] = (cwg_attr){.key = "cloud.provider", .type = CWG_STR, .s = "aws"};
    a[n++] = (cwg_attr){.key = "cloud.region", .type = CWG_STR, .s = r->region};
    for (unsigned i = 0; i < n; i++)
        pb_kv(w, 1, &a[i]);
    if (w->chaos)
        pb_unknown(w);
    sub_end(w, &s, 1);
}

/* Spans of a request grouped by resource, in first-appearance order. */
static int pb_group(pbw *w, const cwg_workload *wl, const size_t *idx, size_t n)
{
    unsigned char *done = calloc(n ? n : 1, 1);
    if (!done)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        unsigned res = wl->spans[idx[i]].resource;
        pb_sub rs;
        sub_begin(w, &rs);
        bool res_first = !w->chaos || below(&w->r, 2);
        if (res_first)
            pb_resource(w, &wl->res[res]);
        pb_sub ss;
        sub_begin(w, &ss);
        {
            pb_sub sc;
            sub_begin(w, &sc);
            pb_str(w, 1, "causeway-gen");
            pb_str(w, 2, "1.0.0");
            sub_end(w, &sc, 1);
        }
        for (size_t j = i; j < n; j++) {
            if (!done[j] && wl->spans[idx[j]].resource == res) {
                pb_span(w, &wl->spans[idx[j]]);
                done[j] = 1;
            }
        }
        sub_end(w, &ss, 2);
        if (!res_first)
            pb_resource(w, &wl->res[res]);
        if (w->chaos)
            pb_str(w, 3, "https://opentelemetry.io/schemas/1.26.0");
        sub_end(w, &rs, 1);
    }
    free(done);
    return w->err ? -1 : 0;
}

int cwg_encode_pb(const cwg_workload *wl, size_t r, cwg_buf *out)
{
    pbw w = {.out = out, .r = {wl->o.seed ^ (r * 0x9e37ULL) ^ 0x5bd1e995ULL},
             .chaos = wl->o.chaos};
    size_t a = wl->req_first[r], b = wl->req_first[r + 1];
    return pb_group(&w, wl, wl->order + a, b - a);
}

int cwg_encode_all_pb(const cwg_workload *wl, cwg_buf *out)
{
    pbw w = {.out = out, .r = {wl->o.seed ^ 0x5bd1e995ULL}, .chaos = wl->o.chaos};
    return pb_group(&w, wl, wl->order, wl->nspans);
}

/* ---------------------------------------------------------------- JSON */

typedef struct jw {
    cwg_buf *out;
    rng r;
    int chaos;
    int err;
} jw;

static void j(jw *w, const char *s)
{
    w->err |= puts_(w->out, s);
}

static void jfmt(jw *w, const char *fmt, unsigned long long v)
{
    char b[96];
    snprintf(b, sizeof b, fmt, v);
    j(w, b);
}

static void jstr(jw *w, const char *s)
{
    j(w, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char e[3] = {'\\', (char)ch, 0};
            j(w, e);
        } else if (ch < 0x20 || (w->chaos && ch == 'a' && below(&w->r, 4) == 0)) {
            /* Chaos: some plain letters as \u escapes, which a decoder must
             * unescape to the same string. */
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", ch);
            j(w, e);
        } else {
            w->err |= put(w->out, s, 1);
        }
    }
    j(w, "\"");
}

static void jhex(jw *w, const uint8_t *p, size_t n)
{
    static const char lo[] = "0123456789abcdef", up[] = "0123456789ABCDEF";
    const char *dig = w->chaos && below(&w->r, 3) == 0 ? up : lo;
    char b[40];
    for (size_t i = 0; i < n; i++) {
        b[2 * i] = dig[p[i] >> 4];
        b[2 * i + 1] = dig[p[i] & 15];
    }
    b[2 * n] = 0;
    j(w, "\"");
    j(w, b);
    j(w, "\"");
}

static void jsep(jw *w)
{
    j(w, w->chaos && below(&w->r, 3) == 0 ? " ,\n  " : ",");
}

static void jkv(jw *w, const cwg_attr *a)
{
    j(w, "{\"key\":");
    jstr(w, a->key);
    j(w, ",\"value\":{");
    switch (a->type) {
    case CWG_STR:
        j(w, "\"stringValue\":");
        jstr(w, a->s);
        break;
    case CWG_INT:
    {
        char b[48];
        snprintf(b, sizeof b,
                 w->chaos && below(&w->r, 2) ? "\"intValue\":%lld"
                                             : "\"intValue\":\"%lld\"",
                 (long long)a->i);
        j(w, b);
        break;
    }
    case CWG_DOUBLE: {
        char b[64];
        snprintf(b, sizeof b, "\"doubleValue\":%.17g", a->d);
        j(w, b);
        break;
    }
    case CWG_BOOL:
        j(w, a->i ? "\"boolValue\":true" : "\"boolValue\":false");
        break;
    }
    j(w, "}}");
}

static void jspan(jw *w, const cwg_span *sp)
{
    static const uint8_t zero[8];
    j(w, "{\"traceId\":");
    jhex(w, sp->trace_id, 16);
    jsep(w);
    j(w, "\"spanId\":");
    jhex(w, sp->span_id, 8);
    if (memcmp(sp->parent_id, zero, 8) != 0) {
        jsep(w);
        j(w, "\"parentSpanId\":");
        jhex(w, sp->parent_id, 8);
    } else if (w->chaos) {
        j(w, ",\"parentSpanId\":\"\"");
    }
    j(w, ",\"name\":");
    jstr(w, sp->name);
    if (w->chaos && below(&w->r, 2)) {
        static const char *const kn[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                         "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT",
                                         "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
        j(w, ",\"kind\":\"");
        j(w, kn[sp->kind]);
        j(w, "\"");
    } else {
        jfmt(w, ",\"kind\":%llu", (unsigned long long)sp->kind);
    }
    if (w->chaos && below(&w->r, 2))
        jfmt(w, ",\"startTimeUnixNano\":%llu", (unsigned long long)sp->start_ns);
    else
        jfmt(w, ",\"startTimeUnixNano\":\"%llu\"", (unsigned long long)sp->start_ns);
    jfmt(w, ",\"endTimeUnixNano\":\"%llu\"", (unsigned long long)sp->end_ns);
    j(w, ",\"attributes\":[");
    for (unsigned i = 0; i < sp->nattrs; i++) {
        if (i)
            jsep(w);
        jkv(w, &sp->attrs[i]);
    }
    j(w, "]");
    if (sp->nlinks) {
        j(w, ",\"links\":[");
        for (unsigned i = 0; i < sp->nlinks; i++) {
            if (i)
                j(w, ",");
            j(w, "{\"traceId\":");
            jhex(w, sp->links[i], 16);
            j(w, ",\"spanId\":");
            jhex(w, sp->links[i] + 16, 8);
            j(w, ",\"attributes\":[]}");
        }
        j(w, "]");
    }
    if (sp->status)
        jfmt(w, ",\"status\":{\"code\":%llu}", (unsigned long long)sp->status);
    if (w->chaos)
        j(w, ",\"events\":[{\"name\":\"e\",\"attributes\":[{\"key\":\"k\",\"value\":"
             "{\"arrayValue\":{\"values\":[{\"intValue\":1},{\"kvlistValue\":"
             "{\"values\":[]}}]}}}]}],\"droppedEventsCount\":0,\"unknownKey\":null");
    j(w, ",\"flags\":257}");
}

static int j_group(jw *w, const cwg_workload *wl, const size_t *idx, size_t n)
{
    unsigned char *done = calloc(n ? n : 1, 1);
    if (!done)
        return -1;
    j(w, "{\"resourceSpans\":[");
    bool first_rs = true;
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        unsigned res = wl->spans[idx[i]].resource;
        const cwg_resource *r = &wl->res[res];
        if (!first_rs)
            j(w, ",");
        first_rs = false;
        j(w, "{\"resource\":{\"attributes\":[");
        cwg_attr a = {.key = "service.name", .type = CWG_STR, .s = r->service_name};
        jkv(w, &a);
        if (r->faas_name) {
            a = (cwg_attr){.key = "faas.name", .type = CWG_STR, .s = r->faas_name};
            j(w, ",");
            jkv(w, &a);
        }
        a = (cwg_attr){.key = "cloud.provider", .type = CWG_STR, .s = "aws"};
        j(w, ",");
        jkv(w, &a);
        a = (cwg_attr){.key = "cloud.region", .type = CWG_STR, .s = r->region};
        j(w, ",");
        jkv(w, &a);
        j(w, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"causeway-gen\",\"version\":"
             "\"1.0.0\"},\"spans\":[");
        bool first = true;
        for (size_t k = i; k < n; k++) {
            if (!done[k] && wl->spans[idx[k]].resource == res) {
                if (!first)
                    jsep(w);
                first = false;
                jspan(w, &wl->spans[idx[k]]);
                done[k] = 1;
            }
        }
        j(w, "]}]}");
    }
    j(w, "]}");
    free(done);
    return w->err ? -1 : 0;
}

int cwg_encode_json(const cwg_workload *wl, size_t r, cwg_buf *out)
{
    jw w = {.out = out, .r = {wl->o.seed ^ (r * 0x7f4aULL) ^ 0x1b873593ULL},
            .chaos = wl->o.chaos};
    size_t a = wl->req_first[r], b = wl->req_first[r + 1];
    return j_group(&w, wl, wl->order + a, b - a);
}

int cwg_encode_all_json(const cwg_workload *wl, cwg_buf *out)
{
    jw w = {.out = out, .r = {wl->o.seed ^ 0x1b873593ULL}, .chaos = wl->o.chaos};
    return j_group(&w, wl, wl->order, wl->nspans);
}
