// npm run bench sizes: what an app ships to the browser for its sync layer, gzipped (level 9),
// JS + wasm + data files, each contender bundled the same way (esbuild, ESM, browser, minified,
// code splitting; Vue/React left to the app):
//   electric-sync         the tab library and the Vue bindings (what examples/nuxt imports through
//                         electric-sync/nuxt), plus the files the example serves at /electric-sync/
//                         unchanged: the worker (the package's bundle: its classic scripts and the
//                         engine's loader are inside it, so a browser downloads just it),
//                         wasm/electric-sync.wasm
//   @electric-sql/client  ShapeStream + Shape (memory only: nothing stored, no SQL)
//   PGlite + pglite-sync  PGlite with the electricSync extension, plus the files PGlite fetches at
//                         start (pglite.wasm, pglite.data, initdb.wasm)
// Writes bench/results/sizes.json; prints a table. Needs packages/electric-sync/dist (npm run package).
import { build } from 'esbuild';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = path.join(root, 'packages/electric-sync');
const dist = path.join(pkg, 'dist');
const nm = path.join(root, 'node_modules');
if (!fs.existsSync(path.join(dist, 'wasm/electric-sync.wasm'))) {
  console.error('bench sizes: packages/electric-sync/dist is missing (bash scripts/package.sh)');
  process.exit(1);
}
const version = (name) => JSON.parse(fs.readFileSync(path.join(nm, name, 'package.json'), 'utf8')).version;
const gz = (buf) => zlib.gzipSync(buf, { level: 9 }).length;

// esbuild's output for one entry, as { file: bytes }
async function bundle(name, source) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'esync-sizes-'));
  try {
    fs.writeFileSync(path.join(dir, 'entry.js'), source);
    await build({
      entryPoints: [path.join(dir, 'entry.js')], outdir: path.join(dir, 'out'), bundle: true, splitting: true,
      format: 'esm', platform: 'browser', target: 'es2022', minify: true, logLevel: 'error',
      external: ['vue', 'react', 'fs', 'fs/promises', 'path', 'url', 'crypto', 'module', 'worker_threads', 'node:*'],
      nodePaths: [nm], absWorkingDir: root,
    });
    const out = {};
    for (const f of fs.readdirSync(path.join(dir, 'out'))) out[`${name}:${f}`] = fs.readFileSync(path.join(dir, 'out', f));
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function files(dir, names) {
  const out = {};
  for (const n of names) out[n] = fs.readFileSync(path.join(dir, n));
  return out;
}

// What a browser downloads of the worker: the bundle (scripts/package.sh), which holds its
// parts and the engine's loader; the part files beside it are not requested.
const workerSrc = fs.readFileSync(path.join(dist, 'electric-sync.worker.js'), 'utf8');
if (!/\.bundled\s*=\s*(?:true|!0)/.test(workerSrc)) throw new Error('dist/electric-sync.worker.js is not the bundle (bash scripts/package.sh)');

const contenders = [
  {
    name: 'electric-sync',
    version: JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')).version,
    js: await bundle('tab library + vue bindings', `export { useElectricSync, useLiveQuery, useSyncStatus } from ${JSON.stringify(path.join(pkg, 'src/vue.js'))};`),
    assets: files(dist, ['electric-sync.worker.js', 'wasm/electric-sync.wasm']),
    note: 'SQLite replica in IndexedDB, SQL live queries, one SharedWorker per origin',
  },
  {
    name: '@electric-sql/client',
    version: version('@electric-sql/client'),
    js: await bundle('client', `export { ShapeStream, Shape } from '@electric-sql/client';`),
    assets: {},
    note: 'rows in memory only (a Map), nothing stored, no SQL',
  },
  {
    name: 'PGlite + pglite-sync',
    version: `${version('@electric-sql/pglite')} + ${version('@electric-sql/pglite-sync')}`,
    js: await bundle('pglite', `export { PGlite } from '@electric-sql/pglite'; export { electricSync } from '@electric-sql/pglite-sync';`),
    assets: files(path.join(nm, '@electric-sql/pglite/dist'), ['pglite.wasm', 'pglite.data', 'initdb.wasm']),
    note: 'Postgres in wasm (one per tab, or its own worker), synced tables',
  },
];

const results = [];
for (const c of contenders) {
  const all = { ...c.js, ...c.assets };
  const sum = (pred) => Object.entries(all).filter(([f]) => pred(f));
  const isWasm = (f) => f.endsWith('.wasm');
  const isData = (f) => f.endsWith('.data');
  const isJs = (f) => !isWasm(f) && !isData(f);
  const total = (list) => list.reduce((a, [, b]) => a + b.length, 0);
  const totalGz = (list) => list.reduce((a, [, b]) => a + gz(b), 0);
  const r = {
    name: c.name, version: c.version, note: c.note,
    js: { bytes: total(sum(isJs)), gzip: totalGz(sum(isJs)) },
    wasm: { bytes: total(sum(isWasm)), gzip: totalGz(sum(isWasm)) },
    data: { bytes: total(sum(isData)), gzip: totalGz(sum(isData)) },
    files: Object.fromEntries(Object.entries(all).map(([f, b]) => [f, { bytes: b.length, gzip: gz(b) }])),
  };
  r.total = { bytes: r.js.bytes + r.wasm.bytes + r.data.bytes, gzip: r.js.gzip + r.wasm.gzip + r.data.gzip };
  results.push(r);
}

const kb = (n) => `${(n / 1000).toFixed(n < 10000 ? 1 : 0)} kB`;
console.log('\nsizes: shipped to the browser, gzipped (raw)');
console.log('| what | JS | wasm | data | total |');
console.log('|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.name} ${r.version} | ${kb(r.js.gzip)} (${kb(r.js.bytes)}) | ${r.wasm.bytes ? `${kb(r.wasm.gzip)} (${kb(r.wasm.bytes)})` : '—'} | ${r.data.bytes ? `${kb(r.data.gzip)} (${kb(r.data.bytes)})` : '—'} | **${kb(r.total.gzip)}** (${kb(r.total.bytes)}) |`);
}
fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true });
fs.writeFileSync(path.join(root, 'bench/results/sizes.json'), JSON.stringify({
  date: new Date().toISOString(), method: 'esbuild 0.28 (ESM, browser, minify, splitting; vue/react external) + the files fetched at run time; gzip level 9 per file',
  results,
}, null, 2) + '\n');
console.log('\nwrote bench/results/sizes.json');
