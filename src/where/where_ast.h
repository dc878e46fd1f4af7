/* The tree of a compiled where clause, shared by the compiler's passes: where_parse.c builds it,
 * where_check.c types it, where_eval.c evaluates it on rows, where_render.c writes it as SQL.
 *
 * Invariants of a compiled clause (struct esync_where):
 *   - Every node lives in the clause's pool; freeing the pool frees the tree. Nothing points into
 *     the caller's text, params or columns.
 *   - After type checking no node has type T_UNKNOWN except NULL literals whose context gave no
 *     type (their value is NULL whatever the type, so eval never needs one).
 *   - Constants keep two forms: the text sent to Postgres as a bind value (`sql`) and the value
 *     eval uses (`v`), parsed with the same rules Postgres applies to that text (where_value.h).
 *   - Comparison-like nodes carry their comparison domain (`dom`), chosen at compile time.
 */
#ifndef ESYNC_WHERE_AST_H
#define ESYNC_WHERE_AST_H

#include "where.h"
#include "where_pool.h"
#include "where_value.h"

typedef enum {
    N_CONST,
    N_COL,
    N_AND,
    N_OR,
    N_NOT,
    N_CMP,
    N_DISTINCT,
    N_ISNULL,
    N_ISBOOL,
    N_LIKE,
    N_IN,
    N_BETWEEN,
    N_ARITH,
    N_NEG,
    N_CAST,
    N_LOWER,
    N_UPPER,
    N_COALESCE
} nkind;

/* N_CMP operators (node.op). */
enum { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE };

typedef struct node {
    nkind kind;
    wtype type;  /* result type */
    wtype dom;   /* N_CMP/N_DISTINCT/N_IN/N_BETWEEN: the comparison domain; N_ARITH: operands */
    int op;      /* N_CMP: C_*; N_ARITH: + - * / %; N_NEG: - +; N_ISBOOL: 't','f','u' */
    int negated; /* NOT LIKE, NOT IN, NOT BETWEEN, IS NOT ..., IS NOT DISTINCT */
    int icase;   /* ILIKE */
    int loc;     /* byte offset in the clause text */
    int col;     /* N_COL */
    int param;   /* N_CONST: $n, or 0 for a literal */
    int isnull;  /* N_CONST: NULL */
    int unknown; /* N_CONST: still untyped (a 'string', $n or NULL) */
    char *text;  /* N_CONST: the literal or parameter text as written */
    char *sql;   /* N_CONST: the bind value sent to Postgres (normalized where needed) */
    val v;       /* N_CONST: the parsed value */
    int nargs;
    struct node **args; /* N_IN: the tested value, then the list */
} node;

struct esync_where {
    pool pool;
    node *root;
    int *cols; /* the columns the clause reads, ascending (esync_where_columns) */
    int ncols_used;
    const char **colnames; /* pool copies, for rendering */
    wtype *coltypes;       /* T_OTHER: usable only with IS [NOT] NULL */
};

#endif
