/*
 * image_write.c — a replica image (image_build.c) written directly in SQLite's file format, for
 * the common case, without SQLite's inserts: the shape service makes an image of every snapshot
 * chunk while a new shape's first client is syncing, on the same cores, and the inserts (each a
 * b-tree seek, the page balancing, the pager's writes) were most of that work.
 *
 * The file is what SQLite would make of the same rows (image_build.c's path, kept for the rest):
 * page 1 is the database header and the sqlite_schema table holding the one CREATE TABLE
 * statement (esync__schema_ddl, as SQLite stores it: from the unqualified name on); the table is
 * WITHOUT ROWID, so its rows are records in an index b-tree keyed by the primary key, the key's
 * columns first and then the others in table order; pages are filled in key order, leaves first,
 * each interior level built from the keys between the pages below it (every key of the table is
 * in exactly one cell: a leaf's, or an interior page's as the divider between two subtrees).
 * tests/core/test_image.c compares such an image with SQLite's, row by row, and runs SQLite's
 * integrity check on it.
 *
 * Invariants
 *  - Only what this file can write exactly: a schema with a primary key; rows strictly
 *    increasing by key (the inserts are in key order, order.c) as SQLite compares them (NULL,
 *    numbers, text by bytes, blobs by bytes), with no NULL in a key column and no key compared
 *    across an integer and a float; every record small enough to stay on its page (no overflow
 *    chain). Anything else returns ESYNC_IMAGE_NOT_DIRECT with nothing written, and the caller
 *    builds the image with SQLite, which also reports the errors (a duplicate key, a NULL key).
 *  - Values are converted by the engine's own rules (esync__val_convert), as the SQLite path
 *    binds them: a column's storage class is the one it is bound with (types.h).
 */
#include "image_write.h"

#include "alloc.h"
#include "buf.h"
#include "errors.h"
#include "types.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

bool esync__image_direct = true;

enum {
    PAGE = 4096,
    /* the most payload an index b-tree cell keeps on its page (fileformat: X = (U-12)*64/255-23) */
    MAX_LOCAL = (PAGE - 12) * 64 / 255 - 23,
};

static void put16(uint8_t *p, unsigned v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* SQLite's varint: big-endian, 7 bits a byte, the high bit set on all but the last. (Its 9-byte
 * form, for values of 2^56 and more, is never needed here: lengths, serial types and page
 * numbers.) */
static int varint_len(uint64_t v) {
    int n = 1;
    while (v > 0x7f) {
        v >>= 7;
        n++;
    }
    return n;
}
static int put_varint(uint8_t *p, uint64_t v) {
    int n = varint_len(v);
    for (int i = n - 1; i >= 0; i--, v >>= 7) p[i] = (uint8_t)((v & 0x7f) | (i < n - 1 ? 0x80 : 0));
    return n;
}

/* The serial type of v (schema format 4: 0 and 1 as types 8 and 9) and its body's length. */
static uint64_t serial_type(const esync_val *v, size_t *len) {
    switch (v->type) {
    case SQLITE_INTEGER: {
        long long i = v->i;
        if (i == 0 || i == 1) {
            *len = 0;
            return (uint64_t)(8 + i);
        }
        unsigned long long u = i < 0 ? ~(unsigned long long)i : (unsigned long long)i;
        if (u <= 127) return *len = 1, 1;
        if (u <= 32767) return *len = 2, 2;
        if (u <= 8388607) return *len = 3, 3;
        if (u <= 2147483647) return *len = 4, 4;
        if (u <= 140737488355327LL) return *len = 6, 5;
        return *len = 8, 6;
    }
    case SQLITE_FLOAT: return *len = 8, 7;
    case SQLITE_TEXT: return *len = v->n, 13 + 2 * (uint64_t)v->n;
    case SQLITE_BLOB: return *len = v->n, 12 + 2 * (uint64_t)v->n;
    default: return *len = 0, 0;
    }
}

static void put_body(uint8_t *p, const esync_val *v, size_t len) {
    if (v->type == SQLITE_INTEGER) {
        unsigned long long u = (unsigned long long)v->i;
        for (size_t k = 0; k < len; k++) p[len - 1 - k] = (uint8_t)(u >> (8 * k));
    } else if (v->type == SQLITE_FLOAT) {
        uint64_t u;
        memcpy(&u, &v->d, 8);
        for (int k = 0; k < 8; k++) p[7 - k] = (uint8_t)(u >> (8 * k));
    } else if (len) {
        memcpy(p, v->p, len);
    }
}

/* One record (the columns in the order of order[0..n)) appended to b; st and lens are scratch
 * arrays of n. */
static void put_record(esync_buf *b, const esync_val *vals, const int *order, int n, uint64_t *st,
                       size_t *lens) {
    size_t hdr = 0, body = 0;
    for (int k = 0; k < n; k++) {
        st[k] = serial_type(&vals[order[k]], &lens[k]);
        hdr += (size_t)varint_len(st[k]);
        body += lens[k];
    }
    /* the header's size counts its own varint */
    size_t h = hdr + 1;
    if (varint_len(h) > 1) h = hdr + (size_t)varint_len(hdr + 2);
    if (!esync__buf_reserve(b, h + body)) return;
    uint8_t *p = (uint8_t *)b->data + b->len;
    p += put_varint(p, h);
    for (int k = 0; k < n; k++) p += put_varint(p, st[k]);
    for (int k = 0; k < n; k++) {
        put_body(p, &vals[order[k]], lens[k]);
        p += lens[k];
    }
    b->len += h + body;
}

/* SQLite's order of two key values (BINARY collation); 2 when this file does not compare them
 * (an integer against a float). */
static int key_cmp(const esync_val *a, const esync_val *b) {
    int ra = a->type == SQLITE_NULL   ? 0
             : a->type == SQLITE_TEXT ? 2
             : a->type == SQLITE_BLOB ? 3
                                      : 1;
    int rb = b->type == SQLITE_NULL   ? 0
             : b->type == SQLITE_TEXT ? 2
             : b->type == SQLITE_BLOB ? 3
                                      : 1;
    if (ra != rb) return ra < rb ? -1 : 1;
    if (ra == 0) return 0;
    if (ra == 1) {
        if (a->type != b->type) return 2;
        if (a->type == SQLITE_INTEGER) return a->i < b->i ? -1 : a->i > b->i;
        if (isnan(a->d) || isnan(b->d)) return 2;
        return a->d < b->d ? -1 : a->d > b->d;
    }
    size_t n = a->n < b->n ? a->n : b->n;
    int c = n ? memcmp(a->p, b->p, n) : 0;
    if (c) return c < 0 ? -1 : 1;
    return a->n < b->n ? -1 : a->n > b->n;
}

/* Cells (records) of one level: their bytes, and where each starts in them (size_t offsets in
 * `at`; esync_buf's growth and sticky oom for both). */
typedef struct level {
    esync_buf data, at;
} level;

static size_t level_n(const level *l) { return l->at.len / sizeof(size_t); }
static size_t rec_at(const level *l, size_t i) {
    return ((const size_t *)(const void *)l->at.data)[i];
}
/* A record begins here: its bytes, or (rec NULL) those appended to data next. */
static void level_push(level *l, const void *rec, size_t n) {
    size_t at = l->data.len;
    esync__buf_append(&l->at, &at, sizeof at);
    if (rec) esync__buf_append(&l->data, rec, n);
}
static bool level_oom(const level *l) { return l->data.oom || l->at.oom; }
static size_t rec_len(const level *l, size_t i) {
    return (i + 1 < level_n(l) ? rec_at(l, i + 1) : l->data.len) - rec_at(l, i);
}
static void level_init(level *l) {
    esync__buf_init(&l->data);
    esync__buf_init(&l->at);
}
static void level_free(level *l) {
    esync__buf_free(&l->data);
    esync__buf_free(&l->at);
}

/* The file being made: whole pages, page k (1-based) at (k-1)*PAGE. */
typedef struct file {
    esync_buf b;
    uint32_t pages;
} file;

static uint8_t *new_page(file *f) {
    if (!esync__buf_reserve(&f->b, PAGE)) return NULL;
    uint8_t *p = (uint8_t *)f->b.data + f->b.len;
    memset(p, 0, PAGE);
    f->b.len += PAGE;
    f->pages++;
    return p;
}

/* An index b-tree page from records recs[from, to) of `l`: a leaf (children NULL), or an interior
 * page whose cell k points at children[from + k] and whose right child is `right`. */
static bool write_page(file *f, const level *l, size_t from, size_t to, const uint32_t *children,
                       uint32_t right) {
    uint8_t *p = new_page(f);
    if (!p) return false;
    bool leaf = !children;
    int hdr = leaf ? 8 : 12;
    size_t top = PAGE;
    p[0] = leaf ? 0x0a : 0x02;
    put16(p + 3, (unsigned)(to - from));
    for (size_t i = from; i < to; i++) {
        size_t n = rec_len(l, i);
        size_t cell = (leaf ? 0 : 4) + (size_t)varint_len(n) + n;
        top -= cell;
        uint8_t *c = p + top;
        if (!leaf) {
            put32(c, children[i]);
            c += 4;
        }
        c += put_varint(c, n);
        memcpy(c, l->data.data + rec_at(l, i), n);
        put16(p + hdr + 2 * (i - from), (unsigned)top);
    }
    put16(p + 5, (unsigned)top);
    if (!leaf) put32(p + 8, right);
    return true;
}

static size_t cell_size(const level *l, size_t i, bool leaf) {
    size_t n = rec_len(l, i);
    return (leaf ? 0 : 4) + (size_t)varint_len(n) + n + 2; /* and its pointer */
}

/* Writes one level of the tree from the records of `l`: leaves when children is NULL, else
 * interior pages over the level below, whose page children[k] holds the keys left of record k
 * (children[n] the last). A leaf holds records [i, j); an interior page holds cells [i, j), cell
 * k pointing at children[k], with children[j] as its right child. Record j then goes up (to `up`)
 * as the key between this page and the next, which starts at j + 1; so that a next page always
 * has a record, the last record never goes up (one goes up a record sooner). The level's page
 * numbers (uint32_t) go to `pages`. */
static int write_level(file *f, const level *l, const uint32_t *children, level *up,
                       esync_buf *pages) {
    bool leaf = !children;
    size_t room = PAGE - (leaf ? 8 : 12), n = level_n(l);
    for (size_t i = 0;;) {
        size_t used = 0, j = i;
        while (j < n && used + cell_size(l, j, leaf) <= room) used += cell_size(l, j++, leaf);
        if (j + 1 == n) j--; /* the last record stays below: one goes up a record sooner */
        if (j == i && j < n) return ESYNC_EINVAL; /* a page without a cell: a cell is < 1/3 page */
        if (!write_page(f, l, i, j, children, leaf ? 0 : children[j])) return ESYNC_ENOMEM;
        esync__buf_append(pages, &f->pages, sizeof f->pages);
        if (j >= n) break;
        level_push(up, l->data.data + rec_at(l, j), rec_len(l, j));
        if (pages->oom || level_oom(up)) return ESYNC_ENOMEM;
        i = j + 1;
    }
    return pages->oom ? ESYNC_ENOMEM : ESYNC_OK;
}

/* The affinity SQLite gives column c in esync__schema_ddl's table, and whether a value of
 * storage class t keeps its class there unchanged (else this file does not write the row). */
static bool keeps_class(const esync_column *c, int t) {
    if (t == SQLITE_NULL) return true;
    if (c->dims) return t == SQLITE_TEXT;
    switch (c->type) {
    case ESYNC_T_INT:
    case ESYNC_T_INT8:
    case ESYNC_T_BOOL: return t == SQLITE_INTEGER;
    case ESYNC_T_FLOAT: return t == SQLITE_FLOAT; /* a non-finite float's text: SQLite's path */
    case ESYNC_T_BYTEA: return t == SQLITE_BLOB;
    default: return t == SQLITE_TEXT;
    }
}

typedef struct scratch {
    int *order;          /* the record's columns: the key's, then the others */
    unsigned char *seen; /* per column */
    esync_val *vals;     /* per column */
    esync_val *prev;     /* the previous row's key */
    uint64_t *st;        /* put_record's */
    size_t *lens;
} scratch;

/* The records of the rows of ms, in order, into `leaves`; the rows' count into *count. */
static int make_records(const esync_msgs *ms, const esync_schema *sc, scratch *x, level *leaves,
                        int64_t *count, char *err, size_t errlen) {
    int ncols = sc->ncols, rc = ESYNC_OK;
    esync_buf keybuf;
    esync__buf_init(&keybuf);
    bool have_prev = false;
    for (size_t i = 0; i < ms->n && !rc; i++) {
        const esync_msg *m = &ms->m[i];
        if (m->op_kind == ESYNC_JSON_ABSENT) continue; /* control messages */
        if (!esync__msg_is_insert(m) || m->value_kind != ESYNC_JSON_OBJECT) {
            rc = ESYNC_IMAGE_NOT_DIRECT; /* the SQLite path says what is wrong */
            break;
        }
        memset(x->seen, 0, (size_t)ncols);
        memset(x->vals, 0, (size_t)ncols * sizeof *x->vals);
        int expect = 0; /* fields usually come in schema order: the next column first */
        for (uint32_t k = 0; k < m->nfields && !rc; k++) {
            const esync_field *fl = &ms->f[m->field0 + k];
            int c = expect < ncols && !strcmp(sc->cols[expect].name, fl->name)
                        ? expect
                        : esync__schema_find(sc, fl->name);
            expect = c + 1;
            if (c < 0 || x->seen[c] ||
                (fl->kind != ESYNC_JSON_STRING && fl->kind != ESYNC_JSON_NULL))
                rc = ESYNC_IMAGE_NOT_DIRECT;
            else if (esync__val_convert(&sc->cols[c],
                                        fl->kind == ESYNC_JSON_STRING ? fl->text : NULL,
                                        &x->vals[c], err, errlen))
                rc = ESYNC_IMAGE_NOT_DIRECT;
            else
                x->seen[c] = 1;
        }
        /* a column absent from the message is NULL, as the engine would store it */
        for (int c = 0; c < ncols && !rc; c++) {
            if (!x->seen[c] && esync__val_convert(&sc->cols[c], NULL, &x->vals[c], err, errlen))
                rc = ESYNC_IMAGE_NOT_DIRECT;
            else if (!keeps_class(&sc->cols[c], x->vals[c].type))
                rc = ESYNC_IMAGE_NOT_DIRECT;
        }
        /* the key: no NULL, and strictly after the previous row's */
        int order = have_prev ? 0 : -1;
        for (int k = 0; k < sc->npk && !rc; k++) {
            const esync_val *v = &x->vals[sc->pk[k]];
            if (v->type == SQLITE_NULL)
                rc = ESYNC_IMAGE_NOT_DIRECT;
            else if (!order)
                order = key_cmp(&x->prev[k], v);
        }
        if (!rc && order != -1) rc = ESYNC_IMAGE_NOT_DIRECT; /* out of order, or a key twice */
        if (!rc) {
            size_t at = leaves->data.len;
            level_push(leaves, NULL, 0);
            put_record(&leaves->data, x->vals, x->order, ncols, x->st, x->lens);
            if (level_oom(leaves))
                rc = ESYNC_ENOMEM;
            else if (leaves->data.len - at > MAX_LOCAL)
                rc = ESYNC_IMAGE_NOT_DIRECT;
        }
        /* the key kept for the next row's comparison, its text and blobs copied */
        if (!rc) {
            esync__buf_reset(&keybuf);
            for (int k = 0; k < sc->npk; k++) {
                const esync_val *v = &x->vals[sc->pk[k]];
                if (v->type == SQLITE_TEXT || v->type == SQLITE_BLOB)
                    esync__buf_append(&keybuf, v->p, v->n);
            }
            if (keybuf.oom) rc = ESYNC_ENOMEM;
            size_t off = 0;
            for (int k = 0; k < sc->npk && !rc; k++) {
                x->prev[k] = x->vals[sc->pk[k]];
                x->prev[k].owned = NULL;
                if (x->prev[k].type == SQLITE_TEXT || x->prev[k].type == SQLITE_BLOB) {
                    x->prev[k].p = keybuf.data + off;
                    off += x->prev[k].n;
                }
            }
            have_prev = true;
            (*count)++;
        }
        for (int c = 0; c < ncols; c++) esync__val_clear(&x->vals[c]);
    }
    esync__buf_free(&keybuf);
    return rc;
}

/* The b-tree of the records of `leaves` (consumed) after page 1; its root page into *root. */
static int write_tree(file *f, level *leaves, uint32_t *root) {
    int rc = ESYNC_OK;
    level cur = *leaves;
    level_init(leaves);
    esync_buf children, pages; /* the page numbers of the level below, and of this one */
    esync__buf_init(&children);
    esync__buf_init(&pages);
    if (!level_n(&cur)) { /* no rows: an empty leaf */
        if (!write_page(f, &cur, 0, 0, NULL, 0)) rc = ESYNC_ENOMEM;
        *root = f->pages;
    }
    while (!rc && level_n(&cur)) {
        level up;
        level_init(&up);
        esync__buf_reset(&pages);
        const uint32_t *below = children.len ? (const uint32_t *)(const void *)children.data : NULL;
        rc = write_level(f, &cur, below, &up, &pages);
        level_free(&cur);
        cur = up;
        esync_buf t = children;
        children = pages;
        pages = t;
        if (!rc && children.len == sizeof *root) { /* one page: the root */
            memcpy(root, children.data, sizeof *root);
            break;
        }
    }
    esync__buf_free(&children);
    esync__buf_free(&pages);
    level_free(&cur);
    return rc;
}

/* Page 1: the database header and sqlite_schema's one row (rowid 1): the table `shape`. */
static int write_schema(file *f, const esync_schema *sc, uint32_t root) {
    esync_buf ddl, sql, rec;
    esync__buf_init(&ddl);
    esync__buf_init(&sql);
    esync__buf_init(&rec);
    esync__schema_ddl(sc, "x", "shape", &ddl);
    /* SQLite keeps "CREATE TABLE " and the statement from the table's unqualified name on */
    const char *name = ddl.data ? strstr(ddl.data, "x.") : NULL;
    esync__buf_puts(&sql, "CREATE TABLE ");
    if (name) esync__buf_puts(&sql, name + 2);
    esync_val sv[5] = {
        {.type = SQLITE_TEXT, .p = "table", .n = 5},
        {.type = SQLITE_TEXT, .p = "shape", .n = 5},
        {.type = SQLITE_TEXT, .p = "shape", .n = 5},
        {.type = SQLITE_INTEGER, .i = root},
        {.type = SQLITE_TEXT, .p = sql.data, .n = sql.len},
    };
    static const int so[5] = {0, 1, 2, 3, 4};
    uint64_t st[5];
    size_t lens[5];
    put_record(&rec, sv, so, 5, st, lens);
    int rc = ddl.oom || sql.oom || rec.oom || !name ? ESYNC_ENOMEM : ESYNC_OK;
    if (!rc && rec.len + 32 > PAGE - 100 - 8) rc = ESYNC_IMAGE_NOT_DIRECT;
    if (!rc) {
        uint8_t *p = (uint8_t *)f->b.data;
        memcpy(p, "SQLite format 3", 16);
        put16(p + 16, PAGE);
        p[18] = 1; /* a rollback journal's file, as SQLite's path leaves it */
        p[19] = 1;
        p[21] = 64; /* the payload fractions, fixed */
        p[22] = 32;
        p[23] = 32;
        put32(p + 24, 1);        /* file change counter */
        put32(p + 28, f->pages); /* the size in pages, valid as 92 equals 24 */
        put32(p + 40, 1);        /* schema cookie */
        put32(p + 44, 4);        /* schema format */
        put32(p + 56, 1);        /* UTF-8 */
        put32(p + 92, 1);
        put32(p + 96, SQLITE_VERSION_NUMBER);
        uint8_t *h = p + 100; /* a table b-tree leaf with one cell */
        uint8_t head[20];
        int a = put_varint(head, rec.len);
        a += put_varint(head + a, 1);
        size_t top = PAGE - (size_t)a - rec.len;
        memcpy(p + top, head, (size_t)a);
        memcpy(p + top + a, rec.data, rec.len);
        h[0] = 0x0d;
        put16(h + 3, 1);
        put16(h + 5, (unsigned)top);
        put16(h + 8, (unsigned)top);
    }
    esync__buf_free(&ddl);
    esync__buf_free(&sql);
    esync__buf_free(&rec);
    return rc;
}

int esync__image_write(const esync_msgs *ms, const esync_schema *sc, const char *path,
                       int64_t *rows, char *err, size_t errlen) {
    if (!sc->npk || sc->ncols <= 0) return ESYNC_IMAGE_NOT_DIRECT;
    size_t nc = (size_t)sc->ncols;
    scratch x = {
        .order = esync__malloc(nc * sizeof *x.order),
        .seen = esync__malloc(nc),
        .vals = esync__malloc(nc * sizeof *x.vals),
        .prev = esync__malloc((size_t)sc->npk * sizeof *x.prev),
        .st = esync__malloc(nc * sizeof *x.st),
        .lens = esync__malloc(nc * sizeof *x.lens),
    };
    level leaves;
    file f = {0};
    level_init(&leaves);
    esync__buf_init(&f.b);
    int64_t count = 0;
    uint32_t root = 0;
    int rc = x.order && x.seen && x.vals && x.prev && x.st && x.lens ? ESYNC_OK : ESYNC_ENOMEM;
    if (!rc) {
        int n = 0;
        memset(x.seen, 0, nc);
        for (int k = 0; k < sc->npk; k++) {
            x.order[n++] = sc->pk[k];
            x.seen[sc->pk[k]] = 1;
        }
        for (int c = 0; c < sc->ncols; c++)
            if (!x.seen[c]) x.order[n++] = c;
        rc = make_records(ms, sc, &x, &leaves, &count, err, errlen);
    }
    if (!rc && !new_page(&f)) rc = ESYNC_ENOMEM; /* page 1, written last */
    if (!rc) rc = write_tree(&f, &leaves, &root);
    if (!rc) rc = write_schema(&f, sc, root);
    if (!rc && f.b.oom) rc = ESYNC_ENOMEM;
    if (!rc) {
        FILE *out = fopen(path, "wb");
        bool ok = out && fwrite(f.b.data, 1, f.b.len, out) == f.b.len;
        if (out && fclose(out)) ok = false;
        if (!ok) {
            if (err && errlen) snprintf(err, errlen, "image: cannot write %s", path);
            remove(path);
            rc = ESYNC_ESQLITE;
        }
    }
    if (rc == ESYNC_IMAGE_NOT_DIRECT && err && errlen) err[0] = 0;
    level_free(&leaves);
    esync__buf_free(&f.b);
    esync__freemem(x.order);
    esync__freemem(x.seen);
    esync__freemem(x.vals);
    esync__freemem(x.prev);
    esync__freemem(x.st);
    esync__freemem(x.lens);
    if (!rc && rows) *rows = count;
    return rc;
}
