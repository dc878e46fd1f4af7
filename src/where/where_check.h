/* The where compiler's type checker: types every node of a parsed tree, gives the untyped
 * constants their types (parsing their texts as Postgres would), picks the comparison domains, and
 * refuses what Postgres would refuse (or what eval does not implement) with Postgres' message.
 */
#ifndef ESYNC_WHERE_CHECK_H
#define ESYNC_WHERE_CHECK_H

#include "where_parse.h"

/* Types the tree at root (built by esync__where_parse with p), which must be a boolean. Returns 0,
 * or -1 with the error recorded in p. */
int esync__where_check(parser *p, node *root);

#endif
