/*
 * The span graph.
 *
 * Algorithm. Two hash indexes: traces by trace id in a chained table with
 * CAS-pushed heads, span nodes by (trace object, span id) in an
 * open-addressing table of 32-bit slots ("Span index" below, with its
 * deletion protocol). Nodes, traces, links and extensions live in
 * index-addressed pools (pool.c) and refer to each other by u32 index. A
 * node is a placeholder until its span arrives: a child creates its
 * missing parent as a placeholder and pushes itself on the parent's child
 * list; a consumer creates its missing producer (in the producer's trace)
 * and pushes its link on the producer's links-in list. When the real span
 * comes, it finds its node and fills it in, so nothing is ever rescanned.
 * A node's mutable fields (its payload) sit behind a seqlock; everything
 * else is either immutable once published or a CAS-pushed list.
 *
 * Find-or-create in the trace chain: walk the chain for the key; if
 * absent, link a new trace in front of the head seen and CAS the bucket; if
 * the CAS fails, walk only what was pushed since (newest first, down to
 * the old head) for a trace another thread created with the same key, else
 * retry. Keys are thus unique in a chain. Nodes: claim and resolve in the
 * span index, so that duplicates of a span meet in one node.
 *
 * Trace lifecycle. A trace object is LIVE, then COMPLETING, then DEAD, then
 * freed (its sw word). An insert batch runs in one epoch read section
 * (epoch.c) and writes only to traces it found LIVE (non-LIVE traces are
 * invisible to lookups, so a late span starts a new incarnation).
 * Completion CASes the state to COMPLETING and then waits a grace period:
 * every batch that could have found the trace LIVE has ended, later ones
 * find it COMPLETING, so nothing can reach the trace's nodes for writing and
 * the completion callback reads a frozen trace. No insert registers on a
 * trace: nearly every span of a batch belongs to another trace than the
 * span before it, and an atomic add and subtract on each switch cost more
 * than one grace period a sweep (bench/README.md). Reclamation
 * (one thread, under tick_lock) deletes the trace's nodes from the span
 * index (and empties the tombstones that leaves), unlinks its links from
 * other traces' lists, clears other traces' links into it, removes the
 * trace from the trace table, waits a second grace period and frees
 * everything. Sweeps find LIVE traces by scanning the trace pool's slots,
 * so they can meet a trace between its creation and its CAS into the
 * table: such a trace can be frozen, but its creator's batch ends before
 * it completes, so it is linked by then (or, if another insert created the
 * same trace first, abandoned empty).
 *
 * Invariants.
 *  (1) At most one node per (trace object, span id) has a FINAL entry in
 *      the span index, and at most one LIVE trace object per trace id is
 *      reachable from the trace table.
 *  (2) Only the reclaimer removes anything from a list or chain, or a
 *      FINAL entry from the span index; everyone else only pushes at heads
 *      (and claims, kills and finalizes tentative entries). A node's next
 *      pointers therefore change only under the reclaimer, and a removed
 *      element (or a node whose claim lost) stays readable until the grace
 *      period after its removal.
 *  (3) A node, link or extension belongs to exactly one trace object (the
 *      node's trace; a link's source node's trace) and is freed with it.
 *  (4) No insert touches a trace object it did not find LIVE in its current
 *      read section, so the completion callback sees a trace no one
 *      modifies.
 *
 * Progress. Inserts are lock-free: every retry loop retries only because
 * another thread's CAS succeeded. They never wait for completion; completion
 * waits (briefly) for them. Readers are wait-free but for the seqlock retry
 * while a duplicate rewrites the node they read. Tick and flush block.
 *
 * Ordering guarantees.
 *  - Publication: new nodes, traces and links are fully written (relaxed or
 *    plain) before the release (or seq_cst) CAS that links them into a
 *    chain, list or index slot; every head, next and slot load that can
 *    observe them is acquire (or seq_cst).
 *  - Span index: claims, resolve's loads and CASes, and the reclaimer's
 *    tombstone marks and scans are seq_cst (two Dekker pairs, see "Span
 *    index").
 *  - Payload seqlock (Boehm, "Can seqlocks get along with programming
 *    language memory models?"): the writer CASes state to WRITING, issues a
 *    release fence, stores the payload words relaxed, then stores the new
 *    state with release. A reader loads state with acquire, loads the words
 *    relaxed, issues an acquire fence and reloads state relaxed; equal
 *    states with WRITING clear mean a consistent copy.
 *  - Inserts vs completion: the freeze CAS comes before the epoch flip of
 *    the sync that follows it (a seq_cst RMW, so a release). A batch whose
 *    read_lock reads the flipped epoch acquires it and then loads sw as
 *    COMPLETING or later (coherence); a batch that entered before the flip
 *    is waited for, and its read_unlock (release) pairs with the sync's
 *    seq_cst loads of the counters, so its writes happen before the
 *    completion callback. The freeze CAS itself can therefore be relaxed.
 *  - last_seen, counters: relaxed; staleness only shifts a completion by one
 *    tick or a statistic by one batch.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
#include <sched.h>

#include "graph.h"

#define BUCKET_BITS_MIN 10

struct cw__graph {
    cw__mem *mem;
    cw__graph_limits lim;
    cw__complete_fn on_complete;
    void *ctx;
    cw__epoch ep;
    cw__pool nodes, traces, links, exts;
    _Atomic uint32_t *ns; /* span index slots (see "Span index") */
    uint32_t nslots;
    unsigned ibits;       /* node index bits of a slot */
    uint32_t imask;       /* (1 << ibits) - 1 */
    _Atomic uint32_t *tb; /* trace buckets */
    uint64_t tmask;
    _Atomic int64_t bytes_live;
    _Atomic uint64_t spans_live, traces_live, links_live;
    _Atomic uint64_t traces_completed, duplicates, parent_changes;
    /* Nodes that lost the race for their key (a Treiber stack through
     * next_in_trace), freed by the next sweep after a grace period, and how
     * many there are. */
    _Atomic uint32_t retired;
    _Atomic uint64_t nretired;
    /* Tombstones inserters made (withdrawn and killed claims), not yet
     * counted by a cleaning pass. */
    _Atomic uint64_t stray_tombs;
    pthread_mutex_t tick_lock; /* maintenance path only, never inserts */
    /* Reclaimer state, under tick_lock: tombstones it could not empty (a
     * live entry crossed them), to try again next sweep, and how many more
     * it could not record; the traces completing, their gathered node
     * lists and the gathering's (trace, node) pairs; the slots a sweep
     * deleted. */
    uint32_t *lpos;
    size_t nlpos, lpos_cap;
    uint64_t tombs_lost;
    uint32_t *done;
    size_t ndone, done_cap;
    uint32_t *dnodes;
    size_t dnodes_cap;
    size_t *dfirst;
    size_t dfirst_cap;
    struct gpair *pairs;
    size_t pairs_cap;
    uint32_t *dpos;
    size_t ndpos, dpos_cap;
    bool dpos_lost; /* a deleted slot could not be recorded */
};

/* Budget accounting per object: a node costs its bytes; traces, links and
 * extensions theirs. Buckets are fixed at creation and counted separately. */
#define NODE_BYTES ((int64_t)sizeof(cw__node))
#define TRACE_BYTES ((int64_t)sizeof(cw__trace))
#define LINK_BYTES ((int64_t)sizeof(cw__link_node))
#define EXT_BYTES ((int64_t)sizeof(cw__ext))

/* The footprint a span is planned at: the DESIGN.md target. Pool capacities
 * and bucket counts derive from budget / PLAN_BYTES_PER_SPAN. */
#define PLAN_BYTES_PER_SPAN 96

/* One gathered node and the completing trace it belongs to (see gather). */
typedef struct gpair {
    uint32_t t; /* index into done */
    uint32_t node;
} gpair;

/* Gathering scratch larger than this is freed after a sweep, not kept. */
#define GATHER_KEEP_BYTES ((size_t)4 << 20)

/* Frees the gathering scratch, or only what is larger than keep bytes. */
static void gather_release(cw__graph *g, size_t keep)
{
    if (g->dnodes_cap * sizeof *g->dnodes > keep) {
        cw__table_free(g->mem, g->dnodes, g->dnodes_cap * sizeof *g->dnodes);
        g->dnodes = NULL;
        g->dnodes_cap = 0;
    }
    if (g->dfirst_cap * sizeof *g->dfirst > keep) {
        cw__table_free(g->mem, g->dfirst, g->dfirst_cap * sizeof *g->dfirst);
        g->dfirst = NULL;
        g->dfirst_cap = 0;
    }
    if (g->pairs_cap * sizeof *g->pairs > keep) {
        cw__table_free(g->mem, g->pairs, g->pairs_cap * sizeof *g->pairs);
        g->pairs = NULL;
        g->pairs_cap = 0;
    }
}

/* From this size on, gathering scratch is a region rounded to 2 MiB: a big
 * sweep writes it once through, and 4 KiB page faults would cost more than
 * the writing (cw__table_alloc decides region or not by size alone, so
 * cw__table_free() with the same size frees either). */
#define GATHER_REGION_FROM ((size_t)256 << 10)

/* Grows a gathering array to hold need elements, keeping its first keep. */
static bool gather_grow(cw__graph *g, void **p, size_t *cap, size_t need, size_t elem,
                        size_t keep)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    size_t bytes = n * elem;
    if (bytes >= GATHER_REGION_FROM) {
        bytes = (bytes + CW_REGION_MIN - 1) & ~(CW_REGION_MIN - 1);
        n = bytes / elem;
    }
    void *q = cw__table_alloc(g->mem, bytes);
    if (!q)
        return false;
    if (keep)
        memcpy(q, *p, keep * elem);
    cw__table_free(g->mem, *p, *cap * elem);
    *p = q;
    *cap = n;
    return true;
}

static cw__node *N(const cw__graph *g, uint32_t i)
{
    return cw__pool_at(&g->nodes, i);
}

static cw__trace *T(const cw__graph *g, uint32_t i)
{
    return cw__pool_at(&g->traces, i);
}

static cw__link_node *L(const cw__graph *g, uint32_t i)
{
    return cw__pool_at(&g->links, i);
}

static cw__ext *X(const cw__graph *g, uint32_t i)
{
    return cw__pool_at(&g->exts, i);
}

static uint64_t tid_hash(cw__tid id)
{
    /* Trace ids are random (W3C): their own bits hash well enough, mixed
     * to be safe against sequential test ids. */
    return cw__mix64(id.hi ^ cw__mix64(id.lo));
}

/* Nodes hash by (trace id, span id), which a decoded record carries, so
 * that an insert can prefetch a span's buckets before it has looked up the
 * trace object; keys still compare the trace object, which is exact. */
static uint64_t node_hash(uint64_t trace_hash, uint64_t sid)
{
    return cw__mix64(sid ^ trace_hash);
}

/* Bucket heads hold index + 1, so that 0 is empty: a zeroed (calloc'ed)
 * table needs no initialization pass, and a table sized for a large budget
 * costs only address space until used. CW_NIL + 1 wraps to 0. */
static uint32_t bload(_Atomic uint32_t *b, memory_order mo)
{
    return atomic_load_explicit(b, mo) - 1u;
}

/* Release on success (publication), acquire on failure (the new head). */
static bool bcas(_Atomic uint32_t *b, uint32_t *expect, uint32_t desired)
{
    uint32_t e = *expect + 1u;
    bool ok = atomic_compare_exchange_strong_explicit(b, &e, desired + 1u, memory_order_release,
                                                      memory_order_acquire);
    *expect = e - 1u;
    return ok;
}

/* ------------------------------------------------------------ span index
 *
 * Nodes are found by (trace object, span id) in one open-addressing table
 * with linear probing, of 32-bit slots: 0 is EMPTY; an entry is the node's
 * index + 1 in the low ibits bits (ibits from the node pool's capacity), a
 * tag of the key's hash above them and in bit 31 the TENTATIVE flag; a
 * value with no index bits is a tombstone (TOMB: bit 31 alone) or PENDING
 * (a tombstone the reclaimer is emptying: the lowest tag bit alone). A
 * lookup that misses is answered by the slots' cache lines, and one that
 * hits reads one node (a tag matches by chance 1 in 2^(31 - ibits) slots):
 * with hash chains, whose keys lived in the nodes, both walked a chain of
 * dependent misses (docs/graph-index.md has the measurements).
 *
 * Deletion is the hard part of a lock-free open-addressing table, and the
 * protocol is the one docs/graph-index.md sets out and
 * tools/oa_protocol_sim.py checks on a model:
 *  - Insert (node_get) probes from the key's home to the first EMPTY slot.
 *    A FINAL entry of its key is the answer; a TENTATIVE one is resolved
 *    first. Otherwise it claims the first TOMB, PENDING or EMPTY slot it
 *    passed with a TENTATIVE entry and resolves its key (index_resolve).
 *  - Resolve: the lowest TENTATIVE entry of the key in probe order wins,
 *    unless there is a FINAL one; the others are killed (CAS to TOMB); a
 *    second pass from home to the winner vetoes PENDING slots (CAS back to
 *    TOMB) and gives up on a broken path (an EMPTY slot: the winner is
 *    withdrawn); then CAS TENTATIVE -> FINAL. Anyone who meets a TENTATIVE
 *    entry helps, so no one waits.
 *  - Delete (reclaimer, the trace frozen): the FINAL entry becomes TOMB.
 *  - Empty a tombstone (reclaimer): CAS TOMB -> PENDING, scan on to the
 *    next EMPTY slot for an entry whose probe run crosses it (then back to
 *    TOMB), else CAS PENDING -> EMPTY, which fails after a veto or claim.
 * Claims and resolve's reads, and the PENDING mark and the scan's reads,
 * are store-then-load pairs on both sides (Dekker): seq_cst, so that either
 * the resolver's second pass sees the mark or the scan sees the claim.
 *
 * A node whose claim lost was read by whoever helped resolve it, so it is
 * never handed out again at once: it is retired and freed by the next
 * sweep after a grace period. Its owner first withdraws the entry itself
 * (CAS TENTATIVE -> TOMB): the model's inserter leaves a claim it lost
 * behind, and an entry cut off by an EMPTY slot that a later claim joins
 * again could still be made FINAL by a helper; if that CAS finds the entry
 * FINAL, the node won after all.
 */

#define S_EMPTY 0u
#define S_TENT 0x80000000u
#define S_TOMB S_TENT

/* Entries of one key a resolve keeps track of: one a thread inserting the
 * key at that instant; past this, further tentative ones are killed at
 * once (never the lowest, which is safe). */
#define RESOLVE_MAX 16

typedef struct ikey {
    uint32_t home, tag, trace;
    uint64_t sid;
} ikey;

static uint32_t s_pending(const cw__graph *g)
{
    return g->imask + 1;
}

static bool s_entry(const cw__graph *g, uint32_t v)
{
    return (v & g->imask) != 0;
}

static uint32_t s_node(const cw__graph *g, uint32_t v)
{
    return (v & g->imask) - 1;
}

static uint32_t s_value(const cw__graph *g, uint32_t tag, uint32_t node)
{
    return tag << g->ibits | (node + 1);
}

/* Multiply-shift reduction of the low half (the table is not a power of
 * two); the tag is the high half's top 31 - ibits bits. */
static uint32_t hash_home(const cw__graph *g, uint64_t h)
{
    return (uint32_t)(((h & 0xffffffffu) * g->nslots) >> 32);
}

static uint32_t hash_tag(const cw__graph *g, uint64_t h)
{
    return (uint32_t)(h >> 32) >> (g->ibits + 1);
}

static uint32_t s_next(const cw__graph *g, uint32_t p)
{
    return p + 1 == g->nslots ? 0 : p + 1;
}

static ikey key_of(const cw__graph *g, uint64_t h, uint32_t trace, uint64_t sid)
{
    ikey k = {hash_home(g, h), hash_tag(g, h), trace, sid};
    return k;
}

/* Whether slot value v is an entry whose tag is tag. */
static bool s_tag_is(const cw__graph *g, uint32_t v, uint32_t tag)
{
    return s_entry(g, v) && (v & ~S_TENT) >> g->ibits == tag;
}

/* The node slot value v names when it is an entry of key k, else CW_NIL.
 * A node named by an entry was written before the CAS that placed the
 * entry, and the caller's load of v acquired it; it stays allocated until
 * a grace period after the entry went (the caller is in a read section or
 * is the reclaimer). */
static uint32_t s_match(const cw__graph *g, uint32_t v, const ikey *k)
{
    if (!s_tag_is(g, v, k->tag))
        return CW_NIL;
    uint32_t i = s_node(g, v);
    const cw__node *n = N(g, i);
    return n->trace == k->trace && cw__node_span_id(n) == k->sid ? i : CW_NIL;
}

static bool s_cas(cw__graph *g, uint32_t p, uint32_t *expect, uint32_t desired)
{
    return atomic_compare_exchange_strong_explicit(&g->ns[p], expect, desired,
                                                   memory_order_seq_cst, memory_order_seq_cst);
}

/* Kills or withdraws the tentative entry *v at p; counts the tombstone it
 * leaves. On failure *v is what the slot holds. */
static bool s_kill(cw__graph *g, uint32_t p, uint32_t *v)
{
    if (!s_cas(g, p, v, S_TOMB))
        return false;
    atomic_fetch_add_explicit(&g->stray_tombs, 1, memory_order_relaxed);
    return true;
}

/* Resolves key k: returns its FINAL node, or CW_NIL when it has no entry
 * (the caller claims again). Lock-free: it starts again only after another
 * thread's CAS succeeded. Every load and CAS is seq_cst (see above). */
static uint32_t index_resolve(cw__graph *g, const ikey *k)
{
    for (;;) {
        uint32_t pos[RESOLVE_MAX], val[RESOLVE_MAX];
        uint32_t n = 0, fin = CW_NIL;
        /* Pass 1: the key's entries from home to the first EMPTY slot. */
        uint32_t p = k->home;
        for (uint32_t j = 0; j < g->nslots; j++, p = s_next(g, p)) {
            uint32_t v = atomic_load_explicit(&g->ns[p], memory_order_seq_cst);
            if (v == S_EMPTY)
                break;
            if (s_match(g, v, k) == CW_NIL)
                continue;
            if (!(v & S_TENT))
                fin = v;
            else if (n < RESOLVE_MAX) {
                pos[n] = p;
                val[n++] = v;
            } else {
                s_kill(g, p, &v);
            }
        }
        if (fin != CW_NIL) {
            for (uint32_t i = 0; i < n; i++)
                s_kill(g, pos[i], &val[i]);
            return s_node(g, fin);
        }
        if (!n)
            return CW_NIL;
        /* The lowest wins: kill the others first. A failed kill means the
         * entry became FINAL or went: look again. */
        bool again = false;
        for (uint32_t i = 1; i < n; i++)
            if (!s_kill(g, pos[i], &val[i]))
                again = true;
        if (again)
            continue;
        /* Pass 2, after having seen the winner: its path must be whole,
         * and a PENDING slot on it is vetoed. */
        for (p = k->home; p != pos[0];) {
            uint32_t v = atomic_load_explicit(&g->ns[p], memory_order_seq_cst);
            if (v == S_EMPTY) {
                s_kill(g, pos[0], &val[0]); /* unreachable: withdraw it */
                again = true;
                break;
            }
            if (v == s_pending(g)) {
                if (!s_cas(g, p, &v, S_TOMB))
                    continue; /* it changed, maybe to EMPTY: read it again */
            } else if (s_match(g, v, k) != CW_NIL) {
                again = true; /* a newer entry of the key before the winner */
                break;
            }
            p = s_next(g, p);
        }
        if (again)
            continue;
        uint32_t expect = val[0];
        if (s_cas(g, pos[0], &expect, val[0] & ~S_TENT))
            return s_node(g, val[0]);
    }
}

/* The FINAL node of key k, or CW_NIL: what readers see (a span whose claim
 * is still tentative is not there yet). Wait-free: at most one pass. */
static uint32_t index_find(const cw__graph *g, const ikey *k)
{
    uint32_t p = k->home;
    for (uint32_t j = 0; j < g->nslots; j++, p = s_next(g, p)) {
        /* Acquire pairs with the CAS that placed or finalized the entry. */
        uint32_t v = atomic_load_explicit(&((cw__graph *)g)->ns[p], memory_order_acquire);
        if (v == S_EMPTY)
            return CW_NIL;
        if (!(v & S_TENT)) {
            uint32_t m = s_match(g, v, k);
            if (m != CW_NIL)
                return m;
        }
    }
    return CW_NIL;
}

/* Retires a node whose claim lost (see above). */
static void retire_node(cw__graph *g, uint32_t n)
{
    atomic_fetch_add_explicit(&g->nretired, 1, memory_order_relaxed);
    uint32_t h = atomic_load_explicit(&g->retired, memory_order_relaxed);
    do
        N(g, n)->next_in_trace = h;
    /* Release: the link before the reclaimer's acquire exchange. */
    while (!atomic_compare_exchange_weak_explicit(&g->retired, &h, n, memory_order_release,
                                                  memory_order_relaxed));
}

/* The home slot of node n's key; th is its trace's hash, or 0 to read it
 * from the trace object (the reclaimer: the node and its trace object are
 * live while an entry names the node, and only the reclaimer frees them). */
static uint32_t node_home(const cw__graph *g, uint32_t n, uint64_t th)
{
    const cw__node *nd = N(g, n);
    if (!th)
        th = tid_hash(cw__trace_id(T(g, nd->trace)));
    return hash_home(g, node_hash(th, cw__node_span_id(nd)));
}

/* The slot of node n's entry, from its key's home to the first EMPTY slot,
 * or CW_NIL. */
static uint32_t node_slot(const cw__graph *g, uint32_t n, uint32_t home)
{
    uint32_t p = home;
    for (uint32_t j = 0; j < g->nslots; j++, p = s_next(g, p)) {
        /* Acquire, for the test hook's callers; the reclaimer's own entries
         * change only under it. */
        uint32_t v = atomic_load_explicit(&((cw__graph *)g)->ns[p], memory_order_acquire);
        if (v == S_EMPTY)
            return CW_NIL;
        if ((v & g->imask) == n + 1)
            return p;
    }
    return CW_NIL;
}

/* Cyclic distance from slot a forward to slot b. */
static uint32_t s_dist(const cw__graph *g, uint32_t a, uint32_t b)
{
    return b >= a ? b - a : b + g->nslots - a;
}

/* Tries to turn the tombstone at p into EMPTY (reclaimer only). Returns
 * true when p is no tombstone any more. */
static bool index_empty(cw__graph *g, uint32_t p)
{
    uint32_t pend = s_pending(g), v = S_TOMB;
    if (!s_cas(g, p, &v, pend))
        return v != S_TOMB;
    uint32_t q = s_next(g, p);
    bool crossing = false;
    for (uint32_t j = 1; j < g->nslots; j++, q = s_next(g, q)) {
        uint32_t w = atomic_load_explicit(&g->ns[q], memory_order_seq_cst);
        if (w == S_EMPTY)
            break;
        if (!s_entry(g, w))
            continue;
        /* The entry's run crosses p when p lies in [home, q). */
        uint32_t h = node_home(g, s_node(g, w), 0);
        if (s_dist(g, h, p) < s_dist(g, h, q)) {
            crossing = true;
            break;
        }
    }
    v = pend;
    if (s_cas(g, p, &v, crossing ? S_TOMB : S_EMPTY))
        return !crossing;
    return v != S_TOMB; /* vetoed (TOMB) or claimed */
}

/* Removes node n's FINAL entry (reclaimer, n's trace frozen) and records
 * its slot for emptying. */
/* Appends slot p to one of the reclaimer's slot lists; false when there is
 * no memory for it. */
static bool pos_push(cw__graph *g, uint32_t **v, size_t *n, size_t *cap, uint32_t p)
{
    if (*n == *cap && cw__grow(g->mem, (void **)v, cap, *n + 1, sizeof **v))
        return false;
    (*v)[(*n)++] = p;
    return true;
}

/* Removes node n's FINAL entry (reclaimer, n's trace frozen) and records
 * its slot for emptying. */
static void index_delete(cw__graph *g, uint64_t th, uint32_t n)
{
    uint32_t p = node_slot(g, n, node_home(g, n, th));
    /* A FINAL entry of a frozen trace changes only here. */
    if (p == CW_NIL || (atomic_load_explicit(&g->ns[p], memory_order_relaxed) & S_TENT))
        return;
    atomic_store_explicit(&g->ns[p], S_TOMB, memory_order_seq_cst);
    /* Past a sixteenth of the table the sweep cleans it all. */
    if (g->dpos_lost || g->ndpos >= g->nslots / 16 ||
        !pos_push(g, &g->dpos, &g->ndpos, &g->dpos_cap, p))
        g->dpos_lost = true;
}

/* Remembers a tombstone the reclaimer could not empty, for the next
 * sweep (or counts it when there is no memory for that). */
static void left_add(cw__graph *g, uint32_t p)
{
    if (!pos_push(g, &g->lpos, &g->nlpos, &g->lpos_cap, p))
        g->tombs_lost++;
}

/* Tries to empty every tombstone, from the table's end down, so that each
 * scan stops at slots emptied just before (reclaimer). */
static void index_clean_all(cw__graph *g)
{
    atomic_store_explicit(&g->stray_tombs, 0, memory_order_relaxed);
    g->nlpos = 0;
    g->tombs_lost = 0;
    for (uint32_t p = g->nslots; p-- > 0;)
        if (atomic_load_explicit(&g->ns[p], memory_order_relaxed) == S_TOMB &&
            !index_empty(g, p))
            left_add(g, p);
}

/* After a sweep's deletions: empties the tombstones they left, one by one
 * when they are few, in one pass over the table when they are many (or
 * were not all recorded); tries again those that earlier sweeps could not
 * empty (the live entries that crossed them may have gone); and cleans the
 * whole table when the tombstones no one recorded (inserters' killed and
 * withdrawn claims, and those left without memory to list them) add up to
 * a thirty-second of it. */
static void index_clean(cw__graph *g)
{
    if (g->dpos_lost) {
        index_clean_all(g);
    } else {
        size_t old = g->nlpos, k = 0;
        for (size_t i = g->ndpos; i-- > 0;)
            if (!index_empty(g, g->dpos[i]))
                left_add(g, g->dpos[i]);
        for (size_t i = 0; i < old; i++)
            if (!index_empty(g, g->lpos[i]))
                g->lpos[k++] = g->lpos[i];
        if (k != old)
            memmove(g->lpos + k, g->lpos + old, (g->nlpos - old) * sizeof *g->lpos);
        g->nlpos = k + (g->nlpos - old);
        if (g->tombs_lost + atomic_load_explicit(&g->stray_tombs, memory_order_relaxed) >
            g->nslots / 32)
            index_clean_all(g);
    }
    g->ndpos = 0;
    g->dpos_lost = false;
}

void cw__graph_index_view(cw__graph *g, cw__index_view *out)
{
    out->slots = g->ns;
    out->nslots = g->nslots;
    out->tentative_bit = S_TENT;
    out->tombstone = S_TOMB;
    out->pending = s_pending(g);
}

uint32_t cw__graph_index_entry(cw__graph *g, uint32_t n, uint32_t *home)
{
    *home = node_home(g, n, 0);
    return node_slot(g, n, *home);
}

void cw__graph_index_census(const cw__graph *g, cw__index_census *out)
{
    memset(out, 0, sizeof *out);
    out->slots = g->nslots;
    uint64_t run = 0;
    for (uint32_t p = 0; p < g->nslots; p++) {
        uint32_t v = atomic_load_explicit(&((cw__graph *)g)->ns[p], memory_order_relaxed);
        if (v == S_EMPTY) {
            out->empty++;
            run = 0;
            continue;
        }
        if (++run > out->longest_run)
            out->longest_run = run;
        if (v == S_TOMB)
            out->tombstones++;
        else if (v == s_pending(g))
            out->pending++;
        else if (v & S_TENT)
            out->tentative++;
        else
            out->final++;
    }
}

/* ------------------------------------------------------------ lifecycle */

int cw__graph_new(cw__graph **out, cw__mem *mem, const cw__graph_limits *lim,
                  cw__complete_fn on_complete, void *ctx)
{
    *out = NULL;
    if (lim->budget < 4096)
        return CW_EINVAL;
    cw__graph *g = cw__calloc(mem, sizeof *g);
    if (!g)
        return CW_ENOMEM;
    g->mem = mem;
    g->lim = *lim;
    g->on_complete = on_complete;
    g->ctx = ctx;
    cw__epoch_init(&g->ep);
    uint64_t spans = lim->budget / PLAN_BYTES_PER_SPAN;
    if (spans > CW_NIL - 1024)
        spans = CW_NIL - 1024;
    /* Objects beyond the budget cannot be live, but the budget is checked a
     * batch late (see insert), so pools leave 1/8 slack. */
    uint32_t cap = (uint32_t)(spans + spans / 8 + 1024);
    /* The span index: open addressing cannot grow, so it is sized for the
     * most nodes the graph may hold, and that many stay under three
     * quarters of its slots (with tombstones, which sweeps empty). For
     * the budget's spans: 1.5 slots a planned span, 6 bytes (load 0.67
     * when the budget is full of spans, 0.75 at the node pool's slack).
     * The host may plan for fewer spans than the budget holds
     * (index_spans, e.g. offline analysis, whose budget is sized for the
     * worst case): 4 slots a planned span (load 0.25 as planned), and then
     * at most 3 nodes a planned span (more are refused as out of memory).
     * At most 2^27 nodes, so that a slot's tag keeps 4 bits or more. */
    uint64_t indexed = lim->index_spans && lim->index_spans < spans ? lim->index_spans : spans;
    uint64_t nodes_max = cap < (1u << 27) - 1 ? cap : (1u << 27) - 1;
    uint64_t nslots = spans + spans / 2;
    if (nslots < nodes_max * 4 / 3 + 1)
        nslots = nodes_max * 4 / 3 + 1;
    if (nslots > indexed * 4)
        nslots = indexed * 4;
    if (nslots < 64)
        nslots = 64;
    if (nslots > (1u << 28))
        nslots = 1u << 28;
    if (nodes_max > nslots * 3 / 4)
        nodes_max = nslots * 3 / 4;
    g->nslots = (uint32_t)nslots;
    g->ibits = 1;
    while ((1ull << g->ibits) <= nodes_max)
        g->ibits++;
    g->imask = (1u << g->ibits) - 1;
    int r = cw__pool_init(&g->nodes, mem, sizeof(cw__node), (uint32_t)nodes_max, false);
    if (!r)
        r = cw__pool_init(&g->traces, mem, sizeof(cw__trace), cap, true);
    if (!r)
        r = cw__pool_init(&g->links, mem, sizeof(cw__link_node), cap, false);
    if (!r)
        r = cw__pool_init(&g->exts, mem, sizeof(cw__ext), cap, false);
    /* The trace table keeps hash chains: one bucket for four planned
     * spans, rounded down to a power of two (traces hold several spans; a
     * span's trace is looked up again for most spans, as spans of a trace
     * come interleaved with others', and each step of a chain walk is a
     * cache miss: eight times as many buckets made inserts about 15%
     * faster, twice as many cost 0.5 bytes a span). */
    uint64_t nb = 1u << BUCKET_BITS_MIN;
    while (nb * 2 <= indexed)
        nb <<= 1;
    uint64_t tbn = nb / 4 < (1u << BUCKET_BITS_MIN) ? 1u << BUCKET_BITS_MIN : nb / 4;
    if (!r) {
        g->ns = cw__table_alloc(mem, nslots * sizeof *g->ns);
        g->tb = cw__table_alloc(mem, tbn * sizeof *g->tb);
        if (!g->ns || !g->tb)
            r = CW_ENOMEM;
    }
    g->tmask = g->tb ? tbn - 1 : 0;
    if (r) {
        cw__graph_free(g);
        return r;
    }
    atomic_init(&g->retired, CW_NIL);
    pthread_mutex_init(&g->tick_lock, NULL);
    *out = g;
    return 0;
}

void cw__graph_free(cw__graph *g)
{
    if (!g)
        return;
    cw__pool_destroy(&g->nodes);
    cw__pool_destroy(&g->traces);
    cw__pool_destroy(&g->links);
    cw__pool_destroy(&g->exts);
    bool ready = g->ns && g->tb;
    if (g->ns)
        cw__table_free(g->mem, (void *)g->ns, (size_t)g->nslots * sizeof *g->ns);
    if (g->tb)
        cw__table_free(g->mem, (void *)g->tb, (g->tmask + 1) * sizeof *g->tb);
    cw__free(g->mem, g->done, g->done_cap * sizeof *g->done);
    cw__free(g->mem, g->dpos, g->dpos_cap * sizeof *g->dpos);
    cw__free(g->mem, g->lpos, g->lpos_cap * sizeof *g->lpos);
    gather_release(g, 0);
    if (ready)
        pthread_mutex_destroy(&g->tick_lock);
    cw__free(g->mem, g, sizeof *g);
}

/* -------------------------------------------------------------- payload */

#define DUR_BITS 39
#define DUR_MASK ((1ULL << DUR_BITS) - 1)
#define F_DUR_IN_EXT 0x4u /* internal payload flag: duration high bits in ext */

/* Packs p; *dur_hi gets the duration's high bits when they do not fit. */
static void pack(const cw__payload *p, uint32_t w[CW_PAYLOAD_WORDS], bool *in_ext,
                 uint32_t *dur_hi)
{
    uint64_t d = p->end_ns - p->start_ns; /* two's complement when negative */
    unsigned flags = p->flags & 3u;
    *in_ext = p->end_ns < p->start_ns || d > DUR_MASK;
    *dur_hi = (uint32_t)((int64_t)d >> DUR_BITS);
    if (*in_ext)
        flags |= F_DUR_IN_EXT;
    uint64_t http = p->http_status > 1023 ? 1023 : p->http_status;
    uint64_t packed = (d & DUR_MASK) | http << 39 |
                      (uint64_t)(p->resend_count > 15 ? 15 : p->resend_count) << 49 |
                      (uint64_t)(p->kind > 7 ? 7 : p->kind) << 53 |
                      (uint64_t)(p->status > 3 ? 3 : p->status) << 56 |
                      (uint64_t)(p->trigger & 7) << 58 | (uint64_t)flags << 61;
    w[0] = (uint32_t)(p->start_ns >> 32);
    w[1] = (uint32_t)p->start_ns;
    w[2] = (uint32_t)(packed >> 32);
    w[3] = (uint32_t)packed;
    w[4] = (uint32_t)(p->invocation_id >> 32);
    w[5] = (uint32_t)p->invocation_id;
    w[6] = p->parent;
    w[7] = p->function;
    w[8] = p->name;
    w[9] = p->target;
    w[10] = p->region;
}

static void unpack(const uint32_t w[CW_PAYLOAD_WORDS], cw__payload *p, uint32_t dur_hi)
{
    uint64_t packed = (uint64_t)w[2] << 32 | w[3];
    unsigned flags = (unsigned)(packed >> 61);
    uint64_t d = packed & DUR_MASK;
    if (flags & F_DUR_IN_EXT)
        d |= (uint64_t)(int64_t)(int32_t)dur_hi << DUR_BITS;
    p->start_ns = (uint64_t)w[0] << 32 | w[1];
    p->end_ns = p->start_ns + d;
    p->http_status = (uint16_t)((packed >> 39) & 1023);
    p->resend_count = (uint8_t)((packed >> 49) & 15);
    p->kind = (uint8_t)((packed >> 53) & 7);
    p->status = (uint8_t)((packed >> 56) & 3);
    p->trigger = (uint8_t)((packed >> 58) & 7);
    p->flags = (uint8_t)(flags & 3u);
    p->invocation_id = (uint64_t)w[4] << 32 | w[5];
    p->parent = w[6];
    p->function = w[7];
    p->name = w[8];
    p->target = w[9];
    p->region = w[10];
}

/* Reads the payload words (and the exact end, when stored in ext). */
static bool node_read_raw(const cw__graph *g, const cw__node *n, cw__payload *out)
{
    cw__node *m = (cw__node *)n;
    for (;;) {
        /* Acquire pairs with the writer's final release store of state. */
        uint32_t s1 = atomic_load_explicit(&m->state, memory_order_acquire);
        if (!(s1 & CW_NODE_REAL))
            return false; /* a placeholder, maybe being filled: not yet */
        if (s1 & CW_NODE_WRITING) {
            sched_yield();
            continue;
        }
        uint32_t w[CW_PAYLOAD_WORDS];
        for (int i = 0; i < CW_PAYLOAD_WORDS; i++)
            w[i] = atomic_load_explicit(&m->pw[i], memory_order_relaxed);
        uint32_t dur_hi = 0;
        uint32_t e = atomic_load_explicit(&m->ext, memory_order_acquire);
        if (e != CW_NIL)
            dur_hi = atomic_load_explicit(&X(g, e)->dur_hi, memory_order_relaxed);
        /* Acquire fence: the loads above happen before the re-check. */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&m->state, memory_order_relaxed) == s1) {
            unpack(w, out, dur_hi);
            return true;
        }
    }
}

/* ------------------------------------------------------------ insertion */

typedef struct ins {
    cw__graph *g;
    uint64_t now;
    cw__pool_cache nc, tc, lc, ec;
    /* The trace of the previous span (found LIVE in this batch). */
    uint32_t cur;
    cw__tid cur_id;
    int64_t bytes; /* local budget delta not yet published */
    uint64_t spans, traces, links, dups, moves;
    int oom;
} ins;

static void publish_bytes(ins *s)
{
    if (s->bytes) {
        atomic_fetch_add_explicit(&s->g->bytes_live, s->bytes, memory_order_relaxed);
        s->bytes = 0;
    }
}

static bool over_budget(ins *s)
{
    int64_t live = atomic_load_explicit(&s->g->bytes_live, memory_order_relaxed);
    return live + s->bytes + PLAN_BYTES_PER_SPAN > (int64_t)s->g->lim.budget;
}

/* CAS-pushes element e on a list whose next pointer for e is *nextp. */
static void push(_Atomic uint32_t *head, uint32_t e, uint32_t *nextp, _Atomic uint32_t *anext)
{
    uint32_t h = atomic_load_explicit(head, memory_order_relaxed);
    do {
        if (anext)
            atomic_store_explicit(anext, h, memory_order_relaxed);
        else
            *nextp = h;
        /* Release: e's fields, and its next, before it is reachable. */
    } while (!atomic_compare_exchange_weak_explicit(head, &h, e, memory_order_release,
                                                    memory_order_relaxed));
}

static bool trace_is(const cw__trace *t, cw__tid id)
{
    return cw__tid_eq(cw__trace_id(t), id);
}

static uint32_t find_live_trace(cw__graph *g, cw__tid id, uint32_t from, uint32_t until)
{
    for (uint32_t i = from; i != until && i != CW_NIL;) {
        cw__trace *t = T(g, i);
        if (atomic_load_explicit(&t->sw, memory_order_acquire) == CW_TRACE_LIVE &&
            trace_is(t, id))
            return i;
        i = atomic_load_explicit(&t->hnext, memory_order_acquire);
    }
    return CW_NIL;
}

/* The LIVE trace with this id, created when absent. Returns CW_NIL when out
 * of memory. The insert may write to the trace
 * until its batch leaves its read section: completion freezes a trace and
 * then waits a grace period before reading it (see "Trace lifecycle"). */
static uint32_t trace_get(ins *s, cw__tid id, uint64_t th)
{
    cw__graph *g = s->g;
    _Atomic uint32_t *b = &g->tb[th & g->tmask];
    uint32_t head = bload(b, memory_order_acquire);
    uint32_t t = find_live_trace(g, id, head, CW_NIL);
    if (t != CW_NIL) {
        atomic_store_explicit(&T(g, t)->last_seen, s->now, memory_order_relaxed);
        return t;
    }
    t = cw__pool_get(&g->traces, &s->tc);
    if (t == CW_NIL) {
        s->oom = 1;
        return CW_NIL;
    }
    cw__trace *nt = T(g, t);
    atomic_store_explicit(&nt->idw[0], (uint32_t)(id.hi >> 32), memory_order_relaxed);
    atomic_store_explicit(&nt->idw[1], (uint32_t)id.hi, memory_order_relaxed);
    atomic_store_explicit(&nt->idw[2], (uint32_t)(id.lo >> 32), memory_order_relaxed);
    atomic_store_explicit(&nt->idw[3], (uint32_t)id.lo, memory_order_relaxed);
    atomic_store_explicit(&nt->last_seen, s->now, memory_order_relaxed);
    atomic_store_explicit(&nt->first_seen, s->now, memory_order_relaxed);
    atomic_store_explicit(&nt->nodes, CW_NIL, memory_order_relaxed);
    atomic_store_explicit(&nt->nspans, 0, memory_order_relaxed);
    /* LIVE, published with release: the sweep scans slots, not the table,
     * so it can see the trace before the CAS below links it, and may freeze
     * it; it then waits for this insert's batch like any other. */
    atomic_store_explicit(&nt->sw, CW_TRACE_LIVE, memory_order_release);
    for (;;) {
        atomic_store_explicit(&nt->hnext, head, memory_order_relaxed);
        uint32_t seen = head;
        if (bcas(b, &head, t)) {
            s->traces++;
            s->bytes += TRACE_BYTES;
            return t;
        }
        /* Someone pushed: did they create our trace? */
        uint32_t other = find_live_trace(g, id, head, seen);
        if (other == CW_NIL)
            continue;
        uint32_t mine = CW_TRACE_LIVE;
        if (atomic_compare_exchange_strong_explicit(&nt->sw, &mine, CW_TRACE_FREE,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed)) {
            cw__pool_unget(&g->traces, &s->tc, t);
        } else {
            /* A sweep froze it first: it completes the empty, never linked
             * trace and frees it. Counted as created, as reclamation
             * uncounts it. */
            s->traces++;
            s->bytes += TRACE_BYTES;
        }
        atomic_store_explicit(&T(g, other)->last_seen, s->now, memory_order_relaxed);
        return other;
    }
}

static uint32_t cur_trace(ins *s, cw__tid id, uint64_t th)
{
    if (s->cur != CW_NIL && cw__tid_eq(s->cur_id, id))
        return s->cur;
    s->cur = trace_get(s, id, th);
    s->cur_id = id;
    return s->cur;
}

/* Finds the node (trace, sid) or creates it: REAL with pay when pay is
 * given, else a placeholder. *created tells which. A new node is claimed
 * with a tentative entry and resolved ("Span index"). */
static uint32_t node_get(ins *s, uint32_t trace, uint64_t th, uint64_t sid, const uint32_t *pw,
                         bool *created)
{
    cw__graph *g = s->g;
    ikey k = key_of(g, node_hash(th, sid), trace, sid);
    uint32_t mine = CW_NIL;
    *created = false;
    for (;;) {
        uint32_t fp = CW_NIL, fv = 0;
        bool tent = false;
        uint32_t p = k.home;
        for (uint32_t j = 0; j < g->nslots; j++, p = s_next(g, p)) {
            /* Acquire pairs with the CAS that placed the entry: its node's
             * key was written before. */
            uint32_t v = atomic_load_explicit(&g->ns[p], memory_order_acquire);
            if (!s_entry(g, v)) {
                if (fp == CW_NIL) {
                    fp = p;
                    fv = v;
                }
                if (v == S_EMPTY)
                    break;
                continue;
            }
            uint32_t m = s_match(g, v, &k);
            if (m != CW_NIL) {
                if (!(v & S_TENT)) {
                    if (mine != CW_NIL)
                        cw__pool_unget(&g->nodes, &s->nc, mine);
                    return m;
                }
                tent = true;
                break;
            }
        }
        if (tent) {
            uint32_t r = index_resolve(g, &k);
            if (r != CW_NIL) {
                if (mine != CW_NIL)
                    cw__pool_unget(&g->nodes, &s->nc, mine);
                return r;
            }
            continue;
        }
        if (fp == CW_NIL) {
            /* No free slot in the whole table: the sizing (cw__graph_new)
             * keeps entries under three quarters and sweeps empty the
             * tombstones, so only a stalled reclaimer gets here. */
            if (mine != CW_NIL)
                cw__pool_unget(&g->nodes, &s->nc, mine);
            s->oom = 1;
            return CW_NIL;
        }
        if (mine == CW_NIL) {
            mine = cw__pool_get(&g->nodes, &s->nc);
            if (mine == CW_NIL) {
                s->oom = 1;
                return CW_NIL;
            }
            cw__node *nd = N(g, mine);
            atomic_store_explicit(&nd->sid[0], (uint32_t)(sid >> 32), memory_order_relaxed);
            atomic_store_explicit(&nd->sid[1], (uint32_t)sid, memory_order_relaxed);
            nd->trace = trace;
            atomic_store_explicit(&nd->first_child, CW_NIL, memory_order_relaxed);
            atomic_store_explicit(&nd->ext, CW_NIL, memory_order_relaxed);
            nd->next_sibling = CW_NIL;
            uint32_t st = CW_NODE_VER; /* placeholder, version 1 */
            if (pw) {
                for (int i = 0; i < CW_PAYLOAD_WORDS; i++)
                    atomic_store_explicit(&nd->pw[i], pw[i], memory_order_relaxed);
                st |= CW_NODE_REAL; /* the caller stores an exact end in ext */
            }
            atomic_store_explicit(&nd->state, st, memory_order_relaxed);
        }
        /* seq_cst: the claim, then resolve's loads (Dekker with the
         * reclaimer's mark and scan); its release side publishes the
         * node written above. */
        uint32_t claim = s_value(g, k.tag, mine) | S_TENT;
        if (!s_cas(g, fp, &fv, claim))
            continue;
        uint32_t r = index_resolve(g, &k);
        if (r != mine) {
            /* Lost, or cut off: withdraw the claim, unless a helper made
             * it FINAL meanwhile. */
            uint32_t v = claim;
            if (!s_kill(g, fp, &v) && v == (claim & ~S_TENT))
                r = mine;
        }
        if (r == mine) {
            cw__trace *t = T(g, trace);
            push(&t->nodes, mine, &N(g, mine)->next_in_trace, NULL);
            s->bytes += NODE_BYTES;
            *created = true;
            return mine;
        }
        retire_node(g, mine);
        mine = CW_NIL;
        if (r != CW_NIL)
            return r;
    }
}

/* The node's extension, created on first need. */
static cw__ext *ext_of(ins *s, uint32_t n)
{
    cw__graph *g = s->g;
    cw__node *nd = N(g, n);
    uint32_t e = atomic_load_explicit(&nd->ext, memory_order_acquire);
    if (e != CW_NIL)
        return X(g, e);
    uint32_t ne = cw__pool_get(&g->exts, &s->ec);
    if (ne == CW_NIL) {
        s->oom = 1;
        return NULL;
    }
    cw__ext *x = X(g, ne);
    atomic_store_explicit(&x->dur_hi, 0, memory_order_relaxed);
    atomic_store_explicit(&x->links_out, CW_NIL, memory_order_relaxed);
    atomic_store_explicit(&x->links_in, CW_NIL, memory_order_relaxed);
    atomic_store_explicit(&x->moved_in, CW_NIL, memory_order_relaxed);
    uint32_t expect = CW_NIL;
    /* acq_rel: release publishes the zeroed extension; acquire on failure
     * reads the winner's. */
    if (atomic_compare_exchange_strong_explicit(&nd->ext, &expect, ne, memory_order_acq_rel,
                                                memory_order_acquire)) {
        s->bytes += EXT_BYTES;
        return x;
    }
    cw__pool_unget(&g->exts, &s->ec, ne);
    return X(g, expect);
}

static void store_dur_hi(ins *s, uint32_t n, uint32_t dur_hi)
{
    cw__ext *x = ext_of(s, n);
    if (x)
        atomic_store_explicit(&x->dur_hi, dur_hi, memory_order_relaxed);
}

/* Rewrites a node's payload under its seqlock. Returns false when another
 * writer holds it: this copy is then ordered before that one (both arrived
 * together; either order is a valid "later copy wins"). */
static bool node_write(ins *s, uint32_t n, const uint32_t *pw, bool in_ext, uint32_t dur_hi,
                       uint32_t *old_state)
{
    cw__node *nd = N(s->g, n);
    uint32_t st = atomic_load_explicit(&nd->state, memory_order_relaxed);
    do {
        if (st & CW_NODE_WRITING)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&nd->state, &st, st | CW_NODE_WRITING,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed));
    *old_state = st;
    /* Release fence: the WRITING state is ordered before the word stores
     * (a reader that sees a new word then sees WRITING or a newer state). */
    atomic_thread_fence(memory_order_release);
    if (in_ext)
        store_dur_hi(s, n, dur_hi);
    for (int i = 0; i < CW_PAYLOAD_WORDS; i++)
        atomic_store_explicit(&nd->pw[i], pw[i], memory_order_relaxed);
    atomic_store_explicit(&nd->state, ((st & ~CW_NODE_WRITING) + CW_NODE_VER) | CW_NODE_REAL,
                          memory_order_release);
    return true;
}

static void add_child(ins *s, uint32_t parent, uint32_t child)
{
    cw__node *p = N(s->g, parent);
    push(&p->first_child, child, &N(s->g, child)->next_sibling, NULL);
}

/* A duplicate moved child to parent: reference it from the new parent. */
static void add_moved_child(ins *s, uint32_t parent, uint32_t child)
{
    cw__graph *g = s->g;
    cw__ext *x = ext_of(s, parent);
    if (!x)
        return;
    for (uint32_t r = atomic_load_explicit(&x->moved_in, memory_order_acquire); r != CW_NIL;
         r = atomic_load_explicit(&L(g, r)->next_in, memory_order_acquire))
        if ((L(g, r)->src & ~CW_LINK_CHILD_REF) == child)
            return; /* moved here before */
    uint32_t l = cw__pool_get(&g->links, &s->lc);
    if (l == CW_NIL) {
        s->oom = 1;
        return;
    }
    cw__link_node *ln = L(g, l);
    atomic_store_explicit(&ln->dsid[0], 0, memory_order_relaxed);
    atomic_store_explicit(&ln->dsid[1], 0, memory_order_relaxed);
    memset(ln->dtid, 0, sizeof ln->dtid);
    ln->src = child | CW_LINK_CHILD_REF;
    atomic_store_explicit(&ln->dst, parent, memory_order_relaxed);
    ln->next_out = CW_NIL;
    push(&x->moved_in, l, NULL, &ln->next_in);
    s->bytes += LINK_BYTES;
}

static bool has_link(cw__graph *g, uint32_t n, const cw__link *l)
{
    uint32_t e = atomic_load_explicit(&N(g, n)->ext, memory_order_acquire);
    if (e == CW_NIL)
        return false;
    for (uint32_t i = atomic_load_explicit(&X(g, e)->links_out, memory_order_acquire);
         i != CW_NIL; i = L(g, i)->next_out)
        if (cw__link_dst_span(L(g, i)) == l->span_id &&
            cw__tid_eq(cw__link_dst_trace(L(g, i)), l->trace))
            return true;
    return false;
}

static void add_link(ins *s, uint32_t src, uint32_t src_trace, const cw__link *l)
{
    cw__graph *g = s->g;
    cw__ext *sx = ext_of(s, src);
    if (!sx)
        return;
    uint32_t li = cw__pool_get(&g->links, &s->lc);
    if (li == CW_NIL) {
        s->oom = 1;
        return;
    }
    cw__link_node *ln = L(g, li);
    atomic_store_explicit(&ln->dsid[0], (uint32_t)(l->span_id >> 32), memory_order_relaxed);
    atomic_store_explicit(&ln->dsid[1], (uint32_t)l->span_id, memory_order_relaxed);
    ln->dtid[0] = (uint32_t)(l->trace.hi >> 32);
    ln->dtid[1] = (uint32_t)l->trace.hi;
    ln->dtid[2] = (uint32_t)(l->trace.lo >> 32);
    ln->dtid[3] = (uint32_t)l->trace.lo;
    ln->src = src;
    atomic_store_explicit(&ln->dst, CW_NIL, memory_order_relaxed);
    atomic_store_explicit(&ln->next_in, CW_NIL, memory_order_relaxed);
    s->bytes += LINK_BYTES;
    s->links++;

    /* The target: a node (maybe a placeholder) in the target's live trace,
     * created when absent, since a consumer may come before its producer.
     * The link is indexed on the target only while the target trace lives;
     * its ids stay in the link either way. */
    bool same = cw__tid_eq(l->trace, s->cur_id);
    uint32_t tt = same ? src_trace : trace_get(s, l->trace, tid_hash(l->trace));
    if (tt != CW_NIL) {
        bool created;
        uint32_t dst = node_get(s, tt, tid_hash(l->trace), l->span_id, NULL, &created);
        cw__ext *dx = dst != CW_NIL ? ext_of(s, dst) : NULL;
        if (dx) {
            atomic_store_explicit(&ln->dst, dst, memory_order_relaxed);
            push(&dx->links_in, li, NULL, &ln->next_in);
        }
    }
    push(&sx->links_out, li, &ln->next_out, NULL);
}

static bool node_in_children(cw__graph *g, uint32_t parent, uint32_t child)
{
    for (uint32_t c = atomic_load_explicit(&N(g, parent)->first_child, memory_order_acquire);
         c != CW_NIL; c = N(g, c)->next_sibling)
        if (c == child)
            return true;
    uint32_t e = atomic_load_explicit(&N(g, parent)->ext, memory_order_acquire);
    if (e != CW_NIL)
        for (uint32_t r = atomic_load_explicit(&X(g, e)->moved_in, memory_order_acquire);
             r != CW_NIL; r = atomic_load_explicit(&L(g, r)->next_in, memory_order_acquire))
            if ((L(g, r)->src & ~CW_LINK_CHILD_REF) == child)
                return true;
    return false;
}

static void insert_one(ins *s, const cw__batch *b, const cw__span *sp, uint64_t th)
{
    cw__graph *g = s->g;
    uint32_t t = cur_trace(s, sp->trace, th);
    if (t == CW_NIL)
        return;
    uint32_t parent = CW_NIL;
    bool created;
    if (sp->parent_id) {
        parent = node_get(s, t, th, sp->parent_id, NULL, &created);
        if (parent == CW_NIL)
            return;
    }
    cw__payload p = {
        .start_ns = sp->start_ns,
        .end_ns = sp->end_ns,
        .invocation_id = sp->invocation_id,
        .parent = parent,
        .function = sp->function,
        .name = sp->name,
        .target = sp->target,
        .region = sp->region,
        .http_status = sp->http_status,
        .resend_count = sp->resend_count > 15 ? 15 : (uint8_t)sp->resend_count,
        .kind = sp->kind,
        .status = sp->status,
        .flags = sp->flags,
        .trigger = sp->trigger,
    };
    uint32_t w[CW_PAYLOAD_WORDS], dur_hi;
    bool end_in_ext;
    pack(&p, w, &end_in_ext, &dur_hi);
    /* A span whose exact end goes to ext is created as a placeholder and
     * filled under the seqlock, so that no reader sees it REAL without its
     * end. */
    uint32_t n = node_get(s, t, th, sp->span_id, end_in_ext ? NULL : w, &created);
    if (n == CW_NIL)
        return;
    bool dup = false;
    if (created && !end_in_ext) {
        if (parent != CW_NIL)
            add_child(s, parent, n);
    } else {
        uint32_t old;
        if (!node_write(s, n, w, end_in_ext, dur_hi, &old)) {
            /* Another copy is being written at this instant: ours is
             * ordered before it, and its writer keeps the structure. */
            dup = true;
        } else if (!(old & CW_NODE_REAL)) {
            /* Filled a placeholder, which was in no child list yet. */
            if (parent != CW_NIL)
                add_child(s, parent, n);
        } else {
            dup = true;
            /* The node stays in its first parent's child list (readers skip
             * it there once its parent changed); a new parent gets a
             * reference to it. */
            if (parent != CW_NIL && !node_in_children(g, parent, n)) {
                s->moves++;
                add_moved_child(s, parent, n);
            }
        }
    }
    if (dup) {
        s->dups++;
    } else {
        s->spans++;
        atomic_fetch_add_explicit(&T(g, t)->nspans, 1, memory_order_relaxed);
    }
    /* Links of a duplicate are merged with those already held. */
    for (uint32_t k = 0; k < sp->link_count; k++) {
        const cw__link *l = &b->links[sp->link_first + k];
        if (dup && has_link(g, n, l))
            continue;
        add_link(s, n, t, l);
    }
}

#define PF 8

/* Prefetches with write intent (rw = 1; PREFETCHW, see meson.build) fetch
 * a line that will be written in exclusive state at once: with several
 * writers the index and the traces' lines are often held modified by
 * another core, and a read prefetch followed by a CAS costs two transfers
 * of the line instead of one. The span's own home slot takes its claim (a
 * CAS) in the common case; the trace object takes the last_seen store and the
 * node list push; the parent node takes the child push.
 *
 * prefetch_slots() is inlined by force: GCC 12 finds a function made only
 * of prefetches free of side effects and drops its calls (objdump showed
 * no bucket prefetch in the insert loop until it was inlined). */
CW_INLINE void prefetch_slots(const cw__graph *g, const cw__span *sp)
{
    uint64_t th = tid_hash(sp->trace);
    __builtin_prefetch(&g->tb[th & g->tmask]);
    __builtin_prefetch(&g->ns[hash_home(g, node_hash(th, sp->span_id))], 1);
    if (sp->parent_id)
        __builtin_prefetch(&g->ns[hash_home(g, node_hash(th, sp->parent_id))]);
}

/* Slots a prefetch looks through for the key's tag. */
#define PF_PROBE 8

/* Prefetches the node whose entry carries the key's tag, if its home's
 * slots (fetched by now) show one. */
static void prefetch_hit(const cw__graph *g, uint64_t h, bool write)
{
    uint32_t tag = hash_tag(g, h), p = hash_home(g, h);
    for (int j = 0; j < PF_PROBE; j++, p = s_next(g, p)) {
        /* Relaxed: a prefetch hint; the real loads acquire. */
        uint32_t v = atomic_load_explicit(&((cw__graph *)g)->ns[p], memory_order_relaxed);
        if (v == S_EMPTY)
            return;
        if (s_tag_is(g, v, tag)) {
            if (write)
                __builtin_prefetch(N(g, s_node(g, v)), 1);
            else
                __builtin_prefetch(N(g, s_node(g, v)));
            return;
        }
    }
}

static void prefetch_objects(const cw__graph *g, const cw__span *sp)
{
    uint64_t th = tid_hash(sp->trace);
    uint32_t t = atomic_load_explicit(&g->tb[th & g->tmask], memory_order_relaxed) - 1u;
    if (t != CW_NIL)
        __builtin_prefetch(cw__pool_at(&g->traces, t), 1);
    prefetch_hit(g, node_hash(th, sp->span_id), false);
    if (sp->parent_id)
        prefetch_hit(g, node_hash(th, sp->parent_id), true);
}

int cw__graph_insert(cw__graph *g, const cw__batch *b, uint64_t now, cw__insert_result *res)
{
    ins s;
    memset(&s, 0, sizeof s);
    s.g = g;
    s.now = now;
    s.cur = CW_NIL;
    memset(res, 0, sizeof *res);
    cw__rs rs = cw__read_lock(&g->ep);
    size_t i = 0;
    for (; i < b->n; i++) {
        if ((i & 63) == 0) {
            publish_bytes(&s);
            if (over_budget(&s))
                break;
        }
        /* Inserts are bound by cache misses on slots and objects. Their
         * addresses depend only on the records, so they are prefetched
         * ahead: home slots and trace buckets PF spans ahead, the nodes
         * and traces they name PF/2 ahead (the slots fetched by then). */
        if (i + PF < b->n)
            prefetch_slots(g, &b->spans[i + PF]);
        if (i + PF / 2 < b->n)
            prefetch_objects(g, &b->spans[i + PF / 2]);
        uint64_t before = s.spans + s.dups;
        insert_one(&s, b, &b->spans[i], tid_hash(b->spans[i].trace));
        if (s.oom && s.spans + s.dups == before) {
            /* Could not place this span (pools at capacity or no memory). */
            res->rejected_nomem++;
            s.oom = 0;
        }
    }
    publish_bytes(&s);
    cw__read_unlock(&g->ep, rs);
    cw__pool_cache_release(&g->nodes, &s.nc);
    cw__pool_cache_release(&g->traces, &s.tc);
    cw__pool_cache_release(&g->links, &s.lc);
    cw__pool_cache_release(&g->exts, &s.ec);

    res->accepted = s.spans + s.dups;
    res->duplicates = s.dups;
    res->rejected_budget = b->n - i;
    atomic_fetch_add_explicit(&g->spans_live, s.spans, memory_order_relaxed);
    atomic_fetch_add_explicit(&g->traces_live, s.traces, memory_order_relaxed);
    atomic_fetch_add_explicit(&g->links_live, s.links, memory_order_relaxed);
    atomic_fetch_add_explicit(&g->duplicates, s.dups, memory_order_relaxed);
    atomic_fetch_add_explicit(&g->parent_changes, s.moves, memory_order_relaxed);
    return res->rejected_budget ? CW_EBUDGET : 0;
}

/* ---------------------------------------------------------- reclamation */

/* Removes x from a CAS-pushed list (reclaimer only, invariant 2). A bucket
 * head is index + 1 (see bload). */
static void list_remove(_Atomic uint32_t *head, bool bucket, uint32_t x,
                        _Atomic uint32_t *(*next)(cw__graph *, uint32_t), cw__graph *g)
{
    uint32_t xn = atomic_load_explicit(next(g, x), memory_order_relaxed);
    uint32_t h = x;
    if (bucket ? bcas(head, &h, xn)
               : atomic_compare_exchange_strong_explicit(head, &h, xn, memory_order_release,
                                                         memory_order_acquire))
        return;
    /* Not the head (or no longer): find the predecessor. Pushes only add
     * at the head, so x is still reachable from it. */
    for (uint32_t p = h; p != CW_NIL;) {
        _Atomic uint32_t *pn = next(g, p);
        uint32_t nx = atomic_load_explicit(pn, memory_order_acquire);
        if (nx == x) {
            atomic_store_explicit(pn, xn, memory_order_release);
            return;
        }
        p = nx;
    }
}

static _Atomic uint32_t *trace_hnext(cw__graph *g, uint32_t i)
{
    return &T(g, i)->hnext;
}

static _Atomic uint32_t *link_next_in(cw__graph *g, uint32_t i)
{
    return &L(g, i)->next_in;
}

/* Room for one more completing trace; false when out of memory. Made
 * before freezing: a trace frozen and then not listed would stay frozen,
 * neither live nor ever completed. */
static bool done_room(cw__graph *g)
{
    return g->ndone < g->done_cap ||
           !cw__grow(g->mem, (void **)&g->done, &g->done_cap, g->ndone + 1, sizeof *g->done);
}

/* Moves a LIVE trace to COMPLETING. Inserts that found it LIVE may still
 * write to it until the grace period complete_and_reclaim() waits. */
static bool freeze(cw__graph *g, uint32_t t)
{
    uint32_t live = CW_TRACE_LIVE;
    /* Relaxed: the epoch flip that follows in cw__epoch_sync() is seq_cst
     * (a release), and an insert entering after it acquires it. */
    return atomic_compare_exchange_strong_explicit(&T(g, t)->sw, &live, CW_TRACE_COMPLETING,
                                                   memory_order_relaxed, memory_order_relaxed);
}

/* Frees objects after the grace period. */
typedef struct freelist {
    uint32_t *v;
    size_t n, cap;
} freelist;

static void fl_add(cw__graph *g, freelist *f, uint32_t i)
{
    if (f->n == f->cap && cw__grow(g->mem, (void **)&f->v, &f->cap, f->n + 1, sizeof *f->v))
        return; /* leaks the object until the graph is freed; counted below */
    f->v[f->n++] = i;
}

/* The node lists of the completing traces, gathered into g->dnodes (trace
 * i's at g->dfirst[i]..). A list walk is a chain of dependent cache misses:
 * walked one after another they left the memory system idle, and the walk
 * was half of the analysis' time. Here up to GATHER_LANES walks advance in
 * turn, each prefetching its next node, so their misses overlap; the
 * (trace, node) pairs this yields in mixed order are then put in trace order
 * by a stable counting sort. Returns false when out of memory. */
#define GATHER_LANES 16

static bool gather(cw__graph *g)
{
    size_t nd = g->ndone, np = 0, guess = 0;
    for (size_t i = 0; i < nd; i++)
        guess += atomic_load_explicit(&T(g, g->done[i])->nspans, memory_order_relaxed);
    /* Real spans, plus some placeholders; the pairs grow if there are more. */
    if (!gather_grow(g, (void **)&g->dfirst, &g->dfirst_cap, nd + 1, sizeof *g->dfirst, 0) ||
        !gather_grow(g, (void **)&g->pairs, &g->pairs_cap, guess + guess / 8 + 16,
                     sizeof *g->pairs, 0))
        return false;
    uint32_t lt[GATHER_LANES], lc[GATHER_LANES];
    unsigned active = 0;
    size_t next = 0;
    for (;;) {
        /* Fill idle lanes with the next traces (heads acquire: they pair with
         * the release that published each node). */
        while (active < GATHER_LANES && next < nd) {
            uint32_t h = atomic_load_explicit(&T(g, g->done[next])->nodes, memory_order_acquire);
            if (h != CW_NIL) {
                __builtin_prefetch(N(g, h));
                lt[active] = (uint32_t)next;
                lc[active++] = h;
            }
            next++;
        }
        if (!active)
            break;
        for (unsigned l = 0; l < active;) {
            if (np == g->pairs_cap && !gather_grow(g, (void **)&g->pairs, &g->pairs_cap, np + 1,
                                                   sizeof *g->pairs, np))
                return false;
            uint32_t c = lc[l];
            g->pairs[np++] = (gpair){lt[l], c};
            uint32_t nx = N(g, c)->next_in_trace;
            if (nx != CW_NIL) {
                __builtin_prefetch(N(g, nx));
                lc[l++] = nx;
            } else {
                active--;
                lt[l] = lt[active];
                lc[l] = lc[active];
            }
        }
    }
    if (!gather_grow(g, (void **)&g->dnodes, &g->dnodes_cap, np, sizeof *g->dnodes, 0))
        return false;
    size_t *first = g->dfirst;
    memset(first, 0, (nd + 1) * sizeof *first);
    for (size_t i = 0; i < np; i++)
        first[g->pairs[i].t + 1]++;
    for (size_t i = 0; i < nd; i++)
        first[i + 1] += first[i];
    /* Place each pair at its trace's next free slot; first[t] ends one
     * trace further, so it is rebuilt from the counts afterwards. */
    for (size_t i = 0; i < np; i++)
        g->dnodes[first[g->pairs[i].t]++] = g->pairs[i].node;
    for (size_t i = nd; i > 0; i--)
        first[i] = first[i - 1];
    first[0] = 0;
    return true;
}

/* Removes one node from the span index and its links from their targets'
 * lists; queues what it frees. */
static void unlink_node(cw__graph *g, uint32_t t, uint64_t th, uint32_t n, freelist *fn,
                        freelist *fl, freelist *fe)
{
    cw__node *nd = N(g, n);
    index_delete(g, th, n);
    uint32_t e = atomic_load_explicit(&nd->ext, memory_order_acquire);
    if (e != CW_NIL) {
        cw__ext *x = X(g, e);
        /* Our links: leave their targets' in-lists. */
        for (uint32_t l = atomic_load_explicit(&x->links_out, memory_order_acquire);
             l != CW_NIL; l = L(g, l)->next_out) {
            uint32_t d = atomic_load_explicit(&L(g, l)->dst, memory_order_acquire);
            if (d != CW_NIL) {
                uint32_t de = atomic_load_explicit(&N(g, d)->ext, memory_order_acquire);
                list_remove(&X(g, de)->links_in, false, l, link_next_in, g);
            }
            fl_add(g, fl, l);
        }
        /* Links into us from other traces: their target is gone. */
        for (uint32_t l = atomic_load_explicit(&x->links_in, memory_order_acquire);
             l != CW_NIL; l = atomic_load_explicit(&L(g, l)->next_in, memory_order_acquire))
            if (N(g, L(g, l)->src)->trace != t)
                atomic_store_explicit(&L(g, l)->dst, CW_NIL, memory_order_release);
        for (uint32_t r = atomic_load_explicit(&x->moved_in, memory_order_acquire);
             r != CW_NIL; r = atomic_load_explicit(&L(g, r)->next_in, memory_order_acquire))
            fl_add(g, fl, r);
        fl_add(g, fe, e);
    }
    fl_add(g, fn, n);
}

/* How far ahead unlink_nodes() prefetches a node, and a node's home slot. */
#define UNLINK_PF_NODE 16
#define UNLINK_PF_SLOT 8

/* Removes a trace's nodes from the span index, from its gathered list (or
 * its own list when nodes is NULL), prefetching ahead: first the node (its
 * span id gives the home slot), then the slot. */
static void unlink_nodes(cw__graph *g, uint32_t t, const uint32_t *nodes, size_t nn,
                         freelist *fn, freelist *fl, freelist *fe)
{
    uint64_t th = tid_hash(cw__trace_id(T(g, t)));
    if (!nodes) {
        for (uint32_t n = atomic_load_explicit(&T(g, t)->nodes, memory_order_acquire);
             n != CW_NIL;) {
            uint32_t next = N(g, n)->next_in_trace;
            unlink_node(g, t, th, n, fn, fl, fe);
            n = next;
        }
        return;
    }
    for (size_t i = 0; i < nn; i++) {
        if (i + UNLINK_PF_NODE < nn)
            __builtin_prefetch(N(g, nodes[i + UNLINK_PF_NODE]));
        if (i + UNLINK_PF_SLOT < nn)
            __builtin_prefetch(&g->ns[hash_home(
                g, node_hash(th, cw__node_span_id(N(g, nodes[i + UNLINK_PF_SLOT]))))]);
        unlink_node(g, t, th, nodes[i], fn, fl, fe);
    }
}


static void unlink_trace(cw__graph *g, uint32_t t, const uint32_t *nodes, size_t nn,
                         freelist *fn, freelist *fl, freelist *fe)
{
    cw__trace *tr = T(g, t);
    unlink_nodes(g, t, nodes, nn, fn, fl, fe);
    list_remove(&g->tb[tid_hash(cw__trace_id(tr)) & g->tmask], true, t, trace_hnext, g);
    atomic_store_explicit(&tr->sw, CW_TRACE_DEAD, memory_order_release);
}

static uint64_t complete_and_reclaim(cw__graph *g)
{
    uint64_t n = g->ndone;
    /* Acquire pairs with retire_node()'s release push. */
    uint32_t ret = atomic_exchange_explicit(&g->retired, CW_NIL, memory_order_acquire);
    if (!n && ret == CW_NIL)
        return 0;
    freelist fn = {0}, fl = {0}, fe = {0}, fr = {0};
    uint64_t spans = 0;
    if (n) {
        /* Every insert that found these traces LIVE has left its read
         * section: the traces are frozen. */
        cw__epoch_sync(&g->ep);
        bool gathered = gather(g);
        cw__completion c = {g->done, g->ndone, gathered ? g->dnodes : NULL,
                            gathered ? g->dfirst : NULL};
        if (g->on_complete)
            g->on_complete(g->ctx, g, &c);
        for (size_t i = 0; i < g->ndone; i++) {
            spans += atomic_load_explicit(&T(g, g->done[i])->nspans, memory_order_relaxed);
            unlink_trace(g, g->done[i], c.nodes ? c.nodes + c.first[i] : NULL,
                         c.nodes ? c.first[i + 1] - c.first[i] : 0, &fn, &fl, &fe);
        }
        index_clean(g);
        gather_release(g, GATHER_KEEP_BYTES);
    }
    for (uint32_t r = ret; r != CW_NIL; r = N(g, r)->next_in_trace)
        fl_add(g, &fr, r);
    cw__epoch_sync(&g->ep);
    cw__pool_free_many(&g->nodes, fn.v, (uint32_t)fn.n);
    cw__pool_free_many(&g->nodes, fr.v, (uint32_t)fr.n);
    atomic_fetch_sub_explicit(&g->nretired, fr.n, memory_order_relaxed);
    cw__pool_free_many(&g->links, fl.v, (uint32_t)fl.n);
    cw__pool_free_many(&g->exts, fe.v, (uint32_t)fe.n);
    for (size_t i = 0; i < g->ndone; i++)
        atomic_store_explicit(&T(g, g->done[i])->sw, CW_TRACE_FREE, memory_order_relaxed);
    if (n)
        cw__pool_free_many(&g->traces, g->done, (uint32_t)g->ndone);
    int64_t bytes = (int64_t)fn.n * NODE_BYTES + (int64_t)fl.n * LINK_BYTES +
                    (int64_t)fe.n * EXT_BYTES + (int64_t)n * TRACE_BYTES;
    atomic_fetch_sub_explicit(&g->bytes_live, bytes, memory_order_relaxed);
    atomic_fetch_sub_explicit(&g->spans_live, spans, memory_order_relaxed);
    atomic_fetch_sub_explicit(&g->traces_live, n, memory_order_relaxed);
    atomic_fetch_sub_explicit(&g->links_live, fl.n, memory_order_relaxed);
    atomic_fetch_add_explicit(&g->traces_completed, n, memory_order_relaxed);
    cw__free(g->mem, fn.v, fn.cap * sizeof *fn.v);
    cw__free(g->mem, fl.v, fl.cap * sizeof *fl.v);
    cw__free(g->mem, fe.v, fe.cap * sizeof *fe.v);
    cw__free(g->mem, fr.v, fr.cap * sizeof *fr.v);
    g->ndone = 0;
    return n;
}

static uint64_t sweep(cw__graph *g, uint64_t now, bool all)
{
    pthread_mutex_lock(&g->tick_lock);
    uint32_t hw = atomic_load_explicit(&g->traces.bump, memory_order_acquire);
    if (hw > g->traces.max)
        hw = g->traces.max;
    for (uint32_t t = 0; t < hw; t++) {
        /* Slots below the bump counter whose chunk is not there yet were
         * never handed out. Acquire on sw pairs with the release that made
         * a new trace LIVE, after its fields were written. */
        cw__trace *tr = cw__pool_at_if(&g->traces, t);
        if (!tr || atomic_load_explicit(&tr->sw, memory_order_acquire) != CW_TRACE_LIVE)
            continue;
        uint64_t last = atomic_load_explicit(&tr->last_seen, memory_order_relaxed);
        uint64_t first = atomic_load_explicit(&tr->first_seen, memory_order_relaxed);
        bool due = all || (now >= last && now - last >= g->lim.idle_ns) ||
                   (now >= first && now - first >= g->lim.max_age_ns);
        if (!due)
            continue;
        if (!done_room(g))
            break; /* no memory for the list: the rest on a later tick */
        if (freeze(g, t))
            g->done[g->ndone++] = t;
    }
    uint64_t n = complete_and_reclaim(g);
    pthread_mutex_unlock(&g->tick_lock);
    return n;
}

uint64_t cw__graph_tick(cw__graph *g, uint64_t now)
{
    return sweep(g, now, false);
}

uint64_t cw__graph_flush(cw__graph *g)
{
    return sweep(g, 0, true);
}

/* -------------------------------------------------------------- reading */

cw__rs cw__graph_read_lock(cw__graph *g)
{
    return cw__read_lock(&g->ep);
}

void cw__graph_read_unlock(cw__graph *g, cw__rs rs)
{
    cw__read_unlock(&g->ep, rs);
}

const cw__node *cw__graph_node(const cw__graph *g, uint32_t i)
{
    return N(g, i);
}

const cw__trace *cw__graph_trace(const cw__graph *g, uint32_t i)
{
    return T(g, i);
}

const cw__link_node *cw__graph_link(const cw__graph *g, uint32_t i)
{
    return L(g, i);
}

const cw__ext *cw__graph_ext(const cw__graph *g, uint32_t i)
{
    return X(g, i);
}

bool cw__graph_node_read(const cw__graph *g, uint32_t i, cw__payload *out)
{
    return node_read_raw(g, N(g, i), out);
}

uint32_t cw__graph_find_trace(cw__graph *g, cw__tid id)
{
    return find_live_trace(g, id, bload(&g->tb[tid_hash(id) & g->tmask], memory_order_acquire),
                           CW_NIL);
}

uint32_t cw__graph_find_node(cw__graph *g, uint32_t trace, uint64_t sid)
{
    ikey k = key_of(g, node_hash(tid_hash(cw__trace_id(T(g, trace))), sid), trace, sid);
    return index_find(g, &k);
}

static bool parent_is(const cw__graph *g, uint32_t child, uint32_t parent)
{
    cw__payload p;
    return cw__graph_node_read(g, child, &p) && p.parent == parent;
}

void cw__children_begin(const cw__graph *g, uint32_t i, cw__child_iter *it)
{
    it->i = i;
    it->phase = 0;
    it->next = atomic_load_explicit(&N(g, i)->first_child, memory_order_acquire);
}

uint32_t cw__children_next(const cw__graph *g, cw__child_iter *it)
{
    for (;;) {
        if (it->next == CW_NIL) {
            if (it->phase == 1)
                return CW_NIL;
            it->phase = 1;
            uint32_t e = atomic_load_explicit(&N(g, it->i)->ext, memory_order_acquire);
            it->next = e == CW_NIL ? CW_NIL
                                   : atomic_load_explicit(&X(g, e)->moved_in,
                                                          memory_order_acquire);
            continue;
        }
        uint32_t c, cur = it->next;
        if (it->phase == 0) {
            c = cur;
            it->next = N(g, cur)->next_sibling;
        } else {
            c = L(g, cur)->src & ~CW_LINK_CHILD_REF;
            it->next = atomic_load_explicit(&L(g, cur)->next_in, memory_order_acquire);
        }
        /* A duplicate may have moved the child elsewhere. */
        if (parent_is(g, c, it->i))
            return c;
    }
}

uint32_t cw__links_out(const cw__graph *g, uint32_t i)
{
    uint32_t e = atomic_load_explicit(&N(g, i)->ext, memory_order_acquire);
    return e == CW_NIL ? CW_NIL : atomic_load_explicit(&X(g, e)->links_out, memory_order_acquire);
}

uint32_t cw__links_in(const cw__graph *g, uint32_t i)
{
    uint32_t e = atomic_load_explicit(&N(g, i)->ext, memory_order_acquire);
    return e == CW_NIL ? CW_NIL : atomic_load_explicit(&X(g, e)->links_in, memory_order_acquire);
}

/* ----------------------------------------------------------------- stats */

void cw__graph_stats_get(const cw__graph *g, cw__graph_stats *out)
{
    cw__graph *m = (cw__graph *)g;
    out->spans_live = atomic_load_explicit(&m->spans_live, memory_order_relaxed);
    /* Retired nodes (lost claims) wait for a sweep: not live. */
    uint64_t in_use = atomic_load_explicit(&m->nodes.in_use, memory_order_relaxed);
    uint64_t retired = atomic_load_explicit(&m->nretired, memory_order_relaxed);
    out->nodes_live = in_use > retired ? in_use - retired : 0;
    out->traces_live = atomic_load_explicit(&m->traces_live, memory_order_relaxed);
    out->links_live = atomic_load_explicit(&m->links_live, memory_order_relaxed);
    out->traces_completed = atomic_load_explicit(&m->traces_completed, memory_order_relaxed);
    out->duplicates = atomic_load_explicit(&m->duplicates, memory_order_relaxed);
    out->parent_changes = atomic_load_explicit(&m->parent_changes, memory_order_relaxed);
    int64_t b = atomic_load_explicit(&m->bytes_live, memory_order_relaxed);
    out->bytes_live = b > 0 ? (uint64_t)b : 0;
    out->bytes_index = ((uint64_t)g->nslots + g->tmask + 1) * sizeof(uint32_t);
}

uint64_t cw__graph_bytes(const cw__graph *g)
{
    cw__graph_stats st;
    cw__graph_stats_get(g, &st);
    return st.bytes_live + st.bytes_index;
}
