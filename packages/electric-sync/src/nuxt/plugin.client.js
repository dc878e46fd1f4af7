// nuxt/plugin.client.js — the client-only plugin of electric-sync/nuxt (module.js registers it).
// Runs in the browser before the app hydrates: creates the window's instance from the public
// runtime config `electricSync` (the module's options), so every useLiveQuery of the first render
// subscribes at once; provides the instance as `$electricSync`. Without `shapes` it creates
// nothing and the app's own useElectricSync(options) call does.
import { defineNuxtPlugin, useRuntimeConfig } from '#app';
import { useElectricSync } from 'electric-sync/vue';

export default defineNuxtPlugin({
  name: 'electric-sync',
  enforce: 'pre',
  setup() {
    // a plain copy: the runtime config is reactive on the client, and a Proxy cannot be posted
    const options = JSON.parse(JSON.stringify(useRuntimeConfig().public.electricSync || {}));
    const sync = useElectricSync(Array.isArray(options.shapes) && options.shapes.length ? options : undefined);
    return { provide: { electricSync: sync } };
  },
});
