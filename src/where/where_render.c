/* The SQL renderer of where_render.h: a compiled clause back to SQL for the snapshot query.
 *
 * Every operator is parenthesized, so the text never depends on precedence; identifiers are
 * double-quoted; every literal and $n parameter becomes a bind placeholder `$k::type` carrying its
 * normalized text (node.sql), so no text of the clause or its parameters ever reaches Postgres as
 * SQL. Rendering is a fixpoint: the output, compiled again with its bind values, renders the same
 * (fuzz/where.c checks it).
 */
#include "where_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cmp_sql[] = {"=", "<>", "<", "<=", ">", ">="}; /* by C_* */

/* A growable string for the SQL text. Unlike the server's sbuf.h, which aborts, it records an
 * allocation failure in `oom` and ignores later writes: this library never aborts (where.h). */
typedef struct strbuf {
    char *s;
    size_t n, cap;
    int oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n) {
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
static void sb_str(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

typedef struct render {
    const esync_where *w;
    strbuf sql;
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

/* x's arguments from the from-th on, separated by commas. */
static void render_list(render *r, const node *x, int from) {
    for (int i = from; i < x->nargs; i++) {
        if (i > from) sb_str(&r->sql, ", ");
        render_node(r, x->args[i]);
    }
}

static void render_node(render *r, const node *x) {
    strbuf *b = &r->sql;
    char buf[64];
    switch (x->kind) {
    case N_CONST:
        if (x->isnull) {
            sb_str(b, "NULL::");
            sb_str(b, esync__where_type_name(x->type == T_UNKNOWN ? T_TEXT : x->type));
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
        snprintf(buf, sizeof buf, "$%d::%s", r->first + r->nvals, esync__where_type_name(x->type));
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
        render_list(r, x, 1);
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
        sb_str(b, esync__where_type_name(x->type));
        return;
    case N_LOWER:
    case N_UPPER:
    case N_COALESCE:
        sb_str(b, x->kind == N_LOWER ? "lower(" : x->kind == N_UPPER ? "upper(" : "COALESCE(");
        render_list(r, x, 0);
        sb_str(b, ")");
        return;
    }
}

int esync__where_render(const esync_where *w, int first_param, char **sql, char ***param_values,
                        int *nparam_values) {
    render r;
    memset(&r, 0, sizeof r);
    r.w = w;
    r.first = first_param;
    render_node(&r, w->root);
    /* the pointer array and the texts in one allocation */
    char **vals = NULL;
    if (!r.oom && !r.sql.oom && r.nvals) {
        size_t total = sizeof(char *) * (size_t)r.nvals;
        for (int i = 0; i < r.nvals; i++) total += strlen(r.vals[i]) + 1;
        vals = malloc(total);
        if (!vals) {
            r.oom = 1;
        } else {
            char *dst = (char *)(vals + r.nvals);
            for (int i = 0; i < r.nvals; i++) {
                size_t n = strlen(r.vals[i]) + 1;
                memcpy(dst, r.vals[i], n);
                vals[i] = dst;
                dst += n;
            }
        }
    }
    free(r.vals);
    if (r.oom || r.sql.oom) {
        free(r.sql.s);
        return ESYNC_WHERE_ENOMEM;
    }
    *sql = r.sql.s;
    *param_values = vals;
    *nparam_values = r.nvals;
    return 0;
}
