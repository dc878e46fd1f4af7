/*
 * request.h — what a shape fetches next (request.c). esync_next_request (esync.h) turns the
 * request layer of a shape into a query string or a wait; the functions below change that layer
 * after a response: a refetch from scratch, or a retry after a backoff.
 */
#ifndef ESYNC_REQUEST_H
#define ESYNC_REQUEST_H

#include "internal.h"

/* Appends the query of the shape's next request, without a cache-buster, to b (esync_next_request
 * and esync_shape_first_request). Returns whether it is a live request. */
bool esync__request_query(esync_buf *b, const esync_shape *s);
/* Must-refetch (a 409, the control message, a 400 "out of bounds", or repeated bad data): rolls
 * back the shape's open batch, forgets its handle (new_handle, from a 409, replaces it when
 * given and different) and restarts it at offset -1 with a cache-buster; the next batch is built
 * aside and diffed against the replica. */
void esync__request_refetch(esync *e, esync_shape *s, const char *new_handle);
/* After a response the engine could not apply (code rc, message in e's error slot): rolls the
 * batch back, plans a retry from the last committed offset after a short backoff, and a refetch
 * after ESYNC_DATA_FAILURES_REFETCH failures in a row. Returns rc with the message kept. */
int esync__request_retry_bad_data(esync *e, esync_shape *s, int rc);
/* After a transient failure (network error, 429, 5xx): an open batch stays open, and the next
 * request waits a jittered exponential backoff (retry-after as a minimum). Returns
 * ESYNC_ERETRY with the shape's error set. */
int esync__request_retry_transient(esync *e, esync_shape *s, const esync_response *r);

/* Bad responses in a row (from the same committed offset) before the shape refetches: one can
 * be a truncated transfer, two a bad cached response; three in a row mean the log cannot be
 * applied from there, and a fresh snapshot (behind a cache-buster) is the way out. */
#define ESYNC_DATA_FAILURES_REFETCH 3

#endif
