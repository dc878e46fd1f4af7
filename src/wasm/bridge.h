/*
 * bridge.h — the esw_* shims that bridge.js calls where esync.h takes or returns structs.
 * Out-values go to the transfer block (esw_xfer), one slot per value, named by ESW_XFER_SLOTS;
 * bridge.js keeps an object of the same names and checks at load, against esw_xfer_slots(), that
 * both sides agree. Out-buffers left there are owned by the caller and released with esync_free.
 */
#ifndef ESYNC_BRIDGE_H
#define ESYNC_BRIDGE_H

#include "esync.h"

/* The transfer block's slots, in order (a slot is a uintptr_t: 32 bits in wasm32). */
#define ESW_XFER_SLOTS(XX)                                                                         \
    XX(OUT_PTR)    /* an out-buffer (esync_free it), or NULL */                                    \
    XX(OUT_LEN)    /* its length */                                                                \
    XX(ACTION)     /* esw_next_request: the esync_action */                                        \
    XX(LIVE)       /* esw_next_request: 1 for a live long-poll */                                  \
    XX(WAIT_MS)    /* esw_next_request: the wait of ESYNC_ACT_WAIT */                              \
    XX(QUERY)      /* esw_next_request: the query string of ESYNC_ACT_FETCH (borrowed) */          \
    XX(OPEN_ERROR) /* esw_open: esync_open's code when it returned NULL */                         \
    XX(EVENTS)     /* esw_ingest_events: the records (borrowed) */                                 \
    XX(IMAGE)      /* esw_next_request: 1 when the answer may be a replica image */

typedef enum {
#define ESW__XX(name) ESW_XFER_##name,
    ESW_XFER_SLOTS(ESW__XX)
#undef ESW__XX
        ESW_XFER_COUNT
} esw_xfer_slot;

uintptr_t *esw_xfer(void);
/* The slot names in order, space-separated ("OUT_PTR OUT_LEN ..."), for bridge.js's check. */
const char *esw_xfer_slots(void);
/* The name bridge.js gives an esync_action ("fetch", "wait", "idle", "stop", "auth"), or NULL. */
const char *esw_action_name(int action);

esync *esw_open(const char *path, double seed, double max_body);
void esw_set_checkpoint_bytes(esync *e, double bytes);
void esw_set_checkpoint_growth(esync *e, double max_bytes);
int esw_next_request(esync *e, const char *shape);
int esw_event_record(void);
int esw_ingest_events(esync *e);
int esw_ingest_continue(esync *e);
int esw_ingest(esync *e, const char *shape, int status, const char *handle, const char *offset,
               const char *schema, const char *cursor, int up_to_date, const char *retry_after,
               uint8_t *body, size_t body_len, double now_ms, const char *image);
int esw_status(esync *e);
int esw_shape_types(esync *e, const char *shape);
int esw_shape_first_request(const char *definition);
int esw_version_check(esync *e, const char *version);
int esw_reset(esync *e);
int esw_query(esync *e, const char *sql, const char *params);
int esw_query_tables(esync *e, const char *sql);
int esw_replay(const char *fixture, size_t len, const char *path);
double esw_memory_used(void);
int esw_delete_db(const char *path);
double esw_memory_highwater(int reset);

/* The in-memory VFS for the IndexedDB persistence of memvfs.js (64-bit sizes as doubles). */
size_t esw_memvfs_chunk_size(void);
int esw_memvfs_write(const char *name, double offset, const void *data, size_t len);
unsigned char *esw_memvfs_load_chunk(const char *name, size_t index, size_t len);
unsigned char *esw_memvfs_chunk(const char *name, size_t index);
double esw_memvfs_size(const char *name);
size_t esw_memvfs_take_dirty(const char *name, uint32_t *out, size_t max);
int esw_memvfs_busy(const char *name);
double esw_memvfs_absent(const char *name, size_t first, size_t count, int on);
int esw_memvfs_is_absent(const char *name, size_t index);
double esw_memvfs_missing(void);
double esw_memvfs_commits(void);
/* PRAGMA integrity_check on a connection of its own: "ok" or the problems (static buffer). */
const char *esw_integrity_check(const char *path);

#endif
