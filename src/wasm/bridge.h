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
               const uint8_t *body, size_t body_len, double now_ms);
int esw_status(esync *e);
int esw_shape_types(esync *e, const char *shape);
int esw_version_check(esync *e, const char *version);
int esw_reset(esync *e);
int esw_query(esync *e, const char *sql, const char *params);
int esw_replay(const char *fixture, size_t len, const char *path);
double esw_memory_used(void);
int esw_delete_db(const char *path);
double esw_memory_highwater(int reset);

#endif
