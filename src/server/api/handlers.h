/* The route handlers of electric-sync-server: validation on the epoll thread, SQL on the database
 * pool. All SQL takes its values as parameters (PQexecParams); none is built from input. */
#ifndef ESYNC_SERVER_HANDLERS_H
#define ESYNC_SERVER_HANDLERS_H

#include "config.h"
#include "api/db.h"
#include "http/http.h"
#include "shape/http.h"

typedef struct esync_app {
    const esync_config *cfg;
    esync_db *db;
    esync_shape_http *shapes; /* /v1/shape and the Electric proxy */
} esync_app;

/* The esync_dispatch_fn of the HTTP layer; app is an esync_app. */
void esync_handlers_dispatch(void *app, esync_req *r);

#endif
