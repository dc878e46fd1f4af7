/* The health routes, for load balancers and orchestrators.
 *
 *   GET /v1/health   Electric's route and body: 200 {"status":"active"} when the server can serve
 *                    shapes; 202 {"status":"starting"} while the database or the replication
 *                    stream is not there (yet, or again); 202 {"status":"waiting"} when the shape
 *                    service does not run because another server holds its shapes directory
 *                    (Electric's "waiting for the lock"). No secret needed, as in Electric.
 *   GET /api/health  200 when healthy, 503 otherwise, with what was checked:
 *                    {"status":"ok"|"unavailable", "database":"reachable"|"unreachable",
 *                     "replication":{"state":"idle"|"connecting"|"streaming"|"disabled",
 *                                    "slot":name|null, "slot_exists":bool|null,
 *                                    "slot_active":bool|null, "wal_status":text|null},
 *                     "shapes":n}
 *                    Healthy: the database answers, the shape service runs, and when it holds
 *                    shapes its replication streams from a slot Postgres has not lost.
 * Both run one query on the database pool (pg_replication_slots), even while Postgres is down
 * (esync_db_submit_probe), and are never cached.
 */
#ifndef ESYNC_SERVER_HEALTH_H
#define ESYNC_SERVER_HEALTH_H

#include <stdbool.h>

#include "api/handlers.h"

/* Handles GET/HEAD /api/health (electric false) or /v1/health (electric true). */
void esync_health_handle(esync_app *app, esync_req *r, bool electric);

#endif
