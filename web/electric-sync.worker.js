/*
 * electric-sync.worker.js — the worker shim (a classic script). It does the I/O and nothing else:
 * the schema-version fetch, the shape requests, IndexedDB, Web Locks and the ports of the tabs.
 * What to request, how to apply a response, what changed and whether a schema version wipes the
 * replica are the engine's decisions (the wasm module, Module.Engine).
 *
 * Runs as a SharedWorker (one per dbName; every tab a MessagePort), or, where SharedWorker does
 * not exist, as one dedicated worker per tab that elect a leader (electric-sync.worker.relay.js).
 * This file composes the worker from its parts, each a classic script of one job that it loads
 * with importScripts (the tests load the same list, SCRIPTS, into node):
 *   electric-sync.worker.tabs.js      the tabs: ports, liveness locks, broadcasting
 *   electric-sync.worker.owner.js     the owner Web Lock and the hand-over to a newer worker
 *   electric-sync.worker.replica.js   the engine and its IndexedDB store, opened and closed together
 *   electric-sync.store.js            IndexedDB persistence of the SQLite image
 *   electric-sync.worker.sync.js      the version check, the request loops, fetch, backoff
 *   electric-sync.worker.auth.js      the tabs' headers/params, 401/403
 *   electric-sync.worker.reads.js     queries that wait for their tables, live queries
 *   electric-sync.worker.txids.js     awaitTxId
 *   electric-sync.worker.status.js    STATUS and READY
 *   electric-sync.worker.timeline.js  the benchmark marks (STATS)
 *   electric-sync.worker.relay.js     the dedicated-worker fallback
 *
 * Tab -> worker:  {type:'HELLO', config, tabLock, auth} {type:'QUERY', id, sql, params}
 *                 {type:'LIVE', id, sql, params} {type:'UNLIVE', id}
 *                 {type:'AWAIT_TXID', id, txid} {type:'CANCEL', id}
 *                 {type:'AUTH', headers, params} {type:'AUTH', id, force, headers?, params?}
 *                 {type:'RESET', id} {type:'BYE'} {type:'STATS', id} (counters, benchmarks)
 * Worker -> tab:  DATA_CHANGE, SCHEMA_RESET, STATUS, and {type:'READY', error?}
 *                 {type:'ROWS', live, rows | error} {type:'AUTH_REQUEST'}
 *                 {type:'RESULT', id, value} {type:'RESULT', id, error:{code,message}}
 * (docs/contracts.md §6). The first HELLO's config ({shapes, shapeUrl, liveUrl, versionUrl,
 * dbName}, as web/electric-sync.js sends it) starts the worker; `shapes` is required. A later
 * HELLO's shapes that the worker does not sync yet are added; one it syncs with another
 * definition rejects that tab's READY (SHAPE_CONFLICT).
 *
 * Invariants
 *  - Only the holder of `sqlite-owner:<dbName>` reads or writes the IndexedDB replica.
 *  - DATA_CHANGE and SCHEMA_RESET reach the tabs only after the IndexedDB transaction that made
 *    them durable completed.
 *  - A tab is forgotten when its Web Lock is released (the tab closed), not on port events.
 *  - A response fetched before a reset (generation change) is dropped, never ingested.
 *  - A tab's READY, live queries and awaited txids are its own: a HELLO registers them, a
 *    forgotten tab's are dropped (Tabs.onForget).
 *
 * In node (tests) nothing starts by itself: the tests evaluate this file and SCRIPTS, then call
 * ElectricSyncWorker.createWorker(env) with fake-indexeddb, a Web Locks stand-in and
 * MessageChannel ports.
 */
(function (g) {
  'use strict';
  const SCRIPTS = [
    'electric-sync.store.js',
    'electric-sync.worker.tabs.js',
    'electric-sync.worker.owner.js',
    'electric-sync.worker.replica.js',
    'electric-sync.worker.sync.js',
    'electric-sync.worker.auth.js',
    'electric-sync.worker.reads.js',
    'electric-sync.worker.txids.js',
    'electric-sync.worker.status.js',
    'electric-sync.worker.timeline.js',
    'electric-sync.worker.relay.js',
  ];
  const LIVE_TIMEOUT_MS = 45000;
  // The library's own defaults; the tab library (web/electric-sync.js) sends every field anyway.
  const DEFAULTS = {
    shapeUrl: '/api/electric/v1/shape',
    liveUrl: undefined,
    versionUrl: '/api/schema/version',
    dbName: 'electric-sync',
  };

  const errorInfo = (e) => ({ code: (e && (e.codeName || e.name)) || 'Error', message: String((e && e.message) || e) });

  // env: {loadModule() -> Promise<Module>, indexedDB, IDBKeyRange, locks, fetch, BroadcastChannel,
  //       mode: 'shared' | 'dedicated', now, setTimeout, clearTimeout, liveTimeoutMs, log}
  function createWorker(env) {
    const P = g.ElectricSyncWorker; // the parts
    const now = env.now || (() => Date.now());
    const setTimeout = env.setTimeout || ((f, ms) => g.setTimeout(f, ms));
    const clearTimeout = env.clearTimeout || ((t) => g.clearTimeout(t));
    const log = env.log || (() => {});
    const writerId = `w-${now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    const perf = g.performance && typeof g.performance.now === 'function' ? () => g.performance.now() : now;

    const timeline = new P.Timeline(now);
    const tabs = new P.Tabs({ locks: env.locks, log, onForget: (c) => { reads.forget(c); txids.forget(c); auth.forget(c); status.forget(c); } });
    const status = new P.Status(tabs, now);
    const owner = new P.Owner({ locks: env.locks, BroadcastChannel: env.BroadcastChannel, mode: env.mode, id: writerId, log, onStepAside: stepAside });
    const replica = new P.Replica({ indexedDB: env.indexedDB, IDBKeyRange: env.IDBKeyRange, writerId, log, setTimeout });
    const reads = new P.Reads({ replica, tabs, clock: perf, log });
    const txids = new P.Txids({ replica, tabs, log });
    const auth = new P.Auth({ tabs, now, log, onChange: () => sync.wakeAuth() });
    const sync = new P.Sync({
      fetch: env.fetch, now, setTimeout, clearTimeout, liveTimeoutMs: env.liveTimeoutMs || LIVE_TIMEOUT_MS, log,
      replica, status, tabs, timeline, auth, reads, txids,
    });
    let started = null; // promise of start(), from the first HELLO on

    async function handle(c, msg) {
      if (!msg || typeof msg !== 'object') return;
      switch (msg.type) {
        case 'HELLO':
          hello(c, msg);
          break;
        case 'QUERY':
          await answer(c, msg.id, () => reads.query(msg.sql, msg.params));
          break;
        case 'LIVE':
          await replica.opened;
          reads.subscribe(c, msg.id, msg.sql, msg.params);
          break;
        case 'UNLIVE':
          await replica.opened; // after a LIVE sent just before it, which waits for the same
          reads.unsubscribe(c, msg.id);
          break;
        case 'AWAIT_TXID':
          await txids.wait(c, msg.id, msg.txid);
          break;
        case 'CANCEL':
          txids.cancel(c, msg.id);
          break;
        case 'AUTH':
          auth.receive(c, msg);
          if (msg.id !== undefined) tabs.send(c, msg.error ? { type: 'RESULT', id: msg.id, error: msg.error } : { type: 'RESULT', id: msg.id, value: true });
          break;
        case 'RESET':
          await answer(c, msg.id, async () => { await resetLocal(); return true; });
          break;
        case 'BYE':
          tabs.forget(c);
          break;
        case 'STATS': { // benchmarks: what the IndexedDB flusher wrote, the live queries' work
          // integrity: true adds PRAGMA integrity_check of the replica (read-only; test:chaos
          // asks a new worker after a kill, on the image it loaded from IndexedDB)
          const stats = replica.stats();
          const extra = msg.integrity ? { integrity: replica.integrity() } : {};
          tabs.send(c, { type: 'RESULT', id: msg.id, value: stats && { ...stats, live: reads.stats(), txids: txids.stats(), startedAt: timeline.startedAt, timeline: timeline.marks(), ...extra } });
          break;
        }
        default:
          break;
      }
    }

    // A tab: its lock watched, its credentials, the worker started by the first one; then, once
    // the engine is open, its shapes (the new ones added) and its READY.
    function hello(c, msg) {
      const cfg = msg.config || {};
      tabs.watch(c, msg.tabLock);
      auth.hello(c, msg.auth);
      if (!started) started = start(cfg).catch((e) => fatal(e));
      status.greet(c);
      if (!Array.isArray(cfg.shapes) || !cfg.shapes.length) {
        status.reject(c, { code: 'ESYNC_EINVAL', message: 'HELLO: config.shapes must be a non-empty array of shapes' });
        return;
      }
      replica.whenOpen().then((engine) => {
        if (!engine || !tabs.clients.has(c.id)) return;
        const { added, error } = replica.addShapes(cfg.shapes);
        if (added.length) {
          status.opening(cfg.shapes.filter((s) => added.includes(s.name)));
          for (const name of added) sync.addShape(name);
          status.fromEngine(engine);
        }
        if (error) status.reject(c, error);
        else status.expect(c, cfg.shapes.map((s) => s.name));
      }).catch((e) => {
        log('hello', e);
        status.reject(c, errorInfo(e));
      });
    }

    // Sends the RESULT of request `id`: fn's value (awaited when it is a promise, so a query's
    // result goes out in the same task as the query), or what it threw.
    async function answer(c, id, fn) {
      let reply;
      try {
        let value = fn();
        if (value && typeof value.then === 'function') value = await value;
        reply = { type: 'RESULT', id, value };
      } catch (e) {
        reply = { type: 'RESULT', id, error: errorInfo(e) };
      }
      tabs.send(c, reply);
    }

    // The owner lock, then the replica and the version in parallel, then the loops. The module
    // compiles while the lock is awaited; the version is fetched while IndexedDB loads.
    async function start(cfg) {
      if (!Array.isArray(cfg.shapes) || !cfg.shapes.length) throw new Error('HELLO: config.shapes must be a non-empty array of shapes');
      const config = { ...DEFAULTS, ...cfg };
      sync.configure(config);
      status.opening(config.shapes);
      const moduleP = env.loadModule();
      moduleP.catch(() => {});
      await owner.acquire(config.dbName);
      timeline.mark('owner lock');
      if (sync.closed) return;
      const versionP = sync.fetchVersion().then((v) => ({ v }), (e) => ({ e }));
      const readP = replica.read(config);
      const M = await moduleP;
      timeline.mark('module');
      await readP;
      timeline.mark('indexeddb read');
      replica.load(M);
      timeline.mark('image loaded');
      replica.openEngine();
      timeline.mark('engine open');
      const got = await versionP;
      timeline.mark('version');
      if (sync.closed) return;
      if (got.e) {
        // Offline start: serve the stored replica, retry the version with backoff.
        log('offline start', got.e);
        status.offline(replica.engine, errorInfo(got.e).message);
        sync.retryVersion();
        return;
      }
      await sync.online(got.v);
    }

    async function resetLocal() {
      if (!started) throw new Error('not started');
      await replica.opened;
      if (!replica.engine) throw new Error('the replica is closed');
      sync.stop();
      tabs.broadcast(await replica.reset());
      reads.afterReset();
      status.fromEngine(replica.engine);
      sync.run();
    }

    async function stepAside() {
      log('stepping aside for a newer worker');
      await shutdown();
      status.fail('replaced by a newer worker: reload the page');
    }

    // Stops the loops, waits for the last flush, closes the replica, releases the owner lock.
    async function shutdown() {
      if (sync.closed) return;
      sync.close();
      await replica.close();
      reads.close();
      txids.close();
      owner.release();
    }

    function fatal(e) {
      log('worker failed', e);
      status.fail(errorInfo(e).message);
    }

    // Drops the worker without flushing (tests: a crash). The lock is released as when a worker dies.
    function crash() {
      sync.close();
      replica.drop();
      owner.release();
    }

    return {
      connect: (port) => tabs.connect(port, handle),
      addClient: (post) => tabs.add(post),
      handle,
      close: shutdown,
      crash,
      get ready() { return status.ready; },
      get engine() { return replica.engine; },
      get store() { return replica.store; },
      get module() { return replica.M; },
      get started() { return started; },
      get clients() { return tabs.clients; },
    };
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  Object.assign(ns, { createWorker, DEFAULTS, SCRIPTS });

  // ---- bootstrap in a browser worker ------------------------------------------------------
  if (typeof importScripts === 'function' && !g.ELECTRIC_SYNC_NO_AUTOSTART) {
    const here = g.location.href;
    importScripts(...SCRIPTS.map((f) => new URL(f, here).href), new URL('wasm/electric-sync.js', here).href);
    const envBase = {
      indexedDB: g.indexedDB,
      IDBKeyRange: g.IDBKeyRange,
      locks: g.navigator.locks,
      fetch: g.fetch.bind(g),
      BroadcastChannel: g.BroadcastChannel,
      loadModule: () => g.createElectricSync({ locateFile: (p) => new URL('wasm/' + p, here).href }),
      log: (...a) => console.warn('[electric-sync]', ...a),
    };
    if (typeof SharedWorkerGlobalScope !== 'undefined' && g instanceof SharedWorkerGlobalScope) {
      const w = createWorker({ ...envBase, mode: 'shared' });
      ns.instance = w;
      g.onconnect = (ev) => { w.connect(ev.ports[0]); };
    } else {
      ns.runDedicated(g, envBase);
    }
  }
})(typeof self !== 'undefined' ? self : globalThis);
