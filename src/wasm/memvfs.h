/*
 * memvfs.h — the in-memory SQLite VFS of the browser build (see memvfs.c for the invariants).
 * The persistence layer (the worker's IndexedDB flusher) reads and loads database images through
 * these functions; files are named as SQLite opened them.
 */
#ifndef ESYNC_MEMVFS_H
#define ESYNC_MEMVFS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define ESYNC_MEMVFS_NAME "esync-mem"
/* Bytes per chunk: SQLite's default page size, so a page is one chunk and one IndexedDB record.
 * The one definition: memvfs.js reads it through esw_memvfs_chunk_size(). */
#define ESYNC_MEMVFS_CHUNK 4096

/* Registers the VFS (as the default when make_default). SQLITE_OK or an SQLite code. */
int esync_memvfs_register(int make_default);
/* Writes bytes into a file (created if missing) without marking them dirty: loading an image
 * that storage already holds. */
int esync_memvfs_write(const char *name, sqlite3_int64 offset, const void *data, size_t len);
/* Chunk `index` of file `name` (created when missing) to be filled by the caller with `len`
 * stored bytes (1..CHUNK; the rest of the chunk is zeroed here): not dirty, the file at least
 * index * CHUNK + len bytes long. NULL without memory. Loads an image with one copy. */
unsigned char *esync_memvfs_load_chunk(const char *name, size_t index, size_t len);
/* The chunk at index (NULL when never written, or ABSENT). Borrowed until the next write. */
unsigned char *esync_memvfs_chunk(const char *name, size_t index);
/* File size in bytes, or -1 when the file does not exist. */
sqlite3_int64 esync_memvfs_size(const char *name);
/* Moves up to max dirty chunk indexes into out, clearing them; returns how many were dirty in
 * all (more than max means call again). */
size_t esync_memvfs_take_dirty(const char *name, uint32_t *out, size_t max);
/* Write transactions committed on main databases since start (a commit ends when the writer
 * drops its exclusive lock). */
uint64_t esync_memvfs_commits(void);
/* 1 while the file holds bytes of a transaction that has not committed, 0 otherwise: a
 * connection is at PENDING/EXCLUSIVE (SQLite writes a database file only there: at COMMIT, or
 * earlier when a transaction outgrows its page cache and spills) or a batch-atomic write is in
 * progress. A connection that only holds RESERVED has written nothing yet. A persistence layer
 * that must only ever store whole commits takes the dirty set only when this is 0; -1 when the
 * file does not exist. */
int esync_memvfs_busy(const char *name);
/* Lazy loading. on: the chunks of [first, first + count) that hold nothing become ABSENT (held
 * by storage, not loaded yet), the file (created when missing) at least as long as the range; a
 * read, a write of part of one or a truncation that meets one fails with SQLITE_IOERR_READ /
 * _WRITE / _TRUNCATE, changes nothing and records the chunk's index for esync_memvfs_missing;
 * a write of the whole chunk replaces it (a rolled back batch makes it ABSENT again), and
 * esync_memvfs_load_chunk fills one. off: the ABSENT chunks of the range become empty (read as
 * zeros: storage had no record for them). count 0 changes nothing. Returns how many chunks of
 * the file are ABSENT after (0 when it does not exist), -1 without memory. */
long esync_memvfs_absent(const char *name, size_t first, size_t count, int on);
/* 1 when chunk `index` of file `name` is ABSENT, else 0. */
int esync_memvfs_is_absent(const char *name, size_t index);
/* The index of the ABSENT chunk the last failed access met (then forgotten), or -1. */
sqlite3_int64 esync_memvfs_missing(void);
/* Deletes a file (deferred until its last handle closes). */
int esync_memvfs_delete(const char *name);

#endif
