/*
 * batch.c — a batch's lifecycle: begin, commit, rollback; and the moves between a shape's
 * committed and request layers that go with them.
 *
 * Invariants
 *  - e->open is the only shape with a write transaction open; its in_batch is true.
 *  - The committed layer of a shape (handle_c, offset_c, schema_c, rows, last_sync and the txid
 *    lists) changes only in esync__batch_commit, inside the transaction that also writes the rows
 *    (and when shape.c loads or wipes the shape). When that transaction fails, the layer is put
 *    back as it was: memory never runs ahead of what is on disk.
 *  - A failed commit returns no event: what a fast batch wrote into the caller's event array is
 *    cut off again.
 *  - A refetch of a shape that has rows is built in the shadow table and diffed into the
 *    replica at up-to-date (changes.c), so readers never see the replica emptied.
 *  - A checkpoint (ingest.c decides when) is a commit like the one at up-to-date, except that
 *    the shape stays in its initial sync: not live, no last sync time. A shape whose last sync
 *    time is unset has therefore never been up-to-date, which is what allows checkpoints.
 */
#include "batch.h"

#include "alloc.h"
#include "changes.h"
#include "errors.h"
#include "rows.h"
#include "txids.h"
#include "types.h"

#include <stdio.h>
#include <string.h>

static void end_batch_state(esync_shape *s) {
    s->in_batch = false;
    esync__schema_free(&s->schema_b);
    esync__keymap_free(&s->touched);
    esync__txids_reset(s);
    if (s->shadow) esync__rows_finalize(s); /* they point at the shadow table */
    s->shadow = false;
    s->fast = false;
    s->append = false;
    esync__buf_free(&s->app);
    s->app_head = 0;
    s->n_app = 0;
    s->batch_bytes = 0;
    s->batch_inserts = 0;
    esync__rows_discard(s); /* rows not inserted by a batch that failed */
}

void esync__batch_detach_images(esync *e) {
    if (!e->images) return;
    for (; e->images > 0; e->images--) {
        char q[48];
        snprintf(q, sizeof q, "DETACH " ESYNC_IMAGE_SCHEMA "%d", e->images - 1);
        sqlite3_exec(e->db, q, NULL, NULL, NULL);
    }
    sqlite3_exec(e->db, "PRAGMA cell_size_check=OFF", NULL, NULL, NULL); /* on with images */
}

int esync__batch_commit_now(esync *e, esync_shape *s, double now, bool checkpoint, esync_buf *out) {
    esync_row_values rv = {0};
    esync_buf tmp;
    esync__buf_init(&tmp);
    int rc = esync__rows_fit(e, &rv, s->schema_b.ncols);
    if (!rc) rc = esync__batch_commit(e, s, now, checkpoint, &rv, &tmp, out);
    esync__rows_values_free(&rv);
    esync__buf_free(&tmp);
    return rc;
}

void esync__batch_rollback(esync *e) {
    esync_shape *s = e->open;
    if (!s) return;
    sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
    e->open = NULL;
    esync__batch_detach_images(e);
    /* DDL of the batch (a created or recreated table) was rolled back too: statements prepared
     * against it must go. */
    esync__rows_finalize(s);
    end_batch_state(s);
    if (s->refetch) {
        esync__set_str(&s->offset, "-1");
        esync__set_str(&s->cursor, NULL);
        s->live = false;
    } else {
        esync__batch_reset_request(s);
    }
}

static int copy_schema(esync *e, const esync_schema *src, esync_schema *dst) {
    char err[128];
    if (esync__schema_parse(src->json, dst, err, sizeof err))
        return esync__fail(e, ESYNC_ENOMEM, "%s", err);
    return ESYNC_OK;
}

static int schema_changed(esync *e, const esync_shape *s) {
    return esync__fail(e, ESYNC_ESCHEMA, "shape \"%s\": electric-schema changed under handle %s",
                       s->name, s->handle ? s->handle : "(none)");
}

int esync__batch_begin(esync *e, esync_shape *s, const esync_schema *resp_schema, bool append_ok) {
    int rc;
    if (!s->in_batch) {
        if ((rc = esync__exec(e, "BEGIN IMMEDIATE"))) return rc;
        e->open = s;
        s->in_batch = true;
        s->batch_inserts = 0;
        esync__keymap_init(&s->touched);
    }
    if (s->schema_b.ncols) {
        if (resp_schema->ncols && !esync__schema_same(resp_schema, &s->schema_b))
            return schema_changed(e, s);
        return ESYNC_OK;
    }
    const esync_schema *sc = resp_schema->ncols ? resp_schema : &s->schema_c;
    if (!sc->ncols)
        return esync__fail(e, ESYNC_EHEADERS, "shape \"%s\": no electric-schema header yet",
                           s->name);
    if (s->refetch && s->rows > 0) {
        /* Build the new snapshot aside; the replica keeps serving the old rows meanwhile. */
        esync__rows_finalize(s);
        s->shadow = true;
        s->fast = true;
        if ((rc = esync__rows_create_table(e, sc, "temp", ESYNC_SHADOW_NAME))) return rc;
    } else if (!s->schema_c.ncols || !esync__schema_same(sc, &s->schema_c)) {
        if (s->schema_c.ncols && s->rows > 0 && !s->refetch) return schema_changed(e, s);
        esync__rows_finalize(s);
        if ((rc = esync__rows_create_table(e, sc, "main", s->sqlname))) return rc;
        s->fast = true;
        s->sync_bytes = 0;
    } else {
        s->fast = s->rows == 0;
        if (s->fast) s->sync_bytes = 0; /* a sync from nothing: the spacing starts over */
        /* Rows from this initial sync's checkpoints, and a snapshot chunk of all inserts: its
         * keys are new (one snapshot), so nothing needs tracking. */
        s->append = !s->fast && append_ok && s->last_sync < 0 && !s->refetch;
    }
    return copy_schema(e, sc, &s->schema_b);
}

/* The committed layer of a shape as it was before a commit, to put back if the commit fails. */
typedef struct committed_layer {
    esync_schema schema;
    char *handle, *offset, *txids;
    int64_t rows, txid_chunks;
    size_t ntxids;
    double last_sync;
} committed_layer;

/* Moves the batch's schema, handle and offset into the committed layer, keeping the old layer
 * in *old. Allocates first, so an OOM changes nothing. */
static int promote(esync *e, esync_shape *s, double now, committed_layer *old) {
    char *handle = NULL, *offset = NULL;
    if ((s->handle && !(handle = esync__strdup(s->handle))) ||
        (s->offset && !(offset = esync__strdup(s->offset)))) {
        esync__freemem(handle);
        esync__freemem(offset);
        return esync__oom(e);
    }
    old->schema = s->schema_c;
    old->handle = s->handle_c;
    old->offset = s->offset_c;
    s->schema_c = s->schema_b;
    memset(&s->schema_b, 0, sizeof s->schema_b);
    s->handle_c = handle;
    s->offset_c = offset;
    s->last_sync = now;
    return ESYNC_OK;
}

/* A failed commit: the committed layer as it was (rows, last sync and the txid counter were
 * saved in *old before the commit began; promoted says whether promote() ran). */
static void restore(esync_shape *s, committed_layer *old, bool promoted) {
    if (promoted) {
        esync__freemem(s->handle_c);
        esync__freemem(s->offset_c);
        s->handle_c = old->handle;
        s->offset_c = old->offset;
        s->schema_b = s->schema_c; /* back to the batch, which the rollback frees */
        s->schema_c = old->schema;
    }
    if (s->txids_c != old->txids) { /* esync__txids_store ran */
        esync__freemem(s->txids_c);
        s->txids_c = old->txids;
    }
    s->rows = old->rows;
    s->last_sync = old->last_sync;
    s->ntxids_c = old->ntxids;
    s->txid_chunks = old->txid_chunks;
}

int esync__batch_commit(esync *e, esync_shape *s, double now, bool checkpoint, esync_row_values *rv,
                        esync_buf *tmp, esync_buf *out) {
    committed_layer old = {.txids = s->txids_c,
                           .rows = s->rows,
                           .txid_chunks = s->txid_chunks,
                           .ntxids = s->ntxids_c,
                           .last_sync = s->last_sync};
    size_t mark = out->len;
    bool promoted = false;
    esync_changeset cs;
    esync__changes_init(&cs);
    esync__txids_sort(s);
    int rc = esync__rows_flush(e, s); /* no-op: the caller flushed its grouped inserts */
    if (!rc) rc = esync__changes_collect(e, s, &cs, rv, tmp, out);
    /* A checkpoint is not a sync: the last sync time stays unset until up-to-date. */
    if (!rc && !(rc = promote(e, s, checkpoint ? s->last_sync : now, &old))) promoted = true;
    if (!rc) rc = esync__txids_store(e, s);
    if (!rc) rc = esync__batch_store_committed(e, s);
    if (!rc) rc = esync__exec(e, "COMMIT");
    if (rc) {
        restore(s, &old, promoted);
        out->len = mark; /* a fast batch's event is not committed */
        if (out->data) out->data[mark] = 0;
        esync__changes_free(&cs);
        return rc; /* the caller rolls the transaction back */
    }
    esync__schema_free(&old.schema);
    esync__freemem(old.handle);
    esync__freemem(old.offset);
    if (old.txids != s->txids_c) esync__freemem(old.txids);
    e->open = NULL;
    esync__batch_detach_images(e);
    s->refetch = false;
    s->cache_bust = false;
    if (!checkpoint) s->live = true; /* a checkpoint keeps requesting the snapshot, not live */
    if (checkpoint) s->sync_bytes += s->batch_bytes; /* the spacing of the next (ingest.c) */
    s->data_failures = 0;
    esync__set_str(&s->expired_handle, NULL);
    esync__set_str(&s->error, NULL);
    esync__changes_emit(e, &cs, s, out);
    esync__changes_free(&cs);
    end_batch_state(s);
    return out->oom ? esync__oom(e) : ESYNC_OK;
}

int esync__batch_store_committed(esync *e, esync_shape *s) {
    /* Prepared once: every committed batch (a live single-row one too) runs it. */
    if (!e->st_store &&
        sqlite3_prepare_v3(
            e->db,
            "INSERT INTO esync_shapes(name, definition, table_name, handle, \"offset\", schema,"
            " row_count, last_sync, txids)"
            " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9) ON CONFLICT(name) DO UPDATE SET definition=?2,"
            " table_name=?3, handle=?4, \"offset\"=?5, schema=?6, row_count=?7, last_sync=?8, txids=?9",
            -1, SQLITE_PREPARE_PERSISTENT, &e->st_store, NULL))
        return esync__sqlfail(e, e->db, "store shape");
    sqlite3_stmt *st = e->st_store;
    sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->def, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, s->sqlname, -1, SQLITE_STATIC);
    if (s->handle_c) sqlite3_bind_text(st, 4, s->handle_c, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, s->offset_c ? s->offset_c : "-1", -1, SQLITE_STATIC);
    if (s->schema_c.json) sqlite3_bind_text(st, 6, s->schema_c.json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, s->rows);
    if (s->last_sync >= 0) sqlite3_bind_double(st, 8, s->last_sync);
    if (s->txids_c) sqlite3_bind_text(st, 9, s->txids_c, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? ESYNC_OK : esync__sqlfail(e, e->db, "store shape");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

bool esync__batch_reset_request(esync_shape *s) {
    s->live = false;
    s->refetch = false;
    return esync__set_str(&s->handle, s->handle_c) &&
           esync__set_str(&s->offset, s->offset_c ? s->offset_c : "-1") &&
           esync__set_str(&s->cursor, NULL);
}

void esync__batch_abandon(esync *e, esync_shape *s) {
    if (s->in_batch)
        esync__batch_rollback(e);
    else if (!s->refetch)
        esync__batch_reset_request(s);
}
