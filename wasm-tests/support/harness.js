// Runs the real worker code in node: web/electric-sync.worker.js and the parts it lists in
// ElectricSyncWorker.SCRIPTS (which a browser worker loads with importScripts), classic scripts
// evaluated as they are; fake-indexeddb (one IDBFactory per test), MessageChannel ports for the
// tabs, the Web Locks stand-in, and the real tab library (web/electric-sync.js) on the other end
// of each port.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { loadModule, root } from '../load.js';
import { LockManager } from './locks.js';
import { useElectricSync } from '../../web/electric-sync.js';

const runScript = (f) => vm.runInThisContext(readFileSync(path.join(root, 'web', f), 'utf8'), { filename: `web/${f}` });
runScript('electric-sync.worker.js');
for (const f of globalThis.ElectricSyncWorker.SCRIPTS) runScript(f);
export const { ElectricSyncWorker, ElectricSyncStore } = globalThis;
// Every module instance of the 3.1.6 loader adds process listeners; a test file makes many.
process.setMaxListeners(200);
export { IDBFactory, IDBKeyRange, LockManager, useElectricSync };

// One browser origin: an IndexedDB factory and a lock manager shared by its workers and tabs.
export function origin() {
  return { indexedDB: new IDBFactory(), locks: new LockManager() };
}

export function startWorker(o, { fetch = globalThis.fetch, log, liveTimeoutMs, replica } = {}) {
  return ElectricSyncWorker.createWorker({
    indexedDB: o.indexedDB, IDBKeyRange, locks: o.locks, fetch, BroadcastChannel, mode: 'shared',
    loadModule, liveTimeoutMs, replica, log: log || (process.env.ESYNC_TEST_LOG ? (...a) => console.error('[worker]', ...a) : undefined),
  });
}

// A tab: the tab library over a MessageChannel whose other end the worker serves. Records every
// event it receives.
export function openTab(o, worker, config) {
  const { port1, port2 } = new MessageChannel();
  worker.connect(port2);
  const sync = useElectricSync({ ...config, port: port1, locks: o.locks });
  const events = [];
  for (const t of ['DATA_CHANGE', 'SCHEMA_RESET', 'STATUS']) sync.on(t, (m) => events.push(m));
  const close = sync.close.bind(sync);
  sync.close = () => { close(); port1.close(); port2.close(); };
  return { sync, events, port1, port2 };
}

// Resolves when pred(events) is truthy (polls), or rejects after ms.
export async function until(pred, ms = 10000, what = 'condition') {
  const t0 = Date.now();
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
