/*
 * lib/graph: the lock-free span graph.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "graphutil.h"

/* --------------------------------------------------------------- basics */

Test(graph_structure, parent_children_and_placeholders)
{
    gfx f;
    gfx_init(&f, 1 << 20);
    /* Child first: its parent becomes a placeholder. */
    cw__span a = mk(1, 0x10, 0, 1), b = mk(1, 0x11, 0x10, 2), c = mk(1, 0x12, 0x10, 3);
    cr_assert_eq(insert_spans(&f, &b, 1, NULL, 0, 0), 0);
    char *s = canon_of(&f, 1);
    cr_assert_str_eq(s, "0000000000000010 placeholder children=11, out= in=\n"
                        "0000000000000011 real parent=0000000000000010 name=2 end=2017 "
                        "children= out= in=\n");
    free(s);
    cr_assert_eq(insert_spans(&f, &c, 1, NULL, 0, 0), 0);
    cr_assert_eq(insert_spans(&f, &a, 1, NULL, 0, 0), 0);
    s = canon_of(&f, 1);
    cr_assert_str_eq(s, "0000000000000010 real parent=0000000000000000 name=1 end=2016 "
                        "children=11,12, out= in=\n"
                        "0000000000000011 real parent=0000000000000010 name=2 end=2017 "
                        "children= out= in=\n"
                        "0000000000000012 real parent=0000000000000010 name=3 end=2018 "
                        "children= out= in=\n");
    free(s);
    cw__graph_stats st;
    cw__graph_stats_get(f.g, &st);
    cr_assert_eq(st.spans_live, 3);
    cr_assert_eq(st.nodes_live, 3);
    cr_assert_eq(st.traces_live, 1);
    gfx_free(&f);
}

Test(graph_structure, links_both_directions_across_traces)
{
    gfx f;
    gfx_init(&f, 1 << 20);
    /* Consumer (trace 2) before its producer (trace 1). */
    cw__span cons = mk(2, 0x20, 0, 5);
    cons.kind = CW_KIND_CONSUMER;
    lk l = {0, 1, 0x10};
    cr_assert_eq(insert_spans(&f, &cons, 1, &l, 1, 0), 0);
    char *p = canon_of(&f, 1);
    cr_assert_str_eq(p, "0000000000000010 placeholder children= out= in=20,\n",
                     "the producer's trace holds a placeholder that knows its consumer");
    free(p);
    cw__span prod = mk(1, 0x10, 0, 4);
    prod.kind = CW_KIND_PRODUCER;
    cr_assert_eq(insert_spans(&f, &prod, 1, NULL, 0, 0), 0);
    p = canon_of(&f, 1);
    cr_assert_str_eq(p, "0000000000000010 real parent=0000000000000000 name=4 end=2016 "
                        "children= out= in=20,\n");
    free(p);
    char *c = canon_of(&f, 2);
    cr_assert_str_eq(c, "0000000000000020 real parent=0000000000000000 name=5 end=2032 "
                        "children= out=11, in=\n");
    free(c);
    gfx_free(&f);
}

/* Every order of arrival gives the same graph: a trace of 7 spans with a
 * deep chain, a fan-out, an orphan and a link to another trace, inserted in
 * all 5,040 orders. */
Test(graph_structure, every_arrival_order_gives_the_same_graph)
{
    cw__span sp[7] = {
        mk(1, 0xa, 0, 1),     mk(1, 0xb, 0xa, 2), mk(1, 0xc, 0xa, 3), mk(1, 0xd, 0xb, 4),
        mk(1, 0xe, 0xd, 5),   mk(1, 0xf, 0xc, 6), mk(1, 0x77, 0x99, 7), /* orphan */
    };
    lk links[2] = {{4, 2, 0x50}, {1, 1, 0xf}}; /* cross-trace and same-trace */
    gfx f;
    gfx_init(&f, 1 << 20);
    cr_assert_eq(insert_spans(&f, sp, 7, links, 2, 0), 0);
    char *want1 = canon_of(&f, 1), *want2 = canon_of(&f, 2);
    gfx_free(&f);

    int perm[7] = {0, 1, 2, 3, 4, 5, 6}, c[7] = {0};
    unsigned count = 0;
    /* Heap's algorithm, iterative. */
    for (int i = 0;;) {
        cw__span order[7];
        lk ol[2];
        for (int k = 0; k < 7; k++) {
            order[k] = sp[perm[k]];
            for (int m = 0; m < 2; m++)
                if (links[m].from == perm[k]) {
                    ol[m] = links[m];
                    ol[m].from = k;
                }
        }
        gfx_init(&f, 1 << 20);
        /* One span per batch, so every span meets the others as a later
         * arrival. */
        for (int k = 0; k < 7; k++) {
            lk one[2];
            size_t no = 0;
            for (int m = 0; m < 2; m++)
                if (ol[m].from == k) {
                    one[no] = ol[m];
                    one[no++].from = 0;
                }
            cr_assert_eq(insert_spans(&f, &order[k], 1, one, no, 0), 0);
        }
        char *got1 = canon_of(&f, 1), *got2 = canon_of(&f, 2);
        cr_assert_str_eq(got1, want1, "permutation %u", count);
        cr_assert_str_eq(got2, want2, "permutation %u", count);
        free(got1);
        free(got2);
        gfx_free(&f);
        count++;
        while (i < 7 && c[i] >= i) {
            c[i] = 0;
            i++;
        }
        if (i >= 7)
            break;
        int j = (i % 2) ? c[i] : 0, t = perm[j];
        perm[j] = perm[i];
        perm[i] = t;
        c[i]++;
        i = 0;
    }
    cr_assert_eq(count, 5040);
    free(want1);
    free(want2);
}

Test(graph_duplicates, later_copy_wins_and_counts_once)
{
    gfx f;
    gfx_init(&f, 1 << 20);
    cw__span a = mk(1, 0x10, 0, 1), b = mk(1, 0x11, 0x10, 2), b2 = mk(1, 0x11, 0x10, 9);
    b2.end_ns = 5000;
    cr_assert_eq(insert_spans(&f, &a, 1, NULL, 0, 0), 0);
    cr_assert_eq(insert_spans(&f, &b, 1, NULL, 0, 0), 0);
    cr_assert_eq(insert_spans(&f, &b2, 1, NULL, 0, 0), 0);
    char *s = canon_of(&f, 1);
    cr_assert_str_eq(s, "0000000000000010 real parent=0000000000000000 name=1 end=2016 "
                        "children=11, out= in=\n"
                        "0000000000000011 real parent=0000000000000010 name=9 end=5000 "
                        "children= out= in=\n");
    free(s);
    cw__graph_stats st;
    cw__graph_stats_get(f.g, &st);
    cr_assert_eq(st.spans_live, 2);
    cr_assert_eq(st.duplicates, 1);
    gfx_free(&f);
}

Test(graph_duplicates, a_copy_naming_another_parent_moves_the_span)
{
    gfx f;
    gfx_init(&f, 1 << 20);
    cw__span sp[3] = {mk(1, 0x10, 0, 1), mk(1, 0x20, 0, 2), mk(1, 0x11, 0x10, 3)};
    cr_assert_eq(insert_spans(&f, sp, 3, NULL, 0, 0), 0);
    cw__span moved = mk(1, 0x11, 0x20, 3);
    lk l = {0, 7, 0x70};
    cr_assert_eq(insert_spans(&f, &moved, 1, &l, 1, 0), 0);
    cr_assert_eq(insert_spans(&f, &moved, 1, &l, 1, 0), 0); /* again: no change */
    char *s = canon_of(&f, 1);
    cr_assert_str_eq(s, "0000000000000010 real parent=0000000000000000 name=1 end=2016 "
                        "children= out= in=\n"
                        "0000000000000011 real parent=0000000000000020 name=3 end=2017 "
                        "children= out=77, in=\n"
                        "0000000000000020 real parent=0000000000000000 name=2 end=2032 "
                        "children=11, out= in=\n");
    free(s);
    cw__graph_stats st;
    cw__graph_stats_get(f.g, &st);
    cr_assert_eq(st.duplicates, 2);
    cr_assert_eq(st.parent_changes, 1);
    cr_assert_eq(st.links_live, 1, "the duplicate's link is held once");
    gfx_free(&f);
}

Test(graph_structure, long_and_negative_durations_keep_their_exact_end)
{
    gfx f;
    gfx_init(&f, 1 << 20);
    cw__span a = mk(1, 0x10, 0, 1), b = mk(1, 0x11, 0x10, 2);
    a.end_ns = a.start_ns + (1ULL << 45); /* 9.7 hours */
    b.end_ns = b.start_ns - 5;            /* clock skew */
    cw__span both[2] = {a, b};
    cr_assert_eq(insert_spans(&f, both, 2, NULL, 0, 0), 0);
    cw__rs rs = cw__graph_read_lock(f.g);
    uint32_t t = cw__graph_find_trace(f.g, (cw__tid){0xabc, 1});
    cw__payload p;
    cr_assert(cw__graph_node_read(f.g, cw__graph_find_node(f.g, t, 0x10), &p));
    cr_assert_eq(p.end_ns, a.end_ns);
    cr_assert(cw__graph_node_read(f.g, cw__graph_find_node(f.g, t, 0x11), &p));
    cr_assert_eq(p.end_ns, b.end_ns);
    cw__graph_read_unlock(f.g, rs);
    gfx_free(&f);
}

/* ----------------------------------------------------------- lifecycle */

Test(graph_lifecycle, idle_and_age_completion_with_a_driven_clock)
{
    gfx f;
    gfx_init(&f, 1 << 20); /* idle 10 us, max age 1 ms */
    cw__span a = mk(1, 0x10, 0, 1), b = mk(2, 0x20, 0, 2);
    cr_assert_eq(insert_spans(&f, &a, 1, NULL, 0, 1000), 0);
    cr_assert_eq(insert_spans(&f, &b, 1, NULL, 0, 5000), 0);
    cr_assert_eq(cw__graph_tick(f.g, 10999), 0, "trace 1 idle 9,999 ns: not yet");
    cr_assert_eq(cw__graph_tick(f.g, 11000), 1, "trace 1 idle 10 us");
    cr_assert_eq(f.completed.n, 1);
    cr_assert(strncmp(f.completed.v[0], "0000000000000001", 16) == 0);
    /* Trace 2 stays busy: a span every 5 us, until its age limit. */
    uint64_t now = 5000;
    while (now < 1005000) {
        now += 5000;
        cw__span more = mk(2, 0x20 + now, 0x20, 3);
        cr_assert_eq(insert_spans(&f, &more, 1, NULL, 0, now), 0);
        uint64_t done = cw__graph_tick(f.g, now);
        if (now - 5000 < 1000000)
            cr_assert_eq(done, 0, "at %llu", (unsigned long long)now);
        else if (done)
            break;
    }
    cr_assert_eq(f.completed.n, 2, "completed by max age");
    /* A span after completion starts a new incarnation. */
    cw__span late = mk(1, 0x99, 0x10, 4);
    cr_assert_eq(insert_spans(&f, &late, 1, NULL, 0, now), 0);
    char *s = canon_of(&f, 1);
    cr_assert(strstr(s, "0000000000000010 placeholder"), "%s", s);
    free(s);
    cr_assert_eq(cw__graph_flush(f.g), 1, "only the new incarnation of trace 1 is live");
    cw__graph_stats st;
    cw__graph_stats_get(f.g, &st);
    cr_assert_eq(st.traces_live, 0);
    cr_assert_eq(st.spans_live, 0);
    cr_assert_eq(st.nodes_live, 0);
    cr_assert_eq(st.bytes_live, 0);
    cr_assert_eq(st.traces_completed, 3);
    gfx_free(&f);
}

Test(graph_lifecycle, orphans_and_links_to_spans_never_received)
{
    gfx f;
    gfx_init(&f, 1 << 20);
    cw__span orphan = mk(1, 0x10, 0x99, 1);
    lk l = {0, 5, 0x55};
    cr_assert_eq(insert_spans(&f, &orphan, 1, &l, 1, 0), 0);
    cr_assert_eq(cw__graph_flush(f.g), 2, "the orphan's trace and the link's placeholder trace");
    cr_assert_eq(f.completed.n, 2);
    bool saw_orphan = false, saw_target = false;
    for (size_t i = 0; i < f.completed.n; i++) {
        saw_orphan |= strstr(f.completed.v[i], "0000000000000099 placeholder children=10,") != NULL;
        saw_target |= strstr(f.completed.v[i], "0000000000000055 placeholder children= out= "
                                               "in=10,") != NULL;
    }
    cr_assert(saw_orphan);
    cr_assert(saw_target);
    cw__graph_stats st;
    cw__graph_stats_get(f.g, &st);
    cr_assert_eq(st.bytes_live, 0);
    gfx_free(&f);
}

Test(graph_lifecycle, a_completed_target_leaves_the_link_with_its_ids)
{
    gfx f;
    gfx_init(&f, 1 << 20);
    cw__span prod = mk(1, 0x10, 0, 1);
    cr_assert_eq(insert_spans(&f, &prod, 1, NULL, 0, 0), 0);
    cr_assert_eq(cw__graph_tick(f.g, 20000), 1);
    cw__span cons = mk(2, 0x20, 0, 2);
    lk l = {0, 1, 0x10};
    cr_assert_eq(insert_spans(&f, &cons, 1, &l, 1, 20000), 0);
    /* Now complete the new placeholder incarnation of trace 1 only. */
    cw__span keep = mk(2, 0x21, 0x20, 3);
    cr_assert_eq(insert_spans(&f, &keep, 1, NULL, 0, 25000), 0);
    cr_assert_eq(cw__graph_tick(f.g, 30001), 1);
    cw__rs rs = cw__graph_read_lock(f.g);
    uint32_t t = cw__graph_find_trace(f.g, (cw__tid){0xabc, 2});
    uint32_t n = cw__graph_find_node(f.g, t, 0x20);
    uint32_t li = cw__links_out(f.g, n);
    cr_assert_neq(li, CW_NIL);
    const cw__link_node *ln = cw__graph_link(f.g, li);
    cr_assert_eq(atomic_load(&((cw__link_node *)ln)->dst), CW_NIL, "target trace gone");
    cr_assert_eq(cw__link_dst_span(ln), 0x10);
    cr_assert_eq(cw__link_dst_trace(ln).lo, 1);
    cw__graph_read_unlock(f.g, rs);
    gfx_free(&f);
}

Test(graph_budget, refuses_spans_past_the_budget_and_counts_them)
{
    gfx f;
    gfx_init(&f, 64 * 1024);
    size_t n = 4000;
    cw__span *sp = calloc(n, sizeof *sp);
    for (size_t i = 0; i < n; i++)
        sp[i] = mk(1 + i / 10, 0x1000 + i, 0, 1);
    cw__batch b;
    cw__batch_init(&b, &f.mem);
    for (size_t i = 0; i < n; i++)
        cw__batch_push_span(&b, &sp[i]);
    cw__insert_result res;
    cr_assert_eq(cw__graph_insert(f.g, &b, 0, &res), CW_EBUDGET);
    cr_assert_gt(res.accepted, 100);
    cr_assert_lt(res.accepted, n);
    cr_assert_eq(res.accepted + res.rejected_budget + res.rejected_nomem, n);
    cw__graph_stats st;
    cw__graph_stats_get(f.g, &st);
    cr_assert_leq(st.bytes_live, 64 * 1024 + 64 * 200, "over budget by at most a batch stride");
    /* Completing frees room: the next insert is accepted. */
    cw__graph_flush(f.g);
    cw__batch_reset(&b);
    cw__batch_push_span(&b, &sp[0]);
    cr_assert_eq(cw__graph_insert(f.g, &b, 0, &res), 0);
    cr_assert_eq(res.accepted, 1);
    cw__batch_free(&b);
    free(sp);
    gfx_free(&f);
}

/* ------------------------------------------------------------- memory */

Test(graph_budget, at_most_96_bytes_per_live_span_through_the_allocator)
{
    wl w;
    wl_make(&w, 7, 200000, 512);
    gfx f;
    /* A budget the workload fills to about three quarters. */
    uint64_t budget = w.spans * 96 * 4 / 3;
    gfx_init(&f, budget);
    uint64_t before = atomic_load(&f.mem.in_use);
    for (size_t r = 0; r < w.n; r++) {
        cw__insert_result res;
        cr_assert_eq(cw__graph_insert(f.g, &w.batches[r], 0, &res), 0);
    }
    cw__graph_stats st;
    cw__graph_stats_get(f.g, &st);
    cr_assert_eq(st.spans_live, w.spans);
    uint64_t bytes = atomic_load(&f.mem.in_use);
    double per_span = (double)bytes / (double)st.spans_live;
    cr_log_info("graph: %llu spans, %llu bytes through the allocator (%llu at creation), "
                "%.1f bytes/span; accounted %.1f",
                (unsigned long long)st.spans_live, (unsigned long long)bytes,
                (unsigned long long)before, per_span,
                (double)(st.bytes_live + st.bytes_index) / (double)st.spans_live);
    cr_log_info("breakdown: nodes %llu traces %llu links %llu index %llu bytes_live %llu",
                (unsigned long long)st.nodes_live, (unsigned long long)st.traces_live,
                (unsigned long long)st.links_live, (unsigned long long)st.bytes_index,
                (unsigned long long)st.bytes_live);
    cr_assert_leq(per_span, 96.0, "%.1f bytes per live span", per_span);
    gfx_free(&f);
    wl_free(&w);
}


/* --------------------------------------------------------------- pools */

/* Objects freed together come back in index order (adjacent in memory),
 * whatever order they were freed in, across several segments. */
Test(graph_pool, freed_objects_come_back_in_index_order)
{
    enum { MAX = 5000, FREED = 1000 };
    cw__mem mem;
    cw__mem_init(&mem, NULL);
    cw__pool p;
    cr_assert_eq(cw__pool_init(&p, &mem, 16, MAX, false), 0);
    cw__pool_cache *c = calloc(1, sizeof *c);
    uint32_t *idx = malloc(MAX * sizeof *idx);
    cr_assert(c && idx);
    for (uint32_t k = 0; k < MAX; k++)
        cr_assert_eq(cw__pool_get(&p, c), k, "fresh objects come in index order");
    cw__pool_cache_release(&p, c);
    /* Every fifth object, shuffled. */
    uint32_t n = 0;
    for (uint32_t k = 0; k < FREED; k++)
        idx[n++] = k * 5 + 3;
    for (uint32_t k = n - 1; k > 0; k--) {
        uint32_t j = (k * 2654435761u) % (k + 1), t = idx[k];
        idx[k] = idx[j];
        idx[j] = t;
    }
    cw__pool_free_many(&p, idx, n);
    for (uint32_t k = 0; k < FREED; k++)
        cr_assert_eq(cw__pool_get(&p, c), k * 5 + 3, "object %u of %d", k, FREED);
    cr_assert_eq(cw__pool_get(&p, c), CW_NIL, "nothing else is free");
    cw__pool_cache_release(&p, c);
    cw__pool_destroy(&p);
    free(c);
    free(idx);
    cr_assert_eq(atomic_load(&mem.in_use), 0);
}

/* Objects freed in segments come back through a cache's chain: every index
 * once, none lost when a cache gives back a partly used segment. */
Test(graph_pool, recycled_segments_hand_out_each_object_once)
{
    enum { MAX = 3000, ROUNDS = 5 };
    cw__mem mem;
    cw__mem_init(&mem, NULL);
    cw__pool p;
    cr_assert_eq(cw__pool_init(&p, &mem, 16, MAX, false), 0);
    uint32_t *got = malloc(MAX * sizeof *got);
    unsigned char *seen = malloc(MAX);
    cw__pool_cache *c = calloc(1, sizeof *c);
    cr_assert(got && seen && c);
    for (int r = 0; r < ROUNDS; r++) {
        /* Everything, through caches that each take a different share. */
        memset(seen, 0, MAX);
        size_t n = 0;
        for (size_t take = 1; n < MAX; take = take * 3 + 1) {
            for (size_t k = 0; k < take && n < MAX; k++) {
                uint32_t i = cw__pool_get(&p, c);
                cr_assert_neq(i, CW_NIL, "round %d: object %zu of %d", r, n, MAX);
                cr_assert_lt(i, MAX);
                cr_assert_not(seen[i], "round %d: %u handed out twice", r, i);
                seen[i] = 1;
                /* The caller writes the object whole. */
                memset(cw__pool_at(&p, i), 0xa5, 16);
                got[n++] = i;
            }
            if (n % 2) { /* give one back unused */
                cw__pool_unget(&p, c, got[--n]);
                seen[got[n]] = 0;
            }
            cw__pool_cache_release(&p, c);
        }
        cr_assert_eq(cw__pool_get(&p, c), CW_NIL, "the pool is at capacity");
        cw__pool_cache_release(&p, c);
        cr_assert_eq(atomic_load(&p.in_use), MAX);
        /* Freed in runs of every length, in a shuffled order. */
        for (size_t k = MAX - 1; k > 0; k--) {
            size_t j = (k * 2654435761u) % (k + 1);
            uint32_t t = got[k];
            got[k] = got[j];
            got[j] = t;
        }
        for (size_t k = 0, len = 1; k < MAX; k += len, len = len % 700 + 37)
            cw__pool_free_many(&p, got + k, (uint32_t)(k + len > MAX ? MAX - k : len));
        cr_assert_eq(atomic_load(&p.in_use), 0);
    }
    cw__pool_destroy(&p);
    free(c);
    free(got);
    free(seen);
    cr_assert_eq(atomic_load(&mem.in_use), 0);
}

/* ------------------------------------------------- span index protocol */

/* States that racing inserts and the reclaimer reach rarely on two cores,
 * planted in the slots (docs/graph-index.md; graph.c "Span index"). */

static uint32_t node_of(gfx *f, uint64_t trace, uint64_t sid)
{
    cw__rs rs = cw__graph_read_lock(f->g);
    uint32_t t = cw__graph_find_trace(f->g, (cw__tid){0xabc, trace});
    uint32_t n = t == CW_NIL ? CW_NIL : cw__graph_find_node(f->g, t, sid);
    cw__graph_read_unlock(f->g, rs);
    return n;
}

static uint64_t duplicates_of(gfx *f)
{
    cw__graph_stats st;
    cw__graph_stats_get(f->g, &st);
    return st.duplicates;
}

/* One span in a large, empty table, and where its FINAL entry is. */
typedef struct planted {
    gfx f;
    cw__span a;
    cw__index_view v;
    uint32_t n, p, home, fin;
} planted;

static void plant_one(planted *t)
{
    gfx_init(&t->f, 16u << 20);
    t->a = mk(1, 0x10, 0, 1);
    cr_assert_eq(insert_spans(&t->f, &t->a, 1, NULL, 0, 0), 0);
    t->n = node_of(&t->f, 1, 0x10);
    cw__graph_index_view(t->f.g, &t->v);
    t->p = cw__graph_index_entry(t->f.g, t->n, &t->home);
    cr_assert_eq(t->p, t->home, "alone in an empty table");
    t->fin = atomic_load(&t->v.slots[t->p]);
}

/* Inserts the span again (after the test planted slot states): it must be
 * found as the same node and counted as a duplicate. */
static void insert_again(planted *t)
{
    cr_assert_eq(insert_spans(&t->f, &t->a, 1, NULL, 0, 0), 0);
    cr_assert_eq(node_of(&t->f, 1, 0x10), t->n);
    cr_assert_eq(duplicates_of(&t->f), 1);
}

Test(graph_index, a_stalled_claim_is_finalized_by_the_next_insert_of_its_span)
{
    planted t;
    plant_one(&t);
    /* Its inserter stalled between the claim and the CAS to FINAL. */
    atomic_store(&t.v.slots[t.p], t.fin | t.v.tentative_bit);
    cr_assert_eq(node_of(&t.f, 1, 0x10), CW_NIL, "readers do not see a tentative entry");
    insert_again(&t);
    cr_assert_eq(atomic_load(&t.v.slots[t.p]), t.fin, "the second insert finalized the claim");
    cw__graph_stats st;
    cw__graph_stats_get(t.f.g, &st);
    cr_assert_eq(st.nodes_live, 1);
    gfx_free(&t.f);
}

Test(graph_index, of_two_tentative_entries_the_first_in_probe_order_wins)
{
    planted t;
    plant_one(&t);
    /* A second claim of the key further on (two inserters that saw
     * different free slots), both still tentative. */
    uint32_t q = (t.p + 1) % t.v.nslots;
    cr_assert_eq(atomic_load(&t.v.slots[q]), 0);
    atomic_store(&t.v.slots[q], t.fin | t.v.tentative_bit);
    atomic_store(&t.v.slots[t.p], t.fin | t.v.tentative_bit);
    insert_again(&t);
    cr_assert_eq(atomic_load(&t.v.slots[t.p]), t.fin, "the lowest became FINAL");
    cr_assert_eq(atomic_load(&t.v.slots[q]), t.v.tombstone, "the other was killed");
    cw__graph_flush(t.f.g);
    cw__index_census c;
    cw__graph_index_census(t.f.g, &c);
    cr_assert_eq(c.final + c.tentative + c.pending, 0);
    gfx_free(&t.f);
}

Test(graph_index, a_tombstone_being_emptied_on_the_path_is_vetoed)
{
    planted t;
    plant_one(&t);
    uint32_t next = (t.p + 1) % t.v.nslots;
    cr_assert_eq(atomic_load(&t.v.slots[next]), 0);
    /* The entry was claimed past a tombstone that the reclaimer has now
     * marked PENDING, and is still tentative: finalizing it must first
     * veto the mark, or the reclaimer would empty the slot and cut the
     * entry off from its home. */
    atomic_store(&t.v.slots[next], t.fin | t.v.tentative_bit);
    atomic_store(&t.v.slots[t.p], t.v.pending);
    insert_again(&t);
    cr_assert_eq(atomic_load(&t.v.slots[t.p]), t.v.tombstone, "vetoed");
    cr_assert_eq(atomic_load(&t.v.slots[next]), t.fin);
    gfx_free(&t.f);
}

Test(graph_index, the_reclaimer_keeps_every_live_entry_reachable)
{
    /* A small index (planned for 300 spans: 1,200 slots): 600 spans of two
     * traces make runs that mix them. Completing one trace leaves a
     * tombstone only where a live entry of the other crosses it; every live
     * span stays found; completing the other empties the table (the
     * tombstones left are tried again). */
    gfx f;
    gfx_init_indexed(&f, 16u << 20, 300);
    enum { N = 300 };
    cw__span sp[N];
    for (int t = 1; t <= 2; t++) {
        for (int i = 0; i < N; i++)
            sp[i] = mk((uint64_t)t, 0x1000u * (unsigned)t + (unsigned)i, 0, 1);
        cw__batch b;
        cw__batch_init(&b, &f.mem);
        for (int i = 0; i < N; i++)
            cw__batch_push_span(&b, &sp[i]);
        cw__insert_result res;
        cw__graph_insert(f.g, &b, t == 1 ? 0 : 20000, &res);
        cr_assert_eq(res.accepted, N, "trace %d: %llu accepted", t,
                     (unsigned long long)res.accepted);
        cw__batch_free(&b);
    }
    cw__index_view v;
    cw__graph_index_view(f.g, &v);
    cr_assert_eq(cw__graph_tick(f.g, 25000), 1, "trace 1 completes, trace 2 stays");
    /* Homes of trace 2's entries, by slot. */
    uint32_t *home = malloc(v.nslots * sizeof *home);
    for (uint32_t p = 0; p < v.nslots; p++)
        home[p] = CW_NIL;
    for (int i = 0; i < N; i++) {
        uint32_t n = node_of(&f, 2, 0x2000u + (unsigned)i), h;
        cr_assert_neq(n, CW_NIL, "span %d of the live trace is still found", i);
        uint32_t p = cw__graph_index_entry(f.g, n, &h);
        cr_assert_neq(p, CW_NIL);
        home[p] = h;
    }
    size_t tombs = 0;
    for (uint32_t t = 0; t < v.nslots; t++) {
        uint32_t s = atomic_load(&v.slots[t]);
        cr_assert_neq(s, v.pending);
        if (s != v.tombstone)
            continue;
        tombs++;
        bool crossed = false;
        for (uint32_t q = (t + 1) % v.nslots; atomic_load(&v.slots[q]) != 0;
             q = (q + 1) % v.nslots)
            if (home[q] != CW_NIL &&
                (t + v.nslots - home[q]) % v.nslots < (q + v.nslots - home[q]) % v.nslots)
                crossed = true;
        cr_assert(crossed, "the tombstone at %u is crossed by no live entry", t);
    }
    cr_log_info("%zu tombstones left among %d live entries in %u slots", tombs, N, v.nslots);
    cw__graph_flush(f.g);
    cw__index_census c;
    cw__graph_index_census(f.g, &c);
    cr_assert_eq(c.final + c.tentative + c.pending + c.tombstones, 0,
                 "%llu tombstones left", (unsigned long long)c.tombstones);
    free(home);
    gfx_free(&f);
}
