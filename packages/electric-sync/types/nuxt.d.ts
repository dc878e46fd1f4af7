// Types of electric-sync/nuxt (src/nuxt/module.js): the Nuxt module and its `electricSync` key in
// nuxt.config. Only Nuxt's own types are named, through `nuxt/schema` (the app's nuxt; @nuxt/schema
// itself is not always installed where the app can resolve it).
import type { NuxtModule } from 'nuxt/schema';
import type { ElectricSyncOptions } from './index.js';

/** `electricSync` in nuxt.config: the JSON-serialisable options of the instance, and `base`. */
export interface ModuleOptions extends Partial<Pick<ElectricSyncOptions, 'shapes' | 'shapeUrl' | 'liveUrl' | 'versionUrl' | 'dbName'>> {
  /**
   * The URL path the worker's files are served at (Nitro public assets), default
   * `/electric-sync/`; the tab library's default `workerUrl` becomes `base + 'electric-sync.worker.js'`.
   */
  base?: string;
}

declare const module: NuxtModule<ModuleOptions>;
export default module;

declare module 'nuxt/schema' {
  interface NuxtConfig {
    electricSync?: ModuleOptions;
  }
  interface NuxtOptions {
    electricSync?: ModuleOptions;
  }
  interface PublicRuntimeConfig {
    electricSync: Omit<ModuleOptions, 'base'>;
  }
}
