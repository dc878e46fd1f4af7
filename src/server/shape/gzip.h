/* The files made from snapshot chunks (see shape/storage.h), by one background thread of low
 * priority (nice 10):
 *  - each chunk's replica image (snap.<k>.img, esync_image_build of src/core), as soon as the
 *    chunk is complete: an urgent job (esync__gzip_enqueue_image), run before any other, never
 *    held, at nice 0, since a client syncing the new shape may be waiting for it (serve.c); an
 *    image that cannot be made leaves snap.<k>.img.fail (no client waits for it, no job tries
 *    again); its gzip (snap.<k>.img.gz) with the JSON's, after the snapshot;
 *  - each chunk's gzip (snap.<k>.gz) once the snapshot is finished, so that compressing a new
 *    shape's snapshot does not slow the snapshot itself (compressing as it was written made a
 *    new 1M-row shape's initial sync 10-15% longer, each chunk compressed as it completed ~25%;
 *    after the snapshot 3-7%): a chunk is served uncompressed until its gzip is there.
 *
 * Each file is written as snap.<k>.part, synced and renamed: a file of these names is always
 * whole and durable. (An image goes through snap.<k>.img.new between the two, served already
 * while it is synced; storage.c removes one a crash left.) A shape directory removed meanwhile
 * only makes the job fail (esync__gzip_lock is held around the removal, and around the job's
 * creation and rename of its files; the image builder, which opens snap.<k>.part by its name
 * without the lock, may make it again in the middle of a removal, so before its rename the job
 * checks, under the lock, that the chunk is still there, and else removes that file and the
 * directory). This thread is the only one of the server that uses SQLite (built
 * single-threaded).
 *
 * The other jobs are held back while a snapshot is written or read for the first time
 * (esync__gzip_hold): the snapshot writer, Postgres and the first client of a new shape then
 * have the CPU to themselves (on two cores, this work done meanwhile made a new 100k-row shape's
 * initial sync in Chromium ~9% longer, though it runs at nice 10: 1,510 vs 1,377 ms, medians of
 * 4 alternating runs). Such a job waits at most ESYNC_GZIP_HOLD_MAX_MS from its queueing, so a
 * server that is never idle still makes its files.
 */
#ifndef ESYNC_SHAPE_GZIP_H
#define ESYNC_SHAPE_GZIP_H

#include <stdbool.h>

/* Queues the files of chunk k of the shape in dir: with the shape's electric-schema (NULL: none)
 * its image and, at zlib level (1..9; 0: none), the image's gzip; with json_gz the chunk's own
 * gzip; the thread starts on the first job. Files that exist are skipped. */
void esync__gzip_enqueue(const char *dir, int k, int level, const char *schema, bool json_gz);
/* Queues chunk k's image alone (schema not NULL), as an urgent job (see above). */
void esync__gzip_enqueue_image(const char *dir, int k, const char *schema);
/* Makes chunk k's files now, on this thread, in that order (the image first), each through
 * snap.<k>.part (synced, renamed). 0, or -1 (the file that failed and those after it not
 * written). stop, when not NULL, is checked as it goes: true abandons the job. */
int esync__gzip_chunk(const char *dir, int k, int level, const char *schema, bool json_gz,
                      const volatile bool *stop);
#define ESYNC_GZIP_HOLD_MAX_MS 10000
#define ESYNC_GZIP_HOLD_MS 500 /* a hold's length, renewed as the snapshot is written and read */
/* No job starts in the next ms milliseconds (a later hold extends it; see above). */
void esync__gzip_hold(unsigned ms);
/* Waits until every queued job is done (tests). */
void esync__gzip_drain(void);
/* Drops the queued jobs, abandons the current one and ends the thread (a later job starts it
 * again). */
void esync__gzip_stop(void);
/* Tests: called by an image job between the build of chunk k's image in dir and its rename
 * (the moment a removal of the directory may come; NULL: nothing). */
extern void (*esync__gzip_after_image_build)(const char *dir, int k);
/* Held while a shape directory's files are removed. */
void esync__gzip_lock(void);
void esync__gzip_unlock(void);

#endif
