/*
 * electric-sync.worker.js — the worker shim (a classic script). It does the I/O and nothing else:
 * the schema-version fetch, the shape requests, IndexedDB, Web Locks and the ports of the tabs.
 * What to request, how to apply a response, what changed and whether a schema version wipes the
 * replica are the engine's decisions (the wasm module, Module.Engine).
 *
 * Runs as a SharedWorker (one per dbName; every tab a MessagePort), or, where SharedWorker does
 * not exist, as one dedicated worker per tab that elect a leader (electric-sync.worker.relay.js).
 * This file composes the worker from its parts, each a classic script of one job that it loads
 * with importScripts (the tests load the same list, SCRIPTS, into node; the package ships them
 * bundled in front of this file, see scripts/package.sh):
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
  //       mode: 'shared' | 'dedicated', now, setTimeout, clearTimeout, liveTimeoutMs, log,
  //       replica (tests: Replica options such as checkpointBytes)}
  function createWorker(env) {
    const P = g.ElectricSyncWorker; // the parts
    const now = env.now || (() => Date.now());
    const setTimeout = env.setTimeout || ((f, ms) => g.setTimeout(f, ms));
    const clearTimeout = env.clearTimeout || ((t) => g.clearTimeout(t));
    const log = env.log || (() => {});
    const writerId = `w-${now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    const perf = g.performance && typeof g.performance.now === 'function' ? () => g.performance.now() : now;

    const timeline = new P.Timeline(now);
    timeline.mark('worker');
    const tabs = new P.Tabs({ locks: env.locks, log, onForget: (c) => { reads.forget(c); txids.forget(c); auth.forget(c); status.forget(c); } });
    const status = new P.Status(tabs, now);
    const owner = new P.Owner({ locks: env.locks, BroadcastChannel: env.BroadcastChannel, mode: env.mode, id: writerId, log, onStepAside: stepAside });
    const replica = new P.Replica({ ...env.replica, indexedDB: env.indexedDB, IDBKeyRange: env.IDBKeyRange, writerId, log, setTimeout });
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
          // wasm: how the module was compiled ('streaming' | 'bytes'; absent where the env's
          // loadModule is not the worker's own loader, as in node)
          const extra = msg.integrity ? { integrity: await replica.integrity() } : {};
          tabs.send(c, { type: 'RESULT', id: msg.id, value: stats && { ...stats, live: reads.stats(), txids: txids.stats(), startedAt: timeline.startedAt, sinceStart: now() - timeline.startedAt, timeline: timeline.marks(), wasm: replica.M && replica.M.wasmCompile, ...extra } });
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
      if (!started) { timeline.mark('hello'); started = start(cfg).catch((e) => fatal(e)); }
      status.greet(c);
      if (!Array.isArray(cfg.shapes) || !cfg.shapes.length) {
        status.reject(c, { code: 'ESYNC_EINVAL', message: 'HELLO: config.shapes must be a non-empty array of shapes' });
        return;
      }
      replica.whenOpen().then(async (engine) => {
        if (!engine || !tabs.clients.has(c.id)) return;
        const { added, error } = await replica.addShapes(cfg.shapes);
        if (!tabs.clients.has(c.id)) return;
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

    // The owner lock and the IndexedDB read of replica `dbName`, begun once: by prestart() when
    // the worker's name says which replica it serves (a SharedWorker the tab library created,
    // before the first HELLO arrives), else by the first HELLO's start(). The module compiles
    // meanwhile. IndexedDB is read while the lock is requested: when the lock was free (no other
    // worker held it, so none writes the replica after), that read is the image; else (an older
    // worker hands over) it is dropped and the replica read again once the lock is ours.
    let opening = null; // {dbName, moduleP, lockP, readP, free, ready}
    function open(dbName) {
      if (opening) return opening;
      const o = { dbName, free: false, ready: null };
      // The read first: its IndexedDB open is the longest wait. (Nothing of this early read goes
      // into the heap before the lock is known to have been free.)
      o.readP = replica.read({ dbName, shapes: [] }, () => (o.free ? o.ready : null));
      o.readP.catch(() => {});
      o.lockP = owner.acquire(dbName);
      o.lockP.then((free) => { o.free = free; }, () => {});
      o.moduleP = env.loadModule();
      o.moduleP.then((m) => { o.ready = m; }, () => {});
      opening = o;
      return o;
    }

    function prestart(dbName) {
      if (!started && typeof dbName === 'string' && dbName) open(dbName);
    }

    // Then the version request, the engine, the loops.
    async function start(cfg) {
      if (!Array.isArray(cfg.shapes) || !cfg.shapes.length) throw new Error('HELLO: config.shapes must be a non-empty array of shapes');
      const config = { ...DEFAULTS, ...cfg };
      sync.configure(config);
      status.opening(config.shapes);
      const o = open(config.dbName);
      if (o.dbName !== config.dbName) throw new Error(`HELLO: this worker serves replica "${o.dbName}" (its name), not "${config.dbName}"`);
      const moduleP = o.moduleP;
      let readP = o.readP;
      const free = await o.lockP;
      replica.config = config;
      timeline.mark('owner lock');
      if (sync.closed) return;
      const versionP = sync.fetchVersion().then((v) => ({ v }), (e) => ({ e }));
      if (!free) {
        await readP.catch(() => {});
        replica.store.close();
        readP = replica.read(config, () => o.ready);
      }
      const M = await moduleP;
      timeline.mark('module');
      await readP;
      timeline.mark('indexeddb read');
      if (!replica.store.meta) sync.sendFirstRequests(M, config.shapes); // a new replica
      replica.load(M);
      timeline.mark('image loaded');
      if (replica.store.isLoaded) timeline.mark('image whole'); // else once the background reads end
      else replica.loaded().then(() => timeline.mark('image whole'), () => {});
      await replica.openEngine();
      timeline.mark('engine open');
      const got = await versionP;
      timeline.mark('version');
      if (sync.closed) return;
      if (got.e) {
        // Offline start: serve the stored replica, retry the version with backoff.
        log('offline start', got.e);
        sync.dropEarly();
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
      await replica.loaded(); // a reset writes
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
      prestart,
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

  // The engine's .wasm, fetched and compiled once per worker, started as early as the caller
  // wants (a SharedWorker: when its script starts, before the first HELLO, so the download and
  // the compile overlap the owner lock, the IndexedDB read and the version request).
  //  - Streamed (WebAssembly.compileStreaming) from a response served as application/wasm: V8
  //    compiles while the bytes arrive, and Chromium keeps the optimized code with the cached
  //    response, so a later start skips the baseline tier.
  //  - From the bytes (arrayBuffer + WebAssembly.compile) where compileStreaming is missing, the
  //    server sends another MIME type (streaming would reject), or streaming failed.
  // start() begins (once) and returns the compile; load(createModule, options) instantiates the compiled module through emscripten's
  // instantiateWasm hook; every failure (fetch, compile, instantiate) rejects its promise.
  // deps: {url, fetch, WebAssembly?, log?}
  function wasmLoader(deps) {
    const W = deps.WebAssembly || g.WebAssembly;
    const log = deps.log || (() => {});
    let compiled = null;
    const loader = { how: null, start, load };
    async function bytes(res) {
      if (!res) res = await deps.fetch(deps.url, { credentials: 'same-origin' });
      if (!res.ok) throw new Error(`${deps.url}: HTTP ${res.status}`);
      const mod = await W.compile(await res.arrayBuffer());
      loader.how = 'bytes';
      return mod;
    }
    async function compile() {
      const res = await deps.fetch(deps.url, { credentials: 'same-origin' });
      if (!res.ok) throw new Error(`${deps.url}: HTTP ${res.status}`);
      // Exactly application/wasm (no parameters), as compileStreaming requires: else it rejects.
      const type = (res.headers.get('content-type') || '').trim().toLowerCase();
      if (typeof W.compileStreaming !== 'function' || type !== 'application/wasm') return bytes(res);
      try {
        const mod = await W.compileStreaming(res);
        loader.how = 'streaming';
        return mod;
      } catch (e) {
        log('wasm streaming compile failed, compiling from the bytes', e);
        return bytes(null); // the body is consumed: fetch it again
      }
    }
    // A failed attempt is not kept: the next start() (the first HELLO's, after one at boot that
    // met a network error) fetches again.
    function start() {
      if (!compiled) {
        const attempt = compile();
        compiled = attempt;
        attempt.catch(() => { if (compiled === attempt) compiled = null; }); // reported by load()
      }
      return compiled;
    }
    function load(createModule, options = {}) {
      return start().then((mod) => new Promise((resolve, reject) => {
        createModule({
          ...options,
          instantiateWasm(imports, done) {
            W.instantiate(mod, imports).then((instance) => done(instance, mod), reject);
            return {}; // the exports arrive through done()
          },
        }).then((M) => { M.wasmCompile = loader.how; resolve(M); }, reject);
      }));
    }
    return loader;
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  Object.assign(ns, { createWorker, wasmLoader, DEFAULTS, SCRIPTS });

  // ---- bootstrap in a browser worker ------------------------------------------------------
  if (typeof importScripts === 'function' && !g.ELECTRIC_SYNC_NO_AUTOSTART) {
    const here = g.location.href;
    const log = (...a) => console.warn('[electric-sync]', ...a);
    const shared = typeof SharedWorkerGlobalScope !== 'undefined' && g instanceof SharedWorkerGlobalScope;
    // A SharedWorker always opens the engine; a dedicated worker (one per tab) compiles only
    // once it leads (loadModule).
    const wasm = wasmLoader({ url: new URL('wasm/electric-sync.wasm', here).href, fetch: g.fetch.bind(g), log });
    // The package ships this file with its parts and the engine's loader in front of it
    // (scripts/package.sh sets `bundled`): one request at start instead of twelve, each of
    // which costs a worker a round trip through the browser before the next. web/ loads them
    // here, the .wasm requested before them.
    if (!ns.bundled) {
      if (shared) wasm.start();
      importScripts(...SCRIPTS.map((f) => new URL(f, here).href), new URL('wasm/electric-sync.js', here).href);
    }
    // The tab library names a SharedWorker `electric-sync:<dbName>:<format>`. Its first requests:
    // the IndexedDB open of that replica, then the .wasm (the open's handshake with the browser
    // is done before the .wasm's compile takes this thread: electric-sync.store.js, openEarly;
    // a stored 100k-row replica's first query ~10 ms sooner, README "How it compares").
    const m = shared ? /^electric-sync:(.+):\d+$/.exec(g.name || '') : null;
    if (m) g.ElectricSyncStore.openEarly(g.indexedDB, m[1]);
    if (shared) wasm.start(); // (once: unbundled, it went out above)
    const envBase = {
      indexedDB: g.indexedDB,
      IDBKeyRange: g.IDBKeyRange,
      locks: g.navigator.locks,
      fetch: g.fetch.bind(g),
      BroadcastChannel: g.BroadcastChannel,
      loadModule: () => wasm.load(g.createElectricSync, { locateFile: (p) => new URL('wasm/' + p, here).href }),
      log,
    };
    if (shared) {
      const w = createWorker({ ...envBase, mode: 'shared' });
      ns.instance = w;
      // The owner lock and the IndexedDB read begin now, not a HELLO later.
      if (m) w.prestart(m[1]);
      g.onconnect = (ev) => { w.connect(ev.ports[0]); };
    } else {
      ns.runDedicated(g, envBase);
    }
  }
})(typeof self !== 'undefined' ? self : globalThis);
