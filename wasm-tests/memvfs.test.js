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
