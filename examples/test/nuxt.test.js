// examples/nuxt as users get it: the package packed (npm pack of packages/electric-sync, its dist/
// from scripts/package.sh) and installed from the tarball into a scratch copy of the example
// (`npm ci` of the example's lock, then the tarball with --no-save: its integrity changes with every
// rebuild, so it is not in the lock), built with `nuxt build`, and its .output server started
// against the real electric-sync-server (production-ish: ELECTRIC_SECRET set, so /v1/shape needs it)
// and the private Postgres. Headless Chromium drives /dev/sync-test:
//   - plain GET: server-side rendered HTML, the loading state, no error, no secret
//   - the Nitro routes answer as electric-sync-server's REST API does; the proxy adds the secret
//   - two tabs: a row added in one appears in the other through useLiveQuery; awaitTxId
//     resolves in the writing tab before its list shows the row; edits and deletes likewise
//   - every tab closed, the shape service stopped: a new tab shows the replica's rows (offline)
//   - `nuxt dev` of the same app: the module serves the worker's files there too, the page syncs
// ESYNC_SCREENSHOT=<file.png> also saves a screenshot of the page. ESYNC_NUXT_APP=<dir>: use that
// app, already installed and built (its .output), instead of packing, installing and building.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBackend } from '../../wasm-tests/support/backend.js';
import { clusterUrl, freePort } from '../../tests/server/helpers.js';
import { openContext, waitFor, workerName } from '../../tests/e2e/browser.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = path.join(root, 'packages/electric-sync');
const example = path.join(root, 'examples/nuxt');
const SECRET = 'nuxt-e2e-' + randomBytes(12).toString('hex');
const SEEDED = ['first seeded row', 'second seeded row', 'third seeded row'];
const timings = {};
let tmp, app, backend, nuxt, base, nuxtLog = '';

function timed(label, fn) {
  const t0 = Date.now();
  const r = fn();
  timings[label] = Date.now() - t0;
  return r;
}
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, NUXT_TELEMETRY_DISABLED: '1', CI: 'true' } });

const serverEnv = (port) => ({ ...process.env, PORT: String(port), HOST: '127.0.0.1', NITRO_PORT: String(port), NITRO_HOST: '127.0.0.1',
  DATABASE_URL: clusterUrl(), ELECTRIC_URL: backend.base, ELECTRIC_SECRET: SECRET, NUXT_TELEMETRY_DISABLED: '1',
  MIGRATIONS_DIR: path.join(root, 'db/migrations'), ESYNC_DEV: '1' });

// Resolves once `url` answers (any status); throws if `proc` exits first or after `ms`.
async function answers(url, proc, log, ms) {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (proc.exitCode !== null) throw new Error(`the Nuxt server exited ${proc.exitCode}:\n${log()}`);
    const r = await fetch(url).catch(() => null);
    if (r) { await r.arrayBuffer(); return; }
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`the Nuxt server did not answer:\n${log()}`);
}

async function startNuxt() {
  const port = await freePort();
  nuxt = spawn(process.execPath, [path.join(app, '.output/server/index.mjs')], { cwd: app, env: serverEnv(port), stdio: ['ignore', 'pipe', 'pipe'] });
  for (const s of [nuxt.stdout, nuxt.stderr]) { s.setEncoding('utf8'); s.on('data', (d) => { nuxtLog += d; }); }
  base = `http://127.0.0.1:${port}`;
  await answers(`${base}/api/schema/version`, nuxt, () => nuxtLog, 20000);
}

before(async () => {
  assert.ok(fs.existsSync(path.join(pkg, 'dist/wasm/electric-sync.wasm')), 'packages/electric-sync/dist is built (bash scripts/package.sh)');
  const t0 = Date.now();
  if (process.env.ESYNC_NUXT_APP) app = path.resolve(process.env.ESYNC_NUXT_APP);
  else buildApp();
  process.env.ELECTRIC_SECRET = SECRET;   // the shape service requires it (the backend passes its env on)
  backend = await startBackend();
  await backend.clear();
  for (const title of SEEDED) await backend.insert({ id: randomUUID(), title });
  await startNuxt();
  timings.setup = Date.now() - t0;
});

// Packs the package, installs the example from its lock and the tarball into a scratch copy, builds it.
function buildApp() {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'esync-nuxt-'));
  const tarball = path.join(tmp, execFileSync('npm', ['pack', '--silent', '--pack-destination', tmp], { cwd: pkg, encoding: 'utf8' }).trim().split('\n').pop());
  app = path.join(tmp, 'app');
  const skip = new Set(['node_modules', '.nuxt', '.output', '.data']);
  fs.cpSync(example, app, { recursive: true, filter: (src) => !skip.has(path.basename(src)) });
  const npmFlags = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];
  timed('npm ci', () => run('npm', ['ci', ...npmFlags], app));
  timed('npm install tarball', () => run('npm', ['install', '--no-save', ...npmFlags, tarball], app));
  timed('nuxt build', () => run(path.join(app, 'node_modules/.bin/nuxt'), ['build'], app));
}

after(async () => {
  if (nuxt && nuxt.exitCode === null) {
    const exited = new Promise((r) => nuxt.on('exit', r));
    nuxt.kill('SIGTERM');
    await exited;
  }
  await backend?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  console.error(`nuxt example: ${Object.entries(timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ')}`);
});

const json = async (method, p, body) => {
  const r = await fetch(base + p, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, type: r.headers.get('content-type') || '', body: await r.json() };
};

test('the example\'s Drizzle schema is the repository\'s', () => {
  const body = (f) => fs.readFileSync(f, 'utf8').slice(fs.readFileSync(f, 'utf8').indexOf('import '));
  assert.equal(body(path.join(example, 'server/db/schema/test-items.ts')), body(path.join(root, 'db/schema/test-items.ts')));
});

test('the module\'s types: electricSync in nuxt.config, a wrong option refused', () => {
  fs.writeFileSync(path.join(app, 'usage-nuxt.ts'), `import type { NuxtConfig } from 'nuxt/schema';
import electricSyncModule, { type ModuleOptions } from 'electric-sync/nuxt';
const options: ModuleOptions = { shapes: [{ name: 'todos', table: 'todos' }], shapeUrl: '/api/electric/v1/shape', dbName: 'app', base: '/sync/' };
export const config: NuxtConfig = { modules: [electricSyncModule], electricSync: options };
// @ts-expect-error dbName is a string
export const bad: ModuleOptions = { dbName: 1 };
// @ts-expect-error functions (headers) do not go through nuxt.config
export const bad2: NuxtConfig = { electricSync: { headers: { authorization: 'x' } } };
`);
  fs.writeFileSync(path.join(app, 'tsconfig.usage.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'ESNext',
    moduleResolution: 'Bundler', strict: true, noEmit: true, skipLibCheck: true, lib: ['ES2022', 'DOM'], types: [] }, files: ['usage-nuxt.ts'] }));
  try {
    execFileSync(path.join(root, 'node_modules/.bin/tsc'), ['-p', path.join(app, 'tsconfig.usage.json')], { stdio: 'inherit' });
  } finally {
    for (const f of ['usage-nuxt.ts', 'tsconfig.usage.json']) fs.rmSync(path.join(app, f), { force: true });
  }
});

test('server-side rendering of /dev/sync-test: HTML with the loading state, no error, no secret', async () => {
  const r = await fetch(`${base}/dev/sync-test`);
  const html = await r.text();
  assert.equal(r.status, 200, html.slice(0, 2000));
  assert.match(r.headers.get('content-type'), /^text\/html/);
  assert.match(html, /<h1[^>]*>Sync test<\/h1>/);
  assert.match(html, /id="phase"[^>]*>opening</);
  assert.match(html, /id="count"[^>]*>loading…</);
  assert.doesNotMatch(html, /<li[^>]*data-id/, 'no rows on the server');
  assert.doesNotMatch(html, /__NUXT_ERROR__|statusCode":5\d\d|error:\s*\{/i);
  assert.ok(html.includes('test_items') && html.includes('nuxt-example'), 'the module\'s options are in the public runtime config');
  assert.ok(!html.includes(SECRET), 'the secret is not in the page');
  assert.doesNotMatch(nuxtLog, /\[(nuxt|nitro|request error|unhandled)/i, nuxtLog);
});

test('the Nitro routes answer like electric-sync-server\'s REST API; the proxy adds the secret', async () => {
  // the same schema version as the shape service computes
  const v = await json('GET', '/api/schema/version');
  const theirs = await (await fetch(`${backend.base}/api/schema/version`)).json();
  assert.equal(v.status, 200);
  assert.deepEqual(v.body, theirs);
  assert.equal(v.body.version, '0000_test_items');

  const created = await json('POST', '/api/test-items', { title: 'rest row', completed: true });
  assert.equal(created.status, 201);
  assert.deepEqual(Object.keys(created.body), ['id', 'title', 'description', 'completed', 'created_at', 'updated_at', 'txid']);
  assert.match(created.body.txid, /^\d+$/);
  assert.match(created.body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$/);
  const theirsRow = await backend.insert({ title: 'rest row 2' });
  assert.deepEqual(Object.keys(created.body), Object.keys(theirsRow));
  const updated = await json('PUT', `/api/test-items/${created.body.id}`, {});
  assert.equal(updated.status, 200);
  assert.ok(updated.body.updated_at > created.body.updated_at, 'updated_at advances');
  assert.ok(BigInt(updated.body.txid) > BigInt(created.body.txid));
  const deleted = await json('DELETE', `/api/test-items/${created.body.id}`);
  assert.deepEqual(Object.keys(deleted.body), ['id', 'txid']);
  assert.equal(deleted.body.id, created.body.id);
  await backend.delete(theirsRow.id);
  // errors in the envelope
  assert.deepEqual((await json('POST', '/api/test-items', { title: '' })).body.error.code, 'invalid_body');
  assert.equal((await json('PUT', `/api/test-items/${randomUUID()}`, { title: 'x' })).status, 404);
  assert.deepEqual((await json('DELETE', '/api/test-items/not-a-uuid')).body, { error: { code: 'invalid_id', message: 'the id is not a canonical UUID' } });
  const noType = await fetch(`${base}/api/test-items`, { method: 'POST', body: '{"title":"x"}' });
  assert.equal(noType.status, 415);
  assert.equal((await json('POST', '/api/dev/seed', { count: 0 })).status, 400);

  // the shape service refuses a request without the secret; the proxy adds it
  assert.equal((await fetch(`${backend.base}/v1/shape?table=test_items&offset=-1`)).status, 401);
  const shape = await fetch(`${base}/api/electric/v1/shape?table=test_items&offset=-1&secret=wrong`);
  assert.equal(shape.status, 200);
  assert.ok(shape.headers.get('electric-handle'));
  const body = await shape.text();
  assert.ok(!body.includes(SECRET) && ![...shape.headers.values()].some((h) => h.includes(SECRET)));
  assert.equal((await fetch(`${base}/api/electric/v1/shape?table=other_items&offset=-1`)).status, 403);
  assert.equal((await fetch(`${base}/api/electric/v1/shape?table=test_items&table=other_items&offset=-1`)).status, 403);

  // the worker's files: Nitro public assets at /electric-sync/, not cached for long
  const wasm = await fetch(`${base}/electric-sync/wasm/electric-sync.wasm`);
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  assert.equal(wasm.headers.get('cache-control'), 'no-cache');
  assert.deepEqual(Buffer.from(await wasm.arrayBuffer()), fs.readFileSync(path.join(pkg, 'dist/wasm/electric-sync.wasm')));
  assert.equal((await fetch(`${base}/electric-sync/electric-sync.worker.js`)).status, 200);
  // the client build points the tab library's default worker URL there, and bundles no worker
  const assets = fs.readdirSync(path.join(app, '.output/public/_nuxt'));
  assert.ok(!assets.some((f) => /worker|\.wasm$/.test(f)), `no bundled or hashed worker/wasm in _nuxt/: ${assets.join(' ')}`);
  const js = assets.filter((f) => f.endsWith('.js')).map((f) => fs.readFileSync(path.join(app, '.output/public/_nuxt', f), 'utf8')).join('\n');
  assert.ok(/[`'"]\/electric-sync\/electric-sync\.worker\.js[`'"]/.test(js), 'the default worker URL is /electric-sync/electric-sync.worker.js');
  assert.ok(!js.includes(SECRET));
});

// The worker's awaitTxId counters (STATS over a port of the page's own to its SharedWorker: the
// tab library's URL and name, `electric-sync:<dbName>:<storage format>`).
const WORKER_NAME = workerName('nuxt-example');
const txidStats = (page) => page.evaluate((name) => new Promise((resolve) => {
  const w = new SharedWorker(new URL('/electric-sync/electric-sync.worker.js', location.href), { name });
  const id = Math.random();
  w.port.onmessage = (ev) => { if (ev.data.id === id) { w.port.close(); resolve(ev.data.value.txids); } };
  w.port.postMessage({ type: 'STATS', id });
}), WORKER_NAME);

const titles = (page) => page.evaluate(() => [...document.querySelectorAll('#rows li .title')].map((e) => e.textContent));
const waitTitles = (page, fn, timeout = 30000) => waitFor(page, fn, undefined, timeout);

test('two tabs: a write in one shows in the other; awaitTxId resolves, then the row is shown; offline reload', { timeout: 180000 }, async () => {
  const b = await openContext(base);
  const requests = [];
  b.ctx.on('request', (r) => requests.push(r.url()));
  try {
    const a = await b.ctx.newPage();
    a.on('console', (m) => b.logs.push(`A: ${m.text()}`));
    a.on('pageerror', (e) => b.logs.push(`A: ${e}`));
    await a.goto(`${base}/dev/sync-test`);
    await waitFor(a, () => document.getElementById('phase').textContent === 'live', undefined, 30000);
    const expected = (await backend.rows()).length;
    await waitFor(a, (n) => document.querySelectorAll('#rows li').length === n, expected, 30000);
    assert.deepEqual((await titles(a)).filter((t) => t.includes('seeded')), SEEDED);
    const bTab = await b.ctx.newPage();
    bTab.on('pageerror', (e) => b.logs.push(`B: ${e}`));
    await bTab.goto(`${base}/dev/sync-test`);
    await waitFor(bTab, (n) => document.querySelectorAll('#rows li').length === n, expected, 30000);

    // add in A
    const tx0 = await txidStats(a);
    await a.fill('#title', 'written in tab A');
    await a.click('#add button[type=submit]');
    await waitFor(a, () => (window.__syncTestLog || []).some((e) => e.event === 'synced' && e.title === 'written in tab A'));
    const log = await a.evaluate(() => window.__syncTestLog.filter((e) => e.title === 'written in tab A'));
    const synced = log.find((e) => e.event === 'synced');
    const order = log.map((e) => e.event);
    assert.ok(order.indexOf('txid') < order.indexOf('synced'), order.join(' '));
    // The write may be durable in this browser before the page's awaitTxId request reaches the
    // worker (the POST's answer and the shape stream race): the worker answers at once, and the
    // list may already show the row. When the request waited for the commit, awaitTxId resolves
    // before the live query's new rows are shown. The worker's counters say which it was.
    const tx1 = await txidStats(a);
    const waited = tx1.afterWait - tx0.afterWait, atOnce = tx1.atOnce - tx0.atOnce;
    assert.equal(waited + atOnce, 1, `one awaitTxId answered: ${JSON.stringify({ tx0, tx1 })}`);
    if (atOnce) console.log(`# the write was durable before awaitTxId reached the worker: ${order.join(' ')}`);
    else {
      assert.equal(synced.shown, false, `awaitTxId resolved before the list showed the row: ${order.join(' ')}`);
      assert.ok(order.indexOf('synced') < order.indexOf('shown'), `awaitTxId resolves before the row is shown: ${order.join(' ')}`);
    }
    assert.match(await a.textContent('#last-write'), /^added: txid \d+ in the replica after/);
    await waitTitles(bTab, () => [...document.querySelectorAll('#rows li .title')].some((e) => e.textContent === 'written in tab A'));
    if (process.env.ESYNC_SCREENSHOT) {
      await a.setViewportSize({ width: 900, height: 560 });
      await a.screenshot({ path: process.env.ESYNC_SCREENSHOT });
    }

    // edit in B (rename and complete), seen in A
    const id = await bTab.locator('#rows li', { hasText: 'written in tab A' }).getAttribute('data-id');
    const li = bTab.locator(`#rows li[data-id="${id}"]`);
    await li.locator('.edit-button').click();
    await li.locator('input.edit').fill('renamed in tab B');
    await li.locator('.save').click();
    await waitTitles(a, () => [...document.querySelectorAll('#rows li .title')].some((e) => e.textContent === 'renamed in tab B'));
    await bTab.locator('#rows li', { hasText: 'renamed in tab B' }).locator('input[type=checkbox]').click();
    await waitFor(a, () => [...document.querySelectorAll('#rows li.done .title')].some((e) => e.textContent === 'renamed in tab B'), undefined, 30000);
    assert.equal((await backend.rows()).find((r) => r.title === 'renamed in tab B').completed, true);

    // delete in A, gone in B and in Postgres
    await a.locator('#rows li', { hasText: 'renamed in tab B' }).locator('.delete').click();
    await waitTitles(bTab, () => ![...document.querySelectorAll('#rows li .title')].some((e) => e.textContent === 'renamed in tab B'));
    assert.ok(!(await backend.rows()).some((r) => r.title === 'renamed in tab B'));
    const before = await titles(a);
    assert.ok(requests.every((u) => !u.includes(SECRET)), 'no request of the pages carries the secret');

    // offline: every tab closed, the shape service stopped; a new tab shows the stored replica
    await a.close();
    await bTab.close();
    await backend.down();
    try {
      const c = await b.ctx.newPage();
      c.on('pageerror', (e) => b.logs.push(`C: ${e}`));
      await c.goto(`${base}/dev/sync-test`);
      await waitFor(c, (n) => document.querySelectorAll('#rows li').length === n, before.length, 30000);
      assert.deepEqual(await titles(c), before);
      await waitFor(c, () => document.getElementById('phase').textContent === 'offline', undefined, 30000);
      await c.close();
    } finally {
      await backend.up();
    }
    assert.deepEqual(b.logs.filter((l) => /error/i.test(l) && !/Failed to load resource|502|503|net::/.test(l)), []);
  } catch (e) {
    console.error(b.logs.join('\n'));
    console.error(nuxtLog);
    throw e;
  } finally {
    await b.close();
  }
});

test('nuxt dev: the module serves the worker\'s files, the page syncs', { timeout: 180000 }, async () => {
  const port = await freePort();
  const devBase = `http://127.0.0.1:${port}`;
  let log = '';
  // its own process group: `nuxt dev` runs the server in a child process
  const dev = spawn(path.join(app, 'node_modules/.bin/nuxt'), ['dev', '--port', String(port), '--host', '127.0.0.1'],
    { cwd: app, env: serverEnv(port), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  for (const s of [dev.stdout, dev.stderr]) { s.setEncoding('utf8'); s.on('data', (d) => { log += d; }); }
  const t0 = Date.now();
  try {
    await answers(`${devBase}/api/schema/version`, dev, () => log, 120000);
    const wasm = await fetch(`${devBase}/electric-sync/wasm/electric-sync.wasm`);
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.equal((await wasm.arrayBuffer()).byteLength, fs.statSync(path.join(pkg, 'dist/wasm/electric-sync.wasm')).size);
    const html = await (await fetch(`${devBase}/dev/sync-test`)).text();
    assert.match(html, /id="count"[^>]*>loading…</);
    const b = await openContext(devBase);
    try {
      const p = await b.page();
      await p.goto(`${devBase}/dev/sync-test`);
      const expected = (await backend.rows()).length;
      await waitFor(p, (n) => document.querySelectorAll('#rows li').length === n, expected, 60000);
      await waitFor(p, () => document.getElementById('phase').textContent === 'live', undefined, 30000);
    } catch (e) {
      console.error(b.logs.join('\n'));
      throw e;
    } finally {
      await b.close();
    }
    timings['nuxt dev test'] = Date.now() - t0;
  } catch (e) {
    console.error(log);
    throw e;
  } finally {
    const exited = new Promise((r) => dev.on('exit', r));
    process.kill(-dev.pid, 'SIGTERM');
    await exited;
  }
});
