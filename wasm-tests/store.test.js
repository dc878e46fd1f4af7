// The IndexedDB store (web/electric-sync.store.js, format 3: extent records + deltas) and the
// engine's checkpoints, driven through the worker's Replica (web/electric-sync.worker.replica.js)
// with fake-indexeddb and the wasm module, against an in-process stand-in: snapshot chunks
// (offsets 0_k) and an up-to-date built here, as a shape service would send them.
//   - a reload in the middle of an initial sync resumes from the last durable checkpoint: no
//     loss, no duplicate key in the durable DATA_CHANGE events, count and checksum equal to the
//     source, integrity_check ok (ESYNC_TEST_RELOAD_ROWS rows, default 1,000,000);
//   - crash injection at every IndexedDB request of a checkpoint's flush (extent records,
//     deltas, meta) and of the conversion of an older format (extent records, the deletes of the
//     deltas and format 2 groups they replace, meta; format 2's over several flushes): the next
//     open holds the previous image, whole;
//   - a single-row update commit is at most 3 IndexedDB puts (deltas and meta, no extent record);
//   - a format 1 database (IndexedDB version 1, one record per page) and a format 2 one
//     (IndexedDB version 2, 256 KiB group records and deltas) open as they are and are converted
//     into extent records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { IDBFactory, IDBKeyRange, IDBObjectStore } from 'fake-indexeddb';
import { loadModule } from './load.js';
import { ElectricSyncStore, ElectricSyncWorker } from './support/harness.js';

const M = await loadModule();
const DB = 'store-test';
const FILE = `/${DB}.sqlite3`;
const SHAPES = [{ name: 'items', table: 'items' }];
const SCHEMA = JSON.stringify({ id: { type: 'int8', pk_index: 0, not_null: true }, title: { type: 'text', not_null: true }, qty: { type: 'int4' } });
const HANDLE = 'h1-1';

// The source: row i of n. Its checksum is over "id|title|qty" lines in id order.
const row = (i) => ({ id: String(i), title: `row ${i} ${'x'.repeat(i % 17)}`, qty: i % 5 ? String(i % 1000) : null });
function sourceChecksum(n) {
  const h = createHash('sha256');
  for (let i = 1; i <= n; i++) { const r = row(i); h.update(`${r.id}|${r.title}|${r.qty}\n`); }
  return h.digest('hex');
}
function replicaChecksum(engine) {
  const h = createHash('sha256');
  const max = Number(engine.query('SELECT max(id) AS m FROM items')[0].m || 0);
  const step = 100000;
  for (let lo = 0; lo < max; lo += step) {
    const rows = engine.query('SELECT id, title, qty FROM items WHERE id > ? AND id <= ? ORDER BY id', [lo, lo + step]);
    for (const r of rows) h.update(`${r.id}|${r.title}|${r.qty}\n`);
  }
  return h.digest('hex');
}

// The stand-in shape service: n rows in snapshot chunks of `per` rows (offset 0_k for chunk k),
// then an up-to-date at 0_inf; a live update at 100_0 when asked.
function service(n, per) {
  const chunks = Math.ceil(n / per);
  const body = (k) => {
    const msgs = [];
    for (let i = k * per + 1; i <= Math.min(n, (k + 1) * per); i++) {
      msgs.push({ key: `"public"."items"/"${i}"`, value: row(i), headers: { operation: 'insert', relation: ['public', 'items'] } });
    }
    if (k === chunks - 1) msgs.push({ headers: { control: 'snapshot-end', xmin: '1', xmax: '1', xip_list: [] } });
    return JSON.stringify(msgs);
  };
  return {
    chunks,
    // the response to a request query of the engine
    answer(query) {
      const q = new URLSearchParams(query);
      const offset = q.get('offset');
      const headers = { 'electric-handle': HANDLE, 'electric-schema': SCHEMA };
      if (offset === '-1') return { status: 200, headers: { ...headers, 'electric-offset': '0_0' }, body: body(0) };
      const [tx, op] = offset.split('_');
      assert.equal(q.get('handle'), HANDLE);
      if (tx === '0' && op !== 'inf' && Number(op) + 1 < chunks) {
        return { status: 200, headers: { ...headers, 'electric-offset': `0_${Number(op) + 1}` }, body: body(Number(op) + 1) };
      }
      return { status: 200, headers: { ...headers, 'electric-offset': '0_inf', 'electric-up-to-date': '' }, body: '[{"headers":{"control":"up-to-date"}}]' };
    },
  };
}

function newReplica(idb, opts = {}) {
  return new ElectricSyncWorker.Replica({
    indexedDB: idb, IDBKeyRange, writerId: 'test', log: () => {}, setTimeout, checkpointBytes: 1, ...opts,
  });
}

// stream: the module is there while IndexedDB is read (as in the worker), so the extents go
// into the heap as they arrive; else the whole image is loaded after the read.
async function openReplica(idb, opts, { stream = false } = {}) {
  const r = newReplica(idb, opts);
  await r.read({ dbName: DB, shapes: SHAPES.map((s) => ({ ...s })) }, stream ? () => M : undefined);
  r.load(M);
  await r.openEngine();
  await r.loaded(); // the extents after the first, read in the background
  await r.store.drain(); // a compaction started by the open
  return r;
}

// A worker that dies: IndexedDB is left as it is, the heap image is gone.
function crash(r) {
  r.drop();
  if (r.engine) r.engine.close();
  r.engine = null;
  M.deleteDatabase(FILE);
}
function closeReplica(r) {
  r.store.close();
  r.engine.close();
  M.deleteDatabase(FILE);
}

// Syncs until `stop()` says so or the shape is live. Every durable event goes to `delivered`
// (what the worker broadcasts to tabs). Returns the offsets requested.
async function sync(r, svc, delivered, stop = () => false) {
  const offsets = [];
  for (;;) {
    const req = r.engine.nextRequest('items');
    if (req.action !== 'fetch') throw new Error(`unexpected action ${req.action}`);
    if (req.live) return offsets;
    offsets.push(new URLSearchParams(req.query).get('offset'));
    const resp = svc.answer(req.query);
    let events = r.engine.ingest('items', { ...resp, nowMs: 1000 });
    // a large response is applied in slices (Replica's ingest slice), IndexedDB running between
    while (r.engine.ingestPending()) {
      await new Promise((res) => setImmediate(res));
      events = events.concat(r.engine.ingestContinue());
    }
    const p = r.persist(events);
    if (p) p.then((evs) => { for (const e of evs) delivered.push(e); });
    if (stop(offsets)) return offsets;
    await new Promise((res) => setImmediate(res)); // the network: IndexedDB runs meanwhile
  }
}

function insertedKeys(delivered) {
  const keys = delivered.filter((e) => e.type === 'DATA_CHANGE').flatMap((e) => e.changes.insert.map((x) => String(x.id)));
  return keys;
}

test('a reload in the middle of an initial sync resumes from the last durable checkpoint', async () => {
  const n = Number(process.env.ESYNC_TEST_RELOAD_ROWS || 1000000);
  const per = Math.max(1000, Math.floor(n / 50)); // about 50 responses
  const svc = service(n, per);
  const idb = new IDBFactory();
  const delivered = [];
  const t0 = Date.now();

  // Session 1: about half of the snapshot, then the worker dies (the last flush may be in flight).
  const r1 = await openReplica(idb);
  await sync(r1, svc, delivered, (offs) => offs.length === Math.floor(svc.chunks / 2));
  await new Promise((res) => setTimeout(res, 0));
  const flushedBefore = r1.store.stats.flushes;
  crash(r1);
  // (checkpoints at about 4, 8, 16 MB of bodies: esync_set_checkpoint_growth; flushes that
  // overlap merge, so at least one completed before the crash)
  assert.ok(flushedBefore >= 1, `checkpoints were flushed progressively (${flushedBefore} flushes)`);
  const t1 = Date.now();

  // Session 2: opens what IndexedDB holds, resumes from that offset, and reaches up-to-date.
  const r2 = await openReplica(idb);
  const t2 = Date.now();
  const st = r2.engine.status()[0];
  assert.equal(st.phase, 'initial-sync', 'not live: the first up-to-date has not come');
  assert.match(st.offset, /^0_\d+$/, 'resumes from a snapshot offset');
  const durableRows = insertedKeys(delivered).length;
  assert.equal(st.rows, durableRows, 'the stored rows are exactly the ones delivered as durable');
  assert.ok(st.rows > 0 && st.rows < n);
  const offsets = await sync(r2, svc, delivered);
  assert.equal(offsets[0], st.offset, 'the first request continues from the stored offset');
  await r2.store.drain();
  const t3 = Date.now();

  const keys = insertedKeys(delivered);
  assert.equal(new Set(keys).size, keys.length, 'no key delivered twice across the reload');
  assert.equal(keys.length, n, 'every row delivered once');
  const end = r2.engine.status()[0];
  assert.equal(end.phase, 'live');
  assert.equal(end.rows, n);
  assert.equal(r2.engine.query('SELECT count(*) AS c FROM items')[0].c, n);
  assert.equal(M.integrityCheck(FILE), 'ok');
  assert.equal(replicaChecksum(r2.engine), sourceChecksum(n), 'checksum of the replica = the source');
  const lastFlush = r2.store.stats.lastFlushPages;
  closeReplica(r2);

  // And once more from IndexedDB: the same replica, live.
  const t4 = Date.now();
  const r3 = await openReplica(idb);
  const t5 = Date.now();
  assert.equal(r3.engine.status()[0].rows, n);
  assert.equal(M.integrityCheck(FILE), 'ok');
  const heap = M.HEAPU8.byteLength;
  const size = r3.store.flushedSize;
  closeReplica(r3);
  console.log(`# reload mid-sync, ${n} rows in ${svc.chunks} responses: session 1 ${t1 - t0} ms, reopen ${t2 - t1} ms, rest ${t3 - t2} ms (last flush ${lastFlush} pages); open of the synced replica ${t5 - t4} ms; image ${size} bytes, wasm heap ${heap} bytes, node rss ${process.memoryUsage().rss}`);
});

// Every IndexedDB put and delete goes through onRequest(method, store) first (which may throw, or
// abort the store's transaction) until disarm().
const proto = IDBObjectStore.prototype;
const orig = { put: proto.put, delete: proto.delete };
function arm(onRequest) {
  for (const m of ['put', 'delete']) proto[m] = function (...args) { onRequest(m, this); return orig[m].apply(this, args); };
}
function disarm() { proto.put = orig.put; proto.delete = orig.delete; }

test('crash injection at every IndexedDB request of a checkpoint flush: the previous checkpoint stays whole', async (t) => {
  const n = 450000, per = 150000; // 3 chunks: the second one's flush writes extents, deltas and meta
  const svc = service(n, per);

  // Count the requests of the second checkpoint's flush.
  let requests = [];
  {
    const idb = new IDBFactory();
    const r = await openReplica(idb);
    await sync(r, svc, [], (offs) => offs.length === 1);
    await r.store.drain();
    arm((m, store) => requests.push(`${m} ${store.name}`));
    await sync(r, svc, [], (offs) => offs.length === 1);
    await r.store.drain();
    disarm();
    closeReplica(r);
  }
  console.log(`# the second checkpoint's flush: ${requests.join(', ')}`);
  assert.ok(requests.includes('put extents') && requests.includes('put pages') && requests.at(-1) === 'put meta', requests.join(', '));
  const cases = requests.map((what, i) => ({ k: i + 1, what, how: 'throw' }));
  cases.push({ k: requests.length, what: 'put meta', how: 'abort' });
  for (const c of cases) {
    await t.test(`${c.how} at request ${c.k} of ${requests.length} (${c.what})`, async () => {
      const idb = new IDBFactory();
      const delivered = [];
      const r1 = await openReplica(idb);
      await sync(r1, svc, delivered, (offs) => offs.length === 1);
      await r1.store.drain();
      const before = insertedKeys(delivered).length;
      let k = 0, injected = false;
      arm((m, store) => {
        if (++k !== c.k || injected) return;
        injected = true;
        if (c.how === 'abort') { store.transaction.abort(); return; }
        throw new DOMException('injected failure', 'UnknownError');
      });
      try {
        await sync(r1, svc, delivered, (offs) => offs.length === 1);
        for (let i = 0; i < 50 && !injected; i++) await new Promise((res) => setTimeout(res, 5));
      } finally {
        disarm();
      }
      assert.ok(injected);
      crash(r1);
      assert.equal(insertedKeys(delivered).length, before, 'nothing of the failed flush was delivered');

      const r2 = await openReplica(idb);
      assert.equal(M.integrityCheck(FILE), 'ok');
      const st = r2.engine.status()[0];
      assert.equal(st.offset, '0_0', 'the previous checkpoint');
      assert.equal(st.rows, per);
      assert.equal(r2.engine.query('SELECT count(*) AS c FROM items')[0].c, per);
      await sync(r2, svc, delivered);
      await r2.store.drain();
      const keys = insertedKeys(delivered);
      assert.equal(keys.length, n);
      assert.equal(new Set(keys).size, n);
      assert.equal(replicaChecksum(r2.engine), sourceChecksum(n));
      closeReplica(r2);
    });
  }
});

test('a single-row update commit is at most 3 IndexedDB puts (deltas + meta, no extent record); the image reopens the same', async () => {
  const n = 50000;
  const svc = service(n, 10000);
  const idb = new IDBFactory();
  const r = await openReplica(idb);
  await sync(r, svc, []);
  await r.store.drain();
  const puts = [];
  for (let i = 0; i < 20; i++) {
    const id = 1 + ((i * 7919) % n);
    const body = JSON.stringify([
      { key: `"public"."items"/"${id}"`, value: { id: String(id), qty: String(i) }, headers: { operation: 'update', relation: ['public', 'items'], txids: [900 + i] } },
      { headers: { control: 'up-to-date' } }]);
    const events = r.engine.ingest('items', { status: 200, headers: { 'electric-handle': HANDLE, 'electric-offset': `${100 + i}_0`, 'electric-up-to-date': '' }, body, nowMs: 2000 });
    assert.equal(events.length, 1);
    await r.persist(events);
    puts.push(r.store.stats.lastFlushPuts);
  }
  assert.ok(Math.max(...puts) <= 3, `puts per single-row commit: ${puts.join(',')}`);
  const before = replicaChecksum(r.engine);
  closeReplica(r);
  const r2 = await openReplica(idb);
  assert.equal(M.integrityCheck(FILE), 'ok');
  assert.equal(replicaChecksum(r2.engine), before);
  assert.equal(r2.store.stats.streamedExtents, 0);
  closeReplica(r2);
  // The same image with its extents put in the heap as they are read, the deltas after them.
  const r3 = await openReplica(idb, {}, { stream: true });
  assert.ok(r3.store.stats.streamedExtents >= 1, 'extents went to the heap during the read');
  assert.equal(M.integrityCheck(FILE), 'ok');
  assert.equal(replicaChecksum(r3.engine), before);
  closeReplica(r3);
});

test('a lazy open serves reads before the image is whole; writers wait for it; the image is the same', async () => {
  const n = 400000;
  const idb = new IDBFactory();
  const r = await openReplica(idb);
  await sync(r, service(n, 100000), []);
  await r.store.drain();
  const sum = replicaChecksum(r.engine);
  assert.equal(sum, sourceChecksum(n));
  const extents = Math.ceil(r.store.flushedSize / (ElectricSyncStore.EXTENT * M.MemVfs.CHUNK));
  assert.ok(extents >= 3, `the image spans ${extents} extents`);
  closeReplica(r);

  // No background reads (loadAhead 0): only extent 0, the deltas and what statements miss.
  const r2 = newReplica(idb, { loadAhead: 0 });
  await r2.read({ dbName: DB, shapes: SHAPES.map((s) => ({ ...s })) });
  r2.load(M);
  await r2.openEngine();
  assert.equal(r2.store.isLoaded, false);
  // of extent 0 (a Blob) only its first chunks were read before the open (the header, the schema)
  assert.ok(r2.store.firstChunks > 0 && r2.store.firstChunks < ElectricSyncStore.EXTENT, `extent 0 read in part: ${r2.store.firstChunks} chunks`);
  // (a key in the middle: the pages of the last ones may be deltas of the last commit)
  const one = await r2.withPages((e) => e.query('SELECT title FROM items WHERE id = ?', [n / 2]));
  assert.deepEqual(one, [{ title: row(n / 2).title }]);
  assert.ok(r2.store.stats.fetchedFirst >= 1, 'the row\'s pages were read when the query missed them');
  assert.ok(r2.store.stats.lazyExtents < extents - 1, `${r2.store.stats.lazyExtents} of ${extents - 1} extents read for one row`);
  assert.equal(r2.store.isLoaded, false);
  // nothing is taken from a partial image (an absent page would be stored as zeros)
  assert.throws(() => M.MemVfs.readRange(FILE, 0, 2 * ElectricSyncStore.EXTENT * M.MemVfs.CHUNK), /not loaded yet/);
  // a scan misses page after page: each miss reads one more extent (after four, the whole image)
  assert.equal(await r2.withPages((e) => replicaChecksum(e)), sum);
  assert.equal(r2.store.isLoaded, true);
  // (an extent whose chunks all came as deltas need not be read; extent 0, read in part before
  // the open, is read later for the rest of its chunks)
  assert.ok(r2.store.stats.lazyExtents <= extents && r2.store.stats.lazyExtents >= extents - 1, `${r2.store.stats.lazyExtents} of ${extents}`);
  assert.equal(M.MemVfs.absent(FILE, 0, 0, false), 0);
  assert.equal(await r2.integrity(), 'ok');
  // writable now: a live update commits and is flushed
  // (the last key: its page is in the last extent, which the next lazy open reads after the
  // delta; the extent's older copy must not replace it)
  const body = JSON.stringify([{ key: `"public"."items"/"${n}"`, value: { id: String(n), qty: '4242' }, headers: { operation: 'update', relation: ['public', 'items'], txids: [77] } }, { headers: { control: 'up-to-date' } }]);
  await r2.persist(r2.engine.ingest('items', { status: 200, headers: { 'electric-handle': HANDLE, 'electric-offset': '100_0', 'electric-up-to-date': '' }, body, nowMs: 2000 }));
  closeReplica(r2);

  // The default: the rest read in the background. A shape new to the replica is defined while
  // it loads (its table written into pages read or written whole), and the image stays whole.
  const r3 = newReplica(idb);
  await r3.read({ dbName: DB, shapes: SHAPES.map((s) => ({ ...s })).concat([{ name: 'more', table: 'more' }]) });
  // (the extents of each read: the first two reads take one extent each, so a statement right
  // after the open waits little behind them; then more per read, up to 4 MiB)
  const reads = [];
  const fetchRun = r3.store.fetchRun.bind(r3.store);
  r3.store.fetchRun = (run) => { reads.push(run.length); return fetchRun(run); };
  r3.load(M);
  await r3.openEngine();
  assert.deepEqual(r3.engine.status().map((x) => x.shapeName), ['items', 'more']);
  assert.deepEqual(await r3.withPages((e) => e.query('SELECT qty FROM items WHERE id = ?', [n])), [{ qty: 4242 }]);
  await r3.loaded();
  assert.deepEqual(reads.slice(0, 2), [1, 1]);
  if (extents - 1 > 6) assert.equal(Math.max(...reads), 1024 / ElectricSyncStore.EXTENT, `extents per read: ${reads.join(',')}`);
  assert.deepEqual(r3.engine.query('SELECT qty FROM items WHERE id = ?', [n]), [{ qty: 4242 }], 'the delta, not its extent\'s older copy');
  assert.equal(M.integrityCheck(FILE), 'ok');
  assert.equal(r3.engine.query('SELECT count(*) AS n FROM items')[0].n, n);
  await r3.store.drain();
  closeReplica(r3);
  const r4 = await openReplica(idb);
  assert.equal(M.integrityCheck(FILE), 'ok');
  assert.equal(r4.engine.query('SELECT count(*) AS n FROM items')[0].n, n);
  closeReplica(r4);

  // A statement's miss goes first: while its page is read, no background read starts. Here
  // every read takes 20-30 ms (so the middle of the image is surely not read yet when the query
  // comes, and the two background lanes would start reads during a miss's read without the rule).
  const r5 = newReplica(idb);
  await r5.read({ dbName: DB, shapes: SHAPES.map((s) => ({ ...s })) });
  const st5 = r5.store, log = [];
  const run5 = st5.fetchRun.bind(st5), chunk5 = st5.fetchChunk.bind(st5);
  const later = (ms, fn) => new Promise((res) => setTimeout(res, ms)).then(fn);
  let inMiss = false, missing = 0;
  st5.fetchRun = (run) => {
    if (inMiss) { log.push('miss'); return later(30, () => run5(run)); }
    log.push(missing > 0 ? 'background while a miss is read' : 'background');
    return later(20, () => run5(run));
  };
  st5.fetchChunk = (c) => {
    inMiss = true;
    try {
      missing++;
      const p = chunk5(c);
      p.finally(() => { missing--; }).catch(() => {});
      return p;
    } finally {
      inMiss = false;
    }
  };
  r5.load(M);
  await r5.openEngine();
  assert.deepEqual(await r5.withPages((e) => e.query('SELECT title FROM items WHERE id = ?', [n / 2 + 1])), [{ title: row(n / 2 + 1).title }]);
  await r5.loaded();
  assert.ok(log.includes('miss'), log.join());
  assert.ok(!log.includes('background while a miss is read'), log.join());
  assert.equal(r5.engine.query('SELECT count(*) AS n FROM items')[0].n, n);
  closeReplica(r5);
});

// Older formats, written by hand from a synced image of n rows (made once per n):
//   format 1 (IndexedDB version 1): a record per page, pages and meta only;
//   format 2 (IndexedDB version 2): 64-page group records, plus deltas over them (here every
//   97th page: its group holds zeros there, the delta the page, so a group read over its delta
//   would show).
const images = new Map();
async function syncedImage(n) {
  if (images.has(n)) return images.get(n);
  const src = await openReplica(new IDBFactory());
  await sync(src, service(n, 10000), []);
  await src.store.drain();
  const sum = replicaChecksum(src.engine);
  const size = M.MemVfs.size(FILE);
  const CH = M.MemVfs.CHUNK;
  const pages = [];
  for (let i = 0; i * CH < size; i++) pages.push(M.MemVfs.readRange(FILE, i * CH, CH));
  closeReplica(src);
  images.set(n, { sum, size, pages });
  return images.get(n);
}

async function olderFormat(n, format) {
  const { sum, size, pages } = await syncedImage(n);
  const CH = M.MemVfs.CHUNK;
  const G = ElectricSyncStore.LEGACY_GROUP;
  const idb = new IDBFactory();
  const stores = format === 1 ? ['pages', 'meta'] : ['groups', 'pages', 'meta'];
  await new Promise((resolve, reject) => {
    const req = idb.open(DB, format);
    req.onupgradeneeded = () => { for (const st of stores) req.result.createObjectStore(st); };
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const db = req.result;
      const tx = db.transaction(stores, 'readwrite');
      if (format === 1) pages.forEach((pg, i) => tx.objectStore('pages').put(pg, i));
      else {
        for (let gi = 0; gi * G < pages.length; gi++) {
          const bytes = new Uint8Array(Math.min(G, pages.length - gi * G) * CH);
          for (let i = gi * G; i < Math.min((gi + 1) * G, pages.length); i++) {
            if (i % 97 === 5) tx.objectStore('pages').put(pages[i], i); // a delta; zeros in its group
            else bytes.set(pages[i], (i - gi * G) * CH);
          }
          tx.objectStore('groups').put(bytes, gi);
        }
      }
      const meta = { formatVersion: format, pageSize: CH, pageCount: pages.length, size, commitSeq: 7, schemaVersion: null, writerId: 'old', flushedAt: 1 };
      if (format === 2) meta.groupPages = G;
      tx.objectStore('meta').put(meta, 'meta');
      tx.oncomplete = () => { db.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
  });
  return { idb, sum, pages };
}

// Rows per older-format image: format 2's is larger than one extent (converted in several
// flushes of one extent each: compactPerFlush 1).
const OLDER = { 1: { n: 12000, opts: {} }, 2: { n: 150000, opts: { compactPerFlush: 1 } } };

for (const format of [1, 2]) {
  const { n, opts } = OLDER[format];
  test(`crash injection at every IndexedDB request of the conversion of a format ${format} image`, async (t) => {
    const requests = [];
    {
      const { idb } = await olderFormat(n, format);
      arm((m, store) => requests.push(`${m} ${store.name}`));
      try { closeReplica(await openReplica(idb, opts)); } finally { disarm(); }
    }
    assert.ok(requests.includes('put extents') && requests.includes('delete pages') && requests.at(-1) === 'put meta', requests.join(', '));
    if (format === 2) assert.ok(requests.filter((q) => q === 'put meta').length >= 2 && requests.includes('delete groups'), requests.join(', '));
    for (let k = 1; k <= requests.length; k++) {
      await t.test(`throw at request ${k} of ${requests.length} (${requests[k - 1]})`, async () => {
        const { idb, sum } = await olderFormat(n, format);
        let c = 0;
        arm(() => { if (++c === k) throw new DOMException('injected failure', 'UnknownError'); });
        let r;
        try {
          r = newReplica(idb, opts);
          await r.read({ dbName: DB, shapes: SHAPES.map((s) => ({ ...s })) });
          r.load(M);
          await r.openEngine();
          for (let i = 0; i < 400 && c < k; i++) await new Promise((res) => setTimeout(res, 5));
        } finally {
          disarm();
        }
        crash(r); // before the retry
        const r2 = await openReplica(idb, opts); // the older format, partly or wholly converted: the same image
        assert.equal(M.integrityCheck(FILE), 'ok');
        assert.equal(replicaChecksum(r2.engine), sum);
        closeReplica(r2);
        const r3 = await openReplica(idb, opts);
        assert.equal(replicaChecksum(r3.engine), sum);
        closeReplica(r3);
      });
    }
  });

  test(`format ${format} opens as it is and is converted into extent records`, async () => {
    const { idb, sum, pages } = await olderFormat(n, format);
    const r = await openReplica(idb, opts); // reads the older format, then converts (drained in openReplica)
    assert.equal(M.integrityCheck(FILE), 'ok');
    assert.equal(replicaChecksum(r.engine), sum);
    assert.equal(r.engine.status()[0].rows, n);
    const extents = Math.ceil(pages.length / ElectricSyncStore.EXTENT);
    assert.equal(r.store.stats.compacted, extents);
    assert.equal(r.store.stats.flushes, format === 2 ? extents : 1, 'one flush per extent converted (compactPerFlush)');
    closeReplica(r);
    const counts = await new Promise((resolve, reject) => {
      const req = idb.open(DB);
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const db = req.result;
        const tx = db.transaction(['extents', 'groups', 'pages', 'meta'], 'readonly');
        const out = { version: db.version };
        for (const st of ['extents', 'groups', 'pages']) tx.objectStore(st).count().onsuccess = (e) => { out[st] = e.target.result; };
        tx.objectStore('meta').get('meta').onsuccess = (e) => { out.meta = e.target.result; };
        tx.oncomplete = () => { db.close(); resolve(out); };
      };
    });
    assert.equal(counts.version, 3);
    assert.equal(counts.meta.formatVersion, ElectricSyncStore.FORMAT_VERSION);
    assert.equal(counts.meta.groupPages, ElectricSyncStore.EXTENT);
    assert.equal(counts.meta.commitSeq, 7 + (format === 2 ? extents : 1));
    assert.equal(counts.extents, extents);
    assert.equal(counts.groups, 0, 'no format 2 group left');
    assert.equal(counts.pages, 0, 'no delta left');
    const r2 = await openReplica(idb, opts);
    assert.equal(replicaChecksum(r2.engine), sum);
    closeReplica(r2);
  });
}

// The records of one store of a replica: [key, value] pairs.
async function records(idb, store) {
  const db = await ElectricSyncStore.openDatabase(idb, DB);
  try {
    return await new Promise((resolve, reject) => {
      const st = db.transaction(store, 'readonly').objectStore(store);
      const k = st.getAllKeys(), v = st.getAll();
      v.onsuccess = () => resolve(k.result.map((key, i) => [key, v.result[i]]));
      v.onerror = () => reject(v.error);
    });
  } finally {
    db.close();
  }
}

test('format 4 writes extent records as Blobs; a format 3 replica (byte arrays) opens as it is, its sync goes on in Blobs, the same image', async () => {
  const n = 150000;
  const idb = new IDBFactory();
  // format 3 (extents as byte arrays): the first responses of the initial sync, committed
  const r = await openReplica(idb, { Blob: null });
  await sync(r, service(n, 30000), [], (offsets) => offsets.length >= 2);
  await r.store.drain();
  closeReplica(r);
  const old = await records(idb, 'extents');
  assert.ok(old.length >= 2 && old.every(([, v]) => v instanceof Uint8Array), 'byte arrays');
  {
    const db = await ElectricSyncStore.openDatabase(idb, DB);
    await new Promise((resolve, reject) => {
      const tx = db.transaction('meta', 'readwrite');
      const st = tx.objectStore('meta');
      st.get('meta').onsuccess = (e) => st.put({ ...e.target.result, formatVersion: 3 }, 'meta');
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
    db.close();
  }
  // today's store: a lazy open of the byte arrays (extent 0, then a miss), then the sync goes on
  const r2 = newReplica(idb, { loadAhead: 0 });
  await r2.read({ dbName: DB, shapes: SHAPES.map((s) => ({ ...s })) });
  assert.equal(r2.store.meta.formatVersion, 3);
  r2.load(M);
  await r2.openEngine();
  assert.deepEqual(await r2.withPages((e) => e.query('SELECT title FROM items WHERE id = ?', [30000])), [{ title: row(30000).title }]);
  await r2.loaded();
  assert.equal(r2.store.stats.compacted, 0, 'format 3 records need no conversion');
  await sync(r2, service(n, 30000), []);
  await r2.store.drain();
  const sum = replicaChecksum(r2.engine);
  assert.equal(sum, sourceChecksum(n));
  closeReplica(r2);
  const mixed = await records(idb, 'extents');
  const blobs = mixed.filter(([, v]) => v instanceof Blob).length;
  assert.ok(blobs >= 2 && blobs < mixed.length, `${blobs} of ${mixed.length} extents are Blobs`);
  assert.equal((await records(idb, 'meta'))[0][1].formatVersion, 4);
  // read back (Blobs and byte arrays; streamed, then whole): the same image
  const r3 = await openReplica(idb, {}, { stream: true });
  assert.equal(replicaChecksum(r3.engine), sum);
  assert.equal(M.integrityCheck(FILE), 'ok');
  closeReplica(r3);
  // a new replica's extents are all Blobs
  const idb2 = new IDBFactory();
  const r4 = await openReplica(idb2);
  await sync(r4, service(n, 30000), []);
  await r4.store.drain();
  closeReplica(r4);
  const fresh = await records(idb2, 'extents');
  assert.ok(fresh.length >= 2 && fresh.every(([, v]) => v instanceof Blob), 'Blobs');
  const r5 = await openReplica(idb2);
  assert.equal(replicaChecksum(r5.engine), sum);
  closeReplica(r5);
});

test('a replica written with 4 MiB extents (1024 chunks, before 2026-12) keeps them: lazy open, a write, the same image', async () => {
  const n = 60000;
  const idb = new IDBFactory();
  const r = await openReplica(idb, { extentChunks: ElectricSyncStore.LEGACY_EXTENT });
  await sync(r, service(n, 20000), []);
  await r.store.drain();
  const sum = replicaChecksum(r.engine);
  assert.equal(sum, sourceChecksum(n));
  assert.equal(r.store.meta.groupPages, 1024);
  closeReplica(r);
  // a store of today's default opens it with its own extent size
  const r2 = newReplica(idb, { loadAhead: 0 });
  await r2.read({ dbName: DB, shapes: SHAPES.map((s) => ({ ...s })) });
  assert.equal(r2.store.extent, 1024);
  r2.load(M);
  await r2.openEngine();
  assert.deepEqual(await r2.withPages((e) => e.query('SELECT title FROM items WHERE id = ?', [n])), [{ title: row(n).title }]);
  await r2.loaded();
  assert.equal(replicaChecksum(r2.engine), sum);
  const body = JSON.stringify([{ key: `"public"."items"/"${n}"`, value: { id: String(n), qty: '4242' }, headers: { operation: 'update', relation: ['public', 'items'] } }, { headers: { control: 'up-to-date' } }]);
  await r2.persist(r2.engine.ingest('items', { status: 200, headers: { 'electric-handle': HANDLE, 'electric-offset': '100_0', 'electric-up-to-date': '' }, body, nowMs: 2000 }));
  await r2.store.drain();
  assert.equal(r2.store.meta.groupPages, 1024);
  const after = replicaChecksum(r2.engine);
  closeReplica(r2);
  const r3 = await openReplica(idb);
  assert.equal(r3.store.extent, 1024);
  assert.equal(replicaChecksum(r3.engine), after);
  assert.deepEqual(r3.engine.query('SELECT qty FROM items WHERE id = ?', [n]), [{ qty: 4242 }]);
  assert.equal(M.integrityCheck(FILE), 'ok');
  closeReplica(r3);
});
