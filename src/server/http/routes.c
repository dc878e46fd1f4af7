/* The route table (see routes.h). Patterns are literal segments plus ":id", which matches exactly
 * one non-empty segment; there is no prefix matching, so /api/test-items/x/y is a 404. */
#include "http/routes.h"

#include <stdio.h>
#include <string.h>

typedef struct route {
    unsigned methods;
    const char *pattern;
    esync_route_id id;
    esync_body_policy body;
    bool dev_only;
} route;

static const route table[] = {
    {ESYNC_GET | ESYNC_HEAD, "/api/schema/version", ESYNC_ROUTE_SCHEMA_VERSION, ESYNC_BODY_NONE,
     false},
    {ESYNC_POST, "/api/dev/seed", ESYNC_ROUTE_DEV_SEED, ESYNC_BODY_OPTIONAL, true},
    {ESYNC_POST, "/api/dev/reset", ESYNC_ROUTE_DEV_RESET, ESYNC_BODY_OPTIONAL, true},
    {ESYNC_POST, "/api/test-items", ESYNC_ROUTE_ITEMS_CREATE, ESYNC_BODY_REQUIRED, false},
    {ESYNC_PUT, "/api/test-items/:id", ESYNC_ROUTE_ITEMS_UPDATE, ESYNC_BODY_REQUIRED, false},
    {ESYNC_DELETE, "/api/test-items/:id", ESYNC_ROUTE_ITEMS_DELETE, ESYNC_BODY_NONE, false},
    {ESYNC_GET | ESYNC_HEAD, "/api/health", ESYNC_ROUTE_HEALTH, ESYNC_BODY_NONE, false},
    {ESYNC_GET | ESYNC_HEAD, "/v1/health", ESYNC_ROUTE_HEALTH_V1, ESYNC_BODY_NONE, false},
};

static const struct {
    const char *name;
    unsigned bit;
} methods[] = {
    {"GET", ESYNC_GET},     {"HEAD", ESYNC_HEAD},     {"POST", ESYNC_POST},
    {"PUT", ESYNC_PUT},     {"DELETE", ESYNC_DELETE}, {"OPTIONS", ESYNC_OPTIONS},
    {"PATCH", ESYNC_PATCH},
};

unsigned esync_method_parse(const char *m) {
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(m, methods[i].name) == 0) return methods[i].bit;
    return ESYNC_OTHER;
}

void esync_method_list(unsigned bits, char *buf, size_t n) {
    size_t used = 0;
    if (n) buf[0] = '\0';
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (!(bits & methods[i].bit)) continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", methods[i].name);
        if (w < 0 || (size_t)w >= n - used) return;
        used += (size_t)w;
    }
}

/* Matches path against pattern; on success sets the :id parameter (if any). */
static bool match(const char *pattern, const char *path, const char **param, size_t *plen) {
    const char *p = pattern, *s = path;
    *param = NULL;
    *plen = 0;
    while (*p) {
        if (p[0] == ':' && p[-1] == '/') {
            size_t seg = strcspn(s, "/");
            if (seg == 0) return false;
            *param = s;
            *plen = seg;
            s += seg;
            p += strcspn(p, "/");
            continue;
        }
        if (*p != *s) return false;
        p++;
        s++;
    }
    return *s == '\0';
}

static bool is_api_path(const char *path) {
    return strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0 ||
           strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0;
}

/* The shape endpoints match like Electric's router: repeated slashes and a trailing slash are
 * ignored (/v1//shape, /v1/shape/). */
static bool shape_path(const char *path, const char *want) {
    const char *p = path, *w = want;
    while (*p && *w) {
        if (*p == '/' && p[1] == '/') {
            p++;
            continue;
        }
        if (*p != *w) return false;
        p++;
        w++;
    }
    while (*p == '/') p++;
    return *p == '\0' && *w == '\0';
}

int esync_route_find(unsigned method, const char *path, unsigned flags, esync_route_match *m) {
    memset(m, 0, sizeof *m);
    if (path[0] != '/') return 404;
    bool dev = flags & ESYNC_ROUTES_DEV;
    /* Not served: every spelling of the path is an unknown API path (404), for every method. */
    bool shape = (flags & ESYNC_ROUTES_SHAPE_API) && shape_path(path, "/v1/shape");
    bool proxy = shape_path(path, "/api/electric/v1/shape");
    if (shape || proxy) {
        unsigned ok = ESYNC_GET | ESYNC_HEAD | ESYNC_OPTIONS;
        m->id = shape ? ESYNC_ROUTE_SHAPE : ESYNC_ROUTE_SHAPE_PROXY;
        m->body = ESYNC_BODY_NONE;
        if (method & ok) return 0;
        m->allow = ok;
        return 405;
    }
    unsigned allow = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const route *r = &table[i];
        const char *param;
        size_t plen;
        if (r->dev_only && !dev) continue;
        if (!match(r->pattern, path, &param, &plen)) continue;
        if (!(r->methods & method)) {
            allow |= r->methods;
            continue;
        }
        m->id = r->id;
        m->body = r->body;
        m->param = param;
        m->param_len = plen;
        return 0;
    }
    if (allow) {
        m->allow = allow;
        return 405;
    }
    if (is_api_path(path)) return 404;
    if (method & (ESYNC_GET | ESYNC_HEAD)) {
        m->id = ESYNC_ROUTE_STATIC;
        m->body = ESYNC_BODY_NONE;
        return 0;
    }
    m->allow = ESYNC_GET | ESYNC_HEAD;
    return 405;
}
