/*
 * shape.c — shape definitions: parse and canonicalize a definition, load what the replica
 * stored under the shape's name, keep it (same definition: resume from the stored handle and
 * offset) or wipe it (a new definition starts over); find shapes by name; list the column
 * types the JS bridge converts (esync_shape_types); compare a definition with a shape's
 * (esync_shape_compare).
 *
 * Metadata (in the replica, changed in the same transactions as the rows):
 *   esync_shapes(name, definition, table_name, handle, offset, schema, row_count, last_sync)
 * written by batch.c (esync__batch_store_committed) at every commit and here when a shape is
 * wiped.
 */
#include "shape.h"

#include "alloc.h"
#include "batch.h"
#include "errors.h"
#include "msgparse.h"
#include "request.h"
#include "rows.h"
#include "txids.h"
#include "types.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Longest shape name accepted, in bytes. */
#define SHAPE_NAME_MAX 200
/* Most parameters ($1..$n) a where clause may take: far beyond any real shape, small enough
 * that a hostile definition cannot make the engine allocate much. */
#define MAX_PARAMS 1000

esync_shape *esync__shape_find(esync *e, const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < e->nshapes; i++)
        if (!strcmp(e->shapes[i]->name, name)) return e->shapes[i];
    return NULL;
}

void esync__shape_destroy(esync_shape *s) {
    if (!s) return;
    esync__rows_finalize(s);
    char **strs[] = {&s->name,   &s->def,     &s->table,          &s->sqlname,  &s->tablename,
                     &s->where,  &s->columns, &s->handle_c,       &s->offset_c, &s->handle,
                     &s->offset, &s->cursor,  &s->expired_handle, &s->error,    &s->txids_c};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) esync__freemem(*strs[i]);
    for (int i = 0; i < s->nparams; i++) esync__freemem(s->params[i]);
    esync__freemem(s->params);
    esync__schema_free(&s->schema_c);
    esync__schema_free(&s->schema_b);
    esync__keymap_free(&s->touched);
    esync__buf_free(&s->app);
    esync__txids_clear(s);
    esync__freemem(s);
}

/* DROP TABLE IF EXISTS main."<table>". */
static int drop_table(esync *e, const char *table) {
    esync_buf b;
    esync__buf_init(&b);
    esync__buf_puts(&b, "DROP TABLE IF EXISTS main.");
    esync__buf_ident(&b, table);
    int rc = esync__exec_buf(e, &b);
    esync__buf_free(&b);
    return rc;
}

int esync__shape_wipe(esync *e, esync_shape *s) {
    int rc = drop_table(e, s->sqlname);
    if (rc) return rc;
    esync__schema_free(&s->schema_c);
    esync__set_str(&s->handle_c, NULL);
    if (!esync__set_str(&s->offset_c, "-1")) return esync__oom(e);
    s->rows = 0;
    s->last_sync = -1;
    s->stopped = false;
    s->data_failures = s->http_failures = 0;
    s->wait_ms = 0;
    esync__set_str(&s->error, NULL);
    if ((rc = esync__batch_store_committed(e, s))) return rc;
    if (!esync__batch_reset_request(s)) return esync__oom(e);
    return ESYNC_OK;
}

/* ---- definitions ---- */

/* Splits "schema.table" (identifiers folded to lower case unless double-quoted) and returns the
 * table part, or NULL when the name is malformed. */
static char *table_part(const char *t) {
    esync_buf part;
    esync__buf_init(&part);
    const char *p = t;
    for (;;) {
        esync__buf_reset(&part);
        if (*p == '"') {
            for (p++;; p++) {
                if (!*p) goto bad;
                if (*p == '"') {
                    if (p[1] == '"') {
                        esync__buf_putc(&part, '"');
                        p++;
                        continue;
                    }
                    p++;
                    break;
                }
                esync__buf_putc(&part, *p);
            }
        } else {
            while (*p && *p != '.') {
                unsigned char c = (unsigned char)*p++;
                if (c == '"' || c < 0x20) goto bad;
                esync__buf_putc(&part, (char)tolower(c));
            }
        }
        if (part.len == 0) goto bad;
        if (*p == '.') {
            p++;
            continue;
        }
        if (*p) goto bad;
        return esync__buf_take(&part, NULL);
    }
bad:
    esync__buf_free(&part);
    return NULL;
}

static int parse_definition(esync *e, esync_shape *s, const char *definition) {
    cJSON *d = esync__json_parse(definition, strlen(definition), NULL);
    int rc = ESYNC_OK;
    esync_buf canon;
    esync__buf_init(&canon);
    if (!d || !cJSON_IsObject(d)) {
        rc = esync__fail(e, ESYNC_EINVAL, "shape definition is not a JSON object");
        goto done;
    }
    for (cJSON *f = d->child; f; f = f->next) {
        if (strcmp(f->string, "table") && strcmp(f->string, "where") &&
            strcmp(f->string, "params") && strcmp(f->string, "columns") &&
            strcmp(f->string, "replica")) {
            rc = esync__fail(e, ESYNC_EINVAL, "shape definition: unknown field \"%s\"", f->string);
            goto done;
        }
    }
    cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "table");
    if (!cJSON_IsString(t) || !t->valuestring[0]) {
        rc = esync__fail(e, ESYNC_EINVAL, "shape definition: \"table\" must be a non-empty string");
        goto done;
    }
    s->table = esync__strdup(t->valuestring);
    s->sqlname = table_part(t->valuestring);
    if (!s->sqlname) {
        rc = esync__fail(e, ESYNC_EINVAL, "shape definition: bad table name \"%s\"",
                         t->valuestring);
        goto done;
    }
    if (!strncmp(s->sqlname, "esync_", 6) || !strncmp(s->sqlname, "sqlite_", 7)) {
        rc = esync__fail(e, ESYNC_EINVAL, "table name \"%s\" is reserved", s->sqlname);
        goto done;
    }
    s->tablename = esync__strdup(s->sqlname);
    cJSON *w = cJSON_GetObjectItemCaseSensitive(d, "where");
    if (w && !cJSON_IsNull(w)) {
        if (!cJSON_IsString(w)) {
            rc = esync__fail(e, ESYNC_EINVAL, "shape definition: \"where\" must be a string");
            goto done;
        }
        if (w->valuestring[0]) s->where = esync__strdup(w->valuestring);
    }
    cJSON *p = cJSON_GetObjectItemCaseSensitive(d, "params");
    if (p && !cJSON_IsNull(p)) {
        int n = cJSON_GetArraySize(p);
        if ((!cJSON_IsArray(p) && !cJSON_IsObject(p)) || n > MAX_PARAMS) {
            rc = esync__fail(
                e, ESYNC_EINVAL,
                "shape definition: \"params\" must be an array or an object {\"1\": …}");
            goto done;
        }
        s->params = esync__malloc(sizeof(char *) * (size_t)(n ? n : 1));
        if (!s->params) {
            rc = esync__oom(e);
            goto done;
        }
        memset(s->params, 0, sizeof(char *) * (size_t)(n ? n : 1));
        s->nparams = n;
        for (int i = 0; i < n; i++) {
            cJSON *v;
            if (cJSON_IsArray(p))
                v = cJSON_GetArrayItem(p, i);
            else {
                char k[16];
                snprintf(k, sizeof k, "%d", i + 1);
                v = cJSON_GetObjectItemCaseSensitive(p, k);
            }
            char num[32];
            const char *txt = NULL;
            if (cJSON_IsString(v))
                txt = v->valuestring;
            else if (cJSON_IsNumber(v)) {
                esync_buf nb;
                esync__buf_init(&nb);
                esync__buf_double(&nb, v->valuedouble);
                snprintf(num, sizeof num, "%s", nb.data ? nb.data : "0");
                esync__buf_free(&nb);
                txt = num;
            } else if (cJSON_IsBool(v))
                txt = cJSON_IsTrue(v) ? "true" : "false";
            if (!txt) {
                rc = esync__fail(
                    e, ESYNC_EINVAL,
                    "shape definition: params must be numbered 1..n with string, number or boolean values");
                goto done;
            }
            s->params[i] = esync__strdup(txt);
        }
    }
    cJSON *c = cJSON_GetObjectItemCaseSensitive(d, "columns");
    if (c && !cJSON_IsNull(c)) {
        if (cJSON_IsString(c))
            s->columns = esync__strdup(c->valuestring);
        else if (cJSON_IsArray(c) && cJSON_GetArraySize(c) > 0) {
            esync_buf cols;
            esync__buf_init(&cols);
            for (cJSON *x = c->child; x; x = x->next) {
                if (!cJSON_IsString(x) || !x->valuestring[0]) {
                    esync__buf_free(&cols);
                    rc = esync__fail(e, ESYNC_EINVAL,
                                     "shape definition: columns must be non-empty strings");
                    goto done;
                }
                if (cols.len) esync__buf_putc(&cols, ',');
                /* Quote names Electric would otherwise fold or split. */
                bool plain = true;
                for (const char *q = x->valuestring; *q; q++)
                    if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'))
                        plain = false;
                if (plain)
                    esync__buf_puts(&cols, x->valuestring);
                else
                    esync__buf_ident(&cols, x->valuestring);
            }
            s->columns = esync__buf_take(&cols, NULL);
        } else {
            rc = esync__fail(e, ESYNC_EINVAL,
                             "shape definition: \"columns\" must be a string or a non-empty array");
            goto done;
        }
    }
    cJSON *r = cJSON_GetObjectItemCaseSensitive(d, "replica");
    if (r && !cJSON_IsNull(r)) {
        if (!cJSON_IsString(r) ||
            (strcmp(r->valuestring, "full") && strcmp(r->valuestring, "default"))) {
            rc = esync__fail(e, ESYNC_EINVAL,
                             "shape definition: \"replica\" must be \"default\" or \"full\"");
            goto done;
        }
        s->replica_full = !strcmp(r->valuestring, "full");
    }
    /* Canonical form: fixed key order, so the same shape always compares equal. */
    esync__buf_puts(&canon, "{\"table\":");
    esync__buf_json_str(&canon, s->table, strlen(s->table));
    if (s->where) {
        esync__buf_puts(&canon, ",\"where\":");
        esync__buf_json_str(&canon, s->where, strlen(s->where));
    }
    if (s->nparams) {
        esync__buf_puts(&canon, ",\"params\":[");
        for (int i = 0; i < s->nparams; i++) {
            if (i) esync__buf_putc(&canon, ',');
            esync__buf_json_str(&canon, s->params[i] ? s->params[i] : "",
                                s->params[i] ? strlen(s->params[i]) : 0);
        }
        esync__buf_putc(&canon, ']');
    }
    if (s->columns) {
        esync__buf_puts(&canon, ",\"columns\":");
        esync__buf_json_str(&canon, s->columns, strlen(s->columns));
    }
    if (s->replica_full) esync__buf_puts(&canon, ",\"replica\":\"full\"");
    esync__buf_putc(&canon, '}');
    s->def = esync__buf_take(&canon, NULL);
    if (!s->table || !s->tablename || !s->def ||
        (s->where == NULL && w && cJSON_IsString(w) && w->valuestring[0]) ||
        (c && !cJSON_IsNull(c) && !s->columns))
        rc = esync__oom(e);
    for (int i = 0; i < s->nparams && !rc; i++)
        if (!s->params[i]) rc = esync__oom(e);
done:
    esync__buf_free(&canon);
    cJSON_Delete(d);
    return rc;
}

static int load_shape(esync *e, esync_shape *s, bool *found, bool *same) {
    sqlite3_stmt *st;
    *found = *same = false;
    if (sqlite3_prepare_v2(
            e->db,
            "SELECT definition, handle, \"offset\", schema, row_count, last_sync, table_name, txids"
            " FROM esync_shapes WHERE name=?1",
            -1, &st, NULL))
        return esync__sqlfail(e, e->db, "load shape");
    sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
    int rc = ESYNC_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *found = true;
        /* the txids stay whatever the definition: the rows they brought come back with the
         * next snapshot */
        if (!esync__set_str(&s->txids_c, (const char *)sqlite3_column_text(st, 7)))
            rc = esync__oom(e);
        s->ntxids_c = esync__txids_count(s->txids_c);
        *same = !strcmp((const char *)sqlite3_column_text(st, 0), s->def) &&
                !strcmp((const char *)sqlite3_column_text(st, 6), s->sqlname);
        if (*same) {
            char err[256];
            if (!esync__set_str(&s->handle_c, (const char *)sqlite3_column_text(st, 1)) ||
                !esync__set_str(&s->offset_c, (const char *)sqlite3_column_text(st, 2)))
                rc = esync__oom(e);
            else if (sqlite3_column_type(st, 3) != SQLITE_NULL &&
                     esync__schema_parse((const char *)sqlite3_column_text(st, 3), &s->schema_c,
                                         err, sizeof err))
                rc = esync__fail(e, ESYNC_ESCHEMA, "stored schema of shape \"%s\": %s", s->name,
                                 err);
            s->rows = sqlite3_column_int64(st, 4);
            s->last_sync = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1
                                                                     : sqlite3_column_double(st, 5);
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int esync_shape_define(esync *e, const char *name, const char *definition) {
    if (!e) return ESYNC_EINVAL;
    if (!name || !name[0] || strlen(name) > SHAPE_NAME_MAX || !definition)
        return esync__fail(e, ESYNC_EINVAL,
                           "shape name must be 1..%d bytes and the definition non-NULL",
                           SHAPE_NAME_MAX);
    esync_shape *s = esync__malloc(sizeof *s);
    if (!s) return esync__oom(e);
    memset(s, 0, sizeof *s);
    s->last_sync = -1;
    s->name = esync__strdup(name);
    int rc = s->name ? parse_definition(e, s, definition) : esync__oom(e);
    if (rc) {
        esync__shape_destroy(s);
        return rc;
    }

    esync_shape *old = esync__shape_find(e, name);
    if (old && !strcmp(old->def, s->def)) { /* same definition: just clear a stop */
        old->stopped = false;
        if (!old->unauthorized) esync__set_str(&old->error, NULL); /* that waits for resume */
        esync__shape_destroy(s);
        return esync__ok(e);
    }
    for (int i = 0; i < e->nshapes; i++) {
        if (e->shapes[i] != old && !strcmp(e->shapes[i]->sqlname, s->sqlname)) {
            rc = esync__fail(e, ESYNC_EINVAL, "table \"%s\" is already synced by shape \"%s\"",
                             s->sqlname, e->shapes[i]->name);
            esync__shape_destroy(s);
            return rc;
        }
    }
    esync__ingest_drop(e);
    esync__batch_rollback(e);
    bool found, same;
    if ((rc = load_shape(e, s, &found, &same)) || (rc = esync__txids_load(e, s))) {
        esync__shape_destroy(s);
        return rc;
    }
    if ((rc = esync__exec(e, "BEGIN IMMEDIATE"))) {
        esync__shape_destroy(s);
        return rc;
    }
    if (old && strcmp(old->sqlname, s->sqlname)) { /* the old definition's table goes away */
        if ((rc = esync__shape_wipe(e, old))) goto rollback;
    }
    if (!same) {
        if (found) { /* stored under another definition: drop that replica (by its stored name) */
            sqlite3_stmt *st;
            char *oldtable = NULL;
            if (sqlite3_prepare_v2(e->db, "SELECT table_name FROM esync_shapes WHERE name=?1", -1,
                                   &st, NULL) == SQLITE_OK) {
                sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
                if (sqlite3_step(st) == SQLITE_ROW)
                    oldtable = esync__strdup((const char *)sqlite3_column_text(st, 0));
                sqlite3_finalize(st);
            }
            if (oldtable) {
                rc = drop_table(e, oldtable);
                esync__freemem(oldtable);
                if (rc) goto rollback;
            }
        }
        if ((rc = esync__shape_wipe(e, s))) goto rollback;
    }
    if ((rc = esync__exec(e, "COMMIT"))) goto rollback;
    if (!esync__batch_reset_request(s)) {
        esync__shape_destroy(s);
        return esync__oom(e);
    }
    if (old) {
        for (int i = 0; i < e->nshapes; i++)
            if (e->shapes[i] == old) e->shapes[i] = s;
        esync__shape_destroy(old);
    } else {
        esync_shape **arr = esync__realloc(e->shapes, sizeof *arr * (size_t)(e->nshapes + 1));
        if (!arr) {
            esync__shape_destroy(s);
            return esync__oom(e);
        }
        e->shapes = arr;
        e->shapes[e->nshapes++] = s;
    }
    return esync__ok(e);
rollback:
    sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
    esync__shape_destroy(s);
    return rc;
}

int esync_shape_first_request(const char *definition, char **out, size_t *out_len) {
    if (!out) return ESYNC_EINVAL;
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!definition) return ESYNC_EINVAL;
    esync *e = esync__malloc(sizeof *e); /* parse_definition's error slot, nothing more */
    esync_shape *s = esync__malloc(sizeof *s);
    int rc = e && s ? ESYNC_OK : ESYNC_ENOMEM;
    if (!rc) {
        memset(e, 0, sizeof *e);
        memset(s, 0, sizeof *s);
        s->last_sync = -1;
        rc = parse_definition(e, s, definition);
    }
    if (!rc) {
        esync_buf b;
        esync__buf_init(&b);
        esync__request_query(&b, s);
        *out = esync__buf_take(&b, out_len);
        esync__buf_free(&b);
        if (!*out) rc = ESYNC_ENOMEM;
    }
    esync__shape_destroy(s);
    esync__freemem(e);
    return rc;
}

int esync_shape_compare(esync *e, const char *name, const char *definition) {
    if (!e) return ESYNC_EINVAL;
    if (!name || !definition)
        return esync__fail(e, ESYNC_EINVAL, "shape name and definition must be non-NULL");
    esync_shape *tmp = esync__malloc(sizeof *tmp);
    if (!tmp) return esync__oom(e);
    memset(tmp, 0, sizeof *tmp);
    int rc = parse_definition(e, tmp, definition);
    if (!rc) {
        const esync_shape *s = esync__shape_find(e, name);
        if (!s)
            rc = esync__fail(e, ESYNC_ENOSHAPE, "no shape named \"%s\"", name);
        else {
            esync__ok(e);
            rc = strcmp(s->def, tmp->def) ? 0 : 1;
        }
    }
    esync__shape_destroy(tmp);
    return rc;
}

/* ---- column types for the JS bridge ---- */

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
    return *out ? esync__ok(e) : esync__oom(e);
}
