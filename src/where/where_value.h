/* The where compiler's types and values: the Postgres types a clause can compute with, and the
 * parsing of Postgres' text output into values. One parser serves both the constants of a clause
 * (typed at compile time) and the column values of replicated rows (at eval time), so the snapshot
 * query, which Postgres runs, and the replication filter, which eval runs, read the same text the
 * same way.
 *
 * Pure: no allocation, no global state; every parser is total over its input bytes and returns -1
 * for a text that Postgres would refuse for that type.
 */
#ifndef ESYNC_WHERE_VALUE_H
#define ESYNC_WHERE_VALUE_H

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum {
    T_UNKNOWN,
    T_BOOL,
    T_INT2,
    T_INT4,
    T_INT8,
    T_NUMERIC,
    T_FLOAT4,
    T_FLOAT8,
    T_TEXT,
    T_VARCHAR,
    T_BPCHAR,
    T_UUID,
    T_DATE,
    T_TIMESTAMP,
    T_TIMESTAMPTZ,
    T_TIME,
    T_OTHER
} wtype;

static inline int is_int(wtype t) { return t == T_INT2 || t == T_INT4 || t == T_INT8; }
static inline int is_float(wtype t) { return t == T_FLOAT4 || t == T_FLOAT8; }
static inline int is_num(wtype t) { return is_int(t) || t == T_NUMERIC || is_float(t); }
static inline int is_str(wtype t) { return t == T_TEXT || t == T_VARCHAR || t == T_BPCHAR; }
static inline int is_dt(wtype t) { return t >= T_DATE && t <= T_TIME; }

/* Does v fall outside int2 or int4 (for those types)? int8 is the 64 bits themselves. */
static inline int int_out_of_range(wtype t, int64_t v) {
    return (t == T_INT2 && (v < INT16_MIN || v > INT16_MAX)) ||
           (t == T_INT4 && (v < INT32_MIN || v > INT32_MAX));
}

/* The Postgres typname of t ("int4", "timestamptz", ...; "unknown" and "other" for those two). */
const char *esync__where_type_name(wtype t);
/* A type from its typname or an SQL spelling (integer, boolean, ...); T_OTHER when unsupported. */
wtype esync__where_type_from_name(const char *s);

/* A value of one of the supported types: ints in i, floats in d, bools in b, date/time types as
 * microseconds in i (INT64_MIN/MAX for -infinity/infinity), numeric and text-like types as text
 * in s/n (numeric in Postgres output form: [-]digits[.digits], NaN, Infinity, -Infinity). */
typedef struct val {
    int null;
    int b;
    int64_t i;
    double d;
    const char *s;
    size_t n;
} val;

/* Decimal numbers as text: the digits before and after the point, without leading zeros (the
 * fraction keeps its trailing zeros, which carry the display scale). */
typedef struct dec {
    int neg;
    int special; /* 0 finite, 1 +Infinity, -1 -Infinity, 2 NaN */
    const char *ip, *fp;
    size_t il, fl;
} dec;

#define ESYNC_WHERE_USEC_PER_DAY INT64_C(86400000000)

/* The blanks Postgres' input functions skip around a value. */
static inline int is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static inline const char *skip_ws(const char *s, const char *e) {
    while (s < e && is_blank(*s)) s++;
    return s;
}
static inline const char *trim_end(const char *s, const char *e) {
    while (e > s && is_blank(e[-1])) e--;
    return e;
}
/* s[0..n) equals the lower-case lit, ASCII case-insensitively. */
static inline int ieq(const char *s, size_t n, const char *lit) {
    if (n != strlen(lit)) return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)s[i]) != lit[i]) return 0;
    return 1;
}
/* The length of a bpchar without its trailing blanks, which bpchar semantics ignore. */
static inline size_t bpchar_len(const char *s, size_t n) {
    while (n > 0 && s[n - 1] == ' ') n--;
    return n;
}

/* An integer of type t (range checked) from its text. Returns 0 or -1. */
int esync__where_parse_int(const char *s, size_t n, wtype t, int64_t *out);
/* A float4 or float8 from its text (decimal forms, NaN, Infinity; no hex). Returns 0 or -1. */
int esync__where_parse_float(const char *s, size_t n, wtype t, double *out);
/* A numeric in Postgres' output form [-]digits[.digits] (and +, blanks, .5, 5., NaN, Infinity);
 * d points into s. Returns 0 or -1. */
int esync__where_dec_parse(const char *s, size_t n, dec *d);
/* Compares magnitudes (signs and specials ignored): -1, 0 or 1. */
int esync__where_dec_cmp_mag(const dec *a, const dec *b);
/* Postgres numeric order: -Infinity < finite < Infinity < NaN, and NaN = NaN. */
int esync__where_dec_cmp(const dec *a, const dec *b);
/* Postgres uuid input (32 hex digits, optional braces, a hyphen allowed after any group of four)
 * into the canonical lower-case form out[37]. Returns 0 or -1. */
int esync__where_parse_uuid(const char *s, size_t n, char out[37]);
/* Parses a text as a value of type t. Text-like and numeric values point into s. had_zone (may be
 * NULL) says whether a timestamptz text carried a zone. Returns 0 or -1. */
int esync__where_parse_value(const char *s, size_t n, wtype t, val *v, int *had_zone);

#endif
