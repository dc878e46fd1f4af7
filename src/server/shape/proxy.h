/* The upstream client of /api/electric/v1/shape: forwards a shape request to an
 * Electric-compatible server (ELECTRIC_URL) and streams its answer back, headers and body, as it
 * arrives; long-polls included.
 *
 * Why libcurl (Debian's libcurl4-openssl-dev): a real Electric is usually behind HTTPS and a CDN
 * (HTTP/1.1 and HTTP/2, TLS, chunked bodies, redirects of the CDN); its multi interface runs any
 * number of transfers on one thread, so a held long-poll costs no thread here either.
 *
 * Threads: one proxy thread runs every transfer (curl multi). The HTTP request is suspended until
 * the upstream headers arrive; then it is answered with a streaming body, whose reader runs on the
 * epoll thread, takes what the proxy thread buffered, and suspends the connection when it is empty
 * (the proxy thread resumes it when more arrives).
 */
#ifndef ESYNC_SERVER_SHAPE_PROXY_H
#define ESYNC_SERVER_SHAPE_PROXY_H

#include "http/http.h"

typedef struct esync_proxy esync_proxy;

/* base: ELECTRIC_URL (".../v1/shape" is appended unless it already ends with it). */
esync_proxy *esync__proxy_start(const char *base);
/* Forwards r: query is the already-encoded query string to send (secret included by the
 * caller), origin the request's Origin header (or NULL) for the CORS headers of the answer,
 * if_none_match forwarded when not NULL. Suspends r; answers it from the proxy thread. */
void esync__proxy_forward(esync_proxy *p, esync_req *r, const char *query, const char *origin,
                          const char *if_none_match, bool head);
/* Ends every transfer (their requests get 502 or a cut body) and frees p. */
void esync__proxy_stop(esync_proxy *p);

#endif
