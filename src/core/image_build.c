/*
 * image_build.c — makes a replica image (image.c, esync.h: esync_image_build) from a snapshot
 * chunk's JSON messages: the shape service's side of the image. The rows are converted and
 * bound by the engine's own value rules (types.c) into the table the engine would make
 * (esync__schema_ddl), so that an image holds exactly what applying the JSON would store. Where
 * it can be exact, image_write.c writes the file directly in SQLite's format (no SQLite inserts);
 * the rest is built here with SQLite, which also reports a bad chunk's error. Kept
 * apart from image.c so that the browser's module, which never builds an image, links none of it.
 *
 * Not thread-safe (SQLite is built single-threaded, and the counting allocator is global): the
 * caller builds from one thread at a time.
 */
#include "alloc.h"
#include "errors.h"
#include "image_write.h"
#include "msgparse.h"
#include "order.h"
#include "types.h"

#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t errlen, int rc, const char *what, sqlite3 *db) {
    if (err && errlen) snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "");
    return rc;
}

/* The insert messages of ms into the prepared insert st, columns by name. */
static int insert_rows(sqlite3 *db, sqlite3_stmt *st, const esync_msgs *ms, const esync_schema *sc,
                       unsigned char *seen, int64_t *rows, char *err, size_t errlen) {
    for (size_t i = 0; i < ms->n; i++) {
        const esync_msg *m = &ms->m[i];
        if (m->op_kind == ESYNC_JSON_ABSENT) continue; /* control messages */
        if (!esync__msg_is_insert(m) || m->value_kind != ESYNC_JSON_OBJECT) {
            snprintf(err, errlen, "message %zu is not an insert with a value", i);
            return ESYNC_EPROTO;
        }
        sqlite3_clear_bindings(st);
        memset(seen, 0, (size_t)sc->ncols);
        int expect = 0; /* fields usually come in schema order: the next column first */
        for (uint32_t k = 0; k < m->nfields; k++) {
            const esync_field *f = &ms->f[m->field0 + k];
            int c = expect < sc->ncols && !strcmp(sc->cols[expect].name, f->name)
                        ? expect
                        : esync__schema_find(sc, f->name);
            expect = c + 1;
            if (c < 0 || seen[c] || (f->kind != ESYNC_JSON_STRING && f->kind != ESYNC_JSON_NULL)) {
                snprintf(err, errlen, "message %zu: bad column \"%.60s\"", i, f->name);
                return ESYNC_EPROTO;
            }
            int rc = esync__bind_value(st, c + 1, &sc->cols[c],
                                       f->kind == ESYNC_JSON_STRING ? f->text : NULL, err, errlen);
            if (rc) return rc;
            seen[c] = 1;
        }
        /* a column absent from the message is NULL, as the engine would store it */
        for (int c = 0; c < sc->ncols; c++) {
            int rc = seen[c] ? ESYNC_OK
                             : esync__bind_value(st, c + 1, &sc->cols[c], NULL, err, errlen);
            if (rc) return rc;
        }
        if (sqlite3_step(st) != SQLITE_DONE) return fail(err, errlen, ESYNC_EVALUE, "insert", db);
        sqlite3_reset(st);
        (*rows)++;
    }
    return ESYNC_OK;
}

int esync_image_build(const char *schema, const uint8_t *body, size_t len, const char *path,
                      int64_t *rows, char *err, size_t errlen) {
    uint8_t *copy = esync__malloc(len + 1);
    if (!copy) {
        if (rows) *rows = 0;
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return ESYNC_ENOMEM;
    }
    memcpy(copy, body, len);
    int rc = esync_image_build_inplace(schema, copy, len, path, rows, err, errlen);
    esync__freemem(copy);
    return rc;
}

int esync_image_build_inplace(const char *schema, uint8_t *body, size_t len, const char *path,
                              int64_t *rows, char *err, size_t errlen) {
    /* SQLite only: cJSON's allocator stays the host's (the shape service has its own), which
     * the engine's code allows (cJSON's strings go back through cJSON_free) */
    int rc = esync__initialize_sqlite();
    if (rc) return rc;
    if (rows) *rows = 0;
    int64_t n = 0;
    esync_schema sc = {0};
    esync_msgs ms = {0};
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    esync_buf b;
    esync__buf_init(&b);
    if ((rc = esync__schema_parse(schema, &sc, err, errlen))) goto done;
    size_t at = 0;
    body[len] = 0;
    if ((rc = esync__msgs_parse_inplace(&ms, body, len, &at)) || !ms.is_array) {
        snprintf(err, errlen, "not a JSON array of messages (byte %zu of %zu)", at, len);
        rc = rc ? rc : ESYNC_EPROTO;
        goto done;
    }
    if ((rc = esync__order_inserts(&ms, &sc))) goto done;
    /* written directly where image_write.c can (the common case), else made by SQLite below */
    if (esync__image_direct) {
        rc = esync__image_write(&ms, &sc, path, &n, err, errlen);
        if (rc != ESYNC_IMAGE_NOT_DIRECT) goto done;
        rc = ESYNC_OK;
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) {
        rc = fail(err, errlen, ESYNC_ESQLITE, "open", db);
        goto done;
    }
    esync__buf_puts(&b, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN; ");
    esync__schema_ddl(&sc, "main", "shape", &b);
    esync__buf_puts(&b, "; ");
    if (b.oom || sqlite3_exec(db, b.data, NULL, NULL, NULL)) {
        rc = fail(err, errlen, b.oom ? ESYNC_ENOMEM : ESYNC_ESQLITE, "create", db);
        goto done;
    }
    esync__buf_reset(&b);
    esync__buf_puts(&b, "INSERT INTO main.shape VALUES (");
    for (int c = 0; c < sc.ncols; c++) esync__buf_puts(&b, c ? ", ?" : "?");
    esync__buf_putc(&b, ')');
    if (b.oom || sqlite3_prepare_v2(db, b.data, -1, &st, NULL)) {
        rc = fail(err, errlen, b.oom ? ESYNC_ENOMEM : ESYNC_ESQLITE, "prepare", db);
        goto done;
    }
    unsigned char *seen = esync__malloc((size_t)sc.ncols + 1);
    rc = seen ? insert_rows(db, st, &ms, &sc, seen, &n, err, errlen) : ESYNC_ENOMEM;
    esync__freemem(seen);
    if (rc) goto done;
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL))
        rc = fail(err, errlen, ESYNC_ESQLITE, "commit", db);
done:
    sqlite3_finalize(st);
    if (db) sqlite3_close_v2(db);
    if (rc) remove(path);
    if (rows) *rows = n;
    esync__msgs_free(&ms);
    esync__schema_free(&sc);
    esync__buf_free(&b);
    return rc;
}
