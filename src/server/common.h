/* electric-sync-server: what every server module shares.
 *
 * Naming: functions a module offers to the rest of the server are esync_<module>_*
 * (esync_db_submit, esync_shapes_submit); functions shared only by the files of one folder, or
 * utilities every module uses (this header, sbuf.h: esync__sb_*), are esync__<file>_* / esync__*;
 * everything else is static. The server may abort on out-of-memory (the esync__x* allocators
 * do), never on input: every input path returns an esync_error instead.
 */
#ifndef ESYNC_SERVER_COMMON_H
#define ESYNC_SERVER_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* An HTTP-level failure: the status, a stable machine-readable code (the "code" of the error
 * envelope) and a human-readable message. code always points to a string literal. */
typedef struct esync_error {
    int status;
    const char *code;
    char message[256];
} esync_error;

/* Fills err and returns -1, so validators can `return esync_error_set(...)`. */
int esync_error_set(esync_error *err, int status, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Allocators that abort the process on exhaustion (with a message on stderr). */
void *esync__xmalloc(size_t n);
void *esync__xcalloc(size_t count, size_t n);
void *esync__xrealloc(void *p, size_t n);
char *esync__xstrdup(const char *s);
char *esync__xstrndup(const char *s, size_t n);

/* Copies a connection string with any password replaced by "***" (URI user:password@ and the
 * keyword form password=...), for messages and logs. Returns a malloc'ed string. */
char *esync__redact_url(const char *url);

/* True when given equals secret. The time taken depends on the secret's length only, never on
 * where the first difference is, so a client cannot guess the secret byte by byte from the
 * response time. given may be NULL (false). */
bool esync__secret_equal(const char *given, const char *secret);

/* The monotonic clock in ms. */
int64_t esync__now_ms(void);
/* The absolute CLOCK_REALTIME time ms from now, for pthread_cond_timedwait. */
struct timespec esync__abstime_in(int64_t ms);

#endif
