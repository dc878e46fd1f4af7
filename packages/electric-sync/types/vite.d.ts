// Types of electric-sync/vite (src/vite.js): the Vite plugin that serves the worker and the .wasm
// in dev and emits them in the build. Only Vite's Plugin type is named (vite is the app's own).
import type { Plugin } from 'vite';

export interface ElectricSyncViteOptions {
  /**
   * The URL path of the worker's files (`electric-sync.worker.js`, its scripts, `wasm/`), default
   * `/electric-sync/`; under Vite's `base` when that is an absolute path. The tab library's
   * default `workerUrl` becomes `base + 'electric-sync.worker.js'`.
   */
  base?: string;
  /**
   * Default true: serve the files in dev and emit them in the build. false: the host serves them
   * itself (electric-sync/nuxt does, as Nitro public assets); the plugin only rewrites the
   * default `workerUrl`, to `base` as given (not under Vite's base).
   */
  serve?: boolean;
}

/** The plugin: add it to `plugins` in vite.config. */
export function electricSync(options?: ElectricSyncViteOptions): Plugin;
export default electricSync;
