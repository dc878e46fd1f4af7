// The package's framework bindings (electric-sync/vue, electric-sync/react) in headless Chromium
// with the real SharedWorker, loaded as an app loads them: the package's files (dist/ from
// scripts/package.sh, src/) under /pkg/, the tab library finding its worker beside itself (no
// workerUrl), vue's and react's browser builds from node_modules through an import map. The
// server serves a temporary web directory (ESYNC_WEB_DIR) holding web/, the package and the test
// page. A component using useLiveQuery sees a row written through REST; a reactive parameter
// change re-subscribes (one live query in the worker, not two); unmounting leaves none (STATS).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { startBackend } from '../../wasm-tests/support/backend.js';
import { openContext, waitFor, workerName } from './browser.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = path.join(root, 'packages/electric-sync');
let backend, webDir;

const PAGE = `<!doctype html><title>bindings</title>
<script type="importmap">{"imports": {"vue": "/vendor/vue.js", "react": "/vendor/react.js"}}</script>
<div id="app"></div>`;

before(async () => {
  execFileSync('bash', [path.join(root, 'scripts/package.sh')], { stdio: 'inherit' });
  webDir = fs.mkdtempSync(path.join(os.tmpdir(), 'esync-bindings-'));
  fs.cpSync(path.join(root, 'web'), webDir, { recursive: true });
  for (const d of ['dist', 'src']) fs.cpSync(path.join(pkg, d), path.join(webDir, 'pkg', d), { recursive: true });
  fs.mkdirSync(path.join(webDir, 'vendor'));
  fs.copyFileSync(path.join(root, 'node_modules/vue/dist/vue.esm-browser.prod.js'), path.join(webDir, 'vendor/vue.js'));
  // react ships CommonJS only: one ES module with what the hooks and the test use
  const entry = path.join(webDir, 'vendor/react-entry.js');
  fs.writeFileSync(entry, `import * as React from 'react';
import { createRoot } from 'react-dom/client';
export const { useEffect, useState, useSyncExternalStore, createElement } = React;
export { createRoot };
`);
  await build({ entryPoints: [entry], bundle: true, format: 'esm', outfile: path.join(webDir, 'vendor/react.js'),
    nodePaths: [path.join(root, 'node_modules')], define: { 'process.env.NODE_ENV': '"production"' }, logLevel: 'warning' });
  fs.writeFileSync(path.join(webDir, 'bindings.html'), PAGE);
  process.env.ESYNC_WEB_DIR = webDir;
  backend = await startBackend({ static: true });
});
after(async () => {
  await backend?.stop();
  delete process.env.ESYNC_WEB_DIR;
  if (webDir) fs.rmSync(webDir, { recursive: true, force: true });
});

const DB = 'bindings';
const config = () => ({ shapes: [{ name: 'test_items', table: 'test_items' }], dbName: DB });

// In the page: window.__stats() asks the worker for its counters over a port of its own (the
// same SharedWorker: the package's worker URL and name), window.__post writes through REST.
async function openPage(b) {
  const page = await b.page();
  await page.goto(`${backend.staticBase}/bindings.html`);
  await page.evaluate((name) => {
    const w = new SharedWorker(new URL('/pkg/dist/electric-sync.worker.js', location.href), { name });
    window.__stats = () => new Promise((resolve) => {
      const id = Math.random();
      w.port.onmessage = (ev) => { if (ev.data.id === id) resolve(ev.data.value); };
      w.port.postMessage({ type: 'STATS', id });
    });
    window.__post = async (row) => (await fetch('/api/test-items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(row) })).json();
  }, workerName(DB));
  return page;
}
const liveStats = async (page) => (await page.evaluate(() => window.__stats())).live;
async function until(cond, timeout = 10000) {
  const end = Date.now() + timeout;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
const text = (page) => page.evaluate(() => document.getElementById('app').textContent);

async function withPage(fn) {
  const b = await openContext(backend.staticBase);
  try {
    await fn(await openPage(b));
  } catch (e) {
    console.error(b.logs.join('\n'));
    throw e;
  } finally {
    await b.close();
  }
}

async function seed() {
  await backend.clear();
  await backend.insert({ id: randomUUID(), title: 'a-one' });
  await backend.insert({ id: randomUUID(), title: 'b-one' });
}

test('vue: useLiveQuery shows a REST write, re-subscribes on a ref change, unsubscribes on unmount', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  await seed();
  await withPage(async (page) => {
    await page.evaluate(async (cfg) => {
      const { createApp, h, ref } = await import('vue');
      const { useElectricSync, useLiveQuery, useSyncStatus } = await import('/pkg/src/vue.js');
      const prefix = ref('a-%');
      window.__prefix = prefix;
      const app = createApp({
        setup() {
          useElectricSync(cfg);
          const status = useSyncStatus();
          const { rows, isLoading, error } = useLiveQuery('SELECT title FROM test_items WHERE title LIKE ? ORDER BY title', [prefix]);
          return () => h('div', [
            h('p', isLoading.value ? 'loading' : `rows:${rows.value.map((r) => r.title).join(',')}`),
            h('p', `phase:${status.value.test_items?.phase}`),
            h('p', error.value ? `error:${error.value.code}` : ''),
          ]);
        },
      });
      app.mount('#app');
      window.__unmount = () => app.unmount();
    }, config());
    await waitFor(page, () => document.getElementById('app').textContent.includes('rows:a-one'));
    assert.match(await text(page), /phase:live/);
    const row = await page.evaluate(() => window.__post({ title: 'a-two' }));
    assert.match(row.txid, /^[0-9]+$/);
    await waitFor(page, () => document.getElementById('app').textContent.includes('rows:a-one,a-two'));
    assert.equal((await liveStats(page)).subscriptions, 1);

    await page.evaluate(() => { window.__prefix.value = 'b-%'; });
    await waitFor(page, () => document.getElementById('app').textContent.includes('rows:b-one'));
    const s = await liveStats(page);
    assert.equal(s.subscriptions, 1, 'the old parameters\' live query was dropped');
    assert.equal(s.queries, 1);

    await page.evaluate(() => window.__unmount());
    await until(async () => { const st = await liveStats(page); return st.subscriptions === 0 && st.queries === 0; });
    const end = await liveStats(page);
    assert.equal(end.subscriptions, 0);
    assert.equal(end.queries, 0);
  });
});

test('react: useLiveQuery shows a REST write, re-subscribes on new params, unsubscribes on unmount', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  await seed();
  await withPage(async (page) => {
    await page.evaluate(async (cfg) => {
      const { createElement: h, createRoot } = await import('react');
      const { useElectricSync, useLiveQuery, useSyncStatus } = await import('/pkg/src/react.js');
      function List({ prefix }) {
        useElectricSync(cfg);
        const status = useSyncStatus();
        const { rows, isLoading, error } = useLiveQuery('SELECT title FROM test_items WHERE title LIKE ? ORDER BY title', [prefix]);
        return h('div', null,
          h('p', null, isLoading ? 'loading' : `rows:${rows.map((r) => r.title).join(',')}`),
          h('p', null, `phase:${status.test_items?.phase}`),
          h('p', null, error ? `error:${error.code}` : ''));
      }
      const root = createRoot(document.getElementById('app'));
      window.__render = (prefix) => root.render(h(List, { prefix }));
      window.__unmount = () => root.unmount();
      window.__render('a-%');
    }, config());
    await waitFor(page, () => document.getElementById('app').textContent.includes('rows:a-one'));
    assert.match(await text(page), /phase:live/);
    await page.evaluate(() => window.__post({ title: 'a-two' }));
    await waitFor(page, () => document.getElementById('app').textContent.includes('rows:a-one,a-two'));
    assert.equal((await liveStats(page)).subscriptions, 1);

    await page.evaluate(() => window.__render('a-%')); // same values: no new subscription
    await page.evaluate(() => window.__render('b-%'));
    await waitFor(page, () => document.getElementById('app').textContent.includes('rows:b-one'));
    const s = await liveStats(page);
    assert.equal(s.subscriptions, 1, 'the old parameters\' live query was dropped');
    assert.equal(s.queries, 1);

    await page.evaluate(() => window.__unmount());
    await until(async () => { const st = await liveStats(page); return st.subscriptions === 0 && st.queries === 0; });
  });
});
