/*
 * cJSON comparison line of the decode scenario (decode.c): parse the whole
 * document into cJSON's tree and free it, no span extraction. Its own
 * translation unit because json-c and jansson declare the same names.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <cjson/cJSON.h>

#include "bench.h"

int cwb_cjson_parse(const char *p, size_t n)
{
    cJSON *j = cJSON_ParseWithLength(p, n);
    if (!j)
        return -1;
    cJSON_Delete(j);
    return 0;
}
