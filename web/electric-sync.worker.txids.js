/*
 * electric-sync.worker.txids.js — awaitTxId (a classic script, one of the worker's parts: see
 * electric-sync.worker.js).
 *
 *   {type:'AWAIT_TXID', id, txid}   -> {type:'RESULT', id, value: true} once the txid is durable
 *   {type:'CANCEL', id}             the tab gave up (its timeout): forget the waiter
 *
 * The engine reads the txids of every change message (headers.txids) and, at commit, stores them
 * in the same transaction as the rows and reports them: on the DATA_CHANGE (`txids`), or, for a
 * batch without a net change, as an event {type:'TXIDS'} that only this part sees.
 *
 * Invariants
 *  - A waiter is answered only once a completed IndexedDB transaction holds a commit carrying its
 *    txid and that commit's events were broadcast: a txid the engine committed but did not flush
 *    yet is `inflight` and waits; a txid the engine knows (engine.txidSeen) and that is not in
 *    flight is durable (the replica in memory is IndexedDB's plus what is in flight), so it is
 *    answered at once — also after a reload, from the txids stored in the replica.
 *  - The timeout is the tab's (web/electric-sync.js); a forgotten tab's waiters are dropped.
 */
(function (g) {
  'use strict';

  class Txids {
    // opts: {replica (Replica), tabs (Tabs), log}
    constructor(opts) {
      this.replica = opts.replica;
      this.tabs = opts.tabs;
      this.log = opts.log;
      this.inflight = new Map(); // txid -> number of commits carrying it not yet durable
      this.waiters = new Map();  // txid -> Set<{c, id}>
      this.byRequest = new Map(); // `${client id}:${id}` -> {c, id, txid}
      this.atOnce = 0;           // waiters answered at once (the txid was durable when asked)
      this.afterWait = 0;        // waiters answered by a later durable commit (before its ROWS)
    }

    static of(events) {
      const out = [];
      for (const ev of events) if (ev && Array.isArray(ev.txids)) for (const t of ev.txids) out.push(String(t));
      return out;
    }

    // An ingest committed these events (not durable yet).
    committed(events) {
      for (const t of Txids.of(events)) this.inflight.set(t, (this.inflight.get(t) || 0) + 1);
    }

    // Those events are durable and broadcast: answer their waiters.
    durable(events) {
      for (const t of Txids.of(events)) {
        const n = (this.inflight.get(t) || 1) - 1;
        if (n > 0) this.inflight.set(t, n); else this.inflight.delete(t);
        const ws = this.waiters.get(t);
        if (!ws) continue;
        this.waiters.delete(t);
        for (const w of ws) {
          this.afterWait++;
          this.answer(w, { type: 'RESULT', id: w.id, value: true });
        }
      }
    }

    async wait(c, id, txid) {
      const t = String(txid);
      if (!/^[0-9]+$/.test(t)) return this.tabs.send(c, { type: 'RESULT', id, error: { code: 'ESYNC_EINVAL', message: `not a transaction id: ${t}` } });
      const w = { c, id, txid: t };
      this.byRequest.set(`${c.id}:${id}`, w);
      const engine = await this.replica.whenOpen();
      if (!this.byRequest.has(`${c.id}:${id}`)) return; // cancelled meanwhile
      if (!engine) return this.answer(w, { type: 'RESULT', id, error: { code: 'Error', message: 'the replica is closed' } });
      let seen = false;
      if (!this.inflight.has(t)) {
        for (let misses = 0; ; misses++) {
          try {
            this.replica.M.MemVfs.missing(); // forget an older miss
            seen = engine.txidSeen(t);
            break;
          } catch (e) {
            const page = this.replica.pageWait(misses); // a page the lazy open has not read yet
            if (!page) return this.answer(w, { type: 'RESULT', id, error: { code: e.codeName || 'Error', message: String(e.message || e) } });
            try { await page; } catch (err) { return this.answer(w, { type: 'RESULT', id, error: { code: 'Error', message: String(err.message || err) } }); }
            if (!this.byRequest.has(`${c.id}:${id}`)) return; // cancelled meanwhile
          }
        }
      }
      if (seen) {
        this.atOnce++;
        return this.answer(w, { type: 'RESULT', id, value: true });
      }
      if (!this.waiters.has(t)) this.waiters.set(t, new Set());
      this.waiters.get(t).add(w);
    }

    answer(w, msg) {
      this.byRequest.delete(`${w.c.id}:${w.id}`);
      this.tabs.send(w.c, msg);
    }

    cancel(c, id) {
      const key = `${c.id}:${id}`;
      const w = this.byRequest.get(key);
      if (!w) return;
      this.byRequest.delete(key);
      const ws = this.waiters.get(w.txid);
      if (ws) {
        ws.delete(w);
        if (!ws.size) this.waiters.delete(w.txid);
      }
    }

    forget(c) {
      for (const w of [...this.byRequest.values()]) if (w.c === c) this.cancel(c, w.id);
    }

    // Waiters the worker can no longer answer (it closes): rejected.
    close() {
      for (const w of [...this.byRequest.values()]) this.answer(w, { type: 'RESULT', id: w.id, error: { code: 'Error', message: 'the replica is closed' } });
      this.waiters.clear();
    }

    stats() {
      return { waiting: this.byRequest.size, inflight: this.inflight.size, atOnce: this.atOnce, afterWait: this.afterWait };
    }
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  ns.Txids = Txids;
})(typeof self !== 'undefined' ? self : globalThis);
