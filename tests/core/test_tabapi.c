/*
 * The engine part of the tab API (esync.h): txids recorded per committed batch (events, TXIDS,
 * esync_txid_seen, bounded, kept across close/open and resets), 401/403 waiting for credentials
 * with the batch kept (esync_shape_resume), ESYNC_EPENDING and esync_query_tables,
 * esync_shape_compare; and two failure paths of a commit, injected from outside the engine (a
 * second connection that holds a read lock so COMMIT is busy, or a trigger that makes the
 * metadata save fail): an error returns no change set, and the shape's state in memory stays
 * what is on disk.
 */
#define _POSIX_C_SOURCE 200809L
#include "esync.h"
#include "harness.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *SCHEMA = "{\"id\":{\"type\":\"int4\",\"pk_index\":0,\"not_null\":true},"
                            "\"v\":{\"type\":\"text\"}}";

static esync *open_at(const char *path) {
    esync_options o = {.path = path, .seed = 1};
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
                        .now_ms = 7};
    char *dummy = NULL;
    int rc = esync_ingest(e, shape, &r, changes ? changes : &dummy, NULL);
    if (!changes) esync_free(dummy);
    return rc;
}

/* A change message of table t: op on row id with value v, carrying txids (a JSON array text, or
 * NULL for none). */
static char *msg(char *buf, size_t n, const char *op, int id, const char *v, const char *txids) {
    char tx[256] = "";
    if (txids) snprintf(tx, sizeof tx, ",\"txids\":%s", txids);
    snprintf(
        buf, n,
        "{\"key\":\"\\\"public\\\".\\\"t\\\"/\\\"%d\\\"\",\"value\":{\"id\":\"%d\",\"v\":\"%s\"},"
        "\"headers\":{\"operation\":\"%s\"%s}}",
        id, id, v, op, tx);
    return buf;
}

/* The snapshot of shape s (table t): rows 1 and 2, committed at offset 0_inf. */
static void initial_sync(esync *e, const char *shape) {
    char a[512], b[512], body[1200];
    snprintf(body, sizeof body, "[%s,%s]", msg(a, sizeof a, "insert", 1, "a", NULL),
             msg(b, sizeof b, "insert", 2, "b", NULL));
    char *ch = NULL;
    CHECK_EQ_INT(ingest(e, shape, 200, "h1", "0_inf", SCHEMA, 1, body, &ch), ESYNC_OK);
    CHECK(ch && !strstr(ch, "txids")); /* a snapshot carries none */
    esync_free(ch);
}

/* One live batch (one response with up-to-date) of a single change; returns its change set. */
static char *live(esync *e, const char *shape, const char *offset, const char *op, int id,
                  const char *v, const char *txids, int *rc) {
    char m[512], body[600];
    snprintf(body, sizeof body, "[%s]", msg(m, sizeof m, op, id, v, txids));
    char *ch = NULL;
    *rc = ingest(e, shape, 200, "h1", offset, NULL, 1, body, &ch);
    return ch;
}

static char *query(esync *e, const char *sql) {
    char *out = NULL;
    int rc = esync_query(e, sql, NULL, &out, NULL);
    CHECK_EQ_INT(rc, ESYNC_OK);
    if (rc) fprintf(stderr, "query %s: %s\n", sql, esync_errmsg(e));
    return out;
}

static bool query_is(esync *e, const char *sql, const char *want) {
    char *got = query(e, sql);
    bool ok = got && !strcmp(got, want);
    if (!ok) fprintf(stderr, "query %s\n  got  %s\n  want %s\n", sql, got ? got : "(null)", want);
    esync_free(got);
    return ok;
}

static bool status_has(esync *e, const char *what) {
    char *st = NULL;
    CHECK_EQ_INT(esync_status(e, &st, NULL), ESYNC_OK);
    bool ok = st && strstr(st, what);
    if (!ok) fprintf(stderr, "status %s lacks %s\n", st ? st : "(null)", what);
    esync_free(st);
    return ok;
}

static int next_action(esync *e, const char *shape, const char **query_out) {
    esync_request rq;
    CHECK_EQ_INT(esync_next_request(e, shape, &rq), ESYNC_OK);
    if (query_out) *query_out = rq.query;
    return rq.action;
}

/* ---- txids ---- */

static void test_txids_events(void) {
    char *path = harness_tmpdb();
    esync *e = open_at(path);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"t\"}"), ESYNC_OK);
    initial_sync(e, "s");
    int rc;
    /* a batch over two responses: txids of every change message, sorted and unique */
    char m1[512], m2[512], m3[512], body[1600];
    snprintf(body, sizeof body, "[%s,%s]", msg(m1, sizeof m1, "update", 1, "a1", "[905,903]"),
             msg(m2, sizeof m2, "insert", 3, "c", "[\"904\"]"));
    char *ch = NULL;
    CHECK_EQ_INT(ingest(e, "s", 200, "h1", "10_0", NULL, 0, body, &ch), ESYNC_OK);
    CHECK(ch == NULL);
    snprintf(body, sizeof body, "[%s,%s]", msg(m3, sizeof m3, "update", 2, "b1", "[903]"),
             "{\"headers\":{\"control\":\"up-to-date\"}}");
    CHECK_EQ_INT(ingest(e, "s", 200, "h1", "11_0", NULL, 0, body, &ch), ESYNC_OK);
    CHECK(ch && strstr(ch, "\"delete\":[]},\"txids\":[\"903\",\"904\",\"905\"]}]"));
    esync_free(ch);
    CHECK_EQ_INT(esync_txid_seen(e, "903"), 1);
    CHECK_EQ_INT(esync_txid_seen(e, "0904"), 1); /* decimal, leading zeros allowed */
    CHECK_EQ_INT(esync_txid_seen(e, "905"), 1);
    CHECK_EQ_INT(esync_txid_seen(e, "90"), 0); /* a prefix of a kept one */
    CHECK_EQ_INT(esync_txid_seen(e, "9050"), 0);
    CHECK_EQ_INT(esync_txid_seen(e, "9223372036854775807"), 0);
    const char *badtx[] = {"", "-1", "1.5", "x", "12a", "9223372036854775808", " 1"};
    for (size_t i = 0; i < sizeof badtx / sizeof *badtx; i++)
        CHECK_EQ_INT(esync_txid_seen(e, badtx[i]), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_txid_seen(e, NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_txid_seen(NULL, "1"), ESYNC_EINVAL);
    /* an insert and a delete of the same row: no net change, so a TXIDS event */
    snprintf(body, sizeof body, "[%s,%s]", msg(m1, sizeof m1, "insert", 9, "z", "[910]"),
             msg(m2, sizeof m2, "delete", 9, "z", "[911]"));
    CHECK_EQ_INT(ingest(e, "s", 200, "h1", "12_0", NULL, 1, body, &ch), ESYNC_OK);
    CHECK(ch && !strcmp(ch, "[{\"type\":\"TXIDS\",\"shapeName\":\"s\",\"tableName\":\"t\","
                            "\"txids\":[\"910\",\"911\"]}]"));
    esync_free(ch);
    CHECK_EQ_INT(esync_txid_seen(e, "911"), 1);
    /* a change without txids (or with null): no "txids" in the event */
    ch = live(e, "s", "13_0", "update", 1, "a2", NULL, &rc);
    CHECK_EQ_INT(rc, ESYNC_OK);
    CHECK(ch && !strstr(ch, "txids"));
    esync_free(ch);
    ch = live(e, "s", "14_0", "update", 1, "a3", "null", &rc);
    CHECK_EQ_INT(rc, ESYNC_OK);
    CHECK(ch && !strstr(ch, "txids"));
    esync_free(ch);
    /* txids that are not transaction ids: the batch is a protocol error, nothing committed */
    const char *bad[] = {"5",      "\"5\"",  "{}",    "[-1]",    "[1.5]",  "[1e3]",
                         "[true]", "[null]", "[[1]]", "[\"x\"]", "[\"\"]", "[9223372036854775808]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ch = live(e, "s", "15_0", "update", 1, "bad", bad[i], &rc);
        if (rc != ESYNC_EPROTO) fprintf(stderr, "txids %s accepted\n", bad[i]);
        CHECK_EQ_INT(rc, ESYNC_EPROTO);
        CHECK(ch == NULL);
        CHECK(strstr(esync_errmsg(e), "txids") != NULL);
        esync_free(ch);
        esync_request rq;
        esync_next_request(e, "s", &rq); /* hand out the backoff */
    }
    CHECK(query_is(e, "SELECT v FROM t WHERE id = 1", "[{\"v\":\"a3\"}]"));
    /* an empty array and the first of two "txids" members (cJSON's rule) */
    ch = live(e, "s", "16_0", "update", 1, "a4", "[]", &rc);
    CHECK_EQ_INT(rc, ESYNC_OK);
    CHECK(ch && !strstr(ch, "txids"));
    esync_free(ch);
    ch = live(e, "s", "17_0", "update", 1, "a5", "[920],\"txids\":[921]", &rc);
    CHECK_EQ_INT(rc, ESYNC_OK);
    CHECK(ch && strstr(ch, "\"txids\":[\"920\"]"));
    esync_free(ch);
    CHECK_EQ_INT(esync_txid_seen(e, "921"), 0);
    esync_close(e);
    harness_rmdb(path);
}

/* The most recent ESYNC_TXIDS_KEPT txids of a shape are kept (never more than 32 besides), and
 * they survive close/open, esync_reset and a redefinition. */
static void test_txids_bounded_and_kept(void) {
    char *path = harness_tmpdb();
    esync *e = open_at(path);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"t\"}"), ESYNC_OK);
    CHECK_EQ_INT(esync_shape_define(e, "o", "{\"table\":\"o\"}"), ESYNC_OK);
    initial_sync(e, "s");
    initial_sync(e, "o");
    int rc;
    char off[32], tx[32];
    /* 1000 single-txid batches (several chunks), then one batch of 5000 txids: more than a
     * ring's worth, of which only the newest stay */
    for (int i = 0; i < 1000; i++) {
        snprintf(off, sizeof off, "%d_0", 100 + i);
        snprintf(tx, sizeof tx, "[%d]", 1000 + i);
        char *ch = live(e, "s", off, "update", 1, i % 2 ? "x" : "y", tx, &rc);
        CHECK_EQ_INT(rc, ESYNC_OK);
        esync_free(ch);
    }
    CHECK_EQ_INT(esync_txid_seen(e, "1000"), 1);
    CHECK_EQ_INT(esync_txid_seen(e, "1999"), 1);
    {
        size_t cap = 5000 * 16 + 4096;
        char *body = malloc(cap);
        size_t n = (size_t)snprintf(body, cap,
                                    "[{\"key\":\"k\",\"value\":{\"id\":\"1\",\"v\":\"w\"},"
                                    "\"headers\":{\"operation\":\"update\",\"txids\":[");
        for (int i = 0; i < 5000; i++)
            n += (size_t)snprintf(body + n, cap - n, i ? ",%d" : "%d", 100000 + i);
        snprintf(body + n, cap - n, "]}}]");
        char *ch = NULL;
        CHECK_EQ_INT(ingest(e, "s", 200, "h1", "2000_0", NULL, 1, body, &ch), ESYNC_OK);
        CHECK(ch && strstr(ch, "\"100000\",\"100001\"") && strstr(ch, "\"104999\"]"));
        esync_free(ch);
        free(body);
    }
    /* the newest 4096 (100904..104999) are kept; older ones went */
    CHECK_EQ_INT(esync_txid_seen(e, "104999"), 1);
    CHECK_EQ_INT(esync_txid_seen(e, "100904"), 1);
    CHECK_EQ_INT(esync_txid_seen(e, "1000"), 0);
    CHECK_EQ_INT(esync_txid_seen(e, "1999"), 0);
    /* a txid of another shape is seen too ("any shape") */
    char *ch = live(e, "o", "5_0", "update", 1, "o1", "[777]", &rc);
    CHECK_EQ_INT(rc, ESYNC_OK);
    esync_free(ch);
    CHECK_EQ_INT(esync_txid_seen(e, "777"), 1);
    /* bounded: never more than ESYNC_TXIDS_KEPT + 31 per shape, counted in the stored lists */
    char *counts = query(
        e, "SELECT (SELECT sum(length(txids) - length(replace(txids, ',', '')) + 1)"
           " FROM esync_txids WHERE shape = 's') AS chunked,"
           " (SELECT length(txids) - length(replace(txids, ',', '')) + 1 FROM esync_shapes"
           " WHERE name = 's') AS newest");
    long chunked = -1, newest = -1;
    if (counts) sscanf(counts, "[{\"chunked\":%ld,\"newest\":%ld}]", &chunked, &newest);
    CHECK_EQ_INT(chunked, ESYNC_TXIDS_KEPT);
    CHECK(newest >= 0 && newest < 32 && chunked + newest >= ESYNC_TXIDS_KEPT);
    esync_free(counts);
    /* kept across close and open; the ring goes on where it was */
    esync_close(e);
    e = open_at(path);
    CHECK_EQ_INT(esync_txid_seen(e, "104999"), 1); /* before any shape is defined */
    CHECK_EQ_INT(esync_txid_seen(e, "100904"), 1);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"t\"}"), ESYNC_OK);
    CHECK_EQ_INT(esync_shape_define(e, "o", "{\"table\":\"o\"}"), ESYNC_OK);
    for (int i = 0; i < 64; i++) {
        snprintf(off, sizeof off, "%d_0", 3000 + i);
        snprintf(tx, sizeof tx, "[%d]", 200000 + i);
        ch = live(e, "s", off, "update", 2, i % 2 ? "x" : "y", tx, &rc);
        CHECK_EQ_INT(rc, ESYNC_OK);
        snprintf(tx, sizeof tx, "\"txids\":[\"%d\"]", 200000 + i);
        CHECK(ch && strstr(ch, tx) != NULL);
        esync_free(ch);
    }
    CHECK_EQ_INT(esync_txid_seen(e, "200063"), 1);
    CHECK_EQ_INT(esync_txid_seen(e, "100904"), 0); /* 64 newer: the oldest 64 went */
    CHECK_EQ_INT(esync_txid_seen(e, "100968"), 1);
    CHECK(query_is(e, "SELECT count(*) AS n FROM esync_txids WHERE shape = 's'", "[{\"n\":128}]"));
    /* esync_reset wipes rows, not txids: the rows they brought come back with the snapshot */
    char *ev = NULL;
    CHECK_EQ_INT(esync_reset(e, &ev, NULL), ESYNC_OK);
    esync_free(ev);
    CHECK_EQ_INT(esync_txid_seen(e, "200063"), 1);
    CHECK_EQ_INT(esync_txid_seen(e, "777"), 1);
    /* and a redefinition (rows dropped) keeps them too */
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"t\",\"where\":\"id > 0\"}"), ESYNC_OK);
    CHECK_EQ_INT(esync_txid_seen(e, "200063"), 1);
    esync_close(e);
    harness_rmdb(path);
}

/* ---- 401 / 403 ---- */

static void test_auth_keeps_batch(void) {
    char *path = harness_tmpdb();
    esync *e = open_at(path);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"t\"}"), ESYNC_OK);
    CHECK_EQ_INT(esync_shape_define(e, "o", "{\"table\":\"o\"}"), ESYNC_OK);
    initial_sync(e, "s");
    initial_sync(e, "o");
    /* a batch of two responses; the 401 comes between them */
    char m[512], body[700];
    snprintf(body, sizeof body, "[%s]", msg(m, sizeof m, "insert", 3, "c", "[950]"));
    char *ch = NULL;
    CHECK_EQ_INT(ingest(e, "s", 200, "h1", "20_0", NULL, 0, body, &ch), ESYNC_OK);
    CHECK(ch == NULL);
    const char *q = NULL;
    CHECK_EQ_INT(next_action(e, "s", &q), ESYNC_ACT_FETCH);
    char before[512];
    snprintf(before, sizeof before, "%s", q);
    CHECK(strstr(before, "offset=20_0") != NULL);
    CHECK_EQ_INT(ingest(e, "s", 401, NULL, NULL, NULL, 0, "{\"message\":\"token expired\"}", &ch),
                 ESYNC_EAUTH);
    CHECK(ch == NULL);
    CHECK(strstr(esync_errmsg(e), "401") && strstr(esync_errmsg(e), "token expired"));
    CHECK(status_has(e, "\"phase\":\"unauthorized\""));
    CHECK(status_has(e, "token expired"));
    CHECK_EQ_INT(next_action(e, "s", NULL), ESYNC_ACT_AUTH);
    CHECK_EQ_INT(next_action(e, "s", NULL), ESYNC_ACT_AUTH);          /* until resumed */
    CHECK(query_is(e, "SELECT count(*) AS n FROM t", "[{\"n\":2}]")); /* nothing committed */
    /* the batch holds the write transaction: another shape's response waits in the queue */
    ch = live(e, "o", "30_0", "update", 1, "o2", "[960]", &(int){0});
    CHECK(ch == NULL);
    CHECK_EQ_INT(esync_txid_seen(e, "960"), 0);
    /* resume: the same request again, nothing wiped; the batch goes on and commits whole */
    CHECK_EQ_INT(esync_shape_resume(e, "s"), ESYNC_OK);
    CHECK(status_has(e, "\"error\":null"));
    CHECK_EQ_INT(next_action(e, "s", &q), ESYNC_ACT_FETCH);
    CHECK(!strcmp(q, before));
    CHECK_EQ_INT(ingest(e, "s", 403, NULL, NULL, NULL, 0, "forbidden", &ch), ESYNC_EAUTH);
    CHECK_EQ_INT(next_action(e, "s", NULL), ESYNC_ACT_AUTH);
    CHECK_EQ_INT(esync_shape_resume(e, "s"), ESYNC_OK);
    CHECK_EQ_INT(next_action(e, "s", &q), ESYNC_ACT_FETCH);
    CHECK(!strcmp(q, before));
    snprintf(body, sizeof body, "[%s,{\"headers\":{\"control\":\"up-to-date\"}}]",
             msg(m, sizeof m, "update", 1, "a9", "[951]"));
    CHECK_EQ_INT(ingest(e, "s", 200, "h1", "21_0", NULL, 0, body, &ch), ESYNC_OK);
    /* both batches: s's (the insert before the 401 included), then the queued one of o */
    CHECK(ch && strstr(ch, "{\"id\":3,\"v\":\"c\"}") && strstr(ch, "\"a9\"") &&
          strstr(ch, "\"txids\":[\"950\",\"951\"]") && strstr(ch, "\"shapeName\":\"o\"") &&
          strstr(ch, "\"txids\":[\"960\"]"));
    esync_free(ch);
    CHECK(status_has(e, "\"phase\":\"live\""));
    CHECK(query_is(e, "SELECT count(*) AS n FROM t", "[{\"n\":3}]"));
    /* a 401 with no batch open, then resume: the live request again */
    CHECK_EQ_INT(next_action(e, "s", &q), ESYNC_ACT_FETCH);
    snprintf(before, sizeof before, "%s", q);
    CHECK_EQ_INT(ingest(e, "s", 401, NULL, NULL, NULL, 0, NULL, &ch), ESYNC_EAUTH);
    CHECK_EQ_INT(esync_shape_resume(e, "s"), ESYNC_OK);
    CHECK_EQ_INT(next_action(e, "s", &q), ESYNC_ACT_FETCH);
    CHECK(!strcmp(q, before) && strstr(q, "live=true"));
    /* resume of a shape that waits for nothing changes nothing; unknown shapes */
    CHECK_EQ_INT(esync_shape_resume(e, "s"), ESYNC_OK);
    CHECK_EQ_INT(next_action(e, "s", &q), ESYNC_ACT_FETCH);
    CHECK(!strcmp(q, before));
    CHECK_EQ_INT(esync_shape_resume(e, "nope"), ESYNC_ENOSHAPE);
    CHECK_EQ_INT(esync_shape_resume(e, NULL), ESYNC_ENOSHAPE);
    CHECK_EQ_INT(esync_shape_resume(NULL, "s"), ESYNC_EINVAL);
    /* a 401 with a batch open, then close: the batch is rolled back, the txid not seen */
    snprintf(body, sizeof body, "[%s]", msg(m, sizeof m, "insert", 4, "d", "[970]"));
    CHECK_EQ_INT(ingest(e, "s", 200, "h1", "22_0", NULL, 0, body, &ch), ESYNC_OK);
    CHECK_EQ_INT(ingest(e, "s", 401, NULL, NULL, NULL, 0, NULL, &ch), ESYNC_EAUTH);
    esync_close(e);
    e = open_at(path);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"t\"}"), ESYNC_OK);
    CHECK_EQ_INT(esync_txid_seen(e, "970"), 0);
    CHECK_EQ_INT(esync_txid_seen(e, "951"), 1);
    CHECK(query_is(e, "SELECT count(*) AS n FROM t", "[{\"n\":3}]"));
    CHECK_EQ_INT(next_action(e, "s", &q), ESYNC_ACT_FETCH);
    CHECK(strstr(q, "offset=21_0") != NULL);
    esync_close(e);
    harness_rmdb(path);
}

/* esync_shape_resume clears an ESYNC_EHTTP stop and resumes from the committed offset. */
static void test_resume_after_stop(void) {
    char *path = harness_tmpdb();
    esync *e = open_at(path);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"t\"}"), ESYNC_OK);
    initial_sync(e, "s");
    /* the request layer moves on (an empty non-up-to-date answer) before the stop */
    char *ch = NULL;
    CHECK_EQ_INT(ingest(e, "s", 200, "h1", "40_0", NULL, 0, "[]", &ch), ESYNC_OK);
    const char *q = NULL;
    CHECK_EQ_INT(next_action(e, "s", &q), ESYNC_ACT_FETCH);
    CHECK(strstr(q, "offset=40_0") != NULL);
    CHECK_EQ_INT(ingest(e, "s", 404, NULL, NULL, NULL, 0, "gone", &ch), ESYNC_EHTTP);
    CHECK_EQ_INT(next_action(e, "s", NULL), ESYNC_ACT_STOP);
    CHECK(status_has(e, "\"phase\":\"error\""));
    CHECK_EQ_INT(esync_shape_resume(e, "s"), ESYNC_OK);
    CHECK(status_has(e, "\"phase\":\"initial-sync\"") && status_has(e, "\"error\":null"));
    CHECK_EQ_INT(next_action(e, "s", &q), ESYNC_ACT_FETCH);
    CHECK(strstr(q, "offset=0_inf&handle=h1") != NULL && !strstr(q, "live"));
    esync_close(e);
    harness_rmdb(path);
}

/* ---- reads: ESYNC_EPENDING, esync_query_tables ---- */

static int query_rc(esync *e, const char *sql) {
    char *out = NULL;
    int rc = esync_query(e, sql, NULL, &out, NULL);
    CHECK(rc ? out == NULL : out != NULL);
    esync_free(out);
    return rc;
}

static bool tables_are(esync *e, const char *sql, const char *want) {
    char *out = NULL;
    size_t len = 0;
    int rc = esync_query_tables(e, sql, &out, &len);
    bool ok = rc == ESYNC_OK && out && !strcmp(out, want) && len == strlen(out);
    if (!ok)
        fprintf(stderr, "tables of %s: rc %d %s, want %s\n", sql, rc, out ? out : esync_errmsg(e),
                want);
    esync_free(out);
    return ok;
}

static int tables_rc(esync *e, const char *sql) {
    char *out = (char *)1;
    int rc = esync_query_tables(e, sql, &out, NULL);
    CHECK(rc ? out == NULL : out != NULL);
    if (!rc) esync_free(out);
    return rc;
}

static void test_pending_and_tables(void) {
    char *path = harness_tmpdb();
    esync *e = open_at(path);
    CHECK_EQ_INT(esync_shape_define(e, "items", "{\"table\":\"public.t\"}"), ESYNC_OK);
    CHECK_EQ_INT(esync_shape_define(e, "other", "{\"table\":\"o\"}"), ESYNC_OK);
    /* before the first sync: pending, for esync_query and esync_query_tables alike */
    CHECK_EQ_INT(query_rc(e, "SELECT * FROM t"), ESYNC_EPENDING);
    CHECK(strstr(esync_errmsg(e), "\"items\"") != NULL);
    CHECK_EQ_INT(query_rc(e, "SELECT * FROM main.T"), ESYNC_EPENDING);
    CHECK_EQ_INT(tables_rc(e, "SELECT * FROM t"), ESYNC_EPENDING);
    /* a table that is no shape's fails at once */
    CHECK_EQ_INT(query_rc(e, "SELECT * FROM nope"), ESYNC_ESQLITE);
    CHECK(strstr(esync_errmsg(e), "no such table: nope") != NULL);
    CHECK_EQ_INT(tables_rc(e, "SELECT * FROM nope"), ESYNC_ESQLITE);
    CHECK_EQ_INT(query_rc(e, "SELECT * FROM temp.t"), ESYNC_ESQLITE);
    CHECK_EQ_INT(query_rc(e, "SELEC 1"), ESYNC_EINVAL);
    /* a batch open (its table created, not committed) is still pending for readers */
    char m[512], body[700];
    snprintf(body, sizeof body, "[%s]", msg(m, sizeof m, "insert", 1, "a", NULL));
    char *ch = NULL;
    CHECK_EQ_INT(ingest(e, "items", 200, "h1", "0_0", SCHEMA, 0, body, &ch), ESYNC_OK);
    CHECK_EQ_INT(query_rc(e, "SELECT * FROM t"), ESYNC_EPENDING);
    CHECK_EQ_INT(ingest(e, "items", 200, "h1", "0_inf", NULL, 1, "[]", &ch), ESYNC_OK);
    esync_free(ch);
    CHECK_EQ_INT(query_rc(e, "SELECT * FROM t"), ESYNC_OK);
    /* query_tables: the shapes' tables a statement reads, in definition order */
    CHECK_EQ_INT(query_rc(e, "SELECT * FROM t JOIN o USING (id)"), ESYNC_EPENDING);
    CHECK(strstr(esync_errmsg(e), "\"other\"") != NULL);
    initial_sync(e, "other");
    CHECK(tables_are(e, "SELECT v FROM t WHERE id = ?", "[{\"table\":\"t\",\"shape\":\"items\"}]"));
    CHECK(tables_are(e, "SELECT count(*) FROM t", "[{\"table\":\"t\",\"shape\":\"items\"}]"));
    CHECK(tables_are(
        e, "SELECT o.v FROM o JOIN t ON t.id = o.id;",
        "[{\"table\":\"t\",\"shape\":\"items\"},{\"table\":\"o\",\"shape\":\"other\"}]"));
    CHECK(tables_are(
        e, "WITH x AS (SELECT id FROM O) SELECT * FROM x WHERE id IN (SELECT id FROM t)",
        "[{\"table\":\"t\",\"shape\":\"items\"},{\"table\":\"o\",\"shape\":\"other\"}]"));
    CHECK(tables_are(e, "SELECT 1", "[]"));
    CHECK(tables_are(e, "SELECT * FROM esync_shapes", "[]"));
    CHECK(tables_are(e, "SELECT name FROM sqlite_master", "[]"));
    CHECK_EQ_INT(tables_rc(e, "DELETE FROM t"), ESYNC_EREADONLY);
    CHECK_EQ_INT(tables_rc(e, "SELECT 1; SELECT 2"), ESYNC_EREADONLY);
    CHECK_EQ_INT(tables_rc(e, "PRAGMA table_info(t)"), ESYNC_EREADONLY);
    CHECK_EQ_INT(tables_rc(e, "SELECT nocolumn FROM t"), ESYNC_EINVAL);
    CHECK_EQ_INT(tables_rc(e, ""), ESYNC_EINVAL);
    CHECK_EQ_INT(tables_rc(e, NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_query_tables(NULL, "SELECT 1", &ch, NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_query_tables(e, "SELECT 1", NULL, NULL), ESYNC_EINVAL);
    /* after esync_reset: pending again, until the next commit (the reader's cached schema still
     * has the table, so the statement fails in step rather than in prepare: the same answer) */
    char *ev = NULL;
    CHECK_EQ_INT(esync_reset(e, &ev, NULL), ESYNC_OK);
    esync_free(ev);
    CHECK_EQ_INT(query_rc(e, "SELECT * FROM t"), ESYNC_EPENDING);
    CHECK_EQ_INT(tables_rc(e, "SELECT * FROM o"), ESYNC_EPENDING);
    initial_sync(e, "items");
    CHECK_EQ_INT(query_rc(e, "SELECT * FROM t"), ESYNC_OK);
    CHECK_EQ_INT(query_rc(e, "SELECT * FROM o"), ESYNC_EPENDING);
    /* after a version wipe */
    CHECK_EQ_INT(esync_version_check(e, "v1", &ev, NULL), 0);
    CHECK_EQ_INT(esync_version_check(e, "v2", &ev, NULL), 1);
    esync_free(ev);
    CHECK_EQ_INT(query_rc(e, "SELECT * FROM t"), ESYNC_EPENDING);
    esync_close(e);
    harness_rmdb(path);
}

/* ---- esync_shape_compare ---- */

static void test_compare(void) {
    char *path = harness_tmpdb();
    esync *e = open_at(path);
    CHECK_EQ_INT(
        esync_shape_define(e, "s", "{\"table\":\"t\",\"where\":\"id > $1\",\"params\":[\"1\"]}"),
        ESYNC_OK);
    CHECK_EQ_INT(
        esync_shape_compare(e, "s", "{\"params\":{\"1\":1},\"where\":\"id > $1\",\"table\":\"t\"}"),
        1);
    CHECK_EQ_INT(esync_errcode(e), ESYNC_OK);
    CHECK_EQ_INT(esync_shape_compare(e, "s",
                                     "{\"table\":\"t\",\"where\":\"id > $1\","
                                     "\"params\":[\"1\"],\"replica\":\"default\"}"),
                 1);
    CHECK_EQ_INT(esync_shape_compare(e, "s", "{\"table\":\"t\"}"), 0);
    CHECK_EQ_INT(esync_shape_compare(e, "s",
                                     "{\"table\":\"u\",\"where\":\"id > $1\","
                                     "\"params\":[\"1\"]}"),
                 0);
    CHECK_EQ_INT(esync_shape_compare(e, "nope", "{\"table\":\"t\"}"), ESYNC_ENOSHAPE);
    CHECK_EQ_INT(esync_shape_compare(e, "nope", "{\"table\":5}"), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_shape_compare(e, "s", "not json"), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_shape_compare(e, "s", NULL), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_shape_compare(e, NULL, "{\"table\":\"t\"}"), ESYNC_EINVAL);
    CHECK_EQ_INT(esync_shape_compare(NULL, "s", "{\"table\":\"t\"}"), ESYNC_EINVAL);
    /* nothing changed */
    const char *q = NULL;
    CHECK_EQ_INT(next_action(e, "s", &q), ESYNC_ACT_FETCH);
    CHECK(strstr(q, "where=") != NULL);
    esync_close(e);
    harness_rmdb(path);
}

/* ---- failed commits ---- */

/* A second connection holding a read transaction: the engine's COMMIT (rollback journal) cannot
 * get its exclusive lock and fails with SQLITE_BUSY. */
static sqlite3 *hold_read_lock(const char *path) {
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "BEGIN; SELECT count(*) FROM esync_meta;", NULL, NULL, NULL),
                 SQLITE_OK);
    return db;
}

static void release(sqlite3 *db) {
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
}

static void exec_on(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                 SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static char *status_of(esync *e) {
    char *st = NULL;
    CHECK_EQ_INT(esync_status(e, &st, NULL), ESYNC_OK);
    return st;
}

static void test_failed_commit_first_batch(void) {
    char *path = harness_tmpdb();
    esync *e = open_at(path);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"t\"}"), ESYNC_OK);
    char *st0 = status_of(e);
    char m1[512], m2[512], body[1200];
    snprintf(body, sizeof body, "[%s,%s]", msg(m1, sizeof m1, "insert", 1, "a", "[5]"),
             msg(m2, sizeof m2, "insert", 2, "b", "[5]"));
    /* (1) COMMIT fails: a batch that began on an empty table (its event is written before the
     * commit) returns the error and no change set */
    sqlite3 *lock = hold_read_lock(path);
    char *ch = (char *)1;
    CHECK_EQ_INT(ingest(e, "s", 200, "h1", "0_inf", SCHEMA, 1, body, &ch), ESYNC_ESQLITE);
    CHECK(ch == NULL);
    release(lock);
    /* (2) the shape's state in memory is what the disk says: no schema, handle, offset or
     * rows, no last sync, no txid */
    char *st = status_of(e);
    const char *empty =
        "\"rows\":0,\"syncRows\":0,\"offset\":\"-1\",\"handle\":null,\"lastSyncedAt\":null";
    CHECK(st && st0 && strstr(st0, empty) && strstr(st, empty));
    esync_free(st);
    char *types = NULL;
    CHECK_EQ_INT(esync_shape_types(e, "s", &types, NULL), ESYNC_OK);
    CHECK(types && !strcmp(types, "{}"));
    esync_free(types);
    CHECK_EQ_INT(query_rc(e, "SELECT * FROM t"), ESYNC_EPENDING);
    CHECK_EQ_INT(esync_txid_seen(e, "5"), 0);
    const char *q = NULL;
    CHECK_EQ_INT(next_action(e, "s", NULL), ESYNC_ACT_WAIT);
    CHECK_EQ_INT(next_action(e, "s", &q), ESYNC_ACT_FETCH);
    CHECK(!strcmp(q, "table=t&offset=-1"));
    /* the metadata save fails (a trigger refuses it): the same */
    exec_on(path, "CREATE TRIGGER fail_store BEFORE UPDATE ON esync_shapes"
                  " BEGIN SELECT RAISE(ABORT, 'injected'); END");
    ch = (char *)1;
    CHECK_EQ_INT(ingest(e, "s", 200, "h1", "0_inf", SCHEMA, 1, body, &ch), ESYNC_ESQLITE);
    CHECK(ch == NULL);
    CHECK(strstr(esync_errmsg(e), "injected") != NULL);
    st = status_of(e);
    CHECK(st &&
          strstr(
              st,
              "\"rows\":0,\"syncRows\":0,\"offset\":\"-1\",\"handle\":null,\"lastSyncedAt\":null"));
    esync_free(st);
    exec_on(path, "DROP TRIGGER fail_store");
    /* the retry commits, and the disk agrees with memory after a reopen */
    CHECK_EQ_INT(next_action(e, "s", NULL), ESYNC_ACT_WAIT);
    CHECK_EQ_INT(ingest(e, "s", 200, "h1", "0_inf", SCHEMA, 1, body, &ch), ESYNC_OK);
    CHECK(ch && strstr(ch, "\"txids\":[\"5\"]"));
    esync_free(ch);
    st = status_of(e);
    esync_close(e);
    e = open_at(path);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"t\"}"), ESYNC_OK);
    char *st2 = status_of(e);
    /* the same but the phase (a new session starts in initial-sync) */
    CHECK(
        st && st2 &&
        strstr(st, "\"rows\":2,\"syncRows\":2,\"offset\":\"0_inf\",\"handle\":\"h1\"") &&
        strstr(
            st2,
            "\"rows\":2,\"syncRows\":2,\"offset\":\"0_inf\",\"handle\":\"h1\",\"lastSyncedAt\":7"));
    esync_free(st);
    esync_free(st2);
    esync_free(st0);
    CHECK_EQ_INT(esync_txid_seen(e, "5"), 1);
    esync_close(e);
    harness_rmdb(path);
}

/* A failed commit of a live batch (tracked) and of a refetch with a new schema (shadow): the
 * committed layer, the txid lists and the replica stay as they were. */
static void test_failed_commit_later_batches(void) {
    char *path = harness_tmpdb();
    esync *e = open_at(path);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"t\"}"), ESYNC_OK);
    initial_sync(e, "s");
    int rc;
    char *ch = live(e, "s", "1_0", "update", 1, "a1", "[100]", &rc);
    CHECK_EQ_INT(rc, ESYNC_OK);
    esync_free(ch);
    char *st0 = status_of(e);
    sqlite3 *lock = hold_read_lock(path);
    ch = live(e, "s", "2_0", "update", 2, "b1", "[101]", &rc);
    CHECK_EQ_INT(rc, ESYNC_ESQLITE);
    CHECK(ch == NULL);
    release(lock);
    char *st = status_of(e);
    CHECK(st && st0 &&
          strstr(st, "\"rows\":2,\"syncRows\":2,\"offset\":\"1_0\",\"handle\":\"h1\""));
    esync_free(st);
    CHECK_EQ_INT(esync_txid_seen(e, "101"), 0);
    CHECK_EQ_INT(esync_txid_seen(e, "100"), 1);
    CHECK(query_is(e, "SELECT txids FROM esync_shapes", "[{\"txids\":\"100\"}]"));
    const char *q = NULL;
    CHECK_EQ_INT(next_action(e, "s", NULL), ESYNC_ACT_WAIT);
    CHECK_EQ_INT(next_action(e, "s", &q), ESYNC_ACT_FETCH);
    CHECK(strstr(q, "offset=1_0") != NULL);
    ch = live(e, "s", "2_0", "update", 2, "b1", "[101]", &rc);
    CHECK_EQ_INT(rc, ESYNC_OK);
    CHECK(ch && strstr(ch, "\"txids\":[\"101\"]"));
    esync_free(ch);
    CHECK(query_is(e, "SELECT txids FROM esync_shapes", "[{\"txids\":\"100,101\"}]"));
    /* a refetch whose new schema adds a column: the diff is built, then the commit fails; the
     * old schema, rows and offset stay */
    CHECK_EQ_INT(ingest(e, "s", 409, "h2", NULL, NULL, 0, NULL, &ch), ESYNC_OK);
    const char *schema2 = "{\"id\":{\"type\":\"int4\",\"pk_index\":0,\"not_null\":true},"
                          "\"v\":{\"type\":\"text\"},\"n\":{\"type\":\"int8\"}}";
    const char *snap = "[{\"key\":\"k1\",\"value\":{\"id\":\"1\",\"v\":\"a1\",\"n\":\"5\"},"
                       "\"headers\":{\"operation\":\"insert\"}}]";
    lock = hold_read_lock(path);
    ch = (char *)1;
    CHECK_EQ_INT(ingest(e, "s", 200, "h2", "0_inf", schema2, 1, snap, &ch), ESYNC_ESQLITE);
    CHECK(ch == NULL);
    release(lock);
    char *types = NULL;
    CHECK_EQ_INT(esync_shape_types(e, "s", &types, NULL), ESYNC_OK);
    CHECK(types && !strcmp(types, "{}")); /* the old schema has no int8 */
    esync_free(types);
    st = status_of(e);
    CHECK(st && strstr(st, "\"rows\":2,\"syncRows\":2,\"offset\":\"2_0\",\"handle\":\"h1\""));
    esync_free(st);
    CHECK(query_is(e, "SELECT * FROM t ORDER BY id",
                   "[{\"id\":1,\"v\":\"a1\"},{\"id\":2,\"v\":\"b1\"}]"));
    /* the retry (from -1: the refetch is still owed) commits the new schema */
    CHECK_EQ_INT(next_action(e, "s", NULL), ESYNC_ACT_WAIT);
    CHECK_EQ_INT(next_action(e, "s", &q), ESYNC_ACT_FETCH);
    CHECK(strstr(q, "offset=-1") != NULL);
    CHECK_EQ_INT(ingest(e, "s", 200, "h2", "0_inf", schema2, 1, snap, &ch), ESYNC_OK);
    CHECK(ch && strstr(ch, "\"delete\":[{\"id\":2,\"v\":\"b1\"}]"));
    esync_free(ch);
    CHECK_EQ_INT(esync_shape_types(e, "s", &types, NULL), ESYNC_OK);
    CHECK(types && !strcmp(types, "{\"n\":\"int8\"}"));
    esync_free(types);
    esync_free(st0);
    esync_close(e);
    harness_rmdb(path);
}

/* A failed commit of a batch whose txids fill a chunk: neither the chunk nor the list moves. */
static void test_failed_commit_chunk(void) {
    char *path = harness_tmpdb();
    esync *e = open_at(path);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"t\"}"), ESYNC_OK);
    initial_sync(e, "s");
    int rc;
    char off[32], tx[32];
    for (int i = 0; i < 31; i++) {
        snprintf(off, sizeof off, "%d_0", 10 + i);
        snprintf(tx, sizeof tx, "[%d]", 500 + i);
        esync_free(live(e, "s", off, "update", 1, i % 2 ? "x" : "y", tx, &rc));
        CHECK_EQ_INT(rc, ESYNC_OK);
    }
    CHECK(query_is(e, "SELECT count(*) AS n FROM esync_txids", "[{\"n\":0}]"));
    sqlite3 *lock = hold_read_lock(path);
    char *ch = live(e, "s", "50_0", "update", 1, "z", "[531,532]", &rc);
    CHECK_EQ_INT(rc, ESYNC_ESQLITE);
    CHECK(ch == NULL);
    release(lock);
    CHECK(query_is(e, "SELECT count(*) AS n FROM esync_txids", "[{\"n\":0}]"));
    CHECK_EQ_INT(esync_txid_seen(e, "531"), 0);
    CHECK_EQ_INT(esync_txid_seen(e, "530"), 1);
    esync_request rq;
    esync_next_request(e, "s", &rq);
    ch = live(e, "s", "50_0", "update", 1, "z", "[531,532]", &rc);
    CHECK_EQ_INT(rc, ESYNC_OK);
    esync_free(ch);
    CHECK(query_is(e, "SELECT slot, seq, length(txids) AS len FROM esync_txids",
                   "[{\"slot\":0,\"seq\":0,\"len\":127}]"));
    CHECK(query_is(e, "SELECT txids FROM esync_shapes", "[{\"txids\":\"532\"}]"));
    CHECK_EQ_INT(esync_txid_seen(e, "500"), 1);
    CHECK_EQ_INT(esync_txid_seen(e, "532"), 1);
    esync_close(e);
    harness_rmdb(path);
}

/* An old replica (no esync_shapes.txids column) opens and records txids. */
static void test_old_replica(void) {
    char *path = harness_tmpdb();
    exec_on(path, "CREATE TABLE esync_meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
                  "INSERT INTO esync_meta VALUES('format', '1');"
                  "CREATE TABLE esync_shapes(name TEXT PRIMARY KEY, definition TEXT NOT NULL,"
                  " table_name TEXT NOT NULL, handle TEXT, \"offset\" TEXT NOT NULL DEFAULT '-1',"
                  " schema TEXT, row_count INTEGER NOT NULL DEFAULT 0, last_sync REAL)"
                  " WITHOUT ROWID;");
    esync *e = open_at(path);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"t\"}"), ESYNC_OK);
    initial_sync(e, "s");
    int rc;
    esync_free(live(e, "s", "1_0", "update", 1, "q", "[42]", &rc));
    CHECK_EQ_INT(rc, ESYNC_OK);
    CHECK_EQ_INT(esync_txid_seen(e, "42"), 1);
    esync_close(e);
    e = open_at(path); /* the column is there now: opening again adds nothing */
    CHECK_EQ_INT(esync_txid_seen(e, "42"), 1);
    esync_close(e);
    harness_rmdb(path);
}

/* A replica of another format, or with no format stored, is refused (ESYNC_ESCHEMA) and left as
 * it was; a current one opens with reads only (the file's change counter does not move). */
static void test_open_formats(void) {
    static const char *const rows[] = {"INSERT INTO esync_meta VALUES('format', '2');",
                                       "INSERT INTO esync_meta VALUES('format', NULL);"};
    for (int i = 0; i < 2; i++) {
        char *path = harness_tmpdb();
        char sql[256];
        snprintf(sql, sizeof sql,
                 "CREATE TABLE esync_meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;%s",
                 rows[i]);
        exec_on(path, sql);
        esync_options o = {.path = path};
        esync *e = NULL;
        CHECK_EQ_INT(esync_open(&o, &e), ESYNC_ESCHEMA);
        CHECK(e == NULL);
        harness_rmdb(path);
    }
    char *path = harness_tmpdb();
    esync *e = open_at(path);
    esync_close(e);
    FILE *f = fopen(path, "rb");
    unsigned char h1[100] = {0}, h2[100] = {0};
    CHECK(f && fread(h1, 1, sizeof h1, f) == sizeof h1);
    if (f) fclose(f);
    e = open_at(path);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"t\"}"), ESYNC_OK);
    esync_close(e);
    e = open_at(path); /* the shape is stored: this open writes nothing */
    esync_close(e);
    f = fopen(path, "rb");
    CHECK(f && fread(h1, 1, sizeof h1, f) == sizeof h1);
    if (f) fclose(f);
    e = open_at(path);
    esync_close(e);
    f = fopen(path, "rb");
    CHECK(f && fread(h2, 1, sizeof h2, f) == sizeof h2);
    if (f) fclose(f);
    CHECK(memcmp(h1 + 24, h2 + 24, 4) == 0); /* the file change counter */
    harness_rmdb(path);
}

int main(void) {
    int64_t before = esync_memory_used();
    test_txids_events();
    test_txids_bounded_and_kept();
    test_auth_keeps_batch();
    test_resume_after_stop();
    test_pending_and_tables();
    test_compare();
    test_failed_commit_first_batch();
    test_failed_commit_later_batches();
    test_failed_commit_chunk();
    test_old_replica();
    test_open_formats();
    CHECK_EQ_INT(esync_memory_used(), before);
    return harness_result();
}
