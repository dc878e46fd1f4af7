/*
 * electric-sync.store.js — IndexedDB persistence of the replica's SQLite image (a classic script,
 * loaded by the worker with importScripts and by the node tests with vm; defines
 * self.ElectricSyncStore).
 *
 * One IndexedDB database per replica (named by the tab's `dbName`), IndexedDB version 2, format 2,
 * with three object stores (docs/storage.md §2):
 *   groups key: group index g, value: the bytes of chunks g*GROUP..g*GROUP+GROUP-1 (GROUP = 64
 *          chunks, 256 KiB; the last group ends with the file), written whole
 *   pages  key: chunk index, value: one memvfs chunk (MemVfs.CHUNK bytes) newer than its group's
 *          record (a delta): small commits write these, so a 1-row commit stays 1-2 puts
 *   meta   key 'meta': {formatVersion, pageSize, groupPages, pageCount, size, commitSeq,
 *                       schemaVersion, writerId, flushedAt}
 * The image is the groups, then the deltas over them. Format 1 (IndexedDB version 1: pages and
 * meta only) is format 2 without groups: the upgrade adds the store, and the first flush after
 * opening rewrites the groups that have deltas (compaction), so no replica is reset.
 *
 * Invariants
 *  - IndexedDB only ever holds whole commits: dirty chunks are taken from the in-memory VFS only
 *    while no SQLite write transaction holds uncommitted bytes in the file (Module.MemVfs), group
 *    records are assembled from the heap in that same synchronous step (so they hold exactly the
 *    commits taken), and every flush writes all it took plus the meta record in ONE readwrite
 *    transaction, which IndexedDB applies atomically. A crash anywhere leaves the previous flush.
 *  - A group record written deletes its group's deltas in the same transaction: a delta is always
 *    newer than its group's record.
 *  - Group commit: at most one IndexedDB transaction in flight; commits that happen meanwhile
 *    merge into the next one (a newer copy of a chunk replaces an older one).
 *  - Nothing but IndexedDB requests is awaited while a transaction is open (a transaction with no
 *    pending request auto-commits at the next macrotask).
 *  - A flush that fails keeps what it took (merged under anything newer) and is retried with
 *    backoff; the events waiting for it are delivered only once a flush holding them completes.
 */
(function (g) {
  'use strict';
  const FORMAT_VERSION = 2;
  const READABLE_FORMATS = [1, 2]; // 1: deltas only (IndexedDB version 1), read as format 2
  const IDB_VERSION = 2;
  const GROUP = 64;           // chunks per group record (256 KiB of 4 KiB chunks)
  const GROUP_MIN_DIRTY = 16; // a group with this many chunks taken is written as a whole record
  const COMPACT_AT = 1024;    // more deltas than this: the next take rewrites their groups

  const done = (req) => new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });

  function openDatabase(idb, name) {
    return new Promise((resolve, reject) => {
      const req = idb.open(name, IDB_VERSION);
      req.onupgradeneeded = () => {
        // From nothing or from version 1 (pages + meta): the stores that are missing. Version 1's
        // pages are format 2's deltas, so the stored image stays readable as it is.
        const db = req.result;
        for (const s of ['pages', 'meta', 'groups']) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s);
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
      req.onblocked = () => {}; // an older connection closes itself in onversionchange
    });
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

  const bytesOf = (v) => (v instanceof Uint8Array ? v : new Uint8Array(v));

  class ReplicaStore {
    // opts: {indexedDB, IDBKeyRange, dbName, file (memvfs file name), Module, writerId,
    //        schemaVersion: () => string|null, onError(err), setTimeout}
    constructor(opts) {
      this.idb = opts.indexedDB;
      this.KeyRange = opts.IDBKeyRange || g.IDBKeyRange;
      this.dbName = opts.dbName;
      this.file = opts.file;
      this.M = opts.Module;
      this.writerId = opts.writerId || '';
      this.schemaVersion = opts.schemaVersion || (() => null);
      this.onError = opts.onError || (() => {});
      this.setTimeout = opts.setTimeout || g.setTimeout.bind(g);
      this.db = null;
      this.meta = null;
      this.pending = new Map();    // chunk index -> bytes, taken but not yet durable (deltas)
      this.pendingGroups = new Map(); // group index -> bytes of the whole group, taken, not durable
      this.pendingSize = -1;
      this.takenSize = 0;          // the file size at the last take
      this.deltas = new Set();     // chunk indexes stored as deltas (IndexedDB `pages`)
      this.compact = new Set();    // groups to rewrite whole at the next take
      this.waiters = [];           // [{events, resolve, covered}] in commit order; covered once
                                   // the pages of its commit were taken into `pending`
      this.inFlight = null;        // promise of the running flush
      this.failures = 0;
      this.closed = false;
      this.stats = { flushes: 0, pagesWritten: 0, lastFlushPages: 0, puts: 0, lastFlushPuts: 0, compacted: 0 };
    }

    // Opens (creating) the IndexedDB database and loads the stored image into the VFS.
    // Returns the meta record (null for a new replica).
    async open() {
      await this.read();
      return this.load(this.M);
    }

    // The IndexedDB half of open(), which needs no module: it can run while the wasm compiles.
    async read() {
      this.db = await openDatabase(this.idb, this.dbName);
      this.db.onversionchange = () => this.db && this.db.close(); // let a delete/upgrade proceed
      const tx = this.db.transaction(['groups', 'pages', 'meta'], 'readonly');
      const [meta, gkeys, gvalues, keys, values] = await Promise.all([
        done(tx.objectStore('meta').get('meta')),
        done(tx.objectStore('groups').getAllKeys()),
        done(tx.objectStore('groups').getAll()),
        done(tx.objectStore('pages').getAllKeys()),
        done(tx.objectStore('pages').getAll()),
      ]);
      this.meta = meta || null;
      if (meta && !READABLE_FORMATS.includes(meta.formatVersion)) throw new Error(`replica format ${meta.formatVersion} is not supported`);
      const live = meta && meta.size > 0;
      // groups first, the deltas over them (in chunks: [first chunk index, bytes])
      this.stored = live ? gkeys.map((k, i) => [k * GROUP, bytesOf(gvalues[i])]).concat(keys.map((k, i) => [k, bytesOf(values[i])])) : [];
      this.deltas = new Set(live ? keys : []);
      this.flushedSize = meta ? meta.size : 0;
      this.takenSize = this.flushedSize;
      this.commitSeq = meta ? meta.commitSeq : 0;
      // Too many deltas, or a format 1 image (all deltas): their groups are rewritten whole by
      // the first flush (started by load), so the next open reads large records.
      if (this.deltas.size > COMPACT_AT || (meta && meta.formatVersion === 1 && this.deltas.size)) {
        for (const k of this.deltas) this.compact.add(Math.floor(k / GROUP));
      }
    }

    // The module half: writes the image read from IndexedDB into the VFS.
    load(M) {
      this.M = M;
      if (this.meta && this.meta.size > 0) this.M.MemVfs.load(this.file, this.meta.size, this.stored);
      const CH = this.M.MemVfs.CHUNK;
      let first = null;
      for (const e of this.stored) if (e[0] === 0) first = e[1].subarray(0, CH); // the last wins
      this.page0 = first ? first.slice() : null;
      this.stored = null;
      if (this.compact.size) this.take(); // nothing dirty yet: writes the compacted groups
      this.kick();
      return this.meta;
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
      if (this.closed) return;
      const MV = this.M.MemVfs;
      const got = MV.takeDirtyIndexes(this.file);
      if (!got) return; // a write transaction holds uncommitted pages: later
      for (const w of this.waiters) w.covered = true;
      const CH = MV.CHUNK;
      const size = got.size >= 0 ? got.size : this.takenSize;
      // Until the flush, the heap holds exactly the commits taken: everything is copied now, a
      // group whole (one copy of its chunks, not page by page first) or a page as a delta.
      const whole = new Set(this.compact);
      this.stats.compacted += this.compact.size; // groups rewritten to fold their deltas in
      this.compact.clear();
      const fresh = new Map(); // group -> chunk indexes taken now
      for (const i of got.indexes) {
        if (i * CH >= size) continue; // past the end after a truncation
        const gi = Math.floor(i / GROUP);
        if (!fresh.has(gi)) fresh.set(gi, []);
        fresh.get(gi).push(i);
      }
      for (const [gi, idx] of fresh) {
        // a group taken earlier and not flushed yet is assembled again (it may have grown)
        if (this.pendingGroups.has(gi)) { whole.add(gi); continue; }
        let n = idx.length;
        for (let i = gi * GROUP; i < (gi + 1) * GROUP; i++) if (this.pending.has(i) && !idx.includes(i)) n++;
        if (n >= GROUP_MIN_DIRTY) whole.add(gi);
      }
      // A shrink: the group the file now ends in is rewritten (no stale bytes past the end).
      if (size < this.takenSize && size > 0) whole.add(Math.floor((Math.ceil(size / CH) - 1) / GROUP));
      for (const gi of whole) {
        for (let i = gi * GROUP; i < (gi + 1) * GROUP; i++) this.pending.delete(i);
        if (gi * GROUP * CH >= size) { this.pendingGroups.delete(gi); continue; } // past the end
        this.pendingGroups.set(gi, MV.readRange(this.file, gi * GROUP * CH, Math.min(GROUP * CH, size - gi * GROUP * CH)));
      }
      for (const [gi, idx] of fresh) {
        if (whole.has(gi)) continue;
        for (const i of idx) this.pending.set(i, MV.readChunk(this.file, i) || new Uint8Array(CH));
      }
      this.takenSize = size;
      if (got.size >= 0) this.pendingSize = got.size;
    }

    // Resolves when everything committed so far is durable.
    async drain() {
      if (this.waiters.length || this.pending.size || this.pendingGroups.size) await this.commit([]);
      while (this.inFlight) await this.inFlight;
    }

    kick() {
      if (this.inFlight || this.closed || !this.db) return;
      // Waiters whose pages are not taken yet wait for the writer to finish its transaction.
      if (!this.pending.size && !this.pendingGroups.size && !(this.waiters.length && this.waiters[0].covered)) return;
      this.inFlight = this.flush().finally(() => {
        this.inFlight = null;
        this.kick();
      });
    }

    async flush() {
      const pages = this.pending;
      const groups = this.pendingGroups;
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
      this.pendingGroups = new Map();
      this.waiters = n < 0 ? [] : this.waiters.slice(n);
      const seq = this.commitSeq + 1;
      const meta = {
        formatVersion: FORMAT_VERSION, pageSize: page, groupPages: GROUP, pageCount: Math.ceil(size / page), size,
        commitSeq: seq, schemaVersion: this.schemaVersion(), writerId: this.writerId, flushedAt: Date.now(),
      };
      try {
        await this.write(pages, groups, size, meta);
      } catch (err) {
        // Keep what was taken (a newer copy taken meanwhile wins) and the waiters; retry.
        for (const [gi, b] of groups) if (!this.pendingGroups.has(gi)) this.pendingGroups.set(gi, b);
        for (const [i, b] of pages) {
          if (!this.pending.has(i) && !this.pendingGroups.has(Math.floor(i / GROUP))) this.pending.set(i, b);
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
      else if (groups.has(0)) this.page0 = groups.get(0).slice(0, page);
      this.commitSeq = seq;
      this.flushedSize = size;
      this.meta = meta;
      let covered = pages.size;
      for (const [, b] of groups) covered += Math.ceil(b.length / page);
      this.stats.flushes++;
      this.stats.pagesWritten += covered;
      this.stats.lastFlushPages = covered;
      this.stats.puts += pages.size + groups.size + 1;
      this.stats.lastFlushPuts = pages.size + groups.size + 1;
      for (const w of waiters) w.resolve(w.events);
    }

    // One readwrite transaction: the group records (their deltas deleted), the deltas, the
    // truncation, the meta record.
    write(pages, groups, size, meta) {
      return new Promise((resolve, reject) => {
        let tx;
        try {
          tx = this.db.transaction(['groups', 'pages', 'meta'], 'readwrite', { durability: 'relaxed' });
        } catch (err) {
          reject(err);
          return;
        }
        const count = Math.ceil(size / this.M.MemVfs.CHUNK);
        const shrank = size < this.flushedSize;
        tx.oncomplete = () => {
          // what IndexedDB holds now: the deltas of the written groups and past the end are gone
          for (const [gi] of groups) for (let i = gi * GROUP; i < (gi + 1) * GROUP; i++) this.deltas.delete(i);
          for (const [i] of pages) this.deltas.add(i);
          if (shrank) for (const i of this.deltas) if (i >= count) this.deltas.delete(i);
          if (this.deltas.size > COMPACT_AT) for (const i of this.deltas) this.compact.add(Math.floor(i / GROUP));
          resolve();
        };
        tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
        tx.onerror = (ev) => ev.preventDefault(); // reported through onabort
        try {
          const gs = tx.objectStore('groups');
          const ps = tx.objectStore('pages');
          const withDeltas = new Set();
          if (groups.size) for (const i of this.deltas) withDeltas.add(Math.floor(i / GROUP));
          for (const [gi, bytes] of groups) {
            gs.put(bytes, gi);
            if (withDeltas.has(gi)) ps.delete(this.KeyRange.bound(gi * GROUP, (gi + 1) * GROUP - 1));
          }
          for (const [i, bytes] of pages) ps.put(bytes, i);
          if (shrank) {
            ps.delete(this.KeyRange.lowerBound(count));
            gs.delete(this.KeyRange.lowerBound(Math.ceil(count / GROUP)));
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
    }
  }

  g.ElectricSyncStore = { ReplicaStore, openDatabase, deleteDatabase, FORMAT_VERSION, GROUP };
})(typeof self !== 'undefined' ? self : globalThis);
