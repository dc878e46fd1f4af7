// A developer's tool: what the engine's open of a stored replica costs in a fresh V8 isolate,
// and how much of it is compiling. V8 compiles a wasm function (Liftoff) on its first call, so a
// reopen in the browser compiles everything the open and the first query run; this measures it
// in node, whose V8 compiles lazily too.
//   node bench/open-compile.mjs [--top=20]
// Writes a replica of 2,000 `test_items`-like rows (a shape as the worker defines it, its
// schema stored), then in new node processes opens it: the engine (`new Engine`), the shape
// (`defineShape`), a first page of 50 rows, each timed cold and then again warm in the same
// process; and, with V8's --trace-wasm-compilation-times, the functions the cold reopen compiled
// (count, body bytes, the largest; names when build/wasm/electric-sync.wasm was linked with
// --profiling-funcs, e.g. -DESYNC_WASM_PROFILE=ON).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { loadModule, root } from '../wasm-tests/load.js';

const self = fileURLToPath(import.meta.url);
const role = process.env.ESYNC_OPEN_COMPILE_ROLE;
const SCHEMA = JSON.stringify({
  id: { type: 'uuid', pk_index: 0, not_null: true }, title: { type: 'text', not_null: true },
  description: { type: 'text' }, completed: { type: 'bool', not_null: true },
  created_at: { type: 'timestamp', not_null: true }, updated_at: { type: 'timestamp', not_null: true },
});
const FIRST_PAGE = 'SELECT id, title, completed FROM test_items ORDER BY id LIMIT 50';

if (role === 'make') {
  const M = await loadModule();
  const e = new M.Engine('/r.db', {});
  e.defineShape('test_items', { table: 'test_items' });
  const rows = [];
  for (let i = 0; i < 2000; i++) {
    const id = `${i.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;
    rows.push({ key: `"public"."test_items"/"${id}"`, headers: { operation: 'insert', relation: ['public', 'test_items'] },
      value: { id, title: `Item ${i}`, description: `d${i}`, completed: 'f', created_at: '2026-01-01 00:00:00', updated_at: '2026-01-01 00:00:00' } });
  }
  e.ingest('test_items', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_0', 'electric-schema': SCHEMA }, body: JSON.stringify(rows) });
  e.ingest('test_items', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_inf', 'electric-up-to-date': '' }, body: '[{"headers":{"control":"up-to-date"}}]' });
  e.versionCheck('v1');
  e.close();
  writeFileSync(process.env.ESYNC_OPEN_COMPILE_FILE, M.MemVfs.readRange('/r.db', 0, M.MemVfs.size('/r.db')));
} else if (role === 'open') {
  const M = await loadModule();
  const bytes = new Uint8Array(readFileSync(process.env.ESYNC_OPEN_COMPILE_FILE));
  M.MemVfs.load('/r.db', bytes.length, [[0, bytes]]);
  const out = [];
  for (let k = 0; k < 2; k++) {
    const t0 = performance.now();
    const e = new M.Engine('/r.db', {});
    const t1 = performance.now();
    e.defineShape('test_items', { table: 'test_items' });
    const t2 = performance.now();
    const n = e.query(FIRST_PAGE).length;
    const t3 = performance.now();
    e.close();
    if (n !== 50) throw new Error(`the first page has ${n} rows`);
    out.push({ open: t1 - t0, define: t2 - t1, query: t3 - t2 });
  }
  process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
} else {
  const top = Number((process.argv.find((a) => a.startsWith('--top=')) || '--top=20').slice(6));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'esync-open-compile-'));
  const file = path.join(dir, 'replica.db');
  const run = (r, flags = []) => execFileSync(process.execPath, [...flags, self], { env: { ...process.env, ESYNC_OPEN_COMPILE_ROLE: r, ESYNC_OPEN_COMPILE_FILE: file }, encoding: 'utf8', maxBuffer: 64 << 20 });
  try {
    run('make');
    const med = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
    const runs = [];
    for (let i = 0; i < 5; i++) runs.push(JSON.parse(run('open').match(/^RESULT (.*)$/m)[1]));
    const f = (x) => x.toFixed(2);
    for (const [k, label] of [[0, 'cold (a fresh isolate)'], [1, 'warm (the same process again)']]) {
      console.log(`${label}: open ${f(med(runs.map((r) => r[k].open)))} ms, defineShape ${f(med(runs.map((r) => r[k].define)))} ms, first page ${f(med(runs.map((r) => r[k].query)))} ms (medians of 5)`);
    }
    // What the cold reopen compiled: V8 prints one line per function ("Compiled function
    // <module>#<index> using Liftoff, took ... ms and ... bytes; bodysize <n> codesize <m>").
    const trace = run('open', ['--trace-wasm-compilation-times']);
    const fns = [...trace.matchAll(/Compiled function \S+#(\d+) using (\w+).*?bodysize (\d+)/g)].map((m) => ({ index: +m[1], tier: m[2], body: +m[3] }));
    const names = wasmNames(readFileSync(path.join(root, 'build/wasm/electric-sync.wasm')));
    const lift = fns.filter((x) => x.tier === 'Liftoff');
    console.log(`compiled on first call (Liftoff): ${lift.length} functions, ${lift.reduce((s, x) => s + x.body, 0)} bytes of wasm bodies; largest:`);
    for (const x of lift.sort((a, b) => b.body - a.body).slice(0, top)) console.log(`  ${String(x.body).padStart(6)}  ${names.get(x.index) || `#${x.index}`}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The function names of a module's "name" section (index -> name; empty without one).
function wasmNames(b) {
  const names = new Map();
  let p = 8;
  const u = () => { let r = 0, s = 0, x; do { x = b[p++]; r |= (x & 0x7f) << s; s += 7; } while (x & 0x80); return r >>> 0; };
  while (p < b.length) {
    const id = b[p++], len = u(), end = p + len;
    if (id === 0) {
      const nl = u(), name = b.subarray(p, p + nl).toString();
      p += nl;
      while (name === 'name' && p < end) {
        const sub = b[p++], sl = u(), se = p + sl;
        if (sub === 1) for (let i = 0, n = u(); i < n; i++) { const idx = u(), l = u(); names.set(idx, b.subarray(p, p + l).toString()); p += l; }
        p = se;
      }
    }
    p = end;
  }
  return names;
}
