// nuxt/module.js — electric-sync/nuxt: the Nuxt (3.10+, 4) module.
//
//   // nuxt.config.ts
//   export default defineNuxtConfig({
//     modules: ['electric-sync/nuxt'],
//     electricSync: { shapes: [{ name: 'todos', table: 'todos' }] },   // + shapeUrl, liveUrl,
//   })                                                                  //   versionUrl, dbName, base
//
// What it does
//  - The worker's files (the package's dist/: the worker, its classic scripts, wasm/) are a Nitro
//    public-asset directory at `base` (default /electric-sync/), in dev and in the built server
//    alike; the built server sends them with `cache-control: no-cache` (unhashed names: a deploy
//    must reach the browsers; the dev server sends max-age=0 of its own).
//    Nuxt serves only its own `_nuxt/` of the client build, so the Vite plugin does not serve or
//    emit them here (`serve: false`); it only points the tab library's default worker URL there.
//  - A client-only plugin (plugin.client.js) creates the window's instance from these options
//    (public runtime config `electricSync`, so NUXT_PUBLIC_ELECTRIC_SYNC_* can override them)
//    before the app hydrates, and provides it as `$electricSync`. Without `shapes` it creates
//    nothing (the app calls useElectricSync(options) itself).
//  - useElectricSync, useLiveQuery, useSyncStatus, useAppRouter are auto-imported from
//    electric-sync/vue, which is SSR-safe: on the server no worker exists, live queries render
//    their loading state and start on hydration.
// Invariants
//  - This file is the only one that imports Nuxt's kit: `nuxt/kit` (the app's own nuxt), else
//    `@nuxt/kit`; both optional peers, so apps without Nuxt install and load nothing of it.
//  - Only JSON-serialisable options go through the runtime config: `headers`/`params` functions
//    belong in the app's own useElectricSync(options) call (the first call with options wins).
import { fileURLToPath } from 'node:url';
import path from 'node:path';
const { defineNuxtModule, addVitePlugin, addPlugin, addImports } = await import('nuxt/kit').catch(() => import('@nuxt/kit'));
import { electricSync as vitePlugin, normalizeBase } from '../vite.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '../../dist');
const OPTIONS = ['shapes', 'shapeUrl', 'liveUrl', 'versionUrl', 'dbName'];
const COMPOSABLES = ['useElectricSync', 'useLiveQuery', 'useSyncStatus', 'useAppRouter'];

const joinPath = (a, b) => a.replace(/\/+$/, '') + '/' + b.replace(/^\/+/, '');

export default defineNuxtModule({
  meta: {
    name: 'electric-sync',
    configKey: 'electricSync',
    compatibility: { nuxt: '>=3.10.0' },
  },
  defaults: { base: '/electric-sync/' },
  setup(options, nuxt) {
    const base = normalizeBase(options.base);
    const appBase = nuxt.options.app.baseURL || '/';

    // the instance's options, for the client plugin
    const publicOptions = {};
    for (const k of OPTIONS) if (options[k] !== undefined) publicOptions[k] = options[k];
    nuxt.options.runtimeConfig.public.electricSync = {
      ...publicOptions,
      ...(nuxt.options.runtimeConfig.public.electricSync || {}),
    };

    // the worker's files, served by Nitro (dev server and built output)
    nuxt.options.nitro.publicAssets ||= [];
    nuxt.options.nitro.publicAssets.push({ dir: dist, baseURL: base });
    nuxt.options.routeRules ||= {};
    nuxt.options.routeRules[base + '**'] = {
      ...(nuxt.options.routeRules[base + '**'] || {}),
      headers: { 'cache-control': 'no-cache' },
    };

    // the tab library's default worker URL: the app's base URL + base (Vite's base is not it)
    addVitePlugin(vitePlugin({ base: joinPath(appBase, base), serve: false }));

    addPlugin({ src: path.join(here, 'plugin.client.js'), mode: 'client' });
    nuxt.options.build.transpile.push(here);

    addImports(COMPOSABLES.map((name) => ({ name, from: 'electric-sync/vue' })));
  },
});
