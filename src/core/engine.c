/*
 * engine.c — opening the replica, its metadata, shape definitions, the schema version, manual
 * reset and status. The request loop and the apply path live in ingest.c.
 *
 * Metadata (in the replica, changed in the same transactions as the rows):
 *   esync_meta(key, value)        'format' = 1, 'schema_version'
 *   esync_shapes(name, definition, table_name, handle, offset, schema, row_count, last_sync)
 */
#include "shape.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ESYNC_FORMAT "1"

bool esync__set_str(char **slot, const char *v) {
    char *d = NULL;
    if (v && !(d = esync__strdup(v))) return false;
    esync__freemem(*slot);
    *slot = d;
    return true;
}

int esync__exec(esync *e, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(e->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = esync__fail(e, sqlite3_errcode(e->db) == SQLITE_NOMEM ? ESYNC_ENOMEM : ESYNC_ESQLITE,
                             "%s", msg ? msg : sqlite3_errmsg(e->db));
        sqlite3_free(msg);
        return rc;
    }
    return ESYNC_OK;
}

uint64_t esync__rand(esync *e) { /* xorshift64*: deterministic from the seed */
    uint64_t x = e->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    e->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* ---- reader authorizer: reads only ---- */

static int reader_auth(void *ud, int op, const char *a, const char *b, const char *c, const char *d) {
    (void)ud; (void)b; (void)c; (void)d;
    switch (op) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    default:
        (void)a;
        return SQLITE_DENY;
    }
}

/* ---- open / close ---- */

static int load_meta(esync *e) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(e->db, "SELECT value FROM esync_meta WHERE key='schema_version'", -1, &st, NULL))
        return esync__sqlfail(e, e->db, "read metadata");
    int rc = ESYNC_OK;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
        !esync__set_str(&e->version, (const char *)sqlite3_column_text(st, 0)))
        rc = esync__fail(e, ESYNC_ENOMEM, "out of memory");
    sqlite3_finalize(st);
    return rc;
}

int esync_open(const esync_options *opts, esync **out) {
    if (!out) return ESYNC_EINVAL;
    *out = NULL;
    if (!opts || !opts->path || !opts->path[0] || !strcmp(opts->path, ":memory:")) return ESYNC_EINVAL;
    int rc = esync__global_init();
    if (rc) return rc;
    esync *e = esync__malloc(sizeof *e);
    if (!e) return ESYNC_ENOMEM;
    memset(e, 0, sizeof *e);
    e->rng = opts->seed ? opts->seed : 0x9E3779B97F4A7C15ULL;
    e->max_body = opts->max_body_bytes ? opts->max_body_bytes : (size_t)64 << 20;

    if (sqlite3_open_v2(opts->path, &e->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, opts->vfs) != SQLITE_OK) {
        rc = e->db && sqlite3_errcode(e->db) == SQLITE_NOMEM ? ESYNC_ENOMEM : ESYNC_ESQLITE;
        goto fail;
    }
    sqlite3_extended_result_codes(e->db, 0);
    rc = esync__exec(e,
        "PRAGMA foreign_keys=OFF;"
        "PRAGMA synchronous=NORMAL;"
        "CREATE TABLE IF NOT EXISTS esync_meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS esync_shapes(name TEXT PRIMARY KEY, definition TEXT NOT NULL,"
        " table_name TEXT NOT NULL, handle TEXT, \"offset\" TEXT NOT NULL DEFAULT '-1', schema TEXT,"
        " row_count INTEGER NOT NULL DEFAULT 0, last_sync REAL) WITHOUT ROWID;"
        "INSERT OR IGNORE INTO esync_meta(key, value) VALUES('format', '" ESYNC_FORMAT "');");
    if (rc) goto fail;
    if (opts->journal_mode) {
        esync_buf b;
        esync__buf_init(&b);
        esync__buf_puts(&b, "PRAGMA journal_mode=");
        esync__buf_ident(&b, opts->journal_mode);
        rc = b.oom ? ESYNC_ENOMEM : esync__exec(e, b.data);
        esync__buf_free(&b);
        if (rc) goto fail;
    }
    {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(e->db, "SELECT value FROM esync_meta WHERE key='format'", -1, &st, NULL)) {
            rc = ESYNC_ESQLITE;
            goto fail;
        }
        bool ok = sqlite3_step(st) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(st, 0), ESYNC_FORMAT);
        sqlite3_finalize(st);
        if (!ok) { rc = ESYNC_ESCHEMA; goto fail; } /* a replica written by a newer format */
    }
    if ((rc = load_meta(e))) goto fail;
    if (sqlite3_open_v2(opts->path, &e->reader, SQLITE_OPEN_READONLY, opts->vfs) != SQLITE_OK) {
        rc = ESYNC_ESQLITE;
        goto fail;
    }
    sqlite3_set_authorizer(e->reader, reader_auth, NULL);
    *out = e;
    return esync__ok(e);
fail:
    esync_close(e);
    return rc;
}

void esync_close(esync *e) {
    if (!e) return;
    esync__rollback_open(e);
    esync__queue_free(e);
    sqlite3_finalize(e->st_store);
    for (int i = 0; i < e->nshapes; i++) esync__shape_destroy(e->shapes[i]);
    esync__freemem(e->shapes);
    sqlite3_close_v2(e->reader);
    sqlite3_close_v2(e->db);
    esync__freemem(e->version);
    esync__buf_free(&e->scratch);
    esync__freemem(e);
}

/* ---- shapes ---- */

void esync__shape_finalize_stmts(esync_shape *s) {
    sqlite3_finalize(s->st_ins);
    sqlite3_finalize(s->st_del);
    sqlite3_finalize(s->st_sel);
    s->st_ins = s->st_del = s->st_sel = NULL;
    for (int i = 0; i < ESYNC_UPD_CACHE; i++) {
        sqlite3_finalize(s->st_upd[i].st);
        s->st_upd[i].st = NULL;
        s->st_upd[i].mask = 0;
    }
}

void esync__shape_destroy(esync_shape *s) {
    if (!s) return;
    esync__shape_finalize_stmts(s);
    char **strs[] = {&s->name, &s->def, &s->table, &s->sqlname, &s->tablename, &s->where,
                     &s->columns, &s->handle_c, &s->offset_c, &s->handle, &s->offset,
                     &s->cursor, &s->expired_handle, &s->error};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) esync__freemem(*strs[i]);
    for (int i = 0; i < s->nparams; i++) esync__freemem(s->params[i]);
    esync__freemem(s->params);
    esync__schema_free(&s->schema_c);
    esync__schema_free(&s->schema_b);
    esync__keymap_free(&s->touched);
    esync__freemem(s);
}

esync_shape *esync__shape_find(esync *e, const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < e->nshapes; i++)
        if (!strcmp(e->shapes[i]->name, name)) return e->shapes[i];
    return NULL;
}

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
                    if (p[1] == '"') { esync__buf_putc(&part, '"'); p++; continue; }
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
        if (*p == '.') { p++; continue; }
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
    if (!d || !cJSON_IsObject(d)) { rc = esync__fail(e, ESYNC_EINVAL, "shape definition is not a JSON object"); goto done; }
    for (cJSON *f = d->child; f; f = f->next) {
        if (strcmp(f->string, "table") && strcmp(f->string, "where") && strcmp(f->string, "params") &&
            strcmp(f->string, "columns") && strcmp(f->string, "replica")) {
            rc = esync__fail(e, ESYNC_EINVAL, "shape definition: unknown field \"%s\"", f->string);
            goto done;
        }
    }
    cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "table");
    if (!cJSON_IsString(t) || !t->valuestring[0]) { rc = esync__fail(e, ESYNC_EINVAL, "shape definition: \"table\" must be a non-empty string"); goto done; }
    s->table = esync__strdup(t->valuestring);
    s->sqlname = table_part(t->valuestring);
    if (!s->sqlname) { rc = esync__fail(e, ESYNC_EINVAL, "shape definition: bad table name \"%s\"", t->valuestring); goto done; }
    if (!strncmp(s->sqlname, "esync_", 6) || !strncmp(s->sqlname, "sqlite_", 7)) {
        rc = esync__fail(e, ESYNC_EINVAL, "table name \"%s\" is reserved", s->sqlname);
        goto done;
    }
    s->tablename = esync__strdup(s->sqlname);
    cJSON *w = cJSON_GetObjectItemCaseSensitive(d, "where");
    if (w && !cJSON_IsNull(w)) {
        if (!cJSON_IsString(w)) { rc = esync__fail(e, ESYNC_EINVAL, "shape definition: \"where\" must be a string"); goto done; }
        if (w->valuestring[0]) s->where = esync__strdup(w->valuestring);
    }
    cJSON *p = cJSON_GetObjectItemCaseSensitive(d, "params");
    if (p && !cJSON_IsNull(p)) {
        int n = cJSON_GetArraySize(p);
        if ((!cJSON_IsArray(p) && !cJSON_IsObject(p)) || n > 1000) { rc = esync__fail(e, ESYNC_EINVAL, "shape definition: \"params\" must be an array or an object {\"1\": …}"); goto done; }
        s->params = esync__malloc(sizeof(char *) * (size_t)(n ? n : 1));
        if (!s->params) { rc = esync__fail(e, ESYNC_ENOMEM, "out of memory"); goto done; }
        memset(s->params, 0, sizeof(char *) * (size_t)(n ? n : 1));
        s->nparams = n;
        for (int i = 0; i < n; i++) {
            cJSON *v;
            if (cJSON_IsArray(p)) v = cJSON_GetArrayItem(p, i);
            else {
                char k[16];
                snprintf(k, sizeof k, "%d", i + 1);
                v = cJSON_GetObjectItemCaseSensitive(p, k);
            }
            char num[32];
            const char *txt = NULL;
            if (cJSON_IsString(v)) txt = v->valuestring;
            else if (cJSON_IsNumber(v)) { esync_buf nb; esync__buf_init(&nb); esync__buf_double(&nb, v->valuedouble); snprintf(num, sizeof num, "%s", nb.data ? nb.data : "0"); esync__buf_free(&nb); txt = num; }
            else if (cJSON_IsBool(v)) txt = cJSON_IsTrue(v) ? "true" : "false";
            if (!txt) { rc = esync__fail(e, ESYNC_EINVAL, "shape definition: params must be numbered 1..n with string, number or boolean values"); goto done; }
            s->params[i] = esync__strdup(txt);
        }
    }
    cJSON *c = cJSON_GetObjectItemCaseSensitive(d, "columns");
    if (c && !cJSON_IsNull(c)) {
        if (cJSON_IsString(c)) s->columns = esync__strdup(c->valuestring);
        else if (cJSON_IsArray(c) && cJSON_GetArraySize(c) > 0) {
            esync_buf cols;
            esync__buf_init(&cols);
            for (cJSON *x = c->child; x; x = x->next) {
                if (!cJSON_IsString(x) || !x->valuestring[0]) { esync__buf_free(&cols); rc = esync__fail(e, ESYNC_EINVAL, "shape definition: columns must be non-empty strings"); goto done; }
                if (cols.len) esync__buf_putc(&cols, ',');
                /* Quote names Electric would otherwise fold or split. */
                bool plain = true;
                for (const char *q = x->valuestring; *q; q++)
                    if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_')) plain = false;
                if (plain) esync__buf_puts(&cols, x->valuestring);
                else esync__buf_ident(&cols, x->valuestring);
            }
            s->columns = esync__buf_take(&cols, NULL);
        } else { rc = esync__fail(e, ESYNC_EINVAL, "shape definition: \"columns\" must be a string or a non-empty array"); goto done; }
    }
    cJSON *r = cJSON_GetObjectItemCaseSensitive(d, "replica");
    if (r && !cJSON_IsNull(r)) {
        if (!cJSON_IsString(r) || (strcmp(r->valuestring, "full") && strcmp(r->valuestring, "default"))) {
            rc = esync__fail(e, ESYNC_EINVAL, "shape definition: \"replica\" must be \"default\" or \"full\"");
            goto done;
        }
        s->replica_full = !strcmp(r->valuestring, "full");
    }
    /* Canonical form: fixed key order, so the same shape always compares equal. */
    esync__buf_puts(&canon, "{\"table\":");
    esync__buf_json_str(&canon, s->table, strlen(s->table));
    if (s->where) { esync__buf_puts(&canon, ",\"where\":"); esync__buf_json_str(&canon, s->where, strlen(s->where)); }
    if (s->nparams) {
        esync__buf_puts(&canon, ",\"params\":[");
        for (int i = 0; i < s->nparams; i++) {
            if (i) esync__buf_putc(&canon, ',');
            esync__buf_json_str(&canon, s->params[i] ? s->params[i] : "", s->params[i] ? strlen(s->params[i]) : 0);
        }
        esync__buf_putc(&canon, ']');
    }
    if (s->columns) { esync__buf_puts(&canon, ",\"columns\":"); esync__buf_json_str(&canon, s->columns, strlen(s->columns)); }
    if (s->replica_full) esync__buf_puts(&canon, ",\"replica\":\"full\"");
    esync__buf_putc(&canon, '}');
    s->def = esync__buf_take(&canon, NULL);
    if (!s->table || !s->tablename || !s->def || (s->where == NULL && w && cJSON_IsString(w) && w->valuestring[0]) ||
        (c && !cJSON_IsNull(c) && !s->columns))
        rc = esync__fail(e, ESYNC_ENOMEM, "out of memory");
    for (int i = 0; i < s->nparams && !rc; i++)
        if (!s->params[i]) rc = esync__fail(e, ESYNC_ENOMEM, "out of memory");
done:
    esync__buf_free(&canon);
    cJSON_Delete(d);
    return rc;
}

int esync__shape_store(esync *e, esync_shape *s) {
    /* Prepared once: every committed batch (a live single-row one too) runs it. */
    if (!e->st_store &&
        sqlite3_prepare_v3(e->db,
            "INSERT INTO esync_shapes(name, definition, table_name, handle, \"offset\", schema, row_count, last_sync)"
            " VALUES(?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT(name) DO UPDATE SET definition=?2, table_name=?3,"
            " handle=?4, \"offset\"=?5, schema=?6, row_count=?7, last_sync=?8", -1,
            SQLITE_PREPARE_PERSISTENT, &e->st_store, NULL))
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
    int rc = sqlite3_step(st) == SQLITE_DONE ? ESYNC_OK : esync__sqlfail(e, e->db, "store shape");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

bool esync__request_from_committed(esync_shape *s) {
    s->live = false;
    s->refetch = false;
    return esync__set_str(&s->handle, s->handle_c) && esync__set_str(&s->offset, s->offset_c ? s->offset_c : "-1") &&
           esync__set_str(&s->cursor, NULL);
}

int esync__shape_wipe(esync *e, esync_shape *s) {
    esync_buf b;
    esync__buf_init(&b);
    esync__buf_puts(&b, "DROP TABLE IF EXISTS main.");
    esync__buf_ident(&b, s->sqlname);
    int rc = b.oom ? esync__fail(e, ESYNC_ENOMEM, "out of memory") : esync__exec(e, b.data);
    esync__buf_free(&b);
    if (rc) return rc;
    esync__schema_free(&s->schema_c);
    esync__set_str(&s->handle_c, NULL);
    if (!esync__set_str(&s->offset_c, "-1")) return esync__fail(e, ESYNC_ENOMEM, "out of memory");
    s->rows = 0;
    s->last_sync = -1;
    s->stopped = false;
    s->data_failures = s->http_failures = 0;
    s->wait_ms = 0;
    esync__set_str(&s->error, NULL);
    if ((rc = esync__shape_store(e, s))) return rc;
    if (!esync__request_from_committed(s)) return esync__fail(e, ESYNC_ENOMEM, "out of memory");
    return ESYNC_OK;
}

static int load_shape(esync *e, esync_shape *s, bool *found, bool *same) {
    sqlite3_stmt *st;
    *found = *same = false;
    if (sqlite3_prepare_v2(e->db, "SELECT definition, handle, \"offset\", schema, row_count, last_sync, table_name"
                                  " FROM esync_shapes WHERE name=?1", -1, &st, NULL))
        return esync__sqlfail(e, e->db, "load shape");
    sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
    int rc = ESYNC_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *found = true;
        *same = !strcmp((const char *)sqlite3_column_text(st, 0), s->def) &&
                !strcmp((const char *)sqlite3_column_text(st, 6), s->sqlname);
        if (*same) {
            char err[256];
            if (!esync__set_str(&s->handle_c, (const char *)sqlite3_column_text(st, 1)) ||
                !esync__set_str(&s->offset_c, (const char *)sqlite3_column_text(st, 2)))
                rc = esync__fail(e, ESYNC_ENOMEM, "out of memory");
            else if (sqlite3_column_type(st, 3) != SQLITE_NULL &&
                     esync__schema_parse((const char *)sqlite3_column_text(st, 3), &s->schema_c, err, sizeof err))
                rc = esync__fail(e, ESYNC_ESCHEMA, "stored schema of shape \"%s\": %s", s->name, err);
            s->rows = sqlite3_column_int64(st, 4);
            s->last_sync = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_double(st, 5);
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int esync_shape_define(esync *e, const char *name, const char *definition) {
    if (!e) return ESYNC_EINVAL;
    if (!name || !name[0] || strlen(name) > 200 || !definition)
        return esync__fail(e, ESYNC_EINVAL, "shape name must be 1..200 bytes and the definition non-NULL");
    esync_shape *s = esync__malloc(sizeof *s);
    if (!s) return esync__fail(e, ESYNC_ENOMEM, "out of memory");
    memset(s, 0, sizeof *s);
    s->last_sync = -1;
    s->name = esync__strdup(name);
    int rc = s->name ? parse_definition(e, s, definition) : esync__fail(e, ESYNC_ENOMEM, "out of memory");
    if (rc) { esync__shape_destroy(s); return rc; }

    esync_shape *old = esync__shape_find(e, name);
    if (old && !strcmp(old->def, s->def)) { /* same definition: just clear a stop */
        old->stopped = false;
        esync__set_str(&old->error, NULL);
        esync__shape_destroy(s);
        return esync__ok(e);
    }
    for (int i = 0; i < e->nshapes; i++) {
        if (e->shapes[i] != old && !strcmp(e->shapes[i]->sqlname, s->sqlname)) {
            rc = esync__fail(e, ESYNC_EINVAL, "table \"%s\" is already synced by shape \"%s\"", s->sqlname, e->shapes[i]->name);
            esync__shape_destroy(s);
            return rc;
        }
    }
    esync__rollback_open(e);
    bool found, same;
    if ((rc = load_shape(e, s, &found, &same))) { esync__shape_destroy(s); return rc; }
    if ((rc = esync__exec(e, "BEGIN IMMEDIATE"))) { esync__shape_destroy(s); return rc; }
    if (old && strcmp(old->sqlname, s->sqlname)) { /* the old definition's table goes away */
        if ((rc = esync__shape_wipe(e, old))) goto rollback;
    }
    if (!same) {
        if (found) { /* stored under another definition: drop that replica (by its stored name) */
            sqlite3_stmt *st;
            char *oldtable = NULL;
            if (sqlite3_prepare_v2(e->db, "SELECT table_name FROM esync_shapes WHERE name=?1", -1, &st, NULL) == SQLITE_OK) {
                sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
                if (sqlite3_step(st) == SQLITE_ROW) oldtable = esync__strdup((const char *)sqlite3_column_text(st, 0));
                sqlite3_finalize(st);
            }
            if (oldtable) {
                esync_buf b;
                esync__buf_init(&b);
                esync__buf_puts(&b, "DROP TABLE IF EXISTS main.");
                esync__buf_ident(&b, oldtable);
                rc = b.oom ? esync__fail(e, ESYNC_ENOMEM, "out of memory") : esync__exec(e, b.data);
                esync__buf_free(&b);
                esync__freemem(oldtable);
                if (rc) goto rollback;
            }
        }
        if ((rc = esync__shape_wipe(e, s))) goto rollback;
    }
    if ((rc = esync__exec(e, "COMMIT"))) goto rollback;
    if (!esync__request_from_committed(s)) { esync__shape_destroy(s); return esync__fail(e, ESYNC_ENOMEM, "out of memory"); }
    if (old) {
        for (int i = 0; i < e->nshapes; i++)
            if (e->shapes[i] == old) e->shapes[i] = s;
        esync__shape_destroy(old);
    } else {
        esync_shape **arr = esync__realloc(e->shapes, sizeof *arr * (size_t)(e->nshapes + 1));
        if (!arr) { esync__shape_destroy(s); return esync__fail(e, ESYNC_ENOMEM, "out of memory"); }
        e->shapes = arr;
        e->shapes[e->nshapes++] = s;
    }
    return esync__ok(e);
rollback:
    sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
    esync__shape_destroy(s);
    return rc;
}

/* ---- status ---- */

static void json_str_or_null(esync_buf *b, const char *s) {
    if (s) esync__buf_json_str(b, s, strlen(s));
    else esync__buf_puts(b, "null");
}

int esync_status(esync *e, char **out, size_t *out_len) {
    if (!e || !out) return ESYNC_EINVAL;
    esync_buf b;
    esync__buf_init(&b);
    esync__buf_putc(&b, '[');
    for (int i = 0; i < e->nshapes; i++) {
        esync_shape *s = e->shapes[i];
        const char *phase = s->stopped ? "error" : s->wait_ms || s->http_failures ? "backoff" : s->live ? "live" : "initial-sync";
        if (i) esync__buf_putc(&b, ',');
        esync__buf_puts(&b, "{\"shapeName\":");
        json_str_or_null(&b, s->name);
        esync__buf_puts(&b, ",\"tableName\":");
        json_str_or_null(&b, s->tablename);
        esync__buf_printf(&b, ",\"phase\":\"%s\",\"rows\":%lld,\"offset\":", phase, (long long)s->rows);
        json_str_or_null(&b, s->offset_c);
        esync__buf_puts(&b, ",\"handle\":");
        json_str_or_null(&b, s->handle_c);
        esync__buf_puts(&b, ",\"lastSyncedAt\":");
        if (s->last_sync >= 0) esync__buf_double(&b, s->last_sync);
        else esync__buf_puts(&b, "null");
        esync__buf_puts(&b, ",\"error\":");
        json_str_or_null(&b, s->error);
        esync__buf_putc(&b, '}');
    }
    esync__buf_putc(&b, ']');
    *out = esync__buf_take(&b, out_len);
    return *out ? esync__ok(e) : esync__fail(e, ESYNC_ENOMEM, "out of memory");
}

/* ---- schema version and reset ---- */

static int wipe_all(esync *e) {
    /* Tables of stored shapes that are not defined in this session go too. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(e->db, "SELECT table_name FROM esync_shapes", -1, &st, NULL))
        return esync__sqlfail(e, e->db, "list shapes");
    int rc = ESYNC_OK;
    esync_buf b;
    esync__buf_init(&b);
    while (sqlite3_step(st) == SQLITE_ROW) {
        esync__buf_puts(&b, "DROP TABLE IF EXISTS main.");
        esync__buf_ident(&b, (const char *)sqlite3_column_text(st, 0));
        esync__buf_puts(&b, ";");
    }
    sqlite3_finalize(st);
    esync__buf_puts(&b, "DELETE FROM esync_shapes;");
    rc = b.oom ? esync__fail(e, ESYNC_ENOMEM, "out of memory") : esync__exec(e, b.data);
    esync__buf_free(&b);
    for (int i = 0; i < e->nshapes && !rc; i++) rc = esync__shape_wipe(e, e->shapes[i]);
    return rc;
}

static char *reset_event(const char *reason, const char *oldv, const char *newv, size_t *len) {
    esync_buf b;
    esync__buf_init(&b);
    esync__buf_printf(&b, "{\"type\":\"SCHEMA_RESET\",\"reason\":\"%s\",\"oldVersion\":", reason);
    json_str_or_null(&b, oldv);
    esync__buf_puts(&b, ",\"newVersion\":");
    json_str_or_null(&b, newv);
    esync__buf_putc(&b, '}');
    return esync__buf_take(&b, len);
}

static int store_version(esync *e, const char *v) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(e->db, "INSERT OR REPLACE INTO esync_meta(key, value) VALUES('schema_version', ?1)", -1, &st, NULL))
        return esync__sqlfail(e, e->db, "store version");
    sqlite3_bind_text(st, 1, v, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? ESYNC_OK : esync__sqlfail(e, e->db, "store version");
    sqlite3_finalize(st);
    return rc;
}

int esync_version_check(esync *e, const char *server_version, char **event, size_t *event_len) {
    if (!e || !event) return ESYNC_EINVAL;
    *event = NULL;
    if (event_len) *event_len = 0;
    if (!server_version || !server_version[0]) return esync__fail(e, ESYNC_EINVAL, "server schema version is empty");
    if (e->version && !strcmp(e->version, server_version)) return esync__ok(e);
    bool wipe = e->version != NULL; /* a first install keeps (there is nothing to wipe) */
    char *ev = NULL;
    if (wipe && !(ev = reset_event("version_mismatch", e->version, server_version, event_len)))
        return esync__fail(e, ESYNC_ENOMEM, "out of memory");
    esync__rollback_open(e);
    int rc = esync__exec(e, "BEGIN IMMEDIATE");
    if (!rc && wipe) rc = wipe_all(e);
    if (!rc) rc = store_version(e, server_version);
    if (!rc) rc = esync__exec(e, "COMMIT");
    if (!rc && !esync__set_str(&e->version, server_version)) rc = esync__fail(e, ESYNC_ENOMEM, "out of memory");
    if (rc) {
        sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
        esync__freemem(ev);
        if (event_len) *event_len = 0;
        return rc;
    }
    *event = ev;
    esync__ok(e);
    return wipe ? 1 : 0;
}

const char *esync_version(esync *e) { return e ? e->version : NULL; }

int esync_reset(esync *e, char **event, size_t *event_len) {
    if (!e || !event) return ESYNC_EINVAL;
    *event = reset_event("manual_reset", e->version, e->version, event_len);
    if (!*event) return esync__fail(e, ESYNC_ENOMEM, "out of memory");
    esync__rollback_open(e);
    int rc = esync__exec(e, "BEGIN IMMEDIATE");
    if (!rc) rc = wipe_all(e);
    if (!rc) rc = esync__exec(e, "COMMIT");
    if (rc) {
        sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
        esync__freemem(*event);
        *event = NULL;
        return rc;
    }
    return esync__ok(e);
}
