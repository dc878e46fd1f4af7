/* Decoder of the logical replication stream: the CopyData frames of START_REPLICATION ('w'
 * XLogData, 'k' primary keepalive), the pgoutput protocol 1 messages they carry, and the encoder
 * of the client's standby status update ('r').
 *
 * Pure functions over byte buffers: no I/O, no global state, no allocation except the message's
 * own growable arrays (esync_pgo_msg, reused across calls). Every length and count read from the
 * input is checked against the buffer; a malformed message is an error return, never a crash or
 * an out-of-bounds read. All integers on the wire are big-endian (docs/replication.md §2).
 *
 * Borrowing: every pointer a decoded message holds (names, tuple values) points into the input
 * buffer, which must outlive the message's use. Names are NUL-terminated in the buffer (checked);
 * tuple values are (data, len) and are not.
 */
#ifndef ESYNC_SERVER_PGOUTPUT_H
#define ESYNC_SERVER_PGOUTPUT_H

#include <stddef.h>
#include <stdint.h>

/* Microseconds between the Unix epoch and Postgres' epoch (2000-01-01 UTC). */
#define ESYNC_PG_EPOCH_OFFSET_US 946684800000000LL

/* One CopyData frame of the replication stream. */
typedef struct esync_pgo_frame {
    char kind;          /* 'w' XLogData or 'k' keepalive */
    uint64_t wal_start; /* 'w' only */
    uint64_t wal_end;
    int64_t send_time;      /* µs since 2000-01-01 */
    int reply_requested;    /* 'k' only */
    const uint8_t *payload; /* 'w' only: one pgoutput message */
    size_t payload_len;
} esync_pgo_frame;

/* Returns 0, or -1 when buf is not a well-formed 'w' or 'k' frame. */
int esync_pgo_frame_decode(const uint8_t *buf, size_t len, esync_pgo_frame *f);

/* Writes the 34-byte standby status update ('r'); returns 34. */
size_t esync_pgo_status_update(uint8_t out[34], uint64_t written, uint64_t flushed,
                               uint64_t applied, int64_t now_pg_us, int reply_requested);

/* One column value of a TupleData. kind: 'n' null, 'u' unchanged TOASTed value (no data),
 * 't' text, 'b' binary (only with binary mode, which we never ask for). */
typedef struct esync_pgo_value {
    char kind;
    uint32_t len;
    const char *data; /* len bytes, not NUL-terminated; NULL for 'n' and 'u' */
} esync_pgo_value;

typedef struct esync_pgo_tuple {
    uint16_t ncols;
    esync_pgo_value *cols; /* owned by the message (its arrays) */
} esync_pgo_tuple;

typedef struct esync_pgo_column {
    uint8_t flags; /* 1: part of the replica identity key */
    const char *name;
    uint32_t type_oid;
    int32_t typmod;
} esync_pgo_column;

/* A decoded pgoutput message. tag is the message byte: 'B' 'C' 'O' 'R' 'Y' 'I' 'U' 'D' 'T' 'M'. */
typedef struct esync_pgo_msg {
    char tag;
    union {
        struct {
            uint64_t final_lsn;
            int64_t commit_ts;
            uint32_t xid;
        } begin;
        struct {
            uint8_t flags;
            uint64_t commit_lsn, end_lsn;
            int64_t commit_ts;
        } commit;
        struct {
            uint64_t lsn;
            const char *name;
        } origin;
        struct {
            uint32_t oid;
            const char *nspname; /* "" means pg_catalog */
            const char *relname;
            char replident; /* 'd' 'n' 'f' 'i' */
            uint16_t ncols;
            esync_pgo_column *cols; /* owned by the message */
        } relation;
        struct {
            uint32_t oid;
            const char *nspname, *typname;
        } type;
        struct {
            uint32_t relid;
            char old_kind; /* 0 (none), 'K' key columns only, 'O' whole old row */
            esync_pgo_tuple old_tuple;
            esync_pgo_tuple new_tuple; /* insert, update; empty for delete */
        } change;                      /* 'I', 'U', 'D' */
        struct {
            uint32_t nrels;
            uint8_t options;
            const uint8_t *relids_be;
        } truncate;
        struct {
            uint8_t flags;
            uint64_t lsn;
            const char *prefix;
            uint32_t len;
            const uint8_t *content;
        } message;
    } u;
    /* the arrays behind relation.cols and the two tuples, grown as needed */
    esync_pgo_column *col_buf;
    size_t col_cap;
    esync_pgo_value *val_buf;
    size_t val_cap;
} esync_pgo_msg;

/* Decodes one pgoutput (protocol 1) message. Returns 0, or -1 when the message is malformed,
 * truncated, has trailing bytes, or has an unknown tag (streaming and two-phase messages of
 * protocols 2-3 included: we never ask for them). m must be zero-initialized before its first
 * use; its arrays are reused by later calls and released by esync_pgo_msg_free. */
int esync_pgo_decode(const uint8_t *buf, size_t len, esync_pgo_msg *m);

/* The i-th relation id of a decoded Truncate. */
uint32_t esync_pgo_truncate_relid(const esync_pgo_msg *m, uint32_t i);

void esync_pgo_msg_free(esync_pgo_msg *m);

/* Formats an LSN as Postgres' "X/X" text (buf of at least 18 bytes). */
void esync_pgo_lsn_text(uint64_t lsn, char *buf, size_t n);
/* Parses "X/X"; returns 0, or -1 when malformed. */
int esync_pgo_lsn_parse(const char *s, uint64_t *lsn);

#endif
