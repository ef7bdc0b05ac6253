/*
 * Graph test helpers shared by the criterion suite (test_graph.c) and the
 * standalone concurrency program (stress.c): a canonical text form of a
 * trace, a graph fixture with a completion recorder, span builders, and
 * generated workloads decoded into batches.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>

#include "gen.h"
#include "graphutil.h"

void sl_add(strlist *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = s;
}

void sl_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A canonical text form of one trace object: a sorted line per node with its
 * parent, children, links out and links in, all by span id. Two graphs hold
 * the same structure exactly when their forms are equal. */
char *canon(cw__graph *g, uint32_t t)
{
    strlist lines = {0};
    const cw__trace *tr = cw__graph_trace(g, t);
    for (uint32_t n = atomic_load(&((cw__trace *)tr)->nodes); n != CW_NIL;
         n = cw__graph_node(g, n)->next_in_trace) {
        char buf[4096];
        size_t k = 0;
        cw__payload p;
        bool real = cw__graph_node_read(g, n, &p);
        uint64_t sid = cw__node_span_id(cw__graph_node(g, n));
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%016llx %s", (unsigned long long)sid,
                              real ? "real" : "placeholder");
        if (real)
            k += (size_t)snprintf(buf + k, sizeof buf - k, " parent=%016llx name=%u end=%llu",
                                  p.parent == CW_NIL ? 0ULL
                                                     : (unsigned long long)cw__node_span_id(
                                                           cw__graph_node(g, p.parent)),
                                  p.name, (unsigned long long)p.end_ns);
        uint64_t ids[512];
        size_t ni = 0;
        cw__child_iter it;
        cw__children_begin(g, n, &it);
        for (uint32_t c; (c = cw__children_next(g, &it)) != CW_NIL && ni < 512;)
            ids[ni++] = cw__node_span_id(cw__graph_node(g, c));
        qsort(ids, ni, sizeof ids[0], cmp_u64);
        k += (size_t)snprintf(buf + k, sizeof buf - k, " children=");
        for (size_t i = 0; i < ni && k < sizeof buf - 40; i++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%llx,", (unsigned long long)ids[i]);
        ni = 0;
        for (uint32_t l = cw__links_out(g, n); l != CW_NIL && ni < 512;
             l = cw__graph_link(g, l)->next_out)
            ids[ni++] = cw__link_dst_span(cw__graph_link(g, l)) ^
                        cw__link_dst_trace(cw__graph_link(g, l)).lo;
        qsort(ids, ni, sizeof ids[0], cmp_u64);
        k += (size_t)snprintf(buf + k, sizeof buf - k, " out=");
        for (size_t i = 0; i < ni && k < sizeof buf - 40; i++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%llx,", (unsigned long long)ids[i]);
        ni = 0;
        for (uint32_t l = cw__links_in(g, n); l != CW_NIL && ni < 512;
             l = atomic_load(&((cw__link_node *)cw__graph_link(g, l))->next_in))
            ids[ni++] = cw__node_span_id(cw__graph_node(g, cw__graph_link(g, l)->src));
        qsort(ids, ni, sizeof ids[0], cmp_u64);
        k += (size_t)snprintf(buf + k, sizeof buf - k, " in=");
        for (size_t i = 0; i < ni && k < sizeof buf - 40; i++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%llx,", (unsigned long long)ids[i]);
        sl_add(&lines, strdup(buf));
    }
    if (lines.n) /* a trace whose spans were all refused has none */
        qsort(lines.v, lines.n, sizeof *lines.v, cmp_str);
    size_t total = 1;
    for (size_t i = 0; i < lines.n; i++)
        total += strlen(lines.v[i]) + 1;
    char *out = malloc(total), *o = out;
    for (size_t i = 0; i < lines.n; i++)
        o += sprintf(o, "%s\n", lines.v[i]);
    *o = '\0';
    sl_free(&lines);
    return out;
}

void gfx_on_complete(void *ctx, cw__graph *g, const cw__completion *cp)
{
    gfx *f = ctx;
    for (size_t i = 0; i < cp->n; i++) {
        uint32_t t = cp->traces[i];
        /* The gathered node list is the trace's list, in its order. */
        size_t k = cp->nodes ? cp->first[i] : 0;
        for (uint32_t x = atomic_load(&((cw__trace *)cw__graph_trace(g, t))->nodes);
             cp->nodes && x != CW_NIL; x = cw__graph_node(g, x)->next_in_trace)
            CWT_CHECK(k < cp->first[i + 1] && cp->nodes[k++] == x, "gathered node list");
        CWT_CHECK(!cp->nodes || k == cp->first[i + 1], "gathered node count");
        char *c = canon(g, t);
        char *line = malloc(strlen(c) + 40);
        sprintf(line, "%016llx\n%s", (unsigned long long)cw__trace_id(cw__graph_trace(g, t)).lo,
                c);
        free(c);
        sl_add(&f->completed, line);
        f->completed_spans += atomic_load(&((cw__trace *)cw__graph_trace(g, t))->nspans);
    }
}

void gfx_init(gfx *f, uint64_t budget)
{
    gfx_init_indexed(f, budget, 0);
}

void gfx_init_indexed(gfx *f, uint64_t budget, uint64_t index_spans)
{
    memset(f, 0, sizeof *f);
    cw__mem_init(&f->mem, NULL);
    cw__graph_limits lim = {.budget = budget, .idle_ns = 10000, .max_age_ns = 1000000,
                            .index_spans = index_spans};
    CWT_CHECK((cw__graph_new(&f->g, &f->mem, &lim, gfx_on_complete, f)) == (0), "cw__graph_new(&f->g, &f->mem, &lim, gfx_on_complete, f) == 0");
}

void gfx_free(gfx *f)
{
    cw__graph_free(f->g);
    sl_free(&f->completed);
    CWT_CHECK(atomic_load(&f->mem.in_use) == 0, "leaked %llu bytes",
              (unsigned long long)atomic_load(&f->mem.in_use));
}

cw__span mk(uint64_t trace, uint64_t sid, uint64_t parent, uint32_t name)
{
    cw__span s;
    memset(&s, 0, sizeof s);
    s.trace.hi = 0xabc;
    s.trace.lo = trace;
    s.span_id = sid;
    s.parent_id = parent;
    s.name = name;
    s.start_ns = 1000 + sid;
    s.end_ns = 2000 + sid;
    s.kind = CW_KIND_INTERNAL;
    s.function = CW_STR_UNKNOWN_SERVICE;
    return s;
}

/* Inserts spans one batch each, links given as (span index -> target). */

int insert_spans(gfx *f, const cw__span *sp, size_t n, const lk *links, size_t nl,
                        uint64_t now)
{
    cw__batch b;
    cw__batch_init(&b, &f->mem);
    for (size_t i = 0; i < n; i++) {
        cw__span s = sp[i];
        s.link_first = (uint32_t)b.nlinks;
        for (size_t k = 0; k < nl; k++) {
            if (links[k].from == (int)i) {
                cw__link l = {{0xabc, links[k].trace}, links[k].span};
                CWT_CHECK((cw__batch_push_link(&b, &l)) == (0), "cw__batch_push_link(&b, &l) == 0");
            }
        }
        s.link_count = (uint32_t)(b.nlinks - s.link_first);
        CWT_CHECK((cw__batch_push_span(&b, &s)) == (0), "cw__batch_push_span(&b, &s) == 0");
    }
    cw__insert_result res;
    int r = cw__graph_insert(f->g, &b, now, &res);
    cw__batch_free(&b);
    return r;
}

char *canon_of(gfx *f, uint64_t trace)
{
    cw__rs rs = cw__graph_read_lock(f->g);
    uint32_t t = cw__graph_find_trace(f->g, (cw__tid){0xabc, trace});
    char *c = t == CW_NIL ? strdup("<none>") : canon(f->g, t);
    cw__graph_read_unlock(f->g, rs);
    return c;
}

void wl_make(wl *w, uint64_t seed, uint64_t spans, unsigned batch)
{
    memset(w, 0, sizeof *w);
    cw__mem_init(&w->mem, NULL);
    CWT_CHECK((cw__intern_new(&w->in, &w->mem, 1 << 16)) == (0), "cw__intern_new(&w->in, &w->mem, 1 << 16) == 0");
    cwg_options o;
    cwg_options_init(&o);
    o.seed = seed;
    o.spans = spans;
    o.batch_spans = batch;
    o.shuffle = 0.5;
    cwg_workload g;
    CWT_CHECK((cwg_generate(&g, &o)) == (0), "cwg_generate(&g, &o) == 0");
    w->batches = calloc(g.nreq, sizeof *w->batches);
    w->n = g.nreq;
    for (size_t r = 0; r < g.nreq; r++) {
        cwg_buf buf = {0};
        CWT_CHECK((cwg_encode_pb(&g, r, &buf)) == (0), "cwg_encode_pb(&g, r, &buf) == 0");
        cw__batch_init(&w->batches[r], &w->mem);
        cw__decoder d;
        cw__decoder_init(&d, w->in, 1024, &w->batches[r]);
        CWT_CHECK((cw__decode_pb(&d, buf.p, buf.n)) == (0), "cw__decode_pb(&d, buf.p, buf.n) == 0");
        cw__decoder_done(&d);
        w->spans += w->batches[r].n;
        cwg_buf_free(&buf);
    }
    cwg_free(&g);
}

void wl_free(wl *w)
{
    for (size_t r = 0; r < w->n; r++)
        cw__batch_free(&w->batches[r]);
    free(w->batches);
    cw__intern_free(w->in);
}

/* Sorted canonical forms of all completed traces (flush first). */
char *all_forms(gfx *f)
{
    cw__graph_flush(f->g);
    qsort(f->completed.v, f->completed.n, sizeof *f->completed.v, cmp_str);
    size_t total = 1;
    for (size_t i = 0; i < f->completed.n; i++)
        total += strlen(f->completed.v[i]);
    char *out = malloc(total), *o = out;
    for (size_t i = 0; i < f->completed.n; i++)
        o = stpcpy(o, f->completed.v[i]);
    *o = 0;
    return out;
}

