/*
 * electric-sync.store.js — IndexedDB persistence of the replica's SQLite image (a classic script,
 * loaded by the worker with importScripts and by the node tests with vm; defines
 * self.ElectricSyncStore).
 *
 * One IndexedDB database per replica (named by the tab's `dbName`) with two object stores:
 *   pages  key: chunk index (integer), value: one memvfs chunk (MemVfs.CHUNK bytes: ESYNC_MEMVFS_CHUNK
 *          of src/wasm/memvfs.h) copied out of the wasm heap
 *   meta   key 'meta': {formatVersion, pageSize, pageCount, size, commitSeq, schemaVersion,
 *                       writerId, flushedAt}
 *
 * Invariants
 *  - IndexedDB only ever holds whole commits: dirty chunks are taken from the in-memory VFS only
 *    while no SQLite write transaction holds uncommitted bytes in the file (Module.MemVfs), and
 *    every flush writes all the chunks it took plus the meta record in ONE readwrite transaction,
 *    which IndexedDB applies atomically. A crash anywhere leaves the previous flush.
 *  - Group commit: at most one IndexedDB transaction in flight; commits that happen meanwhile
 *    merge into the next one (a newer copy of a chunk replaces an older one).
 *  - Nothing but IndexedDB requests is awaited while a transaction is open (a transaction with no
 *    pending request auto-commits at the next macrotask).
 *  - A flush that fails keeps its chunks (merged under anything newer) and is retried with
 *    backoff; the events waiting for it are delivered only once a flush holding them completes.
 */
(function (g) {
  'use strict';
  const FORMAT_VERSION = 1;
  const IDB_VERSION = 1;

  const done = (req) => new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });

  function openDatabase(idb, name) {
    return new Promise((resolve, reject) => {
      const req = idb.open(name, IDB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains('pages')) db.createObjectStore('pages');
        if (!db.objectStoreNames.contains('meta')) db.createObjectStore('meta');
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
      this.pending = new Map();    // chunk index -> bytes, taken but not yet durable
      this.pendingSize = -1;
      this.waiters = [];           // [{events, resolve, covered}] in commit order; covered once
                                   // the pages of its commit were taken into `pending`
      this.inFlight = null;        // promise of the running flush
      this.failures = 0;
      this.closed = false;
      this.stats = { flushes: 0, pagesWritten: 0, lastFlushPages: 0 };
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
      const tx = this.db.transaction(['pages', 'meta'], 'readonly');
      const [meta, keys, values] = await Promise.all([
        done(tx.objectStore('meta').get('meta')),
        done(tx.objectStore('pages').getAllKeys()),
        done(tx.objectStore('pages').getAll()),
      ]);
      this.meta = meta || null;
      if (meta && meta.formatVersion !== FORMAT_VERSION) throw new Error(`replica format ${meta.formatVersion} is not supported`);
      this.stored = meta && meta.size > 0 ? keys.map((k, i) => [k, values[i] instanceof Uint8Array ? values[i] : new Uint8Array(values[i])]) : [];
      this.flushedSize = meta ? meta.size : 0;
      this.commitSeq = meta ? meta.commitSeq : 0;
    }

    // The module half: writes the image read from IndexedDB into the VFS.
    load(M) {
      this.M = M;
      if (this.meta && this.meta.size > 0) this.M.MemVfs.load(this.file, this.meta.size, this.stored);
      const first = this.stored.find((e) => e[0] === 0);
      this.page0 = first ? first[1] : null;
      this.stored = null;
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
      const got = this.M.MemVfs.takeDirty(this.file);
      if (!got) return; // a write transaction holds uncommitted pages: later
      for (const w of this.waiters) w.covered = true;
      for (const [i, bytes] of got.pages) this.pending.set(i, bytes);
      if (got.size >= 0) this.pendingSize = got.size;
    }

    // Resolves when everything committed so far is durable.
    async drain() {
      if (this.waiters.length || this.pending.size) await this.commit([]);
      while (this.inFlight) await this.inFlight;
    }

    kick() {
      if (this.inFlight || this.closed || !this.db) return;
      // Waiters whose pages are not taken yet wait for the writer to finish its transaction.
      if (!this.pending.size && !(this.waiters.length && this.waiters[0].covered)) return;
      this.inFlight = this.flush().finally(() => {
        this.inFlight = null;
        this.kick();
      });
    }

    async flush() {
      const pages = this.pending;
      const size = this.pendingSize >= 0 ? this.pendingSize : this.flushedSize;
      // SQLite bumps the file change counter in page 1 (header bytes 24-27, mirrored at 92-95)
      // at every commit. Only this worker reads the file, and a page 1 stored from an earlier
      // flush is consistent in itself (counter == version-valid-for), so a page 1 that differs
      // from the stored one in nothing else is not rewritten: one page less per small commit.
      const p0 = pages.get(0);
      if (p0 && this.page0 && sameButCounter(p0, this.page0)) pages.delete(0);
      const n = this.waiters.findIndex((w) => !w.covered);
      const waiters = n < 0 ? this.waiters : this.waiters.slice(0, n);
      this.pending = new Map();
      this.waiters = n < 0 ? [] : this.waiters.slice(n);
      const seq = this.commitSeq + 1;
      const page = this.M.MemVfs.CHUNK;
      const meta = {
        formatVersion: FORMAT_VERSION, pageSize: page, pageCount: Math.ceil(size / page), size,
        commitSeq: seq, schemaVersion: this.schemaVersion(), writerId: this.writerId, flushedAt: Date.now(),
      };
      try {
        await this.write(pages, size, meta);
      } catch (err) {
        // Keep the chunks (a newer copy taken meanwhile wins) and the waiters; retry.
        for (const [i, b] of pages) if (!this.pending.has(i)) this.pending.set(i, b);
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
      this.commitSeq = seq;
      this.flushedSize = size;
      this.meta = meta;
      this.stats.flushes++;
      this.stats.pagesWritten += pages.size;
      this.stats.lastFlushPages = pages.size;
      for (const w of waiters) w.resolve(w.events);
    }

    // One readwrite transaction: the pages, the truncation, the meta record.
    write(pages, size, meta) {
      return new Promise((resolve, reject) => {
        let tx;
        try {
          tx = this.db.transaction(['pages', 'meta'], 'readwrite', { durability: 'relaxed' });
        } catch (err) {
          reject(err);
          return;
        }
        tx.oncomplete = () => resolve();
        tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
        tx.onerror = (ev) => ev.preventDefault(); // reported through onabort
        try {
          const store = tx.objectStore('pages');
          for (const [i, bytes] of pages) store.put(bytes, i);
          const count = Math.ceil(size / this.M.MemVfs.CHUNK);
          if (size < this.flushedSize) store.delete(this.KeyRange.lowerBound(count));
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

  g.ElectricSyncStore = { ReplicaStore, openDatabase, deleteDatabase, FORMAT_VERSION };
})(typeof self !== 'undefined' ? self : globalThis);
