// electric-sync/vite in a real Vite app, installed as users get it: the package packed (npm pack of
// packages/electric-sync, dist/ from scripts/package.sh) and installed from the tarball into a
// scratch copy of packages/electric-sync/test/vite-app; Vite (the root's pinned version) builds and
// serves it with /api proxied to the real electric-sync-server; headless Chromium opens it.
//   build   `vite build` emits the worker, its scripts and wasm/ at /electric-sync/ unhashed (no
//           bundled or hashed copy of the worker in assets/); `vite preview` serves them; the
//           page's live query shows the shape's rows; the .wasm was fetched from /electric-sync/
//           as application/wasm.
//   dev     the `vite` dev server (the plugin's middleware) does the same.
// Skipped only when the package's dist/ is missing (npm test builds it first: npm run package).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview, createServer } from 'vite';
import { startBackend } from '../../wasm-tests/support/backend.js';
import { freePort } from '../server/helpers.js';
import { openContext, waitFor } from './browser.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = path.join(root, 'packages/electric-sync');
const built = fs.existsSync(path.join(pkg, 'dist/electric-sync.worker.js')) &&
  fs.existsSync(path.join(pkg, 'dist/wasm/electric-sync.wasm'));
const skip = built ? false : 'packages/electric-sync/dist is missing: run `npm run package` (npm test does)';
const TITLES = ['vite-one', 'vite-three', 'vite-two'];
let backend, tmp, app;

before(async () => {
  if (!built) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'esync-vite-'));
  const tarball = path.join(tmp, execFileSync('npm', ['pack', '--silent', '--pack-destination', tmp], { cwd: pkg, encoding: 'utf8' }).trim().split('\n').pop());
  app = path.join(tmp, 'app');
  fs.cpSync(path.join(pkg, 'test/vite-app'), app, { recursive: true });
  fs.writeFileSync(path.join(app, 'package.json'), '{"name":"vite-app","private":true,"type":"module"}\n');
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: app, stdio: 'inherit' });
  backend = await startBackend({ static: true });
  process.env.ESYNC_BACKEND = backend.base;
  await backend.clear();
  for (const title of TITLES) await backend.insert({ id: randomUUID(), title });
});
after(async () => {
  await backend?.stop();
  delete process.env.ESYNC_BACKEND;
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// Every answered request of an http server: { url, status, type }.
function logRequests(httpServer) {
  const log = [];
  httpServer.prependListener('request', (req, res) => {
    res.on('finish', () => log.push({ url: req.url, status: res.statusCode, type: String(res.getHeader('content-type') || '') }));
  });
  return log;
}

// Opens `base`/ in a fresh Chromium profile; the shape's rows must show through the live query.
async function showsRows(base) {
  const b = await openContext(base);
  try {
    const page = await b.page();
    await page.goto(`${base}/`);
    await waitFor(page, (n) => document.querySelectorAll('#rows li').length === n, TITLES.length, 30000);
    const rows = await page.evaluate(() => [...document.querySelectorAll('#rows li')].map((li) => li.textContent));
    assert.deepEqual(rows, TITLES);
    assert.equal(await page.evaluate(() => document.getElementById('phase').textContent), 'live');
  } catch (e) {
    console.error(b.logs.join('\n'));
    throw e;
  } finally {
    await b.close();
  }
}

function assertServedFromBase(log) {
  const wasm = log.find((r) => r.url.split('?')[0] === '/electric-sync/wasm/electric-sync.wasm');
  assert.ok(wasm, `the .wasm was not fetched from /electric-sync/: ${log.map((r) => r.url).join(' ')}`);
  assert.equal(wasm.status, 200);
  assert.equal(wasm.type, 'application/wasm');
  const worker = log.find((r) => r.url.split('?')[0] === '/electric-sync/electric-sync.worker.js');
  assert.ok(worker && worker.status === 200, 'the worker was loaded from /electric-sync/');
  assert.ok(log.some((r) => r.url.startsWith('/api/electric/v1/shape') && r.status === 200), 'the shape came through the proxy');
}

test('vite build + preview: the worker and the .wasm are emitted at /electric-sync/, rows arrive', { skip, timeout: 60000 }, async () => {
  const configFile = path.join(app, 'vite.config.js');
  await build({ root: app, configFile, logLevel: 'warn' });
  const out = path.join(app, 'dist');
  const files = fs.readdirSync(path.join(out, 'electric-sync'), { recursive: true }).map(String).sort();
  for (const f of ['electric-sync.worker.js', 'electric-sync.store.js', 'wasm/electric-sync.js', 'wasm/electric-sync.wasm']) {
    assert.ok(files.includes(f), `dist/electric-sync/${f} emitted (have: ${files.join(' ')})`);
  }
  assert.deepEqual(fs.readFileSync(path.join(out, 'electric-sync/wasm/electric-sync.wasm')),
    fs.readFileSync(path.join(pkg, 'dist/wasm/electric-sync.wasm')));
  const assets = fs.readdirSync(path.join(out, 'assets'));
  assert.ok(!assets.some((f) => /worker|\.wasm$/.test(f)), `no bundled/hashed worker or wasm in assets/: ${assets.join(' ')}`);
  const js = assets.filter((f) => f.endsWith('.js')).map((f) => fs.readFileSync(path.join(out, 'assets', f), 'utf8')).join('\n');
  assert.ok(/[`'"]\/electric-sync\/electric-sync\.worker\.js[`'"]/.test(js), 'the tab library\'s default worker URL is under base');

  const port = await freePort();
  const server = await preview({ root: app, configFile, preview: { port, strictPort: true, host: '127.0.0.1' }, logLevel: 'warn' });
  const log = logRequests(server.httpServer);
  try {
    await showsRows(`http://127.0.0.1:${port}`);
    assertServedFromBase(log);
  } finally {
    await server.close();
  }
});

test('vite dev server: the plugin serves the worker and the .wasm at /electric-sync/, rows arrive', { skip, timeout: 60000 }, async () => {
  const port = await freePort();
  const server = await createServer({ root: app, configFile: path.join(app, 'vite.config.js'), logLevel: 'warn',
    server: { port, strictPort: true, host: '127.0.0.1', hmr: false } });
  const log = logRequests(server.httpServer);
  await server.listen();
  try {
    await showsRows(`http://127.0.0.1:${port}`);
    assertServedFromBase(log);
  } finally {
    await server.close();
  }
});

test('vite build with a custom base under Vite\'s base; the plugin\'s types check against vite\'s Plugin', { skip, timeout: 60000 }, async () => {
  // the files land at outDir/<base>, the tab library points at Vite's base + base
  const { electricSync } = await import(path.join(app, 'node_modules/electric-sync/src/vite.js'));
  const outDir = path.join(app, 'dist-custom');
  await build({ root: app, configFile: false, base: '/app/', logLevel: 'warn',
    plugins: [electricSync({ base: 'static/sync' })], build: { outDir } });
  assert.ok(fs.existsSync(path.join(outDir, 'static/sync/electric-sync.worker.js')));
  assert.ok(fs.existsSync(path.join(outDir, 'static/sync/wasm/electric-sync.wasm')));
  const js = fs.readdirSync(path.join(outDir, 'assets')).filter((f) => f.endsWith('.js'))
    .map((f) => fs.readFileSync(path.join(outDir, 'assets', f), 'utf8')).join('\n');
  assert.ok(/[`'"]\/app\/static\/sync\/electric-sync\.worker\.js[`'"]/.test(js), 'the default worker URL is Vite\'s base + base');
  assert.throws(() => electricSync({ base: '../up' }), TypeError);

  // types: vite is the app's own; here the root's, linked in
  fs.symlinkSync(path.join(root, 'node_modules/vite'), path.join(app, 'node_modules/vite'), 'dir');
  fs.writeFileSync(path.join(app, 'usage-vite.ts'), `import type { Plugin } from 'vite';
import electricSyncDefault, { electricSync } from 'electric-sync/vite';
const p: Plugin = electricSync({ base: '/sync/' });
const q: Plugin = electricSyncDefault();
// @ts-expect-error base is a string
electricSync({ base: 1 });
export { p, q };
`);
  fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'ESNext',
    moduleResolution: 'Bundler', strict: true, noEmit: true, skipLibCheck: true, lib: ['ES2022', 'DOM'], types: [] }, files: ['usage-vite.ts'] }));
  execFileSync(path.join(root, 'node_modules/.bin/tsc'), ['-p', path.join(app, 'tsconfig.json')], { stdio: 'inherit' });
});
