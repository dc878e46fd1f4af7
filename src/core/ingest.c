/*
 * ingest.c — response dispatch: esync_ingest hands each response to the shape's request layer
 * (a transient failure waits, a 409 refetches, a 401/403 waits for credentials with the batch
 * kept, another 4xx stops the shape) or applies a 200's messages inside the shape's batch
 * (collecting their txids), committing it at up-to-date. A response of another shape
 * than the one whose batch is open waits in the queue (queue.c) and is applied, with its change
 * sets returned, by the ingest call that ends that batch.
 */
#include "alloc.h"
#include "batch.h"
#include "changes.h"
#include "errors.h"
#include "image.h"
#include "internal.h"
#include "msgparse.h"
#include "order.h"
#include "queue.h"
#include "request.h"
#include "rows.h"
#include "shape.h"
#include "txids.h"
#include "types.h"

#include <cJSON.h>
#include <string.h>

/* Bytes of an error response's body quoted in the shape's error message. */
#define ERROR_BODY_EXCERPT 300

typedef enum { OP_INSERT, OP_UPDATE, OP_DELETE } op_kind;

/* One change message: its values, its key tracked, then the row SQL. */
static int apply_change(esync *e, esync_shape *s, op_kind op, const esync_msgs *ms,
                        const esync_msg *m, esync_row_values *rv, esync_buf *key, esync_buf *tmp) {
    int rc = esync__rows_gather(e, s, ms->f + m->field0, m->nfields, rv);
    if (!rc) rc = esync__changes_track(e, s, rv, key, tmp);
    if (rc) return rc;
    switch (op) {
    case OP_INSERT:
        rc = esync__rows_insert(e, s, rv);
        if (!rc) s->batch_inserts++;
        return rc;
    case OP_UPDATE: return esync__rows_update(e, s, rv);
    default: return esync__rows_delete(e, s, rv);
    }
}

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/* Parses the body: a JSON array of messages (an empty body counts as []). The whole body is
 * checked before anything is written. On error ms is empty. */
static int parse_body(esync *e, const esync_shape *s, const esync_response *r, esync_msgs *ms) {
    memset(ms, 0, sizeof *ms);
    size_t start = 0;
    while (start < r->body_len && is_ws((char)r->body[start])) start++;
    if (start == r->body_len) return ESYNC_OK;
    size_t at = 0;
    int prc = r->body_writable ? esync__msgs_parse_inplace(ms, r->body_writable, r->body_len, &at)
                               : esync__msgs_parse(ms, r->body, r->body_len, &at);
    if (!prc && ms->is_array) return ESYNC_OK;
    esync__msgs_free(ms);
    if (prc == ESYNC_ENOMEM) return esync__oom(e);
    if (!prc)
        return esync__fail(e, ESYNC_EPROTO, "shape \"%s\": body is not a JSON array", s->name);
    return esync__fail(
        e, prc, "shape \"%s\": malformed or truncated JSON body (stopped at byte %zu of %zu)",
        s->name, at, r->body_len);
}

/* A snapshot offset (0_k or 0_inf): the response holds rows of the one consistent snapshot and
 * no Postgres transaction of the log, so its end is a safe place for a checkpoint. */
static bool snapshot_offset(const char *offset) {
    return offset && offset[0] == '0' && offset[1] == '_';
}

/* The body bytes after which the open batch of an initial sync commits as a checkpoint: every
 * checkpoint_bytes, or with growth the bytes committed so far (doubling), capped. (With growth,
 * the response that ends the snapshot, with `snapshot-end`, is no checkpoint: what follows it,
 * up-to-date, commits anyway, and a flush of nearly the same image just before would be
 * wasted.) */
static size_t checkpoint_spacing(const esync *e, const esync_shape *s) {
    size_t every = e->checkpoint_bytes;
    if (!e->checkpoint_max || s->sync_bytes <= every) return every;
    every = s->sync_bytes < e->checkpoint_max ? s->sync_bytes : e->checkpoint_max;
    return every > e->checkpoint_bytes ? every : e->checkpoint_bytes;
}

/* Whether the open batch of an initial sync commits as a checkpoint after a snapshot response
 * that ended at offset (snapshot_end: it carried the snapshot-end message). */
static bool checkpoint_due(const esync *e, const esync_shape *s, const char *offset,
                           bool snapshot_end) {
    return e->checkpoint_bytes > 0 && s->last_sync < 0 && !s->shadow && snapshot_offset(offset) &&
           s->batch_bytes >= checkpoint_spacing(e, s) && !(e->checkpoint_max && snapshot_end);
}

/* A 200 or 204 being applied: everything its application keeps from one slice to the next
 * (esync_set_ingest_slice; without slicing it lives for one call). */
typedef struct esync_applying {
    esync_shape *s;
    esync_msgs ms;
    esync_schema rs;
    esync_row_values rv;
    esync_buf key, tmp;
    size_t next;      /* the next message to apply */
    size_t per_slice; /* messages per call (ms.n: all at once) */
    bool up_to_date, refetches, snapshot_end;
    bool refetch_last; /* the last message applied was a must-refetch */
    size_t body_len;
    double now_ms;
    char *handle, *offset, *cursor; /* the response's headers, copied */
} esync_applying;

static void applying_free(esync_applying *a) {
    if (!a) return;
    esync__rows_values_free(&a->rv);
    esync__buf_free(&a->key);
    esync__buf_free(&a->tmp);
    esync__msgs_free(&a->ms);
    esync__schema_free(&a->rs);
    esync__freemem(a->handle);
    esync__freemem(a->offset);
    esync__freemem(a->cursor);
    esync__freemem(a);
}

/* A 200 or 204, first part: the checks, the body parsed whole, the shape's batch opened when
 * something is to be written. On success *out_a holds what the slices need. */
static int ok_begin(esync *e, esync_shape *s, const esync_response *r, esync_buf *out,
                    esync_applying **out_a) {
    *out_a = NULL;
    bool is204 = r->status == 204;
    if (r->body_len > e->max_body)
        return esync__fail(e, ESYNC_ETOOBIG,
                           "shape \"%s\": response body of %zu bytes is over the %zu-byte limit",
                           s->name, r->body_len, e->max_body);
    if (!is204 && (!r->handle || !r->handle[0]))
        return esync__fail(e, ESYNC_EHEADERS,
                           "shape \"%s\": response has no electric-handle header", s->name);
    if (!is204 && (!r->offset || !r->offset[0]))
        return esync__fail(e, ESYNC_EHEADERS,
                           "shape \"%s\": response has no electric-offset header", s->name);
    esync_applying *a = esync__malloc(sizeof *a);
    if (!a) return esync__oom(e);
    memset(a, 0, sizeof *a);
    a->s = s;
    a->body_len = r->body_len;
    a->now_ms = r->now_ms;
    esync__buf_init(&a->key);
    esync__buf_init(&a->tmp);
    int rc = ESYNC_OK;
    if ((r->handle && !(a->handle = esync__strdup(r->handle))) ||
        (r->offset && !(a->offset = esync__strdup(r->offset))) ||
        (r->cursor && !(a->cursor = esync__strdup(r->cursor)))) {
        applying_free(a);
        return esync__oom(e);
    }
    if (r->schema && r->schema[0]) {
        char err[200];
        rc = esync__schema_parse(r->schema, &a->rs, err, sizeof err);
        if (rc) {
            applying_free(a);
            return esync__fail(e, rc, "shape \"%s\": %s", s->name, err);
        }
    }
    rc = parse_body(e, s, r, &a->ms);
    if (rc) {
        applying_free(a);
        return rc;
    }
    const esync_msgs *ms = &a->ms;
    a->up_to_date = r->up_to_date || is204;
    bool has_changes = false, inserts_only = true;
    for (size_t i = 0; i < ms->n; i++) {
        const esync_msg *m = &ms->m[i];
        if (!m->is_object || m->headers_kind != ESYNC_JSON_OBJECT) {
            rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": message without headers", s->name);
            break;
        }
        if (m->control_kind == ESYNC_JSON_STRING && !strcmp(m->control, "up-to-date"))
            a->up_to_date = true;
        if (m->control_kind == ESYNC_JSON_STRING && !strcmp(m->control, "must-refetch"))
            a->refetches = true;
        if (m->control_kind == ESYNC_JSON_STRING && !strcmp(m->control, "snapshot-end"))
            a->snapshot_end = true;
        if (m->op_kind != ESYNC_JSON_ABSENT) {
            has_changes = true;
            if (!esync__msg_is_insert(m)) inserts_only = false;
        }
    }
    /* A response that may continue the snapshot after a checkpoint without tracking keys. */
    bool snapshot_chunk = !is204 && !a->up_to_date && !a->refetches && inserts_only &&
                          snapshot_offset(r->offset) && e->checkpoint_bytes > 0;
    /* A handle and its offsets form a pair: a new handle mid-log is only valid together with a
     * must-refetch. */
    if (!rc && !is204 && !a->refetches && s->handle && strcmp(s->offset ? s->offset : "-1", "-1") &&
        strcmp(r->handle, s->handle))
        rc = esync__fail(e, ESYNC_EHEADERS,
                         "shape \"%s\": handle changed from %s to %s without a must-refetch",
                         s->name, s->handle, r->handle);
    /* An append batch (checkpoint spacing > one response) holds snapshot inserts only: a response
     * of another kind commits it first, at the end of the last snapshot chunk it applied (a
     * checkpoint), and then opens a batch of its own. */
    if (!rc && s->in_batch && s->append && !snapshot_chunk)
        rc = esync__batch_commit(e, s, r->now_ms, true, &a->rv, &a->tmp, out);
    /* Open the batch only when something is written: rows, a new table, or a new offset or
     * handle to store at up-to-date. An empty live answer writes nothing. */
    bool need_batch = has_changes || s->in_batch || s->refetch || !s->schema_c.ncols ||
                      (a->rs.ncols && !esync__schema_same(&a->rs, &s->schema_c)) ||
                      (a->up_to_date && r->offset &&
                       (!s->offset_c || strcmp(r->offset, s->offset_c))) ||
                      (a->up_to_date && r->handle &&
                       (!s->handle_c || strcmp(r->handle, s->handle_c)));
    if (!rc && need_batch) {
        rc = esync__batch_begin(e, s, &a->rs, snapshot_chunk);
        if (!rc) rc = esync__rows_fit(e, &a->rv, s->schema_b.ncols);
    }
    /* A response of inserts only (a snapshot) is applied in the table's key order (order.h). */
    if (!rc && has_changes && inserts_only && !a->refetches &&
        esync__order_inserts(&a->ms, &s->schema_b) == ESYNC_ENOMEM)
        rc = esync__oom(e);
    if (rc) {
        applying_free(a);
        return rc;
    }
    a->per_slice = ms->n;
    if (e->slice_bytes && r->body_len > e->slice_bytes) {
        /* about slice_bytes of body per call, counted in messages of the body's average size */
        size_t per = (size_t)((double)ms->n * (double)e->slice_bytes / (double)r->body_len);
        a->per_slice = per ? per : 1;
    }
    *out_a = a;
    return ESYNC_OK;
}

/* The messages [a->next, upto) applied in the batch. */
static int ok_apply(esync *e, esync_applying *a, size_t upto) {
    esync_shape *s = a->s;
    const esync_msgs *ms = &a->ms;
    int rc = ESYNC_OK;
    for (; a->next < upto && !rc; a->next++) {
        const esync_msg *m = &ms->m[a->next];
        a->refetch_last = false;
        /* Inserts may wait in a group (rows.c): anything else comes after them. */
        if (s->npend && !esync__msg_is_insert(m) && (rc = esync__rows_flush(e, s))) break;
        if (m->control_kind != ESYNC_JSON_ABSENT) {
            if (m->control_kind == ESYNC_JSON_STRING && !strcmp(m->control, "must-refetch")) {
                /* Everything before it in this batch is void; what follows is the new log. */
                a->refetch_last = true;
                esync__request_refetch(e, s, NULL);
                s->batch_inserts = 0;
                if (!esync__set_str(&s->handle, a->handle)) rc = esync__oom(e);
                if (!rc) rc = esync__batch_begin(e, s, &a->rs, false);
                /* The new target's schema (the committed one when this response has none) may
                 * have another column count than the voided batch's. */
                if (!rc) rc = esync__rows_fit(e, &a->rv, s->schema_b.ncols);
            }
            continue; /* up-to-date handled above; snapshot-end and unknown controls ignored */
        }
        if (m->op_kind == ESYNC_JSON_ABSENT)
            continue; /* events (move-out…) are for subquery shapes: ignored */
        op_kind kind;
        if (m->op_kind != ESYNC_JSON_STRING) {
            rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": operation is not a string", s->name);
            break;
        }
        if (!strcmp(m->op, "insert"))
            kind = OP_INSERT;
        else if (!strcmp(m->op, "update"))
            kind = OP_UPDATE;
        else if (!strcmp(m->op, "delete"))
            kind = OP_DELETE;
        else {
            rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": unknown operation \"%.40s\"", s->name,
                             m->op);
            break;
        }
        if (m->key_kind != ESYNC_JSON_STRING || !m->key[0]) {
            rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": change without a key", s->name);
            break;
        }
        if (m->value_kind != ESYNC_JSON_OBJECT) {
            rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": change without a value object",
                             s->name);
            break;
        }
        if (m->txids_bad) {
            rc = esync__fail(e, ESYNC_EPROTO,
                             "shape \"%s\": headers.txids is not an array of transaction ids",
                             s->name);
            break;
        }
        rc = apply_change(e, s, kind, ms, m, &a->rv, &a->key, &a->tmp);
        if (!rc && m->ntxids) rc = esync__txids_add(e, s, ms->tx + m->txid0, m->ntxids);
    }
    return rc;
}

/* A 200 or 204, last part (every message applied): the response's offset and handle, the
 * commit at up-to-date or at a checkpoint: the end of a snapshot response while the shape has
 * never been up-to-date, once the batch holds checkpoint_spacing bytes of bodies. */
static int ok_end(esync *e, esync_applying *a, esync_buf *out) {
    esync_shape *s = a->s;
    int rc = ESYNC_OK;
    /* The grouped inserts point at this body's texts, freed with a. */
    if (s->npend) rc = esync__rows_flush(e, s);
    if (!rc && a->refetch_last) {
        /* The body ended with the must-refetch: nothing of the new log came, and this
         * response's offset belongs to the voided log. Restart at -1, as after a 409. */
        esync__request_refetch(e, s, NULL);
    } else if (!rc && s->in_batch) {
        if ((a->handle && !esync__set_str(&s->handle, a->handle)) ||
            (a->offset && !esync__set_str(&s->offset, a->offset)) ||
            (a->cursor && !esync__set_str(&s->cursor, a->cursor)))
            rc = esync__oom(e);
        s->batch_bytes += a->body_len;
        bool checkpoint = !a->up_to_date && !a->refetches &&
                          checkpoint_due(e, s, a->offset, a->snapshot_end);
        if (!rc && (a->up_to_date || checkpoint))
            rc = esync__batch_commit(e, s, a->now_ms, !a->up_to_date, &a->rv, &a->tmp, out);
    } else if (!rc) {
        /* Nothing to write (an empty live answer): just move the request state on. */
        if (a->handle) esync__set_str(&s->handle, a->handle);
        if (a->offset) esync__set_str(&s->offset, a->offset);
        if (a->cursor) esync__set_str(&s->cursor, a->cursor);
        if (a->up_to_date) s->live = true;
    }
    return rc;
}

/* The shape's request state after a response applied whole. */
static void ok_done(esync_shape *s) {
    esync__set_str(&s->error, NULL);
    /* The new handle answered: later requests are ordinary cache keys again, and a good
     * response breaks a run of data failures. */
    s->cache_bust = false;
    s->data_failures = 0;
}

/* One slice of e->applying (the whole response without slicing); the last one ends the
 * response. An error rolls the batch back (the next request re-asks). */
static int ok_step(esync *e, esync_buf *out) {
    esync_applying *a = e->applying;
    esync_shape *s = a->s;
    size_t upto = a->ms.n - a->next > a->per_slice ? a->next + a->per_slice : a->ms.n;
    int rc = ok_apply(e, a, upto);
    if (!rc && a->next < a->ms.n) return ESYNC_OK; /* pending: esync_ingest_continue */
    if (!rc) rc = ok_end(e, a, out);
    e->applying = NULL;
    if (rc)
        rc = esync__request_retry_bad_data(e, s, rc);
    else
        ok_done(s);
    applying_free(a);
    return rc ? rc : esync__ok(e);
}

void esync__ingest_drop(esync *e) {
    if (!e || !e->applying) return;
    applying_free(e->applying);
    e->applying = NULL;
}

/* A 200 whose rows are a replica image (image.c): the header checks of ok_begin, then the copy.
 * A failure is bad data, and the shape asks for JSON from then on. */
static int image_response(esync *e, esync_shape *s, const esync_response *r, esync_buf *out) {
    esync_schema rs = {0};
    int rc = ESYNC_OK;
    if (r->body_len > e->max_body)
        rc = esync__fail(e, ESYNC_ETOOBIG,
                         "shape \"%s\": image of %zu bytes is over the %zu-byte limit", s->name,
                         r->body_len, e->max_body);
    else if (!r->handle || !r->handle[0] || !r->offset || !r->offset[0])
        rc = esync__fail(e, ESYNC_EHEADERS,
                         "shape \"%s\": image without electric-handle or electric-offset", s->name);
    else if (!r->up_to_date && !snapshot_offset(r->offset))
        rc = esync__fail(e, ESYNC_EPROTO, "shape \"%s\": image at offset %.40s, not a snapshot's",
                         s->name, r->offset);
    else if (s->handle && strcmp(s->offset ? s->offset : "-1", "-1") &&
             strcmp(r->handle, s->handle))
        rc = esync__fail(e, ESYNC_EHEADERS,
                         "shape \"%s\": handle changed from %s to %s without a must-refetch",
                         s->name, s->handle, r->handle);
    if (!rc && r->schema && r->schema[0]) {
        char err[200];
        if ((rc = esync__schema_parse(r->schema, &rs, err, sizeof err)))
            esync__fail(e, rc, "shape \"%s\": %s", s->name, err);
    }
    if (!rc) rc = esync__image_apply(e, s, r, &rs, out);
    esync__schema_free(&rs);
    /* committed as after a JSON response: at up-to-date, or a checkpoint at the end of the
     * response, so that the store takes its pages while no transaction is open (an image carries
     * no snapshot-end: the last chunk may be a checkpoint just before the up-to-date) */
    if (!rc && (r->up_to_date || checkpoint_due(e, s, r->offset, false)))
        rc = esync__batch_commit_now(e, s, r->now_ms, !r->up_to_date, out);
    if (!rc) {
        ok_done(s);
        return esync__ok(e);
    }
    s->no_image = true;
    return esync__request_retry_bad_data(e, s, rc);
}

/* Electric's 400 for an offset beyond the shape's end: {"errors":{"offset":["out of bounds…"]}}. */
static bool body_says_out_of_bounds(const esync_response *r) {
    if (!r->body || !r->body_len) return false;
    cJSON *j = esync__json_parse((const char *)r->body, r->body_len, NULL);
    cJSON *off = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "errors"),
                                                  "offset");
    bool yes = false;
    cJSON *m;
    cJSON_ArrayForEach(m, off) {
        if (cJSON_IsString(m) && strstr(m->valuestring, "out of bounds")) yes = true;
    }
    cJSON_Delete(j);
    return yes;
}

static int process(esync *e, esync_shape *s, const esync_response *r, esync_buf *out) {
    int st = r->status;
    if (st == 0 || st == 429 || st >= 500) return esync__request_retry_transient(e, s, r);
    s->http_failures = 0;
    if (st == 409 || (st == 400 && body_says_out_of_bounds(r))) {
        /* 400 "out of bounds" (we are ahead of the server, e.g. after a restore) is a refetch too:
         * treating it as fatal is Electric's client bug #3899. */
        esync__request_refetch(e, s, st == 409 ? r->handle : NULL);
        return esync__ok(e);
    }
    if (st == 200 && r->image) return image_response(e, s, r, out);
    if (st == 200 || st == 204) {
        int rc = ok_begin(e, s, r, out, &e->applying);
        if (rc) return esync__request_retry_bad_data(e, s, rc);
        return ok_step(e, out);
    }
    if (st == 401 || st == 403) {
        /* The credentials expired or were refused: nothing is wrong with the data, so the batch
         * stays open and the same request goes out again once the caller has new ones. */
        s->unauthorized = true;
        esync__fail(e, ESYNC_EAUTH, "shape \"%s\": HTTP %d: %.*s", s->name, st,
                    (int)(r->body_len > ERROR_BODY_EXCERPT ? ERROR_BODY_EXCERPT : r->body_len),
                    r->body ? (const char *)r->body : "");
        esync__set_str(&s->error, e->errmsg);
        return ESYNC_EAUTH;
    }
    if (s->in_batch) esync__batch_rollback(e);
    s->stopped = true;
    esync__fail(e, ESYNC_EHTTP, "shape \"%s\": HTTP %d: %.*s", s->name, st,
                (int)(r->body_len > ERROR_BODY_EXCERPT ? ERROR_BODY_EXCERPT : r->body_len),
                r->body ? (const char *)r->body : "");
    esync__set_str(&s->error, e->errmsg);
    return ESYNC_EHTTP;
}

/* Applies queued responses while no batch is open (one of them may open a batch again). */
static void drain(esync *e, esync_buf *out) {
    esync_queued *q;
    /* A queued response is applied whole (its caller is not the one that would go on with it). */
    size_t slice = e->slice_bytes;
    e->slice_bytes = 0;
    while (!e->open && (q = esync__queue_pop(e))) {
        esync_shape *s = esync__shape_find(e, q->shape);
        if (s) process(e, s, &q->resp, out); /* its errors are in the shape's status */
        esync__queued_free(q);
    }
    e->slice_bytes = slice;
}

/* The end of an esync_ingest or esync_ingest_continue call: once no response is pending, the
 * queued responses of other shapes; then the events written to out handed to the caller. */
static int end_call(esync *e, int rc, esync_buf *out, char **changes, size_t *changes_len) {
    char msg[sizeof e->errmsg];
    memcpy(msg, e->errmsg, sizeof msg);
    if (!e->applying) drain(e, out);
    e->errcode = rc;
    memcpy(e->errmsg, msg, sizeof msg);
    esync__buf_putc(out, ']');
    if (out->oom) {
        esync__buf_free(out);
        e->nevx = 0;
        return esync__oom(e);
    }
    /* records of events cut off at the end (a failed commit), or left open, are dropped */
    while (e->nevx && (e->evx[(e->nevx - 1) * ESYNC_EVENT_RECORD] >= out->len - 1 ||
                       !e->evx[(e->nevx - 1) * ESYNC_EVENT_RECORD + 1]))
        e->nevx--;
    if (out->len > 2)
        *changes = esync__buf_take(out, changes_len);
    else
        e->nevx = 0;
    esync__buf_free(out);
    return rc;
}

int esync_ingest(esync *e, const char *name, const esync_response *r, char **changes,
                 size_t *changes_len) {
    if (!e) return ESYNC_EINVAL;
    e->nevx = 0;
    if (changes) *changes = NULL;
    if (changes_len) *changes_len = 0;
    if (!r || !changes || (r->body_len && !r->body && !r->image))
        return esync__fail(e, ESYNC_EINVAL, "missing response or out-pointer");
    esync_shape *s = esync__shape_find(e, name);
    if (!s) return esync__fail(e, ESYNC_ENOSHAPE, "no shape named \"%s\"", name ? name : "");
    if (e->applying && e->applying->s == s)
        return esync__fail(e, ESYNC_EINVAL,
                           "shape \"%s\": a response is still being applied "
                           "(esync_ingest_continue)",
                           s->name);
    if ((e->open && e->open != s) || e->applying) {
        if (r->image) return esync__ok(e); /* not kept: the same request comes again */
        int rc = esync__queue_push(e, name, r);
        return rc ? rc : esync__ok(e);
    }
    esync_buf out;
    esync__buf_init(&out);
    esync__buf_putc(&out, '[');
    int rc = process(e, s, r, &out);
    return end_call(e, rc, &out, changes, changes_len);
}

void esync_set_ingest_slice(esync *e, size_t bytes) {
    if (e) e->slice_bytes = bytes;
}

int esync_ingest_pending(const esync *e) { return e && e->applying ? 1 : 0; }

int esync_ingest_continue(esync *e, char **changes, size_t *changes_len) {
    if (!e) return ESYNC_EINVAL;
    e->nevx = 0;
    if (changes) *changes = NULL;
    if (changes_len) *changes_len = 0;
    if (!changes) return esync__fail(e, ESYNC_EINVAL, "missing out-pointer");
    if (!e->applying) return esync__ok(e);
    esync_buf out;
    esync__buf_init(&out);
    esync__buf_putc(&out, '[');
    int rc = ok_step(e, &out);
    return end_call(e, rc, &out, changes, changes_len);
}

void esync_ingest_abort(esync *e) {
    if (!e || !e->applying) return;
    esync_shape *s = e->applying->s;
    esync__ingest_drop(e);
    esync__batch_abandon(e, s);
}

int esync_ingest_events(esync *e, const uint32_t **pos, size_t *n) {
    if (!e || !pos || !n) return ESYNC_EINVAL;
    *pos = e->evx;
    *n = e->nevx;
    return ESYNC_OK;
}
