// npm run bench, browser part: the worker in headless Chromium (real SharedWorker, real
// IndexedDB) against the real server (shapes from its /v1/shape, or from the in-process stand-in
// of wasm-tests/support while the server has none — the table says which).
//   node bench/browser.mjs        (BENCH_BROWSER_ROWS=100000, BENCH_BROWSER_WRITES=200)
// Measures: initial sync of N rows until durable in IndexedDB (rows/s), open time of that replica
// (a new worker loading it from IndexedDB until ready, and the first query), commit-to-tab
// latency of single-row writes (write -> DATA_CHANGE in the tab, p50/p99), IndexedDB pages
// written per single-row commit; and the official @electric-sql/client (memory only) in the
// same page as the peer. Prints a table, writes bench/results/browser.json.
import { writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { root } from '../wasm-tests/load.js';
import { startBackend } from '../wasm-tests/support/backend.js';
import { openContext } from '../tests/e2e/browser.js';

const ROWS = Number(process.env.BENCH_BROWSER_ROWS ?? 100000);
const WRITES = Number(process.env.BENCH_BROWSER_WRITES ?? 200);
const pct = (xs, p) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
const log = (m) => process.stderr.write(`bench browser: ${m}\n`);

const backend = await startBackend({ static: true });
const base = backend.staticBase;
const app = { shapes: [{ name: 'test_items', table: 'test_items' }], dbName: 'docpal-electric' }; // the app's own values
const cfg = { ...app, shapeUrl: backend.shapeUrl, liveUrl: backend.liveUrl, versionUrl: backend.versionUrl };
const results = { rows: ROWS, writes: WRITES, shapes: backend.kind === 'real' ? 'server /v1/shape' : 'in-process stand-in' };
let b;
try {
  log(`seeding ${ROWS} rows`);
  await backend.seedMany(ROWS);
  b = await openContext(base);
  const peerSrc = readFileSync(path.join(root, 'node_modules/@electric-sql/client/dist/index.browser.mjs'));
  await b.ctx.route(`${base}/__peer/client.mjs`, (r) => r.fulfill({ contentType: 'text/javascript', body: peerSrc }));

  // 1. initial sync to durable
  log('initial sync');
  const p = await b.page();
  const sync = await p.evaluate(async (c) => {
    const { useElectricSync } = await import('/electric-sync.js');
    window.__recv = new Map();
    const startedAt = Date.now();
    const t0 = performance.now();
    const s = useElectricSync(c);
    window.__sync = s;
    s.on('DATA_CHANGE', (e) => { const now = Date.now(); for (const r of e.changes.insert) window.__recv.set(r.id, now); });
    await s.ready; // the first up-to-date, durable in IndexedDB
    const ms = performance.now() - t0;
    const [{ n }] = await s.query('SELECT count(*) AS n FROM test_items');
    // The flusher's counters, over a raw connection to the same SharedWorker.
    const w = new SharedWorker('/electric-sync.worker.js', { name: `electric-sync:${c.dbName}:1` });
    window.__stats = () => new Promise((resolve) => {
      const id = Math.random();
      w.port.onmessage = (ev) => { if (ev.data.id === id) resolve(ev.data.value); };
      w.port.postMessage({ type: 'STATS', id });
    });
    return { ms, n, startedAt, stats: await window.__stats() };
  }, cfg);
  // Durable: the worker's mark of the first flush that completed (the initial sync's commit).
  const durable = sync.stats.timeline.find(([l]) => l.startsWith('durable'));
  results.timeline = sync.stats.timeline.map(([l, ms]) => `${l} @${Math.round(ms)}`).join(', ');
  if (sync.n !== ROWS) throw new Error(`synced ${sync.n} rows, expected ${ROWS}`);
  results.initial_sync_ms = Math.round(sync.stats.startedAt + durable[1] - sync.startedAt);
  results.initial_sync_rows_per_s = Math.round(ROWS / (results.initial_sync_ms / 1000));
  results.initial_sync_to_tab_ready_ms = Math.round(sync.ms);
  results.replica_bytes = sync.stats.size;

  // 2. commit-to-tab latency and pages per commit (single-row inserts, one at a time)
  log(`${WRITES} single-row writes`);
  await p.waitForFunction(() => window.__sync.status.test_items?.phase === 'live');
  const before = await p.evaluate(() => window.__stats());
  const lat = [];
  for (let i = 0; i < WRITES; i++) {
    const id = randomUUID();
    const t0 = Date.now();
    await backend.insert({ id, title: `bench ${i}` });
    await p.waitForFunction((x) => window.__recv.has(x), id, { polling: 'raf', timeout: 20000 });
    lat.push((await p.evaluate((x) => window.__recv.get(x), id)) - t0);
  }
  const after = await p.evaluate(() => window.__stats());
  results.commit_to_tab_ms_p50 = pct(lat, 0.5);
  results.commit_to_tab_ms_p99 = pct(lat, 0.99);
  results.idb_flushes = after.flushes - before.flushes;
  results.idb_pages_per_commit = +((after.pagesWritten - before.pagesWritten) / Math.max(1, after.flushes - before.flushes)).toFixed(2);

  // 3. open time: every tab closed (the worker ends), a new tab opens the stored replica with
  //    the network unreachable, so only loading IndexedDB + wasm + SQLite is timed.
  log('open time');
  await p.close();
  await new Promise((r) => setTimeout(r, 500));
  const opens = [];
  for (let i = 0; i < 3; i++) {
    const q = await b.page();
    opens.push(await q.evaluate(async ([n, a]) => {
      const { useElectricSync } = await import('/electric-sync.js');
      const t0 = performance.now();
      const s = useElectricSync({ ...a, shapeUrl: 'http://127.0.0.1:9/v1/shape', versionUrl: 'http://127.0.0.1:9/api/schema/version' });
      await s.ready;
      const ready = performance.now() - t0;
      const [{ c }] = await s.query('SELECT count(*) AS c FROM test_items');
      const first = performance.now() - t0;
      if (c < n) throw new Error(`opened ${c} rows`);
      s.close();
      return { ready, first };
    }, [ROWS, app]));
    await q.close();
    await new Promise((r) => setTimeout(r, 500));
  }
  results.open_ms = Math.round(pct(opens.map((o) => o.first), 0.5));
  results.open_ready_ms = Math.round(pct(opens.map((o) => o.ready), 0.5));

  // 4. the peer: @electric-sql/client (ShapeStream + Shape, memory only) in a page
  log('peer @electric-sql/client');
  const pp = await b.page();
  const peer = await pp.evaluate(async (c) => {
    const { ShapeStream, Shape } = await import('/__peer/client.mjs');
    window.__precv = new Map();
    const t0 = performance.now();
    const stream = new ShapeStream({ url: c.shapeUrl, params: { table: 'test_items' } });
    const shape = new Shape(stream);
    const rows = await shape.rows;
    const ms = performance.now() - t0;
    const seen = new Set(rows.map((r) => r.id));
    shape.subscribe(({ rows: all }) => {
      const now = Date.now();
      for (const r of all) if (!seen.has(r.id)) { seen.add(r.id); window.__precv.set(r.id, now); }
    });
    window.__peer = stream;
    return { ms, n: rows.length };
  }, cfg);
  results.peer_initial_sync_rows_per_s = Math.round(peer.n / (peer.ms / 1000));
  const plat = [];
  for (let i = 0; i < Math.min(WRITES, 100); i++) {
    const id = randomUUID();
    const t0 = Date.now();
    await backend.insert({ id, title: `peer ${i}` });
    await pp.waitForFunction((x) => window.__precv.has(x), id, { polling: 'raf', timeout: 20000 });
    plat.push((await pp.evaluate((x) => window.__precv.get(x), id)) - t0);
  }
  results.peer_commit_to_callback_ms_p50 = pct(plat, 0.5);
  results.peer_commit_to_callback_ms_p99 = pct(plat, 0.99);
} finally {
  if (b) await b.close();
  await backend.stop();
}

const goals = [
  ['initial sync to durable >= 50k rows/s', results.initial_sync_rows_per_s >= 50000, results.initial_sync_rows_per_s],
  ['open <= 0.8 s', results.open_ms <= 800, results.open_ms],
  ['commit-to-tab p50 <= 30 ms', results.commit_to_tab_ms_p50 <= 30, results.commit_to_tab_ms_p50],
  ['<= 3 IndexedDB pages per single-row commit', results.idb_pages_per_commit <= 3, results.idb_pages_per_commit],
];
console.log(`\nbrowser worker in headless Chromium (shapes: ${results.shapes})`);
console.log(['metric'.padEnd(44), 'esync worker'.padStart(14), '@electric-sql/client'.padStart(22)].join(' '));
const line = (m, a, p) => console.log([m.padEnd(44), String(a).padStart(14), String(p ?? '-').padStart(22)].join(' '));
line(`initial sync of ${ROWS} rows, rows/s`, results.initial_sync_rows_per_s, results.peer_initial_sync_rows_per_s);
line('  ms (esync: durable in IndexedDB; peer: memory)', results.initial_sync_ms, null);
line('  ms until ready in the tab (after the 100k-row DATA_CHANGE)', results.initial_sync_to_tab_ready_ms, null);
line('open stored replica until first query, ms', results.open_ms, null);
line(`commit-to-tab p50 / p99, ms (${WRITES} writes)`, `${results.commit_to_tab_ms_p50} / ${results.commit_to_tab_ms_p99}`, `${results.peer_commit_to_callback_ms_p50} / ${results.peer_commit_to_callback_ms_p99}`);
line('IndexedDB pages per single-row commit', results.idb_pages_per_commit, null);
line('replica size, bytes', results.replica_bytes, null);
console.log(`worker timeline of the initial sync: ${results.timeline}`);
for (const [g, ok, v] of goals) console.log(`${ok ? 'met ' : 'MISS'}  ${g}: ${v}`);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/browser.json'), JSON.stringify({ date: new Date().toISOString(), results, goals }, null, 2));
