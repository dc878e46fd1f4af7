/* Shape where clauses: lexer, recursive-descent parser, type checker, evaluator and SQL renderer.
 *
 * Invariants:
 *   - Every node of a compiled clause lives in one pool owned by the esync_where; freeing the pool
 *     frees the tree. Nothing in a compiled clause points into the caller's text or params.
 *   - After type checking no node has type T_UNKNOWN except NULL literals whose context gave no
 *     type (their value is NULL whatever the type, so eval never needs one).
 *   - Constants keep two forms: the text sent to Postgres as a bind value (`sql`) and the value
 *     eval uses (`v`), parsed here with the same rules Postgres applies to that text, so the
 *     snapshot query and the replication filter agree.
 *   - Comparisons run in one "domain" chosen at compile time: exact decimal on text for integers and
 *     numeric (never doubles, so int8 and numeric keep every digit), doubles as soon as a float is
 *     involved (as Postgres casts to float8), byte order for text-like types (the C.UTF-8 collation
 *     of the dev cluster), and integer microseconds for date/time types.
 */
#include "where.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- types --------------------------------------------------------------------------------- */

typedef enum {
    T_UNKNOWN, T_BOOL, T_INT2, T_INT4, T_INT8, T_NUMERIC, T_FLOAT4, T_FLOAT8, T_TEXT, T_VARCHAR,
    T_BPCHAR, T_UUID, T_DATE, T_TIMESTAMP, T_TIMESTAMPTZ, T_TIME, T_OTHER
} wtype;

static const char *const type_names[] = {"unknown", "bool",    "int2",   "int4",   "int8",
                                         "numeric", "float4",  "float8", "text",   "varchar",
                                         "bpchar",  "uuid",    "date",   "timestamp",
                                         "timestamptz", "time", "other"};

static int is_int(wtype t) { return t == T_INT2 || t == T_INT4 || t == T_INT8; }
static int is_float(wtype t) { return t == T_FLOAT4 || t == T_FLOAT8; }
static int is_num(wtype t) { return is_int(t) || t == T_NUMERIC || is_float(t); }
static int is_str(wtype t) { return t == T_TEXT || t == T_VARCHAR || t == T_BPCHAR; }
static int is_dt(wtype t) { return t >= T_DATE && t <= T_TIME; }

static wtype type_from_name(const char *s) {
    static const struct { const char *n; wtype t; } names[] = {
        {"bool", T_BOOL},       {"boolean", T_BOOL},      {"int2", T_INT2},
        {"smallint", T_INT2},   {"int4", T_INT4},         {"int", T_INT4},
        {"integer", T_INT4},    {"int8", T_INT8},         {"bigint", T_INT8},
        {"numeric", T_NUMERIC}, {"decimal", T_NUMERIC},   {"float4", T_FLOAT4},
        {"real", T_FLOAT4},     {"float8", T_FLOAT8},     {"float", T_FLOAT8},
        {"text", T_TEXT},       {"varchar", T_VARCHAR},   {"bpchar", T_BPCHAR},
        {"char", T_BPCHAR},     {"character", T_BPCHAR},  {"name", T_TEXT},
        {"uuid", T_UUID},       {"date", T_DATE},         {"timestamp", T_TIMESTAMP},
        {"timestamptz", T_TIMESTAMPTZ}, {"time", T_TIME},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].n) == 0) return names[i].t;
    return T_OTHER;
}

/* ---- pool: every allocation of a clause (or of one evaluation), freed at once -------------- */

typedef struct block {
    struct block *next;
    size_t used, cap;
    max_align_t data[];
} block;

typedef struct pool { block *head; } pool;

static void *pool_alloc(pool *p, size_t n) {
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n == 0) n = sizeof(max_align_t);
    block *b = p->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        b = malloc(sizeof(block) + cap);
        if (!b) return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = p->head;
        p->head = b;
    }
    void *r = (char *)b->data + b->used;
    b->used += n;
    return r;
}

static char *pool_strndup(pool *p, const char *s, size_t n) {
    char *r = pool_alloc(p, n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = '\0';
    }
    return r;
}

static void pool_free(pool *p) {
    while (p->head) {
        block *n = p->head->next;
        free(p->head);
        p->head = n;
    }
}

/* ---- values ------------------------------------------------------------------------------- */

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

/* ---- the tree ----------------------------------------------------------------------------- */

typedef enum {
    N_CONST, N_COL, N_AND, N_OR, N_NOT, N_CMP, N_DISTINCT, N_ISNULL, N_ISBOOL, N_LIKE, N_IN,
    N_BETWEEN, N_ARITH, N_NEG, N_CAST, N_LOWER, N_UPPER, N_COALESCE
} nkind;

enum { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE };
static const char *const cmp_sql[] = {"=", "<>", "<", "<=", ">", ">="};

typedef struct node {
    nkind kind;
    wtype type;   /* result type */
    wtype dom;    /* N_CMP/N_DISTINCT/N_IN/N_BETWEEN: the comparison domain; N_ARITH: operands */
    int op;       /* N_CMP: C_*; N_ARITH: + - * / %; N_ISBOOL: 't','f','u' */
    int negated;  /* NOT LIKE, NOT IN, NOT BETWEEN, IS NOT ..., IS NOT DISTINCT */
    int icase;    /* ILIKE */
    int loc;      /* byte offset in the clause text */
    int col;      /* N_COL */
    int param;    /* N_CONST: $n, or 0 for a literal */
    int isnull;   /* N_CONST: NULL */
    int unknown;  /* N_CONST: still untyped (a 'string', $n or NULL) */
    char *text;   /* N_CONST: the literal or parameter text as written */
    char *sql;    /* N_CONST: the bind value sent to Postgres (normalized where needed) */
    val v;        /* N_CONST: the parsed value */
    int nargs;
    struct node **args;
} node;

struct esync_where {
    pool pool;
    node *root;
    int *cols;
    int ncols_used;
    const char **colnames; /* pool copies, for rendering */
    wtype *coltypes;
};

/* ---- text parsing shared by constants and row values ------------------------------------- */

static const char *skip_ws(const char *s, const char *e) {
    while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v'))
        s++;
    return s;
}
static const char *trim_end(const char *s, const char *e) {
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r' ||
                     e[-1] == '\f' || e[-1] == '\v'))
        e--;
    return e;
}

static int ieq(const char *s, size_t n, const char *lit) {
    size_t m = strlen(lit);
    if (n != m) return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)s[i]) != lit[i]) return 0;
    return 1;
}

static int parse_int(const char *s, size_t n, wtype t, int64_t *out) {
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
    if (t == T_INT2 && (r < INT16_MIN || r > INT16_MAX)) return -1;
    if (t == T_INT4 && (r < INT32_MIN || r > INT32_MAX)) return -1;
    *out = r;
    return 0;
}

static int parse_float(const char *s, size_t n, wtype t, double *out) {
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
typedef struct dec {
    int neg;
    int special; /* 0 finite, 1 +Infinity, -1 -Infinity, 2 NaN */
    const char *ip, *fp;
    size_t il, fl;
} dec;

/* Accepts the Postgres output form [-]digits[.digits] (and +, leading/trailing blanks, .5, 5.). */
static int dec_parse(const char *s, size_t n, dec *d) {
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

static int dec_cmp_mag(const dec *a, const dec *b) {
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

/* Postgres order: -Infinity < finite < Infinity < NaN, and NaN = NaN. */
static int dec_cmp(const dec *a, const dec *b) {
    int ra = a->special == 2 ? 3 : a->special == 1 ? 2 : a->special == -1 ? 0 : 1;
    int rb = b->special == 2 ? 3 : b->special == 1 ? 2 : b->special == -1 ? 0 : 1;
    if (ra != rb || ra != 1) return ra < rb ? -1 : ra > rb;
    if (a->neg != b->neg) return a->neg ? -1 : 1;
    int c = dec_cmp_mag(a, b);
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
static int parse_uuid(const char *s, size_t n, char out[37]) {
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

#define USEC_PER_DAY INT64_C(86400000000)

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
    int64_t us = days_from_civil(yy, (int)mo, (int)d) * USEC_PER_DAY;
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

static int bpchar_len(const char *s, size_t n) {
    while (n > 0 && s[n - 1] == ' ') n--;
    return (int)n;
}

/* Parses a text as a value of type t (the column values and the typed constants). */
static int parse_value(const char *s, size_t n, wtype t, val *v, int *had_zone) {
    memset(v, 0, sizeof *v);
    dec d;
    char u[37];
    switch (t) {
    case T_BOOL: return parse_bool(s, n, &v->b);
    case T_INT2: case T_INT4: case T_INT8: return parse_int(s, n, t, &v->i);
    case T_FLOAT4: case T_FLOAT8: return parse_float(s, n, t, &v->d);
    case T_NUMERIC:
        if (dec_parse(s, n, &d)) return -1;
        v->s = s;
        v->n = n;
        return 0;
    case T_UUID:
        if (parse_uuid(s, n, u)) return -1;
        v->s = s;
        v->n = n;
        return 0;
    case T_TEXT: case T_VARCHAR: case T_BPCHAR: case T_UNKNOWN: case T_OTHER:
        v->s = s;
        v->n = n;
        return 0;
    case T_DATE: case T_TIMESTAMP: case T_TIMESTAMPTZ: case T_TIME:
        return parse_datetime(s, n, t, &v->i, had_zone);
    }
    return -1;
}

/* ---- lexer -------------------------------------------------------------------------------- */

typedef enum { K_END, K_IDENT, K_QIDENT, K_INT, K_DEC, K_STRING, K_PARAM, K_OP, K_PUNCT } tkind;

typedef struct token {
    tkind kind;
    int loc, len; /* the token's bytes in the clause text */
    const char *str; /* K_IDENT (folded), K_QIDENT, K_STRING (unescaped), K_OP/K_PUNCT spelling */
    int param;
} token;

typedef struct parser {
    const char *text;
    size_t len;
    const char *const *params;
    int nparams;
    char *used;
    const esync_where_col *cols;
    int ncols;
    esync_where *w;
    pool *pool;
    token tok;
    size_t pos;
    int depth;
    int rc;
    char *err;
    size_t errlen;
} parser;

#define ESYNC_WHERE_MAX_HEIGHT 1024 /* operators stacked in the tree (chains of AND, OR, +) */
#define PREFIX_LEN 15 /* strlen("SELECT 1 WHERE "): Electric's syntax error locations count it */

static void *fail(parser *p, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void *fail(parser *p, int rc, const char *fmt, ...) {
    if (p->rc) return NULL;
    p->rc = rc;
    if (p->err && p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, p->errlen, fmt, ap);
        va_end(ap);
    }
    return NULL;
}
static void *oom(parser *p) { return fail(p, ESYNC_WHERE_ENOMEM, "out of memory"); }

static void *syntax_error(parser *p) {
    if (p->tok.kind == K_END)
        return fail(p, ESYNC_WHERE_ESYNTAX, "At location %d: syntax error at end of input",
                    PREFIX_LEN + p->tok.loc);
    int n = p->tok.len > 200 ? 200 : p->tok.len;
    return fail(p, ESYNC_WHERE_ESYNTAX, "At location %d: syntax error at or near \"%.*s\"",
                PREFIX_LEN + p->tok.loc, n, p->text + p->tok.loc);
}

static int ident_start(unsigned char c) { return isalpha(c) || c == '_' || c >= 0x80; }
static int ident_char(unsigned char c) { return ident_start(c) || isdigit(c) || c == '$'; }
static int op_char(char c) { return c && strchr("+-*/<>=~!@#%^&|`?", c) != NULL; }

/* Reads the next token into p->tok. Returns -1 (with the error set) on a lexical error. */
static int next(parser *p) {
    const char *t = p->text;
    size_t i = p->pos, n = p->len;
    while (i < n && strchr(" \t\n\r\f\v", t[i])) i++;
    token *k = &p->tok;
    memset(k, 0, sizeof *k);
    k->loc = (int)i;
    if (i >= n) {
        k->kind = K_END;
        p->pos = i;
        return 0;
    }
    unsigned char c = (unsigned char)t[i];
    if ((c == '-' && i + 1 < n && t[i + 1] == '-') || (c == '/' && i + 1 < n && t[i + 1] == '*')) {
        fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: comments are not supported", (int)i);
        return -1;
    }
    if (c == ';') {
        fail(p, ESYNC_WHERE_ESYNTAX, "unescaped \";\" causing statement split");
        return -1;
    }
    if (ident_start(c)) {
        size_t j = i;
        while (j < n && ident_char((unsigned char)t[j])) j++;
        if (j < n && t[j] == '\'') {
            /* E'', B'', X'', U&'' and typed literals like date '...' : not in our subset */
            k->kind = K_IDENT;
            k->len = (int)(j - i);
            fail(p, ESYNC_WHERE_EUNSUPPORTED,
                 "At location %d: %.*s'...' literals are not supported", (int)i, k->len, t + i);
            return -1;
        }
        k->kind = K_IDENT;
        k->len = (int)(j - i);
        char *id = pool_strndup(p->pool, t + i, j - i);
        if (!id) return oom(p), -1;
        for (char *s = id; *s; s++) *s = (char)tolower((unsigned char)*s);
        k->str = id;
        p->pos = j;
        return 0;
    }
    if (c == '"' || c == '\'') {
        char q = (char)c;
        size_t j = i + 1, m = 0;
        for (size_t x = i + 1;; x++) { /* find the end first, to allocate what the token needs */
            if (x >= n) {
                k->len = (int)(n - i);
                fail(p, ESYNC_WHERE_ESYNTAX, "At location %d: unterminated quoted %s at or near \"%.*s\"",
                     PREFIX_LEN + (int)i, q == '"' ? "identifier" : "string",
                     k->len > 200 ? 200 : k->len, t + i);
                return -1;
            }
            if (t[x] == q) {
                if (x + 1 < n && t[x + 1] == q) x++;
                else break;
            }
        }
        char *buf = NULL;
        for (size_t x = i + 1; t[x] != q || (x + 1 < n && t[x + 1] == q); x++) {
            if (t[x] == q) x++;
            m++;
        }
        buf = pool_alloc(p->pool, m + 1);
        if (!buf) return oom(p), -1;
        m = 0;
        for (;;) {
            if (t[j] == q) {
                if (j + 1 < n && t[j + 1] == q) {
                    buf[m++] = q;
                    j += 2;
                    continue;
                }
                break;
            }
            buf[m++] = t[j++];
        }
        buf[m] = '\0';
        k->kind = q == '"' ? K_QIDENT : K_STRING;
        k->str = buf;
        k->len = (int)(j + 1 - i);
        p->pos = j + 1;
        if (q == '"' && m == 0) {
            fail(p, ESYNC_WHERE_ESYNTAX, "At location %d: zero-length delimited identifier at or near \"\"\"\"",
                 PREFIX_LEN + (int)i);
            return -1;
        }
        return 0;
    }
    if (isdigit(c) || (c == '.' && i + 1 < n && isdigit((unsigned char)t[i + 1]))) {
        size_t j = i;
        int isdec = 0;
        while (j < n && isdigit((unsigned char)t[j])) j++;
        if (j < n && t[j] == '.' && !(j + 1 < n && t[j + 1] == '.')) {
            isdec = 1;
            j++;
            while (j < n && isdigit((unsigned char)t[j])) j++;
        }
        if (j < n && (t[j] == 'e' || t[j] == 'E')) {
            size_t x = j + 1;
            if (x < n && (t[x] == '+' || t[x] == '-')) x++;
            if (x < n && isdigit((unsigned char)t[x])) {
                isdec = 1;
                j = x;
                while (j < n && isdigit((unsigned char)t[j])) j++;
            }
        }
        k->len = (int)(j - i);
        if (j < n && ident_char((unsigned char)t[j])) {
            size_t x = j;
            while (x < n && ident_char((unsigned char)t[x])) x++;
            k->len = (int)(x - i);
            fail(p, ESYNC_WHERE_ESYNTAX, "At location %d: trailing junk after numeric literal at or near \"%.*s\"",
                 PREFIX_LEN + (int)i, k->len > 200 ? 200 : k->len, t + i);
            return -1;
        }
        k->kind = isdec ? K_DEC : K_INT;
        k->str = pool_strndup(p->pool, t + i, j - i);
        if (!k->str) return oom(p), -1;
        p->pos = j;
        return 0;
    }
    if (c == '$') {
        size_t j = i + 1;
        long v = 0;
        while (j < n && isdigit((unsigned char)t[j])) {
            if (v < 100000) v = v * 10 + (t[j] - '0');
            j++;
        }
        k->len = (int)(j - i);
        if (j == i + 1 || (j < n && ident_char((unsigned char)t[j]))) {
            p->pos = j;
            k->kind = K_PUNCT;
            syntax_error(p);
            return -1;
        }
        k->kind = K_PARAM;
        k->param = (int)v;
        p->pos = j;
        return 0;
    }
    if (op_char((char)c)) {
        size_t j = i;
        while (j < n && op_char(t[j])) {
            if (j > i && ((t[j] == '-' && t[j + 1 < n ? j + 1 : j] == '-' && j + 1 < n) ||
                          (t[j] == '/' && j + 1 < n && t[j + 1] == '*')))
                break;
            j++;
        }
        /* Postgres: a multi-character operator cannot end in + or - unless it holds one of these */
        int special = 0;
        for (size_t x = i; x < j; x++)
            if (strchr("~!@#%^&|`?", t[x])) special = 1;
        while (!special && j - i > 1 && (t[j - 1] == '+' || t[j - 1] == '-')) j--;
        k->kind = K_OP;
        k->len = (int)(j - i);
        k->str = pool_strndup(p->pool, t + i, j - i);
        if (!k->str) return oom(p), -1;
        p->pos = j;
        return 0;
    }
    if (c == ':' && i + 1 < n && t[i + 1] == ':') {
        k->kind = K_PUNCT;
        k->len = 2;
        k->str = "::";
        p->pos = i + 2;
        return 0;
    }
    if (strchr("(),.[]:", c)) {
        k->kind = K_PUNCT;
        k->len = 1;
        static const char *const one[] = {"(", ")", ",", ".", "[", "]", ":"};
        k->str = one[strchr("(),.[]:", c) - "(),.[]:"];
        p->pos = i + 1;
        return 0;
    }
    /* any other byte: report it as Postgres does */
    k->kind = K_PUNCT;
    k->len = 1;
    p->pos = i + 1;
    syntax_error(p);
    return -1;
}

static int is_punct(parser *p, const char *s) {
    return (p->tok.kind == K_PUNCT || p->tok.kind == K_OP) && strcmp(p->tok.str, s) == 0;
}
static int is_kw(parser *p, const char *kw) {
    return p->tok.kind == K_IDENT && strcmp(p->tok.str, kw) == 0;
}
/* Reserved words that cannot start or continue an expression where an operand is expected. */
static int reserved(const char *s) {
    static const char *const r[] = {"and", "or", "not", "is", "null", "true", "false", "in",
        "between", "like", "ilike", "similar", "select", "from", "where", "case", "when", "then",
        "else", "end", "as", "asc", "desc", "order", "group", "having", "limit", "offset", "union",
        "all", "any", "some", "array", "cast", "distinct", "isnull", "notnull", "escape", "exists",
        "with", "collate", "overlaps", "and", "or", "table", "default", "current_date",
        "current_time", "current_timestamp", "localtime", "localtimestamp", "current_user",
        "session_user", "user", "current_role", "only", "symmetric", "interval", NULL};
    for (int i = 0; r[i]; i++)
        if (strcmp(s, r[i]) == 0) return 1;
    return 0;
}

/* ---- parser ------------------------------------------------------------------------------- */

static node *new_node(parser *p, nkind kind, int loc, int nargs) {
    node *x = pool_alloc(p->pool, sizeof *x);
    if (!x) return oom(p);
    memset(x, 0, sizeof *x);
    x->kind = kind;
    x->loc = loc;
    x->nargs = nargs;
    if (nargs) {
        x->args = pool_alloc(p->pool, sizeof(node *) * (size_t)nargs);
        if (!x->args) return oom(p);
        memset(x->args, 0, sizeof(node *) * (size_t)nargs);
    }
    return x;
}

static node *node2(parser *p, nkind kind, int loc, node *a, node *b) {
    if (!a || !b) return NULL;
    node *x = new_node(p, kind, loc, 2);
    if (!x) return NULL;
    x->args[0] = a;
    x->args[1] = b;
    return x;
}

static node *parse_expr(parser *p);
static node *parse_add(parser *p);
static node *parse_is(parser *p);

static int enter(parser *p) {
    if (++p->depth > ESYNC_WHERE_MAX_DEPTH) {
        fail(p, ESYNC_WHERE_ELIMIT, "At location %d: expression is nested too deeply (limit %d)",
             p->tok.loc, ESYNC_WHERE_MAX_DEPTH);
        return -1;
    }
    return 0;
}

static node *unknown_const(parser *p, int loc, const char *text, int param, int isnull) {
    node *x = new_node(p, N_CONST, loc, 0);
    if (!x) return NULL;
    x->unknown = 1;
    x->isnull = isnull;
    x->param = param;
    x->v.null = isnull;
    if (text && !(x->text = pool_strndup(p->pool, text, strlen(text)))) return oom(p);
    return x;
}

/* Parses a type name after `::`: one word, or double precision / character varying. */
static int parse_type(parser *p, wtype *t) {
    if (p->tok.kind != K_IDENT && p->tok.kind != K_QIDENT) return syntax_error(p), -1;
    int loc = p->tok.loc;
    char name[64];
    snprintf(name, sizeof name, "%s", p->tok.str);
    if (next(p)) return -1;
    if (strcmp(name, "double") == 0 && is_kw(p, "precision")) {
        strcpy(name, "float8");
        if (next(p)) return -1;
    } else if ((strcmp(name, "character") == 0 || strcmp(name, "char") == 0) && is_kw(p, "varying")) {
        strcpy(name, "varchar");
        if (next(p)) return -1;
    } else if ((strcmp(name, "timestamp") == 0 || strcmp(name, "time") == 0) &&
               (is_kw(p, "with") || is_kw(p, "without"))) {
        fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: unsupported type %s %s", loc, name,
             p->tok.str);
        return -1;
    }
    if (is_punct(p, "(") || is_punct(p, "[")) {
        fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: type modifiers and array types are not supported",
             p->tok.loc);
        return -1;
    }
    *t = type_from_name(name);
    if (*t == T_OTHER) {
        fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: unsupported type %s", loc, name);
        return -1;
    }
    return 0;
}

static node *parse_primary(parser *p) {
    token t = p->tok;
    switch (t.kind) {
    case K_INT: case K_DEC: {
        node *x = unknown_const(p, t.loc, t.str, 0, 0);
        if (!x) return NULL;
        x->unknown = 0;
        x->type = t.kind == K_DEC ? T_NUMERIC : T_INT8; /* refined by type_numeric_literal */
        if (next(p)) return NULL;
        return x;
    }
    case K_STRING: {
        node *x = unknown_const(p, t.loc, t.str, 0, 0);
        if (!x || next(p)) return NULL;
        return x;
    }
    case K_PARAM: {
        if (t.param < 1 || t.param > p->nparams)
            return fail(p, ESYNC_WHERE_EPARAM, "At location %d: parameter $%d was not provided",
                        t.loc, t.param);
        p->used[t.param - 1] = 1;
        node *x = unknown_const(p, t.loc, p->params[t.param - 1], t.param, 0);
        if (!x || next(p)) return NULL;
        return x;
    }
    case K_PUNCT:
        if (strcmp(t.str, "(") == 0) {
            if (next(p)) return NULL;
            if (is_kw(p, "select") || is_kw(p, "with") || is_kw(p, "values"))
                return fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: subqueries are not supported",
                            t.loc);
            node *x = parse_expr(p);
            if (!x) return NULL;
            if (!is_punct(p, ")")) return syntax_error(p);
            if (next(p)) return NULL;
            return x;
        }
        return syntax_error(p);
    case K_QIDENT: case K_IDENT: {
        if (t.kind == K_IDENT) {
            if (strcmp(t.str, "null") == 0) {
                if (next(p)) return NULL;
                return unknown_const(p, t.loc, NULL, 0, 1);
            }
            if (strcmp(t.str, "true") == 0 || strcmp(t.str, "false") == 0) {
                node *x = unknown_const(p, t.loc, t.str[0] == 't' ? "true" : "false", 0, 0);
                if (!x || next(p)) return NULL;
                x->unknown = 0;
                x->type = T_BOOL;
                x->v.b = t.str[0] == 't';
                return x;
            }
            if (strcmp(t.str, "exists") == 0 || strcmp(t.str, "array") == 0 ||
                strcmp(t.str, "case") == 0 || strcmp(t.str, "cast") == 0)
                return fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: %s is not supported",
                            t.loc, t.str);
            if (reserved(t.str)) return syntax_error(p);
        }
        if (next(p)) return NULL;
        if (t.kind == K_IDENT && p->tok.kind == K_STRING)
            return fail(p, ESYNC_WHERE_EUNSUPPORTED,
                        "At location %d: %s '...' literals are not supported", t.loc, t.str);
        if (is_punct(p, "(")) {
            nkind kind;
            if (t.kind == K_IDENT && strcmp(t.str, "lower") == 0) kind = N_LOWER;
            else if (t.kind == K_IDENT && strcmp(t.str, "upper") == 0) kind = N_UPPER;
            else if (t.kind == K_IDENT && strcmp(t.str, "coalesce") == 0) kind = N_COALESCE;
            else {
                int arity = 0;
                /* count the arguments for the message, as Electric reports name/arity */
                size_t save = p->pos;
                token st = p->tok;
                int depth = 0, any = 0;
                for (;;) {
                    if (next(p)) return NULL;
                    if (p->tok.kind == K_END) break;
                    if (is_punct(p, "(")) depth++;
                    else if (is_punct(p, ")")) { if (depth-- == 0) break; }
                    else if (is_punct(p, ",") && depth == 0) arity++;
                    any = 1;
                }
                p->pos = save;
                p->tok = st;
                return fail(p, ESYNC_WHERE_EUNSUPPORTED,
                            "At location %d: unknown or unsupported function %s/%d", t.loc, t.str,
                            any ? arity + 1 : 0);
            }
            int cap = 4, nargs = 0;
            node **args = pool_alloc(p->pool, sizeof(node *) * (size_t)cap);
            if (!args) return oom(p);
            if (next(p)) return NULL;
            if (!is_punct(p, ")")) {
                for (;;) {
                    node *a = parse_expr(p);
                    if (!a) return NULL;
                    if (nargs == cap) {
                        node **na = pool_alloc(p->pool, sizeof(node *) * (size_t)cap * 2);
                        if (!na) return oom(p);
                        memcpy(na, args, sizeof(node *) * (size_t)cap);
                        args = na;
                        cap *= 2;
                    }
                    args[nargs++] = a;
                    if (is_punct(p, ")")) break;
                    if (!is_punct(p, ",")) return syntax_error(p);
                    if (next(p)) return NULL;
                }
            }
            if (next(p)) return NULL;
            if ((kind != N_COALESCE && nargs != 1) || nargs == 0)
                return fail(p, ESYNC_WHERE_ETYPE,
                            "At location %d: unknown or unsupported function %s/%d", t.loc, t.str,
                            nargs);
            node *x = new_node(p, kind, t.loc, 0);
            if (!x) return NULL;
            x->nargs = nargs;
            x->args = args;
            return x;
        }
        if (is_punct(p, ".")) {
            /* qualified references (table.column) are not columns of the shape */
            char ref[256];
            int n = snprintf(ref, sizeof ref, "%s", t.str);
            while (is_punct(p, ".")) {
                if (next(p)) return NULL;
                if (p->tok.kind != K_IDENT && p->tok.kind != K_QIDENT) return syntax_error(p);
                if (n < (int)sizeof ref)
                    n += snprintf(ref + n, sizeof ref - (size_t)n, ".%s", p->tok.str);
                if (next(p)) return NULL;
            }
            return fail(p, ESYNC_WHERE_ETYPE, "At location %d: unknown reference %s", t.loc, ref);
        }
        for (int i = 0; i < p->ncols; i++) {
            if (strcmp(p->cols[i].name, t.str) == 0) {
                node *x = new_node(p, N_COL, t.loc, 0);
                if (!x) return NULL;
                x->col = i;
                x->type = p->w->coltypes[i];
                return x;
            }
        }
        /* Electric quotes the name when it needs quoting */
        int plain = ident_start((unsigned char)t.str[0]) && !isupper((unsigned char)t.str[0]);
        for (const char *s = t.str; *s; s++)
            if (!ident_char((unsigned char)*s) || isupper((unsigned char)*s)) plain = 0;
        if (plain)
            return fail(p, ESYNC_WHERE_ETYPE, "At location %d: unknown reference %.200s", t.loc,
                        t.str);
        return fail(p, ESYNC_WHERE_ETYPE, "At location %d: unknown reference \"%.200s\"", t.loc,
                    t.str);
    }
    case K_OP: case K_END:
        return syntax_error(p);
    }
    return syntax_error(p);
}

static node *parse_cast(parser *p) {
    node *x = parse_primary(p);
    while (x && is_punct(p, "::")) {
        int loc = p->tok.loc;
        if (next(p)) return NULL;
        wtype t;
        if (parse_type(p, &t)) return NULL;
        node *c = new_node(p, N_CAST, loc, 1);
        if (!c) return NULL;
        c->args[0] = x;
        c->type = t;
        x = c;
    }
    if (x && (is_punct(p, "[") || is_kw(p, "collate") || is_kw(p, "at")))
        return fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: %s is not supported", p->tok.loc,
                    p->tok.str);
    return x;
}

static node *parse_unary(parser *p) {
    if (is_punct(p, "-") || is_punct(p, "+")) {
        int loc = p->tok.loc, neg = p->tok.str[0] == '-';
        if (enter(p) || next(p)) return NULL;
        node *x;
        /* Postgres folds a minus into a numeric literal that follows it (so -2147483648 is int4) */
        if (neg && (p->tok.kind == K_INT || p->tok.kind == K_DEC)) {
            size_t n = strlen(p->tok.str);
            char *s = pool_alloc(p->pool, n + 2);
            if (!s) return oom(p);
            s[0] = '-';
            memcpy(s + 1, p->tok.str, n + 1);
            p->tok.str = s;
            x = parse_cast(p);
            if (x && x->kind == N_CONST) x->loc = loc;
            else if (x && x->kind == N_CAST) {
                node *c = x;
                while (c->kind == N_CAST) c = c->args[0];
                c->loc = loc;
            }
        } else {
            node *a = parse_unary(p);
            if (!a) return NULL;
            if (!neg) {
                node *pl = new_node(p, N_NEG, loc, 1); /* unary plus: type check only */
                if (!pl) return NULL;
                pl->args[0] = a;
                pl->op = '+';
                x = pl;
            } else {
                x = new_node(p, N_NEG, loc, 1);
                if (!x) return NULL;
                x->args[0] = a;
                x->op = '-';
            }
        }
        p->depth--;
        return x;
    }
    return parse_cast(p);
}

static node *parse_mul(parser *p) {
    node *x = parse_unary(p);
    while (x && (is_punct(p, "*") || is_punct(p, "/") || is_punct(p, "%"))) {
        int op = p->tok.str[0], loc = p->tok.loc;
        if (enter(p) || next(p)) return NULL;
        x = node2(p, N_ARITH, loc, x, parse_unary(p));
        if (x) x->op = op;
        p->depth--;
    }
    return x;
}

static node *parse_add(parser *p) {
    node *x = parse_mul(p);
    while (x && (is_punct(p, "+") || is_punct(p, "-"))) {
        int op = p->tok.str[0], loc = p->tok.loc;
        if (enter(p) || next(p)) return NULL;
        x = node2(p, N_ARITH, loc, x, parse_mul(p));
        if (x) x->op = op;
        p->depth--;
    }
    if (x && p->tok.kind == K_OP && !is_punct(p, "=") && !is_punct(p, "<>") && !is_punct(p, "!=") &&
        !is_punct(p, "<") && !is_punct(p, "<=") && !is_punct(p, ">") && !is_punct(p, ">=") &&
        !is_punct(p, "+") && !is_punct(p, "-") && !is_punct(p, "*") && !is_punct(p, "/") &&
        !is_punct(p, "%"))
        return fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: operator %s is not supported",
                    p->tok.loc, p->tok.str);
    return x;
}

/* x [NOT] IN (...) | [NOT] BETWEEN a AND b | [NOT] LIKE/ILIKE y */
static node *parse_pred(parser *p) {
    node *x = parse_add(p);
    if (!x) return NULL;
    int negated = 0;
    if (is_kw(p, "not")) {
        /* only NOT IN / NOT BETWEEN / NOT LIKE / NOT ILIKE continue an expression */
        size_t save = p->pos;
        token st = p->tok;
        if (next(p)) return NULL;
        if (!is_kw(p, "in") && !is_kw(p, "between") && !is_kw(p, "like") && !is_kw(p, "ilike") &&
            !is_kw(p, "similar")) {
            p->pos = save;
            p->tok = st;
            return x;
        }
        negated = 1;
    }
    int loc = p->tok.loc;
    if (is_kw(p, "in")) {
        if (next(p)) return NULL;
        if (!is_punct(p, "(")) return syntax_error(p);
        if (next(p)) return NULL;
        if (is_kw(p, "select") || is_kw(p, "with") || is_kw(p, "values"))
            return fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: subqueries are not supported",
                        loc);
        int cap = 8, n = 1;
        node **args = pool_alloc(p->pool, sizeof(node *) * (size_t)cap);
        if (!args) return oom(p);
        args[0] = x;
        for (;;) {
            node *a = parse_expr(p);
            if (!a) return NULL;
            if (n == cap) {
                node **na = pool_alloc(p->pool, sizeof(node *) * (size_t)cap * 2);
                if (!na) return oom(p);
                memcpy(na, args, sizeof(node *) * (size_t)cap);
                args = na;
                cap *= 2;
            }
            args[n++] = a;
            if (is_punct(p, ")")) break;
            if (!is_punct(p, ",")) return syntax_error(p);
            if (next(p)) return NULL;
        }
        if (next(p)) return NULL;
        node *r = new_node(p, N_IN, loc, 0);
        if (!r) return NULL;
        r->args = args;
        r->nargs = n;
        r->negated = negated;
        return r;
    }
    if (is_kw(p, "between")) {
        if (next(p)) return NULL;
        if (is_kw(p, "symmetric") || is_kw(p, "asymmetric"))
            return fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: BETWEEN %s is not supported",
                        p->tok.loc, p->tok.str);
        node *lo = parse_add(p);
        if (!lo) return NULL;
        if (!is_kw(p, "and")) return syntax_error(p);
        if (next(p)) return NULL;
        node *hi = parse_add(p);
        if (!hi) return NULL;
        node *r = new_node(p, N_BETWEEN, loc, 3);
        if (!r) return NULL;
        r->args[0] = x;
        r->args[1] = lo;
        r->args[2] = hi;
        r->negated = negated;
        return r;
    }
    if (is_kw(p, "like") || is_kw(p, "ilike")) {
        int icase = p->tok.str[0] == 'i';
        if (next(p)) return NULL;
        node *r = node2(p, N_LIKE, loc, x, parse_add(p));
        if (!r) return NULL;
        r->negated = negated;
        r->icase = icase;
        if (is_kw(p, "escape"))
            return fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: LIKE ... ESCAPE is not supported",
                        p->tok.loc);
        return r;
    }
    if (is_kw(p, "similar"))
        return fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: SIMILAR TO is not supported", loc);
    return x;
}

static node *parse_cmp(parser *p) {
    node *x = parse_pred(p);
    if (!x) return NULL;
    static const char *const ops[] = {"=", "<>", "<", "<=", ">", ">=", "!="};
    for (int k = 0; k < 7; k++) {
        if (!is_punct(p, ops[k])) continue;
        int loc = p->tok.loc;
        if (next(p)) return NULL;
        if (is_kw(p, "any") || is_kw(p, "all") || is_kw(p, "some"))
            return fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: %s is not supported",
                        p->tok.loc, p->tok.str);
        x = node2(p, N_CMP, loc, x, parse_pred(p));
        if (!x) return NULL;
        x->op = k == 6 ? C_NE : k;
        /* comparison operators do not associate: a < b < c is a syntax error */
        for (int j = 0; j < 7; j++)
            if (is_punct(p, ops[j])) return syntax_error(p);
        break;
    }
    return x;
}

static node *parse_is(parser *p) {
    node *x = parse_cmp(p);
    while (x && (is_kw(p, "is") || is_kw(p, "isnull") || is_kw(p, "notnull"))) {
        int loc = p->tok.loc;
        if (is_kw(p, "isnull") || is_kw(p, "notnull")) {
            node *r = new_node(p, N_ISNULL, loc, 1);
            if (!r) return NULL;
            r->args[0] = x;
            r->negated = p->tok.str[0] == 'n';
            if (next(p)) return NULL;
            x = r;
            continue;
        }
        if (next(p)) return NULL;
        int negated = 0;
        if (is_kw(p, "not")) {
            negated = 1;
            if (next(p)) return NULL;
        }
        node *r;
        if (is_kw(p, "null") || is_kw(p, "unknown") || is_kw(p, "true") || is_kw(p, "false")) {
            char w = p->tok.str[0];
            r = new_node(p, w == 'n' ? N_ISNULL : N_ISBOOL, loc, 1);
            if (!r) return NULL;
            r->args[0] = x;
            r->op = w == 'u' ? 'u' : w;
            if (next(p)) return NULL;
        } else if (is_kw(p, "distinct")) {
            if (next(p)) return NULL;
            if (!is_kw(p, "from")) return syntax_error(p);
            if (next(p)) return NULL;
            r = node2(p, N_DISTINCT, loc, x, parse_cmp(p));
            if (!r) return NULL;
        } else {
            return syntax_error(p);
        }
        r->negated = negated;
        x = r;
    }
    return x;
}

static node *parse_not(parser *p) {
    if (is_kw(p, "not")) {
        int loc = p->tok.loc;
        if (enter(p) || next(p)) return NULL;
        node *a = parse_not(p);
        if (!a) return NULL;
        node *x = new_node(p, N_NOT, loc, 1);
        if (!x) return NULL;
        x->args[0] = a;
        p->depth--;
        return x;
    }
    return parse_is(p);
}

static node *parse_and(parser *p) {
    node *x = parse_not(p);
    while (x && is_kw(p, "and")) {
        int loc = p->tok.loc;
        if (next(p)) return NULL;
        x = node2(p, N_AND, loc, x, parse_not(p));
    }
    return x;
}

static node *parse_expr(parser *p) {
    if (enter(p)) return NULL;
    node *x = parse_and(p);
    while (x && is_kw(p, "or")) {
        int loc = p->tok.loc;
        if (next(p)) return NULL;
        x = node2(p, N_OR, loc, x, parse_and(p));
    }
    p->depth--;
    return x;
}

/* ---- type checking ------------------------------------------------------------------------ */

static const char *tname(wtype t) { return type_names[t]; }

static char *numeric_normalize(pool *pl, const char *s, size_t n);

/* Gives an untyped constant ('string', $n, NULL) the type t, parsing its text as Postgres would. */
static int coerce_unknown(parser *p, node *x, wtype t) {
    x->unknown = 0;
    x->type = t;
    if (x->isnull) return 0;
    const char *s = x->text;
    size_t n = strlen(s);
    int had_zone = 0;
    char *num = NULL;
    if (t == T_NUMERIC && parse_value(s, n, t, &x->v, NULL) != 0 &&
        (num = numeric_normalize(p->pool, s, n)) != NULL) {
        x->v.s = num;
        x->v.n = strlen(num);
        x->sql = x->text;
        return 0;
    }
    if (parse_value(s, n, t, &x->v, &had_zone)) {
        fail(p, ESYNC_WHERE_ETYPE, "At location %d: invalid syntax for type %s: %.200s", x->loc,
             tname(t), s);
        return -1;
    }
    x->v.s = s; /* numeric and text-likes point at the pool copy */
    x->sql = x->text;
    if (t == T_TIMESTAMPTZ && !had_zone && x->v.i != INT64_MAX && x->v.i != INT64_MIN) {
        /* read as UTC here, so tell Postgres the same whatever its TimeZone */
        size_t m = (size_t)(trim_end(s, s + n) - s);
        int bc = m > 3 && ieq(s + m - 3, 3, " bc");
        char *q = pool_alloc(p->pool, m + 8);
        if (!q) return oom(p), -1;
        if (bc) snprintf(q, m + 8, "%.*s+00 BC", (int)(m - 3), s);
        else snprintf(q, m + 8, "%.*s+00", (int)m, s);
        x->sql = q;
    }
    return 0;
}

/* Normalizes a decimal with an exponent (1.5e3, -.5E-2) into the [-]digits[.digits] form the
 * evaluator compares; NULL when s is not such a number (or when the exponent is beyond +-1000). */
static char *numeric_normalize(pool *pl, const char *s, size_t n) {
    const char *e = trim_end(s, s + n);
    s = skip_ws(s, e);
    int neg = 0;
    if (s < e && (*s == '+' || *s == '-')) neg = *s++ == '-';
    char *digits = pool_alloc(pl, (size_t)(e - s) + 1);
    if (!digits) return NULL;
    size_t nd = 0;
    long point = -1, exp = 0;
    for (; s < e && *s != 'e' && *s != 'E'; s++) {
        if (*s == '.' && point < 0) point = (long)nd;
        else if (*s >= '0' && *s <= '9') digits[nd++] = *s;
        else return NULL;
    }
    if (nd == 0) return NULL;
    if (point < 0) point = (long)nd;
    if (s < e) {
        s++;
        int eneg = 0;
        if (s < e && (*s == '+' || *s == '-')) eneg = *s++ == '-';
        if (s == e) return NULL;
        for (; s < e; s++) {
            if (*s < '0' || *s > '9') return NULL;
            if (exp <= 1000) exp = exp * 10 + (*s - '0');
        }
        if (exp > 1000) return NULL;
        if (eneg) exp = -exp;
    }
    point += exp;
    /* digits with the point at `point` (may be < 0 or > nd) */
    long lead = point < 0 ? -point : 0, trail = point > (long)nd ? point - (long)nd : 0;
    size_t cap = nd + (size_t)lead + (size_t)trail + 4;
    char *out = pool_alloc(pl, cap);
    if (!out) return NULL;
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (point <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (long k = 0; k < lead; k++) out[o++] = '0';
        memcpy(out + o, digits, nd);
        o += nd;
    } else {
        for (long k = 0; k < point; k++) out[o++] = k < (long)nd ? digits[k] : '0';
        if (point < (long)nd) {
            out[o++] = '.';
            memcpy(out + o, digits + point, nd - (size_t)point);
            o += nd - (size_t)point;
        }
    }
    out[o] = '\0';
    return out;
}

/* Types a numeric literal as Postgres does: int4 when it fits, then int8, else numeric. */
static int type_numeric_literal(parser *p, node *x) {
    int64_t v;
    x->sql = x->text;
    if (x->type == T_INT8 && parse_int(x->text, strlen(x->text), T_INT8, &v) == 0) {
        x->type = (v >= INT32_MIN && v <= INT32_MAX) ? T_INT4 : T_INT8;
        x->v.i = v;
        return 0;
    }
    x->type = T_NUMERIC;
    char *out = numeric_normalize(p->pool, x->text, strlen(x->text));
    if (!out) {
        fail(p, ESYNC_WHERE_ETYPE, "At location %d: invalid syntax for type numeric: %.200s", x->loc,
             x->text);
        return -1;
    }
    x->v.s = out;
    x->v.n = strlen(out);
    return 0;
}

/* The domain in which two typed operands compare (T_OTHER: none). */
static wtype common_type(wtype a, wtype b) {
    if (a == b && a != T_OTHER && a != T_UNKNOWN) return a;
    if (is_num(a) && is_num(b)) {
        if (is_float(a) || is_float(b)) return T_FLOAT8;
        if (a == T_NUMERIC || b == T_NUMERIC) return T_NUMERIC;
        return T_INT8;
    }
    if (is_str(a) && is_str(b)) return (a == T_BPCHAR && b == T_BPCHAR) ? T_BPCHAR : T_TEXT;
    if ((a == T_DATE && b == T_TIMESTAMP) || (a == T_TIMESTAMP && b == T_DATE)) return T_TIMESTAMP;
    return T_OTHER;
}

static int check(parser *p, node *x);

/* Types the operands of a comparison-like node so that they share a domain. */
static int unify(parser *p, node **args, int n, int loc, wtype *dom) {
    wtype t = T_UNKNOWN;
    for (int i = 0; i < n; i++) {
        if (check(p, args[i])) return -1;
        if (args[i]->unknown) continue;
        if (t == T_UNKNOWN) {
            t = args[i]->type;
            continue;
        }
        t = common_type(t, args[i]->type);
        if (t == T_OTHER) break;
    }
    if (t == T_UNKNOWN) t = T_TEXT; /* 'a' = 'b': both text */
    if (t == T_OTHER || t == T_UNKNOWN) {
        fail(p, ESYNC_WHERE_ETYPE, "At location %d: Could not select an operator overload", loc);
        return -1;
    }
    /* an untyped constant takes the type of the first typed operand (the column, usually) */
    wtype first = T_UNKNOWN;
    for (int i = 0; i < n; i++)
        if (!args[i]->unknown) {
            first = args[i]->type;
            break;
        }
    if (first == T_UNKNOWN) first = t;
    for (int i = 0; i < n; i++)
        if (args[i]->unknown && coerce_unknown(p, args[i], args[i]->isnull ? t : first)) return -1;
    if (t == T_OTHER || !(is_num(t) || is_str(t) || t == T_BOOL || t == T_UUID || is_dt(t))) {
        fail(p, ESYNC_WHERE_ETYPE, "At location %d: Could not select an operator overload", loc);
        return -1;
    }
    /* recompute with the coerced constants (e.g. int4 column vs '1.5' is an error above) */
    wtype d = T_UNKNOWN;
    for (int i = 0; i < n; i++) {
        if (args[i]->isnull && args[i]->kind == N_CONST) continue;
        d = d == T_UNKNOWN ? args[i]->type : common_type(d, args[i]->type);
    }
    if (d == T_UNKNOWN) d = t;
    if (d == T_OTHER) {
        fail(p, ESYNC_WHERE_ETYPE, "At location %d: Could not select an operator overload", loc);
        return -1;
    }
    *dom = d;
    return 0;
}

static int check_bool(parser *p, node *x, const char *what) {
    if (check(p, x)) return -1;
    if (x->unknown) return coerce_unknown(p, x, T_BOOL);
    if (x->type == T_BOOL) return 0;
    if (x->kind == N_COL)
        fail(p, ESYNC_WHERE_ETYPE, "At location %d: reference %s of type %s is not castable to bool",
             x->loc, p->w->colnames[x->col], tname(x->type));
    else
        fail(p, ESYNC_WHERE_ETYPE, "At location %d: argument of %s must be bool, not %s", x->loc,
             what, tname(x->type));
    return -1;
}

/* Explicit casts the evaluator implements (from -> to). */
static int castable(wtype f, wtype t) {
    if (f == t) return 1;
    /* text parses into anything but timestamptz (whose zone-less text depends on TimeZone) */
    if (is_str(f)) return t != T_OTHER && t != T_UNKNOWN && t != T_TIMESTAMPTZ;
    if (is_str(t)) return is_int(f) || f == T_NUMERIC || f == T_BOOL || f == T_UUID;
    if (is_int(f) || f == T_NUMERIC) return is_num(t);
    if (is_float(f)) return is_float(t) || is_int(t);
    if (f == T_DATE) return t == T_TIMESTAMP;
    if (f == T_TIMESTAMP) return t == T_DATE;
    if (f == T_BOOL) return t == T_INT4;
    if (f == T_INT4) return t == T_BOOL;
    return 0;
}

static int check(parser *p, node *x) {
    switch (x->kind) {
    case N_CONST:
        if (!x->unknown && !x->isnull && (x->type == T_INT8 || x->type == T_NUMERIC) && !x->sql)
            return type_numeric_literal(p, x);
        if (x->type == T_BOOL && !x->sql) x->sql = x->text;
        return 0;
    case N_COL:
        return 0;
    case N_AND: case N_OR:
        return check_bool(p, x->args[0], x->kind == N_AND ? "AND" : "OR") ||
               check_bool(p, x->args[1], x->kind == N_AND ? "AND" : "OR") ? -1 : (x->type = T_BOOL, 0);
    case N_NOT:
        if (check_bool(p, x->args[0], "NOT")) return -1;
        x->type = T_BOOL;
        return 0;
    case N_ISNULL:
        if (check(p, x->args[0])) return -1;
        if (x->args[0]->unknown && coerce_unknown(p, x->args[0], T_TEXT)) return -1;
        x->type = T_BOOL;
        return 0;
    case N_ISBOOL: {
        if (check(p, x->args[0])) return -1;
        node *a = x->args[0];
        if (a->unknown) {
            if (coerce_unknown(p, a, T_BOOL)) return -1;
        } else if (a->type != T_BOOL) {
            const char *w = x->op == 't' ? "TRUE" : x->op == 'f' ? "FALSE" : "UNKNOWN";
            fail(p, ESYNC_WHERE_ETYPE, "At location %d: argument of IS %s%s must be bool, not %s",
                 x->loc, x->negated ? "NOT " : "", w, tname(a->type));
            return -1;
        }
        x->type = T_BOOL;
        return 0;
    }
    case N_CMP: case N_DISTINCT: case N_IN: case N_BETWEEN:
        if (unify(p, x->args, x->nargs, x->loc, &x->dom)) return -1;
        if (x->kind == N_CMP && x->dom == T_BOOL && x->op != C_EQ && x->op != C_NE) {
            /* Postgres orders booleans (false < true); so do we */
        }
        x->type = T_BOOL;
        return 0;
    case N_LIKE: {
        for (int i = 0; i < 2; i++) {
            if (check(p, x->args[i])) return -1;
            if (x->args[i]->unknown && coerce_unknown(p, x->args[i], T_TEXT)) return -1;
            if (!is_str(x->args[i]->type)) {
                fail(p, ESYNC_WHERE_ETYPE, "At location %d: Could not select an operator overload",
                     x->loc);
                return -1;
            }
        }
        node *pat = x->args[1];
        if (pat->kind == N_CONST && !pat->isnull) {
            size_t n = strlen(pat->text), bs = 0;
            while (bs < n && pat->text[n - 1 - bs] == '\\') bs++;
            if (bs % 2 == 1) {
                fail(p, ESYNC_WHERE_ETYPE,
                     "At location %d: LIKE pattern must not end with escape character", pat->loc);
                return -1;
            }
        }
        x->type = T_BOOL;
        return 0;
    }
    case N_ARITH: case N_NEG: {
        for (int i = 0; i < x->nargs; i++) {
            if (check(p, x->args[i])) return -1;
        }
        wtype t;
        if (x->nargs == 2) {
            node *a = x->args[0], *b = x->args[1];
            if (a->unknown && b->unknown) {
                if (coerce_unknown(p, a, T_NUMERIC) || coerce_unknown(p, b, T_NUMERIC)) return -1;
            } else if (a->unknown) {
                if (coerce_unknown(p, a, b->type)) return -1;
            } else if (b->unknown) {
                if (coerce_unknown(p, b, a->type)) return -1;
            }
            if (!is_num(a->type) || !is_num(b->type)) goto bad;
            if (is_float(a->type) || is_float(b->type))
                t = a->type == T_FLOAT4 && b->type == T_FLOAT4 ? T_FLOAT4 : T_FLOAT8;
            else if (a->type == T_NUMERIC || b->type == T_NUMERIC) t = T_NUMERIC;
            else t = a->type > b->type ? a->type : b->type;
            if (x->op == '%' && !is_int(t)) goto bad;
            if (x->op == '/' && t == T_NUMERIC)
                return fail(p, ESYNC_WHERE_EUNSUPPORTED,
                            "At location %d: division of numeric values is not supported", x->loc),
                       -1;
        } else {
            node *a = x->args[0];
            if (a->unknown && coerce_unknown(p, a, T_NUMERIC)) return -1;
            if (!is_num(a->type)) goto bad;
            t = a->type;
        }
        x->type = t;
        x->dom = t;
        return 0;
    bad:
        fail(p, ESYNC_WHERE_ETYPE, "At location %d: Could not select an operator overload", x->loc);
        return -1;
    }
    case N_CAST: {
        node *a = x->args[0];
        if (check(p, a)) return -1;
        if (a->unknown) {
            /* 'literal'::type is a typed constant: replace the cast by it */
            if (coerce_unknown(p, a, x->type)) return -1;
            *x = *a;
            return 0;
        }
        if (!castable(a->type, x->type)) {
            fail(p, ESYNC_WHERE_ETYPE, "At location %d: unknown cast from type %s to type %s",
                 a->loc, tname(a->type), tname(x->type));
            return -1;
        }
        return 0;
    }
    case N_LOWER: case N_UPPER:
        if (check(p, x->args[0])) return -1;
        if (x->args[0]->unknown && coerce_unknown(p, x->args[0], T_TEXT)) return -1;
        if (!is_str(x->args[0]->type)) {
            fail(p, ESYNC_WHERE_ETYPE, "At location %d: Could not select a function overload for %s(%s)",
                 x->loc, x->kind == N_LOWER ? "lower" : "upper", tname(x->args[0]->type));
            return -1;
        }
        x->type = T_TEXT;
        return 0;
    case N_COALESCE: {
        wtype d;
        if (unify(p, x->args, x->nargs, x->loc, &d)) return -1;
        for (int i = 0; i < x->nargs; i++)
            if (x->args[i]->isnull && x->args[i]->kind == N_CONST) x->args[i]->type = d;
        x->type = d;
        x->dom = d;
        return 0;
    }
    }
    return 0;
}

/* ---- evaluation --------------------------------------------------------------------------- */

typedef struct evalctx {
    const esync_where *w;
    const char *const *values;
    pool scratch;
} evalctx;

static val vnull(void) {
    val v;
    memset(&v, 0, sizeof v);
    v.null = 1;
    return v;
}
static val vbool(int b) {
    val v;
    memset(&v, 0, sizeof v);
    v.b = b;
    return v;
}

static val eval(evalctx *c, const node *x);

/* The value as a decimal text (ints are formatted into buf). */
static void as_dec(const val *v, wtype t, char buf[24], dec *d) {
    if (is_int(t)) {
        int n = snprintf(buf, 24, "%lld", (long long)v->i);
        dec_parse(buf, (size_t)n, d);
    } else if (dec_parse(v->s, v->n, d)) {
        memset(d, 0, sizeof *d);
        d->special = 2;
    }
}

static double as_double(const val *v, wtype t) {
    if (is_int(t)) return (double)v->i;
    if (is_float(t)) return v->d;
    double d;
    if (parse_float(v->s, v->n, T_FLOAT8, &d)) return NAN;
    return d;
}

/* Postgres float order: NaN equals NaN and sorts above everything. */
static int dbl_cmp(double a, double b) {
    if (isnan(a)) return isnan(b) ? 0 : 1;
    if (isnan(b)) return -1;
    return a < b ? -1 : a > b;
}

static int cmp_vals(const val *a, wtype ta, const val *b, wtype tb, wtype dom) {
    if (dom == T_FLOAT8 || dom == T_FLOAT4) return dbl_cmp(as_double(a, ta), as_double(b, tb));
    if (is_int(dom) && is_int(ta) && is_int(tb)) return a->i < b->i ? -1 : a->i > b->i;
    if (is_num(dom)) {
        char ba[24], bb[24];
        dec da, db;
        as_dec(a, ta, ba, &da);
        as_dec(b, tb, bb, &db);
        return dec_cmp(&da, &db);
    }
    if (dom == T_BOOL) return a->b - b->b;
    if (is_dt(dom)) {
        int64_t x = a->i, y = b->i;
        return x < y ? -1 : x > y;
    }
    if (dom == T_UUID) {
        char ua[37], ub[37];
        if (parse_uuid(a->s, a->n, ua) || parse_uuid(b->s, b->n, ub)) return 0;
        int r = strcmp(ua, ub);
        return r < 0 ? -1 : r > 0;
    }
    /* text-likes: bytes; bpchar ignores trailing blanks, also when it meets text */
    size_t na = ta == T_BPCHAR ? (size_t)bpchar_len(a->s, a->n) : a->n;
    size_t nb = tb == T_BPCHAR ? (size_t)bpchar_len(b->s, b->n) : b->n;
    int r = memcmp(a->s, b->s, na < nb ? na : nb);
    if (r) return r < 0 ? -1 : 1;
    return na < nb ? -1 : na > nb;
}

static int cmp_holds(int op, int r) {
    switch (op) {
    case C_EQ: return r == 0;
    case C_NE: return r != 0;
    case C_LT: return r < 0;
    case C_LE: return r <= 0;
    case C_GT: return r > 0;
    default: return r >= 0;
    }
}

/* UTF-8 sequence length at s (1 for invalid bytes, so matching always advances). */
static size_t u8len(const char *s, size_t n) {
    unsigned char c = (unsigned char)s[0];
    size_t l = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return l > n ? n : l;
}

static int chr_eq(const char *a, size_t la, const char *b, size_t lb, int icase) {
    if (la != lb) return 0;
    if (la == 1 && icase) return tolower((unsigned char)*a) == tolower((unsigned char)*b);
    return memcmp(a, b, la) == 0;
}

/* LIKE with % (any run), _ (one character) and \ (escape); the classic backtracking on the last
 * % is enough, since a later % can always absorb what an earlier one would. */
static int like_match(const char *s, size_t n, const char *p, size_t m, int icase) {
    size_t si = 0, pi = 0, star_p = (size_t)-1, star_s = 0;
    while (si < n) {
        if (pi < m && p[pi] == '%') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < m) {
            size_t sl = u8len(s + si, n - si);
            if (p[pi] == '_') {
                pi++;
                si += sl;
                continue;
            }
            size_t q = pi;
            if (p[q] == '\\') {
                if (q + 1 >= m) return -1;
                q++;
            }
            size_t pl = u8len(p + q, m - q);
            if (chr_eq(s + si, sl, p + q, pl, icase)) {
                pi = q + pl;
                si += sl;
                continue;
            }
        }
        if (star_p == (size_t)-1) return 0;
        pi = star_p;
        star_s += u8len(s + star_s, n - star_s);
        si = star_s;
    }
    while (pi < m && p[pi] == '%') pi++;
    if (pi < m && p[pi] == '\\' && pi + 1 >= m) return -1;
    return pi == m;
}

static val eval_col(evalctx *c, const node *x) {
    const char *s = c->values ? c->values[x->col] : NULL;
    if (!s) return vnull();
    val v;
    if (parse_value(s, strlen(s), x->type, &v, NULL)) return vnull();
    return v;
}

static int overflows(wtype t, int64_t v) {
    return (t == T_INT2 && (v < INT16_MIN || v > INT16_MAX)) ||
           (t == T_INT4 && (v < INT32_MIN || v > INT32_MAX));
}

/* Exact +, -, * on decimal texts, written into the scratch pool. */
static val dec_arith(evalctx *c, int op, const dec *a, const dec *b) {
    val r = vnull();
    if (a->special || b->special) {
        int sa = a->special, sb = b->special;
        const char *out;
        if (sa == 2 || sb == 2) out = "NaN";
        else if (op == '*') {
            int za = !sa && dec_cmp_mag(a, &(dec){0}) == 0, zb = !sb && dec_cmp_mag(b, &(dec){0}) == 0;
            if (za || zb) out = "NaN";
            else {
                int neg = (sa ? sa < 0 : a->neg) ^ (sb ? sb < 0 : b->neg);
                out = neg ? "-Infinity" : "Infinity";
            }
        } else {
            int ia = sa, ib = op == '-' ? -sb : sb;
            if (ia && ib && ia != ib) out = "NaN";
            else out = (ia ? ia : ib) > 0 ? "Infinity" : "-Infinity";
        }
        r.null = 0;
        r.s = out;
        r.n = strlen(out);
        return r;
    }
    size_t scale = op == '*' ? a->fl + b->fl : (a->fl > b->fl ? a->fl : b->fl);
    if (a->il + b->il + scale > 4000) return r; /* far beyond anything a filter needs */
    size_t la = a->il + (op == '*' ? a->fl : scale), lb = b->il + (op == '*' ? b->fl : scale);
    size_t len = (op == '*' ? la + lb : (la > lb ? la : lb) + 1) + 1;
    int *da = calloc(la + 1, sizeof(int)), *db = calloc(lb + 1, sizeof(int)),
        *dr = calloc(len + 1, sizeof(int));
    char *out = pool_alloc(&c->scratch, len + 4);
    int neg = 0;
    if (!da || !db || !dr || !out) goto done;
    /* little-endian digit arrays, aligned at the scale */
    for (size_t k = 0; k < la; k++) {
        size_t pos = la - 1 - k; /* digit index from the left */
        da[k] = pos < a->il ? a->ip[pos] - '0' : (pos - a->il < a->fl ? a->fp[pos - a->il] - '0' : 0);
    }
    for (size_t k = 0; k < lb; k++) {
        size_t pos = lb - 1 - k;
        db[k] = pos < b->il ? b->ip[pos] - '0' : (pos - b->il < b->fl ? b->fp[pos - b->il] - '0' : 0);
    }
    if (op == '*') {
        for (size_t i = 0; i < la; i++)
            for (size_t j = 0; j < lb; j++) dr[i + j] += da[i] * db[j];
        for (size_t k = 0; k + 1 < len; k++) {
            dr[k + 1] += dr[k] / 10;
            dr[k] %= 10;
        }
        neg = a->neg ^ b->neg;
    } else {
        int bneg = b->neg ^ (op == '-');
        if (a->neg == bneg) {
            int carry = 0;
            for (size_t k = 0; k < len; k++) {
                int s = (k < la ? da[k] : 0) + (k < lb ? db[k] : 0) + carry;
                dr[k] = s % 10;
                carry = s / 10;
            }
            neg = a->neg;
        } else {
            /* subtract the smaller magnitude from the larger */
            dec ma = *a, mb = *b;
            ma.neg = mb.neg = 0;
            int cmp = dec_cmp_mag(&ma, &mb);
            int *big = cmp >= 0 ? da : db, *small = cmp >= 0 ? db : da;
            size_t lbig = cmp >= 0 ? la : lb, lsmall = cmp >= 0 ? lb : la;
            int borrow = 0;
            for (size_t k = 0; k < len; k++) {
                int s = (k < lbig ? big[k] : 0) - (k < lsmall ? small[k] : 0) - borrow;
                borrow = s < 0;
                dr[k] = s < 0 ? s + 10 : s;
            }
            neg = cmp >= 0 ? a->neg : bneg;
        }
    }
    size_t top = len;
    while (top > scale + 1 && dr[top - 1] == 0) top--;
    size_t o = 0;
    int zero = 1;
    for (size_t k = 0; k < top; k++)
        if (dr[k]) zero = 0;
    if (neg && !zero) out[o++] = '-';
    for (size_t k = top; k-- > scale;) out[o++] = (char)('0' + dr[k]);
    if (scale) {
        out[o++] = '.';
        for (size_t k = scale; k-- > 0;) out[o++] = (char)('0' + dr[k]);
    }
    out[o] = '\0';
    r.null = 0;
    r.s = out;
    r.n = o;
done:
    free(da);
    free(db);
    free(dr);
    return r;
}

static val eval_arith(evalctx *c, const node *x) {
    val a = eval(c, x->args[0]);
    if (a.null) return a;
    wtype ta = x->args[0]->type, t = x->type;
    if (x->kind == N_NEG) {
        if (x->op == '+') return a;
        if (is_int(t)) {
            if (a.i == INT64_MIN || overflows(t, -a.i)) return vnull();
            a.i = -a.i;
        } else if (is_float(t)) {
            a.d = -a.d;
        } else {
            dec d;
            if (dec_parse(a.s, a.n, &d)) return vnull();
            if (d.special) {
                a.s = d.special == 2 ? "NaN" : d.special > 0 ? "-Infinity" : "Infinity";
                a.n = strlen(a.s);
                return a;
            }
            char *o = pool_alloc(&c->scratch, a.n + 2);
            if (!o) return vnull();
            const char *s = skip_ws(a.s, a.s + a.n);
            size_t n = (size_t)(trim_end(s, a.s + a.n) - s);
            if (*s == '+') s++, n--;
            if (*s == '-') memcpy(o, s + 1, n - 1), o[n - 1] = '\0', a.n = n - 1;
            else if (d.il == 0 && strspn(d.fp ? d.fp : "", "0") == d.fl) memcpy(o, s, n), o[n] = '\0', a.n = n;
            else o[0] = '-', memcpy(o + 1, s, n), o[n + 1] = '\0', a.n = n + 1;
            a.s = o;
        }
        return a;
    }
    val b = eval(c, x->args[1]);
    if (b.null) return b;
    wtype tb = x->args[1]->type;
    int op = x->op;
    if (is_float(t)) {
        double p = as_double(&a, ta), q = as_double(&b, tb), r;
        if (op == '/' && q == 0) return vnull();
        r = op == '+' ? p + q : op == '-' ? p - q : op == '*' ? p * q : p / q;
        if (t == T_FLOAT4) r = (float)r;
        if (isinf(r) && !isinf(p) && !isinf(q)) return vnull(); /* Postgres: overflow error */
        if (r == 0 && op == '*' && p != 0 && q != 0) return vnull(); /* underflow error */
        val v = vbool(0);
        v.d = r;
        return v;
    }
    if (is_int(t)) {
        int64_t r = 0;
        if ((op == '+' && __builtin_add_overflow(a.i, b.i, &r)) ||
            (op == '-' && __builtin_sub_overflow(a.i, b.i, &r)) ||
            (op == '*' && __builtin_mul_overflow(a.i, b.i, &r)))
            return vnull();
        if (op == '/' || op == '%') {
            if (b.i == 0) return vnull();
            if (b.i == -1) r = op == '%' ? 0 : (a.i == INT64_MIN ? 0 : -a.i);
            else r = op == '/' ? a.i / b.i : a.i % b.i;
            if (op == '/' && b.i == -1 && a.i == INT64_MIN) return vnull();
        }
        if (overflows(t, r)) return vnull();
        val v = vbool(0);
        v.i = r;
        return v;
    }
    char ba[24], bb[24];
    dec da, db;
    as_dec(&a, ta, ba, &da);
    as_dec(&b, tb, bb, &db);
    return dec_arith(c, op, &da, &db);
}

/* Explicit cast of a non-constant value (check() admitted the pair). */
static val eval_cast(evalctx *c, const node *x) {
    val a = eval(c, x->args[0]);
    if (a.null) return a;
    wtype f = x->args[0]->type, t = x->type;
    if (f == t) return a;
    val r = vbool(0);
    if (is_str(f)) {
        size_t n = a.n;
        if (f == T_BPCHAR && t != T_BPCHAR) n = (size_t)bpchar_len(a.s, a.n);
        if (is_str(t)) {
            r.s = a.s;
            r.n = n;
            return r;
        }
        if (parse_value(a.s, n, t, &r, NULL)) return vnull();
        return r;
    }
    if (is_str(t)) {
        char buf[40];
        const char *s = buf;
        size_t n;
        if (is_int(f)) n = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)a.i);
        else if (f == T_BOOL) s = a.b ? "true" : "false", n = strlen(s);
        else if (f == T_UUID) {
            if (parse_uuid(a.s, a.n, buf)) return vnull();
            n = 36;
        } else s = a.s, n = a.n; /* numeric: its text */
        char *o = pool_strndup(&c->scratch, s, n);
        if (!o) return vnull();
        r.s = o;
        r.n = n;
        return r;
    }
    if (f == T_BOOL) return r.i = a.b, r;
    if (t == T_BOOL) return r.b = a.i != 0, r;
    if (f == T_DATE || f == T_TIMESTAMP) {
        r.i = a.i;
        if (t == T_DATE && a.i != INT64_MIN && a.i != INT64_MAX) {
            int64_t q = a.i / USEC_PER_DAY;
            if (a.i % USEC_PER_DAY < 0) q--;
            r.i = q * USEC_PER_DAY;
        }
        return r;
    }
    if (is_float(t)) {
        double d = as_double(&a, f);
        r.d = t == T_FLOAT4 ? (double)(float)d : d;
        if (t == T_FLOAT4 && isinf(r.d) && !isinf(d)) return vnull();
        return r;
    }
    if (t == T_NUMERIC) { /* from an int */
        char *o = pool_alloc(&c->scratch, 24);
        if (!o) return vnull();
        r.n = (size_t)snprintf(o, 24, "%lld", (long long)a.i);
        r.s = o;
        return r;
    }
    /* to an int */
    if (is_int(f)) {
        if (overflows(t, a.i)) return vnull();
        return r.i = a.i, r;
    }
    if (is_float(f)) {
        double d = rint(a.d);
        if (isnan(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) return vnull();
        r.i = (int64_t)d;
        return overflows(t, r.i) ? vnull() : r;
    }
    /* numeric -> int: round half away from zero */
    dec d;
    if (dec_parse(a.s, a.n, &d) || d.special || d.il > 19) return vnull();
    uint64_t m = 0;
    for (size_t k = 0; k < d.il; k++) {
        if (m > (UINT64_MAX - 9) / 10) return vnull();
        m = m * 10 + (uint64_t)(d.ip[k] - '0');
    }
    if (d.fl && d.fp[0] >= '5') m++;
    if (m > (uint64_t)INT64_MAX + (d.neg ? 1u : 0u)) return vnull();
    r.i = d.neg ? (int64_t)(0 - m) : (int64_t)m;
    return overflows(t, r.i) ? vnull() : r;
}

static val eval_cmp(evalctx *c, const node *x, int op, const node *l, const node *r) {
    val a = eval(c, l), b = eval(c, r);
    if (a.null || b.null) return vnull();
    return vbool(cmp_holds(op, cmp_vals(&a, l->type, &b, r->type, x->dom)));
}

/* Three-valued results: null (unknown), 0, 1. */
static val eval(evalctx *c, const node *x) {
    switch (x->kind) {
    case N_CONST:
        return x->v;
    case N_COL:
        return eval_col(c, x);
    case N_AND: case N_OR: {
        int is_and = x->kind == N_AND;
        val a = eval(c, x->args[0]);
        if (!a.null && a.b != is_and) return a; /* FALSE AND _, TRUE OR _ */
        val b = eval(c, x->args[1]);
        if (!b.null && b.b != is_and) return b;
        if (a.null || b.null) return vnull();
        return vbool(is_and);
    }
    case N_NOT: {
        val a = eval(c, x->args[0]);
        if (!a.null) a.b = !a.b;
        return a;
    }
    case N_ISNULL:
        return vbool(eval(c, x->args[0]).null != x->negated);
    case N_ISBOOL: {
        val a = eval(c, x->args[0]);
        int r = x->op == 'u' ? a.null : (!a.null && a.b == (x->op == 't'));
        return vbool(r != x->negated);
    }
    case N_CMP:
        return eval_cmp(c, x, x->op, x->args[0], x->args[1]);
    case N_DISTINCT: {
        val a = eval(c, x->args[0]), b = eval(c, x->args[1]);
        int distinct;
        if (a.null || b.null) distinct = a.null != b.null;
        else distinct = cmp_vals(&a, x->args[0]->type, &b, x->args[1]->type, x->dom) != 0;
        return vbool(distinct != x->negated);
    }
    case N_IN: {
        val a = eval(c, x->args[0]);
        if (a.null) return a;
        int saw_null = 0;
        for (int i = 1; i < x->nargs; i++) {
            val b = eval(c, x->args[i]);
            if (b.null) {
                saw_null = 1;
                continue;
            }
            if (cmp_vals(&a, x->args[0]->type, &b, x->args[i]->type, x->dom) == 0)
                return vbool(!x->negated);
        }
        return saw_null ? vnull() : vbool(x->negated);
    }
    case N_BETWEEN: {
        val lo = eval_cmp(c, x, C_GE, x->args[0], x->args[1]);
        val hi = eval_cmp(c, x, C_LE, x->args[0], x->args[2]);
        val r;
        if ((!lo.null && !lo.b) || (!hi.null && !hi.b)) r = vbool(0);
        else if (lo.null || hi.null) return vnull();
        else r = vbool(1);
        r.b ^= x->negated;
        return r;
    }
    case N_LIKE: {
        val a = eval(c, x->args[0]), b = eval(c, x->args[1]);
        if (a.null || b.null) return vnull();
        int m = like_match(a.s, a.n, b.s, b.n, x->icase);
        if (m < 0) return vnull(); /* Postgres: pattern ends with the escape character */
        return vbool(m != x->negated);
    }
    case N_ARITH: case N_NEG:
        return eval_arith(c, x);
    case N_CAST:
        return eval_cast(c, x);
    case N_LOWER: case N_UPPER: {
        val a = eval(c, x->args[0]);
        if (a.null) return a;
        size_t n = x->args[0]->type == T_BPCHAR ? (size_t)bpchar_len(a.s, a.n) : a.n;
        char *o = pool_alloc(&c->scratch, n + 1);
        if (!o) return vnull();
        for (size_t k = 0; k < n; k++) {
            unsigned char ch = (unsigned char)a.s[k];
            o[k] = (char)(ch < 0x80 ? (x->kind == N_LOWER ? tolower(ch) : toupper(ch)) : ch);
        }
        o[n] = '\0';
        a.s = o;
        a.n = n;
        return a;
    }
    case N_COALESCE:
        for (int i = 0; i < x->nargs; i++) {
            val a = eval(c, x->args[i]);
            if (a.null) continue;
            wtype f = x->args[i]->type;
            if (f != x->type && is_num(x->type)) {
                /* widen into the common type so that the comparison domain sees one type */
                if (is_float(x->type)) a.d = as_double(&a, f);
                else if (x->type == T_NUMERIC && is_int(f)) {
                    char *o = pool_alloc(&c->scratch, 24);
                    if (!o) return vnull();
                    a.n = (size_t)snprintf(o, 24, "%lld", (long long)a.i);
                    a.s = o;
                }
            } else if (f == T_BPCHAR && x->type != T_BPCHAR) {
                a.n = (size_t)bpchar_len(a.s, a.n);
            } else if (f == T_DATE && x->type == T_TIMESTAMP) {
                /* same microseconds */
            }
            return a;
        }
        return vnull();
    }
    return vnull();
}

int esync_where_eval(const esync_where *w, const char *const *values) {
    if (!w || !w->root) return 0;
    evalctx c = {w, values, {NULL}};
    val r = eval(&c, w->root);
    pool_free(&c.scratch);
    return !r.null && r.b;
}

/* ---- compile ------------------------------------------------------------------------------ */

static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t l = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (!l || i + l > n || c == 0xc0 || c == 0xc1 || c > 0xf4) return 0;
        for (size_t k = 1; k < l; k++)
            if ((s[i + k] & 0xc0) != 0x80) return 0;
        if (c == 0xe0 && s[i + 1] < 0xa0) return 0;
        if (c == 0xed && s[i + 1] > 0x9f) return 0;
        if (c == 0xf0 && s[i + 1] < 0x90) return 0;
        if (c == 0xf4 && s[i + 1] > 0x8f) return 0;
        i += l;
    }
    return 1;
}

/* Height of the tree, stopping early: long operator chains (a OR b OR ...) parse iteratively but
 * make a deep tree, and check/eval/render recurse over it. */
static int too_high(const node *x, int budget) {
    if (budget == 0) return 1;
    for (int i = 0; i < x->nargs; i++)
        if (too_high(x->args[i], budget - 1)) return 1;
    return 0;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

static void collect_cols(const node *x, int *seen) {
    if (x->kind == N_COL) seen[x->col] = 1;
    for (int i = 0; i < x->nargs; i++) collect_cols(x->args[i], seen);
}

int esync_where_compile(const char *text, const char *const *params, int nparams,
                        const esync_where_col *cols, int ncols, esync_where **out, char *err,
                        size_t errlen) {
    if (err && errlen) err[0] = '\0';
    if (out) *out = NULL;
    parser p;
    memset(&p, 0, sizeof p);
    p.err = err;
    p.errlen = errlen;
    if (!text || !out || nparams < 0 || ncols < 0 || (nparams && !params) || (ncols && !cols))
        return fail(&p, ESYNC_WHERE_EINVAL, "invalid arguments"), p.rc;
    size_t len = strlen(text);
    if (len > ESYNC_WHERE_MAX_TEXT)
        return fail(&p, ESYNC_WHERE_ELIMIT, "WHERE clause is too long (%zu bytes, limit %d)", len,
                    ESYNC_WHERE_MAX_TEXT),
               p.rc;
    if (!utf8_valid((const unsigned char *)text, len))
        return fail(&p, ESYNC_WHERE_ESYNTAX, "invalid byte sequence for encoding \"UTF8\""), p.rc;
    for (int i = 0; i < nparams; i++) {
        if (!params[i]) return fail(&p, ESYNC_WHERE_EINVAL, "invalid arguments"), p.rc;
        size_t n = strlen(params[i]);
        if (n > ESYNC_WHERE_MAX_TEXT)
            return fail(&p, ESYNC_WHERE_ELIMIT, "parameter $%d is too long (limit %d bytes)", i + 1,
                        ESYNC_WHERE_MAX_TEXT),
                   p.rc;
        if (!utf8_valid((const unsigned char *)params[i], n))
            return fail(&p, ESYNC_WHERE_EPARAM,
                        "parameter $%d: invalid byte sequence for encoding \"UTF8\"", i + 1),
                   p.rc;
    }
    for (int i = 0; i < ncols; i++)
        if (!cols[i].name || !cols[i].type) return fail(&p, ESYNC_WHERE_EINVAL, "invalid arguments"), p.rc;

    esync_where *w = calloc(1, sizeof *w);
    if (!w) return fail(&p, ESYNC_WHERE_ENOMEM, "out of memory"), p.rc;
    p.w = w;
    p.pool = &w->pool;
    p.text = text;
    p.len = len;
    p.params = params;
    p.nparams = nparams;
    p.cols = cols;
    p.ncols = ncols;
    w->colnames = pool_alloc(&w->pool, sizeof(char *) * (size_t)(ncols + 1));
    w->coltypes = pool_alloc(&w->pool, sizeof(wtype) * (size_t)(ncols + 1));
    p.used = pool_alloc(&w->pool, (size_t)nparams + 1);
    int *seen = pool_alloc(&w->pool, sizeof(int) * (size_t)(ncols + 1));
    if (!w->colnames || !w->coltypes || !p.used || !seen) {
        oom(&p);
        goto out;
    }
    memset(p.used, 0, (size_t)nparams + 1);
    for (int i = 0; i < ncols; i++) {
        w->colnames[i] = pool_strndup(&w->pool, cols[i].name, strlen(cols[i].name));
        if (!w->colnames[i]) {
            oom(&p);
            goto out;
        }
        w->coltypes[i] = cols[i].dims > 0 || cols[i].type[0] == '_' ? T_OTHER : type_from_name(cols[i].type);
        /* only the canonical typnames name column types (int, integer are SQL spellings) */
        if (w->coltypes[i] != T_OTHER && strcmp(type_names[w->coltypes[i]], cols[i].type) != 0 &&
            strcmp(cols[i].type, "name") != 0)
            w->coltypes[i] = T_OTHER;
    }

    if (next(&p)) goto out;
    if (p.tok.kind == K_END) {
        syntax_error(&p);
        goto out;
    }
    w->root = parse_expr(&p);
    if (!w->root) goto out;
    if (p.tok.kind != K_END) {
        if (is_kw(&p, "from") || is_kw(&p, "group") || is_kw(&p, "order") || is_kw(&p, "limit") ||
            is_kw(&p, "having") || is_kw(&p, "window") || is_kw(&p, "for"))
            fail(&p, ESYNC_WHERE_ESYNTAX, "malformed query ending with SQL clauses");
        else
            syntax_error(&p);
        goto out;
    }
    if (too_high(w->root, ESYNC_WHERE_MAX_HEIGHT)) {
        fail(&p, ESYNC_WHERE_ELIMIT, "expression is too complex (more than %d nested operations)",
             ESYNC_WHERE_MAX_HEIGHT);
        goto out;
    }
    if (check(&p, w->root)) goto out;
    if (w->root->unknown && coerce_unknown(&p, w->root, T_TEXT)) goto out;
    if (w->root->type != T_BOOL) {
        fail(&p, ESYNC_WHERE_ETYPE, "WHERE clause must return a boolean");
        goto out;
    }
    for (int i = 0; i < nparams; i++)
        if (!p.used[i]) {
            fail(&p, ESYNC_WHERE_EPARAM, "At location 0: parameter value for $%d was not used", i + 1);
            goto out;
        }
    memset(seen, 0, sizeof(int) * (size_t)(ncols + 1));
    collect_cols(w->root, seen);
    w->cols = pool_alloc(&w->pool, sizeof(int) * (size_t)(ncols + 1));
    if (!w->cols) {
        oom(&p);
        goto out;
    }
    for (int i = 0; i < ncols; i++)
        if (seen[i]) w->cols[w->ncols_used++] = i;
    qsort(w->cols, (size_t)w->ncols_used, sizeof(int), cmp_int);
out:
    if (p.rc) {
        esync_where_free(w);
        return p.rc;
    }
    *out = w;
    return 0;
}

int esync_where_columns(const esync_where *w, const int **cols) {
    if (cols) *cols = w ? w->cols : NULL;
    return w ? w->ncols_used : 0;
}

void esync_where_free(esync_where *w) {
    if (!w) return;
    pool_free(&w->pool);
    free(w);
}

/* ---- SQL rendering ------------------------------------------------------------------------ */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

typedef struct render {
    const esync_where *w;
    sbuf sql;
    const char **vals;
    int nvals, cap, first;
    int oom;
} render;

static void render_node(render *r, const node *x);

static void render_bin(render *r, const node *x, const char *op) {
    sb_str(&r->sql, "(");
    render_node(r, x->args[0]);
    sb_str(&r->sql, op);
    render_node(r, x->args[1]);
    sb_str(&r->sql, ")");
}

static void render_node(render *r, const node *x) {
    sbuf *b = &r->sql;
    char buf[64];
    switch (x->kind) {
    case N_CONST:
        if (x->isnull) {
            sb_str(b, "NULL::");
            sb_str(b, tname(x->type == T_UNKNOWN ? T_TEXT : x->type));
            return;
        }
        if (r->nvals == r->cap) {
            int cap = r->cap ? r->cap * 2 : 8;
            const char **nv = realloc(r->vals, sizeof(char *) * (size_t)cap);
            if (!nv) {
                r->oom = 1;
                return;
            }
            r->vals = nv;
            r->cap = cap;
        }
        r->vals[r->nvals] = x->sql ? x->sql : x->text;
        snprintf(buf, sizeof buf, "$%d::%s", r->first + r->nvals, tname(x->type));
        r->nvals++;
        sb_str(b, buf);
        return;
    case N_COL: {
        const char *s = r->w->colnames[x->col];
        sb_str(b, "\"");
        for (; *s; s++) sb_put(b, *s == '"' ? "\"\"" : s, *s == '"' ? 2 : 1);
        sb_str(b, "\"");
        return;
    }
    case N_AND: render_bin(r, x, " AND "); return;
    case N_OR: render_bin(r, x, " OR "); return;
    case N_NOT:
        sb_str(b, "(NOT ");
        render_node(r, x->args[0]);
        sb_str(b, ")");
        return;
    case N_ISNULL:
        sb_str(b, "(");
        render_node(r, x->args[0]);
        sb_str(b, x->negated ? " IS NOT NULL)" : " IS NULL)");
        return;
    case N_ISBOOL:
        sb_str(b, "(");
        render_node(r, x->args[0]);
        sb_str(b, x->negated ? " IS NOT " : " IS ");
        sb_str(b, x->op == 't' ? "TRUE)" : x->op == 'f' ? "FALSE)" : "UNKNOWN)");
        return;
    case N_CMP:
        snprintf(buf, sizeof buf, " %s ", cmp_sql[x->op]);
        render_bin(r, x, buf);
        return;
    case N_DISTINCT:
        render_bin(r, x, x->negated ? " IS NOT DISTINCT FROM " : " IS DISTINCT FROM ");
        return;
    case N_LIKE:
        snprintf(buf, sizeof buf, " %s%s ", x->negated ? "NOT " : "", x->icase ? "ILIKE" : "LIKE");
        render_bin(r, x, buf);
        return;
    case N_IN:
        sb_str(b, "(");
        render_node(r, x->args[0]);
        sb_str(b, x->negated ? " NOT IN (" : " IN (");
        for (int i = 1; i < x->nargs; i++) {
            if (i > 1) sb_str(b, ", ");
            render_node(r, x->args[i]);
        }
        sb_str(b, "))");
        return;
    case N_BETWEEN:
        sb_str(b, "(");
        render_node(r, x->args[0]);
        sb_str(b, x->negated ? " NOT BETWEEN " : " BETWEEN ");
        render_node(r, x->args[1]);
        sb_str(b, " AND ");
        render_node(r, x->args[2]);
        sb_str(b, ")");
        return;
    case N_ARITH:
        snprintf(buf, sizeof buf, " %c ", x->op);
        render_bin(r, x, buf);
        return;
    case N_NEG:
        sb_str(b, x->op == '-' ? "(- " : "(+ ");
        render_node(r, x->args[0]);
        sb_str(b, ")");
        return;
    case N_CAST:
        sb_str(b, "(");
        render_node(r, x->args[0]);
        sb_str(b, ")::");
        sb_str(b, tname(x->type));
        return;
    case N_LOWER: case N_UPPER: case N_COALESCE:
        sb_str(b, x->kind == N_LOWER ? "lower(" : x->kind == N_UPPER ? "upper(" : "COALESCE(");
        for (int i = 0; i < x->nargs; i++) {
            if (i) sb_str(b, ", ");
            render_node(r, x->args[i]);
        }
        sb_str(b, ")");
        return;
    }
}

int esync_where_sql(const esync_where *w, int first_param, char **sql, char ***param_values,
                    int *nparam_values) {
    if (sql) *sql = NULL;
    if (param_values) *param_values = NULL;
    if (nparam_values) *nparam_values = 0;
    if (!w || !w->root || !sql || !param_values || !nparam_values || first_param < 1 ||
        first_param > 65535)
        return ESYNC_WHERE_EINVAL;
    render r;
    memset(&r, 0, sizeof r);
    r.w = w;
    r.first = first_param;
    render_node(&r, w->root);
    if (r.oom || r.sql.oom) {
        free(r.sql.s);
        free(r.vals);
        return ESYNC_WHERE_ENOMEM;
    }
    /* the pointer array and the texts in one allocation */
    size_t total = sizeof(char *) * (size_t)r.nvals;
    for (int i = 0; i < r.nvals; i++) total += strlen(r.vals[i]) + 1;
    char **vals = NULL;
    if (r.nvals) {
        vals = malloc(total);
        if (!vals) {
            free(r.sql.s);
            free(r.vals);
            return ESYNC_WHERE_ENOMEM;
        }
        char *dst = (char *)(vals + r.nvals);
        for (int i = 0; i < r.nvals; i++) {
            size_t n = strlen(r.vals[i]) + 1;
            memcpy(dst, r.vals[i], n);
            vals[i] = dst;
            dst += n;
        }
    }
    free(r.vals);
    *sql = r.sql.s;
    *param_values = vals;
    *nparam_values = r.nvals;
    return 0;
}
