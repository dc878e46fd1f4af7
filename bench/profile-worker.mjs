// A developer's tool: times electric-sync's warm initial sync in Chromium (the package's dist, as
// bench/browser.mjs serves it) and profiles its SharedWorker over the DevTools protocol.
//   [DIST=dir] ROWS=100000 RUNS=3 [NOSEED=1] [NOSETTLE=1] [NEW=1] [PROFILE=dir [PAGE=1]] [TIMELINE=1] [WRITES=n] [REOPEN=1 [LINGER=ms]] [TRACE=file] [SERVERLOG=1] [CPU=1] node bench/profile-worker.mjs
// Each run starts once the browser launched for it is idle (as bench/browser.mjs: openContext's
// settle); NOSETTLE=1 starts at once, in the browser's own start.
// NEW=1: each run syncs a new shape (a where of its own: the server writes its snapshot meanwhile).
// Prints each run's times (until ready, until the tab has every row; with REOPEN, the open of the
// stored replica offline until the first query and until count(*), as bench/browser.mjs times it); with PROFILE, writes
// PROFILE/worker<run>.cpuprofile and, with REOPEN, PROFILE/reopen<run>.cpuprofile (open in Chromium's DevTools, or read with node). For wasm
// function names in the profile, build the engine with -DESYNC_WASM_PROFILE=ON. PAGE=1 samples the
// page's main thread too (PROFILE/page<run>.cpuprofile). TRACE=file writes file.<run>.json (with REOPEN, file.reopen<run>.json of the reopen), a
// Chromium trace of the browser process and the renderers during the sync (wasm compilation,
// IndexedDB, loading and scheduler events; open in Perfetto). TIMELINE also prints the page's t0 in ms since the epoch,
// to line the marks up with samples taken outside the browser. CPU=1 prints the CPU time (ms,
// from /proc) that the browser's processes, the server and Postgres used during each sync.
import { writeFileSync, mkdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { root } from '../wasm-tests/load.js';
import { startBackend } from '../wasm-tests/support/backend.js';
import { openContext, processTicks, processes, trace } from '../tests/e2e/browser.js';
const ROWS = Number(process.env.ROWS || 100000);
const PROFILE = process.env.PROFILE;
if (PROFILE) mkdirSync(PROFILE, { recursive: true });
const dist = process.env.DIST || path.join(root, 'packages/electric-sync/dist'); // DIST: another build of the package (A/B runs)
const backend = await startBackend({ static: true, webDir: dist });
const base = backend.staticBase;
const cfg = { shapes: [{ name: 'test_items', table: 'test_items' }], dbName: 'prof', shapeUrl: backend.shapeUrl, liveUrl: backend.liveUrl, versionUrl: backend.versionUrl };
// In every page: the worker's marks (STATS over a port of the page's own), as ms since t0 (the
// page's clock).
const WORKER_MARKS = `window.__workerMarks = async (dbName, t0) => {
  const fmt = (await import('/electric-sync.js')).WORKER_FORMAT;
  const w = new SharedWorker('/electric-sync.worker.js', { name: 'electric-sync:' + dbName + ':' + fmt });
  const stats = await new Promise((resolve) => { w.port.onmessage = (ev) => resolve(ev.data.value); w.port.postMessage({ type: 'STATS', id: 1 }); });
  const at = (ms) => Math.round(stats.startedAt + ms - (performance.timeOrigin + t0));
  return stats.timeline.map(([l, ms]) => l + ' @' + at(ms)).join(', ');
};`;
// A Chromium trace of the browser process and the renderers (wasm compilation, IndexedDB,
// loading, scheduler events) from now until endTrace(stop, file) writes it (open in Perfetto).
const startTrace = (ctx, page) => trace(ctx, page, ['toplevel', 'devtools.timeline', 'v8', 'blink', 'mojom', 'ipc', 'disabled-by-default-v8.gc', 'IndexedDB', 'net', 'loading', 'disabled-by-default-devtools.timeline', 'v8.wasm', 'disabled-by-default-v8.wasm.detailed', 'disabled-by-default-v8.wasm.turbofan', 'disabled-by-default-v8.compile', 'v8.compile']);
const endTrace = async (stop, file) => writeFileSync(file, await stop());
// Attaches to the SharedWorker that `page` starts (over the page's DevTools session) and, with
// PROFILE, samples its CPU from its first script; save(name) writes PROFILE/<name>.cpuprofile.
async function profileWorker(ctx, page) {
  const cdp = await ctx.newCDPSession(page);
  let sessionId = null, nextId = 1; const pending = new Map();
  cdp.on('Target.receivedMessageFromTarget', (e) => { const m = JSON.parse(e.message); if (pending.has(m.id)) { pending.get(m.id)(m.result || m.error); pending.delete(m.id); } });
  const call = (method, params = {}) => new Promise((res) => { const id = nextId++; pending.set(id, res); cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) }); });
  const attached = new Promise((res) => cdp.on('Target.targetCreated', async ({ targetInfo: t }) => {
    if (t.type !== 'shared_worker') return;
    ({ sessionId } = await cdp.send('Target.attachToTarget', { targetId: t.targetId, flatten: false }));
    if (PROFILE) { await call('Profiler.enable'); await call('Profiler.setSamplingInterval', { interval: 200 }); await call('Profiler.start'); }
    res();
  }));
  await cdp.send('Target.setDiscoverTargets', { discover: true });
  return {
    async save(name) {
      await attached;
      if (PROFILE) writeFileSync(path.join(PROFILE, `${name}.cpuprofile`), JSON.stringify((await call('Profiler.stop')).profile));
    },
  };
}

// CPU=1: the processes whose CPU is read around each sync (ms per clock tick: 10); Postgres is
// every process named postgres on the machine (the bench's cluster, with nothing else running)
const postgresPids = () => processes().filter((p) => p.args[0].startsWith('postgres')).map((p) => p.pid);
const cpuNow = (b) => ({ browser: processTicks(b.pids()), server: processTicks([backend.serverPid]), postgres: processTicks(postgresPids()) });
const cpuSince = (a, b) => Object.entries(cpuNow(b)).map(([k, v]) => `${k} ${((v ?? 0) - (a[k] ?? 0)) * 10}`).join(', ');

try {
  if (!process.env.NOSEED) await backend.seedMany(ROWS);
  // warm
  let offset = '-1', handle = null;
  for (;;) { const q = new URLSearchParams({ table: 'test_items', offset }); if (handle) q.set('handle', handle); const r = await fetch(`${backend.shapeUrl}?${q}`); await r.arrayBuffer(); handle = r.headers.get('electric-handle'); offset = r.headers.get('electric-offset'); if (r.headers.has('electric-up-to-date')) break; }
  // the server's background files of that shape (its images, gzip) made before anything is timed
  await new Promise((res) => setTimeout(res, 4000));
  for (let run = 0; run < Number(process.env.RUNS || 1); run++) {
  const b = await openContext(base);
  await b.ctx.addInitScript(WORKER_MARKS);
  const p = await b.page();
  // as bench/browser.mjs: timed once the browser launched for this run is idle (NOSETTLE=1: at once)
  const settled = process.env.NOSETTLE ? 0 : await b.settle();
  const prof = await profileWorker(b.ctx, p);
  const c = process.env.NEW ? { ...cfg, shapes: [{ ...cfg.shapes[0], where: `title <> 'profile-${Date.now()}-${run}'` }] } : cfg;
  // PAGE=1 with PROFILE: the page's main thread is sampled too (PROFILE/page<run>.cpuprofile)
  const pcdp = PROFILE && process.env.PAGE ? await b.ctx.newCDPSession(p) : null;
  if (pcdp) { await pcdp.send('Profiler.enable'); await pcdp.send('Profiler.setSamplingInterval', { interval: 200 }); await pcdp.send('Profiler.start'); }
  // TRACE=file: a Chromium trace of the browser process and the renderers during the sync (Perfetto)
  // (with REOPEN=1, the reopen is traced instead: file.reopen<run>.json)
  const tcdp = process.env.TRACE && !process.env.REOPEN ? await startTrace(b.ctx, p) : null;
  const cpu0 = process.env.CPU ? cpuNow(b) : null;
  const r = await p.evaluate(async ([c, rows]) => {
    const { useElectricSync } = await import('/electric-sync.js');
    const t0 = performance.now(); let got = 0, tab = null;
    const s = useElectricSync(c);
    const all = new Promise((resolve) => s.on('DATA_CHANGE', (e) => { got += ((e.changes && e.changes.insert) || []).length; if (got >= rows && tab === null) { tab = performance.now() - t0; resolve(); } }));
    await s.ready; const ready = performance.now() - t0; await all;
    return { ready: Math.round(ready), tab: Math.round(tab), epoch: Math.round(performance.timeOrigin + t0), timeline: await window.__workerMarks(c.dbName, t0) };
  }, [c, ROWS]);
  const cpu = cpu0 ? cpuSince(cpu0, b) : null;
  await prof.save(`worker${run}`);
  if (tcdp) await endTrace(tcdp, `${process.env.TRACE}.${run}.json`);
  if (pcdp) writeFileSync(path.join(PROFILE, `page${run}.cpuprofile`), JSON.stringify((await pcdp.send('Profiler.stop')).profile));
  console.log(`run ${run + 1}: ready ${r.ready} ms, tab ${r.tab} ms${settled ? ` (browser idle after ${settled} ms)` : ""}`);
  if (cpu) console.log(`  CPU ms during the sync: ${cpu}`);
  if (process.env.TIMELINE) console.log(`  (t0 = ${r.epoch} ms since the epoch) ${r.timeline}`);
  // WRITES=n: n single-row inserts after the sync, one at a time, as bench/browser.mjs's
  // commit latency makes them before its open (the stored replica then has their deltas)
  for (let i = 0; i < Number(process.env.WRITES || 0); i++) await backend.insert({ id: randomUUID(), title: `profile write ${i}` });
  if (process.env.WRITES) await new Promise((res) => setTimeout(res, 2000));
  if (process.env.REOPEN) {
    // LINGER=ms: the synced page stays open that long first (V8 offers a module to Chromium's
    // wasm code cache only once its optimized code has stopped growing for a while); the size of
    // the profile's wasm code cache is printed before the reopen
    if (process.env.LINGER) {
      await new Promise((res) => setTimeout(res, Number(process.env.LINGER)));
      console.log(`  wasm code cache before the reopen: ${b.wasmCodeCacheBytes()} B`);
    }
    // as bench/browser.mjs's open: every tab closed, then a new page opens the stored replica offline
    await p.close();
    await new Promise((res) => setTimeout(res, 500));
    const q = await b.page();
    if (!process.env.NOSETTLE) await b.settle();
    const qprof = await profileWorker(b.ctx, q);
    const qt = process.env.TRACE ? await startTrace(b.ctx, q) : null;
    const o = await q.evaluate(async (c) => {
      const { useElectricSync } = await import('/electric-sync.js');
      const t0 = performance.now();
      const s = useElectricSync({ ...c, shapeUrl: 'http://127.0.0.1:9/v1/shape', versionUrl: 'http://127.0.0.1:9/api/schema/version' });
      await s.ready; const ready = performance.now() - t0;
      await s.query('SELECT id, title, completed FROM test_items ORDER BY id LIMIT 50'); const first = performance.now() - t0;
      await s.query('SELECT count(*) AS c FROM test_items'); const count = performance.now() - t0;
      return { ready: Math.round(ready), first: Math.round(first), count: Math.round(count), timeline: await window.__workerMarks(c.dbName, t0) };
    }, cfg);
    await qprof.save(`reopen${run}`);
    if (qt) await endTrace(qt, `${process.env.TRACE}.reopen${run}.json`);
    console.log(`  reopen: ready ${o.ready} ms, first query (a page of 50 rows) ${o.first} ms, count(*) ${o.count} ms`);
    if (process.env.TIMELINE) console.log(`  ${o.timeline}`);
  }
  await b.close();
  }
} finally {
  // SERVERLOG=1: the server's log lines about snapshots (their timings: workers.c)
  if (process.env.SERVERLOG) console.log(backend.serverLog().split("\n").filter((l) => /snapshot/.test(l)).join("\n"));
  await backend.stop();
}
