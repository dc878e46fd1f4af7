/*
 * txids.c — transaction ids. Every change message carries headers.txids (the Postgres
 * transactions it comes from); the txids of a batch are collected while it is open, and at
 * commit they are sorted, reported in the batch's change event and stored in the same
 * transaction as the rows, so a txid is "seen" exactly when the rows it brought are durable.
 *
 * Storage, built so that a live single-row batch writes no page it did not write before: the
 * newest txids of a shape (fewer than ESYNC_TXIDS_CHUNK) ride in its esync_shapes row, which
 * every commit rewrites anyway (esync_shape.txids_c, committed layer); each time
 * ESYNC_TXIDS_CHUNK have gathered they move, as one row, into esync_txids, a ring of
 * ESYNC_TXIDS_KEPT / ESYNC_TXIDS_CHUNK slots per shape (chunk n goes to slot n % slots and
 * replaces the chunk stored a whole ring before it; the shape's chunk counter, txid_chunks, is
 * read back when the shape is defined). So a shape keeps at least its ESYNC_TXIDS_KEPT most
 * recent txids and fewer than ESYNC_TXIDS_KEPT + ESYNC_TXIDS_CHUNK, one chunk write costs one
 * prepared upsert every ESYNC_TXIDS_CHUNK txids, and a snapshot (whose messages carry no txids)
 * costs nothing. Lists are "760,761,…" (decimal, commit order), so esync_txid_seen is one
 * read-only SQL lookup of ",760," in both places.
 */
#include "txids.h"

#include "alloc.h"
#include "errors.h"
#include "msgparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING (ESYNC_TXIDS_KEPT / ESYNC_TXIDS_CHUNK)

int esync__txids_add(esync *e, esync_shape *s, const int64_t *tx, size_t n) {
    for (size_t i = 0; i < n; i++) {
        /* the messages of one transaction repeat its txid: keep it once */
        if (s->ntxids && s->txids[s->ntxids - 1] == tx[i]) continue;
        if (s->ntxids == s->cap_txids) {
            size_t cap = s->cap_txids ? s->cap_txids * 2 : 8;
            int64_t *t = esync__realloc(s->txids, cap * sizeof *t);
            if (!t) return esync__oom(e);
            s->txids = t;
            s->cap_txids = cap;
        }
        s->txids[s->ntxids++] = tx[i];
    }
    return ESYNC_OK;
}

static int cmp_txid(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void esync__txids_sort(esync_shape *s) {
    if (s->ntxids < 2) return;
    qsort(s->txids, s->ntxids, sizeof *s->txids, cmp_txid);
    size_t w = 1;
    for (size_t i = 1; i < s->ntxids; i++)
        if (s->txids[i] != s->txids[w - 1]) s->txids[w++] = s->txids[i];
    s->ntxids = w;
}

void esync__txids_reset(esync_shape *s) { s->ntxids = 0; }

void esync__txids_clear(esync_shape *s) {
    esync__freemem(s->txids);
    s->txids = NULL;
    s->ntxids = s->cap_txids = 0;
}

size_t esync__txids_count(const char *p) {
    if (!p || !*p) return 0;
    size_t n = 1;
    for (; *p; p++) n += *p == ',';
    return n;
}

/* Reads a list "1,2,3" (written by this file) into out; at most max values. */
static size_t parse_list(const char *p, int64_t *out, size_t max) {
    size_t n = 0;
    while (p && *p && n < max) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (esync__txid_parse(p, len, &out[n])) n++;
        p = end ? end + 1 : NULL;
    }
    return n;
}

/* The k-th txid of the shape's newest txids followed by the batch's. */
static int64_t nth(const int64_t *pend, size_t npend, const esync_shape *s, size_t k) {
    return k < npend ? pend[k] : s->txids[k - npend];
}

static void put_list(esync_buf *b, const int64_t *pend, size_t npend, const esync_shape *s,
                     size_t from, size_t to) {
    esync__buf_reset(b);
    for (size_t k = from; k < to; k++) {
        if (k > from) esync__buf_putc(b, ',');
        esync__buf_int(b, nth(pend, npend, s, k));
    }
}

int esync__txids_store(esync *e, esync_shape *s) {
    if (!s->ntxids) return ESYNC_OK;
    size_t count = s->ntxids_c;
    esync_buf b;
    esync__buf_init(&b);
    if (count + s->ntxids < ESYNC_TXIDS_CHUNK) {
        /* the common case (a live batch): the list grows by the batch's txids */
        if (count) {
            esync__buf_puts(&b, s->txids_c);
            esync__buf_putc(&b, ',');
        }
        for (size_t i = 0; i < s->ntxids; i++) {
            if (i) esync__buf_putc(&b, ',');
            esync__buf_int(&b, s->txids[i]);
        }
        char *list = esync__buf_take(&b, NULL);
        if (!list) return esync__oom(e);
        s->txids_c = list; /* the caller holds the old list */
        s->ntxids_c = count + s->ntxids;
        return ESYNC_OK;
    }
    int64_t pend[ESYNC_TXIDS_CHUNK];
    size_t npend = parse_list(s->txids_c, pend, ESYNC_TXIDS_CHUNK - 1);
    size_t total = npend + s->ntxids, full = total / ESYNC_TXIDS_CHUNK;
    int rc = ESYNC_OK;
    if (full && !e->st_txid &&
        sqlite3_prepare_v3(e->db,
                           "INSERT OR REPLACE INTO esync_txids(shape, slot, seq, txids)"
                           " VALUES(?1,?2,?3,?4)",
                           -1, SQLITE_PREPARE_PERSISTENT, &e->st_txid, NULL))
        rc = esync__sqlfail(e, e->db, "store txids");
    /* a batch of more than a ring's worth: only the chunks that stay are written */
    for (size_t c = full > RING ? full - RING : 0; c < full && !rc; c++) {
        put_list(&b, pend, npend, s, c * ESYNC_TXIDS_CHUNK, (c + 1) * ESYNC_TXIDS_CHUNK);
        if (b.oom) {
            rc = esync__oom(e);
            break;
        }
        int64_t seq = s->txid_chunks + (int64_t)c;
        sqlite3_stmt *st = e->st_txid;
        sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, seq % RING);
        sqlite3_bind_int64(st, 3, seq);
        sqlite3_bind_text(st, 4, b.data, (int)b.len, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = esync__sqlfail(e, e->db, "store txids");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    char *rest = NULL;
    if (!rc && total > full * ESYNC_TXIDS_CHUNK) {
        put_list(&b, pend, npend, s, full * ESYNC_TXIDS_CHUNK, total);
        if (!(rest = esync__buf_take(&b, NULL))) rc = esync__oom(e);
    }
    esync__buf_free(&b);
    if (rc) return rc;
    s->txids_c = rest; /* the caller holds the old list */
    s->ntxids_c = total - full * ESYNC_TXIDS_CHUNK;
    s->txid_chunks += (int64_t)full;
    return ESYNC_OK;
}

void esync__txids_json(const esync_shape *s, esync_buf *out) {
    esync__buf_putc(out, '[');
    for (size_t i = 0; i < s->ntxids; i++) {
        esync__buf_puts(out, i ? ",\"" : "\"");
        esync__buf_int(out, s->txids[i]);
        esync__buf_putc(out, '"');
    }
    esync__buf_putc(out, ']');
}

int esync__txids_load(esync *e, esync_shape *s) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(e->db, "SELECT max(seq) FROM esync_txids WHERE shape=?1", -1, &st, NULL))
        return esync__sqlfail(e, e->db, "load txids");
    sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
    int rc = ESYNC_OK;
    if (sqlite3_step(st) == SQLITE_ROW)
        s->txid_chunks = sqlite3_column_type(st, 0) == SQLITE_NULL
                             ? 0
                             : sqlite3_column_int64(st, 0) + 1;
    else
        rc = esync__sqlfail(e, e->db, "load txids");
    sqlite3_finalize(st);
    return rc;
}

void esync__txids_close(esync *e) {
    sqlite3_finalize(e->st_txid);
    sqlite3_finalize(e->st_seen);
    e->st_txid = e->st_seen = NULL;
}

int esync_txid_seen(esync *e, const char *txid) {
    if (!e) return ESYNC_EINVAL;
    int64_t v;
    if (!txid || !esync__txid_parse(txid, strlen(txid), &v))
        return esync__fail(e, ESYNC_EINVAL, "txid must be a decimal integer 0..2^63-1");
    char needle[32];
    snprintf(needle, sizeof needle, ",%lld,", (long long)v);
    /* On the reader: what it sees is committed. Prepared once; reset after every use, so the
     * reader never keeps a read transaction open (which would hold a writer's commit back). */
    if (!e->st_seen &&
        sqlite3_prepare_v3(e->reader,
                           "SELECT 1 FROM esync_txids WHERE instr(','||txids||',', ?1)"
                           " UNION ALL SELECT 1 FROM esync_shapes"
                           " WHERE instr(','||txids||',', ?1) LIMIT 1",
                           -1, SQLITE_PREPARE_PERSISTENT, &e->st_seen, NULL))
        return esync__sqlfail(e, e->reader, "txid lookup");
    sqlite3_bind_text(e->st_seen, 1, needle, -1, SQLITE_STATIC);
    int r = sqlite3_step(e->st_seen);
    int rc = r == SQLITE_ROW    ? 1
             : r == SQLITE_DONE ? 0
                                : esync__sqlfail(e, e->reader, "txid lookup");
    sqlite3_reset(e->st_seen);
    sqlite3_clear_bindings(e->st_seen);
    if (rc >= 0) esync__ok(e);
    return rc;
}
