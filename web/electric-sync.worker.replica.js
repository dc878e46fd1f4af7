/*
 * electric-sync.worker.replica.js — the open replica (a classic script, one of the worker's
 * parts: see electric-sync.worker.js): the engine (Module.Engine) over the in-memory SQLite file
 * `/<dbName>.sqlite3` and the IndexedDB store of that file (electric-sync.store.js), which are
 * opened, flushed, wiped and closed together.
 *
 * Open in three steps so that the slow ones overlap: read() (IndexedDB, no module needed),
 * load(Module) (the image into the in-memory file: its first extent and deltas; the rest is read
 * in the background, see electric-sync.store.js), openEngine() (the shapes defined).
 *
 * Invariants
 *  - Only the owner of the replica (electric-sync.worker.owner.js) opens it.
 *  - persist() is called after every engine call that may commit; its promise resolves once a
 *    completed IndexedDB transaction holds those commits, with the events to broadcast then.
 *    During a long initial sync the engine commits at checkpoints (CHECKPOINT_BYTES): each one
 *    is persisted like any commit, and its DATA_CHANGE (the rows it inserted) goes out once
 *    durable; the shape is live (READY) only after its first up-to-date.
 *  - `opened` resolves once reads can be served (the engine open) or the replica is closed;
 *    `engine` is null while closed or while a version mismatch rebuilds it. whenOpen() resolves
 *    with the engine once it is open (also after a rebuild), or with null once closed for good.
 *  - Until the store has `loaded` the whole image, statements may meet pages not read yet: reads
 *    go through withPages() (or pageWait()), which runs them again once the page is there;
 *    the sync, a reset, a shape a later tab adds and the version check wait for loaded() (the
 *    engine's open defines the shapes of the first tab at once: a statement that misses a page
 *    writes nothing, and the open runs again).
 *  - config.shapes lists every shape defined in the engine, the ones later tabs added included,
 *    so a rebuilt engine defines them all again.
 */
(function (g) {
  'use strict';
  const DRAIN_MS = 2000; // close(): how long the last flush may take before it is given up
  // Checkpoints of a long initial sync (esync_set_checkpoint_bytes): a snapshot response commits
  // once the open batch holds this many body bytes, so IndexedDB is written progressively, the
  // commit and the flush at up-to-date stay small and a reload resumes from the last checkpoint.
  // Later checkpoints are spaced by the bytes committed before them (doubling), up to
  // CHECKPOINT_GROWTH (esync_set_checkpoint_growth): rows land all over the key space, so each
  // flush rewrites most of the image, and doubling keeps what a sync writes to IndexedDB near
  // twice its final size; the cap bounds a checkpoint's change set in memory and what is left
  // to flush after the last response. (Responses of our service and Electric's are cut at
  // ~10 MB: a 1M-row sync of ~360 MB commits after about 4, 8, 16 MB, then every 20 MB. A
  // checkpoint's change set (up to the cap's worth of rows, as JSON) is in the worker's heap
  // while it commits, so the cap also bounds the worker's memory over the replica's size.)
  const CHECKPOINT_BYTES = 4 * 1024 * 1024;
  const CHECKPOINT_GROWTH = 16 * 1024 * 1024;
  // A lazy open: a statement that missed pages this many times (each miss loads one extent and
  // runs it again) waits for the whole image. A lookup by key descends one path of the b-tree
  // (its depth is 3-4 at 1M rows); a scan would miss at every extent.
  const MISSES_PER_CALL = 4;
  // Sliced ingest (esync_set_ingest_slice): a response is applied in slices of about this many
  // body bytes, the worker's event loop running between them (Sync.slices), so that the next
  // response's body keeps arriving, a flush goes on and the tabs' reads are answered while a
  // 10 MB response is applied (~60-120 ms of engine time in one piece otherwise).
  const INGEST_SLICE_BYTES = 1024 * 1024;
  const BUSY_RETRY_MS = 1000; // a read refused by the writer's lock runs again after this at most

  class Replica {
    // opts: {indexedDB, IDBKeyRange, writerId, log, setTimeout, checkpointBytes (0: off),
    //        checkpointGrowth (0: fixed spacing), ingestSliceBytes (0: a response in one call);
    //        tests: compactPerFlush, loadAhead, extentChunks (the store's options)}
    constructor(opts) {
      this.opts = opts;
      this.M = null;
      this.engine = null;
      this.store = null;
      this.config = null;
      this.lastCommits = 0;
      this.closed = false;
      this.opened = new Promise((r) => { this.markOpened = r; });
      this.engineWaiters = [];
      // While a response is applied in slices (Sync.slices): resolves after its last slice.
      this.slicing = null;
      this.busyWaits = 0; // reads the writer's lock made wait (STATS live.busyWaits)
      this.ingestWaiters = [];
    }

    // The engine once it is open; null once the replica is closed for good.
    whenOpen() {
      if (this.engine || this.closed) return Promise.resolve(this.engine);
      return new Promise((r) => this.engineWaiters.push(r));
    }

    engineChanged() {
      const ws = this.engineWaiters;
      this.engineWaiters = [];
      for (const r of ws) r(this.engine);
    }

    get file() {
      return `/${this.config.dbName}.sqlite3`;
    }

    // config: {dbName, shapes}. Creates the store and reads the stored image; getModule() ->
    // the module once it is there (else null), so the image goes into the heap as it arrives.
    read(config, getModule) {
      this.config = config;
      this.store = this.newStore();
      return this.store.read(getModule);
    }

    load(M) {
      this.M = M;
      this.store.load(M);
    }

    // Opens the engine and defines the shapes. A statement that meets a page the lazy open has
    // not read yet fails and changes nothing (a shape new to the replica writes: only pages it
    // read, or whole ones): the page is loaded and the open runs again.
    async openEngine() {
      const cp = this.opts.checkpointBytes ?? CHECKPOINT_BYTES;
      const growth = this.opts.checkpointGrowth ?? CHECKPOINT_GROWTH;
      for (let misses = 0; ; misses++) {
        let engine = null;
        try {
          this.M.MemVfs.missing(); // forget an older miss
          engine = new this.M.Engine(this.file, { checkpointBytes: cp, checkpointGrowth: growth });
          engine.setIngestSlice(this.opts.ingestSliceBytes ?? INGEST_SLICE_BYTES);
          for (const s of this.config.shapes) {
            const { name, ...def } = s;
            engine.defineShape(name, def);
          }
          this.engine = engine;
          break;
        } catch (e) {
          if (engine) engine.close();
          const wait = this.closed ? null : this.pageWait(misses);
          if (!wait) {
            if (this.closed) return; // closed meanwhile (close() resolved `opened`)
            throw e;
          }
          try {
            await wait;
          } catch (err) {
            if (this.closed) return;
            throw err;
          }
          if (this.closed) return;
        }
      }
      this.markOpened();
      this.engineChanged();
    }

    // Resolves once the whole stored image is in the heap (what every writer waits for).
    loaded() {
      return this.store.loadAll();
    }

    // After an engine call threw: when the statement met a page the lazy open has not read yet,
    // the promise of that page in the heap (after MISSES_PER_CALL such misses of one call, of the
    // whole image: a scan would otherwise run again for every extent); else null.
    // Also, while the writer holds the file's exclusive lock (a batch that outgrew SQLite's page
    // cache spills pages to the file before its commit, and a read is then refused SQLITE_BUSY;
    // such a batch stays open between the slices of a response and, in an initial sync, across
    // the responses before a checkpoint): the promise of the response's last slice, else of the
    // next ingest (at most BUSY_RETRY_MS: a batch left open by a stopped loop commits later).
    pageWait(misses = 0) {
      const chunk = this.M ? this.M.MemVfs.missing() : -1;
      if (chunk < 0 || !this.store) {
        if (this.M && this.config && this.M.MemVfs.busy(this.file)) {
          this.busyWaits++;
          return this.slicing || new Promise((r) => {
            this.ingestWaiters.push(r);
            (this.opts.setTimeout || setTimeout)(r, BUSY_RETRY_MS);
          });
        }
        return null;
      }
      return misses < MISSES_PER_CALL ? this.store.fetchChunk(chunk) : this.store.loadAll();
    }

    // Sync: an ingest call returned (the reads the writer's lock refused run again).
    ingested() {
      const ws = this.ingestWaiters;
      this.ingestWaiters = [];
      for (const r of ws) r();
    }

    // fn(engine) once the engine is open, run again after a page it missed was loaded.
    async withPages(fn) {
      for (let misses = 0; ; misses++) {
        const engine = await this.whenOpen();
        if (!engine) throw new Error('the replica is closed');
        this.M.MemVfs.missing(); // forget an older miss
        try {
          return fn(engine);
        } catch (e) {
          const wait = this.pageWait(misses);
          if (!wait) throw e;
          await wait;
        }
      }
    }

    // The shapes a tab named: the ones not defined yet are defined (and listed in config.shapes).
    // Returns {added: [name], error: null} or {added: [], error: {code, message}} when a name is
    // defined with another definition (SHAPE_CONFLICT; nothing is added then) or the engine
    // refuses a definition (its code; the ones before it stay added).
    async addShapes(shapes) {
      const fresh = [];
      for (const s of shapes) {
        const { name, ...def } = s;
        let cmp;
        try {
          cmp = this.engine.compareShape(name, def);
        } catch (e) {
          return { added: [], error: { code: e.codeName || 'Error', message: `shape '${name}': ${e.message}` } };
        }
        if (cmp === 'different') {
          const mine = this.config.shapes.find((x) => x.name === name);
          return {
            added: [],
            error: { code: 'SHAPE_CONFLICT', message: `shape '${name}' is already synced with another definition${mine ? ` (${JSON.stringify(mine)})` : ''}; this tab asked for ${JSON.stringify(s)}` },
          };
        }
        if (cmp !== 'same') fresh.push(s);
      }
      if (fresh.length) await this.loaded(); // defining a shape writes
      if (!this.engine) return { added: [], error: { code: 'Error', message: 'the replica is closed' } };
      const added = [];
      for (const s of fresh) {
        const { name, ...def } = s;
        try {
          this.engine.defineShape(name, def);
        } catch (e) {
          return { added, error: { code: e.codeName || 'Error', message: `shape '${name}': ${e.message}` } };
        }
        this.config.shapes = this.config.shapes.filter((x) => x.name !== name).concat([{ ...s }]);
        added.push(name);
      }
      return { added, error: null };
    }

    newStore() {
      const o = this.opts;
      return new g.ElectricSyncStore.ReplicaStore({
        indexedDB: o.indexedDB, IDBKeyRange: o.IDBKeyRange, dbName: this.config.dbName, file: this.file,
        Module: this.M, writerId: o.writerId, schemaVersion: () => (this.engine ? this.engine.version() : null),
        setTimeout: o.setTimeout, onError: (e) => o.log('flush failed, retrying', e),
        compactPerFlush: o.compactPerFlush, loadAhead: o.loadAhead, extentChunks: o.extentChunks, Blob: o.Blob,
      });
    }

    // Flushes what the engine committed since the last call; null when it committed nothing.
    persist(events = []) {
      const c = this.M.MemVfs.commits();
      if (c === this.lastCommits && !events.length) return null;
      this.lastCommits = c;
      return this.store.commit(events);
    }

    // The engine decides about the server's schema version. On a mismatch the IndexedDB database
    // is deleted and the replica starts empty (the seed's flow). Resolves, once durable, with the
    // SCHEMA_RESET to broadcast, or null when the replica was kept. (A kept replica's first
    // install stores the version: that commit is flushed like any other, in order, and the
    // sync does not wait for it — a crash before it only means storing the version again.)
    async applyVersion(v) {
      const { wiped, event } = this.engine.versionCheck(v);
      if (!wiped) {
        this.persist();
        return null;
      }
      this.engine.close();
      this.engine = null; // reads wait (whenOpen) until openEngine below
      await this.store.drain();
      this.store.close();
      this.M.deleteDatabase(this.file);
      await g.ElectricSyncStore.deleteDatabase(this.opts.indexedDB, this.config.dbName);
      this.store = this.newStore();
      await this.store.open();
      await this.openEngine();
      this.engine.versionCheck(v);
      await this.persist();
      return event;
    }

    // Wipes the rows (manual reset); resolves, once durable, with the SCHEMA_RESET to broadcast.
    async reset() {
      const event = this.engine.reset();
      await this.persist();
      return event;
    }

    // The flusher's counters (STATS: flushes, pages and puts written, size, wasmHeap), null
    // before the store exists.
    stats() {
      const s = this.store;
      // wasmHeap: the module's memory (it never shrinks: the peak), which holds the image once
      return s ? { ...s.stats, commitSeq: s.commitSeq, size: s.flushedSize, wasmHeap: this.M ? this.M.HEAPU8.byteLength : 0 } : null;
    }

    // PRAGMA integrity_check of the replica file on a read-only connection of its own ('ok', the
    // problems found, or null while the engine is closed or the image could not be loaded), once
    // the whole image is loaded.
    async integrity() {
      if (!this.engine || !this.store) return null;
      try {
        await this.loaded();
      } catch (e) {
        return null;
      }
      return this.engine ? this.M.integrityCheck(this.file) : null;
    }

    // Waits (at most DRAIN_MS) for the last flush, then closes everything.
    async close() {
      if (this.store) {
        const timeout = new Promise((r) => this.opts.setTimeout(r, DRAIN_MS));
        try { await Promise.race([this.store.drain(), timeout]); } catch (e) { this.opts.log('drain', e); }
        this.store.close();
      }
      if (this.engine) this.engine.close();
      this.engine = null;
      this.closed = true;
      if (this.M) this.M.deleteDatabase(this.file);
      this.markOpened();
      this.engineChanged();
    }

    // Stops writing to IndexedDB at once, as a worker that dies (tests: a crash).
    drop() {
      if (this.store) this.store.close();
      this.closed = true;
      this.engineChanged();
    }
  }

  const ns = (g.ElectricSyncWorker = g.ElectricSyncWorker || {});
  ns.Replica = Replica;
})(typeof self !== 'undefined' ? self : globalThis);
