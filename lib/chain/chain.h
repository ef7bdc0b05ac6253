/*
 * Invocation chains: SPEC.md section 2 applied to completed traces, the
 * summaries that outlive the spans, chains joined across traces by links,
 * and the service-graph edge aggregates. The only header of lib/chain other
 * layers include.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CW_CHAIN_H
#define CW_CHAIN_H

#include "../graph/graph.h"

/* ---------------------------------------------------------- trace record */

/* One invocation of a completed trace: what chain analysis and later link
 * resolution need once the spans are gone. */
typedef struct cw__inv {
    uint64_t entry_span;   /* span id of the entry span */
    uint64_t start_ns;     /* entry span start */
    uint64_t end_ns;       /* entry span end */
    uint64_t invocation_id;/* faas.invocation_id hash of the entry, 0 none */
    uint32_t function;
    uint32_t parent;       /* caller via the parent edge (index in this
                              record), CW_NIL */
    uint32_t fanout;       /* distinct callees, all edges, all traces */
    uint8_t kind;          /* entry span kind */
    uint8_t parent_async;  /* the parent edge is async */
    uint8_t entry_failed;  /* entry span status ERROR */
    uint8_t redelivered;   /* a redelivery beyond the first */
} cw__inv;

/* A link edge between two invocations of the same trace. */
typedef struct cw__ledge {
    uint32_t caller, callee;
} cw__ledge;

/* A link edge from an invocation of another trace into one of ours. */
typedef struct cw__xedge {
    struct cw__record *caller;
    uint32_t caller_inv;
    uint32_t callee_inv;   /* in the record holding this edge */
} cw__xedge;

/* A span that a later link may name, and its invocation. Sorted by span. */
typedef struct cw__spaninv {
    uint64_t span_id;
    uint32_t inv;
} cw__spaninv;

/* A link from one of our entry spans whose target was not resolvable when
 * we completed (target trace live or not yet seen). */
typedef struct cw__plink {
    cw__tid trace;
    uint64_t span_id;
    uint32_t callee_inv;
} cw__plink;

/* Retry group detail (SPEC.md section 3.4), kept for groups that retried. */
typedef struct cw__rgroup {
    uint32_t caller_function;
    uint32_t target;       /* interned string: the group's target */
    uint32_t attempts;
    uint32_t failed;
    uint32_t retries;
    uint8_t final_status;  /* CW_STATUS_* of the last attempt */
    uint8_t redelivery;    /* 1: entry spans sharing faas.invocation_id */
    uint16_t pad;
    uint32_t first_span;   /* index into the record's span-id pool */
} cw__rgroup;

/* The summary fields of SPEC.md section 3.1 that other traces can change
 * after completion are atomics (readers load them relaxed). */
typedef struct cw__record {
    cw__tid id;
    uint64_t spans;
    uint32_t span_depth;
    uint32_t max_span_fanout;
    uint32_t invocations;
    uint32_t depth;
    _Atomic uint32_t max_fanout;
    uint32_t retries;          /* call-site retries + redeliveries */
    uint32_t callsite_retries; /* call-site retries alone */
    uint32_t max_recursion;
    uint32_t errors;
    uint32_t root_function;
    uint64_t start_ns;
    uint64_t duration_ns;
    bool complete;
    /* functions sorted by earliest span start (ties by name), with those
     * starts (chains merge them) */
    uint32_t *functions;
    uint64_t *fstart;
    uint32_t nfunctions;
    cw__inv *inv;
    cw__ledge *ledges;         /* same-trace link edges */
    size_t nledges, ledges_cap;
    cw__spaninv *spaninv;
    uint32_t nspaninv;
    cw__plink *plinks;
    size_t nplinks, plinks_cap;
    /* Link edges into us from other traces. Readers load nxedges
     * (acquire) then xedges: a full array is copied, published and the old
     * one retired, never realloc'ed under them. */
    _Atomic(cw__xedge *) xedges;
    _Atomic size_t nxedges;
    size_t xedges_cap;
    /* Details: retry groups, their span ids, the deepest recursion path
     * (invocation indexes, caller first). */
    cw__rgroup *groups;
    size_t ngroups, groups_cap;
    uint64_t *group_spans;
    size_t ngroup_spans, group_spans_cap;
    uint32_t loop_function;
    uint32_t *loop_path;
    uint32_t nloop;
    /* Chain membership (writer): the chain's root record and a circular
     * list of members; readers load chain_root. The root holds the chain's
     * published summary and the member count. */
    struct cw__record *root;
    struct cw__record *cnext;
    uint32_t members;
    bool dirty;                /* chain needs recomputing this sweep */
    _Atomic(struct cw__record *) chain_root;
    _Atomic(struct cw__chain *) chain;
    _Atomic(struct cw__record *) hnext; /* store hash chain */
    /* A newer incarnation of the id is in the store: iteration skips this
     * one (the writer sets and clears it; readers load it relaxed). */
    _Atomic bool shadowed;
    /* Eviction order, oldest first. Readers iterate from the newest along
     * older (acquire); only the writer follows newer. */
    _Atomic(struct cw__record *) older;
    struct cw__record *newer;
    size_t bytes;
    /* The record and all its arrays but xedges are one allocation of this
     * size, made when its analysis finishes (analyze.c, pack). The *_cap
     * of those arrays then equal their counts. */
    size_t block_bytes;
} cw__record;

/* A chain summary, SPEC.md section 3.2; immutable once published. It also
 * lists its member records for readers (the writer's membership list is not
 * theirs to walk); members are evicted together with it. */
typedef struct cw__chain {
    cw__tid id;
    uint32_t traces;
    uint32_t invocations;
    uint32_t depth;
    uint32_t max_fanout;
    uint32_t retries;
    uint32_t max_recursion;
    uint32_t nfunctions;
    uint32_t *functions;
    const struct cw__record **members;
    size_t bytes;
} cw__chain;

/* -------------------------------------------------------------- analysis */

typedef struct cw__store cw__store;

/* One call on a service-graph edge, observed by an analysis and added to the
 * store's aggregates later (cw__store_add_calls). */
typedef struct cw__call {
    uint32_t caller, callee;
    uint64_t latency_ns;
    uint8_t async, error, retry;
} cw__call;

typedef struct cw__calls {
    cw__call *v;
    size_t n, cap;
} cw__calls;

/* Analyses a trace of the graph into a new record (not yet in any store).
 * nodes (nn of them) is the trace's node list gathered by the graph, or NULL
 * to walk the list here. With complete, the trace must be frozen, and the
 * calls of its edges are
 * appended to *obs for the writer to add before the record; the store is
 * only read, and may be read by several completions at once while nothing
 * writes it. Without, obs is NULL, the caller holds a graph read section
 * and the store is only read through thread-safe paths (a live summary).
 * Returns NULL when out of memory (obs then as it was).
 * Complexity: linear in the trace's nodes and links, no recursion. */
cw__record *cw__analyze_trace(cw__store *st, cw__graph *g, uint32_t trace,
                              const uint32_t *nodes, size_t nn, bool complete, cw__arena *arena,
                              cw__calls *obs);

/* ----------------------------------------------------------------- store */

typedef struct cw__store_limits {
    uint64_t budget; /* bytes of records and chains; oldest evicted past it */
} cw__store_limits;

int cw__store_new(cw__store **out, cw__mem *mem, cw__interner *in,
                  const cw__store_limits *lim);
void cw__store_free(cw__store *st);

/* Adds a completed trace's record (ownership passes to the store), resolves
 * its links and the links waiting for it, joins chains. Writer only: one
 * thread at a time (the engine's sweep). */
void cw__store_add(cw__store *st, cw__record *r);
/* Adds the calls an analysis observed to the edge aggregates. Writer only. */
void cw__store_add_calls(cw__store *st, const cw__call *v, size_t n);
/* Recomputes the chains touched since the last call and publishes them;
 * calls cb for each. Writer only. With many chains to recompute, computes
 * them on up to threads threads (cw__par_for), then publishes them in order
 * on the calling thread. What was replaced or evicted stays readable until
 * cw__store_reclaim(). */
typedef void (*cw__chain_cb)(void *ctx, const cw__chain *c);
void cw__store_finish(cw__store *st, unsigned threads, cw__chain_cb cb, void *ctx);
/* Frees what finish and add retired, after a grace period. Writer only. */
void cw__store_reclaim(cw__store *st);

/* Frees a record that was never added. */
void cw__record_free(cw__store *st, cw__record *r);

/* Readers (any thread, concurrently with the writer). */
cw__rs cw__store_read_lock(cw__store *st);
void cw__store_read_unlock(cw__store *st, cw__rs rs);
/* Inside a read section: the record of a trace id (latest incarnation), the
 * published chain of a record, iteration over all records. */
const cw__record *cw__store_find(cw__store *st, cw__tid id);
const cw__chain *cw__store_chain_of(const cw__record *r);
const cw__chain *cw__store_find_chain(cw__store *st, cw__tid chain_id);
const cw__record *cw__store_first(cw__store *st);
const cw__record *cw__store_next(cw__store *st, const cw__record *r);

/* ----------------------------------------------------------------- edges */

/* Latency histogram: exact below 16 ns, then 16 log-linear buckets per
 * power of two up to 2^64 ns, so p50/p99 land within 1/16 (6%) of the true
 * value (HDR-histogram style, 3.9 KiB per edge). */
#define CW_HIST_BUCKETS 976

typedef struct cw__edge {
    uint32_t caller, callee; /* interned function names */
    uint8_t async;
    _Atomic uint64_t calls, errors, retries;
    _Atomic uint32_t hist[CW_HIST_BUCKETS];
    _Atomic(struct cw__edge *) next; /* readers' list, newest first */
    struct cw__edge *hnext;          /* writer's hash chain */
} cw__edge;

const cw__edge *cw__store_edges(cw__store *st);
/* Quantile q (0..1) of an edge's latency histogram, in ns. */
uint64_t cw__edge_quantile(const cw__edge *e, double q);

/* Counters. */
typedef struct cw__store_stats {
    uint64_t records;
    uint64_t chains;
    uint64_t edges;
    uint64_t bytes;
    uint64_t evicted;
    uint64_t links_resolved;
    uint64_t links_pending;
    uint64_t links_unresolved; /* target trace known, span not indexed */
} cw__store_stats;
void cw__store_stats_get(cw__store *st, cw__store_stats *out);

#endif /* CW_CHAIN_H */
