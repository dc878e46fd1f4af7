/* Logging to stderr: one line per event, written with a single write(2) so lines from the epoll
 * thread and the database workers never interleave.
 *
 * Two formats (ESYNC_LOG_FORMAT, read by config.c and set once by main before any thread starts):
 *   text  "2025-01-02T03:04:05.678Z electric-sync-server: <message>" (the access log:
 *         "<time> <client> \"METHOD path\" status bytes duration [note]")
 *   json  one JSON object per line: {"time","level","msg"}, and for the access log
 *         {"time","level":"info","msg":"request","client","method","path","status","bytes",
 *         "ms"[,"note"]}; every string is valid JSON (control characters escaped, bytes that are
 *         not UTF-8 written as the text \xNN).
 * A level (ESYNC_LOG_LEVEL / ELECTRIC_LOG_LEVEL) drops the events below it: error < warn < info
 * < debug; the access log is info. Messages never contain secrets: callers redact (URLs through
 * esync__redact_url, the proxy's upstream URL without its query string).
 */
#ifndef ESYNC_SERVER_LOG_H
#define ESYNC_SERVER_LOG_H

#include <stdbool.h>

#if defined(__GNUC__)
#define ESYNC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ESYNC_PRINTF(a, b)
#endif

typedef enum esync_log_level {
    ESYNC_LOG_ERROR, /* something failed that an operator must look at */
    ESYNC_LOG_WARN,  /* degraded: the database or replication lost, a request dropped */
    ESYNC_LOG_INFO,  /* life cycle and the access log (the default) */
    ESYNC_LOG_DEBUG  /* details of the shape service's work */
} esync_log_level;

/* Sets the level and format (default: info, text). Call before any other thread starts. */
void esync_log_setup(esync_log_level level, bool json);
/* True when events of this level are written. */
bool esync_log_enabled(esync_log_level level);

/* One event at a level. */
void esync_logl(esync_log_level level, const char *fmt, ...) ESYNC_PRINTF(2, 3);
#define esync_log_error(...) esync_logl(ESYNC_LOG_ERROR, __VA_ARGS__)
#define esync_log_warn(...) esync_logl(ESYNC_LOG_WARN, __VA_ARGS__)
#define esync_log_info(...) esync_logl(ESYNC_LOG_INFO, __VA_ARGS__)
#define esync_log_debug(...) esync_logl(ESYNC_LOG_DEBUG, __VA_ARGS__)
/* An info event (life cycle). */
#define esync_log(...) esync_logl(ESYNC_LOG_INFO, __VA_ARGS__)

/* The access-log line: time, client, "METHOD path", status (or "-" when no reply was sent), bytes
 * of the reply body, milliseconds from the first header to completion, and a note ("timeout",
 * "client-closed", ...) when the connection ended abnormally. The path never has the query
 * string (where a secret would be). */
void esync_log_access(const char *client, const char *method, const char *path, int status,
                      unsigned long long bytes, double ms, const char *note);

#endif
