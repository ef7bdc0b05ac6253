/*
 * Fuzz target: bounded gunzip. Output never exceeds the limit (64 KiB
 * here); any input inflates or fails cleanly.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>

#include "otlp/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cw__mem mem;
    cw__mem_init(&mem, NULL);
    uint8_t *out;
    size_t n, cap;
    const char *why = NULL;
    int r = cw__gunzip(&mem, data, size, 64 * 1024, &out, &n, &cap, &why);
    if (r == 0) {
        if (n > 64 * 1024)
            abort();
        cw__free(&mem, out, cap);
    } else if (r != CW_EGZIP && r != CW_ETOOBIG && r != CW_ENOMEM) {
        abort();
    }
    if (atomic_load(&mem.in_use) != 0)
        abort(); /* leaked through the allocator */
    return 0;
}
