// The tab API in headless Chromium, with the real SharedWorker and IndexedDB and, for the same
// cases, the dedicated-worker fallback (SharedWorker removed): read-your-writes (awaitTxId), live
// queries, reads that wait for their table across a reset, credentials refused and refreshed,
// shapes added by a later tab and a conflicting definition. Pages on the real server's origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startBackend } from '../../wasm-tests/support/backend.js';
import { startAuthProxy } from '../../wasm-tests/support/auth-proxy.js';
import { openContext, startSync, ready, query, events, waitFor } from './browser.js';

let backend;
before(async () => { backend = await startBackend({ static: true }); });
after(async () => { await backend?.stop(); });

const SHAPES = [{ name: 'test_items', table: 'test_items' }];
const config = (extra = {}) => ({
  shapes: SHAPES, dbName: 'docpal-electric',
  shapeUrl: backend.shapeUrl, liveUrl: backend.liveUrl, versionUrl: backend.versionUrl, ...extra,
});
const ids = (rows) => rows.map((r) => r.id).sort();
const MODES = [['SharedWorker', {}], ['dedicated fallback', { noSharedWorker: true }]];

async function seed(n) {
  await backend.clear();
  const rows = [];
  for (let i = 0; i < n; i++) rows.push(await backend.insert({ id: randomUUID(), title: `seed ${i}` }));
  return rows;
}

// A write made by the page itself through the REST API; returns its body (with txid).
const post = (page, row) => page.evaluate(async (r) => (await fetch('/api/test-items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(r) })).json(), row);
const awaitTxId = (page, txid, timeoutMs) => page.evaluate(([t, ms]) => window.__sync.awaitTxId(t, ms ? { timeoutMs: ms } : undefined).then(() => 'ok', (e) => `${e.code}: ${e.message}`), [txid, timeoutMs]);
// Live queries of the page: window.__live[name] holds every result.
const live = (page, name, sql, params) => page.evaluate(([n, s, p]) => {
  window.__live = window.__live || {};
  window.__live[n] = [];
  window.__liveErr = window.__liveErr || {};
  window.__unlive = window.__unlive || {};
  window.__unlive[n] = window.__sync.liveQuery(s, p, (rows) => window.__live[n].push(rows), (e) => { window.__liveErr[n] = `${e.code}: ${e.message}`; });
}, [name, sql, params]);
const liveCalls = (page, name) => page.evaluate((n) => window.__live[n], name);

async function withContext(opts, fn) {
  const b = await openContext(backend.staticBase, opts);
  try {
    await fn(b);
  } catch (e) {
    console.error(b.logs.join('\n'));
    throw e;
  } finally {
    await b.close();
  }
}

for (const [mode, opts] of MODES) {
  test(`${mode}: a write's txid awaited in a second tab, then read there; a txid that never comes: TIMEOUT`, async (t) => {
    if (backend.kind !== 'real') return t.skip('needs the real server');
    await seed(3);
    await withContext(opts, async (b) => {
      const p1 = await b.page();
      const p2 = await b.page();
      await startSync(p1, config());
      await startSync(p2, config());
      await ready(p1);
      await ready(p2);
      const id = randomUUID();
      const row = await post(p1, { id, title: 'from tab 1' });
      assert.match(row.txid, /^[0-9]+$/);
      assert.equal(await awaitTxId(p2, row.txid), 'ok');
      const seen = await p2.evaluate((i) => window.__ev.some((e) => e.type === 'DATA_CHANGE' && e.changes.insert.some((r) => r.id === i)), id);
      assert.equal(seen, true, 'the DATA_CHANGE came before awaitTxId resolved');
      assert.deepEqual(await query(p2, 'SELECT id, title FROM test_items WHERE id = ?', [id]), [{ id, title: 'from tab 1' }]);
      const t0 = Date.now();
      assert.match(await awaitTxId(p1, '4000000000', 300), /^TIMEOUT: /);
      assert.ok(Date.now() - t0 >= 290);
    });
  });

  test(`${mode}: a live query runs after a write to its table, not after a write to another shape's table; a second tab adds that shape; a conflicting definition: SHAPE_CONFLICT`, async (t) => {
    if (backend.kind !== 'real') return t.skip('needs the real server');
    const seeded = await seed(4);
    await backend.createOther(3);
    await withContext(opts, async (b) => {
      const p1 = await b.page();
      await startSync(p1, config());
      await ready(p1);
      await live(p1, 'items', 'SELECT id, title FROM test_items ORDER BY id', []);
      await waitFor(p1, () => window.__live.items.length === 1);
      assert.deepEqual(ids((await liveCalls(p1, 'items'))[0]), ids(seeded));

      // A second tab names one more shape: it is added, and its rows come.
      const p2 = await b.page();
      await startSync(p2, config({ shapes: [...SHAPES, { name: 'other', table: backend.other }] }));
      await ready(p2);
      assert.deepEqual((await query(p2, `SELECT id FROM ${backend.other} ORDER BY id`)).map((r) => r.id), [1, 2, 3]);
      await waitFor(p1, () => window.__sync.status.other?.phase === 'live');

      // A write to the other shape's table: the live query of tab 1 is not called.
      const txid = await backend.insertOther(4, 'four');
      assert.equal(await awaitTxId(p1, txid), 'ok');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await liveCalls(p1, 'items')).length, 1);
      // A write to test_items: called.
      const id = randomUUID();
      const row = await post(p2, { id, title: 'live' });
      assert.equal(await awaitTxId(p1, row.txid), 'ok');
      await waitFor(p1, ([i]) => window.__live.items.length === 2 && window.__live.items[1].some((r) => r.id === i), [id]);

      // The same name with another definition.
      const p3 = await b.page();
      await startSync(p3, config({ shapes: [{ name: 'test_items', table: 'test_items', where: 'completed = true' }] }));
      const got = await p3.evaluate(() => window.__sync.ready.then(() => 'ready', (e) => `${e.code}: ${e.message}`));
      assert.match(got, /^SHAPE_CONFLICT: /);
      assert.equal((await query(p1, 'SELECT count(*) AS n FROM test_items'))[0].n, 5);
    });
  });

  test(`${mode}: 20 queries issued in a loop across resetLocal() all resolve with rows`, async (t) => {
    if (backend.kind !== 'real') return t.skip('needs the real server');
    const seeded = await seed(10);
    await withContext(opts, async (b) => {
      const p = await b.page();
      await startSync(p, config());
      const first = await p.evaluate(() => window.__sync.query('SELECT id FROM test_items')); // before the first sync
      assert.deepEqual(ids(first), ids(seeded));
      await ready(p);
      const results = await p.evaluate(async () => {
        const qs = [];
        const reset = window.__sync.resetLocal();
        for (let i = 0; i < 20; i++) {
          qs.push(window.__sync.query('SELECT id FROM test_items').then((rows) => rows.length, (e) => `${e.code}: ${e.message}`));
          await new Promise((r) => setTimeout(r, i % 4 === 0 ? 0 : 3));
        }
        await reset;
        return Promise.all(qs);
      });
      assert.deepEqual(results, Array(20).fill(seeded.length));
      assert.equal((await events(p, 'SCHEMA_RESET')).length, 1);
    });
  });
}

test('SharedWorker: an old txid resolves at once after a reload, offline', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  await seed(2);
  await withContext({}, async (b) => {
    const p1 = await b.page();
    await startSync(p1, config());
    await ready(p1);
    const row = await post(p1, { id: randomUUID(), title: 'before the reload' });
    assert.equal(await awaitTxId(p1, row.txid), 'ok');
    await p1.close();
    await new Promise((r) => setTimeout(r, 300));
    const p2 = await b.page();
    await startSync(p2, config({ versionUrl: 'http://127.0.0.1:9/api/schema/version', shapeUrl: 'http://127.0.0.1:9/v1/shape', liveUrl: undefined }));
    const ms = await p2.evaluate(async (txid) => {
      const t0 = performance.now();
      await window.__sync.awaitTxId(txid, { timeoutMs: 3000 });
      return performance.now() - t0;
    }, row.txid);
    assert.ok(ms < 1500, `${ms} ms`);
  });
});

// Credentials in the page: `headers` (SharedWorker) or `params` (fallback) as functions reading
// window.__token; the proxy in front of the server accepts only its current token.
for (const [mode, opts, kind] of [['SharedWorker', {}, 'headers'], ['dedicated fallback', { noSharedWorker: true }, 'params']]) {
  test(`${mode}: a 401 with ${kind} that the tab then refreshes resumes without SCHEMA_RESET and without downloading the rows again`, async (t) => {
    if (backend.kind !== 'real') return t.skip('needs the real server');
    await backend.seedMany(1000);
    const proxy = await startAuthProxy(backend.base, { valid: 't1' });
    try {
      await withContext(opts, async (b) => {
        const p = await b.page();
        await p.evaluate(async ([cfg, k]) => {
          const { useElectricSync } = await import('/electric-sync.js');
          window.__token = 't1';
          window.__ev = [];
          const fn = k === 'headers' ? () => ({ authorization: `Bearer ${window.__token}` }) : async () => ({ token: window.__token });
          window.__sync = useElectricSync({ ...cfg, [k]: fn });
          for (const ty of ['DATA_CHANGE', 'SCHEMA_RESET', 'STATUS']) window.__sync.on(ty, (m) => window.__ev.push(m));
        }, [config({ shapeUrl: `${proxy.base}/v1/shape`, liveUrl: undefined }), kind]);
        await ready(p);
        const snapshotBytes = proxy.bytes;
        assert.ok(snapshotBytes > 100000, `snapshot ${snapshotBytes} B`);
        const before = proxy.requests.length;
        proxy.valid = 't2';
        // Ends the long-poll in flight (if it got through before the token expired: then this
        // row arrives now, otherwise after the refresh); the next request is refused.
        const r1 = await post(p, { id: randomUUID(), title: 'ends the long-poll' });
        await waitFor(p, () => window.__sync.status.test_items.phase === 'unauthorized');
        const r2 = await post(p, { id: randomUUID(), title: 'while unauthorized' });
        await p.evaluate(() => { window.__token = 't2'; return window.__sync.refreshAuth(); });
        assert.equal(await awaitTxId(p, r1.txid, 10000), 'ok');
        assert.equal(await awaitTxId(p, r2.txid, 10000), 'ok');
        await waitFor(p, () => window.__sync.status.test_items.phase === 'live');
        assert.equal((await events(p, 'SCHEMA_RESET')).length, 0);
        const after = proxy.requests.slice(before);
        assert.deepEqual(after.filter((r) => r.offset === '-1'), []);
        const bytes = after.reduce((n, r) => n + r.bytes, 0);
        assert.ok(bytes < snapshotBytes / 20, `${bytes} B after the 401 (snapshot ${snapshotBytes} B)`);
        assert.equal((await query(p, 'SELECT count(*) AS n FROM test_items'))[0].n, 1002);
      });
    } finally {
      await proxy.stop();
    }
  });
}
