/* Input checks used by the HTTP layer, the handlers and the fuzzer: pure functions over borrowed
 * bytes, no allocation, no I/O, total over every input (no undefined behaviour for any bytes). */
#ifndef ESYNC_SERVER_VALIDATE_H
#define ESYNC_SERVER_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. */
bool esync_utf8_valid(const char *s, size_t n);

/* A canonical UUID: 36 characters, 8-4-4-4-12 hex digits (either case), NUL-terminated. The
 * forms Postgres also accepts (braces, no hyphens) are refused so that an id has one spelling. */
bool esync_uuid_valid(const char *s);

typedef enum esync_ctype {
    ESYNC_CTYPE_JSON,    /* application/json, optionally ;charset=utf-8 */
    ESYNC_CTYPE_MISSING, /* no Content-Type header */
    ESYNC_CTYPE_OTHER    /* anything else, including JSON in another charset */
} esync_ctype;

/* Percent-decodes s in place (the URL path and query values; '+' is left alone) and returns the
 * new length. "%00" stays undecoded: a NUL would cut the C string the handlers see, so that
 * "/index.html%00.js" would silently become "/index.html". Malformed escapes stay as they are. */
size_t esync_url_unescape(char *s);

/* Classifies a Content-Type header value (NULL when the header is absent). */
esync_ctype esync_ctype_classify(const char *value);

#endif
