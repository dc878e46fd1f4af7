/* Unit tests of the shape service's pure modules: pgoutput decoding (every message kind, and
 * truncated/trailing input), the standby status update, offsets and request parameters (every 400
 * of docs/protocol.md §1.3 that needs no catalog), change conversion (§2.4.2 / §7.3, the
 * cases of §8.9-16), the snapshot xid filter (modulo 2^32), and the shape log files (append,
 * reopen, torn tail, chunks). */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <zlib.h>

#include "common.h"
#include "pg/pgoutput.h"
#include "sbuf.h"
#include "shape/msg.h"
#include "shape/params.h"
#include "shape/gzip.h"
#include "shape/serve.h"
#include "shape/storage.h"
#include "shape/snapshot.h"

static int failures;
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || strcmp(a_, b_) != 0) {                                                          \
            fprintf(stderr, "%s:%d: got\n  %s\nwant\n  %s\n", __FILE__, __LINE__,                  \
                    a_ ? a_ : "(null)", b_);                                                       \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* --- pgoutput ---------------------------------------------------------------------------------- */

typedef struct wbuf {
    uint8_t b[4096];
    size_t n;
} wbuf;
static void w8(wbuf *w, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; i--) w->b[w->n++] = (uint8_t)(v >> (8 * i));
}
static void ws(wbuf *w, const char *s) {
    size_t l = strlen(s) + 1;
    memcpy(w->b + w->n, s, l);
    w->n += l;
}
static void wt(wbuf *w, const char *s) { /* a 't' column */
    w8(w, 't', 1);
    w8(w, strlen(s), 4);
    memcpy(w->b + w->n, s, strlen(s));
    w->n += strlen(s);
}

static void test_pgoutput(void) {
    esync_pgo_msg m = {0};
    wbuf w = {{0}, 0};
    w8(&w, 'B', 1);
    w8(&w, 0x16B3748, 8);
    w8(&w, 12345, 8);
    w8(&w, 751, 4);
    CHECK(esync_pgo_decode(w.b, w.n, &m) == 0 && m.tag == 'B' && m.u.begin.xid == 751 &&
          m.u.begin.final_lsn == 0x16B3748);
    CHECK(esync_pgo_decode(w.b, w.n - 1, &m) == -1); /* truncated */
    w.b[w.n] = 0;
    CHECK(esync_pgo_decode(w.b, w.n + 1, &m) == -1); /* trailing byte */

    w.n = 0;
    w8(&w, 'R', 1);
    w8(&w, 16384, 4);
    ws(&w, "public");
    ws(&w, "items");
    w8(&w, 'f', 1);
    w8(&w, 2, 2);
    w8(&w, 1, 1);
    ws(&w, "id");
    w8(&w, 23, 4);
    w8(&w, 0xffffffff, 4);
    w8(&w, 1, 1);
    ws(&w, "title");
    w8(&w, 25, 4);
    w8(&w, 0xffffffff, 4);
    CHECK(esync_pgo_decode(w.b, w.n, &m) == 0 && m.tag == 'R' && m.u.relation.ncols == 2);
    CHECK_STR(m.u.relation.cols[1].name, "title");
    CHECK(m.u.relation.cols[0].typmod == -1 && m.u.relation.replident == 'f');
    CHECK(esync_pgo_decode(w.b, w.n - 3, &m) == -1);

    /* Update with an old row, a NULL and an unchanged TOAST value */
    w.n = 0;
    w8(&w, 'U', 1);
    w8(&w, 16384, 4);
    w8(&w, 'O', 1);
    w8(&w, 3, 2);
    wt(&w, "1");
    wt(&w, "old");
    wt(&w, "big");
    w8(&w, 'N', 1);
    w8(&w, 3, 2);
    wt(&w, "1");
    w8(&w, 'n', 1);
    w8(&w, 'u', 1);
    CHECK(esync_pgo_decode(w.b, w.n, &m) == 0 && m.tag == 'U' && m.u.change.old_kind == 'O');
    CHECK(m.u.change.old_tuple.ncols == 3 && m.u.change.new_tuple.ncols == 3);
    CHECK(m.u.change.old_tuple.cols[1].len == 3 &&
          memcmp(m.u.change.old_tuple.cols[1].data, "old", 3) == 0);
    CHECK(m.u.change.new_tuple.cols[1].kind == 'n' && m.u.change.new_tuple.cols[2].kind == 'u');
    /* a column count larger than the bytes left is refused before allocating */
    w.n = 0;
    w8(&w, 'I', 1);
    w8(&w, 1, 4);
    w8(&w, 'N', 1);
    w8(&w, 60000, 2);
    CHECK(esync_pgo_decode(w.b, w.n, &m) == -1);
    /* a value length past the end */
    w.n = 0;
    w8(&w, 'I', 1);
    w8(&w, 1, 4);
    w8(&w, 'N', 1);
    w8(&w, 1, 2);
    w8(&w, 't', 1);
    w8(&w, 0x7fffffff, 4);
    CHECK(esync_pgo_decode(w.b, w.n, &m) == -1);

    w.n = 0;
    w8(&w, 'D', 1);
    w8(&w, 7, 4);
    w8(&w, 'K', 1);
    w8(&w, 1, 2);
    wt(&w, "9");
    CHECK(esync_pgo_decode(w.b, w.n, &m) == 0 && m.tag == 'D' && m.u.change.new_tuple.ncols == 0);

    w.n = 0;
    w8(&w, 'T', 1);
    w8(&w, 2, 4);
    w8(&w, 1, 1);
    w8(&w, 16384, 4);
    w8(&w, 16390, 4);
    CHECK(esync_pgo_decode(w.b, w.n, &m) == 0 && m.u.truncate.nrels == 2 &&
          esync_pgo_truncate_relid(&m, 1) == 16390);
    w8(&w, 0, 1);
    CHECK(esync_pgo_decode(w.b, w.n, &m) == -1);

    w.n = 0;
    w8(&w, 'C', 1);
    w8(&w, 0, 1);
    w8(&w, 100, 8);
    w8(&w, 140, 8);
    w8(&w, 5, 8);
    CHECK(esync_pgo_decode(w.b, w.n, &m) == 0 && m.u.commit.end_lsn == 140);

    w.n = 0;
    w8(&w, 'M', 1);
    w8(&w, 1, 1);
    w8(&w, 77, 8);
    ws(&w, "pfx");
    w8(&w, 2, 4);
    w8(&w, 0x6869, 2);
    CHECK(esync_pgo_decode(w.b, w.n, &m) == 0 && m.u.message.len == 2);
    w.n = 0;
    w8(&w, 'O', 1);
    w8(&w, 0xABCDEF, 8);
    ws(&w, "upstream_a");
    CHECK(esync_pgo_decode(w.b, w.n, &m) == 0 && strcmp(m.u.origin.name, "upstream_a") == 0);
    w.n = 0;
    w8(&w, 'Y', 1);
    w8(&w, 99999, 4);
    ws(&w, "public");
    ws(&w, "mood");
    CHECK(esync_pgo_decode(w.b, w.n, &m) == 0 && strcmp(m.u.type.typname, "mood") == 0);
    uint8_t bad[] = {'S', 0, 0, 0, 1, 1};
    CHECK(esync_pgo_decode(bad, sizeof bad, &m) == -1); /* stream start: never asked for */
    CHECK(esync_pgo_decode(bad, 0, &m) == -1);

    /* frames */
    esync_pgo_frame f;
    w.n = 0;
    w8(&w, 'k', 1);
    w8(&w, 0x1000, 8);
    w8(&w, 1, 8);
    w8(&w, 1, 1);
    CHECK(esync_pgo_frame_decode(w.b, w.n, &f) == 0 && f.kind == 'k' && f.wal_end == 0x1000 &&
          f.reply_requested == 1);
    CHECK(esync_pgo_frame_decode(w.b, w.n - 1, &f) == -1);
    w.n = 0;
    w8(&w, 'w', 1);
    w8(&w, 5, 8);
    w8(&w, 6, 8);
    w8(&w, 7, 8);
    w8(&w, 'B', 1);
    CHECK(esync_pgo_frame_decode(w.b, w.n, &f) == 0 && f.kind == 'w' && f.payload_len == 1 &&
          f.payload[0] == 'B' && f.wal_end == 6);
    uint8_t st[34];
    CHECK(esync_pgo_status_update(st, 1, 0x0102030405060708ULL, 3, 4, 1) == 34);
    CHECK(st[0] == 'r' && st[9] == 1 && st[16] == 8 && st[33] == 1);
    char lt[32];
    esync_pgo_lsn_text(0x16B3748, lt, sizeof lt);
    CHECK_STR(lt, "0/16B3748");
    uint64_t l;
    CHECK(esync_pgo_lsn_parse("1/A", &l) == 0 && l == 0x10000000AULL);
    CHECK(esync_pgo_lsn_parse("x", &l) == -1);
    esync_pgo_msg_free(&m);
}

/* --- params ------------------------------------------------------------------------------------ */

static char *parse_err(const char *spec) {
    /* "k=v&k2&..." into kv (no URL decoding here) */
    esync_params_kv kv[32];
    char *copy = strdup(spec), *save = NULL;
    size_t n = 0;
    for (char *tok = strtok_r(copy, "&", &save); tok && n < 32; tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        if (eq) *eq = '\0';
        kv[n].key = tok;
        kv[n].value = eq ? eq + 1 : NULL;
        n++;
    }
    esync_shape_req *q;
    char *secret, *err;
    int rc = esync__params_parse(kv, n, &q, &secret, &err);
    free(copy);
    free(secret); /* set on both paths */
    if (rc == 0) {
        esync_shape_req_free(q);
        return NULL;
    }
    return err;
}

static void expect_400(const char *spec, const char *errors) {
    char *e = parse_err(spec);
    char want[1024];
    snprintf(want, sizeof want, "{\"message\":\"Invalid request\",\"errors\":%s}", errors);
    CHECK_STR(e, want);
    free(e);
}

static void test_params(void) {
    expect_400("offset=-1", "{\"table\":[\"can't be blank\"]}");
    expect_400("table=.x&offset=-1", "{\"table\":[\"Invalid zero-length delimited identifier\"]}");
    expect_400("table=items&offset=invalid", "{\"offset\":[\"has invalid format\"]}");
    expect_400("table=items&offset=0_-1", "{\"offset\":[\"has invalid format\"]}");
    expect_400("table=items&offset=10", "{\"offset\":[\"has invalid format\"]}");
    expect_400("table=items&offset=1_2_3", "{\"offset\":[\"has invalid format\"]}");
    expect_400("table=items&offset=0_0", "{\"handle\":[\"can't be blank when offset != -1\"]}");
    expect_400("table=items&offset=-1&live=true",
               "{\"live\":[\"can't be true when offset == -1\"]}");
    expect_400("table=items&offset=-1&live", "{\"live\":[\"can't be true when offset == -1\"]}");
    expect_400("table=items&offset=now&live=true",
               "{\"live\":[\"can't be true when offset is 'now'\"]}");
    expect_400("table=items&offset=-1&live_sse=true",
               "{\"live_sse\":[\"can't be true unless live is also true\"]}");
    expect_400("table=items&offset=-1&columns=,,,",
               "{\"columns\":[\"Invalid zero-length delimited identifier\"]}");
    expect_400("table=items&offset=-1&where=x&params[a]=1",
               "{\"params\":[\"Parameters can only use numbers as keys\"]}");
    expect_400("table=items&offset=-1&where=x&params[2]=1",
               "{\"params\":[\"Parameters must be numbered sequentially, starting from 1\"]}");
    expect_400("table=items&offset=-1&replica=half", "{\"replica\":[\"is invalid\"]}");
    CHECK(parse_err("table=items&offset=-1&handle=x&live=false") == NULL);
    CHECK(parse_err("table=items&offset=0_02&handle=h&live") == NULL);
    CHECK(parse_err("table=items&offset=0_inf&handle=h") == NULL);
    CHECK(parse_err("table=foo.\"Bar\"&offset=now&columns=id,\"Weird, Col\"") == NULL);

    esync_params_kv kv[] = {{"table", "\"MyTable\""},   {"offset", "123_4"}, {"handle", "H"},
                            {"params[2]", "b"},         {"params[1]", "a"},  {"where", "x = $1"},
                            {"columns", "ID,\"Name\""}, {"replica", "full"}, {"secret", "s3"}};
    esync_shape_req *q;
    char *secret, *err;
    CHECK(esync__params_parse(kv, sizeof kv / sizeof kv[0], &q, &secret, &err) == 0);
    CHECK_STR(q->schema, "public");
    CHECK_STR(q->table, "MyTable");
    CHECK(q->kind == ESYNC_OFFSET_AT && q->offset.tx == 123 && q->offset.op == 4);
    CHECK(q->nparams == 2);
    CHECK_STR(q->params[0], "a");
    CHECK(q->ncolumns == 2);
    CHECK_STR(q->columns[0], "id");
    CHECK_STR(q->columns[1], "Name");
    CHECK(q->full && !q->live);
    CHECK_STR(secret, "s3");
    free(secret);
    esync_shape_req_free(q);

    esync_offset o;
    enum esync_offset_kind k;
    CHECK(esync__params_offset_parse("0_inf", &k, &o) == 0 && o.op == ESYNC_OP_INF);
    CHECK(esync__params_offset_parse("_1", &k, &o) == -1);
    CHECK(esync__params_offset_parse("1_", &k, &o) == -1);
    CHECK(esync__params_offset_parse("99999999999999999999999_1", &k, &o) == -1);
    char t[48];
    esync__storage_offset_text((esync_offset){24593000, 4}, t, sizeof t);
    CHECK_STR(t, "24593000_4");
    CHECK(esync__storage_offset_cmp((esync_offset){1, ESYNC_OP_INF}, (esync_offset){2, 0}) < 0);
}

/* --- change conversion ------------------------------------------------------------------------- */

static esync_table *table4(int npk) {
    /* items(id int4 pk, value1 text, value2 text, num int4) */
    static const char *names[] = {"id", "value1", "value2", "num"};
    static const char *types[] = {"int4", "text", "text", "int4"};
    esync_table *t = calloc(1, sizeof *t);
    t->refs = 1;
    t->schema = strdup("public");
    t->name = strdup("items");
    t->qname = strdup("public.items");
    t->ncols = 4;
    t->cols = calloc(4, sizeof *t->cols);
    t->pk = calloc(4, sizeof *t->pk);
    for (int i = 0; i < 4; i++) {
        t->cols[i].name = strdup(names[i]);
        t->cols[i].typname = strdup(types[i]);
        t->cols[i].pk_index = i == 0 && npk ? 0 : -1;
    }
    t->npk = npk;
    return t;
}

typedef struct rowv {
    const char *v[4];
    size_t len[4];
    esync_row r;
} rowv;
static esync_row *mkrow(rowv *x, const char *a, const char *b, const char *c, const char *d) {
    const char *in[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++) {
        x->v[i] = in[i];
        x->len[i] = in[i] ? strlen(in[i]) : 0;
    }
    x->r.v = x->v;
    x->r.len = x->len;
    return &x->r;
}

static char *change(const esync_shape_view *v, char op, esync_row *o, esync_row *n, int *count) {
    esync_sb out = {0};
    size_t ends[2];
    esync_offset offs[2];
    *count = esync__msg_change(&out, ends, offs, v, op, o, n, 24593000, 2, 751);
    if (*count) esync__msg_mark_last(&out);
    return esync__sb_take(&out, NULL);
}

static void test_changes(void) {
    esync_table *t = table4(1);
    esync_shape_view v;
    rowv a, b;
    int n;
    char *s;
    esync__msg_view_init(&v, t, NULL, 0, false, NULL);
    s = change(&v, 'I', NULL, mkrow(&a, "1", "x", NULL, "5"), &n);
    CHECK(n == 1);
    CHECK_STR(
        s,
        "{\"key\":\"\\\"public\\\".\\\"items\\\"/\\\"1\\\"\",\"value\":{\"id\":\"1\",\"value1\":\"x\","
        "\"value2\":null,\"num\":\"5\"},\"headers\":{\"operation\":\"insert\",\"relation\":"
        "[\"public\",\"items\"],\"lsn\":\"24593000\",\"op_position\":4,\"txids\":[751],"
        "\"last\":true}},\n");
    free(s);
    /* §8.9: update of one column -> PK + changed column */
    s = change(&v, 'U', mkrow(&a, "1", "x", "y", "5"), mkrow(&b, "1", "x2", "y", "5"), &n);
    CHECK(n == 1 && strstr(s, "\"value\":{\"id\":\"1\",\"value1\":\"x2\"}") &&
          !strstr(s, "old_value"));
    free(s);
    /* no change at all -> nothing */
    s = change(&v, 'U', mkrow(&a, "1", "x", "y", "5"), mkrow(&b, "1", "x", "y", "5"), &n);
    CHECK(n == 0);
    free(s);
    /* delete -> PK only */
    s = change(&v, 'D', mkrow(&a, "1", "x", "y", "5"), NULL, &n);
    CHECK(n == 1 && strstr(s, "\"value\":{\"id\":\"1\"}") && strstr(s, "\"operation\":\"delete\""));
    free(s);
    /* §8.11: key change -> delete (op 4) + insert (op 5) */
    s = change(&v, 'U', mkrow(&a, "1", "x", "y", "5"), mkrow(&b, "2", "x", "y", "5"), &n);
    CHECK(n == 2 && strstr(s, "\"op_position\":4,\"txids\":[751],\"key_change_to\"") &&
          strstr(s, "\"op_position\":5,\"txids\":[751],\"key_change_from\"") &&
          strstr(s, "\"value\":{\"id\":\"2\",\"value1\":\"x\",\"value2\":\"y\",\"num\":\"5\"}"));
    free(s);
    esync__msg_view_free(&v);

    /* §8.10: replica=full -> full row + old_value of the changed column */
    esync__msg_view_init(&v, t, NULL, 0, true, NULL);
    s = change(&v, 'U', mkrow(&a, "1", "x", "y", "5"), mkrow(&b, "1", "x2", "y", "5"), &n);
    CHECK(n == 1 &&
          strstr(s, "\"value\":{\"id\":\"1\",\"value1\":\"x2\",\"value2\":\"y\",\"num\":\"5\"},"
                    "\"old_value\":{\"value1\":\"x\"}"));
    free(s);
    s = change(&v, 'D', mkrow(&a, "1", "x", "y", "5"), NULL, &n);
    CHECK(n == 1 &&
          strstr(s, "\"value\":{\"id\":\"1\",\"value1\":\"x\",\"value2\":\"y\",\"num\":\"5\"}"));
    free(s);
    esync__msg_view_free(&v);

    /* §8.13: columns=id,value1: an update of value2 only gives nothing */
    int sel[] = {0, 1};
    esync__msg_view_init(&v, t, sel, 2, false, NULL);
    s = change(&v, 'U', mkrow(&a, "1", "x", "y", "5"), mkrow(&b, "1", "x", "y2", "5"), &n);
    CHECK(n == 0);
    free(s);
    s = change(&v, 'U', mkrow(&a, "1", "x", "y", "5"), mkrow(&b, "1", "x3", "y2", "5"), &n);
    CHECK(n == 1 && strstr(s, "\"value\":{\"id\":\"1\",\"value1\":\"x3\"}"));
    free(s);
    esync__msg_view_free(&v);

    /* §8.14: where num > 5: move in (insert, full row), move out (delete, PK) */
    esync_where_col wc[4] = {
        {"id", "int4", 0}, {"value1", "text", 0}, {"value2", "text", 0}, {"num", "int4", 0}};
    esync_where *w = NULL;
    char err[256];
    CHECK(esync_where_compile("num > 5", NULL, 0, wc, 4, &w, err, sizeof err) == 0);
    esync__msg_view_init(&v, t, NULL, 0, false, w);
    s = change(&v, 'U', mkrow(&a, "1", "x", "y", "5"), mkrow(&b, "1", "x", "y", "6"), &n);
    CHECK(n == 1 && strstr(s, "\"operation\":\"insert\"") && strstr(s, "\"num\":\"6\""));
    free(s);
    s = change(&v, 'U', mkrow(&a, "3", "x", "y", "7"), mkrow(&b, "3", "x", "y", "1"), &n);
    CHECK(n == 1 && strstr(s, "\"operation\":\"delete\"") && strstr(s, "\"value\":{\"id\":\"3\"}"));
    free(s);
    s = change(&v, 'U', mkrow(&a, "3", "x", "y", "1"), mkrow(&b, "3", "x", "y", "2"), &n);
    CHECK(n == 0);
    free(s);
    s = change(&v, 'I', NULL, mkrow(&a, "4", "x", "y", NULL), &n);
    CHECK(n == 0); /* NULL > 5 is NULL: not in the shape */
    free(s);
    esync__msg_view_free(&v);
    esync__table_unref(t);

    /* §8.12: no PK: key from all columns by name; an update is delete + insert */
    t = table4(0);
    esync__msg_view_init(&v, t, NULL, 0, false, NULL);
    s = change(&v, 'U', mkrow(&a, "1", "a/b", NULL, "5"), mkrow(&b, "1", "c", NULL, "5"), &n);
    CHECK(n == 2);
    CHECK(strstr(s, "\"key\":\"\\\"public\\\".\\\"items\\\"/\\\"1\\\"/\\\"5\\\"/\\\"a//b\\\"/_\""));
    free(s);
    esync__msg_view_free(&v);
    esync__table_unref(t);
}

/* --- snapshot filter --------------------------------------------------------------------------- */

static void test_xid_filter(void) {
    esync_snapinfo s;
    CHECK(esync__snapshot_info_parse("100:105:101,103", &s) == 0 && s.nxip == 2);
    CHECK(esync__snapshot_visible(&s, 99));
    CHECK(!esync__snapshot_visible(&s, 101));
    CHECK(esync__snapshot_visible(&s, 102));
    CHECK(!esync__snapshot_visible(&s, 105));
    CHECK(esync__snapshot_past(&s, 105) && !esync__snapshot_past(&s, 104));
    esync__snapshot_info_free(&s);
    /* xid8 beyond 2^32 and a 32-bit xid that wrapped */
    CHECK(esync__snapshot_info_parse("4294967290:4294967300:", &s) == 0);
    CHECK(esync__snapshot_visible(&s, 4294967280u));
    CHECK(!esync__snapshot_visible(&s, 4)); /* 2^32 + 4 >= xmax */
    CHECK(esync__snapshot_visible(&s, 2));  /* 2^32 + 2 < xmax, not in progress */
    char *j = esync__snapshot_end_json(&s);
    CHECK_STR(
        j,
        "{\"headers\":{\"control\":\"snapshot-end\",\"xmin\":\"4294967290\",\"xmax\":\"4294967300\",\"xip_list\":[]}}");
    free(j);
    esync__snapshot_info_free(&s);
    CHECK(esync__snapshot_info_parse("garbage", &s) == -1);
    esync__snapshot_info_free(&s);
}

/* --- shape log files --------------------------------------------------------------------------- */

static void test_storage(void) {
    char dir[] = "/tmp/esync-storage-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[300];
    snprintf(sub, sizeof sub, "%s/shape", dir);
    char err[256];
    esync_storage *l = esync__storage_create(sub, 64, err, sizeof err);
    CHECK(l != NULL);
    if (!l) return;
    /* snapshot: 64-byte chunks */
    for (int i = 0; i < 5; i++)
        CHECK(esync__storage_snap_add(l, "{\"row\":\"0123456789\"}", 20) == 0);
    CHECK(esync__storage_snap_finish(l, "{\"end\":1}", 9) == 2);
    uint64_t size;
    int fd = esync__storage_snap_open(l, 0, &size);
    CHECK(fd >= 0 && size == 66);
    close(fd);
    /* two transactions */
    const char *d1 = "{\"a\":1},\n{\"b\":2},\n";
    esync_offset o1[] = {{100, 0}, {100, 2}};
    size_t e1[] = {9, 18};
    CHECK(esync__storage_append(l, d1, strlen(d1), o1, e1, 2) == 0);
    const char *d2 = "{\"c\":3333333333333333333333333333333333333333333333333333333333333},\n";
    esync_offset o2[] = {{200, 4}};
    size_t e2[] = {strlen(d2)};
    CHECK(esync__storage_append(l, d2, strlen(d2), o2, e2, 1) == 0);
    CHECK(esync__storage_count(l) == 3);
    CHECK(esync__storage_after(l, (esync_offset){100, 0}) == 1);
    CHECK(esync__storage_after(l, (esync_offset){100, ESYNC_OP_INF}) == 2);
    CHECK(esync__storage_chunk_stop(l, 0) == 3); /* the chunk ends after the big message */
    uint64_t a, b;
    esync__storage_range(l, 1, 3, &a, &b);
    char buf[200];
    CHECK(a == 9 && esync__storage_pread(l, buf, a, (size_t)(b - a)) == 0 &&
          memcmp(buf, "{\"b\":2}", 7) == 0);
    CHECK(esync__storage_write_meta(l, "{\"m\":1}", 7) == 0);
    CHECK(esync__storage_sync(l) == 0);
    esync__storage_close(l, 0);
    /* a torn tail: half a transaction (no LAST flag) and stray data are cut on open */
    char p[400];
    snprintf(p, sizeof p, "%s/log.idx", sub);
    FILE *f = fopen(p, "ab");
    uint64_t rec[4] = {300, 0, 999, 0};
    fwrite(rec, 8, 4, f);
    fwrite(rec, 1, 7, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/log.json", sub);
    f = fopen(p, "ab");
    fputs("{\"torn\":", f);
    fclose(f);
    l = esync__storage_open(sub, 64, err, sizeof err);
    CHECK(l && esync__storage_count(l) == 3 && esync__storage_snap_chunks(l) == 2);
    char *meta = esync__storage_read_meta(sub);
    CHECK_STR(meta, "{\"m\":1}");
    free(meta);
    esync__storage_close(l, 1);
    CHECK(access(sub, F_OK) != 0);
    rmdir(dir);
}

/* A new log in dir (chunks of 200 bytes, gzip at level) with 25 small snapshot rows written, the
 * snapshot not finished; NULL when it cannot be created. */
static esync_storage *small_snapshot(const char *dir, int level) {
    char err[256];
    esync_storage *l = esync__storage_create(dir, 200, err, sizeof err);
    CHECK(l != NULL);
    if (!l) return NULL;
    esync__storage_snap_gzip(l, level);
    for (int i = 0; i < 25; i++)
        CHECK(esync__storage_snap_add(l, "{\"row\":\"0123456789\"}", 20) == 0);
    return l;
}

/* The gzip beside each chunk (made by the background thread of shape/gzip.h once the snapshot is
 * finished) decodes to the chunk's answer body: "[" + the file without its last ",\n" + "]", for
 * chunks of small messages and for a message larger than the write buffer (written past it); a
 * stop abandons a job without a file; a directory removed while jobs are queued is gone
 * afterwards; with level 0 no gzip is written. */
static void test_storage_gzip(void) {
    char dir[] = "/tmp/esync-storage-gz-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[300];
    snprintf(sub, sizeof sub, "%s/shape", dir);
    esync_storage *l = small_snapshot(sub, 1);
    if (!l) return;
    size_t big_n = 100000;
    char *big = esync__xmalloc(big_n);
    memset(big, 'x', big_n);
    memcpy(big, "{\"big\":\"", 8);
    memcpy(big + big_n - 2, "\"}", 2);
    CHECK(esync__storage_snap_add(l, big, big_n) == 0);
    CHECK(esync__storage_snap_add(l, "{\"row\":1}", 9) == 0);
    int chunks = esync__storage_snap_finish(l, "{\"end\":1}", 9);
    CHECK(chunks >= 4);
    esync__gzip_drain();
    for (int k = 0; k < chunks; k++) {
        uint64_t size = 0, zsize = 0;
        int fd = esync__storage_snap_open(l, k, &size);
        int zfd = esync__storage_snap_open_gz(l, k, &zsize);
        CHECK(fd >= 0 && zfd >= 0 && size >= 2 && zsize > 18);
        if (fd < 0 || zfd < 0) continue;
        char *want = esync__xmalloc(size + 1), *z = esync__xmalloc(zsize);
        want[0] = '[';
        CHECK(pread(fd, want + 1, size - 2, 0) == (ssize_t)(size - 2));
        want[size - 1] = ']';
        CHECK(pread(zfd, z, zsize, 0) == (ssize_t)zsize);
        char *got = esync__xmalloc(size + 16);
        z_stream s = {0};
        CHECK(inflateInit2(&s, 15 + 16) == Z_OK);
        s.next_in = (Bytef *)z;
        s.avail_in = (uInt)zsize;
        s.next_out = (Bytef *)got;
        s.avail_out = (uInt)size + 16;
        CHECK(inflate(&s, Z_FINISH) == Z_STREAM_END); /* whole, with a valid CRC and length */
        CHECK(s.total_out == size && memcmp(got, want, size) == 0);
        inflateEnd(&s);
        free(want);
        free(z);
        free(got);
        close(fd);
        close(zfd);
    }
    CHECK(esync__storage_snap_sync(l) == 0);
    /* a job told to stop writes nothing */
    char gz[400];
    snprintf(gz, sizeof gz, "%s/snap.0.gz", sub);
    CHECK(unlink(gz) == 0);
    const volatile bool stop = true;
    CHECK(esync__gzip_chunk(sub, 0, 1, NULL, true, &stop) == -1);
    CHECK(access(gz, F_OK) != 0);
    snprintf(gz, sizeof gz, "%s/snap.0.part", sub);
    CHECK(access(gz, F_OK) != 0);
    /* removed with jobs queued: nothing is left behind */
    esync__storage_snap_gzip_missing(l);
    esync__storage_close(l, 1);
    esync__gzip_drain();
    CHECK(access(sub, F_OK) != 0);
    /* level 0: chunks only */
    l = small_snapshot(sub, 0);
    if (!l) return;
    CHECK(esync__storage_snap_finish(l, "{\"end\":1}", 9) >= 2);
    uint64_t size;
    CHECK(esync__storage_snap_open_gz(l, 0, &size) == -1);
    esync__gzip_drain();
    CHECK(esync__storage_snap_open_gz(l, 0, &size) == -1);
    esync__storage_close(l, 1);
    /* a hold (a snapshot being written or read) keeps a queued job from starting until it ends */
    l = small_snapshot(sub, 1);
    if (!l) return;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    esync__gzip_hold(300);
    CHECK(esync__storage_snap_finish(l, "{\"end\":1}", 9) >= 2);
    usleep(100 * 1000);
    CHECK(esync__storage_snap_open_gz(l, 0, &size) == -1); /* held */
    esync__gzip_drain();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int fd0 = esync__storage_snap_open_gz(l, 0, &size);
    CHECK(fd0 >= 0);
    if (fd0 >= 0) close(fd0);
    double held_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(held_ms >= 290 && held_ms < ESYNC_GZIP_HOLD_MAX_MS);
    esync__storage_close(l, 1);
    esync__gzip_stop();
    free(big);
    rmdir(dir);
}

/* Accept-Encoding: gzip when named with q > 0, or "*" with q > 0 when gzip is not named. */
/* Images (shape/gzip.h): with the electric-schema set, each chunk gets snap.<k>.img, a SQLite
 * database of the chunk's rows in one table `shape`, and its gzip; a chunk whose messages cannot
 * be made into one (not inserts) gets none, and still its JSON gzip; images off: none. */
static void test_storage_images(void) {
    char dir[] = "/tmp/esync-storage-img-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[300], err[256], msg[200];
    snprintf(sub, sizeof sub, "%s/shape", dir);
    esync_storage *l = esync__storage_create(sub, 2000, err, sizeof err);
    CHECK(l != NULL);
    if (!l) return;
    esync__storage_snap_gzip(l, 1);
    esync__storage_snap_images(l, "{\"id\":{\"type\":\"int4\",\"pk_index\":0,\"not_null\":true},"
                                  "\"t\":{\"type\":\"text\"}}");
    int n = 300;
    for (int i = 0; i < n; i++) {
        int len = snprintf(msg, sizeof msg,
                           "{\"key\":\"%d\",\"headers\":{\"operation\":\"insert\"},"
                           "\"value\":{\"id\":\"%d\",\"t\":\"row %d\"}}",
                           i, i, i);
        CHECK(esync__storage_snap_add(l, msg, (size_t)len) == 0);
    }
    /* the last chunk: a message that is no insert, so it has no image */
    const char *bad =
        "{\"key\":\"1\",\"headers\":{\"operation\":\"delete\"},\"value\":{\"id\":\"1\"}}";
    int chunks = esync__storage_snap_finish(l, bad, strlen(bad));
    CHECK(chunks >= 3);
    esync__gzip_drain();
    int64_t total = 0;
    for (int k = 0; k < chunks; k++) {
        uint64_t size = 0;
        int fd = esync__storage_snap_open_image(l, k, false, &size);
        int zfd = esync__storage_snap_open_image(l, k, true, &size);
        int gfd = esync__storage_snap_open_gz(l, k, &size);
        CHECK(gfd >= 0);
        if (gfd >= 0) close(gfd);
        if (k == chunks - 1) {
            CHECK(fd < 0 && zfd < 0);
            continue;
        }
        CHECK(fd >= 0 && zfd >= 0);
        if (fd >= 0) close(fd);
        if (zfd >= 0) close(zfd);
        char p[400];
        snprintf(p, sizeof p, "%s/snap.%d.img", sub, k);
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        CHECK(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
        CHECK(sqlite3_prepare_v2(db, "SELECT count(*), min(t) LIKE 'row %' FROM shape", -1, &st,
                                 NULL) == SQLITE_OK);
        CHECK(sqlite3_step(st) == SQLITE_ROW);
        total += sqlite3_column_int64(st, 0);
        CHECK(sqlite3_column_int(st, 1) == 1);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    /* every insert but those of the last chunk (at most 2000 bytes of ~80-byte messages) */
    CHECK(total < n && total > n - 2000 / 70);
    esync__storage_close(l, 1);
    CHECK(access(sub, F_OK) != 0);
    rmdir(dir);
}

/* What a removal of the directory does when it comes while chunk k's image is being made (after
 * the job made part and before the builder opened it by its name): every file unlinked under the
 * lock; then the builder's open makes part again, so the removal's rmdir fails. */
static void remove_during_build(const char *dir, int k) {
    esync__gzip_lock();
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[400];
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    snprintf(p, sizeof p, "%s/snap.%d.part", dir, k);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) close(fd);
    CHECK(rmdir(dir) != 0);
    esync__gzip_unlock();
}

/* A shape directory removed while one of its images is being made is gone once the job ends, its
 * image file (the builder's part made again) with it: nothing is left behind. */
static void test_storage_image_removed_meanwhile(void) {
    char dir[] = "/tmp/esync-storage-imgrm-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[300], err[256], msg[200];
    snprintf(sub, sizeof sub, "%s/shape", dir);
    esync_storage *l = esync__storage_create(sub, 1 << 20, err, sizeof err);
    CHECK(l != NULL);
    if (!l) return;
    esync__storage_snap_images(l, "{\"id\":{\"type\":\"int4\",\"pk_index\":0,\"not_null\":true}}");
    for (int i = 0; i < 50; i++) {
        int len = snprintf(msg, sizeof msg,
                           "{\"key\":\"%d\",\"headers\":{\"operation\":\"insert\"},"
                           "\"value\":{\"id\":\"%d\"}}",
                           i, i);
        CHECK(esync__storage_snap_add(l, msg, (size_t)len) == 0);
    }
    esync__gzip_after_image_build = remove_during_build;
    CHECK(esync__storage_snap_finish(l, "{\"end\":1}", 9) >= 1);
    esync__gzip_drain();
    esync__gzip_after_image_build = NULL;
    CHECK(access(sub, F_OK) != 0);
    esync__storage_close(l, 0);
    esync__gzip_stop();
    rmdir(dir);
}

static void test_accepts_image(void) {
    CHECK(!esync__serve_accepts_image(NULL));
    CHECK(!esync__serve_accepts_image("*/*"));
    CHECK(!esync__serve_accepts_image("application/json, */*;q=0.8"));
    CHECK(!esync__serve_accepts_image(ESYNC_IMAGE_TYPE ";q=0"));
    CHECK(!esync__serve_accepts_image(ESYNC_IMAGE_TYPE "x"));
    CHECK(esync__serve_accepts_image(ESYNC_IMAGE_TYPE));
    CHECK(esync__serve_accepts_image("application/json;q=0.9, " ESYNC_IMAGE_TYPE ";q=0.1"));
}

static void test_accepts_gzip(void) {
    CHECK(!esync__serve_accepts_gzip(NULL));
    CHECK(!esync__serve_accepts_gzip(""));
    CHECK(!esync__serve_accepts_gzip("identity"));
    CHECK(!esync__serve_accepts_gzip("br, zstd"));
    CHECK(!esync__serve_accepts_gzip("gzipx, xgzip"));
    CHECK(!esync__serve_accepts_gzip("gzip;q=0"));
    CHECK(!esync__serve_accepts_gzip("gzip ; q=0.000, br"));
    CHECK(!esync__serve_accepts_gzip("*;q=0"));
    CHECK(!esync__serve_accepts_gzip("gzip;q=0, *"));
    CHECK(esync__serve_accepts_gzip("gzip"));
    CHECK(esync__serve_accepts_gzip("gzip, deflate, br, zstd"));
    CHECK(esync__serve_accepts_gzip("Deflate, GZip;Q=0.5"));
    CHECK(esync__serve_accepts_gzip("x-gzip"));
    CHECK(esync__serve_accepts_gzip("gzip;q=0.001"));
    CHECK(esync__serve_accepts_gzip("gzip;q=1.000"));
    CHECK(esync__serve_accepts_gzip("*"));
    CHECK(esync__serve_accepts_gzip("br;q=1, *;q=0.1"));
}

/* Snapshot chunks grow (64 KiB, x4, up to chunk_bytes); a chunk counts as complete once the next
 * one has started, with all its bytes in its file; the planner's row estimate is read from
 * EXPLAIN (FORMAT JSON). */
static void test_snapshot_chunks(void) {
    CHECK(esync__storage_snap_limit(10u << 20, 0) == 64u << 10);
    CHECK(esync__storage_snap_limit(10u << 20, 1) == 256u << 10);
    CHECK(esync__storage_snap_limit(10u << 20, 2) == 1u << 20);
    CHECK(esync__storage_snap_limit(10u << 20, 3) == 4u << 20);
    CHECK(esync__storage_snap_limit(10u << 20, 4) == 10u << 20);
    CHECK(esync__storage_snap_limit(10u << 20, 40) == 10u << 20);
    CHECK(esync__storage_snap_limit(100, 0) == 100);
    char dir[] = "/tmp/esync-snapchunks-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[300], err[256];
    snprintf(sub, sizeof sub, "%s/shape", dir);
    esync_storage *l = esync__storage_create(sub, 1u << 20, err, sizeof err);
    CHECK(l != NULL);
    if (!l) return;
    char row[1000];
    memset(row, 'x', sizeof row);
    int seen[8] = {0};
    for (int i = 0; i < 2000; i++) { /* 2 MB: chunks of 64 KiB, 256 KiB, 1 MiB, 1 MiB */
        CHECK(esync__storage_snap_add(l, row, sizeof row) == 0);
        int c = esync__storage_snap_complete(l);
        if (c > 0 && c < 8 && !seen[c]) {
            seen[c] = 1;
            uint64_t size = 0;
            int fd = esync__storage_snap_open(l, c - 1, &size); /* whole on disk already */
            CHECK(fd >= 0 && size <= esync__storage_snap_limit(1u << 20, c - 1) &&
                  size + sizeof row + 2 > esync__storage_snap_limit(1u << 20, c - 1));
            if (fd >= 0) close(fd);
        }
    }
    CHECK(seen[1] && seen[2] && seen[3]);
    CHECK(esync__storage_snap_finish(l, "{\"end\":1}", 9) == 4);
    CHECK(esync__storage_snap_complete(l) == 4);
    CHECK(esync__storage_snap_sync(l) == 0);
    esync__storage_close(l, 1);
    rmdir(dir);
    CHECK(esync__snapshot_plan_rows(
              "[{\"Plan\": {\"Node Type\": \"Seq Scan\", \"Plan Rows\": 120000, "
              "\"Plan Width\": 8}}]") == 120000);
    CHECK(esync__snapshot_plan_rows("[{\"Plan\": {\"Node Type\": \"Result\"}}]") == -1);
    CHECK(esync__snapshot_plan_rows(NULL) == -1);
}

int main(void) {
    test_pgoutput();
    test_params();
    test_changes();
    test_xid_filter();
    test_storage();
    test_storage_gzip();
    test_accepts_gzip();
    test_storage_images();
    test_storage_image_removed_meanwhile();
    test_accepts_image();
    test_snapshot_chunks();
    if (failures) {
        fprintf(stderr, "test_shape_pure: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_shape_pure: ok\n");
    return 0;
}
