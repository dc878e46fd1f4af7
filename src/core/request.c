/*
 * request.c — what to fetch next: the query string of a shape's next request (from its request
 * layer), the waits and refetches a failed response leads to, and the resume of a shape that
 * waits for credentials or stopped (esync_shape_resume).
 *
 * Backoff: "full jitter" (a uniform wait in [0, cap), the cap doubling per failure in a row), so
 * many clients that failed together do not come back together. The engine's PRNG is seeded by
 * the caller (esync_options.seed): the same seed gives the same requests and waits, which the
 * golden fixtures rely on.
 */
#include "request.h"

#include "alloc.h"
#include "batch.h"
#include "errors.h"
#include "queue.h"
#include "shape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* First cap after a transient HTTP failure: the server (or the network) is down or overloaded,
 * so the first retry spreads over a second rather than hammering it. */
#define BACKOFF_TRANSIENT_BASE_MS 1000
/* First cap after bad data: the server answered, and a truncated or bad cached response is
 * usually gone on the next try, so retry sooner. */
#define BACKOFF_DATA_BASE_MS 500
/* Largest cap: a shape whose server is away still asks about twice a minute, so it recovers
 * within half a minute of the server's return. */
#define BACKOFF_CAP_MS 32000
/* retry-after is honoured (as a minimum wait) up to an hour; longer is taken as a misconfigured
 * server rather than a reason to park a shape for longer. */
#define RETRY_AFTER_MAX_S 3600

/* xorshift64*: deterministic from the seed. */
static uint64_t next_rand(esync *e) {
    uint64_t x = e->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    e->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t backoff_ms(esync *e, int attempt, uint32_t base, const char *retry_after) {
    uint64_t cap = base;
    for (int i = 1; i < attempt && cap < BACKOFF_CAP_MS; i++) cap *= 2;
    if (cap > BACKOFF_CAP_MS) cap = BACKOFF_CAP_MS;
    uint32_t ms = (uint32_t)(next_rand(e) % cap); /* full jitter */
    if (retry_after) {
        char *end;
        double secs = strtod(retry_after, &end);
        if (end != retry_after && isfinite(secs) && secs > 0) {
            if (secs > RETRY_AFTER_MAX_S) secs = RETRY_AFTER_MAX_S;
            if (secs * 1000 > ms) ms = (uint32_t)(secs * 1000);
        }
    }
    return ms;
}

/* Appends the query of the shape's next request without a cache-buster (table, offset, handle,
 * live and cursor when live, where, params, columns, replica). Returns whether it is a live
 * request. */
bool esync__request_query(esync_buf *b, const esync_shape *s) {
    esync__buf_puts(b, "table=");
    esync__buf_urlenc(b, s->table);
    esync__buf_puts(b, "&offset=");
    esync__buf_urlenc(b, s->offset ? s->offset : "-1");
    if (s->handle) {
        esync__buf_puts(b, "&handle=");
        esync__buf_urlenc(b, s->handle);
    }
    bool live = s->live && s->offset && strcmp(s->offset, "-1");
    if (live) {
        esync__buf_puts(b, "&live=true");
        if (s->cursor) {
            esync__buf_puts(b, "&cursor=");
            esync__buf_urlenc(b, s->cursor);
        }
    }
    if (s->where) {
        esync__buf_puts(b, "&where=");
        esync__buf_urlenc(b, s->where);
    }
    for (int i = 0; i < s->nparams; i++) {
        esync__buf_printf(b, "&params%%5B%d%%5D=", i + 1);
        esync__buf_urlenc(b, s->params[i]);
    }
    if (s->columns) {
        esync__buf_puts(b, "&columns=");
        esync__buf_urlenc(b, s->columns);
    }
    if (s->replica_full) esync__buf_puts(b, "&replica=full");
    return live;
}

int esync_next_request(esync *e, const char *name, esync_request *out) {
    if (!e || !out) return ESYNC_EINVAL;
    memset(out, 0, sizeof *out);
    esync_shape *s = esync__shape_find(e, name);
    if (!s) return esync__fail(e, ESYNC_ENOSHAPE, "no shape named \"%s\"", name ? name : "");
    if (s->stopped) {
        out->action = ESYNC_ACT_STOP;
        return esync__ok(e);
    }
    if (s->unauthorized) {
        out->action = ESYNC_ACT_AUTH;
        return esync__ok(e);
    }
    if (s->wait_ms) {
        out->action = ESYNC_ACT_WAIT;
        out->wait_ms = s->wait_ms;
        s->wait_ms = 0;
        return esync__ok(e);
    }
    if (e->open && e->open != s && !s->live) {
        out->action = ESYNC_ACT_IDLE;
        return esync__ok(e);
    }
    /* A response of this shape is still queued: its offset is not applied yet, so fetching now
     * would ask for the same log again (and queue it twice). */
    if (esync__queue_has(e, s->name)) {
        out->action = ESYNC_ACT_IDLE;
        return esync__ok(e);
    }
    esync_buf *b = &e->scratch;
    esync__buf_reset(b);
    bool live = esync__request_query(b, s);
    if (s->cache_bust) {
        /* After a must-refetch: caches keyed on the URL must miss (Electric's client does the
         * same), so a CDN that cached the old handle cannot send us round in a 409 loop. */
        esync__buf_printf(b, "&cache-buster=%08x", (unsigned)(next_rand(e) & 0xffffffffu));
        if (s->expired_handle) {
            esync__buf_puts(b, "&expired_handle=");
            esync__buf_urlenc(b, s->expired_handle);
        }
    }
    if (b->oom) return esync__oom(e);
    out->action = ESYNC_ACT_FETCH;
    out->live = live;
    /* image.c: where the batch is fast (nothing yet) or append (snapshot chunks after a
     * checkpoint), so the rows need no per-key tracking */
    const char *o = s->offset ? s->offset : "-1";
    out->image = !live && !s->no_image && e->checkpoint_bytes > 0 && s->last_sync < 0 &&
                 !(s->refetch && s->rows > 0) && (!strcmp(o, "-1") || (o[0] == '0' && o[1] == '_'));
    out->query = b->data;
    return esync__ok(e);
}

int esync_shape_resume(esync *e, const char *name) {
    if (!e) return ESYNC_EINVAL;
    esync_shape *s = esync__shape_find(e, name);
    if (!s) return esync__fail(e, ESYNC_ENOSHAPE, "no shape named \"%s\"", name ? name : "");
    if (s->unauthorized) {
        /* The request layer is still the refused request's: it goes out again as it was. */
        s->unauthorized = false;
        esync__set_str(&s->error, NULL);
    }
    if (s->stopped) {
        /* The stop rolled the batch back; whatever the request layer moved on to since the
         * last commit is dropped too. */
        s->stopped = false;
        esync__set_str(&s->error, NULL);
        if (!s->in_batch && !esync__batch_reset_request(s)) return esync__oom(e);
    }
    return esync__ok(e);
}

/* ---- after a response ---- */

void esync__request_refetch(esync *e, esync_shape *s, const char *new_handle) {
    if (s->in_batch) {
        s->refetch = false; /* rollback restores the committed request state first */
        esync__batch_rollback(e);
    }
    const char *old = s->handle ? s->handle : s->handle_c;
    esync__set_str(&s->expired_handle, old);
    if (new_handle && new_handle[0] && (!old || strcmp(new_handle, old)))
        esync__set_str(&s->handle, new_handle);
    else
        esync__set_str(&s->handle, NULL);
    esync__set_str(&s->offset, "-1");
    esync__set_str(&s->cursor, NULL);
    s->live = false;
    s->refetch = true;
    s->cache_bust = true;
}

int esync__request_retry_bad_data(esync *e, esync_shape *s, int rc) {
    char msg[sizeof e->errmsg];
    memcpy(msg, e->errmsg, sizeof msg);
    esync__batch_abandon(e, s);
    s->data_failures++;
    if (s->data_failures >= ESYNC_DATA_FAILURES_REFETCH) {
        esync__request_refetch(e, s, NULL);
        /* The handle is not expired (the data was bad, not the shape): the cache-buster alone
         * gets past a cached bad response; expired_handle would contradict the handle the
         * server sends back. */
        esync__set_str(&s->expired_handle, NULL);
        s->data_failures = 0;
    }
    s->wait_ms = backoff_ms(e, s->data_failures + 1, BACKOFF_DATA_BASE_MS, NULL);
    esync__set_str(&s->error, msg);
    e->errcode = rc;
    memcpy(e->errmsg, msg, sizeof msg);
    return rc;
}

int esync__request_retry_transient(esync *e, esync_shape *s, const esync_response *r) {
    s->http_failures++;
    s->wait_ms = backoff_ms(e, s->http_failures, BACKOFF_TRANSIENT_BASE_MS, r->retry_after);
    /* An open batch stays open: the retry continues from the last response applied. */
    if (r->status == 0)
        esync__fail(e, ESYNC_ERETRY, "shape \"%s\": network error", s->name);
    else
        esync__fail(e, ESYNC_ERETRY, "shape \"%s\": HTTP %d", s->name, r->status);
    esync__set_str(&s->error, e->errmsg);
    return ESYNC_ERETRY;
}
