/*
 * shape.h — the state the engine keeps per shape (engine.c defines and persists it, ingest.c
 * drives it). Three layers:
 *   committed  what the replica's metadata row says (handle, offset, schema, rows); changes only
 *              in the transaction that commits a batch;
 *   request    what the next request carries (may run ahead of committed while a batch is open,
 *              and is put back to committed when a batch rolls back);
 *   batch      the open batch: its target table, its schema, the keys it touched.
 */
#ifndef ESYNC_SHAPE_H
#define ESYNC_SHAPE_H

#include "internal.h"

#define ESYNC_UPD_CACHE 8

struct esync_shape {
    char *name;
    char *def;        /* canonical definition JSON (what is stored and compared) */
    char *table;      /* the table parameter as given ("items", "public.items") */
    char *sqlname;    /* replica table name */
    char *tablename;  /* tableName of change events: the table without its schema */
    char *where;
    char **params;
    int nparams;
    char *columns;    /* comma-separated, as sent */
    bool replica_full;

    /* committed */
    char *handle_c, *offset_c;
    esync_schema schema_c; /* ncols == 0: no table yet */
    int64_t rows;
    double last_sync;      /* < 0: never */

    /* request */
    char *handle, *offset, *cursor;
    bool live;
    bool refetch;          /* the next batch is a refetch: build it aside, then diff */
    bool cache_bust;       /* add a cache-buster (after a must-refetch) */
    char *expired_handle;

    /* batch */
    bool in_batch;
    bool shadow;           /* the batch writes temp.esync_shadow, not the replica table */
    bool fast;             /* the target was empty at batch start: no per-key tracking */
    esync_schema schema_b; /* schema of the batch's target table */
    esync_keymap touched;
    sqlite3_stmt *st_ins, *st_del, *st_sel;
    struct { uint64_t mask; sqlite3_stmt *st; } st_upd[ESYNC_UPD_CACHE];

    /* errors and backoff */
    int data_failures;     /* consecutive batches rolled back for bad data */
    int http_failures;     /* consecutive transient HTTP failures */
    uint32_t wait_ms;      /* pending backoff, handed out once by next_request */
    bool stopped;
    char *error;
};

/* Finalizes the batch statements (the target table changes, or the batch ends). */
void esync__shape_finalize_stmts(esync_shape *s);
/* Persists the committed layer (inside the caller's transaction). */
int esync__shape_store(esync *e, esync_shape *s);
/* Resets the request layer to the committed one (resume non-live from the stored offset). */
bool esync__request_from_committed(esync_shape *s);
/* Sets *slot to a copy of v (NULL allowed). Returns false on OOM. */
bool esync__set_str(char **slot, const char *v);

#endif
