/* Server configuration, from the environment (README "Server" lists every variable). */
#ifndef ESYNC_SERVER_CONFIG_H
#define ESYNC_SERVER_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct esync_config {
    unsigned port;                 /* PORT, default 3000 */
    char host[64];                 /* HOST, default 127.0.0.1 (dev mode must not face a network) */
    const char *database_url;      /* DATABASE_URL, required */
    bool dev;                      /* ESYNC_DEV=1 */
    const char *electric_url;      /* ELECTRIC_URL: a real Electric for the proxy (next issue) */
    const char *electric_secret;   /* ELECTRIC_SECRET: added server-side by the proxy */
    char web_dir[PATH_MAX];        /* ESYNC_WEB_DIR, default <root>/web */
    char wasm_dir[PATH_MAX];       /* ESYNC_WASM_DIR, default <root>/build/wasm */
    char migrations_dir[PATH_MAX]; /* ESYNC_MIGRATIONS_DIR, default <root>/db/migrations */
    char shapes_dir[PATH_MAX];     /* ESYNC_SHAPES_DIR, default <root>/.data/shapes (shape logs) */
    const char *proxy_tables; /* ESYNC_PROXY_TABLES: the proxy's allow-list, default test_items */
    unsigned http_timeout;    /* ESYNC_HTTP_TIMEOUT seconds of idleness, default 30 */
    unsigned db_pool;         /* ESYNC_DB_POOL connections/threads, default 4 */
    unsigned max_connections; /* ESYNC_MAX_CONNECTIONS, default 10000 */
} esync_config;

/* Reads the environment. <root> is ESYNC_ROOT, else the checkout that holds the executable
 * (build/native/electric-sync-server -> ../..), else the working directory. Returns 0, or -1
 * with a message in err. */
int esync_config_load(esync_config *c, char *err, size_t errsz);

#endif
