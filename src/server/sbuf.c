/* The byte buffer of sbuf.h. */
#include "sbuf.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

void esync__sb_reserve(esync_sb *b, size_t more) {
    if (b->n + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more + 1) cap *= 2;
    b->p = esync__xrealloc(b->p, cap);
    b->cap = cap;
}

void esync__sb_put(esync_sb *b, const char *s, size_t n) {
    esync__sb_reserve(b, n);
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void esync__sb_puts(esync_sb *b, const char *s) { esync__sb_put(b, s, strlen(s)); }

void esync__sb_printf(esync_sb *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    esync__sb_reserve(b, (size_t)k);
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

/* Whether none of the 8 bytes of w needs escaping in a JSON string (a control byte, '"', '\\'),
 * 8 at a time: a byte below 0x20, or equal to 0x22 or 0x5c, sets its high bit in the mask. A
 * borrow may flag a clean byte after a flagged one, never the reverse, so "clean" is exact. */
static inline bool json_clean8(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    return !((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & high);
}

void esync__sb_json_body(esync_sb *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* bytes copied verbatim in one go */
    for (size_t i = 0; i < n; i++) {
        uint64_t w;
        while (i + 8 <= n && (memcpy(&w, s + i, 8), json_clean8(w))) i += 8;
        if (i == n) break;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        esync__sb_put(b, s + run, i - run);
        run = i + 1;
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            el = 6;
        }
        esync__sb_put(b, e, el);
    }
    esync__sb_put(b, s + run, n - run);
}

void esync__sb_json(esync_sb *b, const char *s, size_t n) {
    esync__sb_reserve(b, n + 2);
    b->p[b->n++] = '"';
    esync__sb_json_body(b, s, n);
    esync__sb_put(b, "\"", 1);
}

char *esync__sb_take(esync_sb *b, size_t *len) {
    if (!b->p) esync__sb_reserve(b, 0), b->p[0] = '\0';
    char *p = b->p;
    if (len) *len = b->n;
    b->p = NULL;
    b->n = b->cap = 0;
    return p;
}

void esync__sb_free(esync_sb *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}
