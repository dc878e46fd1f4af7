/*
 * queue.h — responses that wait for the open batch (queue.c). Only one batch holds the write
 * transaction; a response of another shape that arrives meanwhile is copied here and applied,
 * in arrival order, once that batch commits or rolls back (ingest.c drains it).
 */
#ifndef ESYNC_QUEUE_H
#define ESYNC_QUEUE_H

#include "internal.h"

typedef struct esync_queued {
    struct esync_queued *next;
    char *shape;
    /* owned copies of the response's strings and body; resp points into them */
    char *handle, *offset, *schema, *cursor, *retry_after;
    uint8_t *body;
    esync_response resp;
} esync_queued;

/* Appends a copy of r (strings and body) for the shape named name. ESYNC_ENOMEM on failure. */
int esync__queue_push(esync *e, const char *name, const esync_response *r);
/* Takes the oldest queued response out of the queue (NULL when empty); the caller frees it. */
esync_queued *esync__queue_pop(esync *e);
/* True while a response of the shape named name waits in the queue. */
bool esync__queue_has(const esync *e, const char *name);
void esync__queued_free(esync_queued *q);
/* Frees every queued response. */
void esync__queue_free(esync *e);

#endif
