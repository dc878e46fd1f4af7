/*
 * internal.h — what the core's files share and nothing outside src/core sees.
 * Naming: public esync_*, internal non-static esync__*, macros ESYNC_*.
 */
#ifndef ESYNC_INTERNAL_H
#define ESYNC_INTERNAL_H

#include "esync.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>

struct cJSON;

/* ---- allocator (alloc.c): the one allocator pair; counts live bytes ---- */
void *esync__malloc(size_t n);
void *esync__realloc(void *p, size_t n);
void esync__freemem(void *p);
char *esync__strdup(const char *s);
char *esync__strndup(const char *s, size_t n);
/* Routes SQLite and cJSON through the allocator and initializes SQLite. Idempotent. */
int esync__global_init(void);

/* ---- growable byte buffer (buf.c) ---- */
typedef struct esync_buf {
    char *data;
    size_t len, cap;
    bool oom; /* sticky: once an append failed, the buffer is unusable */
} esync_buf;

void esync__buf_init(esync_buf *b);
void esync__buf_free(esync_buf *b);
void esync__buf_reset(esync_buf *b);
bool esync__buf_reserve(esync_buf *b, size_t extra);
void esync__buf_append(esync_buf *b, const void *p, size_t n);
void esync__buf_puts(esync_buf *b, const char *s);
void esync__buf_putc(esync_buf *b, char c);
void esync__buf_printf(esync_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends s (n bytes) as a JSON string literal, quotes included. */
void esync__buf_json_str(esync_buf *b, const char *s, size_t n);
/* Appends a double as the shortest decimal that reads back to the same value. */
void esync__buf_double(esync_buf *b, double d);
/* Appends a SQL identifier, double-quoted with inner quotes doubled. */
void esync__buf_ident(esync_buf *b, const char *s);
/* Appends s percent-encoded for a URL query component. */
void esync__buf_urlenc(esync_buf *b, const char *s);
/* Moves the contents out as a NUL-terminated string (caller frees with esync_free). */
char *esync__buf_take(esync_buf *b, size_t *len);

/* Parses exactly n bytes of JSON (surrounding whitespace allowed). Returns NULL when they are
 * not one JSON value; *err_at (optional) gets the byte offset where parsing stopped. */
struct cJSON *esync__json_parse(const char *s, size_t n, size_t *err_at);

/* ---- response bodies (msgparse.c) ---- */
typedef struct esync_field {
    const char *name;
    const char *text;  /* the string (kind 1), else NULL */
    uint8_t kind;      /* 1 string, 2 null, 3 object, 4 other */
} esync_field;

typedef struct esync_msg {
    const char *key, *op, *control;           /* set when their kind is 1 (string) */
    uint8_t key_kind, op_kind, control_kind;  /* 0 absent, then as esync_field.kind */
    uint8_t value_kind, headers_kind;
    bool is_object;
    uint32_t field0, nfields;                 /* the value object's members in esync_msgs.f */
} esync_msg;

typedef struct esync_msgs {
    esync_msg *m;
    size_t n, cap;
    esync_field *f;
    size_t nf, capf;
    char *buf;        /* the body copy every string points into */
    bool is_array;    /* the body was a JSON array (its elements are m[0..n-1]) */
} esync_msgs;

/* Parses a body. ESYNC_EJSON (with *err_at) for anything that is not strict UTF-8 JSON.
 * esync__msgs_parse copies the body first; esync__msgs_parse_inplace unescapes strings inside the
 * given bytes, which must stay alive and untouched until esync__msgs_free. */
int esync__msgs_parse(esync_msgs *out, const uint8_t *body, size_t len, size_t *err_at);
int esync__msgs_parse_inplace(esync_msgs *out, uint8_t *body, size_t len, size_t *err_at);
void esync__msgs_free(esync_msgs *m);

/* ---- column types and values (types.c) ---- */
typedef enum {
    ESYNC_T_INT,    /* int2, int4: INTEGER, JSON number */
    ESYNC_T_INT8,   /* int8: INTEGER, JSON decimal string (BigInt in JS) */
    ESYNC_T_FLOAT,  /* float4, float8: REAL (non-finite as TEXT), JSON number */
    ESYNC_T_BOOL,   /* bool: INTEGER 0/1, JSON boolean */
    ESYNC_T_JSON,   /* json, jsonb: TEXT, embedded JSON */
    ESYNC_T_BYTEA,  /* bytea: BLOB, JSON string "\\x…" */
    ESYNC_T_UUID,   /* uuid: TEXT (checked) */
    ESYNC_T_TEXT    /* everything else: TEXT, JSON string */
} esync_type;

typedef struct esync_column {
    char *name;
    char *pgtype;   /* the electric-schema "type" */
    esync_type type;
    int dims;       /* > 0 for arrays: TEXT holding the Postgres array literal */
    int pk_index;   /* -1 when not part of the primary key */
    bool not_null;
} esync_column;

typedef struct esync_schema {
    esync_column *cols;
    int ncols;
    int *pk;        /* column indexes in primary-key order */
    int npk;        /* 0: no primary key (rows keyed by all columns) */
    char *json;     /* canonical JSON text (what is stored and compared) */
} esync_schema;

/* Parses an electric-schema header. On error returns ESYNC_ESCHEMA with a message in err. */
int esync__schema_parse(const char *text, esync_schema *out, char *err, size_t errlen);
void esync__schema_free(esync_schema *s);
int esync__schema_find(const esync_schema *s, const char *name);
/* CREATE TABLE statement for the schema (db "main" or "temp"). */
void esync__schema_ddl(const esync_schema *s, const char *db, const char *table, esync_buf *b);

/* Binds the Electric text value (NULL for SQL NULL) of column c to parameter idx.
 * Returns ESYNC_OK or ESYNC_EVALUE / ESYNC_ESQLITE with a message in err. */
int esync__bind_value(sqlite3_stmt *st, int idx, const esync_column *c, const char *text,
                      char *err, size_t errlen);
/* Appends column i of the current row as a typed JSON value. */
int esync__emit_value(esync_buf *b, sqlite3_stmt *st, int i, const esync_column *c);
/* Appends an SQLite value typed by its storage class (columns that are not shape columns). */
void esync__emit_plain(esync_buf *b, sqlite3_stmt *st, int i);
/* Appends the whole current row (columns 0..ncols-1 in schema order) as a JSON object. */
int esync__emit_row(esync_buf *b, sqlite3_stmt *st, const esync_schema *s);
/* Checks a Postgres array literal; appends it as a typed JSON array when out is not NULL. */
int esync__pgarray(const char *text, size_t len, const esync_column *c, esync_buf *out);

/* ---- string-keyed hash map (keymap.c), insertion-ordered ---- */
typedef struct esync_keymap_entry {
    char *key;
    size_t keylen;
    char *old_row;   /* typed JSON of the row before the batch, NULL when absent */
    size_t old_len;
} esync_keymap_entry;

typedef struct esync_keymap {
    esync_keymap_entry *entries; /* insertion order */
    size_t count, cap;
    uint32_t *slots;             /* open addressing, index+1, 0 = empty */
    size_t nslots;
} esync_keymap;

void esync__keymap_init(esync_keymap *m);
void esync__keymap_free(esync_keymap *m);
/* Returns the entry for key, or NULL. */
esync_keymap_entry *esync__keymap_get(esync_keymap *m, const char *key, size_t len);
/* Adds key (copied); returns the new entry or NULL on OOM. The key must not be present. */
esync_keymap_entry *esync__keymap_add(esync_keymap *m, const char *key, size_t len);

/* ---- the engine (engine.c, ingest.c, query.c) ---- */
typedef struct esync_shape esync_shape;

typedef struct esync_queued {
    struct esync_queued *next;
    char *shape;
    char *str[5];         /* owned copies of handle, offset, schema, cursor, retry_after */
    uint8_t *body;        /* owned copy of the body */
    esync_response resp;  /* points into the copies above */
} esync_queued;

struct esync {
    sqlite3 *db;          /* writer */
    sqlite3 *reader;      /* read-only connection for esync_query */
    esync_shape **shapes;
    int nshapes;
    esync_shape *open;    /* the shape whose batch holds the write transaction, or NULL */
    esync_queued *queue, *queue_tail;
    char *version;        /* stored schema version */
    uint64_t rng;
    size_t max_body;
    int errcode;
    char errmsg[512];
    esync_buf scratch;    /* borrowed results (request queries) */
    sqlite3_stmt *st_store; /* the esync_shapes upsert, run by every commit */
    bool draining;
};

/* Records an error on the engine and returns code. */
int esync__fail(esync *e, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int esync__ok(esync *e);
int esync__sqlfail(esync *e, sqlite3 *db, const char *what);
int esync__exec(esync *e, const char *sql);
uint64_t esync__rand(esync *e);

esync_shape *esync__shape_find(esync *e, const char *name);
void esync__shape_destroy(esync_shape *s);
/* Drops a shape's rows, schema and offsets (inside the caller's transaction). */
int esync__shape_wipe(esync *e, esync_shape *s);
/* Frees every queued response. */
void esync__queue_free(esync *e);
/* Rolls back the open batch, if any, and restores its shape's committed state. */
void esync__rollback_open(esync *e);

#endif /* ESYNC_INTERNAL_H */
