/*
 * electric-sync.worker.sync.js — the sync loop (a classic script, one of the worker's parts: see
 * electric-sync.worker.js): the schema-version fetch and its retry, one request loop per shape
 * (esync_next_request -> fetch -> esync_ingest), and the events and STATUS that follow each
 * ingest. What to fetch, when to back off and how to apply a response are the engine's
 * decisions; this file only does the I/O and the waiting.
 *
 * Invariants
 *  - Every loop belongs to a generation. stop() (a reset, a step-aside, a shutdown) bumps it,
 *    wakes every sleeping loop and aborts every fetch in flight: a response fetched for an older
 *    generation is dropped, never ingested.
 *  - The events of an ingest go to the tabs only once the commit is durable (Replica.persist).
 *  - Live long-polls go to liveUrl when it is given, and are aborted after liveTimeoutMs.
 *  - Every shape request carries the current values of the tabs' headers/params options
 *    (Auth.apply). A shape refused with 401/403 (engine action 'auth', STATUS 'unauthorized')
 *    waits for newer values, then resumes where it was (engine.resume: same offset and handle,
 *    nothing wiped).
 *  - After each durable commit, in this order: the events go to the tabs (TXIDS events, which are
 *    the worker's own, excepted), STATUS, the awaitTxId waiters (Txids.durable), then the live
 *    queries and waiting reads (Reads.afterCommit): a tab that awaited a txid has its DATA_CHANGE
 *    first, and its awaitTxId resolves before the live queries' new rows reach it, so a page that
 *    awaits a write learns it is in the replica before the row is shown (one message each, so the
 *    tab runs the awaiting code before the next message's rows re-render it). The engine may
 *    already hold later commits that are not durable (ingest goes on during a flush): the live
 *    queries then run at the durable step of the last of them (Reads.committed), so a
 *    result never shows a row before its commit is durable and its DATA_CHANGE delivered.
 *  - A shape added by a later tab (addShape) gets a loop in the current generation at once, or
 *    with the others when the loops (re)start.
 *  - Prefetch (an initial sync's next chunk fetched while this one is ingested): at most one per
 *    shape, only after a non-live 200 without up-to-date, and used only when the engine's next
 *    request is that very one (the cache-buster aside); any other next step (another request,
 *    a backoff, 401/403, a stop, the loop's end) aborts it. Responses are ingested in request
 *    order: the engine sees exactly the sequence it would have seen without the prefetch.
 *  - A response larger than the engine's slice (Replica: 1 MiB) is applied over several calls,
 *    a macrotask turn between them (slices): its loop does nothing else meanwhile, the other
 *    loops' responses queue in the engine, and a stop, close or rebuild between two slices drops
 *    it (its batch rolled back: the shape asks again from its last commit).
 */
(function (g) {
  'use strict';
  const VERSION_TIMEOUT_MS = 10000;
  const VERSION_RETRY_MS = 1000;       // first retry of the version while offline, doubling...
  const VERSION_RETRY_MAX_MS = 30000;  // ...up to this, each with jitter (x0.5 .. x1.5)
  const STOPPED_SLEEP_MS = 3600e3;     // a shape the engine stopped sleeps until a reset
  const AUTH_ASK_MS = 1000;            // 401/403: the tabs are asked again after this, doubling...
  const AUTH_ASK_MAX_MS = 30000;       // ...up to this

  // A macrotask turn: what the event loop has queued (a fetch's body, an IndexedDB callback, a
  // tab's message) runs first. A MessageChannel, not setTimeout, which browsers clamp to 4 ms
  // once nested.
  const tick = typeof MessageChannel === 'function' ? new MessageChannel() : null;
  const ticks = [];
  if (tick) {
    tick.port1.onmessage = () => { const r = ticks.shift(); if (r) r(); };
    if (typeof tick.port1.unref === 'function') tick.port1.unref(); // node: not what keeps it alive
  }
  function yieldTask() {
    if (!tick) return new Promise((r) => setTimeout(r, 0));
    return new Promise((r) => { ticks.push(r); tick.port2.postMessage(0); });
  }

  // The media type of a replica image (the shape service's src/server/shape/service.h), and the
  // Accept of a request that takes one (JSON still welcome).
  const IMAGE_TYPE = 'application/vnd.electric-sync.image';
  const ACCEPT_IMAGE = `${IMAGE_TYPE}, application/json;q=0.9`;

  // The query string without its cache-buster: only caches see that parameter (the engine
  // draws a new one for each request of a refetch), so two queries that differ only there ask
  // the server for the same thing.
  function sameRequest(a, b) {
    const norm = (q) => q.split('&').filter((kv) => !kv.startsWith('cache-buster=')).join('&');
    return norm(a) === norm(b);
  }

  // The request that follows `req` once `resp` is ingested, when the headers alone say it: a
  // non-live request answered 200 with a handle and an offset and without up-to-date is
  // followed by the same request at that offset with that handle (esync_next_request). Null
  // otherwise (live, an error, a control message the engine has to see first: 409, up-to-date).
  function nextQuery(req, resp) {
    if (req.live || resp.status !== 200 || !resp.headers || typeof resp.headers.get !== 'function') return null;
    const h = resp.headers;
    const handle = h.get('electric-handle'), offset = h.get('electric-offset');
    if (!handle || !offset || h.get('electric-up-to-date') !== null) return null;
    let sawOffset = false, sawHandle = false;
    const parts = req.query.split('&').map((kv) => {
      if (kv.startsWith('offset=')) { sawOffset = true; return `offset=${encodeURIComponent(offset)}`; }
      if (kv.startsWith('handle=')) { sawHandle = true; return `handle=${encodeURIComponent(handle)}`; }
      return kv;
    });
    if (!sawOffset) return null;
    if (!sawHandle) parts.splice(parts.findIndex((kv) => kv.startsWith('offset=')) + 1, 0, `handle=${encodeURIComponent(handle)}`);
    return parts.join('&');
  }

  class Sync {
    // opts: {fetch, now, setTimeout, clearTimeout, liveTimeoutMs, log} and the parts it drives:
    // {replica (Replica), status (Status), tabs (Tabs), timeline (Timeline), auth (Auth),
    //  reads (Reads), txids (Txids)}
    constructor(opts) {
      const fetch = opts.fetch;
      this.fetch = (url, init) => fetch(url, init); // called unbound: a browser's fetch wants no other `this`
      this.now = opts.now;
      this.setTimeout = opts.setTimeout;
      this.clearTimeout = opts.clearTimeout;
      this.liveTimeoutMs = opts.liveTimeoutMs;
      this.log = opts.log;
      this.replica = opts.replica;
      this.status = opts.status;
      this.tabs = opts.tabs;
      this.timeline = opts.timeline;
      this.auth = opts.auth;
      this.reads = opts.reads;
      this.txids = opts.txids;
      this.config = null;        // {shapes, shapeUrl, liveUrl, versionUrl}: configure()
      this.gen = 0;
      this.runningGen = -1;      // the generation whose loops run (run() was called)
      this.authUsed = new Map(); // shape name -> Auth.version its last request carried
      this.closed = false;
      this.sleepers = new Set(); // wake functions of the loops that wait (backoff, idle, stopped)
      this.aborts = new Set();   // AbortControllers of the fetches in flight
      this.prefetchHits = 0;     // prefetched responses ingested (also marked in the timeline)
      this.prefetchMisses = 0;   // prefetched responses dropped: the engine asked for another
      this.early = new Map();    // shape name -> its first request, sent before the engine opened
    }

    configure(config) {
      this.config = config;
    }

    // ---- generations and waiting -------------------------------------------------------------

    // Ends the current generation: its loops stop and its fetches are aborted.
    stop() {
      this.gen++;
      this.dropEarly();
      for (const w of [...this.sleepers]) w();
      for (const a of [...this.aborts]) a.abort();
    }

    // For good (shutdown, crash).
    close() {
      this.closed = true;
      this.stop();
    }

    current(g0) {
      return !this.closed && this.gen === g0;
    }

    // kind: null, or 'auth' (also woken by wakeAuth: the credentials changed)
    sleep(ms, g0, kind = null) {
      return new Promise((resolve) => {
        const wake = () => { this.clearTimeout(t); this.sleepers.delete(wake); resolve(); };
        const t = this.setTimeout(wake, ms);
        wake.kind = kind;
        this.sleepers.add(wake);
        if (g0 !== this.gen) wake();
      });
    }

    wakeAuth() {
      for (const w of [...this.sleepers]) if (w.kind === 'auth') w();
    }

    // Waits for the next ingest of any shape (the engine said ESYNC_ACT_IDLE) or a stop().
    idle() {
      return new Promise((resolve) => {
        const wake = () => { this.sleepers.delete(wake); resolve(); };
        wake.idle = true;
        this.sleepers.add(wake);
      });
    }

    wakeIdle() {
      for (const w of [...this.sleepers]) if (w.idle) w();
    }

    // fetch(url), then read(response), under one AbortController that the timer aborts after
    // timeoutMs (null: never) and, when `stoppable`, stop() too.
    async request(url, { timeoutMs = null, stoppable = false, headers, ctrl = new AbortController() }, read) {
      if (stoppable) this.aborts.add(ctrl);
      const t = timeoutMs === null ? null : this.setTimeout(() => ctrl.abort(), timeoutMs);
      try {
        const init = { signal: ctrl.signal, cache: 'no-store' };
        if (headers) init.headers = headers;
        const r = await this.fetch(url, init);
        return await read(r);
      } finally {
        if (t !== null) this.clearTimeout(t);
        this.aborts.delete(ctrl);
      }
    }

    // ---- the schema version --------------------------------------------------------------------

    async fetchVersion() {
      const body = await this.request(this.config.versionUrl, { timeoutMs: VERSION_TIMEOUT_MS }, async (r) => {
        if (!r.ok) throw new Error(`schema version: HTTP ${r.status}`);
        return r.json();
      });
      if (!body || typeof body.version !== 'string' || !body.version) throw new Error('schema version: no version');
      return body.version;
    }

    // With the server's version: keep or wipe the replica, then run the loops (unless a reset or
    // a stop came meanwhile: a reset runs loops of its own).
    async online(v) {
      const g0 = this.gen;
      this.status.online();
      try {
        await this.replica.loaded(); // the version check and the sync write: the whole image first
      } catch (e) {
        if (this.closed) return; // closed while it loaded
        throw e;
      }
      if (this.closed) return;
      const event = await this.replica.applyVersion(v);
      if (event) {
        this.tabs.broadcast(event);
        this.reads.afterReset();
      }
      if (this.current(g0)) this.run();
    }

    // Offline start: retries the version with backoff, then goes online.
    async retryVersion() {
      const g0 = this.gen;
      let delay = VERSION_RETRY_MS;
      while (this.current(g0)) {
        await this.sleep(delay * (0.5 + Math.random()), g0);
        if (!this.current(g0)) return;
        let v;
        try { v = await this.fetchVersion(); } catch (e) { delay = Math.min(delay * 2, VERSION_RETRY_MAX_MS); continue; }
        if (!this.current(g0)) return;
        await this.online(v);
        return;
      }
    }

    // ---- the request loops ---------------------------------------------------------------------

    // One loop per shape, in the current generation.
    run() {
      const g0 = this.gen;
      this.runningGen = g0;
      for (const s of this.config.shapes) this.loop(s.name, g0).catch((e) => { this.log('loop', e); });
    }

    // A shape a later tab added (already defined in the engine and listed in config.shapes).
    addShape(name) {
      if (this.runningGen === this.gen && !this.closed) this.loop(name, this.gen).catch((e) => { this.log('loop', e); });
    }

    // A new replica (nothing stored): each shape's first request is known from its definition
    // alone (M.firstRequest, the engine's own formatting), so it goes out now, while the engine
    // opens (a fresh SQLite file: ~60-130 ms of cold code in Chromium), instead of after it. The
    // loop takes it as a prefetched response: used only if the engine's first request is exactly
    // this one. Not with credentials still to come from a tab (auth.needed), nor for a definition
    // the module refuses (the engine will say why).
    sendFirstRequests(M, shapes) {
      if (this.closed || this.auth.needed) return;
      for (const { name, ...def } of shapes) {
        let query;
        try {
          query = M.firstRequest(def);
        } catch (e) {
          continue;
        }
        // (asking for an image: the engine of a new replica takes one for its first request)
        if (query && !this.early.has(name)) this.early.set(name, this.prefetch(name, { live: false, query, image: true }, query));
      }
    }

    // The first requests not taken by a loop (offline start, stop, close) are aborted.
    dropEarly() {
      for (const a of this.early.values()) a.abort();
      this.early.clear();
    }

    async loop(name, g0) {
      // pre.ahead: the prefetched next response of this shape, {query, promise, abort()}, or null
      // (at first: the request sendFirstRequests made for it)
      const pre = { ahead: this.early.get(name) || null, drop() { if (this.ahead) this.ahead.abort(); this.ahead = null; } };
      this.early.delete(name);
      try {
        await this.loopBody(name, g0, pre);
      } finally {
        pre.drop(); // the loop ended (stop, close): nothing may stay in flight for it
      }
    }

    async loopBody(name, g0, pre) {
      const dropAhead = () => pre.drop();
      while (this.current(g0)) {
        if (this.auth.needed) {
          // A tab has headers/params functions and none answered yet.
          dropAhead();
          this.auth.ask();
          await this.sleep(AUTH_ASK_MS, g0, 'auth');
          continue;
        }
        const req = this.replica.engine.nextRequest(name);
        if (req.action === 'fetch') {
          const ahead = pre.ahead;
          pre.ahead = null;
          let resp, hit = false;
          if (ahead && !req.live && sameRequest(ahead.query, req.query) && ahead.image === !!req.image) {
            hit = true;
            resp = await ahead.promise;
            this.prefetchHits++;
          } else {
            if (ahead) { ahead.abort(); this.prefetchMisses++; }
            this.authUsed.set(name, this.auth.version);
            resp = await this.fetchShape(req);
          }
          if (!this.current(g0)) return; // stopped meanwhile: this response belongs to the old replica
          this.timeline.mark(`response ${resp.status} ${resp.body.length} B${hit ? ' (prefetched)' : ''}${req.live ? ' (live)' : ''}`);
          // The next request of an initial sync is known from this response's headers: fetch it
          // while the engine ingests this one. The engine still decides: its next request must
          // be this one, else the prefetched response is dropped unread.
          const next = nextQuery(req, resp);
          if (next !== null) pre.ahead = this.prefetch(name, req, next);
          this.status.received(name, req, resp, this.replica.engine);
          let events = [];
          let err = null;
          const engine = this.replica.engine;
          const decode = (raw) => g.ElectricSyncWorker.decodeEvents(raw, engine);
          try {
            events = decode(engine.ingest(name, resp, { raw: true }));
            if (engine.ingestPending()) await this.slices(engine, g0, events, decode);
          } catch (e) {
            err = e;
            // what other shapes' queued responses committed (and, sliced, the slices before)
            try { events = events.concat(decode(e.raw)); } catch (e2) { this.log('events', e2); }
          }
          if (this.replica.engine !== engine) return; // closed or rebuilt meanwhile
          this.replica.ingested();
          this.timeline.mark('ingested');
          this.status.ingested(name, engine, err);
          this.afterIngest(name, events, err, resp);
        } else if (req.action === 'wait') {
          dropAhead();
          this.timeline.mark(`wait ${req.waitMs} ms`);
          await this.sleep(req.waitMs, g0);
        } else if (req.action === 'idle') {
          // Another shape's batch is open: a prefetched response stays good until our turn.
          await this.idle();
        } else if (req.action === 'auth') {
          dropAhead();
          this.status.fromEngine(this.replica.engine);
          await this.awaitAuth(name, g0);
        } else {
          dropAhead();
          this.status.fromEngine(this.replica.engine);
          await this.sleep(STOPPED_SLEEP_MS, g0);
        }
      }
    }

    // The other slices of the response `engine` is applying (esync_set_ingest_slice), the event
    // loop running between them: the next response's body keeps arriving, a flush goes on, tabs
    // are answered (a read the writer's lock refuses waits for replica.slicing). Their events
    // are appended to `events`. A stop (or the replica's close or rebuild) between two slices
    // drops the response: its batch is rolled back, the shape asks again from its last commit.
    async slices(engine, g0, events, decode) {
      let done;
      this.replica.slicing = new Promise((r) => { done = r; });
      try {
        while (engine.ingestPending()) {
          await yieldTask();
          if (!this.current(g0) || this.replica.engine !== engine) {
            if (this.replica.engine === engine) engine.ingestAbort();
            return;
          }
          const raw = engine.ingestContinue({ raw: true });
          for (const ev of decode(raw)) events.push(ev);
        }
      } finally {
        engine.freeSliceBody(); // a reset or a close dropped the response meanwhile
        this.replica.slicing = null;
        done();
      }
    }

    // Starts the request `query` (the predicted next one of `req`) now; abort() drops it.
    prefetch(name, req, query) {
      this.authUsed.set(name, this.auth.version);
      const ctrl = new AbortController();
      const promise = this.fetchShape({ ...req, query }, ctrl);
      return { query, image: !!req.image, promise, abort: () => ctrl.abort() };
    }

    // 401/403: waits for credentials newer than the refused ones (asking the tabs again with
    // backoff), then resumes the shape where it was.
    async awaitAuth(name, g0) {
      const refused = this.authUsed.has(name) ? this.authUsed.get(name) : -1;
      let delay = AUTH_ASK_MS;
      while (this.current(g0) && this.auth.version <= refused) {
        this.auth.ask();
        await this.sleep(delay, g0, 'auth');
        delay = Math.min(delay * 2, AUTH_ASK_MAX_MS);
      }
      if (!this.current(g0)) return;
      try {
        this.replica.engine.resume(name);
      } catch (e) {
        this.log(`resume ${name}`, e);
      }
    }

    // A network failure is a response of status 0 (the engine backs off). ctrl: an
    // AbortController of the caller's (a prefetch), aborted by stop() too.
    async fetchShape(req, ctrl) {
      const c = this.config;
      const base = req.live && c.liveUrl ? c.liveUrl : c.shapeUrl;
      const a = this.auth.apply(base + (base.includes('?') ? '&' : '?') + req.query);
      // Where the engine takes one, a snapshot chunk as a replica image (docs/protocol.md §2.4),
      // from a shape service that makes them; JSON from any other (Accept is a CORS-safelisted
      // header: no preflight).
      const headers = req.image ? { ...a.headers, accept: ACCEPT_IMAGE } : a.headers;
      const opts = { timeoutMs: req.live ? this.liveTimeoutMs : null, stoppable: true, headers, ctrl };
      try {
        return await this.request(a.url, opts, async (r) => {
          const body = new Uint8Array(await r.arrayBuffer());
          const resp = { status: r.status, headers: r.headers, body, nowMs: this.now() };
          const type = (r.headers.get('content-type') || '').split(';')[0].trim().toLowerCase();
          if (req.image && r.status === 200 && type === IMAGE_TYPE) resp.image = body;
          return resp;
        });
      } catch (e) {
        return { status: 0, headers: {}, body: new Uint8Array(0), nowMs: this.now(), error: e };
      }
    }

    afterIngest(name, events, err, resp) {
      if (err) this.log(`ingest ${name}`, err.message, resp.error || '');
      this.txids.committed(events);
      this.tabs.preload(events); // large change sets travel to the tabs during the flush
      const p = this.replica.persist(events);
      if (p) {
        // A commit, with or without changes (an up-to-date with nothing new moved the offset):
        // the events and the status go out once it is durable. The shapes it committed count
        // as live for READY only then (Status: hold, durable, release).
        const held = new Set([name]);
        for (const ev of events) if (ev.shapeName) held.add(ev.shapeName);
        let live = [];
        try { live = this.replica.engine.status().filter((s) => s.phase === 'live' && held.has(s.shapeName)).map((s) => s.shapeName); } catch (e) { /* closed */ }
        this.status.hold(held);
        this.reads.committed();
        p.then((evs) => {
          this.status.release(held);
          this.timeline.mark(`durable (${this.replica.store.stats.lastFlushPages} pages)`);
          if (this.closed) return;
          for (const ev of evs) if (ev.type !== 'TXIDS') this.tabs.broadcast(ev);
          const wasLive = this.status.liveOnce.has(name);
          this.status.durable(live);
          this.status.fromEngine(this.replica.engine, err);
          // (a commit may be one checkpoint of many: this mark is the initial sync's end)
          if (!wasLive && this.status.liveOnce.has(name)) this.timeline.mark(`initial sync durable: ${name}`);
          this.txids.durable(evs);
          this.reads.afterCommit(evs);
        });
      } else {
        this.status.progress(this.replica.engine, err);
      }
      this.wakeIdle();
    }
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  ns.Sync = Sync;
})(typeof self !== 'undefined' ? self : globalThis);
