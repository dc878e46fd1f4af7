/* Route handlers (see handlers.h). Each handler checks its input on the epoll thread, where a
 * refusal costs no database round trip, then submits a job that owns a copy of what it needs. */
#include "api/handlers.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/body.h"
#include "common.h"
#include "log.h"
#include "api/health.h"
#include "api/migrate.h"
#include "http/static.h"
#include "http/validate.h"

/* --- shared -------------------------------------------------------------------------------------- */

/* Copies the :id segment and checks it is a UUID; replies 400 and returns false when not. */
static bool take_id(esync_req *r, char out[37]) {
    const esync_route_match *m = esync_req_route(r);
    if (m->param_len != 36) goto bad;
    memcpy(out, m->param, 36);
    out[36] = '\0';
    if (esync_uuid_valid(out)) return true;
bad:
    esync_req_reply_error(r, 400, "invalid_id", "the id in the path must be a UUID");
    return false;
}

static void reply_body_error(esync_req *r, const esync_error *e) {
    esync_req_reply_error(r, e->status, e->code, "%s", e->message);
}

#define ITEM_JSON "row_to_json(test_items.*)::text"
/* The writing transaction's id as the shape service sends it in headers.txids (the 32-bit xid of
 * the pgoutput Begin message, without the epoch), so a client can wait for its own write. Read in
 * the RETURNING list of the write itself: same transaction, no extra round trip. */
#define TXID "pg_current_xact_id()::xid::text"

/* Replies with the row (column 0, row_to_json output: a non-empty object) and "txid" (column 1)
 * spliced in as its last member. */
static void reply_row_txid(esync_req *r, int status, const PGresult *res) {
    const char *row = PQgetvalue(res, 0, 0), *txid = PQgetvalue(res, 0, 1);
    size_t len = strlen(row);
    if (len < 2 || row[len - 1] != '}') {
        esync_req_reply_error(r, 500, "internal_error", "unexpected row text");
        return;
    }
    size_t cap = len + strlen(txid) + 16;
    char *out = esync__xmalloc(cap);
    int n = snprintf(out, cap, "%.*s,\"txid\":\"%s\"}", (int)(len - 1), row, txid);
    esync_req_reply(r, status, "application/json", out, (size_t)n);
}

/* --- GET /api/schema/version -------------------------------------------------------------------- */

static void job_version(esync_req *r, PGconn *conn, void *arg) {
    const esync_app *app = arg;
    PGresult *res;
    char *json = esync_schema_version(conn, app->cfg->migrations_dir, &res);
    if (!json) {
        esync_db_reply_error(r, conn, res);
        PQclear(res);
        return;
    }
    esync_req_reply(r, 200, "application/json", json, strlen(json));
}

/* --- POST /api/dev/seed, POST /api/dev/reset ----------------------------------------------------- */

static const char seed_sql[] =
    "INSERT INTO test_items (id, title, description, completed) "
    "SELECT gen_random_uuid(), 'Seed item ' || g, "
    "CASE WHEN g % 2 = 0 THEN 'Seeded for sync testing (' || g || ')' END, g % 3 = 0 "
    "FROM generate_series(1, $1::int) AS g";

/* Inserts count rows; returns the number inserted or -1 (result in *fail). */
static long seed(PGconn *conn, int count, PGresult **fail) {
    char n[16];
    snprintf(n, sizeof n, "%d", count);
    const char *vals[1] = {n};
    PGresult *res = PQexecParams(conn, seed_sql, 1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        *fail = res;
        return -1;
    }
    long inserted = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return inserted;
}

typedef struct seed_job {
    const esync_app *app;
    int count;
} seed_job;

static void job_seed(esync_req *r, PGconn *conn, void *arg) {
    const seed_job *j = arg;
    PGresult *fail = NULL;
    long n = seed(conn, j->count, &fail);
    if (n < 0) {
        esync_db_reply_error(r, conn, fail);
        PQclear(fail);
        return;
    }
    char out[64];
    snprintf(out, sizeof out, "{\"inserted\":%ld}", n);
    esync_req_reply_json(r, 200, out);
}

/* Drops every table (both schemas drizzle-kit touches), applies the migrations and seeds, in one
 * transaction: a concurrent reader sees the old database or the new one, never a missing table
 * between the two, and a failed migration leaves the old one in place. */
static void job_reset(esync_req *r, PGconn *conn, void *arg) {
    const seed_job *j = arg;
    static const char *const drop[] = {
        "BEGIN",
        "SELECT pg_advisory_xact_lock(" ESYNC_MIGRATE_LOCK_KEY ")",
        "DROP SCHEMA IF EXISTS \"drizzle\" CASCADE",
        "DROP SCHEMA IF EXISTS public CASCADE",
        /* Recreated as Postgres 15 creates it. */
        "CREATE SCHEMA public AUTHORIZATION pg_database_owner",
        "GRANT USAGE ON SCHEMA public TO PUBLIC",
    };
    PGresult *res = NULL;
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) {
        res = PQexec(conn, drop[i]);
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) goto fail;
        PQclear(res);
        res = NULL;
    }
    char err[1024];
    int applied;
    if (esync_migrate_apply(conn, j->app->cfg->migrations_dir, &applied, err, sizeof err) != 0) {
        if (PQstatus(conn) != CONNECTION_OK) goto fail;
        esync_log_error("reset: migration failed: %s", err);
        PQclear(PQexec(conn, "ROLLBACK"));
        esync_req_reply_error(r, 500, "migration_failed", "%s", err);
        return;
    }
    long inserted = seed(conn, j->count, &res);
    if (inserted < 0) goto fail;
    char *version = esync_schema_version(conn, j->app->cfg->migrations_dir, &res);
    if (!version) goto fail;
    res = PQexec(conn, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        free(version);
        goto fail;
    }
    PQclear(res);
    cJSON *v = cJSON_Parse(version);
    free(version);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 1);
    cJSON_AddStringToObject(o, "version", cJSON_GetStringValue(cJSON_GetObjectItem(v, "version")));
    cJSON_AddNumberToObject(o, "inserted", (double)inserted);
    cJSON_AddNumberToObject(o, "migrations", applied);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    cJSON_Delete(v);
    /* every table was recreated: the shapes on the old ones must refetch */
    esync_shape_http_invalidate_all(j->app->shapes, "dev reset");
    esync_req_reply(r, 200, "application/json", text, strlen(text));
    esync_log("reset: %d migration(s) applied, %ld row(s) seeded", applied, inserted);
    return;
fail:
    esync_db_reply_error(r, conn, res);
    PQclear(res);
    if (PQstatus(conn) == CONNECTION_OK) PQclear(PQexec(conn, "ROLLBACK"));
}

static void dev_seed_or_reset(esync_app *app, esync_req *r, bool reset) {
    size_t len;
    const char *body = esync_req_body(r, &len);
    esync_error e;
    seed_job *j = esync__xcalloc(1, sizeof *j);
    j->app = app;
    if (esync_body_seed(body, len, &j->count, &e) != 0) {
        free(j);
        reply_body_error(r, &e);
        return;
    }
    esync_db_submit(app->db, r, reset ? job_reset : job_seed, j, free);
}

/* --- /api/test-items ------------------------------------------------------------------------------- */

typedef struct item_job {
    char id[37];
    esync_item_input in;
} item_job;

static void free_item_job(void *p) {
    item_job *j = p;
    esync_item_input_free(&j->in);
    free(j);
}

static void job_create(esync_req *r, PGconn *conn, void *arg) {
    item_job *j = arg;
    const char *vals[4] = {
        j->in.has_id ? j->in.id : NULL,
        j->in.title,
        j->in.has_description ? j->in.description : NULL,
        j->in.has_completed ? (j->in.completed ? "true" : "false") : NULL,
    };
    PGresult *res = PQexecParams(
        conn,
        "INSERT INTO test_items (id, title, description, completed) "
        "VALUES (coalesce($1::uuid, gen_random_uuid()), $2::text, $3::text, coalesce($4::boolean, false)) "
        "RETURNING " ITEM_JSON ", " TXID,
        4, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        reply_row_txid(r, 201, res);
    else
        esync_db_reply_error(r, conn, res);
    PQclear(res);
}

static void job_update(esync_req *r, PGconn *conn, void *arg) {
    item_job *j = arg;
    const esync_item_input *in = &j->in;
    /* One statement for every subset: a flag per column says whether to take the new value, so
     * the SQL text never depends on the input. updated_at strictly advances even when two
     * updates land in the same microsecond. */
    const char *vals[7] = {
        j->id,
        in->has_title ? "true" : "false",
        in->has_title ? in->title : NULL,
        in->has_description ? "true" : "false",
        in->has_description ? in->description : NULL,
        in->has_completed ? "true" : "false",
        in->has_completed ? (in->completed ? "true" : "false") : NULL,
    };
    PGresult *res = PQexecParams(
        conn,
        "UPDATE test_items SET "
        "title = CASE WHEN $2::boolean THEN $3::text ELSE title END, "
        "description = CASE WHEN $4::boolean THEN $5::text ELSE description END, "
        "completed = CASE WHEN $6::boolean THEN $7::boolean ELSE completed END, "
        "updated_at = greatest(now()::timestamp, updated_at + interval '1 microsecond') "
        "WHERE id = $1::uuid RETURNING " ITEM_JSON ", " TXID,
        7, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        esync_db_reply_error(r, conn, res);
    else if (PQntuples(res) == 0)
        esync_req_reply_error(r, 404, "not_found", "no test item with id %s", j->id);
    else
        reply_row_txid(r, 200, res);
    PQclear(res);
}

static void job_delete(esync_req *r, PGconn *conn, void *arg) {
    item_job *j = arg;
    const char *vals[1] = {j->id};
    PGresult *res = PQexecParams(
        conn, "DELETE FROM test_items WHERE id = $1::uuid RETURNING id::text, " TXID, 1, NULL, vals,
        NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        esync_db_reply_error(r, conn, res);
    else if (PQntuples(res) == 0)
        esync_req_reply_error(r, 404, "not_found", "no test item with id %s", j->id);
    else {
        /* both values are Postgres' text output of a uuid and an xid: nothing to escape */
        char out[96];
        snprintf(out, sizeof out, "{\"id\":\"%s\",\"txid\":\"%s\"}", PQgetvalue(res, 0, 0),
                 PQgetvalue(res, 0, 1));
        esync_req_reply_json(r, 200, out);
    }
    PQclear(res);
}

static void items(esync_app *app, esync_req *r, esync_route_id id) {
    item_job *j = esync__xcalloc(1, sizeof *j);
    if (id != ESYNC_ROUTE_ITEMS_CREATE && !take_id(r, j->id)) {
        free(j);
        return;
    }
    if (id != ESYNC_ROUTE_ITEMS_DELETE) {
        size_t len;
        const char *body = esync_req_body(r, &len);
        esync_error e;
        if (esync_body_item(body, len, id == ESYNC_ROUTE_ITEMS_CREATE, &j->in, &e) != 0) {
            free(j);
            reply_body_error(r, &e);
            return;
        }
    }
    esync_db_job_fn fn = id == ESYNC_ROUTE_ITEMS_CREATE   ? job_create
                         : id == ESYNC_ROUTE_ITEMS_UPDATE ? job_update
                                                          : job_delete;
    esync_db_submit(app->db, r, fn, j, free_item_job);
}

/* --- dispatch ------------------------------------------------------------------------------------ */

void esync_handlers_dispatch(void *p, esync_req *r) {
    esync_app *app = p;
    esync_route_id id = esync_req_route(r)->id;
    switch (id) {
    case ESYNC_ROUTE_SCHEMA_VERSION: esync_db_submit(app->db, r, job_version, app, NULL); return;
    case ESYNC_ROUTE_DEV_SEED: dev_seed_or_reset(app, r, false); return;
    case ESYNC_ROUTE_DEV_RESET: dev_seed_or_reset(app, r, true); return;
    case ESYNC_ROUTE_ITEMS_CREATE:
    case ESYNC_ROUTE_ITEMS_UPDATE:
    case ESYNC_ROUTE_ITEMS_DELETE: items(app, r, id); return;
    case ESYNC_ROUTE_SHAPE:
    case ESYNC_ROUTE_SHAPE_PROXY:
        esync_shape_http_handle(app->shapes, r, id == ESYNC_ROUTE_SHAPE_PROXY);
        return;
    case ESYNC_ROUTE_HEALTH: esync_health_handle(app, r, false); return;
    case ESYNC_ROUTE_HEALTH_V1: esync_health_handle(app, r, true); return;
    case ESYNC_ROUTE_STATIC: esync_static_serve(r, app->cfg->web_dir, app->cfg->wasm_dir); return;
    }
    esync_req_reply_error(r, 500, "internal_error", "unhandled route");
}
