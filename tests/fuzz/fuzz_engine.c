/*
 * Fuzz target: the whole engine. The first byte picks the encoding
 * (protobuf, JSON, either gzipped); the rest is ingested, every trace
 * completed and analysed, and the analysis dumped. Garbage ids, parent
 * cycles, dangling links and duplicates all reach the graph and the chain
 * analysis this way.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>

#include "causeway.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int discard(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    (void)line;
    (void)len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const unsigned enc[4] = {CW_ENC_PROTOBUF, CW_ENC_JSON, CW_ENC_PROTOBUF | CW_ENC_GZIP,
                                    CW_ENC_JSON | CW_ENC_GZIP};
    cw_engine_options o;
    cw_engine_options_init(&o);
    o.memory_budget = 8u << 20;
    o.summary_budget = 4u << 20;
    o.intern_limit = 4096;
    o.max_decompressed_bytes = 1u << 20;
    cw_engine *e;
    if (cw_engine_new(&e, &o))
        abort();
    cw_ingest_result r;
    int rc = cw_engine_ingest(e, data + 1, size - 1, enc[data[0] & 3], &r);
    if (rc && !r.reason)
        abort(); /* every error says why */
    cw_engine_flush(e);
    if (cw_engine_dump(e, CW_DUMP_ALL, discard, NULL))
        abort();
    cw_stats st;
    cw_engine_stats(e, &st);
    if (st.spans_received != st.spans_accepted + st.spans_rejected)
        abort(); /* every span is accounted for */
    cw_engine_free(e);
    return 0;
}
