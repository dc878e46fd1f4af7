/*
 * changes.c — change sets. During a batch, every key it touches is recorded once with its row
 * as it was before the batch (track); at commit the batch's changes are computed and written as
 * one DATA_CHANGE event per shape:
 *   fast     the target was empty when the batch began: every row of the table is an insert,
 *            written straight into the event (an initial sync's change set is the whole table,
 *            so it is not built twice);
 *   append   a snapshot chunk after a checkpoint (batch.c): every change is an insert of a key
 *            the table does not hold yet (one consistent snapshot), so each row is emitted as it
 *            is inserted (rows.c: read back from its bound values) and no key is tracked;
 *   tracked  each touched key's row before against its row now: coalesced per key;
 *   shadow   a refetch built aside: diffed against the replica (in SQL when the table structure
 *            is unchanged, by typed key otherwise), and only the differences applied.
 * The row count of the committed layer is kept up to date here as the changes are counted.
 * An event ends with the batch's txids when it carried any; a batch that carried txids but
 * changed nothing yields a TXIDS event instead, so that a wait for one of them ends.
 */
#include "changes.h"

#include "alloc.h"
#include "errors.h"
#include "rows.h"
#include "txids.h"
#include "types.h"

#include <string.h>

void esync__changes_init(esync_changeset *c) { memset(c, 0, sizeof *c); }
void esync__changes_free(esync_changeset *c) {
    esync__buf_free(&c->ins);
    esync__buf_free(&c->upd);
    esync__buf_free(&c->del);
}
static bool cs_oom(const esync_changeset *c) { return c->ins.oom || c->upd.oom || c->del.oom; }

static void cs_insert(esync_changeset *c, const char *row, size_t n) {
    if (c->n_ins++) esync__buf_putc(&c->ins, ',');
    esync__buf_append(&c->ins, row, n);
}
static void cs_delete(esync_changeset *c, const char *row, size_t n) {
    if (c->n_del++) esync__buf_putc(&c->del, ',');
    esync__buf_append(&c->del, row, n);
}
static void cs_update(esync_changeset *c, const char *old, size_t on, const char *new_, size_t nn) {
    if (c->n_upd++) esync__buf_putc(&c->upd, ',');
    esync__buf_puts(&c->upd, "{\"old\":");
    esync__buf_append(&c->upd, old, on);
    esync__buf_puts(&c->upd, ",\"new\":");
    esync__buf_append(&c->upd, new_, nn);
    esync__buf_putc(&c->upd, '}');
}

/* The positions of the events in out (esync_ingest_events): a record per event, {start, end,
 * cut, changes_end, inserts, updates, deletes}, end 0 while the event is being written. An event
 * written where earlier ones were cut off (a failed commit cuts out back) replaces their
 * records. Without memory for a record the event has none, and the caller, finding the records
 * incomplete, scans instead. */
static uint32_t *evx_start(esync *e, size_t at) {
    while (e->nevx && e->evx[(e->nevx - 1) * ESYNC_EVENT_RECORD] >= at) e->nevx--;
    if (e->nevx == e->capevx) {
        size_t cap = e->capevx ? e->capevx * 2 : 16;
        uint32_t *p = esync__realloc(e->evx, cap * ESYNC_EVENT_RECORD * sizeof *p);
        if (!p) return NULL;
        e->evx = p;
        e->capevx = cap;
    }
    uint32_t *r = e->evx + e->nevx++ * ESYNC_EVENT_RECORD;
    memset(r, 0, ESYNC_EVENT_RECORD * sizeof *r);
    r[0] = (uint32_t)at;
    return r;
}
/* The record of the event being written, or NULL. */
static uint32_t *evx_open(esync *e) {
    uint32_t *r = e->nevx ? e->evx + (e->nevx - 1) * ESYNC_EVENT_RECORD : NULL;
    return r && !r[1] ? r : NULL;
}
/* The row counts of the DATA_CHANGE being written, into its record. */
static void evx_counts(esync *e, int64_t ins, int64_t upd, int64_t del) {
    uint32_t *r = evx_open(e);
    if (!r) return;
    r[4] = ins > UINT32_MAX ? UINT32_MAX : (uint32_t)ins;
    r[5] = upd > UINT32_MAX ? UINT32_MAX : (uint32_t)upd;
    r[6] = del > UINT32_MAX ? UINT32_MAX : (uint32_t)del;
}

/* {"type":TYPE,"shapeName":…,"tableName":… */
static void event_head(const esync_shape *s, const char *type, esync_buf *out) {
    esync__buf_puts(out, "{\"type\":\"");
    esync__buf_puts(out, type);
    esync__buf_puts(out, "\",\"shapeName\":");
    esync__buf_json_str(out, s->name, strlen(s->name));
    esync__buf_puts(out, ",\"tableName\":");
    esync__buf_json_str(out, s->tablename, strlen(s->tablename));
}

/* Starts an event of the shape: its record, and its head. */
static void event_start(esync *e, const esync_shape *s, const char *type, esync_buf *out) {
    if (out->len > 1) esync__buf_putc(out, ',');
    evx_start(e, out->len);
    event_head(s, type, out);
}

#define CHANGES_OPEN ",\"changes\":{\"insert\":["

bool esync__changes_app_head(esync_shape *s) {
    if (s->app.len) return true;
    esync__buf_putc(&s->app, '[');
    event_head(s, "DATA_CHANGE", &s->app);
    esync__buf_puts(&s->app, CHANGES_OPEN);
    if (s->app.oom) return false;
    s->app_head = s->app.len;
    return true;
}

/* Ends the record of the event that ends here (changes_end 0: an event without changes). */
static void event_end(esync *e, const esync_buf *out, size_t changes_end) {
    uint32_t *r = evx_open(e);
    if (!r) return;
    r[1] = (uint32_t)out->len;
    r[3] = r[2] ? (uint32_t)changes_end : 0;
}

static void event_open(esync *e, const esync_shape *s, esync_buf *out) {
    event_start(e, s, "DATA_CHANGE", out);
    uint32_t *r = evx_open(e);
    if (r) r[2] = (uint32_t)out->len;
    esync__buf_puts(out, CHANGES_OPEN);
}

/* Ends a DATA_CHANGE event after its delete list: the txids, when the batch carried any. */
static void event_close(esync *e, const esync_shape *s, esync_buf *out) {
    esync__buf_puts(out, "]}");
    size_t changes_end = out->len;
    if (s->ntxids) {
        esync__buf_puts(out, ",\"txids\":");
        esync__txids_json(s, out);
    }
    esync__buf_putc(out, '}');
    event_end(e, out, changes_end);
}

/* Change sets at least this long are made into their event in place. */
#define IN_PLACE_BYTES (64 * 1024)

/* An event of inserts only, the first of out ("[" so far), written around the inserts' own
 * buffer, which becomes out: a large initial sync's change set (up to a checkpoint's rows) is
 * then never held twice in the heap. False when out is not empty or memory is short (the caller
 * copies instead). */
static bool emit_in_place(esync *e, esync_changeset *c, const esync_shape *s, esync_buf *out) {
    if (out->len != 1 || c->n_upd || c->n_del || c->ins.oom) return false;
    size_t nevx = e->nevx;
    if (c->ins_head) {
        /* an append batch's rows: "[" and the head are in front of them already */
        uint32_t *r = evx_start(e, 1);
        if (!r) {
            e->nevx = nevx;
            return false;
        }
        r[2] = (uint32_t)(c->ins_head - strlen(CHANGES_OPEN));
    } else {
        esync_buf head;
        esync__buf_init(&head);
        esync__buf_putc(&head, '[');
        event_open(e, s, &head); /* its record's offsets are out's: both start with "[" */
        if (head.oom || !esync__buf_reserve(&c->ins, head.len)) {
            e->nevx = nevx;
            esync__buf_free(&head);
            return false;
        }
        memmove(c->ins.data + head.len, c->ins.data, c->ins.len + 1);
        memcpy(c->ins.data, head.data, head.len);
        c->ins.len += head.len;
        esync__buf_free(&head);
    }
    c->ins_head = 0;
    esync__buf_free(out);
    *out = c->ins;
    esync__buf_init(&c->ins);
    esync__buf_puts(out, "],\"update\":[],\"delete\":[");
    evx_counts(e, c->n_ins, c->n_upd, c->n_del);
    event_close(e, s, out);
    return true;
}

void esync__changes_emit(esync *e, esync_changeset *c, const esync_shape *s, esync_buf *out) {
    if (!c->n_ins && !c->n_upd && !c->n_del) {
        if (c->written || !s->ntxids) return;
        event_start(e, s, "TXIDS", out);
        esync__buf_puts(out, ",\"txids\":");
        esync__txids_json(s, out);
        esync__buf_putc(out, '}');
        event_end(e, out, 0);
        return;
    }
    if (c->ins.len >= IN_PLACE_BYTES && emit_in_place(e, c, s, out)) return;
    event_open(e, s, out);
    if (c->ins.len > c->ins_head)
        esync__buf_append(out, c->ins.data + c->ins_head, c->ins.len - c->ins_head);
    esync__buf_puts(out, "],\"update\":[");
    esync__buf_append(out, c->upd.data, c->upd.len);
    esync__buf_puts(out, "],\"delete\":[");
    esync__buf_append(out, c->del.data, c->del.len);
    evx_counts(e, c->n_ins, c->n_upd, c->n_del);
    event_close(e, s, out);
}

/* ---- tracking the keys a batch touches ---- */

/* The tracking key of a row: its key columns' texts, each length-prefixed. */
static int row_key(esync *e, esync_shape *s, const esync_row_values *rv, esync_buf *key) {
    const esync_schema *sc = &s->schema_b;
    esync__buf_reset(key);
    for (int k = 0; k < esync__key_count(sc); k++) {
        int i = esync__key_column(sc, k);
        if (!rv->present[i] || (sc->npk && !rv->v[i]))
            return esync__fail(e, ESYNC_EPROTO,
                               "shape \"%s\": key column \"%s\" missing from a change", s->name,
                               sc->cols[i].name);
        if (s->fast || s->append) continue; /* no tracking: the key is only checked */
        if (!rv->v[i]) {
            esync__buf_puts(key, "N;");
            continue;
        }
        size_t len = strlen(rv->v[i]);
        esync__buf_printf(key, "%zu:", len);
        esync__buf_append(key, rv->v[i], len);
    }
    return key->oom ? esync__oom(e) : ESYNC_OK;
}

/* Records the row as it was before the batch, at the batch's first touch of its key. */
static int track(esync *e, esync_shape *s, const esync_row_values *rv, esync_buf *key,
                 esync_buf *tmp) {
    if (s->fast || s->append) return ESYNC_OK;
    if (esync__keymap_get(&s->touched, key->data, key->len)) return ESYNC_OK;
    int rc = esync__rows_current(e, s, rv, tmp);
    if (rc) return rc;
    esync_keymap_entry *en = esync__keymap_add(&s->touched, key->data, key->len);
    if (!en) return esync__oom(e);
    if (tmp->len) {
        en->old_row = esync__strndup(tmp->data, tmp->len);
        if (!en->old_row) return esync__oom(e);
        en->old_len = tmp->len;
    }
    return ESYNC_OK;
}

/* ---- at commit: the change set ---- */

/* Every row of the target is an insert (the target was empty when the batch began). The rows
 * are written straight into the event (an initial sync's change set is the whole table, so it
 * is not built twice). */
static int changes_fast(esync *e, esync_shape *s, esync_buf *out, int64_t *count) {
    esync_buf b;
    esync__buf_init(&b);
    esync__buf_puts(&b, "SELECT ");
    esync__rows_col_list(&b, &s->schema_b, NULL);
    esync__buf_puts(&b, " FROM main.");
    esync__buf_ident(&b, s->sqlname);
    sqlite3_stmt *st = NULL;
    int rc = b.oom ? esync__oom(e) : ESYNC_OK;
    if (!rc && sqlite3_prepare_v2(e->db, b.data, -1, &st, NULL))
        rc = esync__sqlfail(e, e->db, "scan");
    int r = SQLITE_DONE;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        if ((*count)++) esync__buf_putc(out, ',');
        rc = esync__emit_row(out, st, &s->schema_b);
    }
    if (!rc && r != SQLITE_DONE) rc = esync__sqlfail(e, e->db, "scan");
    sqlite3_finalize(st);
    esync__buf_free(&b);
    return rc;
}

/* Splits a tracking key back into key texts. */
static int key_values(esync_shape *s, const esync_keymap_entry *en, esync_row_values *rv,
                      char **store) {
    const esync_schema *sc = &s->schema_b;
    const char *p = en->key, *end = en->key + en->keylen;
    for (int i = 0; i < sc->ncols; i++) {
        rv->v[i] = NULL;
        rv->present[i] = false;
    }
    char *w = *store;
    for (int k = 0; k < esync__key_count(sc) && p < end; k++) {
        int i = esync__key_column(sc, k);
        rv->present[i] = true;
        if (*p == 'N') {
            p += 2;
            continue;
        }
        size_t len = 0;
        while (p < end && *p >= '0' && *p <= '9') len = len * 10 + (size_t)(*p++ - '0');
        p++; /* ':' */
        memcpy(w, p, len);
        w[len] = 0;
        rv->v[i] = w;
        w += len + 1;
        p += len;
    }
    return ESYNC_OK;
}

/* Every touched key: its row before the batch against its row now. */
static int changes_tracked(esync *e, esync_shape *s, esync_changeset *cs, esync_row_values *rv,
                           esync_buf *tmp) {
    size_t maxkey = 0;
    for (size_t k = 0; k < s->touched.count; k++)
        if (s->touched.entries[k].keylen > maxkey) maxkey = s->touched.entries[k].keylen;
    char *store = esync__malloc(maxkey + (size_t)s->schema_b.ncols + 1);
    if (!store) return esync__oom(e);
    int rc = ESYNC_OK;
    for (size_t k = 0; k < s->touched.count && !rc; k++) {
        esync_keymap_entry *en = &s->touched.entries[k];
        key_values(s, en, rv, &store);
        if ((rc = esync__rows_current(e, s, rv, tmp))) break;
        if (!en->old_row && tmp->len) {
            cs_insert(cs, tmp->data, tmp->len);
            s->rows++;
        } else if (en->old_row && !tmp->len) {
            cs_delete(cs, en->old_row, en->old_len);
            s->rows--;
        } else if (en->old_row &&
                   (en->old_len != tmp->len || memcmp(en->old_row, tmp->data, tmp->len)))
            cs_update(cs, en->old_row, en->old_len, tmp->data, tmp->len);
    }
    esync__freemem(store);
    return rc;
}

/* Which rows a diff query returns: rows gone from the new snapshot (the replica's columns), or
 * rows new or changed in it (the shadow's columns, then the replica's, NULL when absent). */
typedef enum { DIFF_GONE, DIFF_NEW } diff_kind;

/* Runs a diff query (see diff_kind) and adds its rows to the change set; *count counts the
 * deletes or the inserts. */
static int run_diff(esync *e, const char *sql, const esync_schema *sc, diff_kind kind,
                    esync_changeset *cs, int64_t *count) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL)) return esync__sqlfail(e, e->db, "diff");
    esync_buf a, b;
    esync__buf_init(&a);
    esync__buf_init(&b);
    int rc = ESYNC_OK, r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        esync__buf_reset(&a);
        if ((rc = esync__emit_row(&a, st, sc))) break;
        if (kind == DIFF_GONE) {
            cs_delete(cs, a.data, a.len);
            (*count)++;
            continue;
        }
        /* second half: the old row, absent when its first key column is NULL */
        int first_old = sc->ncols;
        if (sqlite3_column_type(st, first_old + esync__key_column(sc, 0)) == SQLITE_NULL) {
            cs_insert(cs, a.data, a.len);
            (*count)++;
            continue;
        }
        esync__buf_reset(&b);
        if ((rc = esync__emit_row_from(&b, st, first_old, sc))) break;
        cs_update(cs, b.data, b.len, a.data, a.len);
    }
    if (!rc && r != SQLITE_DONE) rc = esync__sqlfail(e, e->db, "diff");
    sqlite3_finalize(st);
    esync__buf_free(&a);
    esync__buf_free(&b);
    return rc;
}

/* A refetch with an unchanged table structure: diff the shadow against the replica in SQL and
 * apply only the differences. */
static int changes_shadow_same(esync *e, esync_shape *s, esync_changeset *cs) {
    const esync_schema *sc = &s->schema_b;
    esync_buf q, on, diff, main_t;
    esync__buf_init(&q);
    esync__buf_init(&on);
    esync__buf_init(&diff);
    esync__buf_init(&main_t);
    esync__buf_puts(&main_t, "main.");
    esync__buf_ident(&main_t, s->sqlname);
    /* join condition on the key (all columns without a key) and "row differs" condition */
    for (int k = 0; k < esync__key_count(sc); k++) {
        int i = esync__key_column(sc, k);
        if (k) esync__buf_puts(&on, " AND ");
        esync__buf_puts(&on, "n.");
        esync__buf_ident(&on, sc->cols[i].name);
        esync__buf_puts(&on, " IS o.");
        esync__buf_ident(&on, sc->cols[i].name);
    }
    for (int i = 0; i < sc->ncols; i++) {
        esync__buf_puts(&diff, i ? " OR " : "");
        esync__buf_puts(&diff, "n.");
        esync__buf_ident(&diff, sc->cols[i].name);
        esync__buf_puts(&diff, " IS NOT o.");
        esync__buf_ident(&diff, sc->cols[i].name);
    }
    int64_t dels = 0;
    /* deleted: in the replica, not in the new snapshot */
    esync__buf_puts(&q, "SELECT ");
    esync__rows_col_list(&q, sc, "o.");
    esync__buf_printf(
        &q, " FROM %s o WHERE NOT EXISTS (SELECT 1 FROM " ESYNC_SHADOW_TABLE " n WHERE %s)",
        main_t.data, on.data);
    int rc = q.oom || on.oom || diff.oom ? esync__oom(e)
                                         : run_diff(e, q.data, sc, DIFF_GONE, cs, &dels);
    /* inserted or changed */
    esync__buf_reset(&q);
    esync__buf_puts(&q, "SELECT ");
    esync__rows_col_list(&q, sc, "n.");
    esync__buf_puts(&q, ", ");
    esync__rows_col_list(&q, sc, "o.");
    esync__buf_printf(&q, " FROM " ESYNC_SHADOW_TABLE " n LEFT JOIN %s o ON %s WHERE %s",
                      main_t.data, on.data, diff.data);
    int64_t inserted = 0;
    if (!rc) rc = q.oom ? esync__oom(e) : run_diff(e, q.data, sc, DIFF_NEW, cs, &inserted);
    /* apply */
    if (!rc) {
        esync__buf_reset(&q);
        esync__buf_printf(&q,
                          "DELETE FROM %s AS o WHERE NOT EXISTS (SELECT 1 FROM " ESYNC_SHADOW_TABLE
                          " n WHERE %s);",
                          main_t.data, on.data);
        if (sc->npk) {
            esync__buf_printf(&q,
                              "INSERT OR REPLACE INTO %s SELECT n.* FROM " ESYNC_SHADOW_TABLE
                              " n LEFT JOIN %s o ON %s WHERE %s;",
                              main_t.data, main_t.data, on.data, diff.data);
        } else {
            /* no key: a changed row is a delete plus an insert, already deleted above */
            esync__buf_printf(&q,
                              "INSERT INTO %s SELECT n.* FROM " ESYNC_SHADOW_TABLE
                              " n WHERE NOT EXISTS (SELECT 1 FROM %s o WHERE %s);",
                              main_t.data, main_t.data, on.data);
        }
        rc = esync__exec_buf(e, &q);
    }
    s->rows += inserted - dels;
    esync__buf_free(&q);
    esync__buf_free(&on);
    esync__buf_free(&diff);
    esync__buf_free(&main_t);
    return rc;
}

/* Key JSON of a typed row: the key columns (all columns without a key) of the current row. */
static int key_json(esync_buf *b, sqlite3_stmt *st, const esync_schema *sc) {
    esync__buf_reset(b);
    for (int k = 0; k < esync__key_count(sc); k++) {
        int i = esync__key_column(sc, k);
        esync__buf_json_str(b, sc->cols[i].name, strlen(sc->cols[i].name));
        esync__buf_putc(b, '=');
        int rc = esync__emit_value(b, st, i, &sc->cols[i]);
        if (rc) return rc;
        esync__buf_putc(b, ';');
    }
    return b->oom ? ESYNC_ENOMEM : ESYNC_OK;
}

/* A refetch whose table structure changed: match old and new rows by their typed key, report
 * updates for keys in both, then replace the table. */
static int changes_shadow_changed(esync *e, esync_shape *s, esync_changeset *cs) {
    esync_keymap old;
    esync__keymap_init(&old);
    esync_buf q, key, row;
    esync__buf_init(&q);
    esync__buf_init(&key);
    esync__buf_init(&row);
    sqlite3_stmt *st = NULL;
    int rc = ESYNC_OK;
    /* old rows, keyed (a duplicate key can only happen without a primary key: keep the first) */
    esync__buf_puts(&q, "SELECT ");
    esync__rows_col_list(&q, &s->schema_c, NULL);
    esync__buf_puts(&q, " FROM main.");
    esync__buf_ident(&q, s->sqlname);
    if (q.oom || sqlite3_prepare_v2(e->db, q.data, -1, &st, NULL)) {
        rc = esync__sqlfail(e, e->db, "diff");
        goto done;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        esync__buf_reset(&row);
        if ((rc = key_json(&key, st, &s->schema_c)) ||
            (rc = esync__emit_row(&row, st, &s->schema_c)))
            goto oom;
        if (esync__keymap_get(&old, key.data, key.len)) {
            cs_delete(cs, row.data, row.len);
            continue;
        }
        esync_keymap_entry *en = esync__keymap_add(&old, key.data, key.len);
        if (!en || !(en->old_row = esync__strndup(row.data, row.len))) goto oom;
        en->old_len = row.len;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* new rows */
    esync__buf_reset(&q);
    esync__buf_puts(&q, "SELECT ");
    esync__rows_col_list(&q, &s->schema_b, NULL);
    esync__buf_puts(&q, " FROM " ESYNC_SHADOW_TABLE);
    if (q.oom || sqlite3_prepare_v2(e->db, q.data, -1, &st, NULL)) {
        rc = esync__sqlfail(e, e->db, "diff");
        goto done;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        esync__buf_reset(&row);
        if ((rc = key_json(&key, st, &s->schema_b)) ||
            (rc = esync__emit_row(&row, st, &s->schema_b)))
            goto oom;
        esync_keymap_entry *en = esync__keymap_get(&old, key.data, key.len);
        if (en && en->old_row) {
            cs_update(cs, en->old_row, en->old_len, row.data, row.len);
            esync__freemem(en->old_row);
            en->old_row = NULL; /* matched */
        } else {
            cs_insert(cs, row.data, row.len);
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    for (size_t k = 0; k < old.count; k++)
        if (old.entries[k].old_row) cs_delete(cs, old.entries[k].old_row, old.entries[k].old_len);
    /* replace the table */
    if ((rc = esync__rows_create_table(e, &s->schema_b, "main", s->sqlname))) goto done;
    esync__buf_reset(&q);
    esync__buf_puts(&q, "INSERT INTO main.");
    esync__buf_ident(&q, s->sqlname);
    esync__buf_puts(&q, " SELECT * FROM " ESYNC_SHADOW_TABLE);
    rc = esync__exec_buf(e, &q);
    if (!rc) {
        sqlite3_stmt *c;
        esync__buf_reset(&q);
        esync__buf_puts(&q, "SELECT count(*) FROM main.");
        esync__buf_ident(&q, s->sqlname);
        if (!q.oom && sqlite3_prepare_v2(e->db, q.data, -1, &c, NULL) == SQLITE_OK) {
            if (sqlite3_step(c) == SQLITE_ROW) s->rows = sqlite3_column_int64(c, 0);
            sqlite3_finalize(c);
        }
    }
    goto done;
oom:
    if (!rc) rc = ESYNC_ENOMEM;
    esync__fail(e, rc, "out of memory");
done:
    sqlite3_finalize(st);
    esync__keymap_free(&old);
    esync__buf_free(&q);
    esync__buf_free(&key);
    esync__buf_free(&row);
    return rc;
}

int esync__changes_track(esync *e, esync_shape *s, const esync_row_values *rv, esync_buf *key,
                         esync_buf *tmp) {
    int rc = row_key(e, s, rv, key);
    return rc ? rc : track(e, s, rv, key, tmp);
}

int esync__changes_collect(esync *e, esync_shape *s, esync_changeset *cs, esync_row_values *rv,
                           esync_buf *tmp, esync_buf *out) {
    int rc;
    if (s->shadow) {
        rc = esync__schema_same(&s->schema_b, &s->schema_c) ? changes_shadow_same(e, s, cs)
                                                            : changes_shadow_changed(e, s, cs);
        if (!rc) rc = esync__exec(e, "DROP TABLE " ESYNC_SHADOW_TABLE);
    } else if (s->fast) {
        size_t mark = out->len;
        int64_t n = 0;
        event_open(e, s, out);
        rc = changes_fast(e, s, out, &n);
        esync__buf_puts(out, "],\"update\":[],\"delete\":[");
        evx_counts(e, n, 0, 0);
        event_close(e, s, out);
        if (!n || rc) { /* nothing inserted: no event */
            out->len = mark;
            if (out->data) out->data[mark] = 0;
        } else {
            cs->written = true;
        }
        s->rows = n;
    } else if (s->append) {
        /* the rows were emitted as they were inserted (rows.c): they are the inserts */
        esync_buf t = cs->ins;
        cs->ins = s->app;
        cs->ins_head = s->app_head;
        s->app = t;
        s->app_head = 0;
        cs->n_ins = s->n_app;
        s->rows += s->n_app;
        s->n_app = 0;
        rc = ESYNC_OK;
    } else {
        rc = changes_tracked(e, s, cs, rv, tmp);
    }
    if (!rc && cs_oom(cs)) rc = esync__oom(e);
    return rc;
}
