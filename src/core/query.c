/*
 * query.c — read-only SQL over the replica for tabs. Three locks on the door: the reader
 * connection is opened read-only, its authorizer allows only reads (no ATTACH, PRAGMA or writes),
 * and every statement must pass sqlite3_stmt_readonly(). One statement per call.
 *
 * A statement that names the table of a defined shape whose table does not exist yet (before
 * its first commit, after a wipe) is ESYNC_EPENDING, not an SQL error: the caller waits for the
 * shape instead of failing. esync_query_tables prepares a statement without running it and lists
 * the shapes' tables it reads (the reader's authorizer notes them, engine.c).
 */
#include "alloc.h"
#include "errors.h"
#include "internal.h"
#include "msgparse.h"
#include "types.h"

#include <cJSON.h>
#include <math.h>
#include <string.h>

/* The shape column a result column comes from, for typing it like change-set rows. */
static const esync_column *origin_column(esync *e, sqlite3_stmt *st, int i) {
    const char *db = sqlite3_column_database_name(st, i);
    const char *table = sqlite3_column_table_name(st, i);
    const char *col = sqlite3_column_origin_name(st, i);
    if (!db || !table || !col || strcmp(db, "main")) return NULL;
    for (int k = 0; k < e->nshapes; k++) {
        esync_shape *s = e->shapes[k];
        if (strcmp(s->sqlname, table) || !s->schema_c.ncols) continue;
        int c = esync__schema_find(&s->schema_c, col);
        return c >= 0 ? &s->schema_c.cols[c] : NULL;
    }
    return NULL;
}

static int bind_params(esync *e, sqlite3_stmt *st, const char *params) {
    if (!params || !params[0]) return ESYNC_OK;
    cJSON *arr = esync__json_parse(params, strlen(params), NULL);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return esync__fail(e, ESYNC_EINVAL, "query params must be a JSON array");
    }
    int i = 0, rc = ESYNC_OK, n = sqlite3_bind_parameter_count(st);
    if (cJSON_GetArraySize(arr) != n)
        rc = esync__fail(e, ESYNC_EINVAL, "query has %d parameters but %d values were given", n,
                         cJSON_GetArraySize(arr));
    for (cJSON *v = arr->child; v && !rc; v = v->next) {
        int idx = ++i, r;
        if (cJSON_IsNull(v))
            r = sqlite3_bind_null(st, idx);
        else if (cJSON_IsBool(v))
            r = sqlite3_bind_int(st, idx, cJSON_IsTrue(v));
        else if (cJSON_IsString(v))
            r = sqlite3_bind_text(st, idx, v->valuestring, -1, SQLITE_TRANSIENT);
        else if (cJSON_IsNumber(v)) {
            double d = v->valuedouble;
            if (d == floor(d) && fabs(d) <= 9007199254740992.0)
                r = sqlite3_bind_int64(st, idx, (sqlite3_int64)d);
            else
                r = sqlite3_bind_double(st, idx, d);
        } else {
            rc = esync__fail(e, ESYNC_EINVAL,
                             "query parameter %d must be a string, number, boolean or null", idx);
            break;
        }
        if (r != SQLITE_OK) rc = esync__sqlfail(e, e->reader, "bind");
    }
    cJSON_Delete(arr);
    return rc;
}

static bool only_space_or_semicolons(const char *p) {
    for (; *p; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != ';') return false;
    return true;
}

/* The reader's last SQL error: a missing table of a shape that has none yet is ESYNC_EPENDING,
 * another missing table ESYNC_ESQLITE, anything else (syntax, columns…) ESYNC_EINVAL. */
static int sql_error(esync *e) {
    static const char missing[] = "no such table: ";
    const char *msg = sqlite3_errmsg(e->reader);
    if (strncmp(msg, missing, sizeof missing - 1))
        return esync__fail(e, ESYNC_EINVAL, "SQL error: %s", msg);
    const char *table = msg + sizeof missing - 1;
    if (!sqlite3_strnicmp(table, "main.", 5)) table += 5;
    for (int i = 0; i < e->nshapes; i++) {
        const esync_shape *s = e->shapes[i];
        if (!s->schema_c.ncols && !sqlite3_stricmp(s->sqlname, table))
            return esync__fail(e, ESYNC_EPENDING,
                               "shape \"%s\" has no table \"%s\" yet: ask again after its next"
                               " commit",
                               s->name, s->sqlname);
    }
    return esync__fail(e, ESYNC_ESQLITE, "SQL error: %s", msg);
}

/* Prepares one read-only statement on the reader, or fails as esync_query says. */
static int prepare_read(esync *e, const char *sql, sqlite3_stmt **out) {
    *out = NULL;
    if (!sql) return esync__fail(e, ESYNC_EINVAL, "no SQL");
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int r = sqlite3_prepare_v2(e->reader, sql, -1, &st, &tail);
    if (r == SQLITE_AUTH)
        return esync__fail(e, ESYNC_EREADONLY, "refused: the replica is read-only (%s)",
                           sqlite3_errmsg(e->reader));
    if (r != SQLITE_OK) return sql_error(e);
    if (!st) return esync__fail(e, ESYNC_EINVAL, "empty SQL");
    int rc = ESYNC_OK;
    if (tail && !only_space_or_semicolons(tail))
        rc = esync__fail(e, ESYNC_EREADONLY, "one statement per query");
    else if (!sqlite3_stmt_readonly(st))
        rc = esync__fail(e, ESYNC_EREADONLY, "refused: not a read-only statement");
    if (rc) {
        sqlite3_finalize(st);
        return rc;
    }
    *out = st;
    return ESYNC_OK;
}

int esync_query(esync *e, const char *sql, const char *params, char **out, size_t *out_len) {
    if (!e || !out) return ESYNC_EINVAL;
    *out = NULL;
    if (out_len) *out_len = 0;
    sqlite3_stmt *st = NULL;
    int rc = prepare_read(e, sql, &st);
    if (rc) return rc;
    rc = bind_params(e, st, params);
    esync_buf b;
    esync__buf_init(&b);
    esync__buf_putc(&b, '[');
    int ncol = sqlite3_column_count(st);
    const esync_column **types = NULL;
    if (!rc && ncol > 0) {
        types = esync__malloc(sizeof *types * (size_t)ncol);
        if (!types) rc = esync__oom(e);
        for (int i = 0; i < ncol && types; i++) types[i] = origin_column(e, st, i);
    }
    for (int rows = 0; !rc; rows++) {
        int r = sqlite3_step(st);
        if (r == SQLITE_DONE) break;
        if (r == SQLITE_ERROR) {
            /* The caller's SQL, not the replica: a runtime SQL error, or the writer changed the
             * schema since the reader cached it (a wipe or refetch dropped a table) and the
             * re-prepare inside step failed, which must read like the same error at prepare. */
            rc = sql_error(e);
            break;
        }
        if (r != SQLITE_ROW) {
            rc = esync__sqlfail(e, e->reader, "query");
            break;
        }
        if (rows) esync__buf_putc(&b, ',');
        esync__buf_putc(&b, '{');
        for (int i = 0; i < ncol; i++) {
            if (i) esync__buf_putc(&b, ',');
            const char *name = sqlite3_column_name(st, i);
            esync__buf_json_str(&b, name ? name : "", name ? strlen(name) : 0);
            esync__buf_putc(&b, ':');
            if (types[i])
                rc = esync__emit_value(&b, st, i, types[i]);
            else
                esync__emit_plain(&b, st, i);
        }
        esync__buf_putc(&b, '}');
        if (b.oom) rc = esync__oom(e);
    }
    esync__buf_putc(&b, ']');
    esync__freemem(types);
    sqlite3_finalize(st);
    if (rc) {
        esync__buf_free(&b);
        return rc;
    }
    *out = esync__buf_take(&b, out_len);
    return *out ? esync__ok(e) : esync__oom(e);
}

int esync_query_tables(esync *e, const char *sql, char **out, size_t *out_len) {
    if (!e || !out) return ESYNC_EINVAL;
    *out = NULL;
    if (out_len) *out_len = 0;
    esync_buf reads;
    esync__buf_init(&reads);
    sqlite3_stmt *st = NULL;
    e->reads = &reads;
    int rc = prepare_read(e, sql, &st);
    e->reads = NULL;
    sqlite3_finalize(st);
    if (!rc && reads.oom) rc = esync__oom(e);
    esync_buf b;
    esync__buf_init(&b);
    esync__buf_putc(&b, '[');
    int n = 0;
    for (int i = 0; i < e->nshapes && !rc; i++) {
        const esync_shape *s = e->shapes[i];
        bool read = false;
        /* reads holds pairs "<database>\0<table>\0" */
        for (size_t at = 0; at < reads.len && !read;) {
            const char *db = reads.data + at;
            const char *table = db + strlen(db) + 1;
            at = (size_t)(table - reads.data) + strlen(table) + 1;
            /* "" (no column read): main too, the reader has no temp tables of its own */
            read = (!strcmp(db, "main") || !db[0]) && !sqlite3_stricmp(table, s->sqlname);
        }
        if (!read) continue;
        if (n++) esync__buf_putc(&b, ',');
        esync__buf_puts(&b, "{\"table\":");
        esync__buf_json_str(&b, s->sqlname, strlen(s->sqlname));
        esync__buf_puts(&b, ",\"shape\":");
        esync__buf_json_str(&b, s->name, strlen(s->name));
        esync__buf_putc(&b, '}');
    }
    esync__buf_putc(&b, ']');
    esync__buf_free(&reads);
    if (rc) {
        esync__buf_free(&b);
        return rc;
    }
    *out = esync__buf_take(&b, out_len);
    return *out ? esync__ok(e) : esync__oom(e);
}
