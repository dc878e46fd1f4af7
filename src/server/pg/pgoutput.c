/* pgoutput protocol 1 and replication CopyData framing (see pgoutput.h).
 *
 * A cursor (p, end) walks the buffer; every read checks the remaining length first and sets the
 * cursor's error flag instead of reading past the end. Decoders check the flag once at the end,
 * and also require that the whole message was consumed.
 */
#include "pg/pgoutput.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

typedef struct cur {
    const uint8_t *p, *end;
    int bad;
} cur;

static uint64_t rd(cur *c, size_t n) {
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = (v << 8) | c->p[i];
    c->p += n;
    return v;
}

static const char *rd_str(cur *c) {
    if (c->bad) return "";
    const uint8_t *z = memchr(c->p, 0, (size_t)(c->end - c->p));
    if (!z) {
        c->bad = 1;
        return "";
    }
    const char *s = (const char *)c->p;
    c->p = z + 1;
    return s;
}

static void wr(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

int esync_pgo_frame_decode(const uint8_t *buf, size_t len, esync_pgo_frame *f) {
    memset(f, 0, sizeof *f);
    if (len < 1) return -1;
    cur c = {buf + 1, buf + len, 0};
    f->kind = (char)buf[0];
    if (f->kind == 'w') {
        f->wal_start = rd(&c, 8);
        f->wal_end = rd(&c, 8);
        f->send_time = (int64_t)rd(&c, 8);
        if (c.bad) return -1;
        f->payload = c.p;
        f->payload_len = (size_t)(c.end - c.p);
        return 0;
    }
    if (f->kind == 'k') {
        f->wal_end = rd(&c, 8);
        f->send_time = (int64_t)rd(&c, 8);
        f->reply_requested = (int)rd(&c, 1);
        return c.bad || c.p != c.end ? -1 : 0;
    }
    return -1;
}

size_t esync_pgo_status_update(uint8_t out[34], uint64_t written, uint64_t flushed,
                               uint64_t applied, int64_t now_pg_us, int reply_requested) {
    out[0] = 'r';
    wr(out + 1, written, 8);
    wr(out + 9, flushed, 8);
    wr(out + 17, applied, 8);
    wr(out + 25, (uint64_t)now_pg_us, 8);
    out[33] = reply_requested ? 1 : 0;
    return 34;
}

static esync_pgo_value *vals(esync_pgo_msg *m, size_t n) {
    if (n > m->val_cap) {
        size_t cap = m->val_cap ? m->val_cap : 16;
        while (cap < n) cap *= 2;
        m->val_buf = esync__xrealloc(m->val_buf, cap * sizeof *m->val_buf);
        m->val_cap = cap;
    }
    return m->val_buf;
}

/* Reads a TupleData into vals[base .. base+ncols). The value array may move while the second
 * tuple of an update is read, so tuples record their base and are pointed at the array after. */
static void rd_tuple(cur *c, esync_pgo_msg *m, size_t base, uint16_t *ncols_out) {
    uint16_t n = (uint16_t)rd(c, 2);
    if (c->bad) return;
    /* Each column takes at least one byte: refuse counts the buffer cannot hold before
     * allocating for them. */
    if ((size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return;
    }
    esync_pgo_value *v = vals(m, base + n) + base;
    for (uint16_t i = 0; i < n && !c->bad; i++) {
        char kind = (char)rd(c, 1);
        v[i].kind = kind;
        v[i].len = 0;
        v[i].data = NULL;
        if (kind == 't' || kind == 'b') {
            uint32_t l = (uint32_t)rd(c, 4);
            if (c->bad || (size_t)(c->end - c->p) < l) {
                c->bad = 1;
                return;
            }
            v[i].len = l;
            v[i].data = (const char *)c->p;
            c->p += l;
        } else if (kind != 'n' && kind != 'u') {
            c->bad = 1;
        }
    }
    *ncols_out = n;
}

static int decode_change(cur *c, esync_pgo_msg *m) {
    uint16_t nold = 0, nnew = 0;
    size_t old_base = 0, new_base = 0;
    m->u.change.relid = (uint32_t)rd(c, 4);
    m->u.change.old_kind = 0;
    char t = (char)rd(c, 1);
    if (m->tag == 'I') {
        if (t != 'N') return -1;
        rd_tuple(c, m, 0, &nnew);
    } else if (m->tag == 'U') {
        if (t == 'K' || t == 'O') {
            m->u.change.old_kind = t;
            rd_tuple(c, m, 0, &nold);
            new_base = nold;
            t = (char)rd(c, 1);
        }
        if (t != 'N') return -1;
        rd_tuple(c, m, new_base, &nnew);
    } else { /* 'D' */
        if (t != 'K' && t != 'O') return -1;
        m->u.change.old_kind = t;
        rd_tuple(c, m, 0, &nold);
    }
    if (c->bad) return -1;
    m->u.change.old_tuple.ncols = nold;
    m->u.change.old_tuple.cols = nold ? m->val_buf + old_base : NULL;
    m->u.change.new_tuple.ncols = nnew;
    m->u.change.new_tuple.cols = nnew ? m->val_buf + new_base : NULL;
    return 0;
}

int esync_pgo_decode(const uint8_t *buf, size_t len, esync_pgo_msg *m) {
    if (len < 1) return -1;
    cur c = {buf + 1, buf + len, 0};
    m->tag = (char)buf[0];
    switch (m->tag) {
    case 'B':
        m->u.begin.final_lsn = rd(&c, 8);
        m->u.begin.commit_ts = (int64_t)rd(&c, 8);
        m->u.begin.xid = (uint32_t)rd(&c, 4);
        break;
    case 'C':
        m->u.commit.flags = (uint8_t)rd(&c, 1);
        m->u.commit.commit_lsn = rd(&c, 8);
        m->u.commit.end_lsn = rd(&c, 8);
        m->u.commit.commit_ts = (int64_t)rd(&c, 8);
        break;
    case 'O':
        m->u.origin.lsn = rd(&c, 8);
        m->u.origin.name = rd_str(&c);
        break;
    case 'R': {
        m->u.relation.oid = (uint32_t)rd(&c, 4);
        m->u.relation.nspname = rd_str(&c);
        m->u.relation.relname = rd_str(&c);
        m->u.relation.replident = (char)rd(&c, 1);
        uint16_t n = (uint16_t)rd(&c, 2);
        if (c.bad) return -1;
        /* a column is at least 10 bytes (flags, empty name, type, typmod) */
        if ((size_t)(c.end - c.p) / 10 < n) return -1;
        if (n > m->col_cap) {
            m->col_buf = esync__xrealloc(m->col_buf, n * sizeof *m->col_buf);
            m->col_cap = n;
        }
        for (uint16_t i = 0; i < n && !c.bad; i++) {
            m->col_buf[i].flags = (uint8_t)rd(&c, 1);
            m->col_buf[i].name = rd_str(&c);
            m->col_buf[i].type_oid = (uint32_t)rd(&c, 4);
            m->col_buf[i].typmod = (int32_t)(uint32_t)rd(&c, 4);
        }
        m->u.relation.ncols = n;
        m->u.relation.cols = m->col_buf;
        break;
    }
    case 'Y':
        m->u.type.oid = (uint32_t)rd(&c, 4);
        m->u.type.nspname = rd_str(&c);
        m->u.type.typname = rd_str(&c);
        break;
    case 'I':
    case 'U':
    case 'D':
        if (decode_change(&c, m) != 0) return -1;
        break;
    case 'T': {
        uint32_t n = (uint32_t)rd(&c, 4);
        m->u.truncate.options = (uint8_t)rd(&c, 1);
        if (c.bad || (size_t)(c.end - c.p) / 4 < n || (size_t)(c.end - c.p) != (size_t)n * 4)
            return -1;
        m->u.truncate.nrels = n;
        m->u.truncate.relids_be = c.p;
        c.p += (size_t)n * 4;
        break;
    }
    case 'M': {
        m->u.message.flags = (uint8_t)rd(&c, 1);
        m->u.message.lsn = rd(&c, 8);
        m->u.message.prefix = rd_str(&c);
        uint32_t n = (uint32_t)rd(&c, 4);
        if (c.bad || (size_t)(c.end - c.p) != n) return -1;
        m->u.message.len = n;
        m->u.message.content = c.p;
        c.p += n;
        break;
    }
    default: return -1;
    }
    return c.bad || c.p != c.end ? -1 : 0;
}

uint32_t esync_pgo_truncate_relid(const esync_pgo_msg *m, uint32_t i) {
    const uint8_t *p = m->u.truncate.relids_be + (size_t)i * 4;
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void esync_pgo_msg_free(esync_pgo_msg *m) {
    free(m->col_buf);
    free(m->val_buf);
    memset(m, 0, sizeof *m);
}

void esync_pgo_lsn_text(uint64_t lsn, char *buf, size_t n) {
    snprintf(buf, n, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xffffffffu));
}

int esync_pgo_lsn_parse(const char *s, uint64_t *lsn) {
    unsigned hi, lo;
    int used = 0;
    if (!s || sscanf(s, "%8X/%8X%n", &hi, &lo, &used) != 2 || s[used] != '\0') return -1;
    *lsn = ((uint64_t)hi << 32) | lo;
    return 0;
}
