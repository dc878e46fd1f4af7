/*
 * electric-sync.worker.status.js — STATUS and READY (a classic script, one of the worker's parts:
 * see electric-sync.worker.js).
 *
 *   {type:'STATUS', shapeName, phase: 'opening' | 'initial-sync' | 'live' | 'offline' | 'error',
 *    rows, offset, handle, lastSyncedAt, error?}          (docs/contracts.md)
 *   {type:'READY'}   once: every shape live, or the stored replica served offline
 *
 * Invariants
 *  - A STATUS equal to the last one sent for its shape is not sent again.
 *  - A tab that says HELLO later gets the last STATUS of every shape, then READY if it was sent.
 *  - The engine's phases are the tab's, except `backoff`, which the tab sees as `offline`.
 */
(function (g) {
  'use strict';
  const PHASES = { 'initial-sync': 'initial-sync', live: 'live', error: 'error', backoff: 'offline' };
  const PROGRESS_MS = 50; // STATUS of responses that commit nothing: at most one per 50 ms

  class Status {
    constructor(tabs, now) {
      this.tabs = tabs;
      this.now = now;
      this.last = new Map(); // shapeName -> the STATUS message last broadcast
      this.ready = false;
      this.lastProgress = 0;
    }

    publish(shapeName, s) {
      const msg = { type: 'STATUS', shapeName, phase: s.phase, rows: s.rows, offset: s.offset, handle: s.handle, lastSyncedAt: s.lastSyncedAt };
      if (s.error) msg.error = s.error;
      const prev = this.last.get(shapeName);
      if (prev && JSON.stringify(prev) === JSON.stringify(msg)) return;
      this.last.set(shapeName, msg);
      this.tabs.broadcast(msg);
    }

    opening(shapes) {
      for (const s of shapes) this.publish(s.name, { phase: 'opening', rows: 0, offset: null, handle: null, lastSyncedAt: null });
    }

    // The engine's state of every shape; err: what the last ingest threw (shown on the shapes
    // that are not live). READY once every shape is live.
    fromEngine(engine, err) {
      const all = this.eachShape(engine, (s) => {
        const phase = PHASES[s.phase] || s.phase;
        return { phase, error: s.error || (phase !== 'live' && err ? err.message : undefined) };
      });
      if (all && all.length && all.every((s) => s.phase === 'live')) this.markReady();
    }

    // The stored replica is served without the network: every shape offline, and READY.
    offline(engine, message) {
      this.eachShape(engine, () => ({ phase: 'offline', error: message }));
      this.markReady();
    }

    // Publishes every shape of the engine with the phase and error view(shape) gives; returns the
    // engine's status array (null without an engine).
    eachShape(engine, view) {
      if (!engine) return null;
      let all;
      try { all = engine.status(); } catch (e) { return null; }
      for (const s of all) {
        const { phase, error } = view(s);
        this.publish(s.shapeName, { phase, rows: s.rows, offset: s.offset, handle: s.handle, lastSyncedAt: s.lastSyncedAt, error });
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
      if (this.ready) return;
      this.ready = true;
      this.tabs.broadcast({ type: 'READY' });
    }

    // A tab that just said HELLO.
    greet(c) {
      for (const st of this.last.values()) this.tabs.send(c, st);
      if (this.ready) this.tabs.send(c, { type: 'READY' });
    }
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  ns.Status = Status;
})(typeof self !== 'undefined' ? self : globalThis);
