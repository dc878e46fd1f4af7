/* Environment -> esync_config (see config.h). Numbers are parsed strictly: "3000x" is an error,
 * not 3000, because a typo in PORT should stop the server, not move it; the same holds for every
 * variable, the shape service's included. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "shape/table.h"

/* The application's defaults (README "Server" and "Shape service"). */
#define DEFAULT_PORT 3000
#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_HTTP_TIMEOUT_S 30
#define DEFAULT_DB_POOL 4
#define DEFAULT_MAX_CONNECTIONS 10000
#define DEFAULT_LONG_POLL_MS 20000
#define DEFAULT_CHUNK_BYTES (10u << 20)
#define DEFAULT_SHAPE_WORKERS 2
#define DEFAULT_RECONCILE_MS 10000
#define DEFAULT_PROXY_TABLES "test_items"

static int parse_uint(const char *name, unsigned lo, unsigned hi, unsigned def, unsigned *out,
                      char *err, size_t errsz) {
    const char *v = getenv(name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || *end || v[0] == '-' || n < lo || n > hi) {
        snprintf(err, errsz, "%s='%s' must be an integer from %u to %u", name, v, lo, hi);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The checkout root: two levels above the executable when that directory holds web/ or db/. */
static void find_root(char *root, size_t n) {
    const char *env = getenv("ESYNC_ROOT");
    if (env && *env) {
        snprintf(root, n, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash || slash == exe) break;
            *slash = '\0';
            char probe[PATH_MAX + 16];
            snprintf(probe, sizeof probe, "%s/db/migrations", exe);
            if (is_dir(probe)) {
                snprintf(root, n, "%s", exe);
                return;
            }
        }
    }
    if (!getcwd(root, n)) snprintf(root, n, ".");
}

static int dir_setting(char *dst, size_t n, const char *env, const char *root, const char *rel,
                       char *err, size_t errsz) {
    const char *v = getenv(env);
    int w = v && *v ? snprintf(dst, n, "%s", v) : snprintf(dst, n, "%s/%.64s", root, rel);
    if (w < 0 || (size_t)w >= n) {
        snprintf(err, errsz, "the path for %s is too long", env);
        return -1;
    }
    return 0;
}

void esync_config_free(esync_config *c) {
    for (int i = 0; i < c->proxy_ntables; i++) {
        free(c->proxy_schemas[i]);
        free(c->proxy_names[i]);
    }
    free(c->proxy_schemas);
    free(c->proxy_names);
    c->proxy_schemas = c->proxy_names = NULL;
    c->proxy_ntables = 0;
}

/* ESYNC_PROXY_TABLES: comma-separated table names, each in the syntax of the shape API's `table`
 * parameter (shape/table.h). */
static int proxy_tables(esync_config *c, char *err, size_t errsz) {
    const char *v = getenv("ESYNC_PROXY_TABLES");
    char *copy = esync__xstrdup(v && *v ? v : DEFAULT_PROXY_TABLES), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *schema, *name, e[256];
        while (*t == ' ') t++;
        if (esync_table_parse_name(t, &schema, &name, e, sizeof e) != 0) {
            snprintf(err, errsz, "ESYNC_PROXY_TABLES: '%s': %s", t, e);
            free(copy);
            esync_config_free(c);
            return -1;
        }
        size_t n = (size_t)c->proxy_ntables + 1;
        c->proxy_schemas = esync__xrealloc(c->proxy_schemas, n * sizeof *c->proxy_schemas);
        c->proxy_names = esync__xrealloc(c->proxy_names, n * sizeof *c->proxy_names);
        c->proxy_schemas[c->proxy_ntables] = schema;
        c->proxy_names[c->proxy_ntables] = name;
        c->proxy_ntables++;
    }
    free(copy);
    return 0;
}

int esync_config_load(esync_config *c, char *err, size_t errsz) {
    memset(c, 0, sizeof *c);
    if (parse_uint("PORT", 1, 65535, DEFAULT_PORT, &c->port, err, errsz) != 0 ||
        parse_uint("ESYNC_HTTP_TIMEOUT", 1, 3600, DEFAULT_HTTP_TIMEOUT_S, &c->http_timeout, err,
                   errsz) != 0 ||
        parse_uint("ESYNC_DB_POOL", 1, 64, DEFAULT_DB_POOL, &c->db_pool, err, errsz) != 0 ||
        parse_uint("ESYNC_MAX_CONNECTIONS", 16, 1000000, DEFAULT_MAX_CONNECTIONS,
                   &c->max_connections, err, errsz) != 0 ||
        parse_uint("ESYNC_LONG_POLL_MS", 100, 600000, DEFAULT_LONG_POLL_MS, &c->long_poll_ms, err,
                   errsz) != 0 ||
        parse_uint("ESYNC_CHUNK_BYTES", 1024, 1u << 30, DEFAULT_CHUNK_BYTES, &c->chunk_bytes, err,
                   errsz) != 0 ||
        parse_uint("ESYNC_SHAPE_WORKERS", 1, 16, DEFAULT_SHAPE_WORKERS, &c->shape_workers, err,
                   errsz) != 0 ||
        parse_uint("ESYNC_RECONCILE_MS", 100, 3600000, DEFAULT_RECONCILE_MS, &c->reconcile_ms, err,
                   errsz) != 0)
        return -1;
    const char *host = getenv("HOST");
    snprintf(c->host, sizeof c->host, "%s", host && *host ? host : DEFAULT_HOST);
    c->database_url = getenv("DATABASE_URL");
    if (!c->database_url || !*c->database_url) {
        snprintf(err, errsz,
                 "DATABASE_URL is not set (`npm run -s db:url` prints the private "
                 "cluster's; `npm run dev` sets it for you)");
        return -1;
    }
    const char *dev = getenv("ESYNC_DEV");
    c->dev = dev && strcmp(dev, "1") == 0;
    c->electric_url = getenv("ELECTRIC_URL");
    if (c->electric_url && !*c->electric_url) c->electric_url = NULL;
    c->electric_secret = getenv("ELECTRIC_SECRET");
    if (c->electric_secret && !*c->electric_secret) c->electric_secret = NULL;

    char root[PATH_MAX];
    find_root(root, sizeof root);
    if (dir_setting(c->web_dir, sizeof c->web_dir, "ESYNC_WEB_DIR", root, "web", err, errsz) != 0 ||
        dir_setting(c->wasm_dir, sizeof c->wasm_dir, "ESYNC_WASM_DIR", root, "build/wasm", err,
                    errsz) != 0 ||
        dir_setting(c->migrations_dir, sizeof c->migrations_dir, "ESYNC_MIGRATIONS_DIR", root,
                    "db/migrations", err, errsz) != 0 ||
        dir_setting(c->shapes_dir, sizeof c->shapes_dir, "ESYNC_SHAPES_DIR", root, ".data/shapes",
                    err, errsz) != 0)
        return -1;
    return proxy_tables(c, err, errsz);
}
