/* The gzip of snapshot chunks (snap.<k>.gz, see shape/storage.h), made by one background thread
 * of low priority (nice 10) once the snapshot is finished, so that compressing a new shape's
 * snapshot does not slow the snapshot itself (compressing as it was written made a new 1M-row
 * shape's initial sync 10-15% longer, each chunk compressed as it completed ~25%; after the
 * snapshot 3-7%): a chunk is served uncompressed until its gzip is there.
 *
 * A job compresses chunk k's answer body ("[" + the file without its last ",\n" + "]") into
 * snap.<k>.gz.part, syncs it and renames it to snap.<k>.gz: a snap.<k>.gz is always whole and
 * durable. A shape directory removed meanwhile only makes the job fail (esync__gzip_lock is held
 * around the removal, and around the job's creation and rename of its files).
 */
#ifndef ESYNC_SHAPE_GZIP_H
#define ESYNC_SHAPE_GZIP_H

#include <stdbool.h>

/* Queues the gzip of chunk k of the shape in dir at zlib level (1..9); the thread starts on the
 * first job. A chunk whose gzip exists is skipped. */
void esync__gzip_enqueue(const char *dir, int k, int level);
/* Compresses chunk k now, on this thread. 0, or -1 (no file written). stop, when not NULL, is
 * checked as it goes: true abandons the job. */
int esync__gzip_chunk(const char *dir, int k, int level, const volatile bool *stop);
/* Waits until every queued job is done (tests). */
void esync__gzip_drain(void);
/* Drops the queued jobs, abandons the current one and ends the thread (a later job starts it
 * again). */
void esync__gzip_stop(void);
/* Held while a shape directory's files are removed. */
void esync__gzip_lock(void);
void esync__gzip_unlock(void);

#endif
