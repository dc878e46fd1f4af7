/*
 * bridge.js — the JS half of the C<->JS boundary (its C half is bridge.c). Appended to the
 * emscripten loader with --post-js, so `Module` is the module instance being created.
 *
 * Module.Engine wraps one esync engine. Every call copies its results out of the wasm heap and
 * frees them before returning (memory growth detaches views, so nothing keeps a view across
 * calls). Return codes become EsyncError exceptions in exactly one place: check().
 *
 * Constants shared with C are named on both sides and checked when the module loads (before its
 * ready promise resolves, which rejects on a mismatch): the transfer block's slots (XFER, against
 * bridge.h's ESW_XFER_SLOTS), the esync_action names (ACTIONS), and the error codes, which are
 * not written here at all but read from esync_errname (Module.errors).
 */
/* global Module, addOnInit */
(function () {
  'use strict';
  // The transfer block's slots: bridge.h's ESW_XFER_SLOTS, in the same order.
  // The memvfs file a replica image passes through (ingest).
  const IMAGE_FILE = 'esync-image';
  const EVENT_RECORD = 7; // numbers per event record of esync_ingest_events (ESYNC_EVENT_RECORD)
  const XFER = { OUT_PTR: 0, OUT_LEN: 1, ACTION: 2, LIVE: 3, WAIT_MS: 4, QUERY: 5, OPEN_ERROR: 6, EVENTS: 7, IMAGE: 8 };
  // esync_action (esync.h) -> the name nextRequest() returns.
  const ACTIONS = { 1: 'fetch', 2: 'wait', 3: 'idle', 4: 'stop', 5: 'auth' };
  // Error codes by name ({ESYNC_ENOMEM: -1, ...}), filled from C at load.
  const errors = {};
  const decoder = new TextDecoder('utf-8');
  const encoder = new TextEncoder();

  addOnInit(() => {
    const slots = Module.UTF8ToString(Module._esw_xfer_slots()).trim();
    if (slots !== Object.keys(XFER).join(' ') || !Object.values(XFER).every((slot, i) => slot === i)) {
      throw new Error(`bridge.js XFER (${Object.keys(XFER).join(' ')}) does not match bridge.h (${slots})`);
    }
    if (Module._esw_event_record() !== EVENT_RECORD) throw new Error('bridge.js EVENT_RECORD does not match esync.h');
    for (const code in ACTIONS) {
      const p = Module._esw_action_name(Number(code));
      if (!p || Module.UTF8ToString(p) !== ACTIONS[code]) throw new Error(`bridge.js ACTIONS[${code}] does not match bridge.c`);
    }
    for (let code = -1; ; code--) {
      const name = Module.UTF8ToString(Module._esync_errname(code));
      if (name === 'EUNKNOWN') break;
      errors[name] = code;
    }
    if (errors.ESYNC_ENOMEM === undefined) throw new Error('bridge.js: no ESYNC_ENOMEM in esync_errname');
    Object.freeze(errors);
  });

  class EsyncError extends Error {
    constructor(code, message) {
      super(message || Module.UTF8ToString(Module._esync_strerror(code)));
      this.name = 'EsyncError';
      this.code = code;
      this.codeName = Module.UTF8ToString(Module._esync_errname(code));
    }
  }

  // Allocates NUL-terminated UTF-8 copies of strings (null stays 0) for the duration of fn.
  function withStrings(strings, fn) {
    const ptrs = [];
    try {
      for (const s of strings) {
        if (s === null || s === undefined) { ptrs.push(0); continue; }
        const str = String(s);
        const n = Module.lengthBytesUTF8(str) + 1;
        const p = Module._malloc(n);
        if (!p) throw new EsyncError(errors.ESYNC_ENOMEM);
        Module.stringToUTF8(str, p, n);
        ptrs.push(p);
      }
      return fn(...ptrs);
    } finally {
      for (const p of ptrs) if (p) Module._free(p);
    }
  }

  // The value in a slot of the transfer block (an XFER index).
  function xfer(slot) {
    return Module.HEAPU32[(Module._esw_xfer() >> 2) + slot];
  }

  // Takes the out-buffer left in the transfer block: decodes and frees it.
  function takeOut() {
    const ptr = xfer(XFER.OUT_PTR), len = xfer(XFER.OUT_LEN);
    if (!ptr) return null;
    const text = decoder.decode(Module.HEAPU8.subarray(ptr, ptr + len));
    Module._esync_free(ptr);
    return text;
  }

  // Takes the out-buffer left in the transfer block as bytes (a copy: the heap may grow) and frees it.
  function takeOutBytes() {
    const ptr = xfer(XFER.OUT_PTR), len = xfer(XFER.OUT_LEN);
    if (!ptr) return null;
    const bytes = Module.HEAPU8.slice(ptr, ptr + len);
    Module._esync_free(ptr);
    return bytes;
  }

  // Converts the values JSON cannot carry, per the shape's column types: int8 -> BigInt,
  // non-finite floats -> Number, also inside arrays.
  function revive(value, kind) {
    if (value === null || value === undefined) return value;
    if (Array.isArray(value)) return value.map((v) => revive(v, kind));
    if (kind === 'int8' && typeof value === 'string') {
      try { return BigInt(value); } catch { return value; } // an old row of a column whose type changed
    }
    if (kind === 'float' && typeof value === 'string') return Number(value);
    return value;
  }
  function reviveRow(row, types) {
    for (const col in types) if (col in row) row[col] = revive(row[col], types[col]);
    return row;
  }

  class Engine {
    constructor(path, options = {}) {
      this.sliceBody = 0; // the body of the response being applied in slices (its heap copy)
      const seed = options.seed ?? Math.floor(Math.random() * 2 ** 52);
      this.ptr = withStrings([path], (p) => Module._esw_open(p, seed, options.maxBodyBytes ?? 0));
      if (!this.ptr) {
        const code = xfer(XFER.OPEN_ERROR) | 0;
        throw new EsyncError(code, `cannot open replica ${path}: ` + Module.UTF8ToString(Module._esync_strerror(code)));
      }
      // options.checkpointBytes: esync_set_checkpoint_bytes (commits during a long initial sync)
      if (options.checkpointBytes) Module._esw_set_checkpoint_bytes(this.ptr, options.checkpointBytes);
      // options.checkpointGrowth: esync_set_checkpoint_growth (later checkpoints spaced wider)
      if (options.checkpointGrowth) Module._esw_set_checkpoint_growth(this.ptr, options.checkpointGrowth);
    }

    check(rc) {
      if (rc < 0) throw new EsyncError(rc, Module.UTF8ToString(Module._esync_errmsg(this.ptr)));
      return rc;
    }

    defineShape(name, definition) {
      const def = typeof definition === 'string' ? definition : JSON.stringify(definition);
      this.check(withStrings([name, def], (n, d) => Module._esync_shape_define(this.ptr, n, d)));
    }

    nextRequest(name) {
      const rc = withStrings([name], (n) => Module._esw_next_request(this.ptr, n));
      this.check(rc);
      const action = ACTIONS[xfer(XFER.ACTION)];
      const req = { action, live: xfer(XFER.LIVE) === 1 };
      if (action === 'wait') req.waitMs = xfer(XFER.WAIT_MS);
      if (action === 'fetch') {
        req.query = Module.UTF8ToString(xfer(XFER.QUERY));
        req.image = xfer(XFER.IMAGE) === 1; // the answer may be a replica image (response.image)
      }
      return req;
    }

    // response: {status, headers: {get(name)} | plain object, body: Uint8Array|string, nowMs}
    // Returns the committed change events (array, possibly empty): DATA_CHANGE (with `txids`,
    // decimal strings, when the batch carried any) and TXIDS (a batch whose txids brought no net
    // change). Throws EsyncError on a failed response (the engine has already rolled its batch
    // back and planned the retry; ESYNC_EAUTH: waiting for resume()); the error's `events` holds
    // what queued responses of other shapes committed during the same call (usually []).
    // options.raw: the events are returned (and put on a thrown error as `raw`) as the engine's
    // UTF-8 JSON array, a Uint8Array of their own (null when nothing was committed), neither
    // parsed nor revived: the worker ships large change sets to the tabs as JSON bytes
    // (web/electric-sync.worker.tabs.js) and parses only what it needs itself. Those bytes carry
    // `events`, a Uint32Array of 7 numbers per event (esync_ingest_events: start, end, the
    // `,"changes":` member's offset and the end of its object, then how many inserts, updates
    // and deletes it holds; zeros but the first two for an event without changes), so that
    // nothing has to scan them to find the events or count their rows.
    // response.image (a Uint8Array) instead of a body: a replica image (esync.h), the answer to
    // a request whose `image` was true; it goes through a memvfs file, deleted after the call
    // (memvfs keeps its bytes while the engine has it attached, until its batch ends; the next
    // image gets a new file of the same name).
    ingest(name, response, options = {}) {
      const h = response.headers || {};
      const get = typeof h.get === 'function' ? (k) => h.get(k) : (k) => h[k] ?? null;
      const image = response.image || null;
      let body = image ? new Uint8Array(0) : response.body ?? new Uint8Array(0);
      if (typeof body === 'string') body = encoder.encode(body);
      const bodyPtr = body.length ? Module._malloc(body.length) : 0;
      if (body.length && !bodyPtr) throw new EsyncError(errors.ESYNC_ENOMEM);
      if (bodyPtr) Module.HEAPU8.set(body, bodyPtr);
      let rc, text;
      try {
        if (image) Module.MemVfs.load(IMAGE_FILE, image.length, [[0, image]]);
        rc = withStrings(
          [name, get('electric-handle'), get('electric-offset'), get('electric-schema'),
            get('electric-cursor'), get('retry-after'), image ? IMAGE_FILE : null],
          (n, handle, offset, schema, cursor, retry, img) => Module._esw_ingest(
            this.ptr, n, response.status | 0, handle, offset, schema, cursor,
            get('electric-up-to-date') !== null ? 1 : 0, retry, bodyPtr,
            image ? image.length : body.length, response.nowMs ?? Date.now(), img));
        text = options.raw ? this.takeRaw() : takeOut();
      } finally {
        if (image) Module.deleteDatabase(IMAGE_FILE);
        // A response applied in slices (setIngestSlice) keeps its body until its last slice.
        if (bodyPtr && !this.sliceBody && Module._esync_ingest_pending(this.ptr)) this.sliceBody = bodyPtr;
        else if (bodyPtr) Module._free(bodyPtr);
      }
      return this.ingested(rc, text, options);
    }

    // Sliced ingest (esync_set_ingest_slice): a 200 larger than `bytes` is applied in slices of
    // about that many body bytes. ingest() returns after the first; while ingestPending(), each
    // ingestContinue() (same options and return as ingest) applies the next one.
    setIngestSlice(bytes) {
      Module._esync_set_ingest_slice(this.ptr, bytes);
    }

    ingestPending() {
      return this.ptr !== 0 && Module._esync_ingest_pending(this.ptr) === 1;
    }

    ingestContinue(options = {}) {
      let rc, text;
      try {
        rc = Module._esw_ingest_continue(this.ptr);
        text = options.raw ? this.takeRaw() : takeOut();
      } finally {
        this.freeSliceBody();
      }
      return this.ingested(rc, text, options);
    }

    // Drops the response being applied in slices: its batch is rolled back, the shape asks
    // again from its last committed offset.
    ingestAbort() {
      if (this.ptr) Module._esync_ingest_abort(this.ptr);
      this.freeSliceBody();
    }

    freeSliceBody() {
      if (this.sliceBody && !this.ingestPending()) {
        Module._free(this.sliceBody);
        this.sliceBody = 0;
      }
    }

    // The events as the engine's UTF-8 bytes, with their offsets (options.raw of ingest()).
    takeRaw() {
      const text = takeOutBytes();
      // where each event lies in those bytes, and its row counts (esync_ingest_events)
      const n = text ? Module._esw_ingest_events(this.ptr) : 0;
      if (text && n > 0) {
        const p = xfer(XFER.EVENTS) >> 2;
        text.events = Module.HEAPU32.slice(p, p + EVENT_RECORD * n);
      }
      return text;
    }

    ingested(rc, text, options) {
      if (options.raw) {
        if (rc < 0) {
          const err = new EsyncError(rc, Module.UTF8ToString(Module._esync_errmsg(this.ptr)));
          err.raw = text;
          throw err;
        }
        return text;
      }
      const events = text ? JSON.parse(text) : [];
      for (const ev of events) this.reviveEvent(ev);
      try {
        this.check(rc);
      } catch (err) {
        err.events = events;
        throw err;
      }
      return events;
    }

    reviveEvent(ev) {
      if (!ev.changes) return ev; // TXIDS: no rows
      const types = this.shapeTypes(ev.shapeName);
      if (!Object.keys(types).length) return ev;
      for (const r of ev.changes.insert) reviveRow(r, types);
      for (const r of ev.changes.delete) reviveRow(r, types);
      for (const u of ev.changes.update) { reviveRow(u.old, types); reviveRow(u.new, types); }
      return ev;
    }

    // Asked per event, not cached: a refetch can change a shape's schema (a new int8 column), and
    // the call is a walk over the columns plus a tiny JSON.
    shapeTypes(name) {
      this.check(withStrings([name], (n) => Module._esw_shape_types(this.ptr, n)));
      return JSON.parse(takeOut());
    }

    status() {
      this.check(Module._esw_status(this.ptr));
      return JSON.parse(takeOut());
    }

    // Returns {wiped: boolean, event: SCHEMA_RESET | null}.
    versionCheck(version) {
      const rc = withStrings([version], (v) => Module._esw_version_check(this.ptr, v));
      const text = takeOut();
      this.check(rc);
      return { wiped: rc === 1, event: text ? JSON.parse(text) : null };
    }

    version() {
      const p = Module._esync_version(this.ptr);
      return p ? Module.UTF8ToString(p) : null;
    }

    reset() {
      const rc = Module._esw_reset(this.ptr);
      const text = takeOut();
      this.check(rc);
      return JSON.parse(text);
    }

    query(sql, params) {
      const rc = withStrings([sql, params ? JSON.stringify(params) : null],
        (s, p) => Module._esw_query(this.ptr, s, p));
      const text = takeOut();
      this.check(rc);
      return JSON.parse(text);
    }

    // The shapes' tables a read-only statement reads: [{table, shape}] (esync_query_tables).
    // Throws like query() (ESYNC_EPENDING while a shape it reads has no table yet).
    queryTables(sql) {
      const rc = withStrings([sql], (s) => Module._esw_query_tables(this.ptr, s));
      const text = takeOut();
      this.check(rc);
      return JSON.parse(text);
    }

    // Whether a committed batch carried the transaction id (a decimal string, number or BigInt).
    txidSeen(txid) {
      return this.check(withStrings([String(txid)], (t) => Module._esync_txid_seen(this.ptr, t))) === 1;
    }

    // A shape waiting for credentials ('auth') or stopped ('stop') fetches again.
    resume(name) {
      this.check(withStrings([name], (n) => Module._esync_shape_resume(this.ptr, n)));
    }

    // 'same' | 'different' (a shape of that name has another definition) | 'undefined' (none).
    compareShape(name, definition) {
      const def = typeof definition === 'string' ? definition : JSON.stringify(definition);
      const rc = withStrings([name, def], (n, d) => Module._esync_shape_compare(this.ptr, n, d));
      if (rc === errors.ESYNC_ENOSHAPE) return 'undefined';
      return this.check(rc) === 1 ? 'same' : 'different';
    }

    close() {
      if (this.ptr) Module._esync_close(this.ptr);
      this.ptr = 0;
      this.freeSliceBody();
    }
  }

  Module.Engine = Engine;
  Module.EsyncError = EsyncError;
  Module.errors = errors;
  // The library's version (esync_libversion, package.json's version).
  Module.libversion = () => Module.UTF8ToString(Module._esync_libversion());
  Module.memoryUsed = () => Module._esw_memory_used();
  Module.memoryHighwater = (reset) => Module._esw_memory_highwater(reset ? 1 : 0);
  // The query of the first request a new replica makes for a shape definition (an object or its
  // JSON), without an engine: esync_shape_first_request. Throws EsyncError for a bad definition.
  Module.firstRequest = (definition) => {
    const def = typeof definition === 'string' ? definition : JSON.stringify(definition);
    const rc = withStrings([def], (d) => Module._esw_shape_first_request(d));
    const text = takeOut();
    if (rc < 0) throw new EsyncError(rc);
    return text;
  };
  // Removes a replica (and its journal) from the in-memory file system.
  Module.deleteDatabase = (path) => withStrings([path], (p) => Module._esw_delete_db(p));
  // PRAGMA integrity_check of a replica file on a connection of its own: 'ok' when sound.
  Module.integrityCheck = (path) => withStrings([path], (p) => Module.UTF8ToString(Module._esw_integrity_check(p)));
  // Replays a fixture (tests): returns {rc, transcript}.
  Module.replay = (fixture, path) => {
    const bytes = encoder.encode(fixture);
    const p = Module._malloc(bytes.length + 1);
    if (!p) throw new EsyncError(errors.ESYNC_ENOMEM);
    Module.HEAPU8.set(bytes, p);
    Module.HEAPU8[p + bytes.length] = 0;
    try {
      const rc = withStrings([path], (pp) => Module._esw_replay(p, bytes.length, pp));
      const transcript = takeOut();
      Module.deleteDatabase(path);
      return { rc, transcript };
    } finally {
      Module._free(p);
    }
  };
})();
