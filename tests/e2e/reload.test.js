// A reload in the middle of a 100k-row initial sync, in headless Chromium (real SharedWorker,
// real IndexedDB) against the real server, whose snapshot is cut into small chunks here
// (ESYNC_CHUNK_BYTES) so that the worker checkpoints many times: the browser is closed while the
// sync runs, opened again on the same profile, and the sync resumes from the last durable
// checkpoint: no row delivered twice across the reload, none missing, the replica equal to
// Postgres, and the resumed session does not start from scratch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startBackend } from '../../wasm-tests/support/backend.js';
import { startSync, ready, query, waitFor } from './browser.js';

const ROWS = 100000;
process.env.ESYNC_CHUNK_BYTES = String(256 * 1024); // ~50 snapshot responses for 100k rows

let backend;
before(async () => { backend = await startBackend({ static: true }); });
after(async () => { await backend?.stop(); });

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
async function launch(dir) {
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ARGS,
  });
  await ctx.route(`${backend.staticBase}/__e2e.html`, (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>e2e</title>' }));
  const page = await ctx.newPage();
  await page.goto(`${backend.staticBase}/__e2e.html`);
  return { ctx, page };
}
const config = () => ({
  shapes: [{ name: 'test_items', table: 'test_items' }], dbName: 'reload-mid-sync',
  shapeUrl: backend.shapeUrl, liveUrl: backend.liveUrl, versionUrl: backend.versionUrl,
});
const inserted = (page) => page.evaluate(() => window.__ev.filter((e) => e.type === 'DATA_CHANGE').flatMap((e) => e.changes.insert.map((r) => r.id)));
const statuses = (page) => page.evaluate(() => window.__ev.filter((e) => e.type === 'STATUS' && e.shapeName === 'test_items'));

test('Chromium: a reload in the middle of a 100k-row initial sync resumes from the last checkpoint', async (t) => {
  if (backend.kind !== 'real') { t.skip('needs the real server (snapshot chunks)'); return; }
  await backend.seedMany(ROWS);
  // Session 1: until about a third of the rows are durable, then the browser goes away. The tab
  // sees that third only when its main thread gets to the STATUS: on a loaded machine the sync can
  // be over by then (nothing left to resume), so that attempt starts again on a new profile.
  let dir, first;
  for (let attempt = 1; ; attempt++) {
    dir = mkdtempSync(path.join(os.tmpdir(), 'esync-reload-'));
    const a = await launch(dir);
    await startSync(a.page, config());
    await waitFor(a.page, (n) => window.__ev.some((e) => e.type === 'STATUS' && e.phase === 'initial-sync' && e.rows >= n), ROWS / 3, 120000);
    first = await inserted(a.page);
    const phases1 = (await statuses(a.page)).map((s) => s.phase);
    await a.ctx.close();
    if (!phases1.includes('live')) break;
    rmSync(dir, { recursive: true, force: true });
    assert.ok(attempt < 3, 'session 1 ended before the first up-to-date (3 attempts)');
  }
  try {
    assert.ok(first.length > 0 && first.length < ROWS, `session 1 delivered ${first.length} rows`);

    // Session 2: the same profile; resumes, reaches up-to-date.
    const b = await launch(dir);
    try {
      await startSync(b.page, config());
      assert.equal(await ready(b.page), true);
      const second = await inserted(b.page);
      const seen = new Set(first);
      assert.equal(second.filter((id) => seen.has(id)).length, 0, 'no row delivered twice across the reload');
      assert.equal(new Set(second).size, second.length, 'no row delivered twice after the reload');
      // Resumed, not restarted: the rows stored before the reload (at least the ones delivered)
      // do not come again.
      assert.ok(second.length <= ROWS - first.length, `session 2 delivered ${second.length} rows, session 1 ${first.length}`);
      const [{ n }] = await query(b.page, 'SELECT count(*) AS n FROM test_items');
      assert.equal(n, ROWS);
      const [{ n: dup }] = await query(b.page, 'SELECT count(*) - count(DISTINCT id) AS n FROM test_items');
      assert.equal(dup, 0);
      const replicaIds = (await query(b.page, 'SELECT id FROM test_items ORDER BY id')).map((r) => r.id);
      const pgIds = (await backend.sql('SELECT id::text AS id FROM test_items')).rows.map((r) => r.id).sort();
      assert.deepEqual(replicaIds.slice().sort(), pgIds, 'the replica holds exactly the rows of Postgres');
    } finally {
      await b.ctx.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
