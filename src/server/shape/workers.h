/* workers.c, internal to the shape service: the job queue and the worker threads: catalog
 * checks, snapshots, reconciling.
 * The state and the lock are described in shape/service_internal.h. */
#ifndef ESYNC_SHAPE_WORKERS_H
#define ESYNC_SHAPE_WORKERS_H

#include "shape/service_internal.h"

/* Starts and joins the worker threads. */
void esync__workers_start(esync_shapes *S);
void esync__workers_join(esync_shapes *S);
/* Queue a catalog check of q's definition, the snapshot of s (for which the caller took a
 * reference), or a catalog check of the live shapes' tables. Under the lock. */
void esync__workers_queue_check(esync_shapes *S, esync_shape_req *q);
void esync__workers_queue_snapshot(esync_shapes *S, shape *s);
void esync__workers_queue_reconcile(esync_shapes *S);
/* After the workers were joined, under the lock: the checks never run get 503, the snapshot
 * jobs' references are dropped. */
void esync__workers_cancel(esync_shapes *S, done_list *c);

#endif
