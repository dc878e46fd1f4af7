/*
 * esync.h — the electric-sync core engine. This header is the spec.
 *
 * The engine keeps a SQLite replica of one or more Electric shapes. It is sans-I/O: the caller
 * performs every HTTP request and hands the engine each response (status, the electric-* headers,
 * the body bytes); the engine applies it to the replica and answers with the change sets it
 * committed and, through esync_next_request(), what to request next. The same sources build
 * natively and to WebAssembly; nothing here reads a clock, a socket or the process environment.
 *
 * Conventions
 *  - Every function that can fail returns an int: ESYNC_OK (0) or a negative ESYNC_E* code. The
 *    message of the last error is kept per engine (esync_errmsg), never in a global.
 *  - Out-buffers (char **out, size_t *out_len) are allocated by the engine, NUL-terminated, and
 *    owned by the caller, who frees them with esync_free(). On error *out is set to NULL.
 *  - Borrowed `const char *` results stay valid until the next call on the same engine.
 *  - The engine never aborts the process on bad input or out-of-memory; it returns an error.
 *  - Not thread-safe: one engine is used by one thread at a time.
 *
 * Transactions and durability
 *  - A batch is every message of a shape from the first response after a commit up to the
 *    response that carries up-to-date (the `electric-up-to-date` header or an `up-to-date`
 *    control message). A batch is applied in one SQLite write transaction that also updates the
 *    shape's metadata (handle, offset, schema, row count, last sync time); it commits at
 *    up-to-date. A failed response rolls its whole batch back: the replica and the stored offset
 *    never hold half a batch, and the offset never runs ahead of the rows.
 *  - Only one batch is open at a time. A response of another shape that arrives meanwhile is
 *    copied and applied right after the open batch commits or rolls back (its change sets are
 *    returned by the ingest call that drained it).
 *  - Readers (esync_query) use a second, read-only connection and see committed state only.
 *
 * Transaction ids (txids)
 *  - Every change message of the shape protocol carries headers.txids: the Postgres transaction
 *    ids whose changes it is. The engine collects those of a batch and, in the batch's commit
 *    transaction, stores them in its own tables, at least the ESYNC_TXIDS_KEPT most recent per
 *    shape (and fewer than ESYNC_TXIDS_KEPT + 32: older ones are dropped as new ones come); they
 *    survive a reopen, esync_reset and version wipes (the rows they brought come back with the
 *    next snapshot). Snapshot messages carry none. The change events of the commit
 *    report them (esync_ingest), and esync_txid_seen answers whether one was committed: an app
 *    that wrote through its API waits for its write's txid to know the replica holds it.
 */
#ifndef ESYNC_H
#define ESYNC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ------------------------------------------------------------------------------ */

/* The library's version (package.json's "version"): semantic versioning, so a change of MAJOR
 * breaks this API. esync_version() is something else: the schema version stored in a replica. */
#define ESYNC_VERSION_MAJOR 0
#define ESYNC_VERSION_MINOR 1
#define ESYNC_VERSION_PATCH 0
#define ESYNC_VERSION_STRING "0.1.0"

/* ESYNC_VERSION_STRING of the library actually linked (or loaded, in wasm). Static string. */
const char *esync_libversion(void);

/* ---- errors ------------------------------------------------------------------------------- */

/* One table generates the enum, esync_errname() and esync_strerror() (and the JS constants of
 * the wasm bridge, which reads them through esync_errname). */
#define ESYNC_ERRNO_MAP(XX)                                                                        \
    XX(NOMEM, -1, "out of memory")                                                                 \
    XX(INVAL, -2, "invalid argument")                                                              \
    XX(JSON, -3, "malformed JSON")                                                                 \
    XX(PROTO, -4, "message violates the Electric protocol")                                        \
    XX(HEADERS, -5, "missing or invalid response header")                                          \
    XX(SCHEMA, -6, "invalid or changed shape schema")                                              \
    XX(VALUE, -7, "value does not fit its column")                                                 \
    XX(TOOBIG, -8, "response body over the limit")                                                 \
    XX(SQLITE, -9, "SQLite error")                                                                 \
    XX(HTTP, -10, "HTTP error that retrying will not fix")                                         \
    XX(RETRY, -11, "transient HTTP or network error; the next request waits")                      \
    XX(NOSHAPE, -12, "no such shape")                                                              \
    XX(READONLY, -13, "statement is not a read-only query")                                        \
    XX(STATE, -14, "call not valid in this state")                                                 \
    XX(PENDING, -15, "the shape's table does not exist yet")                                       \
    XX(AUTH, -16, "the server refused the credentials (401/403); waiting for new ones")

typedef enum {
    ESYNC_OK = 0,
#define ESYNC__XX(name, code, msg) ESYNC_E##name = (code),
    ESYNC_ERRNO_MAP(ESYNC__XX)
#undef ESYNC__XX
} esync_errno;

/* Static strings; never NULL ("unknown error" / "EUNKNOWN" for unknown codes). */
const char *esync_strerror(int code);
const char *esync_errname(int code);

/* ---- memory ------------------------------------------------------------------------------- */

/* Frees a buffer returned by the engine. NULL is a no-op. */
void esync_free(void *p);
/* Bytes currently allocated by the engine, SQLite and cJSON together (all three go through one
 * counting allocator). Tests use it to check that memory returns to its baseline. */
int64_t esync_memory_used(void);
/* Highest value esync_memory_used() reached since the last reset. */
int64_t esync_memory_highwater(int reset);

/* ---- setup ------------------------------------------------------------------------------- */

/* Sets up what the engine shares process-wide: SQLite and cJSON are told to allocate through
 * the engine's counting allocator (so esync_memory_used covers them), and SQLite is initialized.
 * Idempotent and cheap after the first call; esync_open and esync_replay call it themselves.
 * A caller needs it only to use SQLite before its first esync_open, e.g. the browser build,
 * which loads a stored database image into its in-memory VFS first. SQLite's allocator can only
 * be set before SQLite is first used: call it before anything else in the process touches
 * SQLite; in a program with threads, call it once before they start. Returns ESYNC_OK, or
 * ESYNC_ESQLITE when SQLite refused (it was already in use). */
int esync_initialize(void);

/* ---- engine ------------------------------------------------------------------------------- */

typedef struct esync esync;

typedef struct esync_options {
    /* SQLite file name of the replica (":memory:" is refused: readers need a second connection).
     * Required. */
    const char *path;
    /* SQLite VFS name, or NULL for the default VFS. */
    const char *vfs;
    /* Seed of the engine's PRNG (backoff jitter, cache busters). Same seed, same requests. */
    uint64_t seed;
    /* Largest response body accepted, in bytes; 0 means 64 MiB. */
    size_t max_body_bytes;
    /* SQLite journal mode ("wal", "delete", "memory"…), or NULL to keep the VFS's default.
     * Native callers want "wal" (readers never wait for the writer, one sync per commit); the
     * browser's in-memory VFS commits pages atomically and needs no journal on disk. */
    const char *journal_mode;
} esync_options;

/* Opens (creating when needed) the replica and its metadata. On success *out owns the engine.
 * On failure *out is NULL and the code says why (no engine exists to hold the message). */
int esync_open(const esync_options *opts, esync **out);
/* Rolls back any open batch and closes the replica. NULL is a no-op. */
void esync_close(esync *e);
/* Checkpoints of a long initial sync: while a shape has never been up-to-date, its open batch
 * also commits at the end of a snapshot response (offset 0_k: one consistent snapshot, no
 * Postgres transaction to split) once the batch has applied at least `bytes` of bodies, with
 * its handle and offset, so that a reload resumes from there and the caller can persist the
 * image progressively. Each checkpoint returns the DATA_CHANGE of the rows it inserted; the shape
 * stays in its initial sync (not live) until up-to-date. 0 (the default): never, one commit at
 * up-to-date. See docs/protocol.md 5.2. */
void esync_set_checkpoint_bytes(esync *e, size_t bytes);
/* Spacing of later checkpoints: with max_bytes > 0, each checkpoint after the first waits until
 * the batch has applied as many body bytes as the sync's checkpoints committed before it (the
 * spacing doubles: 4, 4, 8, 16... MiB), but never more than max_bytes. The image an IndexedDB
 * writer rewrites at each checkpoint grows with the sync (rows land all over the key space), so
 * doubling the spacing bounds what it writes in all to about twice the final image, while
 * max_bytes bounds the change set a checkpoint holds in memory and the work left after the last
 * response. 0 (the default): every checkpoint after `bytes`. While a checkpointed snapshot goes
 * on, its batch may then span several snapshot responses; a response of another kind commits
 * it first. The response that ends the snapshot (its `snapshot-end` control) is then no
 * checkpoint: the commit at up-to-date follows it. */
void esync_set_checkpoint_growth(esync *e, size_t max_bytes);

/* Sliced ingest: with bytes > 0, esync_ingest applies a 200 whose body is larger than `bytes`
 * in slices of about that many body bytes (whole messages): it returns after the first slice
 * with ESYNC_OK and esync_ingest_pending true, and each esync_ingest_continue applies the next
 * slice, the last one doing what the rest of esync_ingest does (the response's offset and
 * handle, the commit at up-to-date or a checkpoint, the queued responses of other shapes). So
 * a caller with an event loop (the browser worker) can let it run between slices: a fetch's
 * body keeps arriving, a flush goes on, a tab's query is answered. The body is parsed whole
 * before its first slice is applied (a malformed body changes nothing), and its bytes must stay
 * valid and untouched until the ingest is no longer pending (the header strings are copied).
 * Between slices the response's rows are in the shape's batch, not committed: a reader sees
 * the last commit, or SQLITE_BUSY once the batch has outgrown the page cache (ESYNC_ESQLITE from
 * esync_query: run it again after the slices). While a response is pending, esync_ingest of
 * another shape queues that response (it is applied after this one), of the same shape fails
 * with ESYNC_EINVAL; esync_close, esync_reset, esync_check_version and esync_shape_define drop
 * the pending response with its batch. 0 (the default): every response in one call. */
void esync_set_ingest_slice(esync *e, size_t bytes);
/* Applies the next slice of the pending response; *changes as for esync_ingest (the events of
 * what the last slice committed). ESYNC_OK with nothing to do when no response is pending. On an
 * error the batch is rolled back as esync_ingest would have (same codes). */
int esync_ingest_continue(esync *e, char **changes, size_t *changes_len);
/* 1 while a response is partly applied (esync_set_ingest_slice), else 0. */
int esync_ingest_pending(const esync *e);
/* Drops the pending response: its batch is rolled back (what it held, the responses before it
 * that the batch had not committed included) and the shape asks again from its last committed
 * offset. No-op when nothing is pending. */
void esync_ingest_abort(esync *e);

/* Code and message of the last failed call on this engine (ESYNC_OK / "" after a success). */
int esync_errcode(const esync *e);
const char *esync_errmsg(const esync *e);

/* ---- shapes ------------------------------------------------------------------------------- */

/* Declares a shape. `definition` is JSON:
 *   {"table": "items" | "public.items",        required
 *    "where": "value > $1",                     optional
 *    "params": {"1": "5"} | ["5"],              optional, values for $1..$n
 *    "columns": ["id", "value"] | "id,value",   optional projection
 *    "replica": "default" | "full"}             optional
 * The replica table is named after the table (without its schema); two shapes may not share one.
 * A shape stored with the same name and definition resumes from its stored handle and offset; a
 * different definition drops the stored rows and starts over. Returns ESYNC_EINVAL for a bad
 * name or definition. */
int esync_shape_define(esync *e, const char *name, const char *definition);

/* Compares a definition with the one a shape is defined with, in canonical form (the form
 * esync_shape_define stores: key order and spelling of equivalent values do not matter).
 * Returns 1 when the shape `name` is defined with the same definition, 0 when its definition
 * differs, ESYNC_ENOSHAPE when no shape of that name is defined, ESYNC_EINVAL when the
 * definition is malformed (checked first) or an argument is NULL. Changes nothing. */
int esync_shape_compare(esync *e, const char *name, const char *definition);

/* The query string of the first request a new replica makes for this definition (offset -1, no
 * handle: what esync_next_request returns for it after esync_shape_define on an empty replica),
 * in *out (free with esync_free). Needs no engine: a caller can send that request while its
 * replica is still being opened. ESYNC_EINVAL for a malformed definition or a NULL argument,
 * ESYNC_ENOMEM. */
int esync_shape_first_request(const char *definition, char **out, size_t *out_len);

/* Current state of every shape as a JSON array of
 *   {"shapeName","tableName","phase","rows","syncRows","offset","handle","lastSyncedAt","error"}
 * where phase is "initial-sync" (no up-to-date seen yet), "live", "error" (stopped by an error
 * that retrying cannot fix), "unauthorized" (a 401 or 403: waiting for esync_shape_resume) or
 * "backoff"; rows is the committed row count; syncRows adds the insert messages applied by the
 * shape's open batch (not committed yet; a refetch built aside counts only those), the progress
 * of a sync while it runs; lastSyncedAt is the now_ms of the last commit or null. */
int esync_status(esync *e, char **out, size_t *out_len);

/* ---- the request loop --------------------------------------------------------------------- */

typedef enum {
    ESYNC_ACT_FETCH = 1, /* issue GET <shape url>?<query>; live says it is a long-poll */
    ESYNC_ACT_WAIT = 2,  /* wait wait_ms, then ask again (backoff) */
    ESYNC_ACT_IDLE = 3,  /* another shape's batch is open: ask again after the next ingest */
    ESYNC_ACT_STOP = 4,  /* the shape stopped on an error retrying will not fix (see status) */
    ESYNC_ACT_AUTH = 5   /* waiting for credentials (a 401 or 403): new ones, then resume */
} esync_action;

typedef struct esync_request {
    esync_action action;
    int live;          /* 1 for a live long-poll */
    uint32_t wait_ms;  /* for ESYNC_ACT_WAIT */
    const char *query; /* for FETCH: the URL-encoded query string, without '?'. Borrowed. */
    /* 1 when the engine can take this request's answer as a replica image (esync_response.image):
     * a snapshot chunk of an initial sync whose batch needs no per-key tracking (a sync from
     * nothing, or the chunks after a checkpoint; checkpoints on), and no image of the shape has
     * failed. The caller may then ask the server for one (docs/protocol.md: the image). */
    int image;
} esync_request;

/* What to do next for a shape. The query carries table, offset, handle, live, cursor, where,
 * params, columns, replica (and a cache-buster after a must-refetch). */
int esync_next_request(esync *e, const char *shape, esync_request *out);

/* Lets a shape that is waiting (ESYNC_ACT_AUTH) or stopped (ESYNC_ACT_STOP) fetch again:
 *  - after a 401/403 (phase "unauthorized"): the batch that was open stays open, and the next
 *    request is the very one that was refused (same offset, handle and cursor; nothing wiped),
 *    to be sent with the caller's new credentials;
 *  - after a stop (ESYNC_EHTTP): the next request resumes from the last committed offset.
 * The shape's error is cleared. A shape that is neither waits for nothing: ESYNC_OK, no change.
 * ESYNC_ENOSHAPE for an unknown shape. */
int esync_shape_resume(esync *e, const char *shape);

typedef struct esync_response {
    int status;              /* HTTP status; 0 for a network error (no response) */
    const char *handle;      /* electric-handle, or NULL when absent */
    const char *offset;      /* electric-offset */
    const char *schema;      /* electric-schema */
    const char *cursor;      /* electric-cursor */
    int up_to_date;          /* 1 when the electric-up-to-date header is present */
    const char *retry_after; /* retry-after (seconds), or NULL */
    const uint8_t *body;     /* the body bytes (need not be NUL-terminated) */
    size_t body_len;
    double now_ms; /* the caller's clock, stored as the shape's last sync time */
    /* Optional: the body's bytes again, writable, when the caller passes a copy it discards after
     * the call (the wasm bridge does). The engine then parses the body in place instead of
     * copying it first. NULL otherwise. */
    uint8_t *body_writable;
    /* Optional: instead of a JSON body, a replica image (src/core/image.c): the name of a SQLite
     * database that the engine's VFS opens, holding the response's rows in one table `shape` as
     * this engine makes it from the response's electric-schema. body is then not read; body_len
     * is the image's size (the body limit and the checkpoint spacing count it). Valid only as the
     * answer to a request with .image set; the engine checks it (schema, storage classes, value
     * ranges) and copies its rows into the shape's batch, which commits as after a JSON response
     * (checkpoints, up-to-date). The file stays attached, so it must stay unchanged, until that
     * batch commits or rolls back (its VFS may let the caller delete it meanwhile, as the
     * browser's does). A bad image fails like a bad body (ESYNC_EPROTO, ESCHEMA, EVALUE, the
     * batch rolled back), and the shape asks for JSON from then on. When another shape's batch
     * is open the image is dropped unread (ESYNC_OK, nothing changes) and the same request comes
     * again. */
    const char *image;
} esync_response;

/* Builds a replica image (esync_response.image) at path, a file of the default VFS that does
 * not exist or is empty: the rows of a snapshot chunk's body, a JSON array
 * of insert messages (control messages skipped), checked and stored by the rules esync_ingest
 * applies to JSON, under the electric-schema schema. *rows (when rows is set) gets the rows
 * written. On error no file is left and err (errlen bytes) says why: ESYNC_EPROTO (not such an
 * array, or a change other than an insert), ESCHEMA, EVALUE, ESQLITE, ENOMEM. It sets up
 * SQLite (as esync_initialize does) but leaves cJSON's allocator as the process has it. The
 * shape service's side of images; not thread-safe (one builder at a time in a process, SQLite
 * being built single-threaded). */
int esync_image_build(const char *schema, const uint8_t *body, size_t len, const char *path,
                      int64_t *rows, char *err, size_t errlen);
/* esync_image_build over a body the caller gives up: it is parsed where it lies (its strings
 * unescaped in place, body[len] set to 0, so len + 1 bytes must be writable) instead of copied
 * first (a 10 MB chunk of 29k test_items rows: built in 78 instead of 85 ms, 96 instead of 129
 * ms when its memory is new). body is the caller's to free after, no longer the JSON. */
int esync_image_build_inplace(const char *schema, uint8_t *body, size_t len, const char *path,
                              int64_t *rows, char *err, size_t errlen);

/* Applies one response of `shape` (the answer to the request esync_next_request gave).
 * On ESYNC_OK, *changes is NULL when nothing was committed, or a JSON array of change events:
 *   {"type":"DATA_CHANGE","shapeName","tableName",
 *    "changes":{"insert":[row],"update":[{"old":row,"new":row}],"delete":[row]},
 *    "txids":["760","761"]}
 * one per shape and committed batch with at least one change; "txids" (present only when the
 * batch's messages carried any) are the batch's transaction ids as decimal strings, ascending
 * and unique. A committed batch that carried txids but no net change (say an insert and a delete
 * of the same row) yields instead
 *   {"type":"TXIDS","shapeName","tableName","txids":[…]}
 * so that whoever waits for one of them learns that it is committed. Rows are full rows,
 * coalesced per key (insert+update = insert of the final row; insert+delete = nothing;
 * update+update = one update from the first old to the last new; a change back to the old
 * values = nothing).
 * Values are typed like @electric-sql/client's default parser: int2/int4/float4/float8 numbers,
 * bool booleans, json/jsonb parsed, arrays (per `dims`) JSON arrays with typed elements and null,
 * everything else strings. Two values that JSON cannot carry are strings tagged by their column
 * type, which esync_shape_types lists: int8 (a decimal string; the bridges turn it into a
 * BigInt) and non-finite floats ("NaN", "Infinity", "-Infinity").
 * After a must-refetch (409, a must-refetch message, or a 400 "out of bounds" offset) the old
 * rows stay until the new snapshot is complete; then only the real differences are committed and
 * reported.
 * Errors: ESYNC_EJSON / EPROTO / EHEADERS / ESCHEMA / EVALUE / ETOOBIG / ESQLITE roll the batch
 * back (replica, offset and the shape's state in memory unchanged); the next request re-asks
 * from the last committed offset after a short backoff, and after 3 such failures in a row the
 * shape refetches from scratch. (headers.txids that is not an array of integers 0..2^63-1, or
 * of strings of such decimals, is EPROTO.)
 * ESYNC_ERETRY: 5xx, 429 or network error; the next request waits (jittered exponential backoff,
 * retry-after as a minimum). ESYNC_EAUTH: 401 or 403; the shape's open batch is kept (not rolled
 * back) and it waits in phase "unauthorized" (ESYNC_ACT_AUTH) until esync_shape_resume (while
 * that batch holds the write transaction, responses of other shapes wait in the queue).
 * ESYNC_EHTTP: another 4xx; the shape stops (ESYNC_ACT_STOP) until esync_shape_resume, until it
 * is defined again or until esync_reset is called.
 * On error, *changes holds no change of the failed response's batch: it is NULL, or (when this
 * call also applied queued responses of other shapes, see "Transactions") the events those
 * committed. */
int esync_ingest(esync *e, const char *shape, const esync_response *resp, char **changes,
                 size_t *changes_len);

/* Where the events of the last esync_ingest's *changes lie, so that a caller can pass a large
 * change set on without parsing it: n records of ESYNC_EVENT_RECORD numbers each,
 *   [start, end)   byte offsets into *changes: the event object, from its '{' to past its '}'
 *   cut            DATA_CHANGE: the offset of its `,"changes":` member (its value follows those
 *                  11 bytes); 0 for other events
 *   changes_end    DATA_CHANGE: past the `changes` object (the members after it, `txids`, and the
 *                  event's '}' remain); 0 for other events
 *   inserts, updates, deletes
 *                  DATA_CHANGE: how many rows each of its lists holds (so that a reader knows
 *                  the sizes without parsing the rows); 0 for other events
 * in the order of the events. *pos is owned by e and valid until the next call on e; n is 0 when
 * *changes was NULL. */
#define ESYNC_EVENT_RECORD 7
int esync_ingest_events(esync *e, const uint32_t **pos, size_t *n);

/* The column types of a shape that need conversion in JS, as JSON {"column": "int8" | "float"},
 * ("{}" when none, or before the schema is known). Arrays of those types are listed too. */
int esync_shape_types(esync *e, const char *shape, char **out, size_t *out_len);

/* ---- schema version ----------------------------------------------------------------------- */

/* Compares the stored schema version with the server's and keeps or wipes the replica.
 * Returns 0 when the replica was kept (same version, or a first install: the version is stored
 * and *event is NULL), 1 when it was wiped (every shape's rows and offsets dropped, the new
 * version stored, all in one transaction) with *event =
 *   {"type":"SCHEMA_RESET","reason":"version_mismatch","oldVersion":"…","newVersion":"…"}
 * or a negative error. Shapes stay defined and start over from offset -1. */
int esync_version_check(esync *e, const char *server_version, char **event, size_t *event_len);

/* The stored schema version, or NULL. Borrowed. (The library's own version is esync_libversion.) */
const char *esync_version(esync *e);

/* Manual reset: wipes every shape's rows and offsets (keeping the stored version) and returns
 * the event {"type":"SCHEMA_RESET","reason":"manual_reset","oldVersion":v,"newVersion":v}. */
int esync_reset(esync *e, char **event, size_t *event_len);

/* ---- transaction ids ---------------------------------------------------------------------- */

/* How many txids the replica keeps per shape at least (the most recent ones, by commit). */
#define ESYNC_TXIDS_KEPT 4096

/* Whether a committed batch of any shape stored in the replica carried `txid` (a decimal
 * string, as in the events and as the app's API returns it from pg_current_xact_id()): 1 when
 * it did (and it is still kept: the ESYNC_TXIDS_KEPT most recent of a shape always are), 0 when
 * not, or ESYNC_EINVAL when txid is not a decimal integer 0..2^63-1. Reads committed state
 * only. */
int esync_txid_seen(esync *e, const char *txid);

/* ---- reads -------------------------------------------------------------------------------- */

/* Runs one read-only SQL statement on the reader connection and returns its rows as a JSON
 * array of objects. `params` is NULL or a JSON array bound to ?1..?n (numbers, strings, booleans
 * as 0/1, null). A column that comes from a shape table is typed like change-set rows; other
 * values by their SQLite storage class. Writes, ATTACH, PRAGMA and more than one statement are
 * refused with ESYNC_EREADONLY and change nothing.
 * A statement that names the replica table of a defined shape that has no table yet (before its
 * first commit, after esync_reset or a version wipe) is ESYNC_EPENDING, with a message naming
 * the shape: the caller waits for the shape's next commit and asks again. A table that is no
 * shape's is ESYNC_ESQLITE ("no such table") at once; other SQL errors are ESYNC_EINVAL. */
int esync_query(esync *e, const char *sql, const char *params, char **out, size_t *out_len);

/* The shapes' tables one read-only statement reads, as a JSON array
 *   [{"table":"test_items","shape":"test_items"}, …]
 * in the order the shapes were defined; tables that are no shape's (esync_* among them) are not
 * listed. The statement is prepared on the reader, never run, under the rules and codes of
 * esync_query (ESYNC_EREADONLY, ESYNC_EPENDING, ESYNC_ESQLITE, ESYNC_EINVAL). *out is the
 * caller's (esync_free), NULL on error. For live queries: a statement needs running again only
 * after a commit of one of these shapes. */
int esync_query_tables(esync *e, const char *sql, char **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif /* ESYNC_H */
