/* Parked requests and the notifier thread.
 *
 * A request that cannot be answered yet is parked on its shape (its waiters) and, when it has a
 * hold, on the deadline list (sorted by deadline). The notifier thread sleeps until a shape is
 * marked dirty (the replication thread appended a transaction, a snapshot finished, the shape was
 * invalidated) or the next deadline or catalog check is due; then it answers what it can, under
 * the lock, and runs the completions after unlocking. It queues the periodic catalog check of the
 * live shapes' tables (workers.c) every reconcile_ms.
 *
 * Runs on: esync__notifier_park/unpark on any thread holding the lock; esync__notifier_main on
 * the notifier thread, which holds the lock except while it runs completions or sleeps.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <time.h>

#include "common.h"
#include "shape/service_internal.h"
#include "shape/serve.h"
#include "shape/notifier.h"
#include "shape/workers.h"

/* Parks q on shape s, with a deadline (ms from now; 0: none). Deadlines of one kind are added in
 * order, so the list stays sorted when all holds have the same length; a shorter hold (the
 * out-of-bounds grace) is inserted from the tail. */
void esync__notifier_park(esync_shapes *S, esync_shape_req *q, shape *s, unsigned hold_ms) {
    struct esync_shape_priv *p = q->priv;
    p->wait = W_SHAPE;
    p->s = s;
    s->refs++;
    p->wprev = NULL;
    p->wnext = s->waiters;
    if (s->waiters) s->waiters->wprev = p;
    s->waiters = p;
    if (hold_ms) {
        p->deadline = esync__now_ms() + hold_ms;
        struct esync_shape_priv *at = S->tl_tail;
        while (at && at->deadline > p->deadline) at = at->tprev;
        p->tprev = at;
        p->tnext = at ? at->tnext : S->tl_head;
        if (p->tnext)
            p->tnext->tprev = p;
        else
            S->tl_tail = p;
        if (at)
            at->tnext = p;
        else
            S->tl_head = p;
        pthread_cond_signal(&S->notify_cv);
    }
}

void esync__notifier_unpark(esync_shapes *S, struct esync_shape_priv *p) {
    if (p->wait == W_SHAPE && p->s) {
        if (p->wprev)
            p->wprev->wnext = p->wnext;
        else
            p->s->waiters = p->wnext;
        if (p->wnext) p->wnext->wprev = p->wprev;
    }
    if (p->deadline) {
        if (p->tprev)
            p->tprev->tnext = p->tnext;
        else
            S->tl_head = p->tnext;
        if (p->tnext)
            p->tnext->tprev = p->tprev;
        else
            S->tl_tail = p->tprev;
    }
    p->wprev = p->wnext = p->tprev = p->tnext = NULL;
    p->deadline = 0;
    if (p->s) {
        esync__service_unref(p->s);
        p->s = NULL;
    }
    p->wait = W_NONE;
}

unsigned esync__notifier_hold(const esync_shapes *S, const shape *s,
                              const struct esync_shape_priv *p) {
    return p->image_wait         ? ESYNC_IMAGE_POLL_MS
           : s->state != S_READY ? 0
           : p->oob              ? S->o.long_poll_ms / 2
                                 : S->o.long_poll_ms;
}

/* Parks q again on s with the hold of its state now. */
static void repark(esync_shapes *S, esync_shape_req *q, shape *s) {
    unsigned hold = esync__notifier_hold(S, s, q->priv);
    s->refs++; /* (unpark may drop the last reference) */
    esync__notifier_unpark(S, q->priv);
    esync__notifier_park(S, q, s, hold);
    esync__service_unref(s);
}

void *esync__notifier_main(void *arg) {
    esync_shapes *S = arg;
    pthread_mutex_lock(&S->mu);
    for (;;) {
        done_list c = {0};
        while (S->dirty_head) {
            shape *s = S->dirty_head;
            S->dirty_head = s->dirty_next;
            s->dirty = false;
            struct esync_shape_priv *p = s->waiters;
            while (p) {
                struct esync_shape_priv *next = p->wnext;
                esync_shape_req *q = p->q;
                if (q->res.status < 0) { /* answered by fail_shape */
                    q->res.status = -q->res.status;
                    esync__service_complete(S, &c, q);
                } else {
                    bool was_creating = p->deadline == 0;
                    if (esync__serve_request(S, s, q)) {
                        esync__service_complete(S, &c, q);
                    } else if (p->image_wait ? p->deadline == 0
                                             : was_creating && s->state == S_READY) {
                        /* now waiting for an image, or the shape became ready: the hold
                         * starts now */
                        repark(S, q, s);
                    }
                }
                p = next;
            }
            esync__service_unref(s);
        }
        int64_t now = esync__now_ms();
        while (S->tl_head && S->tl_head->deadline <= now) {
            struct esync_shape_priv *p = S->tl_head;
            esync_shape_req *q = p->q;
            shape *s = p->s;
            if (p->image_wait && s) { /* a poll: the image made, still to wait, or given up */
                if (esync__serve_request(S, s, q))
                    esync__service_complete(S, &c, q);
                else
                    repark(S, q, s);
                continue;
            }
            p->timed_out = true;
            if (!S->repl_started && s && s->state == S_READY && !p->oob) {
                esync__serve_db_down(&q->res);
            } else if (!s || !esync__serve_request(S, s, q)) {
                esync__serve_json(&q->res, 503, "{\"message\":\"Timed out\"}");
                q->res.retry_after = 1;
            }
            esync__service_complete(S, &c, q);
        }
        if (S->all && !S->reconcile_queued && !S->stopping && now >= S->next_reconcile) {
            /* not on the first pass: the shapes were just checked */
            if (S->next_reconcile) esync__workers_queue_reconcile(S);
            S->next_reconcile = now + S->o.reconcile_ms;
        }
        if (c.done) {
            pthread_mutex_unlock(&S->mu);
            esync__service_run_done(&c);
            pthread_mutex_lock(&S->mu);
            continue;
        }
        if (S->stopping) break;
        if (S->dirty_head) continue;
        int64_t next_wake = S->tl_head ? S->tl_head->deadline : 0;
        if (S->all && (!next_wake || S->next_reconcile < next_wake)) next_wake = S->next_reconcile;
        if (next_wake) {
            int64_t wait = next_wake - esync__now_ms();
            if (wait > 0) {
                struct timespec ts = esync__abstime_in(wait);
                pthread_cond_timedwait(&S->notify_cv, &S->mu, &ts);
            }
        } else {
            pthread_cond_wait(&S->notify_cv, &S->mu);
        }
    }
    pthread_mutex_unlock(&S->mu);
    return NULL;
}
