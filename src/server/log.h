/* Logging to stderr: one line per event, written with a single write(2) so lines from the epoll
 * thread and the database workers never interleave. */
#ifndef ESYNC_SERVER_LOG_H
#define ESYNC_SERVER_LOG_H

#if defined(__GNUC__)
#define ESYNC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ESYNC_PRINTF(a, b)
#endif

/* "2025-01-02T03:04:05.678Z electric-sync-server: <message>" */
void esync_log(const char *fmt, ...) ESYNC_PRINTF(1, 2);

/* The access-log line: time, client, "METHOD path", status (or "-" when no reply was sent), bytes
 * of the reply body, milliseconds from the first header to completion, and a note ("timeout",
 * "client-closed", ...) when the connection ended abnormally. */
void esync_log_access(const char *client, const char *method, const char *path, int status,
                      unsigned long long bytes, double ms, const char *note);

#endif
