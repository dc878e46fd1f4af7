/*
 * API contract tests for esync.h that the golden fixtures do not reach: the library version,
 * setup, argument checking, error codes and messages, shape definitions, reads, status, type
 * lists, memory returning to its baseline.
 */
#define _POSIX_C_SOURCE 200809L
#include "esync.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *SCHEMA =
    "{\"id\":{\"type\":\"int8\",\"pk_index\":0,\"not_null\":true},\"v\":{\"type\":\"float8\"},"
    "\"a\":{\"type\":\"int8\",\"dims\":1},\"t\":{\"type\":\"text\"}}";

static esync *open_db(char **path) {
    *path = harness_tmpdb();
    esync_options o = {.path = *path, .seed = 1};
    esync *e = NULL;
    CHECK_EQ_INT(esync_open(&o, &e), ESYNC_OK);
    return e;
}

static int ingest(esync *e, const char *shape, int status, const char *handle, const char *offset,
                  const char *schema, int utd, const char *body, char **changes) {
    esync_response r = {.status = status,
                        .handle = handle,
                        .offset = offset,
                        .schema = schema,
                        .up_to_date = utd,
                        .body = (const uint8_t *)body,
                        .body_len = body ? strlen(body) : 0,
                        .now_ms = 5};
    return esync_ingest(e, shape, &r, changes, NULL);
}

/* The version macros, esync_libversion and package.json's "version" agree. */
static void test_version(void) {
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", ESYNC_VERSION_MAJOR, ESYNC_VERSION_MINOR,
             ESYNC_VERSION_PATCH);
    CHECK(!strcmp(v, ESYNC_VERSION_STRING));
    CHECK(!strcmp(esync_libversion(), ESYNC_VERSION_STRING));
    FILE *f = fopen("package.json", "r"); /* ctest runs the tests from the source tree */
    CHECK(f != NULL);
    if (!f) return;
    char pkg[4096];
    size_t n = fread(pkg, 1, sizeof pkg - 1, f);
    fclose(f);
    pkg[n] = 0;
    char want[64];
    snprintf(want, sizeof want, "\"version\": \"%s\"", ESYNC_VERSION_STRING);
    CHECK(strstr(pkg, want) != NULL);
}

/* esync_initialize is idempotent, and esync_open works after it (it calls it again). */
static void test_initialize(void) {
    CHECK_EQ_INT(esync_initialize(), ESYNC_OK);
    CHECK_EQ_INT(esync_initialize(), ESYNC_OK);
    char *path = NULL;
    esync *e = open_db(&path);
    esync_close(e);
    harness_rmdb(path);
}

static void test_errors(void) {
    CHECK(!strcmp(esync_strerror(ESYNC_OK), "ok"));
    CHECK(!strcmp(esync_errname(ESYNC_EJSON), "ESYNC_EJSON"));
    CHECK(!strcmp(esync_strerror(ESYNC_EVALUE), "value does not fit its column"));
    CHECK(!strcmp(esync_strerror(-999), "unknown error"));
    CHECK(!strcmp(esync_errname(-999), "EUNKNOWN"));
    CHECK(!strcmp(esync_errname(ESYNC_EPENDING), "ESYNC_EPENDING"));
    CHECK(!strcmp(esync_errname(ESYNC_EAUTH), "ESYNC_EAUTH"));
    CHECK_EQ_INT(ESYNC_EPENDING, -15);
    CHECK_EQ_INT(ESYNC_EAUTH, -16);
    for (int c = ESYNC_EAUTH; c <= ESYNC_ENOMEM; c++)
        CHECK(strcmp(esync_errname(c), "EUNKNOWN") != 0);
    CHECK_EQ_INT(esync_errcode(NULL), ESYNC_EINVAL);
    CHECK(!strcmp(esync_errmsg(NULL), "no engine"));
}

static void test_open(void) {
    esync *e = (esync *)1;
    CHECK_EQ_INT(esync_open(NULL, &e), ESYNC_EINVAL);
    CHECK(e == NULL);
    esync_options mem = {":memory:", NULL, 0, 0, NULL};
    CHECK_EQ_INT(esync_open(&mem, &e), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_open(&mem, NULL), ESYNC_EINVAL);
    esync_options bad = {"/nonexistent-dir/x/y.db", NULL, 0, 0, NULL};
    CHECK_EQ_INT(esync_open(&bad, &e), ESYNC_ESQLITE);
    CHECK(e == NULL);
    esync_close(NULL);
    /* journal modes */
    char *path = harness_tmpdb();
    esync_options wal = {path, NULL, 0, 0, "wal"};
    CHECK_EQ_INT(esync_open(&wal, &e), ESYNC_OK);
    esync_close(e);
    char w[600];
    snprintf(w, sizeof w, "%s-wal", path);
    remove(w);
    harness_rmdb(path);
}

static void test_define(void) {
    char *path;
    esync *e = open_db(&path);
    const char *bad[] = {"not json",
                         "[]",
                         "{}",
                         "{\"table\":\"\"}",
                         "{\"table\":5}",
                         "{\"table\":\"a\",\"x\":1}",
                         "{\"table\":\".x\"}",
                         "{\"table\":\"a.\"}",
                         "{\"table\":\"\\\"unterminated\"}",
                         "{\"table\":\"esync_meta\"}",
                         "{\"table\":\"sqlite_master\"}",
                         "{\"table\":\"a\",\"where\":5}",
                         "{\"table\":\"a\",\"params\":5}",
                         "{\"table\":\"a\",\"params\":[{}]}",
                         "{\"table\":\"a\",\"params\":{\"2\":\"x\"}}",
                         "{\"table\":\"a\",\"columns\":[]}",
                         "{\"table\":\"a\",\"columns\":[\"\"]}",
                         "{\"table\":\"a\",\"columns\":5}",
                         "{\"table\":\"a\",\"replica\":\"half\"}",
                         "{\"table\":\"a\",\"replica\":1}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = esync_shape_define(e, "s", bad[i]);
        if (rc != ESYNC_EINVAL) fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK_EQ_INT(rc, ESYNC_EINVAL);
        CHECK(esync_errmsg(e)[0] != 0);
        char *q = (char *)1;
        CHECK_EQ_INT(esync_shape_first_request(bad[i], &q, NULL), ESYNC_EINVAL);
        CHECK(q == NULL);
    }
    CHECK_EQ_INT(esync_shape_define(e, "", "{\"table\":\"a\"}"), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_shape_define(e, NULL, "{\"table\":\"a\"}"), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_shape_define(e, "s", NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_shape_define(NULL, "s", "{}"), ESYNC_EINVAL);
    /* every accepted form, and the request they make (the same without an engine) */
    const char *def1 =
        "{\"table\":\"Public.\\\"My\\\"\\\"T\\\"\",\"where\":\"x > $1 AND y = $2\","
        "\"params\":{\"1\":5,\"2\":true},\"columns\":[\"id\",\"Weird Col\"],\"replica\":\"full\"}";
    const char *def2 = "{\"table\":\"b\",\"params\":[\"x\", 1.5, false],\"columns\":\"id,v\","
                       "\"where\":null,\"replica\":\"default\"}";
    CHECK_EQ_INT(esync_shape_define(e, "s1", def1), ESYNC_OK);
    esync_request rq;
    CHECK_EQ_INT(esync_next_request(e, "s1", &rq), ESYNC_OK);
    CHECK_EQ_INT(rq.action, ESYNC_ACT_FETCH);
    CHECK(
        !strcmp(rq.query,
                "table=Public.%22My%22%22T%22&offset=-1&where=x%20%3E%20%241%20AND%20y%20%3D%20%242"
                "&params%5B1%5D=5&params%5B2%5D=true&columns=id%2C%22Weird%20Col%22&replica=full"));
    char *first = NULL;
    size_t first_len = 0;
    CHECK_EQ_INT(esync_shape_first_request(def1, &first, &first_len), ESYNC_OK);
    CHECK(first && !strcmp(first, rq.query) && first_len == strlen(first));
    esync_free(first);
    CHECK_EQ_INT(esync_shape_define(e, "s2", def2), ESYNC_OK);
    CHECK_EQ_INT(esync_next_request(e, "s2", &rq), ESYNC_OK);
    CHECK_EQ_INT(esync_shape_first_request(def2, &first, NULL), ESYNC_OK);
    CHECK(first && !strcmp(first, rq.query));
    esync_free(first);
    CHECK_EQ_INT(esync_shape_first_request(NULL, &first, NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_shape_first_request(def2, NULL, NULL), ESYNC_EINVAL);
    /* same table twice */
    CHECK_EQ_INT(esync_shape_define(e, "s3", "{\"table\":\"public.b\"}"), ESYNC_EINVAL);
    CHECK(strstr(esync_errmsg(e), "already synced") != NULL);
    /* redefinition with the same definition is a no-op; with another it replaces */
    CHECK_EQ_INT(
        esync_shape_define(e, "s2",
                           "{\"table\":\"b\",\"params\":[\"x\", 1.5, false],\"columns\":\"id,v\"}"),
        ESYNC_OK);
    CHECK_EQ_INT(esync_shape_define(e, "s2", "{\"table\":\"c\"}"), ESYNC_OK);
    CHECK_EQ_INT(esync_next_request(e, "nope", &rq), ESYNC_ENOSHAPE);
    CHECK_EQ_INT(esync_next_request(NULL, "s1", &rq), ESYNC_EINVAL);
    char *out = NULL;
    size_t len = 0;
    CHECK_EQ_INT(esync_status(e, &out, &len), ESYNC_OK);
    CHECK(strstr(out, "\"shapeName\":\"s1\"") && strstr(out, "\"tableName\":\"My\\\"T\"") &&
          strstr(out, "\"phase\":\"initial-sync\""));
    CHECK(len == strlen(out));
    esync_free(out);
    CHECK_EQ_INT(esync_status(NULL, &out, NULL), ESYNC_EINVAL);
    esync_close(e);
    harness_rmdb(path);
}

static void test_types_and_query(void) {
    char *path;
    esync *e = open_db(&path);
    CHECK_EQ_INT(esync_shape_define(e, "n", "{\"table\":\"nums\"}"), ESYNC_OK);
    char *out = NULL;
    CHECK_EQ_INT(esync_shape_types(e, "n", &out, NULL), ESYNC_OK);
    CHECK(!strcmp(out, "{}"));
    esync_free(out);
    CHECK_EQ_INT(esync_shape_types(e, "zz", &out, NULL), ESYNC_ENOSHAPE);
    char *changes = NULL;
    CHECK_EQ_INT(
        ingest(
            e, "n", 200, "h", "0_inf", SCHEMA, 1,
            "[{\"key\":\"k1\",\"value\":{\"id\":\"9007199254740993\",\"v\":\"-Infinity\",\"a\":\"{1,NULL,-9223372036854775808}\",\"t\":\"x\\u00e9\\ud83d\\ude00\"},\"headers\":{\"operation\":\"insert\"}},"
            "{\"key\":\"k2\",\"value\":{\"id\":\"2\",\"v\":\"0.1\",\"a\":null,\"t\":null},\"headers\":{\"operation\":\"insert\"}}]",
            &changes),
        ESYNC_OK);
    CHECK(
        changes &&
        strstr(
            changes,
            "\"id\":\"9007199254740993\",\"v\":\"-Infinity\",\"a\":[\"1\",null,\"-9223372036854775808\"],\"t\":\"x\xc3\xa9\xf0\x9f\x98\x80\""));
    CHECK(changes && strstr(changes, "\"v\":0.1"));
    esync_free(changes);
    CHECK_EQ_INT(esync_shape_types(e, "n", &out, NULL), ESYNC_OK);
    CHECK(!strcmp(out, "{\"id\":\"int8\",\"v\":\"float\",\"a\":\"int8\"}"));
    esync_free(out);
    /* typed reads, parameters of every kind */
    CHECK_EQ_INT(
        esync_query(
            e,
            "SELECT id, v, a, t, 1.5 AS f, x'00ff' AS b, NULL AS z, ?1 AS p1, ?2 AS p2, ?3 AS p3, ?4 AS p4, ?5 AS p5 FROM nums WHERE id = 2",
            "[true, null, \"s\", 3, 2.5]", &out, NULL),
        ESYNC_OK);
    CHECK(
        out &&
        !strcmp(
            out,
            "[{\"id\":\"2\",\"v\":0.1,\"a\":null,\"t\":null,\"f\":1.5,\"b\":\"\\\\x00ff\",\"z\":null,\"p1\":1,\"p2\":null,\"p3\":\"s\",\"p4\":3,\"p5\":2.5}]"));
    esync_free(out);
    CHECK_EQ_INT(esync_query(e, "SELECT ?1", "[1, 2]", &out, NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_query(e, "SELECT ?1", "{\"a\":1}", &out, NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_query(e, "SELECT ?1", "[[1]]", &out, NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_query(e, "SELEC 1", NULL, &out, NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_query(e, "   ", NULL, &out, NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_query(e, NULL, NULL, &out, NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_query(e, "SELECT 1; SELECT 2", NULL, &out, NULL), ESYNC_EREADONLY);
    CHECK_EQ_INT(esync_query(e, "DELETE FROM nums", NULL, &out, NULL), ESYNC_EREADONLY);
    CHECK_EQ_INT(esync_query(e, "SELECT 1;;  ", NULL, &out, NULL), ESYNC_OK);
    esync_free(out);
    CHECK_EQ_INT(esync_query(e, "SELECT count(*) AS n FROM nums", "", &out, NULL), ESYNC_OK);
    CHECK(!strcmp(out, "[{\"n\":2}]"));
    esync_free(out);
    CHECK_EQ_INT(esync_query(NULL, "SELECT 1", NULL, &out, NULL), ESYNC_EINVAL);
    /* ingest argument checks */
    CHECK_EQ_INT(esync_ingest(e, "n", NULL, &changes, NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(ingest(e, "zz", 200, "h", "1_0", NULL, 1, "[]", &changes), ESYNC_ENOSHAPE);
    CHECK_EQ_INT(esync_ingest(NULL, "n", NULL, &changes, NULL), ESYNC_EINVAL);
    /* version */
    CHECK(esync_version(e) == NULL);
    CHECK_EQ_INT(esync_version_check(e, "", &out, NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_version_check(e, "v1", &out, NULL), 0);
    CHECK(out == NULL && !strcmp(esync_version(e), "v1"));
    CHECK_EQ_INT(esync_version_check(e, "v1", &out, NULL), 0);
    CHECK_EQ_INT(esync_version_check(NULL, "v1", &out, NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_reset(NULL, &out, NULL), ESYNC_EINVAL);
    esync_close(e);
    /* the version survives a restart */
    esync_options o = {.path = path, .seed = 1};
    CHECK_EQ_INT(esync_open(&o, &e), ESYNC_OK);
    CHECK(esync_version(e) && !strcmp(esync_version(e), "v1"));
    esync_close(e);
    harness_rmdb(path);
}

static void test_memory_baseline(void) {
    int64_t before = esync_memory_used();
    char *path;
    esync *e = open_db(&path);
    CHECK_EQ_INT(esync_shape_define(e, "n", "{\"table\":\"nums\"}"), ESYNC_OK);
    char *changes = NULL;
    CHECK_EQ_INT(
        ingest(
            e, "n", 200, "h", "0_0", SCHEMA, 0,
            "[{\"key\":\"k1\",\"value\":{\"id\":\"1\",\"v\":\"1\",\"a\":null,\"t\":\"x\"},\"headers\":{\"operation\":\"insert\"}}]",
            &changes),
        ESYNC_OK);
    /* an open batch, a queued response of another shape, then close: nothing may leak */
    CHECK_EQ_INT(esync_shape_define(e, "m", "{\"table\":\"more\"}"), ESYNC_OK);
    CHECK_EQ_INT(
        ingest(
            e, "n", 200, "h", "0_0", SCHEMA, 0,
            "[{\"key\":\"k2\",\"value\":{\"id\":\"2\",\"v\":\"1\",\"a\":null,\"t\":\"x\"},\"headers\":{\"operation\":\"insert\"}}]",
            &changes),
        ESYNC_OK);
    CHECK(esync_memory_used() > before);
    CHECK(esync_memory_highwater(0) >= esync_memory_used());
    esync_close(e);
    CHECK_EQ_INT(esync_memory_used(), before);
    harness_rmdb(path);
}

/* A body of n insert messages of table nums, ids from id0 (a malformed one when bad). */
static char *rows_body(int id0, int n, int bad) {
    size_t cap = (size_t)n * 120 + 16, len = 0;
    char *b = malloc(cap);
    b[len++] = '[';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(
            b + len, cap - len,
            "%s{\"key\":\"k%d\",\"value\":{\"id\":\"%d\",\"v\":\"%d.5\",\"a\":null,"
            "\"t\":\"row %d\"},\"headers\":{\"operation\":\"insert\"}}",
            i ? "," : "", id0 + i, id0 + i, i, id0 + i);
    if (bad) len += (size_t)snprintf(b + len, cap - len, ",{\"key\":");
    b[len++] = ']';
    b[len] = 0;
    return b;
}

static long count_rows(esync *e, const char *table) {
    char sql[80], *out = NULL;
    snprintf(sql, sizeof sql, "SELECT count(*) AS n FROM %s", table);
    if (esync_query(e, sql, NULL, &out, NULL) != ESYNC_OK) return -1;
    long n = -1;
    const char *p = out ? strstr(out, "\"n\":") : NULL;
    if (p) n = strtol(p + 4, NULL, 10);
    esync_free(out);
    return n;
}

/* esync_set_ingest_slice: a response applied over several calls gives the replica, the offset
 * and the events of one call; a malformed body changes nothing; while one is pending, another
 * shape's response waits, the same shape's is refused; abort and close drop it. */
static void test_sliced_ingest(void) {
    char *path, *path2;
    esync *e = open_db(&path), *w = open_db(&path2);
    CHECK_EQ_INT(esync_shape_define(e, "n", "{\"table\":\"nums\"}"), ESYNC_OK);
    CHECK_EQ_INT(esync_shape_define(e, "m", "{\"table\":\"more\"}"), ESYNC_OK);
    CHECK_EQ_INT(esync_shape_define(w, "n", "{\"table\":\"nums\"}"), ESYNC_OK);
    esync_set_ingest_slice(e, 1000); /* ~9 messages per slice */
    char *body = rows_body(1, 100, 0), *changes = NULL, *whole = NULL;
    CHECK_EQ_INT(esync_ingest_pending(e), 0);
    CHECK_EQ_INT(ingest(e, "n", 200, "h", "0_inf", SCHEMA, 1, body, &changes), ESYNC_OK);
    CHECK(changes == NULL);
    CHECK_EQ_INT(esync_ingest_pending(e), 1);
    /* the same shape is refused, another one waits */
    CHECK_EQ_INT(ingest(e, "n", 200, "h", "0_inf", SCHEMA, 1, "[]", &changes), ESYNC_EINVAL);
    char *other = rows_body(500, 3, 0);
    CHECK_EQ_INT(ingest(e, "m", 200, "h2", "0_inf", SCHEMA, 1, other, &changes), ESYNC_OK);
    CHECK(changes == NULL);
    CHECK_EQ_INT(count_rows(e, "nums"), -1); /* nothing committed: the table does not exist */
    int calls = 1;
    while (esync_ingest_pending(e) && calls < 1000) {
        esync_free(changes);
        changes = NULL;
        CHECK_EQ_INT(esync_ingest_continue(e, &changes, NULL), ESYNC_OK);
        calls++;
    }
    CHECK(calls > 5);
    CHECK_EQ_INT(count_rows(e, "nums"), 100);
    CHECK_EQ_INT(count_rows(e, "more"), 3); /* the queued response, applied by the last slice */
    CHECK(changes && strstr(changes, "\"shapeName\":\"m\""));
    /* the same events as one call */
    CHECK_EQ_INT(ingest(w, "n", 200, "h", "0_inf", SCHEMA, 1, body, &whole), ESYNC_OK);
    CHECK(changes && whole && !strncmp(changes, whole, strlen(whole) - 1));
    esync_free(changes);
    esync_free(whole);
    changes = NULL;
    esync_request req;
    CHECK_EQ_INT(esync_next_request(e, "n", &req), ESYNC_OK);
    CHECK(req.query && strstr(req.query, "offset=0_inf"));
    CHECK_EQ_INT(esync_ingest_continue(e, &changes, NULL), ESYNC_OK); /* nothing pending */
    CHECK(changes == NULL);
    /* a malformed body: refused before anything is applied, nothing pending */
    char *bad = rows_body(101, 50, 1);
    CHECK_EQ_INT(ingest(e, "n", 200, "h", "1_0", NULL, 1, bad, &changes), ESYNC_EJSON);
    CHECK_EQ_INT(esync_ingest_pending(e), 0);
    CHECK_EQ_INT(count_rows(e, "nums"), 100);
    /* abort: the slices applied so far are rolled back, the shape asks from its offset again */
    char *more = rows_body(101, 50, 0);
    CHECK_EQ_INT(ingest(e, "n", 200, "h", "1_0", NULL, 1, more, &changes), ESYNC_OK);
    CHECK_EQ_INT(esync_ingest_pending(e), 1);
    CHECK_EQ_INT(esync_ingest_continue(e, &changes, NULL), ESYNC_OK);
    CHECK_EQ_INT(esync_ingest_pending(e), 1);
    esync_ingest_abort(e);
    CHECK_EQ_INT(esync_ingest_pending(e), 0);
    CHECK_EQ_INT(count_rows(e, "nums"), 100);
    CHECK_EQ_INT(esync_next_request(e, "n", &req), ESYNC_OK); /* the malformed body's backoff */
    CHECK_EQ_INT(req.action, ESYNC_ACT_WAIT);
    CHECK_EQ_INT(esync_next_request(e, "n", &req), ESYNC_OK);
    CHECK_EQ_INT(req.action, ESYNC_ACT_FETCH);
    CHECK(req.query && strstr(req.query, "offset=0_inf"));
    /* close while a response is pending */
    CHECK_EQ_INT(ingest(e, "n", 200, "h", "1_0", NULL, 1, more, &changes), ESYNC_OK);
    CHECK_EQ_INT(esync_ingest_pending(e), 1);
    esync_close(e);
    esync_close(w);
    free(body);
    free(other);
    free(bad);
    free(more);
    harness_rmdb(path);
    harness_rmdb(path2);
}

/* A response of inserts is applied in key order (order.c): the replica is the one the same rows
 * in order give, two inserts of one key keep their order (the later wins), and the change set
 * lists the rows in key order. */
static void test_key_order(void) {
    char *path, *path2;
    esync *e = open_db(&path), *w = open_db(&path2);
    CHECK_EQ_INT(esync_shape_define(e, "n", "{\"table\":\"nums\"}"), ESYNC_OK);
    CHECK_EQ_INT(esync_shape_define(w, "n", "{\"table\":\"nums\"}"), ESYNC_OK);
    enum { N = 300 };
    size_t cap = N * 120 + 256, len = 0;
    char *scrambled = malloc(cap);
    scrambled[len++] = '[';
    for (int i = 0; i < N; i++) { /* ids 1..N in a scrambled order, 7 of them again at the end */
        int id = (i * 7919) % N + 1;
        len += (size_t)snprintf(
            scrambled + len, cap - len,
            "%s{\"key\":\"k%d\",\"value\":{\"id\":\"%d\",\"v\":null,"
            "\"a\":null,\"t\":\"first %d\"},\"headers\":{\"operation\":\"insert\"}}",
            i ? "," : "", id, id, id);
    }
    len += (size_t)snprintf(scrambled + len, cap - len,
                            ",{\"key\":\"k7\",\"value\":{\"id\":\"7\",\"v\":null,\"a\":null,"
                            "\"t\":\"second 7\"},\"headers\":{\"operation\":\"insert\"}}]");
    char *ordered = rows_body(1, N, 0), *changes = NULL, *out = NULL, *out2 = NULL;
    CHECK_EQ_INT(ingest(e, "n", 200, "h", "0_inf", SCHEMA, 1, scrambled, &changes), ESYNC_OK);
    char *changes2 = NULL;
    CHECK_EQ_INT(ingest(w, "n", 200, "h", "0_inf", SCHEMA, 1, ordered, &changes2), ESYNC_OK);
    esync_free(changes2);
    CHECK_EQ_INT(count_rows(e, "nums"), N);
    CHECK_EQ_INT(esync_query(e, "SELECT t FROM nums WHERE id = 7", NULL, &out, NULL), ESYNC_OK);
    CHECK(out && strstr(out, "second 7"));
    esync_free(out);
    out = NULL;
    CHECK_EQ_INT(esync_query(e, "SELECT id FROM nums ORDER BY id", NULL, &out, NULL), ESYNC_OK);
    CHECK_EQ_INT(esync_query(w, "SELECT id FROM nums ORDER BY id", NULL, &out2, NULL), ESYNC_OK);
    CHECK(out && out2 && !strcmp(out, out2));
    /* in the change set, id 9 comes before id 10 and id 10 before id 300 */
    const char *a = changes ? strstr(changes, "\"id\":\"9\"") : NULL;
    const char *b = changes ? strstr(changes, "\"id\":\"10\"") : NULL;
    const char *c = changes ? strstr(changes, "\"id\":\"300\"") : NULL;
    CHECK(a && b && c && a < b && b < c);
    esync_free(changes);
    esync_free(out);
    esync_free(out2);
    free(scrambled);
    free(ordered);
    esync_close(e);
    esync_close(w);
    harness_rmdb(path);
    harness_rmdb(path2);
}

int main(void) {
    test_version();
    test_initialize();
    test_errors();
    test_open();
    test_define();
    test_types_and_query();
    test_memory_baseline();
    test_sliced_ingest();
    test_key_order();
    return harness_result();
}
