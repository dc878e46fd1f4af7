/* The worker pool (see db.h). Shutdown order matters and is: stop accepting jobs, let the workers
 * drain the queue (each job resumes its request), join them. libmicrohttpd refuses to stop with
 * suspended connections, so no job may be left behind. */
#include "api/db.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "log.h"

typedef struct job {
    esync_req *req;
    esync_db_job_fn fn;
    void *arg;
    void (*free_arg)(void *);
    bool probe; /* runs without a connection too (conn NULL): health checks */
    struct job *next;
} job;

typedef struct worker {
    esync_db *db;
    pthread_t thread;
    PGconn *conn;
    unsigned index;
} worker;

struct esync_db {
    char *url;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    bool stopping;
    unsigned nworkers;
    worker *workers;
    bool down_logged; /* log "unreachable" once per outage, not once per request */
};

static void ignore_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

PGconn *esync_db_connect(const char *url, char *err, size_t errsz) {
    /* Our settings come first so that the URL can override them (libpq: later keywords win, and
     * the expanded dbname counts as appearing where dbname is). */
    const char *const keys[] = {"connect_timeout", "application_name", "options", "dbname", NULL};
    const char *const vals[] = {"5", "electric-sync-server",
                                "-c TimeZone=UTC -c client_min_messages=warning", url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errsz, "%s", PQerrorMessage(c));
        size_t n = strlen(err);
        while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' ')) err[--n] = '\0';
        PQfinish(c);
        return NULL;
    }
    /* Notices (e.g. "drop cascades to ...") would go to stderr raw, outside the log format. */
    PQsetNoticeProcessor(c, ignore_notice, NULL);
    return c;
}

/* A connection that the server closed (restart, pg_terminate_backend) shows it only when used:
 * the FATAL message sits unread in the socket, and libpq files an error that arrives while idle as
 * a mere notice. An idle connection has nothing to say, so anything readable at all means it is
 * going away: drop it and reconnect before running the job instead of failing the job. */
static bool conn_usable(PGconn *c) {
    if (PQstatus(c) != CONNECTION_OK) return false;
    struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
    if (p.fd < 0 || poll(&p, 1, 0) != 0) return false;
    if (PQtransactionStatus(c) != PQTRANS_IDLE) {
        /* A job left a transaction open (a bug): roll back rather than leak it into the next. */
        PGresult *res = PQexec(c, "ROLLBACK");
        PQclear(res);
        return PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE;
    }
    return true;
}

static bool ensure_conn(worker *w, char *err, size_t errsz) {
    if (w->conn && conn_usable(w->conn)) return true;
    if (w->conn) {
        PQfinish(w->conn);
        w->conn = NULL;
    }
    w->conn = esync_db_connect(w->db->url, err, errsz);
    return w->conn != NULL;
}

static void run_job(worker *w, job *j) {
    char err[512];
    esync_db *db = w->db;
    if (!ensure_conn(w, err, sizeof err)) {
        pthread_mutex_lock(&db->mu);
        bool first = !db->down_logged;
        db->down_logged = true;
        pthread_mutex_unlock(&db->mu);
        if (first) esync_log_warn("database unreachable: %s", err);
        if (j->probe)
            j->fn(j->req, NULL, j->arg);
        else
            esync_req_reply_error(j->req, 503, "database_unavailable",
                                  "the database is unreachable");
        if (!esync_req_has_reply(j->req))
            esync_req_reply_error(j->req, 500, "internal_error", "the handler produced no reply");
    } else {
        pthread_mutex_lock(&db->mu);
        bool was_down = db->down_logged;
        db->down_logged = false;
        pthread_mutex_unlock(&db->mu);
        if (was_down) esync_log_info("database reachable again");
        j->fn(j->req, w->conn, j->arg);
        if (!esync_req_has_reply(j->req))
            esync_req_reply_error(j->req, 500, "internal_error", "the handler produced no reply");
        if (PQstatus(w->conn) != CONNECTION_OK) {
            PQfinish(w->conn);
            w->conn = NULL;
        }
    }
    if (j->free_arg) j->free_arg(j->arg);
    esync_req_resume(j->req);
    free(j);
}

static void *worker_main(void *p) {
    worker *w = p;
    esync_db *db = w->db;
    for (;;) {
        pthread_mutex_lock(&db->mu);
        while (!db->head && !db->stopping) pthread_cond_wait(&db->cv, &db->mu);
        job *j = db->head;
        if (!j) { /* stopping and drained */
            pthread_mutex_unlock(&db->mu);
            break;
        }
        db->head = j->next;
        if (!db->head) db->tail = NULL;
        pthread_mutex_unlock(&db->mu);
        run_job(w, j);
    }
    if (w->conn) PQfinish(w->conn);
    w->conn = NULL;
    return NULL;
}

esync_db *esync_db_start(const char *url, unsigned workers, char *err, size_t errsz) {
    PGconn *probe = esync_db_connect(url, err, errsz);
    if (!probe) return NULL;
    esync_db *db = esync__xcalloc(1, sizeof *db);
    db->url = esync__xstrdup(url);
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->cv, NULL);
    db->nworkers = workers;
    db->workers = esync__xcalloc(workers, sizeof *db->workers);
    for (unsigned i = 0; i < workers; i++) {
        worker *w = &db->workers[i];
        w->db = db;
        w->index = i;
        if (i == 0) w->conn = probe; /* keep the checked connection */
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            fprintf(stderr, "electric-sync-server: cannot create a database thread\n");
            abort();
        }
    }
    return db;
}

static void submit(esync_db *db, esync_req *r, esync_db_job_fn fn, void *arg,
                   void (*free_arg)(void *), bool probe) {
    pthread_mutex_lock(&db->mu);
    if (db->stopping) {
        pthread_mutex_unlock(&db->mu);
        if (free_arg) free_arg(arg);
        esync_req_reply_error(r, 503, "shutting_down", "the server is shutting down");
        return;
    }
    job *j = esync__xcalloc(1, sizeof *j);
    j->req = r;
    j->fn = fn;
    j->arg = arg;
    j->free_arg = free_arg;
    j->probe = probe;
    /* Suspend before the job is visible: a worker may finish it before we return. */
    esync_req_suspend(r);
    if (db->tail)
        db->tail->next = j;
    else
        db->head = j;
    db->tail = j;
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
}

void esync_db_submit(esync_db *db, esync_req *r, esync_db_job_fn fn, void *arg,
                     void (*free_arg)(void *)) {
    submit(db, r, fn, arg, free_arg, false);
}

void esync_db_submit_probe(esync_db *db, esync_req *r, esync_db_job_fn fn, void *arg,
                           void (*free_arg)(void *)) {
    submit(db, r, fn, arg, free_arg, true);
}

void esync_db_stop(esync_db *db) {
    pthread_mutex_lock(&db->mu);
    db->stopping = true;
    pthread_cond_broadcast(&db->cv);
    pthread_mutex_unlock(&db->mu);
    for (unsigned i = 0; i < db->nworkers; i++) pthread_join(db->workers[i].thread, NULL);
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->cv);
    free(db->workers);
    free(db->url);
    free(db);
}

bool esync_db_is_connection_error(PGconn *conn, const PGresult *res) {
    if (PQstatus(conn) != CONNECTION_OK) return true;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state) return res == NULL || PQresultStatus(res) == PGRES_FATAL_ERROR;
    /* 08: connection exception; 57P0x: admin shutdown, crash shutdown, cannot connect now. */
    return strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0;
}

void esync_db_reply_error(esync_req *r, PGconn *conn, const PGresult *res) {
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
    if (esync_db_is_connection_error(conn, res)) {
        esync_log_warn("database connection lost: %s", msg);
        esync_req_reply_error(r, 503, "database_unavailable", "the database is unreachable");
        return;
    }
    if (state && strcmp(state, "23505") == 0) {
        esync_req_reply_error(r, 409, "duplicate_id", "a row with this id already exists");
        return;
    }
    if (state && strcmp(state, "42P01") == 0) {
        esync_req_reply_error(r, 503, "schema_not_migrated",
                              "the table does not exist: run `npm run db:migrate`");
        return;
    }
    if (state && (strncmp(state, "22", 2) == 0)) {
        /* Data exceptions: a value Postgres refuses even though it passed our checks. */
        esync_log_debug("query refused input (%s): %s", state, msg);
        esync_req_reply_error(r, 400, "invalid_body", "a value was refused by the database");
        return;
    }
    esync_log_error("query failed (%s): %s", state ? state : "?", msg);
    esync_req_reply_error(r, 500, "internal_error", "database error");
}
