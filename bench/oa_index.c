/*
 * Two open-addressing reference points for the graph scenario (graph.c).
 *
 * cas-table: the index baseline that issue 3 quotes ("an open-addressing
 * table with CAS on 64-bit slots inserted 20 M keys/s on one thread and
 * 30 M/s on two ... 10 M 24-byte keys"), rebuilt so that a run can tell
 * how the machine of the run compares with the machine of the issue. The
 * plain loop, no software prefetch: the textbook table.
 *
 * oa-prototype: the graph's insert work per span (lib/graph/graph.c,
 * insert_one) on open-addressing indexes instead of hash chains, with the
 * same two-stage prefetch as the graph: what a redesign of the span index
 * could reach on the same workload. It is NOT a span graph and must not be
 * read as one: nothing is ever deleted (the reclaimer's side of the
 * deletion protocol of docs/graph-index.md is not here), there is no budget, no links, no duplicate rewrite (a second copy of a span
 * only fills a placeholder), no extension objects. What it does per span,
 * as the graph does: find or create the trace (an atomic registration on
 * it, as the graph's), find or create the parent (a placeholder when
 * absent), find or create the span (fill its placeholder under a
 * seqlock-style state, or create it with its payload), push it on the
 * parent's child list and the trace's node list with CAS.
 *
 * Why the comparison is worth a figure: a hash-chain lookup that misses
 * walks the whole chain and one that hits walks to its node, one
 * dependent cache miss per node, and the keys live in the 80-byte nodes
 * (DRAM at a million spans); an open-addressing slot carries a tag of the
 * key's hash next to the node index, so a miss is answered by the slot's
 * line alone and a hit goes straight to its node, both prefetchable.
 *
 * Node slots follow the insert side of that protocol, so that the figure
 * includes its cost: a new key is claimed with a TENTATIVE entry in the
 * first tombstone or empty slot of its probe run, then resolved (pass 1
 * over the run, losers killed, pass 2 up to the winner, CAS to FINAL;
 * oa_resolve). Without a reclaimer no slot ever turns empty, so pass 2
 * never finds a broken path here. Trace slots are claimed directly (the
 * graph keeps its chained trace table in this plan). graph.c checks after
 * every run that the prototype holds as many nodes as the graph.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define OA_NIL UINT32_MAX

/* ------------------------------------------------------------ cas-table */

/* The key: 24 bytes (a trace id and a span id). */
typedef struct cas_key {
    uint64_t w[3];
} cas_key;

struct cwb_cas {
    cas_key *keys;
    size_t nkeys;
    _Atomic uint64_t *slots;
    uint64_t mask;
    _Atomic size_t next; /* next chunk of keys to insert */
};

/* Keys a writer takes at a time from the shared counter. */
#define CAS_CHUNK 4096

static uint64_t cas_hash(const cas_key *k)
{
    return cw__mix64(k->w[0] ^ cw__mix64(k->w[1] ^ cw__mix64(k->w[2])));
}

int cwb_cas_new(cwb_cas **out, size_t nkeys)
{
    *out = NULL;
    cwb_cas *t = calloc(1, sizeof *t);
    if (!t)
        return CW_ENOMEM;
    /* Load 0.6 at 10 M keys (2^24 slots, 128 MB), a usual open-addressing
     * load factor. */
    size_t cap = cwb_pow2_at_least(nkeys + nkeys / 2);
    t->nkeys = nkeys;
    t->mask = cap - 1;
    t->keys = malloc(nkeys * sizeof *t->keys);
    /* On huge pages, as every table of the graph scenario (bench.h). */
    t->slots = cwb_huge_alloc(cap * sizeof *t->slots);
    if (!t->keys || !t->slots) {
        cwb_cas_free(t);
        return CW_ENOMEM;
    }
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < nkeys; i++)
        for (int j = 0; j < 3; j++)
            t->keys[i].w[j] = cwb_xorshift(&rng);
    *out = t;
    return 0;
}

void cwb_cas_free(cwb_cas *t)
{
    if (!t)
        return;
    free(t->keys);
    free((void *)t->slots);
    free(t);
}

static void cas_insert(cwb_cas *t, size_t i)
{
    const cas_key *k = &t->keys[i];
    uint64_t h = cas_hash(k), tag = h >> 32, mine = tag << 32 | (i + 1);
    for (uint64_t p = h & t->mask;; p = (p + 1) & t->mask) {
        /* Acquire pairs with the release CAS that filled the slot: the
         * key it names was written before it. */
        uint64_t s = atomic_load_explicit(&t->slots[p], memory_order_acquire);
        if (!s && atomic_compare_exchange_strong_explicit(&t->slots[p], &s, mine,
                                                          memory_order_release,
                                                          memory_order_acquire))
            return;
        if (s >> 32 == tag && !memcmp(&t->keys[(uint32_t)s - 1], k, sizeof *k))
            return; /* present (no key repeats in this workload) */
    }
}

void cwb_cas_reset(cwb_cas *t)
{
    memset((void *)t->slots, 0, (t->mask + 1) * sizeof *t->slots);
    atomic_store_explicit(&t->next, 0, memory_order_relaxed);
}

size_t cwb_cas_work(cwb_cas *t)
{
    size_t done = 0;
    for (;;) {
        size_t b = atomic_fetch_add_explicit(&t->next, CAS_CHUNK, memory_order_relaxed);
        if (b >= t->nkeys)
            return done;
        size_t e = b + CAS_CHUNK < t->nkeys ? b + CAS_CHUNK : t->nkeys;
        for (size_t i = b; i < e; i++)
            cas_insert(t, i);
        done += e - b;
    }
}

/* --------------------------------------------------------- oa-prototype */

/* 76 bytes used, as a graph node (lib/graph cw__node, which lost its
 * chain link to the open-addressing index); 80 with the padding its 64-bit
 * key brings. */
typedef struct oa_node {
    uint64_t sid;
    uint32_t trace;
    uint32_t next_in_trace;
    _Atomic uint32_t state; /* 1: real, 2: writing, version above */
    _Atomic uint32_t first_child;
    uint32_t next_sibling;
    uint32_t ext;
    _Atomic uint32_t pw[11]; /* payload words, as the graph's */
    uint32_t pad;
} oa_node;

_Static_assert(sizeof(oa_node) == 80, "76 bytes and the padding");

typedef struct oa_trace {
    uint64_t hi, lo;
    _Atomic uint64_t last_seen;
    _Atomic uint32_t sw; /* registrations << 2 | live, as the graph's */
    _Atomic uint32_t nodes;
    _Atomic uint32_t nspans;
    uint32_t pad;
} oa_trace;

struct cwb_oa {
    cw__mem mem;
    _Atomic uint32_t *ns, *ts; /* node and trace slots */
    uint64_t nmask, tmask;
    unsigned ibits;            /* index bits of a slot (see oa_slot) */
    oa_node *nodes;
    oa_trace *traces;
    size_t ncap, tcap;
    _Atomic uint32_t nbump, tbump;
    uint64_t gen; /* tells the thread caches of one table from another's */
};

/* Objects a thread takes from the shared counters at a time, as the
 * graph's pool caches (CW_POOL_SEG) do, so that the counters' line is not
 * written once per object. */
#define OA_CACHE 256

typedef struct oa_cache {
    uint32_t lo, hi;
} oa_cache;

/* Per thread, not per insert call: a call's leftovers cannot go back to a
 * bump counter, and 256 objects wasted per 512-span batch would run the
 * tables out. Valid for the table whose gen they carry. */
static _Thread_local struct {
    uint64_t gen;
    oa_cache nc, tc;
} oa_tcache;
static _Atomic uint64_t oa_gen;

static uint32_t oa_take(_Atomic uint32_t *ctr, uint32_t cap, oa_cache *c)
{
    if (c->lo == c->hi) {
        c->lo = atomic_fetch_add_explicit(ctr, OA_CACHE, memory_order_relaxed);
        c->hi = c->lo + OA_CACHE;
    }
    return c->lo < cap ? c->lo++ : OA_NIL;
}

int cwb_oa_new(cwb_oa **out, size_t spans, size_t traces)
{
    *out = NULL;
    cwb_oa *t = calloc(1, sizeof *t);
    if (!t)
        return CW_ENOMEM;
    /* The graph's pools and tables come from huge-page regions and are not
     * touched before use; so do these. Slots at load 0.5 or less. */
    cw__mem_init(&t->mem, NULL);
    t->gen = atomic_fetch_add_explicit(&oa_gen, 1, memory_order_relaxed) + 1;
    size_t nslots = cwb_pow2_at_least(2 * spans), tslots = cwb_pow2_at_least(2 * traces);
    t->nmask = nslots - 1;
    t->tmask = tslots - 1;
    /* Placeholders that never get their span, and the per-thread caches'
     * unused tails. */
    t->ncap = spans + spans / 8 + OA_CACHE * CWB_MAX_THREADS;
    t->tcap = traces + traces / 8 + OA_CACHE * CWB_MAX_THREADS;
    size_t most = t->ncap > t->tcap ? t->ncap : t->tcap;
    t->ibits = 1;
    while (((size_t)1 << t->ibits) <= most + 1)
        t->ibits++;
    if (t->ibits > 27) { /* keep a tag of 4 bits or more */
        free(t);
        return CW_EINVAL;
    }
    t->ns = cw__table_alloc(&t->mem, nslots * sizeof *t->ns);
    t->ts = cw__table_alloc(&t->mem, tslots * sizeof *t->ts);
    t->nodes = cw__table_alloc(&t->mem, t->ncap * sizeof *t->nodes);
    t->traces = cw__table_alloc(&t->mem, t->tcap * sizeof *t->traces);
    if (!t->ns || !t->ts || !t->nodes || !t->traces) {
        cwb_oa_free(t);
        return CW_ENOMEM;
    }
    *out = t;
    return 0;
}

void cwb_oa_free(cwb_oa *t)
{
    if (!t)
        return;
    cw__table_free(&t->mem, (void *)t->ns, (t->nmask + 1) * sizeof *t->ns);
    cw__table_free(&t->mem, (void *)t->ts, (t->tmask + 1) * sizeof *t->ts);
    cw__table_free(&t->mem, t->nodes, t->ncap * sizeof *t->nodes);
    cw__table_free(&t->mem, t->traces, t->tcap * sizeof *t->traces);
    free(t);
}

size_t cwb_oa_index_bytes(const cwb_oa *t)
{
    return (t->nmask + 1 + t->tmask + 1) * sizeof(uint32_t);
}

static uint64_t oa_tid_hash(cw__tid id)
{
    return cw__mix64(id.hi ^ cw__mix64(id.lo));
}

static uint64_t oa_node_hash(uint64_t th, uint64_t sid)
{
    return cw__mix64(sid ^ th);
}

/* A slot is 32 bits: 0 empty, else tag << ibits | (index + 1), where ibits
 * holds the larger capacity + 1 and the tag is the top 31 - ibits bits of
 * the hash's high half (10 bits at a million spans), and in the node index
 * bit 31 marks a tentative entry: a 4-byte slot, so that
 * the index fits the graph's 96 bytes a span (a node without its chain link
 * is 76). A tag that matches by chance (1 in 2^11 per occupied slot
 * probed) costs one node read; the key decides. */
/* Bit 31 of a node slot: the entry is TENTATIVE (docs/graph-index.md). A
 * tombstone is the bit alone (no index: not an entry). */
#define OA_TENT 0x80000000u
#define OA_TOMB OA_TENT

static uint32_t oa_tag(const cwb_oa *t, uint64_t h)
{
    return (uint32_t)(h >> 32) >> (t->ibits + 1);
}

static uint32_t oa_slot(const cwb_oa *t, uint32_t tag, uint32_t i)
{
    return tag << t->ibits | (i + 1);
}

static bool oa_is_entry(const cwb_oa *t, uint32_t v)
{
    return (v & ((1u << t->ibits) - 1)) != 0;
}

static bool oa_tag_is(const cwb_oa *t, uint32_t v, uint32_t tag)
{
    return oa_is_entry(t, v) && (v & ~OA_TENT) >> t->ibits == tag;
}

static uint32_t oa_index_of(const cwb_oa *t, uint32_t v)
{
    return (v & ((1u << t->ibits) - 1)) - 1;
}

static void oa_push(_Atomic uint32_t *head, uint32_t e, uint32_t *nextp)
{
    uint32_t h = atomic_load_explicit(head, memory_order_relaxed);
    do
        *nextp = h;
    /* Release: e's fields and its next before e is reachable. */
    while (!atomic_compare_exchange_weak_explicit(head, &h, e, memory_order_release,
                                                  memory_order_relaxed));
}

typedef struct oa_ins {
    cwb_oa *t;
    uint64_t now;
    oa_cache *nc, *tc;
    int oom;
} oa_ins;

/* Finds the trace or creates it, and registers on it. */
static uint32_t oa_trace_get(oa_ins *s, cw__tid id, uint64_t th)
{
    cwb_oa *t = s->t;
    uint32_t tag = oa_tag(t, th);
    uint32_t mine = OA_NIL;
    for (uint64_t p = th & t->tmask;; p = (p + 1) & t->tmask) {
        /* Acquire pairs with the release CAS below: the trace's id. */
        uint32_t v = atomic_load_explicit(&t->ts[p], memory_order_acquire);
        if (!v) {
            if (mine == OA_NIL) {
                mine = oa_take(&t->tbump, (uint32_t)t->tcap, s->tc);
                if (mine == OA_NIL) {
                    s->oom = 1;
                    return OA_NIL;
                }
                oa_trace *tr = &t->traces[mine];
                tr->hi = id.hi;
                tr->lo = id.lo;
                atomic_store_explicit(&tr->last_seen, s->now, memory_order_relaxed);
                atomic_store_explicit(&tr->nodes, OA_NIL, memory_order_relaxed);
                atomic_store_explicit(&tr->nspans, 0, memory_order_relaxed);
                atomic_store_explicit(&tr->sw, 1 + 4, memory_order_relaxed);
            }
            if (atomic_compare_exchange_strong_explicit(&t->ts[p], &v, oa_slot(t, tag, mine),
                                                        memory_order_release,
                                                        memory_order_acquire))
                return mine;
        }
        if (oa_tag_is(t, v, tag)) {
            oa_trace *tr = &t->traces[oa_index_of(t, v)];
            if (tr->hi == id.hi && tr->lo == id.lo) {
                /* A trace object claimed but not placed stays unused: the
                 * prototype has no way back to its cache (rare: two
                 * threads creating one trace at once). acq_rel, as the
                 * graph's registration. */
                atomic_fetch_add_explicit(&tr->sw, 4, memory_order_acq_rel);
                atomic_store_explicit(&tr->last_seen, s->now, memory_order_relaxed);
                return oa_index_of(t, v);
            }
        }
    }
}

/* The node that slot value v names when it is an entry of key (trace,
 * sid), else OA_NIL. */
static uint32_t oa_match(const cwb_oa *t, uint32_t v, uint32_t tag, uint32_t trace,
                         uint64_t sid)
{
    if (!oa_tag_is(t, v, tag))
        return OA_NIL;
    uint32_t i = oa_index_of(t, v);
    const oa_node *n = &t->nodes[i];
    return n->sid == sid && n->trace == trace ? i : OA_NIL;
}

/* Entries of one key a resolve keeps track of: a key has at most one
 * entry per thread inserting it at the same instant, plus its final one. */
#define OA_RESOLVE_MAX 16

/* The insert-side steps of the deletion protocol (docs/graph-index.md:
 * pass 1, kills, pass 2, finalize), which the prototype pays so that its
 * figure is the protocol's, not a table that never deletes: returns the
 * key's FINAL node, or OA_NIL when the key has no entry. Loads and CASes
 * are seq_cst there (the Dekker pairs with the reclaimer); on x86 that
 * costs nothing over acquire/acq_rel. There is no reclaimer here, so no
 * PENDING slots to veto. */
static uint32_t oa_resolve(cwb_oa *t, uint64_t h, uint32_t tag, uint32_t trace, uint64_t sid)
{
    for (;;) {
        uint64_t pos[OA_RESOLVE_MAX];
        uint32_t val[OA_RESOLVE_MAX];
        int n = 0, fin = -1;
        for (uint64_t p = h & t->nmask;; p = (p + 1) & t->nmask) {
            uint32_t v = atomic_load_explicit(&t->ns[p], memory_order_seq_cst);
            if (!v)
                break;
            if (n < OA_RESOLVE_MAX && oa_match(t, v, tag, trace, sid) != OA_NIL) {
                if (!(v & OA_TENT))
                    fin = n;
                pos[n] = p;
                val[n++] = v;
            }
        }
        if (fin >= 0) {
            for (int i = 0; i < n; i++)
                if (val[i] & OA_TENT)
                    atomic_compare_exchange_strong_explicit(&t->ns[pos[i]], &val[i], OA_TOMB,
                                                            memory_order_seq_cst,
                                                            memory_order_seq_cst);
            return oa_index_of(t, val[fin]);
        }
        if (!n)
            return OA_NIL;
        bool again = false;
        for (int i = 1; i < n; i++)
            if (!atomic_compare_exchange_strong_explicit(&t->ns[pos[i]], &val[i], OA_TOMB,
                                                         memory_order_seq_cst,
                                                         memory_order_seq_cst))
                again = true; /* it became FINAL or went */
        if (again)
            continue;
        for (uint64_t p = h & t->nmask; p != pos[0]; p = (p + 1) & t->nmask) {
            uint32_t v = atomic_load_explicit(&t->ns[p], memory_order_seq_cst);
            if (!v) { /* the winner's path is broken: withdraw it */
                atomic_compare_exchange_strong_explicit(&t->ns[pos[0]], &val[0], OA_TOMB,
                                                        memory_order_seq_cst,
                                                        memory_order_seq_cst);
                again = true;
                break;
            }
            if (oa_match(t, v, tag, trace, sid) != OA_NIL) {
                again = true; /* a newer entry before the winner */
                break;
            }
        }
        if (again)
            continue;
        uint32_t f = val[0] & ~OA_TENT;
        if (atomic_compare_exchange_strong_explicit(&t->ns[pos[0]], &val[0], f,
                                                    memory_order_seq_cst, memory_order_seq_cst))
            return oa_index_of(t, f);
    }
}

/* Finds node (trace, sid) or creates it (real with pw, else a
 * placeholder); *created tells which. A created node is claimed with a
 * tentative entry and resolved (the protocol's insert side). */
static uint32_t oa_node_get(oa_ins *s, uint32_t trace, uint64_t th, uint64_t sid,
                            const uint32_t *pw, bool *created)
{
    cwb_oa *t = s->t;
    uint64_t h = oa_node_hash(th, sid);
    uint32_t tag = oa_tag(t, h);
    uint32_t mine = OA_NIL;
    *created = false;
    for (;;) {
        uint64_t fp = UINT64_MAX;
        uint32_t fv = 0;
        uint32_t tent = OA_NIL;
        for (uint64_t p = h & t->nmask;; p = (p + 1) & t->nmask) {
            /* Acquire pairs with the release side of the CAS that placed
             * an entry: its node's key. */
            uint32_t v = atomic_load_explicit(&t->ns[p], memory_order_acquire);
            if (!v || v == OA_TOMB) {
                if (fp == UINT64_MAX) {
                    fp = p;
                    fv = v;
                }
                if (!v)
                    break;
                continue;
            }
            uint32_t m = oa_match(t, v, tag, trace, sid);
            if (m != OA_NIL) {
                if (!(v & OA_TENT))
                    return m;
                tent = m;
                break;
            }
        }
        if (tent != OA_NIL) {
            uint32_t r = oa_resolve(t, h, tag, trace, sid);
            if (r != OA_NIL)
                return r;
            continue;
        }
        if (mine == OA_NIL) {
            mine = oa_take(&t->nbump, (uint32_t)t->ncap, s->nc);
            if (mine == OA_NIL) {
                s->oom = 1;
                return OA_NIL;
            }
            oa_node *n = &t->nodes[mine];
            n->sid = sid;
            n->trace = trace;
            n->next_sibling = OA_NIL;
            n->ext = OA_NIL;
            atomic_store_explicit(&n->first_child, OA_NIL, memory_order_relaxed);
            if (pw)
                for (int i = 0; i < 11; i++)
                    atomic_store_explicit(&n->pw[i], pw[i], memory_order_relaxed);
            atomic_store_explicit(&n->state, pw ? 4u | 1u : 4u, memory_order_relaxed);
        }
        if (!atomic_compare_exchange_strong_explicit(&t->ns[fp], &fv,
                                                     oa_slot(t, tag, mine) | OA_TENT,
                                                     memory_order_seq_cst,
                                                     memory_order_relaxed))
            continue;
        uint32_t r = oa_resolve(t, h, tag, trace, sid);
        if (r == mine) {
            oa_push(&t->traces[trace].nodes, mine, &t->nodes[mine].next_in_trace);
            *created = true;
            return mine;
        }
        /* Lost (another copy won, or ours was withdrawn): a helper may
         * have read our node, so it is not reused (the graph would retire
         * it through the reclaimer; the prototype leaks it). */
        mine = OA_NIL;
        if (r != OA_NIL)
            return r;
    }
}

/* Slot prefetch PF spans ahead, then the object its tag names PF/2 ahead:
 * the graph's two stages (graph.c). Inlined by force: GCC drops calls of a
 * function made only of prefetches (see graph.c). */
#define OA_PF 8

CW_INLINE void oa_prefetch_slots(const cwb_oa *t, const cw__span *sp)
{
    uint64_t th = oa_tid_hash(sp->trace);
    __builtin_prefetch((const void *)&t->ts[th & t->tmask]);
    __builtin_prefetch((const void *)&t->ns[oa_node_hash(th, sp->span_id) & t->nmask], 1);
    if (sp->parent_id)
        __builtin_prefetch((const void *)&t->ns[oa_node_hash(th, sp->parent_id) & t->nmask]);
}

static void oa_prefetch_hit(const cwb_oa *t, _Atomic uint32_t *slots, uint64_t mask, uint64_t h,
                            const void *base, size_t elem)
{
    uint32_t tag = oa_tag(t, h);
    for (uint64_t p = h & mask;; p = (p + 1) & mask) {
        /* Relaxed: a prefetch hint; the real load is acquire. */
        uint32_t v = atomic_load_explicit(&slots[p], memory_order_relaxed);
        if (!v)
            return;
        if (oa_tag_is(t, v, tag)) {
            __builtin_prefetch((const char *)base + (size_t)oa_index_of(t, v) * elem, 1);
            return;
        }
    }
}

static void oa_prefetch_objects(const cwb_oa *t, const cw__span *sp)
{
    uint64_t th = oa_tid_hash(sp->trace);
    oa_prefetch_hit(t, t->ts, t->tmask, th, t->traces, sizeof *t->traces);
    oa_prefetch_hit(t, t->ns, t->nmask, oa_node_hash(th, sp->span_id), t->nodes,
                    sizeof *t->nodes);
    if (sp->parent_id)
        oa_prefetch_hit(t, t->ns, t->nmask, oa_node_hash(th, sp->parent_id), t->nodes,
                        sizeof *t->nodes);
}

static void oa_insert_one(oa_ins *s, const cw__span *sp, uint32_t trace, uint64_t th)
{
    cwb_oa *t = s->t;
    uint32_t parent = OA_NIL;
    bool created;
    if (sp->parent_id) {
        parent = oa_node_get(s, trace, th, sp->parent_id, NULL, &created);
        if (parent == OA_NIL)
            return;
    }
    /* The graph's payload words (cw__payload packed): times, invocation,
     * parent and the interned strings; the flag bits go with the kind. */
    uint32_t pw[11] = {
        (uint32_t)(sp->start_ns >> 32), (uint32_t)sp->start_ns,
        (uint32_t)(sp->end_ns - sp->start_ns),
        (uint32_t)sp->http_status << 16 | (uint32_t)sp->kind << 8 | sp->status,
        (uint32_t)(sp->invocation_id >> 32), (uint32_t)sp->invocation_id, parent, sp->function,
        sp->name, sp->target, sp->region,
    };
    uint32_t n = oa_node_get(s, trace, th, sp->span_id, pw, &created);
    if (n == OA_NIL)
        return;
    oa_node *nd = &t->nodes[n];
    if (!created) {
        uint32_t st = atomic_load_explicit(&nd->state, memory_order_relaxed);
        if (st & 1u)
            return; /* a duplicate: the first copy stays (see the top) */
        if (!atomic_compare_exchange_strong_explicit(&nd->state, &st, st | 2u,
                                                     memory_order_relaxed,
                                                     memory_order_relaxed))
            return; /* another copy is filling it */
        /* The graph's seqlock write: WRITING before the words. */
        atomic_thread_fence(memory_order_release);
        for (int i = 0; i < 11; i++)
            atomic_store_explicit(&nd->pw[i], pw[i], memory_order_relaxed);
        atomic_store_explicit(&nd->state, ((st & ~2u) + 4u) | 1u, memory_order_release);
    }
    if (parent != OA_NIL)
        oa_push(&t->nodes[parent].first_child, n, &nd->next_sibling);
    atomic_fetch_add_explicit(&t->traces[trace].nspans, 1, memory_order_relaxed);
}

size_t cwb_oa_insert(cwb_oa *t, const cw__batch *b, uint64_t now)
{
    if (oa_tcache.gen != t->gen) {
        memset(&oa_tcache, 0, sizeof oa_tcache);
        oa_tcache.gen = t->gen;
    }
    oa_ins s = {.t = t, .now = now, .nc = &oa_tcache.nc, .tc = &oa_tcache.tc};
    uint32_t cur = OA_NIL;
    cw__tid cur_id = {0, 0};
    size_t done = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (i + OA_PF < b->n)
            oa_prefetch_slots(t, &b->spans[i + OA_PF]);
        if (i + OA_PF / 2 < b->n)
            oa_prefetch_objects(t, &b->spans[i + OA_PF / 2]);
        const cw__span *sp = &b->spans[i];
        uint64_t th = oa_tid_hash(sp->trace);
        if (cur == OA_NIL || !cw__tid_eq(cur_id, sp->trace)) {
            /* Release, as the graph's unregistration. */
            if (cur != OA_NIL)
                atomic_fetch_sub_explicit(&t->traces[cur].sw, 4, memory_order_release);
            cur = oa_trace_get(&s, sp->trace, th);
            cur_id = sp->trace;
            if (cur == OA_NIL)
                break;
        }
        oa_insert_one(&s, sp, cur, th);
        if (s.oom)
            break;
        done++;
    }
    if (cur != OA_NIL)
        atomic_fetch_sub_explicit(&t->traces[cur].sw, 4, memory_order_release);
    return done;
}

unsigned cwb_oa_walk(cwb_oa *t, cw__tid id)
{
    uint64_t th = oa_tid_hash(id);
    uint32_t tag = oa_tag(t, th);
    unsigned seen = 0;
    for (uint64_t p = th & t->tmask;; p = (p + 1) & t->tmask) {
        uint32_t v = atomic_load_explicit(&t->ts[p], memory_order_acquire);
        if (!v)
            return 0;
        if (!oa_tag_is(t, v, tag))
            continue;
        const oa_trace *tr = &t->traces[oa_index_of(t, v)];
        if (tr->hi != id.hi || tr->lo != id.lo)
            continue;
        /* Acquire pairs with the release pushes of the lists. */
        for (uint32_t n = atomic_load_explicit(&((oa_trace *)tr)->nodes, memory_order_acquire);
             n != OA_NIL; n = t->nodes[n].next_in_trace) {
            for (uint32_t c = atomic_load_explicit(&t->nodes[n].first_child,
                                                   memory_order_acquire);
                 c != OA_NIL; c = t->nodes[c].next_sibling)
                seen++;
            seen++;
        }
        return seen;
    }
}

size_t cwb_oa_nodes(const cwb_oa *t)
{
    size_t n = 0;
    for (uint64_t p = 0; p <= t->nmask; p++) {
        uint32_t v = atomic_load_explicit(&t->ns[p], memory_order_relaxed);
        n += oa_is_entry(t, v) && !(v & OA_TENT);
    }
    return n;
}
