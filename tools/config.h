/*
 * causeway serve's configuration (config.c).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CW_TOOLS_CONFIG_H
#define CW_TOOLS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "causeway.h"

typedef struct cfg {
    cw_engine_options engine;
    cw_receiver_options receiver; /* listen/api_listen/tokens set from below */
    char *listen;                 /* owned strings */
    char *api_listen;
    bool api_set;
    uint64_t max_header;          /* 0: default */
    char **tokens;
    size_t ntokens;
} cfg;

void cfg_init(cfg *c);
void cfg_free(cfg *c);
/* Reads a YAML file over the defaults. Returns 0, or -1 with a one-line
 * message naming the file, the key and the line in err. */
int cfg_load(cfg *c, const char *file, char *err, size_t errcap);
int cfg_add_token(cfg *c, const char *t);
int cfg_parse_size(const char *s, uint64_t *out);
int cfg_parse_duration(const char *s, uint64_t *out);

#endif
