/* Environment -> esync_config (see config.h). Numbers are parsed strictly: "3000x" is an error,
 * not 3000, because a typo in PORT should stop the server, not move it; the same holds for every
 * variable, the shape service's included. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
#define DEFAULT_SHAPE_GZIP 1
#define DEFAULT_SHAPE_WORKERS 2
#define DEFAULT_RECONCILE_MS 10000
#define DEFAULT_PROXY_TABLES "test_items"
#define DEFAULT_LOG_LEVEL ESYNC_LOG_INFO

/* The first of two variables that is set and not empty, with its name; NULL when neither is. */
static const char *either(const char *a, const char *b, const char **name) {
    const char *v = getenv(a);
    *name = a;
    if (v && *v) return v;
    v = getenv(b);
    *name = b;
    return v && *v ? v : NULL;
}

/* One of a fixed set of words, case-insensitively; values[i] for words[i]. */
static int parse_word(const char *name, const char *v, const char *const *words, const int *values,
                      size_t n, const char *expected, int *out, char *err, size_t errsz) {
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(v, words[i]) == 0) {
            *out = values[i];
            return 0;
        }
    snprintf(err, errsz, "%s='%.100s' must be %s", name, v, expected);
    return -1;
}

static int log_settings(esync_config *c, char *err, size_t errsz) {
    c->log_level = DEFAULT_LOG_LEVEL;
    c->log_json = false;
    const char *name, *v = either("ESYNC_LOG_LEVEL", "ELECTRIC_LOG_LEVEL", &name);
    int x;
    if (v) {
        /* "warning" is Elixir's (and so Electric's) name for warn */
        static const char *const words[] = {"error", "warn", "warning", "info", "debug"};
        static const int values[] = {ESYNC_LOG_ERROR, ESYNC_LOG_WARN, ESYNC_LOG_WARN,
                                     ESYNC_LOG_INFO, ESYNC_LOG_DEBUG};
        if (parse_word(name, v, words, values, 5, "one of error, warn, info, debug", &x, err,
                       errsz) != 0)
            return -1;
        c->log_level = (esync_log_level)x;
    }
    v = getenv("ESYNC_LOG_FORMAT");
    if (v && *v) {
        static const char *const words[] = {"text", "json"};
        static const int values[] = {0, 1};
        if (parse_word("ESYNC_LOG_FORMAT", v, words, values, 2, "text or json", &x, err, errsz) !=
            0)
            return -1;
        c->log_json = x == 1;
    }
    return 0;
}

static int parse_bool(const char *name, bool *out, char *err, size_t errsz) {
    const char *v = getenv(name);
    *out = false;
    if (!v || !*v) return 0;
    static const char *const words[] = {"true", "false"};
    static const int values[] = {1, 0};
    int x;
    if (parse_word(name, v, words, values, 2, "true or false", &x, err, errsz) != 0) return -1;
    *out = x == 1;
    return 0;
}

/* 127.0.0.0/8, ::1 and ::ffff:127.x.y.z. An address that is not numeric is not judged here: the
 * listener refuses it (exit 4). */
static bool host_faces_network(const char *host) {
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1) return a[0] != 127;
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char loop[16] = {[15] = 1};
        static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
        if (memcmp(a, loop, 16) == 0) return false;
        return !(memcmp(a, mapped, 12) == 0 && a[12] == 127);
    }
    return false;
}

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
    if (log_settings(c, err, errsz) != 0) return -1;
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
        parse_uint("ESYNC_SHAPE_GZIP", 0, 9, DEFAULT_SHAPE_GZIP, &c->shape_gzip, err, errsz) != 0 ||
        parse_uint("ESYNC_RECONCILE_MS", 100, 3600000, DEFAULT_RECONCILE_MS, &c->reconcile_ms, err,
                   errsz) != 0 ||
        parse_bool("ELECTRIC_INSECURE", &c->electric_insecure, err, errsz) != 0)
        return -1;
    const char *images = getenv("ESYNC_SHAPE_IMAGES"); /* true or false; default true */
    c->shape_images = true;
    if (images && *images && parse_bool("ESYNC_SHAPE_IMAGES", &c->shape_images, err, errsz) != 0)
        return -1;
    const char *host = getenv("HOST");
    snprintf(c->host, sizeof c->host, "%s", host && *host ? host : DEFAULT_HOST);
    const char *url_name;
    c->database_url = either("DATABASE_URL", "POSTGRES_URL", &url_name);
    if (!c->database_url) {
        snprintf(err, errsz,
                 "DATABASE_URL is not set, nor POSTGRES_URL (`npm run -s db:url` prints the "
                 "private cluster's; `npm run dev` sets it for you)");
        return -1;
    }
    const char *dev = getenv("ESYNC_DEV");
    c->dev = dev && strcmp(dev, "1") == 0;
    c->electric_url = getenv("ELECTRIC_URL");
    if (c->electric_url && !*c->electric_url) c->electric_url = NULL;
    c->electric_secret = getenv("ELECTRIC_SECRET");
    if (c->electric_secret && !*c->electric_secret) c->electric_secret = NULL;
    if (!c->electric_secret && !c->electric_insecure && host_faces_network(c->host)) {
        snprintf(err, errsz,
                 "refusing to start: HOST=%s is not a loopback address and ELECTRIC_SECRET is "
                 "not set; set ELECTRIC_SECRET, or ELECTRIC_INSECURE=true to serve the shape API "
                 "without a secret on purpose",
                 c->host);
        return -1;
    }
    c->shape_api = c->dev || c->electric_secret || c->electric_insecure;

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
