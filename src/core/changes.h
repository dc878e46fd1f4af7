/*
 * changes.h — change sets (changes.c): which keys a batch touched, and at commit the batch's
 * DATA_CHANGE event (full rows, coalesced per key), including the diff of a refetch.
 */
#ifndef ESYNC_CHANGES_H
#define ESYNC_CHANGES_H

#include "internal.h"
#include "rows.h"

/* The insert, update and delete lists of one event, as JSON being built. */
typedef struct esync_changeset {
    esync_buf ins, upd, del;
    size_t ins_head; /* bytes before ins's first row: "[" and the event's head (an append batch) */
    int64_t n_ins, n_upd, n_del;
    bool written; /* a fast batch's event went straight to out (esync__changes_collect) */
} esync_changeset;

void esync__changes_init(esync_changeset *c);
/* An append batch's rows start behind "[" and the head of their DATA_CHANGE, so the event is
 * made around them without moving them (esync__changes_emit): writes that prefix into the empty
 * s->app and sets s->app_head; false without memory. */
bool esync__changes_app_head(esync_shape *s);
void esync__changes_free(esync_changeset *c);

/* Before a change is applied: checks that rv carries the key columns (ESYNC_EPROTO otherwise)
 * and, unless the batch is fast, records the key's row as it was before the batch the first
 * time the batch touches it. key and tmp are scratch buffers. */
int esync__changes_track(esync *e, esync_shape *s, const esync_row_values *rv, esync_buf *key,
                         esync_buf *tmp);

/* At commit, inside the batch's transaction: computes the batch's changes and updates s->rows.
 * A fast batch's event goes straight to out (the JSON array of events being built), so the
 * caller cuts out back if the commit then fails; the others fill cs, which esync__changes_emit
 * appends once the commit succeeded. A refetch built aside is applied to the replica here (only
 * its differences) and its shadow table dropped. The batch's txids must be sorted already: the
 * events carry them. */
int esync__changes_collect(esync *e, esync_shape *s, esync_changeset *cs, esync_row_values *rv,
                           esync_buf *tmp, esync_buf *out);
/* Appends cs as the shape's DATA_CHANGE event to out; when cs is empty (and no event was
 * written by collect) but the batch carried txids, a TXIDS event; else nothing. */
void esync__changes_emit(esync *e, esync_changeset *c, const esync_shape *s, esync_buf *out);

#endif
