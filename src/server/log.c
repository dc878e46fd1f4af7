/* stderr logging (see log.h). Paths are printed with control characters and quotes escaped, so a
 * hostile URL cannot forge or split log lines, in either format. The level and format are set
 * once before any thread starts, then only read. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static esync_log_level g_level = ESYNC_LOG_INFO;
static bool g_json;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void esync_log_setup(esync_log_level level, bool json) {
    g_level = level;
    g_json = json;
}

bool esync_log_enabled(esync_log_level level) { return level <= g_level; }

/* "2025-01-02T03:04:05.678Z" */
static size_t stamp(char *buf, size_t n) {
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t w = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    int k = snprintf(buf + w, n - w, ".%03dZ", (int)(tv.tv_usec / 1000));
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

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes there are not one. */
static size_t utf8_len(const unsigned char *s) {
    unsigned char c = s[0];
    size_t n;
    unsigned min;
    unsigned cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0; /* also stops at the NUL */
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

/* Appends s as the contents of a JSON string (no quotes) to out[*w..n), leaving room for the
 * caller's closing bytes; cuts with "..." when full. */
static void json_str(char *out, size_t *w, size_t n, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t at = *w;
    while (*p) {
        if (at + 16 >= n) {
            memcpy(out + at, "...", 3);
            at += 3;
            break;
        }
        unsigned char c = *p;
        size_t len = utf8_len(p);
        if (c == '"' || c == '\\') {
            out[at++] = '\\';
            out[at++] = (char)c;
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            at += (size_t)snprintf(out + at, n - at, "\\u%04x", c);
            p++;
        } else if (len == 0) {
            at += (size_t)snprintf(out + at, n - at, "\\\\x%02x", c);
            p++;
        } else {
            memcpy(out + at, p, len);
            at += len;
            p += len;
        }
    }
    *w = at;
}

static void put(char *out, size_t *w, size_t n, const char *s) {
    size_t l = strlen(s);
    if (*w + l >= n) l = *w < n ? n - *w - 1 : 0;
    memcpy(out + *w, s, l);
    *w += l;
}

void esync_logl(esync_log_level level, const char *fmt, ...) {
    if (!esync_log_enabled(level)) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = k < 0 ? 0 : (size_t)k < sizeof msg ? (size_t)k : sizeof msg - 1;
    /* One event, one line: libpq messages carry newlines and tabs. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = msg[i] == '\n' || msg[i] == '\t' || msg[i] == '\r' ? ' ' : msg[i];
        if (c == ' ' && m > 0 && msg[m - 1] == ' ') continue;
        msg[m++] = c;
    }
    while (m > 0 && msg[m - 1] == ' ') m--;
    msg[m] = '\0';

    char line[4096 + 64];
    size_t w = stamp(line + (g_json ? 9 : 0), 40) + (g_json ? 9 : 0);
    if (g_json) {
        memcpy(line, "{\"time\":\"", 9);
        put(line, &w, sizeof line, "\",\"level\":\"");
        put(line, &w, sizeof line, level_names[level]);
        put(line, &w, sizeof line, "\",\"msg\":\"");
        json_str(line, &w, sizeof line, msg);
        put(line, &w, sizeof line, "\"}");
    } else {
        put(line, &w, sizeof line, " electric-sync-server: ");
        if (level == ESYNC_LOG_ERROR) put(line, &w, sizeof line, "error: ");
        if (level == ESYNC_LOG_WARN) put(line, &w, sizeof line, "warning: ");
        put(line, &w, sizeof line, msg);
    }
    emit(line, w, sizeof line);
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
    if (!esync_log_enabled(ESYNC_LOG_INFO)) return;
    char line[3072];
    size_t n;
    if (g_json) {
        memcpy(line, "{\"time\":\"", 9);
        n = 9 + stamp(line + 9, 40);
        put(line, &n, sizeof line, "\",\"level\":\"info\",\"msg\":\"request\",\"client\":\"");
        json_str(line, &n, 128 + n, client ? client : "-");
        put(line, &n, sizeof line, "\",\"method\":\"");
        json_str(line, &n, 64 + n, method ? method : "-");
        put(line, &n, sizeof line, "\",\"path\":\"");
        json_str(line, &n, sizeof line - 256, path ? path : "-");
        char tail[192];
        char st[16];
        if (status > 0)
            snprintf(st, sizeof st, "%d", status);
        else
            snprintf(st, sizeof st, "null");
        snprintf(tail, sizeof tail, "\",\"status\":%s,\"bytes\":%llu,\"ms\":%.1f%s%s%s}", st, bytes,
                 ms, note ? ",\"note\":\"" : "", note ? note : "", note ? "\"" : "");
        put(line, &n, sizeof line, tail);
        emit(line, n, sizeof line);
        return;
    }
    char m[24], p[1024];
    escape(m, sizeof m, method ? method : "-");
    escape(p, sizeof p, path ? path : "-");
    n = stamp(line, sizeof line);
    line[n++] = ' ';
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
