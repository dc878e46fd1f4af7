/*
 * buf.h — a growable byte buffer and the encoders that append to it (buf.c): JSON strings and
 * numbers, SQL identifiers, URL components.
 *
 * OOM policy (the only one in the core's string building): appends never report failure. An
 * allocation failure sets the sticky `oom` flag; from then on every append is a no-op and the
 * contents are unusable. A caller checks `oom` once, when it uses or takes the result
 * (esync__buf_take returns NULL for such a buffer), instead of after each append.
 * The contents are always NUL-terminated once anything was appended.
 */
#ifndef ESYNC_BUF_H
#define ESYNC_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct esync_buf {
    char *data;
    size_t len, cap;
    bool oom; /* sticky: once an append failed, the buffer is unusable (until reset or free) */
} esync_buf;

void esync__buf_init(esync_buf *b);
void esync__buf_free(esync_buf *b);
/* Empties the buffer (keeping its memory) and clears oom. */
void esync__buf_reset(esync_buf *b);
/* Makes room for extra more bytes (and the NUL). False, with oom set, when it cannot. */
bool esync__buf_reserve(esync_buf *b, size_t extra);
void esync__buf_append(esync_buf *b, const void *p, size_t n);
void esync__buf_puts(esync_buf *b, const char *s);
void esync__buf_putc(esync_buf *b, char c);
void esync__buf_printf(esync_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends s (n bytes) as a JSON string literal, quotes included. */
void esync__buf_json_str(esync_buf *b, const char *s, size_t n);
/* Appends a NUL-terminated string as a JSON string literal, or null when s is NULL. */
void esync__buf_json_str_or_null(esync_buf *b, const char *s);
/* Appends a double as the shortest decimal that reads back to the same value. */
/* Appends v in decimal (without printf, which costs more than a row's other output). */
void esync__buf_int(esync_buf *b, long long v);
void esync__buf_double(esync_buf *b, double d);
/* Appends a SQL identifier, double-quoted with inner quotes doubled. */
void esync__buf_ident(esync_buf *b, const char *s);
/* Appends s percent-encoded for a URL query component. */
void esync__buf_urlenc(esync_buf *b, const char *s);
/* Moves the contents out as a NUL-terminated string (caller frees with esync_free); NULL (and
 * the buffer freed) when the buffer is oom. */
char *esync__buf_take(esync_buf *b, size_t *len);

#endif
