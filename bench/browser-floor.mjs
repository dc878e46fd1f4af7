// npm run bench, browser part: what Chromium costs a SharedWorker before any of electric-sync's
// code can read a replica, measured with no electric-sync logic at all: the floor under the
// reopen that bench/browser.mjs times (a stored replica opened in a new page until its first
// query). Every step is one that worker has to take:
//  - start:   `new SharedWorker(url)` in the page until the first statement of the script runs:
//             an empty script, and the package's worker bundle (its code evaluated, not started);
//  - idb:     the same empty worker opening an IndexedDB database and reading one record of
//             256 KiB (a replica's first read: its meta record and the start of extent 0);
//  - both:    the IndexedDB read and the .wasm's compile begun together in one worker, as
//             electric-sync's worker does (the database opened a moment before, by `idb`);
//  - wasm:    the same worker fetching the package's `.wasm` and compiling it
//             (`WebAssembly.compileStreaming`), and then instantiating it; also in the page;
//  - cache:   whether Chromium kept compiled wasm code for the next load: the size of the
//             profile's `Code Cache/wasm` after the loads, and the compile time load by load.
// One fresh browser profile; LOADS page loads (default 5), each in a new page once the browser
// is idle; medians of the loads after the first. Files are served by a small HTTP server here
// with the headers the shape service's static files have (`Cache-Control: no-cache`, a
// Last-Modified that answers revalidation with 304).
//   node bench/browser-floor.mjs      (LOADS=5)    writes bench/results/browser-floor.json
import { readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { root } from '../wasm-tests/load.js';
import { openContext } from '../tests/e2e/browser.js';
import { serveStatic } from './support.mjs';

const LOADS = Math.max(2, Number(process.env.LOADS || 5));
const dist = process.env.DIST || path.join(root, 'packages/electric-sync/dist');
const log = (m) => process.stderr.write(`bench browser-floor: ${m}\n`);

// The worker side of every probe: one script, told what to do by its URL's query. Times are
// ms since the epoch (performance.timeOrigin + now), so the page can subtract its own.
const PROBE = `
const t0 = performance.timeOrigin + performance.now();
const q = new URL(self.location.href).searchParams;
const now = () => performance.timeOrigin + performance.now();
async function run() {
  const out = { script: t0 };
  const idb = async () => {
    const db = await new Promise((ok, no) => { const r = indexedDB.open('floor', 1); r.onupgradeneeded = () => r.result.createObjectStore('s'); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
    out.idb_open = now();
    const v = await new Promise((ok, no) => { const r = db.transaction('s').objectStore('s').get('x'); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
    out.idb_read = now();
    out.bytes = v ? v.byteLength : 0;
    db.close();
  };
  if (q.get('do') === 'idb') {
    await idb();
  } else if (q.get('do') === 'both') {
    // as electric-sync's worker does: the IndexedDB read and the .wasm's compile at once
    await Promise.all([idb(), WebAssembly.compileStreaming(fetch('/floor/electric-sync.wasm')).then(() => { out.compiled = now(); })]);
  } else if (q.get('do') === 'wasm') {
    const mod = await WebAssembly.compileStreaming(fetch('/floor/electric-sync.wasm'));
    out.compiled = now();
    const imports = {};
    for (const i of WebAssembly.Module.imports(mod)) {
      const o = (imports[i.module] ||= {});
      o[i.name] = i.kind === 'function' ? () => 0 : i.kind === 'memory' ? new WebAssembly.Memory({ initial: 256, maximum: 32768 }) : i.kind === 'table' ? new WebAssembly.Table({ initial: 4096, element: 'anyfunc' }) : new WebAssembly.Global({ value: 'i32', mutable: true }, 0);
    }
    await WebAssembly.instantiate(mod, imports).catch(() => {});
    out.instantiated = now();
  }
  return out;
}
const done = run();
self.onconnect = (e) => { done.then((o) => e.ports[0].postMessage(o), (err) => e.ports[0].postMessage({ error: String(err) })); };
`;

function serve() {
  for (const f of ['electric-sync.worker.js', 'wasm/electric-sync.wasm']) {
    if (!existsSync(path.join(dist, f))) throw new Error(`browser-floor: ${path.join(dist, f)} is missing; run: bash scripts/package.sh`);
  }
  const bundle = readFileSync(path.join(dist, 'electric-sync.worker.js'), 'utf8');
  const files = {
    '/floor/page.html': ['text/html', '<!doctype html><title>floor</title>'],
    '/floor/probe.js': ['text/javascript', PROBE],
    // the bundle, evaluated but not started (ELECTRIC_SYNC_NO_AUTOSTART), the time taken at its first line
    '/floor/bundle.js': ['text/javascript', 'const t0 = performance.timeOrigin + performance.now(); self.ELECTRIC_SYNC_NO_AUTOSTART = true;\n' + bundle +
      '\n;const t1 = performance.timeOrigin + performance.now(); self.onconnect = (e) => e.ports[0].postMessage({ script: t0, evaluated: t1 });'],
    '/floor/electric-sync.wasm': ['application/wasm', readFileSync(path.join(dist, 'wasm/electric-sync.wasm'))],
  };
  return serveStatic(files);
}

const median = (xs) => { const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b); if (!s.length) return null; const m = s.length >> 1; return +(s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2).toFixed(1); };

const { server, base } = await serve();
const b = await openContext(base);
const loads = [];
try {
  for (let i = 0; i < LOADS; i++) {
    const p = await b.ctx.newPage();
    await p.goto(`${base}/floor/page.html`);
    // a record of 256 KiB to read, written and its database closed before the browser settles
    // (as a stored replica is, closed by the last worker before the reopen)
    await p.evaluate(() => new Promise((ok, no) => {
      const o = indexedDB.open('floor', 1);
      o.onupgradeneeded = () => o.result.createObjectStore('s');
      o.onsuccess = () => { const tx = o.result.transaction('s', 'readwrite'); tx.objectStore('s').put(new Uint8Array(262144).fill(7).buffer, 'x'); tx.oncomplete = () => { o.result.close(); ok(); }; tx.onerror = () => no(tx.error); };
      o.onerror = () => no(o.error);
    }));
    await new Promise((ok) => setTimeout(ok, 500));
    await b.settle();
    const r = await p.evaluate(async () => {
      const now = () => performance.timeOrigin + performance.now();
      const worker = (url) => new Promise((ok, no) => {
        const t = now();
        const w = new SharedWorker(url, { name: `floor-${Math.random()}` });
        const timer = setTimeout(() => no(new Error(`${url}: no answer from the SharedWorker within 10 s`)), 10000);
        w.onerror = () => { clearTimeout(timer); no(new Error(`${url}: the SharedWorker failed to start`)); };
        w.port.onmessage = (e) => {
          clearTimeout(timer);
          if (e.data.error) { no(new Error(`${url}: ${e.data.error}`)); return; }
          const o = {};
          for (const [k, v] of Object.entries(e.data)) o[k] = typeof v === 'number' && v > 1e12 ? +(v - t).toFixed(1) : v;
          ok(o);
        };
        w.port.start();
      });
      const out = {};
      out.idb = await worker('/floor/probe.js?do=idb'); // first: its database closed since it was written
      out.both = await worker('/floor/probe.js?do=both'); // the database again, opened and read while the .wasm compiles
      out.empty = await worker('/floor/probe.js?do=none');
      out.bundle = await worker('/floor/bundle.js');
      out.wasm = await worker('/floor/probe.js?do=wasm');
      const t = now();
      await WebAssembly.compileStreaming(fetch('/floor/electric-sync.wasm'));
      out.page_compile = +(now() - t).toFixed(1);
      return out;
    });
    r.wasm_code_cache_bytes = b.wasmCodeCacheBytes();
    loads.push(r);
    log(`load ${i + 1}: ${JSON.stringify(r)}`);
    await p.close();
  }
} finally {
  await b.close();
  server.close();
}

const later = loads.slice(1);
const col = (f) => median(later.map(f));
const summary = {
  date: new Date().toISOString(),
  loads: LOADS,
  empty_worker_start_ms: col((r) => r.empty.script),
  bundle_start_ms: col((r) => r.bundle.script),
  bundle_evaluated_ms: col((r) => r.bundle.evaluated),
  idb_open_ms: col((r) => r.idb.idb_open),
  idb_read_256k_ms: col((r) => r.idb.idb_read),
  wasm_compiled_ms: col((r) => r.wasm.compiled),
  both_idb_read_ms: col((r) => r.both.idb_read),
  both_wasm_compiled_ms: col((r) => r.both.compiled),
  wasm_instantiated_ms: col((r) => r.wasm.instantiated),
  page_compile_ms: col((r) => r.page_compile),
  wasm_compile_by_load_ms: loads.map((r) => r.wasm.compiled),
  wasm_code_cache_bytes: loads.map((r) => r.wasm_code_cache_bytes),
  runs: loads,
};
const rows = [
  ['an empty SharedWorker: `new SharedWorker` until its script runs', summary.empty_worker_start_ms],
  ['the package\'s worker bundle (not started): until its first line runs', summary.bundle_start_ms],
  ['  and until the whole bundle is evaluated', summary.bundle_evaluated_ms],
  ['an empty SharedWorker: an IndexedDB database (closed >0.5 s before) open', summary.idb_open_ms],
  ['  and one 256 KiB record read', summary.idb_read_256k_ms],
  ['an empty SharedWorker: the `.wasm` fetched and compiled (streaming)', summary.wasm_compiled_ms],
  ['  and instantiated', summary.wasm_instantiated_ms],
  ['both at once in one worker (as electric-sync\'s): the 256 KiB record read', summary.both_idb_read_ms],
  ['  and the `.wasm` compiled', summary.both_wasm_compiled_ms],
  ['the `.wasm` compiled in the page (streaming)', summary.page_compile_ms],
];
console.log(`\nChromium's floor under a SharedWorker's start (${summary.date.slice(0, 10)}; medians of loads 2..${LOADS}, ms after \`new SharedWorker\`)`);
for (const [k, v] of rows) console.log(`${k.padEnd(72)} ${v == null ? '-' : v}`);
console.log(`wasm compile in the worker, load by load (ms)                            ${summary.wasm_compile_by_load_ms.join(', ')}`);
console.log(`the profile's wasm code cache after each load (bytes)                    ${summary.wasm_code_cache_bytes.join(', ')}`);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/browser-floor.json'), JSON.stringify(summary, null, 2) + '\n');
