/*
 * image.c — a snapshot response as a replica image: a SQLite database that holds the
 * response's rows in one table, `shape`, made the way this engine makes its own tables
 * (esync__schema_ddl of the response's electric-schema). The shape service sends one instead of
 * a JSON snapshot chunk when the request accepts it (esync_request.image); the rows are copied
 * into the batch in SQL, without a JSON parse or a value conversion per row. Each image is
 * attached under a name of its own (esync_image_<i>) until its batch ends: an attached database
 * read in a transaction cannot be detached before the transaction ends, so batch.c detaches them
 * at commit or rollback; the batch commits when ingest.c says (checkpoints, up-to-date), or
 * here when ESYNC_IMAGES_MAX are attached.
 *
 * An image is untrusted input like a body: attached (and only read), it is refused, with
 * nothing written, when it is not a database or a corrupt one (SQLITE_NOTADB, SQLITE_CORRUPT;
 * cell sizes are checked while it is attached), when its schema is not exactly the one table
 * the response's electric-schema makes, and when a value is not one the engine could have stored
 * in its column (esync__value_fits: storage class, NULL, ranges, JSON, UUID), checked row by row
 * as the rows are emitted as the batch's inserts.
 *
 * Invariants
 *  - Only where the batch needs no per-key tracking: a sync from nothing (fast) or a snapshot
 *    chunk after a checkpoint (append); request.c offers images only there.
 *  - The image is detached on every path; the caller owns the file.
 */
#include "image.h"

#include "alloc.h"
#include "batch.h"
#include "changes.h"
#include "errors.h"
#include "rows.h"
#include "types.h"

#include <stdio.h>
#include <string.h>

/* One value (the first column of the first row) of a statement on the writer, with text
 * parameter ?1 when arg is set; -1 on failure. */
static int64_t one_int(esync *e, const char *sql, const char *arg) {
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL) == SQLITE_OK &&
        (!arg || sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC) == SQLITE_OK)) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        else if (r == SQLITE_DONE)
            v = 0;
    }
    sqlite3_finalize(st);
    return v;
}

/* The attached image holds exactly the table sc makes. */
static int check_schema(esync *e, esync_shape *s, const esync_schema *sc, const char *img) {
    esync_buf ddl;
    esync__buf_init(&ddl);
    esync__schema_ddl(sc, "x", "shape", &ddl);
    /* sqlite_schema keeps "CREATE TABLE <name> …": the statement without its schema name */
    const char *name = ddl.data ? strstr(ddl.data, "x.") : NULL;
    char q[160];
    snprintf(q, sizeof q,
             "SELECT count(*) = 1 AND max(type = 'table' AND name = 'shape' AND sql = "
             "'CREATE TABLE ' || ?1) FROM %s.sqlite_schema",
             img);
    int64_t ok = ddl.oom || !name ? -2 : one_int(e, q, name + 2);
    esync__buf_free(&ddl);
    if (ok == -2) return esync__oom(e);
    if (ok < 0)
        return esync__fail(e, ESYNC_EPROTO, "shape \"%s\": the image is not a database (%s)",
                           s->name, sqlite3_errmsg(e->db));
    if (!ok)
        return esync__fail(e, ESYNC_ESCHEMA,
                           "shape \"%s\": the image's tables are not the electric-schema's",
                           s->name);
    return ESYNC_OK;
}

/* The image's rows into the open batch: each checked and, in append mode, emitted as an insert
 * of the batch's change set, in one pass (a fast batch's change set is the table, read at
 * commit); then all copied in SQL. */
static int copy_rows(esync *e, esync_shape *s, const char *img, esync_buf *q) {
    const esync_schema *sc = &s->schema_b;
    int rc = ESYNC_OK, r;
    if (s->append && !esync__changes_app_head(s)) return esync__oom(e);
    esync__buf_reset(q);
    esync__buf_puts(q, "SELECT ");
    esync__rows_col_list(q, sc, NULL);
    esync__buf_printf(q, " FROM %s.shape", img);
    sqlite3_stmt *st = NULL;
    if (q->oom) return esync__oom(e);
    if (sqlite3_prepare_v2(e->db, q->data, -1, &st, NULL)) return esync__sqlfail(e, e->db, "image");
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < sc->ncols && !rc; i++)
            if (!esync__value_fits(&sc->cols[i], st, i))
                rc = esync__fail(e, ESYNC_EVALUE,
                                 "shape \"%s\": the image's column \"%s\" holds a value its type "
                                 "(%s) does not allow",
                                 s->name, sc->cols[i].name, sc->cols[i].pgtype);
        if (rc || !s->append) continue;
        if (s->n_app++) esync__buf_putc(&s->app, ',');
        rc = esync__emit_row(&s->app, st, sc);
    }
    if (!rc && r != SQLITE_DONE)
        rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": the image cannot be read (%s)", s->name,
                         sqlite3_errmsg(e->db));
    sqlite3_finalize(st);
    if (!rc && s->app.oom) rc = esync__oom(e);
    if (rc) return rc;
    esync__buf_reset(q);
    esync__buf_puts(q, "INSERT INTO main.");
    esync__buf_ident(q, s->sqlname);
    esync__buf_printf(q, " SELECT * FROM %s.shape", img);
    if (q->oom) return esync__oom(e);
    rc = esync__exec_buf(e, q);
    if (rc) return rc == ESYNC_ESQLITE ? esync__fail(e, ESYNC_EPROTO, "%s", e->errmsg) : rc;
    s->batch_inserts += sqlite3_changes(e->db);
    return ESYNC_OK;
}

int esync__image_apply(esync *e, esync_shape *s, const esync_response *r, const esync_schema *rs,
                       esync_buf *out) {
    int rc = ESYNC_OK;
    esync_buf q;
    esync__buf_init(&q);
    /* as many attached as allowed: the batch commits first (a checkpoint) and detaches them */
    if (s->in_batch && e->images >= ESYNC_IMAGES_MAX &&
        (rc = esync__batch_commit_now(e, s, r->now_ms, true, out)))
        goto done;
    bool fresh = !s->in_batch;
    char img[32];
    snprintf(img, sizeof img, ESYNC_IMAGE_SCHEMA "%d", e->images);
    char attach[64];
    snprintf(attach, sizeof attach, "ATTACH ?1 AS %s", img);
    sqlite3_exec(e->db, "PRAGMA cell_size_check=ON", NULL, NULL, NULL); /* off at detach */
    if (one_int(e, attach, r->image) < 0) {
        rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": the image cannot be opened (%s)", s->name,
                         sqlite3_errmsg(e->db));
        if (!e->images) sqlite3_exec(e->db, "PRAGMA cell_size_check=OFF", NULL, NULL, NULL);
        goto done;
    }
    e->images++; /* detached with the batch (batch.c), or below when none opens */
    /* its pages are read once, in order: a small cache of its own (the file is in memory) */
    char cache[64];
    snprintf(cache, sizeof cache, "PRAGMA %s.cache_size=16", img);
    sqlite3_exec(e->db, cache, NULL, NULL, NULL);
    const esync_schema *sc = rs->ncols ? rs : s->schema_b.ncols ? &s->schema_b : &s->schema_c;
    if (!sc->ncols)
        rc = esync__fail(e, ESYNC_EHEADERS, "shape \"%s\": no electric-schema header yet", s->name);
    if (!rc) rc = check_schema(e, s, sc, img);
    if (!rc) rc = esync__batch_begin(e, s, rs, true);
    if (!rc && (s->shadow || (!s->fast && !s->append)))
        rc = esync__fail(e, ESYNC_EPROTO,
                         "shape \"%s\": an image answered a request that did not accept one",
                         s->name);
    /* a new batch into an empty table (fast): the rows are new keys, emitted as they are copied
     * instead of read back at commit */
    if (!rc && fresh && s->fast) {
        s->fast = false;
        s->append = true;
    }
    if (!rc) rc = copy_rows(e, s, img, &q);
    if (!rc && ((r->handle && !esync__set_str(&s->handle, r->handle)) ||
                (r->offset && !esync__set_str(&s->offset, r->offset)) ||
                (r->cursor && !esync__set_str(&s->cursor, r->cursor))))
        rc = esync__oom(e);
    /* the checkpoint spacing is in bytes of JSON bodies (ingest.c): an image holds the rows of
     * about 2.5 times its size in JSON (test_items: 14.4 MB of images, 36.1 MB of JSON), so a
     * batch of images holds about the rows of a batch of JSON, and its change set in memory too */
    if (!rc) s->batch_bytes += r->body_len / 2 * 5;
done:
    if (rc && e->open == s) esync__batch_rollback(e); /* detaches every image */
    if (!e->open) esync__batch_detach_images(e);
    esync__buf_free(&q);
    return rc;
}
