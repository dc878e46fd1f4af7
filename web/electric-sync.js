// electric-sync.js — what a tab imports (ES module, served at /electric-sync.js).
//
//   const sync = useElectricSync({ shapes: [{ name, table }], shapeUrl, liveUrl, versionUrl, dbName })
//   sync.on('DATA_CHANGE' | 'SCHEMA_RESET' | 'STATUS', fn) -> unsubscribe
//   await sync.ready; await sync.query(sql, params); await sync.resetLocal(); sync.status; sync.close()
//
// The tab connects to the SharedWorker of its dbName (/electric-sync.worker.js), or, where
// SharedWorker does not exist, starts a dedicated worker of its own; the workers elect one leader
// with Web Locks and the others relay to it. Every tab holds a random Web Lock for its lifetime:
// the worker forgets the tab when that lock is released (a closed or crashed tab), which port
// events cannot tell reliably. The messages between tab and worker: docs/contracts.md.

const DEFAULT_DB_NAME = 'electric-sync';
const EVENTS = ['DATA_CHANGE', 'SCHEMA_RESET', 'STATUS'];
const WORKER_FORMAT = 1; // part of the worker name: a new storage format gets a new worker

function absolute(url) {
  if (url === undefined || url === null) return url;
  const base = typeof location !== 'undefined' ? location.href : undefined;
  return base ? new URL(url, base).href : url;
}

function randomId() {
  if (typeof crypto !== 'undefined' && crypto.randomUUID) return crypto.randomUUID();
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

// The shapes are the app's and have no default. A missing or malformed `shapes` is a mistake in
// the calling code, not a runtime condition, so useElectricSync throws a TypeError at once (no
// worker is started, the stack points at the call) rather than rejecting `ready`, which a page
// may never await. Checked here: a non-empty array of objects, each with a non-empty string
// `name` (unique) and `table`. The rest of a definition (where, params, columns, replica) and
// rules like one shape per table are the engine's: a bad one shows as STATUS phase 'error'.
function checkShapes(shapes) {
  const fail = (why) => {
    throw new TypeError(`useElectricSync: options.shapes ${why}; expected [{ name, table, where?, params?, columns?, replica? }, ...]`);
  };
  if (!Array.isArray(shapes) || !shapes.length) fail(shapes === undefined ? 'is required' : 'must be a non-empty array');
  const names = new Set();
  shapes.forEach((s, i) => {
    if (!s || typeof s !== 'object' || Array.isArray(s)) fail(`[${i}] must be an object`);
    if (typeof s.name !== 'string' || !s.name) fail(`[${i}].name must be a non-empty string`);
    if (typeof s.table !== 'string' || !s.table) fail(`[${i}].table must be a non-empty string`);
    if (names.has(s.name)) fail(`[${i}].name '${s.name}' is used twice`);
    names.add(s.name);
  });
  return shapes;
}

// options: shapes (required), shapeUrl, liveUrl, versionUrl, dbName (default 'electric-sync'):
// see docs/contracts.md; and for embedding and tests: workerUrl (default
// '/electric-sync.worker.js'), port (a MessagePort already connected to a worker), locks (a Web
// Locks implementation; default navigator.locks).
export function useElectricSync(options = {}) {
  const config = {
    shapes: checkShapes(options.shapes),
    shapeUrl: absolute(options.shapeUrl || '/api/electric/v1/shape'),
    liveUrl: absolute(options.liveUrl),
    versionUrl: absolute(options.versionUrl || '/api/schema/version'),
    dbName: options.dbName || DEFAULT_DB_NAME,
  };
  const locks = options.locks || (typeof navigator !== 'undefined' ? navigator.locks : undefined);
  const listeners = new Map(EVENTS.map((t) => [t, new Set()]));
  const status = {};
  const pending = new Map(); // rpc id -> {resolve, reject}
  let nextId = 1;
  let closed = false;
  let releaseTab = null;
  let resolveReady;
  const ready = new Promise((r) => { resolveReady = r; });

  // The transport: {post(msg), close()} over a port, a SharedWorker or a dedicated worker.
  let port, worker = null;
  if (options.port) {
    port = options.port;
  } else if (typeof SharedWorker === 'function') {
    worker = new SharedWorker(absolute(options.workerUrl || '/electric-sync.worker.js'), { name: `electric-sync:${config.dbName}:${WORKER_FORMAT}` });
    port = worker.port;
  } else {
    worker = new Worker(absolute(options.workerUrl || '/electric-sync.worker.js'), { name: `electric-sync:${config.dbName}:${WORKER_FORMAT}:dedicated` });
    port = worker;
  }

  port.onmessage = (ev) => {
    const msg = ev.data;
    if (!msg || closed) return;
    switch (msg.type) {
      case 'RESULT': {
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if (msg.error) {
          const err = new Error(msg.error.message);
          err.code = msg.error.code;
          p.reject(err);
        } else {
          p.resolve(msg.value);
        }
        return;
      }
      case 'READY':
        resolveReady();
        return;
      case 'STATUS':
        status[msg.shapeName] = msg;
        break;
      default:
        break;
    }
    const set = listeners.get(msg.type);
    if (set) for (const fn of [...set]) {
      try { fn(msg); } catch (e) { setTimeout(() => { throw e; }); }
    }
  };
  if (typeof port.start === 'function') port.start();

  // The tab's liveness lock is held before HELLO, so the worker cannot take it first.
  const tabLock = locks ? `electric-sync-tab:${config.dbName}:${randomId()}` : null;
  const hello = (async () => {
    if (locks) {
      await new Promise((granted) => {
        locks.request(tabLock, () => {
          granted();
          return new Promise((r) => { releaseTab = r; });
        }).catch(() => granted());
      });
    }
    if (!closed) port.postMessage({ type: 'HELLO', config, tabLock });
  })();

  function rpc(msg) {
    if (closed) return Promise.reject(new Error('closed'));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      hello.then(() => port.postMessage({ ...msg, id }));
    });
  }

  return {
    on(type, fn) {
      const set = listeners.get(type);
      if (!set) throw new Error(`unknown event ${type}; one of ${EVENTS.join(', ')}`);
      set.add(fn);
      return () => set.delete(fn);
    },
    ready,
    // Read-only SQL over the replica (one statement): an array of row objects.
    query(sql, params) {
      return rpc({ type: 'QUERY', sql, params: params || null });
    },
    // Wipes the replica and resyncs; every tab gets SCHEMA_RESET 'manual_reset'.
    resetLocal() {
      return rpc({ type: 'RESET' });
    },
    get status() {
      return status;
    },
    close() {
      if (closed) return;
      try { port.postMessage({ type: 'BYE' }); } catch (_) { /* already gone */ }
      closed = true;
      for (const p of pending.values()) p.reject(new Error('closed'));
      pending.clear();
      if (releaseTab) releaseTab();
      if (worker && typeof worker.terminate === 'function') worker.terminate();
      else if (typeof port.close === 'function') port.close();
    },
  };
}
