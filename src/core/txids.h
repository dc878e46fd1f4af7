/*
 * txids.h — transaction ids (txids.c). The txids of a batch's change messages are collected on
 * the shape while the batch is open, written into the batch's change event, and stored in the
 * batch's commit transaction in esync_txids, where esync_txid_seen (esync.h) finds them.
 */
#ifndef ESYNC_TXIDS_H
#define ESYNC_TXIDS_H

#include "internal.h"

/* The metadata table (created by esync_open): a ring of ESYNC_TXIDS_KEPT slots per shape. */
#define ESYNC_TXIDS_DDL                                                                            \
    "CREATE TABLE IF NOT EXISTS esync_txids(shape TEXT NOT NULL, slot INTEGER NOT NULL,"           \
    " seq INTEGER NOT NULL, txid INTEGER NOT NULL, PRIMARY KEY(shape, slot)) WITHOUT ROWID;"       \
    "CREATE INDEX IF NOT EXISTS esync_txids_txid ON esync_txids(txid);"

/* Appends a change message's txids to the open batch of s. ESYNC_ENOMEM on failure. */
int esync__txids_add(esync *e, esync_shape *s, const int64_t *tx, size_t n);
/* Sorts the batch's txids and drops duplicates (at commit, before they are written anywhere). */
void esync__txids_sort(esync_shape *s);
/* Forgets the batch's txids (the batch ended, committed or not). */
void esync__txids_clear(esync_shape *s);
/* Inside the commit transaction: stores the batch's (sorted) txids in the shape's ring and
 * advances s->txid_seq (the caller restores it if the transaction fails). */
int esync__txids_store(esync *e, esync_shape *s);
/* Appends the batch's txids as a JSON array of decimal strings. */
void esync__txids_json(const esync_shape *s, esync_buf *out);
/* Sets s->txid_seq from what the replica stores under the shape's name. */
int esync__txids_load(esync *e, esync_shape *s);
/* Finalizes the engine's txid statements (at close). */
void esync__txids_close(esync *e);

#endif
