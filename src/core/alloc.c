/*
 * alloc.c — the one allocator pair. Every byte the engine, SQLite and cJSON allocate goes through
 * here, with a 16-byte header holding the size, so esync_memory_used() is exact and tests can
 * assert that memory returns to its baseline (the wasm heap itself never shrinks).
 * esync_initialize() hands it to SQLite and cJSON. The counters are atomic: a multi-threaded
 * process (the shape service, which builds replica images on a thread of its own while its
 * other threads use cJSON) counts right; in the single-threaded wasm module they are plain.
 */
#include "alloc.h"

#include "esync.h"

#include <cJSON.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16 /* keeps max_align_t alignment for what follows */

static int64_t g_used, g_high;
static int g_initialized;

static void count(int64_t delta) {
    int64_t used = __atomic_add_fetch(&g_used, delta, __ATOMIC_RELAXED);
    int64_t high = __atomic_load_n(&g_high, __ATOMIC_RELAXED);
    while (used > high && !__atomic_compare_exchange_n(&g_high, &high, used, 1, __ATOMIC_RELAXED,
                                                       __ATOMIC_RELAXED)) {}
}

void *esync__malloc(size_t n) {
    if (n > (size_t)INT64_MAX - HDR) return NULL;
    unsigned char *p = malloc(n + HDR);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    count((int64_t)n);
    return p + HDR;
}

static size_t block_size(void *p) {
    size_t n;
    memcpy(&n, (unsigned char *)p - HDR, sizeof n);
    return n;
}

void esync__freemem(void *p) {
    if (!p) return;
    count(-(int64_t)block_size(p));
    free((unsigned char *)p - HDR);
}

void *esync__realloc(void *p, size_t n) {
    if (!p) return esync__malloc(n);
    if (n > (size_t)INT64_MAX - HDR) return NULL;
    size_t old = block_size(p);
    unsigned char *q = realloc((unsigned char *)p - HDR, n + HDR);
    if (!q) return NULL;
    memcpy(q, &n, sizeof n);
    count((int64_t)n - (int64_t)old);
    return q + HDR;
}

char *esync__strndup(const char *s, size_t n) {
    char *d = esync__malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *esync__strdup(const char *s) { return s ? esync__strndup(s, strlen(s)) : NULL; }

bool esync__set_str(char **slot, const char *v) {
    char *d = NULL;
    if (v && !(d = esync__strdup(v))) return false;
    esync__freemem(*slot);
    *slot = d;
    return true;
}

void esync_free(void *p) { esync__freemem(p); }
int64_t esync_memory_used(void) { return __atomic_load_n(&g_used, __ATOMIC_RELAXED); }
int64_t esync_memory_highwater(int reset) {
    int64_t h = g_high;
    if (reset) __atomic_store_n(&g_high, esync_memory_used(), __ATOMIC_RELAXED);
    return h;
}

/* SQLite's allocator interface. */
static void *sq_malloc(int n) { return esync__malloc((size_t)n); }
static void sq_free(void *p) { esync__freemem(p); }
static void *sq_realloc(void *p, int n) { return esync__realloc(p, (size_t)n); }
static int sq_size(void *p) { return p ? (int)block_size(p) : 0; }
static int sq_roundup(int n) { return (n + 7) & ~7; }
static int sq_init(void *x) {
    (void)x;
    return SQLITE_OK;
}
static void sq_shutdown(void *x) { (void)x; }

static void *cj_malloc(size_t n) { return esync__malloc(n); }
static void cj_free(void *p) { esync__freemem(p); }

int esync__initialize_sqlite(void) {
    static int done;
    if (done) return ESYNC_OK;
    static const sqlite3_mem_methods mem = {sq_malloc,  sq_free, sq_realloc,  sq_size,
                                            sq_roundup, sq_init, sq_shutdown, NULL};
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mem) != SQLITE_OK) return ESYNC_ESQLITE;
    if (sqlite3_initialize() != SQLITE_OK) return ESYNC_ESQLITE;
    done = 1;
    return ESYNC_OK;
}

int esync_initialize(void) {
    if (g_initialized) return ESYNC_OK;
    int rc = esync__initialize_sqlite();
    if (rc) return rc;
    cJSON_Hooks hooks = {cj_malloc, cj_free};
    cJSON_InitHooks(&hooks);
    g_initialized = 1;
    return ESYNC_OK;
}
