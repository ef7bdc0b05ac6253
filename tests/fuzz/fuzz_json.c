/*
 * Fuzz target: the OTLP JSON decoder. Any input decodes or fails with
 * CW_EJSON and a reason; never a crash, a hang, a leak or an over-read.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>

#include "otlp/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cw__mem mem;
static cw__interner *in;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!in) {
        cw__mem_init(&mem, NULL);
        if (cw__intern_new(&in, &mem, 1 << 16))
            abort();
    }
    cw__batch b;
    cw__batch_init(&b, &mem);
    cw__decoder d;
    cw__decoder_init(&d, in, 64, &b);
    int r = cw__decode_json(&d, (const char *)data, size);
    if (r != 0 && r != CW_EJSON && r != CW_ENOMEM)
        abort();
    if (r == CW_EJSON && (!d.reason || d.err_off > size))
        abort();
    cw__decoder_done(&d);
    cw__batch_free(&b);
    return 0;
}
