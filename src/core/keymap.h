/*
 * keymap.h — an insertion-ordered string map (keymap.c): open addressing over an entry array.
 * The batch change tracker keys it by primary-key tuple, and the order of first touch is the
 * order in which change sets list rows.
 */
#ifndef ESYNC_KEYMAP_H
#define ESYNC_KEYMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct esync_keymap_entry {
    char *key;
    size_t keylen;
    char *old_row; /* typed JSON of the row before the batch, NULL when absent */
    size_t old_len;
} esync_keymap_entry;

typedef struct esync_keymap {
    esync_keymap_entry *entries; /* insertion order */
    size_t count, cap;
    uint32_t *slots; /* open addressing, index+1, 0 = empty */
    size_t nslots;
} esync_keymap;

void esync__keymap_init(esync_keymap *m);
/* Frees every entry (keys and old rows) and the map's arrays. */
void esync__keymap_free(esync_keymap *m);
/* Returns the entry for key, or NULL. */
esync_keymap_entry *esync__keymap_get(esync_keymap *m, const char *key, size_t len);
/* Adds key (copied); returns the new entry or NULL on OOM. The key must not be present. */
esync_keymap_entry *esync__keymap_add(esync_keymap *m, const char *key, size_t len);

#endif
