/* A shape's table as the catalog describes it, and the identifier syntax of the shape API.
 *
 *   - esync_table_parse_*: the `table` and `columns` parameters (Postgres identifier rules:
 *     unquoted names fold to lower case, "quoted" ones keep their case and "" stands for a quote;
 *     a zero-length identifier is refused with Electric's message). Pure; config.c uses them too.
 *   - esync__table_load: the columns (attnum order, without dropped and generated columns, which
 *     pgoutput does not send either), their types and the primary key, read from the catalog
 *     with parameterized queries; and the electric-schema header of docs/protocol.md §2.5.
 *
 * An esync_table is immutable once loaded and shared by reference count (esync__table_ref/unref
 * are thread-safe), so shapes and in-flight requests can hold it without a lock.
 */
#ifndef ESYNC_SERVER_SHAPE_TABLE_H
#define ESYNC_SERVER_SHAPE_TABLE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "where.h"

typedef struct esync_tcol {
    char *name;
    uint32_t type_oid;
    int32_t typmod;
    char *typname; /* the scalar type name; for arrays with dims > 0 the element type */
    int dims;      /* declared array dimensions (attndims), 0 for scalars */
    int pk_index;  /* 0-based position in the primary key, -1 when not in it */
    bool not_null;
} esync_tcol;

typedef struct esync_table {
    int refs;
    uint32_t relid;
    char *schema, *name;
    char *qname; /* "schema"."name" quoted by Postgres itself (format('%I.%I')) */
    int ncols;
    esync_tcol *cols;
    int npk;
    int *pk; /* column indexes in primary key order */
} esync_table;

/* Parses `table`: name or schema.name. Returns 0 with malloc'ed *schema ("public" when absent)
 * and *name, or -1 with Electric's message in err. */
int esync_table_parse_name(const char *text, char **schema, char **name, char *err, size_t errsz);

/* Splits `columns` on commas outside quotes into malloc'ed names (array freed by
 * esync_table_columns_free). Returns the count, or -1 with the message in err. */
int esync_table_parse_columns(const char *text, char ***names, char *err, size_t errsz);
void esync_table_columns_free(char **names, int n);

/* Loads the table. Returns 0; 1 when the table does not exist (message in err, Electric's
 * wording); -1 on a database error (err holds libpq's message; *conn_lost tells whether the
 * connection is gone). */
int esync__table_load(PGconn *conn, const char *schema, const char *name, esync_table **out,
                      bool *conn_lost, char *err, size_t errsz);

esync_table *esync__table_ref(esync_table *t);
void esync__table_unref(esync_table *t);

/* Index of the column named exactly `name`, or -1. */
int esync__table_col(const esync_table *t, const char *name);

/* The electric-schema JSON object for the selected columns (indexes, table order). malloc'ed. */
char *esync__table_schema_json(const esync_table *t, const int *sel, int nsel);

/* Compiles a where clause against the table's columns: esync_where_compile (where.h) with the
 * column list it needs (array columns are typed `_<element type>`, which the where module only
 * needs to recognize as arrays). Same returns. */
int esync__table_where_compile(const esync_table *t, const char *where, const char *const *params,
                               int nparams, esync_where **out, char *err, size_t errsz);

#endif
