// vite.js — electric-sync/vite: a Vite plugin that puts the worker where the tab library looks.
//
// The worker is a set of classic scripts (electric-sync.worker.js loads its parts and
// wasm/electric-sync.{js,wasm} with importScripts, relative to its own URL), so it must be served
// as files, side by side, under stable names; a bundler must neither bundle nor hash them.
//   dev    configureServer: a middleware serves those files from the package's dist/ at `base`
//          (the .wasm as application/wasm)
//   build  generateBundle: the same files emitted as assets at `base` (fileName, no hash)
//   both   the tab library's default worker URL (normally `./electric-sync.worker.js` beside its
//          own module, which after bundling would point into the app's assets) is rewritten to
//          `base + 'electric-sync.worker.js'`; an explicit `workerUrl` option still wins.
//          electric-sync is left out of dependency pre-bundling so that rewrite applies in dev.
// Invariants
//  - `base` is a URL path beginning and ending with '/'; when Vite's own `base` is an absolute
//    path other than '/', the files live under it (Vite's base + base without its leading '/').
//  - `serve: false` (electric-sync/nuxt): the host serves the files itself (Nitro's public assets);
//    the plugin then only rewrites the default worker URL, to `base` as given (no Vite base
//    prefix: Nuxt's client build has a relative base, and its dev server one under /_nuxt/).
//  - The file list is dist/worker-files.json (the worker's own SCRIPTS list plus the worker and the
//    engine, written by the package's build), so a worker split in more scripts needs no change here. Nothing of the package runs in Vite's process
//    except this file (no import of vite itself: the types name its Plugin type only).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist');
const TAB_LIBRARY = path.join(dist, 'electric-sync.js');
// The default worker URL in the tab library: new URL('./electric-sync.worker.js', import.meta.url)
const DEFAULT_WORKER_URL = /new URL\(\s*(['"])\.\/electric-sync\.worker\.js\1\s*,\s*import\.meta\.url\s*\)/g;

const TYPES = { '.js': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm' };

// (also used by electric-sync/nuxt; not a public export of the types)
export function normalizeBase(base) {
  if (typeof base !== 'string' || base === '') throw new TypeError('electricSync: base must be a non-empty path');
  let b = base.startsWith('/') ? base : '/' + base;
  if (!b.endsWith('/')) b += '/';
  if (b.includes('..') || /[?#]/.test(b)) throw new TypeError(`electricSync: base ${JSON.stringify(base)} is not a plain path`);
  return b;
}

// The files of the worker, as paths relative to dist/ ('/'-separated): dist/worker-files.json,
// written with the bundle by the package's build (the worker, its parts, the engine).
function workerFiles() {
  const list = path.join(dist, 'worker-files.json');
  if (!fs.existsSync(list)) throw new Error(`electricSync: ${list} is missing (the package is not built)`);
  const files = JSON.parse(fs.readFileSync(list, 'utf8'));
  if (!Array.isArray(files) || !files.includes('electric-sync.worker.js') || files.some((f) => typeof f !== 'string' || f.includes('..'))) {
    throw new Error(`electricSync: ${list} is not a list of the worker's files`);
  }
  return files;
}

const realpath = (p) => { try { return fs.realpathSync(p); } catch { return p; } };

export function electricSync({ base = '/electric-sync/', serve = true } = {}) {
  const own = normalizeBase(base);
  const files = workerFiles();
  const tabLibrary = realpath(TAB_LIBRARY);
  let publicPath = own;   // the URL path the files are served at (Vite's base included)
  let isSsrBuild = false;

  return {
    name: 'electric-sync',
    enforce: 'pre',
    config() {
      // pre-bundled dependencies skip plugin transforms; the tab library must get the rewrite
      return { optimizeDeps: { exclude: ['electric-sync'] } };
    },
    configResolved(config) {
      const viteBase = config.base || '/';
      publicPath = serve && viteBase.startsWith('/') ? viteBase.replace(/\/?$/, '/') + own.slice(1) : own;
      isSsrBuild = !!config.build?.ssr;
    },
    transform(code, id) {
      const file = id.split('?')[0];
      if (!file.endsWith('electric-sync.js')) return null;   // cheap test first: most modules
      if (file !== TAB_LIBRARY && realpath(file) !== tabLibrary) return null;
      const url = JSON.stringify(publicPath + 'electric-sync.worker.js');
      const out = code.replace(DEFAULT_WORKER_URL, `new URL(${url}, globalThis.location?.href)`);
      if (out === code) this.error('electricSync: the tab library has no default worker URL to rewrite');
      return { code: out, map: null };
    },
    configureServer(server) {
      if (!serve) return;
      server.middlewares.use((req, res, next) => {
        const pathname = decodeURIComponent((req.url || '').split('?')[0]);
        if (!pathname.startsWith(publicPath)) return next();
        const rel = pathname.slice(publicPath.length);
        if (!files.includes(rel)) return next();
        const body = fs.readFileSync(path.join(dist, rel));
        res.statusCode = 200;
        res.setHeader('Content-Type', TYPES[path.extname(rel)]);
        res.setHeader('Content-Length', body.length);
        res.setHeader('Cache-Control', 'no-cache');
        res.end(req.method === 'HEAD' ? undefined : body);
      });
    },
    generateBundle() {
      if (!serve) return;
      const consumer = this.environment?.config?.consumer;
      if (consumer ? consumer !== 'client' : isSsrBuild) return;
      for (const rel of files) {
        this.emitFile({ type: 'asset', fileName: own.slice(1) + rel, source: fs.readFileSync(path.join(dist, rel)) });
      }
    },
  };
}

export default electricSync;
