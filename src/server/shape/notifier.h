/* notifier.c, internal to the shape service: parked requests (shape waiters, deadlines) and
 * the notifier thread.
 * The state and the lock are described in shape/service_internal.h. */
#ifndef ESYNC_SHAPE_NOTIFIER_H
#define ESYNC_SHAPE_NOTIFIER_H

#include "shape/service_internal.h"

/* Parks q on shape s with a hold of hold_ms (0: none, until the shape has news). */
void esync__notifier_park(esync_shapes *S, esync_shape_req *q, shape *s, unsigned hold_ms);
/* The hold a request parked on s gets in its state: the poll of an image wait (serve.c), else
 * none while the shape is created (it waits for the snapshot), else the long poll (half of it
 * for an out-of-bounds offset). */
unsigned esync__notifier_hold(const esync_shapes *S, const shape *s,
                              const struct esync_shape_priv *p);
/* Takes the request of p off its shape and the deadline list. */
void esync__notifier_unpark(esync_shapes *S, struct esync_shape_priv *p);
void *esync__notifier_main(void *arg);

#endif
