/*
 * engine.c — the engine itself: opening the replica (writer and read-only reader connections,
 * the metadata tables), closing it, the stored schema version and its check, the manual reset,
 * and the status of every shape.
 *
 * Metadata (in the replica, changed in the same transactions as the rows):
 *   esync_meta(key, value)        'format' = ESYNC_FORMAT, 'schema_version'
 *   esync_shapes(...)             one row per shape (shape.c, batch.c)
 *   esync_txids(...)              the txids of committed batches, a ring per shape (txids.c)
 */
#include "alloc.h"
#include "batch.h"
#include "errors.h"
#include "internal.h"
#include "queue.h"
#include "shape.h"
#include "txids.h"

#include <stdio.h>
#include <string.h>

/* The replica's layout version: a replica written with another is refused (ESYNC_ESCHEMA). */
#define ESYNC_FORMAT "1"
/* Response bodies over this are refused (ESYNC_ETOOBIG) unless the caller sets its own limit. */
#define DEFAULT_MAX_BODY ((size_t)64 << 20)
/* PRNG seed when the caller gives none (0 would keep xorshift at 0 forever): 2^64 / phi. */
#define DEFAULT_SEED 0x9E3779B97F4A7C15ULL

const char *esync_libversion(void) { return ESYNC_VERSION_STRING; }

/* ---- reader authorizer: reads only ---- */

/* Allows reads only. While e->reads is set (esync_query_tables), it also notes every table a
 * statement reads (SQLITE_READ: a = table, c = database, NULL when no column of the table is
 * read, as in count(*)), which is how the engine knows what a live query depends on. */
static int reader_auth(void *ud, int op, const char *a, const char *b, const char *c,
                       const char *d) {
    esync *e = ud;
    (void)b;
    (void)d;
    switch (op) {
    case SQLITE_READ:
        if (e->reads && a) {
            esync__buf_append(e->reads, c ? c : "", (c ? strlen(c) : 0) + 1);
            esync__buf_append(e->reads, a, strlen(a) + 1);
        }
        return SQLITE_OK;
    case SQLITE_SELECT:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE: return SQLITE_OK;
    default: return SQLITE_DENY;
    }
}

/* ---- open / close ---- */

static int load_meta(esync *e) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(e->db, "SELECT value FROM esync_meta WHERE key='schema_version'", -1,
                           &st, NULL))
        return esync__sqlfail(e, e->db, "read metadata");
    int rc = ESYNC_OK;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
        !esync__set_str(&e->version, (const char *)sqlite3_column_text(st, 0)))
        rc = esync__oom(e);
    sqlite3_finalize(st);
    return rc;
}

/* Whether sql prepares on the writer (its tables and columns exist). */
static bool prepares(esync *e, const char *sql) {
    sqlite3_stmt *st = NULL;
    bool ok = sqlite3_prepare_v2(e->db, sql, -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    return ok;
}

/* A replica written before txids were kept has no esync_shapes.txids: the column is added
 * (older engines, which name their columns, ignore it; the format stays the same). */
static int add_txids_column(esync *e) {
    if (prepares(e, "SELECT txids FROM esync_shapes")) return ESYNC_OK;
    return esync__exec(e, "ALTER TABLE esync_shapes ADD COLUMN txids TEXT");
}

/* Whether esync_meta says this engine's format: 1, 0 (another format, or none stored), -1 (no
 * such table, or SQLite failed). */
static int format_current(esync *e) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(e->db, "SELECT value FROM esync_meta WHERE key='format'", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    int ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
             !strcmp((const char *)sqlite3_column_text(st, 0), ESYNC_FORMAT);
    sqlite3_finalize(st);
    return ok;
}

/* Whether the file already holds every table of this engine, in this format: a stored replica's
 * open then only reads (no DDL, no write transaction: a browser reopening one compiles none of
 * that code). */
static bool replica_current(esync *e) {
    return format_current(e) == 1 && prepares(e, "SELECT txids FROM esync_shapes") &&
           prepares(e, "SELECT seq FROM esync_txids");
}

int esync_open(const esync_options *opts, esync **out) {
    if (!out) return ESYNC_EINVAL;
    *out = NULL;
    if (!opts || !opts->path || !opts->path[0] || !strcmp(opts->path, ":memory:"))
        return ESYNC_EINVAL;
    int rc = esync_initialize();
    if (rc) return rc;
    esync *e = esync__malloc(sizeof *e);
    if (!e) return ESYNC_ENOMEM;
    memset(e, 0, sizeof *e);
    e->rng = opts->seed ? opts->seed : DEFAULT_SEED;
    e->max_body = opts->max_body_bytes ? opts->max_body_bytes : DEFAULT_MAX_BODY;

    if (sqlite3_open_v2(opts->path, &e->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        opts->vfs) != SQLITE_OK) {
        rc = e->db && sqlite3_errcode(e->db) == SQLITE_NOMEM ? ESYNC_ENOMEM : ESYNC_ESQLITE;
        goto fail;
    }
    sqlite3_extended_result_codes(e->db, 0);
    /* (synchronous NORMAL and foreign keys off are SQLite's defaults in this build) */
    if (!replica_current(e)) {
        rc = esync__exec(
            e,
            "CREATE TABLE IF NOT EXISTS esync_meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
            "CREATE TABLE IF NOT EXISTS esync_shapes(name TEXT PRIMARY KEY, definition TEXT NOT "
            "NULL, table_name TEXT NOT NULL, handle TEXT, \"offset\" TEXT NOT NULL DEFAULT '-1',"
            " schema TEXT, row_count INTEGER NOT NULL DEFAULT 0, last_sync REAL, txids TEXT)"
            " WITHOUT ROWID;" ESYNC_TXIDS_DDL
            "INSERT OR IGNORE INTO esync_meta(key, value) VALUES('format', '" ESYNC_FORMAT "');");
        if (!rc) rc = add_txids_column(e);
        if (rc) goto fail;
        int fmt = format_current(e);
        if (fmt != 1) { /* 0: a replica written by a newer format */
            rc = fmt ? ESYNC_ESQLITE : ESYNC_ESCHEMA;
            goto fail;
        }
    }
    if (opts->journal_mode) {
        esync_buf b;
        esync__buf_init(&b);
        esync__buf_puts(&b, "PRAGMA journal_mode=");
        esync__buf_ident(&b, opts->journal_mode);
        rc = esync__exec_buf(e, &b);
        esync__buf_free(&b);
        if (rc) goto fail;
    }
    if ((rc = load_meta(e))) goto fail;
    if (sqlite3_open_v2(opts->path, &e->reader, SQLITE_OPEN_READONLY, opts->vfs) != SQLITE_OK) {
        rc = ESYNC_ESQLITE;
        goto fail;
    }
    sqlite3_set_authorizer(e->reader, reader_auth, e);
    *out = e;
    return esync__ok(e);
fail:
    esync_close(e);
    return rc;
}

void esync_set_checkpoint_growth(esync *e, size_t max_bytes) {
    if (e) e->checkpoint_max = max_bytes;
}

void esync_set_checkpoint_bytes(esync *e, size_t bytes) {
    if (e) e->checkpoint_bytes = bytes;
}

void esync_close(esync *e) {
    if (!e) return;
    esync__ingest_drop(e);
    esync__batch_rollback(e);
    esync__queue_free(e);
    sqlite3_finalize(e->st_store);
    esync__txids_close(e);
    for (int i = 0; i < e->nshapes; i++) esync__shape_destroy(e->shapes[i]);
    esync__freemem(e->shapes);
    sqlite3_close_v2(e->reader);
    sqlite3_close_v2(e->db);
    esync__freemem(e->version);
    esync__buf_free(&e->scratch);
    esync__freemem(e->evx);
    esync__freemem(e);
}

/* ---- status ---- */

int esync_status(esync *e, char **out, size_t *out_len) {
    if (!e || !out) return ESYNC_EINVAL;
    esync_buf b;
    esync__buf_init(&b);
    esync__buf_putc(&b, '[');
    for (int i = 0; i < e->nshapes; i++) {
        esync_shape *s = e->shapes[i];
        const char *phase = s->stopped                       ? "error"
                            : s->unauthorized                ? "unauthorized"
                            : s->wait_ms || s->http_failures ? "backoff"
                            : s->live                        ? "live"
                                                             : "initial-sync";
        if (i) esync__buf_putc(&b, ',');
        esync__buf_puts(&b, "{\"shapeName\":");
        esync__buf_json_str_or_null(&b, s->name);
        esync__buf_puts(&b, ",\"tableName\":");
        esync__buf_json_str_or_null(&b, s->tablename);
        /* syncRows: the rows so far of a sync in progress (a refetch built aside counts only
         * what it built) */
        int64_t sync_rows = s->in_batch ? (s->shadow ? 0 : s->rows) + s->batch_inserts : s->rows;
        esync__buf_printf(&b,
                          ",\"phase\":\"%s\",\"rows\":%lld,\"syncRows\":%lld,\"offset\":", phase,
                          (long long)s->rows, (long long)sync_rows);
        esync__buf_json_str_or_null(&b, s->offset_c);
        esync__buf_puts(&b, ",\"handle\":");
        esync__buf_json_str_or_null(&b, s->handle_c);
        esync__buf_puts(&b, ",\"lastSyncedAt\":");
        if (s->last_sync >= 0)
            esync__buf_double(&b, s->last_sync);
        else
            esync__buf_puts(&b, "null");
        esync__buf_puts(&b, ",\"error\":");
        esync__buf_json_str_or_null(&b, s->error);
        esync__buf_putc(&b, '}');
    }
    esync__buf_putc(&b, ']');
    *out = esync__buf_take(&b, out_len);
    return *out ? esync__ok(e) : esync__oom(e);
}

/* ---- schema version and reset ---- */

static int wipe_all(esync *e) {
    /* Tables of stored shapes that are not defined in this session go too. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(e->db, "SELECT table_name FROM esync_shapes", -1, &st, NULL))
        return esync__sqlfail(e, e->db, "list shapes");
    int rc = ESYNC_OK;
    esync_buf b;
    esync__buf_init(&b);
    while (sqlite3_step(st) == SQLITE_ROW) {
        esync__buf_puts(&b, "DROP TABLE IF EXISTS main.");
        esync__buf_ident(&b, (const char *)sqlite3_column_text(st, 0));
        esync__buf_puts(&b, ";");
    }
    sqlite3_finalize(st);
    esync__buf_puts(&b, "DELETE FROM esync_shapes;");
    rc = b.oom ? esync__oom(e) : esync__exec(e, b.data);
    esync__buf_free(&b);
    for (int i = 0; i < e->nshapes && !rc; i++) rc = esync__shape_wipe(e, e->shapes[i]);
    return rc;
}

static char *reset_event(const char *reason, const char *oldv, const char *newv, size_t *len) {
    esync_buf b;
    esync__buf_init(&b);
    esync__buf_printf(&b, "{\"type\":\"SCHEMA_RESET\",\"reason\":\"%s\",\"oldVersion\":", reason);
    esync__buf_json_str_or_null(&b, oldv);
    esync__buf_puts(&b, ",\"newVersion\":");
    esync__buf_json_str_or_null(&b, newv);
    esync__buf_putc(&b, '}');
    return esync__buf_take(&b, len);
}

static int store_version(esync *e, const char *v) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(
            e->db, "INSERT OR REPLACE INTO esync_meta(key, value) VALUES('schema_version', ?1)", -1,
            &st, NULL))
        return esync__sqlfail(e, e->db, "store version");
    sqlite3_bind_text(st, 1, v, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? ESYNC_OK : esync__sqlfail(e, e->db, "store version");
    sqlite3_finalize(st);
    return rc;
}

int esync_version_check(esync *e, const char *server_version, char **event, size_t *event_len) {
    if (!e || !event) return ESYNC_EINVAL;
    *event = NULL;
    if (event_len) *event_len = 0;
    if (!server_version || !server_version[0])
        return esync__fail(e, ESYNC_EINVAL, "server schema version is empty");
    if (e->version && !strcmp(e->version, server_version)) return esync__ok(e);
    bool wipe = e->version != NULL; /* a first install keeps (there is nothing to wipe) */
    char *ev = NULL;
    if (wipe && !(ev = reset_event("version_mismatch", e->version, server_version, event_len)))
        return esync__oom(e);
    esync__ingest_drop(e);
    esync__batch_rollback(e);
    int rc = esync__exec(e, "BEGIN IMMEDIATE");
    if (!rc && wipe) rc = wipe_all(e);
    if (!rc) rc = store_version(e, server_version);
    if (!rc) rc = esync__exec(e, "COMMIT");
    if (!rc && !esync__set_str(&e->version, server_version)) rc = esync__oom(e);
    if (rc) {
        sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
        esync__freemem(ev);
        if (event_len) *event_len = 0;
        return rc;
    }
    *event = ev;
    esync__ok(e);
    return wipe ? 1 : 0;
}

const char *esync_version(esync *e) { return e ? e->version : NULL; }

int esync_reset(esync *e, char **event, size_t *event_len) {
    if (!e || !event) return ESYNC_EINVAL;
    *event = reset_event("manual_reset", e->version, e->version, event_len);
    if (!*event) return esync__oom(e);
    esync__ingest_drop(e);
    esync__batch_rollback(e);
    int rc = esync__exec(e, "BEGIN IMMEDIATE");
    if (!rc) rc = wipe_all(e);
    if (!rc) rc = esync__exec(e, "COMMIT");
    if (rc) {
        sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
        esync__freemem(*event);
        *event = NULL;
        return rc;
    }
    return esync__ok(e);
}
