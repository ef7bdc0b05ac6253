/*
 * json-c comparison line of the decode scenario (decode.c): parse the whole
 * document into json-c objects and release them, no span extraction. Its
 * own translation unit because json-c and jansson declare the same names.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <limits.h>

#include <json-c/json.h>

#include "bench.h"

int cwb_jsonc_parse(const char *p, size_t n)
{
    if (n > INT_MAX)
        return -1;
    /* A tokener per document, as a server parsing independent bodies does. */
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return -1;
    json_object *o = json_tokener_parse_ex(tok, p, (int)n);
    int r = o && json_tokener_get_error(tok) == json_tokener_success ? 0 : -1;
    json_object_put(o);
    json_tokener_free(tok);
    return r;
}
