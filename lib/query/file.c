/*
 * Trace files (SPEC.md section 1): .pb/.bin, .json, .jsonl/.ndjson, any of
 * them gzipped (.gz), and "-" for standard input.
 *
 * A name with none of these endings is recognized by content: gzip magic,
 * then '{' for JSON (one request, or one per line when the first line is a
 * whole request), else protobuf. The whole file is read (mapped when
 * large), up to max_file_bytes after decompression.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"

enum { F_UNKNOWN, F_PB, F_JSON, F_JSONL };

static bool ends(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

static int format_of(const char *path, bool *gz)
{
    size_t n = strlen(path);
    *gz = false;
    if (ends(path, n, ".gz")) {
        *gz = true;
        n -= 3;
    }
    struct {
        const char *ext;
        int f;
    } exts[] = {{".pb", F_PB}, {".bin", F_PB}, {".json", F_JSON}, {".jsonl", F_JSONL},
                {".ndjson", F_JSONL}};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t k = strlen(exts[i].ext);
        if (n >= k && strncmp(path + n - k, exts[i].ext, k) == 0)
            return exts[i].f;
    }
    return F_UNKNOWN;
}

/* The file's bytes: mapped, or read into an engine allocation. */
typedef struct fbuf {
    const uint8_t *p;
    size_t n;
    void *map;
    size_t map_len;
} fbuf;

/* Regular files this large are mapped; smaller ones are read. A mapping
 * costs a TLB shootdown when it goes (munmap), which dominated the reading
 * of many request-sized files; a read costs a copy, which only matters for
 * large files. */
#define MAP_MIN (16 << 20)

static void fbuf_free(fbuf *f)
{
    if (f->map)
        munmap(f->map, f->map_len);
    memset(f, 0, sizeof *f);
}

/* Reads fd to its end into the workspace's input buffer, at least cap bytes
 * at first (the size when known, + 1 to see the end without growing),
 * doubling as needed. The buffer stays the workspace's. */
static int read_fd(cw_engine *e, cw__ws *w, int fd, size_t cap, fbuf *f)
{
    size_t n = 0;
    if (w->in_cap < cap) {
        cw__free(&e->mem, w->in, w->in_cap);
        w->in_cap = 0;
        if (!(w->in = cw__malloc(&e->mem, cap)))
            return CW_ENOMEM;
        w->in_cap = cap;
    }
    for (;;) {
        if (n == w->in_cap) {
            if (w->in_cap >= e->o.max_file_bytes)
                return CW_ETOOBIG;
            uint8_t *q = cw__realloc(&e->mem, w->in, w->in_cap, w->in_cap * 2);
            if (!q)
                return CW_ENOMEM;
            w->in = q;
            w->in_cap *= 2;
        }
        ssize_t r = read(fd, w->in + n, w->in_cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return CW_EIO;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    f->p = w->in;
    f->n = n;
    return 0;
}

static int load(cw_engine *e, cw__ws *w, const char *path, fbuf *f)
{
    memset(f, 0, sizeof *f);
    if (strcmp(path, "-") == 0)
        return read_fd(e, w, STDIN_FILENO, 1 << 16, f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CW_EIO;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return CW_EIO;
    }
    int rc = 0;
    if (S_ISDIR(sb.st_mode)) {
        errno = EISDIR;
        rc = CW_EIO;
    } else if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > e->o.max_file_bytes) {
        rc = CW_ETOOBIG;
    } else if (S_ISREG(sb.st_mode) && sb.st_size > 0 && sb.st_size < MAP_MIN) {
        rc = read_fd(e, w, fd, (size_t)sb.st_size + 1, f);
    } else if (S_ISREG(sb.st_mode) && sb.st_size > 0) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            rc = read_fd(e, w, fd, 1 << 16, f);
        } else {
            f->map = m;
            f->map_len = (size_t)sb.st_size;
            f->p = m;
            f->n = (size_t)sb.st_size;
        }
    } else {
        rc = read_fd(e, w, fd, 1 << 16, f); /* pipes, empty files, devices */
    }
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* JSON lines when the first line is a whole object (it ends with '}') and
 * another line follows that starts with '{'; a pretty-printed request's
 * first line is a lone '{'. */
static bool looks_like_lines(const uint8_t *p, size_t n, size_t i)
{
    const uint8_t *nl = memchr(p + i, '\n', n - i);
    if (!nl)
        return false;
    size_t e = (size_t)(nl - p);
    while (e > i && is_space(p[e - 1]))
        e--;
    if (e == i || p[e - 1] != '}')
        return false;
    size_t r = (size_t)(nl - p) + 1;
    while (r < n && is_space(p[r]))
        r++;
    return r < n && p[r] == '{';
}

static void add_result(cw_ingest_result *acc, const cw_ingest_result *r)
{
    acc->spans_accepted += r->spans_accepted;
    acc->spans_rejected += r->spans_rejected;
    for (int k = 0; k < CW_REJECT_COUNT; k++)
        acc->rejected[k] += r->rejected[k];
    acc->links_dropped += r->links_dropped;
    if (!acc->reason)
        acc->reason = r->reason;
}

/* One JSON request per line; blank lines are skipped. */
static int ingest_lines(cw_engine *e, const uint8_t *p, size_t n, cw_ingest_result *res)
{
    uint64_t line = 0;
    for (size_t i = 0; i < n;) {
        const uint8_t *nl = memchr(p + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - p) : n;
        line++;
        size_t a = i, b = end;
        while (a < b && (p[a] == ' ' || p[a] == '\t' || p[a] == '\r'))
            a++;
        while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t' || p[b - 1] == '\r'))
            b--;
        if (b > a) {
            cw_ingest_result r;
            int rc = cw_engine_ingest(e, p + a, b - a, CW_ENC_JSON, &r);
            add_result(res, &r);
            if (rc) {
                res->error = rc;
                res->reason = r.reason;
                res->error_line = line;
                res->error_offset = r.error_offset;
                return rc;
            }
        }
        i = end + 1;
    }
    return 0;
}

CW_API int cw_engine_ingest_file(cw_engine *e, const char *path, cw_ingest_result *res)
{
    cw_ingest_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    if (!e || !path) {
        res->error = CW_EINVAL;
        res->reason = "invalid argument";
        return CW_EINVAL;
    }
    bool gz;
    int fmt = strcmp(path, "-") == 0 ? F_UNKNOWN : format_of(path, &gz);
    if (strcmp(path, "-") == 0)
        gz = false;
    cw__ws *w = cw__ws_take(e);
    if (!w) {
        res->error = CW_ENOMEM;
        res->reason = "out of memory";
        return CW_ENOMEM;
    }
    fbuf f;
    int rc = load(e, w, path, &f);
    if (rc) {
        res->error = rc;
        res->reason = rc == CW_EIO         ? strerror(errno)
                      : rc == CW_ETOOBIG   ? "file exceeds max_file_bytes"
                                           : "out of memory";
        int err = errno;
        cw__ws_give(e, w);
        errno = err;
        return rc;
    }
    const uint8_t *p = f.p;
    size_t n = f.n;
    if (!gz && n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        gz = true; /* recognized by content */
    if (gz) {
        size_t out_n;
        const char *why = NULL;
        rc = cw__gunzip_into(&e->mem, p, n, e->o.max_file_bytes, &w->out, &w->out_cap, &out_n,
                             &why);
        if (rc) {
            res->error = rc;
            res->reason = why ? why : "out of memory";
            fbuf_free(&f);
            cw__ws_give(e, w);
            return rc;
        }
        p = w->out;
        n = out_n;
    }
    if (fmt == F_UNKNOWN) {
        size_t i = 0;
        while (i < n && is_space(p[i]))
            i++;
        fmt = i < n && p[i] == '{' ? (looks_like_lines(p, n, i) ? F_JSONL : F_JSON) : F_PB;
    }
    if (fmt == F_JSONL)
        rc = ingest_lines(e, p, n, res);
    else
        rc = cw_engine_ingest(e, p, n, fmt == F_PB ? CW_ENC_PROTOBUF : CW_ENC_JSON, res);
    fbuf_free(&f);
    cw__ws_give(e, w);
    return rc;
}
