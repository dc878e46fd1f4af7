/* The health routes (see health.h). The shape service's view (shapes, replication state) is read
 * first, then Postgres is asked about the slot: one query that is also the reachability check. */
#include "api/health.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

typedef struct health_job {
    esync_app *app;
    bool electric;
} health_job;

typedef struct health {
    bool service; /* the shape service runs */
    esync_shapes_health sh;
    bool db;          /* the database answered */
    bool slot_exists; /* known only when db */
    bool slot_active;
    char wal_status[32]; /* "" when NULL or unknown */
    bool healthy;
} health;

static void check(esync_app *app, PGconn *conn, health *h) {
    memset(h, 0, sizeof *h);
    h->service = esync_shape_http_health(app->shapes, &h->sh);
    if (conn) {
        const char *vals[1] = {h->service ? h->sh.slot : ""};
        PGresult *res = PQexecParams(
            conn, "SELECT active, wal_status FROM pg_replication_slots WHERE slot_name = $1", 1,
            NULL, vals, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_TUPLES_OK) {
            h->db = true;
            if (PQntuples(res) == 1) {
                h->slot_exists = true;
                h->slot_active = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
                if (!PQgetisnull(res, 0, 1))
                    snprintf(h->wal_status, sizeof h->wal_status, "%s", PQgetvalue(res, 0, 1));
            }
        } else {
            /* a refused query still proves the database answers; a lost connection does not */
            h->db = !esync_db_is_connection_error(conn, res);
        }
        PQclear(res);
    }
    h->healthy = h->db && h->service &&
                 (h->sh.shapes == 0 || (strcmp(h->sh.replication, "streaming") == 0 &&
                                        h->slot_exists && strcmp(h->wal_status, "lost") != 0));
}

static void reply_electric(esync_req *r, const health *h) {
    const char *body = !h->service  ? "{\"status\":\"waiting\"}"
                       : h->healthy ? "{\"status\":\"active\"}"
                                    : "{\"status\":\"starting\"}";
    esync_req_reply(r, h->healthy ? 200 : 202, "application/json; charset=utf-8",
                    esync__xstrdup(body), strlen(body));
    esync_req_set_header(r, "cache-control", "no-cache, no-store, must-revalidate");
}

static void reply_api(esync_req *r, const health *h) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", h->healthy ? "ok" : "unavailable");
    cJSON_AddStringToObject(o, "database", h->db ? "reachable" : "unreachable");
    cJSON *rep = cJSON_AddObjectToObject(o, "replication");
    cJSON_AddStringToObject(rep, "state", h->service ? h->sh.replication : "disabled");
    if (h->service)
        cJSON_AddStringToObject(rep, "slot", h->sh.slot);
    else
        cJSON_AddNullToObject(rep, "slot");
    if (h->db && h->service) {
        cJSON_AddBoolToObject(rep, "slot_exists", h->slot_exists);
        cJSON_AddBoolToObject(rep, "slot_active", h->slot_active);
    } else {
        cJSON_AddNullToObject(rep, "slot_exists");
        cJSON_AddNullToObject(rep, "slot_active");
    }
    if (h->wal_status[0])
        cJSON_AddStringToObject(rep, "wal_status", h->wal_status);
    else
        cJSON_AddNullToObject(rep, "wal_status");
    cJSON_AddNumberToObject(o, "shapes", h->service ? h->sh.shapes : 0);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    esync_req_reply(r, h->healthy ? 200 : 503, "application/json", text, strlen(text));
    esync_req_set_header(r, "cache-control", "no-cache, no-store, must-revalidate");
}

static void job_health(esync_req *r, PGconn *conn, void *arg) {
    const health_job *j = arg;
    health h;
    check(j->app, conn, &h);
    if (j->electric)
        reply_electric(r, &h);
    else
        reply_api(r, &h);
}

void esync_health_handle(esync_app *app, esync_req *r, bool electric) {
    health_job *j = esync__xcalloc(1, sizeof *j);
    j->app = app;
    j->electric = electric;
    esync_db_submit_probe(app->db, r, job_health, j, free);
}
