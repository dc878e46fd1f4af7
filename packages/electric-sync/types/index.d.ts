// Types of electric-sync (the tab library, dist/electric-sync.js): docs/contracts.md §5–6 of the
// repository. Hand-written; test/usage.ts pins them with `tsc --noEmit`.

/** A column value of the replica. int8 columns are `bigint` in events (DATA_CHANGE) and strings in `query`/`liveQuery` results. */
export type Value = string | number | bigint | boolean | null;
/** A row as the tab API delivers it: column name → value. */
export type Row = Record<string, unknown>;
/** A value bound to `?1..?n` of `query`/`liveQuery`. */
export type SqlParam = string | number | bigint | boolean | null;

/** One shape the worker syncs (docs/protocol.md §5.1). */
export interface ShapeDefinition {
  /** names the shape in events; unique among the options' shapes */
  name: string;
  /** the table, optionally `schema.table`; two shapes may not share a table */
  table: string;
  where?: string;
  /** values of `$1..$n` in `where` */
  params?: readonly (string | number | boolean)[] | Record<string, string | number | boolean>;
  /** the columns to sync (the primary key included) */
  columns?: readonly string[] | string;
  replica?: 'default' | 'full';
}

/** Plain values of `headers`/`params` (numbers and booleans are sent as strings; null/undefined left out). */
export type AuthValues = Record<string, string | number | boolean | null | undefined>;
/** An object, or a function returning one or a Promise of one; functions run in the tab when the worker asks. */
export type AuthOption = AuthValues | (() => AuthValues | Promise<AuthValues>);

/** A Web Locks implementation (the subset the library uses). */
export interface LockManagerLike {
  request(name: string, callback: (lock: unknown) => unknown): Promise<unknown>;
}

export interface ElectricSyncOptions {
  /** required: a missing or malformed list throws a TypeError */
  shapes: readonly ShapeDefinition[];
  /** default `/api/electric/v1/shape`; any Electric-compatible endpoint */
  shapeUrl?: string;
  /** a separate endpoint for live long-polls */
  liveUrl?: string;
  /** default `/api/schema/version`; must answer `{"version": string}` */
  versionUrl?: string;
  /** the IndexedDB database, default `electric-sync`; one worker per dbName */
  dbName?: string;
  /** HTTP headers of every shape request */
  headers?: AuthOption;
  /** extra query parameters of every shape request (the protocol's own names are refused) */
  params?: AuthOption;
  /** the worker script; default: electric-sync.worker.js beside this module */
  workerUrl?: string | URL;
  /** a MessagePort already connected to a worker (tests) */
  port?: MessagePort;
  /** default `navigator.locks` */
  locks?: LockManagerLike;
}

/** One committed batch's changes of one shape; rows are full rows, int8 columns as `bigint`. */
export interface DataChangeEvent<R = Row> {
  type: 'DATA_CHANGE';
  shapeName: string;
  /** the table without its schema */
  tableName: string;
  /**
   * A large set's lists (64 KiB of JSON or more) are arrays whose `length` is known at once and
   * whose rows are parsed on the first other read; they are proxies, so `postMessage` a copy
   * (`Array.from(changes.insert)`).
   */
  changes: {
    insert: R[];
    update: { old: R; new: R }[];
    delete: R[];
  };
  /** the Postgres transaction ids the batch holds (decimal strings, ascending), when it carried any */
  txids?: string[];
}

export interface SchemaResetEvent {
  type: 'SCHEMA_RESET';
  reason: 'version_mismatch' | 'manual_reset';
  oldVersion: string | null;
  newVersion: string | null;
}

/** `opening`, `initial-sync`, `live`, `offline` (waiting before a retry), `unauthorized` (401/403), `error` (stopped). */
export type SyncPhase = 'opening' | 'initial-sync' | 'live' | 'offline' | 'unauthorized' | 'error';

export interface StatusEvent {
  type: 'STATUS';
  shapeName: string;
  phase: SyncPhase;
  /** the shape's row count; during an initial sync, the rows received so far */
  rows: number;
  /** the committed offset and handle */
  offset: string | null;
  handle: string | null;
  /** ms since the epoch at the last commit, or null */
  lastSyncedAt: number | null;
  /** why, for `offline`, `unauthorized` and `error` */
  error?: string;
  /** during an initial sync: the rows the server announced (exact or estimated); absent when it
   * sent no count (Electric's server does not) */
  total?: number;
  /** during an initial sync: `rows / total` clamped to [0, 1] (absent without `total`); 1 once live */
  progress?: number;
}

export type SyncEvent = DataChangeEvent | SchemaResetEvent | StatusEvent;
export interface EventMap<R = Row> {
  DATA_CHANGE: DataChangeEvent<R>;
  SCHEMA_RESET: SchemaResetEvent;
  STATUS: StatusEvent;
}
export type EventType = keyof EventMap;

/** The engine's error names (src/core/esync.h), as `code` of a rejection. */
export type EngineErrorCode =
  | 'ESYNC_ENOMEM' | 'ESYNC_EINVAL' | 'ESYNC_EJSON' | 'ESYNC_EPROTO' | 'ESYNC_EHEADERS'
  | 'ESYNC_ESCHEMA' | 'ESYNC_EVALUE' | 'ESYNC_ETOOBIG' | 'ESYNC_ESQLITE' | 'ESYNC_EHTTP'
  | 'ESYNC_ERETRY' | 'ESYNC_ENOSHAPE' | 'ESYNC_EREADONLY' | 'ESYNC_ESTATE' | 'ESYNC_EPENDING'
  | 'ESYNC_EAUTH';
/**
 * `code` of the library's rejections: `TIMEOUT` (awaitTxId), `SHAPE_CONFLICT` (ready), an engine
 * name, `NOT_STARTED` (the framework bindings without an instance: on the server, or before
 * useElectricSync(options)), or `Error`.
 */
export type ErrorCode = 'TIMEOUT' | 'SHAPE_CONFLICT' | 'NOT_STARTED' | EngineErrorCode | 'Error' | (string & {});

export interface ElectricSyncError extends Error {
  code: ErrorCode;
}

/** A transaction id as the REST API returns it (`"txid"`, a decimal string), or a number or bigint. */
export type TxId = string | number | bigint;

export interface ElectricSync {
  /** subscribes to an event; returns the unsubscribe function */
  on<T extends EventType, R = Row>(type: T, fn: (event: EventMap<R>[T]) => void): () => void;
  /** this tab's shapes are live, or the stored replica is open offline; rejects with `SHAPE_CONFLICT` */
  readonly ready: Promise<void>;
  /** one read-only statement over the replica; int8 columns come back as decimal strings */
  query<R = Row>(sql: string, params?: readonly SqlParam[] | null): Promise<R[]>;
  /** `onRows` with the first result, then after every commit that changed a table it reads; returns `unsubscribe()` */
  liveQuery<R = Row>(sql: string, params: readonly SqlParam[] | null | undefined,
    onRows: (rows: R[]) => void, onError?: (error: ElectricSyncError) => void): () => void;
  /** resolves once the write's transaction is durable in this browser's replica; rejects with `TIMEOUT` */
  awaitTxId(txid: TxId, options?: { timeoutMs?: number }): Promise<void>;
  /** evaluates `headers`/`params` now; the worker retries shapes refused with 401/403 */
  refreshAuth(): Promise<void>;
  /** wipes the replica and resyncs; every tab gets SCHEMA_RESET `manual_reset` */
  resetLocal(): Promise<void>;
  /** the latest STATUS per shape name */
  readonly status: Readonly<Record<string, StatusEvent>>;
  close(): void;
}

export function useElectricSync(options: ElectricSyncOptions): ElectricSync;
/** The storage format in the worker's name, `electric-sync:<dbName>:<WORKER_FORMAT>` (a new format gets a new worker). */
export declare const WORKER_FORMAT: number;
