/* notifier.c, internal to the shape service: parked requests (shape waiters, deadlines) and
 * the notifier thread.
 * The state and the lock are described in shape/service_internal.h. */
#ifndef ESYNC_SHAPE_NOTIFIER_H
#define ESYNC_SHAPE_NOTIFIER_H

#include "shape/service_internal.h"

/* Parks q on shape s with a hold of hold_ms (0: none, until the shape has news). */
void esync__notifier_park(esync_shapes *S, esync_shape_req *q, shape *s, unsigned hold_ms);
/* Takes the request of p off its shape and the deadline list. */
void esync__notifier_unpark(esync_shapes *S, struct esync_shape_priv *p);
void *esync__notifier_main(void *arg);

#endif
