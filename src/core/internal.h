/*
 * internal.h — the map of src/core and the engine's state. Nothing outside src/core includes it
 * (the fuzzer and the parser test include msgparse.h, nothing more).
 *
 * Files, one job each. A file calls only files listed above it: calls flow up this list, never
 * down, so there is no circle. Each file's functions are declared in its own header (foo.c in
 * foo.h); engine.c, query.c and replay.c define only public functions (esync.h, esync_replay.h).
 *
 *   alloc      the counting allocator; esync_initialize (SQLite and cJSON allocate through it)
 *   buf        growable byte buffer and its encoders (sticky out-of-memory flag)
 *   keymap     insertion-ordered string map (the batch's touched keys)
 *   msgparse   JSON in: response bodies (zero-copy) and small JSON through cJSON
 *   types      electric-schema columns; values checked, bound, and emitted as typed JSON
 *   errors     the engine's error slot; SQL on the writer with its failure recorded
 *   queue      responses of other shapes waiting for the open batch (owned copies)
 *   rows       row SQL on a shape's target table: create, insert, update, delete, select by key
 *   txids      transaction ids: a batch's, stored at commit (bounded), esync_txid_seen
 *   changes    change sets: per-key tracking, the DATA_CHANGE event, the refetch diff
 *   batch      a batch's lifecycle: begin, commit (the committed layer), rollback
 *   shape      definitions: parse, load, wipe, define; lookup; column types for JS
 *   request    what to fetch next: esync_next_request, backoff, refetch, retry
 *   image      a snapshot response as a replica image: checked, copied, committed
 *   ingest     response dispatch: esync_ingest; drains the queue when a batch ends
 *   engine     open, close, schema version, reset, status
 *   query      read-only SQL for tabs (esync_query, esync_query_tables)
 *   replay     fixtures to transcripts, for the tests (esync_replay.h)
 *
 * Naming: public esync_*, internal non-static esync__<file>_* (or esync__<verb> in the
 * foundation files), macros ESYNC_*.
 */
#ifndef ESYNC_INTERNAL_H
#define ESYNC_INTERNAL_H

#include "buf.h"
#include "esync.h"
#include "keymap.h"
#include "types.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

/* Statements kept per column mask for partial updates (rows.c): a shape's updates usually touch
 * the same few column sets, and re-preparing an UPDATE per change costs more than the change. */
#define ESYNC_UPD_CACHE 8

/*
 * The state the engine keeps per shape, in three layers:
 *   committed  what the replica's metadata row says (handle, offset, schema, rows). Changes only
 *              in the transaction that commits a batch (batch.c), or when the shape is loaded or
 *              wiped (shape.c);
 *   request    what the next request carries (may run ahead of committed while a batch is open,
 *              and is put back to committed when a batch rolls back);
 *   batch      the open batch: its target table, its schema, the keys it touched.
 */
typedef struct esync_shape {
    /* the definition (shape.c) */
    char *name;
    char *def;       /* canonical definition JSON (what is stored and compared) */
    char *table;     /* the table parameter as given ("items", "public.items") */
    char *sqlname;   /* replica table name */
    char *tablename; /* tableName of change events: the table without its schema */
    char *where;
    char **params;
    int nparams;
    char *columns; /* comma-separated, as sent */
    bool replica_full;

    /* committed */
    char *handle_c, *offset_c;
    esync_schema schema_c; /* ncols == 0: no table yet */
    int64_t rows;
    double last_sync;    /* < 0: never */
    char *txids_c;       /* txids.c: the newest txids, "760,761" (fewer than a chunk), or NULL */
    size_t ntxids_c;     /* txids.c: how many txids_c holds */
    int64_t txid_chunks; /* txids.c: chunks of txids stored so far */

    /* request */
    char *handle, *offset, *cursor;
    bool live;
    bool refetch;    /* the next batch is a refetch: build it aside, then diff */
    bool cache_bust; /* add a cache-buster (after a must-refetch) */
    bool no_image;   /* an image of this shape failed: JSON only from then on (image.c) */
    char *expired_handle;

    /* batch */
    bool in_batch;
    bool shadow;           /* the batch writes the shadow table, not the replica table */
    bool fast;             /* the target was empty at batch start: no per-key tracking */
    bool append;           /* a snapshot chunk after a checkpoint: every change is an insert of a
                              new key, its row emitted at insert (rows.c) into app */
    esync_buf app;         /* append: "[" and the DATA_CHANGE's head, then the inserted rows
                            * (JSON, comma-separated): the event is then made in place */
    size_t app_head;       /* append: bytes of app before the first row (0: none yet) */
    int64_t n_app;         /* append: how many */
    size_t batch_bytes;    /* body bytes the open batch has applied (checkpoints) */
    int64_t batch_inserts; /* insert messages the open batch applied (esync_status syncRows) */
    size_t sync_bytes;     /* body bytes this initial sync's checkpoints committed (spacing) */
    esync_schema schema_b; /* schema of the batch's target table */
    esync_keymap touched;  /* changes.c: key -> row before the batch */
    int64_t *txids;        /* txids.c: the batch's txids (sorted and unique from commit on) */
    size_t ntxids, cap_txids;
    /* rows.c: statements on the target table, finalized when the target changes */
    sqlite3_stmt *st_ins, *st_del, *st_sel;
    sqlite3_stmt *st_group; /* fast/append: the insert of group_rows rows at once (rows.c) */
    int group_rows;         /* its rows (0: not built yet, 1: rows go one by one) */
    esync_val *pend;        /* fast/append: converted rows waiting for the group insert */
    int npend;              /* rows in pend */
    int pend_cols;          /* values per row in pend */
    struct {
        uint64_t mask;
        sqlite3_stmt *st;
    } st_upd[ESYNC_UPD_CACHE];

    /* errors and backoff (request.c) */
    int data_failures; /* consecutive batches rolled back for bad data */
    int http_failures; /* consecutive transient HTTP failures */
    uint32_t wait_ms;  /* pending backoff, handed out once by esync_next_request */
    bool stopped;
    bool unauthorized; /* a 401/403: ESYNC_ACT_AUTH until esync_shape_resume */
    char *error;
} esync_shape;

struct esync_queued;   /* a response waiting for the open batch (queue.h) */
struct esync_applying; /* a 200 partly applied (ingest.c, esync_set_ingest_slice) */

/* The engine (engine.c opens and closes it). */
struct esync {
    sqlite3 *db;     /* writer */
    sqlite3 *reader; /* read-only connection for esync_query */
    esync_shape **shapes;
    int nshapes;
    esync_shape *open; /* the shape whose batch holds the write transaction, or NULL */
    int images;        /* replica images attached for the open batch: esync_image_0.. (image.c),
                          detached when it commits or rolls back (batch.c) */
    struct esync_queued *queue, *queue_tail;
    char *version; /* stored schema version */
    uint64_t rng;  /* request.c's PRNG state */
    size_t max_body;
    size_t checkpoint_bytes;         /* esync_set_checkpoint_bytes: 0 = no checkpoints */
    size_t checkpoint_max;           /* esync_set_checkpoint_growth: 0 = fixed spacing */
    size_t slice_bytes;              /* esync_set_ingest_slice: 0 = a response in one call */
    struct esync_applying *applying; /* the response esync_ingest_continue goes on with */
    int errcode;
    char errmsg[512];
    esync_buf scratch;      /* borrowed results (request queries) */
    sqlite3_stmt *st_store; /* the esync_shapes upsert, run by every commit (batch.c) */
    sqlite3_stmt *st_txid;  /* the esync_txids upsert, run per txid of a commit (txids.c) */
    sqlite3_stmt *st_seen;  /* esync_txid_seen's lookup, on the reader (txids.c) */
    /* While set (query.c, around a prepare on the reader), the reader's authorizer (engine.c)
     * appends "<database>\0<table>\0" here for every table the statement reads ("" for the
     * database when SQLite names none). */
    esync_buf *reads;
    /* changes.c: the events written by the running esync_ingest, ESYNC_EVENT_RECORD fields
     * each (esync_ingest_events); nevx counts records */
    uint32_t *evx;
    size_t nevx, capevx;
};

/* Forgets the response esync_ingest_continue would go on with (ingest.c), without touching the
 * batch: for the callers that roll the batch back themselves. */
void esync__ingest_drop(esync *e);

#endif /* ESYNC_INTERNAL_H */
