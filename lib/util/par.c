/*
 * A parallel loop for the maintenance paths (sweeps): the calling thread and
 * helpers started for the one call share the indexes of a loop.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>

#include "util.h"

typedef struct par {
    size_t n, chunk;
    cw__par_fn fn;
    void *ctx;
    /* Relaxed: only the index is shared; what fn writes passes to the
     * caller by pthread_join. */
    _Atomic size_t next;
} par;

typedef struct helper {
    par *p;
    unsigned worker;
    pthread_t tid;
} helper;

static void run(par *p, unsigned worker)
{
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&p->next, p->chunk, memory_order_relaxed);
        if (i >= p->n)
            return;
        size_t end = p->n - i > p->chunk ? i + p->chunk : p->n;
        for (; i < end; i++)
            p->fn(p->ctx, i, worker);
    }
}

static void *helper_main(void *arg)
{
    helper *h = arg;
    run(h->p, h->worker);
    return NULL;
}

unsigned cw__par_for(unsigned threads, size_t n, size_t chunk, cw__par_fn fn, void *ctx)
{
    par p = {.n = n, .chunk = chunk ? chunk : 1, .fn = fn, .ctx = ctx};
    atomic_init(&p.next, 0);
    if (threads > CW_PAR_MAX)
        threads = CW_PAR_MAX;
    helper h[CW_PAR_MAX];
    unsigned nh = 0;
    for (unsigned w = 1; w < threads; w++) {
        h[nh] = (helper){.p = &p, .worker = nh + 1};
        if (pthread_create(&h[nh].tid, NULL, helper_main, &h[nh]) == 0)
            nh++; /* else: the threads started do the work */
    }
    run(&p, 0);
    for (unsigned k = 0; k < nh; k++)
        pthread_join(h[k].tid, NULL);
    return nh + 1;
}
