/*
 * Causeway: trace correlation for serverless systems.
 *
 * This is the one public header. Everything it declares carries the cw_
 * prefix (CW_ for macros and constants); handles are opaque; option structs
 * come with an init function so that they can grow without breaking callers.
 *
 * Conventions for every function below:
 *  - An int return is 0 on success or a negative CW_E* code; cw_strerror()
 *    and cw_err_name() name it.
 *  - Constructors fill an out pointer and return a code; they never return
 *    NULL with the reason lost. Every _new has a NULL-safe _free.
 *  - Pointers are borrowed for the duration of the call unless the comment
 *    says otherwise.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CAUSEWAY_H
#define CAUSEWAY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CW_BUILDING_LIBRARY) && defined(__GNUC__)
#define CW_API __attribute__((visibility("default")))
#else
#define CW_API
#endif

/* ---------------------------------------------------------------- version */

/* These drive meson's project version and the shared library's soversion
 * (meson.build reads them from this file). */
#define CW_VERSION_MAJOR 0
#define CW_VERSION_MINOR 1
#define CW_VERSION_PATCH 0

#define CW_VERSION_INT(maj, min, pat) (((maj) << 16) | ((min) << 8) | (pat))
#define CW_VERSION CW_VERSION_INT(CW_VERSION_MAJOR, CW_VERSION_MINOR, CW_VERSION_PATCH)

/* The version of the library actually linked, as "MAJOR.MINOR.PATCH".
 * Returns a static string. Thread safety: safe to call from any thread. */
CW_API const char *cw_version(void);

/* CW_VERSION of the library actually linked, to compare with the header's.
 * Thread safety: safe to call from any thread. */
CW_API unsigned cw_version_int(void);

/* ----------------------------------------------------------------- errors */

/* One list generates the enum, cw_strerror() and cw_err_name(). */
#define CW_ERRNO_MAP(X)                                                       \
    X(NOMEM, -1, "out of memory")                                             \
    X(INVAL, -2, "invalid argument")                                          \
    X(PROTO, -3, "malformed protobuf")                                        \
    X(JSON, -4, "malformed JSON")                                             \
    X(GZIP, -5, "malformed gzip data")                                        \
    X(TOOBIG, -6, "input exceeds a size limit")                               \
    X(UNSUPPORTED, -7, "unsupported format or encoding")                      \
    X(BUDGET, -8, "memory budget exhausted")                                  \
    X(NOTFOUND, -9, "not found")                                              \
    X(IO, -10, "input/output error")                                          \
    X(CLOSED, -11, "engine is shutting down")

enum {
    CW_OK = 0,
#define CW__ERR_ENUM(name, code, msg) CW_E##name = (code),
    CW_ERRNO_MAP(CW__ERR_ENUM)
#undef CW__ERR_ENUM
};

/* A static English description of code ("unknown error" for a code not in
 * the list). Thread safety: safe to call from any thread. */
CW_API const char *cw_strerror(int code);

/* The static symbolic name of code, e.g. "CW_EPROTO" ("CW_OK" for 0, NULL
 * for a code not in the list). Thread safety: safe to call from any thread. */
CW_API const char *cw_err_name(int code);

/* -------------------------------------------------------------- allocator */

/* Every allocation an engine makes goes through one allocator, which also lets
 * the engine count the bytes it holds. free and realloc receive the size the
 * block was allocated with, so an allocator needs no headers. malloc and
 * realloc return NULL on failure; the engine then fails the operation with
 * CW_ENOMEM and stays usable. The functions are called from every thread that
 * calls into the engine and from the threads it starts to complete traces
 * (completion_threads), so they must be thread-safe. */
typedef struct cw_allocator {
    void *(*malloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *ptr, size_t old_size, size_t new_size);
    void (*free)(void *ctx, void *ptr, size_t size);
    /* Optional: zeroed memory. NULL means malloc then memset; libc's calloc
     * is better for large tables, whose pages then stay untouched (hence
     * unbacked) until used. */
    void *(*calloc)(void *ctx, size_t size);
    void *ctx;
} cw_allocator;
/* With the default allocator (no allocator given), tables of 2 MiB or more
 * and the span graph's object pools are anonymous mappings (mmap) that the
 * engine makes itself, advised for transparent huge pages (MADV_HUGEPAGE):
 * fewer page faults on first use and fewer TLB misses on random lookups.
 * They are counted in bytes_in_use as they are used, not as reserved. The
 * summaries kept after completion (records of up to 4 KiB, chains, edge
 * aggregates) come from a process-wide heap of size classes carved from
 * such mappings: freed blocks are reused by any engine of the process, and
 * the mappings stay until it exits (as malloc keeps its arenas). With a
 * host allocator, every byte comes from it. */

/* ----------------------------------------------------------------- engine */

typedef struct cw_engine cw_engine;

/* Monotonic clock in nanoseconds. The engine reads time only through it, so
 * tests drive time by hand. */
typedef uint64_t (*cw_clock_fn)(void *ctx);

typedef struct cw_engine_options {
    /* Allocator, copied at cw_engine_new(); NULL members mean libc. */
    cw_allocator allocator;
    /* Clock; NULL means CLOCK_MONOTONIC. */
    cw_clock_fn clock;
    void *clock_ctx;
    /* Bytes of live span data the engine may hold before ingest refuses
     * more with CW_EBUDGET (the receiver answers 429/503). Default 1 GiB. */
    uint64_t memory_budget;
    /* A trace completes when no span of it arrived for this long. SPEC.md
     * section 5: default 10 s. */
    uint64_t idle_timeout_ns;
    /* ... or when it has been live this long, whatever arrives. Default
     * 5 min. */
    uint64_t max_trace_age_ns;
    /* Largest decompressed request, enforced while inflating. SPEC.md
     * section 6 / the OTLP recommendation: default 64 MiB. */
    uint64_t max_decompressed_bytes;
    /* Largest file cw_engine_ingest_file() reads (after decompression).
     * Default 4 GiB. */
    uint64_t max_file_bytes;
    /* Attribute and name strings longer than this are cut (at a UTF-8
     * boundary) before interning, and counted. Default 1024 bytes. */
    uint32_t max_attr_len;
    /* Distinct interned strings (function names, span names, targets,
     * regions...). Past it, new strings map to one overflow id and are
     * counted. Default 262,144 (4 MiB of hash slots, allocated up front). */
    uint32_t intern_limit;
    /* Bytes of trace and chain summaries kept after their spans are freed;
     * past it the oldest chains are evicted (counted). Default 256 MiB. */
    uint64_t summary_budget;
    /* Threads that analyse the traces a sweep completes (cw_engine_tick(),
     * cw_engine_flush()): 1 analyses them on the calling thread alone; N
     * (at most 8) lets a sweep of at least 8,192 spans start N - 1 helper
     * threads that it joins before returning, so that a flush of many
     * traces uses the machine's cores. The result is the same whatever N.
     * Default 0: the number of online CPUs, at most 8. */
    uint32_t completion_threads;
    /* Spans expected live at once, to size the hash indexes. 0, the
     * default: as many as memory_budget holds at 96 bytes a span. Offline
     * analysis passes an estimate from its input's size (`causeway
     * analyze` assumes 100 bytes of input a span), since its budget is
     * sized for the worst case and indexes sized from it are mostly empty,
     * cache misses and page faults that buy nothing. The span index cannot
     * grow (open addressing), so below the budget's count this is also a
     * limit: at most 3 spans and placeholders per expected span are live at
     * once; the rest are refused as CW_REJECT_NO_MEMORY until traces
     * complete. */
    uint64_t expected_spans;
} cw_engine_options;

/* Fills o with the defaults documented above. Thread safety: any thread. */
CW_API void cw_engine_options_init(cw_engine_options *o);

/* Creates an engine. o may be NULL for the defaults; it is copied.
 * Returns 0 and sets *out (owned by the caller until cw_engine_free()), or
 * CW_ENOMEM / CW_EINVAL (an option out of range) with *out set to NULL.
 * Thread safety: any thread. */
CW_API int cw_engine_new(cw_engine **out, const cw_engine_options *o);

/* Frees the engine and everything it holds. NULL is a no-op. No other call
 * on e may run concurrently or follow. */
CW_API void cw_engine_free(cw_engine *e);

/* ----------------------------------------------------------------- ingest */

/* Request encodings: one format, optionally ORed with CW_ENC_GZIP. */
enum {
    CW_ENC_PROTOBUF = 1, /* ExportTraceServiceRequest or TracesData */
    CW_ENC_JSON = 2,     /* the OTLP JSON mapping of the same */
    CW_ENC_FORMAT_MASK = 0xff,
    CW_ENC_GZIP = 0x100, /* the body is gzip-compressed */
};

/* Why a span was not kept. One list generates the enum, the stats array and
 * the English text used in OTLP partial_success.error_message. */
#define CW_REJECT_MAP(X)                                                      \
    X(BAD_TRACE_ID, "invalid trace id (not 16 bytes, or all zero)")           \
    X(BAD_SPAN_ID, "invalid span id (not 8 bytes, or all zero)")              \
    X(BAD_PARENT_ID, "invalid parent span id (not empty or 8 bytes)")         \
    X(OVER_BUDGET, "memory budget exhausted")                                 \
    X(NO_MEMORY, "out of memory")                                             \
    X(CLOSED, "engine is shutting down")

typedef enum cw_reject_reason {
#define CW__REJ_ENUM(name, msg) CW_REJECT_##name,
    CW_REJECT_MAP(CW__REJ_ENUM)
#undef CW__REJ_ENUM
    CW_REJECT_COUNT
} cw_reject_reason;

/* Static English text of a reject reason; NULL when out of range.
 * Thread safety: any thread. */
CW_API const char *cw_reject_reason_str(cw_reject_reason r);

/* Outcome of one ingest call. */
typedef struct cw_ingest_result {
    uint64_t spans_accepted;
    uint64_t spans_rejected;
    /* Per-reason split of spans_rejected. */
    uint64_t rejected[CW_REJECT_COUNT];
    /* Links whose ids were invalid, dropped from otherwise kept spans. */
    uint64_t links_dropped;
    /* The call's return code, repeated. */
    int error;
    /* A static English reason when error != 0 or spans were rejected:
     * what the OTLP error_message and the CLI's one-line message say. NULL
     * when all was well. */
    const char *reason;
    /* Where decoding stopped, for an error: byte offset in the
     * (decompressed) input, and for line-oriented files the 1-based line;
     * 0 when not applicable. */
    uint64_t error_offset;
    uint64_t error_line;
} cw_ingest_result;

/* Decodes one OTLP trace request and adds its spans to the engine.
 *
 * buf (borrowed for the call) holds len bytes in the given encoding. A request
 * either decodes as a whole or not at all: on CW_EPROTO, CW_EJSON, CW_EGZIP or
 * CW_ETOOBIG no span of it is kept. Spans that decode but are invalid (bad
 * ids) are rejected one by one and counted in result->rejected, the rest
 * kept: the OTLP partial-success case, still returning 0.
 *
 * Returns 0, CW_EINVAL (NULL engine or buffer with len > 0, unknown encoding),
 * CW_EPROTO / CW_EJSON / CW_EGZIP (malformed, with result->reason),
 * CW_ETOOBIG (decompressed size over max_decompressed_bytes), CW_EBUDGET (the
 * engine is over its memory budget: spans from the point it was reached on
 * are rejected and counted; retry later), CW_ENOMEM.
 * result may be NULL; when given it is always filled.
 *
 * Thread safety: safe to call from any number of threads at once, together
 * with every query function. */
CW_API int cw_engine_ingest(cw_engine *e, const void *buf, size_t len,
                            unsigned encoding, cw_ingest_result *result);

/* Reads and ingests a trace file (SPEC.md section 1): .pb/.bin one binary
 * request; .json one JSON request; .jsonl/.ndjson one JSON request or
 * TracesData per line; any of them with .gz appended is gunzipped; "-" reads
 * standard input. A name with none of these endings is recognized by its
 * content (gzip magic, a leading '{', else protobuf).
 *
 * For line files, lines before a bad one stay ingested; the error names the
 * line (result->error_line). Returns what cw_engine_ingest() returns, plus
 * CW_EIO (the file cannot be read; errno is left set and result->reason is
 * strerror(errno)) and CW_ETOOBIG (over max_file_bytes).
 *
 * Thread safety: as cw_engine_ingest(). */
CW_API int cw_engine_ingest_file(cw_engine *e, const char *path,
                                 cw_ingest_result *result);

/* ------------------------------------------------------------------- time */

/* Completes every live trace that has been idle for idle_timeout_ns or live
 * for max_trace_age_ns at the engine clock's current time: computes its
 * summary (and those of the chains it joins), calls the callbacks, and frees
 * its spans. Returns the number of traces completed. Hosts call it
 * periodically (the daemon does every 250 ms).
 * Thread safety: any thread; calls are serialized internally (a second
 * caller waits). Must not be called from a callback. */
CW_API uint64_t cw_engine_tick(cw_engine *e);

/* Completes every live trace now, whatever its age (end of input, shutdown).
 * Returns the number completed. Thread safety: as cw_engine_tick(). */
CW_API uint64_t cw_engine_flush(cw_engine *e);

/* -------------------------------------------------------------- summaries */

/* Ids in the summaries are lowercase hex, NUL-terminated. */
#define CW_TRACE_ID_LEN 33

/* SPEC.md section 3.1. Strings (root_function, and the functions filled by
 * the calls below) are interned by the engine: valid until
 * cw_engine_free(). */
typedef struct cw_trace_summary {
    char trace_id[CW_TRACE_ID_LEN];
    char chain_id[CW_TRACE_ID_LEN];
    uint64_t spans;
    uint32_t span_depth;
    uint32_t max_span_fanout;
    uint32_t invocations;
    uint32_t depth;
    uint32_t max_fanout;
    uint32_t retries;
    uint32_t max_recursion;
    uint32_t errors;
    uint64_t start_unix_nano;
    uint64_t duration_ns;
    int complete;           /* 0 for a live trace (SPEC.md section 5) */
    const char *root_function;
    uint32_t nfunctions;    /* how many functions the trace has */
} cw_trace_summary;

/* SPEC.md section 3.2. */
typedef struct cw_chain_summary {
    char chain_id[CW_TRACE_ID_LEN];
    uint32_t traces;
    uint32_t invocations;
    uint32_t depth;
    uint32_t max_fanout;
    uint32_t retries;
    uint32_t max_recursion;
    uint32_t nfunctions;
} cw_chain_summary;

/* SPEC.md section 3.3. */
typedef struct cw_edge_summary {
    const char *caller;
    const char *callee;
    int async;              /* 0: "sync", 1: "async" */
    uint64_t calls;
    uint64_t errors;
    uint64_t retries;
    uint64_t p50_ns;
    uint64_t p99_ns;
} cw_edge_summary;

/* The summary of a trace (32 hex digits, either case): completed, or live
 * (computed on the spot, complete = 0). functions (caller-owned, may be NULL
 * when functions_cap is 0) receives the first functions_cap functions in
 * SPEC.md order; out->nfunctions tells how many there are.
 * Returns 0, CW_ENOTFOUND, CW_EINVAL (malformed id), CW_ENOMEM.
 * Thread safety: any thread, concurrently with ingest and tick. */
CW_API int cw_engine_trace(cw_engine *e, const char *trace_id, cw_trace_summary *out,
                           const char **functions, size_t functions_cap);

/* The summary of a chain by its id (the smallest trace id in it).
 * Returns 0, CW_ENOTFOUND, CW_EINVAL. Thread safety: as cw_engine_trace(). */
CW_API int cw_engine_chain(cw_engine *e, const char *chain_id, cw_chain_summary *out,
                           const char **functions, size_t functions_cap);

typedef enum cw_sort {
    CW_SORT_DEPTH,
    CW_SORT_FANOUT,
    CW_SORT_RETRIES,
    CW_SORT_RECURSION,
    CW_SORT_SPANS,
} cw_sort;

/* The n completed traces largest by the key (ties: more spans, then trace
 * id), into out[0..*count). Rankings copy no function lists: each out[i]
 * has nfunctions set, and cw_engine_trace() on its id fills the functions.
 * Returns 0, CW_EINVAL or CW_ENOMEM.
 * Thread safety: as cw_engine_trace(). */
CW_API int cw_engine_top(cw_engine *e, cw_sort by, size_t n, cw_trace_summary *out,
                         size_t *count);

/* The n chains largest by the key (CW_SORT_SPANS ranks by invocations;
 * ties: more traces, then chain id). As cw_engine_top(). */
CW_API int cw_engine_top_chains(cw_engine *e, cw_sort by, size_t n, cw_chain_summary *out,
                                size_t *count);

/* Copies up to cap edge aggregates into out and sets *total to how many
 * there are (call again with a larger array when *total > cap). Sorted by
 * (caller, callee, kind). Returns 0 or CW_ENOMEM.
 * Thread safety: as cw_engine_trace(). */
CW_API int cw_engine_edges(cw_engine *e, cw_edge_summary *out, size_t cap, size_t *total);

/* --------------------------------------------------------------- details */

/* Retry groups and recursion details of one completed trace (SPEC.md
 * section 3.4), copied out: the detail is owned by the caller and stays
 * valid until cw_detail_free(), whatever the engine does meanwhile (its
 * strings are the engine's interned ones). It is allocated from the
 * engine's allocator: free it before cw_engine_free(). */
typedef struct cw_detail cw_detail;

typedef struct cw_retry_group {
    const char *caller;     /* function of the invocation making the calls */
    const char *target;     /* what the attempts called */
    uint32_t attempts;
    uint32_t failed;        /* attempts that failed */
    uint32_t retries;       /* attempts that were retries */
    int final_status;       /* OTLP status code of the last attempt */
    int redelivery;         /* 1: the platform redelivered one event
                               (entry spans sharing faas.invocation_id) */
    const uint64_t *span_ids; /* the attempts' span ids, in order */
    size_t nspans;
} cw_retry_group;

/* Returns 0 and *out, CW_ENOTFOUND (no completed trace with that id),
 * CW_EINVAL, CW_ENOMEM. Thread safety: as cw_engine_trace(). */
CW_API int cw_engine_detail(cw_engine *e, const char *trace_id, cw_detail **out);
CW_API void cw_detail_free(cw_detail *d);
CW_API size_t cw_detail_retry_count(const cw_detail *d);
/* Fills *out with group i (pointers valid until cw_detail_free()).
 * Returns 0 or CW_EINVAL when i is out of range. */
CW_API int cw_detail_retry_group(const cw_detail *d, size_t i, cw_retry_group *out);
/* The function that recurses most, NULL when max_recursion is 1, and how
 * often it appears on its deepest path. */
CW_API const char *cw_detail_loop_function(const cw_detail *d, uint32_t *occurrences);
/* The deepest recursion path, caller first: each invocation's function and
 * entry span id. Returns the path's length; copies at most cap entries
 * (either array may be NULL). */
CW_API size_t cw_detail_loop_path(const cw_detail *d, const char **functions,
                                  uint64_t *entry_spans, size_t cap);

/* ------------------------------------------------------------- callbacks */

/* Called on the thread running cw_engine_tick()/flush() for each trace that
 * completes and each chain whose summary is (re)computed (a chain is
 * recomputed when a later trace joins it). The pointers are valid for the
 * call only. Set before ingesting; not thread-safe against a running tick. */
typedef void (*cw_trace_fn)(void *ctx, const cw_trace_summary *s,
                            const char *const *functions);
typedef void (*cw_chain_fn)(void *ctx, const cw_chain_summary *s,
                            const char *const *functions);
CW_API void cw_engine_on_trace(cw_engine *e, cw_trace_fn fn, void *ctx);
CW_API void cw_engine_on_chain(cw_engine *e, cw_chain_fn fn, void *ctx);

/* ------------------------------------------------------------------ JSON */

/* One-line JSON objects of SPEC.md section 3 (no newline). Return the length
 * the object needs (excluding the NUL), like snprintf; buf receives at most
 * cap bytes including the NUL. */
CW_API size_t cw_trace_json(const cw_trace_summary *s, const char *const *functions, char *buf,
                            size_t cap);
CW_API size_t cw_chain_json(const cw_chain_summary *s, const char *const *functions, char *buf,
                            size_t cap);
CW_API size_t cw_edge_json(const cw_edge_summary *s, char *buf, size_t cap);

enum {
    CW_DUMP_TRACES = 1,
    CW_DUMP_CHAINS = 2,
    CW_DUMP_EDGES = 4,
    CW_DUMP_ALL = 7,
};

/* Writes the chosen objects as JSON lines in SPEC.md section 3.1 order:
 * completed traces by trace_id, then chains by chain_id, then edges by
 * (caller, callee, kind). write gets one line at a time (with its newline)
 * and returns nonzero to stop. Returns 0, CW_ENOMEM, or write's nonzero
 * value. Thread safety: as cw_engine_trace(). */
typedef int (*cw_write_fn)(void *ctx, const char *line, size_t len);
CW_API int cw_engine_dump(cw_engine *e, unsigned what, cw_write_fn write, void *ctx);

/* Writes the invocation graph of a completed trace, or of a chain (id of
 * either) as Graphviz DOT: one node per invocation (function and entry
 * span), one cluster per trace, solid edges for sync calls, dashed for async
 * ones through a parent, dotted for span links. Returns 0, CW_ENOTFOUND,
 * CW_EINVAL, CW_ENOMEM or write's nonzero value.
 * Thread safety: as cw_engine_trace(). */
CW_API int cw_engine_dot(cw_engine *e, const char *id, cw_write_fn write, void *ctx);

/* -------------------------------------------------------------- receiver */

/* The OTLP/HTTP receiver (POST /v1/traces, SPEC.md section 1) and the query
 * API (SPEC.md section 5) on libuv. It runs on the host's loop
 * (cw_receiver_start_on) or on a thread of its own (cw_receiver_start);
 * either way requests are decoded and inserted on libuv's thread pool, so
 * the loop never waits for them. Size the pool with UV_THREADPOOL_SIZE
 * before the process first uses it (the daemon sets it to the core count). */
typedef struct cw_receiver cw_receiver;
struct uv_loop_s;

typedef struct cw_receiver_options {
    /* "HOST:PORT" (IPv6 as "[::1]:4318"); port 0 picks a free port
     * (cw_receiver_port tells which). Defaults 127.0.0.1:4318 and, for the
     * query API, 127.0.0.1:4320; api_listen NULL or "" serves no API. */
    const char *listen;
    const char *api_listen;
    /* Largest request body as sent (compressed or not): 413 past it. Default
     * 20 MiB, the OpenTelemetry Collector's. The decompressed limit is the
     * engine's max_decompressed_bytes. */
    uint64_t max_body_bytes;
    /* Request line and headers together: 431 past it. Default 64 KiB. */
    uint32_t max_header_bytes;
    /* Open connections per listener; more are answered 503 and closed.
     * Default 1024. */
    uint32_t max_connections;
    /* A request must arrive whole within this from its first byte (slow
     * clients get 408 and are cut off). Default 30 s. */
    uint64_t read_timeout_ns;
    /* An idle keep-alive connection closes after this. Default 60 s. */
    uint64_t keepalive_timeout_ns;
    /* How often the receiver calls cw_engine_tick() (on the thread pool);
     * 0: never (the host does). Default 250 ms. */
    uint64_t tick_interval_ns;
    /* Retry-After, in seconds, on 429 (over budget) and 503 (shutting down,
     * out of memory). Default 1. */
    uint32_t retry_after_s;
    /* Bearer tokens accepted on POST /v1/traces (compared in constant
     * time); NULL or ntokens 0: no authentication. Copied at start. */
    const char *const *tokens;
    size_t ntokens;
    /* One line per event (start, stop, rejected requests). NULL: silent.
     * Called on the loop thread. */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} cw_receiver_options;

/* Fills o with the defaults above. Thread safety: any thread. */
CW_API void cw_receiver_options_init(cw_receiver_options *o);

/* Starts a receiver for engine e on a thread of its own (its own loop).
 * e is borrowed and must outlive the receiver. Returns 0 and *out, CW_EINVAL
 * (a bad address or option), CW_EIO (cannot listen: the log says why),
 * CW_ENOMEM. Thread safety: any thread. */
CW_API int cw_receiver_start(cw_receiver **out, cw_engine *e, const cw_receiver_options *o);

/* Starts a receiver on the host's libuv loop, which the host runs. Call it,
 * cw_receiver_stop() and cw_receiver_free() on the loop's thread. Returns as
 * cw_receiver_start(). */
CW_API int cw_receiver_start_on(cw_receiver **out, struct uv_loop_s *loop, cw_engine *e,
                                const cw_receiver_options *o);

/* The port a listener is bound to (api: 0 OTLP, 1 query API), or 0 when it
 * does not exist. Thread safety: any thread. */
CW_API int cw_receiver_port(const cw_receiver *r, int api);

/* Stops gracefully: no new connections, idle ones closed, requests in flight
 * answered, then everything closed. Own-thread receivers: blocks until done,
 * from any thread. Host-loop receivers: starts the drain and returns; the
 * loop finishes it (cw_receiver_stopped() turns true). Completing the live
 * traces (cw_engine_flush) is the host's next step. */
CW_API void cw_receiver_stop(cw_receiver *r);
CW_API int cw_receiver_stopped(const cw_receiver *r);

/* Frees a stopped receiver (NULL is a no-op). */
CW_API void cw_receiver_free(cw_receiver *r);

/* ------------------------------------------------------------------ stats */

typedef struct cw_stats {
    uint64_t requests;          /* ingest calls, files count one per request */
    uint64_t requests_rejected; /* ingest calls that returned an error */
    uint64_t spans_received;    /* spans in requests that decoded; always
                                   spans_accepted + spans_rejected */
    uint64_t spans_accepted;
    uint64_t spans_rejected;
    uint64_t rejected[CW_REJECT_COUNT];
    uint64_t links_dropped;
    uint64_t duplicates;        /* spans received again (counted once) */
    uint64_t spans_live;        /* spans held in live traces */
    uint64_t traces_live;
    uint64_t traces_completed;
    uint64_t chains;            /* chain summaries held */
    uint64_t summaries;         /* trace summaries held */
    uint64_t summaries_evicted; /* dropped for the summary budget */
    uint64_t links_pending;     /* links waiting for their target trace */
    uint64_t links_unresolved;  /* target trace known, span not a call site */
    uint64_t bytes_in_use;      /* everything the engine holds now */
    uint64_t bytes_live_spans;  /* what counts against memory_budget */
    uint64_t intern_strings;    /* distinct interned strings */
    uint64_t intern_overflow;   /* lookups that got the overflow id */
    uint64_t strings_truncated; /* values cut to max_attr_len */
} cw_stats;

/* Copies the engine's counters into *out. Each counter is read atomically;
 * the set is not a single snapshot. Thread safety: any thread. */
CW_API void cw_engine_stats(const cw_engine *e, cw_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* CAUSEWAY_H */
