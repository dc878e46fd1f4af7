/*
 * buf.c — a growable byte buffer and the encoders that write into it (JSON strings, numbers,
 * SQL identifiers, URL components). Appends never fail loudly: an allocation failure sets the
 * sticky `oom` flag, which callers check once when they take the result (buf.h states the
 * policy).
 */
#include "buf.h"

#include "alloc.h"

#include <stdarg.h>
#include <stdint.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void esync__buf_init(esync_buf *b) { memset(b, 0, sizeof *b); }

void esync__buf_free(esync_buf *b) {
    esync__freemem(b->data);
    esync__buf_init(b);
}

void esync__buf_reset(esync_buf *b) {
    b->len = 0;
    b->oom = false;
    if (b->data) b->data[0] = 0;
}

bool esync__buf_reserve(esync_buf *b, size_t extra) {
    if (b->oom) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *d = esync__realloc(b->data, cap);
    if (!d) {
        b->oom = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void esync__buf_append(esync_buf *b, const void *p, size_t n) {
    if (!esync__buf_reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void esync__buf_puts(esync_buf *b, const char *s) { esync__buf_append(b, s, strlen(s)); }

void esync__buf_putc(esync_buf *b, char c) {
    if (!esync__buf_reserve(b, 1)) return;
    b->data[b->len++] = c;
    b->data[b->len] = 0;
}

void esync__buf_printf(esync_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[128];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        esync__buf_append(b, small, (size_t)n);
        return;
    }
    if (!esync__buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Whether any of the 8 bytes at p needs an escape in a JSON string: a control character, '"'
 * or '\\' (SWAR: a byte's high bit in a term marks it; bytes >= 0x80 are flagged too, by the
 * last term, and then looked at one by one). */
static bool escape8(const char *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
    return (((x - ones * 0x20) | (q - ones) | (bs - ones)) | x) & high;
}

void esync__buf_json_str(esync_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    /* Worst case every byte becomes \u00XX. */
    if (!esync__buf_reserve(b, n * 6 + 2)) return;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        /* copy the run of bytes that need no escape in one go: eight at a time, then one by one */
        size_t j = i;
        while (n - j >= 8 && !escape8(s + j)) j += 8;
        while (j < n && (unsigned char)s[j] >= 0x20 && s[j] != '"' && s[j] != '\\') j++;
        if (j > i) {
            memcpy(o, s + i, j - i);
            o += j - i;
            i = j;
            if (i == n) break;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c >= 0x20)
            *o++ = (char)c;
        else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (c == '\r') {
            *o++ = '\\';
            *o++ = 'r';
        } else if (c == '\t') {
            *o++ = '\\';
            *o++ = 't';
        } else {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = 0;
}

void esync__buf_json_str_or_null(esync_buf *b, const char *s) {
    if (s)
        esync__buf_json_str(b, s, strlen(s));
    else
        esync__buf_puts(b, "null");
}

void esync__buf_int(esync_buf *b, long long v) {
    char tmp[24], *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    esync__buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

void esync__buf_double(esync_buf *b, double d) {
    char tmp[40];
    if (d == 0) {
        esync__buf_puts(b, signbit(d) ? "-0" : "0");
        return;
    }
    /* The shortest of %.15g..%.17g that reads back exactly, so "0.1" stays "0.1". */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    esync__buf_puts(b, tmp);
}

void esync__buf_ident(esync_buf *b, const char *s) {
    esync__buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"') esync__buf_putc(b, '"');
        esync__buf_putc(b, *s);
    }
    esync__buf_putc(b, '"');
}

void esync__buf_urlenc(esync_buf *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            esync__buf_putc(b, (char)c);
        } else {
            char t[3] = {'%', hex[c >> 4], hex[c & 15]};
            esync__buf_append(b, t, 3);
        }
    }
}

char *esync__buf_take(esync_buf *b, size_t *len) {
    if (b->oom || !esync__buf_reserve(b, 0)) {
        esync__buf_free(b);
        if (len) *len = 0;
        return NULL;
    }
    char *d = b->data;
    if (len) *len = b->len;
    esync__buf_init(b);
    return d;
}
