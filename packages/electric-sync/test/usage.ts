// Typed usage of the package, checked with `tsc --noEmit` (npm run test:package, against the
// installed tarball; test/tsconfig.json maps the names to this checkout). Every
// `@ts-expect-error` line is a misuse the types must refuse: tsc fails if it compiles.
import {
  useElectricSync,
  type DataChangeEvent, type SchemaResetEvent, type StatusEvent, type SyncPhase,
  type ElectricSyncError, type ErrorCode,
} from 'electric-sync';
import { useAppRouter } from 'electric-sync/app-router';
import * as vue from 'electric-sync/vue';
import * as react from 'electric-sync/react';
import { ref, computed } from 'vue';

interface Item {
  id: string;
  title: string;
  completed: boolean;
  /** an int8 column: bigint in DATA_CHANGE */
  views: bigint;
}

const sync = useElectricSync({
  shapes: [{ name: 'test_items', table: 'test_items', where: 'completed = $1', params: ['false'], columns: ['id', 'title'] }],
  shapeUrl: '/api/electric/v1/shape',
  versionUrl: '/api/schema/version',
  dbName: 'my-app',
  headers: async () => ({ authorization: 'Bearer x' }),
  params: { tenant: 'a', page: 1 },
});
// @ts-expect-error shapes is required
useElectricSync({ dbName: 'x' });
// @ts-expect-error a shape needs a table
useElectricSync({ shapes: [{ name: 'a' }] });
// @ts-expect-error header values are strings (or numbers/booleans), not objects
useElectricSync({ shapes: [], headers: { authorization: { token: 'x' } } });

export async function main(): Promise<void> {
  await sync.ready;
  const rows = await sync.query<Item>('SELECT * FROM test_items WHERE title = ?', ['milk']);
  const first: Item | undefined = rows[0];
  void first;
  // @ts-expect-error params are SQL values, not objects
  await sync.query('SELECT 1', [{ a: 1 }]);

  const stop: () => void = sync.liveQuery<Item>('SELECT * FROM test_items', [], (items) => {
    const t: string = items[0].title;
    void t;
  }, (err) => {
    const code: ErrorCode = err.code;
    void code;
  });
  stop();
  // @ts-expect-error onRows is required
  sync.liveQuery('SELECT 1', []);

  await sync.awaitTxId('1234');
  await sync.awaitTxId(1234n, { timeoutMs: 5000 });
  // @ts-expect-error a txid is a string, number or bigint
  await sync.awaitTxId({ txid: '1' });
  await sync.refreshAuth();
  await sync.resetLocal();

  sync.on<'DATA_CHANGE', Item>('DATA_CHANGE', (e: DataChangeEvent<Item>) => {
    const txids: string[] | undefined = e.txids;
    const views: bigint = e.changes.insert[0].views;
    // @ts-expect-error int8 columns are bigint, not number
    const asNumber: number = e.changes.insert[0].views;
    const upd: Item = e.changes.update[0].new;
    void txids; void views; void asNumber; void upd;
  });
  sync.on('SCHEMA_RESET', (e: SchemaResetEvent) => {
    const r: 'version_mismatch' | 'manual_reset' = e.reason;
    void r;
  });
  const off = sync.on('STATUS', (s: StatusEvent) => {
    const phases: SyncPhase[] = ['opening', 'initial-sync', 'live', 'offline', 'unauthorized', 'error'];
    void phases;
    if (s.phase === 'unauthorized') void sync.refreshAuth();
    // @ts-expect-error 'backoff' is no phase (the engine's wait is 'offline')
    if (s.phase === 'backoff') return;
  });
  off();
  // @ts-expect-error unknown event type
  sync.on('ROWS', () => {});

  try {
    await sync.awaitTxId('1', { timeoutMs: 1 });
  } catch (e) {
    const err = e as ElectricSyncError;
    if (err.code === 'TIMEOUT' || err.code === 'SHAPE_CONFLICT' || err.code === 'ESYNC_EREADONLY') return;
  }
  const phase: SyncPhase | undefined = sync.status.test_items?.phase;
  void phase;
  sync.close();
}

// Vue
export function vueSetup(): void {
  const s = vue.useElectricSync({ shapes: [{ name: 'test_items', table: 'test_items' }] });
  const phase = computed(() => s.status.value.test_items?.phase);
  void phase;
  const done = ref(false);
  const { rows, isLoading, error } = vue.useLiveQuery<Item>('SELECT * FROM test_items WHERE completed = ?', [done]);
  const title: string | undefined = rows.value[0]?.title;
  const loading: boolean = isLoading.value;
  const err: ElectricSyncError | null = error.value;
  void title; void loading; void err;
  vue.useLiveQuery(() => `SELECT * FROM test_items LIMIT ${done.value ? 1 : 2}`, () => [1, 'a', 2n, null]);
  // @ts-expect-error the rows are the worker's, read-only
  rows.value = [];
  // @ts-expect-error parameters are SQL values (or refs of them)
  vue.useLiveQuery('SELECT 1', [{}]);
  const status = vue.useSyncStatus();
  const st: StatusEvent | undefined = status.value.test_items;
  void st;
  const router = vue.useAppRouter();
  router.navigate('/items/1', { mode: 'dock' });
  // @ts-expect-error unknown router mode
  router.navigate('/x', { mode: 'modal' });
  void s.awaitTxId('1');
  const client = s.client;
  if (client) client.close();
}

// React
export function ReactComponent(): string {
  react.useElectricSync({ shapes: [{ name: 'test_items', table: 'test_items' }] });
  const { rows, isLoading, error } = react.useLiveQuery<Item>('SELECT * FROM test_items WHERE completed = ?', [0]);
  const status = react.useSyncStatus();
  // @ts-expect-error parameters are SQL values
  react.useLiveQuery('SELECT 1', [new Date()]);
  return `${rows.length} ${isLoading} ${error?.code} ${status.test_items?.phase}`;
}

useAppRouter().back();
