// npm run bench, browser part (after bench/browser.mjs): the tab API in headless Chromium (real
// SharedWorker, real IndexedDB) against the real server.
//   node bench/browser-tabapi.mjs   (BENCH_TABAPI_ROWS=1000, BENCH_TABAPI_WRITES=200,
//                                    BENCH_TABAPI_TABS=5, BENCH_TABAPI_LIVE=50)
// Measures:
//  1. read-your-writes: for the same single-row writes, made by the page through the REST API,
//     the time from the start of the write to awaitTxId resolving, beside the time to the
//     write's DATA_CHANGE in the same tab (p50/p99, ms).
//  2. live-query re-run cost: LIVE live queries (distinct statements) open across TABS tabs, then
//     WRITES single-row writes to their table, one commit each: the worker's time re-running them
//     per commit (performance.now() around each run and the posting of its rows, read from
//     STATS.live), and how long until every tab had the new rows.
// Prints a table, writes bench/results/browser-tabapi.json.
import { writeFileSync, mkdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { root } from '../wasm-tests/load.js';
import { startBackend } from '../wasm-tests/support/backend.js';
import { openContext } from '../tests/e2e/browser.js';

const ROWS = Number(process.env.BENCH_TABAPI_ROWS ?? 1000);
const WRITES = Number(process.env.BENCH_TABAPI_WRITES ?? 200);
const TABS = Number(process.env.BENCH_TABAPI_TABS ?? 5);
const LIVE = Number(process.env.BENCH_TABAPI_LIVE ?? 50);
const pct = (xs, p) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const log = (m) => process.stderr.write(`bench browser-tabapi: ${m}\n`);

const backend = await startBackend({ static: true });
if (backend.kind !== 'real') throw new Error('bench/browser-tabapi.mjs needs the real server (with /v1/shape)');
const cfg = {
  shapes: [{ name: 'test_items', table: 'test_items' }], dbName: 'bench-tabapi',
  shapeUrl: backend.shapeUrl, liveUrl: backend.liveUrl, versionUrl: backend.versionUrl,
};
const results = { rows: ROWS, writes: WRITES, tabs: TABS, live_queries: LIVE };
let b;

// In a page: the tab library, a STATS call over its own port to the same SharedWorker, and the
// time of the DATA_CHANGE of each inserted id.
async function open(page) {
  await page.evaluate(async (c) => {
    const { useElectricSync } = await import('/electric-sync.js');
    window.__sync = useElectricSync(c);
    window.__recv = new Map();
    window.__sync.on('DATA_CHANGE', (e) => { const t = performance.now() + performance.timeOrigin; for (const r of e.changes.insert) window.__recv.set(r.id, t); });
    const fmt = (await import('/electric-sync.js')).WORKER_FORMAT;
    const w = new SharedWorker('/electric-sync.worker.js', { name: `electric-sync:${c.dbName}:${fmt}` });
    window.__stats = () => new Promise((resolve) => {
      const id = Math.random();
      w.port.onmessage = (ev) => { if (ev.data.id === id) resolve(ev.data.value); };
      w.port.postMessage({ type: 'STATS', id });
    });
    await window.__sync.ready;
  }, cfg);
}

try {
  log(`seeding ${ROWS} rows`);
  await backend.seedMany(ROWS);
  b = await openContext(backend.staticBase);
  const pages = [];
  for (let i = 0; i < TABS; i++) { const p = await b.page(); await open(p); pages.push(p); }
  const p0 = pages[0];

  // 1. commit-to-awaitTxId beside commit-to-DATA_CHANGE, the same writes
  log(`${WRITES} writes: awaitTxId and DATA_CHANGE`);
  const rw = await p0.evaluate(async (n) => {
    const txid = [], change = [];
    for (let i = 0; i < n; i++) {
      const id = crypto.randomUUID();
      const t0 = performance.now() + performance.timeOrigin;
      const res = await fetch('/api/test-items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, title: `rw ${i}` }) });
      const body = await res.json();
      await window.__sync.awaitTxId(body.txid);
      txid.push(performance.now() + performance.timeOrigin - t0);
      change.push(window.__recv.get(id) - t0);
    }
    return { txid, change };
  }, WRITES);
  results.commit_to_awaittxid_ms_p50 = round(pct(rw.txid, 0.5));
  results.commit_to_awaittxid_ms_p99 = round(pct(rw.txid, 0.99));
  results.commit_to_data_change_ms_p50 = round(pct(rw.change, 0.5));
  results.commit_to_data_change_ms_p99 = round(pct(rw.change, 0.99));

  // 2. LIVE distinct live queries across the tabs, then single-row writes
  log(`${LIVE} live queries in ${TABS} tabs, ${WRITES} writes`);
  const perTab = Math.ceil(LIVE / TABS);
  for (let t = 0; t < TABS; t++) {
    await pages[t].evaluate(async ([first, n]) => {
      window.__lq = [];
      const firsts = [];
      for (let k = first; k < first + n; k++) {
        const q = { calls: 0, last: null };
        window.__lq.push(q);
        // Distinct statements (each its own run): a page of 20 rows in key order from its own
        // place in the key space (the primary key serves it, as an app's index would).
        const from = Math.floor((k * 256) / 50).toString(16).padStart(2, '0');
        firsts.push(new Promise((resolve) => {
          window.__sync.liveQuery('SELECT id, title, completed FROM test_items WHERE id >= ? ORDER BY id LIMIT 20', [from], (rows) => {
            q.calls++;
            q.last = performance.now() + performance.timeOrigin;
            resolve();
          });
        }));
      }
      await Promise.all(firsts);
    }, [t * perTab, Math.min(perTab, LIVE - t * perTab)]);
  }
  const before = await p0.evaluate(() => window.__stats());
  const lat = [];
  for (let i = 0; i < WRITES; i++) {
    const t0 = Date.now();
    const { txid } = await backend.insert({ id: randomUUID(), title: `live ${i}` });
    // Every tab had the re-run results of its queries (the last ROWS of the commit).
    const done = await Promise.all(pages.map((p) => p.evaluate(async (tx) => {
      await window.__sync.awaitTxId(tx);
      return Math.max(...window.__lq.map((q) => q.last));
    }, txid)));
    lat.push(Math.max(...done) - t0);
  }
  const after = await p0.evaluate(() => window.__stats());
  const calls = (await Promise.all(pages.map((p) => p.evaluate(() => window.__lq.reduce((n, q) => n + q.calls, 0))))).reduce((a, c) => a + c, 0);
  const dl = { reruns: after.live.reruns - before.live.reruns, ms: after.live.rerunMs - before.live.rerunMs, commits: after.live.rerunCommits - before.live.rerunCommits };
  results.live_queries_open = after.live.queries;
  results.live_reruns = dl.reruns;
  results.live_commits = dl.commits;
  results.live_reruns_per_commit = round(dl.reruns / Math.max(1, dl.commits), 2);
  results.live_worker_ms_per_commit = round(dl.ms / Math.max(1, dl.commits), 3);
  results.live_worker_ms_per_run = round(dl.ms / Math.max(1, dl.reruns), 4);
  results.live_onrows_calls = calls;
  results.commit_to_all_live_results_ms_p50 = pct(lat, 0.5);
  results.commit_to_all_live_results_ms_p99 = pct(lat, 0.99);
} finally {
  if (b) await b.close();
  await backend.stop();
}

console.log(`\ntab API in headless Chromium (SharedWorker, ${ROWS}-row table, ${WRITES} single-row writes)`);
const line = (m, v) => console.log(`${m.padEnd(62)} ${String(v).padStart(16)}`);
line('commit-to-awaitTxId p50 / p99, ms', `${results.commit_to_awaittxid_ms_p50} / ${results.commit_to_awaittxid_ms_p99}`);
line('commit-to-DATA_CHANGE p50 / p99, ms (same writes)', `${results.commit_to_data_change_ms_p50} / ${results.commit_to_data_change_ms_p99}`);
line(`live queries open (${LIVE} subscribed in ${TABS} tabs)`, results.live_queries_open);
line('re-runs per commit', results.live_reruns_per_commit);
line('worker ms per commit re-running them', results.live_worker_ms_per_commit);
line('worker ms per re-run', results.live_worker_ms_per_run);
line('commit-to-every-tab-has-its-results p50 / p99, ms', `${results.commit_to_all_live_results_ms_p50} / ${results.commit_to_all_live_results_ms_p99}`);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/browser-tabapi.json'), JSON.stringify({ date: new Date().toISOString(), results }, null, 2));
