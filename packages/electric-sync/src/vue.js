// electric-sync/vue — Vue 3 composables over the tab API (electric-sync).
//
//   const sync = useElectricSync({ shapes: [{ name: 'test_items', table: 'test_items' }] })
//   const { rows, isLoading, error } = useLiveQuery('SELECT * FROM test_items WHERE completed = ?', [done])
//   const status = useSyncStatus()           // ShallowRef: the latest STATUS per shape
//
// Invariants
//  - One instance per window (src/client.js): the first useElectricSync(options) creates it;
//    every composable uses it, and useLiveQuery subscribes as soon as it exists.
//  - Server-side rendering creates no worker: rows stay [], isLoading true, status {}; the same
//    setup runs again on the client during hydration and starts there, so the first client
//    render matches the server's HTML.
//  - A useLiveQuery holds exactly one live query in the worker while its scope (component) is
//    alive: a change of its sql or parameter values (refs, getters) unsubscribes the old one
//    before subscribing the new one, and unmounting unsubscribes.
import { shallowRef, watch, toValue, getCurrentScope, onScopeDispose } from 'vue';
import { ensureClient, currentClient, statusSnapshot, subscribe, closeClient, inBrowser, codedError, paramsKey } from './client.js';

export { useAppRouter } from '../dist/app-router.js';

const clientRef = shallowRef(currentClient());
const statusRef = shallowRef(statusSnapshot());
subscribe(() => {
  clientRef.value = currentClient();
  statusRef.value = statusSnapshot();
});

const notStarted = () => codedError(inBrowser()
  ? 'electric-sync: call useElectricSync(options) first'
  : 'electric-sync: there is no worker outside the browser (server-side rendering)', 'NOT_STARTED');

function call(name, args) {
  const c = clientRef.value;
  return c ? c[name](...args) : Promise.reject(notStarted());
}

// The same object for every caller: the tab API of the window's instance, with `status` a
// ShallowRef and `client` the instance itself (null on the server or before it is configured).
const facade = {
  get client() { return clientRef.value; },
  status: statusRef,
  get ready() { return clientRef.value ? clientRef.value.ready : Promise.reject(notStarted()); },
  on(type, fn) {
    if (clientRef.value) return clientRef.value.on(type, fn);
    if (!inBrowser()) return () => {};
    throw notStarted();
  },
  query: (...a) => call('query', a),
  liveQuery(sql, params, onRows, onError) {
    if (clientRef.value) return clientRef.value.liveQuery(sql, params, onRows, onError);
    if (!inBrowser()) return () => {};
    throw notStarted();
  },
  awaitTxId: (...a) => call('awaitTxId', a),
  refreshAuth: (...a) => call('refreshAuth', a),
  resetLocal: (...a) => call('resetLocal', a),
  close: () => closeClient(),
};

// The window's instance: created by the first call with options (in the browser only).
export function useElectricSync(options) {
  ensureClient(options);
  return facade;
}

// The latest STATUS message per shape name, as a ShallowRef (a new object on every change).
export function useSyncStatus() {
  return statusRef;
}

const unwrapParams = (params) => {
  const p = toValue(params);
  return p == null ? null : Array.from(p, (v) => toValue(v));
};

// A live query of the replica: { rows, isLoading, error } as ShallowRefs. `sql` may be a ref or
// a getter; `params` an array (whose items may be refs), a ref of one, or a getter.
export function useLiveQuery(sql, params) {
  const rows = shallowRef([]);
  const isLoading = shallowRef(true);
  const error = shallowRef(null);
  let stop = null;
  const unsubscribe = () => {
    if (stop) stop();
    stop = null;
  };
  watch([clientRef, () => paramsKey(toValue(sql), unwrapParams(params))], ([c]) => {
    unsubscribe();
    if (!c) return;
    isLoading.value = true;
    error.value = null;
    stop = c.liveQuery(toValue(sql), unwrapParams(params), (r) => {
      rows.value = r;
      isLoading.value = false;
    }, (e) => {
      error.value = e;
      isLoading.value = false;
    });
  }, { immediate: true });
  if (getCurrentScope()) onScopeDispose(unsubscribe);
  return { rows, isLoading, error };
}
