/*
 * Graph test helpers: see graphutil.c.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CW_TEST_GRAPHUTIL_H
#define CW_TEST_GRAPHUTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "graph/graph.h"
#include "support.h"

/* An assertion for code that runs outside criterion (helpers, stress.c). */
#define CWT_CHECK(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
            abort();                                                           \
        }                                                                      \
    } while (0)

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

typedef struct gfx {
    cw__mem mem;
    cw__graph *g;
    strlist completed; /* "<trace lo> <canon>" of each completed trace */
    uint64_t completed_spans;
} gfx;

typedef struct lk {
    int from;
    uint64_t trace, span;
} lk;

typedef struct wl {
    cw__mem mem;
    cw__interner *in;
    cw__batch *batches;
    size_t n;
    uint64_t spans;
} wl;

void sl_add(strlist *l, char *s);
void sl_free(strlist *l);
int cmp_str(const void *a, const void *b);
int cmp_u64(const void *a, const void *b);
char *canon(cw__graph *g, uint32_t t);
void gfx_on_complete(void *ctx, cw__graph *g, const cw__completion *c);
void gfx_init(gfx *f, uint64_t budget);
/* As gfx_init(), with the span index sized for index_spans (a small one
 * bounds the nodes: see cw__graph_limits). */
void gfx_init_indexed(gfx *f, uint64_t budget, uint64_t index_spans);
void gfx_free(gfx *f);
cw__span mk(uint64_t trace, uint64_t sid, uint64_t parent, uint32_t name);
int insert_spans(gfx *f, const cw__span *sp, size_t n, const lk *links, size_t nl,
                        uint64_t now);
char *canon_of(gfx *f, uint64_t trace);
void wl_make(wl *w, uint64_t seed, uint64_t spans, unsigned batch);
void wl_free(wl *w);
char *all_forms(gfx *f);

#endif
