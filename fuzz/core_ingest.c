/*
 * libFuzzer target: one shape response into the engine. The first byte picks the status and
 * flags, an optional first line is the electric-schema header, the rest is the body. Checks the
 * engine's promises on every input: no crash or sanitizer report, a failed ingest leaves the
 * committed offset and row count unchanged, and the replica stays internally consistent.
 * Differential check: whatever the engine's zero-copy body parser accepts, cJSON accepts too,
 * with the same number of messages, and the same headers.txids where it took them.
 * A 401 (the shape waits for credentials with its batch kept) is resumed at once, and every
 * input ends with the tab API's reads: esync_txid_seen and esync_query_tables.
 */
#define _POSIX_C_SOURCE 200809L
#include "esync.h"
#include "msgparse.h" /* the body parser, for the differential check against cJSON */

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *k_schema =
    "{\"id\":{\"type\":\"int4\",\"pk_index\":0,\"not_null\":true},\"title\":{\"type\":\"text\"},"
    "\"done\":{\"type\":\"bool\"},\"tags\":{\"type\":\"text\",\"dims\":1},\"meta\":{\"type\":\"jsonb\"},"
    "\"big\":{\"type\":\"int8\"},\"f\":{\"type\":\"float8\"},\"b\":{\"type\":\"bytea\"}}";

static esync *g_e;
static char g_path[64];
static unsigned g_iter;

static void cleanup(void) {
    esync_close(g_e);
    unlink(g_path);
}

static void setup(void) {
    snprintf(g_path, sizeof g_path, "/dev/shm/esync-fuzz-%d.db", (int)getpid());
    unlink(g_path);
    esync_options o = {.path = g_path, .seed = 1, .max_body_bytes = 1 << 20, .journal_mode = "wal"};
    if (esync_open(&o, &g_e) || esync_shape_define(g_e, "items", "{\"table\":\"items\"}")) abort();
    atexit(cleanup);
}

/* The committed layer: what a crash right now would leave. */
static char *committed_offset(void) {
    char *rows = NULL;
    if (esync_query(g_e, "SELECT handle, \"offset\", row_count FROM esync_shapes", NULL, &rows,
                    NULL))
        abort();
    return rows;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_e) setup();
    if (size < 1) return 0;
    if (++g_iter % 512 == 0) { /* keep the replica small */
        char *ev = NULL;
        esync_reset(g_e, &ev, NULL);
        esync_free(ev);
    }
    uint8_t flags = data[0];
    data++, size--;
    static const int statuses[] = {200, 200, 200, 401, 204, 409, 400, 503};
    char *schema = NULL;
    if (flags & 0x08) {
        const uint8_t *nl = memchr(data, '\n', size);
        size_t n = nl ? (size_t)(nl - data) : size;
        schema = malloc(n + 1);
        memcpy(schema, data, n);
        schema[n] = 0;
        data += nl ? n + 1 : n;
        size -= nl ? n + 1 : n;
    }
    {
        esync_msgs ms;
        int prc = esync__msgs_parse(&ms, data, size, NULL);
        cJSON *j = esync__json_parse((const char *)data, size, NULL);
        if (prc == ESYNC_OK && !j) abort();
        if (prc == ESYNC_OK && ms.is_array &&
            (!cJSON_IsArray(j) || (size_t)cJSON_GetArraySize(j) != ms.n))
            abort();
        for (size_t i = 0; prc == ESYNC_OK && ms.is_array && i < ms.n; i++) {
            const esync_msg *m = &ms.m[i];
            if (!m->has_txids || m->txids_bad) continue;
            cJSON *h = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, (int)i), "headers");
            cJSON *tx = cJSON_GetObjectItemCaseSensitive(h, "txids");
            if (cJSON_IsNull(tx)) continue;
            if (!cJSON_IsArray(tx) || (size_t)cJSON_GetArraySize(tx) != m->ntxids) abort();
            size_t k = 0;
            for (cJSON *v = tx->child; v; v = v->next, k++) {
                int64_t want = ms.tx[m->txid0 + k];
                if (cJSON_IsString(v) ? strtoll(v->valuestring, NULL, 10) != want
                                      : !cJSON_IsNumber(v) ||
                                            (want < (1LL << 53) && v->valuedouble != (double)want))
                    abort();
            }
        }
        if (prc == ESYNC_OK) esync__msgs_free(&ms);
        cJSON_Delete(j);
    }
    esync_request rq;
    esync_next_request(g_e, "items", &rq);
    esync_response r = {.status = statuses[(flags >> 4) & 7],
                        .handle = (flags & 0x80) ? "h2" : "h1",
                        .offset = (flags & 0x02) ? "0_inf" : "1000_2",
                        .schema = schema ? schema : k_schema,
                        .cursor = (flags & 0x04) ? "42" : NULL,
                        .up_to_date = flags & 0x01,
                        .retry_after = "1",
                        .body = data,
                        .body_len = size,
                        .now_ms = 1.0};
    /* Odd-sized inputs go through the in-place parser (a writable copy, as the wasm bridge). */
    uint8_t *copy = NULL;
    if (size & 1) {
        copy = malloc(size ? size : 1);
        memcpy(copy, data, size);
        r.body = copy;
        r.body_writable = copy;
    }
    char *before = committed_offset();
    char *changes = NULL;
    int rc = esync_ingest(g_e, "items", &r, &changes, NULL);
    if (rc < 0 && changes) abort(); /* a failed ingest returns no change set */
    if (rc == ESYNC_EAUTH && esync_shape_resume(g_e, "items")) abort();
    if (rc < 0) {
        char *after = committed_offset();
        if (strcmp(before, after)) abort(); /* the batch must roll back whole */
        esync_free(after);
    }
    esync_free(before);
    esync_free(changes);
    char *rows = NULL;
    if (esync_query(g_e, "SELECT count(*) FROM items", NULL, &rows, NULL) == ESYNC_OK)
        esync_free(rows);
    if (esync_query_tables(g_e, "SELECT count(*) FROM items", &rows, NULL) == ESYNC_OK)
        esync_free(rows);
    char txid[24];
    snprintf(txid, sizeof txid, "%u", (unsigned)(size ? data[size - 1] : 0) + 740u);
    if (esync_txid_seen(g_e, txid) < 0) abort();
    free(schema);
    free(copy);
    return 0;
}
