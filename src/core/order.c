/*
 * order.c — the inserts of a response put in the replica table's key order before they are
 * applied (order.h says why).
 */
#include "order.h"

#include "alloc.h"
#include "esync.h"

#include <string.h>

enum { CLS_NULL, CLS_INT, CLS_TEXT };

typedef struct okey {
    int64_t i;     /* CLS_INT; CLS_TEXT: the first 8 bytes, big-endian, zero-padded */
    const char *t; /* CLS_TEXT */
    uint32_t len;  /* CLS_TEXT */
    uint32_t pos;  /* the message's index in ms->m */
    uint8_t cls;
} okey;

/* A decimal integer of at most 18 digits (no overflow to care about), else false. */
static bool small_int(const char *s, int64_t *out) {
    bool neg = *s == '-';
    if (neg) s++;
    int64_t v = 0;
    int n = 0;
    for (; *s; s++, n++) {
        if (*s < '0' || *s > '9' || n == 18) return false;
        v = v * 10 + (*s - '0');
    }
    if (!n) return false;
    *out = neg ? -v : v;
    return true;
}

static okey key_of(const esync_msgs *ms, uint32_t pos, const esync_column *col) {
    const esync_msg *m = &ms->m[pos];
    okey k = {.pos = pos, .cls = CLS_NULL};
    const esync_field *f = ms->f + m->field0;
    for (uint32_t j = 0; j < m->nfields; j++, f++) {
        if (strcmp(f->name, col->name)) continue;
        if (f->kind != ESYNC_JSON_STRING) break;
        bool integer = (col->type == ESYNC_T_INT || col->type == ESYNC_T_INT8) && !col->dims;
        if (integer && small_int(f->text, &k.i)) {
            k.cls = CLS_INT;
        } else {
            k.cls = CLS_TEXT;
            k.t = f->text;
            size_t n = strlen(f->text);
            k.len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
            /* most comparisons end in this prefix, without reading the text (in the body,
             * far apart) */
            uint64_t p = 0;
            for (size_t b = 0; b < 8; b++) p = p << 8 | (b < n ? (unsigned char)f->text[b] : 0);
            k.i = (int64_t)(p ^ 0x8000000000000000ULL); /* unsigned order as signed */
        }
        break;
    }
    return k;
}

static int cmp(const okey *a, const okey *b) {
    if (a->cls != b->cls) return a->cls < b->cls ? -1 : 1;
    if (a->cls == CLS_NULL) return 0;
    if (a->i != b->i) return a->i < b->i ? -1 : 1;
    if (a->cls == CLS_INT) return 0;
    /* text with equal prefixes (no NUL in text: the zero padding orders the shorter first) */
    uint32_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->t, b->t, n);
    if (c) return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* Bottom-up merge sort of k[0..n) using tmp[0..n): stable (a tie takes the left run first). */
static okey *merge_sort(okey *k, okey *tmp, size_t n) {
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) tmp[o++] = cmp(&k[b], &k[a]) < 0 ? k[b++] : k[a++];
            while (a < mid) tmp[o++] = k[a++];
            while (b < hi) tmp[o++] = k[b++];
        }
        okey *t = k;
        k = tmp;
        tmp = t;
    }
    return k;
}

int esync__order_inserts(esync_msgs *ms, const esync_schema *sc) {
    if (!sc->ncols || ms->n > UINT32_MAX) return ESYNC_OK;
    size_t n = 0;
    for (size_t i = 0; i < ms->n; i++) n += esync__msg_is_insert(&ms->m[i]);
    if (n < ESYNC_ORDER_MIN) return ESYNC_OK;
    const esync_column *col = &sc->cols[esync__key_column(sc, 0)];
    okey *keys = esync__malloc(sizeof *keys * n * 2);
    if (!keys) return ESYNC_ENOMEM;
    size_t k = 0;
    bool sorted = true;
    for (size_t i = 0; i < ms->n; i++) {
        if (!esync__msg_is_insert(&ms->m[i])) continue;
        keys[k] = key_of(ms, (uint32_t)i, col);
        if (k && sorted && cmp(&keys[k - 1], &keys[k]) > 0) sorted = false;
        k++;
    }
    if (sorted) {
        esync__freemem(keys);
        return ESYNC_OK;
    }
    esync_msg *moved = esync__malloc(sizeof *moved * n);
    if (!moved) {
        esync__freemem(keys);
        return ESYNC_ENOMEM;
    }
    const okey *order = merge_sort(keys, keys + n, n);
    for (size_t j = 0; j < n; j++) moved[j] = ms->m[order[j].pos];
    /* the inserts' positions, in order, receive them in key order */
    for (size_t i = 0, j = 0; i < ms->n; i++)
        if (esync__msg_is_insert(&ms->m[i])) ms->m[i] = moved[j++];
    esync__freemem(moved);
    esync__freemem(keys);
    return ESYNC_OK;
}
