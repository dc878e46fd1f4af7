/*
 * types.h — shape schemas and values (types.c): the electric-schema header parsed into columns,
 * the replica table's DDL, Electric's text values checked and bound to SQLite, and stored values
 * written back out as JSON typed like @electric-sql/client's default parser.
 */
#ifndef ESYNC_TYPES_H
#define ESYNC_TYPES_H

#include "buf.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    ESYNC_T_INT,   /* int2, int4: INTEGER, JSON number */
    ESYNC_T_INT8,  /* int8: INTEGER, JSON decimal string (BigInt in JS) */
    ESYNC_T_FLOAT, /* float4, float8: REAL (non-finite as TEXT), JSON number */
    ESYNC_T_BOOL,  /* bool: INTEGER 0/1, JSON boolean */
    ESYNC_T_JSON,  /* json, jsonb: TEXT, embedded JSON */
    ESYNC_T_BYTEA, /* bytea: BLOB, JSON string "\\x…" */
    ESYNC_T_UUID,  /* uuid: TEXT (checked) */
    ESYNC_T_TEXT   /* everything else: TEXT, JSON string */
} esync_type;

typedef struct esync_column {
    char *name;
    char *pgtype; /* the electric-schema "type" */
    esync_type type;
    int dims;     /* > 0 for arrays: TEXT holding the Postgres array literal */
    int pk_index; /* -1 when not part of the primary key */
    bool not_null;
    char *jkey; /* the name as a JSON string and ':' (a row object's member prefix) */
    size_t jkeylen;
    long long min, max; /* the range of an integer column (int2, int4, int8) */
} esync_column;

typedef struct esync_schema {
    esync_column *cols;
    int ncols;
    int *pk;    /* column indexes in primary-key order */
    int npk;    /* 0: no primary key (rows keyed by all columns) */
    char *json; /* canonical JSON text (what is stored and compared) */
} esync_schema;

/* The columns that identify a row: the primary key in key order, or every column of a table
 * without one. esync__key_column(s, k) is the column index of the k-th, k < esync__key_count. */
static inline int esync__key_count(const esync_schema *s) { return s->npk ? s->npk : s->ncols; }
static inline int esync__key_column(const esync_schema *s, int k) { return s->npk ? s->pk[k] : k; }

/* Parses an electric-schema header. On error returns ESYNC_ESCHEMA (or ESYNC_ENOMEM) with a
 * message in err. */
int esync__schema_parse(const char *text, esync_schema *out, char *err, size_t errlen);
void esync__schema_free(esync_schema *s);
/* Index of the column named name, or -1. */
int esync__schema_find(const esync_schema *s, const char *name);
/* Structural equality: names, types, dims and key. Nullability may change under a handle
 * (Electric reads it from the catalog at response time), so it is not compared. */
bool esync__schema_same(const esync_schema *a, const esync_schema *b);
/* CREATE TABLE statement for the schema (db "main" or "temp"). */
void esync__schema_ddl(const esync_schema *s, const char *db, const char *table, esync_buf *b);

/* A value as SQLite stores it: its storage class and content. TEXT and BLOB point at memory
 * that outlives the value (a message's text, SQLite's row) or at `owned` (a converted bytea).
 * Values go in (Electric's text, checked and converted: esync__val_convert) and out (typed JSON:
 * esync__val_emit) through this one form, so a row emitted as it is bound is the row a read of
 * the table gives: a column's affinity keeps the storage class it is bound with (the DDL above
 * declares INTEGER, REAL, TEXT or BLOB by type; non-finite floats are TEXT in a REAL column). */
typedef struct esync_val {
    int type; /* SQLITE_NULL, SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB */
    long long i;
    double d;
    const void *p;
    size_t n;
    void *owned;
} esync_val;

/* Checks and converts the Electric text value (NULL for SQL NULL) of column c. Returns ESYNC_OK,
 * ESYNC_EVALUE or ESYNC_ENOMEM with a message in err. */
int esync__val_convert(const esync_column *c, const char *text, esync_val *v, char *err,
                       size_t errlen);
/* Binds v to parameter idx (its owned bytes go to SQLite). ESYNC_OK, or ESYNC_ESQLITE /
 * ESYNC_ENOMEM with a message in err. */
int esync__val_bind(sqlite3_stmt *st, int idx, esync_val *v, const esync_column *c, char *err,
                    size_t errlen);
/* Frees what v owns (a value converted and never bound). */
void esync__val_clear(esync_val *v);
/* Appends v as typed JSON for column c (c NULL: typed by its storage class alone). */
int esync__val_emit(esync_buf *b, const esync_val *v, const esync_column *c);
/* Appends a row of values in schema order as a JSON object. */
int esync__emit_vals(esync_buf *b, const esync_val *v, const esync_schema *s);

/* Binds the Electric text value (NULL for SQL NULL) of column c to parameter idx.
 * Returns ESYNC_OK or ESYNC_EVALUE / ESYNC_ESQLITE with a message in err. */
int esync__bind_value(sqlite3_stmt *st, int idx, const esync_column *c, const char *text, char *err,
                      size_t errlen);
/* Appends column i of the current row as a typed JSON value. */
int esync__emit_value(esync_buf *b, sqlite3_stmt *st, int i, const esync_column *c);
/* Appends an SQLite value typed by its storage class (columns that are not shape columns). */
void esync__emit_plain(esync_buf *b, sqlite3_stmt *st, int i);
/* Whether result column i of st holds a value that esync__val_convert could have stored in
 * column c (its storage class, NULL only where allowed, int2/int4 in range, bool 0 or 1, a
 * non-finite float's text, valid JSON, a UUID's form, an array as text): the check of a value
 * that did not come through this engine (a replica image, image.c). */
bool esync__value_fits(const esync_column *c, sqlite3_stmt *st, int i);
/* Appends the whole current row (columns 0..ncols-1 in schema order) as a JSON object. */
int esync__emit_row(esync_buf *b, sqlite3_stmt *st, const esync_schema *s);
/* The same from result columns first..first+ncols-1 (a query that selects two rows side by side). */
int esync__emit_row_from(esync_buf *b, sqlite3_stmt *st, int first, const esync_schema *s);
/* Checks a Postgres array literal; appends it as a typed JSON array when out is not NULL. */
int esync__pgarray(const char *text, size_t len, const esync_column *c, esync_buf *out);

#endif
