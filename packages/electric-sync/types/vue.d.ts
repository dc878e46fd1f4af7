// Types of electric-sync/vue (src/vue.js).
import type { MaybeRefOrGetter, ShallowRef } from 'vue';
import type { ElectricSync, ElectricSyncOptions, ElectricSyncError, Row, SqlParam, StatusEvent } from './index.js';

export * from './index.js';
export { useAppRouter } from './app-router.js';
export type { AppRouter, Route, RouteChange, RouteMode } from './app-router.js';

/** The window's instance: the tab API with `status` reactive. Methods reject (or throw) with `NOT_STARTED` before it exists. */
export interface VueElectricSync extends Omit<ElectricSync, 'status'> {
  /** the tab-API instance; null on the server or before useElectricSync(options) */
  readonly client: ElectricSync | null;
  /** the latest STATUS per shape name */
  readonly status: Readonly<ShallowRef<Readonly<Record<string, StatusEvent>>>>;
}

/** The first call with options creates the instance (in the browser); every call returns the same object. */
export function useElectricSync(options?: ElectricSyncOptions): VueElectricSync;
export function useSyncStatus(): Readonly<ShallowRef<Readonly<Record<string, StatusEvent>>>>;

export interface LiveQuery<R> {
  /** [] until the first result (always on the server) */
  rows: Readonly<ShallowRef<R[]>>;
  /** true until the first result of the current sql/params */
  isLoading: Readonly<ShallowRef<boolean>>;
  error: Readonly<ShallowRef<ElectricSyncError | null>>;
}

/** A live query; `sql` and `params` (and each parameter) may be refs or getters: a change re-subscribes. */
export function useLiveQuery<R = Row>(
  sql: MaybeRefOrGetter<string>,
  params?: MaybeRefOrGetter<readonly MaybeRefOrGetter<SqlParam>[] | null | undefined>,
): LiveQuery<R>;
