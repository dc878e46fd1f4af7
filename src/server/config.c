/* Environment -> esync_config (see config.h). Numbers are parsed strictly: "3000x" is an error,
 * not 3000, because a typo in PORT should stop the server, not move it. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int esync_config_load(esync_config *c, char *err, size_t errsz) {
    memset(c, 0, sizeof *c);
    if (parse_uint("PORT", 1, 65535, 3000, &c->port, err, errsz) != 0) return -1;
    if (parse_uint("ESYNC_HTTP_TIMEOUT", 1, 3600, 30, &c->http_timeout, err, errsz) != 0) return -1;
    if (parse_uint("ESYNC_DB_POOL", 1, 64, 4, &c->db_pool, err, errsz) != 0) return -1;
    if (parse_uint("ESYNC_MAX_CONNECTIONS", 16, 1000000, 10000, &c->max_connections, err, errsz) !=
        0)
        return -1;
    const char *host = getenv("HOST");
    snprintf(c->host, sizeof c->host, "%s", host && *host ? host : "127.0.0.1");
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
    c->proxy_tables = getenv("ESYNC_PROXY_TABLES");
    return 0;
}
