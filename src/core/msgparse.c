/*
 * msgparse.c — reading JSON. Mostly the hot path's reader: a shape response body (a JSON array
 * of messages) into a flat list of messages whose strings point into one mutable copy of the
 * body. At the end, esync__json_parse: cJSON for the small JSON, held to the whole input.
 *
 * Why not cJSON here: a cJSON tree costs two allocations per value and a string compare per field
 * lookup, which was most of the time of an initial sync. This reader copies the body once,
 * unescapes strings in place (unescaping never lengthens a string, and the closing quote becomes
 * the NUL terminator) and allocates only the two growing arrays below.
 *
 * It is a strict RFC 8259 parser (whole body validated before anything is applied) that also
 * rejects invalid UTF-8 and \u0000 (Postgres text cannot hold NUL, and a C string would silently
 * cut it). Everything it accepts, cJSON accepts too; fuzz/core_ingest.c checks that.
 */
#include "msgparse.h"

#include "alloc.h"
#include "esync.h"

#include <cJSON.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 256

typedef struct parser {
    char *p, *end;
    esync_msgs *out;
    int depth;
} parser;

static void ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t n;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        min = 0x10000;
    } else
        return 0;
    if ((size_t)(end - p) < n) return 0;
    unsigned cp = c & (0xFF >> (n + 1));
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

/* Whether any of the 8 bytes at p is a control character, '"', '\\' or not ASCII (SWAR: a byte's
 * high bit in each term marks it; the terms are exact for bytes below 0x80, and the last one
 * catches the others). */
static bool special8(const char *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t t = (x - ones * 0x20) | (q - ones) | (b - ones);
    return ((t & ~x) | x) & high;
}

/* At '"'. Unescapes in place; returns the NUL-terminated string or NULL on a syntax error. */
static char *string(parser *ps) {
    char *start = ++ps->p, *w = NULL;
    for (;;) {
        /* fast scan of plain ASCII: eight bytes at a time while none of them ends the run */
        char *q = ps->p;
        while (ps->end - q >= 8 && !special8(q)) q += 8;
        while (q < ps->end && (unsigned char)*q >= 0x20 && *q != '"' && *q != '\\' &&
               (unsigned char)*q < 0x80)
            q++;
        if (w && q > ps->p) {
            memmove(w, ps->p, (size_t)(q - ps->p));
            w += q - ps->p;
        }
        ps->p = q;
        if (q >= ps->end) return NULL;
        unsigned char c = (unsigned char)*q;
        if (c == '"') {
            char *term = w ? w : q;
            ps->p = q + 1;
            *term = 0;
            return start;
        }
        if (c < 0x20) return NULL;
        if (c >= 0x80) {
            size_t n = utf8_seq((const unsigned char *)q, (const unsigned char *)ps->end);
            if (!n) return NULL;
            if (w) {
                memmove(w, q, n);
                w += n;
            }
            ps->p = q + n;
            continue;
        }
        /* backslash */
        if (!w) w = q;
        if (ps->end - q < 2) return NULL;
        char esc = q[1];
        ps->p = q + 2;
        switch (esc) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u': {
            unsigned cp;
            if (ps->end - ps->p < 4 || hex4(ps->p, &cp)) return NULL;
            ps->p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return NULL;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
                    hex4(ps->p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return NULL;
                ps->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) return NULL;
            /* at most 4 bytes out for 6 (or 12) in: in-place writing stays behind the reader */
            if (cp < 0x80)
                *w++ = (char)cp;
            else if (cp < 0x800) {
                *w++ = (char)(0xC0 | cp >> 6);
                *w++ = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *w++ = (char)(0xE0 | cp >> 12);
                *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *w++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *w++ = (char)(0xF0 | cp >> 18);
                *w++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *w++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: return NULL;
        }
    }
}

static bool digits(parser *ps) {
    char *s = ps->p;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    return ps->p > s;
}

static bool number(parser *ps) {
    if (ps->p < ps->end && *ps->p == '-') ps->p++;
    if (ps->p < ps->end && *ps->p == '0')
        ps->p++;
    else if (!digits(ps))
        return false;
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (!digits(ps)) return false;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
        if (!digits(ps)) return false;
    }
    return true;
}

static bool literal(parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n)) return false;
    ps->p += n;
    return true;
}

static bool value(parser *ps, esync_json_kind *kind, char **str);

/* Walks an object; for each member calls member(ps, name, ud) positioned at the value, which
 * must consume it. */
typedef bool (*member_fn)(parser *ps, const char *name, void *ud);

static bool object(parser *ps, member_fn member, void *ud) {
    if (++ps->depth > MAX_DEPTH) return false;
    ps->p++; /* '{' */
    ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        ps->depth--;
        return true;
    }
    for (;;) {
        ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') return false;
        char *name = string(ps);
        if (!name) return false;
        ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') return false;
        ps->p++;
        ws(ps);
        if (!member(ps, name, ud)) return false;
        ws(ps);
        if (ps->p >= ps->end) return false;
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == '}') {
            ps->p++;
            break;
        }
        return false;
    }
    ps->depth--;
    return true;
}

static bool skip_member(parser *ps, const char *name, void *ud) {
    (void)name;
    (void)ud;
    esync_json_kind k;
    char *s;
    return value(ps, &k, &s);
}

static bool value(parser *ps, esync_json_kind *kind, char **str) {
    *str = NULL;
    if (ps->p >= ps->end) return false;
    switch (*ps->p) {
    case '"': *kind = ESYNC_JSON_STRING; return (*str = string(ps)) != NULL;
    case '{': *kind = ESYNC_JSON_OBJECT; return object(ps, skip_member, NULL);
    case '[': {
        *kind = ESYNC_JSON_OTHER;
        if (++ps->depth > MAX_DEPTH) return false;
        ps->p++;
        ws(ps);
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            ps->depth--;
            return true;
        }
        for (;;) {
            ws(ps);
            esync_json_kind k;
            char *s;
            if (!value(ps, &k, &s)) return false;
            ws(ps);
            if (ps->p >= ps->end) return false;
            if (*ps->p == ',') {
                ps->p++;
                continue;
            }
            if (*ps->p == ']') {
                ps->p++;
                break;
            }
            return false;
        }
        ps->depth--;
        return true;
    }
    case 'n': *kind = ESYNC_JSON_NULL; return literal(ps, "null");
    case 't': *kind = ESYNC_JSON_OTHER; return literal(ps, "true");
    case 'f': *kind = ESYNC_JSON_OTHER; return literal(ps, "false");
    default: *kind = ESYNC_JSON_OTHER; return number(ps);
    }
}

/* ---- messages ---- */

static esync_field *add_field(esync_msgs *m) {
    if (m->nf == m->capf) {
        size_t cap = m->capf ? m->capf * 2 : 256;
        esync_field *f = esync__realloc(m->f, cap * sizeof *f);
        if (!f) return NULL;
        m->f = f;
        m->capf = cap;
    }
    return &m->f[m->nf++];
}

typedef struct msg_ctx {
    esync_msgs *out;
    esync_msg *msg;
    bool oom;
} msg_ctx;

static bool value_member(parser *ps, const char *name, void *ud) {
    msg_ctx *c = ud;
    esync_json_kind k;
    char *s;
    if (!value(ps, &k, &s)) return false;
    esync_field *f = add_field(c->out);
    if (!f) {
        c->oom = true;
        return false;
    }
    f->name = name;
    f->text = s;
    f->kind = (uint8_t)k;
    return true;
}

bool esync__txid_parse(const char *s, size_t n, int64_t *out) {
    if (!n) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > (uint64_t)INT64_MAX) return false;
    }
    *out = (int64_t)v;
    return true;
}

static bool add_txid(esync_msgs *m, int64_t v) {
    if (m->ntx == m->captx) {
        size_t cap = m->captx ? m->captx * 2 : 64;
        int64_t *t = esync__realloc(m->tx, cap * sizeof *t);
        if (!t) return false;
        m->tx = t;
        m->captx = cap;
    }
    m->tx[m->ntx++] = v;
    return true;
}

/* headers.txids: validated as JSON like any value, and its elements kept when they are
 * transaction ids (a number token or a string of decimal digits). */
static bool txids_member(parser *ps, msg_ctx *c) {
    esync_msg *m = c->msg;
    esync_json_kind k;
    char *s;
    m->has_txids = true;
    if (ps->p >= ps->end || *ps->p != '[') {
        if (!value(ps, &k, &s)) return false;
        if (k != ESYNC_JSON_NULL) m->txids_bad = true; /* null counts as none */
        return true;
    }
    if (++ps->depth > MAX_DEPTH) return false;
    ps->p++;
    ws(ps);
    m->txid0 = (uint32_t)c->out->ntx;
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        ps->depth--;
        return true;
    }
    for (;;) {
        ws(ps);
        char *start = ps->p;
        if (!value(ps, &k, &s)) return false;
        int64_t v;
        bool ok = k == ESYNC_JSON_STRING  ? esync__txid_parse(s, strlen(s), &v)
                  : k == ESYNC_JSON_OTHER ? esync__txid_parse(start, (size_t)(ps->p - start), &v)
                                          : false;
        if (!ok)
            m->txids_bad = true;
        else if (!add_txid(c->out, v)) {
            c->oom = true;
            return false;
        } else
            m->ntxids++;
        ws(ps);
        if (ps->p >= ps->end) return false;
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == ']') {
            ps->p++;
            break;
        }
        return false;
    }
    ps->depth--;
    return true;
}

static bool header_member(parser *ps, const char *name, void *ud) {
    msg_ctx *c = ud;
    /* a repeated "txids" keeps the first, like cJSON's lookup */
    if (name[0] == 't' && !strcmp(name, "txids") && !c->msg->has_txids) return txids_member(ps, c);
    esync_json_kind k;
    char *s;
    if (!value(ps, &k, &s)) return false;
    if (!strcmp(name, "operation")) {
        c->msg->op = s;
        c->msg->op_kind = (uint8_t)k;
    } else if (!strcmp(name, "control")) {
        c->msg->control = s;
        c->msg->control_kind = (uint8_t)k;
    }
    return true;
}

static bool message_member(parser *ps, const char *name, void *ud) {
    msg_ctx *c = ud;
    esync_msg *m = c->msg;
    bool is_obj = ps->p < ps->end && *ps->p == '{';
    if (!strcmp(name, "value") && is_obj) {
        /* a repeated "value" keeps the first, like cJSON's lookup */
        if (m->value_kind == ESYNC_JSON_OBJECT) return object(ps, skip_member, NULL);
        m->value_kind = ESYNC_JSON_OBJECT;
        m->field0 = (uint32_t)c->out->nf;
        bool ok = object(ps, value_member, c);
        m->nfields = (uint32_t)(c->out->nf - m->field0);
        return ok;
    }
    if (!strcmp(name, "headers") && is_obj) {
        if (m->headers_kind == ESYNC_JSON_OBJECT) return object(ps, skip_member, NULL);
        m->headers_kind = ESYNC_JSON_OBJECT;
        return object(ps, header_member, c);
    }
    esync_json_kind k;
    char *s;
    if (!value(ps, &k, &s)) return false;
    if (!strcmp(name, "key") && !m->key_kind) {
        m->key = s;
        m->key_kind = (uint8_t)k;
    } else if (!strcmp(name, "value") && !m->value_kind)
        m->value_kind = (uint8_t)k;
    else if (!strcmp(name, "headers") && !m->headers_kind)
        m->headers_kind = (uint8_t)k;
    return true;
}

void esync__msgs_free(esync_msgs *m) {
    esync__freemem(m->m);
    esync__freemem(m->f);
    esync__freemem(m->tx);
    esync__freemem(m->buf);
    memset(m, 0, sizeof *m);
}

int esync__msgs_parse(esync_msgs *out, const uint8_t *body, size_t len, size_t *err_at) {
    memset(out, 0, sizeof *out);
    char *copy = esync__malloc(len + 1);
    if (!copy) return ESYNC_ENOMEM;
    memcpy(copy, body, len);
    copy[len] = 0;
    int rc = esync__msgs_parse_inplace(out, (uint8_t *)copy, len, err_at);
    if (rc == ESYNC_OK)
        out->buf = copy; /* owned: freed with the messages */
    else
        esync__freemem(copy);
    return rc;
}

int esync__msgs_parse_inplace(esync_msgs *out, uint8_t *body, size_t len, size_t *err_at) {
    memset(out, 0, sizeof *out);
    char *text = (char *)body;
    parser ps = {text, text + len, out, 0};
    bool ok;
    bool oom = false;
    ws(&ps);
    if (ps.p < ps.end && *ps.p == '[') {
        out->is_array = true;
        ps.p++;
        ws(&ps);
        ok = true;
        if (ps.p < ps.end && *ps.p == ']')
            ps.p++;
        else {
            for (;;) {
                ws(&ps);
                if (out->n == out->cap) {
                    size_t cap = out->cap ? out->cap * 2 : 64;
                    esync_msg *mm = esync__realloc(out->m, cap * sizeof *mm);
                    if (!mm) {
                        oom = true;
                        ok = false;
                        break;
                    }
                    out->m = mm;
                    out->cap = cap;
                }
                esync_msg *m = &out->m[out->n++];
                memset(m, 0, sizeof *m);
                if (ps.p < ps.end && *ps.p == '{') {
                    m->is_object = true;
                    msg_ctx c = {out, m, false};
                    ok = object(&ps, message_member, &c);
                    if (c.oom) oom = true;
                } else {
                    esync_json_kind k;
                    char *s;
                    ok = value(&ps, &k, &s);
                }
                if (!ok) break;
                ws(&ps);
                if (ps.p >= ps.end) {
                    ok = false;
                    break;
                }
                if (*ps.p == ',') {
                    ps.p++;
                    continue;
                }
                if (*ps.p == ']') {
                    ps.p++;
                    break;
                }
                ok = false;
                break;
            }
        }
    } else {
        esync_json_kind k;
        char *s;
        ok = value(&ps, &k, &s);
    }
    if (ok) {
        ws(&ps);
        ok = ps.p == ps.end;
    }
    if (!ok) {
        if (err_at) *err_at = (size_t)(ps.p - text);
        esync__msgs_free(out);
        return oom ? ESYNC_ENOMEM : ESYNC_EJSON;
    }
    return ESYNC_OK;
}

/* ---- small JSON through cJSON ---- */

struct cJSON *esync__json_parse(const char *s, size_t n, size_t *err_at) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    size_t at = end ? (size_t)(end - s) : 0;
    if (j) {
        while (at < n && (s[at] == ' ' || s[at] == '\n' || s[at] == '\t' || s[at] == '\r')) at++;
        if (at != n) {
            cJSON_Delete(j);
            j = NULL;
        }
    }
    if (!j && err_at) *err_at = at;
    return j;
}
