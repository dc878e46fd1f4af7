/* Types and values of where_value.h: type names, and Postgres' text input rules for every
 * supported type, as far as Postgres' own output (and a typed constant) can exercise them. */
#include "where_value.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
    "unknown", "bool",   "int2", "int4", "int8",      "numeric",     "float4", "float8", "text",
    "varchar", "bpchar", "uuid", "date", "timestamp", "timestamptz", "time",   "other"};

const char *esync__where_type_name(wtype t) { return type_names[t]; }

wtype esync__where_type_from_name(const char *s) {
    static const struct {
        const char *n;
        wtype t;
    } names[] = {
        {"bool", T_BOOL},
        {"boolean", T_BOOL},
        {"int2", T_INT2},
        {"smallint", T_INT2},
        {"int4", T_INT4},
        {"int", T_INT4},
        {"integer", T_INT4},
        {"int8", T_INT8},
        {"bigint", T_INT8},
        {"numeric", T_NUMERIC},
        {"decimal", T_NUMERIC},
        {"float4", T_FLOAT4},
        {"real", T_FLOAT4},
        {"float8", T_FLOAT8},
        {"float", T_FLOAT8},
        {"text", T_TEXT},
        {"varchar", T_VARCHAR},
        {"bpchar", T_BPCHAR},
        {"char", T_BPCHAR},
        {"character", T_BPCHAR},
        {"name", T_TEXT},
        {"uuid", T_UUID},
        {"date", T_DATE},
        {"timestamp", T_TIMESTAMP},
        {"timestamptz", T_TIMESTAMPTZ},
        {"time", T_TIME},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].n) == 0) return names[i].t;
    return T_OTHER;
}

int esync__where_parse_int(const char *s, size_t n, wtype t, int64_t *out) {
    const char *e = trim_end(s, s + n);
    s = skip_ws(s, e);
    int neg = 0;
    if (s < e && (*s == '+' || *s == '-')) neg = *s++ == '-';
    if (s == e) return -1;
    uint64_t v = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9') return -1;
        if (v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > (uint64_t)INT64_MAX + 1) return -1;
    }
    if (!neg && v > (uint64_t)INT64_MAX) return -1;
    int64_t r = neg ? (int64_t)(0 - v) : (int64_t)v;
    if (int_out_of_range(t, r)) return -1;
    *out = r;
    return 0;
}

int esync__where_parse_float(const char *s, size_t n, wtype t, double *out) {
    char buf[512];
    const char *e = trim_end(s, s + n);
    s = skip_ws(s, e);
    size_t m = (size_t)(e - s);
    if (m == 0 || m >= sizeof buf) return -1;
    /* strtod would also take hex floats and "inf"/"nan" prefixes; Postgres takes decimal forms
     * and the words below only. */
    for (size_t k = 0; k < m; k++)
        if (s[k] == 'x' || s[k] == 'X') return -1;
    memcpy(buf, s, m);
    buf[m] = '\0';
    const char *w = buf + (buf[0] == '+' || buf[0] == '-');
    if (isalpha((unsigned char)*w) && !ieq(w, strlen(w), "nan") && !ieq(w, strlen(w), "infinity") &&
        !ieq(w, strlen(w), "inf"))
        return -1;
    char *end;
    errno = 0;
    double d;
    if (t == T_FLOAT4) {
        float f = strtof(buf, &end);
        if (errno == ERANGE && (isinf(f) || f == 0.0f) && strcmp(w, "0") != 0) return -1;
        d = f;
    } else {
        d = strtod(buf, &end);
        if (errno == ERANGE && (isinf(d) || d == 0.0)) return -1;
    }
    if (*end != '\0') return -1;
    *out = d;
    return 0;
}

/* Decimal numbers as text: the digits before and after the point, without leading zeros (the
 * fraction keeps its trailing zeros, which carry the display scale). */
/* Accepts the Postgres output form [-]digits[.digits] (and +, leading/trailing blanks, .5, 5.). */
int esync__where_dec_parse(const char *s, size_t n, dec *d) {
    const char *e = trim_end(s, s + n);
    s = skip_ws(s, e);
    memset(d, 0, sizeof *d);
    if (s < e && (*s == '+' || *s == '-')) d->neg = *s++ == '-';
    if (ieq(s, (size_t)(e - s), "nan")) {
        d->special = 2;
        return 0;
    }
    if (ieq(s, (size_t)(e - s), "infinity") || ieq(s, (size_t)(e - s), "inf")) {
        d->special = d->neg ? -1 : 1;
        return 0;
    }
    const char *ip = s;
    while (s < e && *s >= '0' && *s <= '9') s++;
    d->ip = ip;
    d->il = (size_t)(s - ip);
    if (s < e && *s == '.') {
        s++;
        d->fp = s;
        while (s < e && *s >= '0' && *s <= '9') s++;
        d->fl = (size_t)(s - d->fp);
    }
    if (s != e || d->il + d->fl == 0) return -1;
    while (d->il > 0 && d->ip[0] == '0') {
        d->ip++;
        d->il--;
    }
    size_t fl = d->fl;
    while (fl > 0 && d->fp[fl - 1] == '0') fl--;
    if (d->il == 0 && fl == 0) d->neg = 0; /* -0 is 0 */
    return 0;
}

int esync__where_dec_cmp_mag(const dec *a, const dec *b) {
    if (a->il != b->il) return a->il < b->il ? -1 : 1;
    int c = memcmp(a->ip, b->ip, a->il);
    if (c) return c < 0 ? -1 : 1;
    size_t m = a->fl > b->fl ? a->fl : b->fl;
    for (size_t k = 0; k < m; k++) {
        char x = k < a->fl ? a->fp[k] : '0', y = k < b->fl ? b->fp[k] : '0';
        if (x != y) return x < y ? -1 : 1;
    }
    return 0;
}

/* The place of a number's kind in Postgres' order: -Infinity, finite, Infinity, NaN. */
static int dec_rank(const dec *d) {
    return d->special == 2 ? 3 : d->special == 1 ? 2 : d->special == -1 ? 0 : 1;
}

int esync__where_dec_cmp(const dec *a, const dec *b) {
    int ra = dec_rank(a), rb = dec_rank(b);
    if (ra != rb || ra != 1) return ra < rb ? -1 : ra > rb;
    if (a->neg != b->neg) return a->neg ? -1 : 1;
    int c = esync__where_dec_cmp_mag(a, b);
    return a->neg ? -c : c;
}

static int parse_bool(const char *s, size_t n, int *out) {
    const char *e = trim_end(s, s + n);
    s = skip_ws(s, e);
    size_t m = (size_t)(e - s);
    if (m == 0) return -1;
    static const char *const t[] = {"true", "yes"}, *const f[] = {"false", "no"};
    char lc[8];
    if (m >= sizeof lc) return -1;
    for (size_t k = 0; k < m; k++) lc[k] = (char)tolower((unsigned char)s[k]);
    lc[m] = '\0';
    for (int k = 0; k < 2; k++) {
        if (strncmp(lc, t[k], m) == 0) return *out = 1, 0;
        if (strncmp(lc, f[k], m) == 0) return *out = 0, 0;
    }
    if (strcmp(lc, "on") == 0 || strcmp(lc, "1") == 0) return *out = 1, 0;
    if (strcmp(lc, "off") == 0 || strcmp(lc, "of") == 0 || strcmp(lc, "0") == 0) return *out = 0, 0;
    return -1;
}

/* Postgres uuid input: 32 hex digits, optionally in braces, with a hyphen allowed after any group
 * of four. Canonical lower-case form into out[37]. */
int esync__where_parse_uuid(const char *s, size_t n, char out[37]) {
    const char *e = s + n;
    int brace = 0;
    if (s < e && *s == '{') brace = 1, s++;
    int k = 0;
    for (; s < e && k < 32;) {
        if (!isxdigit((unsigned char)*s)) return -1;
        char h = (char)tolower((unsigned char)*s++);
        out[k + (k >= 8) + (k >= 12) + (k >= 16) + (k >= 20)] = h;
        k++;
        if (k % 4 == 0 && k < 32 && s < e && *s == '-') s++;
    }
    if (k != 32) return -1;
    if (brace) {
        if (s == e || *s != '}') return -1;
        s++;
    }
    if (s != e) return -1;
    out[8] = out[13] = out[18] = out[23] = '-';
    out[36] = '\0';
    return 0;
}

/* Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int read_digits(const char **p, const char *e, int min, int max, int64_t *v) {
    int k = 0;
    *v = 0;
    while (*p < e && k < max && **p >= '0' && **p <= '9') *v = *v * 10 + (*(*p)++ - '0'), k++;
    return k >= min ? 0 : -1;
}

/* HH:MM[:SS[.ffffff]] into microseconds of the day. */
static int parse_tod(const char **p, const char *e, int64_t *us) {
    int64_t h, m, sec = 0, frac = 0;
    if (read_digits(p, e, 1, 2, &h) || *p == e || **p != ':') return -1;
    (*p)++;
    if (read_digits(p, e, 2, 2, &m)) return -1;
    if (*p < e && **p == ':') {
        (*p)++;
        if (read_digits(p, e, 2, 2, &sec)) return -1;
        if (*p < e && **p == '.') {
            (*p)++;
            int k = 0;
            while (*p < e && **p >= '0' && **p <= '9') {
                if (k == 6) return -1; /* Postgres would round; we only take what it prints */
                frac = frac * 10 + (*(*p)++ - '0');
                k++;
            }
            if (k == 0) return -1;
            while (k++ < 6) frac *= 10;
        }
    }
    if (m > 59 || sec > 60 || h > 24 || (h == 24 && (m || sec || frac))) return -1;
    *us = ((h * 60 + m) * 60 + sec) * 1000000 + frac;
    return 0;
}

/* ISO dates and times as Postgres prints them (DateStyle ISO): YYYY-MM-DD[ BC], with
 * [ T]HH:MM[:SS[.ffffff]] for timestamps and a zone (Z, +HH, +HH:MM, +HHMM, +HH:MM:SS) for
 * timestamptz; infinity and -infinity. *had_zone says whether a timestamptz text carried a zone
 * (without one it is read as UTC, and the rendered SQL says so). */
static int parse_datetime(const char *s, size_t n, wtype t, int64_t *out, int *had_zone) {
    const char *e = trim_end(s, s + n);
    s = skip_ws(s, e);
    if (had_zone) *had_zone = 0;
    if (t != T_TIME && ieq(s, (size_t)(e - s), "infinity")) return *out = INT64_MAX, 0;
    if (t != T_TIME && ieq(s, (size_t)(e - s), "-infinity")) return *out = INT64_MIN, 0;
    int bc = 0;
    if (t != T_TIME && e - s > 3 && ieq(e - 3, 3, " bc")) bc = 1, e -= 3;
    if (t == T_TIME) {
        int64_t us;
        if (parse_tod(&s, e, &us) || s != e) return -1;
        return *out = us, 0;
    }
    int64_t y, mo, d;
    if (read_digits(&s, e, 4, 7, &y) || s == e || *s++ != '-') return -1;
    if (read_digits(&s, e, 2, 2, &mo) || s == e || *s++ != '-') return -1;
    if (read_digits(&s, e, 2, 2, &d)) return -1;
    if (y == 0 || y > 294276 || mo < 1 || mo > 12 || d < 1) return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t yy = bc ? 1 - y : y;
    int leap = (yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0;
    if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap)) return -1;
    int64_t us = days_from_civil(yy, (int)mo, (int)d) * ESYNC_WHERE_USEC_PER_DAY;
    if (t == T_DATE) {
        if (s != e) return -1;
        return *out = us, 0;
    }
    if (s < e && (*s == ' ' || *s == 'T' || *s == 't')) {
        s++;
        int64_t tod;
        if (parse_tod(&s, e, &tod)) return -1;
        us += tod;
    }
    if (t == T_TIMESTAMPTZ && s < e) {
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            int sign = *s++ == '-' ? -1 : 1;
            int64_t oh, om = 0, os = 0;
            if (read_digits(&s, e, 1, 2, &oh)) return -1;
            if (s < e && *s == ':') {
                s++;
                if (read_digits(&s, e, 2, 2, &om)) return -1;
                if (s < e && *s == ':') {
                    s++;
                    if (read_digits(&s, e, 2, 2, &os)) return -1;
                }
            } else if (s < e && *s >= '0' && *s <= '9') {
                if (read_digits(&s, e, 2, 2, &om)) return -1;
            }
            if (oh > 15 || om > 59 || os > 59) return -1;
            us -= sign * ((oh * 60 + om) * 60 + os) * 1000000;
        } else {
            return -1;
        }
        if (had_zone) *had_zone = 1;
    }
    if (s != e) return -1;
    return *out = us, 0;
}

/* Parses a text as a value of type t (the column values and the typed constants). */
int esync__where_parse_value(const char *s, size_t n, wtype t, val *v, int *had_zone) {
    memset(v, 0, sizeof *v);
    dec d;
    char u[37];
    switch (t) {
    case T_BOOL: return parse_bool(s, n, &v->b);
    case T_INT2:
    case T_INT4:
    case T_INT8: return esync__where_parse_int(s, n, t, &v->i);
    case T_FLOAT4:
    case T_FLOAT8: return esync__where_parse_float(s, n, t, &v->d);
    case T_NUMERIC:
        if (esync__where_dec_parse(s, n, &d)) return -1;
        v->s = s;
        v->n = n;
        return 0;
    case T_UUID:
        if (esync__where_parse_uuid(s, n, u)) return -1;
        v->s = s;
        v->n = n;
        return 0;
    case T_TEXT:
    case T_VARCHAR:
    case T_BPCHAR:
    case T_UNKNOWN:
    case T_OTHER:
        v->s = s;
        v->n = n;
        return 0;
    case T_DATE:
    case T_TIMESTAMP:
    case T_TIMESTAMPTZ:
    case T_TIME: return parse_datetime(s, n, t, &v->i, had_zone);
    }
    return -1;
}
