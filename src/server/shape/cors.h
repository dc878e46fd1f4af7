/* The headers every shape response carries, from /v1/shape (shape/http.c) and from the proxy
 * (shape/proxy.c) alike: CORS (Electric's allowed methods and exposed headers), electric-server
 * and a request id. Its own file so that http.c and proxy.c both use it without depending on
 * each other:
 *
 *     shape/http.c ──> shape/proxy.h ──> (libcurl)
 *          │                │
 *          └──> shape/cors.h <┘
 */
#ifndef ESYNC_SERVER_SHAPE_CORS_H
#define ESYNC_SERVER_SHAPE_CORS_H

struct MHD_Response;

/* Adds the headers to resp; origin is the request's Origin header (or NULL: "*"). Any thread. */
void esync__cors_add(struct MHD_Response *resp, const char *origin);

#endif
