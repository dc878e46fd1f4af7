/* A shape's snapshot, consistent with the replication stream (docs/protocol.md §7.2,
 * docs/replication.md §1 "Dynamic shapes").
 *
 * In one REPEATABLE READ READ ONLY transaction: `SELECT pg_current_snapshot(), pg_current_wal_lsn()`,
 * then one `COPY (SELECT …) TO STDOUT` of every row that passes the shape's where clause (rendered
 * by where.c with placeholders, whose values go into the COPY as escaped literals, since COPY
 * takes no parameters), each column as its text output (built-in types whose `::text` is their
 * output function as they are, the others through `col::text`; bpchar through concat() so its
 * padding is kept), streamed row by row (COPY's text lines, escapes undone) into the shape's
 * snapshot chunks, which end with the snapshot-end control message (xmin, xmax, xip_list). The chunks are not synced
 * here: the caller syncs them (esync__storage_snap_sync) before it records the shape as stored.
 *
 * Before the SELECT, `EXPLAIN (FORMAT JSON)` of the same query gives the planner's row estimate
 * (reltuples times the where clause's selectivity), reported through the hooks so the first
 * answers can carry it. The hooks also hear of each complete chunk (the service serves it at
 * once, while the snapshot goes on) and can stop the snapshot (server stopping, shape gone).
 *
 * The caller must have added the table to the publication (committed) and registered the shape
 * with the replication consumer before calling: then every transaction this snapshot cannot see
 * reaches the shape through the stream, and esync__snapshot_visible() drops the ones it can see.
 */
#ifndef ESYNC_SERVER_SHAPE_SNAPSHOT_H
#define ESYNC_SERVER_SHAPE_SNAPSHOT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shape/msg.h"
#include "shape/storage.h"

typedef struct esync_snapinfo {
    uint64_t xmin, xmax; /* xid8 */
    int nxip;
    uint64_t *xip; /* malloc'ed */
    uint64_t lsn;  /* pg_current_wal_lsn() in the snapshot's transaction */
    /* filled by esync__snapshot_run: where the time went (ms), for the log */
    uint64_t rows, bytes;
    int chunks;
    double ms_total, ms_first_row, ms_pg, ms_encode, ms_write;
} esync_snapinfo;

/* Called by esync__snapshot_run on the snapshot's thread, without any lock held. */
typedef struct esync_snapshot_hooks {
    void *ctx;
    /* the planner's row estimate (>= 0), before the first row */
    void (*estimate)(void *ctx, int64_t rows);
    /* chunks [0, complete) are written whole; rows: rows written so far. Returns false to stop
     * the snapshot (it then fails with "cancelled"). Also called every few thousand rows with
     * the same count, so a stop is seen soon. */
    bool (*progress)(void *ctx, int complete, uint64_t rows);
} esync_snapshot_hooks;

/* Parses pg_snapshot text "xmin:xmax:xip1,xip2". Returns 0 or -1. */
int esync__snapshot_info_parse(const char *text, esync_snapinfo *s);
void esync__snapshot_info_free(esync_snapinfo *s);

/* True when the transaction xid (32 bits, from pgoutput Begin) is visible in the snapshot, i.e.
 * its changes are already in it: xid < xmin, or xid < xmax and not in xip (modulo 2^32). */
bool esync__snapshot_visible(const esync_snapinfo *s, uint32_t xid);
/* True when xid is at or past xmax: no later transaction can be visible. */
bool esync__snapshot_past(const esync_snapinfo *s, uint32_t xid);

/* Runs the snapshot of view v into log (its chunks). On success returns 0 and fills info.
 * Returns -1 with a message in err on failure (*conn_lost when the connection is gone); the
 * transaction is rolled back. */
int esync__snapshot_run(PGconn *conn, const esync_shape_view *v, esync_storage *log,
                        const esync_snapshot_hooks *hooks, esync_snapinfo *info, bool *conn_lost,
                        char *err, size_t errsz);

/* The "Plan Rows" of the top plan node in EXPLAIN (FORMAT JSON) output, or -1. */
int64_t esync__snapshot_plan_rows(const char *explain_json);

/* The snapshot-end control message for info (malloc'ed JSON). */
char *esync__snapshot_end_json(const esync_snapinfo *info);

#endif
