/*
 * rows.c — row SQL on a shape's target table. Statements are built from the batch schema
 * (schema_b), prepared once per target (SQLITE_PREPARE_PERSISTENT) and kept on the shape until
 * the target changes; updates get one statement per set of columns present, a few cached.
 *
 * Invariants
 *  - A statement on the shape points at the target of the open batch (the replica table, or the
 *    shadow table while a refetch is built): whoever switches the target finalizes them first.
 *  - Every value is bound through esync__bind_value, which checks it against its column type:
 *    nothing reaches SQLite unchecked.
 *  - Tables without a primary key are keyed by all their columns (IS, to match NULLs), and a
 *    delete removes one of the identical rows.
 */
#include "rows.h"

#include "alloc.h"
#include "changes.h"
#include "errors.h"
#include "types.h"

#include <string.h>

/* Columns a cached update's mask (a uint64_t) can tell apart; an update of a wider table gets a
 * statement of its own, finalized after the change. */
#define MASK_BITS 64

static const char *target(const esync_shape *s, esync_buf *b) {
    esync__buf_reset(b);
    if (s->shadow)
        esync__buf_puts(b, ESYNC_SHADOW_TABLE);
    else {
        esync__buf_puts(b, "main.");
        esync__buf_ident(b, s->sqlname);
    }
    return b->data;
}

void esync__rows_col_list(esync_buf *b, const esync_schema *sc, const char *prefix) {
    for (int i = 0; i < sc->ncols; i++) {
        if (i) esync__buf_puts(b, ", ");
        if (prefix) esync__buf_puts(b, prefix);
        esync__buf_ident(b, sc->cols[i].name);
    }
}

/* "a"=?1 AND "b"=?2 over the key columns (all columns, with IS, when there is no key). */
static void key_where(esync_buf *b, const esync_schema *sc) {
    if (sc->npk) {
        for (int k = 0; k < sc->npk; k++) {
            if (k) esync__buf_puts(b, " AND ");
            esync__buf_ident(b, sc->cols[sc->pk[k]].name);
            esync__buf_printf(b, "=?%d", k + 1);
        }
    } else {
        for (int i = 0; i < sc->ncols; i++) {
            if (i) esync__buf_puts(b, " AND ");
            esync__buf_ident(b, sc->cols[i].name);
            esync__buf_printf(b, " IS ?%d", i + 1);
        }
    }
}

/* Prepares the SQL built in b (t holds the target's name it used) as a kept statement, then
 * frees both buffers. */
static int prepare_built(esync *e, esync_buf *b, esync_buf *t, sqlite3_stmt **st) {
    int rc = ESYNC_OK;
    if (b->oom || t->oom)
        rc = esync__oom(e);
    else if (sqlite3_prepare_v3(e->db, b->data, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) !=
             SQLITE_OK)
        rc = esync__sqlfail(e, e->db, "prepare");
    esync__buf_free(b);
    esync__buf_free(t);
    return rc;
}

static int bind_fail(esync *e, esync_shape *s, int rc, const char *err) {
    return esync__fail(e, rc, "shape \"%s\": %s", s->name, err);
}

/* Binds the key columns from rv (key_where's parameters). */
static int bind_key(esync *e, esync_shape *s, sqlite3_stmt *st, const esync_row_values *rv,
                    int first) {
    const esync_schema *sc = &s->schema_b;
    char err[200];
    for (int k = 0; k < esync__key_count(sc); k++) {
        int i = esync__key_column(sc, k);
        int rc = esync__bind_value(st, first + k, &sc->cols[i], rv->v[i], err, sizeof err);
        if (rc) return bind_fail(e, s, rc, err);
    }
    return ESYNC_OK;
}

static int step_done(esync *e, sqlite3_stmt *st, const char *what) {
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE && r != SQLITE_ROW) return esync__sqlfail(e, e->db, what);
    return ESYNC_OK;
}

int esync__rows_gather(esync *e, esync_shape *s, const esync_field *f, uint32_t nf,
                       esync_row_values *rv) {
    const esync_schema *sc = &s->schema_b;
    for (int i = 0; i < sc->ncols; i++) {
        rv->present[i] = false;
        rv->v[i] = NULL;
    }
    int expect = 0;
    for (uint32_t k = 0; k < nf; k++, f++) {
        /* Fields usually arrive in schema order: try the next column before searching. */
        int i;
        if (expect < sc->ncols && !strcmp(sc->cols[expect].name, f->name))
            i = expect;
        else
            i = esync__schema_find(sc, f->name);
        if (i < 0)
            return esync__fail(e, ESYNC_EPROTO,
                               "shape \"%s\": column \"%.60s\" is not in the schema", s->name,
                               f->name);
        if (rv->present[i])
            return esync__fail(e, ESYNC_EPROTO, "shape \"%s\": column \"%.60s\" appears twice",
                               s->name, f->name);
        if (f->kind == ESYNC_JSON_STRING)
            rv->v[i] = f->text;
        else if (f->kind != ESYNC_JSON_NULL)
            return esync__fail(e, ESYNC_EVALUE,
                               "shape \"%s\": value of column \"%.60s\" is not a string or null",
                               s->name, f->name);
        rv->present[i] = true;
        expect = i + 1;
    }
    return ESYNC_OK;
}

int esync__rows_fit(esync *e, esync_row_values *rv, int n) {
    if (rv->n == n && rv->v) return ESYNC_OK;
    esync__freemem(rv->v);
    esync__freemem(rv->present);
    rv->n = n;
    rv->v = esync__malloc(sizeof(char *) * (size_t)(n ? n : 1));
    rv->present = esync__malloc(sizeof(bool) * (size_t)(n ? n : 1));
    return rv->v && rv->present ? ESYNC_OK : esync__oom(e);
}

void esync__rows_values_free(esync_row_values *rv) {
    esync__freemem(rv->v);
    esync__freemem(rv->present);
    memset(rv, 0, sizeof *rv);
}

static int ensure_select(esync *e, esync_shape *s) {
    if (s->st_sel) return ESYNC_OK;
    esync_buf b, t;
    esync__buf_init(&b);
    esync__buf_init(&t);
    esync__buf_puts(&b, "SELECT ");
    esync__rows_col_list(&b, &s->schema_b, NULL);
    esync__buf_printf(&b, " FROM %s WHERE ", target(s, &t));
    key_where(&b, &s->schema_b);
    if (!s->schema_b.npk) esync__buf_puts(&b, " LIMIT 1");
    return prepare_built(e, &b, &t, &s->st_sel);
}

int esync__rows_current(esync *e, esync_shape *s, const esync_row_values *rv, esync_buf *out) {
    int rc = ensure_select(e, s);
    if (rc) return rc;
    sqlite3_reset(s->st_sel);
    sqlite3_clear_bindings(s->st_sel);
    if ((rc = bind_key(e, s, s->st_sel, rv, 1))) return rc;
    esync__buf_reset(out);
    int r = sqlite3_step(s->st_sel);
    if (r == SQLITE_ROW)
        rc = esync__emit_row(out, s->st_sel, &s->schema_b);
    else if (r != SQLITE_DONE)
        rc = esync__sqlfail(e, e->db, "read row");
    sqlite3_reset(s->st_sel);
    if (rc == ESYNC_ENOMEM) esync__oom(e);
    return rc;
}

/* At most this many rows per group insert (and at most SQLITE_MAX_VARIABLE_NUMBER parameters). */
#define GROUP_MAX 64
#define MAX_PARAMS 32766

/* The insert of `rows` rows (an upsert when the table has a key); *nothing is set when the
 * upsert does nothing on a conflict (a table of key columns only). */
static int prepare_insert(esync *e, esync_shape *s, int rows, sqlite3_stmt **out, bool *nothing) {
    const esync_schema *sc = &s->schema_b;
    esync_buf b, t;
    esync__buf_init(&b);
    esync__buf_init(&t);
    esync__buf_printf(&b, "INSERT INTO %s (", target(s, &t));
    esync__rows_col_list(&b, sc, NULL);
    esync__buf_puts(&b, ") VALUES ");
    for (int r = 0, p = 1; r < rows; r++) {
        esync__buf_puts(&b, r ? ",(" : "(");
        for (int i = 0; i < sc->ncols; i++) esync__buf_printf(&b, "%s?%d", i ? "," : "", p++);
        esync__buf_putc(&b, ')');
    }
    *nothing = false;
    if (sc->npk) {
        /* Upsert: a replayed insert (resume after a crash) overwrites instead of failing. */
        esync__buf_puts(&b, " ON CONFLICT DO UPDATE SET ");
        bool any = false;
        for (int i = 0; i < sc->ncols; i++) {
            if (sc->cols[i].pk_index >= 0) continue;
            if (any) esync__buf_puts(&b, ", ");
            esync__buf_ident(&b, sc->cols[i].name);
            esync__buf_puts(&b, "=excluded.");
            esync__buf_ident(&b, sc->cols[i].name);
            any = true;
        }
        if (!any) { /* only key columns: nothing to update */
            b.len -= strlen(" ON CONFLICT DO UPDATE SET ");
            b.data[b.len] = 0;
            esync__buf_puts(&b, " ON CONFLICT DO NOTHING");
            *nothing = true;
        }
    }
    return prepare_built(e, &b, &t, out);
}

/* The single-row insert, and for a batch without tracking (fast or append) the group: its rows
 * are converted and kept in s->pend until group_rows are there (or esync__rows_flush), then
 * inserted by one statement, which saves most of the per-statement work of one insert per row
 * (a cursor opened and the b-tree descended from its root for every row, the statement's
 * start and end). Groups are used only where every insert writes its row: an upsert that does
 * nothing on a conflict would leave the change set unable to tell which rows it skipped. */
static int prepare_inserts(esync *e, esync_shape *s) {
    const esync_schema *sc = &s->schema_b;
    bool nothing;
    sqlite3_finalize(s->st_ins); /* a failed earlier attempt's */
    sqlite3_finalize(s->st_group);
    s->st_ins = s->st_group = NULL;
    s->group_rows = 0;
    int rc = prepare_insert(e, s, 1, &s->st_ins, &nothing);
    if (rc) return rc;
    int rows = MAX_PARAMS / (sc->ncols ? sc->ncols : 1);
    if (rows > GROUP_MAX) rows = GROUP_MAX;
    if (nothing || rows < 2) rows = 1;
    esync__rows_discard(s);
    esync__freemem(s->pend);
    s->pend = esync__malloc(sizeof *s->pend * (size_t)rows * (size_t)(sc->ncols ? sc->ncols : 1));
    if (!s->pend) return esync__oom(e);
    s->npend = 0;
    s->pend_cols = sc->ncols;
    if (rows > 1 && (rc = prepare_insert(e, s, rows, &s->st_group, &nothing))) return rc;
    s->group_rows = rows;
    return ESYNC_OK;
}

/* Binds pend's rows [first, first + n) from parameter 1 on. */
static int bind_pend(esync *e, esync_shape *s, sqlite3_stmt *st, int first, int n) {
    const esync_schema *sc = &s->schema_b;
    char err[200];
    for (int r = 0; r < n; r++) {
        esync_val *v = s->pend + (size_t)(first + r) * (size_t)sc->ncols;
        for (int i = 0; i < sc->ncols; i++) {
            int rc = esync__val_bind(st, r * sc->ncols + i + 1, &v[i], &sc->cols[i], err,
                                     sizeof err);
            if (rc) {
                sqlite3_clear_bindings(st);
                return bind_fail(e, s, rc, err);
            }
        }
    }
    return ESYNC_OK;
}

/* Appends a row to the append batch's change set. */
static int append_row(esync *e, esync_shape *s, const esync_val *v) {
    if (s->n_app++) esync__buf_putc(&s->app, ',');
    int rc = esync__emit_vals(&s->app, v, &s->schema_b);
    if (!rc && s->app.oom) rc = ESYNC_ENOMEM;
    return rc == ESYNC_ENOMEM ? esync__oom(e) : rc;
}

void esync__rows_discard(esync_shape *s) {
    for (size_t k = 0; s->pend && k < (size_t)s->npend * (size_t)s->pend_cols; k++)
        esync__val_clear(&s->pend[k]);
    s->npend = 0;
}

int esync__rows_flush(esync *e, esync_shape *s) {
    int rc = ESYNC_OK, n = s->npend;
    if (!n) return ESYNC_OK;
    if (n > 1 && n == s->group_rows) {
        rc = bind_pend(e, s, s->st_group, 0, n);
        if (!rc) rc = step_done(e, s->st_group, "insert");
        sqlite3_clear_bindings(s->st_group);
    } else {
        for (int r = 0; r < n && !rc; r++) {
            rc = bind_pend(e, s, s->st_ins, r, 1);
            if (!rc) rc = step_done(e, s->st_ins, "insert");
            sqlite3_clear_bindings(s->st_ins);
        }
    }
    esync__rows_discard(s);
    return rc;
}

int esync__rows_insert(esync *e, esync_shape *s, const esync_row_values *rv) {
    const esync_schema *sc = &s->schema_b;
    int rc;
    if ((!s->st_ins || !s->pend || !s->group_rows) && (rc = prepare_inserts(e, s))) return rc;
    bool group = s->group_rows > 1 && (s->fast || s->append);
    if (!group && (rc = esync__rows_flush(e, s))) return rc;
    esync_val *v = s->pend + (size_t)s->npend * (size_t)sc->ncols;
    char err[200];
    for (int i = 0; i < sc->ncols; i++) {
        if ((rc = esync__val_convert(&sc->cols[i], rv->v[i], &v[i], err, sizeof err))) {
            while (i-- > 0) esync__val_clear(&v[i]);
            return bind_fail(e, s, rc, err);
        }
    }
    s->npend++;
    if (s->append && !esync__changes_app_head(s)) {
        esync__rows_discard(s);
        return esync__oom(e);
    }
    /* append: the row as stored goes into the batch's change set; its values are the ones bound
     * (types.h: esync_val), so it is the row a read of the table would give. One by one, a row
     * that an ON CONFLICT DO NOTHING skipped is not emitted. */
    if (group) {
        if (s->append && (rc = append_row(e, s, v))) return rc;
        return s->npend == s->group_rows ? esync__rows_flush(e, s) : ESYNC_OK;
    }
    size_t mark = s->app.len;
    int64_t n_app = s->n_app;
    if (s->append && (rc = append_row(e, s, v))) { /* emitted before the bind takes a blob */
        esync__rows_discard(s);
        return rc;
    }
    rc = esync__rows_flush(e, s);
    if (!rc && s->append && sqlite3_changes(e->db) == 0) { /* skipped: take the row back */
        s->app.len = mark;
        if (s->app.data) s->app.data[mark] = 0;
        s->n_app = n_app;
    }
    return rc;
}

int esync__rows_delete(esync *e, esync_shape *s, const esync_row_values *rv) {
    int rc;
    if (!s->st_del) {
        esync_buf b, t;
        esync__buf_init(&b);
        esync__buf_init(&t);
        const char *tn = target(s, &t);
        if (s->schema_b.npk) {
            esync__buf_printf(&b, "DELETE FROM %s WHERE ", tn);
            key_where(&b, &s->schema_b);
        } else {
            esync__buf_printf(&b, "DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s WHERE ", tn,
                              tn);
            key_where(&b, &s->schema_b);
            esync__buf_puts(&b, " LIMIT 1)");
        }
        rc = prepare_built(e, &b, &t, &s->st_del);
        if (rc) return rc;
    }
    if ((rc = bind_key(e, s, s->st_del, rv, 1))) {
        sqlite3_clear_bindings(s->st_del);
        return rc;
    }
    rc = step_done(e, s->st_del, "delete");
    sqlite3_clear_bindings(s->st_del);
    return rc;
}

int esync__rows_update(esync *e, esync_shape *s, const esync_row_values *rv) {
    const esync_schema *sc = &s->schema_b;
    if (!sc->npk)
        return esync__fail(e, ESYNC_EPROTO, "shape \"%s\": update on a table without a primary key",
                           s->name);
    uint64_t mask = 0;
    for (int i = 0; i < sc->ncols; i++)
        if (rv->present[i] && sc->cols[i].pk_index < 0 && i < MASK_BITS) mask |= 1ULL << i;
    sqlite3_stmt *st = NULL;
    bool cached = sc->ncols <= MASK_BITS;
    int slot = -1;
    if (cached) {
        for (int k = 0; k < ESYNC_UPD_CACHE; k++)
            if (s->st_upd[k].st && s->st_upd[k].mask == mask) {
                st = s->st_upd[k].st;
                slot = k;
                break;
            }
    }
    int rc;
    if (!st) {
        esync_buf b, t;
        esync__buf_init(&b);
        esync__buf_init(&t);
        esync__buf_printf(&b, "UPDATE %s SET ", target(s, &t));
        int p = sc->npk;
        bool any = false;
        for (int i = 0; i < sc->ncols; i++) {
            if (!rv->present[i] || sc->cols[i].pk_index >= 0) continue;
            if (any) esync__buf_puts(&b, ", ");
            esync__buf_ident(&b, sc->cols[i].name);
            esync__buf_printf(&b, "=?%d", ++p);
            any = true;
        }
        if (!any) { /* key columns only: still must exist; make it a no-op touch */
            esync__buf_ident(&b, sc->cols[sc->pk[0]].name);
            esync__buf_puts(&b, "=");
            esync__buf_ident(&b, sc->cols[sc->pk[0]].name);
        }
        esync__buf_puts(&b, " WHERE ");
        key_where(&b, sc);
        rc = prepare_built(e, &b, &t, &st);
        if (rc) return rc;
        if (cached) {
            slot = (int)(mask % ESYNC_UPD_CACHE);
            for (int k = 0; k < ESYNC_UPD_CACHE; k++)
                if (!s->st_upd[k].st) {
                    slot = k;
                    break;
                }
            sqlite3_finalize(s->st_upd[slot].st);
            s->st_upd[slot].st = st;
            s->st_upd[slot].mask = mask;
        }
    }
    if ((rc = bind_key(e, s, st, rv, 1))) goto out;
    char err[200];
    int p = sc->npk;
    for (int i = 0; i < sc->ncols; i++) {
        if (!rv->present[i] || sc->cols[i].pk_index >= 0) continue;
        rc = esync__bind_value(st, ++p, &sc->cols[i], rv->v[i], err, sizeof err);
        if (rc) {
            rc = bind_fail(e, s, rc, err);
            goto out;
        }
    }
    if ((rc = step_done(e, st, "update"))) goto out;
    if (sqlite3_changes(e->db) == 0) {
        /* Not in the replica. A full row (replica=full) can be inserted; a partial one cannot. */
        bool full = true;
        for (int i = 0; i < sc->ncols; i++) full = full && rv->present[i];
        if (full)
            rc = esync__rows_insert(e, s, rv);
        else
            rc = esync__fail(e, ESYNC_EPROTO,
                             "shape \"%s\": update of a row that is not in the replica", s->name);
    }
out:
    sqlite3_clear_bindings(st);
    if (!cached || slot < 0) sqlite3_finalize(st);
    return rc;
}

int esync__rows_create_table(esync *e, const esync_schema *sc, const char *db, const char *table) {
    esync_buf b;
    esync__buf_init(&b);
    esync__buf_puts(&b, "DROP TABLE IF EXISTS ");
    if (!strcmp(db, "temp"))
        esync__buf_puts(&b, ESYNC_SHADOW_TABLE);
    else {
        esync__buf_printf(&b, "%s.", db);
        esync__buf_ident(&b, table);
    }
    esync__buf_puts(&b, "; ");
    esync__schema_ddl(sc, db, table, &b);
    int rc = esync__exec_buf(e, &b);
    esync__buf_free(&b);
    return rc;
}

void esync__rows_finalize(esync_shape *s) {
    sqlite3_finalize(s->st_ins);
    sqlite3_finalize(s->st_del);
    sqlite3_finalize(s->st_sel);
    sqlite3_finalize(s->st_group);
    s->st_ins = s->st_del = s->st_sel = s->st_group = NULL;
    esync__rows_discard(s);
    esync__freemem(s->pend);
    s->pend = NULL;
    s->group_rows = 0;
    for (int i = 0; i < ESYNC_UPD_CACHE; i++) {
        sqlite3_finalize(s->st_upd[i].st);
        s->st_upd[i].st = NULL;
        s->st_upd[i].mask = 0;
    }
}
