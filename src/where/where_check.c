/* The type checker of where_check.h.
 *
 * Types follow Postgres' rules for the subset. An untyped constant ('string', $n, NULL) takes the
 * type its context gives it: the first typed operand of a comparison, IN, BETWEEN or coalesce (a
 * NULL: their common type), the other operand of arithmetic (numeric when both are untyped), text
 * for IS NULL, LIKE, lower and upper, bool for AND, OR, NOT and IS TRUE; it is parsed then, with
 * Postgres' input rules (where_value.h), so that a bad literal fails here as Postgres would fail
 * on it. Numeric literals are int4, then int8, then numeric, by size. Operands compare in one
 * domain, chosen here and kept in the node for eval:
 *   - integers and numeric: exact decimal (never doubles, so int8 and numeric keep every digit);
 *   - any float involved: float8, as Postgres casts;
 *   - text-likes: bytes (the C.UTF-8 collation of the dev cluster), bpchar without its padding;
 *   - date, timestamp (also mixed), timestamptz, time: microseconds; bool, uuid: their own.
 * Anything else is "Could not select an operator overload", Postgres' message.
 */
#include "where_check.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Normalizes a decimal with an exponent (1.5e3, -.5E-2) into the [-]digits[.digits] form the
 * evaluator compares; NULL when s is not such a number (or when the exponent is beyond +-1000). */
static char *numeric_normalize(pool *pl, const char *s, size_t n) {
    const char *e = trim_end(s, s + n);
    s = skip_ws(s, e);
    int neg = 0;
    if (s < e && (*s == '+' || *s == '-')) neg = *s++ == '-';
    char *digits = esync__where_pool_alloc(pl, (size_t)(e - s) + 1);
    if (!digits) return NULL;
    size_t nd = 0;
    long point = -1, exp = 0;
    for (; s < e && *s != 'e' && *s != 'E'; s++) {
        if (*s == '.' && point < 0)
            point = (long)nd;
        else if (*s >= '0' && *s <= '9')
            digits[nd++] = *s;
        else
            return NULL;
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
    char *out = esync__where_pool_alloc(pl, cap);
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
    if (x->type == T_INT8 && esync__where_parse_int(x->text, strlen(x->text), T_INT8, &v) == 0) {
        x->type = (v >= INT32_MIN && v <= INT32_MAX) ? T_INT4 : T_INT8;
        x->v.i = v;
        return 0;
    }
    x->type = T_NUMERIC;
    char *out = numeric_normalize(p->pool, x->text, strlen(x->text));
    if (!out) {
        esync__where_fail(p, ESYNC_WHERE_ETYPE,
                          "At location %d: invalid syntax for type numeric: %.200s", x->loc,
                          x->text);
        return -1;
    }
    x->v.s = out;
    x->v.n = strlen(out);
    return 0;
}

/* Gives an untyped constant ('string', $n, NULL) the type t, parsing its text as Postgres would. */
static int coerce_unknown(parser *p, node *x, wtype t) {
    x->unknown = 0;
    x->type = t;
    if (x->isnull) return 0;
    const char *s = x->text;
    size_t n = strlen(s);
    int had_zone = 0;
    char *num = NULL;
    if (t == T_NUMERIC && esync__where_parse_value(s, n, t, &x->v, NULL) != 0 &&
        (num = numeric_normalize(p->pool, s, n)) != NULL) {
        x->v.s = num;
        x->v.n = strlen(num);
        x->sql = x->text;
        return 0;
    }
    if (esync__where_parse_value(s, n, t, &x->v, &had_zone)) {
        esync__where_fail(p, ESYNC_WHERE_ETYPE,
                          "At location %d: invalid syntax for type %s: %.200s", x->loc,
                          esync__where_type_name(t), s);
        return -1;
    }
    x->v.s = s; /* numeric and text-likes point at the pool copy */
    x->sql = x->text;
    if (t == T_TIMESTAMPTZ && !had_zone && x->v.i != INT64_MAX && x->v.i != INT64_MIN) {
        /* read as UTC here, so tell Postgres the same whatever its TimeZone */
        size_t m = (size_t)(trim_end(s, s + n) - s);
        int bc = m > 3 && ieq(s + m - 3, 3, " bc");
        char *q = esync__where_pool_alloc(p->pool, m + 8);
        if (!q) return esync__where_oom(p), -1;
        if (bc)
            snprintf(q, m + 8, "%.*s+00 BC", (int)(m - 3), s);
        else
            snprintf(q, m + 8, "%.*s+00", (int)m, s);
        x->sql = q;
    }
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

/* Postgres' message when no operator takes the operand types. Returns -1. */
static int no_overload(parser *p, int loc) {
    esync__where_fail(p, ESYNC_WHERE_ETYPE, "At location %d: Could not select an operator overload",
                      loc);
    return -1;
}

/* Checks x and gives it the type t when it is an untyped constant. */
static int check_as(parser *p, node *x, wtype t) {
    if (check(p, x)) return -1;
    return x->unknown ? coerce_unknown(p, x, t) : 0;
}

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
    if (t == T_OTHER || t == T_UNKNOWN) return no_overload(p, loc);
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
    if (t == T_OTHER || !(is_num(t) || is_str(t) || t == T_BOOL || t == T_UUID || is_dt(t)))
        return no_overload(p, loc);
    /* recompute with the coerced constants (e.g. int4 column vs '1.5' is an error above) */
    wtype d = T_UNKNOWN;
    for (int i = 0; i < n; i++) {
        if (args[i]->isnull && args[i]->kind == N_CONST) continue;
        d = d == T_UNKNOWN ? args[i]->type : common_type(d, args[i]->type);
    }
    if (d == T_UNKNOWN) d = t;
    if (d == T_OTHER) return no_overload(p, loc);
    *dom = d;
    return 0;
}

/* Checks an operand of AND, OR or NOT (what), which must be a bool. */
static int check_bool(parser *p, node *x, const char *what) {
    if (check_as(p, x, T_BOOL)) return -1;
    if (x->type == T_BOOL) return 0;
    if (x->kind == N_COL)
        esync__where_fail(p, ESYNC_WHERE_ETYPE,
                          "At location %d: reference %s of type %s is not castable to bool", x->loc,
                          p->w->colnames[x->col], esync__where_type_name(x->type));
    else
        esync__where_fail(p, ESYNC_WHERE_ETYPE,
                          "At location %d: argument of %s must be bool, not %s", x->loc, what,
                          esync__where_type_name(x->type));
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
    case N_COL: return 0;
    case N_AND:
    case N_OR:
        if (check_bool(p, x->args[0], x->kind == N_AND ? "AND" : "OR") ||
            check_bool(p, x->args[1], x->kind == N_AND ? "AND" : "OR"))
            return -1;
        x->type = T_BOOL;
        return 0;
    case N_NOT:
        if (check_bool(p, x->args[0], "NOT")) return -1;
        x->type = T_BOOL;
        return 0;
    case N_ISNULL:
        if (check_as(p, x->args[0], T_TEXT)) return -1;
        x->type = T_BOOL;
        return 0;
    case N_ISBOOL: {
        node *a = x->args[0];
        if (check_as(p, a, T_BOOL)) return -1;
        if (a->type != T_BOOL) {
            const char *w = x->op == 't' ? "TRUE" : x->op == 'f' ? "FALSE" : "UNKNOWN";
            esync__where_fail(p, ESYNC_WHERE_ETYPE,
                              "At location %d: argument of IS %s%s must be bool, not %s", x->loc,
                              x->negated ? "NOT " : "", w, esync__where_type_name(a->type));
            return -1;
        }
        x->type = T_BOOL;
        return 0;
    }
    case N_CMP:
    case N_DISTINCT:
    case N_IN:
    case N_BETWEEN:
        /* every domain is ordered, bool too (false < true, as in Postgres) */
        if (unify(p, x->args, x->nargs, x->loc, &x->dom)) return -1;
        x->type = T_BOOL;
        return 0;
    case N_LIKE: {
        for (int i = 0; i < 2; i++) {
            if (check_as(p, x->args[i], T_TEXT)) return -1;
            if (!is_str(x->args[i]->type)) return no_overload(p, x->loc);
        }
        node *pat = x->args[1];
        if (pat->kind == N_CONST && !pat->isnull) {
            size_t n = strlen(pat->text), bs = 0;
            while (bs < n && pat->text[n - 1 - bs] == '\\') bs++;
            if (bs % 2 == 1) {
                esync__where_fail(p, ESYNC_WHERE_ETYPE,
                                  "At location %d: LIKE pattern must not end with escape character",
                                  pat->loc);
                return -1;
            }
        }
        x->type = T_BOOL;
        return 0;
    }
    case N_ARITH:
    case N_NEG: {
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
            else if (a->type == T_NUMERIC || b->type == T_NUMERIC)
                t = T_NUMERIC;
            else
                t = a->type > b->type ? a->type : b->type;
            if (x->op == '%' && !is_int(t)) goto bad;
            if (x->op == '/' && t == T_NUMERIC)
                return esync__where_fail(
                           p, ESYNC_WHERE_EUNSUPPORTED,
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
        return no_overload(p, x->loc);
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
            esync__where_fail(p, ESYNC_WHERE_ETYPE,
                              "At location %d: unknown cast from type %s to type %s", a->loc,
                              esync__where_type_name(a->type), esync__where_type_name(x->type));
            return -1;
        }
        return 0;
    }
    case N_LOWER:
    case N_UPPER:
        if (check_as(p, x->args[0], T_TEXT)) return -1;
        if (!is_str(x->args[0]->type)) {
            esync__where_fail(p, ESYNC_WHERE_ETYPE,
                              "At location %d: Could not select a function overload for %s(%s)",
                              x->loc, x->kind == N_LOWER ? "lower" : "upper",
                              esync__where_type_name(x->args[0]->type));
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

int esync__where_check(parser *p, node *root) {
    if (check_as(p, root, T_TEXT)) return -1;
    if (root->type != T_BOOL) {
        esync__where_fail(p, ESYNC_WHERE_ETYPE, "WHERE clause must return a boolean");
        return -1;
    }
    return 0;
}
