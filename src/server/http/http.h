/* The HTTP layer: libmicrohttpd with one epoll thread, and the request object handlers see.
 *
 * Life of a request (all in the epoll thread unless said otherwise):
 *   1. headers arrive: the route is matched, Content-Type and Content-Length are checked; a
 *      404/405/413/415 is answered right away, without reading the body;
 *   2. the body is collected (at most ESYNC_HTTP_BODY_LIMIT bytes; more is a 413);
 *   3. the app's dispatch function runs. It either replies (esync_req_reply*) before returning,
 *      or suspends the request (esync_req_suspend) and hands it to another thread (the database
 *      pool, later the shape service's long-polls), which replies and then calls
 *      esync_req_resume from any thread. A suspended request costs no thread and is never timed
 *      out by the HTTP layer; whoever suspended it must resume it exactly once;
 *   4. the reply is sent; one access-log line is written when the connection is done with it.
 *
 * Between suspend and resume, only the thread that holds the request may touch it.
 */
#ifndef ESYNC_SERVER_HTTP_H
#define ESYNC_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "http/routes.h"

#define ESYNC_HTTP_BODY_LIMIT (1u << 20)

struct MHD_Response;
typedef struct esync_http esync_http;
typedef struct esync_req esync_req;

typedef void (*esync_dispatch_fn)(void *app, esync_req *r);

typedef struct esync_http_options {
    const char *host; /* numeric IPv4 or IPv6 address to bind */
    unsigned port;
    unsigned routes;          /* which optional routes exist: esync_route_flags bits */
    unsigned timeout_seconds; /* idle connection timeout (a body that never completes) */
    unsigned max_connections;
    esync_dispatch_fn dispatch;
    void *app;
} esync_http_options;

/* Starts listening. Returns NULL (message in err) when the address cannot be bound. */
esync_http *esync_http_start(const esync_http_options *opt, char *err, size_t errsz);
/* Stops accepting new connections; requests already in flight carry on. */
void esync_http_quiesce(esync_http *h);
/* Waits until every request begun has been answered (or timeout_ms passed; returns false then).
 * Idle keep-alive connections do not count. */
bool esync_http_drain(esync_http *h, unsigned timeout_ms);
/* Closes every connection and frees h. No request may be suspended any more. */
void esync_http_stop(esync_http *h);

/* The request. Strings stay valid until the request completes. */
const char *esync_req_path(const esync_req *r); /* decoded, without the query string */
unsigned esync_req_method(const esync_req *r);  /* an esync_method bit */
const esync_route_match *esync_req_route(const esync_req *r);
const char *esync_req_body(const esync_req *r, size_t *len);  /* never NULL; NUL-terminated */
const char *esync_req_header(esync_req *r, const char *name); /* epoll thread only */
const char *esync_req_query(esync_req *r, const char *name);  /* epoll thread only */
/* Calls fn for every query argument, in order, decoded; value is NULL for a key without '='
 * (so `&live` is told apart from no `live`). Epoll thread only; the strings live as long as r. */
typedef void (*esync_req_arg_fn)(void *cls, const char *key, const char *value);
void esync_req_query_each(esync_req *r, esync_req_arg_fn fn, void *cls);

/* Replies. Exactly one reply per request; any thread that holds the request may reply.
 * esync_req_reply takes ownership of body (malloc'ed; NULL with len 0 for no body). */
void esync_req_reply(esync_req *r, int status, const char *content_type, char *body, size_t len);
void esync_req_reply_json(esync_req *r, int status, const char *json_text); /* copies */
void esync_req_reply_error(esync_req *r, int status, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Takes ownership of a prepared libmicrohttpd response (file bodies). */
void esync_req_reply_response(esync_req *r, int status, struct MHD_Response *resp,
                              unsigned long long bytes);
bool esync_req_has_reply(const esync_req *r);
/* Sets a header of the reply already made (replacing one of that name). */
void esync_req_set_header(esync_req *r, const char *name, const char *value);

/* Suspend: epoll thread, inside dispatch only. Resume: any thread, once, after the reply. */
void esync_req_suspend(esync_req *r);
void esync_req_resume(esync_req *r);

#endif
