/* The logical replication consumer: one libpq replication connection on a thread of its own.
 *
 * On (re)connect: the publication (created empty; the shape service adds tables), the permanent
 * slot (created with NOEXPORT_SNAPSHOT when missing, reused when a previous run left it: a slot is
 * never piled up), then START_REPLICATION ... LOGICAL 0/0 (proto_version '1'), which resumes from
 * the slot's confirmed flush position. The session pins the display settings of
 * docs/protocol.md §2.4.1 so that values match the snapshots'.
 *
 * The stream is decoded (pgoutput.h) and handed to the sink, in commit order, one transaction at a
 * time: begin, its changes (rows in relation column order, unchanged TOASTed values taken from the
 * old row, which REPLICA IDENTITY FULL provides), truncates, commit. Keepalives are answered; a
 * standby status update goes out at least every second, reporting as flushed what the sink says
 * is durable (sink->durable). Lost connections are retried with a short backoff, for ever.
 *
 * All sink callbacks run on the replication thread.
 */
#ifndef ESYNC_SERVER_REPL_H
#define ESYNC_SERVER_REPL_H

#include <stdbool.h>
#include <stdint.h>

#include "pg/pgoutput.h"
#include "pg/row.h"

typedef struct esync_repl esync_repl;

typedef struct esync_repl_sink {
    void *ctx;
    /* Connected, slot known. created: the slot did not exist (so nothing stored before can be
     * trusted); confirmed: its confirmed_flush_lsn. */
    void (*started)(void *ctx, bool created, uint64_t confirmed);
    void (*disconnected)(void *ctx, const char *why);
    void (*begin)(void *ctx, uint32_t xid, uint64_t final_lsn);
    /* A Relation message (schema of relid as of now). */
    void (*relation)(void *ctx, const esync_pgo_msg *m);
    /* op 'I' 'U' 'D'; rows in relation column order (ncols values); ordinal counts the changes of
     * the transaction from 0. */
    void (*change)(void *ctx, uint32_t relid, char op, const esync_row *old_row,
                   const esync_row *new_row, int ncols, uint64_t ordinal);
    void (*truncate)(void *ctx, uint32_t relid);
    void (*commit)(void *ctx, uint64_t commit_lsn, uint64_t end_lsn);
    /* Makes everything up to `processed` durable; returns the position that may be reported as
     * flushed (<= processed). */
    uint64_t (*durable)(void *ctx, uint64_t processed);
} esync_repl_sink;

/* Starts the thread. url: the database (libpq URI or keywords). slot and publication: names made
 * of [a-z0-9_] only. owner: "<host>:<shapes dir>", stored as the publication's comment so that a
 * later server can tell an orphan (same host, directory gone) and drop its slot and publication. */
esync_repl *esync_repl_start(const char *url, const char *slot, const char *publication,
                             const char *owner, const esync_repl_sink *sink);
/* Drops the slot and then the publication (the replication thread must be stopped): a server
 * that stores no shape keeps nothing in the database. Returns 0, or -1 when Postgres refused (the
 * slot stayed, and so does the publication: a slot is never left without it). */
int esync_repl_drop(const char *url, const char *slot, const char *publication);
/* True while streaming. */
bool esync_repl_connected(esync_repl *r);
/* Stops the thread (reporting a last durable position first) and frees r. */
void esync_repl_stop(esync_repl *r);

/* The replication session's options string (the §2.4.1 settings), for other connections too. */
extern const char esync_repl_session_options[];

#endif
