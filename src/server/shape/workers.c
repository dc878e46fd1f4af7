/* The worker threads, each with its own database connection, and their job queue:
 *   - the catalog check of a new definition (table, columns, where clause), after which the
 *     request is routed again (and its shape created);
 *   - the snapshot of a new shape: table added to the publication with REPLICA IDENTITY FULL,
 *     snapshot taken (each chunk published as soon as it is complete, so its requests are
 *     answered while the snapshot goes on), the transactions collected meanwhile filtered and
 *     appended, shape READY;
 *   - the periodic catalog check of the live shapes' tables (reconcile).
 *
 * Runs on the worker threads. Database work is done without the lock; a job takes the lock only
 * to read the registry, to route its request, or to publish the result (shape READY or
 * invalidated).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "log.h"
#include "shape/gzip.h"
#include "shape/service_internal.h"
#include "shape/serve.h"
#include "shape/workers.h"
#include "shape/sink.h"
#include "shape/restore.h"

struct job {
    struct job *next;
    esync_shape_req *q; /* catalog check of a new definition */
    shape *s;           /* or: snapshot of a new shape */
    bool reconcile;     /* or: catalog check of the live shapes' tables */
};

/* --- the queue (under the lock) -------------------------------------------------------------- */

static void enqueue(esync_shapes *S, esync_shape_req *q, shape *s, bool reconcile) {
    job *j = esync__xcalloc(1, sizeof *j);
    j->q = q;
    j->s = s;
    j->reconcile = reconcile;
    if (S->jobs_tail)
        S->jobs_tail->next = j;
    else
        S->jobs_head = j;
    S->jobs_tail = j;
    pthread_cond_signal(&S->job_cv);
}

void esync__workers_queue_check(esync_shapes *S, esync_shape_req *q) { enqueue(S, q, NULL, false); }

void esync__workers_queue_snapshot(esync_shapes *S, shape *s) { enqueue(S, NULL, s, false); }

void esync__workers_queue_reconcile(esync_shapes *S) {
    enqueue(S, NULL, NULL, true);
    S->reconcile_queued = true;
}

void esync__workers_cancel(esync_shapes *S, done_list *c) {
    while (S->jobs_head) {
        job *j = S->jobs_head;
        S->jobs_head = j->next;
        if (j->q) {
            esync__serve_json(&j->q->res, 503, "{\"message\":\"Shutting down\"}");
            j->q->res.retry_after = 5;
            esync__service_complete(S, c, j->q);
        } else if (j->s) {
            esync__service_unref(j->s);
        }
        free(j);
    }
}

/* --- the jobs (worker threads) --------------------------------------------------------------- */

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
    done_list c = {0};
    if (!*conn) *conn = worker_connect(S);
    if (!*conn) {
        esync__serve_db_down(r);
        goto answer;
    }
    bool lost = false;
    esync_table *t = NULL;
    int rc = esync__table_load(*conn, q->schema, q->table, &t, &lost, err, sizeof err);
    if (rc < 0) {
        if (lost) {
            PQfinish(*conn);
            *conn = NULL;
            esync__serve_db_down(r);
        } else {
            esync_log_warn("shapes: catalog: %s", err);
            esync__serve_json(r, 500, "{\"error\":\"Internal server error\"}");
        }
        goto answer;
    }
    if (rc == 1) {
        esync__serve_400(r, "table", err);
        goto answer;
    }
    p->t = t;
    p->sel = esync__xcalloc((size_t)t->ncols + 1, sizeof *p->sel);
    if (q->columns) {
        bool *want = esync__xcalloc((size_t)t->ncols + 1, sizeof *want);
        esync_sb missing = {0};
        for (int i = 0; i < q->ncolumns; i++) {
            int k = esync__table_col(t, q->columns[i]);
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
            esync__serve_400(r, "columns", err);
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
            esync__serve_400(r, "columns", err);
            goto answer;
        }
        for (int k = 0; k < t->ncols; k++)
            if (want[k]) p->sel[p->nsel++] = k;
        free(want);
    } else {
        for (int k = 0; k < t->ncols; k++) p->sel[p->nsel++] = k;
    }
    if (q->where) {
        int wr = esync__table_where_compile(t, q->where, (const char *const *)q->params, q->nparams,
                                            &p->where, err, sizeof err);
        if (wr != 0) {
            esync__serve_400(
                r, wr == ESYNC_WHERE_EPARAM && strstr(err, "not used") ? "params" : "where", err);
            goto answer;
        }
    }
    pthread_mutex_lock(&S->mu);
    p->wait = W_NONE;
    bool parked = true;
    if (S->stopping) {
        esync__serve_json(r, 503, "{\"message\":\"Shutting down\"}");
        esync__service_complete(S, &c, q);
    } else {
        esync__service_route(S, q, &c, &parked);
    }
    pthread_mutex_unlock(&S->mu);
    esync__service_run_done(&c);
    return;
answer:
    pthread_mutex_lock(&S->mu);
    p->wait = W_NONE;
    esync__service_complete(S, &c, q);
    pthread_mutex_unlock(&S->mu);
    esync__service_run_done(&c);
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

/* The table in the publication, with REPLICA IDENTITY FULL (docs/protocol.md §7.1). */
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

static void fail_shape(esync_shapes *S, shape *s, bool db_down, const char *why) {
    pthread_mutex_lock(&S->mu);
    /* parked requests get a 503 instead of a 409: the definition itself is fine */
    for (struct esync_shape_priv *p = s->waiters; p; p = p->wnext) {
        if (db_down)
            esync__serve_db_down(&p->q->res);
        else {
            esync__serve_json(&p->q->res, 503,
                              "{\"message\":\"Failed to create shape, please retry\"}");
            p->q->res.retry_after = 1;
        }
        p->q->res.status = -p->q->res.status; /* mark: already answered (see notifier) */
    }
    esync__service_invalidate(S, s, why);
    pthread_mutex_unlock(&S->mu);
}

/* The snapshot job's hooks (snapshot.h): what it learns is published under the lock, and the
 * requests waiting for a chunk that is now complete are answered by the notifier. */
typedef struct snap_ctx {
    esync_shapes *S;
    shape *s;
} snap_ctx;

static void on_estimate(void *ctx, int64_t rows) {
    snap_ctx *x = ctx;
    pthread_mutex_lock(&x->S->mu);
    x->s->rows_estimate = rows;
    pthread_mutex_unlock(&x->S->mu);
}

static bool on_progress(void *ctx, int complete, uint64_t rows) {
    (void)rows;
    snap_ctx *x = ctx;
    esync_shapes *S = x->S;
    esync__gzip_hold(ESYNC_GZIP_HOLD_MS); /* the writer and Postgres first (shape/gzip.h) */
    shape *s = x->s;
    pthread_mutex_lock(&S->mu);
    bool go_on = !S->stopping && s->state == S_CREATING;
    if (go_on && complete > s->chunks_complete) {
        s->chunks_complete = complete;
        if (s->waiters) esync__service_mark_dirty(S, s);
    }
    pthread_mutex_unlock(&S->mu);
    return go_on;
}

/* The end of a snapshot job, under the lock: the storage is no longer the job's; if the shape was
 * invalidated meanwhile, its files go now (esync__service_invalidate left them to the job). */
static void snapshot_release(shape *s) {
    s->snapshotting = false;
    if (s->state == S_GONE && s->log) {
        esync__storage_close(s->log, 1);
        s->log = NULL;
    }
}

static void snapshot_shape(esync_shapes *S, PGconn **conn, shape *s) {
    char err[1024];
    /* The stream must be running (publication and slot exist) before the snapshot. */
    pthread_mutex_lock(&S->mu);
    int64_t until = esync__now_ms() + 10000;
    while (!S->repl_started && !S->stopping && esync__now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&S->repl_cv, &S->mu, &ts);
    }
    bool ready = S->repl_started && s->state == S_CREATING && s->log;
    if (ready) s->snapshotting = true;
    pthread_mutex_unlock(&S->mu);
    if (!ready) {
        fail_shape(S, s, true, "replication is not running");
        return;
    }
    if (!*conn) *conn = worker_connect(S);
    if (!*conn) {
        fail_shape(S, s, true, "database unreachable");
        pthread_mutex_lock(&S->mu);
        snapshot_release(s);
        pthread_mutex_unlock(&S->mu);
        return;
    }
    if (publish_table(S, *conn, s->t, err, sizeof err) != 0) {
        bool lost = PQstatus(*conn) != CONNECTION_OK;
        if (lost) {
            PQfinish(*conn);
            *conn = NULL;
        }
        esync_log_error("shapes: publishing %s: %s", s->t->qname, err);
        fail_shape(S, s, lost, "publication failed");
        pthread_mutex_lock(&S->mu);
        snapshot_release(s);
        pthread_mutex_unlock(&S->mu);
        return;
    }
    esync_snapinfo info;
    bool lost = false;
    snap_ctx x = {S, s};
    esync_snapshot_hooks hooks = {&x, on_estimate, on_progress};
    int rc = esync__snapshot_run(*conn, &s->view, s->log, &hooks, &info, &lost, err, sizeof err);
    if (rc != 0) {
        esync__snapshot_info_free(&info);
        if (lost) {
            PQfinish(*conn);
            *conn = NULL;
        }
        pthread_mutex_lock(&S->mu);
        bool gone = s->state != S_CREATING;
        pthread_mutex_unlock(&S->mu);
        if (!gone) esync_log_error("shapes: snapshot of %s failed: %s", s->handle, err);
        fail_shape(S, s, lost, "snapshot failed");
        pthread_mutex_lock(&S->mu);
        snapshot_release(s);
        pthread_mutex_unlock(&S->mu);
        return;
    }
    pthread_mutex_lock(&S->mu);
    if (s->state != S_CREATING) { /* invalidated meanwhile (truncate, schema change) */
        esync__snapshot_info_free(&info);
        snapshot_release(s);
        pthread_mutex_unlock(&S->mu);
        return;
    }
    s->snap = info;
    s->snap_known = true;
    s->nchunks = esync__storage_snap_chunks(s->log);
    s->chunks_complete = s->nchunks;
    s->rows = (int64_t)info.rows;
    esync__sink_flush_pending(s);
    /* Ready to serve now; stored (restorable) once synced, below. A crash in between leaves a
     * shape without meta.json, which the next start removes: its clients get 409 and refetch,
     * as after a crash during the snapshot. */
    s->state = S_READY;
    esync__service_mark_dirty(S, s);
    pthread_mutex_unlock(&S->mu);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int synced = esync__storage_snap_sync(s->log);
    pthread_mutex_lock(&S->mu);
    if (s->state == S_READY) {
        if (synced != 0 || esync__storage_sync(s->log) != 0) {
            esync_log_error("shapes: %s: syncing the snapshot failed: %s", s->handle,
                            strerror(errno));
        } else {
            char *meta = esync__restore_meta_json(s);
            if (esync__storage_write_meta(s->log, meta, strlen(meta)) != 0)
                esync_log_error("shapes: %s: writing meta.json failed: %s", s->handle,
                                strerror(errno));
            free(meta);
            s->needs_sync = false;
        }
    }
    snapshot_release(s);
    pthread_mutex_unlock(&S->mu);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms_sync = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    esync_log("shapes: %s snapshot of %s: %" PRIu64 " rows, %" PRIu64
              " bytes, %d chunks in %.0f ms (first row %.0f ms; postgres %.0f "
              "ms, encoding %.0f ms, writing %.0f ms), then fsync %.0f ms",
              s->handle, s->t->qname, info.rows, info.bytes, info.chunks, info.ms_total,
              info.ms_first_row, info.ms_pg, info.ms_encode, info.ms_write, ms_sync);
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
        if (s->t) ts[k++] = esync__table_ref(s->t);
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
                esync__service_invalidate(S, s, "table dropped or recreated");
            s = next;
        }
        pthread_mutex_unlock(&S->mu);
    }
    for (size_t i = 0; i < k; i++) esync__table_unref(ts[i]);
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
            esync__service_unref(j->s);
            pthread_mutex_unlock(&S->mu);
        }
        free(j);
    }
    PQfinish(conn);
    return NULL;
}

/* --- start / join ---------------------------------------------------------------------------- */

void esync__workers_start(esync_shapes *S) {
    S->nworkers = S->o.workers;
    S->workers = esync__xcalloc(S->nworkers, sizeof *S->workers);
    for (unsigned i = 0; i < S->nworkers; i++)
        if (pthread_create(&S->workers[i], NULL, worker_main, S) != 0) abort();
}

void esync__workers_join(esync_shapes *S) {
    for (unsigned i = 0; i < S->nworkers; i++) pthread_join(S->workers[i], NULL);
    free(S->workers);
    S->workers = NULL;
    S->nworkers = 0;
}
