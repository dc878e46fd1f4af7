/* Shape log messages (see shape/msg.h). Layout of a change message, headers last so the commit
 * can add "last":true by rewriting the final bytes only:
 *   {"key":K,"value":{...}[,"old_value":{...}],"headers":{"operation":..,"relation":[..],
 *    "lsn":"L","op_position":N,"txids":[X][,"key_change_to"|"key_change_from":K]}}
 */
#include "shape/msg.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static void rel_part(esync_sb *b, const char *s) {
    esync__sb_put(b, "\"", 1);
    for (; *s; s++) {
        esync__sb_put(b, s, 1);
        if (*s == '/' || *s == '.') esync__sb_put(b, s, 1);
    }
    esync__sb_put(b, "\"", 1);
}

void esync__msg_view_init(esync_shape_view *v, const esync_table *t, const int *sel, int nsel,
                          bool full, esync_where *where) {
    memset(v, 0, sizeof *v);
    v->t = t;
    v->full = full;
    v->where = where;
    v->sel = esync__xcalloc((size_t)t->ncols + 1, sizeof *v->sel);
    if (sel) {
        memcpy(v->sel, sel, (size_t)nsel * sizeof *sel);
        v->nsel = nsel;
    } else {
        for (int i = 0; i < t->ncols; i++) v->sel[i] = i;
        v->nsel = t->ncols;
    }
    v->keycols = esync__xcalloc((size_t)t->ncols + 1, sizeof *v->keycols);
    v->has_pk = t->npk > 0;
    if (v->has_pk) {
        memcpy(v->keycols, t->pk, (size_t)t->npk * sizeof *t->pk);
        v->nkey = t->npk;
    } else {
        memcpy(v->keycols, v->sel, (size_t)v->nsel * sizeof *v->sel);
        v->nkey = v->nsel;
        for (int i = 1; i < v->nkey; i++) /* by column name (insertion sort: a few columns) */
            for (int j = i;
                 j > 0 && strcmp(t->cols[v->keycols[j - 1]].name, t->cols[v->keycols[j]].name) > 0;
                 j--) {
                int x = v->keycols[j];
                v->keycols[j] = v->keycols[j - 1];
                v->keycols[j - 1] = x;
            }
    }
    esync_sb b = {0};
    rel_part(&b, t->schema);
    esync__sb_put(&b, ".", 1);
    rel_part(&b, t->name);
    v->key_prefix = esync__sb_take(&b, NULL);
    esync__sb_put(&b, "[", 1);
    esync__sb_json(&b, t->schema, strlen(t->schema));
    esync__sb_put(&b, ",", 1);
    esync__sb_json(&b, t->name, strlen(t->name));
    esync__sb_put(&b, "]", 1);
    v->relation = esync__sb_take(&b, NULL);
    esync__sb_json(&b, v->key_prefix, strlen(v->key_prefix));
    v->key_prefix_json_len = b.n - 2;
    v->key_prefix_json = esync__xmalloc(b.n);
    memcpy(v->key_prefix_json, b.p + 1, v->key_prefix_json_len); /* without the quotes */
    v->key_prefix_json[v->key_prefix_json_len] = '\0';
    b.n = 0;
    v->col_json = esync__xcalloc((size_t)t->ncols + 1, sizeof *v->col_json);
    v->col_json_len = esync__xcalloc((size_t)t->ncols + 1, sizeof *v->col_json_len);
    v->ncol_json = t->ncols;
    for (int i = 0; i < t->ncols; i++) {
        esync__sb_json(&b, t->cols[i].name, strlen(t->cols[i].name));
        esync__sb_put(&b, ":", 1);
        v->col_json[i] = esync__sb_take(&b, &v->col_json_len[i]);
    }
    esync__sb_free(&b);
}

void esync__msg_view_free(esync_shape_view *v) {
    free(v->sel);
    free(v->keycols);
    free(v->key_prefix);
    free(v->key_prefix_json);
    for (int i = 0; i < v->ncol_json; i++) free(v->col_json[i]);
    free(v->col_json);
    free(v->col_json_len);
    free(v->relation);
    esync_where_free(v->where);
    memset(v, 0, sizeof *v);
}

bool esync__msg_view_match(const esync_shape_view *v, const esync_row *r) {
    return !v->where || esync_where_eval(v->where, r->v) == 1;
}

/* The key as a JSON string: "schema"."table"/"pk1"/"pk2" with '/' doubled inside values and
 * NULL parts written as _. Escaping is per character, so the parts are escaped one by one
 * straight into out (the quotes around each value become \"). */
static void key_json(esync_sb *out, const esync_shape_view *v, const esync_row *r) {
    esync__sb_put(out, "\"", 1);
    esync__sb_put(out, v->key_prefix_json, v->key_prefix_json_len);
    for (int i = 0; i < v->nkey; i++) {
        int c = v->keycols[i];
        if (!r->v[c]) {
            esync__sb_put(out, "/_", 2);
            continue;
        }
        esync__sb_put(out, "/\\\"", 3);
        const char *s = r->v[c];
        size_t n = r->len[c], run = 0;
        for (size_t j = 0; j < n; j++) {
            if (s[j] != '/') continue;
            esync__sb_json_body(out, s + run, j + 1 - run);
            esync__sb_put(out, "/", 1);
            run = j + 1;
        }
        esync__sb_json_body(out, s + run, n - run);
        esync__sb_put(out, "\\\"", 2);
    }
    esync__sb_put(out, "\"", 1);
}

static void col_pair(esync_sb *out, const esync_shape_view *v, int c, const esync_row *r,
                     bool *first) {
    if (!*first) esync__sb_put(out, ",", 1);
    *first = false;
    esync__sb_put(out, v->col_json[c], v->col_json_len[c]);
    if (r->v[c])
        esync__sb_json(out, r->v[c], r->len[c]);
    else
        esync__sb_put(out, "null", 4);
}

static bool is_key(const esync_shape_view *v, int c) {
    for (int i = 0; i < v->nkey; i++)
        if (v->keycols[i] == c) return true;
    return false;
}

static bool same(const esync_row *a, const esync_row *b, int c) {
    if (!a->v[c] || !b->v[c]) return !a->v[c] && !b->v[c];
    return a->len[c] == b->len[c] && memcmp(a->v[c], b->v[c], a->len[c]) == 0;
}

/* value objects: all selected columns, or the key columns only */
static void value_obj(esync_sb *out, const esync_shape_view *v, const esync_row *r,
                      bool keys_only) {
    bool first = true;
    esync__sb_put(out, "{", 1);
    for (int i = 0; i < v->nsel; i++) {
        int c = v->sel[i];
        if (keys_only && v->has_pk && !is_key(v, c)) continue;
        col_pair(out, v, c, r, &first);
    }
    esync__sb_put(out, "}", 1);
}

void esync__msg_snapshot_row(esync_sb *out, const esync_shape_view *v, const esync_row *r) {
    esync__sb_puts(out, "{\"key\":");
    key_json(out, v, r);
    esync__sb_puts(out, ",\"value\":");
    value_obj(out, v, r, false);
    esync__sb_puts(out, ",\"headers\":{\"operation\":\"insert\",\"relation\":");
    esync__sb_puts(out, v->relation);
    esync__sb_puts(out, "}}");
}

static void headers(esync_sb *out, const esync_shape_view *v, const char *op, uint64_t lsn,
                    uint64_t pos, uint32_t xid) {
    esync__sb_printf(out,
                     ",\"headers\":{\"operation\":\"%s\",\"relation\":%s,\"lsn\":\"%" PRIu64
                     "\",\"op_position\":%" PRIu64 ",\"txids\":[%u]",
                     op, v->relation, lsn, pos, xid);
}

static void finish(esync_sb *out, size_t *ends, esync_offset *offs, int *n, uint64_t lsn,
                   uint64_t pos) {
    esync__sb_put(out, "}},\n", 4);
    ends[*n] = out->n;
    offs[*n] = (esync_offset){lsn, pos};
    (*n)++;
}

int esync__msg_change(esync_sb *out, size_t *ends, esync_offset *offs, const esync_shape_view *v,
                      char op, const esync_row *old_row, const esync_row *new_row, uint64_t lsn,
                      uint64_t ordinal, uint32_t xid) {
    int n = 0;
    uint64_t pos = 2 * ordinal;
    bool old_in = op != 'I' && esync__msg_view_match(v, old_row);
    bool new_in = op != 'D' && esync__msg_view_match(v, new_row);
    if (op == 'I' || (op == 'U' && !old_in && new_in)) {
        if (!new_in) return 0;
        esync__sb_puts(out, "{\"key\":");
        key_json(out, v, new_row);
        esync__sb_puts(out, ",\"value\":");
        value_obj(out, v, new_row, false);
        headers(out, v, "insert", lsn, pos, xid);
        finish(out, ends, offs, &n, lsn, pos);
        return n;
    }
    if (op == 'D' || (op == 'U' && old_in && !new_in)) {
        if (!old_in) return 0;
        esync__sb_puts(out, "{\"key\":");
        key_json(out, v, old_row);
        esync__sb_puts(out, ",\"value\":");
        value_obj(out, v, old_row, !v->full);
        headers(out, v, "delete", lsn, pos, xid);
        finish(out, ends, offs, &n, lsn, pos);
        return n;
    }
    if (!old_in || !new_in) return 0;
    /* an update inside the shape */
    bool key_changed = false;
    for (int i = 0; i < v->nkey; i++)
        if (!same(old_row, new_row, v->keycols[i])) key_changed = true;
    if (key_changed) {
        esync_sb oldk = {0}, newk = {0};
        key_json(&oldk, v, old_row);
        key_json(&newk, v, new_row);
        esync__sb_puts(out, "{\"key\":");
        esync__sb_put(out, oldk.p, oldk.n);
        esync__sb_puts(out, ",\"value\":");
        value_obj(out, v, old_row, !v->full);
        headers(out, v, "delete", lsn, pos, xid);
        esync__sb_puts(out, ",\"key_change_to\":");
        esync__sb_put(out, newk.p, newk.n);
        finish(out, ends, offs, &n, lsn, pos);
        esync__sb_puts(out, "{\"key\":");
        esync__sb_put(out, newk.p, newk.n);
        esync__sb_puts(out, ",\"value\":");
        value_obj(out, v, new_row, false);
        headers(out, v, "insert", lsn, pos + 1, xid);
        esync__sb_puts(out, ",\"key_change_from\":");
        esync__sb_put(out, oldk.p, oldk.n);
        finish(out, ends, offs, &n, lsn, pos + 1);
        esync__sb_free(&oldk);
        esync__sb_free(&newk);
        return n;
    }
    bool any = false;
    for (int i = 0; i < v->nsel; i++)
        if (!same(old_row, new_row, v->sel[i])) any = true;
    if (!any) return 0;
    esync__sb_puts(out, "{\"key\":");
    key_json(out, v, new_row);
    esync__sb_puts(out, ",\"value\":{");
    bool first = true;
    for (int i = 0; i < v->nsel; i++) {
        int c = v->sel[i];
        if (v->full || is_key(v, c) || !same(old_row, new_row, c))
            col_pair(out, v, c, new_row, &first);
    }
    esync__sb_put(out, "}", 1);
    if (v->full) {
        esync__sb_puts(out, ",\"old_value\":{");
        first = true;
        for (int i = 0; i < v->nsel; i++) {
            int c = v->sel[i];
            if (!same(old_row, new_row, c)) col_pair(out, v, c, old_row, &first);
        }
        esync__sb_put(out, "}", 1);
    }
    headers(out, v, "update", lsn, pos, xid);
    finish(out, ends, offs, &n, lsn, pos);
    return n;
}

void esync__msg_mark_last(esync_sb *out) {
    /* every message ends with "}},\n" */
    if (out->n < 4) return;
    out->n -= 4;
    esync__sb_puts(out, ",\"last\":true}},\n");
}
