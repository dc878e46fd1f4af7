/*
 * txids.c — transaction ids. Every change message carries headers.txids (the Postgres
 * transactions it comes from); the txids of a batch are collected while it is open, and at
 * commit they are sorted, reported in the batch's change event and stored in the same
 * transaction as the rows, so a txid is "seen" exactly when the rows it brought are durable.
 *
 * Storage: esync_txids is a ring of ESYNC_TXIDS_KEPT slots per shape. The n-th txid ever stored
 * for a shape goes to slot n % ESYNC_TXIDS_KEPT, replacing the one stored ESYNC_TXIDS_KEPT
 * before it: one prepared upsert per txid, and no pruning query, keeps the most recent ones
 * (a live single-row batch pays one upsert). The shape's counter (txid_seq, committed layer) is
 * read back from the table when the shape is defined. Snapshot messages carry no txids, so an
 * initial sync pays nothing here.
 */
#include "txids.h"

#include "alloc.h"
#include "errors.h"
#include "msgparse.h"

#include <stdlib.h>
#include <string.h>

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

void esync__txids_clear(esync_shape *s) {
    esync__freemem(s->txids);
    s->txids = NULL;
    s->ntxids = s->cap_txids = 0;
}

int esync__txids_store(esync *e, esync_shape *s) {
    if (!s->ntxids) return ESYNC_OK;
    if (!e->st_txid &&
        sqlite3_prepare_v3(e->db,
                           "INSERT OR REPLACE INTO esync_txids(shape, slot, seq, txid)"
                           " VALUES(?1,?2,?3,?4)",
                           -1, SQLITE_PREPARE_PERSISTENT, &e->st_txid, NULL))
        return esync__sqlfail(e, e->db, "store txids");
    sqlite3_stmt *st = e->st_txid;
    int rc = ESYNC_OK;
    sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
    for (size_t i = 0; i < s->ntxids && !rc; i++) {
        int64_t seq = s->txid_seq + (int64_t)i;
        sqlite3_bind_int64(st, 2, seq % ESYNC_TXIDS_KEPT);
        sqlite3_bind_int64(st, 3, seq);
        sqlite3_bind_int64(st, 4, s->txids[i]);
        if (sqlite3_step(st) != SQLITE_DONE) rc = esync__sqlfail(e, e->db, "store txids");
        sqlite3_reset(st);
    }
    sqlite3_clear_bindings(st);
    if (!rc) s->txid_seq += (int64_t)s->ntxids;
    return rc;
}

void esync__txids_json(const esync_shape *s, esync_buf *out) {
    esync__buf_putc(out, '[');
    for (size_t i = 0; i < s->ntxids; i++)
        esync__buf_printf(out, i ? ",\"%lld\"" : "\"%lld\"", (long long)s->txids[i]);
    esync__buf_putc(out, ']');
}

int esync__txids_load(esync *e, esync_shape *s) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(e->db, "SELECT max(seq) FROM esync_txids WHERE shape=?1", -1, &st, NULL))
        return esync__sqlfail(e, e->db, "load txids");
    sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
    int rc = ESYNC_OK;
    if (sqlite3_step(st) == SQLITE_ROW)
        s->txid_seq = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0
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
    /* On the reader: what it sees is committed. Prepared once; reset after every use, so the
     * reader never keeps a read transaction open (which would hold a writer's commit back). */
    if (!e->st_seen &&
        sqlite3_prepare_v3(e->reader, "SELECT 1 FROM esync_txids WHERE txid=?1 LIMIT 1", -1,
                           SQLITE_PREPARE_PERSISTENT, &e->st_seen, NULL))
        return esync__sqlfail(e, e->reader, "txid lookup");
    sqlite3_bind_int64(e->st_seen, 1, v);
    int r = sqlite3_step(e->st_seen);
    int rc = r == SQLITE_ROW    ? 1
             : r == SQLITE_DONE ? 0
                                : esync__sqlfail(e, e->reader, "txid lookup");
    sqlite3_reset(e->st_seen);
    if (rc >= 0) esync__ok(e);
    return rc;
}
