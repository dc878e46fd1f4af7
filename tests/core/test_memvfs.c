/*
 * The browser build's in-memory VFS (src/wasm/memvfs.c), compiled natively: lock levels between
 * a writer and a reader, batch-atomic commits with no journal, rollback restoring pages, dirty
 * chunk tracking, loading an image into a new file, and loading one lazily (ABSENT chunks);
 * chunks in slabs (consecutive chunks contiguous in memory, a slab freed with its last chunk).
 */
#include "esync.h"
#include "harness.h"
#include "memvfs.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static sqlite3 *open_conn(const char *name, int flags) {
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open_v2(name, &db, flags, ESYNC_MEMVFS_NAME), SQLITE_OK);
    return db;
}

static int count(sqlite3 *db) {
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL) != SQLITE_OK) return -2;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int integrity_ok(sqlite3 *db) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) return 0;
    int ok = sqlite3_step(st) == SQLITE_ROW &&
             !strcmp((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    return ok;
}

static void test_locks_and_batches(void) {
    sqlite3 *w = open_conn("/m.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    CHECK_EQ_INT(sqlite3_exec(w, "CREATE TABLE t(x INTEGER PRIMARY KEY, y TEXT)", NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3 *r = open_conn("/m.db", SQLITE_OPEN_READONLY);
    uint32_t idx[64];
    esync_memvfs_take_dirty("/m.db", idx, 64);
    uint64_t commits = esync_memvfs_commits();
    CHECK_EQ_INT(
        sqlite3_exec(w, "BEGIN IMMEDIATE; INSERT INTO t(y) VALUES('a'),('b')", NULL, NULL, NULL),
        SQLITE_OK);
    CHECK_EQ_INT(count(r), 0); /* a reader sees committed pages while the writer holds RESERVED */
    CHECK_EQ_INT(sqlite3_exec(w, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(count(r), 2);
    CHECK(esync_memvfs_commits() == commits + 1);
    CHECK_EQ_INT(esync_memvfs_size("/m.db-journal"), -1); /* batch-atomic: no journal */
    size_t n = esync_memvfs_take_dirty("/m.db", idx, 64);
    CHECK(n >= 1 && n <= 3);
    CHECK_EQ_INT(esync_memvfs_take_dirty("/m.db", idx, 64), 0);
    /* a failed statement inside a transaction, then rollback: the pages come back */
    CHECK_EQ_INT(
        sqlite3_exec(w,
                     "BEGIN; INSERT INTO t(y) SELECT hex(zeroblob(3000)) FROM t, t AS t2, t AS t3",
                     NULL, NULL, NULL),
        SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(count(r), 2);
    /* a big transaction that spills pages before commit still commits atomically */
    CHECK_EQ_INT(
        sqlite3_exec(
            w,
            "PRAGMA cache_size=10; BEGIN; WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 3000)"
            " INSERT INTO t(y) SELECT hex(randomblob(100)) FROM c; COMMIT",
            NULL, NULL, NULL),
        SQLITE_OK);
    CHECK_EQ_INT(count(r), 3002);
    CHECK(integrity_ok(r));
    sqlite3_close(r);
    sqlite3_close(w);
    /* copy the image chunk by chunk into a new file, as the IndexedDB loader does */
    sqlite3_int64 size = esync_memvfs_size("/m.db");
    CHECK(size > 0 && size % ESYNC_MEMVFS_CHUNK == 0);
    for (sqlite3_int64 off = 0; off < size; off += ESYNC_MEMVFS_CHUNK) {
        unsigned char *c = esync_memvfs_chunk("/m.db", (size_t)(off / ESYNC_MEMVFS_CHUNK));
        CHECK(c != NULL);
        if (c) CHECK_EQ_INT(esync_memvfs_write("/copy.db", off, c, ESYNC_MEMVFS_CHUNK), SQLITE_OK);
    }
    CHECK_EQ_INT(esync_memvfs_take_dirty("/copy.db", idx, 64), 0); /* loaded, not dirty */
    sqlite3 *c = open_conn("/copy.db", SQLITE_OPEN_READONLY);
    CHECK_EQ_INT(count(c), 3002);
    sqlite3_close(c);
    CHECK_EQ_INT(esync_memvfs_delete("/copy.db"), SQLITE_OK);
    CHECK_EQ_INT(esync_memvfs_delete("/m.db"), SQLITE_OK);
    CHECK_EQ_INT(esync_memvfs_size("/m.db"), -1);
    CHECK(esync_memvfs_delete("/m.db") != SQLITE_OK);
}

static void test_engine_on_memvfs(void) {
    int64_t before = esync_memory_used();
    esync_options o = {.path = "/engine.db", .vfs = ESYNC_MEMVFS_NAME, .seed = 1};
    esync *e = NULL;
    CHECK_EQ_INT(esync_open(&o, &e), ESYNC_OK);
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"items\"}"), ESYNC_OK);
    const char *body =
        "[{\"key\":\"1\",\"value\":{\"id\":\"1\"},\"headers\":{\"operation\":\"insert\"}}]";
    esync_response r = {.status = 200,
                        .handle = "h",
                        .offset = "0_inf",
                        .schema = "{\"id\":{\"type\":\"int4\",\"pk_index\":0}}",
                        .up_to_date = 1,
                        .body = (const uint8_t *)body,
                        .body_len = strlen(body),
                        .now_ms = 1};
    char *ch = NULL;
    CHECK_EQ_INT(esync_ingest(e, "s", &r, &ch, NULL), ESYNC_OK);
    CHECK(ch && strstr(ch, "\"insert\":[{\"id\":1}]"));
    esync_free(ch);
    esync_close(e);
    CHECK_EQ_INT(esync_open(&o, &e), ESYNC_OK); /* the file outlives the engine */
    CHECK_EQ_INT(esync_shape_define(e, "s", "{\"table\":\"items\"}"), ESYNC_OK);
    char *rows = NULL;
    CHECK_EQ_INT(esync_query(e, "SELECT id FROM items", NULL, &rows, NULL), ESYNC_OK);
    CHECK(rows && !strcmp(rows, "[{\"id\":1}]"));
    esync_free(rows);
    esync_close(e);
    esync_memvfs_delete("/engine.db");
    CHECK_EQ_INT(esync_memory_used(), before);
}

/* A lazy load: an image copied with most chunks left ABSENT. Statements that meet one fail with
 * an I/O error, change nothing and name the chunk; loading it and running again succeeds. */
static void test_lazy_load(void) {
    sqlite3 *w = open_conn("/src.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    CHECK_EQ_INT(
        sqlite3_exec(w,
                     "CREATE TABLE t(x INTEGER PRIMARY KEY, y TEXT);"
                     "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 2000)"
                     " INSERT INTO t(y) SELECT hex(randomblob(60)) FROM c",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(w);
    sqlite3_int64 size = esync_memvfs_size("/src.db");
    size_t n = (size_t)(size / ESYNC_MEMVFS_CHUNK);
    CHECK(n > 20);
    /* chunk 0 (the header, the schema) loaded; the file sized; the rest ABSENT */
    unsigned char *c0 = esync_memvfs_load_chunk("/lazy.db", 0, ESYNC_MEMVFS_CHUNK);
    CHECK(c0 != NULL);
    if (c0) memcpy(c0, esync_memvfs_chunk("/src.db", 0), ESYNC_MEMVFS_CHUNK);
    unsigned char *last = esync_memvfs_load_chunk("/lazy.db", n - 1, ESYNC_MEMVFS_CHUNK);
    CHECK(last != NULL);
    if (last) memcpy(last, esync_memvfs_chunk("/src.db", n - 1), ESYNC_MEMVFS_CHUNK);
    CHECK_EQ_INT(esync_memvfs_absent("/lazy.db", 0, n, 1), (long)(n - 2));
    CHECK_EQ_INT(esync_memvfs_absent("/lazy.db", 0, 0, 1), (long)(n - 2)); /* counts only */
    CHECK_EQ_INT(esync_memvfs_absent("/nope.db", 0, 0, 1), 0);
    CHECK_EQ_INT(esync_memvfs_size("/nope.db"), -1); /* not created by a count */
    CHECK_EQ_INT(esync_memvfs_absent("/nope.db", 0, 0, 0), 0);
    CHECK(esync_memvfs_is_absent("/lazy.db", 1) && !esync_memvfs_is_absent("/lazy.db", 0));
    CHECK(esync_memvfs_chunk("/lazy.db", 1) == NULL); /* never handed out */
    CHECK(esync_memvfs_missing() == -1);
    sqlite3 *r = open_conn("/lazy.db", SQLITE_OPEN_READWRITE);
    uint32_t idx[64];
    esync_memvfs_take_dirty("/lazy.db", idx, 64);
    /* a statement that would write meets ABSENT chunks: it fails and nothing is written */
    CHECK(sqlite3_exec(r, "DELETE FROM t WHERE x > 10", NULL, NULL, NULL) != SQLITE_OK);
    CHECK(esync_memvfs_missing() > 0);
    CHECK_EQ_INT(esync_memvfs_take_dirty("/lazy.db", idx, 64), 0);
    /* a read meets ABSENT chunks: fails, each time naming one; loading it makes progress */
    int tries = 0, got;
    while ((got = count(r)) < 0 && tries < 1000) {
        sqlite3_int64 miss = esync_memvfs_missing();
        CHECK(miss > 0 && miss < (sqlite3_int64)n);
        if (miss <= 0) break;
        CHECK(esync_memvfs_missing() == -1); /* forgotten once read */
        unsigned char *c = esync_memvfs_load_chunk("/lazy.db", (size_t)miss, ESYNC_MEMVFS_CHUNK);
        if (c) memcpy(c, esync_memvfs_chunk("/src.db", (size_t)miss), ESYNC_MEMVFS_CHUNK);
        tries++;
    }
    CHECK_EQ_INT(got, 2000);
    CHECK(tries > 0);
    CHECK_EQ_INT(esync_memvfs_absent("/lazy.db", 0, 0, 1), (long)(n - 2 - (size_t)tries));
    /* everything loaded: the same image, writable */
    for (size_t i = 0; i < n; i++) {
        if (!esync_memvfs_is_absent("/lazy.db", i)) continue;
        unsigned char *c = esync_memvfs_load_chunk("/lazy.db", i, ESYNC_MEMVFS_CHUNK);
        if (c) memcpy(c, esync_memvfs_chunk("/src.db", i), ESYNC_MEMVFS_CHUNK);
    }
    CHECK_EQ_INT(esync_memvfs_absent("/lazy.db", 0, 0, 1), 0);
    CHECK_EQ_INT(count(r), 2000);
    CHECK_EQ_INT(sqlite3_exec(r, "DELETE FROM t WHERE x > 10", NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(count(r), 10);
    CHECK(integrity_ok(r));
    sqlite3_close(r);
    /* marking creates and sizes the file; load_chunk fills an ABSENT chunk; off: ABSENT chunks
     * storage had no record for read as zeros; a deleted file frees none */
    CHECK_EQ_INT(esync_memvfs_absent("/sparse.db", 1, 3, 1), 3);
    CHECK_EQ_INT(esync_memvfs_size("/sparse.db"), 4 * ESYNC_MEMVFS_CHUNK);
    CHECK(esync_memvfs_load_chunk("/sparse.db", 3, 10) != NULL);
    CHECK_EQ_INT(esync_memvfs_size("/sparse.db"), 4 * ESYNC_MEMVFS_CHUNK);
    CHECK_EQ_INT(esync_memvfs_absent("/sparse.db", 0, 0, 1), 2);
    CHECK_EQ_INT(esync_memvfs_absent("/sparse.db", 1, 1, 0), 1);
    CHECK(!esync_memvfs_is_absent("/sparse.db", 1) && esync_memvfs_is_absent("/sparse.db", 2));
    /* writes: a whole ABSENT chunk is replaced, part of one is refused; a rolled back batch
     * makes a replaced one ABSENT again */
    sqlite3 *sp = open_conn("/sparse.db", SQLITE_OPEN_READWRITE);
    sqlite3_file *fp = NULL;
    CHECK_EQ_INT(sqlite3_file_control(sp, "main", SQLITE_FCNTL_FILE_POINTER, &fp), SQLITE_OK);
    static unsigned char page[ESYNC_MEMVFS_CHUNK];
    memset(page, 7, sizeof page);
    if (fp) {
        CHECK_EQ_INT(fp->pMethods->xWrite(fp, page, 100, 2 * ESYNC_MEMVFS_CHUNK + 8),
                     SQLITE_IOERR_WRITE);
        CHECK(esync_memvfs_missing() == 2);
        CHECK(esync_memvfs_is_absent("/sparse.db", 2));
        CHECK_EQ_INT(fp->pMethods->xFileControl(fp, SQLITE_FCNTL_BEGIN_ATOMIC_WRITE, NULL),
                     SQLITE_OK);
        CHECK_EQ_INT(fp->pMethods->xWrite(fp, page, ESYNC_MEMVFS_CHUNK, 2 * ESYNC_MEMVFS_CHUNK),
                     SQLITE_OK);
        CHECK_EQ_INT(esync_memvfs_absent("/sparse.db", 0, 0, 1), 0);
        CHECK_EQ_INT(fp->pMethods->xFileControl(fp, SQLITE_FCNTL_ROLLBACK_ATOMIC_WRITE, NULL),
                     SQLITE_OK);
        CHECK(esync_memvfs_is_absent("/sparse.db", 2));
        CHECK_EQ_INT(fp->pMethods->xWrite(fp, page, ESYNC_MEMVFS_CHUNK, 2 * ESYNC_MEMVFS_CHUNK),
                     SQLITE_OK);
        CHECK_EQ_INT(esync_memvfs_absent("/sparse.db", 0, 0, 1), 0);
        unsigned char *c2 = esync_memvfs_chunk("/sparse.db", 2);
        CHECK(c2 && c2[0] == 7 && c2[ESYNC_MEMVFS_CHUNK - 1] == 7);
        CHECK_EQ_INT(esync_memvfs_absent("/sparse.db", 1, 1, 1), 1); /* (NULL again: ABSENT) */
        CHECK_EQ_INT(fp->pMethods->xTruncate(fp, 0), SQLITE_IOERR_TRUNCATE);
        CHECK(esync_memvfs_missing() == 1);
        CHECK_EQ_INT(esync_memvfs_size("/sparse.db"), 4 * ESYNC_MEMVFS_CHUNK); /* nothing cut */
    }
    sqlite3_close(sp);
    CHECK_EQ_INT(esync_memvfs_delete("/sparse.db"), SQLITE_OK);
    CHECK_EQ_INT(esync_memvfs_delete("/lazy.db"), SQLITE_OK);
    CHECK_EQ_INT(esync_memvfs_delete("/src.db"), SQLITE_OK);
}

/* Chunks live in slabs of 64: consecutive chunks written in any order lie contiguously (the
 * store builds an extent's Blob from a few views of them), a slab goes with its last chunk (a
 * truncation, a rollback or the file's deletion frees it), and a sparse file keeps holes. */
static void test_slabs(void) {
    enum { SLAB = 64 };
    int64_t before = esync_memory_used();
    unsigned char page[ESYNC_MEMVFS_CHUNK];
    /* written backwards, and with a hole at 70 */
    for (int i = 2 * SLAB + 3; i >= 0; i--) {
        if (i == 70) continue;
        memset(page, i & 0xff, sizeof page);
        CHECK_EQ_INT(esync_memvfs_write("/slab.db", (sqlite3_int64)i * ESYNC_MEMVFS_CHUNK, page,
                                        sizeof page),
                     SQLITE_OK);
    }
    CHECK_EQ_INT(esync_memvfs_size("/slab.db"), (2 * SLAB + 4) * ESYNC_MEMVFS_CHUNK);
    for (int i = 0; i < 2 * SLAB + 4; i++) {
        unsigned char *c = esync_memvfs_chunk("/slab.db", (size_t)i);
        if (i == 70) {
            CHECK(c == NULL);
            continue;
        }
        CHECK(c != NULL && c[0] == (i & 0xff) && c[ESYNC_MEMVFS_CHUNK - 1] == (i & 0xff));
        if (i % SLAB && i != 71)
            CHECK(c == esync_memvfs_chunk("/slab.db", (size_t)i - 1) + ESYNC_MEMVFS_CHUNK);
    }
    CHECK(esync_memory_used() - before >= 3 * SLAB * ESYNC_MEMVFS_CHUNK);
    /* a truncation into the third slab keeps it; one to the end of the first frees two */
    sqlite3 *db = open_conn("/slab.db", SQLITE_OPEN_READWRITE);
    sqlite3_file *fp = NULL;
    CHECK_EQ_INT(sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &fp), SQLITE_OK);
    int64_t three = esync_memory_used();
    CHECK_EQ_INT(fp->pMethods->xTruncate(fp, (2 * SLAB + 1) * ESYNC_MEMVFS_CHUNK), SQLITE_OK);
    CHECK_EQ_INT(esync_memory_used(), three);
    CHECK(esync_memvfs_chunk("/slab.db", 2 * SLAB + 1) == NULL);
    CHECK_EQ_INT(fp->pMethods->xTruncate(fp, SLAB * ESYNC_MEMVFS_CHUNK), SQLITE_OK);
    CHECK(three - esync_memory_used() >= 2 * SLAB * ESYNC_MEMVFS_CHUNK);
    /* written again after the cut: a new slab, contiguous again */
    memset(page, 0xab, sizeof page);
    CHECK_EQ_INT(esync_memvfs_write("/slab.db", (SLAB + 1) * ESYNC_MEMVFS_CHUNK, page, sizeof page),
                 SQLITE_OK);
    CHECK_EQ_INT(esync_memvfs_write("/slab.db", SLAB * ESYNC_MEMVFS_CHUNK, page, sizeof page),
                 SQLITE_OK);
    CHECK(esync_memvfs_chunk("/slab.db", SLAB + 1) ==
          esync_memvfs_chunk("/slab.db", SLAB) + ESYNC_MEMVFS_CHUNK);
    sqlite3_close(db);
    CHECK_EQ_INT(esync_memvfs_delete("/slab.db"), SQLITE_OK);
    CHECK_EQ_INT(esync_memory_used(), before);
}

int main(void) {
    /* The first engine initializes SQLite with the engine's allocator. */
    char *path = harness_tmpdb();
    esync_options first = {path, NULL, 1, 0, NULL};
    esync *e = NULL;
    CHECK_EQ_INT(esync_open(&first, &e), ESYNC_OK);
    esync_close(e);
    harness_rmdb(path);
    CHECK_EQ_INT(esync_memvfs_register(0), SQLITE_OK);
    test_locks_and_batches();
    test_engine_on_memvfs();
    test_lazy_load();
    test_slabs();
    return harness_result();
}
