/*
 * replay.c — runs a recorded fixture through the engine and writes a transcript (format in
 * tests/fixtures/README.md). The native build and the wasm build run the same fixtures through
 * this same function, and their transcripts must be byte-identical; the expectations written in
 * a fixture are checked here too, so a fixture fails on its own even without its golden file.
 */
#include "esync_replay.h"

#include "internal.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

typedef struct replay {
    esync *e;
    const char *path;
    esync_buf out;
    int failures;
    uint64_t seed;
    size_t max_body;
    size_t checkpoint_bytes;
    size_t checkpoint_growth;
} replay;

static void line_start(replay *r, int step, const char *op) {
    esync__buf_printf(&r->out, "{\"step\":%d,\"op\":\"%s\"", step, op);
}

static void add_json(replay *r, const char *key, const char *json) {
    esync__buf_printf(&r->out, ",\"%s\":", key);
    esync__buf_puts(&r->out, json ? json : "null");
}

static void add_str(replay *r, const char *key, const char *s) {
    esync__buf_printf(&r->out, ",\"%s\":", key);
    esync__buf_json_str_or_null(&r->out, s);
}

/* Compares an expectation with the actual JSON text; records a failure line on mismatch. */
static void expect_json(replay *r, int step, const char *what, const cJSON *want, const char *got) {
    if (!want) return;
    cJSON *g = got ? cJSON_Parse(got) : cJSON_CreateNull();
    if (!g || !cJSON_Compare(want, g, 1)) {
        char *w = cJSON_PrintUnformatted(want);
        esync__buf_printf(&r->out,
                          "{\"step\":%d,\"EXPECTATION_FAILED\":\"%s\",\"want\":%s,\"got\":%s}\n",
                          step, what, w ? w : "null", got ? got : "null");
        cJSON_free(w);
        r->failures++;
    }
    cJSON_Delete(g);
}

static void expect_rc(replay *r, int step, const cJSON *expect, int rc) {
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(expect, "rc");
    if (!want) {
        if (rc < 0 && expect) { /* an expectation block without rc means success was expected */
            esync__buf_printf(
                &r->out,
                "{\"step\":%d,\"EXPECTATION_FAILED\":\"rc\",\"want\":\"ESYNC_OK\",\"got\":\"%s\"}\n",
                step, esync_errname(rc));
            r->failures++;
        }
        return;
    }
    if (!cJSON_IsString(want) || strcmp(want->valuestring, esync_errname(rc))) {
        esync__buf_printf(
            &r->out, "{\"step\":%d,\"EXPECTATION_FAILED\":\"rc\",\"want\":\"%s\",\"got\":\"%s\"}\n",
            step, cJSON_IsString(want) ? want->valuestring : "?", esync_errname(rc));
        r->failures++;
    }
}

/* esync_ingest_events against the output it describes: one record per event of the array, in
 * order, back to back (a comma between), each slice an object, a DATA_CHANGE's `changes` member
 * where its record says, any other event without one. A mismatch is a failure line. */
static bool slice_is(const char *p, size_t n, int type) {
    cJSON *j = cJSON_ParseWithLength(p, n);
    bool ok = j && (j->type & 0xff) == type;
    cJSON_Delete(j);
    return ok;
}
static void check_events_index(replay *r, int step, const char *changes, size_t len) {
    const uint32_t *pos = NULL;
    size_t n = 0;
    const char *why = NULL;
    if (esync_ingest_events(r->e, &pos, &n) != ESYNC_OK) why = "call failed";
    cJSON *all = changes ? cJSON_Parse(changes) : NULL;
    if (!why && (int)n != (all ? cJSON_GetArraySize(all) : 0)) why = "record count";
    for (size_t k = 0; k < n && !why; k++) {
        const uint32_t *x = pos + ESYNC_EVENT_RECORD * k;
        size_t want_start = k ? pos[ESYNC_EVENT_RECORD * (k - 1) + 1] + 1 : 1;
        cJSON *ev = cJSON_GetArrayItem(all, (int)k);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
        bool dc = cJSON_IsString(type) && !strcmp(type->valuestring, "DATA_CHANGE");
        if (x[0] != want_start || x[1] <= x[0] || x[1] > len - 1 ||
            (k + 1 == n && x[1] != len - 1) || (k + 1 < n && changes[x[1]] != ','))
            why = "event bounds";
        else if (!slice_is(changes + x[0], x[1] - x[0], cJSON_Object))
            why = "event slice";
        else if (dc != (x[2] != 0) ||
                 (dc && (x[2] + 11 > x[3] || x[3] >= x[1] ||
                         memcmp(changes + x[2], ",\"changes\":", 11) ||
                         !slice_is(changes + x[2] + 11, x[3] - x[2] - 11, cJSON_Object))))
            why = "changes member";
        else {
            /* the row counts of its lists (a DATA_CHANGE's), else zeros */
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(ev, "changes");
            static const char *const lists[3] = {"insert", "update", "delete"};
            for (int i = 0; i < 3 && !why; i++) {
                const cJSON *l = dc ? cJSON_GetObjectItemCaseSensitive(c, lists[i]) : NULL;
                if (x[4 + i] != (uint32_t)(l ? cJSON_GetArraySize(l) : 0)) why = "row counts";
            }
        }
    }
    cJSON_Delete(all);
    if (why) {
        esync__buf_printf(&r->out, "{\"step\":%d,\"EXPECTATION_FAILED\":\"events index: %s\"}\n",
                          step, why);
        r->failures++;
    }
}

static const char *hdr(const cJSON *headers, const char *name, char **owned) {
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(headers, name);
    if (cJSON_IsString(h)) return h->valuestring;
    if (cJSON_IsObject(h)) { /* electric-schema written as an object for readability */
        *owned = cJSON_PrintUnformatted(h);
        return *owned;
    }
    return NULL;
}

static void record_request(replay *r, const char *shape) {
    esync_request rq;
    int rc = esync_next_request(r->e, shape, &rq);
    esync__buf_puts(&r->out, ",\"request\":");
    if (rc) {
        esync__buf_printf(&r->out, "\"%s\"", esync_errname(rc));
        return;
    }
    static const char *const acts[] = {[0] = "?",
                                       [ESYNC_ACT_FETCH] = "fetch",
                                       [ESYNC_ACT_WAIT] = "wait",
                                       [ESYNC_ACT_IDLE] = "idle",
                                       [ESYNC_ACT_STOP] = "stop",
                                       [ESYNC_ACT_AUTH] = "auth"};
    esync__buf_printf(&r->out, "{\"action\":\"%s\"", acts[rq.action]);
    if (rq.action == ESYNC_ACT_WAIT)
        esync__buf_printf(&r->out, ",\"wait_ms\":%u", (unsigned)rq.wait_ms);
    if (rq.action == ESYNC_ACT_FETCH) {
        esync__buf_printf(&r->out, ",\"live\":%s,\"query\":", rq.live ? "true" : "false");
        esync__buf_json_str(&r->out, rq.query, strlen(rq.query));
    }
    esync__buf_putc(&r->out, '}');
}

static int open_engine(replay *r) {
    esync_options o = {.path = r->path, .seed = r->seed, .max_body_bytes = r->max_body};
    int rc = esync_open(&o, &r->e);
    if (!rc) esync_set_checkpoint_bytes(r->e, r->checkpoint_bytes);
    if (!rc) esync_set_checkpoint_growth(r->e, r->checkpoint_growth);
    return rc;
}

static void step_response(replay *r, int i, const cJSON *step) {
    const char *shape = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(step, "shape"));
    const cJSON *headers = cJSON_GetObjectItemCaseSensitive(step, "headers");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(step, "status");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(step, "body");
    const cJSON *body_text = cJSON_GetObjectItemCaseSensitive(step, "body_text");
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(step, "now");
    char *owned_schema = NULL, *owned_body = NULL;
    esync_response resp;
    memset(&resp, 0, sizeof resp);
    resp.status = cJSON_IsNumber(status) ? status->valueint : 200;
    resp.handle = hdr(headers, "electric-handle", &owned_schema);
    resp.offset = hdr(headers, "electric-offset", &owned_schema);
    resp.cursor = hdr(headers, "electric-cursor", &owned_schema);
    resp.retry_after = hdr(headers, "retry-after", &owned_schema);
    resp.up_to_date = cJSON_GetObjectItemCaseSensitive(headers, "electric-up-to-date") != NULL;
    resp.schema = hdr(headers, "electric-schema", &owned_schema);
    if (cJSON_IsString(body_text)) {
        resp.body = (const uint8_t *)body_text->valuestring;
        resp.body_len = strlen(body_text->valuestring);
    } else if (body) {
        owned_body = cJSON_PrintUnformatted(body);
        resp.body = (const uint8_t *)owned_body;
        resp.body_len = owned_body ? strlen(owned_body) : 0;
    }
    resp.now_ms = cJSON_IsNumber(now) ? now->valuedouble : 1000.0 * (i + 1);
    line_start(r, i, "response");
    add_str(r, "shape", shape);
    record_request(r, shape);
    char *changes = NULL;
    size_t len = 0;
    int rc = esync_ingest(r->e, shape, &resp, &changes, &len);
    add_str(r, "rc", esync_errname(rc));
    if (rc) add_str(r, "error", esync_errmsg(r->e));
    add_json(r, "changes", changes);
    esync__buf_puts(&r->out, "}\n");
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
    expect_rc(r, i, expect, rc);
    expect_json(r, i, "changes", cJSON_GetObjectItemCaseSensitive(expect, "changes"), changes);
    check_events_index(r, i, changes, len);
    esync_free(changes);
    cJSON_free(owned_schema);
    cJSON_free(owned_body);
}

static void dump_replica(replay *r) {
    esync__buf_puts(&r->out, "{\"replica\":{");
    for (int k = 0; k < r->e->nshapes; k++) {
        esync_shape *s = r->e->shapes[k];
        if (k) esync__buf_putc(&r->out, ',');
        esync__buf_json_str(&r->out, s->sqlname, strlen(s->sqlname));
        esync__buf_putc(&r->out, ':');
        if (!s->schema_c.ncols) {
            esync__buf_puts(&r->out, "null");
            continue;
        }
        esync_buf q;
        esync__buf_init(&q);
        esync__buf_puts(&q, "SELECT * FROM ");
        esync__buf_ident(&q, s->sqlname);
        esync__buf_puts(&q, " ORDER BY ");
        for (int i = 0; i < esync__key_count(&s->schema_c); i++) {
            if (i) esync__buf_putc(&q, ',');
            esync__buf_ident(&q, s->schema_c.cols[esync__key_column(&s->schema_c, i)].name);
        }
        char *rows = NULL;
        int rc = q.oom ? ESYNC_ENOMEM : esync_query(r->e, q.data, NULL, &rows, NULL);
        esync__buf_puts(&r->out, rc ? "null" : rows);
        esync_free(rows);
        esync__buf_free(&q);
    }
    esync__buf_puts(&r->out, "}");
    char *status = NULL;
    if (esync_status(r->e, &status, NULL) == ESYNC_OK) add_json(r, "status", status);
    esync_free(status);
    add_str(r, "version", esync_version(r->e));
    esync__buf_puts(&r->out, "}\n");
}

int esync_replay(const char *fixture, size_t fixture_len, const char *path, char **transcript,
                 size_t *transcript_len) {
    if (!fixture || !path || !transcript) return ESYNC_EINVAL;
    *transcript = NULL;
    replay r;
    memset(&r, 0, sizeof r);
    r.path = path;
    int rc = esync_initialize();
    if (rc) return rc;
    cJSON *fx = cJSON_ParseWithLength(fixture, fixture_len);
    if (!cJSON_IsObject(fx)) {
        cJSON_Delete(fx);
        return ESYNC_EJSON;
    }
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(fx, "seed");
    r.seed = cJSON_IsNumber(seed) ? (uint64_t)seed->valuedouble : 42;
    const cJSON *maxb = cJSON_GetObjectItemCaseSensitive(fx, "max_body_bytes");
    r.max_body = cJSON_IsNumber(maxb) && maxb->valuedouble > 0 ? (size_t)maxb->valuedouble : 0;
    const cJSON *ckpt = cJSON_GetObjectItemCaseSensitive(fx, "checkpoint_bytes");
    r.checkpoint_bytes = cJSON_IsNumber(ckpt) && ckpt->valuedouble > 0 ? (size_t)ckpt->valuedouble
                                                                       : 0;
    const cJSON *grow = cJSON_GetObjectItemCaseSensitive(fx, "checkpoint_growth");
    r.checkpoint_growth = cJSON_IsNumber(grow) && grow->valuedouble > 0 ? (size_t)grow->valuedouble
                                                                        : 0;
    if ((rc = open_engine(&r))) {
        cJSON_Delete(fx);
        return rc;
    }
    const cJSON *shapes = cJSON_GetObjectItemCaseSensitive(fx, "shapes");
    const cJSON *sh;
    cJSON_ArrayForEach(sh, shapes) {
        char *def = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(sh, "definition"));
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sh, "name"));
        rc = esync_shape_define(r.e, name, def);
        esync__buf_puts(&r.out, "{\"define\":");
        esync__buf_json_str(&r.out, name ? name : "", name ? strlen(name) : 0);
        add_str(&r, "rc", esync_errname(rc));
        if (rc) add_str(&r, "error", esync_errmsg(r.e));
        esync__buf_puts(&r.out, "}\n");
        cJSON_free(def);
    }
    int i = 0;
    const cJSON *step;
    cJSON_ArrayForEach(step, cJSON_GetObjectItemCaseSensitive(fx, "steps")) {
        const char *op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(step, "op"));
        const cJSON *expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
        if (!op || !strcmp(op, "response")) {
            step_response(&r, i, step);
        } else if (!strcmp(op, "version") || !strcmp(op, "reset")) {
            char *ev = NULL;
            int src = !strcmp(op, "reset")
                          ? esync_reset(r.e, &ev, NULL)
                          : esync_version_check(
                                r.e,
                                cJSON_GetStringValue(
                                    cJSON_GetObjectItemCaseSensitive(step, "version")),
                                &ev, NULL);
            line_start(&r, i, op);
            esync__buf_printf(&r.out, ",\"result\":%d", src);
            add_json(&r, "event", ev);
            esync__buf_puts(&r.out, "}\n");
            expect_rc(&r, i, expect, src < 0 ? src : 0);
            expect_json(&r, i, "event", cJSON_GetObjectItemCaseSensitive(expect, "event"), ev);
            esync_free(ev);
        } else if (!strcmp(op, "query")) {
            char *params = NULL, *rows = NULL;
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(step, "params");
            if (p) params = cJSON_PrintUnformatted(p);
            int qrc = esync_query(
                r.e, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(step, "sql")), params,
                &rows, NULL);
            line_start(&r, i, "query");
            add_str(&r, "rc", esync_errname(qrc));
            if (qrc) add_str(&r, "error", esync_errmsg(r.e));
            add_json(&r, "rows", rows);
            esync__buf_puts(&r.out, "}\n");
            expect_rc(&r, i, expect, qrc);
            expect_json(&r, i, "rows", cJSON_GetObjectItemCaseSensitive(expect, "rows"), rows);
            cJSON_free(params);
            esync_free(rows);
        } else if (!strcmp(op, "define")) {
            char *def = cJSON_PrintUnformatted(
                cJSON_GetObjectItemCaseSensitive(step, "definition"));
            int drc = esync_shape_define(
                r.e, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(step, "shape")),
                def ? def : "null");
            line_start(&r, i, "define");
            add_str(&r, "rc", esync_errname(drc));
            if (drc) add_str(&r, "error", esync_errmsg(r.e));
            esync__buf_puts(&r.out, "}\n");
            expect_rc(&r, i, expect, drc);
            cJSON_free(def);
        } else if (!strcmp(op, "reopen")) {
            /* A restart: close (rolling back any open batch), open again, define the shapes. */
            esync_close(r.e);
            r.e = NULL;
            int orc = open_engine(&r);
            cJSON_ArrayForEach(sh, shapes) {
                if (orc) break;
                char *def = cJSON_PrintUnformatted(
                    cJSON_GetObjectItemCaseSensitive(sh, "definition"));
                orc = esync_shape_define(
                    r.e, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sh, "name")), def);
                cJSON_free(def);
            }
            line_start(&r, i, "reopen");
            add_str(&r, "rc", esync_errname(orc));
            esync__buf_puts(&r.out, "}\n");
            if (orc) {
                r.failures++;
                break;
            }
        } else if (!strcmp(op, "query_tables")) {
            char *tables = NULL;
            int qrc = esync_query_tables(
                r.e, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(step, "sql")), &tables,
                NULL);
            line_start(&r, i, "query_tables");
            add_str(&r, "rc", esync_errname(qrc));
            if (qrc) add_str(&r, "error", esync_errmsg(r.e));
            add_json(&r, "tables", tables);
            esync__buf_puts(&r.out, "}\n");
            expect_rc(&r, i, expect, qrc);
            expect_json(&r, i, "tables", cJSON_GetObjectItemCaseSensitive(expect, "tables"),
                        tables);
            esync_free(tables);
        } else if (!strcmp(op, "txid_seen") || !strcmp(op, "resume") || !strcmp(op, "compare")) {
            /* the calls that answer with a number: txid_seen {txid}, resume {shape},
             * compare {shape, definition} */
            const char *shape = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(step, "shape"));
            char *def = NULL;
            int res;
            if (!strcmp(op, "txid_seen")) {
                res = esync_txid_seen(
                    r.e, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(step, "txid")));
            } else if (!strcmp(op, "resume")) {
                res = esync_shape_resume(r.e, shape);
            } else {
                def = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(step, "definition"));
                res = esync_shape_compare(r.e, shape, def ? def : "null");
            }
            line_start(&r, i, op);
            if (shape) add_str(&r, "shape", shape);
            esync__buf_printf(&r.out, ",\"result\":%d", res);
            if (res < 0) add_str(&r, "error", esync_errmsg(r.e));
            if (!strcmp(op, "resume")) record_request(&r, shape);
            esync__buf_puts(&r.out, "}\n");
            expect_rc(&r, i, expect, res < 0 ? res : 0);
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(expect, "result");
            if (want && (!cJSON_IsNumber(want) || want->valueint != res)) {
                esync__buf_printf(
                    &r.out, "{\"step\":%d,\"EXPECTATION_FAILED\":\"result\",\"got\":%d}\n", i, res);
                r.failures++;
            }
            cJSON_free(def);
        } else if (!strcmp(op, "status")) {
            char *status = NULL;
            int src = esync_status(r.e, &status, NULL);
            line_start(&r, i, "status");
            add_json(&r, "status", src ? NULL : status);
            esync__buf_puts(&r.out, "}\n");
            esync_free(status);
        } else if (!strcmp(op, "request")) {
            line_start(&r, i, "request");
            add_str(&r, "shape",
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(step, "shape")));
            record_request(&r,
                           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(step, "shape")));
            esync__buf_puts(&r.out, "}\n");
        } else {
            esync__buf_printf(&r.out, "{\"step\":%d,\"EXPECTATION_FAILED\":\"unknown op\"}\n", i);
            r.failures++;
        }
        i++;
    }
    if (r.e) {
        size_t mark = r.out.len;
        dump_replica(&r);
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(fx, "expect_replica");
        if (want) {
            cJSON *got = cJSON_Parse(r.out.data + mark);
            cJSON *rep = cJSON_GetObjectItemCaseSensitive(got, "replica");
            char *reps = rep ? cJSON_PrintUnformatted(rep) : NULL;
            expect_json(&r, -1, "replica", want, reps);
            cJSON_free(reps);
            cJSON_Delete(got);
        }
    }
    esync_close(r.e);
    cJSON_Delete(fx);
    *transcript = esync__buf_take(&r.out, transcript_len);
    if (!*transcript) return ESYNC_ENOMEM;
    return r.failures ? ESYNC_ESTATE : ESYNC_OK;
}
