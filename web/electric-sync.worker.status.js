/*
 * electric-sync.worker.status.js — STATUS and READY (a classic script, one of the worker's parts:
 * see electric-sync.worker.js).
 *
 *   {type:'STATUS', shapeName, phase: 'opening' | 'initial-sync' | 'live' | 'offline' |
 *    'unauthorized' | 'error', rows, offset, handle, lastSyncedAt, error?, total?, progress?}
 *                                                                      (docs/contracts.md §6)
 *   {type:'READY'}   to each tab once: every shape it named was live once, or the stored
 *                    replica is served offline
 *   {type:'READY', error: {code, message}}   its shapes cannot be synced (SHAPE_CONFLICT, ...)
 *
 * Invariants
 *  - A STATUS equal to the last one sent for its shape is not sent again.
 *  - A tab that says HELLO later gets the last STATUS of every shape; its READY follows once its
 *    own shapes (expect()) were live once — at once when they already were.
 *  - The engine's phases are the tab's, except `backoff`, which the tab sees as `offline`.
 *  - Progress of an initial sync (from its request at offset -1, or from where a stored replica
 *    left it, until the shape is live): `rows` is the rows received so far (the engine's
 *    syncRows: the replica's rows plus the inserts of the batch it is building; a batch it rolls
 *    back is taken back, as it fetches it again), `total` the rows the server announced
 *    (`electric-sync-rows`, else `electric-sync-rows-estimate`; absent when it sent neither, as
 *    Electric does) and `progress` rows/total clamped to [0, 1] (absent without a total). Once
 *    live, `rows` is the replica's count again and `progress` is 1. While a sync runs, STATUS
 *    goes out at most once per PROGRESS_MS, plus at every durable commit and every error.
 *  - A shape counts as live for READY only once a commit that left it live is durable (its
 *    DATA_CHANGE went out first): while a commit of it is not (hold() until release()), another
 *    shape's flush or a progress STATUS does not count it, durable() does. So READY never comes
 *    before the changes of the initial sync (a live query started after READY runs once, not
 *    again when they arrive).
 */
(function (g) {
  'use strict';
  const PHASES = { 'initial-sync': 'initial-sync', live: 'live', error: 'error', backoff: 'offline', unauthorized: 'unauthorized' };
  const PROGRESS_MS = 100; // STATUS of responses that commit nothing: at most one per 100 ms
  const header = (h, k) => {
    if (!h) return null;
    const v = typeof h.get === 'function' ? h.get(k) : h[k];
    if (v === null || v === undefined || !/^[0-9]+$/.test(String(v).trim())) return null;
    return Number(v);
  };

  class Status {
    constructor(tabs, now) {
      this.tabs = tabs;
      this.now = now;
      this.last = new Map(); // shapeName -> the STATUS message last broadcast
      this.ready = false;    // every shape of the engine live once, or served offline
      this.liveOnce = new Set(); // shapes that were live at least once
      this.servedOffline = false;
      this.waiting = new Map(); // client -> the shape names its READY waits for
      this.lastProgress = 0;
      this.syncs = new Map(); // shapeName -> {total, exact}: initial syncs
      this.undurable = new Map(); // shapeName -> commits not durable yet (hold/release)
    }

    // A response of `name` that is about to be ingested, the answer to request `req`.
    received(name, req, resp, engine) {
      if (req.live || resp.status !== 200) return;
      // A request from offset -1 starts a sync over; another one continues the sync under way,
      // or one that a stored replica left in the middle (not a shape that is live already).
      const fresh = /(^|&)offset=-1(&|$)/.test(req.query);
      let p = fresh ? null : this.syncs.get(name);
      if (!p) {
        if (!fresh) {
          const s = Status.shapeOf(engine, name);
          if (!s || s.phase === 'live') return;
        }
        p = { total: undefined, exact: false };
        this.syncs.set(name, p);
      }
      const exact = header(resp.headers, 'electric-sync-rows');
      const estimate = header(resp.headers, 'electric-sync-rows-estimate');
      if (exact !== null) { p.total = exact; p.exact = true; } else if (estimate !== null && !p.exact) p.total = estimate;
    }

    // After that ingest: a shape that went live has no sync in progress any more.
    ingested(name, engine, err) {
      if (!this.syncs.has(name) || err) return;
      const s = Status.shapeOf(engine, name);
      if (s && s.phase === 'live') this.syncs.delete(name);
    }

    static shapeOf(engine, name) {
      try { return engine.status().find((x) => x.shapeName === name) || null; } catch (e) { return null; }
    }

    // The progress fields of a shape's STATUS (syncRows: the engine's rows of the sync so far).
    progressOf(shapeName, phase, rows, syncRows = rows) {
      if (phase === 'live') return { rows, progress: 1 };
      const p = this.syncs.get(shapeName);
      if (!p) return { rows };
      const got = syncRows;
      const out = { rows: got };
      if (p.total !== undefined) {
        out.total = p.total;
        out.progress = p.total > 0 ? Math.min(1, got / p.total) : 1;
      }
      return out;
    }

    hold(names) {
      for (const n of names) this.undurable.set(n, (this.undurable.get(n) || 0) + 1);
    }

    release(names) {
      for (const n of names) {
        const k = (this.undurable.get(n) || 0) - 1;
        if (k > 0) this.undurable.set(n, k);
        else this.undurable.delete(n);
      }
    }

    // Shapes that were live at a commit that is now durable: live once (see fromEngine).
    durable(names) {
      for (const n of names) this.liveOnce.add(n);
    }

    publish(shapeName, s) {
      const msg = { type: 'STATUS', shapeName, phase: s.phase, rows: s.rows, offset: s.offset, handle: s.handle, lastSyncedAt: s.lastSyncedAt };
      if (s.error) msg.error = s.error;
      if (s.total !== undefined) msg.total = s.total;
      if (s.progress !== undefined) msg.progress = s.progress;
      const prev = this.last.get(shapeName);
      if (prev && JSON.stringify(prev) === JSON.stringify(msg)) return;
      this.last.set(shapeName, msg);
      this.tabs.broadcast(msg);
    }

    opening(shapes) {
      for (const s of shapes) if (!this.last.has(s.name)) this.publish(s.name, { phase: 'opening', rows: 0, offset: null, handle: null, lastSyncedAt: null });
    }

    // The engine's state of every shape; err: what the last ingest threw (shown on the shapes
    // that are not live). READY once every shape is live.
    fromEngine(engine, err) {
      const all = this.eachShape(engine, (s) => {
        const phase = PHASES[s.phase] || s.phase;
        return { phase, error: s.error || (phase !== 'live' && err ? err.message : undefined) };
      });
      if (!all) return;
      for (const s of all) if (s.phase === 'live' && !this.undurable.has(s.shapeName)) this.liveOnce.add(s.shapeName);
      if (all.length && all.every((s) => this.liveOnce.has(s.shapeName))) this.markReady();
      this.checkWaiting();
    }

    // The stored replica is served without the network: every shape offline, and READY.
    offline(engine, message) {
      this.eachShape(engine, () => ({ phase: 'offline', error: message }));
      this.servedOffline = true;
      this.markReady();
      this.checkWaiting();
    }

    // Publishes every shape of the engine with the phase and error view(shape) gives; returns the
    // engine's status array (null without an engine).
    eachShape(engine, view) {
      if (!engine) return null;
      let all;
      try { all = engine.status(); } catch (e) { return null; }
      for (const s of all) {
        const { phase, error } = view(s);
        const { rows, total, progress } = this.progressOf(s.shapeName, s.phase, s.rows, s.syncRows);
        this.publish(s.shapeName, { phase, rows, offset: s.offset, handle: s.handle, lastSyncedAt: s.lastSyncedAt, error, total, progress });
      }
      return all;
    }

    // After an ingest that committed nothing: throttled, except for an error.
    progress(engine, err) {
      const t = this.now();
      if (err || t - this.lastProgress > PROGRESS_MS) {
        this.lastProgress = t;
        this.fromEngine(engine, err);
      }
    }

    // Every shape that has a STATUS goes to phase 'error' with this message.
    fail(message) {
      for (const [name, prev] of this.last) this.publish(name, { ...prev, phase: 'error', error: message });
    }

    markReady() {
      this.ready = true;
    }

    // The server's version arrived after an offline start: READY waits for live shapes again.
    online() {
      this.servedOffline = false;
    }

    // A tab that just said HELLO.
    greet(c) {
      for (const st of this.last.values()) this.tabs.send(c, st);
    }

    // The tab's READY, once the shapes it named were live once (or the replica is served offline).
    expect(c, names) {
      this.waiting.set(c, names);
      this.checkWaiting();
    }

    // The tab's shapes cannot be synced: its `ready` rejects.
    reject(c, error) {
      this.waiting.delete(c);
      this.tabs.send(c, { type: 'READY', error });
    }

    checkWaiting() {
      for (const [c, names] of [...this.waiting]) {
        if (this.servedOffline || names.every((n) => this.liveOnce.has(n))) {
          this.waiting.delete(c);
          this.tabs.send(c, { type: 'READY' });
        }
      }
    }

    forget(c) {
      this.waiting.delete(c);
    }
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  ns.Status = Status;
})(typeof self !== 'undefined' ? self : globalThis);
