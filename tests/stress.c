/*
 * Concurrency tests, outside criterion (whose forking runner does not run
 * under ThreadSanitizer): writer threads insert shuffled spans of thousands of
 * traces while reader threads walk parents, children and links and check
 * what must hold at every instant; the result must equal a single-threaded
 * model. Built and run in the normal, ASan+UBSan and TSan builds.
 *
 * Usage: stress [SCENARIO]   (all scenarios when none is named)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "graphutil.h"

/* ----------------------------------------------------------- concurrency */

#define WRITERS 4
#define READERS 2

typedef struct stress {
    gfx *f;
    wl *w;
    _Atomic size_t next;
    _Atomic int writers_left;
    _Atomic uint64_t violations, walked, refused;
    bool may_refuse; /* a small index refuses spans while it is full */
    uint64_t tick_step; /* ns the ticker's clock moves a tick (0: 1,000) */
    bool every_batch;   /* every writer inserts every batch (same keys) */
    cw__tid *ids;
    size_t nids;
    int ticker;
} stress;

static void *writer(void *p)
{
    stress *s = p;
    for (size_t mine = 0;; mine++) {
        size_t r = s->every_batch ? mine : atomic_fetch_add(&s->next, 1);
        if (r >= s->w->n)
            break;
        cw__insert_result res;
        int rc = cw__graph_insert(s->f->g, &s->w->batches[r], 0, &res);
        if (s->may_refuse && rc == 0 && res.accepted + res.rejected_nomem == s->w->batches[r].n) {
            atomic_fetch_add(&s->refused, res.rejected_nomem);
            /* The table is full: let the ticker complete some traces. */
            cw__graph_stats st, now;
            cw__graph_stats_get(s->f->g, &st);
            for (int k = 0; res.rejected_nomem && k < 100000; k++) {
                cw__graph_stats_get(s->f->g, &now);
                if (now.traces_completed != st.traces_completed)
                    break;
                sched_yield();
            }
        } else if (rc != 0 || res.accepted != s->w->batches[r].n)
            atomic_fetch_add(&s->violations, 1);
    }
    atomic_fetch_sub(&s->writers_left, 1);
    return NULL;
}

/* Walks random traces and checks what must hold at every instant. */
static void check_trace(stress *s, uint32_t t)
{
    cw__graph *g = s->f->g;
    uint64_t bad = 0, walked = 0;
    for (uint32_t n = atomic_load(&((cw__trace *)cw__graph_trace(g, t))->nodes); n != CW_NIL;
         n = cw__graph_node(g, n)->next_in_trace) {
        const cw__node *nd = cw__graph_node(g, n);
        walked++;
        bad += nd->trace != t;
        /* The span index finds every node of a live trace, and no other
         * node with its key (states only move on from LIVE, and the trace
         * object cannot be reused inside this read section). */
        uint32_t m = cw__graph_find_node(g, t, cw__node_span_id(nd));
        if (m != n)
            bad += m != CW_NIL ||
                   atomic_load(&((cw__trace *)cw__graph_trace(g, t))->sw) == CW_TRACE_LIVE;
        cw__payload p;
        if (cw__graph_node_read(g, n, &p) && p.parent != CW_NIL) {
            bad += cw__graph_node(g, p.parent)->trace != t;
            bool found = false;
            cw__child_iter it;
            cw__children_begin(g, p.parent, &it);
            for (uint32_t c; (c = cw__children_next(g, &it)) != CW_NIL;)
                found |= c == n;
            /* A child is pushed just after it becomes visible: absence is
             * only legal for an instant, so count but allow it here. */
            (void)found;
        }
        cw__child_iter it;
        cw__children_begin(g, n, &it);
        for (uint32_t c; (c = cw__children_next(g, &it)) != CW_NIL;) {
            cw__payload cp;
            bad += !cw__graph_node_read(g, c, &cp) || cp.parent != n;
            bad += cw__graph_node(g, c)->trace != t;
        }
        for (uint32_t l = cw__links_out(g, n); l != CW_NIL; l = cw__graph_link(g, l)->next_out) {
            const cw__link_node *ln = cw__graph_link(g, l);
            bad += ln->src != n;
            uint32_t d = atomic_load(&((cw__link_node *)ln)->dst);
            if (d != CW_NIL)
                bad += cw__node_span_id(cw__graph_node(g, d)) != cw__link_dst_span(ln);
        }
        for (uint32_t l = cw__links_in(g, n); l != CW_NIL;
             l = atomic_load(&((cw__link_node *)cw__graph_link(g, l))->next_in)) {
            const cw__link_node *ln = cw__graph_link(g, l);
            uint32_t d = atomic_load(&((cw__link_node *)ln)->dst);
            bad += d != n && d != CW_NIL;
            bad += cw__link_dst_span(ln) != cw__node_span_id(nd);
        }
    }
    atomic_fetch_add(&s->violations, bad);
    atomic_fetch_add(&s->walked, walked);
}

static void *reader(void *p)
{
    stress *s = p;
    uint64_t x = 88172645463325252ULL;
    while (atomic_load(&s->writers_left) > 0) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        cw__rs rs = cw__graph_read_lock(s->f->g);
        uint32_t t = cw__graph_find_trace(s->f->g, s->ids[x % s->nids]);
        if (t != CW_NIL)
            check_trace(s, t);
        cw__graph_read_unlock(s->f->g, rs);
    }
    return NULL;
}

static void *ticker(void *p)
{
    stress *s = p;
    uint64_t now = 0;
    while (atomic_load(&s->writers_left) > 0) {
        now += s->tick_step ? s->tick_step : 1000;
        cw__graph_tick(s->f->g, now);
    }
    return NULL;
}

static void collect_ids(stress *s)
{
    s->ids = malloc(s->w->spans * sizeof *s->ids);
    for (size_t r = 0; r < s->w->n; r++)
        for (size_t i = 0; i < s->w->batches[r].n; i++)
            s->ids[s->nids++] = s->w->batches[r].spans[i].trace;
}

/* Runs WRITERS writers over the workload's batches and READERS readers (and
 * a ticker completing traces, if asked) until the writers are done. */
static void run(stress *s, bool with_ticker)
{
    atomic_init(&s->next, 0);
    atomic_init(&s->writers_left, WRITERS);
    collect_ids(s);
    pthread_t th[WRITERS + READERS + 1];
    int n = 0;
    for (int i = 0; i < WRITERS; i++)
        pthread_create(&th[n++], NULL, writer, s);
    for (int i = 0; i < READERS; i++)
        pthread_create(&th[n++], NULL, reader, s);
    if (with_ticker)
        pthread_create(&th[n++], NULL, ticker, s);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

static void writers_and_readers_agree_with_a_single_threaded_model(void)
{
    wl w;
    wl_make(&w, 11, 30000, 64);
    /* The model: one thread, batches in reverse order. */
    gfx model;
    gfx_init(&model, 256u << 20);
    for (size_t r = w.n; r-- > 0;) {
        cw__insert_result res;
        CWT_CHECK(cw__graph_insert(model.g, &w.batches[r], 0, &res) == 0, "model insert");
    }
    char *want = all_forms(&model);
    CWT_CHECK(model.completed.n > 100, "%zu traces", model.completed.n);

    gfx f;
    gfx_init(&f, 256u << 20);
    stress s = {.f = &f, .w = &w};
    run(&s, false);
    CWT_CHECK(atomic_load(&s.violations) == 0, "%llu violations", (unsigned long long)atomic_load(&s.violations));
    printf("readers walked %llu nodes\n", (unsigned long long)atomic_load(&s.walked));
    char *got = all_forms(&f);
    CWT_CHECK(f.completed.n == model.completed.n, "%zu vs %zu traces", f.completed.n, model.completed.n);
    CWT_CHECK(strcmp(got, want) == 0, "concurrent graph differs from the model");
    free(got);
    free(want);
    free(s.ids);
    gfx_free(&f);
    gfx_free(&model);
    wl_free(&w);
}

static void completion_and_reclamation_under_load(void)
{
    wl w;
    wl_make(&w, 12, 30000, 64);
    gfx f;
    gfx_init(&f, 256u << 20);
    stress s = {.f = &f, .w = &w};
    run(&s, true);
    cw__graph_flush(f.g);
    CWT_CHECK(atomic_load(&s.violations) == 0, "%llu violations", (unsigned long long)atomic_load(&s.violations));
    cw__graph_stats st;
    cw__graph_stats_get(f.g, &st);
    /* Every span is in exactly one completed incarnation. */
    CWT_CHECK(f.completed_spans + st.duplicates == w.spans, "%llu completed spans of %llu", (unsigned long long)f.completed_spans, (unsigned long long)w.spans);
    CWT_CHECK(st.bytes_live == 0, "%llu bytes live", (unsigned long long)st.bytes_live);
    CWT_CHECK(st.nodes_live == 0, "%llu nodes live", (unsigned long long)st.nodes_live);
    free(s.ids);
    gfx_free(&f);
    wl_free(&w);
}

/* The span index on a tiny table (2,048 slots, at most 1,536 nodes): long
 * probe runs that wrap, claims racing for the same placeholders, and a
 * ticker completing every trace all the time, so that tombstones are made
 * and emptied under the inserts. Every writer inserts every batch, so that
 * claims of one key race (helpers finalizing the same winner). Spans the
 * full table refuses are counted; every other copy of a span ends in
 * exactly one completed trace or as a duplicate, and the index ends empty. */
static void index_churn_on_a_tiny_table(void)
{
    wl w;
    wl_make(&w, 13, 30000, 64);
    gfx f;
    gfx_init_indexed(&f, 256u << 20, 512);
    /* Every tick completes every trace no insert holds (idle 10,000 ns). */
    stress s = {.f = &f, .w = &w, .may_refuse = true, .tick_step = 20000, .every_batch = true};
    run(&s, true);
    cw__graph_flush(f.g);
    CWT_CHECK(atomic_load(&s.violations) == 0, "%llu violations",
              (unsigned long long)atomic_load(&s.violations));
    cw__graph_stats st;
    cw__graph_stats_get(f.g, &st);
    uint64_t refused = atomic_load(&s.refused);
    printf("readers walked %llu nodes; %llu of %llu spans refused by the full table, %llu "
           "traces completed\n",
           (unsigned long long)atomic_load(&s.walked), (unsigned long long)refused,
           (unsigned long long)WRITERS * w.spans, (unsigned long long)st.traces_completed);
    CWT_CHECK(f.completed_spans + st.duplicates + refused == WRITERS * w.spans,
              "%llu completed + %llu duplicates + %llu refused of %llu spans",
              (unsigned long long)f.completed_spans, (unsigned long long)st.duplicates,
              (unsigned long long)refused, (unsigned long long)WRITERS * w.spans);
    CWT_CHECK(refused < WRITERS * w.spans / 2, "%llu refused", (unsigned long long)refused);
    CWT_CHECK(st.nodes_live == 0, "%llu nodes live", (unsigned long long)st.nodes_live);
    CWT_CHECK(st.bytes_live == 0, "%llu bytes live", (unsigned long long)st.bytes_live);
    cw__index_census c;
    cw__graph_index_census(f.g, &c);
    printf("index: %llu slots, %llu tombstones, longest run %llu\n",
           (unsigned long long)c.slots, (unsigned long long)c.tombstones,
           (unsigned long long)c.longest_run);
    CWT_CHECK(c.final == 0 && c.tentative == 0 && c.pending == 0,
              "%llu final, %llu tentative, %llu pending entries left", (unsigned long long)c.final,
              (unsigned long long)c.tentative, (unsigned long long)c.pending);
    CWT_CHECK(c.tombstones <= c.slots / 32, "%llu tombstones of %llu slots",
              (unsigned long long)c.tombstones, (unsigned long long)c.slots);
    free(s.ids);
    gfx_free(&f);
    wl_free(&w);
}

/* Interning from several threads: everyone agrees on every id. */
#define INTERN_THREADS 4
#define INTERN_NAMES 5000

typedef struct iarg {
    cw__interner *t;
    uint32_t ids[INTERN_NAMES];
    int seed;
} iarg;

static void *intern_worker(void *p)
{
    iarg *a = p;
    char buf[32];
    for (int k = 0; k < INTERN_NAMES; k++) {
        int i = (k * 7919 + a->seed * 104729) % INTERN_NAMES;
        int n = snprintf(buf, sizeof buf, "function-%d", i);
        a->ids[i] = cw__intern(a->t, buf, (size_t)n);
    }
    return NULL;
}

static void interning_agrees(void)
{
    cw__mem m;
    cw__mem_init(&m, NULL);
    cw__interner *t;
    CWT_CHECK(cw__intern_new(&t, &m, INTERN_NAMES * 2) == 0, "intern_new");
    static iarg args[INTERN_THREADS];
    pthread_t th[INTERN_THREADS];
    for (int i = 0; i < INTERN_THREADS; i++) {
        args[i].t = t;
        args[i].seed = i;
        pthread_create(&th[i], NULL, intern_worker, &args[i]);
    }
    for (int i = 0; i < INTERN_THREADS; i++)
        pthread_join(th[i], NULL);
    char buf[32];
    for (int i = 0; i < INTERN_NAMES; i++) {
        for (int k = 1; k < INTERN_THREADS; k++)
            CWT_CHECK(args[k].ids[i] == args[0].ids[i], "name %d", i);
        snprintf(buf, sizeof buf, "function-%d", i);
        CWT_CHECK(strcmp(cw__intern_str(t, args[0].ids[i], NULL), buf) == 0, "name %d", i);
    }
    cw__intern_free(t);
    CWT_CHECK(atomic_load(&m.in_use) == 0, "leak");
}

/* The receiver under load: client threads post requests over keep-alive
 * connections while another polls the query API; then a graceful stop. */
#define CLIENTS 4
#define POSTS 40

typedef struct client {
    int port, api;
    const cwg_buf *reqs;
    size_t nreq;
    int id;
    _Atomic int *ok;
} client;

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    CWT_CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect");
    return fd;
}

/* Sends a request and reads one whole response; returns its status. */
static int roundtrip(int fd, const char *head, const void *body, size_t n)
{
    if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0 ||
        (n && send(fd, body, n, MSG_NOSIGNAL) < 0))
        return -1;
    char buf[65536];
    size_t have = 0;
    for (;;) {
        char *end = memmem(buf, have, "\r\n\r\n", 4);
        if (end) {
            const char *cl = memmem(buf, (size_t)(end - buf), "Content-Length: ", 16);
            size_t need = (size_t)(end - buf) + 4 + (cl ? strtoul(cl + 16, NULL, 10) : 0);
            if (have >= need) {
                int status = 0;
                sscanf(buf, "HTTP/1.1 %d", &status);
                return status;
            }
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (have == sizeof buf || poll(&p, 1, 10000) <= 0)
            return -1;
        ssize_t k = recv(fd, buf + have, sizeof buf - have, 0);
        if (k <= 0)
            return -1;
        have += (size_t)k;
    }
}

static void *poster(void *p)
{
    client *c = p;
    int fd = dial(c->port);
    for (int i = 0; i < POSTS; i++) {
        const cwg_buf *b = &c->reqs[(size_t)(c->id * POSTS + i) % c->nreq];
        char head[256];
        snprintf(head, sizeof head,
                 "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 b->n);
        if (roundtrip(fd, head, b->p, b->n) == 200)
            atomic_fetch_add(c->ok, 1);
    }
    close(fd);
    return NULL;
}

static void *poller(void *p)
{
    client *c = p;
    int fd = dial(c->api);
    static const char *const paths[] = {"/metrics", "/api/v1/edges",
                                        "/api/v1/traces?sort=fanout&limit=5"};
    for (int i = 0; i < 60; i++) {
        char head[256];
        snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i % 3]);
        CWT_CHECK(roundtrip(fd, head, NULL, 0) == 200, "query %s", paths[i % 3]);
    }
    close(fd);
    return NULL;
}

static void receiver_under_load(void)
{
    cwt_requests q;
    CWT_CHECK(cwt_requests_pb(&q, 5, 20000, 250, 0.3) == 0, "workload");
    cw_engine_options eo;
    cw_engine_options_init(&eo);
    eo.idle_timeout_ns = 50 * 1000000ull; /* complete while posting */
    cw_engine *e;
    CWT_CHECK(cw_engine_new(&e, &eo) == 0, "engine");
    cw_receiver_options ro;
    cw_receiver_options_init(&ro);
    ro.listen = ro.api_listen = "127.0.0.1:0";
    ro.tick_interval_ns = 20 * 1000000ull;
    cw_receiver *r;
    CWT_CHECK(cw_receiver_start(&r, e, &ro) == 0, "receiver");
    _Atomic int ok = 0;
    client cs[CLIENTS + 1];
    pthread_t th[CLIENTS + 1];
    for (int i = 0; i <= CLIENTS; i++) {
        cs[i] = (client){cw_receiver_port(r, 0), cw_receiver_port(r, 1), q.r, q.n, i, &ok};
        pthread_create(&th[i], NULL, i < CLIENTS ? poster : poller, &cs[i]);
    }
    for (int i = 0; i <= CLIENTS; i++)
        pthread_join(th[i], NULL);
    cw_receiver_stop(r);
    CWT_CHECK(cw_receiver_stopped(r), "stopped");
    cw_receiver_free(r);
    cw_engine_flush(e);
    cw_stats st;
    cw_engine_stats(e, &st);
    CWT_CHECK(atomic_load(&ok) == CLIENTS * POSTS, "%d of %d posts answered 200",
              atomic_load(&ok), CLIENTS * POSTS);
    CWT_CHECK(st.spans_received == st.spans_accepted + st.spans_rejected, "accounting");
    CWT_CHECK(st.traces_live == 0, "flushed");
    printf("receiver: %d posts, %llu spans accepted, %llu duplicates, %llu traces completed\n",
           CLIENTS * POSTS, (unsigned long long)st.spans_accepted,
           (unsigned long long)st.duplicates, (unsigned long long)st.traces_completed);
    cw_engine_free(e);
    cwt_requests_free(&q);
}

/* Parallel completion under load: writers ingest while sweeps analyse on
 * helper threads (and add records on another), and a reader queries
 * summaries, top-N and edges throughout. The first half of the requests is
 * ingested, then made idle on the injected clock and completed in one big
 * sweep while writers send the second half; a final flush, still under the
 * reader, completes the rest. Every span ends up in exactly one summary. */
typedef struct cload {
    cw_engine *e;
    const cwg_buf *reqs;
    size_t nreq, until;
    _Atomic size_t next;
    _Atomic int stop;
    _Atomic uint64_t clock;
    uint64_t spans_done; /* trace callbacks run on the sweeping thread */
} cload;

static uint64_t cload_clock(void *ctx)
{
    return atomic_load(&((cload *)ctx)->clock);
}

static void cload_trace(void *ctx, const cw_trace_summary *s, const char *const *fns)
{
    (void)fns;
    ((cload *)ctx)->spans_done += s->spans;
}

static void *cload_writer(void *p)
{
    cload *c = p;
    for (size_t r; (r = atomic_fetch_add(&c->next, 1)) < c->until;) {
        cw_ingest_result res;
        CWT_CHECK(cw_engine_ingest(c->e, c->reqs[r].p, c->reqs[r].n, CW_ENC_PROTOBUF, &res) == 0,
                  "ingest");
    }
    return NULL;
}

static void *cload_reader(void *p)
{
    cload *c = p;
    cw_trace_summary top[8];
    cw_chain_summary ctop[8];
    cw_edge_summary ed[16];
    while (!atomic_load(&c->stop)) {
        size_t n = 0;
        CWT_CHECK(cw_engine_top(c->e, CW_SORT_SPANS, 8, top, &n) == 0, "top");
        for (size_t i = 0; i < n; i++) {
            cw_trace_summary t;
            int rc = cw_engine_trace(c->e, top[i].trace_id, &t, NULL, 0);
            CWT_CHECK(rc == 0 || rc == CW_ENOTFOUND, "trace lookup: %s", cw_strerror(rc));
        }
        CWT_CHECK(cw_engine_top_chains(c->e, CW_SORT_DEPTH, 8, ctop, &n) == 0, "top chains");
        CWT_CHECK(cw_engine_edges(c->e, ed, 16, &n) == 0, "edges");
    }
    return NULL;
}

/* Writer threads over requests [from, until). */
static void cload_write(cload *c, size_t from, size_t until, pthread_t th[2])
{
    atomic_store(&c->next, from);
    c->until = until;
    pthread_create(&th[0], NULL, cload_writer, c);
    pthread_create(&th[1], NULL, cload_writer, c);
}

static void parallel_completion_under_load(void)
{
    cwt_requests q;
    CWT_CHECK(cwt_requests_pb(&q, 9, 40000, 400, 0.2) == 0, "workload");
    cload c = {.reqs = q.r, .nreq = q.n};
    cw_engine_options eo;
    cw_engine_options_init(&eo);
    eo.clock = cload_clock;
    eo.clock_ctx = &c;
    eo.idle_timeout_ns = 1000 * 1000000ull;
    eo.completion_threads = 4;
    CWT_CHECK(cw_engine_new(&c.e, &eo) == 0, "engine");
    cw_engine_on_trace(c.e, cload_trace, &c);
    pthread_t wr[2], rd;
    pthread_create(&rd, NULL, cload_reader, &c);
    cload_write(&c, 0, q.n / 2, wr);
    pthread_join(wr[0], NULL);
    pthread_join(wr[1], NULL);
    cload_write(&c, q.n / 2, q.n, wr);
    atomic_fetch_add(&c.clock, 2000 * 1000000ull);
    uint64_t first = cw_engine_tick(c.e);
    for (int i = 0; i < 20; i++) {
        atomic_fetch_add(&c.clock, 300 * 1000000ull);
        cw_engine_tick(c.e);
    }
    pthread_join(wr[0], NULL);
    pthread_join(wr[1], NULL);
    cw_engine_flush(c.e);
    atomic_store(&c.stop, 1);
    pthread_join(rd, NULL);
    cw_stats st;
    cw_engine_stats(c.e, &st);
    CWT_CHECK(first > 500, "the first sweep completed %llu traces", (unsigned long long)first);
    CWT_CHECK(st.spans_accepted == q.spans, "%llu of %zu spans accepted",
              (unsigned long long)st.spans_accepted, q.spans);
    CWT_CHECK(c.spans_done + st.duplicates == st.spans_accepted,
              "%llu spans in summaries, %llu duplicates, %llu accepted",
              (unsigned long long)c.spans_done, (unsigned long long)st.duplicates,
              (unsigned long long)st.spans_accepted);
    CWT_CHECK(st.traces_live == 0 && st.spans_live == 0, "flushed");
    printf("completion: %llu traces completed (%llu in the first sweep), %llu chains\n",
           (unsigned long long)st.traces_completed, (unsigned long long)first,
           (unsigned long long)st.chains);
    cw_engine_free(c.e);
    cwt_requests_free(&q);
}

static const struct {
    const char *name;
    void (*fn)(void);
} scenarios[] = {
    {"receiver", receiver_under_load},
    {"interning", interning_agrees},
    {"graph-model", writers_and_readers_agree_with_a_single_threaded_model},
    {"graph-reclaim", completion_and_reclamation_under_load},
    {"graph-churn", index_churn_on_a_tiny_table},
    {"completion", parallel_completion_under_load},
};

int main(int argc, char **argv)
{
    int ran = 0;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        if (argc > 1 && strcmp(argv[1], scenarios[i].name) != 0)
            continue;
        printf("stress: %s\n", scenarios[i].name);
        fflush(stdout);
        scenarios[i].fn();
        printf("stress: %s passed\n", scenarios[i].name);
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "stress: no scenario named %s\n", argv[1]);
        return 2;
    }
    return 0;
}
