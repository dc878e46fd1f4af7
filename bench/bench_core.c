/*
 * bench_core: the core engine alone, natively (its wasm twin is bench/core-wasm.mjs; both build
 * the same workload with the same generator rules).
 *   1. initial sync: 100k test_items rows in 10 responses of 10k (the first at offset -1 without
 *      up-to-date, the last with it), timed from the first ingest to the commit;
 *   2. live: 10k single-row batches (update, insert or delete + up-to-date), timed per batch.
 * Prints one JSON object: rows/s, µs per batch (mean, p50, p99), peak engine memory, peak RSS.
 *   usage: bench_core [rows] [batches] [dbpath]
 */
#define _POSIX_C_SOURCE 200809L
#include "esync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *SCHEMA =
    "{\"id\":{\"type\":\"uuid\",\"pk_index\":0,\"not_null\":true},\"title\":{\"type\":\"text\",\"not_null\":true},"
    "\"description\":{\"type\":\"text\"},\"completed\":{\"type\":\"bool\",\"not_null\":true},"
    "\"created_at\":{\"type\":\"timestamp\",\"not_null\":true},\"updated_at\":{\"type\":\"timestamp\",\"not_null\":true}}";

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void uuid_of(long i, char out[37]) {
    snprintf(out, 37, "%08lx-0000-4000-8000-%012lx", i, i * 7919);
}

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;
static void sb_put(sbuf *b, const char *s) {
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static void row_msg(sbuf *b, long i, const char *op, int full, int first) {
    char id[37], tmp[512];
    uuid_of(i, id);
    if (!first) sb_put(b, ",");
    if (full)
        snprintf(
            tmp, sizeof tmp,
            "{\"key\":\"\\\"public\\\".\\\"test_items\\\"/\\\"%s\\\"\",\"value\":{\"id\":\"%s\",\"title\":\"Item %ld\","
            "\"description\":\"Description of item %ld, some text to make the row realistic\",\"completed\":\"%s\","
            "\"created_at\":\"2025-12-29 10:00:00.123456\",\"updated_at\":\"2025-12-29 10:00:00.123456\"},"
            "\"headers\":{\"operation\":\"%s\",\"relation\":[\"public\",\"test_items\"]}}",
            id, id, i, i, i % 3 ? "false" : "true", op);
    else
        snprintf(
            tmp, sizeof tmp,
            "{\"key\":\"\\\"public\\\".\\\"test_items\\\"/\\\"%s\\\"\",\"value\":{\"id\":\"%s\",\"completed\":\"t\","
            "\"updated_at\":\"2025-12-30 11:00:00\"},\"headers\":{\"operation\":\"%s\",\"relation\":[\"public\",\"test_items\"],"
            "\"lsn\":\"%ld\",\"op_position\":0,\"txids\":[%ld],\"last\":true}}",
            id, id, op, 100000 + i, 1000 + i);
    sb_put(b, tmp);
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    long rows = argc > 1 ? atol(argv[1]) : 100000;
    long batches = argc > 2 ? atol(argv[2]) : 10000;
    const char *path = argc > 3 ? argv[3] : "/tmp/esync-bench-native.db";
    const int chunks = 10;
    unlink(path);
    char wal[512];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    esync *e;
    esync_options o = {.path = path, .seed = 7, .journal_mode = "wal"};
    if (esync_open(&o, &e) || esync_shape_define(e, "test_items", "{\"table\":\"test_items\"}")) {
        fprintf(stderr, "open failed\n");
        return 1;
    }
    /* Build the snapshot bodies up front: only the engine is timed. */
    sbuf *bodies = calloc(chunks, sizeof *bodies);
    long per = rows / chunks;
    for (int c = 0; c < chunks; c++) {
        sb_put(&bodies[c], "[");
        for (long i = 0; i < per; i++) row_msg(&bodies[c], c * per + i, "insert", 1, i == 0);
        if (c == chunks - 1)
            sb_put(&bodies[c],
                   ",{\"headers\":{\"control\":\"up-to-date\",\"global_last_seen_lsn\":\"1\"}}");
        sb_put(&bodies[c], "]");
    }
    double t0 = now_us();
    size_t changes_bytes = 0;
    for (int c = 0; c < chunks; c++) {
        char off[32];
        snprintf(off, sizeof off, c == chunks - 1 ? "0_inf" : "0_%d", c);
        esync_response r = {.status = 200,
                            .handle = "h1",
                            .offset = off,
                            .schema = SCHEMA,
                            .up_to_date = c == chunks - 1,
                            .body = (const uint8_t *)bodies[c].p,
                            .body_len = bodies[c].len,
                            .now_ms = 1,
                            .body_writable = (uint8_t *)bodies[c].p};
        char *ch = NULL;
        size_t n = 0;
        if (esync_ingest(e, "test_items", &r, &ch, &n)) {
            fprintf(stderr, "ingest: %s\n", esync_errmsg(e));
            return 1;
        }
        changes_bytes += n;
        esync_free(ch);
    }
    double sync_us = now_us() - t0;
    int64_t sync_peak = esync_memory_highwater(1);

    /* live: updates of existing rows, inserts of new ones, deletes */
    double *lat = malloc(sizeof(double) * (size_t)batches);
    sbuf body = {0};
    double total = 0;
    for (long b = 0; b < batches; b++) {
        body.len = 0;
        sb_put(&body, "[");
        long k = b % 10;
        if (k < 8)
            row_msg(&body, (b * 7919) % rows, "update", 0, 1);
        else if (k == 8)
            row_msg(&body, rows + b, "insert", 1, 1);
        else
            row_msg(&body, rows + b - 1, "delete", 0, 1);
        sb_put(&body,
               ",{\"headers\":{\"control\":\"up-to-date\",\"global_last_seen_lsn\":\"1\"}}]");
        char off[32];
        snprintf(off, sizeof off, "%ld_0", 100000 + b);
        esync_response r = {.status = 200,
                            .handle = "h1",
                            .offset = off,
                            .cursor = "c",
                            .up_to_date = 1,
                            .body = (const uint8_t *)body.p,
                            .body_len = body.len,
                            .now_ms = 2,
                            .body_writable = (uint8_t *)body.p};
        char *ch = NULL;
        double s = now_us();
        int rc = esync_ingest(e, "test_items", &r, &ch, NULL);
        lat[b] = now_us() - s;
        total += lat[b];
        esync_free(ch);
        if (rc) {
            fprintf(stderr, "live ingest %ld: %s\n", b, esync_errmsg(e));
            return 1;
        }
    }
    qsort(lat, (size_t)batches, sizeof *lat, cmpd);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf(
        "{\"impl\":\"native\",\"rows\":%ld,\"sync_ms\":%.1f,\"rows_per_s\":%.0f,\"changes_bytes\":%zu,"
        "\"batches\":%ld,\"batch_us_mean\":%.1f,\"batch_us_p50\":%.1f,\"batch_us_p99\":%.1f,"
        "\"engine_peak_bytes\":%lld,\"rss_peak_kb\":%ld}\n",
        rows, sync_us / 1e3, rows / (sync_us / 1e6), changes_bytes, batches,
        total / (double)batches, lat[batches / 2], lat[batches * 99 / 100], (long long)sync_peak,
        ru.ru_maxrss);
    esync_close(e);
    for (int c = 0; c < chunks; c++) free(bodies[c].p);
    free(bodies);
    free(body.p);
    free(lat);
    unlink(path);
    unlink(wal);
    return 0;
}
