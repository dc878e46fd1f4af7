/* electric-sync-server: the REST API of the seed, static web/ and the wasm build, on Postgres.
 *
 * Exit codes: 0 after SIGINT/SIGTERM, 2 bad configuration (including the refusal to face a
 * network without ELECTRIC_SECRET, config.h), 3 Postgres unreachable at start, 4 cannot listen. Signals are taken synchronously by the main thread (sigwait), blocked in every
 * other thread, so shutdown runs as ordinary code: stop accepting, finish queued database jobs
 * (each resumes its request), let the replies go out (3 s at most), then close every connection.
 */
#include <cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __GLIBC__ /* (defined by the headers above) */
#include <malloc.h>
#endif

#include "api/db.h"
#include "api/handlers.h"
#include "common.h"
#include "config.h"
#include "http/http.h"
#include "log.h"
#include "shape/http.h"

/* Exit codes (README "Server"). */
enum {
    EXIT_BAD_CONFIG = 2,  /* a malformed setting (config.c names it), or arguments */
    EXIT_NO_DATABASE = 3, /* Postgres unreachable at start */
    EXIT_NO_LISTEN = 4,   /* the address cannot be bound */
};

/* Thousands of held long-polls need thousands of descriptors: take the hard limit. */
static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* glibc maps each block over M_MMAP_THRESHOLD (128 KiB at first, up to 32 MiB as it adapts) on
 * its own and unmaps it when freed, and gives the top of a heap back past M_TRIM_THRESHOLD: the
 * next block of that size then starts on memory the kernel has to fault in again, page by page.
 * The shape service allocates blocks of a chunk's size over and over (a chunk read for its image,
 * the parser's arrays, SQLite's page cache), and on this kind of VM a page fault costs ~5 ms per
 * MB: half of a 10 MB chunk's image build (78 ms natively, 39 ms with the memory kept; the
 * README's measurements). So blocks up to 64 MiB come from the heaps, and a heap keeps up to
 * 128 MiB free for the next use: the server's memory stays at its high-water mark. */
static void keep_heap_memory(void) {
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
#endif
}

int main(int argc, char **argv) {
    keep_heap_memory();
    if (argc > 1) {
        fprintf(stderr, "usage: %s (configured by environment: see README, section Server)\n",
                argv[0]);
        return EXIT_BAD_CONFIG;
    }
    esync_config cfg;
    char err[1024];
    int rc = esync_config_load(&cfg, err, sizeof err);
    esync_log_setup(cfg.log_level, cfg.log_json); /* read first, so even a refusal is formatted */
    if (rc != 0) {
        esync_log_error("%s", err);
        return EXIT_BAD_CONFIG;
    }
    cJSON_Hooks hooks = {esync__xmalloc, free};
    cJSON_InitHooks(&hooks);
    raise_fd_limit();

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* inherited by every thread created below */
    signal(SIGPIPE, SIG_IGN);

    char *shown = esync__redact_url(cfg.database_url);
    esync_db *db = esync_db_start(cfg.database_url, cfg.db_pool, err, sizeof err);
    if (!db) {
        esync_log_error("cannot connect to Postgres at %s: %s (start the private cluster with "
                        "`bash scripts/pg.sh start`, or set DATABASE_URL)",
                        shown, err);
        free(shown);
        esync_config_free(&cfg);
        return EXIT_NO_DATABASE;
    }
    esync_shape_http_options so = {
        .service =
            {
                .database_url = cfg.database_url,
                .dir = cfg.shapes_dir,
                .chunk_bytes = cfg.chunk_bytes,
                .long_poll_ms = cfg.long_poll_ms,
                .workers = cfg.shape_workers,
                .gzip_level = (int)cfg.shape_gzip,
                .images = cfg.shape_images,
                .reconcile_ms = cfg.reconcile_ms,
            },
        .secret = cfg.electric_secret,
        .electric_url = cfg.electric_url,
        .proxy_ntables = cfg.proxy_ntables,
        .proxy_schemas = (const char *const *)cfg.proxy_schemas,
        .proxy_names = (const char *const *)cfg.proxy_names,
    };
    esync_shape_http *shapes = esync_shape_http_start(&so);
    esync_app app = {.cfg = &cfg, .db = db, .shapes = shapes};
    esync_http_options opt = {
        .host = cfg.host,
        .port = cfg.port,
        .routes = (cfg.dev ? ESYNC_ROUTES_DEV : 0u) | (cfg.shape_api ? ESYNC_ROUTES_SHAPE_API : 0u),
        .timeout_seconds = cfg.http_timeout,
        .max_connections = cfg.max_connections,
        .dispatch = esync_handlers_dispatch,
        .app = &app,
    };
    esync_http *http = esync_http_start(&opt, err, sizeof err);
    if (!http) {
        esync_log_error("%s", err);
        esync_shape_http_stop(shapes);
        esync_db_stop(db);
        free(shown);
        esync_config_free(&cfg);
        return EXIT_NO_LISTEN;
    }
    /* What /v1/shape is on this listener, said once: the one thing an operator must know. */
    const char *shape_api = cfg.electric_secret ? "/v1/shape requires the secret"
                            : cfg.dev           ? "/v1/shape open (dev mode)"
                            : cfg.electric_insecure
                                ? "/v1/shape open without a secret (ELECTRIC_INSECURE=true)"
                                : "/v1/shape not served (no ELECTRIC_SECRET): shapes through "
                                  "/api/electric/v1/shape";
    esync_log("listening on http://%s:%u/ (database %s, %u connection(s)%s%s; %s)", cfg.host,
              cfg.port, shown, cfg.db_pool, cfg.dev ? ", dev mode" : "",
              cfg.electric_url ? ", Electric upstream configured" : "", shape_api);
    if (cfg.electric_insecure && !cfg.electric_secret && !cfg.dev)
        esync_log_warn("ELECTRIC_INSECURE=true: anyone who reaches this port reads any table "
                       "through /v1/shape");
    free(shown);

    int sig = 0;
    sigwait(&sigs, &sig);
    esync_log("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    esync_http_quiesce(http);
    esync_shape_http_stop(shapes); /* answers the held long-polls */
    esync_db_stop(db);
    /* The drained jobs have resumed their requests; let their replies go out before closing. */
    if (!esync_http_drain(http, 3000)) esync_log_warn("requests still open after 3 s are dropped");
    esync_http_stop(http);
    esync_config_free(&cfg);
    esync_log("stopped");
    return 0;
}
