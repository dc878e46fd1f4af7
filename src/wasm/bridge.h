/*
 * bridge.h — the esw_* shims that bridge.js calls where esync.h takes or returns structs.
 * Out-values go to the transfer block (esw_xfer): [0] pointer or action, [1] length or live,
 * [2] wait_ms, [3] query pointer (next_request) or the esync_open error (esw_open).
 * Out-buffers left there are owned by the caller and released with esync_free.
 */
#ifndef ESYNC_BRIDGE_H
#define ESYNC_BRIDGE_H

#include "esync.h"

uintptr_t *esw_xfer(void);
esync *esw_open(const char *path, double seed, double max_body);
int esw_next_request(esync *e, const char *shape);
int esw_ingest(esync *e, const char *shape, int status, const char *handle, const char *offset,
               const char *schema, const char *cursor, int up_to_date, const char *retry_after,
               uint8_t *body, size_t body_len, double now_ms);
int esw_status(esync *e);
int esw_shape_types(esync *e, const char *shape);
int esw_version_check(esync *e, const char *version);
int esw_reset(esync *e);
int esw_query(esync *e, const char *sql, const char *params);
int esw_replay(const char *fixture, size_t len, const char *path);
double esw_memory_used(void);
int esw_delete_db(const char *path);
double esw_memory_highwater(int reset);

/* The in-memory VFS for the IndexedDB persistence of memvfs.js (64-bit sizes as doubles). */
int esw_memvfs_write(const char *name, double offset, const void *data, size_t len);
unsigned char *esw_memvfs_chunk(const char *name, size_t index);
double esw_memvfs_size(const char *name);
size_t esw_memvfs_take_dirty(const char *name, uint32_t *out, size_t max);
int esw_memvfs_busy(const char *name);
double esw_memvfs_commits(void);
/* PRAGMA integrity_check on a connection of its own: "ok" or the problems (static buffer). */
const char *esw_integrity_check(const char *path);

#endif
