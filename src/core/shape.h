/*
 * shape.h — shape definitions (shape.c): a shape is a name and a definition (table, where,
 * params, columns, replica); esync_shape_define (esync.h) parses it, loads what the replica
 * stored under that name, and keeps or wipes it. The state a shape carries is struct
 * esync_shape (internal.h).
 */
#ifndef ESYNC_SHAPE_H
#define ESYNC_SHAPE_H

#include "internal.h"

/* The shape named name, or NULL (also for a NULL name). */
esync_shape *esync__shape_find(esync *e, const char *name);
/* Frees a shape and everything it owns (its statements too). NULL is a no-op. */
void esync__shape_destroy(esync_shape *s);
/* Drops a shape's rows, schema and offsets, stores the empty committed layer and resets its
 * request layer and errors (inside the caller's transaction). */
int esync__shape_wipe(esync *e, esync_shape *s);

#endif
