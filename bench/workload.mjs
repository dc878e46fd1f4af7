// The core benchmark's workload, shared by every JS implementation measured (our wasm engine and
// the official client), and built by the same rules as bench/bench_core.c: 100k test_items rows
// in 10 snapshot responses (the last with up-to-date), then single-row live batches (8 updates,
// 1 insert, 1 delete in every 10).
export const SCHEMA = JSON.stringify({
  id: { type: 'uuid', pk_index: 0, not_null: true }, title: { type: 'text', not_null: true },
  description: { type: 'text' }, completed: { type: 'bool', not_null: true },
  created_at: { type: 'timestamp', not_null: true }, updated_at: { type: 'timestamp', not_null: true },
});
const UTD = '{"headers":{"control":"up-to-date","global_last_seen_lsn":"1"}}';
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

// [{headers, body}] for the snapshot: offsets -1 -> 0_0 -> ... -> 0_inf.
export function snapshotResponses(rows, chunks = 10) {
  const per = rows / chunks;
  const out = [];
  for (let c = 0; c < chunks; c++) {
    const parts = [];
    for (let i = 0; i < per; i++) parts.push(rowMsg(c * per + i, 'insert', true));
    const last = c === chunks - 1;
    if (last) parts.push(UTD);
    const headers = { 'electric-handle': 'h1', 'electric-offset': last ? '0_inf' : `0_${c}`, 'electric-schema': SCHEMA };
    if (last) headers['electric-up-to-date'] = '';
    out.push({ headers, body: `[${parts.join(',')}]` });
  }
  return out;
}

// The b-th live batch (offset `${100000 + b}_0`).
export function liveResponse(b, rows) {
  const k = b % 10;
  const msg = k < 8 ? rowMsg((b * 7919) % rows, 'update', false) : k === 8 ? rowMsg(rows + b, 'insert', true) : rowMsg(rows + b - 1, 'delete', false);
  return {
    headers: { 'electric-handle': 'h1', 'electric-offset': `${100000 + b}_0`, 'electric-cursor': String(b + 1), 'electric-up-to-date': '' },
    body: `[${msg},${UTD}]`,
  };
}

export function percentile(sorted, p) { return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]; }
