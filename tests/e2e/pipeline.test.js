// The worker's pipeline in headless Chromium on the real server (issue 12): the demo page's
// progress bar during an initial sync of many responses (snapshot chunks of 64 KiB), and a large
// DATA_CHANGE delivered to two tabs equal to the replica (it travels as JSON bytes, see
// docs/contracts.md §6), with no page error on the way.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend } from '../../wasm-tests/support/backend.js';
import { openContext, startSync, ready, query, events } from './browser.js';

process.env.ESYNC_CHUNK_BYTES = '65536';
const ROWS = 5000;
let backend;
before(async () => {
  // Rows another run left (a 1M-row benchmark shares this database) would make the server's
  // first probe of /v1/shape write its whole snapshot in 64 KiB chunks: start from none.
  const h = await import('../server/helpers.js');
  await h.prepareDatabase();
  await h.query('delete from test_items').catch(() => {}); // (no table yet: nothing to delete)
  backend = await startBackend({ static: true });
  await backend.seedMany(ROWS);
});
after(async () => { await backend?.stop(); });

test('/dev/sync-test: the progress bar follows the initial sync and is full once live', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  const b = await openContext(backend.staticBase);
  const errors = [];
  try {
    // Every text the progress line shows, recorded as the page changes it.
    await b.ctx.addInitScript(() => {
      window.__progress = [];
      document.addEventListener('DOMContentLoaded', () => {
        const el = document.getElementById('progress-text');
        new MutationObserver(() => window.__progress.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
      });
    });
    const p = await b.ctx.newPage();
    p.on('pageerror', (e) => errors.push(String(e)));
    await p.goto(`${backend.staticBase}/dev/sync-test`);
    await p.waitForFunction(() => document.querySelector('#phase').textContent === 'live', null, { timeout: 60000 });
    assert.equal(await p.$eval('#progress', (e) => e.value), 1);
    assert.equal(await p.textContent('#progress-text'), '100%');
    const seen = await p.evaluate(() => window.__progress);
    // While syncing: "<p>% of <total>" when the server announces its row count (ours does), else
    // "<rows> rows…" (Electric's server); then 100%. Either way it only goes up.
    const steps = seen.map((x) => {
      let m = /^(\d+)% of (\d+)$/.exec(x);
      if (m) return { frac: Number(m[1]) / 100, total: Number(m[2]) };
      m = /^(\d+) rows…$/.exec(x);
      return m ? { frac: Number(m[1]) / ROWS } : null;
    }).filter((x) => x);
    // (the first response's STATUS always goes out: the throttle lets the first one through)
    assert.ok(steps.some((x) => x.frac > 0 && x.frac < 1), `steps in between: ${seen}`);
    for (let i = 1; i < steps.length; i++) assert.ok(steps[i].frac >= steps[i - 1].frac, `progress went down: ${seen}`);
    for (const x of steps) if (x.total !== undefined) assert.ok(x.total >= ROWS * 0.5 && x.total <= ROWS * 2, `total ${x.total}`);
    assert.equal(seen.at(-1), '100%');
    assert.deepEqual(errors, []);
  } finally {
    await b.close();
  }
});

test('a large DATA_CHANGE reaches two tabs whole, equal to the replica', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  const b = await openContext(backend.staticBase);
  try {
    const cfg = { shapes: [{ name: 'test_items', table: 'test_items' }], dbName: 'pipeline-e2e', shapeUrl: backend.shapeUrl, liveUrl: backend.liveUrl, versionUrl: backend.versionUrl };
    const pages = [await b.page(), await b.page()];
    await Promise.all(pages.map((p) => startSync(p, cfg)));
    await Promise.all(pages.map((p) => ready(p)));
    const replica = (await query(pages[0], 'SELECT * FROM test_items', [])).sort((x, y) => (x.id < y.id ? -1 : 1));
    assert.equal(replica.length, ROWS);
    for (const p of pages) {
      await p.waitForFunction(() => window.__ev.some((e) => e.type === 'DATA_CHANGE'), null, { timeout: 20000 });
      const evs = await events(p, 'DATA_CHANGE');
      const rows = evs.flatMap((e) => e.changes.insert).sort((x, y) => (x.id < y.id ? -1 : 1));
      assert.deepEqual(rows, replica);
      for (const e of evs) assert.equal(e.changesJson, undefined);
    }
    assert.deepEqual(b.logs.filter((l) => /error/i.test(l)), []);
  } finally {
    await b.close();
  }
});
