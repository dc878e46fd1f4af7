/* The arena of where_pool.h: a list of blocks, each at least POOL_BLOCK bytes, carved from the
 * front; a request larger than a block gets a block of its own. Nothing is freed alone. */
#include "where_pool.h"

#include <stdlib.h>
#include <string.h>

/* Most clauses fit in one block: a few dozen nodes and their texts. */
#define POOL_BLOCK 4096

struct pool_block {
    struct pool_block *next;
    size_t used, cap;
    max_align_t data[];
};

void *esync__where_pool_alloc(pool *p, size_t n) {
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n == 0) n = sizeof(max_align_t);
    struct pool_block *b = p->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > POOL_BLOCK ? n : POOL_BLOCK;
        b = malloc(sizeof(struct pool_block) + cap);
        if (!b) return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = p->head;
        p->head = b;
    }
    void *r = (char *)b->data + b->used;
    b->used += n;
    return r;
}

char *esync__where_pool_strndup(pool *p, const char *s, size_t n) {
    char *r = esync__where_pool_alloc(p, n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = '\0';
    }
    return r;
}

void esync__where_pool_free(pool *p) {
    while (p->head) {
        struct pool_block *n = p->head->next;
        free(p->head);
        p->head = n;
    }
}
