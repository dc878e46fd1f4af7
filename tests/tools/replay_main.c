/*
 * esync-replay: runs golden fixtures on the native build.
 *   esync-replay FIXTURE.json            print the transcript
 *   esync-replay --check DIR             every .json of DIR: expectations hold and the transcript
 *                                        equals the .out beside it byte for byte
 *   esync-replay --update DIR            rewrite the .out files (review the diff before committing)
 */
#define _POSIX_C_SOURCE 200809L
#include "esync_replay.h"

#include <stdbool.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

static int run(const char *fixture, char **out, size_t *outlen) {
    size_t len;
    char *fx = slurp(fixture, &len);
    if (!fx) {
        perror(fixture);
        return -100;
    }
    char db[] = "/tmp/esync-replay-XXXXXX";
    int fd = mkstemp(db);
    if (fd < 0) {
        perror("mkstemp");
        free(fx);
        return -100;
    }
    close(fd);
    unlink(db);
    int rc = esync_replay(fx, len, db, out, outlen);
    unlink(db);
    char j[sizeof db + 16];
    snprintf(j, sizeof j, "%s-journal", db);
    unlink(j);
    free(fx);
    return rc;
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    if (argc == 2) {
        char *out = NULL;
        size_t n = 0;
        int rc = run(argv[1], &out, &n);
        if (out) fwrite(out, 1, n, stdout);
        esync_free(out);
        return rc == 0 ? 0 : 1;
    }
    if (argc != 3 || (strcmp(argv[1], "--check") && strcmp(argv[1], "--update"))) {
        fprintf(stderr, "usage: esync-replay FIXTURE | --check DIR | --update DIR\n");
        return 2;
    }
    bool update = !strcmp(argv[1], "--update");
    DIR *d = opendir(argv[2]);
    if (!d) {
        perror(argv[2]);
        return 2;
    }
    char *names[1024];
    int count = 0;
    struct dirent *en;
    while ((en = readdir(d)) && count < 1024) {
        size_t l = strlen(en->d_name);
        if (l > 5 && !strcmp(en->d_name + l - 5, ".json")) names[count++] = strdup(en->d_name);
    }
    closedir(d);
    qsort(names, (size_t)count, sizeof *names, cmp);
    int failed = 0;
    for (int i = 0; i < count; i++) {
        char path[4096], golden[4096];
        snprintf(path, sizeof path, "%s/%s", argv[2], names[i]);
        snprintf(golden, sizeof golden, "%s/%.*s.out", argv[2], (int)(strlen(names[i]) - 5),
                 names[i]);
        char *out = NULL;
        size_t n = 0;
        int rc = run(path, &out, &n);
        const char *verdict = "ok";
        if (rc == ESYNC_ESTATE)
            verdict = "EXPECTATION FAILED";
        else if (rc)
            verdict = "ERROR";
        if (update && out) {
            FILE *f = fopen(golden, "wb");
            fwrite(out, 1, n, f);
            fclose(f);
        } else if (out && !rc) {
            size_t gl;
            char *g = slurp(golden, &gl);
            if (!g)
                verdict = "NO GOLDEN (.out) FILE";
            else if (gl != n || memcmp(g, out, n))
                verdict = "TRANSCRIPT DIFFERS FROM GOLDEN";
            free(g);
        }
        if (strcmp(verdict, "ok")) {
            failed++;
            printf("FAIL %s: %s\n", names[i], verdict);
            if (out && rc) fwrite(out, 1, n, stdout);
        } else {
            printf("ok   %s\n", names[i]);
        }
        esync_free(out);
        free(names[i]);
    }
    printf("%d fixtures, %d failed\n", count, failed);
    return failed ? 1 : (count ? 0 : 1);
}
