// npm run bench, `shipped` part: what a page ships to run electric-sync, each file gzipped at level 9
// (as `gzip -9`): the tab library (web/electric-sync.js), the worker and every script it loads (its
// SCRIPTS list is the truth), the emscripten glue (build/wasm/electric-sync.js: loader + bridge.js +
// memvfs.js) and the .wasm. Prints a table and writes bench/results/shipped.json.
// wasm-tests/shipped.test.js holds the total to the budget below.
//   node bench/shipped.mjs [--json]      (needs `bash scripts/build.sh wasm` first)
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// The budget of issue 12: wasm + worker JS + glue + tab library, gzipped.
export const BUDGET_BYTES = 350 * 1024;

// The worker's own list of parts, read by evaluating the worker file without starting it.
export function workerScripts() {
  const ctx = { ELECTRIC_SYNC_NO_AUTOSTART: true };
  ctx.self = ctx;
  vm.runInNewContext(readFileSync(path.join(root, 'web/electric-sync.worker.js'), 'utf8'), ctx);
  return ctx.ElectricSyncWorker.SCRIPTS.slice();
}

// [{file, kind, bytes, gzip_bytes}] for every file a page fetches, and their totals.
export function shipped() {
  const files = [
    ['web/electric-sync.js', 'tab library'],
    ['web/electric-sync.worker.js', 'worker'],
    ...workerScripts().map((f) => [`web/${f}`, 'worker']),
    ['build/wasm/electric-sync.js', 'glue'],
    ['build/wasm/electric-sync.wasm', 'wasm'],
  ];
  const rows = files.map(([file, kind]) => {
    const b = readFileSync(path.join(root, file));
    return { file, kind, bytes: b.length, gzip_bytes: gzipSync(b, { level: 9 }).length };
  });
  const sum = (k, pick = () => true) => rows.filter(pick).reduce((a, r) => a + r[k], 0);
  const byKind = {};
  for (const r of rows) {
    byKind[r.kind] ??= { bytes: 0, gzip_bytes: 0 };
    byKind[r.kind].bytes += r.bytes;
    byKind[r.kind].gzip_bytes += r.gzip_bytes;
  }
  return { files: rows, kinds: byKind, total_bytes: sum('bytes'), total_gzip_bytes: sum('gzip_bytes'), budget_gzip_bytes: BUDGET_BYTES };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const s = shipped();
  const kb = (n) => (n / 1024).toFixed(1).padStart(8);
  console.log('\nshipped to a page (KiB; gzip -9)');
  console.log(['file'.padEnd(44), 'raw'.padStart(8), 'gzip'.padStart(8)].join(' '));
  for (const r of s.files) console.log([r.file.padEnd(44), kb(r.bytes), kb(r.gzip_bytes)].join(' '));
  for (const [k, v] of Object.entries(s.kinds)) console.log([`  all ${k}`.padEnd(44), kb(v.bytes), kb(v.gzip_bytes)].join(' '));
  console.log(['total'.padEnd(44), kb(s.total_bytes), kb(s.total_gzip_bytes)].join(' '));
  const ok = s.total_gzip_bytes <= BUDGET_BYTES;
  console.log(`${ok ? 'met ' : 'MISS'}  shipped <= ${BUDGET_BYTES / 1024} KiB gzipped: ${s.total_gzip_bytes} bytes`);
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  writeFileSync(path.join(root, 'bench/results/shipped.json'), JSON.stringify({ date: new Date().toISOString(), ...s, goal_met: ok }, null, 2) + '\n');
  if (process.argv.includes('--json')) console.log(JSON.stringify(s));
}
