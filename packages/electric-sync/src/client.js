// client.js — the one tab-API instance of a window that the framework bindings share
// (electric-sync/vue and electric-sync/react import it; not an entry of its own).
//
// Invariants
//  - At most one useElectricSync() instance per window: the first call that passes options
//    creates it; later calls get the same one (their options are not applied again).
//  - Outside a browser (server-side rendering, node) no instance is ever created: there is no
//    Worker there. The bindings then render their initial state (no rows, loading) and start on
//    the client, where the same code runs again during hydration.
//  - `statusSnapshot()` is a new object after every STATUS, the same object otherwise, so
//    frameworks that compare snapshots by identity (React's useSyncExternalStore) see changes.
import { useElectricSync as createElectricSync } from '../dist/electric-sync.js';

let client = null;
let status = Object.freeze({});
const subscribers = new Set();

export function inBrowser() {
  return typeof window !== 'undefined' &&
    (typeof SharedWorker === 'function' || typeof Worker === 'function');
}

function notify() {
  for (const fn of [...subscribers]) fn();
}

// The instance, created from `options` on the first call that has them; null on the server or
// before any call gave options.
export function ensureClient(options) {
  if (client || !options || !inBrowser()) return client;
  client = createElectricSync(options);
  client.on('STATUS', () => {
    status = Object.freeze({ ...client.status });
    notify();
  });
  notify();
  return client;
}

export const currentClient = () => client;
export const statusSnapshot = () => status;

// fn() after the instance is created or closed and after every STATUS; returns an unsubscribe.
export function subscribe(fn) {
  subscribers.add(fn);
  return () => subscribers.delete(fn);
}

// Closes the instance (its live queries end, the tab leaves the worker); the next call with
// options creates a new one.
export function closeClient() {
  if (!client) return;
  const c = client;
  client = null;
  status = Object.freeze({});
  c.close();
  notify();
}

// An Error with a code, as the tab API rejects with.
export function codedError(message, code) {
  const err = new Error(message);
  err.code = code;
  return err;
}

// The value of a live query's parameter list, refs/getters already unwrapped by the caller:
// a comparable key (BigInt-safe), so a re-render with equal values does not re-subscribe.
export function paramsKey(sql, params) {
  return JSON.stringify([sql, params == null ? null : params.map((v) =>
    (typeof v === 'bigint' ? { bigint: v.toString() } : v === undefined ? null : v))]);
}
