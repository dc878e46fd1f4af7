/*
 * batch.h — a batch's lifecycle (batch.c). A batch is every message of one shape from the first
 * response after a commit up to up-to-date, applied in one SQLite write transaction; only one is
 * open at a time (e->open). batch.c also owns the moves between a shape's layers (internal.h):
 * commit copies the batch into the committed layer and stores it, rollback puts the request
 * layer back to the committed one.
 */
#ifndef ESYNC_BATCH_H
#define ESYNC_BATCH_H

#include "internal.h"
#include "rows.h"

/* Opens the batch of s (BEGIN IMMEDIATE) unless it is open, and makes its target table ready
 * for resp_schema (or, when that is empty, the committed schema): the replica table, created or
 * recreated when the schema is new, or the shadow table for a refetch of a shape with rows.
 * ESYNC_ESCHEMA when the schema changes under a handle, ESYNC_EHEADERS before any schema.
 * append_ok: the response opening the batch is a snapshot chunk of inserts only; when the table
 * already holds rows of this initial sync (checkpoints), the batch is then an append batch
 * (internal.h). */
int esync__batch_begin(esync *e, esync_shape *s, const esync_schema *resp_schema, bool append_ok);
/* Commits the open batch of s at up-to-date: its change set (appended to out, a JSON array of
 * events being built), the committed layer (handle, offset, schema, rows, last sync = now) and
 * its metadata row, all in the batch's transaction. On error the transaction is still open and
 * the caller rolls it back. rv and tmp are scratch. A checkpoint commits the same way but the
 * shape stays in its initial sync (not live, last sync unchanged). */
int esync__batch_commit(esync *e, esync_shape *s, double now, bool checkpoint, esync_row_values *rv,
                        esync_buf *tmp, esync_buf *out);
/* esync__batch_commit with scratch of its own, for a commit outside a response being applied
 * (a replica image's, image.c and ingest.c). */
int esync__batch_commit_now(esync *e, esync_shape *s, double now, bool checkpoint, esync_buf *out);
/* Rolls back the open batch, if any: its statements are finalized (the batch's DDL is undone
 * too), and its shape's next request resumes from the last committed offset (from -1 when the
 * batch was a refetch). */
void esync__batch_rollback(esync *e);
/* The schema names of the replica images attached for the open batch (image.c): <name><i>, i
 * from 0 to e->images - 1, at most ESYNC_IMAGES_MAX. */
#define ESYNC_IMAGE_SCHEMA "esync_image_"
#define ESYNC_IMAGES_MAX 28 /* below SQLITE_MAX_ATTACHED (30, CMakeLists.txt) */
/* Detaches them (after the batch's commit or rollback: an attached database read in a
 * transaction cannot be detached before it ends) and turns off the cell size check that
 * image.c turned on for them. */
void esync__batch_detach_images(esync *e);

/* Writes the committed layer of s to its esync_shapes row (inside the caller's transaction). */
int esync__batch_store_committed(esync *e, esync_shape *s);
/* Puts the request layer of s back to the committed one: the next request is not live and
 * resumes from the stored handle and offset. False on OOM. */
bool esync__batch_reset_request(esync_shape *s);
/* Drops what s applied since its last commit: its open batch rolled back, or else (no batch,
 * no refetch under way) its request layer put back; the next request re-asks from there. */
void esync__batch_abandon(esync *e, esync_shape *s);

#endif
