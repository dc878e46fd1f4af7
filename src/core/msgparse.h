/*
 * msgparse.h — reading JSON (msgparse.c): the hot path's zero-copy reader of shape response
 * bodies, and esync__json_parse, the strict whole-input wrapper of cJSON for the small JSON
 * (schemas, definitions, parameters).
 */
#ifndef ESYNC_MSGPARSE_H
#define ESYNC_MSGPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cJSON;

/* What was found at a position of a message (stored in a uint8_t to keep the arrays small). */
typedef enum esync_json_kind {
    ESYNC_JSON_ABSENT = 0, /* no such member */
    ESYNC_JSON_STRING = 1, /* a string: its text is set */
    ESYNC_JSON_NULL = 2,
    ESYNC_JSON_OBJECT = 3,
    ESYNC_JSON_OTHER = 4 /* number, boolean or array */
} esync_json_kind;

typedef struct esync_field {
    const char *name;
    const char *text; /* the string (kind ESYNC_JSON_STRING), else NULL */
    uint8_t kind;     /* an esync_json_kind, never ESYNC_JSON_ABSENT */
} esync_field;

typedef struct esync_msg {
    const char *key, *op, *control;          /* set when their kind is ESYNC_JSON_STRING */
    uint8_t key_kind, op_kind, control_kind; /* esync_json_kind of each */
    uint8_t value_kind, headers_kind;        /* esync_json_kind of each */
    bool is_object;
    /* headers.txids (has_txids: present): when it is an array of transaction ids (integers
     * 0..2^63-1, or strings of such decimals) its values are esync_msgs.tx[txid0, txid0 +
     * ntxids); null counts as no txids; anything else is txids_bad */
    bool has_txids, txids_bad;
    uint32_t txid0, ntxids;
    uint32_t field0, nfields; /* the value object's members in esync_msgs.f */
} esync_msg;

typedef struct esync_msgs {
    esync_msg *m;
    size_t n, cap;
    esync_field *f;
    size_t nf, capf;
    int64_t *tx; /* every message's txids, in order */
    size_t ntx, captx;
    char *buf;     /* the body copy every string points into */
    bool is_array; /* the body was a JSON array (its elements are m[0..n-1]) */
} esync_msgs;

/* Whether m is a change message whose operation is "insert". */
static inline bool esync__msg_is_insert(const esync_msg *m) {
    return m->op_kind == ESYNC_JSON_STRING && !strcmp(m->op, "insert");
}

/* Parses a body. ESYNC_EJSON (with *err_at) for anything that is not strict UTF-8 JSON,
 * ESYNC_ENOMEM when memory runs out. esync__msgs_parse copies the body first;
 * esync__msgs_parse_inplace unescapes strings inside the given bytes, which must stay alive and
 * untouched until esync__msgs_free. */
int esync__msgs_parse(esync_msgs *out, const uint8_t *body, size_t len, size_t *err_at);
int esync__msgs_parse_inplace(esync_msgs *out, uint8_t *body, size_t len, size_t *err_at);
void esync__msgs_free(esync_msgs *m);

/* Reads a transaction id: n >= 1 bytes of decimal digits (no sign) of a value 0..2^63-1.
 * False for anything else. */
bool esync__txid_parse(const char *s, size_t n, int64_t *out);

/* Parses exactly n bytes of JSON with cJSON (surrounding whitespace allowed). Returns NULL when
 * they are not one JSON value; *err_at (optional) gets the byte offset where parsing stopped. */
struct cJSON *esync__json_parse(const char *s, size_t n, size_t *err_at);

#endif
