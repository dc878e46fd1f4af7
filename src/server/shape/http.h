/* The HTTP face of the shape service: GET/HEAD/OPTIONS /v1/shape (docs/protocol.md §1-§4)
 * and the proxy /api/electric/v1/shape (docs/contracts.md).
 *
 *   - /v1/shape: parameters parsed on the epoll thread (shape/params.h: every malformed one is a
 *     400 in Electric's envelope), the secret checked when ELECTRIC_SECRET is set (401), then the
 *     request goes to the shape service, which answers at once or parks it (the connection is
 *     suspended: a held long-poll costs no thread). Every response carries CORS, the electric-*
 *     headers the official client needs, etag (304 on If-None-Match) and cache-control (§2.3).
 *   - /api/electric/v1/shape: only tables on the allow-list (ESYNC_PROXY_TABLES in config.h;
 *     403 otherwise). Without ELECTRIC_URL it is the built-in service, called in-process and
 *     authorized; with ELECTRIC_URL the request goes to that Electric-compatible server
 *     (proxy.h) with secret=ELECTRIC_SECRET added there, never shown to the browser.
 *
 * The shape/ folder, each file using only those below it (no circle):
 *
 *     http.c        this interface: libmicrohttpd in, service requests out
 *      ├─ params    query parameters -> esync_shape_req (pure)
 *      ├─ proxy     the upstream client (libcurl) ─┐
 *      ├─ cors      headers of every response   <──┘
 *      └─ service   service.h, the one interface of the service; its files (service, serve,
 *          │        notifier, workers, sink, restore) share service_internal.h
 *          ├─ snapshot   a shape's snapshot query (libpq)
 *          ├─ msg        rows -> Electric messages (pure)
 *          ├─ table      catalog lookup, identifier syntax, where clauses (src/where)
 *          └─ storage    a shape's files (snapshot chunks, log, index, meta.json)
 *
 * Naming: a function is named after the file that defines it. What other folders call is
 * esync_<module>_*: this header (esync_shape_http_*), service.h (esync_shapes_*,
 * esync_shape_req_free, ...) and the identifier syntax of table.h (esync_table_parse_*, which
 * config.c uses for ESYNC_PROXY_TABLES). What only this folder's files call is esync__<file>_*:
 * esync__table_*, esync__storage_*, esync__params_*, esync__msg_*, esync__snapshot_*,
 * esync__proxy_*, esync__cors_*, and the service's esync__service_*, esync__serve_*, ...
 */
#ifndef ESYNC_SERVER_SHAPE_HTTP_H
#define ESYNC_SERVER_SHAPE_HTTP_H

#include <stdbool.h>

#include "http/http.h"
#include "shape/service.h"

typedef struct esync_shape_http esync_shape_http;

/* Everything comes from the caller (the server's settings, config.h); nothing here has a
 * default. The strings are copied. */
typedef struct esync_shape_http_options {
    esync_shapes_options service; /* the shape service's settings (see shape/service.h) */
    const char *secret;           /* the secret /v1/shape requires and the proxy adds, or NULL */
    const char *electric_url;     /* the proxy's upstream Electric, or NULL: the built-in service */
    int proxy_ntables;            /* the proxy's allow-list: proxy_schemas[i], proxy_names[i] */
    const char *const *proxy_schemas;
    const char *const *proxy_names;
} esync_shape_http_options;

/* Starts the shape service (and the proxy client when electric_url is set). When the service
 * cannot start (the shapes directory is unusable, or used by another server), the reason is
 * logged and /v1/shape answers 503: the rest of the server stays useful. */
esync_shape_http *esync_shape_http_start(const esync_shape_http_options *o);
/* Handles a request on /v1/shape (proxy false) or /api/electric/v1/shape (proxy true). Called
 * from the dispatch function. */
void esync_shape_http_handle(esync_shape_http *h, esync_req *r, bool proxy);
/* Invalidates every shape (their clients get 409 and refetch), e.g. after the tables were
 * recreated. Any thread. */
void esync_shape_http_invalidate_all(esync_shape_http *h, const char *why);
/* The service's state for the health routes; false when the service is not running (its
 * shapes directory is in use by another server, or unusable). Any thread. */
bool esync_shape_http_health(esync_shape_http *h, esync_shapes_health *out);
/* Answers every held request, stops the service, frees h. Call before esync_http_stop. */
void esync_shape_http_stop(esync_shape_http *h);

#endif
