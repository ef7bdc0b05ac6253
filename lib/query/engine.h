/*
 * The engine: what ties decoding, the graph and the summary store together
 * behind the public API. Private to lib/query (and the layers above it).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CW_ENGINE_H
#define CW_ENGINE_H

#include <pthread.h>

#include "../chain/chain.h"

/* What one ingest call works in: the file's bytes, the inflated body and
 * the decoded batch. Kept between calls in a few lock-free slots, so that
 * steady-state ingest reuses warm memory: a fresh buffer per request would
 * fault its pages in anew each time (glibc returns large freed blocks to the
 * kernel), which cost more than the decoding on this project's machines. */
typedef struct cw__ws {
    cw__batch b;
    uint8_t *in;
    size_t in_cap;
    uint8_t *out;
    size_t out_cap;
} cw__ws;

/* Workspaces kept: enough for the receiver's pool threads and the host's. */
#define CW_WS_SLOTS 8
/* A workspace's buffers larger than this are freed, not kept. */
#define CW_WS_KEEP_MAX ((size_t)16 << 20)

/* Completion threads at most (cw_engine_options.completion_threads). */
#define CW_COMPLETION_MAX CW_PAR_MAX
/* A sweep hands its analyses to helper threads only from this many spans
 * on: below it, starting a thread costs more than it saves. */
#define CW_COMPLETION_PARALLEL_SPANS 8192
/* A completion thread's call buffer, or the list of a sweep's traces,
 * larger than this is freed after the sweep, not kept. */
#define CW_CALLS_KEEP_MAX ((size_t)1 << 20)

/* What one completion thread analyses in, kept between sweeps. */
typedef struct cw__cworker {
    cw__arena arena;
    cw__calls calls;
} cw__cworker;

/* One trace of the current sweep: its record and where its calls are. */
typedef struct cw__done {
    cw__record *r;
    uint32_t worker;
    size_t calls_from, calls_to;
} cw__done;

struct cw_engine {
    cw__mem mem;
    cw_engine_options o;
    cw__interner *in;
    cw__graph *g;
    cw__store *st;
    /* Serializes sweeps (tick, flush): the store has one writer. Never taken
     * on the ingest or query paths. */
    pthread_mutex_t sweep_lock;
    cw_trace_fn on_trace;
    void *on_trace_ctx;
    cw_chain_fn on_chain;
    void *on_chain_ctx;
    /* Completion threads (o.completion_threads of them, resolved) and the
     * current sweep's traces; the sweep lock owns both. */
    uint32_t cthreads;
    cw__cworker cw[CW_COMPLETION_MAX];
    cw__done *done;
    size_t ndone, done_cap;
    /* The thread adding a big sweep's records, while the graph reclaims. */
    pthread_t committer;
    bool committing;
    /* Records completed in the current sweep, for the trace callbacks. */
    cw__record **swept;
    size_t nswept, swept_cap;
    const cw__chain **chains;
    size_t nchains, chains_cap;
    /* Idle workspaces: a slot owns what it holds; taking exchanges it for
     * NULL, giving back CASes NULL for it (acq_rel both ways: the buffers'
     * contents and sizes pass with the pointer). */
    _Atomic(cw__ws *) ws[CW_WS_SLOTS];
    /* Relaxed counters: statistics. */
    _Atomic uint64_t requests, requests_rejected, spans_received, spans_accepted,
        spans_rejected, links_dropped, truncated, rejected[CW_REJECT_COUNT];
};

uint64_t cw__engine_now(cw_engine *e);
/* A workspace for one ingest call (an idle one, else a new one), NULL when
 * out of memory; cw__ws_give() returns it. Lock-free. */
cw__ws *cw__ws_take(cw_engine *e);
void cw__ws_give(cw_engine *e, cw__ws *w);
/* Hex id (32 digits, either case) to a trace id. */
bool cw__parse_tid(const char *s, cw__tid *out);
void cw__fill_trace(cw_engine *e, const cw__record *r, cw_trace_summary *out,
                    const char **functions, size_t cap);
void cw__fill_chain(cw_engine *e, const cw__chain *c, cw_chain_summary *out,
                    const char **functions, size_t cap);

#endif
