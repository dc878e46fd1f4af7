/* Byte-level validators: UTF-8, UUIDs, Content-Type. See validate.h. */
#include "http/validate.h"

#include <string.h>

bool esync_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* UTF-16 surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return false; /* continuation byte, C0/C1 overlong lead, or F5..FF */
        }
        if (n - i < len) return false;
        if (s[i + 1] < lo || s[i + 1] > hi) return false;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

static bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool esync_uuid_valid(const char *s) {
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (!is_hex(s[i])) {
            return false; /* also stops at the terminating NUL of a short string */
        }
    }
    return s[36] == '\0';
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t esync_url_unescape(char *s) {
    char *w = s;
    for (const char *r = s; *r;) {
        if (r[0] == '%' && is_hex(r[1]) && is_hex(r[2])) {
            int v = hexval(r[1]) * 16 + hexval(r[2]);
            if (v != 0) {
                *w++ = (char)v;
                r += 3;
                continue;
            }
        }
        *w++ = *r++;
    }
    *w = '\0';
    return (size_t)(w - s);
}

static bool ows(char c) { return c == ' ' || c == '\t'; }

/* Case-insensitive compare of [s, s+n) with a lower-case literal. */
static bool ieq(const char *s, size_t n, const char *lit) {
    size_t m = strlen(lit);
    if (n != m) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != lit[i]) return false;
    }
    return true;
}

esync_ctype esync_ctype_classify(const char *v) {
    if (!v) return ESYNC_CTYPE_MISSING;
    while (ows(*v)) v++;
    size_t n = strcspn(v, ";");
    size_t t = n;
    while (t > 0 && ows(v[t - 1])) t--;
    if (!ieq(v, t, "application/json")) return ESYNC_CTYPE_OTHER;
    /* Parameters: only charset matters, and JSON is UTF-8 (RFC 8259), so any other is refused. */
    const char *p = v + n;
    while (*p == ';') {
        p++;
        while (ows(*p)) p++;
        size_t name = strcspn(p, "=;");
        size_t nt = name;
        while (nt > 0 && ows(p[nt - 1])) nt--;
        const char *val = p + name;
        size_t vlen = 0;
        if (*val == '=') {
            val++;
            while (ows(*val)) val++;
            vlen = strcspn(val, ";");
            while (vlen > 0 && ows(val[vlen - 1])) vlen--;
            if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
                val++;
                vlen -= 2;
            }
        }
        if (ieq(p, nt, "charset") && !ieq(val, vlen, "utf-8") && !ieq(val, vlen, "utf8"))
            return ESYNC_CTYPE_OTHER;
        p += strcspn(p, ";");
    }
    return ESYNC_CTYPE_JSON;
}
