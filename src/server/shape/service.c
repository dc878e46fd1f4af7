/* The shape service: the registry of shapes, shape creation, request routing, start and stop.
 * service_internal.h lists the other files of the service, the lock and what it guards.
 *
 * Runs on: esync_shapes_submit on the HTTP epoll thread, esync__service_route also on a worker
 * after a catalog check, the registry functions on any thread; all of them under the lock, except
 * esync__service_run_done (completions, after unlocking). Start and stop run on the main thread:
 * start loads the stored shapes before it starts the other threads; stop takes the lock around
 * each step, in the order workers, replication, parked requests, notifier, shapes.
 *
 * Life of a shape: CREATING (registered, so the replication thread already collects its
 * transactions, buffered in memory until the snapshot's xid filter is known) -> READY (snapshot
 * chunks written and synced, the buffered transactions filtered and appended, meta.json written)
 * -> GONE (invalidated: removed from the registry, files deleted; the struct lives on while
 * requests still point at it).
 *
 * Durability: the replication thread's status update reports as flushed only what sink_durable
 * (sink.c) synced: every READY shape's log up to the last processed commit. A shape becomes READY
 * only after its log is synced, so a restart finds, per stored shape, every transaction up to the
 * slot's confirmed position; the slot re-delivers the rest, and a shape skips what it already
 * holds (commit LSN <= its last entry's).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shape/gzip.h"
#include "shape/service.h"

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
#include "shape/service_internal.h"
#include "shape/serve.h"
#include "shape/notifier.h"
#include "shape/workers.h"
#include "shape/sink.h"
#include "shape/restore.h"

/* --- small helpers --------------------------------------------------------------------------- */

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
    if (q->columns) esync_table_columns_free(q->columns, q->ncolumns);
    free(q->handle);
    free(q->key);
    if (q->priv) {
        esync__table_unref(q->priv->t);
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

shape *esync__service_lookup(esync_shapes *S, const char *key) {
    uint64_t h = fnv(key);
    for (shape *s = S->buckets[h % NBUCKETS]; s; s = s->hnext)
        if (s->hash == h && strcmp(s->key, key) == 0) return s;
    return NULL;
}

void esync__service_add(esync_shapes *S, shape *s) {
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

void esync__service_unref(shape *s) {
    if (--s->refs > 0) return;
    esync__storage_close(s->log, 0);
    esync__msg_view_free(&s->view);
    esync__table_unref(s->t);
    free(s->schema_json);
    free(s->key);
    free(s->where);
    for (int i = 0; i < s->nparams; i++) free(s->params[i]);
    free(s->params);
    if (s->columns) esync_table_columns_free(s->columns, s->ncolumns);
    esync__snapshot_info_free(&s->snap);
    esync__sb_free(&s->tx);
    free(s->tx_ends);
    free(s->tx_offs);
    while (s->pend_head) {
        pend_txn *p = s->pend_head;
        s->pend_head = p->next;
        esync__sink_pend_free(p);
    }
    free(s);
}

void esync__service_mark_dirty(esync_shapes *S, shape *s) {
    if (s->dirty) return;
    s->dirty = true;
    s->refs++;
    s->dirty_next = S->dirty_head;
    S->dirty_head = s;
    pthread_cond_signal(&S->notify_cv);
}

/* Removes a shape for good: new requests for its definition make a new one; parked requests are
 * answered 409 by the notifier. */
void esync__service_invalidate(esync_shapes *S, shape *s, const char *why) {
    if (s->state == S_GONE) return;
    esync_log("shapes: %s (%s.%s) invalidated: %s", s->handle, s->t->schema, s->t->name, why);
    bool was_listed = s->state != S_GONE;
    s->state = S_GONE;
    if (was_listed) registry_remove(S, s);
    if (s->log && !s->snapshotting) { /* else the snapshot job removes it when it ends */
        esync__storage_close(s->log, 1);
        s->log = NULL;
    }
    esync__service_mark_dirty(S, s);
    esync__service_unref(s); /* the registry's reference */
}

/* --- completion ------------------------------------------------------------------------------ */

void esync__service_complete(esync_shapes *S, done_list *c, esync_shape_req *q) {
    esync__notifier_unpark(S, q->priv);
    q->priv->done_next = c->done;
    c->done = q;
}

void esync__service_run_done(done_list *c) {
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

/* --- shape creation and routing -------------------------------------------------------------- */

static void make_handle(esync_shapes *S, const char *key, char *out, size_t n) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    if (us <= S->last_handle_us) us = S->last_handle_us + 1;
    S->last_handle_us = us;
    snprintf(out, n, "%" PRIu64 "-%" PRIu64, (uint64_t)(fnv(key) % 100000000000ULL), us);
}

/* Builds the shape of a checked request (its priv holds table, where, selection) and registers
 * it as CREATING. NULL when its directory cannot be created. */
static shape *create_shape(esync_shapes *S, esync_shape_req *q) {
    struct esync_shape_priv *p = q->priv;
    shape *s = esync__xcalloc(1, sizeof *s);
    s->refs = 1; /* the registry's */
    make_handle(S, q->key, s->handle, sizeof s->handle);
    s->key = esync__xstrdup(q->key);
    s->t = esync__table_ref(p->t);
    esync__msg_view_init(&s->view, s->t, p->sel, p->nsel, q->full, p->where);
    p->where = NULL; /* owned by the view now */
    s->schema_json = esync__table_schema_json(s->t, s->view.sel, s->view.nsel);
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
    s->rows_estimate = -1;
    s->rows = -1;
    char dir[PATH_MAX + 80], err[512];
    snprintf(dir, sizeof dir, "%s/%s", S->dir, s->handle);
    s->log = esync__storage_create(dir, S->o.chunk_bytes, err, sizeof err);
    if (s->log) {
        esync__storage_snap_gzip(s->log, S->o.gzip_level);
        esync__storage_snap_images(s->log, S->o.images ? s->schema_json : NULL);
        s->images_made_here = S->o.images;
    }
    if (!s->log) {
        esync_log_error("shapes: %s", err);
        s->state = S_GONE;
        esync__service_unref(s);
        return NULL;
    }
    esync__service_add(S, s);
    esync_log_debug("shapes: %s created for %s%s%s", s->handle, s->t->qname,
                    s->where ? " where " : "", s->where ? s->where : "");
    esync__sink_start_repl(S);
    s->refs++; /* the snapshot job's */
    esync__workers_queue_snapshot(S, s);
    return s;
}

/* Routes q under the lock. */
void esync__service_route(esync_shapes *S, esync_shape_req *q, done_list *c, bool *parked) {
    shape *s = esync__service_lookup(S, q->key);
    if (!s) {
        if (!q->priv->t) {
            park(q, parked);
            q->priv->wait = W_JOB;
            esync__workers_queue_check(S, q);
            return;
        }
        s = create_shape(S, q);
        if (!s) {
            esync__serve_json(&q->res, 503,
                              "{\"message\":\"Failed to create shape, please retry\"}");
            q->res.retry_after = 1;
            esync__service_complete(S, c, q);
            return;
        }
    }
    if (q->kind == ESYNC_OFFSET_AT && (!q->handle || strcmp(q->handle, s->handle) != 0)) {
        esync__serve_409(&q->res, s->handle);
        esync__service_complete(S, c, q);
        return;
    }
    if (esync__serve_request(S, s, q)) {
        esync__service_complete(S, c, q);
        return;
    }
    park(q, parked);
    esync__notifier_park(S, q, s, esync__notifier_hold(S, s, q->priv));
}

void esync_shapes_submit(esync_shapes *S, esync_shape_req *q) {
    q->priv = esync__xcalloc(1, sizeof *q->priv);
    q->priv->q = q;
    q->res.fd = -1;
    q->key = def_key(q);
    done_list c = {0};
    bool parked = false;
    pthread_mutex_lock(&S->mu);
    if (S->stopping) {
        esync__serve_json(&q->res, 503, "{\"message\":\"Shutting down\"}");
        q->res.retry_after = 5;
        esync__service_complete(S, &c, q);
    } else {
        esync__service_route(S, q, &c, &parked);
    }
    pthread_mutex_unlock(&S->mu);
    esync__service_run_done(&c);
}

static void purge_all(esync_shapes *S, const char *why) {
    while (S->all) esync__service_invalidate(S, S->all, why);
}

void esync_shapes_invalidate_all(esync_shapes *S, const char *why) {
    pthread_mutex_lock(&S->mu);
    purge_all(S, why);
    pthread_mutex_unlock(&S->mu);
}

void esync_shapes_health_get(esync_shapes *S, esync_shapes_health *h) {
    memset(h, 0, sizeof *h);
    pthread_mutex_lock(&S->mu);
    for (shape *s = S->all; s; s = s->next) h->shapes++;
    h->replication = !S->repl ? "idle" : S->repl_started ? "streaming" : "connecting";
    snprintf(h->slot, sizeof h->slot, "%s", S->slot);
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
    if (!o->chunk_bytes || !o->long_poll_ms || !o->workers || !o->reconcile_ms) {
        snprintf(err, errsz,
                 "shape service: chunk_bytes, long_poll_ms, workers and reconcile_ms "
                 "must be set");
        return NULL;
    }
    esync_shapes *S = esync__xcalloc(1, sizeof *S);
    S->o = *o;
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
    esync__restore_load(S);
    if (pthread_create(&S->notifier, NULL, esync__notifier_main, S) != 0) abort();
    esync__workers_start(S);
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(S->owner, sizeof S->owner, "%s:%s", host, S->dir);
    pthread_mutex_lock(&S->mu);
    if (S->all) esync__sink_start_repl(S); /* stored shapes: resume their stream now */
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
    esync__workers_join(S);
    esync__gzip_stop();       /* a gzip left unfinished is made again at the next start */
    esync_repl_stop(S->repl); /* reports a last durable position */
    done_list c = {0};
    pthread_mutex_lock(&S->mu);
    esync__workers_cancel(S, &c); /* jobs never run: their requests get 503 */
    for (shape *s = S->all; s; s = s->next)
        while (s->waiters) {
            esync_shape_req *q = s->waiters->q;
            esync__serve_json(&q->res, 503, "{\"message\":\"Shutting down\"}");
            q->res.retry_after = 5;
            esync__service_complete(S, &c, q);
        }
    while (S->tl_head) {
        esync_shape_req *q = S->tl_head->q;
        esync__serve_json(&q->res, 503, "{\"message\":\"Shutting down\"}");
        esync__service_complete(S, &c, q);
    }
    pthread_cond_broadcast(&S->notify_cv);
    pthread_mutex_unlock(&S->mu);
    esync__service_run_done(&c);
    pthread_join(S->notifier, NULL);
    pthread_mutex_lock(&S->mu);
    while (S->dirty_head) {
        shape *s = S->dirty_head;
        S->dirty_head = s->dirty_next;
        esync__service_unref(s);
    }
    bool stored = false;
    for (shape *s = S->all; s; s = s->next) stored |= s->state == S_READY;
    while (S->all) {
        shape *s = S->all;
        registry_remove(S, s);
        if (s->state == S_CREATING && s->log) {
            esync__storage_close(s->log, 1); /* never finished: nothing to keep */
            s->log = NULL;
        }
        esync__service_unref(s);
    }
    bool empty = S->repl && !stored;
    pthread_mutex_unlock(&S->mu);
    if (empty) {
        /* nothing stored to resume: keep nothing in the database either */
        if (esync_repl_drop(S->o.database_url, S->slot, S->pub) == 0) {
            esync_log_info("shapes: no shape stored: dropped slot %s", S->slot);
            esync__restore_forget_state(S);
        }
    }
    close(S->lock_fd);
    free(S);
}
