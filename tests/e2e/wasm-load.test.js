// The worker's wasm loading in Chromium, from electric-sync-server: the SharedWorker compiles the
// .wasm while it streams (served as application/wasm), and a revalidation of the cached .wasm is
// a 304 (its ETag), which lets Chromium reuse the code it compiled. The byte fallback (another
// MIME type, no compileStreaming) is wasm-tests/loader.test.js; the dedicated-worker fallback
// (which compiles once it leads) syncs in tests/e2e/worker.test.js.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend } from '../../wasm-tests/support/backend.js';
import { openContext, startSync, ready } from './browser.js';

let backend;
before(async () => { backend = await startBackend({ static: true }); });
after(async () => { await backend?.stop(); });

const DB = 'esync-wasm-load';
const config = () => ({
  shapes: [{ name: 'test_items', table: 'test_items' }], dbName: DB,
  shapeUrl: backend.shapeUrl, liveUrl: backend.liveUrl, versionUrl: backend.versionUrl,
});

// STATS over a port of its own to the page's SharedWorker (same URL and name as the tab library's).
// The worker's name carries the storage format of the tab library (WORKER_FORMAT).
const stats = (page) => page.evaluate(async (db) => {
  const fmt = (await import('/electric-sync.js')).WORKER_FORMAT;
  return new Promise((resolve) => {
  const w = new SharedWorker(new URL('/electric-sync.worker.js', location.href), { name: `electric-sync:${db}:${fmt}` });
  const id = Math.random();
  w.port.onmessage = (ev) => { if (ev.data.id === id) resolve(ev.data.value); };
  w.port.postMessage({ type: 'STATS', id });
  });
}, DB);

test('SharedWorker: the .wasm compiled while streaming; a revalidation of it is a 304', async () => {
  const b = await openContext(backend.staticBase);
  try {
    const page = await b.page();
    await startSync(page, config());
    assert.equal(await ready(page), true);
    const s = await stats(page);
    assert.equal(s.wasm, 'streaming', `worker logs: ${b.logs.join(' | ')}`);
    const r = await page.evaluate(async () => {
      const first = await fetch('/wasm/electric-sync.wasm', { cache: 'no-store' });
      const etag = first.headers.get('etag');
      const again = await fetch('/wasm/electric-sync.wasm', { cache: 'no-store', headers: { 'if-none-match': etag } });
      return { type: first.headers.get('content-type'), etag, status: again.status };
    });
    assert.equal(r.type, 'application/wasm');
    assert.ok(r.etag);
    assert.equal(r.status, 304);
  } finally {
    await b.close();
  }
});
