// A developer's tool: does Chromium keep compiled code of the engine's `.wasm` in its code cache
// (the profile's `Code Cache/wasm`), so that a later load skips V8's compile?
//   [MODE=engine|bare] [LOADS=4] [WARM=200] [WAIT=5000] [CACHE_CONTROL='no-cache'] node bench/wasm-code-cache.mjs
// One fresh Chromium profile, LOADS page loads, each in a new page that stays open WAIT ms after
// its work. MODE=engine (the default): the module compiled with `WebAssembly.compileStreaming` and
// instantiated through the emscripten loader (build/wasm/electric-sync.js), as the worker does; a
// replica of 2,000 rows written, then WARM cycles of open + shape + two queries (optimized code
// for what a reopen runs). MODE=bare, the control: the same `.wasm` with stub imports and 300,000
// malloc/free calls. Per load: the compile, the engine's first open, the wasm code-cache events of
// a trace of the page (V8 offering the module, Chromium storing it, a hit at load) and the size of
// `Code Cache/wasm` (72 B: an empty index).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { root } from '../wasm-tests/load.js';
import { openContext, trace } from '../tests/e2e/browser.js';
import { serveStatic } from './support.mjs';

const MODE = process.env.MODE || 'engine';
if (!['engine', 'bare'].includes(MODE)) throw new Error(`MODE must be engine or bare, not ${MODE}`);
const LOADS = Number(process.env.LOADS || 4), WARM = Number(process.env.WARM || 200), WAIT = Number(process.env.WAIT || 5000);
const wasm = readFileSync(path.join(root, 'build/wasm/electric-sync.wasm'));
const glue = readFileSync(path.join(root, 'build/wasm/electric-sync.js'));
const PAGE = `<!doctype html><title>wasm code cache</title><script src="/glue.js"></script><script>
window.bare = async () => {
  const t = performance.now();
  const m = await WebAssembly.compileStreaming(fetch('/e.wasm'));
  const compile = performance.now() - t;
  const imports = {};
  for (const d of WebAssembly.Module.imports(m)) {
    imports[d.module] = imports[d.module] || {};
    imports[d.module][d.name] = d.kind === 'function' ? () => 0 : d.kind === 'memory' ? new WebAssembly.Memory({ initial: 256, maximum: 32768 })
      : new WebAssembly.Table({ initial: 4096, element: 'anyfunc' });
  }
  const x = (await WebAssembly.instantiate(m, imports)).exports;
  for (let i = 0; i < 300000; i++) x.free(x.malloc(64 + (i & 255)));
  return { compile: +compile.toFixed(1) };
};
window.engine = async (warm) => {
  const t = performance.now();
  let compile = 0;
  const M = await createElectricSync({ print() {}, printErr() {}, instantiateWasm(imports, done) {
    WebAssembly.compileStreaming(fetch('/e.wasm')).then((m) => { compile = performance.now() - t; return WebAssembly.instantiate(m, imports).then((i) => done(i, m)); });
    return {};
  } });
  const schema = JSON.stringify({ id: { type: 'uuid', pk_index: 0, not_null: true }, title: { type: 'text', not_null: true }, completed: { type: 'bool', not_null: true } });
  const t1 = performance.now();
  const e = new M.Engine('/c.db', {});
  e.defineShape('items', { table: 'items' });
  const open = performance.now() - t1;
  const rows = [];
  for (let i = 0; i < 2000; i++) { const id = i.toString(16).padStart(8, '0') + '-0000-4000-8000-000000000000'; rows.push({ key: '"public"."items"/"' + id + '"', value: { id, title: 'Item ' + i, completed: 'f' }, headers: { operation: 'insert', relation: ['public', 'items'] } }); }
  e.ingest('items', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_0', 'electric-schema': schema }, body: JSON.stringify(rows) });
  e.ingest('items', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_inf', 'electric-up-to-date': '' }, body: '[{"headers":{"control":"up-to-date"}}]' });
  e.close();
  const t2 = performance.now();
  for (let k = 0; k < warm; k++) {
    const f = new M.Engine('/c.db', {});
    f.defineShape('items', { table: 'items' });
    f.query('SELECT id, title, completed FROM items ORDER BY id LIMIT 50');
    f.query('SELECT count(*) AS n FROM items WHERE title > ?', ['Item 5']);
    f.close();
  }
  return { compile: +compile.toFixed(1), open: +open.toFixed(1), warm: +(performance.now() - t2).toFixed(1) };
};
</script>`;
// the `.wasm` with the headers of the shape service's static files (revalidated, answered with 304)
const { server, base } = await serveStatic({
  '/': ['text/html', PAGE], '/glue.js': ['text/javascript', glue], '/e.wasm': ['application/wasm', wasm],
}, { cacheControl: process.env.CACHE_CONTROL || 'no-cache' });
const EVENTS = ['v8.wasm.moduleCacheHit', 'v8.wasm.moduleCacheInvalid', 'wasm.CompilationChunkFinished', 'v8.wasm.compiledModule', 'v8.wasm.cachedModule'];
const b = await openContext(base);
try {
  for (let i = 0; i < LOADS; i++) {
    await b.settle();
    const p = await b.ctx.newPage();
    const stop = await trace(b.ctx, p, ['disabled-by-default-devtools.timeline', 'v8.wasm']);
    await p.goto(`${base}/`);
    const r = await p.evaluate(([mode, warm]) => (mode === 'bare' ? window.bare() : window.engine(warm)), [MODE, WARM]);
    await new Promise((res) => setTimeout(res, WAIT));
    const data = await stop();
    const seen = {};
    for (const e of JSON.parse(data).traceEvents) if (EVENTS.includes(e.name)) seen[e.name] = (seen[e.name] || 0) + 1;
    console.log(`load ${i + 1} (${MODE}): ${JSON.stringify(r)} ms; code-cache events ${JSON.stringify(seen)}; Code Cache/wasm ${b.wasmCodeCacheBytes()} B`);
    await p.close();
  }
} finally {
  await b.close();
  server.close();
}
