/*
 * alloc.h — the counting allocator (alloc.c). Every byte the engine, SQLite and cJSON allocate
 * goes through esync__malloc/esync__realloc/esync__freemem, so esync_memory_used() is exact.
 * esync_initialize() (esync.h) routes SQLite and cJSON through it.
 * Policy: these return NULL on failure and never abort; callers turn NULL into ESYNC_ENOMEM.
 */
#ifndef ESYNC_ALLOC_H
#define ESYNC_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *esync__malloc(size_t n);
void *esync__realloc(void *p, size_t n);
void esync__freemem(void *p);
/* SQLite's part of esync_initialize (its allocator, sqlite3_initialize), without cJSON's hooks:
 * for a host process that keeps cJSON's allocator its own (image_build.c). Idempotent. */
int esync__initialize_sqlite(void);
char *esync__strdup(const char *s);
char *esync__strndup(const char *s, size_t n);
/* Sets *slot to a copy of v (NULL allowed), freeing the old value. Returns false on OOM, and
 * then leaves *slot unchanged. */
bool esync__set_str(char **slot, const char *v);

#endif
