/* Server configuration: the one place that reads the environment (README "Server" and "Shape
 * service" list every variable) and holds the application's defaults. The modules take their
 * settings from this struct (through their own options structs), never from getenv.
 *
 * Policy: a malformed or out-of-range value stops the start with a message naming the variable
 * (main exits 2); an unset or empty variable takes its default. */
#ifndef ESYNC_SERVER_CONFIG_H
#define ESYNC_SERVER_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "log.h"

typedef struct esync_config {
    unsigned port;               /* PORT, default 3000 */
    char host[64];               /* HOST, default 127.0.0.1 (dev mode must not face a network) */
    const char *database_url;    /* DATABASE_URL, else POSTGRES_URL; one is required */
    bool dev;                    /* ESYNC_DEV=1 */
    const char *electric_url;    /* ELECTRIC_URL: a real Electric behind the proxy */
    const char *electric_secret; /* ELECTRIC_SECRET: /v1/shape requires it, the proxy adds it */
    bool electric_insecure;      /* ELECTRIC_INSECURE=true: no secret, on purpose */
    /* /v1/shape is served on the app's listener: in dev mode, with a secret (which it then
     * requires), or with ELECTRIC_INSECURE=true; otherwise only the proxy serves shapes. */
    bool shape_api;
    esync_log_level log_level;     /* ESYNC_LOG_LEVEL, else ELECTRIC_LOG_LEVEL; default info */
    bool log_json;                 /* ESYNC_LOG_FORMAT=json (default text) */
    char web_dir[PATH_MAX];        /* ESYNC_WEB_DIR, default <root>/web */
    char wasm_dir[PATH_MAX];       /* ESYNC_WASM_DIR, default <root>/build/wasm */
    char migrations_dir[PATH_MAX]; /* ESYNC_MIGRATIONS_DIR, default <root>/db/migrations */
    char shapes_dir[PATH_MAX];     /* ESYNC_SHAPES_DIR, default <root>/.data/shapes (shape logs) */
    unsigned http_timeout;         /* ESYNC_HTTP_TIMEOUT seconds of idleness, default 30 */
    unsigned db_pool;              /* ESYNC_DB_POOL connections/threads, default 4 */
    unsigned max_connections;      /* ESYNC_MAX_CONNECTIONS, default 10000 */
    /* the shape service */
    unsigned long_poll_ms;  /* ESYNC_LONG_POLL_MS: live hold, default 20000 */
    unsigned chunk_bytes;   /* ESYNC_CHUNK_BYTES: snapshot/log chunk size, default 10 MiB */
    unsigned shape_workers; /* ESYNC_SHAPE_WORKERS: catalog/snapshot threads, default 2 */
    unsigned shape_gzip;    /* ESYNC_SHAPE_GZIP: zlib level of the snapshot chunks' gzip, 0 off,
                               default 1 */
    bool shape_images;      /* ESYNC_SHAPE_IMAGES: snapshot chunks as replica images too,
                               default on */
    unsigned reconcile_ms;  /* ESYNC_RECONCILE_MS: catalog check of the shapes' tables,
                                    default 10000 */
    /* ESYNC_PROXY_TABLES: the proxy's allow-list, comma-separated table names (the `table`
     * parameter's syntax), default test_items; parsed into proxy_schemas[i], proxy_names[i] */
    int proxy_ntables;
    char **proxy_schemas, **proxy_names;
} esync_config;

/* Reads the environment. <root> is ESYNC_ROOT, else the checkout that holds the executable
 * (build/native/electric-sync-server -> ../..), else the working directory. Returns 0, or -1
 * with a message in err (nothing to free then). The log settings are read first: on failure
 * they hold what was read (or the defaults), so the message can be logged in the right format.
 *
 * Safe by default: a HOST that is not a loopback address with no ELECTRIC_SECRET is refused
 * (-1) unless ELECTRIC_INSECURE=true, so a server facing a network never serves the raw shape
 * API to anyone by accident. */
int esync_config_load(esync_config *c, char *err, size_t errsz);
/* Frees what esync_config_load allocated. */
void esync_config_free(esync_config *c);

#endif
