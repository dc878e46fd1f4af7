/* The where compiler's SQL renderer: a compiled clause as SQL with bind placeholders only. */
#ifndef ESYNC_WHERE_RENDER_H
#define ESYNC_WHERE_RENDER_H

#include "where_ast.h"

/* esync_where_sql on a compiled clause w (w->root not NULL) with its arguments checked: on
 * success returns 0 and sets the three outputs; returns ESYNC_WHERE_ENOMEM (outputs untouched)
 * when memory runs out. */
int esync__where_render(const esync_where *w, int first_param, char **sql, char ***param_values,
                        int *nparam_values);

#endif
