/*
 * electric-sync.worker.relay.js — the fallback where SharedWorker does not exist (a classic
 * script, one of the worker's parts: see electric-sync.worker.js). Every tab starts a dedicated
 * worker of its own; they elect one leader and the others relay their tab's messages to it.
 *
 * Over BroadcastChannel `<dbName>-rpc`:
 *   follower -> leader  {from: clientId, msg}      a message of the follower's tab
 *   leader -> follower  {to: clientId, msg}        a message for that tab
 *   leader -> all       {leader: clientId}         a new leader: send HELLO and the open requests
 *
 * Invariants
 *  - The election is the owner lock `sqlite-owner:<dbName>`, which the leader's engine needs
 *    anyway; the leader holds it until its tab goes (the worker dies with it), then the next
 *    worker in the lock's queue leads and loads the replica from IndexedDB.
 *  - A request (QUERY, RESET, AWAIT_TXID, AUTH with an id) stays in `unanswered` until its
 *    RESULT reached the tab (or the tab cancelled it), and a live query (LIVE) in `lives` until
 *    the tab's UNLIVE, so a new leader gets them again; HELLO is re-sent first. A new leader
 *    runs the live queries again: the tab gets a first result from it.
 */
(function (g) {
  'use strict';
  const REQUESTS = new Set(['QUERY', 'RESET', 'AWAIT_TXID', 'AUTH', 'STATS']); // answered by a RESULT

  // Runs in a dedicated worker of one tab. scope: the worker global (its onmessage is the tab's,
  // postMessage goes to the tab); envBase: the env of createWorker, without mode.
  function runDedicated(scope, envBase) {
    const ns = g.ElectricSyncWorker;
    const log = envBase.log || (() => {});
    const clientId = `c-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
    const unanswered = new Map(); // request id -> message, re-sent to a new leader
    const lives = new Map();      // live query id -> its LIVE message, re-sent to a new leader
    const remotes = new Map();    // follower clientId -> its client in `worker` (leader only)
    let worker = null;            // the engine side, once this worker leads
    let local = null;             // this worker's own tab as a client of `worker`
    let hello = null;             // the tab's HELLO
    let rpc = null;               // the BroadcastChannel, from the first HELLO on

    const dbNameOf = (msg) => (msg && msg.config && msg.config.dbName) || ns.DEFAULTS.dbName;
    const toLeader = (msg) => rpc.postMessage({ from: clientId, msg });

    scope.onmessage = (ev) => {
      const msg = ev.data;
      if (!msg) return;
      if (msg.type === 'HELLO') {
        hello = msg;
        if (!rpc) setup(dbNameOf(msg));
      }
      if (msg.id !== undefined && REQUESTS.has(msg.type)) unanswered.set(msg.id, msg);
      if (msg.type === 'CANCEL') unanswered.delete(msg.id);
      if (msg.type === 'LIVE') lives.set(msg.id, msg);
      if (msg.type === 'UNLIVE') lives.delete(msg.id);
      if (worker) worker.handle(local, msg);
      else if (rpc) toLeader(msg);
    };

    function toTab(m) {
      if (m && m.type === 'RESULT') unanswered.delete(m.id);
      scope.postMessage(m);
    }

    function setup(dbName) {
      rpc = new envBase.BroadcastChannel(`${dbName}-rpc`);
      rpc.onmessage = (ev) => {
        const d = ev.data;
        if (!d) return;
        if (worker) return leaderReceive(d);
        if (d.leader) {
          toLeader(hello);
          for (const m of lives.values()) toLeader(m);
          for (const m of unanswered.values()) toLeader(m);
        } else if (d.to === clientId) {
          toTab(d.msg);
        }
      };
      toLeader(hello);
      envBase.locks.request(ns.ownerLockName(dbName), { mode: 'exclusive' }, () => lead(dbName))
        .catch((e) => log('election', e));
    }

    function leaderReceive(d) {
      if (!d.from || !d.msg) return;
      let c = remotes.get(d.from);
      if (!c) {
        const to = d.from;
        c = worker.addClient((m) => rpc.postMessage({ to, msg: m }));
        remotes.set(to, c);
      }
      worker.handle(c, d.msg);
    }

    // Runs the engine in this worker. Its Owner must not wait for the lock we hold: it gets a
    // lock manager that grants the owner lock at once. The returned promise never settles, so
    // the lock is held until this worker dies with its tab.
    function lead(dbName) {
      const locks = ns.grantingOwner(envBase.locks, dbName);
      worker = ns.createWorker({ ...envBase, locks, BroadcastChannel: null, mode: 'dedicated' });
      local = worker.addClient(toTab);
      worker.handle(local, hello);
      for (const m of lives.values()) worker.handle(local, m);
      for (const m of unanswered.values()) worker.handle(local, m);
      rpc.postMessage({ leader: clientId });
      return new Promise(() => {});
    }
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  ns.runDedicated = runDedicated;
})(typeof self !== 'undefined' ? self : globalThis);
