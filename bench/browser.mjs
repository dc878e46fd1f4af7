// npm run bench, browser part: initial sync in headless Chromium, electric-sync beside its peers,
// fairly: every system syncs the same shape (`table=test_items`) from the same warm server (its
// shape log built before any timed run; idle when each run starts: serverIdle), each run in a
// fresh browser profile (empty IndexedDB) whose browser is idle when the run starts (settledPage),
// RUNS runs per system and size, medians. Against the real server (wasm-tests/support/backend.js),
// which serves the page electric-sync as the package ships it (packages/electric-sync/dist, made
// by scripts/package.sh: the bundled worker), not web/'s separate files.
//   node bench/browser.mjs                        sizes 10k, 100k and 1M rows
//   BENCH_SIZES=100000 node bench/browser.mjs     one size (comma-separated list)
//   BENCH_RUNS=3  BENCH_BROWSER_WRITES=200  BENCH_RUN_TIMEOUT_MS=<per run; default 60 s + 0.6 ms/row>
//   BENCH_MERGE=1   keep the other sizes of the last bench/results/browser.json
//   BENCH_SYSTEMS=esync_new,esync   only these systems' runs (client, pglite, esync_new, esync)
// Systems, each timed from the page's first call:
//  - electric-sync (the SharedWorker): until durable (the worker's last `durable` mark before the
//    tab's `ready`: the first up-to-date committed to IndexedDB), and until the tab holds all rows
//    (the sum of its DATA_CHANGE inserts); plus a NEW shape each run (a `where` selecting every
//    row that no earlier run used), so the server's snapshot is included; its first byte is
//    timed from node before the run (yet another new shape: until the response headers; read to
//    its end, so no snapshot is being built while a system is timed).
//  - @electric-sql/client: ShapeStream + Shape until `Shape.rows` resolves with all rows (memory only).
//  - pglite-sync 0.6 syncing into PGlite 0.5 with `idb://` persistence (both bundled by esbuild
//    and served to the page): until onInitialSync; PGlite's start reported apart.
// Also, per size: open time of the stored replica (a new page of the same profile, network
// unreachable, until the first query: a first page of 50 rows; and until count(*)), the worker's memory after the sync (JS heap + ArrayBuffer
// backing stores + wasm memory of the SharedWorker, over the DevTools protocol), the
// replica's size (STATS), and on the first size, single-row commit-to-tab latency (p50/p99) with
// the IndexedDB pages written per commit.
// A run that exceeds its timeout (or fails) is recorded as null with the reason; after a peer's
// timeout its remaining runs at that size are skipped. Prints the tables (and the README table),
// writes bench/results/browser.json and the plot bench/results/browser-sync.svg.
import { writeFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { root } from '../wasm-tests/load.js';
import { startBackend } from '../wasm-tests/support/backend.js';
import { openContext, processTicks, untilIdle } from '../tests/e2e/browser.js';
import { syncPlot, readmeSection } from './plot.mjs';

const SIZES = (process.env.BENCH_SIZES || '10000,100000,1000000').split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
const RUNS = Number(process.env.BENCH_RUNS || 3);
// BENCH_SYSTEMS: which runs, in this order each round (a developer's A/B; the README's table
// needs all four)
const ALL_SYSTEMS = ['client', 'pglite', 'esync_new', 'esync'];
const SYSTEMS = (process.env.BENCH_SYSTEMS || ALL_SYSTEMS.join(',')).split(',').map((x) => x.trim()).filter(Boolean);
for (const s of SYSTEMS) if (!ALL_SYSTEMS.includes(s)) throw new Error(`BENCH_SYSTEMS: unknown system "${s}" (known: ${ALL_SYSTEMS.join(', ')})`);
const WRITES = Number(process.env.BENCH_BROWSER_WRITES ?? 200);
const timeoutFor = (rows) => Number(process.env.BENCH_RUN_TIMEOUT_MS) || 60000 + rows * 0.6;
const graceFor = (rows) => 20000 + rows * 0.05; // after ready, for the tab's last rows
const pct = (xs, p) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
const median = (xs) => { const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)); if (!v.length) return null; const s = v.sort((a, b) => a - b); const m = s.length >> 1; return Math.round(s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2); };
const log = (m) => process.stderr.write(`bench browser [${new Date().toISOString().slice(11, 19)}]: ${m}\n`);
const load = () => os.loadavg().map((x) => +x.toFixed(2));

// --- the peers' code, served to the pages -------------------------------------------------------
const nm = (p) => path.join(root, 'node_modules', p);
const clientSrc = readFileSync(nm('@electric-sql/client/dist/index.browser.mjs'));
// PGlite + pglite-sync as one ES module; PGlite finds its .wasm/.data beside it (import.meta.url).
const pgliteBundle = (await build({
  stdin: { contents: "export { PGlite } from '@electric-sql/pglite'; export { electricSync } from '@electric-sql/pglite-sync';", resolveDir: root, loader: 'js' },
  bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'error',
})).outputFiles[0].contents;
const PEER_FILES = {
  'client.mjs': ['text/javascript', clientSrc],
  'pglite.mjs': ['text/javascript', Buffer.from(pgliteBundle)], // a Buffer: playwright drops the page on a Uint8Array body
  'pglite.wasm': ['application/wasm', readFileSync(nm('@electric-sql/pglite/dist/pglite.wasm'))],
  'pglite.data': ['application/octet-stream', readFileSync(nm('@electric-sql/pglite/dist/pglite.data'))],
  'initdb.wasm': ['application/wasm', readFileSync(nm('@electric-sql/pglite/dist/initdb.wasm'))],
};

const dist = path.join(root, 'packages/electric-sync/dist');
if (!existsSync(path.join(dist, 'electric-sync.worker.js'))) throw new Error('no packages/electric-sync/dist: run bash scripts/package.sh (npm run bench does)');
const backend = await startBackend({ static: true, webDir: dist });
if (backend.kind !== 'real') throw new Error('bench/browser.mjs needs the real server (with /v1/shape)');
const base = backend.staticBase;
const app = { shapes: [{ name: 'test_items', table: 'test_items' }], dbName: 'bench-browser' };
const cfg = { ...app, shapeUrl: backend.shapeUrl, liveUrl: backend.liveUrl, versionUrl: backend.versionUrl };
const SHAPE = { table: 'test_items' }; // the one shape every system syncs (warm)

// Until the server has used no CPU for 300 ms (at most 60 s): what a run leaves it doing (a new
// shape's images and gzips, made in the background after its snapshot is read) must not run
// during the next system's timed run. Read from /proc (Linux); elsewhere it returns at once.
function serverIdle() {
  return untilIdle(() => processTicks([backend.serverPid]), { quiet: 3, maxMs: 60000 });
}

// A fresh browser profile with the peers' files routed in.
async function freshBrowser() {
  const b = await openContext(base);
  await b.ctx.route(`${base}/__peer/*`, (r) => {
    const f = PEER_FILES[new URL(r.request().url()).pathname.slice('/__peer/'.length)];
    return f ? r.fulfill({ contentType: f[0], body: f[1] }) : r.fulfill({ status: 404, body: '' });
  });
  return b;
}

// A new page of browser b, once the browser is idle (b.settle: a browser just launched, or a page
// just opened, keeps ~1.8 of this machine's 2 cores busy for a second or so with its own start).
// Every timed run starts from it, so no system is timed while the browser still starts: the
// ones timed right after the page loads would be, and PGlite's start (timed apart) hides it.
async function settledPage(b) {
  const p = await b.page();
  await b.settle();
  return p;
}

// fn(browser) in a fresh profile, bounded by ms: its value, or {error} (then the profile's
// browser is closed, which ends whatever the page was doing).
async function bounded(what, ms, fn) {
  const b = await freshBrowser();
  let timer;
  const work = fn(b);
  work.catch(() => {});
  try {
    return await Promise.race([work, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${Math.round(ms / 1000)} s`)), ms); })]);
  } catch (e) {
    const msg = String(e && e.message ? e.message : e).split('\n')[0];
    log(`${what}: ${msg}${b.logs.length ? ` (page log: ${b.logs.slice(-3).join(' | ')})` : ''}`);
    return { error: msg };
  } finally {
    clearTimeout(timer);
    await b.close().catch(() => {});
  }
}

// Reads a shape from offset -1 to its first up-to-date (node's fetch, non-live), so the server has
// built its log. Returns {ms, firstHeadersMs, firstResponseMs, rows}.
async function drainShape(params) {
  let offset = '-1', handle = null, rows = 0, firstHeadersMs = null, firstResponseMs = null;
  const t0 = performance.now();
  for (;;) {
    const q = new URLSearchParams({ ...params, offset });
    if (handle) q.set('handle', handle);
    const r = await fetch(`${backend.shapeUrl}?${q}`);
    firstHeadersMs ??= performance.now() - t0;
    const body = await r.text();
    firstResponseMs ??= performance.now() - t0;
    if (r.status !== 200) throw new Error(`shape ${q}: ${r.status} ${body.slice(0, 200)}`);
    for (const m of JSON.parse(body)) if (m.headers && m.headers.operation) rows++;
    handle = r.headers.get('electric-handle');
    offset = r.headers.get('electric-offset');
    if (r.headers.has('electric-up-to-date')) break;
  }
  return { ms: performance.now() - t0, firstHeadersMs, firstResponseMs, rows };
}

// The memory of the page's SharedWorker (DevTools protocol): V8's JS heap + ArrayBuffer backing
// stores + the wasm heap. {error} when the protocol does not say. (Runtime.queryObjects would
// find the wasm memory without the worker's help, but it crashes the worker target in Chromium 156.)
async function workerMemory(b, page) {
  const cdp = await b.ctx.newCDPSession(page);
  try {
    const { targetInfos } = await cdp.send('Target.getTargets');
    const t = targetInfos.find((x) => x.type === 'shared_worker' && x.url.includes('electric-sync.worker'));
    if (!t) return { error: 'no shared_worker target' };
    const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: t.targetId, flatten: false });
    const call = (id, method, params = {}) => new Promise((resolve) => {
      const timer = setTimeout(() => { cdp.off('Target.receivedMessageFromTarget', on); resolve({ error: `${method}: no answer` }); }, 10000);
      const on = (e) => {
        if (e.sessionId !== sessionId) return;
        const m = JSON.parse(e.message);
        if (m.id === id) { clearTimeout(timer); cdp.off('Target.receivedMessageFromTarget', on); resolve(m.result || { error: m.error }); }
      };
      cdp.on('Target.receivedMessageFromTarget', on);
      cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) }).catch((e) => resolve({ error: String(e) }));
    });
    await call(1, 'HeapProfiler.collectGarbage');
    const u = await call(2, 'Runtime.getHeapUsage');
    // The wasm memory is not in the backing-store count: the module's heap (its instance is
    // self.ElectricSyncWorker.instance in the worker), and the engine's malloc'd bytes.
    const wasm = await call(3, 'Runtime.evaluate', {
      returnByValue: true,
      expression: '(() => { const m = self.ElectricSyncWorker && self.ElectricSyncWorker.instance && self.ElectricSyncWorker.instance.module; return m ? { heap: m.HEAPU8.length, used: typeof m.memoryUsed === "function" ? m.memoryUsed() : null } : null; })()',
    });
    await cdp.send('Target.detachFromTarget', { sessionId }).catch(() => {});
    if (typeof u.usedSize !== 'number') return { error: JSON.stringify(u).slice(0, 200) };
    const w = wasm.result && wasm.result.value;
    if (!w) log(`worker memory: no wasm heap (${JSON.stringify(wasm).slice(0, 200)})`);
    return {
      js_heap_bytes: u.usedSize, backing_store_bytes: u.backingStorageSize ?? null,
      wasm_heap_bytes: w ? w.heap : null, wasm_malloc_bytes: w ? w.used : null,
      total_bytes: u.usedSize + (u.backingStorageSize || 0) + (w ? w.heap : 0),
    };
  } finally {
    await cdp.detach().catch(() => {});
  }
}

// In a page: useElectricSync(c), timed until ready and until the DATA_CHANGE inserts sum to
// `rows` (their counts: a large change set's rows are parsed when first read), then until every
// one of those rows was read in the tab (as an app that keeps them would: the parse included);
// then the worker's STATS over a raw port (kept as window.__stats).
const ESYNC_SYNC = async ([c, rows, graceMs]) => {
  const { useElectricSync } = await import('/electric-sync.js');
  window.__recv = new Map();
  const t0 = performance.now();
  const startedAt = performance.timeOrigin + t0;
  let got = 0, tab = null, ready = null, tabRead = null;
  const s = useElectricSync(c);
  window.__sync = s;
  const initial = [];
  const all = new Promise((resolve) => {
    s.on('DATA_CHANGE', (e) => {
      const now = Date.now();
      const ins = (e.changes && e.changes.insert) || [];
      got += ins.length;
      if (tab === null) initial.push(ins);
      if (got >= rows && tab === null) {
        tab = performance.now() - t0;
        let read = 0;
        for (const list of initial) for (const r of list) if (r.id !== undefined) read++;
        if (read >= rows) tabRead = performance.now() - t0;
        initial.length = 0;
        resolve();
      }
      if (got > rows) for (const r of ins) window.__recv.set(r.id, now);
    });
  });
  await s.ready.then(() => { ready = performance.now() - t0; });
  // The tab's rows: at most graceMs more (a DATA_CHANGE of another form would leave tab null and
  // the durable time still measured).
  await Promise.race([all, new Promise((r) => setTimeout(r, graceMs))]);
  const [{ n }] = await s.query('SELECT count(*) AS n FROM test_items');
  const fmt = (await import('/electric-sync.js')).WORKER_FORMAT;
    const w = new SharedWorker('/electric-sync.worker.js', { name: `electric-sync:${c.dbName}:${fmt}` });
  window.__stats = () => new Promise((resolve) => {
    const id = Math.random();
    w.port.onmessage = (ev) => { if (ev.data.id === id) resolve(ev.data.value); };
    w.port.postMessage({ type: 'STATS', id });
  });
  return { startedAt, ready, tab, tabRead, tabRows: got, n, stats: await window.__stats() };
};

// The sync's figures from a page's ESYNC_SYNC result: durable = the last `durable` mark at or
// before the tab's `ready` (on the page's clock), and the worker's timeline relative to the start.
function esyncFigures(r, rows) {
  if (r.n < rows) throw new Error(`synced ${r.n} rows, expected ${rows}`);
  const rel = (ms) => r.stats.startedAt + ms - r.startedAt;
  const marks = r.stats.timeline.map(([l, ms]) => [l, Math.round(rel(ms))]);
  const durable = marks.filter(([l, ms]) => l.startsWith('durable') && ms <= r.ready + 1).pop();
  return {
    durable_ms: durable ? durable[1] : null,
    ready_ms: Math.round(r.ready),
    tab_ms: r.tab == null ? null : Math.round(r.tab),
    tab_read_ms: r.tabRead == null ? null : Math.round(r.tabRead),
    tab_rows: r.tabRows,
    replica_bytes: r.stats.size,
    memory_stats: Object.fromEntries(Object.entries(r.stats).filter(([k]) => /mem|heap/i.test(k))),
    timeline: marks,
  };
}

async function esyncWarm(rows, { writes = 0, open = true } = {}) {
  return bounded('electric-sync', timeoutFor(rows) + (writes ? 60000 : 0), async (b) => {
    const p = await settledPage(b);
    const r = await p.evaluate(ESYNC_SYNC, [cfg, rows, graceFor(rows)]);
    const out = esyncFigures(r, rows);
    out.worker_memory = await workerMemory(b, p).catch((e) => ({ error: String(e.message || e) }));
    if (writes) out.latency = await commitLatency(p, writes);
    if (open) out.open = await openTime(b, p, rows);
    return out;
  });
}

async function esyncNewShape(rows, run) {
  const where = `title <> 'bench-new-${Date.now()}-${run}'`;
  return bounded('electric-sync new shape', timeoutFor(rows), async (b) => {
    const p = await settledPage(b);
    const c = { ...cfg, shapes: [{ name: 'test_items', table: 'test_items', where }] };
    const r = await p.evaluate(ESYNC_SYNC, [c, rows, graceFor(rows)]);
    return esyncFigures(r, rows);
  });
}

// Single-row writes, one at a time: write -> its DATA_CHANGE in the tab; IndexedDB pages per commit.
async function commitLatency(p, n) {
  await p.waitForFunction(() => window.__sync.status.test_items?.phase === 'live', null, { timeout: 30000 });
  const before = await p.evaluate(() => window.__stats());
  const lat = [];
  for (let i = 0; i < n; i++) {
    const id = randomUUID();
    const t0 = Date.now();
    await backend.insert({ id, title: `bench ${i}` });
    await p.waitForFunction((x) => window.__recv.has(x), id, { polling: 'raf', timeout: 20000 });
    lat.push((await p.evaluate((x) => window.__recv.get(x), id)) - t0);
  }
  const after = await p.evaluate(() => window.__stats());
  const flushes = after.flushes - before.flushes;
  return {
    writes: n, p50_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99), flushes,
    pages_per_commit: +((after.pagesWritten - before.pagesWritten) / Math.max(1, flushes)).toFixed(2),
  };
}

// Every tab of the profile closed (the worker ends), then a new page opens the stored replica
// with the network unreachable: until ready; until the first query's answer, a list view's first
// page (`ORDER BY id LIMIT 50`: a few pages of the b-tree); then until `count(*)` (which reads
// every leaf page of the table, so it waits for the whole image), both from the same start.
async function openTime(b, p, rows) {
  await p.close();
  await new Promise((r) => setTimeout(r, 500));
  const q = await settledPage(b);
  return q.evaluate(async ([n, a]) => {
    const { useElectricSync } = await import('/electric-sync.js');
    const t0 = performance.now();
    const s = useElectricSync({ ...a, shapeUrl: 'http://127.0.0.1:9/v1/shape', versionUrl: 'http://127.0.0.1:9/api/schema/version' });
    await s.ready;
    const ready = performance.now() - t0;
    const page = await s.query('SELECT id, title, completed FROM test_items ORDER BY id LIMIT 50');
    const first = performance.now() - t0;
    if (page.length !== Math.min(50, n)) throw new Error(`first page: ${page.length} rows`);
    const [{ c }] = await s.query('SELECT count(*) AS c FROM test_items');
    const count = performance.now() - t0;
    if (c < n) throw new Error(`opened ${c} rows`);
    return { ready_ms: Math.round(ready), first_query_ms: Math.round(first), count_ms: Math.round(count) };
  }, [rows, app]);
}

async function client(rows) {
  return bounded('@electric-sql/client', timeoutFor(rows), async (b) => {
    const p = await settledPage(b);
    const r = await p.evaluate(async ([url, params]) => {
      const { ShapeStream, Shape } = await import('/__peer/client.mjs');
      const t0 = performance.now();
      const shape = new Shape(new ShapeStream({ url, params }));
      const all = await shape.rows;
      const ms = performance.now() - t0;
      return { ms, n: all.length };
    }, [backend.shapeUrl, SHAPE]);
    if (r.n < rows) throw new Error(`Shape.rows had ${r.n} rows, expected ${rows}`);
    return { ms: Math.round(r.ms) };
  });
}

const PG_TABLE = `CREATE TABLE test_items (
  id uuid PRIMARY KEY NOT NULL, title text NOT NULL, description text,
  completed boolean DEFAULT false NOT NULL,
  created_at timestamp DEFAULT now() NOT NULL, updated_at timestamp DEFAULT now() NOT NULL)`;

async function pglite(rows) {
  return bounded('pglite-sync', timeoutFor(rows), async (b) => {
    const p = await settledPage(b);
    const r = await p.evaluate(async ([url, params, ddl]) => {
      const { PGlite, electricSync } = await import('/__peer/pglite.mjs');
      const t0 = performance.now();
      const pg = await PGlite.create('idb://bench-pglite', { extensions: { sync: electricSync() } });
      await pg.exec(ddl);
      const start = performance.now() - t0;
      const t1 = performance.now();
      await new Promise((resolve, reject) => {
        pg.sync.syncShapeToTable({
          shape: { url, params }, table: 'test_items', primaryKey: ['id'], shapeKey: 'bench',
          onInitialSync: resolve, onError: reject,
        }).catch(reject);
      });
      const sync = performance.now() - t1;
      const { rows: [{ n }] } = await pg.query('SELECT count(*)::int AS n FROM test_items');
      return { start, sync, n };
    }, [backend.shapeUrl, SHAPE, PG_TABLE]);
    if (r.n < rows) throw new Error(`PGlite had ${r.n} rows, expected ${rows}`);
    return { sync_ms: Math.round(r.sync), start_ms: Math.round(r.start) };
  });
}

// --- the runs -----------------------------------------------------------------------------------
const machine = {
  cores: os.cpus().length, cpu: os.cpus()[0]?.model?.trim(), memory_gib: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
};
const result = { date: new Date().toISOString(), machine, load: { start: load() }, runs_per_system: RUNS, sizes: {} };
// BENCH_MERGE=1: keep the sizes of the last results that this run does not measure (each size
// keeps its own date and load).
const resultsPath = path.join(root, 'bench/results/browser.json');
if (process.env.BENCH_MERGE === '1') {
  try { Object.assign(result.sizes, JSON.parse(readFileSync(resultsPath, 'utf8')).sizes); } catch { /* none yet */ }
}
try {
  {
    const b = await freshBrowser();
    const p = await b.page();
    machine.chromium = await p.evaluate(() => (navigator.userAgent.match(/Chrome\/([\d.]+)/) || [])[1] || navigator.userAgent);
    await b.close();
  }
  machine.summary = `${machine.cores} cores (${machine.cpu}), ${machine.memory_gib} GiB, Chromium ${machine.chromium}, shared`;
  for (const [si, rows] of SIZES.entries()) {
    log(`${rows} rows: seeding`);
    await backend.seedMany(rows);
    const warm = await drainShape(SHAPE);
    if (warm.rows !== rows) throw new Error(`warming the shape read ${warm.rows} rows, expected ${rows}`);
    log(`${rows} rows: shape warm (built and read in ${Math.round(warm.ms)} ms); ${RUNS} runs, timeout ${Math.round(timeoutFor(rows) / 1000)} s each`);
    const s = { rows, date: new Date().toISOString(), runs_per_system: RUNS, load: { start: load() }, warmup_ms: Math.round(warm.ms), runs: [] };
    const skip = {};
    for (let run = 0; run < RUNS; run++) {
      const raw = { run: run + 1 };
      const last = run === RUNS - 1;
      // A new shape's first byte, from node (a where of its own, so the server builds a snapshot);
      // read to its end, so the server is idle again before the timed runs.
      const fb = await drainShape({ ...SHAPE, where: `title <> 'bench-fb-${Date.now()}-${run}'` }).catch((e) => ({ error: e.message }));
      raw.new_shape_first_byte_ms = fb.error ? null : Math.round(fb.firstHeadersMs);
      raw.new_shape_first_response_ms = fb.error ? null : Math.round(fb.firstResponseMs);
      raw.new_shape_node_ms = fb.error ? null : Math.round(fb.ms);
      for (const sys of SYSTEMS) {
        if (skip[sys]) { raw[sys] = { error: skip[sys] }; continue; }
        await serverIdle();
        log(`${rows} rows, run ${run + 1}: ${sys}`);
        if (sys === 'client') raw.client = await client(rows);
        else if (sys === 'pglite') raw.pglite = await pglite(rows);
        else if (sys === 'esync_new') raw.esync_new = await esyncNewShape(rows, run);
        // The last warm run of the first size also times single-row writes (they add rows to the
        // shape, so nothing runs after them at this size).
        else raw.esync = await esyncWarm(rows, { writes: si === 0 && last ? WRITES : 0 });
        if (raw[sys].error && /timed out/.test(raw[sys].error) && sys === 'pglite') skip[sys] = `skipped: run ${run + 1} ${raw[sys].error}`;
      }
      s.runs.push(raw);
    }
    const col = (f) => s.runs.map((r) => { try { return f(r); } catch { return null; } });
    s.esync_durable_ms = median(col((r) => r.esync.durable_ms));
    s.esync_ready_ms = median(col((r) => r.esync.ready_ms));
    s.esync_tab_ms = median(col((r) => r.esync.tab_ms));
    s.esync_tab_read_ms = median(col((r) => r.esync.tab_read_ms));
    s.esync_new_shape_ms = median(col((r) => r.esync_new.durable_ms));
    s.esync_new_shape_tab_ms = median(col((r) => r.esync_new.tab_ms));
    s.esync_new_shape_first_byte_ms = median(col((r) => r.new_shape_first_byte_ms));
    s.client_ms = median(col((r) => r.client.ms));
    s.pglite_sync_ms = median(col((r) => r.pglite.sync_ms));
    s.pglite_start_ms = median(col((r) => r.pglite.start_ms));
    s.open_ms = median(col((r) => r.esync.open.first_query_ms));
    s.open_ready_ms = median(col((r) => r.esync.open.ready_ms));
    s.open_count_ms = median(col((r) => r.esync.open.count_ms));
    s.worker_memory_bytes = median(col((r) => r.esync.worker_memory.total_bytes));
    s.worker_js_heap_bytes = median(col((r) => r.esync.worker_memory.js_heap_bytes));
    s.worker_wasm_heap_bytes = median(col((r) => r.esync.worker_memory.wasm_heap_bytes));
    s.worker_wasm_malloc_bytes = median(col((r) => r.esync.worker_memory.wasm_malloc_bytes));
    s.replica_bytes = median(col((r) => r.esync.replica_bytes));
    // Memory fields the worker's STATS may carry (the store's own accounting), as reported.
    const statsMem = s.runs.map((r) => r.esync && r.esync.memory_stats).find((m) => m && Object.keys(m).length);
    if (statsMem) s.worker_memory_stats = statsMem;
    const lat = s.runs.map((r) => r.esync && r.esync.latency).find(Boolean);
    if (lat) s.commit_to_tab = lat;
    const errors = {};
    for (const r of s.runs) for (const k of ['client', 'pglite', 'esync_new', 'esync']) if (r[k] && r[k].error) (errors[k] ||= []).push(`run ${r.run}: ${r[k].error}`);
    if (Object.keys(errors).length) s.errors = errors;
    // The timeline of the median warm run (by durable time), relative to the page's first call.
    const ok = s.runs.filter((r) => r.esync && r.esync.timeline).sort((a, b) => a.esync.durable_ms - b.esync.durable_ms);
    const mid = ok[(ok.length - 1) >> 1];
    s.timeline = mid ? mid.esync.timeline : null;
    for (const r of s.runs) if (r.esync && r.esync.timeline && r !== mid) r.esync.timeline = `${r.esync.timeline.length} marks (see the top-level timeline for the median run)`;
    s.load.end = load();
    result.sizes[rows] = s;
    report(rows, s);
    save();
  }
} finally {
  await backend.stop();
}
result.load.end = load();
save();
console.log(`\nREADME section (How it compares):\n${readmeSection(result)}`);

function save() {
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  writeFileSync(resultsPath, JSON.stringify(result, null, 2));
  writeFileSync(path.join(root, 'bench/results/browser-sync.svg'), syncPlot(result.sizes, { subtitle: `${result.date.slice(0, 10)}, ${machine.summary}, load ${result.load.start.join(' ')}` }));
}

function fmt(ms) { return ms == null ? '—' : `${ms.toLocaleString('en')} ms`; }
function ratio(a, b) { return a == null || b == null ? '—' : `${(a / b).toFixed(2)}×`; }

function report(rows, s) {
  const line = (m, v) => console.log(`${m.padEnd(66)} ${String(v).padStart(14)}`);
  console.log(`\n${rows} rows in headless Chromium, fresh profile per run, medians of ${RUNS} (load ${s.load.start.join(' ')} -> ${s.load.end.join(' ')})`);
  line('electric-sync, warm shape: durable in IndexedDB', fmt(s.esync_durable_ms));
  line('electric-sync, warm shape: all rows in the tab (DATA_CHANGE)', fmt(s.esync_tab_ms));
  line('  ... and every row read there (parsed on first read)', fmt(s.esync_tab_read_ms));
  line('electric-sync, new shape (server snapshot): durable', fmt(s.esync_new_shape_ms));
  line('  new shape: first response byte (from node)', fmt(s.esync_new_shape_first_byte_ms));
  line('@electric-sql/client: Shape.rows (memory only)', fmt(s.client_ms));
  line('pglite-sync into PGlite idb:// (start excluded)', fmt(s.pglite_sync_ms));
  line('  PGlite start (idb://, create table)', fmt(s.pglite_start_ms));
  line('open the stored replica until the first query (a first page of 50 rows)', fmt(s.open_ms));
  line('  ... until count(*) (every leaf page read)', fmt(s.open_count_ms));
  line('worker memory (JS heap + ArrayBuffers + wasm), bytes', s.worker_memory_bytes ?? '—');
  line('replica size, bytes', s.replica_bytes ?? '—');
  line('ratio: esync durable / client', ratio(s.esync_durable_ms, s.client_ms));
  line('ratio: esync in tab / client', ratio(s.esync_tab_ms, s.client_ms));
  line('ratio: esync every row read in tab / client', ratio(s.esync_tab_read_ms, s.client_ms));
  line('ratio: esync durable / pglite-sync', ratio(s.esync_durable_ms, s.pglite_sync_ms));
  line('ratio: esync new shape / warm shape', ratio(s.esync_new_shape_ms, s.esync_durable_ms));
  line('ratio: open / initial sync', ratio(s.open_ms, s.esync_durable_ms));
  line('ratio: worker memory / replica size', ratio(s.worker_memory_bytes, s.replica_bytes));
  if (s.commit_to_tab) line(`commit-to-tab p50 / p99 (${s.commit_to_tab.writes} single-row writes), IndexedDB pages per commit`, `${s.commit_to_tab.p50_ms} / ${s.commit_to_tab.p99_ms} ms, ${s.commit_to_tab.pages_per_commit}`);
  if (s.errors) console.log(`errors: ${JSON.stringify(s.errors)}`);
  if (s.timeline) console.log(`worker timeline (median warm run, ms from the page's call): ${s.timeline.map(([l, ms]) => `${l} @${ms}`).join(', ')}`);
}
