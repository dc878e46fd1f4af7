// The core engine in wasm under node: the same workload as bench/bench_core.c (same generator
// rules), through the JS bridge, so the numbers include the C<->JS boundary (body copied in,
// change sets copied out and parsed). Prints one JSON object.
//   node bench/core-wasm.mjs [rows] [batches]
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { loadModule, root } from '../wasm-tests/load.js';

const rows = Number(process.argv[2] ?? 100000);
const batches = Number(process.argv[3] ?? 10000);
const chunks = 10;
const SCHEMA = JSON.stringify({
  id: { type: 'uuid', pk_index: 0, not_null: true }, title: { type: 'text', not_null: true },
  description: { type: 'text' }, completed: { type: 'bool', not_null: true },
  created_at: { type: 'timestamp', not_null: true }, updated_at: { type: 'timestamp', not_null: true },
});
const hex = (n, w) => n.toString(16).padStart(w, '0');
const uuid = (i) => `${hex(i, 8)}-0000-4000-8000-${hex(i * 7919, 12)}`;
function rowMsg(i, op, full) {
  const id = uuid(i);
  const key = `"public"."test_items"/"${id}"`;
  if (full) {
    return JSON.stringify({ key, value: { id, title: `Item ${i}`, description: `Description of item ${i}, some text to make the row realistic`,
      completed: i % 3 ? 'false' : 'true', created_at: '2025-12-29 10:00:00.123456', updated_at: '2025-12-29 10:00:00.123456' },
    headers: { operation: op, relation: ['public', 'test_items'] } });
  }
  return JSON.stringify({ key, value: { id, completed: 't', updated_at: '2025-12-30 11:00:00' },
    headers: { operation: op, relation: ['public', 'test_items'], lsn: String(100000 + i), op_position: 0, txids: [1000 + i], last: true } });
}
const UTD = '{"headers":{"control":"up-to-date","global_last_seen_lsn":"1"}}';
const enc = new TextEncoder();

const M = await loadModule();
const dbPath = '/tmp/bench-wasm.db';
const eng = new M.Engine(dbPath, { seed: 7 });
eng.defineShape('test_items', { table: 'test_items' });

const per = rows / chunks;
const bodies = [];
for (let c = 0; c < chunks; c++) {
  const parts = [];
  for (let i = 0; i < per; i++) parts.push(rowMsg(c * per + i, 'insert', true));
  if (c === chunks - 1) parts.push(UTD);
  bodies.push(enc.encode(`[${parts.join(',')}]`));
}
M.memoryHighwater(true);
const t0 = performance.now();
let inserted = 0;
for (let c = 0; c < chunks; c++) {
  const last = c === chunks - 1;
  const headers = { 'electric-handle': 'h1', 'electric-offset': last ? '0_inf' : `0_${c}`, 'electric-schema': SCHEMA };
  if (last) headers['electric-up-to-date'] = '';
  const events = eng.ingest('test_items', { status: 200, headers, body: bodies[c], nowMs: 1 });
  for (const ev of events) inserted += ev.changes.insert.length;
}
const syncMs = performance.now() - t0;
if (inserted !== rows) throw new Error(`expected ${rows} inserts, got ${inserted}`);
const syncPeak = M.memoryHighwater(true);

const lat = new Float64Array(batches);
for (let b = 0; b < batches; b++) {
  const k = b % 10;
  const msg = k < 8 ? rowMsg((b * 7919) % rows, 'update', false) : k === 8 ? rowMsg(rows + b, 'insert', true) : rowMsg(rows + b - 1, 'delete', false);
  const body = enc.encode(`[${msg},${UTD}]`);
  const s = performance.now();
  eng.ingest('test_items', { status: 200, headers: { 'electric-handle': 'h1', 'electric-offset': `${100000 + b}_0`, 'electric-cursor': 'c', 'electric-up-to-date': '' }, body, nowMs: 2 });
  lat[b] = (performance.now() - s) * 1000;
}
lat.sort();
const mean = lat.reduce((a, b) => a + b, 0) / batches;
const wasm = readFileSync(path.join(root, 'build/wasm/electric-sync.wasm'));
eng.close();
console.log(JSON.stringify({
  impl: 'wasm', rows, sync_ms: +syncMs.toFixed(1), rows_per_s: Math.round(rows / (syncMs / 1000)),
  batches, batch_us_mean: +mean.toFixed(1), batch_us_p50: +lat[batches >> 1].toFixed(1), batch_us_p99: +lat[Math.floor(batches * 0.99)].toFixed(1),
  engine_peak_bytes: syncPeak, wasm_heap_bytes: M.HEAPU8.length, rss_peak_kb: Math.round(process.resourceUsage().maxRSS),
  wasm_bytes: wasm.length, wasm_gzip_bytes: gzipSync(wasm, { level: 9 }).length,
}));
