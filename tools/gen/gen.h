/*
 * Workload generator: serverless-shaped traces from parameters, written as
 * OTLP protobuf or JSON requests. Used by the tests (randomized requests),
 * the benchmarks and causeway-gen. Deterministic for a given seed.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CW_GEN_H
#define CW_GEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct cwg_options {
    uint64_t seed;
    /* Stop after this many spans (whole traces: may overshoot a little). */
    uint64_t spans;
    unsigned functions;   /* distinct function names */
    unsigned max_depth;   /* invocation chain depth */
    unsigned max_fanout;  /* calls one invocation makes, at most */
    unsigned work_spans;  /* INTERNAL spans per invocation, at most */
    double retry_rate;    /* chance that a call fails and is retried */
    double async_rate;    /* chance that a call goes through a queue */
    double loop_rate;     /* chance that a call re-invokes the caller */
    double redeliver_rate;/* chance that an async delivery is redelivered */
    unsigned extra_attrs; /* filler attributes per span (size per span) */
    unsigned batch_spans; /* spans per request */
    double shuffle;       /* fraction of spans moved to a random request */
    /* Robustness options for decoder tests: protobuf fields in random order,
     * unknown fields sprinkled in, attributes with unusual value types. */
    int chaos;
} cwg_options;

/* Defaults: a serverless mix of about 300 bytes per span in protobuf. */
void cwg_options_init(cwg_options *o);

typedef enum cwg_vtype { CWG_STR, CWG_INT, CWG_DOUBLE, CWG_BOOL } cwg_vtype;

typedef struct cwg_attr {
    const char *key; /* static or owned by the workload's string pool */
    cwg_vtype type;
    const char *s;
    int64_t i;
    double d;
} cwg_attr;

typedef struct cwg_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8]; /* all zero: root */
    const char *name;
    unsigned resource;    /* index into workload resources */
    int kind;
    uint64_t start_ns, end_ns;
    int status;           /* 0 unset, 1 ok, 2 error */
    cwg_attr *attrs;
    unsigned nattrs;
    uint8_t (*links)[24]; /* trace id (16) + span id (8) */
    unsigned nlinks;
} cwg_span;

typedef struct cwg_resource {
    const char *service_name;
    const char *faas_name; /* NULL: none */
    const char *region;
} cwg_resource;

typedef struct cwg_workload {
    cwg_span *spans;
    size_t nspans, cap;
    cwg_resource *res;
    size_t nres;
    uint64_t traces;
    /* Requests: ranges into order[] (span indexes, shuffled). */
    size_t *order;
    size_t *req_first; /* nreq + 1 entries */
    size_t nreq;
    void *pool;        /* owned strings and arrays */
    cwg_options o;
} cwg_workload;

/* Generates a workload. Returns 0, or -1 when out of memory. */
int cwg_generate(cwg_workload *w, const cwg_options *o);
void cwg_free(cwg_workload *w);

/* A growable byte buffer. */
typedef struct cwg_buf {
    uint8_t *p;
    size_t n, cap;
} cwg_buf;
void cwg_buf_free(cwg_buf *b);

/* Encodes request r (0 <= r < nreq) as an ExportTraceServiceRequest in
 * protobuf / OTLP JSON, appending to out. Returns 0 or -1 (out of memory). */
int cwg_encode_pb(const cwg_workload *w, size_t r, cwg_buf *out);
int cwg_encode_json(const cwg_workload *w, size_t r, cwg_buf *out);

/* Encodes the whole workload as one request. */
int cwg_encode_all_pb(const cwg_workload *w, cwg_buf *out);
int cwg_encode_all_json(const cwg_workload *w, cwg_buf *out);

#endif /* CW_GEN_H */
