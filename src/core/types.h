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

/* Binds the Electric text value (NULL for SQL NULL) of column c to parameter idx.
 * Returns ESYNC_OK or ESYNC_EVALUE / ESYNC_ESQLITE with a message in err. */
int esync__bind_value(sqlite3_stmt *st, int idx, const esync_column *c, const char *text, char *err,
                      size_t errlen);
/* Appends column i of the current row as a typed JSON value. */
int esync__emit_value(esync_buf *b, sqlite3_stmt *st, int i, const esync_column *c);
/* Appends an SQLite value typed by its storage class (columns that are not shape columns). */
void esync__emit_plain(esync_buf *b, sqlite3_stmt *st, int i);
/* Appends the whole current row (columns 0..ncols-1 in schema order) as a JSON object. */
int esync__emit_row(esync_buf *b, sqlite3_stmt *st, const esync_schema *s);
/* The same from result columns first..first+ncols-1 (a query that selects two rows side by side). */
int esync__emit_row_from(esync_buf *b, sqlite3_stmt *st, int first, const esync_schema *s);
/* Checks a Postgres array literal; appends it as a typed JSON array when out is not NULL. */
int esync__pgarray(const char *text, size_t len, const esync_column *c, esync_buf *out);

#endif
