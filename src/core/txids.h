/*
 * txids.h — transaction ids (txids.c). The txids of a batch's change messages are collected on
 * the shape while the batch is open, written into the batch's change event, and stored in the
 * batch's commit transaction, where esync_txid_seen (esync.h) finds them.
 */
#ifndef ESYNC_TXIDS_H
#define ESYNC_TXIDS_H

#include "internal.h"

/* The chunk table (created by esync_open): a ring of ESYNC_TXIDS_KEPT / ESYNC_TXIDS_CHUNK
 * slots per shape, each holding ESYNC_TXIDS_CHUNK txids as a list "760,761,…". The newest
 * txids, fewer than a chunk, wait in the shape's esync_shapes row (column txids, same format). */
#define ESYNC_TXIDS_CHUNK 32
#define ESYNC_TXIDS_DDL                                                                            \
    "CREATE TABLE IF NOT EXISTS esync_txids(shape TEXT NOT NULL, slot INTEGER NOT NULL,"           \
    " seq INTEGER NOT NULL, txids TEXT NOT NULL, PRIMARY KEY(shape, slot)) WITHOUT ROWID;"

/* Appends a change message's txids to the open batch of s. ESYNC_ENOMEM on failure. */
int esync__txids_add(esync *e, esync_shape *s, const int64_t *tx, size_t n);
/* Sorts the batch's txids and drops duplicates (at commit, before they are written anywhere). */
void esync__txids_sort(esync_shape *s);
/* Forgets the batch's txids (the batch ended, committed or not); keeps their memory for the
 * next batch. */
void esync__txids_reset(esync_shape *s);
/* Frees the batch's txids (the shape goes away). */
void esync__txids_clear(esync_shape *s);
/* Inside the commit transaction, once the batch's txids are sorted: adds them to the shape's
 * newest txids (s->txids_c) and moves every full chunk of those into esync_txids. On success
 * s->txids_c is a new string (the old one is not freed: the caller keeps it to put back if the
 * transaction fails) and s->ntxids_c and s->txid_chunks are updated; on failure nothing
 * changed. Nothing to do (and s->txids_c unchanged) when the batch carried no txids. */
int esync__txids_store(esync *e, esync_shape *s);
/* Appends the batch's txids as a JSON array of decimal strings. */
void esync__txids_json(const esync_shape *s, esync_buf *out);
/* How many txids a list "760,761" (esync_shape.txids_c) holds. */
size_t esync__txids_count(const char *list);
/* Sets s->txid_chunks from what esync_txids holds for the shape. */
int esync__txids_load(esync *e, esync_shape *s);
/* Finalizes the engine's txid statements (at close). */
void esync__txids_close(esync *e);

#endif
