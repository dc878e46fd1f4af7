// Module.MemVfs (src/wasm/memvfs.js + the esw_memvfs_* shims): dirty chunks are handed out only
// as whole commits — never while a transaction that outgrew SQLite's page cache has spilled
// uncommitted pages into the file — and an image loaded back opens to the same rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModule } from './load.js';
import { snapshotResponses } from '../bench/workload.mjs';

test('takeDirty waits for the commit of a spilled batch; the image round-trips', async () => {
  const M = await loadModule();
  const before = M.memoryUsed();
  const e = new M.Engine('/spill.db', { seed: 1 });
  e.defineShape('test_items', { table: 'test_items' });
  const first = M.MemVfs.takeDirty('/spill.db');
  assert.ok(first && first.size > 0 && first.pages.size > 0, 'metadata tables created');
  const responses = snapshotResponses(100000, 5);
  let spilled = 0;
  for (let i = 0; i < responses.length; i++) {
    e.nextRequest('test_items');
    const events = e.ingest('test_items', { status: 200, headers: responses[i].headers, body: responses[i].body });
    if (i < responses.length - 1) {
      assert.deepEqual(events, []);
      // Past the 16 MiB page cache SQLite spills pages of the open transaction into the file.
      if (M.MemVfs.busy('/spill.db')) {
        spilled++;
        assert.equal(M.MemVfs.takeDirty('/spill.db'), null);
      }
    } else {
      assert.equal(events[0].changes.insert.length, 100000);
    }
  }
  assert.ok(spilled >= 1, 'the batch spilled');
  assert.equal(M.MemVfs.busy('/spill.db'), false);
  const commits = M.MemVfs.commits();
  assert.ok(commits >= 2);
  const taken = M.MemVfs.takeDirty('/spill.db');
  assert.equal(taken.size, M.MemVfs.size('/spill.db'));
  assert.ok(taken.pages.size > 1000);
  assert.equal(M.MemVfs.takeDirty('/spill.db').pages.size, 0, 'taken once');
  // A copy of the whole image loaded into another module opens to the same replica.
  const all = new Map([...first.pages, ...taken.pages]);
  const M2 = await loadModule();
  M2.MemVfs.load('/spill.db', taken.size, all);
  assert.equal(M2.integrityCheck('/spill.db'), 'ok');
  const e2 = new M2.Engine('/spill.db');
  e2.defineShape('test_items', { table: 'test_items' });
  assert.deepEqual(e2.query('SELECT count(*) AS n FROM test_items'), [{ n: 100000 }]);
  assert.equal(e2.status()[0].offset, '0_inf');
  assert.equal(M2.MemVfs.takeDirty('/spill.db').pages.size, 0, 'a loaded image is not dirty');
  e2.close();
  e.close();
  M.deleteDatabase('/spill.db');
  assert.equal(M.memoryUsed(), before);
});

test('load takes records of several chunks: cut at the size, a short last chunk zero-filled, later entries win', async () => {
  const M = await loadModule();
  const C = M.MemVfs.CHUNK;
  const fill = (n, v) => new Uint8Array(n).fill(v);
  // A record of 2.5 chunks at chunk 0, a one-chunk record over chunk 1, a record past the size.
  const size = 2 * C + C / 2;
  M.MemVfs.load('/multi.db', size, [[0, fill(2 * C + C / 2, 7)], [1, fill(C, 9)], [3, fill(C, 5)]]);
  assert.equal(M.MemVfs.size('/multi.db'), size);
  const got = M.MemVfs.readRange('/multi.db', 0, 3 * C);
  assert.deepEqual([got[0], got[C - 1], got[C], got[2 * C - 1], got[2 * C], got[size - 1]], [7, 7, 9, 9, 7, 7]);
  assert.ok(got.subarray(size).every((b) => b === 0), 'the short chunk is zero past the record');
  assert.equal(M.MemVfs.readChunk('/multi.db', 3), null, 'nothing loaded past the size');
  assert.equal(M.MemVfs.takeDirty('/multi.db').pages.size, 0, 'loaded chunks are not dirty');
  // Only a sparse image stored (no chunk at all): the file still gets its size.
  M.MemVfs.load('/sparse.db', 3 * C, []);
  assert.equal(M.MemVfs.size('/sparse.db'), 3 * C);
  M.deleteDatabase('/multi.db');
  M.deleteDatabase('/sparse.db');
});

test('views: the bytes of a range as a few views of the heap (a run of a slab is one), zeros for chunks never written; readRange joins them', async () => {
  const M = await loadModule();
  const C = M.MemVfs.CHUNK;
  const db = new M.Engine('/views.db');
  db.defineShape('items', { table: 'items' });
  const rows = Array.from({ length: 6000 }, (_, i) => ({ key: `"public"."items"/"${i + 1}"`, value: { id: String(i + 1), t: 'v'.repeat(150 + (i % 50)) }, headers: { operation: 'insert', relation: ['public', 'items'] } }));
  rows.push({ headers: { control: 'up-to-date' } });
  db.ingest('items', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_0', 'electric-up-to-date': '', 'electric-schema': JSON.stringify({ id: { type: 'int4', pk_index: 0 }, t: { type: 'text' } }) }, body: JSON.stringify(rows), nowMs: 1 });
  const size = M.MemVfs.size('/views.db');
  assert.ok(size >= 256 * C, `${size / C} pages`);
  // the reference: each chunk on its own (readChunk, a slice of it), zeros where there is none
  const byChunks = (name, offset, len) => {
    const out = new Uint8Array(len);
    for (let at = 0; at < len; at += C) {
      const c = M.MemVfs.readChunk(name, (offset + at) / C);
      if (c) out.set(c.subarray(0, Math.min(C, len - at)), at);
    }
    return out;
  };
  const join = (views) => {
    const out = new Uint8Array(views.reduce((n, v) => n + v.length, 0));
    let at = 0;
    for (const v of views) { out.set(v, at); at += v.length; }
    return out;
  };
  for (const [offset, len] of [[0, 256 * C], [64 * C, 100 * C + 17], [0, size]]) {
    const views = M.MemVfs.views('/views.db', offset, len);
    assert.deepEqual(join(views), byChunks('/views.db', offset, len), `${offset / C}+${len}`);
    assert.deepEqual(M.MemVfs.readRange('/views.db', offset, len), join(views));
    assert.ok(views.length <= Math.ceil(len / (64 * C)) + 1, `${views.length} views for ${Math.ceil(len / C)} chunks`);
    assert.equal(new Blob(views).size, len);
  }
  db.close();
  // a sparse file: the chunks never written are views of zeros
  const page = new Uint8Array(C).fill(3);
  M.MemVfs.load('/holes.db', 5 * C, [[1, page], [3, page]]);
  const v = M.MemVfs.views('/holes.db', 0, 5 * C);
  assert.deepEqual(join(v), byChunks('/holes.db', 0, 5 * C));
  // (zeros, chunk 1, zeros, chunks 3 and 4 in one run: sizing the file wrote chunk 4)
  assert.deepEqual(v.map((x) => x.length), [C, C, C, 2 * C]);
  // absent chunks: refused, as readRange
  assert.equal(M.MemVfs.absent('/holes.db', 2, 1, true), 1);
  assert.throws(() => M.MemVfs.views('/holes.db', 0, C), /not loaded yet/);
  M.deleteDatabase('/views.db');
  M.deleteDatabase('/holes.db');
});

test('a lazy load in a new module: absent chunks marked first (before any engine), filled once, read only once filled', async () => {
  const src = await loadModule();
  const C = src.MemVfs.CHUNK;
  // an image of a few hundred pages, made in one module...
  const db = new src.Engine('/src.db');
  db.defineShape('items', { table: 'items' });
  const rows = Array.from({ length: 3000 }, (_, i) => ({ key: `"public"."items"/"${i + 1}"`, value: { id: String(i + 1), t: 'x'.repeat(200) }, headers: { operation: 'insert', relation: ['public', 'items'] } }));
  rows.push({ headers: { control: 'up-to-date' } });
  db.ingest('items', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_0', 'electric-up-to-date': '', 'electric-schema': JSON.stringify({ id: { type: 'int4', pk_index: 0 }, t: { type: 'text' } }) }, body: JSON.stringify(rows), nowMs: 1 });
  db.close();
  const size = src.MemVfs.size('/src.db');
  const image = src.MemVfs.readRange('/src.db', 0, size);
  const n = size / C;
  assert.ok(n > 100, `${n} pages`);
  // ...opened lazily in a fresh one: the first call into it marks the chunks absent
  const M = await loadModule();
  assert.equal(M.MemVfs.absent('/lazy.db', 1, n - 1, true), n - 1);
  M.MemVfs.load('/lazy.db', size, [[0, image.subarray(0, C)]]);
  assert.equal(M.MemVfs.size('/lazy.db'), size);
  assert.throws(() => M.MemVfs.readChunk('/lazy.db', 1), /not loaded yet/);
  let e = null, misses = 0;
  for (;;) {
    M.MemVfs.missing();
    try {
      if (!e) e = new M.Engine('/lazy.db'); // its open reads the engine's tables: it may miss too
      e.defineShape('items', { table: 'items' });
      assert.deepEqual(e.query('SELECT id FROM items WHERE id = 2999'), [{ id: 2999 }]);
      break;
    } catch (err) {
      const chunk = M.MemVfs.missing();
      if (chunk < 0) throw err;
      misses++;
      // fill a range of 8 around it; a second fill of the same chunks changes nothing
      const first = Math.max(1, chunk - 4);
      assert.ok(M.MemVfs.fill('/lazy.db', size, first, image.subarray(first * C, (first + 8) * C)) >= 1);
      assert.equal(M.MemVfs.fill('/lazy.db', size, first, new Uint8Array(8 * C)), 0);
    }
  }
  assert.ok(misses >= 1);
  assert.ok(M.MemVfs.absent('/lazy.db', 0, 0, false) > 0, 'one row read: most pages still absent');
  M.MemVfs.fill('/lazy.db', size, 1, image.subarray(C));
  assert.equal(M.MemVfs.absent('/lazy.db', 0, 0, false), 0);
  assert.deepEqual(M.MemVfs.readRange('/lazy.db', 0, size), image);
  assert.equal(e.query('SELECT count(*) AS c FROM items')[0].c, 3000);
  e.close();
  M.deleteDatabase('/lazy.db');
  src.deleteDatabase('/src.db');
});
