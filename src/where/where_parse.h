/* The where compiler's front end: the lexer and the recursive-descent parser, from clause text to
 * the tree of where_ast.h, and the compile context (`parser`) the later passes report errors
 * through.
 *
 * Errors: the first failure wins (p->rc and the message in p->err); every function that fails
 * returns NULL or -1 after esync__where_fail, so callers only propagate.
 */
#ifndef ESYNC_WHERE_PARSE_H
#define ESYNC_WHERE_PARSE_H

#include <stddef.h>

#include "where_ast.h"

typedef enum { K_END, K_IDENT, K_QIDENT, K_INT, K_DEC, K_STRING, K_PARAM, K_OP, K_PUNCT } tkind;

typedef struct token {
    tkind kind;
    int loc, len;    /* the token's bytes in the clause text */
    const char *str; /* K_IDENT (folded), K_QIDENT, K_STRING (unescaped), K_OP/K_PUNCT spelling */
    int param;
} token;

/* One compilation: the inputs of esync_where_compile, the clause being built, the lexer's state
 * and the first error. */
typedef struct parser {
    const char *text;
    size_t len;
    const char *const *params;
    int nparams;
    char *used; /* used[i]: $i+1 appears in the text */
    const esync_where_col *cols;
    int ncols;
    esync_where *w;
    pool *pool; /* &w->pool */
    token tok;  /* the current token */
    size_t pos; /* where the next token starts */
    int depth;  /* nesting, against ESYNC_WHERE_MAX_DEPTH */
    int rc;
    char *err;
    size_t errlen;
} parser;

/* Records the first failure (code rc, message fmt) and returns NULL. */
void *esync__where_fail(parser *p, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* esync__where_fail with ESYNC_WHERE_ENOMEM. */
void *esync__where_oom(parser *p);

/* Parses the whole text (p set up by esync_where_compile) into a tree in p->pool. Returns its
 * root, or NULL with p->rc set. */
node *esync__where_parse(parser *p);

#endif
