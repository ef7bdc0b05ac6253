/*
 * causeway serve's configuration file: YAML, in the style of the
 * OpenTelemetry Collector's (sizes like "20MiB", durations like "250ms").
 *
 *   receiver:
 *     endpoint: 127.0.0.1:4318
 *     max_request_body_size: 20MiB
 *     max_header_size: 64KiB
 *     max_connections: 1024
 *     read_timeout: 30s
 *     keepalive_timeout: 60s
 *     auth:
 *       bearer_tokens: [token-a, token-b]
 *       bearer_token_env: CAUSEWAY_TOKEN
 *   api:
 *     endpoint: 127.0.0.1:4320       # "" serves no query API
 *   engine:
 *     memory_budget: 1GiB
 *     summary_budget: 256MiB
 *     idle_timeout: 10s
 *     max_trace_age: 5m
 *     max_decompressed_size: 64MiB
 *     max_attribute_length: 1024
 *     intern_limit: 262144
 *     completion_threads: 0          # 0: one per online CPU, at most 8
 *     tick_interval: 250ms
 *
 * Unknown keys and bad values are errors naming the key and line.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static char *dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void cfg_init(cfg *c)
{
    memset(c, 0, sizeof *c);
    cw_engine_options_init(&c->engine);
    cw_receiver_options_init(&c->receiver);
}

void cfg_free(cfg *c)
{
    for (size_t i = 0; i < c->ntokens; i++)
        free(c->tokens[i]);
    free(c->tokens);
    free(c->listen);
    free(c->api_listen);
    memset(c, 0, sizeof *c);
}

int cfg_add_token(cfg *c, const char *t)
{
    char **v = realloc(c->tokens, (c->ntokens + 1) * sizeof *v);
    if (!v)
        return -1;
    c->tokens = v;
    if (!(v[c->ntokens] = dup(t)))
        return -1;
    c->ntokens++;
    return 0;
}

/* Sizes: bytes, or with a unit (B, KB/KiB, MB/MiB, GB/GiB, TB/TiB). */
int cfg_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0)
        return -1;
    while (*end == ' ')
        end++;
    static const struct {
        const char *u;
        double m;
    } units[] = {{"", 1},          {"B", 1},           {"KB", 1e3},       {"KiB", 1024.0},
                 {"MB", 1e6},      {"MiB", 1048576.0}, {"GB", 1e9},       {"GiB", 1073741824.0},
                 {"TB", 1e12},     {"TiB", 1099511627776.0}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].u) == 0) {
            double b = v * units[i].m;
            if (b > 1.8e19)
                return -1;
            *out = (uint64_t)b;
            return 0;
        }
    }
    return -1;
}

/* Durations: a number with a unit (ns, us, ms, s, m, h), as Go writes them;
 * a bare number is seconds. */
int cfg_parse_duration(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0)
        return -1;
    static const struct {
        const char *u;
        double ns;
    } units[] = {{"", 1e9}, {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9},
                 {"h", 3600e9}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].u) == 0) {
            double ns = v * units[i].ns;
            if (ns > 1.8e19)
                return -1;
            *out = (uint64_t)ns;
            return 0;
        }
    }
    return -1;
}

/* ---------------------------------------------------------------- YAML */

typedef struct walk {
    const char *file;
    yaml_document_t *doc;
    cfg *c;
    char err[512];
} walk;

static int bad(walk *w, const yaml_node_t *n, const char *key, const char *what)
{
    snprintf(w->err, sizeof w->err, "%s: %s: %s (line %lu)", w->file, key, what,
             (unsigned long)n->start_mark.line + 1);
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

enum { T_SIZE, T_DURATION, T_UINT, T_STRING };

typedef struct field {
    const char *key;
    int type;
    void *dst;
    uint64_t max;
} field;

static int set(walk *w, const yaml_node_t *v, const char *path, const field *f)
{
    const char *s = scalar(v);
    if (!s)
        return bad(w, v, path, "expected a single value");
    uint64_t x;
    switch (f->type) {
    case T_SIZE:
        if (cfg_parse_size(s, &x) || x == 0 || x > f->max)
            return bad(w, v, path, "expected a size like 20MiB");
        *(uint64_t *)f->dst = x;
        return 0;
    case T_DURATION:
        if (cfg_parse_duration(s, &x) || (x == 0 && f->max))
            return bad(w, v, path, "expected a duration like 10s or 250ms");
        *(uint64_t *)f->dst = x;
        return 0;
    case T_UINT: {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(s, &end, 10);
        if (!*s || *end || errno || u == 0 || u > f->max)
            return bad(w, v, path, "expected a positive integer in range");
        *(uint32_t *)f->dst = (uint32_t)u;
        return 0;
    }
    default: {
        char **dst = f->dst;
        free(*dst);
        *dst = dup(s);
        return *dst ? 0 : bad(w, v, path, "out of memory");
    }
    }
}

/* Applies a mapping of known fields; children are sub-mappings walked by
 * their own function. */
typedef int (*section_fn)(walk *w, const yaml_node_t *n, const char *path);

typedef struct child {
    const char *key;
    section_fn fn;
} child;

static int mapping(walk *w, const yaml_node_t *n, const char *path, const field *fields,
                   size_t nf, const child *children, size_t nc)
{
    if (n->type != YAML_MAPPING_NODE)
        return bad(w, n, path[0] ? path : "document", "expected a mapping of keys");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        const char *key = k ? scalar(k) : NULL;
        if (!key || !v)
            return bad(w, k ? k : n, path, "expected a key");
        char sub[256];
        snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", key);
        bool known = false;
        for (size_t i = 0; i < nf && !known; i++)
            if (strcmp(key, fields[i].key) == 0) {
                if (set(w, v, sub, &fields[i]))
                    return -1;
                known = true;
            }
        for (size_t i = 0; i < nc && !known; i++)
            if (strcmp(key, children[i].key) == 0) {
                if (v->type == YAML_SCALAR_NODE && scalar(v)[0] == '\0')
                    known = true; /* an empty section */
                else if (children[i].fn(w, v, sub))
                    return -1;
                known = true;
            }
        if (!known)
            return bad(w, k, sub, "unknown key");
    }
    return 0;
}

static int auth(walk *w, const yaml_node_t *n, const char *path)
{
    char *env = NULL;
    field f[] = {{"bearer_token_env", T_STRING, &env, 0}};
    if (n->type != YAML_MAPPING_NODE)
        return bad(w, n, path, "expected a mapping");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        const char *key = k ? scalar(k) : NULL;
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%s", path, key ? key : "?");
        if (key && strcmp(key, "bearer_tokens") == 0) {
            if (v->type != YAML_SEQUENCE_NODE)
                return bad(w, v, sub, "expected a list of tokens");
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++) {
                const yaml_node_t *t = yaml_document_get_node(w->doc, *it);
                const char *s = t ? scalar(t) : NULL;
                if (!s || !s[0])
                    return bad(w, t ? t : v, sub, "expected non-empty token strings");
                if (cfg_add_token(w->c, s))
                    return bad(w, t, sub, "out of memory");
            }
        } else if (key && strcmp(key, "bearer_token_env") == 0) {
            if (set(w, v, sub, &f[0]))
                return -1;
            const char *val = getenv(env);
            if (!val || !val[0]) {
                free(env);
                return bad(w, v, sub, "the environment variable is not set");
            }
            if (cfg_add_token(w->c, val)) {
                free(env);
                return bad(w, v, sub, "out of memory");
            }
            free(env);
            env = NULL;
        } else {
            return bad(w, k ? k : n, sub, "unknown key");
        }
    }
    return 0;
}

static int receiver(walk *w, const yaml_node_t *n, const char *path)
{
    cw_receiver_options *o = &w->c->receiver;
    field f[] = {
        {"endpoint", T_STRING, &w->c->listen, 0},
        {"max_request_body_size", T_SIZE, &o->max_body_bytes, 1ull << 40},
        {"max_header_size", T_SIZE, &w->c->max_header, 1ull << 30},
        {"max_connections", T_UINT, &o->max_connections, 1000000},
        {"read_timeout", T_DURATION, &o->read_timeout_ns, 1},
        {"keepalive_timeout", T_DURATION, &o->keepalive_timeout_ns, 1},
    };
    child ch[] = {{"auth", auth}};
    return mapping(w, n, path, f, sizeof f / sizeof f[0], ch, 1);
}

static int api(walk *w, const yaml_node_t *n, const char *path)
{
    w->c->api_set = true;
    field f[] = {{"endpoint", T_STRING, &w->c->api_listen, 0}};
    return mapping(w, n, path, f, 1, NULL, 0);
}

static int engine(walk *w, const yaml_node_t *n, const char *path)
{
    cw_engine_options *o = &w->c->engine;
    field f[] = {
        {"memory_budget", T_SIZE, &o->memory_budget, 1ull << 44},
        {"summary_budget", T_SIZE, &o->summary_budget, 1ull << 44},
        {"idle_timeout", T_DURATION, &o->idle_timeout_ns, 1},
        {"max_trace_age", T_DURATION, &o->max_trace_age_ns, 1},
        {"max_decompressed_size", T_SIZE, &o->max_decompressed_bytes, 1ull << 40},
        {"max_attribute_length", T_UINT, &o->max_attr_len, 8192},
        {"intern_limit", T_UINT, &o->intern_limit, 1u << 28},
        {"completion_threads", T_UINT, &o->completion_threads, 8},
        {"tick_interval", T_DURATION, &w->c->receiver.tick_interval_ns, 1},
    };
    return mapping(w, n, path, f, sizeof f / sizeof f[0], NULL, 0);
}

int cfg_load(cfg *c, const char *file, char *err, size_t errcap)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: %s", file, strerror(errno));
        return -1;
    }
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int rc = 0;
    if (!yaml_parser_load(&p, &doc)) {
        snprintf(err, errcap, "%s: line %lu: %s", file, (unsigned long)p.problem_mark.line + 1,
                 p.problem ? p.problem : "invalid YAML");
        rc = -1;
    } else {
        const yaml_node_t *root = yaml_document_get_root_node(&doc);
        walk w = {.file = file, .doc = &doc, .c = c};
        child top[] = {{"receiver", receiver}, {"api", api}, {"engine", engine}};
        if (root && !(root->type == YAML_SCALAR_NODE && !scalar(root)[0]) &&
            mapping(&w, root, "", NULL, 0, top, 3)) {
            snprintf(err, errcap, "%s", w.err);
            rc = -1;
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}
