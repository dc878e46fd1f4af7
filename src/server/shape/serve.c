/* The answer a request gets from a shape (docs/protocol.md §2-§4): a snapshot chunk, a slice of
 * the change log up to a chunk boundary (read into memory, or streamed from the file when large),
 * up-to-date, 409, or "wait" (the caller parks the request). A shape still taking its snapshot
 * already serves the chunks written whole; the rest waits until it is ready.
 *
 * Runs on whichever thread holds the service lock: the HTTP epoll thread (submit), a worker
 * (after a catalog check) or the notifier. Reads the shape and its storage index under the lock;
 * the response keeps only copies and its own file descriptors, so it outlives the lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "sbuf.h"
#include "shape/gzip.h"
#include "shape/service_internal.h"
#include "shape/serve.h"

#define INLINE_BODY_MAX (256u << 10) /* log responses up to this size are read into memory */

static void res_reset(esync_shape_result *r) {
    esync_shape_result_free(r);
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->rows = -1;
}

void esync__serve_json(esync_shape_result *r, int status, const char *json) {
    res_reset(r);
    r->status = status;
    r->cache = ESYNC_CC_NO_STORE;
    r->head = esync__xstrdup(json);
    r->head_len = strlen(json);
}

void esync__serve_400(esync_shape_result *r, const char *field, const char *msg) {
    esync_sb b = {0};
    esync__sb_puts(&b, "{\"message\":\"Invalid request\",\"errors\":{");
    esync__sb_json(&b, field, strlen(field));
    esync__sb_puts(&b, ":[");
    esync__sb_json(&b, msg, strlen(msg));
    esync__sb_puts(&b, "]}}");
    esync__serve_json(r, 400, b.p);
    esync__sb_free(&b);
}

void esync__serve_db_down(esync_shape_result *r) {
    esync__serve_json(r, 503,
                      "{\"code\":\"database_unreachable\",\"error\":\"Database is unreachable\"}");
    r->retry_after = 10;
}

void esync__serve_409(esync_shape_result *r, const char *handle) {
    esync__serve_json(r, 409, "[{\"headers\":{\"control\":\"must-refetch\"}}]");
    if (handle) {
        snprintf(r->handle, sizeof r->handle, "%s", handle);
        r->cache = ESYNC_CC_409;
    } else {
        r->cache = ESYNC_CC_409; /* the HTTP layer uses max-age=1 without a handle */
    }
}

/* The opaque part of an entity tag: without W/ and the quotes, so that a tag a cache or a client
 * sent back weak or unquoted still names our answer (Electric trims the quotes too). */
static void opaque_tag(const char **p, size_t *n) {
    if (*n >= 2 && (*p)[0] == 'W' && (*p)[1] == '/') *p += 2, *n -= 2;
    if (*n >= 2 && (*p)[0] == '"' && (*p)[*n - 1] == '"') *p += 1, *n -= 2;
}

/* The q (in thousandths) that a header's comma-separated list gives token a or b (b may be NULL),
 * -1 when neither is listed; *star gets the q of "*" (-1: not listed). */
static int listed_q(const char *h, const char *a, const char *b, int *star) {
    int found = -1;
    *star = -1;
    for (const char *p = h; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t') p++;
        size_t n = (size_t)(p - tok);
        int q = 1000;             /* q in thousandths */
        while (*p && *p != ',') { /* parameters: only q counts */
            while (*p == ' ' || *p == '\t' || *p == ';') p++;
            if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
                p += 2;
                q = (*p == '1') ? 1000 : 0;
                if (*p == '0' || *p == '1') p++;
                if (*p == '.') {
                    p++;
                    for (int scale = 100; scale && *p >= '0' && *p <= '9'; scale /= 10, p++)
                        if (q < 1000) q += (*p - '0') * scale;
                }
            }
            while (*p && *p != ',' && *p != ';') p++;
        }
        if ((n == strlen(a) && strncasecmp(tok, a, n) == 0) ||
            (b && n == strlen(b) && strncasecmp(tok, b, n) == 0))
            found = q;
        else if (n == 1 && *tok == '*')
            *star = q;
    }
    return found;
}

bool esync__serve_accepts_gzip(const char *ae) {
    int star, gzip = listed_q(ae, "gzip", "x-gzip", &star);
    return gzip >= 0 ? gzip > 0 : star > 0;
}

bool esync__serve_accepts_image(const char *accept) {
    int star;
    return listed_q(accept, ESYNC_IMAGE_TYPE, NULL, &star) > 0;
}

bool esync__serve_etag_match(const char *inm, const char *etag) {
    if (!inm || !*inm || !etag || !*etag) return false;
    const char *want = etag;
    size_t want_n = strlen(etag);
    opaque_tag(&want, &want_n);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *start = p;
        bool quoted = false;
        while (*p && (quoted || *p != ',')) {
            if (*p == '"') quoted = !quoted;
            p++;
        }
        size_t n = (size_t)(p - start);
        while (n && (start[n - 1] == ' ' || start[n - 1] == '\t')) n--;
        if (n == 1 && *start == '*') return true;
        opaque_tag(&start, &n);
        if (n && n == want_n && memcmp(start, want, n) == 0) return true;
    }
    return false;
}

static esync_offset last_offset(const shape *s) {
    size_t n = s->log ? esync__storage_count(s->log) : 0;
    if (n == 0) return (esync_offset){0, ESYNC_OP_INF};
    return esync__storage_entries(s->log)[n - 1].off;
}

static void up_to_date_json(esync_sb *b, uint64_t lsn) {
    esync__sb_printf(
        b, "{\"headers\":{\"control\":\"up-to-date\",\"global_last_seen_lsn\":\"%" PRIu64 "\"}}",
        lsn);
}

static void set_etag(esync_shape_result *r, const shape *s, const esync_shape_req *q,
                     const char *resp_off, bool unique) {
    char req_off[48];
    if (q->kind == ESYNC_OFFSET_BEFORE_ALL)
        snprintf(req_off, sizeof req_off, "-1");
    else if (q->kind == ESYNC_OFFSET_NOW)
        snprintf(req_off, sizeof req_off, "now");
    else
        esync__storage_offset_text(q->offset, req_off, sizeof req_off);
    if (unique)
        snprintf(r->etag, sizeof r->etag, "\"%s:%s:%s:%" PRId64 "\"", s->handle, req_off, resp_off,
                 esync__now_ms());
    else
        snprintf(r->etag, sizeof r->etag, "\"%s:%s:%s\"", s->handle, req_off, resp_off);
}

static void res_common(esync_shape_result *r, const shape *s, const esync_shape_req *q) {
    res_reset(r);
    r->status = 200;
    snprintf(r->handle, sizeof r->handle, "%s", s->handle);
    r->cache = q->kind == ESYNC_OFFSET_BEFORE_ALL ? ESYNC_CC_INITIAL
               : q->live                          ? ESYNC_CC_LIVE
                                                  : ESYNC_CC_NONLIVE;
    if (!q->live) {
        r->schema_header = true;
        r->schema = esync__xstrdup(s->schema_json);
    }
    r->has_data = true;
}

/* Whether q, which asks for chunk k's image, waits for it: the image is being made (its job was
 * queued as the chunk completed, by this process), the chunk is not one of the small first ones
 * (ESYNC_IMAGE_WAIT_MIN_BYTES: their JSON goes out at once, for an early first answer), and q has
 * waited less than ESYNC_IMAGE_WAIT_MS. A client syncing a new shape asks for each chunk before
 * its image exists; the wait (~the time to make it, natively 2-3 µs a row) costs it less than
 * applying the chunk's JSON instead, which takes the engine in wasm about twice as long as the
 * image (docs/protocol.md §2.4). */
static bool wait_image(shape *s, esync_shape_req *q, int k) {
    struct esync_shape_priv *p = q->priv;
    p->image_wait = false;
    if (!s->images_made_here || p->timed_out ||
        esync__storage_snap_chunk_limit(s->log, k) < ESYNC_IMAGE_WAIT_MIN_BYTES ||
        esync__storage_snap_image_failed(s->log, k))
        return false;
    int64_t now = esync__now_ms();
    if (!p->image_since) p->image_since = now;
    p->image_wait = now - p->image_since < ESYNC_IMAGE_WAIT_MS;
    return p->image_wait;
}

/* Snapshot chunk k as the body; 1: not yet (q waits for the chunk's image, wait_image). */
static int serve_chunk(shape *s, esync_shape_req *q, int k) {
    esync_shape_result *r = &q->res;
    uint64_t size = 0;
    int fd = -1;
    if (q->image) { /* the chunk's replica image (shape/gzip.h) */
        fd = q->gzip ? esync__storage_snap_open_image(s->log, k, true, &size) : -1;
        bool gz = fd >= 0;
        if (fd < 0) fd = esync__storage_snap_open_image(s->log, k, false, &size);
        if (fd < 0 && wait_image(s, q, k)) return 1;
        res_common(r, s, q);
        r->gzip = gz;
        r->image = fd >= 0;
    } else {
        res_common(r, s, q);
    }
    if (fd < 0 && q->gzip) {
        fd = esync__storage_snap_open_gz(s->log, k, &size);
        r->gzip = fd >= 0;
    }
    if (fd >= 0) { /* the whole body, made after the snapshot (shape/gzip.h) */
        r->fd = fd;
        r->fstart = 0;
        r->flen = size;
    } else {
        fd = esync__storage_snap_open(s->log, k, &size);
        if (fd < 0) return -1;
        r->fd = fd;
        r->fstart = 0;
        r->flen = size >= 2 ? size - 2 : 0; /* without the last ",\n" */
        r->head = esync__xstrdup("[");
        r->head_len = 1;
        r->tail = esync__xstrdup("]");
        r->tail_len = 1;
    }
    /* served without a file the background thread has still to make of it: a new shape's first
     * reader, which that thread would slow down (shape/gzip.h) */
    if ((q->image && !r->image && esync__storage_snap_makes_images(s->log)) ||
        (q->gzip && !r->gzip && esync__storage_snap_makes_gzip(s->log)))
        esync__gzip_hold(ESYNC_GZIP_HOLD_MS);
    esync_offset o = {0, (uint64_t)k};
    esync__storage_offset_text(o, r->offset, sizeof r->offset);
    set_etag(r, s, q, r->offset, false); /* the content's tag: http.c marks the gzip one */
    size_t tn = strlen(r->etag);
    if (r->image && tn >= 2 && tn + 6 < sizeof r->etag) /* the image is other content */
        snprintf(r->etag + tn - 1, sizeof r->etag - tn + 1, ":img\"");
    /* the row count for progress (docs/protocol.md §2.2): exact once the snapshot is written */
    if (s->rows >= 0) {
        r->rows = s->rows;
        r->rows_exact = true;
    } else if (s->rows_estimate >= 0) {
        r->rows = s->rows_estimate;
    }
    return 0;
}

/* q answered with chunk k (or a 500 when its file is missing): true; false when q waits for the
 * chunk's image. */
static bool answer_chunk(shape *s, esync_shape_req *q, int k) {
    int rc = serve_chunk(s, q, k);
    if (rc > 0) return false;
    if (rc != 0)
        esync__serve_json(&q->res, 500,
                          "{\"message\":\"Unable to retrieve shape log: snapshot missing\"}");
    return true;
}

/* A shape whose snapshot is still being written: the chunks already complete are served at once
 * (a chunk is never written again once the next one exists); anything else waits until the
 * shape is ready. The answer is the one the ready shape would give: same chunk, same etag. */
static bool serve_creating(shape *s, esync_shape_req *q) {
    int k;
    if (q->kind == ESYNC_OFFSET_BEFORE_ALL)
        k = 0;
    else if (q->kind == ESYNC_OFFSET_AT && q->offset.tx == 0 && q->offset.op != ESYNC_OP_INF &&
             q->offset.op < (uint64_t)INT_MAX)
        k = (int)q->offset.op + 1; /* 0_k asks for chunk k+1 (the last chunk's is the log) */
    else
        return false;
    if (k >= s->chunks_complete || !s->log) return false;
    return answer_chunk(s, q, k);
}

/* Decides what q gets from shape s. Returns true when q was answered (complete it), false when it
 * must wait (the caller parks it). */
bool esync__serve_request(esync_shapes *S, shape *s, esync_shape_req *q) {
    esync_shape_result *r = &q->res;
    struct esync_shape_priv *p = q->priv;
    if (s->state == S_GONE) {
        shape *n = esync__service_lookup(S, q->key);
        esync__serve_409(r, n ? n->handle : NULL);
        return true;
    }
    if (s->state == S_CREATING) return serve_creating(s, q);
    if (q->kind == ESYNC_OFFSET_BEFORE_ALL) return answer_chunk(s, q, 0);
    esync_offset last = last_offset(s);
    if (q->kind == ESYNC_OFFSET_NOW) {
        res_common(r, s, q);
        r->has_data = false;
        r->up_to_date = true;
        esync__storage_offset_text(last, r->offset, sizeof r->offset);
        esync_sb b = {0};
        esync__sb_put(&b, "[", 1);
        up_to_date_json(&b, S->global_lsn);
        esync__sb_put(&b, "]", 1);
        r->head = esync__sb_take(&b, &r->head_len);
        set_etag(r, s, q, r->offset, false);
        return true;
    }
    esync_offset o = q->offset;
    if (o.tx == 0 && o.op != ESYNC_OP_INF && o.op + 1 < (uint64_t)s->nchunks) {
        return answer_chunk(s, q, (int)o.op + 1);
    }
    size_t n = esync__storage_count(s->log);
    size_t first = o.tx == 0 ? 0 : esync__storage_after(s->log, o);
    if (first < n) {
        size_t stop = esync__storage_chunk_stop(s->log, first);
        uint64_t start, end;
        esync__storage_range(s->log, first, stop, &start, &end);
        const esync_storage_entry *e = esync__storage_entries(s->log);
        bool utd = stop == n;
        uint64_t chunk_lsn = e[stop - 1].off.tx;
        res_common(r, s, q);
        r->up_to_date = utd;
        esync__storage_offset_text(e[stop - 1].off, r->offset, sizeof r->offset);
        esync_sb tail = {0};
        if (utd) {
            uint64_t g = q->live ? chunk_lsn
                                 : (S->global_lsn > chunk_lsn ? S->global_lsn : chunk_lsn);
            up_to_date_json(&tail, g);
        }
        esync__sb_put(&tail, "]", 1);
        uint64_t len = end - start;
        if (!utd && len >= 2) len -= 2; /* no element follows: drop the last ",\n" */
        if (len <= INLINE_BODY_MAX) {
            esync_sb body = {0};
            esync__sb_reserve(&body, (size_t)len + tail.n + 2);
            body.p[0] = '[';
            if (esync__storage_pread(s->log, body.p + 1, start, (size_t)len) != 0) {
                esync__sb_free(&body);
                esync__sb_free(&tail);
                esync__serve_json(r, 500,
                                  "{\"message\":\"Unable to retrieve shape log: read failed\"}");
                return true;
            }
            body.n = 1 + (size_t)len;
            esync__sb_put(&body, tail.p, tail.n);
            r->head = esync__sb_take(&body, &r->head_len);
            esync__sb_free(&tail);
        } else {
            r->fd = esync__storage_log_fd(s->log);
            r->fstart = start;
            r->flen = len;
            r->head = esync__xstrdup("[");
            r->head_len = 1;
            r->tail = esync__sb_take(&tail, &r->tail_len);
            if (r->fd < 0) {
                esync__serve_json(r, 500,
                                  "{\"message\":\"Unable to retrieve shape log: open failed\"}");
                return true;
            }
        }
        set_etag(r, s, q, r->offset, false);
        return true;
    }
    /* nothing after o */
    bool beyond = o.tx != 0 && esync__storage_offset_cmp(o, last) > 0;
    if (beyond && !p->timed_out) {
        p->oob = true;
        return false;
    }
    if (beyond) {
        esync__serve_400(r, "offset", "out of bounds for this shape");
        return true;
    }
    if (q->live && !p->timed_out) return false;
    res_common(r, s, q);
    r->up_to_date = true;
    r->has_data = !(q->live);
    if (o.tx == 0)
        esync__storage_offset_text(last, r->offset, sizeof r->offset);
    else
        esync__storage_offset_text(o, r->offset, sizeof r->offset);
    esync_sb b = {0};
    esync__sb_put(&b, "[", 1);
    up_to_date_json(&b, S->global_lsn);
    esync__sb_put(&b, "]", 1);
    r->head = esync__sb_take(&b, &r->head_len);
    set_etag(r, s, q, r->offset, q->live);
    return true;
}
