/* The evaluator of where_eval.h: a typed tree (where_check.c) on one row of Postgres text values.
 *
 * SQL's three-valued logic throughout: a value is NULL, or a value of its node's type. Whatever
 * Postgres would answer with an error (a column text that is not valid for its type, division by
 * zero, an overflow, an invalid cast) reads as NULL here, since a filter has no one to raise it to.
 * Comparisons run in the domain the checker chose (where_check.c): exact decimal text for integers
 * and numeric, doubles as soon as a float is involved, bytes for text-likes, microseconds for
 * date/time types. Texts computed here (arithmetic on numeric, casts, lower/upper) live in a
 * scratch pool freed when the evaluation ends; the compiled clause is only read, so concurrent
 * evaluations of one clause are safe.
 */
#include "where_eval.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        esync__where_dec_parse(buf, (size_t)n, d);
    } else if (esync__where_dec_parse(v->s, v->n, d)) {
        memset(d, 0, sizeof *d);
        d->special = 2;
    }
}

/* An integer as a numeric value (its decimal text in the scratch pool); NULL on OOM. */
static val int_numeric(evalctx *c, int64_t i) {
    char *o = esync__where_pool_alloc(&c->scratch, 24);
    if (!o) return vnull();
    val v = vbool(0);
    v.n = (size_t)snprintf(o, 24, "%lld", (long long)i);
    v.s = o;
    return v;
}

static double as_double(const val *v, wtype t) {
    if (is_int(t)) return (double)v->i;
    if (is_float(t)) return v->d;
    double d;
    if (esync__where_parse_float(v->s, v->n, T_FLOAT8, &d)) return NAN;
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
        return esync__where_dec_cmp(&da, &db);
    }
    if (dom == T_BOOL) return a->b - b->b;
    if (is_dt(dom)) {
        int64_t x = a->i, y = b->i;
        return x < y ? -1 : x > y;
    }
    if (dom == T_UUID) {
        char ua[37], ub[37];
        if (esync__where_parse_uuid(a->s, a->n, ua) || esync__where_parse_uuid(b->s, b->n, ub))
            return 0;
        int r = strcmp(ua, ub);
        return r < 0 ? -1 : r > 0;
    }
    /* text-likes: bytes; bpchar ignores trailing blanks, also when it meets text */
    size_t na = ta == T_BPCHAR ? bpchar_len(a->s, a->n) : a->n;
    size_t nb = tb == T_BPCHAR ? bpchar_len(b->s, b->n) : b->n;
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
    if (esync__where_parse_value(s, strlen(s), x->type, &v, NULL)) return vnull();
    return v;
}

/* d's first len digits (its integer digits, then its fraction padded with zeros) as a
 * little-endian digit array: out[0] is the last of them. */
static void dec_digits(const dec *d, size_t len, int *out) {
    for (size_t k = 0; k < len; k++) {
        size_t pos = len - 1 - k; /* digit index from the left */
        out[k] = pos < d->il ? d->ip[pos] - '0'
                             : (pos - d->il < d->fl ? d->fp[pos - d->il] - '0' : 0);
    }
}

/* Exact +, -, * on decimal texts, written into the scratch pool. */
static val dec_arith(evalctx *c, int op, const dec *a, const dec *b) {
    val r = vnull();
    if (a->special || b->special) {
        int sa = a->special, sb = b->special;
        const char *out;
        if (sa == 2 || sb == 2)
            out = "NaN";
        else if (op == '*') {
            int za = !sa && esync__where_dec_cmp_mag(a, &(dec){0}) == 0;
            int zb = !sb && esync__where_dec_cmp_mag(b, &(dec){0}) == 0;
            if (za || zb)
                out = "NaN";
            else {
                int neg = (sa ? sa < 0 : a->neg) ^ (sb ? sb < 0 : b->neg);
                out = neg ? "-Infinity" : "Infinity";
            }
        } else {
            int ia = sa, ib = op == '-' ? -sb : sb;
            if (ia && ib && ia != ib)
                out = "NaN";
            else
                out = (ia ? ia : ib) > 0 ? "Infinity" : "-Infinity";
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
    char *out = esync__where_pool_alloc(&c->scratch, len + 4);
    int neg = 0;
    if (!da || !db || !dr || !out) goto done;
    dec_digits(a, la, da); /* aligned at the scale */
    dec_digits(b, lb, db);
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
            int cmp = esync__where_dec_cmp_mag(&ma, &mb);
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
            if (a.i == INT64_MIN || int_out_of_range(t, -a.i)) return vnull();
            a.i = -a.i;
        } else if (is_float(t)) {
            a.d = -a.d;
        } else {
            dec d;
            if (esync__where_dec_parse(a.s, a.n, &d)) return vnull();
            if (d.special) {
                a.s = d.special == 2 ? "NaN" : d.special > 0 ? "-Infinity" : "Infinity";
                a.n = strlen(a.s);
                return a;
            }
            char *o = esync__where_pool_alloc(&c->scratch, a.n + 2);
            if (!o) return vnull();
            const char *s = skip_ws(a.s, a.s + a.n);
            size_t n = (size_t)(trim_end(s, a.s + a.n) - s);
            if (*s == '+') s++, n--;
            if (*s == '-')
                memcpy(o, s + 1, n - 1), o[n - 1] = '\0', a.n = n - 1;
            else if (d.il == 0 && strspn(d.fp ? d.fp : "", "0") == d.fl)
                memcpy(o, s, n), o[n] = '\0', a.n = n;
            else
                o[0] = '-', memcpy(o + 1, s, n), o[n + 1] = '\0', a.n = n + 1;
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
        if (isinf(r) && !isinf(p) && !isinf(q)) return vnull();      /* Postgres: overflow error */
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
            if (b.i == -1)
                r = op == '%' ? 0 : (a.i == INT64_MIN ? 0 : -a.i);
            else
                r = op == '/' ? a.i / b.i : a.i % b.i;
            if (op == '/' && b.i == -1 && a.i == INT64_MIN) return vnull();
        }
        if (int_out_of_range(t, r)) return vnull();
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
        if (f == T_BPCHAR && t != T_BPCHAR) n = bpchar_len(a.s, a.n);
        if (is_str(t)) {
            r.s = a.s;
            r.n = n;
            return r;
        }
        if (esync__where_parse_value(a.s, n, t, &r, NULL)) return vnull();
        return r;
    }
    if (is_str(t)) {
        char buf[40];
        const char *s = buf;
        size_t n;
        if (is_int(f))
            n = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)a.i);
        else if (f == T_BOOL)
            s = a.b ? "true" : "false", n = strlen(s);
        else if (f == T_UUID) {
            if (esync__where_parse_uuid(a.s, a.n, buf)) return vnull();
            n = 36;
        } else
            s = a.s, n = a.n; /* numeric: its text */
        char *o = esync__where_pool_strndup(&c->scratch, s, n);
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
            int64_t q = a.i / ESYNC_WHERE_USEC_PER_DAY;
            if (a.i % ESYNC_WHERE_USEC_PER_DAY < 0) q--;
            r.i = q * ESYNC_WHERE_USEC_PER_DAY;
        }
        return r;
    }
    if (is_float(t)) {
        double d = as_double(&a, f);
        r.d = t == T_FLOAT4 ? (double)(float)d : d;
        if (t == T_FLOAT4 && isinf(r.d) && !isinf(d)) return vnull();
        return r;
    }
    if (t == T_NUMERIC) return int_numeric(c, a.i); /* from an int */
    /* to an int */
    if (is_int(f)) {
        if (int_out_of_range(t, a.i)) return vnull();
        return r.i = a.i, r;
    }
    if (is_float(f)) {
        double d = rint(a.d);
        if (isnan(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) return vnull();
        r.i = (int64_t)d;
        return int_out_of_range(t, r.i) ? vnull() : r;
    }
    /* numeric -> int: round half away from zero */
    dec d;
    if (esync__where_dec_parse(a.s, a.n, &d) || d.special || d.il > 19) return vnull();
    uint64_t m = 0;
    for (size_t k = 0; k < d.il; k++) {
        if (m > (UINT64_MAX - 9) / 10) return vnull();
        m = m * 10 + (uint64_t)(d.ip[k] - '0');
    }
    if (d.fl && d.fp[0] >= '5') m++;
    if (m > (uint64_t)INT64_MAX + (d.neg ? 1u : 0u)) return vnull();
    r.i = d.neg ? (int64_t)(0 - m) : (int64_t)m;
    return int_out_of_range(t, r.i) ? vnull() : r;
}

static val eval_cmp(evalctx *c, const node *x, int op, const node *l, const node *r) {
    val a = eval(c, l), b = eval(c, r);
    if (a.null || b.null) return vnull();
    return vbool(cmp_holds(op, cmp_vals(&a, l->type, &b, r->type, x->dom)));
}

/* Three-valued results: null (unknown), 0, 1. */
static val eval(evalctx *c, const node *x) {
    switch (x->kind) {
    case N_CONST: return x->v;
    case N_COL: return eval_col(c, x);
    case N_AND:
    case N_OR: {
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
    case N_ISNULL: return vbool(eval(c, x->args[0]).null != x->negated);
    case N_ISBOOL: {
        val a = eval(c, x->args[0]);
        int r = x->op == 'u' ? a.null : (!a.null && a.b == (x->op == 't'));
        return vbool(r != x->negated);
    }
    case N_CMP: return eval_cmp(c, x, x->op, x->args[0], x->args[1]);
    case N_DISTINCT: {
        val a = eval(c, x->args[0]), b = eval(c, x->args[1]);
        int distinct;
        if (a.null || b.null)
            distinct = a.null != b.null;
        else
            distinct = cmp_vals(&a, x->args[0]->type, &b, x->args[1]->type, x->dom) != 0;
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
        if ((!lo.null && !lo.b) || (!hi.null && !hi.b))
            r = vbool(0);
        else if (lo.null || hi.null)
            return vnull();
        else
            r = vbool(1);
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
    case N_ARITH:
    case N_NEG: return eval_arith(c, x);
    case N_CAST: return eval_cast(c, x);
    case N_LOWER:
    case N_UPPER: {
        val a = eval(c, x->args[0]);
        if (a.null) return a;
        size_t n = x->args[0]->type == T_BPCHAR ? bpchar_len(a.s, a.n) : a.n;
        char *o = esync__where_pool_alloc(&c->scratch, n + 1);
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
                if (is_float(x->type))
                    a.d = as_double(&a, f);
                else if (x->type == T_NUMERIC && is_int(f))
                    a = int_numeric(c, a.i);
            } else if (f == T_BPCHAR && x->type != T_BPCHAR) {
                a.n = bpchar_len(a.s, a.n);
            } else if (f == T_DATE && x->type == T_TIMESTAMP) {
                /* same microseconds */
            }
            return a;
        }
        return vnull();
    }
    return vnull();
}

int esync__where_eval(const esync_where *w, const char *const *values) {
    evalctx c = {w, values, {NULL}};
    val r = eval(&c, w->root);
    esync__where_pool_free(&c.scratch);
    return !r.null && r.b;
}
