// The worker in headless Chromium: the real SharedWorker and IndexedDB (and the dedicated-worker
// fallback with SharedWorker removed), pages on the real server's origin, shapes from its
// /v1/shape (or the stand-in of wasm-tests/support while the server has none).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startBackend } from '../../wasm-tests/support/backend.js';
import { openContext, startSync, ready, query, events, waitFor } from './browser.js';

let backend;
before(async () => { backend = await startBackend({ static: true }); });
after(async () => { await backend?.stop(); });

// The app's own shapes and database name, passed explicitly (the library has no defaults for them).
const config = (extra = {}) => ({
  shapes: [{ name: 'test_items', table: 'test_items' }], dbName: 'docpal-electric',
  shapeUrl: backend.shapeUrl, liveUrl: backend.liveUrl, versionUrl: backend.versionUrl, ...extra,
});
const ids = (rows) => rows.map((r) => r.id).sort();
const hasInsert = ([id]) => window.__ev.some((e) => e.type === 'DATA_CHANGE' && e.changes.insert.some((r) => r.id === id));

async function seed(n) {
  await backend.clear();
  const rows = [];
  for (let i = 0; i < n; i++) rows.push(await backend.insert({ id: randomUUID(), title: `seed ${i}` }));
  return rows;
}

async function liveSyncAcrossTabs(b, label) {
  const seeded = await seed(8);
  const p1 = await b.page();
  const p2 = await b.page();
  await startSync(p1, config());
  await startSync(p2, config());
  assert.equal(await ready(p1), true);
  assert.equal(await ready(p2), true);
  assert.deepEqual(ids(await query(p1, 'SELECT id FROM test_items')), ids(seeded), label);
  assert.deepEqual(ids(await query(p2, 'SELECT id FROM test_items')), ids(seeded), label);
  const id = randomUUID();
  await backend.insert({ id, title: 'live' });
  await waitFor(p1, hasInsert, [id]);
  await waitFor(p2, hasInsert, [id]);
  await backend.update(id, { title: 'live, renamed' });
  const hasUpdate = ([i]) => window.__ev.some((e) => e.type === 'DATA_CHANGE' && e.changes.update.some((u) => u.new.id === i && u.old.title === 'live'));
  await waitFor(p1, hasUpdate, [id]);
  await waitFor(p2, hasUpdate, [id]);
  await backend.delete(id);
  const hasDelete = ([i]) => window.__ev.some((e) => e.type === 'DATA_CHANGE' && e.changes.delete.some((r) => r.id === i));
  await waitFor(p1, hasDelete, [id]);
  await waitFor(p2, hasDelete, [id]);
  return { p1, p2, seeded };
}

test('SharedWorker: live sync to two tabs, reload from IndexedDB offline, resetLocal', async () => {
  const b = await openContext(backend.staticBase);
  try {
    const { p1, p2, seeded } = await liveSyncAcrossTabs(b, 'shared');
    const st = (await events(p1, 'STATUS')).at(-1);
    assert.equal(st.phase, 'live');
    assert.equal(st.rows, seeded.length);
    // Reload: every tab closed (the worker goes), then a new tab with the network unreachable
    // is served the replica stored in IndexedDB.
    await p1.close();
    await p2.close();
    await new Promise((r) => setTimeout(r, 300));
    const p3 = await b.page();
    await startSync(p3, config({ versionUrl: 'http://127.0.0.1:9/api/schema/version', shapeUrl: 'http://127.0.0.1:9/v1/shape', liveUrl: undefined }));
    assert.equal(await ready(p3), true);
    assert.deepEqual(ids(await query(p3, 'SELECT id FROM test_items')), ids(seeded));
    await waitFor(p3, () => window.__ev.some((e) => e.type === 'STATUS' && e.phase === 'offline'));
    await p3.close();
    await new Promise((r) => setTimeout(r, 300));
    // Online again, two tabs; a reset reaches both as manual_reset, then the rows come back.
    const p4 = await b.page();
    const p5 = await b.page();
    await startSync(p4, config());
    await startSync(p5, config());
    await ready(p4);
    await ready(p5);
    await waitFor(p4, () => window.__sync.status.test_items?.phase === 'live');
    await p4.evaluate(() => window.__sync.resetLocal());
    for (const p of [p4, p5]) {
      await waitFor(p, () => window.__ev.some((e) => e.type === 'SCHEMA_RESET'));
      const [ev] = await events(p, 'SCHEMA_RESET');
      assert.equal(ev.reason, 'manual_reset');
      assert.equal(ev.oldVersion, ev.newVersion);
    }
    await waitFor(p5, ([n]) => {
      const i = window.__ev.findIndex((e) => e.type === 'SCHEMA_RESET');
      return window.__ev.slice(i).filter((e) => e.type === 'DATA_CHANGE').flatMap((e) => e.changes.insert).length === n;
    }, [seeded.length]);
    assert.deepEqual(ids(await query(p5, 'SELECT id FROM test_items')), ids(seeded));
    await assert.rejects(query(p5, 'DELETE FROM test_items'), /read-only|not a read-only|EREADONLY|refused/i);
  } catch (e) {
    console.error(b.logs.join('\n'));
    throw e;
  } finally {
    await b.close();
  }
});

test('without SharedWorker: dedicated workers elect a leader; a follower takes over when it closes', async () => {
  const b = await openContext(backend.staticBase, { noSharedWorker: true });
  try {
    const { p1, p2, seeded } = await liveSyncAcrossTabs(b, 'fallback');
    assert.equal(await p1.evaluate(() => typeof window.SharedWorker), 'undefined');
    // A live query of the follower, served by the leader.
    await p2.evaluate(() => { window.__rows = []; window.__sync.liveQuery('SELECT id FROM test_items', [], (r) => window.__rows.push(r.length)); });
    await waitFor(p2, ([n]) => window.__rows.at(-1) === n, [seeded.length]);
    // p1 leads (it asked first). Close it: p2's worker gets the lock, loads IndexedDB, syncs on,
    // and runs the live query p2 subscribed to again.
    await p1.close();
    const id = randomUUID();
    const { txid } = await backend.insert({ id, title: 'after the leader left' });
    await waitFor(p2, hasInsert, [id], 20000);
    await p2.evaluate((t) => window.__sync.awaitTxId(t), txid);
    await waitFor(p2, ([n]) => window.__rows.at(-1) === n, [seeded.length + 1]);
    const rows = await query(p2, 'SELECT id FROM test_items');
    assert.deepEqual(ids(rows), ids([...seeded, { id }]));
  } catch (e) {
    console.error(b.logs.join('\n'));
    throw e;
  } finally {
    await b.close();
  }
});

test('the library\'s own defaults in the browser: shapes required, database electric-sync', async () => {
  const b = await openContext(backend.staticBase);
  try {
    const seeded = await seed(2);
    const p = await b.page();
    const thrown = await p.evaluate(async () => {
      const { useElectricSync } = await import('/electric-sync.js');
      try { useElectricSync({ versionUrl: '/api/schema/version' }); } catch (e) { return `${e.name}: ${e.message}`; }
      return 'no error';
    });
    assert.match(thrown, /^TypeError: useElectricSync: options\.shapes is required/);
    const { dbName, ...noName } = config();
    assert.equal(dbName, 'docpal-electric');
    await startSync(p, noName);
    assert.equal(await ready(p), true);
    assert.deepEqual(ids(await query(p, 'SELECT id FROM test_items')), ids(seeded));
    const names = await p.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
    assert.deepEqual(names, ['electric-sync']);
  } catch (e) {
    console.error(b.logs.join('\n'));
    throw e;
  } finally {
    await b.close();
  }
});
