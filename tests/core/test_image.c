/*
 * Replica images (esync_image_build, esync_response.image): an image of a snapshot chunk gives
 * the replica and the change events that the same chunk in JSON gives, checkpoints included;
 * the engine offers images only where it can take them; a bad image (not a database, another
 * schema, values its types do not allow, keys already present, a log offset) fails like a bad
 * body with nothing written, and the shape goes on in JSON.
 */
#define _POSIX_C_SOURCE 200809L
#include "esync.h"
#include "harness.h"
#include "image_write.h"
#include "msgparse.h"
#include "order.h"

#include <sqlite3.h>
#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *SCHEMA =
    "{\"id\":{\"type\":\"int4\",\"pk_index\":0,\"not_null\":true},\"big\":{\"type\":\"int8\"},"
    "\"f\":{\"type\":\"float8\"},\"ok\":{\"type\":\"bool\",\"not_null\":true},"
    "\"j\":{\"type\":\"jsonb\"},\"b\":{\"type\":\"bytea\"},\"u\":{\"type\":\"uuid\"},"
    "\"a\":{\"type\":\"int4\",\"dims\":1},\"t\":{\"type\":\"text\"}}";

static char *chunk(int id0, int n, const char *extra) {
    size_t cap = (size_t)n * 400 + 200;
    char *b = malloc(cap), *p = b;
    p += sprintf(p, "[");
    for (int i = 0; i < n; i++) {
        int id = id0 + (i * 7) % n; /* not in key order */
        p += sprintf(p,
                     "%s{\"key\":\"k%d\",\"headers\":{\"operation\":\"insert\"},\"value\":{"
                     "\"id\":\"%d\",\"big\":\"%s\",\"f\":\"%s\",\"ok\":\"%s\",\"j\":%s,"
                     "\"b\":\"\\\\x0a%02x\",\"u\":\"00000000-0000-4000-8000-%012d\","
                     "\"a\":\"{1,%d,NULL}\",\"t\":\"row \\\"%d\\\" é\"}}",
                     i ? "," : "", id, id, id % 2 ? "9007199254740993" : "-5",
                     id % 3 == 0   ? "NaN"
                     : id % 3 == 1 ? "1.5"
                                   : "-0",
                     id % 2 ? "t" : "f", id % 4 ? "\"{\\\"x\\\":[1,2]}\"" : "null", id & 0xff, id,
                     id, id);
    }
    p += sprintf(p, "%s]", extra ? extra : "");
    return b;
}

static esync *open_db(char **path) {
    *path = harness_tmpdb();
    esync_options o = {.path = *path, .seed = 1};
    esync *e = NULL;
    CHECK_EQ_INT(esync_open(&o, &e), ESYNC_OK);
    esync_set_checkpoint_bytes(e, 1);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"items\"}"), ESYNC_OK);
    return e;
}

static int ingest(esync *e, const char *offset, const char *body, const char *image,
                  char **changes) {
    esync_response r = {.status = 200,
                        .handle = "h1",
                        .offset = offset,
                        .schema = SCHEMA,
                        .body = (const uint8_t *)body,
                        .body_len = body ? strlen(body) : 0,
                        .image = image,
                        .now_ms = 5};
    if (image) {
        FILE *f = fopen(image, "rb");
        if (f) {
            fseek(f, 0, SEEK_END);
            r.body_len = (size_t)ftell(f);
            fclose(f);
        }
    }
    *changes = NULL;
    return esync_ingest(e, "s", &r, changes, NULL);
}

static int up_to_date(esync *e, char **changes) {
    const char *b = "[{\"headers\":{\"control\":\"up-to-date\"}}]";
    esync_response r = {.status = 200,
                        .handle = "h1",
                        .offset = "5_0",
                        .up_to_date = 1,
                        .body = (const uint8_t *)b,
                        .body_len = strlen(b),
                        .now_ms = 6};
    *changes = NULL;
    return esync_ingest(e, "s", &r, changes, NULL);
}

/* The replica's rows as JSON; NULL before the table exists. */
static char *dump(esync *e) {
    char *out = NULL;
    if (esync_query(e, "SELECT * FROM items ORDER BY id", "[]", &out, NULL)) return NULL;
    return out;
}

static int same(const char *a, const char *b) { return a && b ? !strcmp(a, b) : a == b; }

static char *build(const char *body, const char *name) {
    char *path = malloc(strlen(name) + 16);
    sprintf(path, "/tmp/%s-%d.db", name, (int)getpid());
    char err[200] = "";
    int64_t rows = -1;
    int rc = esync_image_build(SCHEMA, (const uint8_t *)body, strlen(body), path, &rows, err,
                               sizeof err);
    if (rc) fprintf(stderr, "build: %s\n", err);
    CHECK_EQ_INT(rc, ESYNC_OK);
    return path;
}

static void collect(const char *ev, char **acc);

static int wants_image(esync *e) {
    esync_request q;
    CHECK_EQ_INT(esync_next_request(e, "s", &q), ESYNC_OK);
    return q.image;
}

/* Two chunks and the up-to-date, once in JSON and once as images: the same events, committed at
 * the same responses (checkpoints on), and the same rows. */
static void test_same_as_json(void) {
    char *c0 = chunk(0, 300, NULL),
         *c1 = chunk(300, 500, ",{\"headers\":{\"control\":\"snapshot-end\"}}");
    char *i0 = build(c0, "img0"), *i1 = build(c1, "img1");
    char *pj, *pi;
    esync *ej = open_db(&pj), *ei = open_db(&pi);
    CHECK(wants_image(ei));
    char *aj = NULL, *ai = NULL, *ch = NULL;
    CHECK_EQ_INT(ingest(ej, "0_0", c0, NULL, &ch), ESYNC_OK);
    collect(ch, &aj);
    esync_free(ch);
    CHECK_EQ_INT(ingest(ei, "0_0", NULL, i0, &ch), ESYNC_OK);
    CHECK(ch != NULL); /* a checkpoint */
    collect(ch, &ai);
    esync_free(ch);
    CHECK(wants_image(ei)); /* the next chunk appends */
    CHECK_EQ_INT(ingest(ej, "0_1", c1, NULL, &ch), ESYNC_OK);
    collect(ch, &aj);
    esync_free(ch);
    CHECK_EQ_INT(ingest(ei, "0_1", NULL, i1, &ch), ESYNC_OK);
    CHECK(ch != NULL);
    collect(ch, &ai);
    esync_free(ch);
    CHECK_EQ_INT(up_to_date(ej, &ch), ESYNC_OK);
    collect(ch, &aj);
    esync_free(ch);
    CHECK_EQ_INT(up_to_date(ei, &ch), ESYNC_OK);
    collect(ch, &ai);
    esync_free(ch);
    CHECK(aj && ai && !strcmp(aj, ai));
    if (aj && ai && strcmp(aj, ai)) fprintf(stderr, "json:  %.300s\nimage: %.300s\n", aj, ai);
    free(aj);
    free(ai);
    CHECK(!wants_image(ei)); /* live */
    char *dj = dump(ej), *di = dump(ei);
    CHECK(dj && di && !strcmp(dj, di) && strstr(dj, "9007199254740993"));
    esync_free(dj);
    esync_free(di);
    char *st = NULL;
    CHECK_EQ_INT(esync_status(ei, &st, NULL), ESYNC_OK);
    CHECK(st && strstr(st, "\"rows\":800"));
    esync_free(st);
    esync_close(ej);
    esync_close(ei);
    harness_rmdb(pj);
    harness_rmdb(pi);
    remove(i0);
    remove(i1);
    free(i0);
    free(i1);
    free(c0);
    free(c1);
}

/* The inserted rows of a change events array, in key order, as one string (the rows of every
 * DATA_CHANGE, whatever the commits). */
static void collect(const char *ev, char **acc) {
    if (!ev) return;
    size_t n = strlen(ev), have = *acc ? strlen(*acc) : 0;
    *acc = realloc(*acc, have + n + 1);
    memcpy(*acc + have, ev, n + 1);
}

/* Many chunks in one batch (checkpoints far apart): JSON and images mixed in it, more images
 * than may be attached at once (the batch commits a checkpoint then); the rows at the end and the
 * rows of the events are the JSON's. */
static void test_one_batch(void) {
    enum { N = 32 }; /* ESYNC_IMAGES_MAX (28) images and more */
    char *c[N], *img[N];
    for (int k = 0; k < N; k++) {
        c[k] = chunk(k * 15, 15, NULL);
        char name[16];
        snprintf(name, sizeof name, "batch%d", k);
        img[k] = build(c[k], name);
    }
    char *pj, *pi;
    esync *ej = open_db(&pj), *ei = open_db(&pi);
    esync_set_checkpoint_bytes(ej, 1 << 30);
    esync_set_checkpoint_bytes(ei, 1 << 30);
    char *aj = NULL, *ai = NULL;
    for (int k = 0; k < N; k++) {
        char off[16], *ch = NULL;
        snprintf(off, sizeof off, "0_%d", k);
        CHECK_EQ_INT(ingest(ej, off, c[k], NULL, &ch), ESYNC_OK);
        collect(ch, &aj);
        esync_free(ch);
        ch = NULL;
        int image = k != 0 && k != 5; /* JSON at the start and in the middle */
        if (k == 30) { /* ESYNC_IMAGES_MAX attached: the next image commits the batch first */
            char *st = NULL;
            CHECK_EQ_INT(esync_status(ei, &st, NULL), ESYNC_OK);
            CHECK(st && strstr(st, "\"rows\":0,"));
            esync_free(st);
        }
        if (image) CHECK(wants_image(ei));
        CHECK_EQ_INT(ingest(ei, off, image ? NULL : c[k], image ? img[k] : NULL, &ch), ESYNC_OK);
        collect(ch, &ai);
        esync_free(ch);
    }
    char *ch = NULL;
    CHECK_EQ_INT(up_to_date(ej, &ch), ESYNC_OK);
    collect(ch, &aj);
    esync_free(ch);
    ch = NULL;
    CHECK_EQ_INT(up_to_date(ei, &ch), ESYNC_OK);
    collect(ch, &ai);
    esync_free(ch);
    char *dj = dump(ej), *di = dump(ei);
    CHECK(dj && di && !strcmp(dj, di));
    /* every row once in the events of each: the same count of inserted ids */
    int nj = 0, ni = 0;
    for (const char *p = aj; p && (p = strstr(p, "\"u\":")); p++) nj++;
    for (const char *p = ai; p && (p = strstr(p, "\"u\":")); p++) ni++;
    CHECK_EQ_INT(nj, N * 15);
    CHECK_EQ_INT(ni, N * 15);
    esync_free(dj);
    esync_free(di);
    free(aj);
    free(ai);
    esync_close(ej);
    esync_close(ei);
    harness_rmdb(pj);
    harness_rmdb(pi);
    for (int k = 0; k < N; k++) {
        remove(img[k]);
        free(img[k]);
        free(c[k]);
    }
}

/* An image fails with code rc, leaves the replica as it was, and the shape asks for JSON. */
static void expect_bad(const char *image, const char *offset, int rc, int first_json) {
    char *p;
    esync *e = open_db(&p);
    char *ch = NULL, *before = NULL;
    char *c0 = chunk(0, 50, NULL);
    if (first_json) {
        CHECK_EQ_INT(ingest(e, "0_0", c0, NULL, &ch), ESYNC_OK);
        esync_free(ch);
    }
    before = dump(e);
    CHECK(wants_image(e));
    int got = ingest(e, offset, NULL, image, &ch);
    if (got != rc)
        fprintf(stderr, "%s at %s: %d (%s), expected %d\n", image, offset, got, esync_errmsg(e),
                rc);
    CHECK_EQ_INT(got, rc);
    CHECK(ch == NULL);
    char *after = dump(e);
    CHECK(same(before, after));
    CHECK(!wants_image(e));
    esync_free(before);
    esync_free(after);
    /* JSON still goes in */
    esync_request q;
    CHECK_EQ_INT(esync_next_request(e, "s", &q), ESYNC_OK);
    if (q.action == ESYNC_ACT_WAIT) CHECK_EQ_INT(esync_next_request(e, "s", &q), ESYNC_OK);
    CHECK_EQ_INT(q.action, ESYNC_ACT_FETCH);
    char *c1 = chunk(100, 20, NULL);
    CHECK_EQ_INT(ingest(e, first_json ? "0_1" : "0_0", c1, NULL, &ch), ESYNC_OK);
    CHECK(ch != NULL);
    esync_free(ch);
    esync_close(e);
    harness_rmdb(p);
    free(c0);
    free(c1);
}

/* Alters an image with a plain connection (the engine's SQLite, initialized by the build). */
static void sql(const char *path, const char *stmt) {
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, stmt, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Each statement alters a fresh image of chunk c0, which must then fail with rc. */
static void altered(const char *c0, const char *const *stmts, size_t n, int rc) {
    for (size_t k = 0; k < n; k++) {
        char *img = build(c0, "altered");
        sql(img, stmts[k]);
        expect_bad(img, "0_0", rc, 0);
        remove(img);
        free(img);
    }
}

static void test_bad_images(void) {
    char *c0 = chunk(0, 50, NULL);
    /* not a database */
    FILE *f = fopen("/tmp/esync-garbage.db", "wb");
    for (int i = 0; i < 8192; i++) fputc(i * 31 % 251, f);
    fclose(f);
    expect_bad("/tmp/esync-garbage.db", "0_0", ESYNC_EPROTO, 0);
    /* a database with a byte flipped in its table's pages: SQLITE_CORRUPT, or values that fail */
    char *img = build(c0, "corrupt");
    f = fopen(img, "r+b");
    fseek(f, 4096 + 3, SEEK_SET); /* the table's root page: cell count and content start */
    for (int i = 0; i < 4; i++) fputc(0xff, f);
    fclose(f);
    {
        char *p;
        esync *e = open_db(&p);
        char *ch = NULL;
        CHECK(ingest(e, "0_0", NULL, img, &ch) != ESYNC_OK);
        CHECK(!wants_image(e));
        esync_close(e);
        harness_rmdb(p);
    }
    remove(img);
    free(img);
    /* an extra table, a view, another column */
    const char *alter[] = {"CREATE TABLE other(x)", "CREATE VIEW v AS SELECT 1",
                           "ALTER TABLE shape ADD COLUMN extra TEXT",
                           "ALTER TABLE shape RENAME TO items"};
    altered(c0, alter, sizeof alter / sizeof *alter, ESYNC_ESCHEMA);
    /* values its columns' types do not allow */
    const char *values[] = {
        "UPDATE shape SET id = 3000000000 WHERE id = 3", "UPDATE shape SET big = 'x' WHERE id = 3",
        "UPDATE shape SET ok = 2 WHERE id = 3",          "UPDATE shape SET ok = NULL WHERE id = 3",
        "UPDATE shape SET j = '{bad' WHERE id = 1",      "UPDATE shape SET f = 'nan' WHERE id = 3",
        "UPDATE shape SET b = 'text' WHERE id = 3",      "UPDATE shape SET u = 5 WHERE id = 3",
        "UPDATE shape SET t = x'00' WHERE id = 3"};
    altered(c0, values, sizeof values / sizeof *values, ESYNC_EVALUE);
    /* keys the replica holds already (a chunk after a JSON one, same rows) */
    img = build(c0, "dup");
    expect_bad(img, "0_1", ESYNC_EPROTO, 1);
    /* at a log offset */
    expect_bad(img, "5_0", ESYNC_EPROTO, 0);
    remove(img);
    free(img);
    remove("/tmp/esync-garbage.db");
    free(c0);
}

/* Where the engine takes no image: no checkpoints; a live shape; another shape's batch open
 * (the image is dropped, the same request comes again). */
static void test_where_offered(void) {
    char *p;
    esync *e = open_db(&p);
    esync_set_checkpoint_bytes(e, 0);
    CHECK(!wants_image(e));
    esync_set_checkpoint_bytes(e, 1);
    CHECK(wants_image(e));
    CHECK_EQ_INT(esync_shape_define(e, "o", "{\"table\":\"others\"}"), ESYNC_OK);
    const char *ob =
        "[{\"key\":\"1\",\"headers\":{\"operation\":\"insert\"},\"value\":{\"id\":\"1\"}}]";
    esync_response r = {.status = 200,
                        .handle = "h9",
                        .offset = "7_0",
                        .schema = "{\"id\":{\"type\":\"int4\",\"pk_index\":0}}",
                        .body = (const uint8_t *)ob,
                        .body_len = strlen(ob)};
    char *ch = NULL;
    CHECK_EQ_INT(esync_ingest(e, "o", &r, &ch, NULL), ESYNC_OK); /* o's batch stays open */
    esync_free(ch);
    char *c0 = chunk(0, 10, NULL), *img = build(c0, "busy");
    CHECK_EQ_INT(ingest(e, "0_0", NULL, img, &ch), ESYNC_OK);
    CHECK(ch == NULL);
    char *st = NULL;
    CHECK_EQ_INT(esync_status(e, &st, NULL), ESYNC_OK);
    CHECK(st && strstr(st, "\"offset\":\"-1\"") && strstr(st, "\"rows\":0"));
    esync_free(st);
    esync_close(e);
    harness_rmdb(p);
    remove(img);
    free(img);
    free(c0);
}

/* The builder refuses what the engine would refuse, and leaves no file. */
static void test_build_errors(void) {
    const char *path = "/tmp/esync-build-err.db";
    char err[200];
    const char *bad[] = {
        "not json",
        "{}",
        "[{\"key\":\"1\",\"headers\":{\"operation\":\"update\"},\"value\":{\"id\":\"1\"}}]",
        "[{\"key\":\"1\",\"headers\":{\"operation\":\"insert\"},\"value\":{\"id\":\"x\",\"ok\":\"t\"}}]",
        "[{\"key\":\"1\",\"headers\":{\"operation\":\"insert\"},\"value\":{\"id\":\"1\"}}]",
        "[{\"key\":\"1\",\"headers\":{\"operation\":\"insert\"},\"value\":{\"id\":\"1\",\"ok\":\"t\",\"nope\":\"1\"}}]"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        err[0] = 0;
        CHECK(esync_image_build(SCHEMA, (const uint8_t *)bad[k], strlen(bad[k]), path, NULL, err,
                                sizeof err) != ESYNC_OK);
        CHECK(err[0] != 0);
        FILE *f = fopen(path, "rb");
        CHECK(f == NULL);
        if (f) fclose(f);
    }
    CHECK(esync_image_build("{bad", (const uint8_t *)"[]", 2, path, NULL, err, sizeof err) !=
          ESYNC_OK);
}

static long file_bytes(const char *path, char **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)n + 1);
    CHECK((long)fread(*out, 1, (size_t)n, f) == n);
    fclose(f);
    return n;
}

/* The two files hold the same bytes (and some). */
static void same_bytes(const char *a, const char *b) {
    char *fa = NULL, *fb = NULL;
    long na = file_bytes(a, &fa), nb = file_bytes(b, &fb);
    CHECK(na > 0 && na == nb && !memcmp(fa, fb, (size_t)na));
    free(fa);
    free(fb);
}

/* The server's build (esync_image_build_inplace: the body parsed where it lies) makes the very
 * file the copying one makes, and refuses what it refuses, leaving no file. */
static void test_build_inplace(void) {
    char *body = chunk(0, 300, NULL);
    size_t n = strlen(body);
    char *a = build(body, "esync-copy");
    char *b = malloc(strlen(a) + 8);
    sprintf(b, "%s.inpl", a);
    char *mine = malloc(n + 1);
    memcpy(mine, body, n);
    char err[200] = "";
    int64_t rows = -1;
    CHECK_EQ_INT(esync_image_build_inplace(SCHEMA, (uint8_t *)mine, n, b, &rows, err, sizeof err),
                 ESYNC_OK);
    CHECK_EQ_INT((int)rows, 300);
    same_bytes(a, b);
    remove(a);
    remove(b);
    const char *bad =
        "[{\"key\":\"1\",\"headers\":{\"operation\":\"insert\"},\"value\":{\"id\":\"x\",\"ok\":\"t\"}}]";
    memcpy(mine, bad, strlen(bad));
    err[0] = 0;
    CHECK(esync_image_build_inplace(SCHEMA, (uint8_t *)mine, strlen(bad), b, NULL, err,
                                    sizeof err) != ESYNC_OK);
    CHECK(err[0] != 0);
    FILE *f = fopen(b, "rb");
    CHECK(f == NULL);
    if (f) fclose(f);
    free(mine);
    free(a);
    free(b);
    free(body);
}

/* ---- images written directly (image_write.c) against SQLite's (image_build.c) ---- */

/* image_write.c's answer for body: ESYNC_OK (written to path), ESYNC_IMAGE_NOT_DIRECT, ... */
static int direct(const char *schema, const char *body, const char *path) {
    esync_schema sc = {0};
    esync_msgs ms = {0};
    char err[200] = "";
    int64_t rows = 0;
    int rc = esync__schema_parse(schema, &sc, err, sizeof err);
    CHECK_EQ_INT(rc, ESYNC_OK);
    size_t at = 0;
    if (!rc) rc = esync__msgs_parse(&ms, (const uint8_t *)body, strlen(body), &at);
    if (!rc) rc = esync__order_inserts(&ms, &sc);
    if (!rc) rc = esync__image_write(&ms, &sc, path, &rows, err, sizeof err);
    esync__msgs_free(&ms);
    esync__schema_free(&sc);
    return rc;
}

/* Every row of the image at path, each value with its storage class, in key order; its schema
 * row; and SQLite's integrity check of the file. */
static char *image_dump(const char *path, const char *cols, const char *key) {
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    char q[1024];
    snprintf(
        q, sizeof q,
        "SELECT ifnull((SELECT group_concat(x, char(10)) FROM (SELECT %s AS x FROM shape ORDER BY "
        "%s)), '') || char(10) || (SELECT sql || rootpage FROM sqlite_schema) || char(10) || "
        "(SELECT group_concat(integrity_check) FROM pragma_integrity_check)",
        cols, key);
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_text(st, 0))
        out = strdup((const char *)sqlite3_column_text(st, 0));
    else
        fprintf(stderr, "image_dump %s: %s\n", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* The same rows, schema row and a clean integrity check, whichever way the image was made; the
 * rootpage may differ (SQLite's tree is laid out differently), so it is cut off. */
static void same_image(const char *schema, const char *body, const char *cols, const char *key,
                       int want_direct) {
    char pd[64], ps[64];
    snprintf(pd, sizeof pd, "/tmp/imgd-%d.db", (int)getpid());
    snprintf(ps, sizeof ps, "/tmp/imgs-%d.db", (int)getpid());
    remove(pd);
    remove(ps);
    int rc = direct(schema, body, pd);
    if (rc != (want_direct ? ESYNC_OK : ESYNC_IMAGE_NOT_DIRECT))
        fprintf(stderr, "direct: %d, not %d (%.80s)\n", rc, want_direct, body);
    CHECK_EQ_INT(rc, want_direct ? ESYNC_OK : ESYNC_IMAGE_NOT_DIRECT);
    char err[200] = "";
    int64_t rows = -1;
    esync__image_direct = false;
    CHECK_EQ_INT(
        esync_image_build(schema, (const uint8_t *)body, strlen(body), ps, &rows, err, sizeof err),
        ESYNC_OK);
    esync__image_direct = true;
    if (rc == ESYNC_OK) {
        char *a = image_dump(pd, cols, key), *b = image_dump(ps, cols, key);
        CHECK(a && b);
        if (a && b) {
            /* "...WITHOUT ROWID<root>\nok": compare all but the root page's number */
            char *ra = strstr(a, "WITHOUT ROWID"), *rb = strstr(b, "WITHOUT ROWID");
            CHECK(ra && rb);
            if (ra && rb) {
                CHECK(ra - a == rb - b && !memcmp(a, b, (size_t)(ra - a)));
                CHECK(!strcmp(strchr(ra, '\n'), "\nok") && !strcmp(strchr(rb, '\n'), "\nok"));
            }
        }
        free(a);
        free(b);
        /* the engine's own build (direct first) gives the direct file, byte for byte */
        char pe[64];
        snprintf(pe, sizeof pe, "/tmp/imge-%d.db", (int)getpid());
        CHECK_EQ_INT(esync_image_build(schema, (const uint8_t *)body, strlen(body), pe, &rows, err,
                                       sizeof err),
                     ESYNC_OK);
        same_bytes(pd, pe);
        remove(pe);
    }
    remove(pd);
    remove(ps);
}

static const char *MIXED =
    "{\"id\":{\"type\":\"int8\",\"pk_index\":0,\"not_null\":true},\"f\":{\"type\":\"float8\"},"
    "\"ok\":{\"type\":\"bool\",\"not_null\":true},\"j\":{\"type\":\"jsonb\"},"
    "\"b\":{\"type\":\"bytea\"},\"u\":{\"type\":\"uuid\"},\"a\":{\"type\":\"int4\",\"dims\":1},"
    "\"t\":{\"type\":\"text\"}}";
static const char *MIXED_COLS =
    "quote(id)||typeof(id)||quote(f)||typeof(f)||quote(ok)||quote(j)||quote(b)||quote(u)||"
    "quote(a)||quote(t)";

/* n rows of MIXED, keys spread over the int8 storage sizes (0, 1, and 1- to 8-byte integers,
 * negative too), in key order or (scrambled) not: esync__order_inserts sorts a chunk of 64 rows or
 * more. `nan` puts a non-finite float in one row; `longtext` a 2 kB text in one. */
static char *mixed(int n, int scrambled, int nan, int longtext) {
    size_t cap = (size_t)n * 400 + 4200;
    char *b = malloc(cap), *p = b;
    p += sprintf(p, "[");
    for (int i = 0; i < n; i++) {
        int k = scrambled ? (i * 7919 + 13) % n : i; /* a permutation: 7919 is prime */
        long long d = k - n / 2, id = (d < 0 ? -1 : 1) * d * d * d * d;
        const char *f = k % 5 == 0   ? "-0"
                        : k % 5 == 1 ? "1.5"
                        : k % 5 == 2 ? "1e300"
                        : k % 5 == 3 ? "42"
                                     : "-2.25e-10";
        if (nan && k == n / 2) f = "NaN";
        p += sprintf(p,
                     "%s{\"key\":\"k%lld\",\"headers\":{\"operation\":\"insert\"},\"value\":{"
                     "\"id\":\"%lld\",\"f\":\"%s\",\"ok\":\"%s\",\"j\":%s,\"b\":%s,"
                     "\"u\":\"00000000-0000-4000-8000-%012d\",\"a\":\"{1,%d,NULL}\",\"t\":",
                     i ? "," : "", id, id, f, k % 2 ? "t" : "f",
                     k % 4 ? "\"{\\\"x\\\":[1,2]}\"" : "null", k % 3 ? "\"\\\\x0a0b\"" : "null", k,
                     k);
        if (longtext && k == n / 3) {
            *p++ = '"';
            for (int c = 0; c < 2000; c++) *p++ = (char)('a' + c % 26);
            p += sprintf(p, "\"}}");
        } else {
            p += sprintf(p, "%s}}", k % 6 == 5 ? "null" : "\"caf\\u00e9 \\\"q\\\"\"");
        }
    }
    sprintf(p, "]");
    return b;
}

static void test_direct(void) {
    /* no row, one, two, a leaf, in key order; two leaves and three levels of pages, sorted by
     * esync__order_inserts */
    static const int sizes[] = {0, 1, 2, 37, 300, 20000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *b = mixed(sizes[i], sizes[i] >= ESYNC_ORDER_MIN, 0, 0);
        same_image(MIXED, b, MIXED_COLS, "id", 1);
        free(b);
    }
    /* what it leaves to SQLite: rows out of key order (a chunk too small to be sorted), a
     * non-finite float (text in a REAL column), a record that needs an overflow page, a key twice */
    char *b = mixed(37, 1, 0, 0);
    same_image(MIXED, b, MIXED_COLS, "id", 0);
    free(b);
    b = mixed(300, 1, 1, 0);
    same_image(MIXED, b, MIXED_COLS, "id", 0);
    free(b);
    b = mixed(300, 1, 0, 1);
    same_image(MIXED, b, MIXED_COLS, "id", 0);
    free(b);
    char dpath[64];
    snprintf(dpath, sizeof dpath, "/tmp/imgdup-%d.db", (int)getpid());
    const char *dup =
        "[{\"headers\":{\"operation\":\"insert\"},\"value\":{\"id\":\"1\",\"ok\":\"t\"}},"
        "{\"headers\":{\"operation\":\"insert\"},\"value\":{\"id\":\"1\",\"ok\":\"f\"}}]";
    CHECK_EQ_INT(direct(MIXED, dup, dpath), ESYNC_IMAGE_NOT_DIRECT);
    CHECK(access(dpath, F_OK) != 0); /* nothing written */
    char err[200] = "";
    CHECK(esync_image_build(MIXED, (const uint8_t *)dup, strlen(dup), dpath, NULL, err,
                            sizeof err) != ESYNC_OK); /* SQLite's path refuses the key twice */
    CHECK(access(dpath, F_OK) != 0);
    /* a text key (test_items' uuid) and a key of two columns */
    const char *items =
        "{\"id\":{\"type\":\"uuid\",\"pk_index\":0,\"not_null\":true},\"title\":{\"type\":\"text\"}}";
    const char *two =
        "{\"g\":{\"type\":\"int4\",\"pk_index\":0},\"name\":{\"type\":\"text\",\"pk_index\":1},"
        "\"v\":{\"type\":\"float8\"}}";
    size_t cap = 20000 * 120;
    char *bi = malloc(cap), *bt = malloc(cap), *pi = bi, *pt = bt;
    pi += sprintf(pi, "[");
    pt += sprintf(pt, "[");
    for (int i = 0; i < 20000; i++) {
        int k = (i * 7919) % 20000;
        pi += sprintf(
            pi,
            "%s{\"headers\":{\"operation\":\"insert\"},\"value\":{\"id\":\"%08x-0000-4000-"
            "8000-%012x\",\"title\":\"Item %d\"}}",
            i ? "," : "", k * 2654435761u, k, k);
        /* g descending in blocks, names ascending within one: sorted by g (stably), the rows
         * are in (g, name) order */
        pt += sprintf(pt,
                      "%s{\"headers\":{\"operation\":\"insert\"},\"value\":{\"g\":\"%d\",\"name\":"
                      "\"n%06d\",\"v\":\"%d.5\"}}",
                      i ? "," : "", 3 - i / 2900, i, k);
    }
    sprintf(pi, "]");
    sprintf(pt, "]");
    same_image(items, bi, "quote(id)||quote(title)", "id", 1);
    same_image(two, bt, "quote(g)||quote(name)||quote(v)", "g, name", 1);
    free(bi);
    free(bt);
}

int main(void) {
    test_same_as_json();
    test_build_inplace();
    test_one_batch();
    test_bad_images();
    test_where_offered();
    test_build_errors();
    test_direct();
    return harness_result();
}
