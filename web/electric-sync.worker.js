/*
 * electric-sync.worker.js — the worker shim (a classic script). It does the I/O and nothing else:
 * the schema-version fetch, the shape requests, IndexedDB (electric-sync.store.js), Web Locks and
 * the ports of the tabs. What to request, how to apply a response, what changed and whether a
 * schema version wipes the replica are the engine's decisions (the wasm module, Module.Engine).
 *
 * Runs as a SharedWorker (one per dbName; every tab a MessagePort), or, where SharedWorker does
 * not exist, as one dedicated worker per tab: the worker that gets the Web Lock
 * `sqlite-owner:<dbName>` is the leader and runs the engine; the others relay their tab's
 * requests to it over BroadcastChannel `<dbName>-rpc` (and re-send them when the leader changes).
 *
 * Tab -> worker:  {type:'HELLO', config, tabLock} {type:'QUERY', id, sql, params}
 *                 {type:'RESET', id} {type:'BYE'} {type:'STATS', id} (flusher counters, benchmarks)
 * Worker -> tab:  DATA_CHANGE, SCHEMA_RESET, STATUS (contracts.md), and
 *                 {type:'READY'} {type:'RESULT', id, value} {type:'RESULT', id, error:{code,message}}
 *
 * Invariants
 *  - Only the holder of `sqlite-owner:<dbName>` reads or writes the IndexedDB replica. A newer
 *    SharedWorker (after a deploy) asks the holder to step aside; the holder finishes its flush,
 *    closes and releases the lock.
 *  - DATA_CHANGE and SCHEMA_RESET reach the tabs only after the IndexedDB transaction that made
 *    them durable completed.
 *  - A tab is forgotten when its Web Lock is released (the tab closed), not on port events.
 *  - A response fetched before a reset (generation change) is dropped, never ingested.
 *
 * In node (tests) nothing starts by itself: the tests call ElectricSyncWorker.createWorker(env)
 * with fake-indexeddb, a Web Locks stand-in and MessageChannel ports.
 */
(function (g) {
  'use strict';
  const LIVE_TIMEOUT_MS = 45000;
  const VERSION_TIMEOUT_MS = 10000;
  const DEFAULTS = {
    shapes: [{ name: 'test_items', table: 'test_items' }],
    shapeUrl: '/api/electric/v1/shape',
    liveUrl: undefined,
    versionUrl: '/api/schema/version',
    dbName: 'docpal-electric',
  };
  const PHASES = { 'initial-sync': 'initial-sync', live: 'live', error: 'error', backoff: 'offline' };

  const fileOf = (dbName) => `/${dbName}.sqlite3`;
  const errorInfo = (e) => ({ code: (e && (e.codeName || e.name)) || 'Error', message: String((e && e.message) || e) });

  // env: {loadModule() -> Promise<Module>, indexedDB, IDBKeyRange, locks, fetch, BroadcastChannel,
  //       mode: 'shared' | 'dedicated', now, setTimeout, clearTimeout, liveTimeoutMs, log}
  function createWorker(env) {
    const now = env.now || (() => Date.now());
    const setT = env.setTimeout || ((f, ms) => g.setTimeout(f, ms));
    const clearT = env.clearTimeout || ((t) => g.clearTimeout(t));
    const log = env.log || (() => {});
    const liveTimeoutMs = env.liveTimeoutMs || LIVE_TIMEOUT_MS;
    const writerId = `w-${now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

    const clients = new Map(); // id -> {id, post(msg)}
    let nextClient = 1;
    let config = null;
    let M = null, engine = null, store = null;
    let gen = 0;               // bumped by reset/step-aside: stale loops and responses stop
    let closed = false;
    let ready = false;
    let started = null;        // promise of start()
    let opened = null;         // resolves once the engine is open (reads can be served)
    let resolveOpened;
    let releaseOwner = null;   // resolves the owner-lock callback's promise
    let ownerChannel = null;
    const aborts = new Set();  // AbortControllers of fetches in flight
    const sleepers = new Set(); // wake functions of loops waiting (backoff, idle, stop)
    const lastStatus = new Map(); // shape -> STATUS message last broadcast
    let lastProgress = 0;
    const t0 = now();
    const timeline = []; // [label, ms since the worker started], the first 64 steps (STATS)
    const mark = (label) => { if (timeline.length < 64) timeline.push([label, now() - t0]); };

    opened = new Promise((r) => { resolveOpened = r; });

    // ---- clients ----------------------------------------------------------------------------

    function send(client, msg) {
      try { client.post(msg); } catch (e) { log('post failed', e); }
    }
    function broadcast(msg) {
      for (const c of clients.values()) send(c, msg);
    }

    function addClient(post) {
      const c = { id: nextClient++, post };
      clients.set(c.id, c);
      return c;
    }

    function forget(c) {
      clients.delete(c.id);
    }

    // Watches the tab's lock: granted to us only once the tab released it (closed or crashed).
    function watchTab(c, tabLock) {
      if (!tabLock || !env.locks || c.watching) return;
      c.watching = true;
      env.locks.request(tabLock, { mode: 'exclusive' }, () => { forget(c); })
        .catch((e) => log('tab lock', e));
    }

    async function handle(c, msg) {
      if (!msg || typeof msg !== 'object') return;
      switch (msg.type) {
        case 'HELLO':
          watchTab(c, msg.tabLock);
          if (!started) started = start(msg.config || {}).catch((e) => fatal(e));
          for (const st of lastStatus.values()) send(c, st);
          if (ready) send(c, { type: 'READY' });
          break;
        case 'QUERY':
          await opened;
          try {
            if (!engine) throw new Error('the replica is closed');
            send(c, { type: 'RESULT', id: msg.id, value: engine.query(msg.sql, msg.params || null) });
          } catch (e) {
            send(c, { type: 'RESULT', id: msg.id, error: errorInfo(e) });
          }
          break;
        case 'RESET':
          try {
            await resetLocal();
            send(c, { type: 'RESULT', id: msg.id, value: true });
          } catch (e) {
            send(c, { type: 'RESULT', id: msg.id, error: errorInfo(e) });
          }
          break;
        case 'BYE':
          forget(c);
          break;
        case 'STATS': // benchmarks: what the IndexedDB flusher wrote
          send(c, { type: 'RESULT', id: msg.id, value: store ? { ...store.stats, commitSeq: store.commitSeq, size: store.flushedSize, startedAt: t0, timeline } : null });
          break;
        default:
          break;
      }
    }

    // A MessagePort of a tab (SharedWorker onconnect, or a MessageChannel in tests).
    function connect(port) {
      const c = addClient((m) => port.postMessage(m));
      port.onmessage = (ev) => { handle(c, ev.data); };
      if (typeof port.start === 'function') port.start();
      return c;
    }

    // ---- start-up: owner lock, version, replica, shapes ------------------------------------

    // Resolves once this worker holds `sqlite-owner:<dbName>` (held until shutdown). A
    // request's own promise settles only when the lock is released, so it is never awaited.
    async function acquireOwner(dbName) {
      const name = `sqlite-owner:${dbName}`;
      const hold = () => new Promise((r) => { releaseOwner = r; });
      if (env.BroadcastChannel) {
        ownerChannel = new env.BroadcastChannel(`esync-owner:${dbName}`);
        ownerChannel.onmessage = (ev) => {
          const d = ev.data;
          if (d && d.type === 'step-aside' && d.from !== writerId && releaseOwner && env.mode !== 'dedicated') stepAside();
        };
      }
      const immediate = await new Promise((resolve) => {
        env.locks.request(name, { mode: 'exclusive', ifAvailable: true }, (lock) => {
          resolve(!!lock);
          return lock ? hold() : undefined;
        }).catch(() => resolve(false));
      });
      if (immediate) return;
      // Taken: by an older SharedWorker (after a deploy), which is asked to step aside.
      if (env.mode !== 'dedicated' && ownerChannel) ownerChannel.postMessage({ type: 'step-aside', from: writerId });
      await new Promise((resolve) => {
        env.locks.request(name, { mode: 'exclusive' }, () => { resolve(); return hold(); })
          .catch((e) => log('owner lock', e));
      });
    }

    async function fetchVersion() {
      const ctrl = new AbortController();
      const t = setT(() => ctrl.abort(), VERSION_TIMEOUT_MS);
      try {
        const r = await env.fetch(config.versionUrl, { signal: ctrl.signal, cache: 'no-store' });
        if (!r.ok) throw new Error(`schema version: HTTP ${r.status}`);
        const body = await r.json();
        if (!body || typeof body.version !== 'string' || !body.version) throw new Error('schema version: no version');
        return body.version;
      } finally {
        clearT(t);
      }
    }

    function newStore() {
      return new g.ElectricSyncStore.ReplicaStore({
        indexedDB: env.indexedDB, IDBKeyRange: env.IDBKeyRange, dbName: config.dbName, file: fileOf(config.dbName),
        Module: M, writerId, schemaVersion: () => (engine ? engine.version() : null), setTimeout: setT,
        onError: (e) => log('flush failed, retrying', e),
      });
    }

    function openEngine() {
      engine = new M.Engine(fileOf(config.dbName));
      for (const s of config.shapes) {
        const { name, ...def } = s;
        engine.defineShape(name, def);
      }
    }

    async function start(cfg) {
      config = { ...DEFAULTS, ...cfg };
      for (const s of config.shapes) publishStatus(s.name, { phase: 'opening', rows: 0, offset: null, handle: null, lastSyncedAt: null });
      // The module compiles while the owner lock is awaited; the version is fetched while
      // IndexedDB loads.
      const moduleP = env.loadModule();
      moduleP.catch(() => {});
      await acquireOwner(config.dbName);
      mark('owner lock');
      if (closed) return;
      const versionP = fetchVersion().then((v) => ({ v }), (e) => ({ e }));
      store = newStore();
      const readP = store.read();
      M = await moduleP;
      mark('module');
      await readP;
      mark('indexeddb read');
      store.load(M);
      mark('image loaded');
      openEngine();
      mark('engine open');
      resolveOpened();
      const got = await versionP;
      mark('version');
      if (closed) return;
      if (got.e) {
        // Offline start: serve the stored replica, retry the version with backoff.
        log('offline start', got.e);
        offline(got.e);
        versionRetry(gen);
        return;
      }
      await applyVersion(got.v);
      startLoops();
    }

    function offline(err) {
      for (const s of engine.status()) {
        publishStatus(s.shapeName, { phase: 'offline', rows: s.rows, offset: s.offset, handle: s.handle, lastSyncedAt: s.lastSyncedAt, error: errorInfo(err).message });
      }
      markReady();
    }

    async function versionRetry(g0) {
      let delay = 1000;
      while (!closed && gen === g0) {
        await sleep(delay * (0.5 + Math.random()), g0);
        if (closed || gen !== g0) return;
        let v;
        try { v = await fetchVersion(); } catch (e) { delay = Math.min(delay * 2, 30000); continue; }
        if (closed || gen !== g0) return;
        await applyVersion(v);
        startLoops();
        return;
      }
    }

    // The engine decides; on a mismatch the IndexedDB database is deleted and the replica
    // starts empty (the seed's flow), and SCHEMA_RESET goes out once that is done.
    async function applyVersion(v) {
      const { wiped, event } = engine.versionCheck(v);
      if (!wiped) {
        await persist();
        return;
      }
      engine.close();
      engine = null;
      await store.drain();
      store.close();
      M.deleteDatabase(fileOf(config.dbName));
      await g.ElectricSyncStore.deleteDatabase(env.indexedDB, config.dbName);
      store = newStore();
      await store.open();
      openEngine();
      engine.versionCheck(v);
      await persist();
      broadcast(event);
    }

    // ---- the request loop -------------------------------------------------------------------

    function startLoops() {
      const g0 = gen;
      for (const s of config.shapes) loop(s.name, g0).catch((e) => { log('loop', e); });
    }

    function sleep(ms, g0) {
      return new Promise((resolve) => {
        const wake = () => { clearT(t); sleepers.delete(wake); resolve(); };
        const t = setT(wake, ms);
        sleepers.add(wake);
        if (g0 !== gen) wake();
      });
    }
    // Waits for the next ingest of any shape (ESYNC_ACT_IDLE) or a generation change.
    function idle() {
      return new Promise((resolve) => {
        const wake = () => { sleepers.delete(wake); resolve(); };
        wake.idle = true;
        sleepers.add(wake);
      });
    }
    function wakeIdle() {
      for (const w of [...sleepers]) if (w.idle) w();
    }
    function wakeAll() {
      for (const w of [...sleepers]) w();
      for (const a of [...aborts]) a.abort();
    }

    async function fetchShape(name, req) {
      const base = req.live && config.liveUrl ? config.liveUrl : config.shapeUrl;
      const url = base + (base.includes('?') ? '&' : '?') + req.query;
      const ctrl = new AbortController();
      aborts.add(ctrl);
      const t = req.live ? setT(() => ctrl.abort(), liveTimeoutMs) : null;
      try {
        const r = await env.fetch(url, { signal: ctrl.signal, cache: 'no-store' });
        const body = new Uint8Array(await r.arrayBuffer());
        return { status: r.status, headers: r.headers, body, nowMs: now() };
      } catch (e) {
        return { status: 0, headers: {}, body: new Uint8Array(0), nowMs: now(), error: e };
      } finally {
        if (t !== null) clearT(t);
        aborts.delete(ctrl);
      }
    }

    async function loop(name, g0) {
      while (!closed && gen === g0) {
        const req = engine.nextRequest(name);
        if (req.action === 'fetch') {
          const resp = await fetchShape(name, req);
          if (closed || gen !== g0) return; // reset meanwhile: this response belongs to the old replica
          mark(`response ${resp.status} ${resp.body.length} B`);
          let events = [];
          let err = null;
          try {
            events = engine.ingest(name, resp);
          } catch (e) {
            err = e;
          }
          mark('ingested');
          afterIngest(name, events, err, resp);
        } else if (req.action === 'wait') {
          await sleep(req.waitMs, g0);
        } else if (req.action === 'idle') {
          await idle();
        } else {
          publishFromEngine();
          await sleep(3600e3, g0); // stopped until a reset
        }
      }
    }

    function afterIngest(name, events, err, resp) {
      if (err) log(`ingest ${name}`, err.message, resp.error || '');
      const p = persist(events);
      if (p) {
        // A commit, with or without changes (an up-to-date with nothing new moved the offset):
        // the events and the status go out once it is durable.
        p.then((evs) => {
          mark(`durable (${store.stats.lastFlushPages} pages)`);
          if (closed) return;
          for (const ev of evs) broadcast(ev);
          publishFromEngine(err);
        });
      } else {
        const t = now();
        if (err || t - lastProgress > 50) { lastProgress = t; publishFromEngine(err); }
      }
      wakeIdle();
    }

    // Flushes what the engine committed since the last call; null when it committed nothing.
    let lastCommits = 0;
    function persist(events = []) {
      const c = M.MemVfs.commits();
      if (c === lastCommits && !events.length) return null;
      lastCommits = c;
      return store.commit(events);
    }

    // ---- status and readiness ---------------------------------------------------------------

    function publishStatus(shapeName, s) {
      const msg = { type: 'STATUS', shapeName, phase: s.phase, rows: s.rows, offset: s.offset, handle: s.handle, lastSyncedAt: s.lastSyncedAt };
      if (s.error) msg.error = s.error;
      const prev = lastStatus.get(shapeName);
      if (prev && JSON.stringify(prev) === JSON.stringify(msg)) return;
      lastStatus.set(shapeName, msg);
      broadcast(msg);
    }

    function publishFromEngine(err) {
      if (!engine) return;
      let all;
      try { all = engine.status(); } catch (e) { return; }
      for (const s of all) {
        const phase = PHASES[s.phase] || s.phase;
        const error = s.error || (phase !== 'live' && err ? err.message : undefined);
        publishStatus(s.shapeName, { phase, rows: s.rows, offset: s.offset, handle: s.handle, lastSyncedAt: s.lastSyncedAt, error });
      }
      if (!ready && all.length && all.every((s) => s.phase === 'live')) markReady();
    }

    function markReady() {
      if (ready) return;
      ready = true;
      broadcast({ type: 'READY' });
    }

    // ---- reset, step aside, close ---------------------------------------------------------

    async function resetLocal() {
      if (!started) throw new Error('not started');
      await opened;
      if (!engine) throw new Error('the replica is closed');
      gen++;
      wakeAll();
      const event = engine.reset();
      await persist();
      broadcast(event);
      publishFromEngine();
      startLoops();
    }

    async function stepAside() {
      log('stepping aside for a newer worker');
      await shutdown();
      for (const s of lastStatus.keys()) {
        const prev = lastStatus.get(s);
        publishStatus(s, { ...prev, phase: 'error', error: 'replaced by a newer worker: reload the page' });
      }
    }

    // Stops the loops, waits for the last flush, closes the replica, releases the owner lock.
    async function shutdown() {
      if (closed) return;
      closed = true;
      gen++;
      wakeAll();
      if (store) {
        try { await Promise.race([store.drain(), new Promise((r) => setT(r, 2000))]); } catch (e) { log('drain', e); }
        store.close();
      }
      if (engine) engine.close();
      engine = null;
      if (M) M.deleteDatabase(fileOf(config.dbName));
      if (releaseOwner) releaseOwner();
      releaseOwner = null;
      if (ownerChannel) ownerChannel.close();
      resolveOpened();
    }

    function fatal(e) {
      log('worker failed', e);
      if (config) for (const s of config.shapes) publishStatus(s.name, { ...(lastStatus.get(s.name) || {}), phase: 'error', error: errorInfo(e).message });
    }

    // Drops the worker without flushing (tests: a crash). The lock is released as when a worker dies.
    function crash() {
      closed = true;
      gen++;
      wakeAll();
      if (store) store.close();
      if (releaseOwner) releaseOwner();
      if (ownerChannel) ownerChannel.close();
    }

    return {
      connect,
      addClient,
      handle,
      close: shutdown,
      crash,
      get ready() { return ready; },
      get engine() { return engine; },
      get store() { return store; },
      get module() { return M; },
      get started() { return started; },
      get clients() { return clients; },
    };
  }

  // ---- dedicated-worker fallback: leader election and relaying ------------------------------

  // Runs in a dedicated worker of one tab (scope: the worker global, postMessage to the tab).
  function runDedicated(scope, envBase) {
    let worker = null;        // the engine side, once this worker leads
    let local = null;         // the tab's client in `worker`
    let clientId = `c-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
    let hello = null;
    const unanswered = new Map(); // id -> request, re-sent to a new leader
    let chan = null, rpc = null;

    scope.onmessage = (ev) => {
      const msg = ev.data;
      if (!msg) return;
      if (msg.type === 'HELLO') {
        hello = msg;
        if (!chan) setup(msg.config || {});
      }
      if (msg.type === 'QUERY' || msg.type === 'RESET') unanswered.set(msg.id, msg);
      if (worker) worker.handle(local, msg);
      else if (rpc) rpc.postMessage({ from: clientId, msg });
    };

    function toTab(m) {
      if (m && m.type === 'RESULT') unanswered.delete(m.id);
      scope.postMessage(m);
    }

    function setup(cfg) {
      const dbName = cfg.dbName || DEFAULTS.dbName;
      rpc = new envBase.BroadcastChannel(`${dbName}-rpc`);
      chan = rpc;
      // As a follower: replies and events addressed to us; a new leader gets everything again.
      rpc.onmessage = (ev) => {
        const d = ev.data;
        if (!d) return;
        if (worker) return leaderReceive(d);
        if (d.leader) {
          rpc.postMessage({ from: clientId, msg: hello });
          for (const m of unanswered.values()) rpc.postMessage({ from: clientId, msg: m });
        } else if (d.to === clientId) {
          toTab(d.msg);
        }
      };
      rpc.postMessage({ from: clientId, msg: hello });
      // The election: the owner lock is what the leader's engine holds anyway.
      envBase.locks.request(`sqlite-owner:${dbName}`, { mode: 'exclusive' }, () => lead())
        .catch((e) => (envBase.log || (() => {}))('election', e));
    }

    const remotes = new Map(); // clientId -> client of `worker`
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

    // Becomes the leader: runs the engine in this worker. The lock is held (the callback's
    // promise never settles) until this worker dies with its tab.
    function lead() {
      // The engine's own acquireOwner must not wait for the lock we hold: give it a lock manager
      // that grants the owner lock at once (we hold the real one).
      const ownerName = `sqlite-owner:${(hello.config && hello.config.dbName) || DEFAULTS.dbName}`;
      const locks = {
        request(name, opts, cb) {
          if (typeof opts === 'function') { cb = opts; opts = {}; }
          if (name === ownerName) return Promise.resolve().then(() => cb({ name, mode: 'exclusive' }));
          return envBase.locks.request(name, opts, cb);
        },
      };
      worker = createWorker({ ...envBase, locks, BroadcastChannel: null, mode: 'dedicated' });
      local = worker.addClient(toTab);
      worker.handle(local, hello);
      for (const m of unanswered.values()) worker.handle(local, m);
      rpc.postMessage({ leader: clientId });
      return new Promise(() => {});
    }
  }

  g.ElectricSyncWorker = { createWorker, runDedicated, DEFAULTS };

  // ---- bootstrap in a browser worker ------------------------------------------------------
  if (typeof importScripts === 'function' && !g.ELECTRIC_SYNC_NO_AUTOSTART) {
    const here = g.location.href;
    importScripts(new URL('electric-sync.store.js', here).href, new URL('wasm/electric-sync.js', here).href);
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
      g.ElectricSyncWorker.instance = w;
      g.onconnect = (ev) => { w.connect(ev.ports[0]); };
    } else {
      runDedicated(g, envBase);
    }
  }
})(typeof self !== 'undefined' ? self : globalThis);
