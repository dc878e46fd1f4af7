/* Shape request parameters (see shape/params.h). Errors are collected into a small table of
 * field -> messages, rendered as {"message":"Invalid request","errors":{...}} in field order of
 * first appearance. */
#include "shape/params.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "sbuf.h"
#include "shape/table.h"

typedef struct errs {
    int n;
    const char *field[16];
    esync_sb msgs[16]; /* JSON strings joined by commas */
} errs;

static void add_err(errs *e, const char *field, const char *msg) {
    int i = 0;
    while (i < e->n && strcmp(e->field[i], field) != 0) i++;
    if (i == e->n) {
        if (e->n == 16) return;
        e->field[e->n] = field;
        e->msgs[e->n] = (esync_sb){0};
        e->n++;
    } else {
        esync__sb_put(&e->msgs[i], ",", 1);
    }
    esync__sb_json(&e->msgs[i], msg, strlen(msg));
}

static char *render(errs *e) {
    esync_sb b = {0};
    esync__sb_puts(&b, "{\"message\":\"Invalid request\",\"errors\":{");
    for (int i = 0; i < e->n; i++) {
        if (i) esync__sb_put(&b, ",", 1);
        esync__sb_json(&b, e->field[i], strlen(e->field[i]));
        esync__sb_puts(&b, ":[");
        esync__sb_put(&b, e->msgs[i].p, e->msgs[i].n);
        esync__sb_put(&b, "]", 1);
        esync__sb_free(&e->msgs[i]);
    }
    esync__sb_puts(&b, "}}");
    return esync__sb_take(&b, NULL);
}

const char *esync__params_kv_get(const esync_params_kv *kv, size_t n, const char *key,
                                 int *present) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0) {
            if (present) *present = 1;
            return kv[i].value;
        }
    if (present) *present = 0;
    return NULL;
}

static int parse_u64(const char *s, size_t len, uint64_t *out) {
    if (len == 0 || len > 20) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int esync__params_offset_parse(const char *text, enum esync_offset_kind *kind, esync_offset *o) {
    if (!text) return -1;
    if (strcmp(text, "-1") == 0) {
        *kind = ESYNC_OFFSET_BEFORE_ALL;
        *o = (esync_offset){0, 0};
        return 0;
    }
    if (strcmp(text, "now") == 0) {
        *kind = ESYNC_OFFSET_NOW;
        *o = (esync_offset){0, 0};
        return 0;
    }
    const char *us = strchr(text, '_');
    if (!us || strchr(us + 1, '_')) return -1;
    uint64_t tx, op;
    if (parse_u64(text, (size_t)(us - text), &tx) != 0) return -1;
    if (strcmp(us + 1, "inf") == 0)
        op = ESYNC_OP_INF;
    else if (parse_u64(us + 1, strlen(us + 1), &op) != 0 || op == ESYNC_OP_INF)
        return -1;
    *kind = ESYNC_OFFSET_AT;
    *o = (esync_offset){tx, op};
    return 0;
}

/* params[N] keys: returns the count (values in order in *vals), or sets an error. */
static int parse_params(const esync_params_kv *kv, size_t n, char ***vals, errs *e) {
    int max = 0, count = 0;
    bool bad_key = false;
    for (size_t i = 0; i < n; i++) {
        const char *k = kv[i].key;
        if (strncmp(k, "params[", 7) != 0) continue;
        size_t kl = strlen(k);
        uint64_t idx;
        if (kl < 9 || k[kl - 1] != ']' || parse_u64(k + 7, kl - 8, &idx) != 0 || idx > 10000) {
            bad_key = true;
            continue;
        }
        count++;
        if ((int)idx > max) max = (int)idx;
    }
    *vals = NULL;
    if (bad_key) {
        add_err(e, "params", "Parameters can only use numbers as keys");
        return -1;
    }
    if (count == 0) return 0;
    char **v = esync__xcalloc((size_t)max + 1, sizeof *v);
    bool ok = max == count;
    for (size_t i = 0; i < n && ok; i++) {
        const char *k = kv[i].key;
        if (strncmp(k, "params[", 7) != 0) continue;
        uint64_t idx = 0;
        parse_u64(k + 7, strlen(k) - 8, &idx);
        if (idx < 1 || v[idx - 1]) {
            ok = false;
            break;
        }
        v[idx - 1] = esync__xstrdup(kv[i].value ? kv[i].value : "");
    }
    if (!ok) {
        for (int i = 0; i < max; i++) free(v[i]);
        free(v);
        add_err(e, "params", "Parameters must be numbered sequentially, starting from 1");
        return -1;
    }
    *vals = v;
    return count;
}

int esync__params_parse(const esync_params_kv *kv, size_t n, esync_shape_req **out, char **secret,
                        char **err_json) {
    *out = NULL;
    *secret = NULL;
    *err_json = NULL;
    errs e = {0};
    esync_shape_req *q = esync__xcalloc(1, sizeof *q);
    q->res.fd = -1;
    char msg[512];

    int present;
    const char *sv = esync__params_kv_get(kv, n, "secret", &present);
    if (!present) sv = esync__params_kv_get(kv, n, "api_secret", &present);
    if (present) *secret = esync__xstrdup(sv ? sv : "");

    /* 1. offset */
    const char *off = esync__params_kv_get(kv, n, "offset", &present);
    bool offset_ok = false;
    if (!present || !off || !*off)
        add_err(&e, "offset", "can't be blank");
    else if (esync__params_offset_parse(off, &q->kind, &q->offset) != 0)
        add_err(&e, "offset", "has invalid format");
    else
        offset_ok = true;
    /* 2. handle */
    const char *h = esync__params_kv_get(kv, n, "handle", &present);
    if (offset_ok && q->kind == ESYNC_OFFSET_AT) {
        if (!h || !*h)
            add_err(&e, "handle", "can't be blank when offset != -1");
        else
            q->handle = esync__xstrdup(h);
    }
    /* 3. live */
    const char *lv = esync__params_kv_get(kv, n, "live", &present);
    q->live = present && !(lv && strcmp(lv, "false") == 0);
    if (q->live && offset_ok && q->kind == ESYNC_OFFSET_BEFORE_ALL)
        add_err(&e, "live", "can't be true when offset == -1");
    if (q->live && offset_ok && q->kind == ESYNC_OFFSET_NOW)
        add_err(&e, "live", "can't be true when offset is 'now'");
    /* 4. live_sse (served as long-poll when accepted) */
    const char *sse = esync__params_kv_get(kv, n, "live_sse", &present);
    if (!present) sse = esync__params_kv_get(kv, n, "experimental_live_sse", &present);
    if (present && !(sse && strcmp(sse, "false") == 0) && !q->live)
        add_err(&e, "live_sse", "can't be true unless live is also true");
    /* 5. table, columns, where, params, replica */
    const char *tb = esync__params_kv_get(kv, n, "table", &present);
    if (!tb || !*tb)
        add_err(&e, "table", "can't be blank");
    else if (esync_table_parse_name(tb, &q->schema, &q->table, msg, sizeof msg) != 0)
        add_err(&e, "table", msg);
    const char *cols = esync__params_kv_get(kv, n, "columns", &present);
    if (present) {
        int k = esync_table_parse_columns(cols ? cols : "", &q->columns, msg, sizeof msg);
        if (k < 0)
            add_err(&e, "columns", msg);
        else
            q->ncolumns = k;
    }
    const char *w = esync__params_kv_get(kv, n, "where", &present);
    if (w && *w) q->where = esync__xstrdup(w);
    int np = parse_params(kv, n, &q->params, &e);
    if (np > 0) q->nparams = np;
    const char *rep = esync__params_kv_get(kv, n, "replica", &present);
    if (present) {
        if (rep && strcmp(rep, "full") == 0)
            q->full = true;
        else if (!rep || strcmp(rep, "default") != 0)
            add_err(&e, "replica", "is invalid");
    }
    const char *log = esync__params_kv_get(kv, n, "log", &present);
    if (present && !(log && strcmp(log, "full") == 0)) {
        if (log && strcmp(log, "changes_only") == 0)
            add_err(&e, "log", "changes_only is not supported by this server");
        else
            add_err(&e, "log", "is invalid");
    }
    /* 6. subset snapshots are not served */
    for (size_t i = 0; i < n; i++)
        if (strncmp(kv[i].key, "subset__", 8) == 0) {
            add_err(&e, "subset", "subset snapshots are not supported by this server");
            break;
        }
    if (e.n) {
        *err_json = render(&e);
        esync_shape_req_free(q);
        return 400; /* *secret stays: the caller checks it before showing the errors */
    }
    *out = q;
    return 0;
}
