/* The where compiler's evaluator: a compiled clause on one replicated row. */
#ifndef ESYNC_WHERE_EVAL_H
#define ESYNC_WHERE_EVAL_H

#include "where_ast.h"

/* esync_where_eval on a compiled clause w (w->root not NULL): 1 when the clause is TRUE on the
 * row, 0 when it is FALSE or NULL. */
int esync__where_eval(const esync_where *w, const char *const *values);

#endif
