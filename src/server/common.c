/* Shared helpers of the server: the error record, aborting allocators, URL redaction, the
 * secret comparison. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int esync_error_set(esync_error *err, int status, const char *code, const char *fmt, ...) {
    va_list ap;
    err->status = status;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static void oom(size_t n) {
    /* Nothing sensible can be answered without memory; dying loudly beats limping. */
    fprintf(stderr, "electric-sync-server: out of memory (%zu bytes)\n", n);
    abort();
}

void *esync__xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *esync__xcalloc(size_t count, size_t n) {
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p) oom(count * n);
    return p;
}

void *esync__xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *esync__xstrndup(const char *s, size_t n) {
    char *p = esync__xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *esync__xstrdup(const char *s) { return esync__xstrndup(s, strlen(s)); }

/* Appends [s, s+n) to the buffer at *w. */
static void put(char **w, const char *s, size_t n) {
    memcpy(*w, s, n);
    *w += n;
}

char *esync__redact_url(const char *url) {
    /* Each redaction replaces a value of zero or more bytes by "***": room for one per byte. */
    size_t n = strlen(url);
    char *out = esync__xmalloc(n * 3 + 4);
    char *w = out;
    const char *p = url;
    const char *scheme = strstr(url, "://");
    if (scheme) {
        /* postgresql://user:secret@host/db: the userinfo ends at the last '@' before the path. */
        const char *auth = scheme + 3;
        size_t alen = strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *q = auth; q < auth + alen; q++)
            if (*q == '@') at = q;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            put(&w, url, (size_t)(colon + 1 - url));
            put(&w, "***", 3);
            p = at;
        }
    }
    /* password=... as a URI query parameter (up to '&') or a keyword (up to a blank, or quoted). */
    for (;;) {
        const char *pw = strstr(p, "password=");
        if (!pw) break;
        bool boundary = pw == url || pw[-1] == '?' || pw[-1] == '&' || pw[-1] == ' ' ||
                        pw[-1] == '\t';
        const char *v = pw + 9;
        put(&w, p, (size_t)(v - p));
        if (!boundary) {
            p = v;
            continue;
        }
        const char *end = v;
        if (*end == '\'') {
            end++;
            while (*end && *end != '\'') end += (*end == '\\' && end[1]) ? 2 : 1;
            if (*end) end++;
        } else {
            end += strcspn(end, scheme ? "&#" : " \t\n");
        }
        put(&w, "***", 3);
        p = end;
    }
    put(&w, p, strlen(p) + 1);
    return out;
}

bool esync__secret_equal(const char *given, const char *secret) {
    if (!given || !secret) return false;
    size_t gl = strlen(given), sl = strlen(secret);
    /* Every byte of the secret is compared against something (a byte of given, or 0 past its
     * end), and the differences are OR-ed, not tested one by one: no early exit. */
    volatile unsigned char diff = gl != sl;
    for (size_t i = 0; i < sl; i++) {
        unsigned char g = i < gl ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)secret[i]);
    }
    return diff == 0;
}

int64_t esync__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec esync__abstime_in(int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}
