/* /v1/shape and /api/electric/v1/shape over libmicrohttpd (see shape/http.h).
 *
 * A request's context (hctx) copies what the reply needs from the connection (Origin,
 * If-None-Match, cursor, HEAD) on the epoll thread, because the reply may be built on another
 * thread (the shape service's notifier or worker) where the connection must not be read.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shape/http.h"

#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "sbuf.h"
#include "shape/cors.h"
#include "shape/params.h"
#include "shape/proxy.h"
#include "shape/serve.h"
#include "shape/table.h"

#define CURSOR_EPOCH 1728432000LL /* 2024-10-09T00:00:00Z */

struct esync_shape_http {
    esync_shapes *svc;
    esync_proxy *proxy;
    char *secret;
    unsigned long_poll_ms;
    int ntables;
    char **tschema, **tname; /* the proxy's allow-list */
};

typedef struct hctx {
    esync_shape_http *h;
    esync_req *r;
    bool suspended;
    bool head;
    bool live;
    char origin[512];
    char inm[256];
    long long cursor; /* -1: none */
} hctx;

/* --- headers --------------------------------------------------------------------------------- */

static const char *cache_text(const esync_shape_result *r) {
    switch (r->cache) {
    case ESYNC_CC_INITIAL:
        return "public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746";
    case ESYNC_CC_NONLIVE: return "public, max-age=60, stale-while-revalidate=300";
    case ESYNC_CC_LIVE: return "public, max-age=5, stale-while-revalidate=5";
    case ESYNC_CC_409:
        return r->handle[0] ? "public, max-age=60, must-revalidate"
                            : "public, max-age=1, must-revalidate";
    case ESYNC_CC_NO_STORE: break;
    }
    return "no-store";
}

/* electric-cursor (Electric's rule): seconds since 2024-10-09 rounded up to the long-poll
 * interval, the same for every client within the interval, so clients that reached one offset
 * share the next cache key whatever cursor they came with; only when it equals the request's own
 * cursor, plus a random 1..3600, so the next URL is never the one just answered. */
static long long next_cursor(long long req_cursor, unsigned long_poll_ms) {
    long long interval = long_poll_ms >= 1000 ? long_poll_ms / 1000 : 1;
    long long now = (long long)time(NULL) - CURSOR_EPOCH;
    long long c = (now + interval - 1) / interval * interval;
    if (c == req_cursor) c += 1 + (long long)(random() % 3600);
    return c;
}

/* --- bodies ---------------------------------------------------------------------------------- */

typedef struct fbody { /* head + file range + tail, read on demand */
    char *head, *tail;
    size_t head_len, tail_len;
    int fd;
    uint64_t fstart, flen;
} fbody;

static ssize_t fbody_read(void *cls, uint64_t pos, char *buf, size_t max) {
    fbody *b = cls;
    size_t w = 0;
    while (w < max) {
        if (pos < b->head_len) {
            size_t k = b->head_len - (size_t)pos;
            if (k > max - w) k = max - w;
            memcpy(buf + w, b->head + pos, k);
            w += k;
            pos += k;
        } else if (pos < b->head_len + b->flen) {
            uint64_t at = pos - b->head_len;
            size_t k = (size_t)(b->flen - at);
            if (k > max - w) k = max - w;
            ssize_t got = pread(b->fd, buf + w, k, (off_t)(b->fstart + at));
            if (got <= 0) return w ? (ssize_t)w : MHD_CONTENT_READER_END_WITH_ERROR;
            w += (size_t)got;
            pos += (uint64_t)got;
        } else if (pos < b->head_len + b->flen + b->tail_len) {
            size_t at = (size_t)(pos - b->head_len - b->flen);
            size_t k = b->tail_len - at;
            if (k > max - w) k = max - w;
            memcpy(buf + w, b->tail + at, k);
            w += k;
            pos += k;
        } else {
            break;
        }
    }
    return w ? (ssize_t)w : MHD_CONTENT_READER_END_OF_STREAM;
}

static void fbody_free(void *cls) {
    fbody *b = cls;
    free(b->head);
    free(b->tail);
    if (b->fd >= 0) close(b->fd);
    free(b);
}

/* Builds the libmicrohttpd response for a finished request and hands it to the HTTP layer. */
static void reply(hctx *c, esync_shape_result *res) {
    int status = res->status;
    /* res->etag tags the content; the gzip representation has a tag of its own (":gzip" before
     * the closing quote), and a client (or cache) holding the uncompressed answer, made before
     * the gzip existed or asked for without it, still gets 304 with the tag it holds */
    char tag[sizeof res->etag + 8];
    size_t tag_n = strlen(res->etag);
    if (res->gzip && tag_n >= 2)
        snprintf(tag, sizeof tag, "%.*s:gzip\"", (int)(tag_n - 1), res->etag);
    else
        snprintf(tag, sizeof tag, "%s", res->etag);
    bool not_modified = status == 200 && tag[0] && esync__serve_etag_match(c->inm, tag);
    if (status == 200 && !not_modified && res->gzip && tag_n &&
        esync__serve_etag_match(c->inm, res->etag)) {
        not_modified = true;
        res->gzip = false;
        snprintf(tag, sizeof tag, "%s", res->etag);
    }
    if (not_modified) status = 304;
    struct MHD_Response *resp;
    unsigned long long bytes = 0;
    if (c->head || not_modified) {
        resp = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_PERSISTENT);
    } else if (res->gzip || res->image) {
        /* a snapshot chunk's gzip or image file as it is (sendfile; the response closes the fd) */
        resp = MHD_create_response_from_fd_at_offset64(res->flen, res->fd, res->fstart);
        if (resp) res->fd = -1;
        bytes = res->flen;
    } else if (res->fd < 0) {
        size_t n = res->head_len + res->tail_len;
        char *body = esync__xmalloc(n + 1);
        if (res->head_len) memcpy(body, res->head, res->head_len);
        if (res->tail_len) memcpy(body + res->head_len, res->tail, res->tail_len);
        resp = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
        bytes = n;
    } else {
        /* a snapshot chunk or a long log slice: streamed from the file, chunked encoding */
        fbody *b = esync__xcalloc(1, sizeof *b);
        b->head = res->head;
        b->head_len = res->head_len;
        b->tail = res->tail;
        b->tail_len = res->tail_len;
        b->fd = res->fd;
        b->fstart = res->fstart;
        b->flen = res->flen;
        res->head = res->tail = NULL;
        res->fd = -1;
        bytes = b->head_len + b->flen + b->tail_len;
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, fbody_read, b,
                                                 fbody_free);
    }
    if (!resp) {
        fprintf(stderr, "electric-sync-server: out of memory (response)\n");
        abort();
    }
    esync__cors_add(resp, c->origin);
    if (res->gzip && !not_modified) MHD_add_response_header(resp, "content-encoding", "gzip");
    MHD_add_response_header(resp, "content-type",
                            res->image && !not_modified ? ESYNC_IMAGE_TYPE
                                                        : "application/json; charset=utf-8");
    MHD_add_response_header(resp, "cache-control", cache_text(res));
    if (res->cache == ESYNC_CC_NO_STORE)
        MHD_add_response_header(resp, "surrogate-control", "no-store");
    if (res->handle[0]) MHD_add_response_header(resp, "electric-handle", res->handle);
    if ((status == 200 || status == 304) && res->offset[0]) {
        MHD_add_response_header(resp, "electric-offset", res->offset);
        if (tag[0]) MHD_add_response_header(resp, "etag", tag);
        if (res->up_to_date)
            MHD_add_response_header(resp, "electric-up-to-date",
                                    "true"); /* libmicrohttpd refuses empty values */
        MHD_add_response_header(resp, "electric-has-data", res->has_data ? "true" : "false");
        if (res->schema_header && res->schema)
            MHD_add_response_header(resp, "electric-schema", res->schema);
        if (res->rows >= 0) {
            char n[24];
            snprintf(n, sizeof n, "%" PRId64, res->rows);
            MHD_add_response_header(
                resp, res->rows_exact ? "electric-sync-rows" : "electric-sync-rows-estimate", n);
        }
    }
    if (c->live && status != 400 && status < 500) {
        char cur[32];
        snprintf(cur, sizeof cur, "%lld", next_cursor(c->cursor, c->h->long_poll_ms));
        MHD_add_response_header(resp, "electric-cursor", cur);
    }
    if (res->retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", res->retry_after);
        MHD_add_response_header(resp, "retry-after", ra);
    }
    esync_req_reply_response(c->r, status, resp, bytes);
}

static void on_done(esync_shape_req *q) {
    hctx *c = q->ctx;
    reply(c, &q->res);
    esync_req *r = c->r;
    bool suspended = c->suspended;
    free(c);
    esync_shape_req_free(q);
    if (suspended) esync_req_resume(r);
}

static void on_park(esync_shape_req *q) {
    hctx *c = q->ctx;
    c->suspended = true;
    esync_req_suspend(c->r);
}

/* A reply built here on the epoll thread (errors before the service is involved). */
static void reply_now(esync_req *r, const char *origin, int status, const char *json,
                      int retry_after) {
    hctx c = {0};
    c.r = r;
    c.cursor = -1;
    snprintf(c.origin, sizeof c.origin, "%s", origin ? origin : "");
    esync_shape_result res = {0};
    res.fd = -1;
    res.rows = -1;
    res.status = status;
    res.cache = ESYNC_CC_NO_STORE;
    res.head = esync__xstrdup(json);
    res.head_len = strlen(json);
    res.retry_after = retry_after;
    reply(&c, &res);
    esync_shape_result_free(&res);
}

/* --- requests -------------------------------------------------------------------------------- */

typedef struct kvs {
    esync_params_kv *kv;
    size_t n, cap;
} kvs;

static void collect(void *cls, const char *key, const char *value) {
    kvs *k = cls;
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 16;
        k->kv = esync__xrealloc(k->kv, k->cap * sizeof *k->kv);
    }
    k->kv[k->n].key = key;
    k->kv[k->n].value = value;
    k->n++;
}

static void options(esync_req *r, const char *origin) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "",
                                                                MHD_RESPMEM_PERSISTENT);
    esync__cors_add(resp, origin);
    /* only the headers Electric allows: if-none-match and traceparent */
    const char *want = esync_req_header(r, "access-control-request-headers");
    esync_sb allow = {0};
    if (want) {
        char *copy = esync__xstrdup(want), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ') t++;
            size_t l = strlen(t);
            while (l && t[l - 1] == ' ') t[--l] = '\0';
            if (strcasecmp(t, "if-none-match") == 0 || strcasecmp(t, "traceparent") == 0) {
                if (allow.n) esync__sb_puts(&allow, ", ");
                esync__sb_puts(&allow, t);
            }
        }
        free(copy);
    }
    if (allow.n) MHD_add_response_header(resp, "access-control-allow-headers", allow.p);
    esync__sb_free(&allow);
    MHD_add_response_header(resp, "access-control-max-age", "86400");
    MHD_add_response_header(resp, "connection", "keep-alive");
    MHD_add_response_header(resp, "cache-control", "no-store");
    esync_req_reply_response(r, 204, resp, 0);
}

static bool table_allowed(esync_shape_http *h, const char *table) {
    char *schema = NULL, *name = NULL, err[256];
    if (!table || esync_table_parse_name(table, &schema, &name, err, sizeof err) != 0) return false;
    bool ok = false;
    for (int i = 0; i < h->ntables && !ok; i++)
        ok = strcmp(h->tschema[i], schema) == 0 && strcmp(h->tname[i], name) == 0;
    free(schema);
    free(name);
    return ok;
}

/* True when a where-like parameter (where, subset__where, subset__order_by) holds the keyword
 * SELECT, TABLE or WITH outside string literals and quoted identifiers: a subquery, which an
 * upstream Electric with subqueries enabled would run against a table the allow-list does not
 * name. The built-in service refuses subqueries itself (src/where). A false positive (a dollar-
 * quoted string holding the word) only refuses a request. */
static bool has_subquery(const char *s) {
    for (const char *p = s; *p;) {
        if (*p == '\'' || *p == '"') {
            char q = *p++;
            while (*p && *p != q) p++;
            if (*p) p++;
            continue;
        }
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_') {
            const char *w = p;
            while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || *p == '_' || *p == '$')
                p++;
            size_t n = (size_t)(p - w);
            if ((n == 6 && strncasecmp(w, "select", 6) == 0) ||
                (n == 5 && strncasecmp(w, "table", 5) == 0) ||
                (n == 4 && strncasecmp(w, "with", 4) == 0))
                return true;
            continue;
        }
        p++;
    }
    return false;
}

static bool reads_other_tables(const esync_params_kv *kv, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *key = kv[i].key;
        if (kv[i].value &&
            (strcmp(key, "where") == 0 || strcmp(key, "subset__where") == 0 ||
             strcmp(key, "subset__order_by") == 0) &&
            has_subquery(kv[i].value))
            return true;
    }
    return false;
}

static void url_encode(esync_sb *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            esync__sb_put(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            esync__sb_put(b, e, 3);
        }
    }
}

void esync_shape_http_handle(esync_shape_http *h, esync_req *r, bool proxy) {
    const char *origin = esync_req_header(r, "origin");
    unsigned method = esync_req_method(r);
    if (method == ESYNC_OPTIONS) {
        options(r, origin);
        return;
    }
    kvs k = {0};
    esync_req_query_each(r, collect, &k);
    if (proxy) {
        const char *table = esync__params_kv_get(k.kv, k.n, "table", NULL);
        if (!table_allowed(h, table)) {
            esync_sb b = {0};
            esync__sb_puts(&b, "{\"message\":");
            const char *t = table ? table : "";
            char msg[300];
            snprintf(msg, sizeof msg, "Table not allowed: %.200s", t);
            esync__sb_json(&b, msg, strlen(msg));
            esync__sb_puts(&b, "}");
            reply_now(r, origin, 403, b.p, 0);
            esync__sb_free(&b);
            free(k.kv);
            return;
        }
        if (h->proxy) {
            if (reads_other_tables(k.kv, k.n)) {
                reply_now(r, origin, 403,
                          "{\"message\":\"Subqueries are not allowed through this proxy\"}", 0);
                free(k.kv);
                return;
            }
            /* upstream: the client's parameters minus any secret and table, plus the table that
             * was checked (once: an upstream that takes the last of repeated keys must not see a
             * second one) and our secret */
            esync_sb qs = {0};
            esync__sb_puts(&qs, "table=");
            url_encode(&qs, table);
            for (size_t i = 0; i < k.n; i++) {
                if (strcmp(k.kv[i].key, "secret") == 0 || strcmp(k.kv[i].key, "api_secret") == 0 ||
                    strcmp(k.kv[i].key, "table") == 0)
                    continue;
                if (qs.n) esync__sb_put(&qs, "&", 1);
                url_encode(&qs, k.kv[i].key);
                if (k.kv[i].value) {
                    esync__sb_put(&qs, "=", 1);
                    url_encode(&qs, k.kv[i].value);
                }
            }
            if (h->secret) {
                if (qs.n) esync__sb_put(&qs, "&", 1);
                esync__sb_puts(&qs, "secret=");
                url_encode(&qs, h->secret);
            }
            esync__proxy_forward(h->proxy, r, qs.p ? qs.p : "", origin,
                                 esync_req_header(r, "if-none-match"), method == ESYNC_HEAD);
            esync__sb_free(&qs);
            free(k.kv);
            return;
        }
    }
    if (!h->svc) {
        reply_now(r, origin, 503,
                  "{\"message\":\"The shape service is not running on this server\"}", 5);
        free(k.kv);
        return;
    }
    esync_shape_req *q;
    char *secret = NULL, *err = NULL;
    int rc = esync__params_parse(k.kv, k.n, &q, &secret, &err);
    const char *cur = esync__params_kv_get(k.kv, k.n, "cursor", NULL);
    long long cursor = cur ? strtoll(cur, NULL, 10) : -1;
    free(k.kv);
    /* Electric checks the secret before the parameters */
    if (!proxy && h->secret && !esync__secret_equal(secret, h->secret)) {
        reply_now(r, origin, 401, "{\"message\":\"Unauthorized - Invalid API secret\"}", 0);
        free(secret);
        free(err);
        if (rc == 0) esync_shape_req_free(q);
        return;
    }
    free(secret);
    if (rc != 0) {
        reply_now(r, origin, 400, err, 0);
        free(err);
        return;
    }
    hctx *c = esync__xcalloc(1, sizeof *c);
    c->h = h;
    c->r = r;
    c->head = method == ESYNC_HEAD;
    c->live = q->live;
    c->cursor = cursor;
    snprintf(c->origin, sizeof c->origin, "%s", origin ? origin : "");
    const char *inm = esync_req_header(r, "if-none-match");
    snprintf(c->inm, sizeof c->inm, "%s", inm ? inm : "");
    q->gzip = esync__serve_accepts_gzip(esync_req_header(r, "accept-encoding"));
    q->image = esync__serve_accepts_image(esync_req_header(r, "accept"));
    q->ctx = c;
    q->done = on_done;
    q->park = on_park;
    esync_shapes_submit(h->svc, q);
}

/* --- start / stop ---------------------------------------------------------------------------- */

esync_shape_http *esync_shape_http_start(const esync_shape_http_options *o) {
    esync_shape_http *h = esync__xcalloc(1, sizeof *h);
    h->long_poll_ms = o->service.long_poll_ms;
    if (o->secret && *o->secret) h->secret = esync__xstrdup(o->secret);
    h->ntables = o->proxy_ntables;
    h->tschema = esync__xcalloc((size_t)h->ntables + 1, sizeof *h->tschema);
    h->tname = esync__xcalloc((size_t)h->ntables + 1, sizeof *h->tname);
    for (int i = 0; i < h->ntables; i++) {
        h->tschema[i] = esync__xstrdup(o->proxy_schemas[i]);
        h->tname[i] = esync__xstrdup(o->proxy_names[i]);
    }
    char err[1024];
    h->svc = esync_shapes_start(&o->service, err, sizeof err);
    if (!h->svc) {
        /* The rest of the server is still useful (a second instance on the same checkout, for
         * one): /v1/shape answers 503 with the reason logged here. */
        esync_log_warn("shape service disabled: %s", err);
    }
    if (o->electric_url && *o->electric_url) h->proxy = esync__proxy_start(o->electric_url);
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    return h;
}

void esync_shape_http_invalidate_all(esync_shape_http *h, const char *why) {
    if (h && h->svc) esync_shapes_invalidate_all(h->svc, why);
}

bool esync_shape_http_health(esync_shape_http *h, esync_shapes_health *out) {
    if (!h || !h->svc) return false;
    esync_shapes_health_get(h->svc, out);
    return true;
}

void esync_shape_http_stop(esync_shape_http *h) {
    if (!h) return;
    esync__proxy_stop(h->proxy);
    esync_shapes_stop(h->svc);
    for (int i = 0; i < h->ntables; i++) {
        free(h->tschema[i]);
        free(h->tname[i]);
    }
    free(h->tschema);
    free(h->tname);
    free(h->secret);
    free(h);
}
