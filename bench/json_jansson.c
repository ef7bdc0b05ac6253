/*
 * jansson comparison line of the decode scenario (decode.c): load the whole
 * document into jansson values and release them, no span extraction. Its
 * own translation unit because json-c and jansson declare the same names.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <jansson.h>

#include "bench.h"

int cwb_jansson_parse(const char *p, size_t n)
{
    json_error_t err;
    json_t *j = json_loadb(p, n, 0, &err);
    if (!j)
        return -1;
    json_decref(j);
    return 0;
}
