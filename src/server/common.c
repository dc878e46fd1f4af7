/* Shared helpers of the server: the error record, aborting allocators, URL redaction. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

char *esync__xstrdup(const char *s) {
    return esync__xstrndup(s, strlen(s));
}

char *esync__redact_url(const char *url) {
    size_t n = strlen(url);
    char *out = esync__xmalloc(n + 4);
    const char *scheme = strstr(url, "://");
    if (scheme) {
        /* postgresql://user:secret@host/db: the userinfo ends at the first '@' before the path. */
        const char *auth = scheme + 3;
        size_t alen = strcspn(auth, "/?#");
        const char *at = memchr(auth, '@', alen);
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            size_t head = (size_t)(colon + 1 - url);
            memcpy(out, url, head);
            memcpy(out + head, "***", 3);
            strcpy(out + head + 3, at);
            return out;
        }
        memcpy(out, url, n + 1);
        return out;
    }
    /* Keyword form: password=value (value possibly single-quoted) up to the next blank. */
    const char *pw = strstr(url, "password=");
    if (!pw) {
        memcpy(out, url, n + 1);
        return out;
    }
    size_t head = (size_t)(pw + 9 - url);
    const char *end = pw + 9;
    if (*end == '\'') {
        end++;
        while (*end && *end != '\'') end += (*end == '\\' && end[1]) ? 2 : 1;
        if (*end) end++;
    } else {
        end += strcspn(end, " \t\n");
    }
    memcpy(out, url, head);
    memcpy(out + head, "***", 3);
    strcpy(out + head + 3, end);
    return out;
}
