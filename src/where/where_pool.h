/* The where compiler's arena: every allocation of a compiled clause (its tree, the token texts,
 * the typed constants), or of one evaluation (the texts eval computes), comes from one pool and
 * is freed at once with it.
 *
 * Out of memory is a NULL return, never an abort: the library reports ESYNC_WHERE_ENOMEM (the
 * compiler) or reads the value as NULL (eval), as where.h promises.
 */
#ifndef ESYNC_WHERE_POOL_H
#define ESYNC_WHERE_POOL_H

#include <stddef.h>

typedef struct pool {
    struct pool_block *head;
} pool;

/* n bytes aligned for any type (n == 0 still gives a distinct pointer); NULL on OOM. */
void *esync__where_pool_alloc(pool *p, size_t n);
/* A NUL-terminated copy of s[0..n); NULL on OOM. */
char *esync__where_pool_strndup(pool *p, const char *s, size_t n);
/* Frees every allocation of p; p is empty (and reusable) afterwards. */
void esync__where_pool_free(pool *p);

#endif
