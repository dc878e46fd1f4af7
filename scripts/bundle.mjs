// bundle.mjs — what the package ships to a page, made from web/ and build/wasm/ (used by
// scripts/package.sh to fill packages/electric-sync/dist/, and by bench/shipped.mjs to measure it).
//
//   dist/electric-sync.worker.js   the worker's parts in its SCRIPTS order, the engine's loader
//                                  (build/wasm/electric-sync.js), `bundled = true`, then the worker
//                                  itself: one classic script, minified (esbuild, no format: the
//                                  names the parts share through the global scope stay as they are)
//   dist/electric-sync.js          the tab library, minified as the ES module it is
//   dist/app-router.js             the router, minified likewise
//   dist/worker-files.json         every file under dist/ a worker may fetch ('/'-separated), for
//                                  the Vite plugin (the minified bundle has no readable SCRIPTS list)
// The readable parts (web/'s files and the loader) are copied into dist/ as they are, beside the
// bundle, for reading and debugging; a page fetches only the bundle and the .wasm.
//   node scripts/bundle.mjs DIST        (needs `bash scripts/build.sh wasm` first)
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const web = (f) => path.join(root, 'web', f);
export const GLUE = path.join(root, 'build/wasm/electric-sync.js');
export const WASM = path.join(root, 'build/wasm/electric-sync.wasm');

// The worker's own list of parts, read by evaluating the worker file without starting it.
export function workerScripts() {
  const ctx = { ELECTRIC_SYNC_NO_AUTOSTART: true };
  ctx.self = ctx;
  vm.runInNewContext(readFileSync(web('electric-sync.worker.js'), 'utf8'), ctx);
  return ctx.ElectricSyncWorker.SCRIPTS.slice();
}

// The bundle before minifying: each part under a `// ---- name` line.
export function workerBundleSource() {
  if (!existsSync(GLUE)) throw new Error(`${path.relative(root, GLUE)} is missing: run bash scripts/build.sh wasm`);
  const parts = workerScripts().map((f) => [f, web(f)]).concat([['wasm/electric-sync.js', GLUE]]);
  return parts.map(([name, f]) => `// ---- ${name}\n${readFileSync(f, 'utf8')}\n;`).join('\n') +
    '\n(self.ElectricSyncWorker = self.ElectricSyncWorker || {}).bundled = true;\n// ---- electric-sync.worker.js\n' +
    readFileSync(web('electric-sync.worker.js'), 'utf8');
}

// esbuild's minifier; `module` for ES modules (their top-level names may be renamed too).
export function minify(code, { module = false, file = '' } = {}) {
  const r = transformSync(code, { minify: true, loader: 'js', ...(module ? { format: 'esm' } : {}), sourcefile: file });
  if (r.warnings.length) throw new Error(`${file}: ${r.warnings.map((w) => w.text).join('; ')}`);
  return r.code;
}

// {name: contents} of the shipped files.
export function shippedFiles() {
  return {
    'electric-sync.js': minify(readFileSync(web('electric-sync.js'), 'utf8'), { module: true, file: 'electric-sync.js' }),
    'app-router.js': minify(readFileSync(web('app-router.js'), 'utf8'), { module: true, file: 'app-router.js' }),
    'electric-sync.worker.js': minify(workerBundleSource(), { file: 'electric-sync.worker.js' }),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dist = process.argv[2];
  if (!dist || !existsSync(dist)) { console.error('usage: node scripts/bundle.mjs DIST (an existing directory)'); process.exit(2); }
  for (const [name, code] of Object.entries(shippedFiles())) writeFileSync(path.join(dist, name), code);
  const files = ['electric-sync.worker.js', ...workerScripts(), 'wasm/electric-sync.js', 'wasm/electric-sync.wasm'];
  for (const f of files) if (!existsSync(path.join(dist, f))) { console.error(`bundle: ${dist} lacks ${f}`); process.exit(1); }
  writeFileSync(path.join(dist, 'worker-files.json'), JSON.stringify(files, null, 1) + '\n');
}
