// electric-sync.js — what a tab imports (ES module, served at /electric-sync.js).
//
//   const sync = useElectricSync({ shapes: [{ name, table }], shapeUrl, liveUrl, versionUrl, dbName,
//                                  headers, params })
//   sync.on('DATA_CHANGE' | 'SCHEMA_RESET' | 'STATUS', fn) -> unsubscribe
//   await sync.ready; await sync.query(sql, params); const stop = sync.liveQuery(sql, params, onRows)
//   await sync.awaitTxId(txid, { timeoutMs }); await sync.refreshAuth(); await sync.resetLocal()
//   sync.status; sync.close()
//
// The tab connects to the SharedWorker of its dbName (electric-sync.worker.js beside this module),
// or, where SharedWorker does not exist, starts a dedicated worker of its own; the workers elect
// one leader with Web Locks and the others relay to it. Every tab holds a random Web Lock for its lifetime:
// the worker forgets the tab when that lock is released (a closed or crashed tab), which port
// events cannot tell reliably. The messages between tab and worker: docs/contracts.md §6.
//
// Invariants
//  - Live queries run in the worker (one run per distinct statement and relevant commit, shared
//    by every tab); this file only routes their results to the callbacks.
//  - The `headers` and `params` options never leave the tab as functions: the tab evaluates them
//    when the worker asks (AUTH_REQUEST) or on refreshAuth(), and sends the values.
//  - awaitTxId's timeout is the tab's own clock: it fires even if the worker never answers.

const DEFAULT_DB_NAME = 'electric-sync';
const EVENTS = ['DATA_CHANGE', 'SCHEMA_RESET', 'STATUS'];
// Part of the worker's name (`electric-sync:<dbName>:<WORKER_FORMAT>`): a new storage format gets a
// new worker (3: extent records; 4: extents as Blobs, docs/storage.md §2). Exported for tools
// that reach the worker.
export const WORKER_FORMAT = 4;
const AWAIT_TXID_TIMEOUT_MS = 30000;
// The query parameters of the shape protocol, which the engine writes itself (src/core/request.c):
// the `params` option may not set them.
const RESERVED_PARAMS = new Set(['table', 'offset', 'handle', 'live', 'cursor', 'where', 'params',
  'columns', 'replica', 'cache-buster', 'expired_handle', 'live_sse', 'log']);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function absolute(url) {
  if (url === undefined || url === null) return url;
  const base = typeof location !== 'undefined' ? location.href : undefined;
  return base ? new URL(url, base).href : url;
}

// The worker's URL: the workerUrl option (resolved against the page), else the worker script
// beside this module (served by electric-sync-server at /electric-sync.worker.js next to
// /electric-sync.js; in the npm package, dist/electric-sync.worker.js). The worker finds its other
// scripts and the wasm relative to its own URL, so the whole set moves together. The URL is
// computed here, not written inside `new SharedWorker(...)`, so bundlers that rewrite that pattern
// leave the classic worker script (which uses importScripts) alone.
function workerUrl(option) {
  if (option) return absolute(option);
  return new URL('./electric-sync.worker.js', import.meta.url).href;
}

// A large DATA_CHANGE arrives with its `changes` as UTF-8 JSON bytes (`changesJson`), the row
// counts of its three lists (`counts`) and the types of its int8 and non-finite float columns
// (`types`): the worker ships it that way because structured-cloning 100k row objects costs far
// more than a byte copy and one JSON.parse here (docs/contracts.md §6). Usually those bytes come
// ahead, in a DATA_CHANGE_PRELOAD sent while the commit is being made durable, and the
// DATA_CHANGE itself only names it (`ref`). Listeners always see `changes`, typed as the
// worker's own events are, and only once durable. With counts, its rows are parsed on demand
// (lazyChanges): a tab that only counts them, or re-queries on the event, never parses 100k rows.
const utf8 = typeof TextDecoder !== 'undefined' ? new TextDecoder('utf-8') : null;
function reviveValue(v, kind) {
  if (v === null || v === undefined) return v;
  if (Array.isArray(v)) return v.map((x) => reviveValue(x, kind));
  if (kind === 'int8' && typeof v === 'string') {
    try { return BigInt(v); } catch { return v; }
  }
  if (kind === 'float' && typeof v === 'string') return Number(v);
  return v;
}
function parseChanges(msg) {
  const changes = JSON.parse(utf8.decode(msg.changesJson));
  const types = msg.types;
  if (types) {
    const cols = Object.keys(types);
    const revive = (row) => { for (const c of cols) if (c in row) row[c] = reviveValue(row[c], types[c]); };
    for (const r of changes.insert) revive(r);
    for (const r of changes.delete) revive(r);
    for (const u of changes.update) { revive(u.old); revive(u.new); }
  }
  return changes;
}
// `changes` whose rows are parsed when first read: `insert`, `update` and `delete` are arrays
// (Array.isArray is true) of the lengths `counts` gives, which hold the rows once anything but
// `length` of any of them is touched (an index, iteration, a method, keys, JSON.stringify):
// then the whole set is parsed once (parseChanges) and each behaves as the plain array it wraps.
// A proxy cannot be structured-cloned: postMessage a copy (`Array.from(changes.insert)`).
const LISTS = ['insert', 'update', 'delete'];
function lazyChanges(msg) {
  const targets = LISTS.map((_, i) => new Array(msg.counts[i]));
  let wire = msg;
  const fill = () => {
    if (!wire) return;
    const parsed = parseChanges(wire);
    wire = null; // the bytes go with the first read
    LISTS.forEach((k, i) => {
      const rows = parsed[k] || [], t = targets[i];
      t.length = rows.length;
      for (let j = 0; j < rows.length; j++) t[j] = rows[j];
    });
  };
  const handler = {
    get: (t, k) => { if (k !== 'length') fill(); return Reflect.get(t, k); },
    set: (t, k, v) => { fill(); return Reflect.set(t, k, v); },
    has: (t, k) => { fill(); return Reflect.has(t, k); },
    deleteProperty: (t, k) => { fill(); return Reflect.deleteProperty(t, k); },
    ownKeys: (t) => { fill(); return Reflect.ownKeys(t); },
    getOwnPropertyDescriptor: (t, k) => { fill(); return Reflect.getOwnPropertyDescriptor(t, k); },
    defineProperty: (t, k, d) => { fill(); return Reflect.defineProperty(t, k, d); },
    preventExtensions: (t) => { fill(); return Reflect.preventExtensions(t); },
  };
  const changes = {};
  LISTS.forEach((k, i) => { changes[k] = new Proxy(targets[i], handler); });
  return changes;
}
// The counts of a wire DATA_CHANGE, when the worker sent them: [inserts, updates, deletes].
const hasCounts = (msg) => Array.isArray(msg.counts) && msg.counts.length === 3 &&
  msg.counts.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff);
const changesOf = (msg) => (hasCounts(msg) ? lazyChanges(msg) : parseChanges(msg));

// The DATA_CHANGE listeners see: `changes` in its place, the wire fields gone.
function withChanges(msg, changes) {
  const { changesJson: _j, types: _t, ref: _r, counts: _c, ...rest } = msg;
  return { type: rest.type, shapeName: rest.shapeName, tableName: rest.tableName, changes, ...rest };
}

function randomId() {
  if (typeof crypto !== 'undefined' && crypto.randomUUID) return crypto.randomUUID();
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

function codedError(message, code) {
  const err = new Error(message);
  err.code = code;
  return err;
}

// The shapes are the app's and have no default. A missing or malformed `shapes` is a mistake in
// the calling code, not a runtime condition, so useElectricSync throws a TypeError at once (no
// worker is started, the stack points at the call) rather than rejecting `ready`, which a page
// may never await. Checked here: a non-empty array of objects, each with a non-empty string
// `name` (unique) and `table`. The rest of a definition (where, params, columns, replica) and
// rules like one shape per table are the engine's: a bad one shows as STATUS phase 'error', or,
// for a shape the worker did not sync yet, as the rejection of `ready`.
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

// The value of the `headers` or `params` option (or what its function returned): a plain object
// of strings (numbers and booleans are converted; null and undefined entries are left out).
// Throws a TypeError naming what is wrong.
function authValues(kind, v) {
  const out = {};
  if (v === undefined || v === null) return out;
  if (typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`useElectricSync: ${kind} must be an object (or a function returning one, or a Promise of one)`);
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined || x === null) continue;
    if (!['string', 'number', 'boolean'].includes(typeof x)) throw new TypeError(`useElectricSync: ${kind}.${k} must be a string`);
    if (kind === 'headers' && !HEADER_NAME.test(k)) throw new TypeError(`useElectricSync: '${k}' is not a header name`);
    if (kind === 'params' && (RESERVED_PARAMS.has(k) || k.startsWith('params[') || k.startsWith('subset__'))) {
      throw new TypeError(`useElectricSync: params.${k} is a parameter of the shape protocol; name the shape's where/params in options.shapes`);
    }
    out[k] = String(x);
  }
  return out;
}

function checkAuthOption(kind, v) {
  if (v === undefined || v === null || typeof v === 'function') return v;
  authValues(kind, v); // an object: checked now, so a mistake throws at the call
  return v;
}

// A txid as the REST API returns it (a decimal string), or a number or BigInt: the canonical
// decimal string, or null when it is none.
function canonicalTxid(txid) {
  if (typeof txid === 'bigint') return txid >= 0n ? txid.toString() : null;
  if (typeof txid === 'number') return Number.isSafeInteger(txid) && txid >= 0 ? String(txid) : null;
  if (typeof txid === 'string' && /^[0-9]{1,20}$/.test(txid)) return BigInt(txid).toString();
  return null;
}

// options: shapes (required), shapeUrl, liveUrl, versionUrl, dbName (default 'electric-sync'),
// headers, params (an object, or a function returning one or a Promise of one): see
// docs/contracts.md §5; and for embedding and tests: workerUrl (default: electric-sync.worker.js
// beside this module), port (a MessagePort already connected to a worker), locks (a Web
// Locks implementation; default navigator.locks).
export function useElectricSync(options = {}) {
  const config = {
    shapes: checkShapes(options.shapes),
    shapeUrl: absolute(options.shapeUrl || '/api/electric/v1/shape'),
    liveUrl: absolute(options.liveUrl),
    versionUrl: absolute(options.versionUrl || '/api/schema/version'),
    dbName: options.dbName || DEFAULT_DB_NAME,
  };
  const headersOpt = checkAuthOption('headers', options.headers);
  const paramsOpt = checkAuthOption('params', options.params);
  const hasAuth = headersOpt != null || paramsOpt != null;
  const dynamicAuth = typeof headersOpt === 'function' || typeof paramsOpt === 'function';
  const locks = options.locks || (typeof navigator !== 'undefined' ? navigator.locks : undefined);
  const listeners = new Map(EVENTS.map((t) => [t, new Set()]));
  const status = {};
  const pending = new Map(); // rpc id -> {resolve, reject}
  const lives = new Map();   // live query id -> {onRows, onError}
  let nextId = 1;
  let closed = false;
  let releaseTab = null;
  let resolveReady, rejectReady;
  const ready = new Promise((resolve, reject) => { resolveReady = resolve; rejectReady = reject; });

  // The transport: {post(msg), close()} over a port, a SharedWorker or a dedicated worker.
  let port, worker = null;
  if (options.port) {
    port = options.port;
  } else if (typeof SharedWorker === 'function') {
    worker = new SharedWorker(workerUrl(options.workerUrl), { name: `electric-sync:${config.dbName}:${WORKER_FORMAT}` });
    port = worker.port;
  } else {
    worker = new Worker(workerUrl(options.workerUrl), { name: `electric-sync:${config.dbName}:${WORKER_FORMAT}:dedicated` });
    port = worker;
  }
  const post = (msg) => { if (!closed) port.postMessage(msg); };

  // The current values of the headers and params options, functions evaluated now.
  async function currentAuth() {
    const [h, p] = await Promise.all([
      typeof headersOpt === 'function' ? headersOpt() : headersOpt,
      typeof paramsOpt === 'function' ? paramsOpt() : paramsOpt,
    ]);
    return { headers: authValues('headers', h), params: authValues('params', p) };
  }
  // Answers the worker's AUTH_REQUEST; one evaluation at a time.
  let supplying = null;
  function supplyAuth() {
    if (supplying) return;
    supplying = currentAuth().then(
      (v) => post({ type: 'AUTH', ...v }),
      (e) => post({ type: 'AUTH', error: { code: e.code || e.name || 'Error', message: String(e.message || e) } }),
    ).finally(() => { supplying = null; });
  }

  const deliver = (fn, arg) => {
    try { fn(arg); } catch (e) { setTimeout(() => { throw e; }); }
  };

  // Change sets the worker sent ahead of their DATA_CHANGE (parsed while the worker's commit is
  // written to IndexedDB), by ref, in arrival order. A DATA_CHANGE takes its own and drops older
  // ones (a worker that stopped before their commit was durable never confirms them).
  const preloaded = new Map();
  function takePreloaded(ref) {
    for (const [r, changes] of preloaded) {
      preloaded.delete(r);
      if (r === ref) return changes;
    }
    return null;
  }

  port.onmessage = (ev) => {
    let msg = ev.data;
    if (!msg || closed) return;
    if (msg.type === 'DATA_CHANGE_PRELOAD') {
      preloaded.set(msg.ref, changesOf(msg));
      return;
    }
    if (msg.type === 'DATA_CHANGE' && msg.ref !== undefined) {
      const changes = takePreloaded(msg.ref);
      if (!changes) return setTimeout(() => { throw new Error(`electric-sync: DATA_CHANGE ${msg.ref} arrived without its change set`); });
      msg = withChanges(msg, changes);
    } else if (msg.type === 'DATA_CHANGE' && msg.changesJson) {
      msg = withChanges(msg, changesOf(msg));
    }
    switch (msg.type) {
      case 'RESULT': {
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if (msg.error) p.reject(codedError(msg.error.message, msg.error.code));
        else p.resolve(msg.value);
        return;
      }
      case 'READY':
        if (msg.error) rejectReady(codedError(msg.error.message, msg.error.code));
        else resolveReady();
        return;
      case 'ROWS': {
        const l = lives.get(msg.live);
        if (!l) return;
        if (!msg.error) return deliver(l.onRows, msg.rows);
        lives.delete(msg.live); // the worker dropped it: an error no commit can fix
        const err = codedError(msg.error.message, msg.error.code);
        if (l.onError) deliver(l.onError, err);
        else setTimeout(() => { throw err; });
        return;
      }
      case 'AUTH_REQUEST':
        if (hasAuth) supplyAuth();
        return;
      case 'STATUS':
        status[msg.shapeName] = msg;
        break;
      default:
        break;
    }
    const set = listeners.get(msg.type);
    if (set) for (const fn of [...set]) deliver(fn, msg);
  };
  if (typeof port.start === 'function') port.start();

  // The tab's liveness lock is held before HELLO, so the worker cannot take it first. HELLO's
  // `auth`: null (no headers/params options), the values when both are plain objects, or
  // {dynamic: true}: the worker asks (AUTH_REQUEST) when it needs them.
  const tabLock = locks ? `electric-sync-tab:${config.dbName}:${randomId()}` : null;
  const auth = !hasAuth ? null
    : dynamicAuth ? { dynamic: true }
      : { dynamic: false, headers: authValues('headers', headersOpt), params: authValues('params', paramsOpt) };
  const hello = (async () => {
    if (locks) {
      await new Promise((granted) => {
        locks.request(tabLock, () => {
          granted();
          return new Promise((r) => { releaseTab = r; });
        }).catch(() => granted());
      });
    }
    post({ type: 'HELLO', config, tabLock, auth });
  })();

  function rpc(msg) {
    if (closed) return Promise.reject(new Error('closed'));
    const id = nextId++;
    const promise = new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      hello.then(() => post({ ...msg, id }));
    });
    promise.id = id;
    return promise;
  }

  return {
    on(type, fn) {
      const set = listeners.get(type);
      if (!set) throw new Error(`unknown event ${type}; one of ${EVENTS.join(', ')}`);
      set.add(fn);
      return () => set.delete(fn);
    },
    ready,
    // Read-only SQL over the replica (one statement): an array of row objects. A statement on a
    // shape's table that does not exist yet (before the first sync, during a reset) waits for it.
    query(sql, params) {
      return rpc({ type: 'QUERY', sql, params: params || null });
    },
    // onRows(rows) with the first result, then after every committed batch that changed a table
    // the statement reads. onError(err): the statement cannot run (it is then dropped). Returns
    // the unsubscribe function.
    liveQuery(sql, params, onRows, onError) {
      if (typeof sql !== 'string') throw new TypeError('liveQuery: sql must be a string');
      if (typeof onRows !== 'function') throw new TypeError('liveQuery: onRows must be a function');
      if (onError !== undefined && typeof onError !== 'function') throw new TypeError('liveQuery: onError must be a function');
      if (closed) throw new Error('closed');
      const id = nextId++;
      lives.set(id, { onRows, onError });
      hello.then(() => { if (lives.has(id)) post({ type: 'LIVE', id, sql, params: params || null }); });
      return () => {
        if (!lives.delete(id)) return;
        hello.then(() => post({ type: 'UNLIVE', id }));
      };
    },
    // Resolves once a committed batch carrying `txid` (as the REST API returned it) is durable
    // in this browser and its DATA_CHANGE was delivered; at once when it already was. Rejects
    // with code 'TIMEOUT' after timeoutMs.
    awaitTxId(txid, { timeoutMs = AWAIT_TXID_TIMEOUT_MS } = {}) {
      const t = canonicalTxid(txid);
      if (t === null) return Promise.reject(new TypeError(`awaitTxId: ${String(txid)} is not a transaction id (a decimal string)`));
      const p = rpc({ type: 'AWAIT_TXID', txid: t });
      const id = p.id;
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => {
          if (!pending.delete(id)) return;
          hello.then(() => post({ type: 'CANCEL', id }));
          reject(codedError(`awaitTxId: transaction ${t} did not arrive within ${timeoutMs} ms`, 'TIMEOUT'));
        }, timeoutMs);
      });
      return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
    },
    // Evaluates the headers and params options now and hands the values to the worker, which
    // retries a shape refused with 401/403 at once. Without those options: retries with the
    // values the worker has.
    async refreshAuth() {
      if (!hasAuth) return rpc({ type: 'AUTH', force: true });
      const v = await currentAuth();
      return rpc({ type: 'AUTH', force: true, ...v });
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
      lives.clear();
      if (releaseTab) releaseTab();
      if (worker && typeof worker.terminate === 'function') worker.terminate();
      else if (typeof port.close === 'function') port.close();
    },
  };
}
