/* A row as the replication layer hands it up: one Postgres text value per column, in the table's
 * (or the Relation message's) column order. The replication thread (pg/repl.c) and the snapshot
 * (shape/snapshot.c) both produce it, and the shape layer consumes it (shape/msg.h), which is why
 * it lives here, in the lower layer: shape/ includes pg/, never the reverse.
 *
 * v[i] is column i's text output, NUL-terminated, or NULL for SQL NULL; len[i] its length (0 for
 * NULL). Both arrays are borrowed from whoever built the row, for the duration of the call that
 * receives it.
 */
#ifndef ESYNC_SERVER_PG_ROW_H
#define ESYNC_SERVER_PG_ROW_H

#include <stddef.h>

typedef struct esync_row {
    const char *const *v;
    const size_t *len;
} esync_row;

#endif
