/* libFuzzer target: the server's request parsing and body validation, everything that sees
 * client bytes before Postgres does (src/server: routes, static paths, Content-Type, JSON bodies,
 * UUIDs, the migration journal parser, URL redaction).
 *
 * Input: "<METHOD> <path>\n<content-type>\n<body>". Besides crashes and sanitizer reports, the
 * target aborts when an accepted input breaks a promise the handlers rely on (a static path that
 * could leave its root, a body accepted with invalid UTF-8 or an empty title, ...).
 */
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/body.h"
#include "common.h"
#include "api/migrate.h"
#include "http/routes.h"
#include "http/static_path.h"
#include "http/validate.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

/* The next line of [*p, end) as a NUL-terminated copy (cut at a NUL, like a C string header). */
static char *take_line(const uint8_t **p, const uint8_t *end) {
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    const uint8_t *stop = nl ? nl : end;
    char *s = esync__xstrndup((const char *)*p, (size_t)(stop - *p));
    *p = nl ? nl + 1 : end;
    return s;
}

static void check_static(const char *path) {
    char rel[256];
    esync_static_root root;
    if (esync_static_resolve(path, &root, rel, sizeof rel) != 0) return;
    CHECK(rel[0] != '/' && rel[0] != '\0');
    CHECK(strlen(rel) < sizeof rel);
    /* no segment may be "..", "." or empty */
    for (const char *s = rel; *s;) {
        size_t n = strcspn(s, "/");
        CHECK(n > 0 && s[0] != '.');
        s += n;
        if (*s == '/') s++;
    }
    (void)esync_static_mime(rel);
}

static void check_bodies(const char *body, size_t len) {
    esync_error err;
    esync_item_input in;
    bool utf8 = esync_utf8_valid(body, len);
    for (int create = 0; create < 2; create++) {
        if (esync_body_item(body, len, create, &in, &err) == 0) {
            CHECK(utf8);
            CHECK(!create || (in.has_title && in.title[0]));
            CHECK(!in.has_title || (in.title && esync_utf8_valid(in.title, strlen(in.title))));
            CHECK(!in.has_id || esync_uuid_valid(in.id));
            esync_item_input_free(&in);
        } else {
            CHECK(err.status == 400 && err.code);
        }
    }
    int count = 0;
    if (esync_body_seed(body, len, &count, &err) == 0) CHECK(count >= 1 && count <= ESYNC_SEED_MAX);
    esync_journal j;
    char msg[128];
    if (esync_journal_parse(body, len, &j, msg, sizeof msg) == 0) esync_journal_free(&j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *p = data, *end = data + size;
    char *line = take_line(&p, end);
    char *ctype = take_line(&p, end);
    const char *body = (const char *)p;
    size_t len = (size_t)(end - p);

    char *sp = strchr(line, ' ');
    const char *path = sp ? sp + 1 : "/";
    if (sp) *sp = '\0';
    unsigned method = esync_method_parse(line);
    char allow[64];
    for (unsigned flags = 0; flags <= (ESYNC_ROUTES_DEV | ESYNC_ROUTES_SHAPE_API); flags++) {
        esync_route_match m;
        int rc = esync_route_find(method, path, flags, &m);
        CHECK(rc == 0 || rc == 404 || rc == 405);
        /* a route that is not served is never matched, whatever the spelling */
        if (!(flags & ESYNC_ROUTES_SHAPE_API)) CHECK(rc == 404 || m.id != ESYNC_ROUTE_SHAPE);
        if (!(flags & ESYNC_ROUTES_DEV))
            CHECK(rc != 0 || (m.id != ESYNC_ROUTE_DEV_SEED && m.id != ESYNC_ROUTE_DEV_RESET));
        if (rc == 405) {
            CHECK(m.allow != 0);
            esync_method_list(m.allow, allow, sizeof allow);
        }
        if (rc == 0 && m.param) {
            CHECK(m.param >= path && m.param + m.param_len <= path + strlen(path));
            char id[64] = {0};
            if (m.param_len < sizeof id) memcpy(id, m.param, m.param_len);
            (void)esync_uuid_valid(id);
        }
    }
    check_static(path);
    char *unescaped = esync__xstrdup(path);
    size_t ulen = esync_url_unescape(unescaped);
    CHECK(ulen == strlen(unescaped) && ulen <= strlen(path));
    check_static(unescaped);
    free(unescaped);
    (void)esync_ctype_classify(ctype);
    (void)esync_uuid_valid(ctype);
    free(esync__redact_url(ctype));
    check_bodies(body, len);

    free(line);
    free(ctype);
    return 0;
}
