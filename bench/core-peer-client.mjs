// Peer: the official @electric-sql/client (ShapeStream + Shape, memory only) on the same
// responses as our engine (bench/workload.mjs), served by an in-process fetchClient, so only the
// client's own work is timed: parsing, its state machine, and materializing rows in a Map.
//   node bench/core-peer-client.mjs [rows] [batches]   -> one JSON object on stdout
import { ShapeStream, Shape } from '@electric-sql/client';
import { snapshotResponses, liveResponse, percentile } from './workload.mjs';

const rows = Number(process.argv[2] ?? 100000);
const batches = Number(process.argv[3] ?? 10000);
const snapshot = snapshotResponses(rows);
const live = Array.from({ length: batches }, (_, b) => liveResponse(b, rows));
const byOffset = new Map();
snapshot.forEach((r, i) => byOffset.set(i === 0 ? '-1' : `0_${i - 1}`, r));
live.forEach((r, b) => byOffset.set(b === 0 ? '0_inf' : `${100000 + b - 1}_0`, r));
let served = 0;
const pending = [];
async function fetchClient(input, init) {
  const url = new URL(typeof input === 'string' ? input : input.url);
  const r = byOffset.get(url.searchParams.get('offset'));
  if (!r) { // past the last batch: hold like a long-poll until the client is aborted
    return new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
  }
  served++;
  pending.push(performance.now());
  return new Response(r.body, { status: 200, headers: r.headers });
}

// The initial sync, timed twice like our wasm engine's (bench/core-wasm.mjs): cold, then warm
// (JIT tiered up) with a new stream; the goals and ratios use the warm runs.
async function initialSync() {
  const stream = new ShapeStream({ url: 'http://peer.invalid/v1/shape', params: { table: 'test_items' }, fetchClient });
  const shape = new Shape(stream);
  const t0 = performance.now();
  const first = await shape.rows;
  const ms = performance.now() - t0;
  if (first.length !== rows) throw new Error(`expected ${rows} rows, got ${first.length}`);
  return { stream, shape, ms };
}
const cold = await initialSync();
cold.stream.unsubscribeAll();
pending.length = 0;
const { stream, shape, ms: syncMs } = await initialSync();
const lat = [];
await new Promise((resolve) => {
  let seen = 0;
  shape.subscribe(() => {
    lat.push((performance.now() - pending[pending.length - 1]) * 1000);
    if (++seen === batches) resolve();
  });
});
const total = lat.length;
lat.sort((a, b) => a - b);
stream.unsubscribeAll();
console.log(JSON.stringify({
  impl: '@electric-sql/client (memory only)', rows, final_rows: shape.currentRows.length, sync_ms: +syncMs.toFixed(1),
  rows_per_s: Math.round(rows / (syncMs / 1000)), cold_sync_ms: +cold.ms.toFixed(1),
  cold_rows_per_s: Math.round(rows / (cold.ms / 1000)), batches: total,
  batch_us_mean: +(lat.reduce((a, b) => a + b, 0) / total).toFixed(1), batch_us_p50: +percentile(lat, 0.5).toFixed(1),
  batch_us_p99: +percentile(lat, 0.99).toFixed(1), rss_peak_kb: Math.round(process.resourceUsage().maxRSS),
}));
process.exit(0);
