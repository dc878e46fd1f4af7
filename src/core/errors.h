/*
 * errors.h — the engine's error slot (errors.c): every failing internal call records its code
 * and message on the engine through these and returns the code, so the public call that failed
 * can return it as is. SQL run on the writer connection records its failure the same way.
 * (The code table itself, esync_strerror and esync_errname, is public: esync.h.)
 */
#ifndef ESYNC_ERRORS_H
#define ESYNC_ERRORS_H

#include "buf.h"
#include "esync.h"

#include <sqlite3.h>

/* Records an error on the engine and returns code. */
int esync__fail(esync *e, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* esync__fail(e, ESYNC_ENOMEM, "out of memory"). */
int esync__oom(esync *e);
/* Clears the error slot and returns ESYNC_OK (a public call that succeeded). */
int esync__ok(esync *e);
/* Records db's last SQLite error ("what: message"); ESYNC_ENOMEM or ESYNC_ESQLITE. */
int esync__sqlfail(esync *e, sqlite3 *db, const char *what);
/* Runs SQL (one or more statements) on the writer connection; a failure is recorded. */
int esync__exec(esync *e, const char *sql);
/* The same for SQL built in a buffer (an oom buffer is ESYNC_ENOMEM). */
int esync__exec_buf(esync *e, const esync_buf *b);

#endif
