/* The where compiler's public functions (where.h): argument checks, and the passes in order.
 *
 *   esync_where_compile: text -> where_parse.c (tokens, tree) -> where_check.c (types) -> clause
 *   esync_where_eval:    clause, row -> where_eval.c -> TRUE / FALSE-or-NULL
 *   esync_where_sql:     clause -> where_render.c -> SQL and bind values
 *
 * The shared pieces: where_ast.h (the tree), where_value.h (types and Postgres' text input rules),
 * where_pool.h (the arena a clause lives in).
 */
#include "where.h"

#include <stdlib.h>
#include <string.h>

#include "where_ast.h"
#include "where_check.h"
#include "where_eval.h"
#include "where_parse.h"
#include "where_render.h"

#define ESYNC_WHERE_MAX_HEIGHT 1024 /* operators stacked in the tree (chains of AND, OR, +) */

/* Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF), as Postgres' UTF8
 * encoding requires of every text. */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
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

/* Marks in seen[] the columns the tree reads. */
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
        return esync__where_fail(&p, ESYNC_WHERE_EINVAL, "invalid arguments"), p.rc;
    size_t len = strlen(text);
    if (len > ESYNC_WHERE_MAX_TEXT)
        return esync__where_fail(&p, ESYNC_WHERE_ELIMIT,
                                 "WHERE clause is too long (%zu bytes, limit %d)", len,
                                 ESYNC_WHERE_MAX_TEXT),
               p.rc;
    if (!utf8_valid((const unsigned char *)text, len))
        return esync__where_fail(&p, ESYNC_WHERE_ESYNTAX,
                                 "invalid byte sequence for encoding \"UTF8\""),
               p.rc;
    for (int i = 0; i < nparams; i++) {
        if (!params[i]) return esync__where_fail(&p, ESYNC_WHERE_EINVAL, "invalid arguments"), p.rc;
        size_t n = strlen(params[i]);
        if (n > ESYNC_WHERE_MAX_TEXT)
            return esync__where_fail(&p, ESYNC_WHERE_ELIMIT,
                                     "parameter $%d is too long (limit %d bytes)", i + 1,
                                     ESYNC_WHERE_MAX_TEXT),
                   p.rc;
        if (!utf8_valid((const unsigned char *)params[i], n))
            return esync__where_fail(&p, ESYNC_WHERE_EPARAM,
                                     "parameter $%d: invalid byte sequence for encoding \"UTF8\"",
                                     i + 1),
                   p.rc;
    }
    for (int i = 0; i < ncols; i++)
        if (!cols[i].name || !cols[i].type)
            return esync__where_fail(&p, ESYNC_WHERE_EINVAL, "invalid arguments"), p.rc;

    esync_where *w = calloc(1, sizeof *w);
    if (!w) return esync__where_fail(&p, ESYNC_WHERE_ENOMEM, "out of memory"), p.rc;
    p.w = w;
    p.pool = &w->pool;
    p.text = text;
    p.len = len;
    p.params = params;
    p.nparams = nparams;
    p.cols = cols;
    p.ncols = ncols;
    w->colnames = esync__where_pool_alloc(&w->pool, sizeof(char *) * (size_t)(ncols + 1));
    w->coltypes = esync__where_pool_alloc(&w->pool, sizeof(wtype) * (size_t)(ncols + 1));
    p.used = esync__where_pool_alloc(&w->pool, (size_t)nparams + 1);
    int *seen = esync__where_pool_alloc(&w->pool, sizeof(int) * (size_t)(ncols + 1));
    if (!w->colnames || !w->coltypes || !p.used || !seen) {
        esync__where_oom(&p);
        goto out;
    }
    memset(p.used, 0, (size_t)nparams + 1);
    for (int i = 0; i < ncols; i++) {
        w->colnames[i] = esync__where_pool_strndup(&w->pool, cols[i].name, strlen(cols[i].name));
        if (!w->colnames[i]) {
            esync__where_oom(&p);
            goto out;
        }
        wtype t = cols[i].dims > 0 || cols[i].type[0] == '_'
                      ? T_OTHER
                      : esync__where_type_from_name(cols[i].type);
        /* only the canonical typnames name column types (int, integer are SQL spellings) */
        if (t != T_OTHER && strcmp(esync__where_type_name(t), cols[i].type) != 0 &&
            strcmp(cols[i].type, "name") != 0)
            t = T_OTHER;
        w->coltypes[i] = t;
    }

    w->root = esync__where_parse(&p);
    if (!w->root) goto out;
    if (too_high(w->root, ESYNC_WHERE_MAX_HEIGHT)) {
        esync__where_fail(&p, ESYNC_WHERE_ELIMIT,
                          "expression is too complex (more than %d nested operations)",
                          ESYNC_WHERE_MAX_HEIGHT);
        goto out;
    }
    if (esync__where_check(&p, w->root)) goto out;
    for (int i = 0; i < nparams; i++)
        if (!p.used[i]) {
            esync__where_fail(&p, ESYNC_WHERE_EPARAM,
                              "At location 0: parameter value for $%d was not used", i + 1);
            goto out;
        }
    memset(seen, 0, sizeof(int) * (size_t)(ncols + 1));
    collect_cols(w->root, seen);
    w->cols = esync__where_pool_alloc(&w->pool, sizeof(int) * (size_t)(ncols + 1));
    if (!w->cols) {
        esync__where_oom(&p);
        goto out;
    }
    for (int i = 0; i < ncols; i++) /* ascending by construction */
        if (seen[i]) w->cols[w->ncols_used++] = i;
out:
    if (p.rc) {
        esync_where_free(w);
        return p.rc;
    }
    *out = w;
    return 0;
}

int esync_where_eval(const esync_where *w, const char *const *values) {
    if (!w || !w->root) return 0;
    return esync__where_eval(w, values);
}

int esync_where_sql(const esync_where *w, int first_param, char **sql, char ***param_values,
                    int *nparam_values) {
    if (sql) *sql = NULL;
    if (param_values) *param_values = NULL;
    if (nparam_values) *nparam_values = 0;
    if (!w || !w->root || !sql || !param_values || !nparam_values || first_param < 1 ||
        first_param > 65535)
        return ESYNC_WHERE_EINVAL;
    return esync__where_render(w, first_param, sql, param_values, nparam_values);
}

int esync_where_columns(const esync_where *w, const int **cols) {
    if (cols) *cols = w ? w->cols : NULL;
    return w ? w->ncols_used : 0;
}

void esync_where_free(esync_where *w) {
    if (!w) return;
    esync__where_pool_free(&w->pool);
    free(w);
}
