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
 *  - decodeEvents (below): a DATA_CHANGE keeps its contract for the tab's listeners; only its
 *    wire form between worker and tab library changes with its size.
 *  - A preloaded change set reaches a tab's listeners only with its DATA_CHANGE, which goes out
 *    once durable; messages to a tab keep their order, so its preload is always there first.
 *  - A preload's bytes are moved (transferred, not copied) to one tab when every tab is a port
 *    (a SharedWorker's); the worker then no longer has them. So while a moved preload's
 *    DATA_CHANGE is not out, a tab that connects waits outside (its messages kept, in order):
 *    it comes in once those DATA_CHANGEs went out, as a tab that connected after them, and no
 *    preload is moved while one waits. Every tab in `clients` when a DATA_CHANGE goes out
 *    therefore has its bytes (its preload) or gets them with it. The wait is bounded
 *    (WAIT_MAX_MS: a flush that keeps failing, a worker shutting down): a tab let in before a
 *    moved preload's DATA_CHANGE went out is not sent that DATA_CHANGE (its live queries still
 *    follow the commit), and the worker logs it.
 */
(function (g) {
  'use strict';
  // The longest a tab waits outside for a moved preload's DATA_CHANGE (normally one flush).
  const WAIT_MAX_MS = 5000;

  class Tabs {
    // opts: {locks (Web Locks, optional), log, onForget(client), setTimeout?, waitMaxMs?}
    constructor({ locks, log, onForget, setTimeout, waitMaxMs }) {
      this.setTimeout = setTimeout || g.setTimeout.bind(g);
      this.waitMaxMs = waitMaxMs ?? WAIT_MAX_MS;
      this.waitTimer = null;
      this.locks = locks;
      this.log = log;
      this.onForget = onForget || (() => {});
      this.clients = new Map(); // id -> {id, post, watching}
      this.nextId = 1;
      // Refs of preloaded change sets, unique per worker: a new leader of the dedicated fallback
      // numbers its own, and a tab may still hold an unconfirmed one of the old leader.
      this.refBase = Math.random().toString(36).slice(2, 10);
      this.nextRef = 1;
      this.moved = new Set(); // refs of moved preloads whose DATA_CHANGE is not out yet
      this.waiting = [];      // admit() of each port that connected meanwhile, in order
    }

    get size() {
      return this.clients.size;
    }

    // A client (not registered yet): post(msg, transfer?) reaches its tab; port: it is a
    // MessagePort's (only those take a preload's moved bytes).
    client(post, port = false) {
      return port ? { id: this.nextId++, post, port: true } : { id: this.nextId++, post };
    }

    add(post) {
      const c = this.client(post);
      this.clients.set(c.id, c);
      return c;
    }

    // A MessagePort of a tab: its messages go to onMessage(client, data). While a moved preload's
    // DATA_CHANGE is not out, the tab waits: its messages are kept and handed over, in order,
    // when it comes in.
    connect(port, onMessage) {
      const c = this.client((m, transfer) => (transfer ? port.postMessage(m, transfer) : port.postMessage(m)), true);
      const admit = () => {
        this.clients.set(c.id, c);
        port.onmessage = (ev) => { onMessage(c, ev.data); };
      };
      if (this.moved.size) {
        const kept = [];
        port.onmessage = (ev) => { kept.push(ev.data); };
        this.waiting.push(() => { admit(); for (const d of kept) onMessage(c, d); return c; });
        if (!this.waitTimer) {
          const timer = this.waitTimer = {};
          this.setTimeout(() => { if (this.waitTimer === timer) this.admitWaiting(); }, this.waitMaxMs);
        }
      } else {
        admit();
      }
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

    send(c, msg, transfer) {
      try { c.post(msg, transfer); } catch (e) { this.log('post failed', e); }
    }

    broadcast(msg) {
      if (msg.changesJson) return this.broadcastChanges(msg);
      for (const c of this.clients.values()) this.send(c, msg);
    }

    // The large change sets of a commit that is not durable yet (decodeEvents' wire form) go to
    // the tabs now, as {type:'DATA_CHANGE_PRELOAD', ref, changesJson, counts?, types?}: the bytes
    // travel while IndexedDB writes the commit, and each tab delivers them to its listeners only
    // when the DATA_CHANGE itself comes (broadcastChanges).
    preload(events) {
      for (const ev of events) {
        if (!ev.changesJson) continue;
        const ref = `${this.refBase}:${this.nextRef++}`;
        const msg = { type: 'DATA_CHANGE_PRELOAD', ref, changesJson: ev.changesJson };
        if (ev.counts) msg.counts = ev.counts;
        if (ev.types) msg.types = ev.types;
        // The bytes are copied to every tab but the last, and moved to that one (a structured
        // clone of 10 MB cost the worker ~35-90 ms in Chromium, a transfer ~0), when every tab is
        // a port and none waits to come in (the waiting ones would need the bytes later).
        const tabs = [...this.clients.values()];
        const move = tabs.length && !this.waiting.length && tabs.every((c) => c.port) ? tabs[tabs.length - 1] : null;
        const to = new Set();
        for (const c of tabs) if (c !== move) { this.send(c, msg); to.add(c.id); }
        if (move) {
          this.moved.add(ref);
          this.send(move, msg, [ev.changesJson.buffer]);
          to.add(move.id);
        }
        Object.defineProperty(ev, 'preload', { value: { ref, to }, enumerable: false });
      }
    }

    // A large DATA_CHANGE, once durable: `ref` alone to the tabs that have its preload, the whole
    // wire form to the others (tabs that came meanwhile).
    broadcastChanges(ev) {
      const { changesJson, types, ...envelope } = ev;
      for (const c of this.clients.values()) {
        if (ev.preload && ev.preload.to.has(c.id)) this.send(c, { ...envelope, ref: ev.preload.ref });
        else if (c.missed && ev.preload && c.missed.delete(ev.preload.ref)) this.log('DATA_CHANGE not sent', `tab ${c.id} came in after its preload moved to another tab`);
        else this.send(c, ev.types ? { ...envelope, changesJson, types } : { ...envelope, changesJson });
      }
      if (ev.preload && this.moved.delete(ev.preload.ref) && !this.moved.size) this.admitWaiting();
    }

    // The tabs that waited for the moved preloads' DATA_CHANGEs come in, in the order they came
    // (after WAIT_MAX_MS, with some of them still not out: those the tabs will not be sent).
    admitWaiting() {
      this.waitTimer = null;
      const w = this.waiting;
      this.waiting = [];
      const missed = this.moved.size ? [...this.moved] : null;
      for (const admit of w) {
        try { const c = admit(); if (missed) c.missed = new Set(missed); } catch (e) { this.log('admit', e); }
      }
    }
  }

  // ---- change events from the engine's JSON bytes ----------------------------------------------
  //
  // engine.ingest(name, resp, {raw: true}) gives the committed events as one UTF-8 JSON array.
  // Structured-cloning a 100k-row DATA_CHANGE to a tab costs the worker ~0.4 s and the tab
  // ~0.6 s (Chromium, docs/contracts.md §6); its JSON bytes cost a copy, and JSON.parse in the
  // tab ~0.3 s. So an event whose JSON is at least RAW_EVENT_BYTES long goes out as
  //   {type:'DATA_CHANGE', shapeName, tableName, txids?, changesJson: Uint8Array, counts, types?}
  // (`changesJson` the UTF-8 JSON of `changes`, `counts` the row counts of its insert, update
  // and delete lists, `types` the engine's column types for int8 and non-finite floats), which
  // the tab library turns back into `changes` (its rows parsed when a listener first reads them,
  // electric-sync.js) before any listener sees the event; smaller events are parsed and revived
  // here as before. The worker itself never parses the rows of a large event: it needs only its
  // envelope (shapeName, txids).
  const RAW_EVENT_BYTES = 64 * 1024;
  const Q = 0x22, BS = 0x5c, LB = 0x7b, RB = 0x7d, LS = 0x5b, RS = 0x5d, COMMA = 0x2c, COLON = 0x3a;
  const utf8 = new TextDecoder('utf-8');

  // The index just past the string whose opening quote is at i.
  function skipString(b, i) {
    let j = b.indexOf(Q, i + 1);
    for (;;) {
      if (j < 0) throw new Error('change events: unterminated string');
      let k = j - 1, n = 0;
      while (b[k] === BS) { n++; k--; }
      if (!(n & 1)) return j + 1;
      j = b.indexOf(Q, j + 1);
    }
  }

  // The index just past the JSON value that starts at i (no whitespace: the engine writes none).
  function skipValue(b, i) {
    if (b[i] === Q) return skipString(b, i);
    if (b[i] !== LB && b[i] !== LS) {
      while (i < b.length && b[i] !== COMMA && b[i] !== RB && b[i] !== RS) i++;
      return i;
    }
    let depth = 0;
    for (;;) {
      const c = b[i];
      if (c === Q) { i = skipString(b, i); continue; }
      if (c === LB || c === LS) depth++;
      else if (c === RB || c === RS) { depth--; if (!depth) return i + 1; }
      else if (c === undefined) throw new Error('change events: truncated');
      i++;
    }
  }

  // The engine's records of where its events lie in `bytes` (bytes.events, RECORD numbers per
  // event: start, end, cut, changesEnd, then its inserts, updates and deletes; Engine.ingest),
  // when they describe the whole array: back to back from its '[' to its ']', each an object,
  // each DATA_CHANGE's `changes` member where it says. Null otherwise (no records: the caller
  // scans).
  const RECORD = 7;
  const CHANGES_KEY = [...',"changes":'].map((ch) => ch.charCodeAt(0));
  function eventRecords(bytes) {
    const x = bytes.events;
    if (!(x instanceof Uint32Array) || !x.length || x.length % RECORD) return null;
    let at = 1;
    for (let k = 0; k < x.length; k += RECORD) {
      const [start, end, cut, cend] = [x[k], x[k + 1], x[k + 2], x[k + 3]];
      if (start !== at || bytes[start] !== LB || end <= start || bytes[end - 1] !== RB) return null;
      if (cut && (cut < start || cend > end || cend < cut + CHANGES_KEY.length || bytes[cend - 1] !== RB ||
        !CHANGES_KEY.every((c, i) => bytes[cut + i] === c))) return null;
      at = end + 1;
      if (bytes[end] !== (k + RECORD === x.length ? RS : COMMA)) return null;
    }
    return at === bytes.length ? x : null;
  }

  // The `changes` object that starts at bytes[start] ('{'), walked once: [its end (past its
  // '}'), the row counts of its lists: [inserts, updates, deletes]] (the scan of a change set
  // without the engine's records).
  function changesExtent(bytes, start) {
    const counts = { insert: 0, update: 0, delete: 0 };
    let i = start + 1;
    while (bytes[i] !== RB) {
      const keyEnd = skipString(bytes, i);
      const key = utf8.decode(bytes.subarray(i + 1, keyEnd - 1));
      let j = keyEnd + 1; // past the colon
      if (bytes[keyEnd] !== COLON || bytes[j] !== LS) throw new Error(`change events: changes.${key} is not an array`);
      let n = 0;
      for (j++; bytes[j] !== RS; n++) {
        if (j >= bytes.length) throw new Error('change events: truncated');
        j = skipValue(bytes, j);
        if (bytes[j] === COMMA) j++;
      }
      if (key in counts) counts[key] = n;
      i = bytes[j + 1] === COMMA ? j + 2 : j + 1;
    }
    return [i + 1, [counts.insert, counts.update, counts.delete]];
  }

  // bytes: the engine's events JSON (Uint8Array, or null); engine: for the types of int8 and
  // non-finite float columns. Returns the events, large DATA_CHANGEs in their wire form.
  function decodeEvents(bytes, engine, rawEventBytes = RAW_EVENT_BYTES) {
    if (!bytes || !bytes.length) return [];
    if (bytes.length < rawEventBytes) return JSON.parse(utf8.decode(bytes)).map((ev) => engine.reviveEvent(ev));
    const out = [];
    const x = eventRecords(bytes);
    if (x) {
      for (let k = 0; k < x.length; k += RECORD) {
        const [start, end, cut, cend] = [x[k], x[k + 1], x[k + 2], x[k + 3]];
        if (end - start < rawEventBytes || !cut) out.push(engine.reviveEvent(JSON.parse(utf8.decode(bytes.subarray(start, end)))));
        else out.push(wireFrom(JSON.parse(utf8.decode(bytes.subarray(start, cut)) + utf8.decode(bytes.subarray(cend, end))), part(bytes, cut + CHANGES_KEY.length, cend), engine, [x[k + 4], x[k + 5], x[k + 6]]));
      }
      return out;
    }
    if (bytes[0] !== LS) throw new Error('change events: not an array');
    let i = 1;
    while (bytes[i] !== RS) {
      const end = skipValue(bytes, i);
      out.push(end - i < rawEventBytes ? engine.reviveEvent(JSON.parse(utf8.decode(bytes.subarray(i, end)))) : wireEvent(bytes, i, end, engine));
      i = bytes[end] === COMMA ? end + 1 : end;
    }
    return out;
  }

  // bytes[start, end) for a message: a view when it is most of `bytes` (a message clones a view's
  // whole buffer, so that is one copy less), else a copy of its own.
  function part(bytes, start, end) {
    return (end - start) * 2 > bytes.length ? bytes.subarray(start, end) : bytes.slice(start, end);
  }

  // One event object at bytes[start, end): its members but `changes` parsed, `changes` as bytes.
  function wireEvent(bytes, start, end, engine) {
    const parts = [];
    let changes = null, counts = null;
    let i = start + 1;
    while (i < end - 1) {
      const keyEnd = skipString(bytes, i);
      const key = utf8.decode(bytes.subarray(i + 1, keyEnd - 1));
      const vStart = keyEnd + 1; // past the colon
      if (bytes[keyEnd] !== COLON) throw new Error('change events: malformed member');
      let vEnd;
      if (key === 'changes' && bytes[vStart] === LB) {
        [vEnd, counts] = changesExtent(bytes, vStart);
        changes = part(bytes, vStart, vEnd);
      } else {
        vEnd = skipValue(bytes, vStart);
        parts.push(utf8.decode(bytes.subarray(i, vEnd)));
      }
      i = bytes[vEnd] === COMMA ? vEnd + 1 : vEnd;
    }
    const ev = JSON.parse(`{${parts.join(',')}}`);
    if (!changes) return engine.reviveEvent(ev);
    return wireFrom(ev, changes, engine, counts);
  }

  // The wire form of an event: its envelope `ev` (every member but `changes`), the JSON bytes of
  // its `changes` and how many rows each of its lists holds (`counts`: [inserts, updates,
  // deletes]), which lets a tab know the sizes before (or without) parsing the rows.
  function wireFrom(ev, changes, engine, counts) {
    ev.changesJson = changes;
    ev.counts = counts;
    const types = engine.shapeTypes(ev.shapeName);
    if (Object.keys(types).length) ev.types = types;
    return ev;
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  ns.Tabs = Tabs;
  ns.decodeEvents = decodeEvents;
  ns.eventRecords = eventRecords;
  ns.RAW_EVENT_BYTES = RAW_EVENT_BYTES;
})(typeof self !== 'undefined' ? self : globalThis);
