// The core engine in wasm under node, on bench/workload.mjs, through the JS bridge: the numbers
// include the C<->JS boundary (bodies copied in, change sets copied out and parsed).
//   node bench/core-wasm.mjs [rows] [batches]   -> one JSON object on stdout
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { loadModule, root } from '../wasm-tests/load.js';
import { snapshotResponses, liveResponse, percentile } from './workload.mjs';

const rows = Number(process.argv[2] ?? 100000);
const batches = Number(process.argv[3] ?? 10000);
const enc = new TextEncoder();
const snapshot = snapshotResponses(rows).map((r) => ({ ...r, body: enc.encode(r.body) }));
const live = Array.from({ length: batches }, (_, b) => { const r = liveResponse(b, rows); return { ...r, body: enc.encode(r.body) }; });

const M = await loadModule();

// The initial sync, timed. Run twice: "cold" right after the module loads, while V8 still runs
// most functions in its baseline tier and tiers them up in the background; then "warm" on a new
// replica. A real worker is warm by the time its first shape response arrives (the module
// compiles while it reads IndexedDB and waits for the server), so the goals use the warm run;
// both are reported.
function initialSync(path) {
  const eng = new M.Engine(path, { seed: 7 });
  eng.defineShape('test_items', { table: 'test_items' });
  M.memoryHighwater(true);
  const t0 = performance.now();
  let inserted = 0;
  for (const r of snapshot) {
    for (const ev of eng.ingest('test_items', { status: 200, headers: r.headers, body: r.body, nowMs: 1 })) inserted += ev.changes.insert.length;
  }
  const ms = performance.now() - t0;
  if (inserted !== rows) throw new Error(`expected ${rows} inserts, got ${inserted}`);
  return { eng, ms, peak: M.memoryHighwater(true) };
}
const cold = initialSync('/bench-cold.db');
cold.eng.close();
M.deleteDatabase('/bench-cold.db');
const { eng, ms: syncMs, peak: syncPeak } = initialSync('/bench.db');

const lat = new Float64Array(batches);
let events = 0;
for (let b = 0; b < batches; b++) {
  const s = performance.now();
  events += eng.ingest('test_items', { status: 200, headers: live[b].headers, body: live[b].body, nowMs: 2 }).length;
  lat[b] = (performance.now() - s) * 1000;
}
if (events !== batches) throw new Error(`expected ${batches} change events, got ${events}`);
lat.sort();
const [{ n }] = eng.query('SELECT count(*) AS n FROM test_items');
const wasm = readFileSync(path.join(root, 'build/wasm/electric-sync.wasm'));
eng.close();
M.deleteDatabase('/bench.db');
console.log(JSON.stringify({
  impl: 'esync wasm (node)', rows, final_rows: n, sync_ms: +syncMs.toFixed(1), rows_per_s: Math.round(rows / (syncMs / 1000)),
  cold_sync_ms: +cold.ms.toFixed(1), cold_rows_per_s: Math.round(rows / (cold.ms / 1000)),
  batches, batch_us_mean: +(lat.reduce((a, b) => a + b, 0) / batches).toFixed(1),
  batch_us_p50: +percentile(lat, 0.5).toFixed(1), batch_us_p99: +percentile(lat, 0.99).toFixed(1),
  engine_peak_bytes: syncPeak, wasm_heap_bytes: M.HEAPU8.length, rss_peak_kb: Math.round(process.resourceUsage().maxRSS),
  wasm_bytes: wasm.length, wasm_gzip_bytes: gzipSync(wasm, { level: 9 }).length,
}));
