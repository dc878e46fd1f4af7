/* The replication thread (see repl.h).
 *
 * Wake-ups: poll() on the libpq socket and an eventfd (stop), with a timeout that brings the next
 * status update due. Status updates: every STATUS_MS, or at once when a keepalive asks.
 * Progress: `processed` is the end LSN of the last transaction handed to the sink (or, between
 * transactions, a keepalive's WAL end: nothing before it concerns us, docs/replication.md §2);
 * only what the sink reports durable is confirmed as flushed.
 * Rows: each change's old and new rows are copied out of the decoded message (the sink wants
 * NUL-terminated texts), one allocation per row, freed when the sink returns.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pg/repl.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "log.h"

#define STATUS_MS 1000
/* Reconnection delays: 200, 400, 800, 1600, then 3200 ms for ever (doubled while below 2000). */
#define BACKOFF_FIRST_MS 200
#define BACKOFF_DOUBLE_BELOW_MS 2000

const char esync_repl_session_options[] =
    "-c bytea_output=hex -c DateStyle=ISO,DMY -c TimeZone=UTC -c extra_float_digits=1 "
    "-c IntervalStyle=iso_8601";

/* A relation as its last Relation message described it: enough to know its column count. */
typedef struct rel {
    uint32_t oid;
    int ncols;
} rel;

struct esync_repl {
    char *url, *slot, *pub, *owner;
    esync_repl_sink sink;
    pthread_t thread;
    int stop_fd;
    volatile int stopping;
    int connected;
    PGconn *conn;
    uint64_t processed, flushed;
    int in_txn;
    /* the last session ended with "publication ... does not exist": the slot cannot decode with
     * this publication (dropped, or dropped and created again after the slot's position), so the
     * next setup drops and creates both */
    int pub_lost;
    uint64_t ordinal;
    esync_pgo_msg msg;
    /* the arrays of the rows handed to the sink: the old row's vals_cap entries, then the new
     * row's (their texts are allocated per change, see make_row) */
    const char **vals;
    size_t *lens;
    size_t vals_cap; /* columns per row */
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t pg_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - ESYNC_PG_EPOCH_OFFSET_US;
}

bool esync_repl_connected(esync_repl *r) {
    return __atomic_load_n(&r->connected, __ATOMIC_ACQUIRE) != 0;
}

static PGconn *connect_repl(esync_repl *r) {
    const char *keys[] = {"dbname", "replication", "options", "application_name", NULL};
    const char *vals[] = {r->url, "database", esync_repl_session_options, "esync-replication",
                          NULL};
    return PQconnectdbParams(keys, vals, 1);
}

static PGresult *exec_ok(PGconn *c, const char *sql, ExecStatusType want, char *err, size_t n) {
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != want) {
        snprintf(err, n, "%s: %s", sql, PQerrorMessage(c));
        PQclear(res);
        return NULL;
    }
    return res;
}

static bool safe_name(const char *s) {
    if (!*s || strlen(s) > 63) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return false;
    return true;
}

/* Slots and publications of servers of this host whose shapes directory is gone (a deleted
 * checkout, a test's temporary directory): dropped when their slot is inactive. */
static void collect_orphans(esync_repl *r) {
    const char *colon = strchr(r->owner, ':');
    if (!colon) return;
    size_t hostlen = (size_t)(colon - r->owner);
    PGresult *res = PQexec(r->conn, "SELECT p.pubname, obj_description(p.oid, 'pg_publication'), "
                                    "  (SELECT s.active FROM pg_replication_slots s "
                                    "    WHERE s.slot_name = 'esync_' || substr(p.pubname, 11)) "
                                    "FROM pg_publication p WHERE p.pubname LIKE 'esync\\_pub\\_%'");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *pub = PQgetvalue(res, i, 0), *owner = PQgetvalue(res, i, 1);
        if (strcmp(pub, r->pub) == 0 || PQgetisnull(res, i, 1) || !safe_name(pub)) continue;
        if (strncmp(owner, r->owner, hostlen + 1) != 0) continue; /* another host's */
        if (!PQgetisnull(res, i, 2) && PQgetvalue(res, i, 2)[0] == 't') continue; /* in use */
        if (access(owner + hostlen + 1, F_OK) == 0) continue; /* its directory still exists */
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                 "WHERE slot_name = 'esync_%s' AND NOT active",
                 pub + 10);
        PQclear(PQexec(r->conn, sql));
        snprintf(sql, sizeof sql, "DROP PUBLICATION IF EXISTS %s", pub);
        PQclear(PQexec(r->conn, sql));
        esync_log("shapes: dropped the orphaned slot and publication of %s", owner);
    }
    PQclear(res);
}

/* Publication, slot, START_REPLICATION. Returns 0, or -1 with the reason in err. */
static int setup(esync_repl *r, char *err, size_t n) {
    char sql[512];
    PGresult *res;
    collect_orphans(r);
    if (r->pub_lost) {
        /* dropped below and created again, empty; the shapes add their tables anew */
        snprintf(sql, sizeof sql, "DROP PUBLICATION IF EXISTS %s", r->pub);
        if (!(res = exec_ok(r->conn, sql, PGRES_COMMAND_OK, err, n))) return -1;
        PQclear(res);
    }
    snprintf(sql, sizeof sql, "SELECT 1 FROM pg_publication WHERE pubname = '%s'", r->pub);
    if (!(res = exec_ok(r->conn, sql, PGRES_TUPLES_OK, err, n))) return -1;
    int have_pub = PQntuples(res) > 0;
    PQclear(res);
    if (!have_pub) {
        snprintf(sql, sizeof sql, "CREATE PUBLICATION %s", r->pub);
        if (!(res = exec_ok(r->conn, sql, PGRES_COMMAND_OK, err, n))) return -1;
        PQclear(res);
        char *lit = PQescapeLiteral(r->conn, r->owner, strlen(r->owner));
        if (lit) {
            snprintf(sql, sizeof sql, "COMMENT ON PUBLICATION %s IS ", r->pub);
            size_t need = strlen(sql) + strlen(lit) + 1;
            char *full = esync__xmalloc(need);
            snprintf(full, need, "%s%s", sql, lit);
            PQclear(PQexec(r->conn, full));
            free(full);
            PQfreemem(lit);
        }
    }
    snprintf(sql, sizeof sql,
             "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '%s'",
             r->slot);
    if (!(res = exec_ok(r->conn, sql, PGRES_TUPLES_OK, err, n))) return -1;
    bool created = false;
    uint64_t confirmed = 0;
    if (PQntuples(res) > 0 && !have_pub) {
        /* The publication had to be created: the slot's position predates it, and pgoutput looks
         * the publication up in the catalog as of each change it decodes, so every session would
         * fail with "publication ... does not exist". The slot goes and is created anew (after
         * the publication); the stored shape logs cannot be continued (started(created) purges
         * them, their clients get 409). WAIT: the walsender of our previous session may still be
         * releasing it. */
        PQclear(res);
        esync_log_warn("shapes: publication %s was missing: dropping replication slot %s, every "
                       "stored shape is refetched",
                       r->pub, r->slot);
        snprintf(sql, sizeof sql, "DROP_REPLICATION_SLOT %s WAIT", r->slot);
        if (!(res = exec_ok(r->conn, sql, PGRES_COMMAND_OK, err, n))) return -1;
        PQclear(res);
        snprintf(
            sql, sizeof sql,
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '%s'",
            r->slot);
        if (!(res = exec_ok(r->conn, sql, PGRES_TUPLES_OK, err, n))) return -1;
    }
    r->pub_lost = 0;
    if (PQntuples(res) > 0) {
        if (!PQgetisnull(res, 0, 0)) esync_pgo_lsn_parse(PQgetvalue(res, 0, 0), &confirmed);
        PQclear(res);
    } else {
        PQclear(res);
        snprintf(sql, sizeof sql, "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput NOEXPORT_SNAPSHOT",
                 r->slot);
        if (!(res = exec_ok(r->conn, sql, PGRES_TUPLES_OK, err, n))) return -1;
        esync_pgo_lsn_parse(PQgetvalue(res, 0, 1), &confirmed);
        PQclear(res);
        created = true;
        esync_log("shapes: created replication slot %s", r->slot);
    }
    r->sink.started(r->sink.ctx, created, confirmed);
    if (confirmed > r->processed) r->processed = confirmed;
    snprintf(sql, sizeof sql,
             "START_REPLICATION SLOT %s LOGICAL 0/0 (proto_version '1', publication_names '%s')",
             r->slot, r->pub);
    res = PQexec(r->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_BOTH) {
        snprintf(err, n, "START_REPLICATION: %s", PQerrorMessage(r->conn));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    PQsetnonblocking(r->conn, 1);
    return 0;
}

static int send_status(esync_repl *r, int reply) {
    uint8_t buf[34];
    r->flushed = r->sink.durable(r->sink.ctx, r->processed);
    esync_pgo_status_update(buf, r->processed, r->flushed, r->flushed, pg_now_us(), reply);
    if (PQputCopyData(r->conn, (const char *)buf, 34) != 1) return -1;
    /* PQflush returns 1 while data is pending; the next round flushes the rest */
    return PQflush(r->conn) < 0 ? -1 : 0;
}

/* Column i of tuple t; an unchanged TOASTed value ('u') is taken from `from` when given. */
static const esync_pgo_value *tuple_value(const esync_pgo_tuple *t, const esync_pgo_tuple *from,
                                          uint16_t i) {
    const esync_pgo_value *v = &t->cols[i];
    if (v->kind == 'u' && from && i < from->ncols) v = &from->cols[i];
    return v;
}

/* A tuple as a row of NUL-terminated copies of its values (the sink wants C strings; the wire's
 * are not terminated), all in one allocation stored in *texts, which the caller frees once the
 * sink has returned. slot: 0 the old row, 1 the new one (which half of r->vals and r->lens). */
static esync_row make_row(esync_repl *r, const esync_pgo_tuple *t, const esync_pgo_tuple *from,
                          size_t slot, char **texts) {
    size_t need = 0;
    for (uint16_t i = 0; i < t->ncols; i++) {
        const esync_pgo_value *v = tuple_value(t, from, i);
        if (v->kind == 't' || v->kind == 'b') need += (size_t)v->len + 1;
    }
    char *p = *texts = esync__xmalloc(need);
    const char **vals = r->vals + slot * r->vals_cap;
    size_t *lens = r->lens + slot * r->vals_cap;
    for (uint16_t i = 0; i < t->ncols; i++) {
        const esync_pgo_value *v = tuple_value(t, from, i);
        if (v->kind == 't' || v->kind == 'b') {
            memcpy(p, v->data, v->len);
            p[v->len] = '\0';
            vals[i] = p;
            lens[i] = v->len;
            p += (size_t)v->len + 1;
        } else {
            vals[i] = NULL;
            lens[i] = 0;
        }
    }
    return (esync_row){vals, lens};
}

static void on_change(esync_repl *r) {
    esync_pgo_msg *m = &r->msg;
    const esync_pgo_tuple *o = &m->u.change.old_tuple, *nw = &m->u.change.new_tuple;
    size_t n = o->ncols > nw->ncols ? o->ncols : nw->ncols;
    if (n > r->vals_cap) {
        r->vals_cap = n;
        r->vals = esync__xrealloc(r->vals, 2 * n * sizeof *r->vals);
        r->lens = esync__xrealloc(r->lens, 2 * n * sizeof *r->lens);
    }
    esync_row orow = {0}, nrow = {0};
    char *otexts = NULL, *ntexts = NULL;
    bool has_old = m->u.change.old_kind != 0 && o->ncols > 0;
    bool has_new = m->tag != 'D';
    if (has_old) orow = make_row(r, o, NULL, 0, &otexts);
    if (has_new) nrow = make_row(r, nw, has_old ? o : NULL, 1, &ntexts);
    r->sink.change(r->sink.ctx, m->u.change.relid, m->tag, has_old ? &orow : NULL,
                   has_new ? &nrow : NULL, (int)n, r->ordinal++);
    free(otexts);
    free(ntexts);
}

/* One XLogData payload. Returns 0, or -1 on a protocol error. */
static int on_message(esync_repl *r, const uint8_t *p, size_t n) {
    esync_pgo_msg *m = &r->msg;
    if (esync_pgo_decode(p, n, m) != 0) {
        esync_log_error("shapes: undecodable pgoutput message (tag %c, %zu bytes)", n ? p[0] : '?',
                        n);
        return -1;
    }
    switch (m->tag) {
    case 'B':
        r->in_txn = 1;
        r->ordinal = 0;
        r->sink.begin(r->sink.ctx, m->u.begin.xid, m->u.begin.final_lsn);
        break;
    case 'C':
        r->sink.commit(r->sink.ctx, m->u.commit.commit_lsn, m->u.commit.end_lsn);
        r->in_txn = 0;
        if (m->u.commit.end_lsn > r->processed) r->processed = m->u.commit.end_lsn;
        break;
    case 'R': r->sink.relation(r->sink.ctx, m); break;
    case 'I':
    case 'U':
    case 'D': on_change(r); break;
    case 'T':
        for (uint32_t i = 0; i < m->u.truncate.nrels; i++)
            r->sink.truncate(r->sink.ctx, esync_pgo_truncate_relid(m, i));
        r->ordinal++;
        break;
    default: /* 'O' origin, 'Y' type, 'M' message: nothing to do */ break;
    }
    return 0;
}

/* Streams until the connection fails or stop is asked. */
static void stream(esync_repl *r) {
    int64_t next_status = now_ms() + STATUS_MS;
    for (;;) {
        if (r->stopping) return;
        char *buf = NULL;
        int n = PQgetCopyData(r->conn, &buf, 1);
        if (n > 0) {
            esync_pgo_frame f;
            int bad = esync_pgo_frame_decode((const uint8_t *)buf, (size_t)n, &f) != 0;
            if (!bad && f.kind == 'w') {
                bad = on_message(r, f.payload, f.payload_len) != 0;
            } else if (!bad && f.kind == 'k') {
                if (!r->in_txn && f.wal_end > r->processed) r->processed = f.wal_end;
                if (f.reply_requested) {
                    if (send_status(r, 0) != 0) bad = 1;
                    next_status = now_ms() + STATUS_MS;
                }
            }
            PQfreemem(buf);
            if (bad) return;
            if (now_ms() >= next_status) {
                if (send_status(r, 0) != 0) return;
                next_status = now_ms() + STATUS_MS;
            }
            continue;
        }
        if (n == -1) {
            PGresult *res = PQgetResult(r->conn);
            esync_log_warn("shapes: replication stream ended: %s",
                           PQresultStatus(res) == PGRES_COMMAND_OK ? "server shutdown"
                                                                   : PQerrorMessage(r->conn));
            /* 42704 undefined_object: pgoutput could not find our publication (see pub_lost) */
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            const char *text = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            if (state && strcmp(state, "42704") == 0 && text && strstr(text, "publication") &&
                strstr(text, r->pub))
                r->pub_lost = 1;
            PQclear(res);
            return;
        }
        if (n == -2) {
            esync_log_warn("shapes: replication read failed: %s", PQerrorMessage(r->conn));
            return;
        }
        /* nothing buffered: wait for the socket, the stop signal or the status timer */
        int64_t wait = next_status - now_ms();
        if (wait <= 0) {
            if (send_status(r, 0) != 0) return;
            next_status = now_ms() + STATUS_MS;
            continue;
        }
        struct pollfd pfd[2] = {{PQsocket(r->conn), POLLIN, 0}, {r->stop_fd, POLLIN, 0}};
        if (PQflush(r->conn) == 1) pfd[0].events |= POLLOUT;
        int pr = poll(pfd, 2, (int)wait);
        if (pr < 0 && errno != EINTR) return;
        if (pfd[1].revents) return;
        if (pfd[0].revents && PQconsumeInput(r->conn) == 0) {
            esync_log_warn("shapes: replication connection lost: %s", PQerrorMessage(r->conn));
            return;
        }
    }
}

static void *run(void *arg) {
    esync_repl *r = arg;
    int backoff_ms = BACKOFF_FIRST_MS;
    while (!r->stopping) {
        r->conn = connect_repl(r);
        char err[1024] = "";
        if (PQstatus(r->conn) != CONNECTION_OK) {
            snprintf(err, sizeof err, "%s", PQerrorMessage(r->conn));
        } else if (setup(r, err, sizeof err) == 0) {
            __atomic_store_n(&r->connected, 1, __ATOMIC_RELEASE);
            esync_log("shapes: streaming from slot %s", r->slot);
            backoff_ms = BACKOFF_FIRST_MS;
            r->in_txn = 0;
            stream(r);
            if (PQstatus(r->conn) == CONNECTION_OK && !r->in_txn) send_status(r, 0);
            snprintf(err, sizeof err, "stream ended");
        }
        __atomic_store_n(&r->connected, 0, __ATOMIC_RELEASE);
        size_t el = strlen(err);
        while (el && (err[el - 1] == '\n' || err[el - 1] == ' ')) err[--el] = '\0';
        if (r->in_txn) {
            /* A half-received transaction is dropped: the slot sends it again. */
            r->in_txn = 0;
        }
        r->sink.disconnected(r->sink.ctx, err);
        PQfinish(r->conn);
        r->conn = NULL;
        if (r->stopping) break;
        struct pollfd pfd = {r->stop_fd, POLLIN, 0};
        poll(&pfd, 1, backoff_ms);
        if (backoff_ms < BACKOFF_DOUBLE_BELOW_MS) backoff_ms *= 2;
    }
    return NULL;
}

esync_repl *esync_repl_start(const char *url, const char *slot, const char *publication,
                             const char *owner, const esync_repl_sink *sink) {
    esync_repl *r = esync__xcalloc(1, sizeof *r);
    r->url = esync__xstrdup(url);
    r->owner = esync__xstrdup(owner);
    r->slot = esync__xstrdup(slot);
    r->pub = esync__xstrdup(publication);
    r->sink = *sink;
    r->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->stop_fd < 0 || pthread_create(&r->thread, NULL, run, r) != 0) {
        fprintf(stderr, "electric-sync-server: cannot start the replication thread\n");
        abort();
    }
    return r;
}

int esync_repl_drop(const char *url, const char *slot, const char *publication) {
    const char *keys[] = {"dbname", "application_name", NULL};
    const char *vals[] = {url, "esync-replication", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        const char *p[1] = {slot};
        /* the walsender of our stopped connection may take a moment to release the slot */
        for (int tries = 0; tries < 50 && rc != 0; tries++) {
            PGresult *res = PQexecParams(
                c,
                "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots "
                "WHERE slot_name = $1 AND NOT active",
                1, NULL, p, NULL, NULL, 0);
            PGresult *left = PQexecParams(c,
                                          "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                                          1, NULL, p, NULL, NULL, 0);
            if (PQresultStatus(left) == PGRES_TUPLES_OK && PQntuples(left) == 0) rc = 0;
            PQclear(res);
            PQclear(left);
            if (rc != 0) {
                struct timespec ts = {0, 100000000};
                nanosleep(&ts, NULL);
            }
        }
        /* Only with its slot: a slot left without its publication fails every later session
         * (setup then has to drop it); a slot left with it is reused by the next server, or
         * collected with it as an orphan. */
        if (rc == 0) {
            char sql[160];
            snprintf(sql, sizeof sql, "DROP PUBLICATION IF EXISTS %s", publication);
            PQclear(PQexec(c, sql));
        }
    }
    PQfinish(c);
    return rc;
}

void esync_repl_stop(esync_repl *r) {
    if (!r) return;
    r->stopping = 1;
    uint64_t one = 1;
    if (write(r->stop_fd, &one, sizeof one) < 0) { /* the flag alone still stops it */
    }
    pthread_join(r->thread, NULL);
    close(r->stop_fd);
    esync_pgo_msg_free(&r->msg);
    free(r->vals);
    free(r->lens);
    free(r->url);
    free(r->owner);
    free(r->slot);
    free(r->pub);
    free(r);
}
