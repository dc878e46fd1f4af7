/* stderr logging (see log.h). Paths are printed with control characters and quotes escaped, so a
 * hostile URL cannot forge or split log lines. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static size_t stamp(char *buf, size_t n) {
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t w = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    int k = snprintf(buf + w, n - w, ".%03dZ ", (int)(tv.tv_usec / 1000));
    return w + (k > 0 ? (size_t)k : 0);
}

static void emit(char *line, size_t len, size_t cap) {
    if (len >= cap) len = cap - 1;
    line[len++] = '\n';
    const char *p = line;
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, p, len);
        if (w <= 0) return; /* stderr gone: nothing better to do */
        p += w;
        len -= (size_t)w;
    }
}

void esync_log(const char *fmt, ...) {
    char line[2048];
    size_t n = stamp(line, sizeof line);
    n += (size_t)snprintf(line + n, sizeof line - n, "electric-sync-server: ");
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    n += k > 0 ? (size_t)k : 0;
    if (n > sizeof line - 2) n = sizeof line - 2;
    /* One event, one line: libpq messages carry newlines and tabs. */
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        char c = line[i] == '\n' || line[i] == '\t' || line[i] == '\r' ? ' ' : line[i];
        if (c == ' ' && w > 0 && line[w - 1] == ' ') continue;
        line[w++] = c;
    }
    while (w > 0 && line[w - 1] == ' ') w--;
    emit(line, w, sizeof line - 1);
}

static size_t escape(char *out, size_t n, const char *s) {
    size_t w = 0;
    for (; *s && w + 5 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            w += (size_t)snprintf(out + w, n - w, "\\x%02x", c);
        else
            out[w++] = (char)c;
    }
    if (*s && w + 3 < n) w += (size_t)snprintf(out + w, n - w, "...");
    out[w] = '\0';
    return w;
}

void esync_log_access(const char *client, const char *method, const char *path, int status,
                      unsigned long long bytes, double ms, const char *note) {
    char line[1536], m[24], p[1024];
    escape(m, sizeof m, method ? method : "-");
    escape(p, sizeof p, path ? path : "-");
    size_t n = stamp(line, sizeof line);
    char st[16];
    if (status > 0)
        snprintf(st, sizeof st, "%d", status);
    else
        snprintf(st, sizeof st, "-");
    int k = snprintf(line + n, sizeof line - n, "%s \"%s %s\" %s %llu %.1fms%s%s",
                     client ? client : "-", m, p, st, bytes, ms, note ? " " : "", note ? note : "");
    n += k > 0 ? (size_t)k : 0;
    emit(line, n, sizeof line - 1);
}
