/*
 * rows.h — row SQL on a shape's target table (rows.c): the table's creation, and insert, update,
 * delete and select-by-key through statements prepared once per target and kept on the shape.
 * The target is the replica table main."<table>", or the shadow table while a refetch is built
 * aside (esync_shape.shadow).
 */
#ifndef ESYNC_ROWS_H
#define ESYNC_ROWS_H

#include "internal.h"
#include "msgparse.h"

/* Where a refetch of a shape that has rows is built (connection-private, never persisted). */
#define ESYNC_SHADOW_NAME "esync_shadow"
#define ESYNC_SHADOW_TABLE "temp." ESYNC_SHADOW_NAME

/* One change's values, per column of the batch schema. */
typedef struct esync_row_values {
    const char **v; /* per schema column: text, or NULL for SQL NULL */
    bool *present;  /* the change carried the column */
    int n;
} esync_row_values;

/* Sizes the per-row arrays to n columns (keeping them when they fit). */
int esync__rows_fit(esync *e, esync_row_values *rv, int n);
void esync__rows_values_free(esync_row_values *rv);
/* Fills rv from a message's value fields: every field must be a column of the batch schema, at
 * most once, and a string or null (ESYNC_EPROTO / ESYNC_EVALUE otherwise). */
int esync__rows_gather(esync *e, esync_shape *s, const esync_field *f, uint32_t nf,
                       esync_row_values *rv);

/* The target's row with rv's key, as typed JSON into out (len 0 when absent). */
int esync__rows_current(esync *e, esync_shape *s, const esync_row_values *rv, esync_buf *out);
/* Upsert of a full row (a replayed insert overwrites). In a batch without tracking (fast or
 * append) the row may wait in a group: esync__rows_flush inserts what waits, and must run before
 * anything else reads or writes the target, and before the message texts the rows point at are
 * freed. */
int esync__rows_insert(esync *e, esync_shape *s, const esync_row_values *rv);
int esync__rows_flush(esync *e, esync_shape *s);
/* Drops the rows waiting in a group (a batch that failed). */
void esync__rows_discard(esync_shape *s);
/* Update of the columns present; a full row that is not there is inserted. */
int esync__rows_update(esync *e, esync_shape *s, const esync_row_values *rv);
int esync__rows_delete(esync *e, esync_shape *s, const esync_row_values *rv);
/* Finalizes the shape's statements (its target table changes, or the batch ends). */
void esync__rows_finalize(esync_shape *s);

/* Drops and creates a table for the schema: db "main" with the replica's name, or "temp" for
 * the shadow table. */
int esync__rows_create_table(esync *e, const esync_schema *sc, const char *db, const char *table);
/* Appends the schema's column names, comma-separated, each after prefix (may be NULL). */
void esync__rows_col_list(esync_buf *b, const esync_schema *sc, const char *prefix);

#endif
