/*
 * types.c — shape schemas and values: the electric-schema header parsed into columns, the replica
 * table DDL, Electric's text values checked and bound to SQLite exactly (integers as INTEGER,
 * floats as REAL, booleans as 0/1, bytea as BLOB, everything else as the Postgres text), and
 * stored values written back out as JSON typed like @electric-sql/client's default parser.
 *
 * Invariant: a value that reaches SQLite has been checked against its column type, so the
 * encoders below can trust what they read back (json columns hold valid JSON, arrays valid
 * literals); they still fall back to plain output if a storage class is unexpected.
 */
#include "types.h"

#include "alloc.h"
#include "esync.h"
#include "msgparse.h"

#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Postgres's own limits (MaxHeapAttributeNumber, MAXDIM): a schema or an array literal beyond
 * them cannot come from a real table. */
#define PG_MAX_COLUMNS 1600
#define PG_MAX_DIMS 6

/* ---- schema ---- */

static esync_type type_of(const char *t) {
    if (!strcmp(t, "int2") || !strcmp(t, "int4")) return ESYNC_T_INT;
    if (!strcmp(t, "int8")) return ESYNC_T_INT8;
    if (!strcmp(t, "float4") || !strcmp(t, "float8")) return ESYNC_T_FLOAT;
    if (!strcmp(t, "bool")) return ESYNC_T_BOOL;
    if (!strcmp(t, "json") || !strcmp(t, "jsonb")) return ESYNC_T_JSON;
    if (!strcmp(t, "bytea")) return ESYNC_T_BYTEA;
    if (!strcmp(t, "uuid")) return ESYNC_T_UUID;
    return ESYNC_T_TEXT;
}

void esync__schema_free(esync_schema *s) {
    for (int i = 0; i < s->ncols; i++) {
        esync__freemem(s->cols[i].name);
        esync__freemem(s->cols[i].pgtype);
        esync__freemem(s->cols[i].jkey);
    }
    esync__freemem(s->cols);
    esync__freemem(s->pk);
    cJSON_free(
        s->json); /* cJSON's allocator: the engine's, or a host process's own (image_build.c) */
    memset(s, 0, sizeof *s);
}

int esync__schema_find(const esync_schema *s, const char *name) {
    for (int i = 0; i < s->ncols; i++)
        if (!strcmp(s->cols[i].name, name)) return i;
    return -1;
}

bool esync__schema_same(const esync_schema *a, const esync_schema *b) {
    if (a->ncols != b->ncols || a->npk != b->npk) return false;
    for (int i = 0; i < a->ncols; i++) {
        if (strcmp(a->cols[i].name, b->cols[i].name) ||
            strcmp(a->cols[i].pgtype, b->cols[i].pgtype) || a->cols[i].dims != b->cols[i].dims ||
            a->cols[i].pk_index != b->cols[i].pk_index)
            return false;
    }
    return true;
}

#define SCHEMA_FAIL(...)                                                                           \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        rc = ESYNC_ESCHEMA;                                                                        \
        goto done;                                                                                 \
    } while (0)

int esync__schema_parse(const char *text, esync_schema *out, char *err, size_t errlen) {
    int rc = ESYNC_OK;
    memset(out, 0, sizeof *out);
    cJSON *root = NULL;
    if (!text) SCHEMA_FAIL("electric-schema header missing");
    root = esync__json_parse(text, strlen(text), NULL);
    if (!root || !cJSON_IsObject(root)) SCHEMA_FAIL("electric-schema is not a JSON object");
    int n = cJSON_GetArraySize(root);
    if (n <= 0 || n > PG_MAX_COLUMNS)
        SCHEMA_FAIL("electric-schema has %d columns (1..%d allowed)", n, PG_MAX_COLUMNS);
    out->cols = esync__malloc((size_t)n * sizeof *out->cols);
    out->pk = esync__malloc((size_t)n * sizeof *out->pk);
    if (!out->cols || !out->pk) {
        rc = ESYNC_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    memset(out->cols, 0, (size_t)n * sizeof *out->cols);
    for (int i = 0; i < n; i++) out->pk[i] = -1;
    int i = 0;
    for (cJSON *c = root->child; c; c = c->next, i++) {
        esync_column *col = &out->cols[i];
        out->ncols = i + 1;
        col->pk_index = -1;
        if (!c->string || !c->string[0]) SCHEMA_FAIL("electric-schema has an empty column name");
        for (int j = 0; j < i; j++)
            if (!strcmp(out->cols[j].name, c->string))
                SCHEMA_FAIL("electric-schema repeats column \"%s\"", c->string);
        col->name = esync__strdup(c->string);
        esync_buf jk;
        esync__buf_init(&jk);
        esync__buf_json_str(&jk, c->string, strlen(c->string));
        esync__buf_putc(&jk, ':');
        col->jkey = esync__buf_take(&jk, &col->jkeylen);
        if (!col->name || !col->jkey) {
            rc = ESYNC_ENOMEM;
            goto done;
        }
        if (!cJSON_IsObject(c)) SCHEMA_FAIL("column \"%s\": not an object", c->string);
        cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");
        if (!cJSON_IsString(t) || !t->valuestring[0])
            SCHEMA_FAIL("column \"%s\": missing type", c->string);
        col->pgtype = esync__strdup(t->valuestring);
        if (!col->pgtype) {
            rc = ESYNC_ENOMEM;
            goto done;
        }
        col->type = type_of(t->valuestring);
        col->min = LLONG_MIN;
        col->max = LLONG_MAX;
        if (!strcmp(col->pgtype, "int2")) {
            col->min = -32768;
            col->max = 32767;
        } else if (!strcmp(col->pgtype, "int4")) {
            col->min = -2147483648LL;
            col->max = 2147483647LL;
        }
        cJSON *dims = cJSON_GetObjectItemCaseSensitive(c, "dims");
        if (dims) {
            if (!cJSON_IsNumber(dims) || dims->valuedouble < 0 || dims->valuedouble > PG_MAX_DIMS ||
                dims->valuedouble != (int)dims->valuedouble)
                SCHEMA_FAIL("column \"%s\": bad dims", c->string);
            col->dims = (int)dims->valuedouble;
        }
        cJSON *pk = cJSON_GetObjectItemCaseSensitive(c, "pk_index");
        if (pk) {
            if (!cJSON_IsNumber(pk) || pk->valuedouble < 0 || pk->valuedouble >= n ||
                pk->valuedouble != (int)pk->valuedouble)
                SCHEMA_FAIL("column \"%s\": bad pk_index", c->string);
            int k = (int)pk->valuedouble;
            if (out->pk[k] != -1) SCHEMA_FAIL("pk_index %d used twice", k);
            out->pk[k] = i;
            col->pk_index = k;
        }
        cJSON *nn = cJSON_GetObjectItemCaseSensitive(c, "not_null");
        if (nn && !cJSON_IsBool(nn)) SCHEMA_FAIL("column \"%s\": bad not_null", c->string);
        col->not_null = cJSON_IsTrue(nn);
    }
    while (out->npk < n && out->pk[out->npk] != -1) out->npk++;
    for (int k = out->npk; k < n; k++)
        if (out->pk[k] != -1) SCHEMA_FAIL("pk_index values are not 0..n-1");
    out->json = cJSON_PrintUnformatted(root);
    if (!out->json) {
        rc = ESYNC_ENOMEM;
        snprintf(err, errlen, "out of memory");
    }
done:
    cJSON_Delete(root);
    if (rc != ESYNC_OK) esync__schema_free(out);
    return rc;
}

void esync__schema_ddl(const esync_schema *s, const char *db, const char *table, esync_buf *b) {
    esync__buf_printf(b, "CREATE TABLE %s.", db);
    esync__buf_ident(b, table);
    esync__buf_puts(b, " (");
    for (int i = 0; i < s->ncols; i++) {
        const esync_column *c = &s->cols[i];
        const char *decl = "TEXT";
        if (!c->dims) {
            switch (c->type) {
            case ESYNC_T_INT:
            case ESYNC_T_INT8:
            case ESYNC_T_BOOL: decl = "INTEGER"; break;
            case ESYNC_T_FLOAT: decl = "REAL"; break;
            case ESYNC_T_BYTEA: decl = "BLOB"; break;
            default: break;
            }
        }
        if (i) esync__buf_puts(b, ", ");
        esync__buf_ident(b, c->name);
        esync__buf_printf(b, " %s", decl);
    }
    if (s->npk) {
        esync__buf_puts(b, ", PRIMARY KEY (");
        for (int k = 0; k < s->npk; k++) {
            if (k) esync__buf_puts(b, ", ");
            esync__buf_ident(b, s->cols[s->pk[k]].name);
        }
        /* WITHOUT ROWID: the row lives in the key's b-tree, so a single-row commit touches one
         * tree instead of a table and its key index. */
        esync__buf_puts(b, ")) WITHOUT ROWID");
    } else {
        esync__buf_puts(b, ")");
    }
}

/* ---- values in ---- */

static bool parse_int64(const char *s, long long lo, long long hi, long long *out) {
    const char *p = s;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (!*p) return false;
    unsigned long long v = 0;
    unsigned long long lim = neg ? (unsigned long long)(-(lo + 1)) + 1 : (unsigned long long)hi;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (lim - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = neg ? (long long)(0 - v) : (long long)v;
    if (neg && v == (unsigned long long)LLONG_MAX + 1) *out = LLONG_MIN;
    return *out >= lo && *out <= hi;
}

static const char *nonfinite(const char *s) {
    if (!strcmp(s, "NaN")) return "NaN";
    if (!strcmp(s, "Infinity")) return "Infinity";
    if (!strcmp(s, "-Infinity")) return "-Infinity";
    return NULL;
}

static bool parse_float(const char *s, double *out) {
    if (!*s) return false;
    for (const char *p = s; *p; p++) /* decimal notation only: no hex floats, no "inf" spellings */
        if (!strchr("0123456789+-.eE", *p)) return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end) return false;
    *out = d;
    return isfinite(d);
}

static bool parse_bool(const char *s, int *out) {
    if (!strcmp(s, "t") || !strcmp(s, "true")) {
        *out = 1;
        return true;
    }
    if (!strcmp(s, "f") || !strcmp(s, "false")) {
        *out = 0;
        return true;
    }
    return false;
}

static bool is_uuid(const char *s) {
    if (strlen(s) != 36) return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool valid_json(const char *s, size_t n) {
    cJSON *j = esync__json_parse(s, n, NULL);
    cJSON_Delete(j);
    return j != NULL;
}

#define VALUE_FAIL(...)                                                                            \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return ESYNC_EVALUE;                                                                       \
    } while (0)

bool esync__value_fits(const esync_column *c, sqlite3_stmt *st, int i) {
    int t = sqlite3_column_type(st, i);
    if (t == SQLITE_NULL) return !c->not_null;
    if (c->dims) return t == SQLITE_TEXT;
    switch (c->type) {
    case ESYNC_T_INT:
    case ESYNC_T_INT8:
    case ESYNC_T_BOOL: {
        if (t != SQLITE_INTEGER) return false;
        sqlite3_int64 v = sqlite3_column_int64(st, i);
        if (c->type == ESYNC_T_BOOL) return v == 0 || v == 1;
        return c->type == ESYNC_T_INT8 || (v >= c->min && v <= c->max);
    }
    case ESYNC_T_FLOAT:
        return t == SQLITE_FLOAT ||
               (t == SQLITE_TEXT && nonfinite((const char *)sqlite3_column_text(st, i)));
    case ESYNC_T_BYTEA: return t == SQLITE_BLOB;
    case ESYNC_T_JSON:
        return t == SQLITE_TEXT && valid_json((const char *)sqlite3_column_text(st, i),
                                              (size_t)sqlite3_column_bytes(st, i));
    case ESYNC_T_UUID:
        return t == SQLITE_TEXT && sqlite3_column_bytes(st, i) == 36 &&
               is_uuid((const char *)sqlite3_column_text(st, i));
    default: return t == SQLITE_TEXT;
    }
}

int esync__val_convert(const esync_column *c, const char *text, esync_val *v, char *err,
                       size_t errlen) {
    memset(v, 0, sizeof *v);
    if (!text) {
        if (c->not_null) VALUE_FAIL("column \"%s\" is NOT NULL but the value is null", c->name);
        v->type = SQLITE_NULL;
        return ESYNC_OK;
    }
    v->type = SQLITE_TEXT;
    v->p = text;
    if (c->dims > 0) {
        v->n = strlen(text);
        if (esync__pgarray(text, v->n, c, NULL) != ESYNC_OK)
            VALUE_FAIL("column \"%s\" (%s[]): not a valid array literal", c->name, c->pgtype);
        return ESYNC_OK;
    }
    switch (c->type) {
    case ESYNC_T_INT:
    case ESYNC_T_INT8:
        if (!parse_int64(text, c->min, c->max, &v->i))
            VALUE_FAIL("column \"%s\" (%s): \"%.40s\" is not a valid %s", c->name, c->pgtype, text,
                       c->pgtype);
        v->type = SQLITE_INTEGER;
        break;
    case ESYNC_T_FLOAT: {
        const char *nf = nonfinite(text);
        if (nf) {
            v->p = nf;
            v->n = strlen(nf);
        } else if (parse_float(text, &v->d)) {
            v->type = SQLITE_FLOAT;
            /* A REAL column stores an integral value as an integer, so -0 reads back as 0: the
             * value is the one stored, also where it is emitted as bound. */
            if (v->d == 0) v->d = 0;
        } else {
            VALUE_FAIL("column \"%s\" (%s): \"%.40s\" is not a number", c->name, c->pgtype, text);
        }
        break;
    }
    case ESYNC_T_BOOL: {
        int b;
        if (!parse_bool(text, &b))
            VALUE_FAIL("column \"%s\" (bool): \"%.40s\" is not a boolean", c->name, text);
        v->type = SQLITE_INTEGER;
        v->i = b;
        break;
    }
    case ESYNC_T_JSON:
        v->n = strlen(text);
        if (!valid_json(text, v->n))
            VALUE_FAIL("column \"%s\" (%s): not valid JSON", c->name, c->pgtype);
        break;
    case ESYNC_T_BYTEA: {
        size_t n = strlen(text);
        if (n < 2 || text[0] != '\\' || text[1] != 'x' || (n - 2) % 2)
            VALUE_FAIL("column \"%s\" (bytea): expected \\x followed by hex digits", c->name);
        size_t bytes = (n - 2) / 2;
        unsigned char *blob = esync__malloc(bytes ? bytes : 1);
        if (!blob) {
            snprintf(err, errlen, "out of memory");
            return ESYNC_ENOMEM;
        }
        for (size_t i = 0; i < bytes; i++) {
            int hi = hexval(text[2 + 2 * i]), lo = hexval(text[3 + 2 * i]);
            if (hi < 0 || lo < 0) {
                esync__freemem(blob);
                VALUE_FAIL("column \"%s\" (bytea): bad hex digit", c->name);
            }
            blob[i] = (unsigned char)(hi << 4 | lo);
        }
        v->type = SQLITE_BLOB;
        v->p = v->owned = blob;
        v->n = bytes;
        break;
    }
    case ESYNC_T_UUID:
        if (!is_uuid(text))
            VALUE_FAIL("column \"%s\" (uuid): \"%.40s\" is not a UUID", c->name, text);
        v->n = 36;
        break;
    case ESYNC_T_TEXT: v->n = strlen(text); break;
    }
    return ESYNC_OK;
}

void esync__val_clear(esync_val *v) {
    esync__freemem(v->owned);
    v->owned = NULL;
}

int esync__val_bind(sqlite3_stmt *st, int idx, esync_val *v, const esync_column *c, char *err,
                    size_t errlen) {
    int src;
    switch (v->type) {
    case SQLITE_NULL: src = sqlite3_bind_null(st, idx); break;
    case SQLITE_INTEGER: src = sqlite3_bind_int64(st, idx, v->i); break;
    case SQLITE_FLOAT: src = sqlite3_bind_double(st, idx, v->d); break;
    case SQLITE_TEXT: src = sqlite3_bind_text(st, idx, v->p, (int)v->n, SQLITE_STATIC); break;
    default:
        /* SQLite frees the bytes whether the bind succeeds or not */
        src = sqlite3_bind_blob64(st, idx, v->p, v->n, v->owned ? esync__freemem : SQLITE_STATIC);
        v->owned = NULL;
        break;
    }
    if (src != SQLITE_OK) {
        snprintf(err, errlen, "bind \"%s\": %s", c->name, sqlite3_errstr(src));
        return src == SQLITE_NOMEM ? ESYNC_ENOMEM : ESYNC_ESQLITE;
    }
    return ESYNC_OK;
}

int esync__bind_value(sqlite3_stmt *st, int idx, const esync_column *c, const char *text, char *err,
                      size_t errlen) {
    esync_val v;
    int rc = esync__val_convert(c, text, &v, err, errlen);
    return rc ? rc : esync__val_bind(st, idx, &v, c, err, errlen);
}

/* ---- Postgres array literals ---- */

typedef struct arr_parser {
    const char *p, *end;
    const esync_column *c;
    esync_buf *out;
    esync_buf tmp; /* unescaped element */
    int depth;
} arr_parser;

static void skip_ws(arr_parser *a) {
    while (a->p < a->end && (*a->p == ' ' || *a->p == '\t' || *a->p == '\n' || *a->p == '\r'))
        a->p++;
}

/* Emits one element (already unescaped into a->tmp) typed by the column's element type. */
static int emit_elem(arr_parser *a, bool quoted) {
    const char *s = a->tmp.data ? a->tmp.data : "";
    size_t n = a->tmp.len;
    if (!quoted && n == 4 && (s[0] | 32) == 'n' && (s[1] | 32) == 'u' && (s[2] | 32) == 'l' &&
        (s[3] | 32) == 'l') {
        if (a->out) esync__buf_puts(a->out, "null");
        return ESYNC_OK;
    }
    switch (a->c->type) {
    case ESYNC_T_INT: {
        long long v;
        bool two = !strcmp(a->c->pgtype, "int2");
        if (!parse_int64(s, two ? -32768 : -2147483648LL, two ? 32767 : 2147483647LL, &v))
            return ESYNC_EVALUE;
        if (a->out) esync__buf_printf(a->out, "%lld", v);
        return ESYNC_OK;
    }
    case ESYNC_T_INT8: {
        long long v;
        if (!parse_int64(s, LLONG_MIN, LLONG_MAX, &v)) return ESYNC_EVALUE;
        if (a->out) esync__buf_printf(a->out, "\"%lld\"", v);
        return ESYNC_OK;
    }
    case ESYNC_T_FLOAT: {
        double d;
        const char *nf = nonfinite(s);
        if (nf) {
            if (a->out) esync__buf_printf(a->out, "\"%s\"", nf);
            return ESYNC_OK;
        }
        if (!parse_float(s, &d)) return ESYNC_EVALUE;
        if (a->out) esync__buf_double(a->out, d);
        return ESYNC_OK;
    }
    case ESYNC_T_BOOL: {
        int v;
        if (!parse_bool(s, &v)) return ESYNC_EVALUE;
        if (a->out) esync__buf_puts(a->out, v ? "true" : "false");
        return ESYNC_OK;
    }
    case ESYNC_T_JSON:
        if (!valid_json(s, n)) return ESYNC_EVALUE;
        if (a->out) esync__buf_append(a->out, s, n);
        return ESYNC_OK;
    default:
        if (a->out) esync__buf_json_str(a->out, s, n);
        return ESYNC_OK;
    }
}

static int parse_array(arr_parser *a) {
    if (++a->depth > PG_MAX_DIMS) return ESYNC_EVALUE;
    skip_ws(a);
    if (a->p >= a->end || *a->p != '{') return ESYNC_EVALUE;
    a->p++;
    if (a->out) esync__buf_putc(a->out, '[');
    skip_ws(a);
    if (a->p < a->end && *a->p == '}') {
        a->p++;
        if (a->out) esync__buf_putc(a->out, ']');
        a->depth--;
        return ESYNC_OK;
    }
    for (bool first = true;; first = false) {
        skip_ws(a);
        if (a->p >= a->end) return ESYNC_EVALUE;
        if (!first && a->out) esync__buf_putc(a->out, ',');
        if (*a->p == '{') {
            int rc = parse_array(a);
            if (rc) return rc;
        } else {
            esync__buf_reset(&a->tmp);
            bool quoted = false;
            if (*a->p == '"') {
                quoted = true;
                a->p++;
                for (;;) {
                    if (a->p >= a->end) return ESYNC_EVALUE;
                    char ch = *a->p++;
                    if (ch == '"') break;
                    if (ch == '\\') {
                        if (a->p >= a->end) return ESYNC_EVALUE;
                        ch = *a->p++;
                    }
                    esync__buf_putc(&a->tmp, ch);
                }
            } else {
                const char *s = a->p;
                while (a->p < a->end && *a->p != ',' && *a->p != '}') {
                    if (*a->p == '"' || *a->p == '{' || *a->p == '\\') return ESYNC_EVALUE;
                    a->p++;
                }
                const char *e = a->p;
                while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
                    e--;
                if (e == s) return ESYNC_EVALUE;
                esync__buf_append(&a->tmp, s, (size_t)(e - s));
            }
            if (a->tmp.oom) return ESYNC_ENOMEM;
            int rc = emit_elem(a, quoted);
            if (rc) return rc;
        }
        skip_ws(a);
        if (a->p >= a->end) return ESYNC_EVALUE;
        if (*a->p == ',') {
            a->p++;
            continue;
        }
        if (*a->p == '}') {
            a->p++;
            break;
        }
        return ESYNC_EVALUE;
    }
    if (a->out) esync__buf_putc(a->out, ']');
    a->depth--;
    return ESYNC_OK;
}

int esync__pgarray(const char *text, size_t len, const esync_column *c, esync_buf *out) {
    arr_parser a = {text, text + len, c, out, {0}, 0};
    /* Optional dimension decoration: [1:3][2:4]={...} */
    if (a.p < a.end && *a.p == '[') {
        const char *eq = memchr(a.p, '=', len);
        if (!eq) return ESYNC_EVALUE;
        a.p = eq + 1;
    }
    int rc = parse_array(&a);
    if (rc == ESYNC_OK) {
        skip_ws(&a);
        if (a.p != a.end) rc = ESYNC_EVALUE;
    }
    esync__buf_free(&a.tmp);
    return rc;
}

/* ---- values out ---- */

/* Column i of the current row of st as a value (pointing at SQLite's copy, valid until the
 * statement moves on). */
static void val_of_column(sqlite3_stmt *st, int i, esync_val *v) {
    v->owned = NULL;
    v->type = sqlite3_column_type(st, i);
    switch (v->type) {
    case SQLITE_INTEGER: v->i = sqlite3_column_int64(st, i); break;
    case SQLITE_FLOAT: v->d = sqlite3_column_double(st, i); break;
    case SQLITE_TEXT:
        v->p = sqlite3_column_text(st, i);
        v->n = (size_t)sqlite3_column_bytes(st, i);
        break;
    case SQLITE_BLOB:
        v->p = sqlite3_column_blob(st, i);
        v->n = (size_t)sqlite3_column_bytes(st, i);
        break;
    default: break;
    }
}

int esync__val_emit(esync_buf *b, const esync_val *v, const esync_column *c) {
    int t = v->type;
    if (t == SQLITE_NULL) {
        esync__buf_puts(b, "null");
        return b->oom ? ESYNC_ENOMEM : ESYNC_OK;
    }
    if (c && c->dims > 0 && t == SQLITE_TEXT) {
        size_t mark = b->len;
        int rc = esync__pgarray(v->p, v->n, c, b);
        if (rc == ESYNC_ENOMEM) return rc;
        if (rc != ESYNC_OK) { /* cannot happen for checked values; keep the text */
            b->len = mark;
            esync__buf_json_str(b, v->p, v->n);
        }
        return b->oom ? ESYNC_ENOMEM : ESYNC_OK;
    }
    if (c && c->type == ESYNC_T_INT8 && t == SQLITE_INTEGER) {
        esync__buf_putc(b, '"');
        esync__buf_int(b, v->i);
        esync__buf_putc(b, '"');
    } else if (c && c->type == ESYNC_T_BOOL && t == SQLITE_INTEGER) {
        esync__buf_puts(b, v->i ? "true" : "false");
    } else if (c && c->type == ESYNC_T_JSON && t == SQLITE_TEXT) {
        esync__buf_append(b, v->p, v->n);
    } else {
        /* INT, FLOAT (non-finite are TEXT), BYTEA, UUID, TEXT; any value of a non-shape column */
        switch (t) {
        case SQLITE_INTEGER: esync__buf_int(b, v->i); break;
        case SQLITE_FLOAT:
            if (isfinite(v->d))
                esync__buf_double(b, v->d);
            else
                esync__buf_puts(b, "null");
            break;
        case SQLITE_TEXT: esync__buf_json_str(b, v->p, v->n); break;
        default: {
            static const char hex[] = "0123456789abcdef";
            const unsigned char *p = v->p;
            esync__buf_puts(b, "\"\\\\x");
            if (!esync__buf_reserve(b, v->n * 2 + 2)) return ESYNC_ENOMEM;
            for (size_t k = 0; k < v->n; k++) {
                b->data[b->len++] = hex[p[k] >> 4];
                b->data[b->len++] = hex[p[k] & 15];
            }
            b->data[b->len] = 0;
            esync__buf_putc(b, '"');
            break;
        }
        }
    }
    return b->oom ? ESYNC_ENOMEM : ESYNC_OK;
}

void esync__emit_plain(esync_buf *b, sqlite3_stmt *st, int i) {
    esync_val v;
    val_of_column(st, i, &v);
    esync__val_emit(b, &v, NULL);
}

int esync__emit_value(esync_buf *b, sqlite3_stmt *st, int i, const esync_column *c) {
    esync_val v;
    val_of_column(st, i, &v);
    return esync__val_emit(b, &v, c);
}

int esync__emit_vals(esync_buf *b, const esync_val *v, const esync_schema *s) {
    esync__buf_putc(b, '{');
    for (int i = 0; i < s->ncols; i++) {
        if (i) esync__buf_putc(b, ',');
        esync__buf_append(b, s->cols[i].jkey, s->cols[i].jkeylen);
        int rc = esync__val_emit(b, &v[i], &s->cols[i]);
        if (rc) return rc;
    }
    esync__buf_putc(b, '}');
    return b->oom ? ESYNC_ENOMEM : ESYNC_OK;
}

int esync__emit_row_from(esync_buf *b, sqlite3_stmt *st, int first, const esync_schema *s) {
    esync__buf_putc(b, '{');
    for (int i = 0; i < s->ncols; i++) {
        if (i) esync__buf_putc(b, ',');
        esync__buf_append(b, s->cols[i].jkey, s->cols[i].jkeylen);
        int rc = esync__emit_value(b, st, first + i, &s->cols[i]);
        if (rc) return rc;
    }
    esync__buf_putc(b, '}');
    return b->oom ? ESYNC_ENOMEM : ESYNC_OK;
}

int esync__emit_row(esync_buf *b, sqlite3_stmt *st, const esync_schema *s) {
    return esync__emit_row_from(b, st, 0, s);
}
