/* Minimal test harness shared by tests/core/test_*.c (see harness.h). */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int harness_failures;

void harness_fail(const char *file, int line, const char *expr) {
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
    harness_failures++;
}

char *harness_tmpdb(void) {
    char *p = strdup("/tmp/esync-test-XXXXXX");
    int fd = mkstemp(p);
    if (fd >= 0) close(fd);
    unlink(p);
    return p;
}

void harness_rmdb(char *p) {
    char j[512];
    unlink(p);
    snprintf(j, sizeof j, "%s-journal", p);
    unlink(j);
    free(p);
}
