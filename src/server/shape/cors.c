/* The headers of every shape response (see shape/cors.h). */
#include "shape/cors.h"

#include <microhttpd.h>
#include <stdio.h>

/* The Electric version whose protocol /v1/shape speaks (the official client reads the header). */
#define ELECTRIC_VERSION "1.1.0"

static unsigned long request_ids;

void esync__cors_add(struct MHD_Response *resp, const char *origin) {
    MHD_add_response_header(resp, "access-control-allow-origin", origin && *origin ? origin : "*");
    MHD_add_response_header(resp, "access-control-allow-methods",
                            "GET, POST, HEAD, DELETE, OPTIONS");
    MHD_add_response_header(resp, "access-control-expose-headers",
                            "electric-cursor, electric-handle, electric-has-data, electric-offset, "
                            "electric-schema, electric-up-to-date, electric-internal-known-error, "
                            "retry-after, electric-sync-rows, electric-sync-rows-estimate");
    /* On every answer, the "*" ones included: a cache that stored the answer to a request
     * without Origin must not hand its headers to a request with one (and the reverse). And
     * accept-encoding: a snapshot chunk is sent in gzip to a client that accepts it, and accept:
     * as a replica image to one that asks for it (shape/serve.c). One header: nginx keeps only one
     * of several Vary lines. */
    MHD_add_response_header(resp, "vary", "origin, accept-encoding, accept");
    MHD_add_response_header(resp, "electric-server",
                            "ElectricSQL/" ELECTRIC_VERSION " (electric-sync)");
    char id[32];
    snprintf(id, sizeof id, "esync-%lx", __atomic_add_fetch(&request_ids, 1, __ATOMIC_RELAXED));
    MHD_add_response_header(resp, "x-request-id", id);
}
