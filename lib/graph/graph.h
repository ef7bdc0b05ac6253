/*
 * The span graph: every span finds its parent, its children, its links (both
 * directions) and its trace, from many threads at once, in bounded memory.
 * The only header of lib/graph other layers include.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CW_GRAPH_H
#define CW_GRAPH_H

#include "../otlp/otlp.h"

/* A null node/trace/link index. */
#define CW_NIL UINT32_MAX

/* ---------------------------------------------------------- read sections */

/* Grace periods for reclamation, SRCU style: readers bump one of two striped
 * counters chosen by the epoch's parity; cw__epoch_sync() flips the epoch and
 * waits until the old parity's counters drain. No thread registration, so
 * any host thread may call into the engine. See epoch.c. */
#define CW_EPOCH_STRIPES 16

typedef struct cw__epoch {
    _Atomic uint64_t epoch;
    struct {
        _Alignas(64) _Atomic int64_t n;
    } readers[2][CW_EPOCH_STRIPES];
} cw__epoch;

typedef struct cw__rs {
    unsigned parity, stripe;
} cw__rs;

void cw__epoch_init(cw__epoch *ep);
/* Enters a read section. Progress: lock-free (retries only when an epoch
 * flip races with it). */
cw__rs cw__read_lock(cw__epoch *ep);
void cw__read_unlock(cw__epoch *ep, cw__rs rs);
/* Waits until every read section that began before the call has ended.
 * Blocking; one caller at a time (the reclaimer). Must not be called inside a
 * read section. */
void cw__epoch_sync(cw__epoch *ep);

/* ------------------------------------------------------------------ pools */

/* Index-addressed object pools: u32 indexes into lazily allocated chunks
 * that never move, so an index stays dereferenceable for the pool's life.
 * Freed objects return through segments pushed by the (single) reclaimer
 * after a grace period. See pool.c. */
typedef struct cw__pool {
    cw__mem *mem;
    size_t elem;
    uint32_t max;                   /* capacity in objects */
    uint32_t nchunks;
    bool zeroed;                    /* chunks come zeroed (see pool.c) */
    unsigned char *region;          /* every chunk's place, or NULL */
    _Atomic(unsigned char *) *chunks;
    _Atomic uint32_t bump;          /* next never-used index */
    _Atomic uint64_t free_segs;     /* tagged Treiber stack of segments */
    _Atomic uint64_t in_use;        /* objects handed out and not freed */
} cw__pool;

/* 4,096 objects a chunk: small enough that the last, partly used chunk of
 * each pool wastes little (bytes per span are measured in test_graph). */
#define CW_POOL_CHUNK_SHIFT 12

int cw__pool_init(cw__pool *p, cw__mem *mem, size_t elem, uint32_t max, bool zeroed);
void cw__pool_destroy(cw__pool *p);

CW_INLINE void *cw__pool_at(const cw__pool *p, uint32_t i)
{
    /* Relaxed: the chunk pointer was published before any index into it
     * could be obtained (acquire on whatever delivered the index). */
    unsigned char *c = atomic_load_explicit(
        &((cw__pool *)p)->chunks[i >> CW_POOL_CHUNK_SHIFT], memory_order_relaxed);
    return c + (size_t)(i & ((1u << CW_POOL_CHUNK_SHIFT) - 1)) * p->elem;
}

/* As cw__pool_at() for an index below the bump counter that may not have
 * been handed out yet: NULL while its chunk is still being allocated (the
 * counter moves before the chunk exists). */
CW_INLINE void *cw__pool_at_if(const cw__pool *p, uint32_t i)
{
    unsigned char *c = atomic_load_explicit(
        &((cw__pool *)p)->chunks[i >> CW_POOL_CHUNK_SHIFT], memory_order_acquire);
    return c ? c + (size_t)(i & ((1u << CW_POOL_CHUNK_SHIFT) - 1)) * p->elem : NULL;
}

/* A caller-local cache of free indexes: fresh ones 32 at a time, or a whole
 * free segment (its chain, walked as objects are handed out), so that the
 * shared head and counter are touched once per refill, not once per object.
 * It refills only when empty, so it never holds more than a segment. */
#define CW_POOL_SEG 256u
/* How far ahead cw__pool_get() prefetches the objects it will hand out. */
#define CW_POOL_PREFETCH 4
typedef struct cw__pool_cache {
    uint32_t n;
    uint32_t chain; /* next object of a popped segment, + 1; 0: none */
    int64_t taken;  /* objects handed out, net, not yet counted in in_use */
    uint32_t idx[CW_POOL_SEG];
} cw__pool_cache;

/* Takes one index: from the cache, refilled from a free segment or the bump
 * counter. Returns CW_NIL when the pool is at capacity or memory runs out.
 * Lock-free. */
uint32_t cw__pool_get(cw__pool *p, cw__pool_cache *c);
/* Returns an index obtained by cw__pool_get() but never published. */
void cw__pool_unget(cw__pool *p, cw__pool_cache *c, uint32_t i);
/* Returns the cache's remaining indexes to the pool. */
void cw__pool_cache_release(cw__pool *p, cw__pool_cache *c);
/* Frees n published objects after a grace period (reclaimer only); they
 * are handed out again in index order (idx is sorted in place). */
void cw__pool_free_many(cw__pool *p, uint32_t *idx, uint32_t n);

/* ------------------------------------------------------------ span nodes */

/* What a span carries, as readers see it (cw__node_read). Stored packed in
 * the node; a duplicate rewrites it under the node's seqlock. */
typedef struct cw__payload {
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t invocation_id;
    uint32_t parent;    /* node index (maybe a placeholder), CW_NIL: root */
    uint32_t function;
    uint32_t name;
    uint32_t target;
    uint32_t region;
    uint16_t http_status; /* codes past 1023 read as 1023 */
    uint8_t resend_count; /* saturated at 15: the model asks only ">= 1" */
    uint8_t kind;       /* 0..5, larger values read as 7 */
    uint8_t status;     /* 0..2, larger values read as 3 */
    uint8_t flags;      /* CW_SPAN_F_* */
    uint8_t trigger;    /* CW_TRIGGER_* */
} cw__payload;

/* Stored payload, 11 words: start (2), a packed pair (duration 39 bits |
 * http status 10 | resend 4 | kind 3 | status 2 | trigger 3 | flags 3),
 * invocation id (2), parent, function, name, target, region. A duration
 * that is negative or does not fit 39 bits (9 minutes) keeps its high bits in
 * the node's extension. */
#define CW_PAYLOAD_WORDS 11

/* Node state: bit 0 REAL (else a placeholder), bit 1 WRITING, the rest a
 * version that grows with every rewrite. */
enum { CW_NODE_REAL = 1u, CW_NODE_WRITING = 2u, CW_NODE_VER = 4u };

/* Every pool object begins with two atomic words: its key while in use, the
 * free-list header while free (pool.c, which also uses the third word of a
 * free object, so pools need objects of 12 bytes or more). All fields are
 * 32-bit, so a node is 76 bytes with no padding; the span index refers to
 * it by index (graph.c, "Span index"), so it needs no chain link. */
typedef struct cw__node {
    _Atomic uint32_t sid[2];              /* span id, high word first */
    uint32_t trace;                       /* owning trace object */
    _Atomic uint32_t pw[CW_PAYLOAD_WORDS];/* payload, seqlocked */
    uint32_t next_in_trace;               /* the trace's node list */
    _Atomic uint32_t state;
    _Atomic uint32_t first_child;         /* child list head */
    uint32_t next_sibling;                /* in the parent's child list */
    _Atomic uint32_t ext;                 /* cw__ext index, CW_NIL */
} cw__node;

/* What few spans need, allocated on demand: links (both directions),
 * children that moved here through a duplicate, and the high bits of a
 * duration that does not fit the payload. */
typedef struct cw__ext {
    _Atomic uint32_t links_out; /* cw__link_node list via next_out */
    _Atomic uint32_t links_in;  /* cw__link_node list via next_in */
    _Atomic uint32_t moved_in;  /* child references via next_in */
    _Atomic uint32_t dur_hi;    /* signed duration >> 39, when flagged */
} cw__ext;

/* One span link (src span -> dst span), indexed in both directions. With
 * CW_LINK_CHILD_REF in src it is instead a reference from a new parent to a
 * child that a duplicate moved there. */
#define CW_LINK_CHILD_REF 0x80000000u

typedef struct cw__link_node {
    _Atomic uint32_t dsid[2]; /* target span id (kept when dst is gone) */
    uint32_t dtid[4];         /* target trace id, high word first */
    uint32_t src;             /* source node (| CW_LINK_CHILD_REF) */
    _Atomic uint32_t dst;     /* target node (maybe a placeholder); CW_NIL
                                 when its trace is gone or was not live */
    uint32_t next_out;        /* src's list: immutable once pushed */
    _Atomic uint32_t next_in; /* dst's list: the reclaimer may splice */
} cw__link_node;

/* ----------------------------------------------------------------- traces */

enum {
    CW_TRACE_FREE = 0,
    CW_TRACE_LIVE = 1,
    CW_TRACE_COMPLETING = 2,
    CW_TRACE_DEAD = 3,
};

/* sw: the state, CW_TRACE_* (graph.c, "Trace lifecycle"). */
typedef struct cw__trace {
    _Atomic uint32_t idw[4];     /* trace id, high word first */
    _Atomic uint64_t last_seen;
    _Atomic uint64_t first_seen;
    _Atomic uint32_t hnext;
    _Atomic uint32_t sw;
    _Atomic uint32_t nodes;      /* node list head (next_in_trace) */
    _Atomic uint32_t nspans;     /* real spans */
} cw__trace;

CW_INLINE cw__tid cw__trace_id(const cw__trace *t)
{
    cw__tid id;
    id.hi = (uint64_t)atomic_load_explicit(&((cw__trace *)t)->idw[0], memory_order_relaxed) << 32 |
            atomic_load_explicit(&((cw__trace *)t)->idw[1], memory_order_relaxed);
    id.lo = (uint64_t)atomic_load_explicit(&((cw__trace *)t)->idw[2], memory_order_relaxed) << 32 |
            atomic_load_explicit(&((cw__trace *)t)->idw[3], memory_order_relaxed);
    return id;
}

CW_INLINE uint64_t cw__node_span_id(const cw__node *n)
{
    return (uint64_t)atomic_load_explicit(&((cw__node *)n)->sid[0], memory_order_relaxed) << 32 |
           atomic_load_explicit(&((cw__node *)n)->sid[1], memory_order_relaxed);
}

CW_INLINE uint64_t cw__link_dst_span(const cw__link_node *l)
{
    return (uint64_t)atomic_load_explicit(&((cw__link_node *)l)->dsid[0], memory_order_relaxed)
               << 32 |
           atomic_load_explicit(&((cw__link_node *)l)->dsid[1], memory_order_relaxed);
}

CW_INLINE cw__tid cw__link_dst_trace(const cw__link_node *l)
{
    cw__tid t = {(uint64_t)l->dtid[0] << 32 | l->dtid[1], (uint64_t)l->dtid[2] << 32 | l->dtid[3]};
    return t;
}

/* ------------------------------------------------------------------ graph */

typedef struct cw__graph cw__graph;

/* The traces a sweep completes, in slot order, each frozen (no insert can
 * reach it any more) and fully readable until the callback returns. With
 * nodes, trace i's node indexes (spans and placeholders, newest first) are
 * nodes[first[i]] to nodes[first[i + 1] - 1]; nodes is NULL when there was
 * no memory to gather them (walk the trace's list instead). */
typedef struct cw__completion {
    const uint32_t *traces;
    size_t n;
    const uint32_t *nodes;
    const size_t *first;
} cw__completion;

/* Called once a sweep with what completes in it (nothing when n is 0); runs
 * on the thread that called cw__graph_tick()/flush(), which may hand the
 * reading to other threads until it returns (nothing in the graph is
 * reclaimed meanwhile). */
typedef void (*cw__complete_fn)(void *ctx, cw__graph *g, const cw__completion *c);

typedef struct cw__graph_limits {
    uint64_t budget;        /* bytes of live graph data */
    uint64_t idle_ns;
    uint64_t max_age_ns;
    /* Spans to size the indexes for; 0: what the budget holds. The span
     * index cannot grow, so below the budget's count it also bounds the
     * nodes (spans and placeholders) held at once: three per indexed span
     * (graph.c, cw__graph_new). */
    uint64_t index_spans;
} cw__graph_limits;

typedef struct cw__graph_stats {
    uint64_t spans_live;     /* real spans held */
    uint64_t nodes_live;     /* spans and placeholders */
    uint64_t traces_live;
    uint64_t links_live;
    uint64_t traces_completed;
    uint64_t duplicates;     /* copies of spans already held */
    uint64_t parent_changes; /* duplicates naming another parent */
    uint64_t bytes_live;     /* what counts against the budget */
    uint64_t bytes_index;    /* index slots and buckets, fixed at creation */
} cw__graph_stats;

int cw__graph_new(cw__graph **out, cw__mem *mem, const cw__graph_limits *lim,
                  cw__complete_fn on_complete, void *ctx);
/* Frees everything without completing live traces (call flush first to
 * have them analysed). No other graph call may run concurrently. */
void cw__graph_free(cw__graph *g);

/* Per-reject counters of one insert call. */
typedef struct cw__insert_result {
    uint64_t accepted;
    uint64_t rejected_budget;
    uint64_t rejected_nomem;
    uint64_t duplicates;
} cw__insert_result;

/* Inserts the spans of a decoded batch at time now. Spans are accepted in
 * order until the budget is reached; the rest are counted as refused.
 * Returns 0, or CW_EBUDGET when any span was refused for the budget.
 * Progress: lock-free (see graph.c). Thread safety: any number of threads,
 * concurrently with every reader and with tick/flush. */
int cw__graph_insert(cw__graph *g, const cw__batch *b, uint64_t now,
                     cw__insert_result *res);

/* Completes every live trace idle for idle_ns or older than max_age_ns at
 * time now: calls on_complete with them, then reclaims them after a grace
 * period. Returns the number completed. Blocking (waits for in-flight inserts
 * on those traces and for readers); one caller at a time, serialized
 * internally. Must not be called inside a read section. */
uint64_t cw__graph_tick(cw__graph *g, uint64_t now);
/* Completes every live trace now. */
uint64_t cw__graph_flush(cw__graph *g);

void cw__graph_stats_get(const cw__graph *g, cw__graph_stats *out);
/* Bytes the graph holds (pools, buckets, bookkeeping), as the allocator
 * sees them. */
uint64_t cw__graph_bytes(const cw__graph *g);

/* What the span index's slots hold at one instant (a walk over the table:
 * for tests and diagnostics; concurrent changes may be counted or not). */
typedef struct cw__index_census {
    uint64_t slots, empty, tombstones, pending, tentative, final;
    uint64_t longest_run; /* most consecutive slots that are not empty */
} cw__index_census;

void cw__graph_index_census(const cw__graph *g, cw__index_census *out);

/* Testing hooks: the slots themselves and their special values, and where
 * node n's entry is (CW_NIL when it has none; *home gets its key's home
 * slot). Tests plant the states that racing threads reach rarely (a
 * claim whose owner stalls, a tombstone being emptied); nothing else may
 * write slots. */
typedef struct cw__index_view {
    _Atomic uint32_t *slots;
    uint32_t nslots;
    uint32_t tentative_bit, tombstone, pending;
} cw__index_view;

void cw__graph_index_view(cw__graph *g, cw__index_view *out);
uint32_t cw__graph_index_entry(cw__graph *g, uint32_t n, uint32_t *home);

/* ---------------------------------------------------------------- reading */

/* Everything below must run inside a read section (cw__graph_read_lock)
 * unless the trace is frozen (inside on_complete). Progress: wait-free,
 * except cw__graph_node_read() on a span that a duplicate is rewriting at that
 * instant, which retries until the rewrite ends (seqlock). */
cw__rs cw__graph_read_lock(cw__graph *g);
void cw__graph_read_unlock(cw__graph *g, cw__rs rs);

const cw__node *cw__graph_node(const cw__graph *g, uint32_t i);
const cw__trace *cw__graph_trace(const cw__graph *g, uint32_t i);
const cw__link_node *cw__graph_link(const cw__graph *g, uint32_t i);
const cw__ext *cw__graph_ext(const cw__graph *g, uint32_t i);

/* Copies node i's payload. Returns false for a placeholder. */
bool cw__graph_node_read(const cw__graph *g, uint32_t i, cw__payload *out);

/* The live trace with this id, or CW_NIL. */
uint32_t cw__graph_find_trace(cw__graph *g, cw__tid id);
/* The node of (trace, span id), placeholder or real, or CW_NIL. */
uint32_t cw__graph_find_node(cw__graph *g, uint32_t trace, uint64_t span_id);

/* Iterates the children of node i: *cursor starts at 0; returns the next
 * child node index or CW_NIL at the end. Children listed are those whose
 * current parent is i. */
typedef struct cw__child_iter {
    uint32_t i;
    uint32_t next;
    int phase;
} cw__child_iter;
void cw__children_begin(const cw__graph *g, uint32_t i, cw__child_iter *it);
uint32_t cw__children_next(const cw__graph *g, cw__child_iter *it);

/* Link lists of node i (cw__link_node indexes via next_out / next_in). */
uint32_t cw__links_out(const cw__graph *g, uint32_t i);
uint32_t cw__links_in(const cw__graph *g, uint32_t i);

#endif /* CW_GRAPH_H */
