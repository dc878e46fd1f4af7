// npm run bench, core part: runs the native engine, the wasm engine and the official client on the
// same workload (3 runs each, median kept), prints a table with ratios against the client, checks
// the goals of the core issue, and writes bench/results/core.json.
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { root } from '../wasm-tests/load.js';

const rows = Number(process.env.BENCH_ROWS ?? 100000);
const batches = Number(process.env.BENCH_BATCHES ?? 10000);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const impls = {
  native: [path.join(root, 'build/native/bench/bench_core'), [String(rows), String(batches)]],
  wasm: [process.execPath, [path.join(root, 'bench/core-wasm.mjs'), String(rows), String(batches)]],
  client: [process.execPath, [path.join(root, 'bench/core-peer-client.mjs'), String(rows), String(batches)]],
};
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
for (const [name, [cmd, args]] of Object.entries(impls)) {
  const all = [];
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`bench core: ${name} run ${i + 1}/${runs}\n`);
    try {
      all.push(JSON.parse(execFileSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').pop()));
    } catch (err) {
      const lines = String(err.stderr || err.message).split('\n').filter((l) => l.length < 400);
      console.error(`bench core: ${name} failed:\n${lines.slice(-8).join('\n')}`);
      process.exit(1);
    }
  }
  const m = { ...all[0] };
  for (const k of ['sync_ms', 'rows_per_s', 'cold_rows_per_s', 'batch_us_mean', 'batch_us_p50', 'batch_us_p99', 'rss_peak_kb', 'engine_peak_bytes']) {
    if (k in m) m[k] = median(all.map((r) => r[k]));
  }
  m.runs = all;
  results[name] = m;
}
const c = results.client;
const row = (name, r) => [name.padEnd(36), String(r.rows_per_s).padStart(9), `${(r.rows_per_s / c.rows_per_s).toFixed(2)}x`.padStart(8),
  String(r.cold_rows_per_s ?? r.rows_per_s).padStart(9),
  String(r.batch_us_p50).padStart(9), String(r.batch_us_p99).padStart(9), `${(c.batch_us_mean / r.batch_us_mean).toFixed(1)}x`.padStart(8),
  String(Math.round((r.engine_peak_bytes ?? 0) / 1048576)).padStart(8), String(Math.round(r.rss_peak_kb / 1024)).padStart(8)].join(' ');
console.log(`\ncore engine: initial sync of ${rows} rows in 10 responses, then ${batches} single-row live batches (median of ${runs} runs)`);
console.log('(rows/s: warm — code compiled and tiered up, as in a worker by the time its first response arrives; cold: the first sync after loading)');
console.log(['implementation'.padEnd(36), 'rows/s'.padStart(9), 'vs client'.padStart(8), 'cold'.padStart(9), 'p50 µs'.padStart(9), 'p99 µs'.padStart(9), 'vs client'.padStart(8), 'heap MB'.padStart(8), 'RSS MB'.padStart(8)].join(' '));
console.log(row('esync native (SQLite file, WAL)', results.native));
console.log(row('esync wasm in node (memvfs)', results.wasm));
console.log(row('@electric-sql/client (memory only)', c));
const w = results.wasm, n = results.native;
console.log(`wasm size: ${w.wasm_bytes} bytes, ${w.wasm_gzip_bytes} gzipped`);
const goals = [
  ['wasm initial sync >= 200k rows/s (warm)', w.rows_per_s >= 200000, w.rows_per_s],
  ['native initial sync >= 400k rows/s', n.rows_per_s >= 400000, n.rows_per_s],
  ['wasm single-row batch <= 200 µs (mean)', w.batch_us_mean <= 200, w.batch_us_mean],
  ['native single-row batch <= 200 µs (mean)', n.batch_us_mean <= 200, n.batch_us_mean],
  ['wasm <= 450 KB gzipped', w.wasm_gzip_bytes <= 450 * 1024, w.wasm_gzip_bytes],
];
for (const [g, ok, v] of goals) console.log(`${ok ? 'met ' : 'MISS'}  ${g}: ${v}`);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/core.json'), JSON.stringify({ date: new Date().toISOString(), rows, batches, runs, results, goals }, null, 2));
