// Types of electric-sync/react (src/react.js).
import type { ElectricSync, ElectricSyncOptions, ElectricSyncError, Row, SqlParam, StatusEvent } from './index.js';

export * from './index.js';

/** The window's instance (null on the server); the first call with options creates it. */
export function useElectricSync(options?: ElectricSyncOptions): ElectricSync | null;
/** The latest STATUS per shape name. */
export function useSyncStatus(): Readonly<Record<string, StatusEvent>>;

export interface LiveQueryState<R> {
  rows: readonly R[];
  isLoading: boolean;
  error: ElectricSyncError | null;
}
/** A live query; new sql or parameter values (compared by value) re-subscribe, unmounting stops it. */
export function useLiveQuery<R = Row>(sql: string, params?: readonly SqlParam[] | null): LiveQueryState<R>;
