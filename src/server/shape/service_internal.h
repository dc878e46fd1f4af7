/* Internal to the shape service: the state behind shape/service.h, shared by its files, and the
 * functions they call across. Nothing outside the service's files includes this header.
 *
 *   service.c   the registry of shapes, shape creation, request routing, start and stop
 *   serve.c     the answer a request gets from a shape's log (any thread holding the lock)
 *   notifier.c  parked requests (shape waiters, deadlines) and the notifier thread
 *   workers.c   the job queue and the worker threads: catalog checks, snapshots, reconciling
 *   sink.c      the replication callbacks (replication thread): transactions into shape logs
 *   restore.c   what a restart finds: meta.json of each shape, state.json, loading them
 *
 * The lock: esync_shapes.mu guards the registry (buckets, all), every shape's fields, the parked
 * requests (waiters, the deadline list, dirty list), the job queue and the replication state
 * below. The exceptions, each owned by one thread:
 *   - a request's definition and its priv before it is routed (the submitting thread) or while
 *     its catalog check runs (the worker holding the job);
 *   - a CREATING shape's snapshot chunks and its view, table and storage pointers, which the
 *     snapshot worker uses without the lock (it holds a reference; they never change). While
 *     `snapshotting` is set, the storage is the worker's: an invalidation leaves it to the
 *     worker, which removes it when it ends. What the worker publishes (complete chunks, row
 *     counts) it writes under the lock, into the fields below;
 *   - stored_flushed: the replication thread's (sink.c), and restore.c's at start before any
 *     thread runs;
 *   - the bytes of a storage already published (read with pread without the lock).
 * A request is completed exactly once, through its done callback, never under the lock: completed
 * requests are collected in a done_list and esync__service_run_done runs after unlocking.
 *
 * This header holds the shared types and service.c's functions; each other file of the service
 * declares its own in its header (serve.h, notifier.h, workers.h, sink.h, restore.h). Naming:
 * functions shared across these files are esync__<file>_* (esync__service_lookup is in
 * service.c, esync__serve_request in serve.c, ...); the rest are static.
 */
#ifndef ESYNC_SERVER_SHAPE_SERVICE_INTERNAL_H
#define ESYNC_SERVER_SHAPE_SERVICE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pg/repl.h"
#include "sbuf.h"
#include "shape/msg.h"
#include "shape/service.h"
#include "shape/snapshot.h"
#include "shape/storage.h"
#include "shape/table.h"

#define NBUCKETS 4096 /* hash buckets of the registry (by definition key) */

enum shape_state { S_CREATING, S_READY, S_GONE };
enum wait_kind { W_NONE, W_JOB, W_SHAPE };

typedef struct pend_txn { /* a transaction collected before the snapshot's filter was known */
    struct pend_txn *next;
    uint32_t xid;
    char *buf;
    size_t len, n;
    size_t *ends;
    esync_offset *offs;
} pend_txn;

typedef struct shape shape;
struct shape {
    char handle[64];
    char *key;
    uint64_t hash;
    int refs;
    enum shape_state state;
    esync_table *t;
    esync_shape_view view;
    char *schema_json;
    /* definition, as stored in meta.json */
    char *where;
    char **params;
    int nparams;
    char **columns;
    int ncolumns;
    bool full;
    /* storage */
    esync_storage *log;
    int nchunks;           /* READY: the snapshot's chunks */
    int chunks_complete;   /* CREATING: chunks written whole so far, served at once */
    bool images_made_here; /* its snapshot was written by this process with images on: each
                            * chunk's image job was queued as it completed (serve.c waits) */
    bool snapshotting;     /* a snapshot job is writing the storage (see the lock above) */
    int64_t rows_estimate; /* the planner's estimate of the snapshot's rows, -1: unknown */
    int64_t rows;          /* the snapshot's exact row count once written, -1: unknown */
    esync_snapinfo snap;
    bool snap_known, filter_done, needs_sync;
    /* the transaction being received (replication thread) */
    bool tx_skip, tx_filtered; /* tx_filtered: the xid filter was applied at Begin */
    esync_sb tx;
    size_t *tx_ends;
    esync_offset *tx_offs;
    size_t tx_n, tx_cap;
    pend_txn *pend_head, *pend_tail;
    /* parked requests */
    struct esync_shape_priv *waiters;
    bool dirty;
    shape *dirty_next;
    shape *next, *prev; /* all live (not GONE) shapes */
    shape *hnext;       /* hash chain */
};

struct esync_shape_priv {
    esync_shape_req *q;
    enum wait_kind wait;
    shape *s;       /* held reference while parked on a shape */
    esync_table *t; /* after the catalog check */
    esync_where *where;
    int *sel;
    int nsel;
    int64_t deadline; /* ms, monotonic; 0: none */
    bool oob;         /* waiting out an out-of-bounds offset */
    bool timed_out;
    /* waiting for a snapshot chunk's image (serve.c): polled every ESYNC_IMAGE_POLL_MS, since
     * image_since (ms), for at most ESYNC_IMAGE_WAIT_MS */
    bool image_wait;
    int64_t image_since;
    struct esync_shape_priv *wprev, *wnext; /* the shape's waiters */
    struct esync_shape_priv *tprev, *tnext; /* the deadline list */
    esync_shape_req *done_next;
};

#define ESYNC_IMAGE_WAIT_MS 1000
#define ESYNC_IMAGE_POLL_MS 5
#define ESYNC_IMAGE_WAIT_MIN_BYTES (1u << 20) /* smaller chunks: their JSON at once */

/* A worker's job (workers.c). */
typedef struct job job;

struct esync_shapes {
    esync_shapes_options o;
    char dir[PATH_MAX];
    char slot[64], pub[64];
    int lock_fd;
    pthread_mutex_t mu;
    pthread_cond_t notify_cv, job_cv, repl_cv;
    bool stopping;
    shape *buckets[NBUCKETS];
    shape *all;
    shape *dirty_head;
    struct esync_shape_priv *tl_head, *tl_tail; /* parked requests with a deadline, by deadline */
    /* replication */
    esync_repl *repl;           /* started with the first shape (or a stored one) */
    char owner[PATH_MAX + 300]; /* "<host>:<dir>", the publication's comment */
    bool repl_started;
    uint64_t stored_flushed; /* state.json */
    uint64_t global_lsn;     /* commit LSN of the last transaction processed */
    uint32_t tx_xid;
    uint64_t tx_lsn;
    /* threads */
    pthread_t notifier;
    pthread_t *workers;
    unsigned nworkers;
    job *jobs_head, *jobs_tail;
    uint64_t last_handle_us;
    int64_t next_reconcile; /* ms, monotonic */
    bool reconcile_queued;
};

/* Requests completed under the lock, to call done() on after unlocking. */
typedef struct done_list {
    esync_shape_req *done;
} done_list;

/* --- service.c: registry, completion --------------------------------------------------------- */

/* The live shape of a definition key, or NULL. */
shape *esync__service_lookup(esync_shapes *S, const char *key);
/* Adds a shape to the registry (which takes the reference s was created with). */
void esync__service_add(esync_shapes *S, shape *s);
/* Drops a reference; the last one frees the shape (its storage closed, files kept). */
void esync__service_unref(shape *s);
/* Queues s for the notifier (it has news for its waiters). */
void esync__service_mark_dirty(esync_shapes *S, shape *s);
/* Removes a shape for good (files deleted); its parked requests get 409 from the notifier. */
void esync__service_invalidate(esync_shapes *S, shape *s, const char *why);
/* Routes a request whose definition is checked or known: answers it, parks it, or creates the
 * shape. *parked tells whether q->park was already called. */
void esync__service_route(esync_shapes *S, esync_shape_req *q, done_list *c, bool *parked);
/* Unparks q and adds it to c. */
void esync__service_complete(esync_shapes *S, done_list *c, esync_shape_req *q);
/* Calls done() on every request of c. Without the lock. */
void esync__service_run_done(done_list *c);

#endif
