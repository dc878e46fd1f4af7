/* The shape service (see shape/service.h for the threads and the lock).
 *
 * Life of a shape: CREATING (registered, so the replication thread already collects its
 * transactions, buffered in memory until the snapshot's xid filter is known) -> READY (snapshot
 * chunks written and synced, the buffered transactions filtered and appended, meta.json written)
 * -> GONE (invalidated: removed from the registry, files deleted; the struct lives on while
 * requests still point at it).
 *
 * Durability: the replication thread's status update reports as flushed only what durable()
 * synced: every READY shape's log up to the last processed commit. A shape becomes READY only
 * after its log is synced, so a restart finds, per stored shape, every transaction up to the
 * slot's confirmed position; the slot re-delivers the rest, and a shape skips what it already
 * holds (commit LSN <= its last entry's).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shape/service.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "pg/repl.h"
#include "sbuf.h"
#include "shape/msg.h"
#include "shape/table.h"
#include "shape/snapshot.h"

#define NBUCKETS 4096
#define INLINE_BODY_MAX (256u << 10) /* log responses up to this size are read into memory */

enum shape_state { S_CREATING, S_READY, S_GONE };
enum wait_kind { W_NONE, W_JOB, W_SHAPE };

typedef struct pend_txn { /* a transaction collected before the snapshot's filter was known */
    struct pend_txn *next;
    uint32_t xid;
    char *buf;
    size_t len, n;
    size_t *ends;
    esync_offset *offs;
} pend_txn;

typedef struct shape shape;
struct shape {
    char handle[64];
    char *key;
    uint64_t hash;
    int refs;
    enum shape_state state;
    esync_table *t;
    esync_shape_view view;
    char *schema_json;
    /* definition, as stored in meta.json */
    char *where;
    char **params;
    int nparams;
    char **columns;
    int ncolumns;
    bool full;
    /* storage */
    esync_slog *log;
    int nchunks;
    esync_snapinfo snap;
    bool snap_known, filter_done, needs_sync;
    /* the transaction being received (replication thread) */
    bool tx_skip, tx_filtered; /* tx_filtered: the xid filter was applied at Begin */
    esync_sb tx;
    size_t *tx_ends;
    esync_offset *tx_offs;
    size_t tx_n, tx_cap;
    pend_txn *pend_head, *pend_tail;
    /* parked requests */
    struct esync_shape_priv *waiters;
    bool dirty;
    shape *dirty_next;
    shape *next, *prev; /* all live (not GONE) shapes */
    shape *hnext;       /* hash chain */
};

struct esync_shape_priv {
    esync_shape_req *q;
    enum wait_kind wait;
    shape *s;       /* held reference while parked on a shape */
    esync_table *t; /* after the catalog check */
    esync_where *where;
    int *sel;
    int nsel;
    int64_t deadline; /* ms, monotonic; 0: none */
    bool oob;         /* waiting out an out-of-bounds offset */
    bool timed_out;
    struct esync_shape_priv *wprev, *wnext; /* the shape's waiters */
    struct esync_shape_priv *tprev, *tnext; /* the deadline list */
    esync_shape_req *done_next;
};

typedef struct job {
    struct job *next;
    esync_shape_req *q; /* catalog check of a new definition */
    shape *s;           /* or: snapshot of a new shape */
    bool reconcile;     /* or: catalog check of the live shapes' tables */
} job;

struct esync_shapes {
    esync_shapes_options o;
    char dir[PATH_MAX];
    char slot[64], pub[64];
    int lock_fd;
    pthread_mutex_t mu;
    pthread_cond_t notify_cv, job_cv, repl_cv;
    bool stopping;
    shape *buckets[NBUCKETS];
    shape *all;
    shape *dirty_head;
    struct esync_shape_priv *tl_head, *tl_tail; /* parked requests with a deadline, by deadline */
    /* replication */
    esync_repl *repl;           /* started with the first shape (or a stored one) */
    char owner[PATH_MAX + 300]; /* "<host>:<dir>", the publication's comment */
    bool repl_started;
    uint64_t stored_flushed; /* state.json */
    uint64_t global_lsn;     /* commit LSN of the last transaction processed */
    uint32_t tx_xid;
    uint64_t tx_lsn;
    /* threads */
    pthread_t notifier;
    pthread_t *workers;
    unsigned nworkers;
    job *jobs_head, *jobs_tail;
    uint64_t last_handle_us;
    int64_t next_reconcile; /* ms, monotonic */
    bool reconcile_queued;
};

/* --- small helpers --------------------------------------------------------------------------- */

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

void esync_shape_result_free(esync_shape_result *r) {
    free(r->schema);
    free(r->head);
    free(r->tail);
    if (r->fd >= 0) close(r->fd);
    r->schema = r->head = r->tail = NULL;
    r->fd = -1;
}

void esync_shape_req_free(esync_shape_req *q) {
    if (!q) return;
    free(q->schema);
    free(q->table);
    free(q->where);
    for (int i = 0; i < q->nparams; i++) free(q->params[i]);
    free(q->params);
    if (q->columns) esync_ident_list_free(q->columns, q->ncolumns);
    free(q->handle);
    free(q->key);
    if (q->priv) {
        esync_table_unref(q->priv->t);
        esync_where_free(q->priv->where);
        free(q->priv->sel);
        free(q->priv);
    }
    esync_shape_result_free(&q->res);
    free(q);
}

static char *def_key(const esync_shape_req *q) {
    esync_sb b = {0};
    esync__sb_puts(&b, q->schema);
    esync__sb_put(&b, "\x1f", 1);
    esync__sb_puts(&b, q->table);
    esync__sb_put(&b, "\x1f", 1);
    if (q->where) esync__sb_puts(&b, q->where);
    esync__sb_put(&b, "\x1f", 1);
    for (int i = 0; i < q->nparams; i++) {
        esync__sb_puts(&b, q->params[i]);
        esync__sb_put(&b, "\x1e", 1);
    }
    esync__sb_put(&b, "\x1f", 1);
    if (q->columns)
        for (int i = 0; i < q->ncolumns; i++) {
            esync__sb_puts(&b, q->columns[i]);
            esync__sb_put(&b, "\x1e", 1);
        }
    else
        esync__sb_put(&b, "*", 1);
    esync__sb_put(&b, "\x1f", 1);
    esync__sb_puts(&b, q->full ? "full" : "default");
    return esync__sb_take(&b, NULL);
}

/* --- registry -------------------------------------------------------------------------------- */

static shape *lookup(esync_shapes *S, const char *key) {
    uint64_t h = fnv(key);
    for (shape *s = S->buckets[h % NBUCKETS]; s; s = s->hnext)
        if (s->hash == h && strcmp(s->key, key) == 0) return s;
    return NULL;
}

static void registry_add(esync_shapes *S, shape *s) {
    s->hash = fnv(s->key);
    s->hnext = S->buckets[s->hash % NBUCKETS];
    S->buckets[s->hash % NBUCKETS] = s;
    s->next = S->all;
    s->prev = NULL;
    if (S->all) S->all->prev = s;
    S->all = s;
}

static void registry_remove(esync_shapes *S, shape *s) {
    shape **pp = &S->buckets[s->hash % NBUCKETS];
    while (*pp && *pp != s) pp = &(*pp)->hnext;
    if (*pp) *pp = s->hnext;
    if (s->prev)
        s->prev->next = s->next;
    else if (S->all == s)
        S->all = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

static void pend_free(pend_txn *p) {
    free(p->buf);
    free(p->ends);
    free(p->offs);
    free(p);
}

static void shape_unref(shape *s) {
    if (--s->refs > 0) return;
    esync_slog_close(s->log, 0);
    esync__view_free(&s->view);
    esync_table_unref(s->t);
    free(s->schema_json);
    free(s->key);
    free(s->where);
    for (int i = 0; i < s->nparams; i++) free(s->params[i]);
    free(s->params);
    if (s->columns) esync_ident_list_free(s->columns, s->ncolumns);
    esync_snapinfo_free(&s->snap);
    esync__sb_free(&s->tx);
    free(s->tx_ends);
    free(s->tx_offs);
    while (s->pend_head) {
        pend_txn *p = s->pend_head;
        s->pend_head = p->next;
        pend_free(p);
    }
    free(s);
}

static void mark_dirty(esync_shapes *S, shape *s) {
    if (s->dirty) return;
    s->dirty = true;
    s->refs++;
    s->dirty_next = S->dirty_head;
    S->dirty_head = s;
    pthread_cond_signal(&S->notify_cv);
}

/* Removes a shape for good: new requests for its definition make a new one; parked requests are
 * answered 409 by the notifier. */
static void invalidate(esync_shapes *S, shape *s, const char *why) {
    if (s->state == S_GONE) return;
    esync_log("shapes: %s (%s.%s) invalidated: %s", s->handle, s->t->schema, s->t->name, why);
    bool was_listed = s->state != S_GONE;
    s->state = S_GONE;
    if (was_listed) registry_remove(S, s);
    if (s->log) {
        esync_slog_close(s->log, 1);
        s->log = NULL;
    }
    mark_dirty(S, s);
    shape_unref(s); /* the registry's reference */
}

/* --- completion and parking ------------------------------------------------------------------ */

typedef struct cx {
    esync_shape_req *done; /* completed requests, to call done() on after unlocking */
} cx;

static void unlink_wait(esync_shapes *S, struct esync_shape_priv *p) {
    if (p->wait == W_SHAPE && p->s) {
        if (p->wprev)
            p->wprev->wnext = p->wnext;
        else
            p->s->waiters = p->wnext;
        if (p->wnext) p->wnext->wprev = p->wprev;
    }
    if (p->deadline) {
        if (p->tprev)
            p->tprev->tnext = p->tnext;
        else
            S->tl_head = p->tnext;
        if (p->tnext)
            p->tnext->tprev = p->tprev;
        else
            S->tl_tail = p->tprev;
    }
    p->wprev = p->wnext = p->tprev = p->tnext = NULL;
    p->deadline = 0;
    if (p->s) {
        shape_unref(p->s);
        p->s = NULL;
    }
    p->wait = W_NONE;
}

static void complete(esync_shapes *S, cx *c, esync_shape_req *q) {
    unlink_wait(S, q->priv);
    q->priv->done_next = c->done;
    c->done = q;
}

static void run_done(cx *c) {
    while (c->done) {
        esync_shape_req *q = c->done;
        c->done = q->priv->done_next;
        q->done(q);
    }
}

static void park(esync_shape_req *q, bool *parked) {
    if (!*parked) {
        q->park(q);
        *parked = true;
    }
}

/* Parks q on shape s, with a deadline (ms from now; 0: none). Deadlines of one kind are added in
 * order, so the list stays sorted when all holds have the same length; a shorter hold (the
 * out-of-bounds grace) is inserted from the tail. */
static void park_on(esync_shapes *S, esync_shape_req *q, shape *s, unsigned hold_ms) {
    struct esync_shape_priv *p = q->priv;
    p->wait = W_SHAPE;
    p->s = s;
    s->refs++;
    p->wprev = NULL;
    p->wnext = s->waiters;
    if (s->waiters) s->waiters->wprev = p;
    s->waiters = p;
    if (hold_ms) {
        p->deadline = mono_ms() + hold_ms;
        struct esync_shape_priv *at = S->tl_tail;
        while (at && at->deadline > p->deadline) at = at->tprev;
        p->tprev = at;
        p->tnext = at ? at->tnext : S->tl_head;
        if (p->tnext)
            p->tnext->tprev = p;
        else
            S->tl_tail = p;
        if (at)
            at->tnext = p;
        else
            S->tl_head = p;
        pthread_cond_signal(&S->notify_cv);
    }
}

/* --- answers --------------------------------------------------------------------------------- */

static void res_reset(esync_shape_result *r) {
    esync_shape_result_free(r);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

static void res_json(esync_shape_result *r, int status, const char *json) {
    res_reset(r);
    r->status = status;
    r->cache = ESYNC_CC_NO_STORE;
    r->head = esync__xstrdup(json);
    r->head_len = strlen(json);
}

static void res_400(esync_shape_result *r, const char *field, const char *msg) {
    esync_sb b = {0};
    esync__sb_puts(&b, "{\"message\":\"Invalid request\",\"errors\":{");
    esync__sb_json(&b, field, strlen(field));
    esync__sb_puts(&b, ":[");
    esync__sb_json(&b, msg, strlen(msg));
    esync__sb_puts(&b, "]}}");
    res_json(r, 400, b.p);
    esync__sb_free(&b);
}

static void res_db_down(esync_shape_result *r) {
    res_json(r, 503, "{\"code\":\"database_unreachable\",\"error\":\"Database is unreachable\"}");
    r->retry_after = 10;
}

static void res_409(esync_shape_result *r, const char *handle) {
    res_json(r, 409, "[{\"headers\":{\"control\":\"must-refetch\"}}]");
    if (handle) {
        snprintf(r->handle, sizeof r->handle, "%s", handle);
        r->cache = ESYNC_CC_409;
    } else {
        r->cache = ESYNC_CC_409; /* the HTTP layer uses max-age=1 without a handle */
    }
}

static esync_offset last_offset(const shape *s) {
    size_t n = s->log ? esync_slog_count(s->log) : 0;
    if (n == 0) return (esync_offset){0, ESYNC_OP_INF};
    return esync_slog_entries(s->log)[n - 1].off;
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
        esync_offset_text(q->offset, req_off, sizeof req_off);
    if (unique)
        snprintf(r->etag, sizeof r->etag, "\"%s:%s:%s:%" PRId64 "\"", s->handle, req_off, resp_off,
                 mono_ms());
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

/* Snapshot chunk k as the body. */
static int serve_chunk(shape *s, esync_shape_req *q, int k) {
    esync_shape_result *r = &q->res;
    res_common(r, s, q);
    uint64_t size = 0;
    int fd = esync_slog_snap_open(s->log, k, &size);
    if (fd < 0) return -1;
    r->fd = fd;
    r->fstart = 0;
    r->flen = size >= 2 ? size - 2 : 0; /* without the last ",\n" */
    r->head = esync__xstrdup("[");
    r->head_len = 1;
    r->tail = esync__xstrdup("]");
    r->tail_len = 1;
    esync_offset o = {0, (uint64_t)k};
    esync_offset_text(o, r->offset, sizeof r->offset);
    set_etag(r, s, q, r->offset, false);
    return 0;
}

/* Decides what q gets from shape s. Returns true when q was answered (complete it), false when it
 * must wait (the caller parks it). */
static bool serve(esync_shapes *S, shape *s, esync_shape_req *q) {
    esync_shape_result *r = &q->res;
    struct esync_shape_priv *p = q->priv;
    if (s->state == S_GONE) {
        shape *n = lookup(S, q->key);
        res_409(r, n ? n->handle : NULL);
        return true;
    }
    if (s->state == S_CREATING) return false;
    if (q->kind == ESYNC_OFFSET_BEFORE_ALL) {
        if (serve_chunk(s, q, 0) != 0) {
            res_json(r, 500, "{\"message\":\"Unable to retrieve shape log: snapshot missing\"}");
        }
        return true;
    }
    esync_offset last = last_offset(s);
    if (q->kind == ESYNC_OFFSET_NOW) {
        res_common(r, s, q);
        r->has_data = false;
        r->up_to_date = true;
        esync_offset_text(last, r->offset, sizeof r->offset);
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
        if (serve_chunk(s, q, (int)o.op + 1) != 0)
            res_json(r, 500, "{\"message\":\"Unable to retrieve shape log: snapshot missing\"}");
        return true;
    }
    size_t n = esync_slog_count(s->log);
    size_t first = o.tx == 0 ? 0 : esync_slog_after(s->log, o);
    if (first < n) {
        size_t stop = esync_slog_chunk_stop(s->log, first);
        uint64_t start, end;
        esync_slog_range(s->log, first, stop, &start, &end);
        const esync_slog_entry *e = esync_slog_entries(s->log);
        bool utd = stop == n;
        uint64_t chunk_lsn = e[stop - 1].off.tx;
        res_common(r, s, q);
        r->up_to_date = utd;
        esync_offset_text(e[stop - 1].off, r->offset, sizeof r->offset);
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
            if (esync_slog_pread(s->log, body.p + 1, start, (size_t)len) != 0) {
                esync__sb_free(&body);
                esync__sb_free(&tail);
                res_json(r, 500, "{\"message\":\"Unable to retrieve shape log: read failed\"}");
                return true;
            }
            body.n = 1 + (size_t)len;
            esync__sb_put(&body, tail.p, tail.n);
            r->head = esync__sb_take(&body, &r->head_len);
            esync__sb_free(&tail);
        } else {
            r->fd = esync_slog_log_fd(s->log);
            r->fstart = start;
            r->flen = len;
            r->head = esync__xstrdup("[");
            r->head_len = 1;
            r->tail = esync__sb_take(&tail, &r->tail_len);
            if (r->fd < 0) {
                res_json(r, 500, "{\"message\":\"Unable to retrieve shape log: open failed\"}");
                return true;
            }
        }
        set_etag(r, s, q, r->offset, false);
        return true;
    }
    /* nothing after o */
    bool beyond = o.tx != 0 && esync_offset_cmp(o, last) > 0;
    if (beyond && !p->timed_out) {
        p->oob = true;
        return false;
    }
    if (beyond) {
        res_400(r, "offset", "out of bounds for this shape");
        return true;
    }
    if (q->live && !p->timed_out) return false;
    res_common(r, s, q);
    r->up_to_date = true;
    r->has_data = !(q->live);
    if (o.tx == 0)
        esync_offset_text(last, r->offset, sizeof r->offset);
    else
        esync_offset_text(o, r->offset, sizeof r->offset);
    esync_sb b = {0};
    esync__sb_put(&b, "[", 1);
    up_to_date_json(&b, S->global_lsn);
    esync__sb_put(&b, "]", 1);
    r->head = esync__sb_take(&b, &r->head_len);
    set_etag(r, s, q, r->offset, q->live);
    return true;
}

/* --- shape creation -------------------------------------------------------------------------- */

static void queue_job(esync_shapes *S, esync_shape_req *q, shape *s) {
    job *j = esync__xcalloc(1, sizeof *j);
    j->q = q;
    j->s = s;
    if (S->jobs_tail)
        S->jobs_tail->next = j;
    else
        S->jobs_head = j;
    S->jobs_tail = j;
    pthread_cond_signal(&S->job_cv);
}

static void make_handle(esync_shapes *S, const char *key, char *out, size_t n) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    if (us <= S->last_handle_us) us = S->last_handle_us + 1;
    S->last_handle_us = us;
    snprintf(out, n, "%" PRIu64 "-%" PRIu64, (uint64_t)(fnv(key) % 100000000000ULL), us);
}

static void start_repl(esync_shapes *S);

/* Builds the shape of a checked request (its priv holds table, where, selection) and registers
 * it as CREATING. NULL when its directory cannot be created. */
static shape *create_shape(esync_shapes *S, esync_shape_req *q) {
    struct esync_shape_priv *p = q->priv;
    shape *s = esync__xcalloc(1, sizeof *s);
    s->refs = 1; /* the registry's */
    make_handle(S, q->key, s->handle, sizeof s->handle);
    s->key = esync__xstrdup(q->key);
    s->t = esync_table_ref(p->t);
    esync__view_init(&s->view, s->t, p->sel, p->nsel, q->full, p->where);
    p->where = NULL; /* owned by the view now */
    s->schema_json = esync_table_schema_json(s->t, s->view.sel, s->view.nsel);
    s->where = q->where ? esync__xstrdup(q->where) : NULL;
    s->nparams = q->nparams;
    s->params = esync__xcalloc((size_t)q->nparams + 1, sizeof *s->params);
    for (int i = 0; i < q->nparams; i++) s->params[i] = esync__xstrdup(q->params[i]);
    if (q->columns) {
        s->ncolumns = q->ncolumns;
        s->columns = esync__xcalloc((size_t)q->ncolumns + 1, sizeof *s->columns);
        for (int i = 0; i < q->ncolumns; i++) s->columns[i] = esync__xstrdup(q->columns[i]);
    }
    s->full = q->full;
    s->state = S_CREATING;
    char dir[PATH_MAX + 80], err[512];
    snprintf(dir, sizeof dir, "%s/%s", S->dir, s->handle);
    s->log = esync_slog_create(dir, S->o.chunk_bytes, err, sizeof err);
    if (!s->log) {
        esync_log("shapes: %s", err);
        s->state = S_GONE;
        shape_unref(s);
        return NULL;
    }
    registry_add(S, s);
    start_repl(S);
    s->refs++; /* the snapshot job's */
    queue_job(S, NULL, s);
    return s;
}

/* Routes q under the lock. */
static void route(esync_shapes *S, esync_shape_req *q, cx *c, bool *parked) {
    shape *s = lookup(S, q->key);
    if (!s) {
        if (!q->priv->t) {
            park(q, parked);
            q->priv->wait = W_JOB;
            queue_job(S, q, NULL);
            return;
        }
        s = create_shape(S, q);
        if (!s) {
            res_json(&q->res, 503, "{\"message\":\"Failed to create shape, please retry\"}");
            q->res.retry_after = 1;
            complete(S, c, q);
            return;
        }
    }
    if (q->kind == ESYNC_OFFSET_AT && (!q->handle || strcmp(q->handle, s->handle) != 0)) {
        res_409(&q->res, s->handle);
        complete(S, c, q);
        return;
    }
    if (serve(S, s, q)) {
        complete(S, c, q);
        return;
    }
    park(q, parked);
    unsigned hold = 0;
    if (s->state == S_READY) hold = q->priv->oob ? S->o.long_poll_ms / 2 : S->o.long_poll_ms;
    park_on(S, q, s, hold);
}

void esync_shapes_submit(esync_shapes *S, esync_shape_req *q) {
    q->priv = esync__xcalloc(1, sizeof *q->priv);
    q->priv->q = q;
    q->res.fd = -1;
    q->key = def_key(q);
    cx c = {0};
    bool parked = false;
    pthread_mutex_lock(&S->mu);
    if (S->stopping) {
        res_json(&q->res, 503, "{\"message\":\"Shutting down\"}");
        q->res.retry_after = 5;
        complete(S, &c, q);
    } else {
        route(S, q, &c, &parked);
    }
    pthread_mutex_unlock(&S->mu);
    run_done(&c);
}

/* --- workers --------------------------------------------------------------------------------- */

static PGconn *worker_connect(esync_shapes *S) {
    const char *keys[] = {"dbname", "options", "application_name", NULL};
    const char *vals[] = {S->o.database_url, esync_repl_session_options, "esync-shapes", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* The catalog check of a new definition: table, columns, where. On success fills q->priv and
 * routes q again; else answers it. */
static void check_definition(esync_shapes *S, PGconn **conn, esync_shape_req *q) {
    struct esync_shape_priv *p = q->priv;
    esync_shape_result *r = &q->res;
    char err[1024];
    cx c = {0};
    if (!*conn) *conn = worker_connect(S);
    if (!*conn) {
        res_db_down(r);
        goto answer;
    }
    bool lost = false;
    esync_table *t = NULL;
    int rc = esync_table_load(*conn, q->schema, q->table, &t, &lost, err, sizeof err);
    if (rc < 0) {
        if (lost) {
            PQfinish(*conn);
            *conn = NULL;
            res_db_down(r);
        } else {
            esync_log("shapes: catalog: %s", err);
            res_json(r, 500, "{\"error\":\"Internal server error\"}");
        }
        goto answer;
    }
    if (rc == 1) {
        res_400(r, "table", err);
        goto answer;
    }
    p->t = t;
    p->sel = esync__xcalloc((size_t)t->ncols + 1, sizeof *p->sel);
    if (q->columns) {
        bool *want = esync__xcalloc((size_t)t->ncols + 1, sizeof *want);
        esync_sb missing = {0};
        for (int i = 0; i < q->ncolumns; i++) {
            int k = esync_table_col(t, q->columns[i]);
            if (k < 0) {
                esync__sb_puts(&missing, missing.n ? ", " : "");
                esync__sb_puts(&missing, q->columns[i]);
            } else {
                want[k] = true;
            }
        }
        if (missing.n) {
            snprintf(err, sizeof err, "The following columns are not found on the table: %s",
                     missing.p);
            free(want);
            esync__sb_free(&missing);
            res_400(r, "columns", err);
            goto answer;
        }
        for (int k = 0; k < t->npk; k++)
            if (!want[t->pk[k]]) {
                esync__sb_puts(&missing, missing.n ? ", " : "");
                esync__sb_puts(&missing, t->cols[t->pk[k]].name);
            }
        if (missing.n) {
            snprintf(err, sizeof err,
                     "The list of columns must include all primary key columns, missing: %s",
                     missing.p);
            free(want);
            esync__sb_free(&missing);
            res_400(r, "columns", err);
            goto answer;
        }
        for (int k = 0; k < t->ncols; k++)
            if (want[k]) p->sel[p->nsel++] = k;
        free(want);
    } else {
        for (int k = 0; k < t->ncols; k++) p->sel[p->nsel++] = k;
    }
    if (q->where) {
        esync_where_col *wc = esync__xcalloc((size_t)t->ncols + 1, sizeof *wc);
        char **tn = esync__xcalloc((size_t)t->ncols + 1, sizeof *tn);
        for (int k = 0; k < t->ncols; k++) {
            wc[k].name = t->cols[k].name;
            wc[k].dims = t->cols[k].dims;
            if (t->cols[k].dims > 0) {
                /* arrays: the where module only needs to know it is one */
                tn[k] = esync__xmalloc(strlen(t->cols[k].typname) + 2);
                sprintf(tn[k], "_%s", t->cols[k].typname);
                wc[k].type = tn[k];
            } else {
                wc[k].type = t->cols[k].typname;
            }
        }
        int wr = esync_where_compile(q->where, (const char *const *)q->params, q->nparams, wc,
                                     t->ncols, &p->where, err, sizeof err);
        for (int k = 0; k < t->ncols; k++) free(tn[k]);
        free(tn);
        free(wc);
        if (wr != 0) {
            res_400(r, wr == ESYNC_WHERE_EPARAM && strstr(err, "not used") ? "params" : "where",
                    err);
            goto answer;
        }
    }
    pthread_mutex_lock(&S->mu);
    p->wait = W_NONE;
    bool parked = true;
    if (S->stopping) {
        res_json(r, 503, "{\"message\":\"Shutting down\"}");
        complete(S, &c, q);
    } else {
        route(S, q, &c, &parked);
    }
    pthread_mutex_unlock(&S->mu);
    run_done(&c);
    return;
answer:
    pthread_mutex_lock(&S->mu);
    p->wait = W_NONE;
    complete(S, &c, q);
    pthread_mutex_unlock(&S->mu);
    run_done(&c);
}

static int exec_cmd(PGconn *conn, const char *sql, int nparams, const char *const *params,
                    ExecStatusType want, char *err, size_t n) {
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == want;
    if (!ok) snprintf(err, n, "%s", PQerrorMessage(conn));
    int rows = ok && want == PGRES_TUPLES_OK ? PQntuples(res) : 0;
    PQclear(res);
    return ok ? rows : -1;
}

/* The table in the publication, with REPLICA IDENTITY FULL (electric-protocol.md §7.1). */
static int publish_table(esync_shapes *S, PGconn *conn, const esync_table *t, char *err, size_t n) {
    char relid[16];
    snprintf(relid, sizeof relid, "%u", t->relid);
    const char *p1[2] = {S->pub, relid};
    int rows = exec_cmd(
        conn,
        "SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid "
        "WHERE p.pubname = $1 AND pr.prrelid = $2::oid",
        2, p1, PGRES_TUPLES_OK, err, n);
    if (rows < 0) return -1;
    const char *p2[1] = {relid};
    int full = exec_cmd(conn, "SELECT 1 FROM pg_class WHERE oid = $1::oid AND relreplident = 'f'",
                        1, p2, PGRES_TUPLES_OK, err, n);
    if (full < 0) return -1;
    char sql[1024];
    if (full == 0) {
        /* qname comes from the catalog, quoted by Postgres (format %I), never from the request */
        snprintf(sql, sizeof sql, "ALTER TABLE %s REPLICA IDENTITY FULL", t->qname);
        if (exec_cmd(conn, sql, 0, NULL, PGRES_COMMAND_OK, err, n) < 0) return -1;
    }
    if (rows == 0) {
        snprintf(sql, sizeof sql, "ALTER PUBLICATION %s ADD TABLE %s", S->pub, t->qname);
        if (exec_cmd(conn, sql, 0, NULL, PGRES_COMMAND_OK, err, n) < 0 &&
            !strstr(err, "already member"))
            return -1;
    }
    return 0;
}

static char *meta_json(const shape *s) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "version", 1);
    cJSON_AddStringToObject(m, "handle", s->handle);
    cJSON_AddStringToObject(m, "key", s->key);
    cJSON *t = cJSON_AddObjectToObject(m, "table");
    cJSON_AddNumberToObject(t, "relid", s->t->relid);
    cJSON_AddStringToObject(t, "schema", s->t->schema);
    cJSON_AddStringToObject(t, "name", s->t->name);
    cJSON_AddStringToObject(t, "qname", s->t->qname);
    cJSON *cols = cJSON_AddArrayToObject(t, "columns");
    for (int i = 0; i < s->t->ncols; i++) {
        const esync_tcol *c = &s->t->cols[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", c->name);
        cJSON_AddNumberToObject(o, "type_oid", c->type_oid);
        cJSON_AddNumberToObject(o, "typmod", c->typmod);
        cJSON_AddStringToObject(o, "typname", c->typname);
        cJSON_AddNumberToObject(o, "dims", c->dims);
        cJSON_AddNumberToObject(o, "pk_index", c->pk_index);
        cJSON_AddBoolToObject(o, "not_null", c->not_null);
        cJSON_AddItemToArray(cols, o);
    }
    if (s->where) cJSON_AddStringToObject(m, "where", s->where);
    cJSON *ps = cJSON_AddArrayToObject(m, "params");
    for (int i = 0; i < s->nparams; i++) cJSON_AddItemToArray(ps, cJSON_CreateString(s->params[i]));
    if (s->columns) {
        cJSON *cs = cJSON_AddArrayToObject(m, "columns");
        for (int i = 0; i < s->ncolumns; i++)
            cJSON_AddItemToArray(cs, cJSON_CreateString(s->columns[i]));
    }
    cJSON_AddBoolToObject(m, "full", s->full);
    char buf[32];
    cJSON *sn = cJSON_AddObjectToObject(m, "snapshot");
    snprintf(buf, sizeof buf, "%" PRIu64, s->snap.xmin);
    cJSON_AddStringToObject(sn, "xmin", buf);
    snprintf(buf, sizeof buf, "%" PRIu64, s->snap.xmax);
    cJSON_AddStringToObject(sn, "xmax", buf);
    cJSON *xip = cJSON_AddArrayToObject(sn, "xip");
    for (int i = 0; i < s->snap.nxip; i++) {
        snprintf(buf, sizeof buf, "%" PRIu64, s->snap.xip[i]);
        cJSON_AddItemToArray(xip, cJSON_CreateString(buf));
    }
    cJSON_AddNumberToObject(m, "chunks", s->nchunks);
    char *out = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return out;
}

/* Appends a collected transaction to the shape's log. */
static void append_txn(shape *s, const char *buf, size_t len, const esync_offset *offs,
                       const size_t *ends, size_t n) {
    if (esync_slog_append(s->log, buf, len, offs, ends, n) != 0) {
        esync_log("shapes: %s: log write failed: %s", s->handle, strerror(errno));
        return;
    }
    s->needs_sync = true;
}

static void fail_shape(esync_shapes *S, shape *s, bool db_down, const char *why) {
    pthread_mutex_lock(&S->mu);
    /* parked requests get a 503 instead of a 409: the definition itself is fine */
    for (struct esync_shape_priv *p = s->waiters; p; p = p->wnext) {
        if (db_down)
            res_db_down(&p->q->res);
        else {
            res_json(&p->q->res, 503, "{\"message\":\"Failed to create shape, please retry\"}");
            p->q->res.retry_after = 1;
        }
        p->q->res.status = -p->q->res.status; /* mark: already answered (see notifier) */
    }
    invalidate(S, s, why);
    pthread_mutex_unlock(&S->mu);
}

static void snapshot_shape(esync_shapes *S, PGconn **conn, shape *s) {
    char err[1024];
    /* The stream must be running (publication and slot exist) before the snapshot. */
    pthread_mutex_lock(&S->mu);
    int64_t until = mono_ms() + 10000;
    while (!S->repl_started && !S->stopping && mono_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&S->repl_cv, &S->mu, &ts);
    }
    bool ready = S->repl_started && s->state == S_CREATING;
    pthread_mutex_unlock(&S->mu);
    if (!ready) {
        fail_shape(S, s, true, "replication is not running");
        return;
    }
    if (!*conn) *conn = worker_connect(S);
    if (!*conn) {
        fail_shape(S, s, true, "database unreachable");
        return;
    }
    if (publish_table(S, *conn, s->t, err, sizeof err) != 0) {
        bool lost = PQstatus(*conn) != CONNECTION_OK;
        if (lost) {
            PQfinish(*conn);
            *conn = NULL;
        }
        esync_log("shapes: publishing %s: %s", s->t->qname, err);
        fail_shape(S, s, lost, "publication failed");
        return;
    }
    esync_snapinfo info;
    bool lost = false;
    int rc = esync_snapshot_run(*conn, &s->view, s->log, &info, &lost, err, sizeof err);
    if (rc != 0) {
        esync_snapinfo_free(&info);
        if (lost) {
            PQfinish(*conn);
            *conn = NULL;
        }
        esync_log("shapes: snapshot of %s failed: %s", s->handle, err);
        fail_shape(S, s, lost, "snapshot failed");
        return;
    }
    pthread_mutex_lock(&S->mu);
    if (s->state != S_CREATING) { /* invalidated meanwhile (truncate, schema change) */
        esync_snapinfo_free(&info);
        pthread_mutex_unlock(&S->mu);
        return;
    }
    s->snap = info;
    s->snap_known = true;
    s->nchunks = esync_slog_snap_chunks(s->log);
    while (s->pend_head) {
        pend_txn *pt = s->pend_head;
        s->pend_head = pt->next;
        if (!s->filter_done && esync_snapshot_visible(&s->snap, pt->xid)) {
            pend_free(pt);
            continue;
        }
        if (esync_snapshot_past(&s->snap, pt->xid)) s->filter_done = true;
        append_txn(s, pt->buf, pt->len, pt->offs, pt->ends, pt->n);
        pend_free(pt);
    }
    s->pend_tail = NULL;
    esync_slog_sync(s->log);
    char *meta = meta_json(s);
    if (esync_slog_write_meta(s->log, meta, strlen(meta)) != 0)
        esync_log("shapes: %s: writing meta.json failed: %s", s->handle, strerror(errno));
    free(meta);
    s->needs_sync = false;
    s->state = S_READY;
    mark_dirty(S, s);
    pthread_mutex_unlock(&S->mu);
}

/* The schema reconciler (Electric's SchemaReconciler): a table dropped and created again, or
 * dropped, is invisible in the replication stream (no Relation message for the old OID), so every
 * reconcile_ms the live shapes' tables are looked up by name; a shape whose table is gone or has
 * another OID now is invalidated, and its clients get a 409 and resync from the new table. */
static void reconcile(esync_shapes *S, PGconn **conn) {
    pthread_mutex_lock(&S->mu);
    size_t n = 0, k = 0;
    for (shape *s = S->all; s; s = s->next) n += s->t != NULL;
    esync_table **ts = esync__xcalloc(n ? n : 1, sizeof *ts);
    for (shape *s = S->all; s && k < n; s = s->next)
        if (s->t) ts[k++] = esync_table_ref(s->t);
    S->reconcile_queued = false;
    pthread_mutex_unlock(&S->mu);
    if (k && !*conn) *conn = worker_connect(S);
    for (size_t i = 0; i < k && *conn; i++) {
        const char *params[2] = {ts[i]->schema, ts[i]->name};
        PGresult *r = PQexecParams(
            *conn,
            "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2"
            " AND c.relkind IN ('r', 'p')",
            2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) { /* database trouble: try again next round */
            PQclear(r);
            break;
        }
        bool gone = PQntuples(r) == 0 || strtoul(PQgetvalue(r, 0, 0), NULL, 10) != ts[i]->relid;
        PQclear(r);
        if (!gone) continue;
        pthread_mutex_lock(&S->mu);
        for (shape *s = S->all; s;) {
            shape *next = s->next; /* invalidate unlinks s */
            if (s->t && s->t->relid == ts[i]->relid && !strcmp(s->t->schema, ts[i]->schema) &&
                !strcmp(s->t->name, ts[i]->name))
                invalidate(S, s, "table dropped or recreated");
            s = next;
        }
        pthread_mutex_unlock(&S->mu);
    }
    for (size_t i = 0; i < k; i++) esync_table_unref(ts[i]);
    free(ts);
}

static void *worker_main(void *arg) {
    esync_shapes *S = arg;
    PGconn *conn = NULL;
    for (;;) {
        pthread_mutex_lock(&S->mu);
        while (!S->jobs_head && !S->stopping) pthread_cond_wait(&S->job_cv, &S->mu);
        if (!S->jobs_head) {
            pthread_mutex_unlock(&S->mu);
            break;
        }
        job *j = S->jobs_head;
        S->jobs_head = j->next;
        if (!S->jobs_head) S->jobs_tail = NULL;
        pthread_mutex_unlock(&S->mu);
        if (conn && PQstatus(conn) != CONNECTION_OK) {
            PQfinish(conn);
            conn = NULL;
        }
        if (j->reconcile) {
            reconcile(S, &conn);
        } else if (j->q) {
            check_definition(S, &conn, j->q);
        } else {
            snapshot_shape(S, &conn, j->s);
            pthread_mutex_lock(&S->mu);
            shape_unref(j->s);
            pthread_mutex_unlock(&S->mu);
        }
        free(j);
    }
    PQfinish(conn);
    return NULL;
}

/* --- the notifier ---------------------------------------------------------------------------- */

static void *notifier_main(void *arg) {
    esync_shapes *S = arg;
    pthread_mutex_lock(&S->mu);
    for (;;) {
        cx c = {0};
        while (S->dirty_head) {
            shape *s = S->dirty_head;
            S->dirty_head = s->dirty_next;
            s->dirty = false;
            struct esync_shape_priv *p = s->waiters;
            while (p) {
                struct esync_shape_priv *next = p->wnext;
                esync_shape_req *q = p->q;
                if (q->res.status < 0) { /* answered by fail_shape */
                    q->res.status = -q->res.status;
                    complete(S, &c, q);
                } else {
                    bool was_creating = p->deadline == 0;
                    if (serve(S, s, q)) {
                        complete(S, &c, q);
                    } else if (was_creating && s->state == S_READY) {
                        /* the shape became ready: start the hold now */
                        unlink_wait(S, p);
                        park_on(S, q, s, p->oob ? S->o.long_poll_ms / 2 : S->o.long_poll_ms);
                    }
                }
                p = next;
            }
            shape_unref(s);
        }
        int64_t now = mono_ms();
        while (S->tl_head && S->tl_head->deadline <= now) {
            struct esync_shape_priv *p = S->tl_head;
            p->timed_out = true;
            esync_shape_req *q = p->q;
            shape *s = p->s;
            if (!S->repl_started && s && s->state == S_READY && !p->oob) {
                res_db_down(&q->res);
            } else if (!s || !serve(S, s, q)) {
                res_json(&q->res, 503, "{\"message\":\"Timed out\"}");
                q->res.retry_after = 1;
            }
            complete(S, &c, q);
        }
        if (S->all && !S->reconcile_queued && !S->stopping && now >= S->next_reconcile) {
            if (S->next_reconcile) { /* not on the first pass: the shapes were just checked */
                job *j = esync__xcalloc(1, sizeof *j);
                j->reconcile = true;
                if (S->jobs_tail)
                    S->jobs_tail->next = j;
                else
                    S->jobs_head = j;
                S->jobs_tail = j;
                S->reconcile_queued = true;
                pthread_cond_signal(&S->job_cv);
            }
            S->next_reconcile = now + S->o.reconcile_ms;
        }
        if (c.done) {
            pthread_mutex_unlock(&S->mu);
            run_done(&c);
            pthread_mutex_lock(&S->mu);
            continue;
        }
        if (S->stopping) break;
        if (S->dirty_head) continue;
        int64_t next_wake = S->tl_head ? S->tl_head->deadline : 0;
        if (S->all && (!next_wake || S->next_reconcile < next_wake)) next_wake = S->next_reconcile;
        if (next_wake) {
            int64_t wait = next_wake - mono_ms();
            if (wait > 0) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += wait / 1000;
                ts.tv_nsec += (wait % 1000) * 1000000;
                if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
                pthread_cond_timedwait(&S->notify_cv, &S->mu, &ts);
            }
        } else {
            pthread_cond_wait(&S->notify_cv, &S->mu);
        }
    }
    pthread_mutex_unlock(&S->mu);
    return NULL;
}

/* --- the replication sink (replication thread) ----------------------------------------------- */

static void write_state(esync_shapes *S, uint64_t flushed) {
    char path[PATH_MAX + 32], tmp[PATH_MAX + 32], buf[128];
    snprintf(path, sizeof path, "%s/state.json", S->dir);
    snprintf(tmp, sizeof tmp, "%s/state.json.tmp", S->dir);
    int n = snprintf(buf, sizeof buf, "{\"slot\":\"%s\",\"flushed\":\"%" PRIu64 "\"}\n", S->slot,
                     flushed);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    ssize_t w = write(fd, buf, (size_t)n);
    fdatasync(fd);
    close(fd);
    if (w == n) rename(tmp, path);
}

static void unlink_state(esync_shapes *S) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/state.json", S->dir);
    unlink(path);
}

static void purge_all(esync_shapes *S, const char *why) {
    while (S->all) invalidate(S, S->all, why);
}

/* The stream cannot continue the stored logs: drop every READY shape. CREATING ones take their
 * snapshot once the stream runs, so they stay. */
static void purge_ready(esync_shapes *S, const char *why) {
    for (shape *s = S->all, *next; s; s = next) {
        next = s->next;
        if (s->state == S_READY) invalidate(S, s, why);
    }
}

static void sink_started(void *ctx, bool created, uint64_t confirmed) {
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    if (created)
        purge_ready(S, "the replication slot was (re)created");
    else if (confirmed > S->stored_flushed)
        purge_ready(S, "the replication slot is ahead of the stored logs");
    if (confirmed > S->stored_flushed) S->stored_flushed = confirmed;
    S->repl_started = true;
    pthread_cond_broadcast(&S->repl_cv);
    pthread_mutex_unlock(&S->mu);
}

static void reset_tx(shape *s) {
    s->tx.n = 0;
    s->tx_n = 0;
    s->tx_skip = false;
}

static void sink_disconnected(void *ctx, const char *why) {
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    if (S->repl_started) esync_log("shapes: replication disconnected: %s", why);
    S->repl_started = false;
    for (shape *s = S->all; s; s = s->next) reset_tx(s);
    pthread_mutex_unlock(&S->mu);
}

static void sink_begin(void *ctx, uint32_t xid, uint64_t lsn) {
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    S->tx_xid = xid;
    S->tx_lsn = lsn;
    for (shape *s = S->all; s; s = s->next) {
        reset_tx(s);
        s->tx_filtered = s->snap_known;
        size_t n = s->log ? esync_slog_count(s->log) : 0;
        if (n && lsn <= esync_slog_entries(s->log)[n - 1].off.tx) {
            s->tx_skip = true; /* already stored (re-delivery after a reconnect or restart) */
            continue;
        }
        if (s->snap_known && !s->filter_done) {
            if (esync_snapshot_visible(&s->snap, xid))
                s->tx_skip = true;
            else if (esync_snapshot_past(&s->snap, xid))
                s->filter_done = true;
        }
    }
    pthread_mutex_unlock(&S->mu);
}

static bool same_relation(const esync_table *t, const esync_pgo_msg *m) {
    if (strcmp(t->name, m->u.relation.relname) != 0) return false;
    const char *ns = m->u.relation.nspname[0] ? m->u.relation.nspname : "pg_catalog";
    if (strcmp(t->schema, ns) != 0) return false;
    if (t->ncols != m->u.relation.ncols) return false;
    for (int i = 0; i < t->ncols; i++) {
        if (strcmp(t->cols[i].name, m->u.relation.cols[i].name) != 0) return false;
        if (t->cols[i].type_oid != m->u.relation.cols[i].type_oid) return false;
        if (t->cols[i].typmod != m->u.relation.cols[i].typmod) return false;
    }
    return true;
}

static void sink_relation(void *ctx, const esync_pgo_msg *m) {
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    for (shape *s = S->all, *next; s; s = next) {
        next = s->next;
        if (s->t->relid == m->u.relation.oid && !same_relation(s->t, m))
            invalidate(S, s, "the table's schema changed");
    }
    pthread_mutex_unlock(&S->mu);
}

static void sink_change(void *ctx, uint32_t relid, char op, const esync_row *old_row,
                        const esync_row *new_row, int ncols, uint64_t ordinal) {
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    for (shape *s = S->all, *next; s; s = next) {
        next = s->next;
        if (s->t->relid != relid || s->tx_skip) continue;
        if (ncols != s->t->ncols) {
            invalidate(S, s, "column count changed");
            continue;
        }
        if (s->tx_cap < s->tx_n + 2) {
            s->tx_cap = s->tx_cap ? s->tx_cap * 2 : 16;
            s->tx_ends = esync__xrealloc(s->tx_ends, s->tx_cap * sizeof *s->tx_ends);
            s->tx_offs = esync__xrealloc(s->tx_offs, s->tx_cap * sizeof *s->tx_offs);
        }
        /* an update without an old row (table not yet FULL): compare with itself */
        const esync_row *o = old_row ? old_row : new_row;
        int k = esync__msg_change(&s->tx, s->tx_ends + s->tx_n, s->tx_offs + s->tx_n, &s->view, op,
                                  o, new_row, S->tx_lsn, ordinal, S->tx_xid);
        s->tx_n += (size_t)k;
    }
    pthread_mutex_unlock(&S->mu);
}

static void sink_truncate(void *ctx, uint32_t relid) {
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    for (shape *s = S->all, *next; s; s = next) {
        next = s->next;
        if (s->t->relid == relid && !s->tx_skip) invalidate(S, s, "truncate");
    }
    pthread_mutex_unlock(&S->mu);
}

static void sink_commit(void *ctx, uint64_t commit_lsn, uint64_t end_lsn) {
    (void)end_lsn;
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    for (shape *s = S->all; s; s = s->next) {
        if (s->tx_skip || s->tx_n == 0) {
            reset_tx(s);
            continue;
        }
        esync__msg_mark_last(&s->tx);
        s->tx_ends[s->tx_n - 1] = s->tx.n;
        if (s->snap_known && !s->tx_filtered && !s->filter_done &&
            esync_snapshot_visible(&s->snap, S->tx_xid)) {
            /* the snapshot became known during this transaction, and already holds it */
        } else if (s->snap_known) {
            if (!s->tx_filtered && esync_snapshot_past(&s->snap, S->tx_xid)) s->filter_done = true;
            append_txn(s, s->tx.p, s->tx.n, s->tx_offs, s->tx_ends, s->tx_n);
            if (s->state == S_READY) mark_dirty(S, s);
        } else {
            pend_txn *p = esync__xcalloc(1, sizeof *p);
            p->xid = S->tx_xid;
            p->buf = esync__xmalloc(s->tx.n + 1);
            memcpy(p->buf, s->tx.p, s->tx.n);
            p->len = s->tx.n;
            p->n = s->tx_n;
            p->ends = esync__xmalloc(s->tx_n * sizeof *p->ends);
            p->offs = esync__xmalloc(s->tx_n * sizeof *p->offs);
            memcpy(p->ends, s->tx_ends, s->tx_n * sizeof *p->ends);
            memcpy(p->offs, s->tx_offs, s->tx_n * sizeof *p->offs);
            if (s->pend_tail)
                s->pend_tail->next = p;
            else
                s->pend_head = p;
            s->pend_tail = p;
        }
        reset_tx(s);
    }
    if (commit_lsn > S->global_lsn) S->global_lsn = commit_lsn;
    pthread_mutex_unlock(&S->mu);
}

static uint64_t sink_durable(void *ctx, uint64_t processed) {
    esync_shapes *S = ctx;
    int *fds = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&S->mu);
    for (shape *s = S->all; s; s = s->next) {
        if (!s->needs_sync || s->state != S_READY || !s->log) continue;
        int a, b;
        if (esync_slog_dup_fds(s->log, &a, &b) != 0) continue;
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 32;
            fds = esync__xrealloc(fds, cap * sizeof *fds);
        }
        fds[n++] = a;
        fds[n++] = b;
        s->needs_sync = false;
    }
    pthread_mutex_unlock(&S->mu);
    for (size_t i = 0; i < n; i++) {
        fdatasync(fds[i]);
        close(fds[i]);
    }
    free(fds);
    if (processed != S->stored_flushed) {
        write_state(S, processed);
        S->stored_flushed = processed;
    }
    return processed;
}

/* --- start-up: stored shapes ----------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void remove_dir(const char *dir) {
    esync_slog *l = esync_slog_open(dir, 0, (char[8]){0}, 8);
    if (l) {
        esync_slog_close(l, 1);
        return;
    }
    /* not even a log: remove whatever files are there */
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.') continue;
            char p[2 * PATH_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Rebuilds one stored shape; NULL (and the directory removed) when it is unusable. */
static shape *load_shape(esync_shapes *S, const char *dir) {
    char *text = esync_slog_read_meta(dir);
    if (!text) return NULL;
    cJSON *m = cJSON_ParseWithLengthOpts(text, strlen(text), NULL, 0);
    free(text);
    if (!m) return NULL;
    shape *s = NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "table");
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(t, "columns");
    const char *handle = jstr(m, "handle"), *key = jstr(m, "key");
    if (!handle || !key || !cJSON_IsArray(cols) || !jstr(t, "schema") || !jstr(t, "name") ||
        !jstr(t, "qname"))
        goto out;
    esync_table *tb = esync__xcalloc(1, sizeof *tb);
    tb->refs = 1;
    tb->relid = (uint32_t)jnum(t, "relid");
    tb->schema = esync__xstrdup(jstr(t, "schema"));
    tb->name = esync__xstrdup(jstr(t, "name"));
    tb->qname = esync__xstrdup(jstr(t, "qname"));
    tb->ncols = cJSON_GetArraySize(cols);
    tb->cols = esync__xcalloc((size_t)tb->ncols + 1, sizeof *tb->cols);
    tb->pk = esync__xcalloc((size_t)tb->ncols + 1, sizeof *tb->pk);
    for (int i = 0; i < tb->ncols; i++) {
        const cJSON *c = cJSON_GetArrayItem(cols, i);
        tb->cols[i].name = esync__xstrdup(jstr(c, "name") ? jstr(c, "name") : "?");
        tb->cols[i].typname = esync__xstrdup(jstr(c, "typname") ? jstr(c, "typname") : "text");
        tb->cols[i].type_oid = (uint32_t)jnum(c, "type_oid");
        tb->cols[i].typmod = (int32_t)jnum(c, "typmod");
        tb->cols[i].dims = (int)jnum(c, "dims");
        tb->cols[i].pk_index = (int)jnum(c, "pk_index");
        tb->cols[i].not_null = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "not_null"));
    }
    for (int k = 0;; k++) {
        int found = -1;
        for (int i = 0; i < tb->ncols; i++)
            if (tb->cols[i].pk_index == k) found = i;
        if (found < 0) break;
        tb->pk[tb->npk++] = found;
    }
    /* the definition, checked as a new one would be */
    const char *where_text = jstr(m, "where");
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(m, "params");
    int nparams = cJSON_GetArraySize(ps);
    const char **params = esync__xcalloc((size_t)nparams + 1, sizeof *params);
    for (int i = 0; i < nparams; i++) {
        const cJSON *v = cJSON_GetArrayItem(ps, i);
        params[i] = cJSON_IsString(v) ? v->valuestring : "";
    }
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(m, "columns");
    int ncolumns = cJSON_IsArray(cs) ? cJSON_GetArraySize(cs) : 0;
    const char **columns = esync__xcalloc((size_t)ncolumns + 1, sizeof *columns);
    int *sel = esync__xcalloc((size_t)tb->ncols + 1, sizeof *sel);
    int nsel = 0;
    if (cJSON_IsArray(cs)) {
        for (int i = 0; i < ncolumns; i++) {
            const cJSON *v = cJSON_GetArrayItem(cs, i);
            columns[i] = cJSON_IsString(v) ? v->valuestring : "";
        }
        for (int k = 0; k < tb->ncols; k++)
            for (int i = 0; i < ncolumns; i++)
                if (strcmp(tb->cols[k].name, columns[i]) == 0) {
                    sel[nsel++] = k;
                    break;
                }
    } else {
        for (int k = 0; k < tb->ncols; k++) sel[nsel++] = k;
    }
    esync_where *w = NULL;
    if (where_text) {
        esync_where_col *wc = esync__xcalloc((size_t)tb->ncols + 1, sizeof *wc);
        char **tn = esync__xcalloc((size_t)tb->ncols + 1, sizeof *tn);
        for (int k = 0; k < tb->ncols; k++) {
            wc[k].name = tb->cols[k].name;
            wc[k].dims = tb->cols[k].dims;
            if (tb->cols[k].dims > 0) {
                tn[k] = esync__xmalloc(strlen(tb->cols[k].typname) + 2);
                sprintf(tn[k], "_%s", tb->cols[k].typname);
                wc[k].type = tn[k];
            } else {
                wc[k].type = tb->cols[k].typname;
            }
        }
        char err[256];
        int rc = esync_where_compile(where_text, params, nparams, wc, tb->ncols, &w, err,
                                     sizeof err);
        for (int k = 0; k < tb->ncols; k++) free(tn[k]);
        free(tn);
        free(wc);
        if (rc != 0) {
            free(sel);
            free(params);
            free(columns);
            esync_table_unref(tb);
            goto out;
        }
    }
    s = esync__xcalloc(1, sizeof *s);
    s->refs = 1;
    snprintf(s->handle, sizeof s->handle, "%s", handle);
    s->key = esync__xstrdup(key);
    s->t = tb;
    esync__view_init(&s->view, tb, sel, nsel,
                     cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "full")), w);
    s->schema_json = esync_table_schema_json(tb, s->view.sel, s->view.nsel);
    s->full = s->view.full;
    s->where = where_text ? esync__xstrdup(where_text) : NULL;
    s->nparams = nparams;
    s->params = esync__xcalloc((size_t)nparams + 1, sizeof *s->params);
    for (int i = 0; i < nparams; i++) s->params[i] = esync__xstrdup(params[i]);
    if (cJSON_IsArray(cs)) {
        s->ncolumns = ncolumns;
        s->columns = esync__xcalloc((size_t)ncolumns + 1, sizeof *s->columns);
        for (int i = 0; i < ncolumns; i++) s->columns[i] = esync__xstrdup(columns[i]);
    }
    free(sel);
    free(params);
    free(columns);
    const cJSON *sn = cJSON_GetObjectItemCaseSensitive(m, "snapshot");
    s->snap.xmin = strtoull(jstr(sn, "xmin") ? jstr(sn, "xmin") : "0", NULL, 10);
    s->snap.xmax = strtoull(jstr(sn, "xmax") ? jstr(sn, "xmax") : "0", NULL, 10);
    const cJSON *xip = cJSON_GetObjectItemCaseSensitive(sn, "xip");
    s->snap.nxip = cJSON_GetArraySize(xip);
    s->snap.xip = esync__xcalloc((size_t)s->snap.nxip + 1, sizeof *s->snap.xip);
    for (int i = 0; i < s->snap.nxip; i++) {
        const cJSON *v = cJSON_GetArrayItem(xip, i);
        s->snap.xip[i] = strtoull(cJSON_IsString(v) ? v->valuestring : "0", NULL, 10);
    }
    s->snap_known = true;
    char err[512];
    s->log = esync_slog_open(dir, S->o.chunk_bytes, err, sizeof err);
    s->nchunks = s->log ? esync_slog_snap_chunks(s->log) : 0;
    if (!s->log || s->nchunks < 1 || s->nchunks != (int)jnum(m, "chunks")) {
        esync_log("shapes: stored shape %s unusable: %s", handle,
                  s->log ? "snapshot incomplete" : err);
        shape_unref(s);
        s = NULL;
        goto out;
    }
    s->state = S_READY;
out:
    cJSON_Delete(m);
    return s;
}

static void load_stored(esync_shapes *S) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/state.json", S->dir);
    char *st = NULL;
    {
        FILE *f = fopen(path, "r");
        if (f) {
            char buf[256] = "";
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = '\0';
            fclose(f);
            st = esync__xstrdup(buf);
        }
    }
    cJSON *sj = st ? cJSON_Parse(st) : NULL;
    free(st);
    const char *fl = jstr(sj, "flushed");
    S->stored_flushed = fl ? strtoull(fl, NULL, 10) : 0;
    cJSON_Delete(sj);
    DIR *d = opendir(S->dir);
    if (!d) return;
    struct dirent *de;
    int loaded = 0, dropped = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strchr(de->d_name, '.')) continue;
        char dir[PATH_MAX + 300];
        snprintf(dir, sizeof dir, "%s/%s", S->dir, de->d_name);
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
        shape *s = load_shape(S, dir);
        if (!s || lookup(S, s->key)) {
            if (s) shape_unref(s);
            remove_dir(dir);
            dropped++;
            continue;
        }
        registry_add(S, s);
        loaded++;
    }
    closedir(d);
    if (loaded || dropped)
        esync_log("shapes: %d stored shape(s) loaded, %d incomplete one(s) removed", loaded,
                  dropped);
}

/* The replication connection exists only once there is a shape to feed: a server that never
 * serves one never creates a slot. Under the lock. */
static void start_repl(esync_shapes *S) {
    if (S->repl || S->stopping) return;
    esync_repl_sink sink = {
        S,           sink_started,  sink_disconnected, sink_begin,  sink_relation,
        sink_change, sink_truncate, sink_commit,       sink_durable};
    S->repl = esync_repl_start(S->o.database_url, S->slot, S->pub, S->owner, &sink);
}

void esync_shapes_invalidate_all(esync_shapes *S, const char *why) {
    pthread_mutex_lock(&S->mu);
    purge_all(S, why);
    pthread_mutex_unlock(&S->mu);
}

/* --- start / stop ---------------------------------------------------------------------------- */

static void ident_part(const char *in, char *out, size_t n) {
    size_t w = 0;
    for (; *in && w + 1 < n; in++) {
        char c = *in;
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) c = '_';
        out[w++] = c;
    }
    out[w] = '\0';
}

esync_shapes *esync_shapes_start(const esync_shapes_options *o, char *err, size_t errsz) {
    esync_shapes *S = esync__xcalloc(1, sizeof *S);
    S->o = *o;
    if (!S->o.chunk_bytes) S->o.chunk_bytes = 10u << 20;
    if (!S->o.long_poll_ms) S->o.long_poll_ms = 20000;
    if (!S->o.reconcile_ms) S->o.reconcile_ms = 10000;
    if (!S->o.workers) S->o.workers = 2;
    /* mkdir -p */
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", o->dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
    if (!realpath(o->dir, S->dir)) {
        snprintf(err, errsz, "shapes directory %s: %s", o->dir, strerror(errno));
        free(S);
        return NULL;
    }
    char lockp[PATH_MAX + 16];
    snprintf(lockp, sizeof lockp, "%s/.lock", S->dir);
    S->lock_fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (S->lock_fd < 0 || flock(S->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errsz, "shapes directory %s is in use by another server", S->dir);
        if (S->lock_fd >= 0) close(S->lock_fd);
        free(S);
        return NULL;
    }
    /* Slot and publication names: the database name and a stable id of the shapes directory, so
     * a restart (or a crash) reuses them and two checkouts never share them. */
    char db[40] = "db";
    PQconninfoOption *ci = PQconninfoParse(o->database_url, NULL);
    if (ci) {
        for (PQconninfoOption *x = ci; x->keyword; x++)
            if (strcmp(x->keyword, "dbname") == 0 && x->val) ident_part(x->val, db, 24);
        PQconninfoFree(ci);
    }
    uint32_t id = (uint32_t)(fnv(S->dir) ^ (fnv(S->dir) >> 32));
    snprintf(S->slot, sizeof S->slot, "esync_%s_%08x", db, id);
    snprintf(S->pub, sizeof S->pub, "esync_pub_%s_%08x", db, id);
    pthread_mutex_init(&S->mu, NULL);
    pthread_cond_init(&S->notify_cv, NULL);
    pthread_cond_init(&S->job_cv, NULL);
    pthread_cond_init(&S->repl_cv, NULL);
    load_stored(S);
    if (pthread_create(&S->notifier, NULL, notifier_main, S) != 0) abort();
    S->nworkers = S->o.workers;
    S->workers = esync__xcalloc(S->nworkers, sizeof *S->workers);
    for (unsigned i = 0; i < S->nworkers; i++)
        if (pthread_create(&S->workers[i], NULL, worker_main, S) != 0) abort();
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(S->owner, sizeof S->owner, "%s:%s", host, S->dir);
    pthread_mutex_lock(&S->mu);
    if (S->all) start_repl(S); /* stored shapes: resume their stream now */
    pthread_mutex_unlock(&S->mu);
    return S;
}

void esync_shapes_stop(esync_shapes *S) {
    if (!S) return;
    pthread_mutex_lock(&S->mu);
    S->stopping = true;
    pthread_cond_broadcast(&S->job_cv);
    pthread_cond_broadcast(&S->repl_cv);
    pthread_mutex_unlock(&S->mu);
    for (unsigned i = 0; i < S->nworkers; i++) pthread_join(S->workers[i], NULL);
    esync_repl_stop(S->repl); /* reports a last durable position */
    cx c = {0};
    pthread_mutex_lock(&S->mu);
    /* jobs never run: their requests get 503 */
    while (S->jobs_head) {
        job *j = S->jobs_head;
        S->jobs_head = j->next;
        if (j->q) {
            res_json(&j->q->res, 503, "{\"message\":\"Shutting down\"}");
            j->q->res.retry_after = 5;
            complete(S, &c, j->q);
        } else {
            shape_unref(j->s);
        }
        free(j);
    }
    for (shape *s = S->all; s; s = s->next)
        while (s->waiters) {
            esync_shape_req *q = s->waiters->q;
            res_json(&q->res, 503, "{\"message\":\"Shutting down\"}");
            q->res.retry_after = 5;
            complete(S, &c, q);
        }
    while (S->tl_head) {
        esync_shape_req *q = S->tl_head->q;
        res_json(&q->res, 503, "{\"message\":\"Shutting down\"}");
        complete(S, &c, q);
    }
    pthread_cond_broadcast(&S->notify_cv);
    pthread_mutex_unlock(&S->mu);
    run_done(&c);
    pthread_join(S->notifier, NULL);
    pthread_mutex_lock(&S->mu);
    while (S->dirty_head) {
        shape *s = S->dirty_head;
        S->dirty_head = s->dirty_next;
        shape_unref(s);
    }
    bool stored = false;
    for (shape *s = S->all; s; s = s->next) stored |= s->state == S_READY;
    while (S->all) {
        shape *s = S->all;
        registry_remove(S, s);
        if (s->state == S_CREATING && s->log) {
            esync_slog_close(s->log, 1); /* never finished: nothing to keep */
            s->log = NULL;
        }
        shape_unref(s);
    }
    bool empty = S->repl && !stored;
    pthread_mutex_unlock(&S->mu);
    if (empty) {
        /* nothing stored to resume: keep nothing in the database either */
        if (esync_repl_drop(S->o.database_url, S->slot, S->pub) == 0) {
            esync_log("shapes: no shape stored: dropped slot %s", S->slot);
            unlink_state(S);
        }
    }
    close(S->lock_fd);
    free(S->workers);
    free(S);
}
