/*
 * keymap.c — an insertion-ordered string map (open addressing over an entry array). The batch
 * change tracker keys it by primary-key tuple, and the order of first touch is the order in
 * which change sets list rows.
 */
#include "keymap.h"

#include "alloc.h"

#include <stdbool.h>
#include <string.h>

void esync__keymap_init(esync_keymap *m) { memset(m, 0, sizeof *m); }

void esync__keymap_free(esync_keymap *m) {
    for (size_t i = 0; i < m->count; i++) {
        esync__freemem(m->entries[i].key);
        esync__freemem(m->entries[i].old_row);
    }
    esync__freemem(m->entries);
    esync__freemem(m->slots);
    esync__keymap_init(m);
}

static uint32_t hash(const char *k, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

static bool rehash(esync_keymap *m, size_t nslots) {
    uint32_t *slots = esync__malloc(nslots * sizeof *slots);
    if (!slots) return false;
    memset(slots, 0, nslots * sizeof *slots);
    for (size_t i = 0; i < m->count; i++) {
        size_t j = hash(m->entries[i].key, m->entries[i].keylen) & (nslots - 1);
        while (slots[j]) j = (j + 1) & (nslots - 1);
        slots[j] = (uint32_t)(i + 1);
    }
    esync__freemem(m->slots);
    m->slots = slots;
    m->nslots = nslots;
    return true;
}

esync_keymap_entry *esync__keymap_get(esync_keymap *m, const char *key, size_t len) {
    if (!m->nslots) return NULL;
    size_t j = hash(key, len) & (m->nslots - 1);
    while (m->slots[j]) {
        esync_keymap_entry *en = &m->entries[m->slots[j] - 1];
        if (en->keylen == len && memcmp(en->key, key, len) == 0) return en;
        j = (j + 1) & (m->nslots - 1);
    }
    return NULL;
}

esync_keymap_entry *esync__keymap_add(esync_keymap *m, const char *key, size_t len) {
    if (m->count + 1 > m->nslots / 2) {
        if (!rehash(m, m->nslots ? m->nslots * 2 : 64)) return NULL;
    }
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        esync_keymap_entry *en = esync__realloc(m->entries, cap * sizeof *en);
        if (!en) return NULL;
        m->entries = en;
        m->cap = cap;
    }
    char *k = esync__strndup(key, len);
    if (!k) return NULL;
    esync_keymap_entry *en = &m->entries[m->count];
    memset(en, 0, sizeof *en);
    en->key = k;
    en->keylen = len;
    size_t j = hash(key, len) & (m->nslots - 1);
    while (m->slots[j]) j = (j + 1) & (m->nslots - 1);
    m->slots[j] = (uint32_t)(++m->count);
    return en;
}
