/*
 * electric-sync.store.js — IndexedDB persistence of the replica's SQLite image (a classic script,
 * loaded by the worker with importScripts and by the node tests with vm; defines
 * self.ElectricSyncStore).
 *
 * One IndexedDB database per replica (named by the tab's `dbName`), IndexedDB version 3, format 4,
 * with these object stores (docs/storage.md §2):
 *   extents key: extent index x, value: a Blob of the bytes of chunks x*E..x*E+E-1 (a Uint8Array
 *           in format 3, read as it is; E = meta.groupPages: 256 chunks, 1 MiB, for a new
 *           replica; 1024 in replicas created before; the last extent ends with the file),
 *           written whole
 *   pages   key: chunk index, value: one memvfs chunk (MemVfs.CHUNK bytes) newer than its
 *           extent's record (a delta): small commits write these, so a 1-row commit stays 1-2 puts
 *   meta    key 'meta': {formatVersion, pageSize, groupPages, pageCount, size, commitSeq,
 *                        schemaVersion, writerId, flushedAt}
 *   groups  format 2's records (key g: chunks g*64..g*64+63, 256 KiB): read, never written; an
 *           extent written deletes the groups in its range
 * The image is the groups and extents (which never overlap), then the deltas over them. Older
 * formats open as they are and are converted by the flushes after the open (compaction, a few
 * extents per flush), so no replica is reset: format 2 (IndexedDB version 2) has groups and
 * deltas, format 1 (IndexedDB version 1: pages and meta only) deltas only.
 *
 * Lazy open: read() takes the meta record, the deltas, the format 2 groups and extent 0 (the
 * header, the schema, the engine's own tables; of a format 4 Blob only its first FIRST_CHUNKS
 * chunks, the rest of it read like extents 1..); the chunks of extents 1.. are marked absent
 * (Module.MemVfs.absent) before any of that goes into the heap (load()), and load() starts
 * reading those extents in the background, LOAD_AHEAD reads at a time (LOAD_CHUNKS' worth of
 * extents each), each filling only the chunks still absent (a delta, or a page written since,
 * is newer).
 * A statement that meets an absent chunk fails and changes nothing; fetchChunk() loads that
 * chunk's extent first, and the caller runs the statement again (Replica.withPages). `loaded`
 * resolves once no chunk is absent.
 *
 * Invariants
 *  - Nothing is taken from the heap until the whole image is in it (`loaded`): a take copies
 *    whole extents, and an absent chunk must never be read as zeros and stored. Writers wait
 *    for `loaded` (the engine's statements that write would fail on an absent page anyway).
 *  - IndexedDB only ever holds whole commits: dirty chunks are taken from the in-memory VFS only
 *    while no SQLite write transaction holds uncommitted bytes in the file (Module.MemVfs), extent
 *    records are assembled from the heap in that same synchronous step (so they hold exactly the
 *    commits taken), and every flush writes all it took plus the meta record in ONE readwrite
 *    transaction, which IndexedDB applies atomically. A crash anywhere leaves the previous flush.
 *  - An extent record written deletes the deltas and format 2 groups in its range in the same
 *    transaction: a delta is always newer than its extent's record, and no two records of
 *    extents or groups overlap.
 *  - Group commit: at most one IndexedDB transaction in flight; commits that happen meanwhile
 *    merge into the next one (a newer copy of a chunk replaces an older one).
 *  - Nothing but IndexedDB requests is awaited while a transaction is open (a transaction with no
 *    pending request auto-commits at the next macrotask).
 *  - A flush that fails keeps what it took (merged under anything newer) and is retried with
 *    backoff; the events waiting for it are delivered only once a flush holding them completes.
 */
(function (g) {
  'use strict';
  const FORMAT_VERSION = 4;
  // 1: deltas only, 2: groups + deltas; read as format 4. 3: format 4's records with its extents
  // as byte arrays (format 4 writes them as Blobs: docs/storage.md §2), read as they are.
  const READABLE_FORMATS = [1, 2, 3, 4];
  const IDB_VERSION = 3;
  const STORES = ['extents', 'groups', 'pages', 'meta'];
  // Chunks per extent record of a new replica: 256 (1 MiB of 4 KiB chunks). A replica keeps the
  // extent size it was created with (meta.groupPages: 1024, 4 MiB, in replicas created before
  // 2026-12-01). Smaller records make a lazy open's first read (extent 0) and each page a
  // statement misses cheaper, and a checkpoint rewrite less; more records make a flush and the
  // whole image's read dearer (docs/storage.md §2, "Why 1 MiB").
  const EXTENT = 256;
  const LEGACY_EXTENT = 1024;  // the extent size of format 3 replicas written before
  const LEGACY_GROUP = 64;     // chunks per format 2 group record (extent sizes are multiples)
  const COMPACT_AT = 1024;     // more deltas than this: their extents are rewritten
  const COMPACT_CHUNKS = 4096; // chunks compacted per flush (16 MiB), so memory stays bounded
  // Extent reads in flight while a lazy open loads the rest of the image in the background: two,
  // so one is read while the other is copied, and a statement's missing page waits behind at
  // most one (its extent's read goes out at once, ahead of the queue). Each reads LOAD_CHUNKS
  // chunks' worth of extents (4 MiB) in one getAll; the first reads are smaller (LOAD_FIRST_CHUNKS,
  // 1 MiB, doubling every two reads): the app's first statements come right after the open, and
  // a page one of them misses is read behind the reads in flight (a 1M-row replica's first query
  // waited ~230 ms behind two 4 MiB reads here, ~110 ms behind two 1 MiB ones; all 1 MiB reads
  // made the whole image's load ~12% longer).
  const LOAD_AHEAD = 2;
  const LOAD_CHUNKS = 1024;
  const LOAD_FIRST_CHUNKS = 256;
  // Of extent 0 (a Blob), a lazy open reads only its first FIRST_CHUNKS chunks before the engine
  // opens (Blob.slice: the browser reads only those bytes): the header, the schema, the engine's
  // own tables. The rest of it is read like the other extents (first in the background's queue,
  // or at once when a statement misses a page of it).
  const FIRST_CHUNKS = 64;
  // An extent with this many chunks taken (a quarter, at most 64) is written whole; fewer go as
  // deltas (a commit's scattered pages stay small puts).
  const minDirty = (extent) => Math.min(64, extent / 4);
  const groupChunk = (g) => g * LEGACY_GROUP; // first chunk of format 2 group g

  const done = (req) => new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });

  function openDatabase(idb, name) {
    return new Promise((resolve, reject) => {
      const req = idb.open(name, IDB_VERSION);
      req.onupgradeneeded = () => {
        // From nothing, version 1 (pages + meta) or 2 (+ groups): the stores that are missing.
        // What older versions stored keeps its meaning, so the image stays readable as it is.
        const db = req.result;
        for (const s of STORES) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s);
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
      req.onblocked = () => {}; // an older connection closes itself in onversionchange
    });
  }

  // An open of replica `name` begun before its store exists: a SharedWorker's first request
  // (electric-sync.worker.js, bootstrap), so that the browser's handshake for it (a storage check
  // and the bucket, each a reply the worker's thread must take) is done before the .wasm's bytes
  // arrive and their streaming compile takes that thread for ~10 ms in one task. The next read()
  // of that name, in the same task, takes it (once).
  // An early open that is not taken (replaced by another, or asked for on another factory) is
  // closed once it opens, so that no connection is left to hold up a delete or an upgrade.
  const early = new Map();
  const drop = (e) => { if (e) e.p.then((db) => db.close(), () => {}); };
  function openEarly(idb, name) {
    const p = openDatabase(idb, name);
    p.catch(() => {});
    drop(early.get(name));
    early.set(name, { idb, p });
  }
  function takeEarly(idb, name) {
    const e = early.get(name);
    early.delete(name);
    if (e && e.idb === idb) return e.p;
    drop(e);
    return null;
  }

  function deleteDatabase(idb, name) {
    return new Promise((resolve, reject) => {
      const req = idb.deleteDatabase(name);
      req.onsuccess = () => resolve();
      req.onerror = () => reject(req.error);
    });
  }

  // Page 1 equal to `stored` except for the change counter and version-valid-for.
  function sameButCounter(page, stored) {
    if (page.length !== stored.length) return false;
    for (let i = 0; i < page.length; i++) {
      if ((i >= 24 && i < 28) || (i >= 92 && i < 96)) continue;
      if (page[i] !== stored[i]) return false;
    }
    return true;
  }

  // The extent size of a format 3 meta record (groupPages; 1024 before it could differ).
  function storedExtent(meta) {
    const n = meta.groupPages;
    return Number.isInteger(n) && n > 0 && n % LEGACY_GROUP === 0 ? n : LEGACY_EXTENT;
  }

  const bytesOf = (v) => (v instanceof Uint8Array ? v : new Uint8Array(v));
  // An extent record's bytes (undefined: no record): a Blob (format 4) is read (off the thread,
  // no structured clone of the bytes); a byte array (format 3) is as it is.
  const isBlob = (v) => v !== null && typeof v === 'object' && typeof v.arrayBuffer === 'function' && typeof v.size === 'number';
  const bytesAsync = async (v) => (v === undefined ? v : isBlob(v) ? new Uint8Array(await v.arrayBuffer()) : bytesOf(v));

  class ReplicaStore {
    // opts: {indexedDB, IDBKeyRange, dbName, file (memvfs file name), Module, writerId,
    //        schemaVersion: () => string|null, onError(err), setTimeout,
    //        compactPerFlush (extents per compaction flush; tests), extentChunks (the extent
    //        size of a new replica; tests),
    //        loadAhead (extent reads in flight in the background after a lazy open; 0: none until
    //        loadAll(), the pages statements miss only; tests),
    //        Blob (the constructor extent records are written with; default the global's; null:
    //        byte arrays, as format 3 wrote them; tests)}
    constructor(opts) {
      this.idb = opts.indexedDB;
      this.Blob = opts.Blob === undefined ? g.Blob : opts.Blob; // null: extents as byte arrays (format 3's)
      this.KeyRange = opts.IDBKeyRange || g.IDBKeyRange;
      this.dbName = opts.dbName;
      this.file = opts.file;
      this.M = opts.Module;
      this.writerId = opts.writerId || '';
      this.schemaVersion = opts.schemaVersion || (() => null);
      this.onError = opts.onError || (() => {});
      this.setTimeout = opts.setTimeout || g.setTimeout.bind(g);
      this.extent = opts.extentChunks || EXTENT; // chunks per extent record (read() takes the stored one's)
      this.compactPerFlush = opts.compactPerFlush || 0; // 0: COMPACT_CHUNKS' worth
      this.loadAhead = opts.loadAhead ?? LOAD_AHEAD;
      this.loading = null;         // the background read of the extents left, once started
      this.db = null;
      this.meta = null;
      this.pending = new Map();    // chunk index -> bytes, taken but not yet durable (deltas)
      this.pendingExtents = new Map(); // extent index -> its record (extentRecord), taken, not durable
      this.pendingSize = -1;
      this.takenSize = 0;          // the file size at the last take
      this.deltas = new Set();     // chunk indexes stored as deltas (IndexedDB `pages`)
      this.legacy = new Set();     // format 2 group records still stored (IndexedDB `groups`)
      this.compact = new Set();    // extents to rewrite whole, a few per take
      this.waiters = [];           // [{events, resolve, covered}] in commit order; covered once
                                   // the pages of its commit were taken into `pending`
      this.inFlight = null;        // promise of the running flush
      this.failures = 0;
      this.closed = false;
      this.stats = { flushes: 0, pagesWritten: 0, lastFlushPages: 0, puts: 0, lastFlushPuts: 0, compacted: 0, streamedExtents: 0, lazyExtents: 0, fetchedFirst: 0 };
      this.unread = [];            // extents a lazy open reads after load()
      this.firstChunks = 0;        // chunks of extent 0 read before the open, when not all (firstPart)
      this.fetching = new Map();   // extent index -> promise of its read into the heap
      this.urgent = 0;             // statements' misses being read (fetchChunk)
      this.lanesWaiting = [];      // background reads held while urgent > 0
      this.isLoaded = false;       // no chunk of the image is absent
      this.loaded = new Promise((resolve, reject) => { this.markLoaded = resolve; this.failLoad = reject; });
      this.loaded.catch(() => {}); // awaited by the writers and drain(), which report it
    }

    extentOf(chunk) {
      return Math.floor(chunk / this.extent);
    }

    // Opens (creating) the IndexedDB database and loads the stored image into the VFS (the
    // rest of a lazy open in the background: `loaded`). Returns the meta record (null for a new
    // replica).
    async open() {
      await this.read();
      return this.load(this.M);
    }

    // The IndexedDB half of open(), which needs no module: it can run while the wasm compiles.
    // Reads the meta record, the deltas, the groups and extent 0; the other extents are read
    // after load(). getModule() -> the module once it is there, else null: extent 0, when it
    // arrives after it, goes into the heap at once; else it waits for load().
    async read(getModule = () => null) {
      this.db = await (takeEarly(this.idb, this.dbName) || openDatabase(this.idb, this.dbName));
      this.db.onversionchange = () => this.db && this.db.close(); // let a delete/upgrade proceed
      const tx = this.db.transaction(STORES, 'readonly');
      const all = (s) => Promise.all([done(tx.objectStore(s).getAllKeys()), done(tx.objectStore(s).getAll())]);
      // extent 0 asked for with the meta record, not after it: one round trip through the
      // worker's event loop less before the engine can open (unused for an older format)
      const first = done(tx.objectStore('extents').get(0));
      first.catch(() => {});
      const extents = done(tx.objectStore('meta').get('meta')).then((meta) => {
        if (!meta || !(meta.size > 0) || !READABLE_FORMATS.includes(meta.formatVersion)) return { meta, rest: [] };
        // a format 3 or 4 image keeps the extent size it was written with; older ones have no
        // extents and take the size of a new replica (their conversion writes them)
        if (meta.formatVersion >= 3) this.extent = storedExtent(meta);
        if (!(meta.pageSize > 0)) { // not one this store wrote: every record, in one request
          return all('extents').then(async ([k, v]) => {
            const bytes = await Promise.all(v.map(bytesAsync));
            return { meta, rest: k.map((x, i) => [x * this.extent, bytes[i]]) };
          });
        }
        // the extents the image spans (records past its end are left over from a shrink)
        const n = Math.ceil(meta.size / (this.extent * meta.pageSize));
        for (let x = 1; x < n; x++) this.unread.push(x);
        return first.then(async (v) => {
          const part = this.firstPart(meta, v);
          if (part !== v) this.unread.unshift(0); // its other chunks: absent, read later
          const e = this.arrived(meta, 0, await bytesAsync(part), getModule());
          return { meta, rest: e ? [e] : [] };
        });
      });
      const [{ meta, rest }, [gkeys, gvalues], [keys, values]] = await Promise.all([extents, all('groups'), all('pages')]);
      this.meta = meta || null;
      if (meta && !READABLE_FORMATS.includes(meta.formatVersion)) throw new Error(`replica format ${meta.formatVersion} is not supported`);
      const live = meta && meta.size > 0;
      // what is not in the heap yet: groups and extents first (they never overlap), the deltas
      // over them (in chunks: [first chunk index, bytes])
      this.stored = live
        ? gkeys.map((k, i) => [groupChunk(k), bytesOf(gvalues[i])])
          .concat(rest, keys.map((k, i) => [k, bytesOf(values[i])]))
        : [];
      this.deltas = new Set(live ? keys : []);
      this.legacy = new Set(gkeys);
      this.flushedSize = meta ? meta.size : 0;
      this.takenSize = this.flushedSize;
      this.commitSeq = meta ? meta.commitSeq : 0;
      // Too many deltas, an older format's records (format 1: all deltas; format 2: groups): their
      // extents are rewritten whole by the flushes after the open (started by load), so the next
      // open reads large records.
      if (this.deltas.size > COMPACT_AT || (meta && meta.formatVersion < 3 && this.deltas.size)) {
        for (const k of this.deltas) this.compact.add(this.extentOf(k));
      }
      for (const k of this.legacy) this.compact.add(this.extentOf(groupChunk(k)));
    }

    // The part of extent 0's record `v` a lazy open reads first: its first FIRST_CHUNKS chunks
    // when it is a larger Blob (format 4), else the whole record. this.firstChunks: the chunks of
    // extent 0 read now (markAbsent marks the others).
    firstPart(meta, v) {
      const n = Math.min(FIRST_CHUNKS, this.extent);
      if (!isBlob(v) || !(meta.pageSize > 0) || v.size <= n * meta.pageSize) return v;
      this.firstChunks = n;
      return v.slice(0, n * meta.pageSize);
    }

    // Extent x read (bytes: its record's, or undefined): into the heap when the module is there
    // (returns null), else returned as [first chunk, bytes] for load().
    arrived(meta, x, bytes, M) {
      if (bytes === undefined) return null;
      if (!M) return [x * this.extent, bytes];
      this.markAbsent(M, meta);
      M.MemVfs.load(this.file, meta.size, [[x * this.extent, bytes]]);
      if (x === 0) this.page0 = bytes.slice(0, meta.pageSize); // a delta of chunk 0 replaces it in load()
      this.stats.streamedExtents++;
      return null;
    }

    // The module half: writes the image read from IndexedDB into the VFS, marks the chunks of
    // the extents not read yet absent and starts reading them (`loaded` resolves after).
    load(M) {
      this.M = M;
      if (this.meta && this.meta.size > 0) {
        this.markAbsent(M, this.meta);
        this.M.MemVfs.load(this.file, this.meta.size, this.stored);
      }
      const CH = this.M.MemVfs.CHUNK;
      let first = null;
      for (const e of this.stored) if (e[0] === 0) first = e[1].subarray(0, CH); // the last wins
      if (first) this.page0 = first.slice(); // else read() kept extent 0's, or there is none
      this.stored = null;
      if (this.unread.length) {
        if (this.loadAhead > 0) this.loadAll();
      } else {
        this.finishLoad();
      }
      return this.meta;
    }

    // A lazy open: the chunks of the extents not read yet are marked absent before anything goes
    // into the heap (so the deltas over them fill them, and sizing the file writes none).
    markAbsent(M, meta) {
      if (this.marked || !this.unread.length) return;
      this.marked = true;
      const from = this.firstChunks || this.extent; // extent 0 read in part (firstPart): its rest too
      M.MemVfs.absent(this.file, from, Math.ceil(meta.size / M.MemVfs.CHUNK) - from, true);
    }

    // Starts (once) reading the extents left, loadAhead at a time, in order; returns `loaded`.
    loadAll() {
      if (this.loading || this.isLoaded || !this.M) return this.loaded; // (load() starts it)
      // runs of consecutive extents, LOAD_FIRST_CHUNKS' worth each at first, doubling every two
      // runs up to LOAD_CHUNKS' worth
      const xs = this.unread, runs = [];
      const most = Math.max(1, Math.floor(LOAD_CHUNKS / this.extent));
      let K = Math.min(most, Math.max(1, Math.floor(LOAD_FIRST_CHUNKS / this.extent)));
      for (let j = 0; j < xs.length;) {
        const run = [xs[j++]];
        while (j < xs.length && run.length < K && xs[j] === run[run.length - 1] + 1) run.push(xs[j++]);
        runs.push(run);
        if (runs.length % 2 === 0) K = Math.min(most, K * 2);
      }
      let i = 0;
      const next = async () => {
        while (i < runs.length && !this.closed) {
          // a statement's miss goes first: no background read starts while one is read
          while (this.urgent > 0 && !this.closed) await new Promise((r) => this.lanesWaiting.push(r));
          if (i < runs.length && !this.closed) await this.fetchRun(runs[i++]);
        }
      };
      const lanes = [];
      for (let k = 0; k < Math.max(1, this.loadAhead); k++) lanes.push(next());
      this.loading = Promise.all(lanes).then(() => {
        if (this.closed) throw new Error('the replica was closed while it loaded');
        this.finishLoad();
      }).catch((err) => this.failLoad(err));
      return this.loaded;
    }

    finishLoad() {
      if (this.isLoaded) return;
      const left = this.M.MemVfs.absent(this.file, 0, 0, false);
      if (left > 0) { this.failLoad(new Error(`${left} pages of the replica were not loaded`)); return; }
      this.unread = [];
      this.isLoaded = true;
      this.markLoaded();
      this.kick(); // commits made meanwhile, compaction due: the first flush starts
    }

    // Extent x into the heap (its chunks still absent); one read per extent, shared.
    fetchExtent(x) {
      return this.fetchRun([x]);
    }

    // Extents `run` (consecutive indexes) into the heap with one read (a get for one, a getAll
    // over the range for more), those no other read has started; resolves once all of them
    // are there.
    fetchRun(run) {
      const todo = run.filter((x) => !this.fetching.has(x));
      if (todo.length) {
        const a = todo[0], b = todo[todo.length - 1];
        const p = (async () => {
          if (this.closed) throw new Error('the replica is closed');
          const st = this.db.transaction('extents', 'readonly').objectStore('extents');
          const range = this.KeyRange.bound(a, b);
          const [keys, values] = a === b
            ? [[a], [await done(st.get(a))]]
            : await Promise.all([done(st.getAllKeys(range)), done(st.getAll(range))]);
          const E = this.extent;
          // [first chunk, part] of each record still to read: of extent 0 read in part before
          // the open (firstPart), only the rest (Blob.slice: those bytes are not read again)
          const parts = keys.map((x, k) => (x === 0 && this.firstChunks && isBlob(values[k])
            ? [this.firstChunks, values[k].slice(this.firstChunks * this.meta.pageSize)] : [x * E, values[k]]));
          const bytes = await Promise.all(parts.map(([, v]) => bytesAsync(v)));
          if (this.closed) throw new Error('the replica is closed');
          // fill() writes only chunks still absent: an extent of the range another read (a
          // statement's miss) filled, a delta or a page written since, stays as it is
          const MV = this.M.MemVfs;
          parts.forEach(([c], k) => { if (bytes[k] !== undefined) MV.fill(this.file, this.meta.size, c, bytes[k]); });
          // what the records did not hold is empty; the last read completes the image
          if (MV.absent(this.file, a * E, (b - a + 1) * E, false) === 0 && !this.isLoaded) this.finishLoad();
          this.stats.lazyExtents += todo.length;
        })();
        for (const x of todo) this.fetching.set(x, p);
      }
      return Promise.all(run.map((x) => this.fetching.get(x)));
    }

    // A statement met absent chunk `chunk`: resolves once it is in the heap (its extent read
    // ahead of the background's queue).
    // While it is read, the background starts no read of its own (it resumes a task after the
    // last such read, so the statement, run again at once, can miss its next page first): a
    // statement that walks a b-tree down misses page after page (a 1M-row table's first page of
    // rows: 2-3 misses, its interior pages being spread over the file), and each waited behind
    // the background reads started meanwhile.
    fetchChunk(chunk) {
      const x = this.extentOf(chunk);
      if (!this.fetching.has(x)) this.stats.fetchedFirst++;
      this.urgent++;
      const p = this.fetchExtent(x);
      const release = () => {
        if (--this.urgent > 0) return;
        this.setTimeout(() => {
          if (this.urgent > 0) return;
          const w = this.lanesWaiting;
          this.lanesWaiting = [];
          for (const r of w) r();
        }, 0);
      };
      p.then(release, release);
      return p;
    }

    // Takes what the last commits dirtied (when no write transaction is open) and flushes it.
    // Resolves once a flush holding those commits has completed, with `events` (the change
    // events those commits produced, to broadcast only then).
    commit(events = []) {
      const p = new Promise((resolve) => this.waiters.push({ events, resolve }));
      this.take();
      this.kick();
      return p;
    }

    take() {
      if (this.closed || !this.isLoaded) return;
      const MV = this.M.MemVfs;
      const got = MV.takeDirtyIndexes(this.file);
      if (!got) return; // a write transaction holds uncommitted pages: later
      for (const w of this.waiters) w.covered = true;
      const CH = MV.CHUNK;
      const size = got.size >= 0 ? got.size : this.takenSize;
      // Until the flush, the heap holds exactly the commits taken: everything is copied now, an
      // extent whole (one copy of its chunks, not page by page first) or a page as a delta.
      // Compaction: a few extents per take (rewritten to fold their deltas or groups in).
      const whole = new Set();
      for (const x of this.compact) {
        if (whole.size >= (this.compactPerFlush || Math.max(1, COMPACT_CHUNKS / this.extent))) break;
        whole.add(x);
      }
      for (const x of whole) this.compact.delete(x);
      this.stats.compacted += whole.size;
      const fresh = new Map(); // extent -> chunk indexes taken now
      for (const i of got.indexes) {
        if (i * CH >= size) continue; // past the end after a truncation
        const x = this.extentOf(i);
        if (!fresh.has(x)) fresh.set(x, []);
        fresh.get(x).push(i);
      }
      for (const [x, idx] of fresh) {
        // an extent taken earlier and not flushed yet is assembled again (it may have grown)
        if (this.pendingExtents.has(x)) { whole.add(x); continue; }
        let n = idx.length; // pending chunks of the extent, those taken now included
        if (this.pending.size) {
          for (const i of idx) if (this.pending.has(i)) n--;
          for (let i = x * this.extent; i < (x + 1) * this.extent; i++) if (this.pending.has(i)) n++;
        }
        if (n >= minDirty(this.extent)) whole.add(x);
      }
      // A shrink: the extent the file now ends in is rewritten (no stale bytes past the end).
      if (size < this.takenSize && size > 0) whole.add(this.extentOf(Math.ceil(size / CH) - 1));
      for (const x of whole) {
        for (let i = x * this.extent; i < (x + 1) * this.extent; i++) this.pending.delete(i);
        if (x * this.extent * CH >= size) { this.pendingExtents.delete(x); continue; } // past the end
        this.pendingExtents.set(x, this.extentRecord(x, size));
      }
      for (const [x, idx] of fresh) {
        if (whole.has(x)) continue;
        for (const i of idx) this.pending.set(i, MV.readChunk(this.file, i) || new Uint8Array(CH));
      }
      this.takenSize = size;
      if (got.size >= 0) this.pendingSize = got.size;
    }

    // Extent x of the file (of `size` bytes) as it is in the heap now, to write: {data, length,
    // head}. data: a Blob made straight from the heap's views of its chunks (one copy, at once:
    // put() then stores a reference, where a byte array is serialized, compressed and wrapped
    // into a blob on this thread; docs/storage.md §2), or without Blob its bytes (readRange);
    // head: extent 0's first page (the page 1 that flush() compares), else null.
    extentRecord(x, size) {
      const MV = this.M.MemVfs;
      const offset = x * this.extent * MV.CHUNK;
      const length = Math.min(this.extent * MV.CHUNK, size - offset);
      const data = this.Blob ? new this.Blob(MV.views(this.file, offset, length)) : MV.readRange(this.file, offset, length);
      return { data, length, head: x === 0 ? MV.readChunk(this.file, 0) : null };
    }

    // Resolves when everything committed so far is durable (and the compaction due is done).
    async drain() {
      // Before the image is whole nothing can be taken: the commits made meanwhile (a shape new
      // to the replica, defined at the open) wait for it.
      if (!this.isLoaded) {
        if (!this.waiters.length) return;
        await this.loadAll();
      }
      if (this.waiters.length || this.pending.size || this.pendingExtents.size) await this.commit([]);
      while (this.inFlight) await this.inFlight;
    }

    kick() {
      if (this.inFlight || this.closed || !this.db || !this.M || !this.isLoaded) return;
      // Compaction due and nothing else to write: its next extents are taken (with whatever
      // commits are dirty, as any take).
      if (this.compact.size && !this.pending.size && !this.pendingExtents.size) this.take();
      // Waiters whose pages are not taken yet wait for the writer to finish its transaction.
      if (!this.pending.size && !this.pendingExtents.size && !(this.waiters.length && this.waiters[0].covered)) return;
      this.inFlight = this.flush().finally(() => {
        this.inFlight = null;
        this.kick();
      });
    }

    async flush() {
      const pages = this.pending;
      const extents = this.pendingExtents;
      const size = this.pendingSize >= 0 ? this.pendingSize : this.flushedSize;
      const page = this.M.MemVfs.CHUNK;
      // SQLite bumps the file change counter in page 1 (header bytes 24-27, mirrored at 92-95)
      // at every commit. Only this worker reads the file, and a page 1 stored from an earlier
      // flush is consistent in itself (counter == version-valid-for), so a page 1 that differs
      // from the stored one in nothing else is not rewritten: one page less per small commit.
      const p0 = pages.get(0);
      if (p0 && this.page0 && sameButCounter(p0, this.page0)) pages.delete(0);
      const n = this.waiters.findIndex((w) => !w.covered);
      const waiters = n < 0 ? this.waiters : this.waiters.slice(0, n);
      this.pending = new Map();
      this.pendingExtents = new Map();
      this.waiters = n < 0 ? [] : this.waiters.slice(n);
      const seq = this.commitSeq + 1;
      const meta = {
        formatVersion: FORMAT_VERSION, pageSize: page, groupPages: this.extent, pageCount: Math.ceil(size / page), size,
        commitSeq: seq, schemaVersion: this.schemaVersion(), writerId: this.writerId, flushedAt: Date.now(),
      };
      try {
        await this.write(pages, extents, size, meta);
      } catch (err) {
        // Keep what was taken (a newer copy taken meanwhile wins) and the waiters; retry.
        for (const [x, b] of extents) if (!this.pendingExtents.has(x)) this.pendingExtents.set(x, b);
        for (const [i, b] of pages) {
          if (!this.pending.has(i) && !this.pendingExtents.has(this.extentOf(i))) this.pending.set(i, b);
        }
        if (this.pendingSize < 0) this.pendingSize = size;
        this.waiters = waiters.concat(this.waiters);
        this.failures++;
        this.onError(err);
        if (this.closed) return;
        const delay = Math.min(10000, 50 * 2 ** Math.min(this.failures, 8));
        await new Promise((r) => this.setTimeout(r, delay));
        return;
      }
      this.failures = 0;
      if (pages.has(0)) this.page0 = pages.get(0);
      else if (extents.has(0)) this.page0 = extents.get(0).head;
      this.commitSeq = seq;
      this.flushedSize = size;
      this.meta = meta;
      let covered = pages.size;
      for (const [, r] of extents) covered += Math.ceil(r.length / page);
      this.stats.flushes++;
      this.stats.pagesWritten += covered;
      this.stats.lastFlushPages = covered;
      this.stats.puts += pages.size + extents.size + 1;
      this.stats.lastFlushPuts = pages.size + extents.size + 1;
      for (const w of waiters) w.resolve(w.events);
    }

    // One readwrite transaction: the extent records (the deltas and format 2 groups in their
    // ranges deleted), the deltas, the truncation, the meta record.
    write(pages, extents, size, meta) {
      return new Promise((resolve, reject) => {
        let tx;
        try {
          tx = this.db.transaction(STORES, 'readwrite', { durability: 'relaxed' });
        } catch (err) {
          reject(err);
          return;
        }
        const count = Math.ceil(size / this.M.MemVfs.CHUNK);
        const shrank = size < this.flushedSize;
        const G = this.extent / LEGACY_GROUP; // format 2 groups per extent (extent x holds groups x*G..)
        tx.oncomplete = () => {
          // what IndexedDB holds now: the deltas and groups of the written extents and past the
          // end are gone
          for (const [x] of extents) {
            for (let i = x * this.extent; i < (x + 1) * this.extent; i++) this.deltas.delete(i);
            for (let k = x * G; k < (x + 1) * G; k++) this.legacy.delete(k);
          }
          for (const [i] of pages) this.deltas.add(i);
          if (shrank) {
            for (const i of this.deltas) if (i >= count) this.deltas.delete(i);
            for (const k of this.legacy) if (groupChunk(k) >= count) this.legacy.delete(k);
          }
          if (this.deltas.size > COMPACT_AT) for (const i of this.deltas) this.compact.add(this.extentOf(i));
          resolve();
        };
        tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
        tx.onerror = (ev) => ev.preventDefault(); // reported through onabort
        try {
          const xs = tx.objectStore('extents');
          const gs = tx.objectStore('groups');
          const ps = tx.objectStore('pages');
          // the extents that hold deltas, and format 2 groups, to delete with a written extent
          const withDeltas = new Set(), withGroups = new Set();
          if (extents.size) {
            for (const i of this.deltas) withDeltas.add(this.extentOf(i));
            for (const k of this.legacy) withGroups.add(this.extentOf(groupChunk(k)));
          }
          for (const [x, r] of extents) {
            xs.put(r.data, x);
            if (withDeltas.has(x)) ps.delete(this.KeyRange.bound(x * this.extent, (x + 1) * this.extent - 1));
            if (withGroups.has(x)) gs.delete(this.KeyRange.bound(x * G, (x + 1) * G - 1));
          }
          for (const [i, bytes] of pages) ps.put(bytes, i);
          if (shrank) {
            ps.delete(this.KeyRange.lowerBound(count));
            xs.delete(this.KeyRange.lowerBound(Math.ceil(count / this.extent)));
            if (this.legacy.size) gs.delete(this.KeyRange.lowerBound(Math.ceil(count / LEGACY_GROUP)));
          }
          tx.objectStore('meta').put(meta, 'meta');
          if (typeof tx.commit === 'function') tx.commit();
        } catch (err) {
          try { tx.abort(); } catch (_) { /* already finished */ }
          reject(err);
        }
      });
    }

    close() {
      this.closed = true;
      if (this.db) this.db.close();
      this.db = null;
      const w = this.lanesWaiting; // held background reads end (loading fails: closed)
      this.lanesWaiting = [];
      for (const r of w) r();
    }
  }

  g.ElectricSyncStore = { ReplicaStore, openDatabase, openEarly, deleteDatabase, FORMAT_VERSION, EXTENT, LEGACY_EXTENT, LEGACY_GROUP };
})(typeof self !== 'undefined' ? self : globalThis);
