/* A growable byte buffer for building JSON and response bodies, and JSON string escaping.
 * Allocation failure aborts (esync__xrealloc): the server may die on OOM, never on input.
 * The buffer is always NUL-terminated after any call (p[n] == 0) once something was written. */
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
/* Takes the buffer (NUL-terminated, never NULL) and resets b. */
char *esync__sb_take(esync_sb *b, size_t *len);
void esync__sb_free(esync_sb *b);

#endif
