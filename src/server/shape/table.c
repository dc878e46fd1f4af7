/* Catalog lookup and identifier parsing for shapes (see shape/table.h). */
#include "shape/table.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "sbuf.h"

/* --- identifiers ----------------------------------------------------------------------------- */

/* Parses one identifier at *p (stopping at `stop` characters outside quotes). Returns a malloc'ed
 * name, or NULL with err set. */
static char *ident(const char **p, const char *stop, char *err, size_t errsz) {
    const char *s = *p;
    esync_sb b = {0};
    while (*s == ' ' || *s == '\t' || *s == '\n') s++;
    if (*s == '"') {
        s++;
        for (;;) {
            if (*s == '\0') {
                snprintf(err, errsz, "Invalid unterminated quoted identifier");
                esync__sb_free(&b);
                return NULL;
            }
            if (*s == '"') {
                if (s[1] == '"') {
                    esync__sb_put(&b, "\"", 1);
                    s += 2;
                    continue;
                }
                s++;
                break;
            }
            esync__sb_put(&b, s, 1);
            s++;
        }
        if (b.n == 0) {
            snprintf(err, errsz, "Invalid zero-length delimited identifier");
            esync__sb_free(&b);
            return NULL;
        }
    } else {
        while (*s && !strchr(stop, *s) && *s != ' ' && *s != '\t' && *s != '\n') {
            if (*s == '"') {
                snprintf(err, errsz, "Invalid identifier: unexpected quote");
                esync__sb_free(&b);
                return NULL;
            }
            char c = (char)tolower((unsigned char)*s);
            esync__sb_put(&b, &c, 1);
            s++;
        }
        if (b.n == 0) {
            snprintf(err, errsz, "Invalid zero-length delimited identifier");
            esync__sb_free(&b);
            return NULL;
        }
    }
    while (*s == ' ' || *s == '\t' || *s == '\n') s++;
    *p = s;
    return esync__sb_take(&b, NULL);
}

int esync_table_parse_name(const char *text, char **schema, char **name, char *err, size_t errsz) {
    *schema = *name = NULL;
    const char *p = text;
    char *a = ident(&p, ".", err, errsz);
    if (!a) return -1;
    if (*p == '\0') {
        *schema = esync__xstrdup("public");
        *name = a;
        return 0;
    }
    if (*p != '.') {
        snprintf(err, errsz, "Invalid table name");
        free(a);
        return -1;
    }
    p++;
    char *b = ident(&p, ".", err, errsz);
    if (!b) {
        free(a);
        return -1;
    }
    if (*p != '\0') {
        snprintf(err, errsz, "Invalid table name");
        free(a);
        free(b);
        return -1;
    }
    *schema = a;
    *name = b;
    return 0;
}

int esync_table_parse_columns(const char *text, char ***names, char *err, size_t errsz) {
    char **v = NULL;
    int n = 0;
    const char *p = text;
    for (;;) {
        char *id = ident(&p, ",", err, errsz);
        if (!id) {
            esync_table_columns_free(v, n);
            *names = NULL;
            return -1;
        }
        v = esync__xrealloc(v, (size_t)(n + 1) * sizeof *v);
        v[n++] = id;
        if (*p == '\0') break;
        if (*p != ',') {
            snprintf(err, errsz, "Invalid column list");
            esync_table_columns_free(v, n);
            *names = NULL;
            return -1;
        }
        p++;
    }
    *names = v;
    return n;
}

void esync_table_columns_free(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* --- catalog --------------------------------------------------------------------------------- */

esync_table *esync__table_ref(esync_table *t) {
    __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
    return t;
}

void esync__table_unref(esync_table *t) {
    if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    for (int i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        free(t->cols[i].typname);
    }
    free(t->cols);
    free(t->pk);
    free(t->schema);
    free(t->name);
    free(t->qname);
    free(t);
}

int esync__table_col(const esync_table *t, const char *name) {
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0) return i;
    return -1;
}

static int db_error(PGconn *conn, PGresult *res, bool *lost, char *err, size_t errsz) {
    snprintf(err, errsz, "%s", PQerrorMessage(conn));
    size_t n = strlen(err);
    while (n && (err[n - 1] == '\n' || err[n - 1] == ' ')) err[--n] = '\0';
    *lost = PQstatus(conn) != CONNECTION_OK;
    PQclear(res);
    return -1;
}

int esync__table_load(PGconn *conn, const char *schema, const char *name, esync_table **out,
                      bool *conn_lost, char *err, size_t errsz) {
    *out = NULL;
    *conn_lost = false;
    const char *p1[2] = {schema, name};
    PGresult *res = PQexecParams(
        conn,
        "SELECT c.oid, format('%I.%I', n.nspname, c.relname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
        2, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return db_error(conn, res, conn_lost, err, errsz);
    if (PQntuples(res) == 0) {
        PQclear(res);
        esync_sb b = {0};
        esync__sb_printf(&b,
                         "Table \"%s\".\"%s\" does not exist. If the table name contains "
                         "capitals or special characters you must quote it.",
                         schema, name);
        snprintf(err, errsz, "%s", b.p);
        esync__sb_free(&b);
        return 1;
    }
    esync_table *t = esync__xcalloc(1, sizeof *t);
    t->refs = 1;
    t->relid = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
    t->qname = esync__xstrdup(PQgetvalue(res, 0, 1));
    t->schema = esync__xstrdup(schema);
    t->name = esync__xstrdup(name);
    PQclear(res);

    char relid[16];
    snprintf(relid, sizeof relid, "%u", t->relid);
    const char *p2[1] = {relid};
    res = PQexecParams(
        conn,
        "SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.attndims, "
        "  CASE WHEN a.attndims > 0 AND t.typcategory = 'A' THEN et.typname ELSE t.typname END, "
        "  (SELECT k.ord - 1 FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord) "
        "    WHERE i.indrelid = a.attrelid AND i.indisprimary AND k.attnum = a.attnum) "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "LEFT JOIN pg_type et ON et.oid = t.typelem "
        "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
        "ORDER BY a.attnum",
        1, NULL, p2, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        esync__table_unref(t);
        return db_error(conn, res, conn_lost, err, errsz);
    }
    t->ncols = PQntuples(res);
    t->cols = esync__xcalloc((size_t)t->ncols, sizeof *t->cols);
    t->pk = esync__xcalloc((size_t)t->ncols, sizeof *t->pk);
    for (int i = 0; i < t->ncols; i++) {
        esync_tcol *c = &t->cols[i];
        c->name = esync__xstrdup(PQgetvalue(res, i, 0));
        c->type_oid = (uint32_t)strtoul(PQgetvalue(res, i, 1), NULL, 10);
        c->typmod = (int32_t)strtol(PQgetvalue(res, i, 2), NULL, 10);
        c->not_null = PQgetvalue(res, i, 3)[0] == 't';
        c->dims = atoi(PQgetvalue(res, i, 4));
        c->typname = esync__xstrdup(PQgetvalue(res, i, 5));
        c->pk_index = PQgetisnull(res, i, 6) ? -1 : atoi(PQgetvalue(res, i, 6));
    }
    PQclear(res);
    for (int k = 0;; k++) {
        int found = -1;
        for (int i = 0; i < t->ncols; i++)
            if (t->cols[i].pk_index == k) found = i;
        if (found < 0) break;
        t->pk[t->npk++] = found;
    }
    *out = t;
    return 0;
}

char *esync__table_schema_json(const esync_table *t, const int *sel, int nsel) {
    esync_sb b = {0};
    esync__sb_put(&b, "{", 1);
    for (int k = 0; k < nsel; k++) {
        const esync_tcol *c = &t->cols[sel[k]];
        if (k) esync__sb_put(&b, ",", 1);
        esync__sb_json(&b, c->name, strlen(c->name));
        esync__sb_puts(&b, ":{\"type\":");
        esync__sb_json(&b, c->typname, strlen(c->typname));
        if (c->dims > 0) esync__sb_printf(&b, ",\"dims\":%d", c->dims);
        if (c->pk_index >= 0) esync__sb_printf(&b, ",\"pk_index\":%d", c->pk_index);
        if (c->not_null) esync__sb_puts(&b, ",\"not_null\":true");
        int32_t tm = c->typmod;
        const char *ty = c->typname;
        if (tm >= 0) {
            if (strcmp(ty, "varchar") == 0)
                esync__sb_printf(&b, ",\"max_length\":%d", tm - 4);
            else if (strcmp(ty, "bpchar") == 0)
                esync__sb_printf(&b, ",\"length\":%d", tm - 4);
            else if (strcmp(ty, "bit") == 0 || strcmp(ty, "varbit") == 0)
                esync__sb_printf(&b, ",\"length\":%d", tm);
            else if (strcmp(ty, "numeric") == 0)
                esync__sb_printf(&b, ",\"precision\":%d,\"scale\":%d", ((tm - 4) >> 16) & 0xffff,
                                 (tm - 4) & 0xffff);
            else if (strcmp(ty, "time") == 0 || strcmp(ty, "timetz") == 0 ||
                     strcmp(ty, "timestamp") == 0 || strcmp(ty, "timestamptz") == 0)
                esync__sb_printf(&b, ",\"precision\":%d", tm);
            else if (strcmp(ty, "interval") == 0) {
                if ((tm & 0xffff) != 0xffff) esync__sb_printf(&b, ",\"precision\":%d", tm & 0xffff);
            } else
                esync__sb_printf(&b, ",\"type_mod\":%d", tm);
        }
        esync__sb_put(&b, "}", 1);
    }
    esync__sb_put(&b, "}", 1);
    return esync__sb_take(&b, NULL);
}

int esync__table_where_compile(const esync_table *t, const char *where, const char *const *params,
                               int nparams, esync_where **out, char *err, size_t errsz) {
    esync_where_col *wc = esync__xcalloc((size_t)t->ncols + 1, sizeof *wc);
    char **tn = esync__xcalloc((size_t)t->ncols + 1, sizeof *tn);
    for (int k = 0; k < t->ncols; k++) {
        wc[k].name = t->cols[k].name;
        wc[k].dims = t->cols[k].dims;
        if (t->cols[k].dims > 0) {
            size_t n = strlen(t->cols[k].typname) + 2;
            tn[k] = esync__xmalloc(n);
            snprintf(tn[k], n, "_%s", t->cols[k].typname);
            wc[k].type = tn[k];
        } else {
            wc[k].type = t->cols[k].typname;
        }
    }
    int rc = esync_where_compile(where, params, nparams, wc, t->ncols, out, err, errsz);
    for (int k = 0; k < t->ncols; k++) free(tn[k]);
    free(tn);
    free(wc);
    return rc;
}
