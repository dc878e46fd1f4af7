/* Unit tests of src/server's pure modules: UTF-8, UUIDs, Content-Type, URL unescaping, password
 * redaction, routes, static paths, body schemas, the migration journal parser. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/body.h"
#include "common.h"
#include "api/migrate.h"
#include "http/routes.h"
#include "http/static_path.h"
#include "http/validate.h"

static int failures;
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void test_utf8(void) {
    static const struct {
        const char *s;
        size_t n;
        int ok;
    } cases[] = {
        {"", 0, 1},
        {"plain ascii", 11, 1},
        {"\xc3\xa9", 2, 1},         /* é */
        {"\xe2\x82\xac", 3, 1},     /* € */
        {"\xf0\x9f\x98\x80", 4, 1}, /* 😀 */
        {"\xf4\x8f\xbf\xbf", 4, 1}, /* U+10FFFF */
        {"\xef\xbb\xbf", 3, 1},     /* BOM is a character */
        {"\x00", 1, 1},             /* NUL is valid UTF-8 (refused elsewhere) */
        {"\xff", 1, 0},
        {"\xc0\xaf", 2, 0}, /* overlong / */
        {"\xc1\xbf", 2, 0},
        {"\xe0\x80\xaf", 3, 0},     /* overlong */
        {"\xed\xa0\x80", 3, 0},     /* surrogate */
        {"\xf0\x80\x80\xaf", 4, 0}, /* overlong */
        {"\xf4\x90\x80\x80", 4, 0}, /* > U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 0},
        {"\xe2\x82", 2, 0}, /* truncated */
        {"\x80", 1, 0},     /* lone continuation */
        {"a\xc3", 2, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(esync_utf8_valid(cases[i].s, cases[i].n) == cases[i].ok);
}

static void test_uuid(void) {
    CHECK(esync_uuid_valid("0b7e3a0c-7d8e-4a55-9a6e-2f4f5a1b2c3d"));
    CHECK(esync_uuid_valid("0B7E3A0C-7D8E-4A55-9A6E-2F4F5A1B2C3D"));
    CHECK(!esync_uuid_valid("0b7e3a0c7d8e4a559a6e2f4f5a1b2c3d"));
    CHECK(!esync_uuid_valid("{0b7e3a0c-7d8e-4a55-9a6e-2f4f5a1b2c3d}"));
    CHECK(!esync_uuid_valid("0b7e3a0c-7d8e-4a55-9a6e-2f4f5a1b2c3"));
    CHECK(!esync_uuid_valid("0b7e3a0c-7d8e-4a55-9a6e-2f4f5a1b2c3dd"));
    CHECK(!esync_uuid_valid("0b7e3a0c-7d8e-4a55-9a6e-2f4f5a1b2c3g"));
    CHECK(!esync_uuid_valid(""));
    CHECK(!esync_uuid_valid("' OR 1=1 --"));
}

static void test_ctype(void) {
    CHECK(esync_ctype_classify(NULL) == ESYNC_CTYPE_MISSING);
    CHECK(esync_ctype_classify("application/json") == ESYNC_CTYPE_JSON);
    CHECK(esync_ctype_classify("Application/JSON") == ESYNC_CTYPE_JSON);
    CHECK(esync_ctype_classify(" application/json ; charset=UTF-8") == ESYNC_CTYPE_JSON);
    CHECK(esync_ctype_classify("application/json;charset=\"utf-8\"") == ESYNC_CTYPE_JSON);
    CHECK(esync_ctype_classify("application/json; foo=bar") == ESYNC_CTYPE_JSON);
    CHECK(esync_ctype_classify("application/json; charset=latin1") == ESYNC_CTYPE_OTHER);
    CHECK(esync_ctype_classify("application/json; charset=") == ESYNC_CTYPE_OTHER);
    CHECK(esync_ctype_classify("application/jsonx") == ESYNC_CTYPE_OTHER);
    CHECK(esync_ctype_classify("text/json") == ESYNC_CTYPE_OTHER);
    CHECK(esync_ctype_classify("") == ESYNC_CTYPE_OTHER);
}

static void test_unescape(void) {
    static const char *const cases[][2] = {
        {"/a%20b", "/a b"}, {"/%2e%2e/x", "/../x"}, {"/%00x", "/%00x"},   {"/%zz%4", "/%zz%4"},
        {"%", "%"},         {"/a+b", "/a+b"},       {"%41%42%43", "ABC"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", cases[i][0]);
        size_t n = esync_url_unescape(buf);
        CHECK(strcmp(buf, cases[i][1]) == 0);
        CHECK(n == strlen(cases[i][1]));
    }
}

static void test_redact(void) {
    static const char *const cases[][2] = {
        {"postgresql://bob:hunter2@host:5432/db", "postgresql://bob:***@host:5432/db"},
        {"postgresql://bob@host/db", "postgresql://bob@host/db"},
        {"postgresql://b:p@ss@host/db", "postgresql://b:***@host/db"},
        {"postgresql:///db?host=/tmp&password=hunter2&user=x",
         "postgresql:///db?host=/tmp&password=***&user=x"},
        {"host=/tmp password=hunter2 user=x", "host=/tmp password=*** user=x"},
        {"host=/tmp password='a b\\' c' user=x", "host=/tmp password=*** user=x"},
        {"host=/tmp mypassword=x", "host=/tmp mypassword=x"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *r = esync__redact_url(cases[i][0]);
        if (strcmp(r, cases[i][1]) != 0) fprintf(stderr, "redact: got %s\n", r);
        CHECK(strcmp(r, cases[i][1]) == 0);
        free(r);
    }
}

static void test_secret_equal(void) {
    CHECK(esync__secret_equal("s3cret", "s3cret"));
    CHECK(!esync__secret_equal("s3cres", "s3cret"));
    CHECK(!esync__secret_equal("s3cre", "s3cret"));
    CHECK(!esync__secret_equal("s3cret!", "s3cret"));
    CHECK(!esync__secret_equal("", "s3cret"));
    CHECK(!esync__secret_equal(NULL, "s3cret"));
    CHECK(!esync__secret_equal("S3CRET", "s3cret"));
    CHECK(esync__secret_equal("", ""));
}

static void test_routes(void) {
    esync_route_match m;
    CHECK(esync_route_find(ESYNC_GET, "/api/schema/version", 0, &m) == 0 &&
          m.id == ESYNC_ROUTE_SCHEMA_VERSION);
    CHECK(esync_route_find(ESYNC_HEAD, "/api/schema/version", 0, &m) == 0);
    CHECK(esync_route_find(ESYNC_POST, "/api/schema/version", 0, &m) == 405 &&
          m.allow == (ESYNC_GET | ESYNC_HEAD));
    CHECK(esync_route_find(ESYNC_POST, "/api/dev/seed", 0, &m) == 404);
    CHECK(esync_route_find(ESYNC_POST, "/api/dev/seed", ESYNC_ROUTES_DEV, &m) == 0 &&
          m.id == ESYNC_ROUTE_DEV_SEED);
    CHECK(esync_route_find(ESYNC_POST, "/api/dev/reset", ESYNC_ROUTES_DEV, &m) == 0 &&
          m.body == ESYNC_BODY_OPTIONAL);
    CHECK(esync_route_find(ESYNC_POST, "/api/test-items", 0, &m) == 0 &&
          m.body == ESYNC_BODY_REQUIRED);
    CHECK(esync_route_find(ESYNC_PUT, "/api/test-items/abc", 0, &m) == 0 &&
          m.id == ESYNC_ROUTE_ITEMS_UPDATE && m.param_len == 3 && memcmp(m.param, "abc", 3) == 0);
    CHECK(esync_route_find(ESYNC_DELETE, "/api/test-items/abc", 0, &m) == 0 &&
          m.id == ESYNC_ROUTE_ITEMS_DELETE);
    CHECK(esync_route_find(ESYNC_PATCH, "/api/test-items/abc", 0, &m) == 405 &&
          m.allow == (ESYNC_PUT | ESYNC_DELETE));
    CHECK(esync_route_find(ESYNC_DELETE, "/api/test-items/", 0, &m) == 404);
    CHECK(esync_route_find(ESYNC_DELETE, "/api/test-items/a/b", 0, &m) == 404);
    CHECK(esync_route_find(ESYNC_GET, "/api/nope", 0, &m) == 404);
    CHECK(esync_route_find(ESYNC_GET, "/v1/nothing", 0, &m) == 404);
    CHECK(esync_route_find(ESYNC_GET, "/index.html", 0, &m) == 0 && m.id == ESYNC_ROUTE_STATIC);
    CHECK(esync_route_find(ESYNC_POST, "/index.html", 0, &m) == 405);
    CHECK(esync_method_parse("GET") == ESYNC_GET && esync_method_parse("get") == ESYNC_OTHER);
    char allow[64];
    esync_method_list(ESYNC_GET | ESYNC_HEAD | ESYNC_DELETE, allow, sizeof allow);
    CHECK(strcmp(allow, "GET, HEAD, DELETE") == 0);
    /* /v1/shape exists only when served on this listener; the proxy always does */
    const unsigned all = ESYNC_ROUTES_DEV | ESYNC_ROUTES_SHAPE_API;
    const char *const shape_paths[] = {"/v1/shape", "/v1/shape/", "/v1//shape", "/v1/shape//"};
    for (size_t i = 0; i < sizeof shape_paths / sizeof shape_paths[0]; i++) {
        CHECK(esync_route_find(ESYNC_GET, shape_paths[i], ESYNC_ROUTES_SHAPE_API, &m) == 0 &&
              m.id == ESYNC_ROUTE_SHAPE);
        CHECK(esync_route_find(ESYNC_GET, shape_paths[i], ESYNC_ROUTES_DEV, &m) == 404);
        CHECK(esync_route_find(ESYNC_OPTIONS, shape_paths[i], 0, &m) == 404);
        CHECK(esync_route_find(ESYNC_POST, shape_paths[i], 0, &m) == 404);
    }
    CHECK(esync_route_find(ESYNC_POST, "/v1/shape", all, &m) == 405);
    CHECK(esync_route_find(ESYNC_GET, "/api/electric/v1/shape", 0, &m) == 0 &&
          m.id == ESYNC_ROUTE_SHAPE_PROXY);
    /* the health routes, in every mode */
    for (unsigned f = 0; f <= all; f++) {
        CHECK(esync_route_find(ESYNC_GET, "/api/health", f, &m) == 0 && m.id == ESYNC_ROUTE_HEALTH);
        CHECK(esync_route_find(ESYNC_HEAD, "/v1/health", f, &m) == 0 &&
              m.id == ESYNC_ROUTE_HEALTH_V1);
        CHECK(esync_route_find(ESYNC_POST, "/v1/health", f, &m) == 405);
    }
}

static void test_static(void) {
    char rel[64];
    esync_static_root root;
    CHECK(esync_static_resolve("/", &root, rel, sizeof rel) == 0 && root == ESYNC_ROOT_WEB &&
          strcmp(rel, "index.html") == 0);
    CHECK(esync_static_resolve("/dev/sync-test/", &root, rel, sizeof rel) == 0 &&
          strcmp(rel, "dev/sync-test/index.html") == 0);
    CHECK(esync_static_resolve("/dev/sync-test", &root, rel, sizeof rel) == 0 &&
          strcmp(rel, "dev/sync-test") == 0);
    CHECK(esync_static_resolve("/wasm/electric-sync.wasm", &root, rel, sizeof rel) == 0 &&
          root == ESYNC_ROOT_WASM && strcmp(rel, "electric-sync.wasm") == 0);
    CHECK(esync_static_resolve("/wasm/other", &root, rel, sizeof rel) == 0 &&
          root == ESYNC_ROOT_WEB);
    const char *bad[] = {"/../x",        "/a/../x",   "/./x", "//x",    "/a//b",
                         "/.git/config", "/a\\..\\b", "x",    "/a/\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(esync_static_resolve(bad[i], &root, rel, sizeof rel) == -1);
    char tiny[8];
    CHECK(esync_static_resolve("/abcdefghij", &root, tiny, sizeof tiny) == -1);
    CHECK(esync_static_resolve("/", &root, tiny, sizeof tiny) == -1); /* index.html does not fit */
    CHECK(strcmp(esync_static_mime("a/b.wasm"), "application/wasm") == 0);
    CHECK(strcmp(esync_static_mime("x.js"), "text/javascript; charset=utf-8") == 0);
    CHECK(strcmp(esync_static_mime("dir.d/file"), "application/octet-stream") == 0);
}

static int item(const char *json, int create, esync_item_input *in, esync_error *e) {
    return esync_body_item(json, strlen(json), create, in, e);
}

static void test_bodies(void) {
    esync_item_input in;
    esync_error e;
    CHECK(item("{\"title\":\"t\",\"description\":null,\"completed\":true}", 1, &in, &e) == 0);
    CHECK(in.has_title && strcmp(in.title, "t") == 0 && in.has_description &&
          in.description == NULL && in.completed);
    esync_item_input_free(&in);
    CHECK(item("  {\"id\":\"0b7e3a0c-7d8e-4a55-9a6e-2f4f5a1b2c3d\",\"title\":\"t\"}\n", 1, &in,
               &e) == 0 &&
          in.has_id);
    esync_item_input_free(&in);
    CHECK(item("{}", 0, &in, &e) == 0 && !in.has_title && !in.has_description && !in.has_completed);
    esync_item_input_free(&in);
    static const struct {
        const char *json;
        int create;
        const char *code;
    } bad[] = {
        {"{}", 1, "invalid_body"},
        {"{\"title\":\"\"}", 1, "invalid_body"},
        {"{\"title\":\"x\",\"title\":\"y\"}", 1, "invalid_body"},
        {"{\"title\":\"x\",\"x\":1}", 1, "invalid_body"},
        {"{\"id\":\"0b7e3a0c-7d8e-4a55-9a6e-2f4f5a1b2c3d\"}", 0, "invalid_body"},
        {"{\"id\":\"nope\",\"title\":\"x\"}", 1, "invalid_id"},
        {"{\"title\":\"x\"} x", 1, "invalid_json"},
        {"{\"title\":\"a\\u0000b\"}", 1, "invalid_json"},
        {"{\"title\":\"a\tb\"}", 1, "invalid_json"},
        {"{\"title\":\"\\ud800\"}", 1, "invalid_json"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 1, "invalid_json"},
        {"", 1, "invalid_json"},
        {"[]", 1, "invalid_body"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = item(bad[i].json, bad[i].create, &in, &e);
        CHECK(rc == -1 && e.status == 400 && strcmp(e.code, bad[i].code) == 0);
        if (rc == 0) esync_item_input_free(&in);
    }
    /* 32 levels are fine for the parser (then the schema refuses). */
    char deep[80] = "{\"title\":";
    for (int i = 0; i < 31; i++) strcat(deep, "[");
    for (int i = 0; i < 31; i++) strcat(deep, "]");
    strcat(deep, "}");
    CHECK(item(deep, 1, &in, &e) == -1 && strcmp(e.code, "invalid_body") == 0);

    int count;
    CHECK(esync_body_seed("", 0, &count, &e) == 0 && count == ESYNC_SEED_DEFAULT);
    CHECK(esync_body_seed(" \n", 2, &count, &e) == 0 && count == ESYNC_SEED_DEFAULT);
    CHECK(esync_body_seed("{\"count\":1e3}", 13, &count, &e) == 0 && count == 1000);
    const char *bad_seed[] = {
        "{\"count\":0}",     "{\"count\":10001}", "{\"count\":1.5}", "{\"count\":\"5\"}",
        "{\"count\":1e400}", "{\"count\":-1}",    "{\"n\":1}",       "5"};
    for (size_t i = 0; i < sizeof bad_seed / sizeof bad_seed[0]; i++)
        CHECK(esync_body_seed(bad_seed[i], strlen(bad_seed[i]), &count, &e) == -1 &&
              e.status == 400);
}

static void test_journal(void) {
    esync_journal j;
    char err[128];
    const char *ok = "{\"entries\":[{\"idx\":0,\"when\":1700000000000,\"tag\":\"0000_a\"},"
                     "{\"idx\":1,\"when\":1700000000001,\"tag\":\"0001_b-c\"}]}";
    CHECK(esync_journal_parse(ok, strlen(ok), &j, err, sizeof err) == 0 && j.count == 2 &&
          j.entries[1].when == 1700000000001LL && strcmp(j.entries[1].tag, "0001_b-c") == 0);
    esync_journal_free(&j);
    const char *bad[] = {"{}",
                         "[]",
                         "{\"entries\":[{\"when\":1,\"tag\":\"../etc\"}]}",
                         "{\"entries\":[{\"when\":1.5,\"tag\":\"a\"}]}",
                         "{\"entries\":[{\"tag\":\"a\"}]}",
                         "nope"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(esync_journal_parse(bad[i], strlen(bad[i]), &j, err, sizeof err) == -1);
}

int main(void) {
    test_utf8();
    test_uuid();
    test_ctype();
    test_unescape();
    test_redact();
    test_secret_equal();
    test_routes();
    test_static();
    test_bodies();
    test_journal();
    if (failures) {
        fprintf(stderr, "test_server_lib: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_server_lib: ok\n");
    return 0;
}
