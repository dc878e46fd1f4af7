// The worker's wasm loader (ElectricSyncWorker.wasmLoader in web/electric-sync.worker.js), over real
// HTTP from a node server: it streams the compile from a response served as application/wasm,
// falls back to the bytes for another MIME type or where WebAssembly.compileStreaming is missing,
// fetches and compiles once however often it is started, and the engine it instantiates works.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ElectricSyncWorker } from './support/harness.js';
import { root } from './load.js';

const require = createRequire(import.meta.url);
const createModule = require(path.join(root, 'build/wasm/electric-sync.js'));
const wasm = readFileSync(path.join(root, 'build/wasm/electric-sync.wasm'));
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const quiet = { print: () => {}, printErr: () => {} };

let server, base;
const hits = new Map(); // path -> requests
before(async () => {
  server = createServer((req, res) => {
    hits.set(req.url, (hits.get(req.url) || 0) + 1);
    if (req.url === '/flaky' && hits.get('/flaky') === 1) { res.writeHead(503).end('busy'); return; }
    const type = { '/wasm': 'application/wasm', '/flaky': 'application/wasm', '/octet': 'application/octet-stream', '/charset': 'application/wasm; charset=binary' }[req.url];
    if (!type) { res.writeHead(404).end('no'); return; }
    res.writeHead(200, { 'content-type': type, 'content-length': wasm.length }).end(wasm);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(() => server.close());

const loader = (p, extra = {}) => ElectricSyncWorker.wasmLoader({ url: base + p, fetch: globalThis.fetch, ...extra });

async function engineWorks(M) {
  assert.equal(M.libversion(), version);
  const eng = new M.Engine('/loader.db', { seed: 1 });
  eng.defineShape('items', { table: 'items' });
  assert.equal(eng.compareShape('items', { table: 'items' }), 'same');
  eng.close();
  M.deleteDatabase('/loader.db');
}

test('application/wasm: compiled while streaming, once however often it is started', async () => {
  const l = loader('/wasm');
  const a = l.start(), b = l.start();
  assert.equal(a, b);
  await engineWorks(await l.load(createModule, quiet));
  const M = await l.load(createModule, quiet); // a second instance of the same compile
  await engineWorks(M);
  assert.equal(l.how, 'streaming');
  assert.equal(M.wasmCompile, 'streaming');
  assert.equal(hits.get('/wasm'), 1);
});

test('another MIME type, or application/wasm with a parameter: compiled from the bytes of the same response', async () => {
  for (const p of ['/octet', '/charset']) { // compileStreaming would reject both
    const l = loader(p);
    await engineWorks(await l.load(createModule, quiet));
    assert.equal(l.how, 'bytes');
    assert.equal(hits.get(p), 1);
  }
});

test('no WebAssembly.compileStreaming: compiled from the bytes', async () => {
  const { compile, instantiate } = WebAssembly;
  const l = loader('/wasm', { WebAssembly: { compile, instantiate } });
  await engineWorks(await l.load(createModule, quiet));
  assert.equal(l.how, 'bytes');
});

test('a failed download rejects load()', async () => {
  const l = loader('/missing');
  await assert.rejects(l.load(createModule, quiet), /HTTP 404/);
});

test('a failed attempt is not kept: the next load() fetches again', async () => {
  const l = loader('/flaky');
  await assert.rejects(l.load(createModule, quiet), /HTTP 503/);
  await engineWorks(await l.load(createModule, quiet));
  assert.equal(l.how, 'streaming');
  assert.equal(hits.get('/flaky'), 2);
});
