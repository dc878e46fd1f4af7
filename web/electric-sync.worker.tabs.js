/*
 * electric-sync.worker.tabs.js — the tabs a worker serves (a classic script, one of the worker's
 * parts: see electric-sync.worker.js): their ports, their liveness locks, and broadcasting.
 *
 * A client is {id, post(msg)}: a MessagePort of a tab (SharedWorker onconnect, a MessageChannel
 * in the tests), the tab of a dedicated worker, or a follower's tab reached over the relay's
 * BroadcastChannel (electric-sync.worker.relay.js).
 *
 * Invariants
 *  - A tab is forgotten when the Web Lock it holds for its lifetime is granted to us (the tab
 *    closed or crashed) or when it says BYE; port close events are not used (browsers do not
 *    report them reliably).
 *  - A post that throws (a port already gone) is logged and never stops a broadcast.
 *  - onForget(client) runs once per forgotten tab, so the other parts drop what it held (live
 *    queries, awaited txids, its headers/params functions, its READY).
 */
(function (g) {
  'use strict';

  class Tabs {
    // opts: {locks (Web Locks, optional), log, onForget(client)}
    constructor({ locks, log, onForget }) {
      this.locks = locks;
      this.log = log;
      this.onForget = onForget || (() => {});
      this.clients = new Map(); // id -> {id, post, watching}
      this.nextId = 1;
    }

    get size() {
      return this.clients.size;
    }

    add(post) {
      const c = { id: this.nextId++, post };
      this.clients.set(c.id, c);
      return c;
    }

    // A MessagePort of a tab: its messages go to onMessage(client, data).
    connect(port, onMessage) {
      const c = this.add((m) => port.postMessage(m));
      port.onmessage = (ev) => { onMessage(c, ev.data); };
      if (typeof port.start === 'function') port.start();
      return c;
    }

    forget(c) {
      if (!this.clients.delete(c.id)) return;
      try { this.onForget(c); } catch (e) { this.log('forget', e); }
    }

    // Asks for the tab's lock: it is granted to us only once the tab released it.
    watch(c, tabLock) {
      if (!tabLock || !this.locks || c.watching) return;
      c.watching = true;
      this.locks.request(tabLock, { mode: 'exclusive' }, () => { this.forget(c); })
        .catch((e) => this.log('tab lock', e));
    }

    send(c, msg) {
      try { c.post(msg); } catch (e) { this.log('post failed', e); }
    }

    broadcast(msg) {
      for (const c of this.clients.values()) this.send(c, msg);
    }
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  ns.Tabs = Tabs;
})(typeof self !== 'undefined' ? self : globalThis);
