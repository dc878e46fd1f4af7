/* The server's growable byte buffer, for building JSON, SQL and response bodies, and JSON string
 * escaping: every growable text of src/server is built with it.
 *
 * OOM policy: allocation failure aborts the process (esync__xrealloc, common.h), so no caller
 * checks for it; the server may die on out-of-memory, never on input. (src/where has its own
 * buffer because that library never aborts: it reports ESYNC_WHERE_ENOMEM instead.)
 *
 * The buffer is always NUL-terminated after any call (p[n] == 0) once something was written.
 * A zeroed esync_sb is empty and ready; esync__sb_free or esync__sb_take releases it. */
#ifndef ESYNC_SERVER_SBUF_H
#define ESYNC_SERVER_SBUF_H

#include <stddef.h>

typedef struct esync_sb {
    char *p;
    size_t n, cap;
} esync_sb;

void esync__sb_reserve(esync_sb *b, size_t more);
void esync__sb_put(esync_sb *b, const char *s, size_t n);
void esync__sb_puts(esync_sb *b, const char *s);
void esync__sb_printf(esync_sb *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends s[0..n) as a JSON string literal, quotes included. Control characters are escaped;
 * bytes >= 0x80 are copied (Postgres text in a UTF8 database is valid UTF-8). */
void esync__sb_json(esync_sb *b, const char *s, size_t n);
/* The same escaping without the quotes (for a string built from pieces). */
void esync__sb_json_body(esync_sb *b, const char *s, size_t n);
/* Takes the buffer (NUL-terminated, never NULL) and resets b. */
char *esync__sb_take(esync_sb *b, size_t *len);
void esync__sb_free(esync_sb *b);

#endif
