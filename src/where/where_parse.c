/* The lexer and parser of where_parse.h.
 *
 * The grammar follows Postgres' operator precedence, loosest first:
 *   expr  := and {OR and}              and  := not {AND not}        not := NOT not | is
 *   is    := cmp {IS [NOT] NULL|TRUE|FALSE|UNKNOWN | IS [NOT] DISTINCT FROM cmp | ISNULL | NOTNULL}
 *   cmp   := pred [(= <> != < <= > >=) pred]           (comparisons do not associate)
 *   pred  := add [[NOT] IN (list) | [NOT] BETWEEN add AND add | [NOT] [I]LIKE add]
 *   add   := mul {(+ -) mul}           mul  := unary {(* / %) unary}
 *   unary := (- +) unary | cast        cast := primary {:: type}
 *   primary := literal | $n | column | lower(x) | upper(x) | coalesce(list) | ( expr )
 * Whatever Postgres accepts outside this subset is refused with ESYNC_WHERE_EUNSUPPORTED and a
 * message naming it; token texts are pool copies, so the tree never points into the caller's text.
 */
#include "where_parse.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PREFIX_LEN 15 /* strlen("SELECT 1 WHERE "): Electric's syntax error locations count it */

/* ---- errors ------------------------------------------------------------------------------- */

void *esync__where_fail(parser *p, int rc, const char *fmt, ...) {
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
void *esync__where_oom(parser *p) {
    return esync__where_fail(p, ESYNC_WHERE_ENOMEM, "out of memory");
}

static void *syntax_error(parser *p) {
    if (p->tok.kind == K_END)
        return esync__where_fail(p, ESYNC_WHERE_ESYNTAX,
                                 "At location %d: syntax error at end of input",
                                 PREFIX_LEN + p->tok.loc);
    int n = p->tok.len > 200 ? 200 : p->tok.len;
    return esync__where_fail(p, ESYNC_WHERE_ESYNTAX,
                             "At location %d: syntax error at or near \"%.*s\"",
                             PREFIX_LEN + p->tok.loc, n, p->text + p->tok.loc);
}

/* ---- lexer -------------------------------------------------------------------------------- */

static int ident_start(unsigned char c) { return isalpha(c) || c == '_' || c >= 0x80; }
static int ident_char(unsigned char c) { return ident_start(c) || isdigit(c) || c == '$'; }
static int op_char(char c) { return c && strchr("+-*/<>=~!@#%^&|`?", c) != NULL; }

/* Reads the next token into p->tok. Returns -1 (with the error set) on a lexical error. */
static int next(parser *p) {
    const char *t = p->text;
    size_t i = p->pos, n = p->len;
    while (i < n && is_blank(t[i])) i++;
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
        esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: comments are not supported",
                          (int)i);
        return -1;
    }
    if (c == ';') {
        esync__where_fail(p, ESYNC_WHERE_ESYNTAX, "unescaped \";\" causing statement split");
        return -1;
    }
    if (ident_start(c)) {
        size_t j = i;
        while (j < n && ident_char((unsigned char)t[j])) j++;
        if (j < n && t[j] == '\'') {
            /* E'', B'', X'', U&'' and typed literals like date '...' : not in our subset */
            k->kind = K_IDENT;
            k->len = (int)(j - i);
            esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED,
                              "At location %d: %.*s'...' literals are not supported", (int)i,
                              k->len, t + i);
            return -1;
        }
        k->kind = K_IDENT;
        k->len = (int)(j - i);
        char *id = esync__where_pool_strndup(p->pool, t + i, j - i);
        if (!id) return esync__where_oom(p), -1;
        for (char *s = id; *s; s++) *s = (char)tolower((unsigned char)*s);
        k->str = id;
        p->pos = j;
        return 0;
    }
    if (c == '"' || c == '\'') {
        char q = (char)c;
        size_t j = i + 1, m = 0;
        /* find the end first, counting the bytes of the unescaped text (m) to allocate them */
        for (size_t x = i + 1;; x++, m++) {
            if (x >= n) {
                k->len = (int)(n - i);
                esync__where_fail(p, ESYNC_WHERE_ESYNTAX,
                                  "At location %d: unterminated quoted %s at or near \"%.*s\"",
                                  PREFIX_LEN + (int)i, q == '"' ? "identifier" : "string",
                                  k->len > 200 ? 200 : k->len, t + i);
                return -1;
            }
            if (t[x] == q) {
                if (x + 1 < n && t[x + 1] == q)
                    x++;
                else
                    break;
            }
        }
        char *buf = esync__where_pool_alloc(p->pool, m + 1);
        if (!buf) return esync__where_oom(p), -1;
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
            esync__where_fail(
                p, ESYNC_WHERE_ESYNTAX,
                "At location %d: zero-length delimited identifier at or near \"\"\"\"",
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
            esync__where_fail(
                p, ESYNC_WHERE_ESYNTAX,
                "At location %d: trailing junk after numeric literal at or near \"%.*s\"",
                PREFIX_LEN + (int)i, k->len > 200 ? 200 : k->len, t + i);
            return -1;
        }
        k->kind = isdec ? K_DEC : K_INT;
        k->str = esync__where_pool_strndup(p->pool, t + i, j - i);
        if (!k->str) return esync__where_oom(p), -1;
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
        k->str = esync__where_pool_strndup(p->pool, t + i, j - i);
        if (!k->str) return esync__where_oom(p), -1;
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
    static const char *const r[] = {"and",
                                    "or",
                                    "not",
                                    "is",
                                    "null",
                                    "true",
                                    "false",
                                    "in",
                                    "between",
                                    "like",
                                    "ilike",
                                    "similar",
                                    "select",
                                    "from",
                                    "where",
                                    "case",
                                    "when",
                                    "then",
                                    "else",
                                    "end",
                                    "as",
                                    "asc",
                                    "desc",
                                    "order",
                                    "group",
                                    "having",
                                    "limit",
                                    "offset",
                                    "union",
                                    "all",
                                    "any",
                                    "some",
                                    "array",
                                    "cast",
                                    "distinct",
                                    "isnull",
                                    "notnull",
                                    "escape",
                                    "exists",
                                    "with",
                                    "collate",
                                    "overlaps",
                                    "table",
                                    "default",
                                    "current_date",
                                    "current_time",
                                    "current_timestamp",
                                    "localtime",
                                    "localtimestamp",
                                    "current_user",
                                    "session_user",
                                    "user",
                                    "current_role",
                                    "only",
                                    "symmetric",
                                    "interval",
                                    NULL};
    for (int i = 0; r[i]; i++)
        if (strcmp(s, r[i]) == 0) return 1;
    return 0;
}

/* ---- parser ------------------------------------------------------------------------------- */

static node *new_node(parser *p, nkind kind, int loc, int nargs) {
    node *x = esync__where_pool_alloc(p->pool, sizeof *x);
    if (!x) return esync__where_oom(p);
    memset(x, 0, sizeof *x);
    x->kind = kind;
    x->loc = loc;
    x->nargs = nargs;
    if (nargs) {
        x->args = esync__where_pool_alloc(p->pool, sizeof(node *) * (size_t)nargs);
        if (!x->args) return esync__where_oom(p);
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

static int enter(parser *p) {
    if (++p->depth > ESYNC_WHERE_MAX_DEPTH) {
        esync__where_fail(p, ESYNC_WHERE_ELIMIT,
                          "At location %d: expression is nested too deeply (limit %d)", p->tok.loc,
                          ESYNC_WHERE_MAX_DEPTH);
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
    if (text && !(x->text = esync__where_pool_strndup(p->pool, text, strlen(text))))
        return esync__where_oom(p);
    return x;
}

/* After an opening parenthesis: refuses a subquery (returns 1 with the error set). */
static int subquery(parser *p, int loc) {
    if (!is_kw(p, "select") && !is_kw(p, "with") && !is_kw(p, "values")) return 0;
    esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: subqueries are not supported",
                      loc);
    return 1;
}

/* After an opening parenthesis: `expr {, expr} )`, the closing parenthesis consumed. The
 * expressions go to a pool array (*out) after `first` when it is not NULL (the tested value of
 * IN). Returns how many nodes *out holds, or -1. */
static int parse_list(parser *p, node *first, node ***out) {
    int cap = 8, n = 0;
    node **args = esync__where_pool_alloc(p->pool, sizeof(node *) * (size_t)cap);
    if (!args) return esync__where_oom(p), -1;
    if (first) args[n++] = first;
    for (;;) {
        node *a = parse_expr(p);
        if (!a) return -1;
        if (n == cap) {
            node **na = esync__where_pool_alloc(p->pool, sizeof(node *) * (size_t)cap * 2);
            if (!na) return esync__where_oom(p), -1;
            memcpy(na, args, sizeof(node *) * (size_t)cap);
            args = na;
            cap *= 2;
        }
        args[n++] = a;
        if (is_punct(p, ")")) break;
        if (!is_punct(p, ",")) return syntax_error(p), -1;
        if (next(p)) return -1;
    }
    if (next(p)) return -1;
    *out = args;
    return n;
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
    } else if ((strcmp(name, "character") == 0 || strcmp(name, "char") == 0) &&
               is_kw(p, "varying")) {
        strcpy(name, "varchar");
        if (next(p)) return -1;
    } else if ((strcmp(name, "timestamp") == 0 || strcmp(name, "time") == 0) &&
               (is_kw(p, "with") || is_kw(p, "without"))) {
        esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: unsupported type %s %s",
                          loc, name, p->tok.str);
        return -1;
    }
    if (is_punct(p, "(") || is_punct(p, "[")) {
        esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED,
                          "At location %d: type modifiers and array types are not supported",
                          p->tok.loc);
        return -1;
    }
    *t = esync__where_type_from_name(name);
    if (*t == T_OTHER) {
        esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: unsupported type %s", loc,
                          name);
        return -1;
    }
    return 0;
}

/* name(args) with the current token at the opening parenthesis: lower, upper and coalesce are
 * implemented; any other function is refused, naming it with its arity as Electric does. */
static node *parse_call(parser *p, token t) {
    nkind kind;
    if (t.kind == K_IDENT && strcmp(t.str, "lower") == 0)
        kind = N_LOWER;
    else if (t.kind == K_IDENT && strcmp(t.str, "upper") == 0)
        kind = N_UPPER;
    else if (t.kind == K_IDENT && strcmp(t.str, "coalesce") == 0)
        kind = N_COALESCE;
    else {
        int arity = 0;
        /* count the arguments for the message, as Electric reports name/arity */
        size_t save = p->pos;
        token st = p->tok;
        int depth = 0, any = 0;
        for (;;) {
            if (next(p)) return NULL;
            if (p->tok.kind == K_END) break;
            if (is_punct(p, "("))
                depth++;
            else if (is_punct(p, ")")) {
                if (depth-- == 0) break;
            } else if (is_punct(p, ",") && depth == 0)
                arity++;
            any = 1;
        }
        p->pos = save;
        p->tok = st;
        return esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED,
                                 "At location %d: unknown or unsupported function %s/%d", t.loc,
                                 t.str, any ? arity + 1 : 0);
    }
    node **args = NULL;
    int nargs = 0;
    if (next(p)) return NULL;
    if (is_punct(p, ")")) {
        if (next(p)) return NULL;
    } else if ((nargs = parse_list(p, NULL, &args)) < 0) {
        return NULL;
    }
    if ((kind != N_COALESCE && nargs != 1) || nargs == 0)
        return esync__where_fail(p, ESYNC_WHERE_ETYPE,
                                 "At location %d: unknown or unsupported function %s/%d", t.loc,
                                 t.str, nargs);
    node *x = new_node(p, kind, t.loc, 0);
    if (!x) return NULL;
    x->nargs = nargs;
    x->args = args;
    return x;
}

/* A column of the shape, by its exact name (t, already consumed). */
static node *parse_column(parser *p, token t) {
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
        return esync__where_fail(p, ESYNC_WHERE_ETYPE, "At location %d: unknown reference %.200s",
                                 t.loc, t.str);
    return esync__where_fail(p, ESYNC_WHERE_ETYPE, "At location %d: unknown reference \"%.200s\"",
                             t.loc, t.str);
}

static node *parse_primary(parser *p) {
    token t = p->tok;
    switch (t.kind) {
    case K_INT:
    case K_DEC: {
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
            return esync__where_fail(p, ESYNC_WHERE_EPARAM,
                                     "At location %d: parameter $%d was not provided", t.loc,
                                     t.param);
        p->used[t.param - 1] = 1;
        node *x = unknown_const(p, t.loc, p->params[t.param - 1], t.param, 0);
        if (!x || next(p)) return NULL;
        return x;
    }
    case K_PUNCT:
        if (strcmp(t.str, "(") == 0) {
            if (next(p) || subquery(p, t.loc)) return NULL;
            node *x = parse_expr(p);
            if (!x) return NULL;
            if (!is_punct(p, ")")) return syntax_error(p);
            if (next(p)) return NULL;
            return x;
        }
        return syntax_error(p);
    case K_QIDENT:
    case K_IDENT: {
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
                return esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED,
                                         "At location %d: %s is not supported", t.loc, t.str);
            if (reserved(t.str)) return syntax_error(p);
        }
        if (next(p)) return NULL;
        if (t.kind == K_IDENT && p->tok.kind == K_STRING)
            return esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED,
                                     "At location %d: %s '...' literals are not supported", t.loc,
                                     t.str);
        if (is_punct(p, "(")) return parse_call(p, t);
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
            return esync__where_fail(p, ESYNC_WHERE_ETYPE, "At location %d: unknown reference %s",
                                     t.loc, ref);
        }
        return parse_column(p, t);
    }
    case K_OP:
    case K_END: return syntax_error(p);
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
        return esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: %s is not supported",
                                 p->tok.loc, p->tok.str);
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
            char *s = esync__where_pool_alloc(p->pool, n + 2);
            if (!s) return esync__where_oom(p);
            s[0] = '-';
            memcpy(s + 1, p->tok.str, n + 1);
            p->tok.str = s;
            x = parse_cast(p);
            if (x && x->kind == N_CONST)
                x->loc = loc;
            else if (x && x->kind == N_CAST) {
                node *c = x;
                while (c->kind == N_CAST) c = c->args[0];
                c->loc = loc;
            }
        } else {
            node *a = parse_unary(p);
            if (!a) return NULL;
            x = new_node(p, N_NEG, loc, 1); /* unary plus too: the checker wants a number */
            if (!x) return NULL;
            x->args[0] = a;
            x->op = neg ? '-' : '+';
        }
        p->depth--;
        return x;
    }
    return parse_cast(p);
}

/* Is the token one of the single-character operators in ops? */
static int is_op_in(parser *p, const char *ops) {
    char op[2] = {0, 0};
    for (; *ops; ops++) {
        op[0] = *ops;
        if (is_punct(p, op)) return 1;
    }
    return 0;
}

/* The comparison operators, in C_* order, then != (a synonym of <>). */
static const char *const cmp_ops[] = {"=", "<>", "<", "<=", ">", ">=", "!="};

/* The C_* operator the token spells, or -1. */
static int cmp_op(parser *p) {
    for (int k = 0; k < (int)(sizeof cmp_ops / sizeof cmp_ops[0]); k++)
        if (is_punct(p, cmp_ops[k])) return k == 6 ? C_NE : k;
    return -1;
}

/* A left-associative chain `operand {op operand}` of the arithmetic operators in ops. */
static node *arith_chain(parser *p, node *(*operand)(parser *), const char *ops) {
    node *x = operand(p);
    while (x && is_op_in(p, ops)) {
        int op = p->tok.str[0], loc = p->tok.loc;
        if (enter(p) || next(p)) return NULL;
        x = node2(p, N_ARITH, loc, x, operand(p));
        if (x) x->op = op;
        p->depth--;
    }
    return x;
}

static node *parse_mul(parser *p) { return arith_chain(p, parse_unary, "*/%"); }

static node *parse_add(parser *p) {
    node *x = arith_chain(p, parse_mul, "+-");
    /* any other operator here is one of Postgres' many we do not implement */
    if (x && p->tok.kind == K_OP && !is_op_in(p, "+-*/%") && cmp_op(p) < 0)
        return esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED,
                                 "At location %d: operator %s is not supported", p->tok.loc,
                                 p->tok.str);
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
        if (next(p) || subquery(p, loc)) return NULL;
        node **args;
        int n = parse_list(p, x, &args);
        if (n < 0) return NULL;
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
            return esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED,
                                     "At location %d: BETWEEN %s is not supported", p->tok.loc,
                                     p->tok.str);
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
            return esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED,
                                     "At location %d: LIKE ... ESCAPE is not supported",
                                     p->tok.loc);
        return r;
    }
    if (is_kw(p, "similar"))
        return esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED,
                                 "At location %d: SIMILAR TO is not supported", loc);
    return x;
}

static node *parse_cmp(parser *p) {
    node *x = parse_pred(p);
    int op = x ? cmp_op(p) : -1;
    if (op < 0) return x;
    int loc = p->tok.loc;
    if (next(p)) return NULL;
    if (is_kw(p, "any") || is_kw(p, "all") || is_kw(p, "some"))
        return esync__where_fail(p, ESYNC_WHERE_EUNSUPPORTED, "At location %d: %s is not supported",
                                 p->tok.loc, p->tok.str);
    x = node2(p, N_CMP, loc, x, parse_pred(p));
    if (!x) return NULL;
    x->op = op;
    /* comparison operators do not associate: a < b < c is a syntax error */
    if (cmp_op(p) >= 0) return syntax_error(p);
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

/* A chain `operand {kw operand}` of AND (kind N_AND) or OR (N_OR), left-associative. */
static node *bool_chain(parser *p, node *(*operand)(parser *), const char *kw, nkind kind) {
    node *x = operand(p);
    while (x && is_kw(p, kw)) {
        int loc = p->tok.loc;
        if (next(p)) return NULL;
        x = node2(p, kind, loc, x, operand(p));
    }
    return x;
}

static node *parse_and(parser *p) { return bool_chain(p, parse_not, "and", N_AND); }

static node *parse_expr(parser *p) {
    if (enter(p)) return NULL;
    node *x = bool_chain(p, parse_and, "or", N_OR);
    p->depth--;
    return x;
}

node *esync__where_parse(parser *p) {
    if (next(p)) return NULL;
    if (p->tok.kind == K_END) return syntax_error(p);
    node *root = parse_expr(p);
    if (!root) return NULL;
    if (p->tok.kind == K_END) return root;
    if (is_kw(p, "from") || is_kw(p, "group") || is_kw(p, "order") || is_kw(p, "limit") ||
        is_kw(p, "having") || is_kw(p, "window") || is_kw(p, "for"))
        return esync__where_fail(p, ESYNC_WHERE_ESYNTAX, "malformed query ending with SQL clauses");
    return syntax_error(p);
}
