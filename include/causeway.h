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
 * calls into the engine, so they must be thread-safe. */
typedef struct cw_allocator {
    void *(*malloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *ptr, size_t old_size, size_t new_size);
    void (*free)(void *ctx, void *ptr, size_t size);
    void *ctx;
} cw_allocator;

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
 * CW_EIO (the file cannot be read; errno is left set) and CW_ETOOBIG (over
 * max_file_bytes).
 *
 * Thread safety: as cw_engine_ingest(). */
CW_API int cw_engine_ingest_file(cw_engine *e, const char *path,
                                 cw_ingest_result *result);

/* ------------------------------------------------------------------ stats */

typedef struct cw_stats {
    uint64_t requests;          /* ingest calls, files count one per request */
    uint64_t requests_rejected; /* ingest calls that returned an error */
    uint64_t spans_received;    /* decoded spans, kept or not */
    uint64_t spans_accepted;
    uint64_t spans_rejected;
    uint64_t rejected[CW_REJECT_COUNT];
    uint64_t links_dropped;
    uint64_t bytes_in_use;       /* everything the engine holds now */
    uint64_t intern_strings;     /* distinct interned strings */
    uint64_t intern_overflow;    /* lookups that got the overflow id */
    uint64_t strings_truncated;  /* values cut to max_attr_len */
} cw_stats;

/* Copies the engine's counters into *out. Each counter is read atomically;
 * the set is not a single snapshot. Thread safety: any thread. */
CW_API void cw_engine_stats(const cw_engine *e, cw_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* CAUSEWAY_H */
