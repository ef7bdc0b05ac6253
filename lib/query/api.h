/*
 * The query API without I/O (api.c), and a small growable text buffer.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CW_API_H
#define CW_API_H

#include "engine.h"

typedef struct cw__buf {
    cw__mem *mem;
    char *p;
    size_t n, cap;
    bool oom;
} cw__buf;

void cw__buf_init(cw__buf *b, cw__mem *mem);
void cw__buf_free(cw__buf *b);
void cw__buf_put(cw__buf *b, const void *p, size_t n);
void cw__buf_printf(cw__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Answers GET path?query (SPEC.md section 5) into b; returns the HTTP status
 * and sets *ctype. Thread safety: any thread, like the query functions it
 * calls. */
int cw__api_get(cw_engine *e, const char *path, const char *query, cw__buf *b,
                const char **ctype);

#endif
