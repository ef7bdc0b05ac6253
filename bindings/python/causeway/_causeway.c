/*
 * causeway._causeway: the CPython binding of the public C API
 * (include/causeway.h). The pure-Python package (__init__.py) builds the
 * analyst conveniences (pandas, networkx) on top of this module.
 *
 * Design:
 *  - Only the public cw_ API is used, so the module works against the shared
 *    library as installed, and the wheel can link the library statically.
 *  - The GIL is released around every call into the engine (ingest, queries,
 *    completion, the receiver's start and stop): the engine is safe to call
 *    from any number of threads at once, so Python threads ingest and query
 *    in parallel. Results are copied into C arrays without the GIL, then
 *    turned into Python objects with it.
 *  - A call in progress without the GIL must never see its engine freed.
 *    Each Engine counts such calls (`busy`, read and written only with the
 *    GIL held); close() refuses new calls, then waits, without the GIL, until
 *    the count drops to zero before it frees the engine.
 *  - Every engine allocates through a counting allocator, so that after
 *    close() the binding can tell whether the engine gave back every byte
 *    (stats()["bytes_in_use"] after close, and Engine.allocated_blocks).
 *  - Receivers run on a thread of their own (cw_receiver_start). A running
 *    Server holds its Engine, and a module-level list holds running Servers,
 *    so a server started with engine.serve() and not kept in a variable keeps
 *    serving until stop(), engine.close() or interpreter exit (the package
 *    registers _stop_all_servers with atexit). The receiver's log lines go to
 *    a ring buffer (no Python on the receiver's thread, hence no GIL there).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "causeway.h"

/* ------------------------------------------------------------ interned */

/* Dict keys and repeated values, interned once at import: building a summary
 * then costs no string creation beyond its ids and function names. */
#define CWPY_KEYS(X)                                                                        \
    X(type) X(trace_id) X(chain_id) X(spans) X(span_depth) X(max_span_fanout)               \
    X(invocations) X(depth) X(max_fanout) X(retries) X(max_recursion) X(errors)             \
    X(functions) X(root_function) X(start_unix_nano) X(duration_ns) X(complete) X(traces)   \
    X(caller) X(callee) X(kind) X(calls) X(p50_ns) X(p99_ns) X(target) X(attempts)          \
    X(failed) X(final_status) X(span_ids) X(function) X(occurrences) X(path) X(span_id)     \
    X(spans_accepted) X(spans_rejected) X(rejected) X(links_dropped) X(reason) X(trace)     \
    X(chain) X(edge) X(retry_group) X(loop) X(sync) X(async) X(call) X(redelivery) X(OK)    \
    X(ERROR) X(UNSET)

#define CWPY_DECL(name) static PyObject *k_##name;
CWPY_KEYS(CWPY_DECL)
#undef CWPY_DECL

/* Lower-case reject reason names ("bad_trace_id"), the keys of the
 * "rejected" dicts, in cw_reject_reason order. */
static PyObject *reject_names[CW_REJECT_COUNT];

static PyObject *Error; /* causeway.Error */
static PyObject *running_servers; /* list of running Server objects */

/* ---------------------------------------------------------------- errors */

/* Raises causeway.Error for a CW_E* code and returns NULL. where (a path or
 * an id, may be NULL) prefixes the message; reason, offset and line come
 * from an ingest result when there is one (line 0 / offset 0: not known).
 * result (may be NULL) is the ingest result dict, attached as .result. */
static PyObject *raise_cw(int code, PyObject *where, const char *reason, uint64_t offset,
                          uint64_t line, PyObject *result)
{
    const char *name = cw_err_name(code);
    if (!name)
        name = "CW_EUNKNOWN";
    PyObject *msg = NULL, *full = NULL, *exc = NULL;
    if (reason && *reason && strcmp(reason, cw_strerror(code)) != 0)
        msg = PyUnicode_FromFormat("%s: %s", cw_strerror(code), reason);
    else
        msg = PyUnicode_FromString(cw_strerror(code));
    if (!msg)
        goto out;
    if (line) {
        PyObject *m = PyUnicode_FromFormat("%U (line %llu)", msg, (unsigned long long)line);
        Py_SETREF(msg, m);
    } else if (offset) {
        PyObject *m = PyUnicode_FromFormat("%U (at byte %llu)", msg, (unsigned long long)offset);
        Py_SETREF(msg, m);
    }
    if (!msg)
        goto out;
    full = where ? PyUnicode_FromFormat("%S: %s: %U", where, name, msg)
                 : PyUnicode_FromFormat("%s: %U", name, msg);
    if (!full)
        goto out;
    exc = PyObject_CallOneArg(Error, full);
    if (!exc)
        goto out;
    PyObject *v;
    if ((v = PyLong_FromLong(code)) == NULL || PyObject_SetAttrString(exc, "code", v) < 0)
        goto attr_fail;
    Py_DECREF(v);
    if ((v = PyUnicode_FromString(name)) == NULL || PyObject_SetAttrString(exc, "name", v) < 0)
        goto attr_fail;
    Py_DECREF(v);
    if (PyObject_SetAttrString(exc, "message", msg) < 0)
        goto out;
    v = reason ? PyUnicode_DecodeUTF8(reason, (Py_ssize_t)strlen(reason), "replace")
               : Py_NewRef(Py_None);
    if (!v || PyObject_SetAttrString(exc, "reason", v) < 0)
        goto attr_fail;
    Py_DECREF(v);
    v = line ? PyLong_FromUnsignedLongLong(line) : Py_NewRef(Py_None);
    if (!v || PyObject_SetAttrString(exc, "line", v) < 0)
        goto attr_fail;
    Py_DECREF(v);
    v = offset ? PyLong_FromUnsignedLongLong(offset) : Py_NewRef(Py_None);
    if (!v || PyObject_SetAttrString(exc, "offset", v) < 0)
        goto attr_fail;
    Py_DECREF(v);
    if (PyObject_SetAttrString(exc, "path", where ? where : Py_None) < 0 ||
        PyObject_SetAttrString(exc, "result", result ? result : Py_None) < 0)
        goto out;
    PyErr_SetObject(Error, exc);
    goto out;
attr_fail:
    Py_XDECREF(v);
out:
    Py_XDECREF(exc);
    Py_XDECREF(full);
    Py_XDECREF(msg);
    return NULL;
}

static PyObject *raise_simple(int code, const char *reason)
{
    return raise_cw(code, NULL, reason, 0, 0, NULL);
}

/* ---------------------------------------------------- counting allocator */

/* What an engine holds from its allocator. The engine passes every block's
 * size back on free (cw_allocator's contract), so bytes return to zero when
 * it frees everything; blocks count the same independently of sizes. */
typedef struct alloc_count {
    _Atomic int64_t bytes;
    _Atomic int64_t blocks;
} alloc_count;

/* Relaxed: the counters are statistics read after the engine is freed (a
 * happens-before edge through cw_engine_free's caller) or as a rough figure
 * while it runs; no other memory is published through them. */
static void count_add(alloc_count *c, int64_t bytes, int64_t blocks)
{
    atomic_fetch_add_explicit(&c->bytes, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->blocks, blocks, memory_order_relaxed);
}

static void *ca_malloc(void *ctx, size_t n)
{
    void *p = malloc(n);
    if (p)
        count_add(ctx, (int64_t)n, 1);
    return p;
}

static void *ca_calloc(void *ctx, size_t n)
{
    /* calloc, not malloc+memset: the engine's big tables stay unbacked
     * until touched (cw_allocator's comment). */
    void *p = calloc(1, n);
    if (p)
        count_add(ctx, (int64_t)n, 1);
    return p;
}

static void *ca_realloc(void *ctx, void *p, size_t old_n, size_t new_n)
{
    void *q = realloc(p, new_n);
    if (q)
        count_add(ctx, (int64_t)new_n - (int64_t)old_n, p ? 0 : 1);
    return q;
}

static void ca_free(void *ctx, void *p, size_t n)
{
    if (!p)
        return;
    free(p);
    count_add(ctx, -(int64_t)n, -1);
}

/* ----------------------------------------------------------- raw buffers */

/* A growable byte buffer filled without the GIL (PyMem_Raw* needs none). */
typedef struct rawbuf {
    char *p;
    size_t n, cap;
} rawbuf;

static int rawbuf_write(void *ctx, const char *line, size_t len)
{
    rawbuf *b = ctx;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len)
            cap *= 2;
        char *p = PyMem_RawRealloc(b->p, cap);
        if (!p)
            return CW_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, line, len);
    b->n += len;
    return 0;
}

/* -------------------------------------------------------- string caching */

/* Function names are interned by the engine: one pointer per distinct name,
 * valid until cw_engine_free(). A pointer-keyed table turns each into one
 * Python string per call, so a list of 100,000 summaries shares its
 * function-name objects (less memory for pandas, less time). */
typedef struct strcache {
    const char **keys;
    PyObject **vals;
    size_t cap, n;
} strcache;

static void strcache_clear(strcache *c)
{
    for (size_t i = 0; i < c->cap; i++)
        Py_XDECREF(c->vals[i]);
    PyMem_Free(c->keys);
    PyMem_Free(c->vals);
    memset(c, 0, sizeof *c);
}

static PyObject *decode(const char *s)
{
    /* Kept strings are UTF-8 (the decoder checks them, docs/model.md);
     * "replace" keeps a query from failing on anything else. */
    return PyUnicode_DecodeUTF8(s ? s : "", s ? (Py_ssize_t)strlen(s) : 0, "replace");
}

static size_t ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing */
    return (size_t)(x >> 17);
}

/* New reference to the Python string of s (an engine-interned pointer). */
static PyObject *strcache_get(strcache *c, const char *s)
{
    if (!s)
        s = "";
    if (c->n * 2 >= c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        const char **keys = PyMem_Calloc(cap, sizeof *keys);
        PyObject **vals = PyMem_Calloc(cap, sizeof *vals);
        if (!keys || !vals) {
            PyMem_Free(keys);
            PyMem_Free(vals);
            return decode(s); /* no cache: still correct */
        }
        for (size_t i = 0; i < c->cap; i++) {
            if (!c->keys[i])
                continue;
            size_t h = ptr_hash(c->keys[i]) & (cap - 1);
            while (keys[h])
                h = (h + 1) & (cap - 1);
            keys[h] = c->keys[i];
            vals[h] = c->vals[i];
        }
        PyMem_Free(c->keys);
        PyMem_Free(c->vals);
        c->keys = keys;
        c->vals = vals;
        c->cap = cap;
    }
    size_t h = ptr_hash(s) & (c->cap - 1);
    while (c->keys[h] && c->keys[h] != s)
        h = (h + 1) & (c->cap - 1);
    if (!c->keys[h]) {
        PyObject *v = decode(s);
        if (!v)
            return NULL;
        c->keys[h] = s;
        c->vals[h] = v;
        c->n++;
    }
    return Py_NewRef(c->vals[h]);
}

/* ------------------------------------------------------- dict building */

/* Each takes a new reference (or NULL after an error) and returns -1 on
 * error, so that builders chain them with ||. */
static int put(PyObject *d, PyObject *k, PyObject *v)
{
    if (!v)
        return -1;
    int rc = PyDict_SetItem(d, k, v);
    Py_DECREF(v);
    return rc;
}

static int put_u64(PyObject *d, PyObject *k, uint64_t v)
{
    return put(d, k, PyLong_FromUnsignedLongLong(v));
}

static PyObject *id_str(const char *hex)
{
    return PyUnicode_FromStringAndSize(hex, (Py_ssize_t)strnlen(hex, CW_TRACE_ID_LEN - 1));
}

static PyObject *span_hex(uint64_t id)
{
    char b[17];
    snprintf(b, sizeof b, "%016llx", (unsigned long long)id);
    return PyUnicode_FromStringAndSize(b, 16);
}

static PyObject *functions_list(strcache *sc, const char *const *f, size_t n)
{
    PyObject *l = PyList_New((Py_ssize_t)n);
    if (!l)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *s = strcache_get(sc, f[i]);
        if (!s) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, s);
    }
    return l;
}

/* SPEC.md section 3.1, keys in the JSON writer's order. Nanosecond fields
 * are Python ints (JSON writes them as strings only because JSON numbers
 * lose precision past 2^53). */
static PyObject *trace_dict(strcache *sc, const cw_trace_summary *s, const char *const *f)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    /* Each value is made only when its put() is reached, so an error leaks
     * nothing; chain_id reuses the trace_id string when they are equal. */
    if (put(d, k_type, Py_NewRef(k_trace)) || put(d, k_trace_id, id_str(s->trace_id)) ||
        put(d, k_chain_id, strcmp(s->trace_id, s->chain_id) == 0
                               ? Py_NewRef(PyDict_GetItem(d, k_trace_id))
                               : id_str(s->chain_id)) ||
        put_u64(d, k_spans, s->spans) || put_u64(d, k_span_depth, s->span_depth) ||
        put_u64(d, k_max_span_fanout, s->max_span_fanout) ||
        put_u64(d, k_invocations, s->invocations) || put_u64(d, k_depth, s->depth) ||
        put_u64(d, k_max_fanout, s->max_fanout) || put_u64(d, k_retries, s->retries) ||
        put_u64(d, k_max_recursion, s->max_recursion) || put_u64(d, k_errors, s->errors) ||
        put(d, k_functions, functions_list(sc, f, s->nfunctions)) ||
        put(d, k_root_function, strcache_get(sc, s->root_function)) ||
        put_u64(d, k_start_unix_nano, s->start_unix_nano) ||
        put_u64(d, k_duration_ns, s->duration_ns) ||
        put(d, k_complete, PyBool_FromLong(s->complete))) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *chain_dict(strcache *sc, const cw_chain_summary *s, const char *const *f)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    if (put(d, k_type, Py_NewRef(k_chain)) || put(d, k_chain_id, id_str(s->chain_id)) ||
        put_u64(d, k_traces, s->traces) || put_u64(d, k_invocations, s->invocations) ||
        put_u64(d, k_depth, s->depth) || put_u64(d, k_max_fanout, s->max_fanout) ||
        put_u64(d, k_retries, s->retries) || put_u64(d, k_max_recursion, s->max_recursion) ||
        put(d, k_functions, functions_list(sc, f, s->nfunctions))) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *edge_dict(strcache *sc, const cw_edge_summary *s)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    if (put(d, k_type, Py_NewRef(k_edge)) || put(d, k_caller, strcache_get(sc, s->caller)) ||
        put(d, k_callee, strcache_get(sc, s->callee)) ||
        put(d, k_kind, Py_NewRef(s->async ? k_async : k_sync)) ||
        put_u64(d, k_calls, s->calls) || put_u64(d, k_errors, s->errors) ||
        put_u64(d, k_retries, s->retries) || put_u64(d, k_p50_ns, s->p50_ns) ||
        put_u64(d, k_p99_ns, s->p99_ns)) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* ------------------------------------------------ collecting summaries */

/* Summaries and their function lists, collected without the GIL. The
 * functions of item i are fns[foff[i] .. foff[i] + s[i].nfunctions). */
typedef struct tset {
    cw_trace_summary *s;
    cw_chain_summary *c;
    size_t n;
    const char **fns;
    size_t nf, fcap;
    size_t *foff;
} tset;

static void tset_free(tset *t)
{
    PyMem_RawFree(t->s);
    PyMem_RawFree(t->c);
    PyMem_RawFree((void *)t->fns);
    PyMem_RawFree(t->foff);
    memset(t, 0, sizeof *t);
}

static int tset_reserve_fns(tset *t, size_t more)
{
    if (t->nf + more <= t->fcap)
        return 0;
    size_t cap = t->fcap ? t->fcap : 256;
    while (cap < t->nf + more)
        cap *= 2;
    const char **f = PyMem_RawRealloc((void *)t->fns, cap * sizeof *f);
    if (!f)
        return CW_ENOMEM;
    t->fns = f;
    t->fcap = cap;
    return 0;
}

static int cmp_trace_id(const void *a, const void *b)
{
    return strcmp(((const cw_trace_summary *)a)->trace_id, ((const cw_trace_summary *)b)->trace_id);
}

static int cmp_chain_id(const void *a, const void *b)
{
    return strcmp(((const cw_chain_summary *)a)->chain_id, ((const cw_chain_summary *)b)->chain_id);
}

/* The summary array of a set: traces or chains. */
static void *tset_items(const tset *t, int chains)
{
    return chains ? (void *)t->c : (void *)t->s;
}

/* Item i's id (a trace id or a chain id, both CW_TRACE_ID_LEN bytes). */
static const char *tset_id(const tset *t, int chains, size_t i)
{
    return chains ? t->c[i].chain_id : t->s[i].trace_id;
}

/* cw_engine_top or cw_engine_top_chains into the set's array. */
static int tset_top(cw_engine *e, int chains, cw_sort by, size_t cap, tset *t, size_t *count)
{
    return chains ? cw_engine_top_chains(e, by, cap, t->c, count)
                  : cw_engine_top(e, by, cap, t->s, count);
}

/* Item j becomes the full summary of `id` with its functions appended at
 * fns[nf..]; *nfunctions is how many it has (more than room: nothing stored,
 * call again with more room). */
static int tset_fetch(cw_engine *e, int chains, const char *id, tset *t, size_t j,
                      size_t room, size_t *nfunctions)
{
    int rc;
    if (chains) {
        cw_chain_summary full;
        if ((rc = cw_engine_chain(e, id, &full, t->fns + t->nf, room)) == 0 &&
            (*nfunctions = full.nfunctions) <= room)
            t->c[j] = full;
    } else {
        cw_trace_summary full;
        if ((rc = cw_engine_trace(e, id, &full, t->fns + t->nf, room)) == 0 &&
            (*nfunctions = full.nfunctions) <= room)
            t->s[j] = full;
    }
    return rc;
}

/* The n traces (or chains) largest by `by` (SIZE_MAX: all completed ones),
 * each with its functions, optionally re-sorted by id. Summaries evicted
 * between the ranking and the function lookup are left out. For chains,
 * CW_SORT_SPANS ranks by invocations. No GIL. */
static int collect(cw_engine *e, int chains, cw_sort by, size_t n, int by_id, tset *t)
{
    memset(t, 0, sizeof *t);
    size_t cap = n;
    if (n == SIZE_MAX) {
        cw_stats st;
        cw_engine_stats(e, &st);
        cap = (size_t)(chains ? st.chains : st.summaries) + 64;
    }
    if (cap == 0)
        return 0;
    size_t elsize = chains ? sizeof *t->c : sizeof *t->s;
    int rc;
    for (;;) {
        void *grown = PyMem_RawRealloc(tset_items(t, chains), cap * elsize);
        if (!grown)
            return CW_ENOMEM;
        if (chains)
            t->c = grown;
        else
            t->s = grown;
        size_t count = 0;
        if ((rc = tset_top(e, chains, by, cap, t, &count)) != 0)
            return rc;
        t->n = count;
        /* All of them, unless the store grew past our estimate meanwhile. */
        if (n != SIZE_MAX || count < cap)
            break;
        cap *= 2;
    }
    if (by_id && t->n > 1)
        qsort(tset_items(t, chains), t->n, elsize, chains ? cmp_chain_id : cmp_trace_id);
    t->foff = PyMem_RawMalloc((t->n ? t->n : 1) * sizeof *t->foff);
    if (!t->foff || tset_reserve_fns(t, t->n * 4 + 1))
        return CW_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < t->n; i++) {
        char id[CW_TRACE_ID_LEN];
        memcpy(id, tset_id(t, chains, i), sizeof id);
        for (;;) {
            size_t room = t->fcap - t->nf, nfunctions = 0;
            rc = tset_fetch(e, chains, id, t, j, room, &nfunctions);
            if (rc == CW_ENOTFOUND)
                break;
            if (rc)
                return rc;
            if (nfunctions > room) {
                if (tset_reserve_fns(t, nfunctions))
                    return CW_ENOMEM;
                continue;
            }
            t->foff[j++] = t->nf;
            t->nf += nfunctions;
            break;
        }
    }
    t->n = j;
    return 0;
}

static PyObject *tset_list(tset *t, int chains)
{
    strcache sc = {0};
    PyObject *l = PyList_New((Py_ssize_t)t->n);
    for (size_t i = 0; l && i < t->n; i++) {
        PyObject *d = chains ? chain_dict(&sc, &t->c[i], t->fns + t->foff[i])
                             : trace_dict(&sc, &t->s[i], t->fns + t->foff[i]);
        if (!d) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, d);
    }
    strcache_clear(&sc);
    return l;
}

/* ---------------------------------------------------------------- engine */

typedef struct EngineObject {
    PyObject_HEAD
    cw_engine *e;
    /* Calls running on e, with or without the GIL (see the file comment);
     * GIL-protected. */
    int busy;
    int closing;
    alloc_count alloc;
    /* Counters at close(), for stats() on a closed engine. */
    cw_stats final;
    int have_final;
    PyObject *weakrefs;
} EngineObject;

static PyTypeObject EngineType;

/* Guards a call on self->e: 0, or -1 with causeway.Error(CW_ECLOSED). */
static int enter(EngineObject *self)
{
    if (!self->e || self->closing) {
        raise_cw(CW_ECLOSED, NULL, self->e ? "engine is closing" : "engine is closed", 0, 0,
                 NULL);
        return -1;
    }
    self->busy++;
    return 0;
}

static void leave(EngineObject *self)
{
    self->busy--;
}

typedef struct optdef {
    const char *name;
    size_t off;
    int bits; /* 32 or 64 */
    const char *doc;
} optdef;

#define EOPT(name, bits) {#name, offsetof(cw_engine_options, name), bits, NULL}
static const optdef engine_opts[] = {
    EOPT(memory_budget, 64),          EOPT(idle_timeout_ns, 64), EOPT(max_trace_age_ns, 64),
    EOPT(max_decompressed_bytes, 64), EOPT(max_file_bytes, 64),  EOPT(max_attr_len, 32),
    EOPT(intern_limit, 32),           EOPT(summary_budget, 64),  EOPT(completion_threads, 32),
    EOPT(expected_spans, 64),
};
#undef EOPT

/* Stores v (a non-negative int, or an integral float such as 5e9) into the
 * option at base + d->off. -1 with TypeError / causeway.Error(CW_EINVAL). */
static int set_num_option(void *base, const optdef *d, PyObject *v)
{
    PyObject *num = NULL;
    if (PyFloat_Check(v)) {
        double x = PyFloat_AS_DOUBLE(v);
        if (!(x >= 0 && x < 18446744073709551616.0) || x != (double)(uint64_t)x) {
            PyObject *w = PyUnicode_FromString(d->name);
            raise_cw(CW_EINVAL, w, "must be a non-negative integer", 0, 0, NULL);
            Py_XDECREF(w);
            return -1;
        }
        num = PyLong_FromDouble(x);
    } else if (PyBool_Check(v) || !PyIndex_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s: expected an int, got %.100s", d->name,
                     Py_TYPE(v)->tp_name);
        return -1;
    } else {
        num = PyNumber_Index(v);
    }
    if (!num)
        return -1;
    unsigned long long x = PyLong_AsUnsignedLongLong(num);
    Py_DECREF(num);
    if (PyErr_Occurred() || (d->bits == 32 && x > UINT32_MAX)) {
        PyErr_Clear();
        PyObject *w = PyUnicode_FromString(d->name);
        raise_cw(CW_EINVAL, w,
                 d->bits == 32 ? "must be an integer from 0 to 2^32-1"
                               : "must be an integer from 0 to 2^64-1",
                 0, 0, NULL);
        Py_XDECREF(w);
        return -1;
    }
    if (d->bits == 32)
        *(uint32_t *)((char *)base + d->off) = (uint32_t)x;
    else
        *(uint64_t *)((char *)base + d->off) = (uint64_t)x;
    return 0;
}

static const optdef *find_opt(const optdef *defs, size_t n, PyObject *key)
{
    const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
    if (!k) {
        PyErr_Clear();
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(defs[i].name, k) == 0)
            return &defs[i];
    return NULL;
}

static PyObject *Engine_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    EngineObject *self = (EngineObject *)type->tp_alloc(type, 0);
    if (self) {
        atomic_init(&self->alloc.bytes, 0);
        atomic_init(&self->alloc.blocks, 0);
    }
    return (PyObject *)self;
}

static int Engine_init(EngineObject *self, PyObject *args, PyObject *kw)
{
    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "Engine() takes keyword options only");
        return -1;
    }
    if (self->e || self->have_final) {
        PyErr_SetString(PyExc_RuntimeError, "Engine.__init__ called twice");
        return -1;
    }
    cw_engine_options o;
    cw_engine_options_init(&o);
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (kw && PyDict_Next(kw, &pos, &key, &value)) {
        const optdef *d = find_opt(engine_opts, sizeof engine_opts / sizeof *engine_opts, key);
        if (!d) {
            PyErr_Format(PyExc_TypeError, "Engine() got an unexpected option %R", key);
            return -1;
        }
        if (set_num_option(&o, d, value) < 0)
            return -1;
    }
    o.allocator = (cw_allocator){ca_malloc, ca_realloc, ca_free, ca_calloc, &self->alloc};
    cw_engine *e = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = cw_engine_new(&e, &o);
    Py_END_ALLOW_THREADS
    if (rc) {
        raise_cw(rc, NULL,
                 rc == CW_EINVAL ? "an option is out of range (see help(causeway.Engine))" : NULL,
                 0, 0, NULL);
        return -1;
    }
    self->e = e;
    return 0;
}

static void stop_servers_of(EngineObject *engine);

/* Frees the engine, keeping its final counters. With the GIL; gives it up
 * while waiting for calls in progress and while freeing. */
static void engine_close(EngineObject *self)
{
    if (!self->e || self->closing)
        return;
    self->closing = 1;
    stop_servers_of(self);
    /* Calls in progress hold busy; they need the GIL to finish, which we
     * give up while polling. A millisecond is short next to a query. */
    while (self->busy > 0) {
        Py_BEGIN_ALLOW_THREADS
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        Py_END_ALLOW_THREADS
    }
    cw_engine *e = self->e;
    cw_engine_stats(e, &self->final);
    self->have_final = 1;
    self->e = NULL;
    Py_BEGIN_ALLOW_THREADS
    cw_engine_free(e);
    Py_END_ALLOW_THREADS
    self->final.bytes_in_use = (uint64_t)atomic_load_explicit(&self->alloc.bytes,
                                                             memory_order_relaxed);
    self->final.bytes_live_spans = 0;
    self->final.spans_live = 0;
    self->final.traces_live = 0;
    self->closing = 0;
}

static void Engine_dealloc(EngineObject *self)
{
    if (self->weakrefs)
        PyObject_ClearWeakRefs((PyObject *)self);
    /* No call can be running (each holds a reference), and running servers
     * hold one too, so nothing uses the engine any more. */
    if (self->e) {
        cw_engine *e = self->e;
        self->e = NULL;
        Py_BEGIN_ALLOW_THREADS
        cw_engine_free(e);
        Py_END_ALLOW_THREADS
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(close_doc, "close()\n--\n\n"
"Stop the engine's servers, wait for calls running in other threads, and\n"
"free the engine and everything it holds. Idempotent. Afterwards every\n"
"method raises causeway.Error (CW_ECLOSED) except stats(), which returns the\n"
"final counters with bytes_in_use = the bytes the engine did not give back\n"
"(0 when it freed everything).");

static PyObject *Engine_close(EngineObject *self, PyObject *unused)
{
    engine_close(self);
    Py_RETURN_NONE;
}

static PyObject *Engine_enter(EngineObject *self, PyObject *unused)
{
    if (!self->e)
        return raise_simple(CW_ECLOSED, "engine is closed");
    return Py_NewRef(self);
}

static PyObject *Engine_exit(EngineObject *self, PyObject *args)
{
    engine_close(self);
    Py_RETURN_FALSE;
}

/* "protobuf" or "json" (+ gzip) to CW_ENC_*; -1 with causeway.Error. */
static int encoding_flags(const char *encoding, int gzip)
{
    unsigned f;
    if (strcmp(encoding, "protobuf") == 0)
        f = CW_ENC_PROTOBUF;
    else if (strcmp(encoding, "json") == 0)
        f = CW_ENC_JSON;
    else {
        raise_simple(CW_EINVAL, "encoding must be \"protobuf\" or \"json\"");
        return -1;
    }
    return (int)(f | (gzip ? (unsigned)CW_ENC_GZIP : 0u));
}

static PyObject *result_dict(const cw_ingest_result *r)
{
    PyObject *d = PyDict_New(), *rej = PyDict_New();
    if (!d || !rej)
        goto fail;
    for (int k = 0; k < CW_REJECT_COUNT; k++)
        if (put_u64(rej, reject_names[k], r->rejected[k]))
            goto fail;
    if (put_u64(d, k_spans_accepted, r->spans_accepted) ||
        put_u64(d, k_spans_rejected, r->spans_rejected) || put(d, k_rejected, Py_NewRef(rej)) ||
        put_u64(d, k_links_dropped, r->links_dropped) ||
        put(d, k_reason, r->reason ? decode(r->reason) : Py_NewRef(Py_None)))
        goto fail;
    Py_DECREF(rej);
    return d;
fail:
    Py_XDECREF(d);
    Py_XDECREF(rej);
    return NULL;
}

/* The outcome of an ingest call: the result dict, or causeway.Error with it
 * attached. */
static PyObject *ingest_outcome(int rc, const cw_ingest_result *r, PyObject *where)
{
    PyObject *d = result_dict(r);
    if (!d || !rc)
        return d;
    raise_cw(rc, where, r->reason, r->error_offset, r->error_line, d);
    Py_DECREF(d);
    return NULL;
}

PyDoc_STRVAR(ingest_doc, "ingest(data, encoding='protobuf', gzip=False)\n--\n\n"
"Decode one OTLP trace request and add its spans to the engine.\n\n"
"data: bytes-like (bytes, bytearray, memoryview, mmap), or str for JSON.\n"
"encoding: 'protobuf' (ExportTraceServiceRequest or TracesData) or 'json'\n"
"(the OTLP JSON mapping). gzip: the data is gzip-compressed.\n\n"
"A request decodes as a whole or not at all: a malformed one raises\n"
"causeway.Error (CW_EPROTO, CW_EJSON, CW_EGZIP, CW_ETOOBIG) and keeps nothing.\n"
"Spans with bad ids are rejected one by one and counted, the rest kept (the\n"
"OTLP partial-success case): no exception, see the result. Over the memory\n"
"budget raises CW_EBUDGET (error.result tells what was kept).\n\n"
"Returns {'spans_accepted', 'spans_rejected', 'rejected': {reason: n},\n"
"'links_dropped', 'reason'}. Releases the GIL: call it from many threads.");

static PyObject *Engine_ingest(EngineObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"data", "encoding", "gzip", NULL};
    PyObject *data;
    const char *encoding = "protobuf";
    int gzip = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|sp:ingest", kwlist, &data, &encoding, &gzip))
        return NULL;
    int flags = encoding_flags(encoding, gzip);
    if (flags < 0)
        return NULL;
    Py_buffer view = {0};
    const char *p;
    Py_ssize_t len;
    if (PyUnicode_Check(data)) {
        if ((flags & CW_ENC_FORMAT_MASK) != CW_ENC_JSON || gzip)
            return raise_simple(CW_EINVAL, "a str is accepted for encoding='json' only");
        /* The UTF-8 form is cached in the str object, which the caller's
         * argument keeps alive for the call. */
        if (!(p = PyUnicode_AsUTF8AndSize(data, &len)))
            return NULL;
    } else {
        if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
            return NULL;
        p = view.buf;
        len = view.len;
    }
    if (enter(self) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    cw_ingest_result r;
    int rc;
    /* The exported buffer cannot be resized or freed while we hold the
     * view (bytearray and mmap refuse), so it stays valid without the
     * GIL. */
    Py_BEGIN_ALLOW_THREADS
    rc = cw_engine_ingest(self->e, p, (size_t)len, (unsigned)flags, &r);
    Py_END_ALLOW_THREADS
    leave(self);
    PyBuffer_Release(&view);
    return ingest_outcome(rc, &r, NULL);
}

PyDoc_STRVAR(ingest_file_doc, "ingest_file(path)\n--\n\n"
"Read and ingest a trace file (SPEC.md section 1): .pb/.bin one binary\n"
"request; .json one JSON request; .jsonl/.ndjson one JSON request or\n"
"TracesData per line; any of them gzipped with .gz appended; '-' reads\n"
"standard input; other names are recognized by their content.\n\n"
"For line files, lines before a bad one stay ingested; the error names the\n"
"line (error.line). Raises causeway.Error (CW_EIO when the file cannot be\n"
"read, plus every code of ingest()). Returns the result dict of ingest().\n"
"Releases the GIL.");

static PyObject *Engine_ingest_file(EngineObject *self, PyObject *arg)
{
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(arg, &bytes))
        return NULL;
    if (enter(self) < 0) {
        Py_DECREF(bytes);
        return NULL;
    }
    const char *path = PyBytes_AS_STRING(bytes);
    cw_ingest_result r;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = cw_engine_ingest_file(self->e, path, &r);
    Py_END_ALLOW_THREADS
    leave(self);
    PyObject *where = PyOS_FSPath(arg);
    PyObject *out = where ? ingest_outcome(rc, &r, where) : NULL;
    Py_XDECREF(where);
    Py_DECREF(bytes);
    return out;
}

PyDoc_STRVAR(tick_doc, "tick()\n--\n\n"
"Complete every live trace idle for idle_timeout_ns (or live for\n"
"max_trace_age_ns) now, computing its summary. Returns how many completed.\n"
"A running server ticks by itself; offline, call flush() instead.");

/* tick() and flush(): cw_engine_tick or cw_engine_flush without the GIL. */
static PyObject *complete_now(EngineObject *self, uint64_t (*complete)(cw_engine *))
{
    if (enter(self) < 0)
        return NULL;
    uint64_t n;
    Py_BEGIN_ALLOW_THREADS
    n = complete(self->e);
    Py_END_ALLOW_THREADS
    leave(self);
    return PyLong_FromUnsignedLongLong(n);
}

static PyObject *Engine_tick(EngineObject *self, PyObject *unused)
{
    return complete_now(self, cw_engine_tick);
}

PyDoc_STRVAR(flush_doc, "flush()\n--\n\n"
"Complete every live trace now, whatever its age (end of input). Returns\n"
"how many completed. traces(), chains(), edges(), top() and the details\n"
"see completed traces only, so call this after loading files.");

static PyObject *Engine_flush(EngineObject *self, PyObject *unused)
{
    return complete_now(self, cw_engine_flush);
}

/* Copies a 32-hex-digit id argument; -1 with an exception. */
static int id_arg(PyObject *arg, char out[CW_TRACE_ID_LEN], const char *what)
{
    Py_ssize_t n;
    const char *s = PyUnicode_Check(arg) ? PyUnicode_AsUTF8AndSize(arg, &n) : NULL;
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str of 32 hex digits, not %.100s", what,
                     Py_TYPE(arg)->tp_name);
        return -1;
    }
    if (!s)
        return -1;
    if (n != 32) {
        raise_cw(CW_EINVAL, arg, "an id is 32 hex digits", 0, 0, NULL);
        return -1;
    }
    memcpy(out, s, 33);
    return 0;
}

PyDoc_STRVAR(trace_doc, "trace(trace_id)\n--\n\n"
"The summary of one trace (SPEC.md section 3.1) as a dict: completed, or\n"
"live (computed on the spot, 'complete': False). trace_id: 32 hex digits,\n"
"either case. Raises causeway.Error: CW_ENOTFOUND, CW_EINVAL (malformed id).");

/* trace() and chain(): one summary with its functions, as a dict. */
static PyObject *one_summary(EngineObject *self, PyObject *arg, int chains)
{
    char id[CW_TRACE_ID_LEN];
    if (id_arg(arg, id, chains ? "chain_id" : "trace_id") < 0 || enter(self) < 0)
        return NULL;
    const char *stack[64], **fns = stack;
    size_t cap = 64, nfunctions = 0;
    union {
        cw_trace_summary t;
        cw_chain_summary c;
    } s;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        if (chains) {
            rc = cw_engine_chain(self->e, id, &s.c, fns, cap);
            nfunctions = s.c.nfunctions;
        } else {
            rc = cw_engine_trace(self->e, id, &s.t, fns, cap);
            nfunctions = s.t.nfunctions;
        }
        if (rc || nfunctions <= cap)
            break;
        if (fns != stack)
            PyMem_RawFree((void *)fns);
        cap = nfunctions + 16;
        if (!(fns = PyMem_RawMalloc(cap * sizeof *fns))) {
            rc = CW_ENOMEM;
            break;
        }
    }
    Py_END_ALLOW_THREADS
    PyObject *out = NULL;
    if (rc) {
        raise_cw(rc, arg, NULL, 0, 0, NULL);
    } else {
        strcache sc = {0};
        out = chains ? chain_dict(&sc, &s.c, fns) : trace_dict(&sc, &s.t, fns);
        strcache_clear(&sc);
    }
    if (fns && fns != stack)
        PyMem_RawFree((void *)fns);
    leave(self);
    return out;
}

static PyObject *Engine_trace(EngineObject *self, PyObject *arg)
{
    return one_summary(self, arg, 0);
}

PyDoc_STRVAR(chain_doc, "chain(chain_id)\n--\n\n"
"The summary of one chain (SPEC.md section 3.2) as a dict; its id is the\n"
"smallest trace id among its traces. Raises causeway.Error: CW_ENOTFOUND,\n"
"CW_EINVAL.");

static PyObject *Engine_chain(EngineObject *self, PyObject *arg)
{
    return one_summary(self, arg, 1);
}

/* "depth", "fanout", "retries", "recursion", "spans" to cw_sort. */
static int sort_arg(const char *by, cw_sort *out)
{
    static const char *const names[] = {"depth", "fanout", "retries", "recursion", "spans"};
    for (int i = 0; i < 5; i++)
        if (strcmp(by, names[i]) == 0) {
            *out = (cw_sort)i;
            return 0;
        }
    raise_simple(CW_EINVAL, "by must be depth, fanout, retries, recursion or spans");
    return -1;
}

static PyObject *summaries(EngineObject *self, int chains, cw_sort by, size_t n, int by_id)
{
    if (enter(self) < 0)
        return NULL;
    tset t;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = collect(self->e, chains, by, n, by_id, &t);
    Py_END_ALLOW_THREADS
    PyObject *out = rc ? raise_simple(rc, NULL) : tset_list(&t, chains);
    Py_BEGIN_ALLOW_THREADS
    tset_free(&t);
    Py_END_ALLOW_THREADS
    leave(self);
    return out;
}

PyDoc_STRVAR(traces_doc, "traces()\n--\n\n"
"Every completed trace's summary (SPEC.md section 3.1), sorted by trace_id,\n"
"as a list of dicts. Nanosecond fields are ints.");

static PyObject *Engine_traces(EngineObject *self, PyObject *unused)
{
    return summaries(self, 0, CW_SORT_SPANS, SIZE_MAX, 1);
}

PyDoc_STRVAR(chains_doc, "chains()\n--\n\n"
"Every chain's summary (SPEC.md section 3.2), sorted by chain_id.");

static PyObject *Engine_chains(EngineObject *self, PyObject *unused)
{
    return summaries(self, 1, CW_SORT_SPANS, SIZE_MAX, 1);
}

PyDoc_STRVAR(top_doc, "top(by='depth', n=10)\n--\n\n"
"The n completed traces largest by one key: 'depth', 'fanout' (max_fanout),\n"
"'retries', 'recursion' (max_recursion) or 'spans'; ties go to more spans,\n"
"then the smaller trace id. A list of trace summaries, largest first.");

static PyObject *Engine_top(EngineObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"by", "n", NULL};
    const char *bys = "depth";
    Py_ssize_t n = 10;
    cw_sort by;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|sn:top", kwlist, &bys, &n) || sort_arg(bys, &by))
        return NULL;
    if (n < 0)
        return raise_simple(CW_EINVAL, "n must be >= 0");
    return summaries(self, 0, by, (size_t)n, 0);
}

PyDoc_STRVAR(top_chains_doc, "top_chains(by='depth', n=10)\n--\n\n"
"The n chains largest by one key, as top() ('spans' ranks chains by\n"
"invocations; ties go to more traces, then the smaller chain id).");

static PyObject *Engine_top_chains(EngineObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"by", "n", NULL};
    const char *bys = "depth";
    Py_ssize_t n = 10;
    cw_sort by;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|sn:top_chains", kwlist, &bys, &n) ||
        sort_arg(bys, &by))
        return NULL;
    if (n < 0)
        return raise_simple(CW_EINVAL, "n must be >= 0");
    return summaries(self, 1, by, (size_t)n, 0);
}

PyDoc_STRVAR(edges_doc, "edges()\n--\n\n"
"The service graph (SPEC.md section 3.3): one dict per (caller, callee,\n"
"kind) with calls, errors, retries, p50_ns and p99_ns (ints), sorted by\n"
"caller, callee, kind.");

static PyObject *Engine_edges(EngineObject *self, PyObject *unused)
{
    if (enter(self) < 0)
        return NULL;
    cw_edge_summary *v = NULL;
    size_t n = 0, cap = 64;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        cw_edge_summary *nv = PyMem_RawRealloc(v, cap * sizeof *v);
        if (!nv) {
            rc = CW_ENOMEM;
            break;
        }
        v = nv;
        size_t total = 0;
        if ((rc = cw_engine_edges(self->e, v, cap, &total)) != 0)
            break;
        if (total <= cap) {
            n = total;
            break;
        }
        cap = total + 64; /* edges appeared meanwhile: again, larger */
    }
    Py_END_ALLOW_THREADS
    PyObject *out = NULL;
    if (rc) {
        raise_simple(rc, NULL);
    } else {
        strcache sc = {0};
        out = PyList_New((Py_ssize_t)n);
        for (size_t i = 0; out && i < n; i++) {
            PyObject *d = edge_dict(&sc, &v[i]);
            if (!d) {
                Py_CLEAR(out);
                break;
            }
            PyList_SET_ITEM(out, (Py_ssize_t)i, d);
        }
        strcache_clear(&sc);
    }
    PyMem_RawFree(v);
    leave(self);
    return out;
}

/* The detail of one completed trace, or NULL with causeway.Error. */
static cw_detail *get_detail(EngineObject *self, PyObject *arg, char id[CW_TRACE_ID_LEN])
{
    cw_detail *d = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = cw_engine_detail(self->e, id, &d);
    Py_END_ALLOW_THREADS
    if (rc) {
        raise_cw(rc, arg, rc == CW_ENOTFOUND ? "no completed trace with this id" : NULL, 0, 0,
                 NULL);
        return NULL;
    }
    return d;
}

PyDoc_STRVAR(retry_groups_doc, "retry_groups(trace_id)\n--\n\n"
"The retry groups of a completed trace (SPEC.md section 3.4), as\n"
"`causeway analyze --detail --json` writes them: dicts with type\n"
"'retry_group', trace_id, caller, target, kind ('call', or 'redelivery'\n"
"for entry spans sharing faas.invocation_id), attempts, failed, retries,\n"
"final_status ('UNSET', 'OK' or 'ERROR') and span_ids (16 hex digits, in\n"
"attempt order). Raises causeway.Error (CW_ENOTFOUND, CW_EINVAL).");

static PyObject *Engine_retry_groups(EngineObject *self, PyObject *arg)
{
    char id[CW_TRACE_ID_LEN];
    if (id_arg(arg, id, "trace_id") < 0 || enter(self) < 0)
        return NULL;
    cw_detail *d = get_detail(self, arg, id);
    PyObject *out = NULL, *tid = NULL;
    strcache sc = {0};
    if (!d)
        goto done;
    size_t n = cw_detail_retry_count(d);
    if (!(out = PyList_New((Py_ssize_t)n)) || !(tid = PyUnicode_FromString(id)))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        cw_retry_group g;
        cw_detail_retry_group(d, i, &g);
        PyObject *dict = PyDict_New(), *ids = PyList_New((Py_ssize_t)g.nspans);
        if (dict)
            PyList_SET_ITEM(out, (Py_ssize_t)i, dict);
        if (!dict || !ids) {
            Py_XDECREF(ids);
            goto fail;
        }
        for (size_t k = 0; k < g.nspans; k++) {
            PyObject *h = span_hex(g.span_ids[k]);
            if (!h) {
                Py_DECREF(ids);
                goto fail;
            }
            PyList_SET_ITEM(ids, (Py_ssize_t)k, h);
        }
        /* status as the CLI names it (OTLP StatusCode: 0 unset, 1 ok, 2 error) */
        PyObject *status = g.final_status == 2 ? k_ERROR : g.final_status == 1 ? k_OK : k_UNSET;
        if (put(dict, k_type, Py_NewRef(k_retry_group)) || put(dict, k_trace_id, Py_NewRef(tid)) ||
            put(dict, k_caller, strcache_get(&sc, g.caller)) ||
            put(dict, k_target, strcache_get(&sc, g.target)) ||
            put(dict, k_kind, Py_NewRef(g.redelivery ? k_redelivery : k_call)) ||
            put_u64(dict, k_attempts, g.attempts) || put_u64(dict, k_failed, g.failed) ||
            put_u64(dict, k_retries, g.retries) || put(dict, k_final_status, Py_NewRef(status))) {
            Py_DECREF(ids);
            goto fail;
        }
        if (put(dict, k_span_ids, ids))
            goto fail;
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    Py_XDECREF(tid);
    strcache_clear(&sc);
    cw_detail_free(d);
    leave(self);
    return out;
}

PyDoc_STRVAR(loops_doc, "loops(trace_id)\n--\n\n"
"The recursion of a completed trace (SPEC.md section 3.4), as\n"
"`causeway analyze --detail --json` writes it: an empty list when no\n"
"function repeats on a causal path (max_recursion 1), else one dict with\n"
"type 'loop', trace_id, function (the one that recurses most), occurrences\n"
"and path (the deepest such path, caller first: [{'function', 'span_id'}]).\n"
"Raises causeway.Error (CW_ENOTFOUND, CW_EINVAL).");

static PyObject *Engine_loops(EngineObject *self, PyObject *arg)
{
    char id[CW_TRACE_ID_LEN];
    if (id_arg(arg, id, "trace_id") < 0 || enter(self) < 0)
        return NULL;
    cw_detail *d = get_detail(self, arg, id);
    PyObject *out = NULL, *dict = NULL, *path = NULL;
    const char **fns = NULL;
    uint64_t *spans = NULL;
    strcache sc = {0};
    if (!d)
        goto done;
    uint32_t occ = 1;
    const char *fn = cw_detail_loop_function(d, &occ);
    if (!(out = PyList_New(0)))
        goto done;
    if (!fn)
        goto done;
    size_t n = cw_detail_loop_path(d, NULL, NULL, 0);
    fns = PyMem_Calloc(n ? n : 1, sizeof *fns);
    spans = PyMem_Calloc(n ? n : 1, sizeof *spans);
    if (!fns || !spans) {
        PyErr_NoMemory();
        goto fail;
    }
    cw_detail_loop_path(d, fns, spans, n);
    if (!(path = PyList_New((Py_ssize_t)n)) || !(dict = PyDict_New()))
        goto fail;
    for (size_t k = 0; k < n; k++) {
        PyObject *step = PyDict_New();
        if (!step)
            goto fail;
        PyList_SET_ITEM(path, (Py_ssize_t)k, step);
        if (put(step, k_function, strcache_get(&sc, fns[k])) ||
            put(step, k_span_id, span_hex(spans[k])))
            goto fail;
    }
    if (put(dict, k_type, Py_NewRef(k_loop)) || put(dict, k_trace_id, PyUnicode_FromString(id)) ||
        put(dict, k_function, strcache_get(&sc, fn)) || put_u64(dict, k_occurrences, occ) ||
        put(dict, k_path, Py_NewRef(path)) || PyList_Append(out, dict) < 0)
        goto fail;
    goto done;
fail:
    Py_CLEAR(out);
done:
    Py_XDECREF(dict);
    Py_XDECREF(path);
    PyMem_Free((void *)fns);
    PyMem_Free(spans);
    strcache_clear(&sc);
    cw_detail_free(d);
    leave(self);
    return out;
}

PyDoc_STRVAR(dump_doc, "dump(traces=True, chains=True, edges=True)\n--\n\n"
"The chosen objects as JSON lines, exactly as `causeway analyze --json`\n"
"prints them (SPEC.md section 3 order: traces by trace_id, chains by\n"
"chain_id, edges by caller, callee, kind), as one str.");

static PyObject *Engine_dump(EngineObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"traces", "chains", "edges", NULL};
    int t = 1, c = 1, ed = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|$ppp:dump", kwlist, &t, &c, &ed) ||
        enter(self) < 0)
        return NULL;
    unsigned what = (t ? CW_DUMP_TRACES : 0u) | (c ? CW_DUMP_CHAINS : 0u) |
                    (ed ? CW_DUMP_EDGES : 0u);
    rawbuf b = {0};
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS
    if (what)
        rc = cw_engine_dump(self->e, what, rawbuf_write, &b);
    Py_END_ALLOW_THREADS
    PyObject *out = rc ? raise_simple(rc, NULL)
                       : PyUnicode_DecodeUTF8(b.p ? b.p : "", (Py_ssize_t)b.n, "replace");
    PyMem_RawFree(b.p);
    leave(self);
    return out;
}

PyDoc_STRVAR(dot_doc, "dot(id)\n--\n\n"
"The invocation graph of a completed trace, or of a whole chain (give its\n"
"chain id), as Graphviz DOT text (what `causeway dot` prints): one node per\n"
"invocation (function and entry span id; red when the entry span failed),\n"
"one cluster per trace, solid edges for sync calls, dashed for async calls\n"
"through a parent, dotted for span links. Raises causeway.Error\n"
"(CW_ENOTFOUND, CW_EINVAL).");

static PyObject *Engine_dot(EngineObject *self, PyObject *arg)
{
    char id[CW_TRACE_ID_LEN];
    if (id_arg(arg, id, "id") < 0 || enter(self) < 0)
        return NULL;
    rawbuf b = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = cw_engine_dot(self->e, id, rawbuf_write, &b);
    Py_END_ALLOW_THREADS
    PyObject *out = rc ? raise_cw(rc, arg, NULL, 0, 0, NULL)
                       : PyUnicode_DecodeUTF8(b.p ? b.p : "", (Py_ssize_t)b.n, "replace");
    PyMem_RawFree(b.p);
    leave(self);
    return out;
}

static PyObject *stats_dict(const cw_stats *st)
{
    PyObject *d = PyDict_New(), *rej = PyDict_New();
    if (!d || !rej)
        goto fail;
    for (int k = 0; k < CW_REJECT_COUNT; k++)
        if (put_u64(rej, reject_names[k], st->rejected[k]))
            goto fail;
    struct {
        const char *name;
        uint64_t v;
    } f[] = {
        {"requests", st->requests},
        {"requests_rejected", st->requests_rejected},
        {"spans_received", st->spans_received},
        {"spans_accepted", st->spans_accepted},
        {"spans_rejected", st->spans_rejected},
        {"links_dropped", st->links_dropped},
        {"duplicates", st->duplicates},
        {"spans_live", st->spans_live},
        {"traces_live", st->traces_live},
        {"traces_completed", st->traces_completed},
        {"chains", st->chains},
        {"summaries", st->summaries},
        {"summaries_evicted", st->summaries_evicted},
        {"links_pending", st->links_pending},
        {"links_unresolved", st->links_unresolved},
        {"bytes_in_use", st->bytes_in_use},
        {"bytes_live_spans", st->bytes_live_spans},
        {"intern_strings", st->intern_strings},
        {"intern_overflow", st->intern_overflow},
        {"strings_truncated", st->strings_truncated},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(f[i].v);
        int rc = v ? PyDict_SetItemString(d, f[i].name, v) : -1;
        Py_XDECREF(v);
        if (rc)
            goto fail;
        if (strcmp(f[i].name, "spans_rejected") == 0 && PyDict_SetItem(d, k_rejected, rej) < 0)
            goto fail;
    }
    Py_DECREF(rej);
    return d;
fail:
    Py_XDECREF(d);
    Py_XDECREF(rej);
    return NULL;
}

PyDoc_STRVAR(stats_doc, "stats()\n--\n\n"
"The engine's counters (cw_stats): requests, requests_rejected,\n"
"spans_received, spans_accepted, spans_rejected, rejected (by reason),\n"
"links_dropped, duplicates, spans_live, traces_live, traces_completed,\n"
"chains, summaries, summaries_evicted, links_pending, links_unresolved,\n"
"bytes_in_use, bytes_live_spans, intern_strings, intern_overflow,\n"
"strings_truncated. After close(): the final counters, with bytes_in_use\n"
"= bytes the engine did not give back to its allocator (0 when it freed\n"
"everything) and nothing live.");

static PyObject *Engine_stats(EngineObject *self, PyObject *unused)
{
    if (!self->e) {
        if (!self->have_final)
            return raise_simple(CW_ECLOSED, "engine is closed");
        return stats_dict(&self->final);
    }
    cw_stats st;
    cw_engine_stats(self->e, &st); /* atomic loads only: no need to drop the GIL */
    return stats_dict(&st);
}

static PyObject *Engine_get_closed(EngineObject *self, void *unused)
{
    return PyBool_FromLong(self->e == NULL);
}

static PyObject *Engine_get_allocated_bytes(EngineObject *self, void *unused)
{
    return PyLong_FromLongLong(atomic_load_explicit(&self->alloc.bytes, memory_order_relaxed));
}

static PyObject *Engine_get_allocated_blocks(EngineObject *self, void *unused)
{
    return PyLong_FromLongLong(atomic_load_explicit(&self->alloc.blocks, memory_order_relaxed));
}

/* ---------------------------------------------------------------- server */

#define LOG_LINES 64

typedef struct ServerObject {
    PyObject_HEAD
    EngineObject *engine; /* strong: the engine outlives its receiver */
    cw_receiver *r;
    int port, api_port;
    PyObject *listen, *api;
    /* The receiver's log lines, newest LOG_LINES, written on its thread. */
    pthread_mutex_t log_lock;
    char *log[LOG_LINES];
    size_t log_next, log_count;
} ServerObject;

static PyTypeObject ServerType;

/* cw_receiver_options.log: runs on the receiver's loop thread, without the
 * GIL, so it only copies the line. */
static void server_log(void *ctx, const char *line)
{
    ServerObject *s = ctx;
    size_t n = strlen(line);
    char *copy = malloc(n + 1);
    if (copy)
        memcpy(copy, line, n + 1);
    pthread_mutex_lock(&s->log_lock);
    free(s->log[s->log_next]);
    s->log[s->log_next] = copy;
    s->log_next = (s->log_next + 1) % LOG_LINES;
    s->log_count++;
    pthread_mutex_unlock(&s->log_lock);
}

/* Stops and frees the receiver, with the GIL held on entry and exit (it is
 * given up while the receiver drains). Idempotent. */
static void server_stop(ServerObject *s)
{
    if (!s->r)
        return;
    cw_receiver *r = s->r;
    s->r = NULL;
    Py_BEGIN_ALLOW_THREADS
    cw_receiver_stop(r);
    cw_receiver_free(r);
    Py_END_ALLOW_THREADS
    s->engine->busy--;
    /* Off the running list: the last reference may go with it. */
    Py_ssize_t n = PyList_GET_SIZE(running_servers);
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyList_GET_ITEM(running_servers, i) == (PyObject *)s) {
            Py_INCREF(s); /* the caller still uses s */
            PySequence_DelItem(running_servers, i);
            Py_DECREF(s);
            break;
        }
}

static void stop_servers_of(EngineObject *engine)
{
    for (Py_ssize_t i = PyList_GET_SIZE(running_servers); i-- > 0;) {
        if (i >= PyList_GET_SIZE(running_servers))
            continue;
        ServerObject *s = (ServerObject *)PyList_GET_ITEM(running_servers, i);
        if (s->engine == engine) {
            Py_INCREF(s);
            server_stop(s);
            Py_DECREF(s);
        }
    }
}

static void Server_dealloc(ServerObject *s)
{
    server_stop(s); /* not running when the list dropped it; kept for safety */
    for (size_t i = 0; i < LOG_LINES; i++)
        free(s->log[i]);
    pthread_mutex_destroy(&s->log_lock);
    Py_XDECREF(s->listen);
    Py_XDECREF(s->api);
    Py_XDECREF(s->engine);
    PyObject_Free(s);
}

PyDoc_STRVAR(stop_doc, "stop()\n--\n\n"
"Stop gracefully: no new connections, requests in flight answered, then\n"
"everything closed (blocks until done). Idempotent. Live traces stay in\n"
"the engine: call engine.flush() to complete them.");

static PyObject *Server_stop(ServerObject *s, PyObject *unused)
{
    server_stop(s);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(logs_doc, "logs()\n--\n\n"
"The receiver's most recent log lines (start, stop, rejected requests),\n"
"oldest first; at most 64.");

static PyObject *Server_logs(ServerObject *s, PyObject *unused)
{
    PyObject *l = PyList_New(0);
    if (!l)
        return NULL;
    char *copy[LOG_LINES] = {0};
    size_t n;
    pthread_mutex_lock(&s->log_lock);
    n = s->log_count < LOG_LINES ? s->log_count : LOG_LINES;
    size_t first = (s->log_next + LOG_LINES - n) % LOG_LINES;
    for (size_t i = 0; i < n; i++) {
        const char *line = s->log[(first + i) % LOG_LINES];
        copy[i] = line ? strdup(line) : NULL;
    }
    pthread_mutex_unlock(&s->log_lock);
    for (size_t i = 0; i < n; i++) {
        if (l && copy[i]) {
            PyObject *v = decode(copy[i]);
            if (!v || PyList_Append(l, v) < 0)
                Py_CLEAR(l);
            Py_XDECREF(v);
        }
        free(copy[i]);
    }
    return l;
}

static PyObject *Server_enter(ServerObject *s, PyObject *unused)
{
    return Py_NewRef(s);
}

static PyObject *Server_exit(ServerObject *s, PyObject *args)
{
    server_stop(s);
    Py_RETURN_FALSE;
}

static PyObject *Server_repr(ServerObject *s)
{
    if (!s->r)
        return PyUnicode_FromString("<causeway.Server stopped>");
    if (s->api_port)
        return PyUnicode_FromFormat("<causeway.Server OTLP port %d, API port %d>", s->port,
                                    s->api_port);
    return PyUnicode_FromFormat("<causeway.Server OTLP port %d>", s->port);
}

static PyObject *Server_get_running(ServerObject *s, void *unused)
{
    return PyBool_FromLong(s->r != NULL);
}

static PyObject *Server_get_port(ServerObject *s, void *unused)
{
    return PyLong_FromLong(s->port);
}

static PyObject *Server_get_api_port(ServerObject *s, void *unused)
{
    if (!s->api_port)
        Py_RETURN_NONE;
    return PyLong_FromLong(s->api_port);
}

static PyObject *Server_get_engine(ServerObject *s, void *unused)
{
    return Py_NewRef(s->engine);
}

static PyObject *Server_get_listen(ServerObject *s, void *unused)
{
    return Py_NewRef(s->listen);
}

static PyObject *Server_get_api(ServerObject *s, void *unused)
{
    return Py_NewRef(s->api ? s->api : Py_None);
}

#define ROPT(name, bits) {#name, offsetof(cw_receiver_options, name), bits, NULL}
static const optdef receiver_opts[] = {
    ROPT(max_body_bytes, 64),      ROPT(max_header_bytes, 32),   ROPT(max_connections, 32),
    ROPT(read_timeout_ns, 64),     ROPT(keepalive_timeout_ns, 64), ROPT(tick_interval_ns, 64),
    ROPT(retry_after_s, 32),
};
#undef ROPT

PyDoc_STRVAR(serve_doc, "serve(listen='127.0.0.1:4318', api='127.0.0.1:4320', tokens=None, **options)\n--\n\n"
"Run the OTLP/HTTP receiver (POST /v1/traces) and the query API (SPEC.md\n"
"section 5) on a thread of their own, feeding this engine, and return a\n"
"Server (stop() it, or use it as a context manager). The server keeps\n"
"running while the program does, even when the Server object is dropped,\n"
"until stop(), engine.close() or interpreter exit.\n\n"
"listen / api: 'HOST:PORT' ('[::1]:4318' for IPv6); port 0 picks a free\n"
"port (Server.port, Server.api_port). api=None or '' serves no query API.\n"
"tokens: bearer tokens accepted on POST /v1/traces (none: no\n"
"authentication). options (cw_receiver_options): max_body_bytes (20 MiB),\n"
"max_header_bytes (64 KiB), max_connections (1024), read_timeout_ns (30 s),\n"
"keepalive_timeout_ns (60 s), tick_interval_ns (250 ms: how often it\n"
"completes idle traces), retry_after_s (1). Requests are decoded on libuv's\n"
"thread pool: set UV_THREADPOOL_SIZE before the first server to size it.\n"
"Raises causeway.Error: CW_EIO (cannot listen; the message says why),\n"
"CW_EINVAL (a bad address or option).");

static PyObject *Engine_serve(EngineObject *self, PyObject *args, PyObject *kw)
{
    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "serve() takes keyword arguments only");
        return NULL;
    }
    cw_receiver_options o;
    cw_receiver_options_init(&o);
    PyObject *listen = NULL, *api = NULL, *tokens = NULL;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (kw && PyDict_Next(kw, &pos, &key, &value)) {
        const char *k = PyUnicode_AsUTF8(key);
        if (!k)
            return NULL;
        if (strcmp(k, "listen") == 0) {
            listen = value;
        } else if (strcmp(k, "api") == 0) {
            api = value;
        } else if (strcmp(k, "tokens") == 0) {
            tokens = value;
        } else {
            const optdef *d =
                find_opt(receiver_opts, sizeof receiver_opts / sizeof *receiver_opts, key);
            if (!d) {
                PyErr_Format(PyExc_TypeError, "serve() got an unexpected option %R", key);
                return NULL;
            }
            if (set_num_option(&o, d, value) < 0)
                return NULL;
        }
    }
    if (listen && !PyUnicode_Check(listen)) {
        PyErr_SetString(PyExc_TypeError, "listen must be a str 'HOST:PORT'");
        return NULL;
    }
    if (api && api != Py_None && !PyUnicode_Check(api)) {
        PyErr_SetString(PyExc_TypeError, "api must be a str 'HOST:PORT', '' or None");
        return NULL;
    }
    ServerObject *s = PyObject_New(ServerObject, &ServerType);
    if (!s)
        return NULL;
    s->engine = NULL;
    s->r = NULL;
    s->port = s->api_port = 0;
    s->listen = s->api = NULL;
    memset(s->log, 0, sizeof s->log);
    s->log_next = s->log_count = 0;
    pthread_mutex_init(&s->log_lock, NULL);
    s->listen = listen ? Py_NewRef(listen) : PyUnicode_FromString(o.listen);
    s->api = api == Py_None ? NULL : api ? Py_NewRef(api) : PyUnicode_FromString(o.api_listen);
    if (!s->listen || (api != Py_None && !s->api)) {
        Py_DECREF(s);
        return NULL;
    }
    o.listen = PyUnicode_AsUTF8(s->listen);
    o.api_listen = s->api ? PyUnicode_AsUTF8(s->api) : NULL;
    if (!o.listen || (s->api && !o.api_listen)) {
        Py_DECREF(s);
        return NULL;
    }
    /* Tokens: UTF-8 views of str objects we keep in a tuple until the
     * receiver has copied them (at start). */
    PyObject *tok = NULL;
    const char **tv = NULL;
    if (tokens && tokens != Py_None) {
        if (PyUnicode_Check(tokens)) {
            PyErr_SetString(PyExc_TypeError, "tokens must be a list of str, not a str");
            Py_DECREF(s);
            return NULL;
        }
        tok = PySequence_Tuple(tokens);
        if (!tok) {
            Py_DECREF(s);
            return NULL;
        }
        Py_ssize_t n = PyTuple_GET_SIZE(tok);
        tv = PyMem_Calloc((size_t)(n ? n : 1), sizeof *tv);
        if (!tv) {
            Py_DECREF(tok);
            Py_DECREF(s);
            return PyErr_NoMemory();
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *t = PyTuple_GET_ITEM(tok, i);
            if (!PyUnicode_Check(t) || !(tv[i] = PyUnicode_AsUTF8(t))) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_TypeError, "tokens must be str");
                PyMem_Free((void *)tv);
                Py_DECREF(tok);
                Py_DECREF(s);
                return NULL;
            }
        }
        o.tokens = tv;
        o.ntokens = (size_t)n;
    }
    o.log = server_log;
    o.log_ctx = s;
    if (enter(self) < 0) {
        PyMem_Free((void *)tv);
        Py_XDECREF(tok);
        Py_DECREF(s);
        return NULL;
    }
    s->engine = (EngineObject *)Py_NewRef(self);
    cw_receiver *r = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = cw_receiver_start(&r, self->e, &o);
    Py_END_ALLOW_THREADS
    PyMem_Free((void *)tv);
    Py_XDECREF(tok);
    if (rc) {
        leave(self);
        /* The log says why ("cannot listen on ...: address already in
         * use"), among the lines of the listeners that did open and of the
         * stop that follows a failed start. */
        char *why = NULL;
        pthread_mutex_lock(&s->log_lock);
        for (size_t i = 0; i < s->log_count && i < LOG_LINES && !why; i++)
            if (s->log[i] && strncmp(s->log[i], "cannot", 6) == 0)
                why = strdup(s->log[i]);
        if (!why && s->log_count && s->log[0])
            why = strdup(s->log[0]);
        pthread_mutex_unlock(&s->log_lock);
        raise_cw(rc, NULL, why, 0, 0, NULL);
        free(why);
        Py_DECREF(s);
        return NULL;
    }
    /* A running receiver counts as a call in progress (busy stays raised
     * until server_stop), so close() stops it before freeing the engine. */
    s->r = r;
    s->port = cw_receiver_port(r, 0);
    s->api_port = cw_receiver_port(r, 1);
    if (PyList_Append(running_servers, (PyObject *)s) < 0) {
        server_stop(s);
        Py_DECREF(s);
        return NULL;
    }
    return (PyObject *)s;
}

/* ------------------------------------------------------ module functions */

PyDoc_STRVAR(stop_all_doc, "_stop_all_servers()\n--\n\n"
"Stop every running server (the package calls it at exit).");

static PyObject *mod_stop_all(PyObject *m, PyObject *unused)
{
    while (PyList_GET_SIZE(running_servers) > 0) {
        ServerObject *s = (ServerObject *)PyList_GET_ITEM(running_servers, 0);
        Py_INCREF(s);
        server_stop(s);
        Py_DECREF(s);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(c_ingest_loop_doc, "_c_ingest_loop(bodies, encoding='protobuf', gzip=False, memory_budget=...)\n--\n\n"
"Benchmark helper (bench/python_ingest.py): a fresh engine with the C\n"
"library's default allocator, then cw_engine_ingest() on each body in a C\n"
"loop, without the GIL. Returns (seconds for the loop, spans accepted).");

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static PyObject *mod_c_ingest_loop(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"bodies", "encoding", "gzip", "memory_budget", NULL};
    PyObject *bodies;
    const char *encoding = "protobuf";
    int gzip = 0;
    unsigned long long budget = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|spK:_c_ingest_loop", kwlist, &bodies,
                                     &encoding, &gzip, &budget))
        return NULL;
    int flags = encoding_flags(encoding, gzip);
    if (flags < 0)
        return NULL;
    PyObject *seq = PySequence_Fast(bodies, "bodies must be a sequence of bytes");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    Py_buffer *views = PyMem_Calloc((size_t)(n ? n : 1), sizeof *views);
    Py_ssize_t got = 0;
    PyObject *out = NULL;
    if (!views) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n; got++)
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, got), &views[got], PyBUF_SIMPLE) < 0)
            goto done;
    cw_engine_options o;
    cw_engine_options_init(&o);
    if (budget)
        o.memory_budget = budget;
    cw_engine *e = NULL;
    int rc;
    uint64_t t0 = 0, t1 = 0, spans = 0;
    Py_BEGIN_ALLOW_THREADS
    rc = cw_engine_new(&e, &o);
    if (!rc) {
        t0 = now_ns();
        for (Py_ssize_t i = 0; i < n && !rc; i++) {
            cw_ingest_result r;
            rc = cw_engine_ingest(e, views[i].buf, (size_t)views[i].len, (unsigned)flags, &r);
            spans += r.spans_accepted;
        }
        t1 = now_ns();
    }
    cw_engine_free(e);
    Py_END_ALLOW_THREADS
    if (rc)
        raise_simple(rc, NULL);
    else
        out = Py_BuildValue("(dK)", (double)(t1 - t0) / 1e9, (unsigned long long)spans);
done:
    for (Py_ssize_t i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    Py_DECREF(seq);
    return out;
}

PyDoc_STRVAR(strerror_doc, "strerror(code)\n--\n\nThe English description of a CW_E* code.");

static PyObject *mod_strerror(PyObject *m, PyObject *arg)
{
    long code = PyLong_AsLong(arg);
    if (code == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(cw_strerror(code < INT_MIN || code > INT_MAX ? 1 : (int)code));
}

/* ------------------------------------------------------------ type slots */

static PyMethodDef Engine_methods[] = {
    {"ingest", (PyCFunction)(void (*)(void))Engine_ingest, METH_VARARGS | METH_KEYWORDS, ingest_doc},
    {"ingest_file", (PyCFunction)Engine_ingest_file, METH_O, ingest_file_doc},
    {"tick", (PyCFunction)Engine_tick, METH_NOARGS, tick_doc},
    {"flush", (PyCFunction)Engine_flush, METH_NOARGS, flush_doc},
    {"trace", (PyCFunction)Engine_trace, METH_O, trace_doc},
    {"chain", (PyCFunction)Engine_chain, METH_O, chain_doc},
    {"traces", (PyCFunction)Engine_traces, METH_NOARGS, traces_doc},
    {"chains", (PyCFunction)Engine_chains, METH_NOARGS, chains_doc},
    {"top", (PyCFunction)(void (*)(void))Engine_top, METH_VARARGS | METH_KEYWORDS, top_doc},
    {"top_chains", (PyCFunction)(void (*)(void))Engine_top_chains, METH_VARARGS | METH_KEYWORDS,
     top_chains_doc},
    {"edges", (PyCFunction)Engine_edges, METH_NOARGS, edges_doc},
    {"retry_groups", (PyCFunction)Engine_retry_groups, METH_O, retry_groups_doc},
    {"loops", (PyCFunction)Engine_loops, METH_O, loops_doc},
    {"dump", (PyCFunction)(void (*)(void))Engine_dump, METH_VARARGS | METH_KEYWORDS, dump_doc},
    {"dot", (PyCFunction)Engine_dot, METH_O, dot_doc},
    {"stats", (PyCFunction)Engine_stats, METH_NOARGS, stats_doc},
    {"serve", (PyCFunction)(void (*)(void))Engine_serve, METH_VARARGS | METH_KEYWORDS, serve_doc},
    {"close", (PyCFunction)Engine_close, METH_NOARGS, close_doc},
    {"__enter__", (PyCFunction)Engine_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Engine_exit, METH_VARARGS, NULL},
    {NULL},
};

static PyGetSetDef Engine_getset[] = {
    {"closed", (getter)Engine_get_closed, NULL, "True after close().", NULL},
    {"allocated_bytes", (getter)Engine_get_allocated_bytes, NULL,
     "Bytes the engine holds from its allocator now (0 after close() when it\n"
     "freed everything).",
     NULL},
    {"allocated_blocks", (getter)Engine_get_allocated_blocks, NULL,
     "Blocks the engine holds from its allocator now (0 after close() when it\n"
     "freed everything).",
     NULL},
    {NULL},
};

PyDoc_STRVAR(Engine_doc, "Engine(**options)\n--\n\n"
"A Causeway engine: ingest OTLP traces, query their invocation chains.\n\n"
"Options (cw_engine_options, all optional ints):\n"
"  memory_budget          bytes of live span data before ingest raises\n"
"                         CW_EBUDGET (default 1 GiB)\n"
"  idle_timeout_ns        a trace completes this long after its last span\n"
"                         (default 10 s)\n"
"  max_trace_age_ns       ... or this long after its first (default 5 min)\n"
"  max_decompressed_bytes largest inflated request (default 64 MiB)\n"
"  max_file_bytes         largest file ingest_file() reads (default 4 GiB)\n"
"  max_attr_len           longer strings are cut (default 1024 bytes)\n"
"  intern_limit           distinct interned strings (default 262,144)\n"
"  summary_budget         bytes of summaries kept (default 256 MiB)\n"
"  completion_threads     threads analysing a big sweep (default 0: one\n"
"                         per online CPU, at most 8)\n"
"  expected_spans         spans to size the hash indexes for (default 0:\n"
"                         what memory_budget holds); below that, at most\n"
"                         three spans each are live at once\n\n"
"Every method may be called from any number of threads at once; the GIL is\n"
"released inside the engine. Errors raise causeway.Error, whose .name is\n"
"the CW_E* code's name. Use as a context manager, or call close().");

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "causeway._causeway.Engine",
    .tp_basicsize = sizeof(EngineObject),
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = Engine_doc,
    .tp_weaklistoffset = offsetof(EngineObject, weakrefs),
    .tp_methods = Engine_methods,
    .tp_getset = Engine_getset,
    .tp_init = (initproc)Engine_init,
    .tp_new = Engine_new,
};

static PyMethodDef Server_methods[] = {
    {"stop", (PyCFunction)Server_stop, METH_NOARGS, stop_doc},
    {"logs", (PyCFunction)Server_logs, METH_NOARGS, logs_doc},
    {"__enter__", (PyCFunction)Server_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Server_exit, METH_VARARGS, NULL},
    {NULL},
};

static PyGetSetDef Server_getset[] = {
    {"running", (getter)Server_get_running, NULL, "True until stop().", NULL},
    {"port", (getter)Server_get_port, NULL, "The OTLP/HTTP listener's port.", NULL},
    {"api_port", (getter)Server_get_api_port, NULL, "The query API's port, or None.", NULL},
    {"listen", (getter)Server_get_listen, NULL, "The OTLP/HTTP address as given.", NULL},
    {"api", (getter)Server_get_api, NULL, "The query API address as given, or None.", NULL},
    {"engine", (getter)Server_get_engine, NULL, "The engine it feeds.", NULL},
    {NULL},
};

PyDoc_STRVAR(Server_doc, "A running OTLP/HTTP receiver and query API (see Engine.serve()).");

static PyTypeObject ServerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "causeway._causeway.Server",
    .tp_basicsize = sizeof(ServerObject),
    .tp_dealloc = (destructor)Server_dealloc,
    .tp_repr = (reprfunc)Server_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = Server_doc,
    .tp_methods = Server_methods,
    .tp_getset = Server_getset,
};

static PyMethodDef module_methods[] = {
    {"_stop_all_servers", mod_stop_all, METH_NOARGS, stop_all_doc},
    {"_c_ingest_loop", (PyCFunction)(void (*)(void))mod_c_ingest_loop,
     METH_VARARGS | METH_KEYWORDS, c_ingest_loop_doc},
    {"strerror", mod_strerror, METH_O, strerror_doc},
    {NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "causeway._causeway",
    .m_doc = "The C core of the causeway package (the public C API of libcauseway).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyDoc_STRVAR(Error_doc,
"An error from the Causeway library.\n\n"
"Attributes: code (the negative CW_E* value), name ('CW_EJSON'...),\n"
"message (English, with the decoder's reason and where it stopped), reason\n"
"(the decoder's static reason or None), offset and line (where decoding\n"
"stopped, or None), path (the file or id concerned, or None) and result\n"
"(for ingest errors: what the call accepted and rejected, else None).");

/* Declared for -Werror=missing-prototypes: Python finds it by name. */
PyMODINIT_FUNC PyInit__causeway(void);

PyMODINIT_FUNC PyInit__causeway(void)
{
#define CWPY_INTERN(name)                                                                     \
    if (!(k_##name = PyUnicode_InternFromString(#name)))                                      \
        return NULL;
    CWPY_KEYS(CWPY_INTERN)
#undef CWPY_INTERN
    static const char *const rnames[] = {
#define CWPY_REJ(name, msg) #name,
        CW_REJECT_MAP(CWPY_REJ)
#undef CWPY_REJ
    };
    for (int k = 0; k < CW_REJECT_COUNT; k++) {
        char lower[64];
        size_t i = 0;
        for (; rnames[k][i] && i < sizeof lower - 1; i++)
            lower[i] = (char)(rnames[k][i] >= 'A' && rnames[k][i] <= 'Z' ? rnames[k][i] + 32
                                                                          : rnames[k][i]);
        lower[i] = '\0';
        if (!(reject_names[k] = PyUnicode_InternFromString(lower)))
            return NULL;
    }
    if (PyType_Ready(&EngineType) < 0 || PyType_Ready(&ServerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    if (!Error) {
        Error = PyErr_NewExceptionWithDoc("causeway.Error", Error_doc, NULL, NULL);
        if (!Error)
            goto fail;
        /* Class defaults, so that every attribute reads on any instance. */
        static const char *const attrs[] = {"code", "name", "message", "reason",
                                            "offset", "line", "path", "result"};
        for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++)
            if (PyObject_SetAttrString(Error, attrs[i], Py_None) < 0)
                goto fail;
    }
    if (!running_servers && !(running_servers = PyList_New(0)))
        goto fail;
    PyObject *codes = PyDict_New();
    if (!codes)
        goto fail;
#define CWPY_CODE(name, code, msg)                                                            \
    if (PyModule_AddIntConstant(m, "CW_E" #name, code) < 0) {                                 \
        Py_DECREF(codes);                                                                     \
        goto fail;                                                                            \
    }                                                                                         \
    {                                                                                         \
        PyObject *v = PyLong_FromLong(code);                                                  \
        int rc = v ? PyDict_SetItemString(codes, "CW_E" #name, v) : -1;                       \
        Py_XDECREF(v);                                                                        \
        if (rc < 0) {                                                                         \
            Py_DECREF(codes);                                                                 \
            goto fail;                                                                        \
        }                                                                                     \
    }
    CW_ERRNO_MAP(CWPY_CODE)
#undef CWPY_CODE
    if (PyModule_AddObject(m, "ERROR_CODES", codes) < 0) {
        Py_DECREF(codes);
        goto fail;
    }
    Py_INCREF(Error);
    if (PyModule_AddObject(m, "Error", Error) < 0) {
        Py_DECREF(Error);
        goto fail;
    }
    Py_INCREF(&EngineType);
    if (PyModule_AddObject(m, "Engine", (PyObject *)&EngineType) < 0) {
        Py_DECREF(&EngineType);
        goto fail;
    }
    Py_INCREF(&ServerType);
    if (PyModule_AddObject(m, "Server", (PyObject *)&ServerType) < 0) {
        Py_DECREF(&ServerType);
        goto fail;
    }
    if (PyModule_AddStringConstant(m, "library_version", cw_version()) < 0 ||
        PyModule_AddIntConstant(m, "CW_VERSION", CW_VERSION) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
