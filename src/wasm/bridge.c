/*
 * bridge.c — the emscripten side of the C<->JS boundary (its JS half is bridge.js, appended to
 * the loader with --post-js). The public API of esync.h is exported as is; what JS cannot call
 * directly (structs in and out) goes through the small esw_* shims below, which pass scalars and
 * leave out-values in one transfer block that JS reads right after the call.
 *
 * Rule for JS: copy every out-buffer out of HEAPU8 before the next call into the module (a call
 * may grow memory, which detaches old views), then release it with esync_free.
 */
#include "bridge.h"

#include "esync_replay.h"
#include "memvfs.h"

#include <emscripten.h>
#include <sqlite3.h>
#include <string.h>

/* The transfer block (slots: ESW_XFER_SLOTS in bridge.h). */
static uintptr_t g_xfer[ESW_XFER_COUNT];

EMSCRIPTEN_KEEPALIVE uintptr_t *esw_xfer(void) { return g_xfer; }

EMSCRIPTEN_KEEPALIVE const char *esw_xfer_slots(void) {
#define ESW__XX(name) #name " "
    static const char names[] = ESW_XFER_SLOTS(ESW__XX);
#undef ESW__XX
    return names;
}

EMSCRIPTEN_KEEPALIVE const char *esw_action_name(int action) {
    switch (action) {
    case ESYNC_ACT_FETCH: return "fetch";
    case ESYNC_ACT_WAIT: return "wait";
    case ESYNC_ACT_IDLE: return "idle";
    case ESYNC_ACT_STOP: return "stop";
    case ESYNC_ACT_AUTH: return "auth";
    default: return NULL;
    }
}

EMSCRIPTEN_KEEPALIVE esync *esw_open(const char *path, double seed, double max_body) {
    esync_options o = {.path = path, .seed = (uint64_t)seed, .max_body_bytes = (size_t)max_body};
    esync *e = NULL;
    g_xfer[ESW_XFER_OPEN_ERROR] = (uintptr_t)(intptr_t)esync_open(&o, &e);
    return e;
}

/* esync_set_checkpoint_bytes (a double: bytes may exceed what an i32 carries). */
EMSCRIPTEN_KEEPALIVE void esw_set_checkpoint_bytes(esync *e, double bytes) {
    esync_set_checkpoint_bytes(e, bytes > 0 ? (size_t)bytes : 0);
}

/* esync_set_checkpoint_growth (a double, as above). */
EMSCRIPTEN_KEEPALIVE void esw_set_checkpoint_growth(esync *e, double max_bytes) {
    esync_set_checkpoint_growth(e, max_bytes > 0 ? (size_t)max_bytes : 0);
}

/* esync_next_request: returns the code; the request goes to the ACTION, LIVE, WAIT_MS and QUERY
 * (borrowed) slots. */
EMSCRIPTEN_KEEPALIVE int esw_next_request(esync *e, const char *shape) {
    esync_request rq;
    int rc = esync_next_request(e, shape, &rq);
    g_xfer[ESW_XFER_ACTION] = (uintptr_t)rq.action;
    g_xfer[ESW_XFER_LIVE] = (uintptr_t)rq.live;
    g_xfer[ESW_XFER_WAIT_MS] = (uintptr_t)rq.wait_ms;
    g_xfer[ESW_XFER_QUERY] = (uintptr_t)rq.query;
    g_xfer[ESW_XFER_IMAGE] = (uintptr_t)rq.image;
    return rc;
}

/* Leaves an out-buffer (owned by JS, released with esync_free) in the OUT_PTR / OUT_LEN slots. */
static int take(int rc, char *out, size_t len) {
    g_xfer[ESW_XFER_OUT_PTR] = (uintptr_t)out;
    g_xfer[ESW_XFER_OUT_LEN] = (uintptr_t)len;
    return rc;
}

/* esync_ingest with the response fields as arguments; the change sets (owned by the caller)
 * go to the OUT_PTR / OUT_LEN slots. image: the memvfs file of a replica image, or NULL (its
 * size is body_len, body NULL). */
EMSCRIPTEN_KEEPALIVE int esw_ingest(esync *e, const char *shape, int status, const char *handle,
                                    const char *offset, const char *schema, const char *cursor,
                                    int up_to_date, const char *retry_after, uint8_t *body,
                                    size_t body_len, double now_ms, const char *image) {
    /* The body is bridge.js's scratch copy in the wasm heap: the engine may parse it in place. */
    esync_response r = {.status = status,
                        .handle = handle,
                        .offset = offset,
                        .schema = schema,
                        .cursor = cursor,
                        .up_to_date = up_to_date,
                        .retry_after = retry_after,
                        .body = body,
                        .body_len = body_len,
                        .now_ms = now_ms,
                        .body_writable = body,
                        .image = image};
    char *out = NULL;
    size_t len = 0;
    return take(esync_ingest(e, shape, &r, &out, &len), out, len);
}

/* esync_ingest_continue, the change sets to the OUT_PTR / OUT_LEN slots as esw_ingest's. */
EMSCRIPTEN_KEEPALIVE int esw_ingest_continue(esync *e) {
    char *out = NULL;
    size_t len = 0;
    return take(esync_ingest_continue(e, &out, &len), out, len);
}

/* ESYNC_EVENT_RECORD, the numbers of a record of esw_ingest_events (bridge.js checks its own). */
EMSCRIPTEN_KEEPALIVE int esw_event_record(void) { return ESYNC_EVENT_RECORD; }

/* esync_ingest_events: returns the record count; the records go to the EVENTS slot (borrowed). */
EMSCRIPTEN_KEEPALIVE int esw_ingest_events(esync *e) {
    const uint32_t *pos = NULL;
    size_t n = 0;
    if (esync_ingest_events(e, &pos, &n) != ESYNC_OK) n = 0;
    g_xfer[ESW_XFER_EVENTS] = (uintptr_t)pos;
    return (int)n;
}

/* The out-buffer functions of esync.h, their buffer left in the transfer block. */
EMSCRIPTEN_KEEPALIVE int esw_status(esync *e) {
    char *o = NULL;
    size_t n = 0;
    return take(esync_status(e, &o, &n), o, n);
}
EMSCRIPTEN_KEEPALIVE int esw_shape_types(esync *e, const char *shape) {
    char *o = NULL;
    size_t n = 0;
    return take(esync_shape_types(e, shape, &o, &n), o, n);
}
EMSCRIPTEN_KEEPALIVE int esw_shape_first_request(const char *definition) {
    char *o = NULL;
    size_t n = 0;
    return take(esync_shape_first_request(definition, &o, &n), o, n);
}
EMSCRIPTEN_KEEPALIVE int esw_version_check(esync *e, const char *version) {
    char *o = NULL;
    size_t n = 0;
    return take(esync_version_check(e, version, &o, &n), o, n);
}
EMSCRIPTEN_KEEPALIVE int esw_reset(esync *e) {
    char *o = NULL;
    size_t n = 0;
    return take(esync_reset(e, &o, &n), o, n);
}
EMSCRIPTEN_KEEPALIVE int esw_query(esync *e, const char *sql, const char *params) {
    char *o = NULL;
    size_t n = 0;
    return take(esync_query(e, sql, params, &o, &n), o, n);
}
EMSCRIPTEN_KEEPALIVE int esw_query_tables(esync *e, const char *sql) {
    char *o = NULL;
    size_t n = 0;
    return take(esync_query_tables(e, sql, &o, &n), o, n);
}
EMSCRIPTEN_KEEPALIVE int esw_replay(const char *fixture, size_t len, const char *path) {
    char *o = NULL;
    size_t n = 0;
    return take(esync_replay(fixture, len, path, &o, &n), o, n);
}

/* Memory counters as doubles (64-bit integers do not cross the boundary without WASM_BIGINT). */
EMSCRIPTEN_KEEPALIVE double esw_memory_used(void) { return (double)esync_memory_used(); }
EMSCRIPTEN_KEEPALIVE double esw_memory_highwater(int reset) {
    return (double)esync_memory_highwater(reset);
}

/* Deletes a replica file and its journal from the in-memory VFS. */
EMSCRIPTEN_KEEPALIVE int esw_delete_db(const char *path) {
    char journal[512];
    sqlite3_snprintf((int)sizeof journal, journal, "%s-journal", path);
    esync_memvfs_delete(journal);
    return esync_memvfs_delete(path);
}

/* ---- the in-memory VFS, for memvfs.js (the IndexedDB persistence of the worker) ---- */

/* The VFS's chunk (and IndexedDB page) size, ESYNC_MEMVFS_CHUNK: memvfs.js reads it at load. */
EMSCRIPTEN_KEEPALIVE size_t esw_memvfs_chunk_size(void) { return ESYNC_MEMVFS_CHUNK; }

/* Loads bytes that storage already holds (not marked dirty). An SQLite code. */
EMSCRIPTEN_KEEPALIVE int esw_memvfs_write(const char *name, double offset, const void *data,
                                          size_t len) {
    /* An image is loaded before the first esync_open: SQLite (whose allocator the VFS uses) is
     * configured and initialized here if it was not yet. */
    int rc = esync_initialize();
    if (rc) return SQLITE_NOMEM;
    return esync_memvfs_write(name, (sqlite3_int64)offset, data, len);
}
/* A chunk for memvfs.js to copy `len` stored bytes into (esync_memvfs_load_chunk), or 0. */
EMSCRIPTEN_KEEPALIVE unsigned char *esw_memvfs_load_chunk(const char *name, size_t index,
                                                          size_t len) {
    if (esync_initialize()) return NULL; /* as esw_memvfs_write: before the first open */
    return esync_memvfs_load_chunk(name, index, len);
}
/* The chunk at index, or 0: a view JS copies before its next call into the module. */
EMSCRIPTEN_KEEPALIVE unsigned char *esw_memvfs_chunk(const char *name, size_t index) {
    return esync_memvfs_chunk(name, index);
}
EMSCRIPTEN_KEEPALIVE double esw_memvfs_size(const char *name) {
    return (double)esync_memvfs_size(name);
}
EMSCRIPTEN_KEEPALIVE size_t esw_memvfs_take_dirty(const char *name, uint32_t *out, size_t max) {
    return esync_memvfs_take_dirty(name, out, max);
}
EMSCRIPTEN_KEEPALIVE int esw_memvfs_busy(const char *name) { return esync_memvfs_busy(name); }
/* Lazy loading (esync_memvfs_absent, _is_absent, _missing). */
EMSCRIPTEN_KEEPALIVE double esw_memvfs_absent(const char *name, size_t first, size_t count,
                                              int on) {
    if (esync_initialize()) return -1; /* as esw_memvfs_write: it may create the file */
    return (double)esync_memvfs_absent(name, first, count, on);
}
EMSCRIPTEN_KEEPALIVE int esw_memvfs_is_absent(const char *name, size_t index) {
    return esync_memvfs_is_absent(name, index);
}
EMSCRIPTEN_KEEPALIVE double esw_memvfs_missing(void) { return (double)esync_memvfs_missing(); }
EMSCRIPTEN_KEEPALIVE double esw_memvfs_commits(void) { return (double)esync_memvfs_commits(); }

/* PRAGMA integrity_check of a database file, on a connection of its own (read-only); the rows
 * joined by '\n' ("ok" for a sound file), in a static buffer valid until the next call. For the
 * crash tests: the engine's reader refuses PRAGMA. */
EMSCRIPTEN_KEEPALIVE const char *esw_integrity_check(const char *path) {
    static char out[2048];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    size_t used = 0;
    out[0] = '\0';
    if (esync_initialize()) return "cannot check: out of memory";
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
        sqlite3_snprintf((int)sizeof out, out, "cannot check: %s",
                         db ? sqlite3_errmsg(db) : "no memory");
    } else {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && used + 2 < sizeof out) {
            const char *row = (const char *)sqlite3_column_text(st, 0);
            sqlite3_snprintf((int)(sizeof out - used), out + used, "%s%s", used ? "\n" : "",
                             row ? row : "");
            used += strlen(out + used);
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            sqlite3_snprintf((int)sizeof out, out, "cannot check: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}
