/*
 * ingest.c — the request loop and the apply path: what to request next, and how one response
 * becomes rows in the replica and, at up-to-date, a committed batch and its change set.
 *
 * Invariants
 *  - e->open is the only shape with a write transaction open; its in_batch is true.
 *  - The committed layer of a shape (handle_c, offset_c, schema_c, rows) changes only in
 *    commit_batch, inside the transaction that also writes the rows.
 *  - Change tracking: in a "fast" batch (target table empty at batch start) the final table is
 *    the change set; otherwise every key the batch touches is recorded once, with its row as it
 *    was before the batch, and compared with its row at commit. Both give coalesced changes.
 *  - A refetch of a shape that has rows is built in temp.esync_shadow and diffed into the
 *    replica at up-to-date, so readers never see the replica emptied.
 */
#include "shape.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHADOW "temp.esync_shadow"

typedef struct changeset {
    esync_buf ins, upd, del;
    int64_t n_ins, n_upd, n_del;
} changeset;

static void cs_init(changeset *c) {
    memset(c, 0, sizeof *c);
}
static void cs_free(changeset *c) {
    esync__buf_free(&c->ins);
    esync__buf_free(&c->upd);
    esync__buf_free(&c->del);
}
static bool cs_oom(const changeset *c) { return c->ins.oom || c->upd.oom || c->del.oom; }

static void cs_insert(changeset *c, const char *row, size_t n) {
    if (c->n_ins++) esync__buf_putc(&c->ins, ',');
    esync__buf_append(&c->ins, row, n);
}
static void cs_delete(changeset *c, const char *row, size_t n) {
    if (c->n_del++) esync__buf_putc(&c->del, ',');
    esync__buf_append(&c->del, row, n);
}
static void cs_update(changeset *c, const char *old, size_t on, const char *new_, size_t nn) {
    if (c->n_upd++) esync__buf_putc(&c->upd, ',');
    esync__buf_puts(&c->upd, "{\"old\":");
    esync__buf_append(&c->upd, old, on);
    esync__buf_puts(&c->upd, ",\"new\":");
    esync__buf_append(&c->upd, new_, nn);
    esync__buf_putc(&c->upd, '}');
}

static void event_open(const esync_shape *s, esync_buf *out) {
    if (out->len > 1) esync__buf_putc(out, ',');
    esync__buf_puts(out, "{\"type\":\"DATA_CHANGE\",\"shapeName\":");
    esync__buf_json_str(out, s->name, strlen(s->name));
    esync__buf_puts(out, ",\"tableName\":");
    esync__buf_json_str(out, s->tablename, strlen(s->tablename));
    esync__buf_puts(out, ",\"changes\":{\"insert\":[");
}

/* Appends the DATA_CHANGE event of a batch to out (a JSON array being built). */
static void cs_emit(const changeset *c, const esync_shape *s, esync_buf *out) {
    if (!c->n_ins && !c->n_upd && !c->n_del) return;
    event_open(s, out);
    esync__buf_append(out, c->ins.data, c->ins.len);
    esync__buf_puts(out, "],\"update\":[");
    esync__buf_append(out, c->upd.data, c->upd.len);
    esync__buf_puts(out, "],\"delete\":[");
    esync__buf_append(out, c->del.data, c->del.len);
    esync__buf_puts(out, "]}}");
}

/* ---- helpers ---- */

static const char *target(const esync_shape *s, esync_buf *b) {
    esync__buf_reset(b);
    if (s->shadow) esync__buf_puts(b, SHADOW);
    else {
        esync__buf_puts(b, "main.");
        esync__buf_ident(b, s->sqlname);
    }
    return b->data;
}

static void col_list(esync_buf *b, const esync_schema *sc, const char *prefix) {
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

/* Structural equality: names, types, dims and key. Nullability may change under a handle
 * (Electric reads it from the catalog at response time), so it is not compared. */
static bool schema_same(const esync_schema *a, const esync_schema *b) {
    if (a->ncols != b->ncols || a->npk != b->npk) return false;
    for (int i = 0; i < a->ncols; i++) {
        if (strcmp(a->cols[i].name, b->cols[i].name) || strcmp(a->cols[i].pgtype, b->cols[i].pgtype) ||
            a->cols[i].dims != b->cols[i].dims || a->cols[i].pk_index != b->cols[i].pk_index)
            return false;
    }
    return true;
}

static int prepare(esync *e, const char *sql, sqlite3_stmt **st) {
    if (sqlite3_prepare_v3(e->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return esync__sqlfail(e, e->db, "prepare");
    return ESYNC_OK;
}

static uint32_t backoff_ms(esync *e, int attempt, uint32_t base, const char *retry_after) {
    uint64_t cap = base;
    for (int i = 1; i < attempt && cap < 32000; i++) cap *= 2;
    if (cap > 32000) cap = 32000;
    uint32_t ms = (uint32_t)(esync__rand(e) % cap); /* full jitter */
    if (retry_after) {
        char *end;
        double secs = strtod(retry_after, &end);
        if (end != retry_after && isfinite(secs) && secs > 0) {
            if (secs > 3600) secs = 3600;
            if (secs * 1000 > ms) ms = (uint32_t)(secs * 1000);
        }
    }
    return ms;
}

/* ---- the request loop ---- */

int esync_next_request(esync *e, const char *name, esync_request *out) {
    if (!e || !out) return ESYNC_EINVAL;
    memset(out, 0, sizeof *out);
    esync_shape *s = esync__shape_find(e, name);
    if (!s) return esync__fail(e, ESYNC_ENOSHAPE, "no shape named \"%s\"", name ? name : "");
    if (s->stopped) { out->action = ESYNC_ACT_STOP; return esync__ok(e); }
    if (s->wait_ms) {
        out->action = ESYNC_ACT_WAIT;
        out->wait_ms = s->wait_ms;
        s->wait_ms = 0;
        return esync__ok(e);
    }
    if (e->open && e->open != s && !s->live) { out->action = ESYNC_ACT_IDLE; return esync__ok(e); }
    /* A response of this shape is still queued: its offset is not applied yet, so fetching now
     * would ask for the same log again (and queue it twice). */
    for (const esync_queued *q = e->queue; q; q = q->next)
        if (!strcmp(q->shape, s->name)) { out->action = ESYNC_ACT_IDLE; return esync__ok(e); }
    esync_buf *b = &e->scratch;
    esync__buf_reset(b);
    esync__buf_puts(b, "table=");
    esync__buf_urlenc(b, s->table);
    esync__buf_puts(b, "&offset=");
    esync__buf_urlenc(b, s->offset ? s->offset : "-1");
    if (s->handle) {
        esync__buf_puts(b, "&handle=");
        esync__buf_urlenc(b, s->handle);
    }
    bool live = s->live && s->offset && strcmp(s->offset, "-1");
    if (live) {
        esync__buf_puts(b, "&live=true");
        if (s->cursor) {
            esync__buf_puts(b, "&cursor=");
            esync__buf_urlenc(b, s->cursor);
        }
    }
    if (s->where) {
        esync__buf_puts(b, "&where=");
        esync__buf_urlenc(b, s->where);
    }
    for (int i = 0; i < s->nparams; i++) {
        esync__buf_printf(b, "&params%%5B%d%%5D=", i + 1);
        esync__buf_urlenc(b, s->params[i]);
    }
    if (s->columns) {
        esync__buf_puts(b, "&columns=");
        esync__buf_urlenc(b, s->columns);
    }
    if (s->replica_full) esync__buf_puts(b, "&replica=full");
    if (s->cache_bust) {
        /* After a must-refetch: caches keyed on the URL must miss (Electric's client does the
         * same), so a CDN that cached the old handle cannot send us round in a 409 loop. */
        esync__buf_printf(b, "&cache-buster=%08x", (unsigned)(esync__rand(e) & 0xffffffffu));
        if (s->expired_handle) {
            esync__buf_puts(b, "&expired_handle=");
            esync__buf_urlenc(b, s->expired_handle);
        }
    }
    if (b->oom) return esync__fail(e, ESYNC_ENOMEM, "out of memory");
    out->action = ESYNC_ACT_FETCH;
    out->live = live;
    out->query = b->data;
    return esync__ok(e);
}

/* ---- batches ---- */

static void end_batch_state(esync_shape *s) {
    s->in_batch = false;
    esync__schema_free(&s->schema_b);
    esync__keymap_free(&s->touched);
    if (s->shadow) esync__shape_finalize_stmts(s); /* they point at the shadow table */
    s->shadow = false;
    s->fast = false;
}

void esync__rollback_open(esync *e) {
    esync_shape *s = e->open;
    if (!s) return;
    sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
    e->open = NULL;
    /* DDL of the batch (a created or recreated table) was rolled back too: statements prepared
     * against it must go. */
    esync__shape_finalize_stmts(s);
    end_batch_state(s);
    if (s->refetch) {
        esync__set_str(&s->offset, "-1");
        esync__set_str(&s->cursor, NULL);
        s->live = false;
    } else {
        esync__request_from_committed(s);
    }
}

static int exec_buf(esync *e, esync_buf *b) {
    if (b->oom) return esync__fail(e, ESYNC_ENOMEM, "out of memory");
    return esync__exec(e, b->data);
}

static int create_table(esync *e, const esync_schema *sc, const char *db, const char *table) {
    esync_buf b;
    esync__buf_init(&b);
    esync__buf_puts(&b, "DROP TABLE IF EXISTS ");
    if (!strcmp(db, "temp")) esync__buf_puts(&b, SHADOW);
    else { esync__buf_printf(&b, "%s.", db); esync__buf_ident(&b, table); }
    esync__buf_puts(&b, "; ");
    esync__schema_ddl(sc, db, table, &b);
    int rc = exec_buf(e, &b);
    esync__buf_free(&b);
    return rc;
}

static int copy_schema(esync *e, const esync_schema *src, esync_schema *dst) {
    char err[128];
    if (esync__schema_parse(src->json, dst, err, sizeof err)) return esync__fail(e, ESYNC_ENOMEM, "%s", err);
    return ESYNC_OK;
}

/* Opens the batch of s (if not open) and prepares its target table for the given schema. */
static int begin_batch(esync *e, esync_shape *s, esync_schema *resp_schema) {
    int rc;
    if (!s->in_batch) {
        if ((rc = esync__exec(e, "BEGIN IMMEDIATE"))) return rc;
        e->open = s;
        s->in_batch = true;
        esync__keymap_init(&s->touched);
    }
    if (s->schema_b.ncols) {
        if (resp_schema->ncols && !schema_same(resp_schema, &s->schema_b))
            return esync__fail(e, ESYNC_ESCHEMA, "shape \"%s\": electric-schema changed under handle %s",
                               s->name, s->handle ? s->handle : "(none)");
        return ESYNC_OK;
    }
    const esync_schema *sc = resp_schema->ncols ? resp_schema : &s->schema_c;
    if (!sc->ncols) return esync__fail(e, ESYNC_EHEADERS, "shape \"%s\": no electric-schema header yet", s->name);
    if (s->refetch && s->rows > 0) {
        /* Build the new snapshot aside; the replica keeps serving the old rows meanwhile. */
        esync__shape_finalize_stmts(s);
        s->shadow = true;
        s->fast = true;
        if ((rc = create_table(e, sc, "temp", "esync_shadow"))) return rc;
    } else if (!s->schema_c.ncols || !schema_same(sc, &s->schema_c)) {
        if (s->schema_c.ncols && s->rows > 0 && !s->refetch)
            return esync__fail(e, ESYNC_ESCHEMA, "shape \"%s\": electric-schema changed under handle %s",
                               s->name, s->handle ? s->handle : "(none)");
        esync__shape_finalize_stmts(s);
        if ((rc = create_table(e, sc, "main", s->sqlname))) return rc;
        s->fast = true;
    } else {
        s->fast = s->rows == 0;
    }
    return copy_schema(e, sc, &s->schema_b);
}

/* ---- applying one change ---- */

typedef struct row_values {
    const char **v;   /* per schema column: text, or NULL for SQL NULL */
    bool *present;
    int n;
} row_values;

static int gather(esync *e, esync_shape *s, const esync_field *f, uint32_t nf, row_values *rv) {
    const esync_schema *sc = &s->schema_b;
    for (int i = 0; i < sc->ncols; i++) { rv->present[i] = false; rv->v[i] = NULL; }
    int expect = 0;
    for (uint32_t k = 0; k < nf; k++, f++) {
        /* Fields usually arrive in schema order: try the next column before searching. */
        int i;
        if (expect < sc->ncols && !strcmp(sc->cols[expect].name, f->name)) i = expect;
        else i = esync__schema_find(sc, f->name);
        if (i < 0)
            return esync__fail(e, ESYNC_EPROTO, "shape \"%s\": column \"%.60s\" is not in the schema", s->name, f->name);
        if (rv->present[i])
            return esync__fail(e, ESYNC_EPROTO, "shape \"%s\": column \"%.60s\" appears twice", s->name, f->name);
        if (f->kind == 1) rv->v[i] = f->text;
        else if (f->kind != 2)
            return esync__fail(e, ESYNC_EVALUE, "shape \"%s\": value of column \"%.60s\" is not a string or null", s->name, f->name);
        rv->present[i] = true;
        expect = i + 1;
    }
    return ESYNC_OK;
}

/* Sizes the per-row buffers to n columns. */
static int rv_fit(esync *e, row_values *rv, int n) {
    if (rv->n == n && rv->v) return ESYNC_OK;
    esync__freemem(rv->v);
    esync__freemem(rv->present);
    rv->n = n;
    rv->v = esync__malloc(sizeof(char *) * (size_t)(n ? n : 1));
    rv->present = esync__malloc(sizeof(bool) * (size_t)(n ? n : 1));
    return rv->v && rv->present ? ESYNC_OK : esync__fail(e, ESYNC_ENOMEM, "out of memory");
}

/* The tracking key of a row: its key columns' texts, each length-prefixed. */
static int row_key(esync *e, esync_shape *s, const row_values *rv, esync_buf *key) {
    const esync_schema *sc = &s->schema_b;
    esync__buf_reset(key);
    int n = sc->npk ? sc->npk : sc->ncols;
    for (int k = 0; k < n; k++) {
        int i = sc->npk ? sc->pk[k] : k;
        if (!rv->present[i] || (sc->npk && !rv->v[i]))
            return esync__fail(e, ESYNC_EPROTO, "shape \"%s\": key column \"%s\" missing from a change", s->name, sc->cols[i].name);
        if (s->fast) continue; /* no tracking: the key is only checked */
        if (!rv->v[i]) { esync__buf_puts(key, "N;"); continue; }
        size_t len = strlen(rv->v[i]);
        esync__buf_printf(key, "%zu:", len);
        esync__buf_append(key, rv->v[i], len);
    }
    return key->oom ? esync__fail(e, ESYNC_ENOMEM, "out of memory") : ESYNC_OK;
}

static int bind_fail(esync *e, esync_shape *s, int rc, const char *err) {
    return esync__fail(e, rc, "shape \"%s\": %s", s->name, err);
}

/* Binds the key columns from rv (key_where's parameters). */
static int bind_key(esync *e, esync_shape *s, sqlite3_stmt *st, const row_values *rv, int first) {
    const esync_schema *sc = &s->schema_b;
    char err[200];
    int n = sc->npk ? sc->npk : sc->ncols;
    for (int k = 0; k < n; k++) {
        int i = sc->npk ? sc->pk[k] : k;
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

static int ensure_select(esync *e, esync_shape *s) {
    if (s->st_sel) return ESYNC_OK;
    esync_buf b, t;
    esync__buf_init(&b);
    esync__buf_init(&t);
    esync__buf_puts(&b, "SELECT ");
    col_list(&b, &s->schema_b, NULL);
    esync__buf_printf(&b, " FROM %s WHERE ", target(s, &t));
    key_where(&b, &s->schema_b);
    if (!s->schema_b.npk) esync__buf_puts(&b, " LIMIT 1");
    int rc = b.oom || t.oom ? esync__fail(e, ESYNC_ENOMEM, "out of memory") : prepare(e, b.data, &s->st_sel);
    esync__buf_free(&b);
    esync__buf_free(&t);
    return rc;
}

/* The row of the current target with rv's key, as typed JSON into out (len 0 when absent). */
static int current_row(esync *e, esync_shape *s, const row_values *rv, esync_buf *out) {
    int rc = ensure_select(e, s);
    if (rc) return rc;
    sqlite3_reset(s->st_sel);
    sqlite3_clear_bindings(s->st_sel);
    if ((rc = bind_key(e, s, s->st_sel, rv, 1))) return rc;
    esync__buf_reset(out);
    int r = sqlite3_step(s->st_sel);
    if (r == SQLITE_ROW) rc = esync__emit_row(out, s->st_sel, &s->schema_b);
    else if (r != SQLITE_DONE) rc = esync__sqlfail(e, e->db, "read row");
    sqlite3_reset(s->st_sel);
    if (rc == ESYNC_ENOMEM) esync__fail(e, rc, "out of memory");
    return rc;
}

static int track(esync *e, esync_shape *s, const row_values *rv, esync_buf *key, esync_buf *tmp) {
    if (s->fast) return ESYNC_OK;
    if (esync__keymap_get(&s->touched, key->data, key->len)) return ESYNC_OK;
    int rc = current_row(e, s, rv, tmp);
    if (rc) return rc;
    esync_keymap_entry *en = esync__keymap_add(&s->touched, key->data, key->len);
    if (!en) return esync__fail(e, ESYNC_ENOMEM, "out of memory");
    if (tmp->len) {
        en->old_row = esync__strndup(tmp->data, tmp->len);
        if (!en->old_row) return esync__fail(e, ESYNC_ENOMEM, "out of memory");
        en->old_len = tmp->len;
    }
    return ESYNC_OK;
}

static int do_insert(esync *e, esync_shape *s, const row_values *rv) {
    const esync_schema *sc = &s->schema_b;
    int rc;
    if (!s->st_ins) {
        esync_buf b, t;
        esync__buf_init(&b);
        esync__buf_init(&t);
        esync__buf_printf(&b, "INSERT INTO %s (", target(s, &t));
        col_list(&b, sc, NULL);
        esync__buf_puts(&b, ") VALUES (");
        for (int i = 0; i < sc->ncols; i++) esync__buf_printf(&b, "%s?%d", i ? "," : "", i + 1);
        esync__buf_putc(&b, ')');
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
            }
        }
        rc = b.oom || t.oom ? esync__fail(e, ESYNC_ENOMEM, "out of memory") : prepare(e, b.data, &s->st_ins);
        esync__buf_free(&b);
        esync__buf_free(&t);
        if (rc) return rc;
    }
    char err[200];
    for (int i = 0; i < sc->ncols; i++) {
        rc = esync__bind_value(s->st_ins, i + 1, &sc->cols[i], rv->v[i], err, sizeof err);
        if (rc) { sqlite3_clear_bindings(s->st_ins); return bind_fail(e, s, rc, err); }
    }
    rc = step_done(e, s->st_ins, "insert");
    sqlite3_clear_bindings(s->st_ins);
    return rc;
}

static int do_delete(esync *e, esync_shape *s, const row_values *rv) {
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
            esync__buf_printf(&b, "DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s WHERE ", tn, tn);
            key_where(&b, &s->schema_b);
            esync__buf_puts(&b, " LIMIT 1)");
        }
        rc = b.oom || t.oom ? esync__fail(e, ESYNC_ENOMEM, "out of memory") : prepare(e, b.data, &s->st_del);
        esync__buf_free(&b);
        esync__buf_free(&t);
        if (rc) return rc;
    }
    if ((rc = bind_key(e, s, s->st_del, rv, 1))) { sqlite3_clear_bindings(s->st_del); return rc; }
    rc = step_done(e, s->st_del, "delete");
    sqlite3_clear_bindings(s->st_del);
    return rc;
}

static int do_update(esync *e, esync_shape *s, const row_values *rv) {
    const esync_schema *sc = &s->schema_b;
    if (!sc->npk)
        return esync__fail(e, ESYNC_EPROTO, "shape \"%s\": update on a table without a primary key", s->name);
    uint64_t mask = 0;
    for (int i = 0; i < sc->ncols; i++)
        if (rv->present[i] && sc->cols[i].pk_index < 0 && i < 64) mask |= 1ULL << i;
    sqlite3_stmt *st = NULL;
    bool cached = sc->ncols <= 64;
    int slot = -1;
    if (cached) {
        for (int k = 0; k < ESYNC_UPD_CACHE; k++)
            if (s->st_upd[k].st && s->st_upd[k].mask == mask) { st = s->st_upd[k].st; slot = k; break; }
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
        rc = b.oom || t.oom ? esync__fail(e, ESYNC_ENOMEM, "out of memory") : prepare(e, b.data, &st);
        esync__buf_free(&b);
        esync__buf_free(&t);
        if (rc) return rc;
        if (cached) {
            slot = (int)(mask % ESYNC_UPD_CACHE);
            for (int k = 0; k < ESYNC_UPD_CACHE; k++) if (!s->st_upd[k].st) { slot = k; break; }
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
        if (rc) { rc = bind_fail(e, s, rc, err); goto out; }
    }
    if ((rc = step_done(e, st, "update"))) goto out;
    if (sqlite3_changes(e->db) == 0) {
        /* Not in the replica. A full row (replica=full) can be inserted; a partial one cannot. */
        bool full = true;
        for (int i = 0; i < sc->ncols; i++) full = full && rv->present[i];
        if (full) rc = do_insert(e, s, rv);
        else rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": update of a row that is not in the replica", s->name);
    }
out:
    sqlite3_clear_bindings(st);
    if (!cached || slot < 0) sqlite3_finalize(st);
    return rc;
}

typedef enum { OP_INSERT, OP_UPDATE, OP_DELETE } op_kind;

static int apply_change(esync *e, esync_shape *s, op_kind op, const esync_msgs *ms, const esync_msg *m,
                        row_values *rv, esync_buf *key, esync_buf *tmp) {
    int rc = gather(e, s, ms->f + m->field0, m->nfields, rv);
    if (!rc) rc = row_key(e, s, rv, key);
    if (!rc) rc = track(e, s, rv, key, tmp);
    if (rc) return rc;
    switch (op) {
    case OP_INSERT: return do_insert(e, s, rv);
    case OP_UPDATE: return do_update(e, s, rv);
    default: return do_delete(e, s, rv);
    }
}

/* ---- commit: computing the change set ---- */

/* Every row of the target is an insert (the target was empty when the batch began). The rows
 * are written straight into the event (an initial sync's change set is the whole table, so it
 * is not built twice). */
static int changes_fast(esync *e, esync_shape *s, esync_buf *out, int64_t *count) {
    esync_buf b;
    esync__buf_init(&b);
    esync__buf_puts(&b, "SELECT ");
    col_list(&b, &s->schema_b, NULL);
    esync__buf_puts(&b, " FROM main.");
    esync__buf_ident(&b, s->sqlname);
    sqlite3_stmt *st = NULL;
    int rc = b.oom ? esync__fail(e, ESYNC_ENOMEM, "out of memory") : ESYNC_OK;
    if (!rc && sqlite3_prepare_v2(e->db, b.data, -1, &st, NULL)) rc = esync__sqlfail(e, e->db, "scan");
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
static int key_values(esync_shape *s, const esync_keymap_entry *en, row_values *rv, char **store) {
    const esync_schema *sc = &s->schema_b;
    const char *p = en->key, *end = en->key + en->keylen;
    int n = sc->npk ? sc->npk : sc->ncols;
    for (int i = 0; i < sc->ncols; i++) { rv->v[i] = NULL; rv->present[i] = false; }
    char *w = *store;
    for (int k = 0; k < n && p < end; k++) {
        int i = sc->npk ? sc->pk[k] : k;
        rv->present[i] = true;
        if (*p == 'N') { p += 2; continue; }
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

static int changes_tracked(esync *e, esync_shape *s, changeset *cs, row_values *rv, esync_buf *tmp) {
    size_t maxkey = 0;
    for (size_t k = 0; k < s->touched.count; k++)
        if (s->touched.entries[k].keylen > maxkey) maxkey = s->touched.entries[k].keylen;
    char *store = esync__malloc(maxkey + (size_t)s->schema_b.ncols + 1);
    if (!store) return esync__fail(e, ESYNC_ENOMEM, "out of memory");
    int rc = ESYNC_OK;
    for (size_t k = 0; k < s->touched.count && !rc; k++) {
        esync_keymap_entry *en = &s->touched.entries[k];
        key_values(s, en, rv, &store);
        if ((rc = current_row(e, s, rv, tmp))) break;
        if (!en->old_row && tmp->len) { cs_insert(cs, tmp->data, tmp->len); s->rows++; }
        else if (en->old_row && !tmp->len) { cs_delete(cs, en->old_row, en->old_len); s->rows--; }
        else if (en->old_row && (en->old_len != tmp->len || memcmp(en->old_row, tmp->data, tmp->len)))
            cs_update(cs, en->old_row, en->old_len, tmp->data, tmp->len);
    }
    esync__freemem(store);
    return rc;
}

static int run_rows(esync *e, const char *sql, const esync_schema *sc, int ncols_second,
                    const esync_schema *sc2, changeset *cs, int kind, int64_t *count) {
    /* kind: 0 delete(old), 1 insert-or-update(new [+ old]) */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL)) return esync__sqlfail(e, e->db, "diff");
    esync_buf a, b;
    esync__buf_init(&a);
    esync__buf_init(&b);
    int rc = ESYNC_OK, r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        esync__buf_reset(&a);
        if ((rc = esync__emit_row(&a, st, sc))) break;
        if (kind == 0) { cs_delete(cs, a.data, a.len); (*count)++; continue; }
        /* second half: the old row, absent when its first key column is NULL */
        int first_old = sc->ncols;
        if (sqlite3_column_type(st, first_old + (sc2->npk ? sc2->pk[0] : 0)) == SQLITE_NULL || !ncols_second) {
            cs_insert(cs, a.data, a.len);
            (*count)++;
            continue;
        }
        esync__buf_reset(&b);
        esync__buf_putc(&b, '{');
        for (int i = 0; i < sc2->ncols; i++) {
            if (i) esync__buf_putc(&b, ',');
            esync__buf_json_str(&b, sc2->cols[i].name, strlen(sc2->cols[i].name));
            esync__buf_putc(&b, ':');
            if ((rc = esync__emit_value(&b, st, first_old + i, &sc2->cols[i]))) break;
        }
        esync__buf_putc(&b, '}');
        if (rc) break;
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
static int changes_shadow_same(esync *e, esync_shape *s, changeset *cs) {
    const esync_schema *sc = &s->schema_b;
    esync_buf q, on, diff, main_t;
    esync__buf_init(&q);
    esync__buf_init(&on);
    esync__buf_init(&diff);
    esync__buf_init(&main_t);
    esync__buf_puts(&main_t, "main.");
    esync__buf_ident(&main_t, s->sqlname);
    /* join condition on the key (all columns without a key) and "row differs" condition */
    int n = sc->npk ? sc->npk : sc->ncols;
    for (int k = 0; k < n; k++) {
        int i = sc->npk ? sc->pk[k] : k;
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
    int64_t dels = 0, ins_upd = 0;
    /* deleted: in the replica, not in the new snapshot */
    esync__buf_puts(&q, "SELECT ");
    col_list(&q, sc, "o.");
    esync__buf_printf(&q, " FROM %s o WHERE NOT EXISTS (SELECT 1 FROM " SHADOW " n WHERE %s)", main_t.data, on.data);
    int rc = q.oom || on.oom || diff.oom ? esync__fail(e, ESYNC_ENOMEM, "out of memory")
                                         : run_rows(e, q.data, sc, 0, sc, cs, 0, &dels);
    /* inserted or changed */
    esync__buf_reset(&q);
    esync__buf_puts(&q, "SELECT ");
    col_list(&q, sc, "n.");
    esync__buf_puts(&q, ", ");
    col_list(&q, sc, "o.");
    esync__buf_printf(&q, " FROM " SHADOW " n LEFT JOIN %s o ON %s WHERE %s", main_t.data, on.data, diff.data);
    int64_t inserted = 0;
    if (!rc) rc = q.oom ? esync__fail(e, ESYNC_ENOMEM, "out of memory") : run_rows(e, q.data, sc, sc->ncols, sc, cs, 1, &inserted);
    (void)ins_upd;
    /* apply */
    if (!rc) {
        esync__buf_reset(&q);
        esync__buf_printf(&q, "DELETE FROM %s AS o WHERE NOT EXISTS (SELECT 1 FROM " SHADOW " n WHERE %s);",
                          main_t.data, on.data);
        if (sc->npk) {
            esync__buf_printf(&q, "INSERT OR REPLACE INTO %s SELECT n.* FROM " SHADOW " n LEFT JOIN %s o ON %s WHERE %s;",
                              main_t.data, main_t.data, on.data, diff.data);
        } else {
            /* no key: a changed row is a delete plus an insert, already deleted above */
            esync__buf_printf(&q, "INSERT INTO %s SELECT n.* FROM " SHADOW " n WHERE NOT EXISTS (SELECT 1 FROM %s o WHERE %s);",
                              main_t.data, main_t.data, on.data);
        }
        rc = exec_buf(e, &q);
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
    int n = sc->npk ? sc->npk : sc->ncols;
    for (int k = 0; k < n; k++) {
        int i = sc->npk ? sc->pk[k] : k;
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
static int changes_shadow_changed(esync *e, esync_shape *s, changeset *cs) {
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
    col_list(&q, &s->schema_c, NULL);
    esync__buf_puts(&q, " FROM main.");
    esync__buf_ident(&q, s->sqlname);
    if (q.oom || sqlite3_prepare_v2(e->db, q.data, -1, &st, NULL)) { rc = esync__sqlfail(e, e->db, "diff"); goto done; }
    while (sqlite3_step(st) == SQLITE_ROW) {
        esync__buf_reset(&row);
        if ((rc = key_json(&key, st, &s->schema_c)) || (rc = esync__emit_row(&row, st, &s->schema_c))) goto oom;
        if (esync__keymap_get(&old, key.data, key.len)) { cs_delete(cs, row.data, row.len); continue; }
        esync_keymap_entry *en = esync__keymap_add(&old, key.data, key.len);
        if (!en || !(en->old_row = esync__strndup(row.data, row.len))) goto oom;
        en->old_len = row.len;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* new rows */
    esync__buf_reset(&q);
    esync__buf_puts(&q, "SELECT ");
    col_list(&q, &s->schema_b, NULL);
    esync__buf_puts(&q, " FROM " SHADOW);
    if (q.oom || sqlite3_prepare_v2(e->db, q.data, -1, &st, NULL)) { rc = esync__sqlfail(e, e->db, "diff"); goto done; }
    while (sqlite3_step(st) == SQLITE_ROW) {
        esync__buf_reset(&row);
        if ((rc = key_json(&key, st, &s->schema_b)) || (rc = esync__emit_row(&row, st, &s->schema_b))) goto oom;
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
    if ((rc = create_table(e, &s->schema_b, "main", s->sqlname))) goto done;
    esync__buf_reset(&q);
    esync__buf_puts(&q, "INSERT INTO main.");
    esync__buf_ident(&q, s->sqlname);
    esync__buf_puts(&q, " SELECT * FROM " SHADOW);
    rc = exec_buf(e, &q);
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

static int commit_batch(esync *e, esync_shape *s, double now, row_values *rv, esync_buf *tmp, esync_buf *out) {
    changeset cs;
    cs_init(&cs);
    int rc;
    if (s->shadow) {
        rc = schema_same(&s->schema_b, &s->schema_c) ? changes_shadow_same(e, s, &cs) : changes_shadow_changed(e, s, &cs);
        if (!rc) rc = esync__exec(e, "DROP TABLE " SHADOW);
    } else if (s->fast) {
        size_t mark = out->len;
        int64_t n = 0;
        event_open(s, out);
        rc = changes_fast(e, s, out, &n);
        esync__buf_puts(out, "],\"update\":[],\"delete\":[]}}");
        if (!n || rc) { /* nothing inserted: no event */
            out->len = mark;
            if (out->data) out->data[mark] = 0;
        }
        s->rows = n;
    } else {
        rc = changes_tracked(e, s, &cs, rv, tmp);
    }
    if (!rc && cs_oom(&cs)) rc = esync__fail(e, ESYNC_ENOMEM, "out of memory");
    if (!rc) {
        esync_schema tmp_schema = s->schema_c;
        s->schema_c = s->schema_b;
        memset(&s->schema_b, 0, sizeof s->schema_b);
        esync__schema_free(&tmp_schema);
        if (!esync__set_str(&s->handle_c, s->handle) || !esync__set_str(&s->offset_c, s->offset))
            rc = esync__fail(e, ESYNC_ENOMEM, "out of memory");
        s->last_sync = now;
    }
    if (!rc) rc = esync__shape_store(e, s);
    if (!rc) rc = esync__exec(e, "COMMIT");
    if (rc) {
        cs_free(&cs);
        return rc; /* the caller rolls back; committed fields are reloaded below */
    }
    e->open = NULL;
    s->refetch = false;
    s->cache_bust = false;
    s->live = true;
    s->data_failures = 0;
    esync__set_str(&s->expired_handle, NULL);
    esync__set_str(&s->error, NULL);
    end_batch_state(s);
    cs_emit(&cs, s, out);
    cs_free(&cs);
    return out->oom ? esync__fail(e, ESYNC_ENOMEM, "out of memory") : ESYNC_OK;
}

/* ---- responses ---- */

static void must_refetch(esync *e, esync_shape *s, const char *new_handle) {
    if (s->in_batch) {
        s->refetch = false; /* rollback restores the committed request state first */
        esync__rollback_open(e);
    }
    const char *old = s->handle ? s->handle : s->handle_c;
    esync__set_str(&s->expired_handle, old);
    if (new_handle && new_handle[0] && (!old || strcmp(new_handle, old))) esync__set_str(&s->handle, new_handle);
    else esync__set_str(&s->handle, NULL);
    esync__set_str(&s->offset, "-1");
    esync__set_str(&s->cursor, NULL);
    s->live = false;
    s->refetch = true;
    s->cache_bust = true;
}

/* Rolls back after bad data and schedules the retry (a refetch after repeated failures). */
static int fail_batch(esync *e, esync_shape *s, int rc) {
    char msg[sizeof e->errmsg];
    memcpy(msg, e->errmsg, sizeof msg);
    if (s->in_batch) esync__rollback_open(e);
    else if (!s->refetch) esync__request_from_committed(s);
    s->data_failures++;
    if (s->data_failures >= 3) {
        must_refetch(e, s, NULL);
        /* The handle is not expired (the data was bad, not the shape): the cache-buster alone
         * gets past a cached bad response; expired_handle would contradict the handle the
         * server sends back. */
        esync__set_str(&s->expired_handle, NULL);
        s->data_failures = 0;
    }
    s->wait_ms = backoff_ms(e, s->data_failures + 1, 500, NULL);
    esync__set_str(&s->error, msg);
    e->errcode = rc;
    memcpy(e->errmsg, msg, sizeof msg);
    return rc;
}

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

static int apply_ok_response(esync *e, esync_shape *s, const esync_response *r, esync_buf *out) {
    bool is204 = r->status == 204;
    if (r->body_len > e->max_body)
        return esync__fail(e, ESYNC_ETOOBIG, "shape \"%s\": response body of %zu bytes is over the %zu-byte limit",
                           s->name, r->body_len, e->max_body);
    if (!is204 && (!r->handle || !r->handle[0]))
        return esync__fail(e, ESYNC_EHEADERS, "shape \"%s\": response has no electric-handle header", s->name);
    if (!is204 && (!r->offset || !r->offset[0]))
        return esync__fail(e, ESYNC_EHEADERS, "shape \"%s\": response has no electric-offset header", s->name);
    esync_schema rs;
    memset(&rs, 0, sizeof rs);
    if (r->schema && r->schema[0]) {
        char err[200];
        int rc = esync__schema_parse(r->schema, &rs, err, sizeof err);
        if (rc) return esync__fail(e, rc, "shape \"%s\": %s", s->name, err);
    }
    /* Parse the body: a JSON array of messages (an empty body counts as []). The whole body is
     * checked before anything is written. */
    esync_msgs ms;
    memset(&ms, 0, sizeof ms);
    size_t start = 0;
    while (start < r->body_len && is_ws((char)r->body[start])) start++;
    if (start < r->body_len) {
        size_t at = 0;
        int prc = r->body_writable ? esync__msgs_parse_inplace(&ms, r->body_writable, r->body_len, &at)
                                   : esync__msgs_parse(&ms, r->body, r->body_len, &at);
        if (prc || !ms.is_array) {
            esync__schema_free(&rs);
            esync__msgs_free(&ms);
            if (prc == ESYNC_ENOMEM) return esync__fail(e, prc, "out of memory");
            if (!prc) return esync__fail(e, ESYNC_EPROTO, "shape \"%s\": body is not a JSON array", s->name);
            return esync__fail(e, prc, "shape \"%s\": malformed or truncated JSON body (stopped at byte %zu of %zu)",
                               s->name, at, r->body_len);
        }
    }
    int rc = ESYNC_OK;
    bool up_to_date = r->up_to_date || is204;
    bool has_changes = false, refetches = false;
    for (size_t i = 0; i < ms.n; i++) {
        const esync_msg *m = &ms.m[i];
        if (!m->is_object || m->headers_kind != 3) { rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": message without headers", s->name); break; }
        if (m->control_kind == 1 && !strcmp(m->control, "up-to-date")) up_to_date = true;
        if (m->control_kind == 1 && !strcmp(m->control, "must-refetch")) refetches = true;
        if (m->op_kind) has_changes = true;
    }
    /* A handle and its offsets form a pair: a new handle mid-log is only valid together with a
     * must-refetch. */
    if (!rc && !is204 && !refetches && s->handle && strcmp(s->offset ? s->offset : "-1", "-1") && strcmp(r->handle, s->handle))
        rc = esync__fail(e, ESYNC_EHEADERS, "shape \"%s\": handle changed from %s to %s without a must-refetch",
                         s->name, s->handle, r->handle);
    esync_buf key, tmp;
    esync__buf_init(&key);
    esync__buf_init(&tmp);
    row_values rv = {0};
    /* Open the batch only when something is written: rows, a new table, or a new offset or
     * handle to store at up-to-date. An empty live answer writes nothing. */
    bool need_batch = has_changes || s->in_batch || s->refetch || !s->schema_c.ncols ||
                      (rs.ncols && !schema_same(&rs, &s->schema_c)) ||
                      (up_to_date && r->offset && (!s->offset_c || strcmp(r->offset, s->offset_c))) ||
                      (up_to_date && r->handle && (!s->handle_c || strcmp(r->handle, s->handle_c)));
    if (!rc && need_batch) {
        rc = begin_batch(e, s, &rs);
        if (!rc) rc = rv_fit(e, &rv, s->schema_b.ncols);
    }
    bool refetch_last = false; /* the last message was a must-refetch */
    for (size_t i = 0; i < ms.n && !rc; i++) {
        const esync_msg *m = &ms.m[i];
        refetch_last = false;
        if (m->control_kind) {
            if (m->control_kind == 1 && !strcmp(m->control, "must-refetch")) {
                /* Everything before it in this batch is void; what follows is the new log. */
                refetch_last = true;
                must_refetch(e, s, NULL);
                if (!esync__set_str(&s->handle, r->handle)) rc = esync__fail(e, ESYNC_ENOMEM, "out of memory");
                if (!rc) rc = begin_batch(e, s, &rs);
                /* The new target's schema (the committed one when this response has none) may
                 * have another column count than the voided batch's. */
                if (!rc) rc = rv_fit(e, &rv, s->schema_b.ncols);
            }
            continue; /* up-to-date handled above; snapshot-end and unknown controls ignored */
        }
        if (!m->op_kind) continue; /* events (move-out…) are for subquery shapes: ignored */
        op_kind kind;
        if (m->op_kind != 1) { rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": operation is not a string", s->name); break; }
        if (!strcmp(m->op, "insert")) kind = OP_INSERT;
        else if (!strcmp(m->op, "update")) kind = OP_UPDATE;
        else if (!strcmp(m->op, "delete")) kind = OP_DELETE;
        else { rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": unknown operation \"%.40s\"", s->name, m->op); break; }
        if (m->key_kind != 1 || !m->key[0]) { rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": change without a key", s->name); break; }
        if (m->value_kind != 3) { rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": change without a value object", s->name); break; }
        rc = apply_change(e, s, kind, &ms, m, &rv, &key, &tmp);
    }
    if (!rc && refetch_last) {
        /* The body ended with the must-refetch: nothing of the new log came, and this
         * response's offset belongs to the voided log. Restart at -1, as after a 409. */
        must_refetch(e, s, NULL);
    } else if (!rc && s->in_batch) {
        if ((r->handle && !esync__set_str(&s->handle, r->handle)) || (r->offset && !esync__set_str(&s->offset, r->offset)) ||
            (r->cursor && !esync__set_str(&s->cursor, r->cursor)))
            rc = esync__fail(e, ESYNC_ENOMEM, "out of memory");
        if (!rc && up_to_date) rc = commit_batch(e, s, r->now_ms, &rv, &tmp, out);
    } else if (!rc) {
        /* Nothing to write (an empty live answer): just move the request state on. */
        if (r->handle) esync__set_str(&s->handle, r->handle);
        if (r->offset) esync__set_str(&s->offset, r->offset);
        if (r->cursor) esync__set_str(&s->cursor, r->cursor);
        if (up_to_date) s->live = true;
    }
    esync__freemem(rv.v);
    esync__freemem(rv.present);
    esync__buf_free(&key);
    esync__buf_free(&tmp);
    esync__msgs_free(&ms);
    esync__schema_free(&rs);
    return rc;
}

/* Electric's 400 for an offset beyond the shape's end: {"errors":{"offset":["out of bounds…"]}}. */
static bool body_says_out_of_bounds(const esync_response *r) {
    if (!r->body || !r->body_len) return false;
    cJSON *j = esync__json_parse((const char *)r->body, r->body_len, NULL);
    cJSON *off = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "errors"), "offset");
    bool yes = false;
    cJSON *m;
    cJSON_ArrayForEach(m, off) {
        if (cJSON_IsString(m) && strstr(m->valuestring, "out of bounds")) yes = true;
    }
    cJSON_Delete(j);
    return yes;
}

static int process(esync *e, esync_shape *s, const esync_response *r, esync_buf *out) {
    int st = r->status;
    if (st == 0 || st == 429 || st >= 500) {
        s->http_failures++;
        s->wait_ms = backoff_ms(e, s->http_failures, 1000, r->retry_after);
        /* An open batch stays open: the retry continues from the last response applied. */
        if (st == 0) esync__fail(e, ESYNC_ERETRY, "shape \"%s\": network error", s->name);
        else esync__fail(e, ESYNC_ERETRY, "shape \"%s\": HTTP %d", s->name, st);
        esync__set_str(&s->error, e->errmsg);
        return ESYNC_ERETRY;
    }
    s->http_failures = 0;
    if (st == 409 || (st == 400 && body_says_out_of_bounds(r))) {
        /* 400 "out of bounds" (we are ahead of the server, e.g. after a restore) is a refetch too:
         * treating it as fatal is Electric's client bug #3899. */
        must_refetch(e, s, st == 409 ? r->handle : NULL);
        return esync__ok(e);
    }
    if (st == 200 || st == 204) {
        int rc = apply_ok_response(e, s, r, out);
        if (rc) return fail_batch(e, s, rc);
        esync__set_str(&s->error, NULL);
        /* The new handle answered: later requests are ordinary cache keys again, and a good
         * response breaks a run of data failures. */
        s->cache_bust = false;
        s->data_failures = 0;
        return esync__ok(e);
    }
    if (s->in_batch) esync__rollback_open(e);
    s->stopped = true;
    esync__fail(e, ESYNC_EHTTP, "shape \"%s\": HTTP %d: %.*s", s->name, st,
                (int)(r->body_len > 300 ? 300 : r->body_len), r->body ? (const char *)r->body : "");
    esync__set_str(&s->error, e->errmsg);
    return ESYNC_EHTTP;
}

static void queued_free(esync_queued *q) {
    esync__freemem(q->shape);
    for (int i = 0; i < 5; i++) esync__freemem(q->str[i]);
    esync__freemem(q->body);
    esync__freemem(q);
}

void esync__queue_free(esync *e) {
    while (e->queue) {
        esync_queued *q = e->queue;
        e->queue = q->next;
        queued_free(q);
    }
    e->queue_tail = NULL;
}

static int enqueue(esync *e, const char *name, const esync_response *r) {
    esync_queued *q = esync__malloc(sizeof *q);
    if (!q) return esync__fail(e, ESYNC_ENOMEM, "out of memory");
    memset(q, 0, sizeof *q);
    const char *src[5] = {r->handle, r->offset, r->schema, r->cursor, r->retry_after};
    bool ok = (q->shape = esync__strdup(name)) != NULL;
    for (int i = 0; i < 5 && ok; i++)
        if (src[i] && !(q->str[i] = esync__strdup(src[i]))) ok = false;
    if (ok && r->body_len) {
        if ((q->body = esync__malloc(r->body_len))) memcpy(q->body, r->body, r->body_len);
        else ok = false;
    }
    if (!ok) {
        queued_free(q);
        return esync__fail(e, ESYNC_ENOMEM, "out of memory");
    }
    q->resp = *r;
    q->resp.handle = q->str[0];
    q->resp.offset = q->str[1];
    q->resp.schema = q->str[2];
    q->resp.cursor = q->str[3];
    q->resp.retry_after = q->str[4];
    q->resp.body = q->body;
    q->resp.body_writable = q->body; /* the queue's own copy */
    if (e->queue_tail) e->queue_tail->next = q;
    else e->queue = q;
    e->queue_tail = q;
    return ESYNC_OK;
}

static void drain(esync *e, esync_buf *out) {
    while (!e->open && e->queue) {
        esync_queued *q = e->queue;
        e->queue = q->next;
        if (!e->queue) e->queue_tail = NULL;
        esync_shape *s = esync__shape_find(e, q->shape);
        if (s) process(e, s, &q->resp, out); /* its errors are in the shape's status */
        queued_free(q);
    }
}

int esync_ingest(esync *e, const char *name, const esync_response *r, char **changes, size_t *changes_len) {
    if (!e) return ESYNC_EINVAL;
    if (changes) *changes = NULL;
    if (changes_len) *changes_len = 0;
    if (!r || !changes || (r->body_len && !r->body)) return esync__fail(e, ESYNC_EINVAL, "missing response or out-pointer");
    esync_shape *s = esync__shape_find(e, name);
    if (!s) return esync__fail(e, ESYNC_ENOSHAPE, "no shape named \"%s\"", name ? name : "");
    if (e->open && e->open != s) {
        int rc = enqueue(e, name, r);
        return rc ? rc : esync__ok(e);
    }
    esync_buf out;
    esync__buf_init(&out);
    esync__buf_putc(&out, '[');
    int rc = process(e, s, r, &out);
    char msg[sizeof e->errmsg];
    memcpy(msg, e->errmsg, sizeof msg);
    drain(e, &out);
    e->errcode = rc;
    memcpy(e->errmsg, msg, sizeof msg);
    esync__buf_putc(&out, ']');
    if (out.oom) {
        esync__buf_free(&out);
        return esync__fail(e, ESYNC_ENOMEM, "out of memory");
    }
    if (out.len > 2) *changes = esync__buf_take(&out, changes_len);
    esync__buf_free(&out);
    return rc;
}

int esync_shape_types(esync *e, const char *name, char **out, size_t *out_len) {
    if (!e || !out) return ESYNC_EINVAL;
    *out = NULL;
    esync_shape *s = esync__shape_find(e, name);
    if (!s) return esync__fail(e, ESYNC_ENOSHAPE, "no shape named \"%s\"", name ? name : "");
    esync_buf b;
    esync__buf_init(&b);
    esync__buf_putc(&b, '{');
    bool first = true;
    for (int i = 0; i < s->schema_c.ncols; i++) {
        const esync_column *c = &s->schema_c.cols[i];
        if (c->type != ESYNC_T_INT8 && c->type != ESYNC_T_FLOAT) continue;
        if (!first) esync__buf_putc(&b, ',');
        first = false;
        esync__buf_json_str(&b, c->name, strlen(c->name));
        esync__buf_puts(&b, c->type == ESYNC_T_INT8 ? ":\"int8\"" : ":\"float\"");
    }
    esync__buf_putc(&b, '}');
    *out = esync__buf_take(&b, out_len);
    return *out ? esync__ok(e) : esync__fail(e, ESYNC_ENOMEM, "out of memory");
}
