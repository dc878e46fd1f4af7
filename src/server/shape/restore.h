/* restore.c, internal to the shape service: what a restart finds (meta.json of each shape,
 * state.json) and loading it.
 * The state and the lock are described in shape/service_internal.h. */
#ifndef ESYNC_SHAPE_RESTORE_H
#define ESYNC_SHAPE_RESTORE_H

#include "shape/service_internal.h"

/* meta.json of a shape (definition, table, snapshot info, chunk count). malloc'ed. */
char *esync__restore_meta_json(const shape *s);
/* state.json: the slot and the position the stored logs are synced to. */
void esync__restore_write_state(esync_shapes *S, uint64_t flushed);
void esync__restore_forget_state(esync_shapes *S);
/* Reads state.json and registers every usable stored shape (READY); removes the others' files. */
void esync__restore_load(esync_shapes *S);

#endif
