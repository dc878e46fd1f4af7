/* serve.c, internal to the shape service: the answer a request gets from a shape's log
 * (any thread holding the lock).
 * The state and the lock are described in shape/service_internal.h. */
#ifndef ESYNC_SHAPE_SERVE_H
#define ESYNC_SHAPE_SERVE_H

#include "shape/service_internal.h"

/* Decides what q gets from shape s. Returns true when q was answered (complete it), false when it
 * must wait (the caller parks it). */
bool esync__serve_request(esync_shapes *S, shape *s, esync_shape_req *q);
/* A JSON body with no-store caching. */
void esync__serve_json(esync_shape_result *r, int status, const char *json);
/* 400 in Electric's envelope: {"message":"Invalid request","errors":{field:[msg]}}. */
void esync__serve_400(esync_shape_result *r, const char *field, const char *msg);
/* 409 must-refetch, with the definition's current handle when there is one. */
void esync__serve_409(esync_shape_result *r, const char *handle);
/* 503 database_unreachable with retry-after. */
void esync__serve_db_down(esync_shape_result *r);
/* True when an If-None-Match header value (NULL or "" for none) matches etag: "*", or any entity
 * tag of its comma-separated list compared weakly (a W/ prefix and the quotes do not count). */
bool esync__serve_etag_match(const char *inm, const char *etag);
/* True when an Accept-Encoding header value (NULL: none) accepts gzip: "gzip" or "x-gzip" with a
 * q above 0, or else "*" with a q above 0 (RFC 9110 §12.5.3). */
bool esync__serve_accepts_gzip(const char *ae);
/* True when an Accept header value (NULL: none) lists the replica image type (ESYNC_IMAGE_TYPE)
 * with a q above 0: only by name (a wildcard type does not ask for it). */
bool esync__serve_accepts_image(const char *accept);

#endif
