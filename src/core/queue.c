/*
 * queue.c — responses that wait for the open batch: a FIFO of owned copies (the caller's
 * response buffers are only valid during its esync_ingest call).
 */
#include "queue.h"

#include "alloc.h"
#include "errors.h"

#include <string.h>

void esync__queued_free(esync_queued *q) {
    char *owned[] = {q->shape, q->handle, q->offset, q->schema, q->cursor, q->retry_after};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++) esync__freemem(owned[i]);
    esync__freemem(q->body);
    esync__freemem(q);
}

void esync__queue_free(esync *e) {
    while (e->queue) {
        esync_queued *q = e->queue;
        e->queue = q->next;
        esync__queued_free(q);
    }
    e->queue_tail = NULL;
}

/* *slot = a copy of v (NULL stays NULL); clears *ok when the copy fails. */
static void copy_opt(char **slot, const char *v, bool *ok) {
    if (*ok && v && !(*slot = esync__strdup(v))) *ok = false;
}

int esync__queue_push(esync *e, const char *name, const esync_response *r) {
    esync_queued *q = esync__malloc(sizeof *q);
    if (!q) return esync__oom(e);
    memset(q, 0, sizeof *q);
    bool ok = true;
    copy_opt(&q->shape, name, &ok);
    copy_opt(&q->handle, r->handle, &ok);
    copy_opt(&q->offset, r->offset, &ok);
    copy_opt(&q->schema, r->schema, &ok);
    copy_opt(&q->cursor, r->cursor, &ok);
    copy_opt(&q->retry_after, r->retry_after, &ok);
    if (ok && r->body_len) {
        if ((q->body = esync__malloc(r->body_len)))
            memcpy(q->body, r->body, r->body_len);
        else
            ok = false;
    }
    if (!ok) {
        esync__queued_free(q);
        return esync__oom(e);
    }
    q->resp = *r;
    q->resp.handle = q->handle;
    q->resp.offset = q->offset;
    q->resp.schema = q->schema;
    q->resp.cursor = q->cursor;
    q->resp.retry_after = q->retry_after;
    q->resp.body = q->body;
    q->resp.body_writable = q->body; /* the queue's own copy */
    if (e->queue_tail)
        e->queue_tail->next = q;
    else
        e->queue = q;
    e->queue_tail = q;
    return ESYNC_OK;
}

esync_queued *esync__queue_pop(esync *e) {
    esync_queued *q = e->queue;
    if (!q) return NULL;
    e->queue = q->next;
    if (!e->queue) e->queue_tail = NULL;
    return q;
}

bool esync__queue_has(const esync *e, const char *name) {
    for (const esync_queued *q = e->queue; q; q = q->next)
        if (!strcmp(q->shape, name)) return true;
    return false;
}
