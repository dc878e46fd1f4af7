// The size budget of what a page ships (issue 12): the tab library, the worker bundle (the worker,
// its scripts and the emscripten glue) and the .wasm, each gzipped at level 9, at most 350 kB in
// all. Size is a deterministic property of the build, so it is checked like behaviour
// (bench/shipped.mjs prints the same table and writes bench/results/shipped.json). The minified
// bundle is the one scripts/package.sh ships, so it is also run here: every part is in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { shipped, BUDGET_BYTES } from '../bench/shipped.mjs';
import { shippedFiles, workerBundleSource, workerScripts } from '../scripts/bundle.mjs';

test('the bundle holds every script the worker loads and the glue, and runs minified', () => {
  const src = workerBundleSource();
  assert.ok(workerScripts().length >= 5);
  for (const f of [...workerScripts(), 'wasm/electric-sync.js', 'electric-sync.worker.js']) {
    assert.ok(src.includes(`\n// ---- ${f}\n`) || src.startsWith(`// ---- ${f}\n`), `${f} is in the bundle`);
  }
  const made = shippedFiles();
  const ctx = { ELECTRIC_SYNC_NO_AUTOSTART: true, console, TextDecoder, TextEncoder, URL, setTimeout, clearTimeout, queueMicrotask };
  ctx.self = ctx;
  vm.runInNewContext(made['electric-sync.worker.js'], ctx);
  const ns = ctx.ElectricSyncWorker;
  assert.equal(ns.bundled, true);
  assert.equal(typeof ns.createWorker, 'function');
  assert.equal(JSON.stringify(ns.SCRIPTS), JSON.stringify(workerScripts()));
  assert.equal(typeof ctx.createElectricSync, 'function', 'the engine loader is defined');
  assert.match(made['electric-sync.js'], /new URL\("\.\/electric-sync\.worker\.js",import\.meta\.url\)/, 'the Vite plugin finds the default worker URL');
});

test(`tab library + worker bundle + wasm, gzipped, within ${BUDGET_BYTES / 1000} kB`, () => {
  const s = shipped();
  for (const r of s.files) assert.ok(r.gzip_bytes > 0 && r.gzip_bytes < r.bytes, `${r.file} gzips`);
  const detail = s.files.map((r) => `${r.file} ${r.gzip_bytes}`).join(', ');
  assert.ok(s.total_gzip_bytes <= BUDGET_BYTES, `shipped ${s.total_gzip_bytes} bytes gzipped (${detail}) > ${BUDGET_BYTES}`);
  assert.ok(s.total_gzip_bytes < s.parts_gzip_bytes + s.files.find((r) => r.kind === 'wasm').gzip_bytes, 'the bundle is smaller than its parts');
});
