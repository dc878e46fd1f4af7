/* sink.c, internal to the shape service: the replication callbacks (replication thread),
 * transactions into shape logs.
 * The state and the lock are described in shape/service_internal.h. */
#ifndef ESYNC_SHAPE_SINK_H
#define ESYNC_SHAPE_SINK_H

#include "shape/service_internal.h"

/* Starts the replication connection unless it runs already. Under the lock. */
void esync__sink_start_repl(esync_shapes *S);
/* Appends the transactions collected while s's snapshot ran, minus those the snapshot holds.
 * Under the lock, once s->snap is known. */
void esync__sink_flush_pending(shape *s);
void esync__sink_pend_free(pend_txn *p);

#endif
