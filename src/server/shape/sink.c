/* The replication sink: the callbacks of the replication connection (pg/repl.h), which turn each
 * committed transaction into the messages of the shapes it touches and append them to their logs.
 *
 * A transaction is collected per shape between Begin and Commit (shape.tx), then appended at
 * Commit. Until a shape's snapshot is known, its transactions are kept in memory (pend_txn) and
 * filtered when the snapshot worker publishes the snapshot (esync__sink_flush_pending): the
 * snapshot's xid filter drops what it already holds. A transaction already stored (re-delivered
 * after a reconnect or a restart) is skipped.
 *
 * Runs on the replication thread, each callback under the service lock; sink_durable syncs the
 * logs' files outside it (on duplicated descriptors) before reporting a position as flushed.
 * esync__sink_flush_pending runs on the snapshot worker and esync__sink_start_repl on the thread
 * creating the first shape (or at start), both under the lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "shape/service_internal.h"
#include "shape/sink.h"
#include "shape/restore.h"

void esync__sink_pend_free(pend_txn *p) {
    free(p->buf);
    free(p->ends);
    free(p->offs);
    free(p);
}

/* Appends a collected transaction to the shape's log. */
static void append_txn(shape *s, const char *buf, size_t len, const esync_offset *offs,
                       const size_t *ends, size_t n) {
    if (esync__storage_append(s->log, buf, len, offs, ends, n) != 0) {
        esync_log_error("shapes: %s: log write failed: %s", s->handle, strerror(errno));
        return;
    }
    s->needs_sync = true;
}

void esync__sink_flush_pending(shape *s) {
    while (s->pend_head) {
        pend_txn *pt = s->pend_head;
        s->pend_head = pt->next;
        if (!s->filter_done && esync__snapshot_visible(&s->snap, pt->xid)) {
            esync__sink_pend_free(pt);
            continue;
        }
        if (esync__snapshot_past(&s->snap, pt->xid)) s->filter_done = true;
        append_txn(s, pt->buf, pt->len, pt->offs, pt->ends, pt->n);
        esync__sink_pend_free(pt);
    }
    s->pend_tail = NULL;
}

/* The stream cannot continue the stored logs: drop every READY shape. CREATING ones take their
 * snapshot once the stream runs, so they stay. */
static void purge_ready(esync_shapes *S, const char *why) {
    for (shape *s = S->all, *next; s; s = next) {
        next = s->next;
        if (s->state == S_READY) esync__service_invalidate(S, s, why);
    }
}

static void sink_started(void *ctx, bool created, uint64_t confirmed) {
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    if (created)
        purge_ready(S, "the replication slot was (re)created");
    else if (confirmed > S->stored_flushed)
        purge_ready(S, "the replication slot is ahead of the stored logs");
    if (confirmed > S->stored_flushed) S->stored_flushed = confirmed;
    S->repl_started = true;
    pthread_cond_broadcast(&S->repl_cv);
    pthread_mutex_unlock(&S->mu);
}

static void reset_tx(shape *s) {
    s->tx.n = 0;
    s->tx_n = 0;
    s->tx_skip = false;
}

static void sink_disconnected(void *ctx, const char *why) {
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    if (S->repl_started && S->stopping)
        esync_log_info("shapes: replication stopped: %s", why);
    else if (S->repl_started)
        esync_log_warn("shapes: replication disconnected: %s", why);
    S->repl_started = false;
    for (shape *s = S->all; s; s = s->next) reset_tx(s);
    pthread_mutex_unlock(&S->mu);
}

static void sink_begin(void *ctx, uint32_t xid, uint64_t lsn) {
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    S->tx_xid = xid;
    S->tx_lsn = lsn;
    for (shape *s = S->all; s; s = s->next) {
        reset_tx(s);
        s->tx_filtered = s->snap_known;
        size_t n = s->log ? esync__storage_count(s->log) : 0;
        if (n && lsn <= esync__storage_entries(s->log)[n - 1].off.tx) {
            s->tx_skip = true; /* already stored (re-delivery after a reconnect or restart) */
            continue;
        }
        if (s->snap_known && !s->filter_done) {
            if (esync__snapshot_visible(&s->snap, xid))
                s->tx_skip = true;
            else if (esync__snapshot_past(&s->snap, xid))
                s->filter_done = true;
        }
    }
    pthread_mutex_unlock(&S->mu);
}

static bool same_relation(const esync_table *t, const esync_pgo_msg *m) {
    if (strcmp(t->name, m->u.relation.relname) != 0) return false;
    const char *ns = m->u.relation.nspname[0] ? m->u.relation.nspname : "pg_catalog";
    if (strcmp(t->schema, ns) != 0) return false;
    if (t->ncols != m->u.relation.ncols) return false;
    for (int i = 0; i < t->ncols; i++) {
        if (strcmp(t->cols[i].name, m->u.relation.cols[i].name) != 0) return false;
        if (t->cols[i].type_oid != m->u.relation.cols[i].type_oid) return false;
        if (t->cols[i].typmod != m->u.relation.cols[i].typmod) return false;
    }
    return true;
}

static void sink_relation(void *ctx, const esync_pgo_msg *m) {
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    for (shape *s = S->all, *next; s; s = next) {
        next = s->next;
        if (s->t->relid == m->u.relation.oid && !same_relation(s->t, m))
            esync__service_invalidate(S, s, "the table's schema changed");
    }
    pthread_mutex_unlock(&S->mu);
}

static void sink_change(void *ctx, uint32_t relid, char op, const esync_row *old_row,
                        const esync_row *new_row, int ncols, uint64_t ordinal) {
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    for (shape *s = S->all, *next; s; s = next) {
        next = s->next;
        if (s->t->relid != relid || s->tx_skip) continue;
        if (ncols != s->t->ncols) {
            esync__service_invalidate(S, s, "column count changed");
            continue;
        }
        if (s->tx_cap < s->tx_n + 2) {
            s->tx_cap = s->tx_cap ? s->tx_cap * 2 : 16;
            s->tx_ends = esync__xrealloc(s->tx_ends, s->tx_cap * sizeof *s->tx_ends);
            s->tx_offs = esync__xrealloc(s->tx_offs, s->tx_cap * sizeof *s->tx_offs);
        }
        /* an update without an old row (table not yet FULL): compare with itself */
        const esync_row *o = old_row ? old_row : new_row;
        int k = esync__msg_change(&s->tx, s->tx_ends + s->tx_n, s->tx_offs + s->tx_n, &s->view, op,
                                  o, new_row, S->tx_lsn, ordinal, S->tx_xid);
        s->tx_n += (size_t)k;
    }
    pthread_mutex_unlock(&S->mu);
}

static void sink_truncate(void *ctx, uint32_t relid) {
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    for (shape *s = S->all, *next; s; s = next) {
        next = s->next;
        if (s->t->relid == relid && !s->tx_skip) esync__service_invalidate(S, s, "truncate");
    }
    pthread_mutex_unlock(&S->mu);
}

static void sink_commit(void *ctx, uint64_t commit_lsn, uint64_t end_lsn) {
    (void)end_lsn;
    esync_shapes *S = ctx;
    pthread_mutex_lock(&S->mu);
    for (shape *s = S->all; s; s = s->next) {
        if (s->tx_skip || s->tx_n == 0) {
            reset_tx(s);
            continue;
        }
        esync__msg_mark_last(&s->tx);
        s->tx_ends[s->tx_n - 1] = s->tx.n;
        if (s->snap_known && !s->tx_filtered && !s->filter_done &&
            esync__snapshot_visible(&s->snap, S->tx_xid)) {
            /* the snapshot became known during this transaction, and already holds it */
        } else if (s->snap_known) {
            if (!s->tx_filtered && esync__snapshot_past(&s->snap, S->tx_xid)) s->filter_done = true;
            append_txn(s, s->tx.p, s->tx.n, s->tx_offs, s->tx_ends, s->tx_n);
            if (s->state == S_READY) esync__service_mark_dirty(S, s);
        } else {
            pend_txn *p = esync__xcalloc(1, sizeof *p);
            p->xid = S->tx_xid;
            p->buf = esync__xmalloc(s->tx.n + 1);
            memcpy(p->buf, s->tx.p, s->tx.n);
            p->len = s->tx.n;
            p->n = s->tx_n;
            p->ends = esync__xmalloc(s->tx_n * sizeof *p->ends);
            p->offs = esync__xmalloc(s->tx_n * sizeof *p->offs);
            memcpy(p->ends, s->tx_ends, s->tx_n * sizeof *p->ends);
            memcpy(p->offs, s->tx_offs, s->tx_n * sizeof *p->offs);
            if (s->pend_tail)
                s->pend_tail->next = p;
            else
                s->pend_head = p;
            s->pend_tail = p;
        }
        reset_tx(s);
    }
    if (commit_lsn > S->global_lsn) S->global_lsn = commit_lsn;
    pthread_mutex_unlock(&S->mu);
}

static uint64_t sink_durable(void *ctx, uint64_t processed) {
    esync_shapes *S = ctx;
    int *fds = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&S->mu);
    for (shape *s = S->all; s; s = s->next) {
        if (!s->needs_sync || s->state != S_READY || !s->log) continue;
        int a, b;
        if (esync__storage_dup_fds(s->log, &a, &b) != 0) continue;
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 32;
            fds = esync__xrealloc(fds, cap * sizeof *fds);
        }
        fds[n++] = a;
        fds[n++] = b;
        s->needs_sync = false;
    }
    pthread_mutex_unlock(&S->mu);
    for (size_t i = 0; i < n; i++) {
        fdatasync(fds[i]);
        close(fds[i]);
    }
    free(fds);
    if (processed != S->stored_flushed) {
        esync__restore_write_state(S, processed);
        S->stored_flushed = processed;
    }
    return processed;
}

/* The replication connection exists only once there is a shape to feed: a server that never
 * serves one never creates a slot. Under the lock. */
void esync__sink_start_repl(esync_shapes *S) {
    if (S->repl || S->stopping) return;
    esync_repl_sink sink = {
        S,           sink_started,  sink_disconnected, sink_begin,  sink_relation,
        sink_change, sink_truncate, sink_commit,       sink_durable};
    S->repl = esync_repl_start(S->o.database_url, S->slot, S->pub, S->owner, &sink);
}
