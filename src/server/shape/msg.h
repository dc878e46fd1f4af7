/* The JSON messages of a shape log (docs/protocol.md §2.4): snapshot rows, and the change
 * messages a replicated insert, update or delete produces for one shape (§2.4.2, §7.3: where
 * move-in/move-out, column projection, replica=default|full, key changes, updates that touch no
 * selected column). Pure: rows in, JSON text out.
 *
 * Rows are given in table column order (esync_table): v[i] is column i's Postgres text output,
 * NUL-terminated, or NULL for SQL NULL; len[i] its length.
 *
 * Change messages are appended to `out` each followed by ",\n", with their headers complete
 * except that the transaction's last message gets `"last":true` later (esync__msg_mark_last),
 * when the commit shows which one is last.
 */
#ifndef ESYNC_SERVER_SHAPE_MSG_H
#define ESYNC_SERVER_SHAPE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pg/row.h"
#include "sbuf.h"
#include "shape/table.h"
#include "shape/storage.h"
#include "where.h"

/* What a shape selects and how its messages look; built once per shape. */
typedef struct esync_shape_view {
    const esync_table *t;
    int nsel;
    int *sel; /* selected column indexes, table order */
    int nkey;
    int *keycols; /* primary key columns in key order, or (no PK) the selected columns by name */
    bool has_pk;
    bool full;          /* replica=full */
    esync_where *where; /* NULL: every row */
    char *key_prefix;   /* "schema"."table" as it starts every key (raw, not JSON-escaped) */
    /* precomputed, so a snapshot row costs no allocation and no escaping of names: */
    char *key_prefix_json; /* key_prefix JSON-escaped (without the quotes around the key) */
    size_t key_prefix_json_len;
    char **col_json; /* per table column: its name as a JSON string and a colon, "name": */
    size_t *col_json_len;
    int ncol_json;  /* entries of col_json (the table's column count) */
    char *relation; /* ["schema","table"] */
} esync_shape_view;

/* Fills v (sel, keycols, key_prefix, relation) for table t and the selected columns (NULL: all).
 * Takes ownership of `where`. */
void esync__msg_view_init(esync_shape_view *v, const esync_table *t, const int *sel, int nsel,
                          bool full, esync_where *where);
void esync__msg_view_free(esync_shape_view *v);

/* Does the row pass the shape's where clause? */
bool esync__msg_view_match(const esync_shape_view *v, const esync_row *r);

/* Appends a snapshot insert message (no separator). */
void esync__msg_snapshot_row(esync_sb *out, const esync_shape_view *v, const esync_row *r);

/* One replicated change of a transaction. op: 'I', 'U' or 'D'. old_row is required for 'U' and
 * 'D' (the whole old row: REPLICA IDENTITY FULL), new_row for 'I' and 'U'. The change is the
 * ordinal-th of its transaction: its messages get op_position 2*ordinal (and 2*ordinal+1 for the
 * insert half of a key change). Appends 0, 1 or 2 messages to out, their end positions in out to
 * ends[] and offsets to offs[] (room for 2). Returns how many. */
int esync__msg_change(esync_sb *out, size_t *ends, esync_offset *offs, const esync_shape_view *v,
                      char op, const esync_row *old_row, const esync_row *new_row, uint64_t lsn,
                      uint64_t ordinal, uint32_t xid);

/* Rewrites the message ending at out->n (the transaction's last) to carry "last":true. */
void esync__msg_mark_last(esync_sb *out);

#endif
