/* One shape's log on disk: its snapshot chunks and its change log, in a directory of its own
 * (<shapes dir>/<handle>/), so that a client can resume from any offset it was given, also after
 * a server restart.
 *
 * Files:
 *   meta.json     the shape's definition and snapshot info (written by the shape service through
 *                 esync__storage_write_meta: temp file + fsync + rename, so it is whole or absent)
 *   snap.<k>      snapshot chunk k (k = 0, 1, ...): JSON messages, each followed by ",\n"; the
 *                 last chunk ends with the snapshot-end control message. Written once, in
 *                 order; chunk k is complete (never written again) once chunk k+1 exists, so it
 *                 can be served while the snapshot goes on. Chunk k holds at most
 *                 esync__storage_snap_limit(chunk_bytes, k) bytes (or one message): the first
 *                 chunks are small, so the first answer of a new shape goes out early.
 *   snap.<k>.gz   the gzip of chunk k's response body ("[" + its messages joined by ",\n" + "]"),
 *                 made once the snapshot is finished by the background thread of shape/gzip.h when
 *                 gzip is on (esync__storage_snap_gzip): written as snap.<k>.part, synced,
 *                 renamed; absent until then, when gzip is off or when it failed (the chunk is
 *                 then served uncompressed)
 *   snap.<k>.img  chunk k's rows as a replica image (esync_image_build of src/core: a SQLite
 *                 database of one table made from the shape's electric-schema), made by the same
 *                 thread as soon as the chunk is complete when images are on
 *                 (esync__storage_snap_images): written as snap.<k>.part, renamed to
 *                 snap.<k>.img.new (served from then on), synced, renamed (an .img.new left by a
 *                 crash is removed at open: its image is made again); and
 *   snap.<k>.img.gz  its gzip, made with the chunk's gzip; or
 *   snap.<k>.img.fail  (empty) when the chunk cannot be made into an image
 *   log.json      change messages, each followed by ",\n", appended a transaction at a time
 *   log.idx       one 32-byte record per message of log.json: offset (tx, op), end position in
 *                 log.json, flags (ESYNC_STORAGE_LAST: last message of its transaction for this
 *                 shape; ESYNC_STORAGE_CHUNK_END: a log chunk ends after it)
 *
 * Invariants: the in-memory index only ever holds whole transactions (a transaction is written,
 * then published), so readers never see half of one; on open, a torn tail (index records past
 * the last ESYNC_STORAGE_LAST, data past the last indexed byte) is cut off, and the replication
 * stream re-delivers whatever was cut (the slot's flush position never passes what was synced).
 * Offsets strictly increase along the log.
 *
 * Not thread-safe: the shape service serializes every call under its lock, except that the
 * snapshot worker writes a new shape's snapshot without it (the snapshot functions touch only
 * the snap_* state) while others open its complete chunks by name (esync__storage_snap_open). Reading functions
 * return positions; the bytes are read with esync__storage_pread (pread, safe without the lock as
 * long as the esync_storage lives).
 */
#ifndef ESYNC_SERVER_SHAPE_STORAGE_H
#define ESYNC_SERVER_SHAPE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ESYNC_STORAGE_LAST 1u
#define ESYNC_STORAGE_CHUNK_END 2u

/* A log position: (tx, op). tx = commit LSN; op = 0, 2, 4... (+1 for the insert half of a key
 * change). The snapshot region is tx 0: (0, k) is chunk k, (0, ESYNC_OP_INF) its end. */
#define ESYNC_OP_INF UINT64_MAX
typedef struct esync_offset {
    uint64_t tx, op;
} esync_offset;

typedef struct esync_storage_entry {
    esync_offset off;
    uint64_t end;   /* end position in log.json (the start is the previous entry's end) */
    uint64_t flags; /* ESYNC_STORAGE_* */
} esync_storage_entry;

typedef struct esync_storage esync_storage;

/* Creates the directory (which must not exist) and an empty log; chunk_bytes (> 0) is the size
 * at which snapshot and log chunks end. Returns NULL with a message. */
esync_storage *esync__storage_create(const char *dir, uint64_t chunk_bytes, char *err,
                                     size_t errsz);
/* Opens an existing shape directory, cutting a torn tail. NULL with a message when unusable. */
esync_storage *esync__storage_open(const char *dir, uint64_t chunk_bytes, char *err, size_t errsz);
/* Closes the files and frees; with remove != 0 also deletes the directory and its files. */
void esync__storage_close(esync_storage *l, int remove);
const char *esync__storage_dir(const esync_storage *l);

/* --- snapshot -------------------------------------------------------------------------------- */
/* The size of the first snapshot chunk; each next one is 4 times larger, up to chunk_bytes. */
#define ESYNC_STORAGE_FIRST_CHUNK (64u << 10)
/* Appended to snap.<k>.img while that image is synced (shape/gzip.c): already served, removed
 * at open (not known to be whole on disk). */
#define ESYNC_STORAGE_IMAGE_UNSYNCED ".new"
/* The byte limit of snapshot chunk k. */
uint64_t esync__storage_snap_limit(uint64_t chunk_bytes, int k);
/* Appends one message (JSON text, no separator) to the current snapshot chunk, starting a new
 * chunk when the current one would pass its limit. Writes are buffered (64 KiB); a chunk's bytes
 * are all in its file when the next chunk starts. Returns 0 or -1 (I/O error, errno set). */
int esync__storage_snap_add(esync_storage *l, const char *json, size_t len);
/* The number of complete chunks: while the snapshot is written, the chunks before the current
 * one; once finished, all of them. */
int esync__storage_snap_complete(const esync_storage *l);
/* Appends the final message (snapshot-end) and closes the last chunk (not synced). Returns the
 * number of chunks (>= 1), or -1. */
int esync__storage_snap_finish(esync_storage *l, const char *json, size_t len);
/* fdatasync of every chunk of a finished snapshot, and of the directory. 0 or -1. Reads only
 * what no longer changes once finished (safe without the service lock). */
int esync__storage_snap_sync(const esync_storage *l);
/* Number of chunks of a finished snapshot (0 before esync__storage_snap_finish, or after open when
 * no chunk exists). */
int esync__storage_snap_chunks(const esync_storage *l);
/* Opens chunk k for reading; returns an fd (the caller closes it) and its size, or -1. The caller
 * knows chunk k is complete (esync__storage_snap_complete, or the count it published). */
int esync__storage_snap_open(const esync_storage *l, int k, uint64_t *size);
/* The gzip of complete chunk k's response body (snap.<k>.gz): an fd and its size, or -1 when
 * there is none (gzip off when the chunk was written, or it failed). */
int esync__storage_snap_open_gz(const esync_storage *l, int k, uint64_t *size);
/* Compress each snapshot chunk's response body at this zlib level (1..9; 0: no gzip) once the
 * snapshot is finished (esync__storage_snap_finish queues them to shape/gzip.h). */
void esync__storage_snap_gzip(esync_storage *l, int level);
/* The replica image of complete chunk k (snap.<k>.img, or its gzip snap.<k>.img.gz with gz): an
 * fd and its size, or -1 when there is none (images off, not made yet, or failed). */
int esync__storage_snap_open_image(const esync_storage *l, int k, bool gz, uint64_t *size);
/* esync__storage_snap_limit for this log's chunk size. */
uint64_t esync__storage_snap_chunk_limit(const esync_storage *l, int k);
/* Whether making chunk k's image failed (snap.<k>.img.fail: it will not exist). */
bool esync__storage_snap_image_failed(const esync_storage *l, int k);
/* Make each snapshot chunk's replica image (and its gzip, with gzip on) once the snapshot is
 * finished, under this electric-schema (copied; NULL: no images). */
void esync__storage_snap_images(esync_storage *l, const char *schema);
/* Whether chunks get a gzip (level > 0) and an image made in the background. */
bool esync__storage_snap_makes_gzip(const esync_storage *l);
bool esync__storage_snap_makes_images(const esync_storage *l);
/* Queues the files (gzip, image, image gzip) of every chunk of a finished snapshot that lacks
 * one (a shape stored by a server without them, or whose jobs were not finished when it
 * stopped). */
void esync__storage_snap_gzip_missing(const esync_storage *l);

/* --- change log ------------------------------------------------------------------------------ */
/* Appends one transaction: data holds n messages, each followed by ",\n"; ends[i] is the end of
 * message i within data, offs[i] its offset. The last message is flagged ESYNC_STORAGE_LAST.
 * Written to the page cache (not synced) and then published to readers. Returns 0 or -1. */
int esync__storage_append(esync_storage *l, const char *data, size_t len, const esync_offset *offs,
                          const size_t *ends, size_t n);
/* fdatasync of both log files (the directory entries were synced at creation). 0 or -1. */
int esync__storage_sync(esync_storage *l);
/* Duplicates the data and index fds (for a sync outside the lock). Returns 0 or -1. */
int esync__storage_dup_fds(const esync_storage *l, int *data_fd, int *idx_fd);

size_t esync__storage_count(const esync_storage *l);
const esync_storage_entry *esync__storage_entries(const esync_storage *l);
/* The index of the first entry whose offset is greater than o (esync__storage_count when none). */
size_t esync__storage_after(const esync_storage *l, esync_offset o);
/* From entry `first`: the index one past the last entry of the response that starts there
 * (stopping after the first chunk end), or `first` when there is nothing. */
size_t esync__storage_chunk_stop(const esync_storage *l, size_t first);
/* Byte range [start, end) of entries [first, stop). */
void esync__storage_range(const esync_storage *l, size_t first, size_t stop, uint64_t *start,
                          uint64_t *end);
/* Reads [start, start+len) of log.json into buf. Returns 0 or -1. */
int esync__storage_pread(const esync_storage *l, char *buf, uint64_t start, size_t len);
/* A new fd on log.json (the caller closes it), or -1. */
int esync__storage_log_fd(const esync_storage *l);

/* --- metadata -------------------------------------------------------------------------------- */
/* Atomically replaces meta.json. Returns 0 or -1. */
int esync__storage_write_meta(esync_storage *l, const char *json, size_t len);
/* Reads <dir>/meta.json into a malloc'ed NUL-terminated string, or NULL. */
char *esync__storage_read_meta(const char *dir);

/* Offset order: -1, 0, +1. */
int esync__storage_offset_cmp(esync_offset a, esync_offset b);
/* "<tx>_<op>" or "<tx>_inf" into buf (at least 48 bytes). */
void esync__storage_offset_text(esync_offset o, char *buf, size_t n);

#endif
