// electric-sync/react — React hooks over the tab API (electric-sync).
//
//   useElectricSync({ shapes: [{ name: 'test_items', table: 'test_items' }] })   // once, high up
//   const { rows, isLoading, error } = useLiveQuery('SELECT * FROM test_items WHERE completed = ?', [0])
//   const status = useSyncStatus()           // the latest STATUS per shape
//
// Invariants
//  - One instance per window (src/client.js), created by the first useElectricSync(options) in
//    the browser; server rendering creates none (rows [], isLoading true, status {}), and
//    hydration starts it (useSyncExternalStore's server snapshot is null).
//  - A mounted useLiveQuery holds exactly one live query in the worker; new sql or parameter
//    values (compared by value) replace it, unmounting ends it.
import { useEffect, useState, useSyncExternalStore } from 'react';
import { ensureClient, currentClient, statusSnapshot, subscribe, paramsKey } from './client.js';

const serverClient = () => null;
const EMPTY = Object.freeze({});
const serverStatus = () => EMPTY;

// The window's instance (null on the server); the first call with options creates it.
export function useElectricSync(options) {
  ensureClient(options);
  return useSyncExternalStore(subscribe, currentClient, serverClient);
}

// The latest STATUS message per shape name (a new object on every change).
export function useSyncStatus() {
  return useSyncExternalStore(subscribe, statusSnapshot, serverStatus);
}

const INITIAL = Object.freeze({ rows: Object.freeze([]), isLoading: true, error: null });

// A live query of the replica: { rows, isLoading, error }.
export function useLiveQuery(sql, params) {
  const client = useSyncExternalStore(subscribe, currentClient, serverClient);
  const p = params == null ? null : params;
  const key = paramsKey(sql, p);
  const [state, setState] = useState(INITIAL);
  useEffect(() => {
    if (!client) return undefined;
    setState((s) => (s.isLoading && !s.error ? s : { rows: s.rows, isLoading: true, error: null }));
    return client.liveQuery(sql, p, (rows) => setState({ rows, isLoading: false, error: null }),
      (error) => setState((s) => ({ rows: s.rows, isLoading: false, error })));
    // `key` stands for sql and the parameter values
  }, [client, key]); // eslint-disable-line react-hooks/exhaustive-deps
  return state;
}
