/* The built-in shape service: shapes defined by requests, each with a snapshot and a change log
 * fed by logical replication, served as Electric's shape log (docs/protocol.md §2-§4, §7).
 *
 * Threads:
 *   - the caller of esync_shapes_submit (the HTTP epoll thread): routes a parsed request; answers
 *     at once when it can (data already in the log), else parks it;
 *   - the replication thread (repl.h): turns each committed transaction into per-shape messages,
 *     appends them to the logs, wakes the notifier;
 *   - the notifier: answers parked requests when their shape has news, or at their deadline
 *     (long-poll timeout, out-of-bounds grace, shape ready, shape invalidated);
 *   - the workers (each with its own database connection): catalog checks of new definitions and
 *     snapshots of new shapes.
 * One mutex guards the registry, the shapes' logs and the parked requests. A request is completed
 * exactly once, through q->done, never under that mutex.
 *
 * Shape identity is the definition (table, where, params, columns, replica); the handle
 * (`<hash of definition>-<unix µs>`) names one materialization and is never reused. Invalidation
 * (TRUNCATE, a changed Relation, the table gone or recreated under another OID as the periodic
 * catalog check finds, a purge after the slot was lost) removes the shape: requests
 * with its handle get 409 and the handle of the definition's new shape.
 */
#ifndef ESYNC_SERVER_SHAPE_SERVICE_H
#define ESYNC_SERVER_SHAPE_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shape/storage.h"

typedef struct esync_shapes esync_shapes;

/* Every field is required (the server's settings and their defaults are in config.h). */
typedef struct esync_shapes_options {
    const char *database_url;
    const char *dir;       /* the shapes' directory (created when missing) */
    uint64_t chunk_bytes;  /* snapshot and log chunk size */
    unsigned long_poll_ms; /* live hold */
    unsigned workers;      /* catalog/snapshot threads, one database connection each */
    unsigned reconcile_ms; /* period of the catalog check of the shapes' tables: a table
                                 dropped and created again sends no Relation message, so its
                                 shapes would never hear of it otherwise */
    int gzip_level;        /* zlib level of the snapshot chunks' gzip (1..9); 0: none */
    bool images;           /* make each snapshot chunk's replica image (shape/gzip.h) */
} esync_shapes_options;

/* The media type of a snapshot chunk's replica image (esync_image_build, docs/protocol.md §2.4). */
#define ESYNC_IMAGE_TYPE "application/vnd.electric-sync.image"

enum esync_offset_kind { ESYNC_OFFSET_BEFORE_ALL, ESYNC_OFFSET_NOW, ESYNC_OFFSET_AT };

/* Cache classes of docs/protocol.md §2.3. */
enum esync_cache_class {
    ESYNC_CC_INITIAL, /* offset=-1 */
    ESYNC_CC_NONLIVE,
    ESYNC_CC_LIVE,
    ESYNC_CC_409,     /* with a handle */
    ESYNC_CC_NO_STORE /* errors */
};

/* The answer to a shape request, read by the HTTP layer to build the response. The body is
 * head + [file range] + tail; fd < 0 when there is no file part. The HTTP layer owns what is in
 * here once done is called (esync_shape_result_free). */
typedef struct esync_shape_result {
    int status;
    enum esync_cache_class cache;
    char handle[64]; /* "" when none */
    char offset[48]; /* electric-offset, "" when none */
    char etag[160];  /* "" when none (quotes included) */
    bool up_to_date, has_data, schema_header;
    char *schema;    /* electric-schema JSON when schema_header */
    int retry_after; /* seconds, 0 for none */
    /* snapshot chunk answers: the snapshot's row count (electric-sync-rows when rows_exact, else
     * electric-sync-rows-estimate); -1: no such header */
    int64_t rows;
    bool rows_exact;
    char *head;
    size_t head_len;
    int fd;
    uint64_t fstart, flen;
    char *tail;
    size_t tail_len;
    /* the body is gzip-encoded (Content-Encoding: gzip): fd's range [fstart, fstart + flen) is all
     * of it, head and tail are empty */
    bool gzip;
    /* the body is a snapshot chunk's replica image (ESYNC_IMAGE_TYPE), fd's range all of it */
    bool image;
} esync_shape_result;

void esync_shape_result_free(esync_shape_result *r);

/* A parsed, syntactically valid request. The caller fills the definition and the offset part,
 * done and ctx; the service owns q from esync_shapes_submit until it calls done(q), after which
 * the caller frees it with esync_shape_req_free. */
typedef struct esync_shape_req esync_shape_req;
struct esync_shape_req {
    /* definition */
    char *schema, *table;
    char *where;   /* NULL: none */
    char **params; /* $1..$n */
    int nparams;
    char **columns; /* NULL: all */
    int ncolumns;
    bool full; /* replica=full */
    /* position */
    enum esync_offset_kind kind;
    esync_offset offset;
    char *handle; /* NULL when absent (or dropped for -1/now) */
    bool live;
    bool gzip;  /* the client accepts a gzip-encoded body (Accept-Encoding) */
    bool image; /* the client accepts a replica image for a snapshot chunk (Accept) */
    /* completion: called once, from any thread, without the service lock held */
    void (*park)(esync_shape_req *q); /* called (under the lock, on the submitting thread) when
                                          q will complete later: suspend the HTTP request here */
    void (*done)(esync_shape_req *q);
    void *ctx;
    esync_shape_result res;
    /* service-private */
    char *key;
    struct esync_shape_priv *priv;
};

void esync_shape_req_free(esync_shape_req *q);

/* Starts the service (loads the stored shapes, starts the threads). NULL with a message in err
 * when the directory cannot be used. */
esync_shapes *esync_shapes_start(const esync_shapes_options *o, char *err, size_t errsz);
/* Routes q (see above). */
void esync_shapes_submit(esync_shapes *s, esync_shape_req *q);
/* Invalidates every shape (requests with their handles get 409). Any thread. */
void esync_shapes_invalidate_all(esync_shapes *s, const char *why);
/* What a health check reports of the service. */
typedef struct esync_shapes_health {
    int shapes; /* live shapes (being created or ready) */
    /* the replication stream: "idle" (not started: no shape yet), "connecting" (started, not
     * streaming: connecting, or reconnecting after a loss) or "streaming" */
    const char *replication;
    char slot[64]; /* the replication slot's name (it exists once replication has started) */
} esync_shapes_health;

/* Fills h. Any thread. */
void esync_shapes_health_get(esync_shapes *s, esync_shapes_health *h);
/* Answers every parked request (503), stops the threads, frees s. */
void esync_shapes_stop(esync_shapes *s);

#endif
