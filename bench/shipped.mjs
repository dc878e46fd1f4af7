// npm run bench, `shipped` part: what a page downloads to run electric-sync from the package, each
// file gzipped at level 9 (as `gzip -9`): the tab library (dist/electric-sync.js, minified), the
// worker bundle (dist/electric-sync.worker.js: the worker, every script of its SCRIPTS list and
// the emscripten glue — loader + bridge.js + memvfs.js — in one minified script) and the .wasm.
// Made here from web/ and build/wasm/ by scripts/bundle.mjs, the same code scripts/package.sh
// writes dist/ with, so no package build is needed. The readable parts are listed for scale.
// Prints a table and writes bench/results/shipped.json; wasm-tests/shipped.test.js holds the total
// to the budget below.
//   node bench/shipped.mjs [--json]      (needs `bash scripts/build.sh wasm` first)
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { root, shippedFiles, workerScripts, GLUE, WASM } from '../scripts/bundle.mjs';

// The budget of issue 12: wasm + worker JS + glue + tab library, gzipped: 350 kB (decimal).
export const BUDGET_BYTES = 350_000;
const gz = (b) => gzipSync(b, { level: 9 }).length;

// {files: [{file, kind, bytes, gzip_bytes}] of what a page fetches, parts: the readable sources of
// the bundle, total_bytes, total_gzip_bytes, budget_gzip_bytes}
export function shipped() {
  const made = shippedFiles();
  const files = [
    { file: 'dist/electric-sync.js', kind: 'tab library', body: made['electric-sync.js'] },
    { file: 'dist/electric-sync.worker.js', kind: 'worker + glue', body: made['electric-sync.worker.js'] },
    { file: 'dist/wasm/electric-sync.wasm', kind: 'wasm', body: readFileSync(WASM) },
  ].map(({ file, kind, body }) => ({ file, kind, bytes: Buffer.byteLength(body), gzip_bytes: gz(body) }));
  const parts = ['electric-sync.js', 'electric-sync.worker.js', ...workerScripts()].map((f) => path.join(root, 'web', f)).concat([GLUE])
    .map((f) => { const b = readFileSync(f); return { file: path.relative(root, f), bytes: b.length, gzip_bytes: gz(b) }; });
  const sum = (rows, k) => rows.reduce((a, r) => a + r[k], 0);
  return {
    files, parts, total_bytes: sum(files, 'bytes'), total_gzip_bytes: sum(files, 'gzip_bytes'),
    parts_gzip_bytes: sum(parts, 'gzip_bytes'), budget_gzip_bytes: BUDGET_BYTES,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const s = shipped();
  const kb = (n) => (n / 1000).toFixed(1).padStart(8);
  console.log('\nshipped to a page (kB = 1000 bytes; gzip -9)');
  console.log(['file'.padEnd(44), 'raw'.padStart(8), 'gzip'.padStart(8)].join(' '));
  for (const r of s.files) console.log([r.file.padEnd(44), kb(r.bytes), kb(r.gzip_bytes)].join(' '));
  console.log(['total'.padEnd(44), kb(s.total_bytes), kb(s.total_gzip_bytes)].join(' '));
  console.log(`  (the readable sources of the JS, each gzipped alone: ${kb(s.parts_gzip_bytes).trim()} kB)`);
  const ok = s.total_gzip_bytes <= BUDGET_BYTES;
  console.log(`${ok ? 'met ' : 'MISS'}  shipped <= ${BUDGET_BYTES / 1000} kB gzipped: ${s.total_gzip_bytes} bytes`);
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  writeFileSync(path.join(root, 'bench/results/shipped.json'), JSON.stringify({ date: new Date().toISOString(), ...s, goal_met: ok }, null, 2) + '\n');
  if (process.argv.includes('--json')) console.log(JSON.stringify(s));
}
