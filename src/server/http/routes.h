/* The route table of electric-sync-server and its matcher: method + decoded path -> route id and
 * the :id parameter. Pure (no I/O), so the fuzzer and the unit tests run the real table.
 *
 * Paths under /api/ and /v1/ are API routes (JSON error envelope); every other GET or HEAD is a
 * static file. Dev-only routes do not exist unless dev mode is on (404, not 403: a production
 * server does not reveal them); nor does /v1/shape unless the server serves it on this listener
 * (ESYNC_ROUTES_SHAPE_API: dev mode, a secret, or ELECTRIC_INSECURE=true; config.h).
 */
#ifndef ESYNC_SERVER_ROUTES_H
#define ESYNC_SERVER_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

enum esync_method {
    ESYNC_GET = 1 << 0,
    ESYNC_HEAD = 1 << 1,
    ESYNC_POST = 1 << 2,
    ESYNC_PUT = 1 << 3,
    ESYNC_DELETE = 1 << 4,
    ESYNC_OPTIONS = 1 << 5,
    ESYNC_PATCH = 1 << 6,
    ESYNC_OTHER = 1 << 7
};

typedef enum esync_route_id {
    ESYNC_ROUTE_SCHEMA_VERSION,
    ESYNC_ROUTE_DEV_SEED,
    ESYNC_ROUTE_DEV_RESET,
    ESYNC_ROUTE_ITEMS_CREATE,
    ESYNC_ROUTE_ITEMS_UPDATE,
    ESYNC_ROUTE_ITEMS_DELETE,
    ESYNC_ROUTE_SHAPE,       /* /v1/shape: the built-in shape service (shape/http.h) */
    ESYNC_ROUTE_SHAPE_PROXY, /* /api/electric/v1/shape: the Electric proxy */
    ESYNC_ROUTE_HEALTH,      /* /api/health: database, replication, shapes (api/health.h) */
    ESYNC_ROUTE_HEALTH_V1,   /* /v1/health: Electric's status route */
    ESYNC_ROUTE_STATIC
} esync_route_id;

/* What a route expects of the request body. */
typedef enum esync_body_policy {
    ESYNC_BODY_NONE,     /* a body is read and ignored */
    ESYNC_BODY_OPTIONAL, /* empty, or JSON (Content-Type checked only when non-empty) */
    ESYNC_BODY_REQUIRED  /* JSON; Content-Type must say so */
} esync_body_policy;

typedef struct esync_route_match {
    esync_route_id id;
    esync_body_policy body;
    const char *param; /* the :id segment, pointing into the path; not NUL-terminated */
    size_t param_len;
    unsigned allow; /* on 405: the methods the path accepts (esync_method bits) */
} esync_route_match;

/* Maps an HTTP method token to an esync_method bit (ESYNC_OTHER when unknown). */
unsigned esync_method_parse(const char *method);

/* Writes "GET, HEAD, POST" style text for an Allow header into buf. */
void esync_method_list(unsigned methods, char *buf, size_t n);

/* Which optional routes exist (esync_route_find's flags). */
enum esync_route_flags {
    ESYNC_ROUTES_DEV = 1u << 0,      /* the dev-only routes (/api/dev/seed, /api/dev/reset) */
    ESYNC_ROUTES_SHAPE_API = 1u << 1 /* /v1/shape (the proxy /api/electric/v1/shape always is) */
};

/* Returns 0 (match in *m), 404 (no such route) or 405 (path known, method not: m->allow set).
 * flags: esync_route_flags bits. */
int esync_route_find(unsigned method, const char *path, unsigned flags, esync_route_match *m);

#endif
