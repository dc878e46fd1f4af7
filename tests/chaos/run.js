// npm run test:chaos: a model of the system run against the real one under faults. The real
// electric-sync-server (dev mode, its own shapes directory) on the private Postgres; a fault-
// injecting proxy (proxy.js) in front of its /v1/shape that every page uses as its shape URL;
// Chromium tabs on useElectricSync (one context with 2 tabs on the SharedWorker, one context
// without SharedWorker: the dedicated fallback). Random writes (ops.js: REST and SQL, bulk
// updates of 1-500 rows in one transaction) while the proxy injects faults; then the faults stop
// and the checks run: the model equals Postgres, every tab converges to Postgres within
// CHAOS_CONVERGE_MS (time measured), each tab's DATA_CHANGE stream folded over its starting
// replica equals its final replica with no anomaly (tabs.js), no tab is left in phase 'error'.
//
//   CHAOS_SEED=<n>     replay a run (the seed is printed; the operations are a function of it,
//                      the faults' assignment to requests also depends on timing)
//   CHAOS_OPS=<n>      operations (default 10000)
//   CHAOS_RESTARTS=<n> server restarts during the run (default 2): SIGTERM, 0-50 SQL writes
//                      straight to Postgres while it is down, the same server started again
//   CHAOS_RELOADS=<n>  tab reloads during the run (default 3; faults stay on): before each, a
//                      marker write awaited in that tab, then its stream is folded and checked
//                      against its replica and Postgres; after it, a new start is marked
//   CHAOS_RESETS=<n>   resetLocal() in a random tab during the run (default 1; not awaited: the
//                      writes go on, and every tab of that worker folds through SCHEMA_RESET)
//   CHAOS_KILLS=<n>    worker kills (default 1): every tab of a SharedWorker context closed (each
//                      checked first, as before a reload), so its worker goes; new tabs then load
//                      the replica from IndexedDB and catch up under faults
//   CHAOS_OFFLINE=<n>  offline spells of 1-5 s (default 2): every shape request refused while
//                      the writes go on
//   CHAOS_ROWS=<n>     rows seeded before the tabs open (default 200)
//   CHAOS_CONVERGE_MS  bound on convergence after the faults stop (default 60000)
import pg from 'pg';
import { startBackend } from '../../wasm-tests/support/backend.js';
import { clusterUrl } from '../server/helpers.js';
import { seedFrom, makeRng } from './prng.js';
import { startFaultProxy, FATES } from './proxy.js';
import { makeOps } from './ops.js';
import { startSync, ready } from '../e2e/browser.js';
import { openTabs, withTimeout, awaitTxId, tabRows, mark, fold, phase } from './tabs.js';

const seed = seedFrom(process.env.CHAOS_SEED);
const OPS = Number(process.env.CHAOS_OPS || 10000);
const RESTARTS = Number(process.env.CHAOS_RESTARTS ?? 2);
const RELOADS = Number(process.env.CHAOS_RELOADS ?? 3);
const RESETS = Number(process.env.CHAOS_RESETS ?? 1);
const KILLS = Number(process.env.CHAOS_KILLS ?? 1);
const OFFLINE = Number(process.env.CHAOS_OFFLINE ?? 2);
const ROWS = Number(process.env.CHAOS_ROWS || 200);
const CONVERGE_MS = Number(process.env.CHAOS_CONVERGE_MS || 60000);
console.log(`chaos: seed ${seed} (replay: CHAOS_SEED=${seed} npm run test:chaos), ${OPS} ops`);

const results = [];
const check = (name, ok, detail = '') => {
  results.push({ name, ok });
  console.log(`${ok ? 'ok    ' : 'FAILED'} ${name}${detail ? ` — ${detail}` : ''}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Where two row lists (sorted by id) differ, in a few words.
function diff(a, b) {
  const ma = new Map(a.map((r) => [r.id, r]));
  const mb = new Map(b.map((r) => [r.id, r]));
  const missing = [...mb.keys()].filter((k) => !ma.has(k));
  const extra = [...ma.keys()].filter((k) => !mb.has(k));
  const changed = [...ma.keys()].filter((k) => mb.has(k) && JSON.stringify(ma.get(k)) !== JSON.stringify(mb.get(k)));
  if (!missing.length && !extra.length && !changed.length) return null;
  const ex = changed[0] ? ` e.g. ${JSON.stringify(ma.get(changed[0]))} vs ${JSON.stringify(mb.get(changed[0]))}` : '';
  return `${missing.length} missing (${missing.slice(0, 3).join(', ')}), ${extra.length} extra (${extra.slice(0, 3).join(', ')}), ${changed.length} differ${ex}`;
}

const rng = makeRng(seed, 0);
const backend = await startBackend({ static: true });
if (backend.kind !== 'real') throw new Error('test:chaos needs the real server with /v1/shape');
const pool = new pg.Pool({ connectionString: clusterUrl(), max: 3 });
pool.on('error', () => {});
const proxy = await startFaultProxy(backend.base, makeRng(seed, 1));
const ops = makeOps({ rng, base: backend.base, pool });
let browser;
let exitCode = 1;
const t0 = Date.now();
let maxConverge = null;
try {
  await backend.clear();
  await ops.seed(ROWS);
  const config = {
    shapes: [{ name: 'test_items', table: 'test_items' }], dbName: 'chaos',
    shapeUrl: `${proxy.base}/v1/shape`, versionUrl: backend.versionUrl,
  };
  browser = await openTabs(backend.base, config, [
    { name: 'shared', noSharedWorker: false, count: 2 },
    { name: 'shared-b', noSharedWorker: false, count: 2 },
    { name: 'fallback', noSharedWorker: true, count: 1 },
  ]);
  const { tabs } = browser;

  // A quiet point: a marker write awaited in every tab, then each tab's replica is its start.
  const quiet = async (title) => {
    const m = await ops.restInsert({ id: rng.uuid(), title });
    ops.model.set(m.id, { id: m.id, title: m.title, description: m.description ?? null, completed: !!m.completed });
    const got = await Promise.all(tabs.map((t) => awaitTxId(t.page, m.txid, CONVERGE_MS)));
    return got;
  };
  const start = await quiet('chaos: start marker');
  start.forEach((g, i) => { if (g !== 'ok') throw new Error(`${tabs[i].name}: start marker: ${g}`); });
  for (const t of tabs) t.startRows = await mark(t.page);

  // The run: faults on, operations one after another; tab phases sampled as they go.
  proxy.faults = true;
  const errorSeen = new Map();
  const tRun = Date.now();
  const restartAt = new Set(Array.from({ length: RESTARTS }, () => rng.int(1, OPS - 1)));
  let restarts = 0;
  const reloadAt = new Set(Array.from({ length: RELOADS }, () => rng.int(1, OPS - 1)));
  let reloads = 0;
  const resetAt = new Set(Array.from({ length: RESETS }, () => rng.int(1, OPS - 1)));
  let resets = 0;
  const pendingResets = [];
  const killAt = new Set(Array.from({ length: KILLS }, () => rng.int(1, OPS - 1)));
  let kills = 0;
  const offlineAt = new Set(Array.from({ length: OFFLINE }, () => rng.int(1, OPS - 1)));
  let offline = 0;
  const pgNow = async () => (await pool.query('SELECT id::text, title, description, completed, updated_at::text FROM test_items ORDER BY id')).rows;
  // The checks of one tab at a quiet point (its marker awaited): stream, replica, Postgres.
  const checkTab = async (t, label, pgRows) => {
    const f = await fold(t.page);
    const rows = await tabRows(t.page);
    check(`${t.name}${label}: the DATA_CHANGE stream has no anomaly (nothing lost, doubled or reordered)`, f.nerrs === 0,
      f.nerrs ? `${f.nerrs}: ${f.errs.join('; ')}` : `${f.events} events, ${f.changes} row changes, ${f.resets} resets`);
    const fd = diff(f.rows, rows);
    check(`${t.name}${label}: the folded stream equals the replica`, !fd, fd || `${rows.length} rows`);
    const pd = diff(rows, pgRows);
    check(`${t.name}${label}: the replica equals Postgres`, !pd, pd || '');
    return f;
  };
  for (let i = 0; i < OPS; i++) {
    if (offlineAt.has(i)) { offline++; proxy.offlineUntil = Date.now() + rng.int(1000, 5000); }
    if (killAt.has(i)) {
      const ctx = rng.pick(browser.contexts.filter((c) => tabs.some((t) => t.ctx === c && t.mode === 'shared')));
      const mine = tabs.filter((t) => t.ctx === ctx);
      kills++;
      const m = await ops.restInsert({ id: rng.uuid(), title: `chaos: kill marker ${kills}` });
      ops.model.set(m.id, { id: m.id, title: m.title, description: m.description ?? null, completed: !!m.completed });
      const pgRows = await pgNow();
      for (const t of mine) {
        const got = await awaitTxId(t.page, m.txid, CONVERGE_MS);
        if (got !== 'ok') check(`${t.name} before worker kill ${kills}: the marker's txid is awaited under faults`, false, got);
        else await checkTab(t, ` before worker kill ${kills}`, pgRows);
      }
      for (const t of mine) await t.page.close();
      await sleep(rng.int(100, 1000));
      for (const t of mine) {
        t.page = await ctx.page();
        await startSync(t.page, config);
      }
      for (const t of mine) {
        await withTimeout(ready(t.page), CONVERGE_MS, `${t.name}: ready after worker kill`);
        const again = await awaitTxId(t.page, m.txid, CONVERGE_MS);
        if (again !== 'ok') throw new Error(`${t.name}: after worker kill ${kills}, the marker's txid: ${again}`);
        await mark(t.page);
      }
    }
    if (resetAt.has(i)) {
      const t = rng.pick(tabs);
      resets++;
      pendingResets.push({ t, p: t.page.evaluate(() => window.__sync.resetLocal().then(() => 'ok', (e) => `${e.code}: ${e.message}`)) });
    }
    if (reloadAt.has(i)) {
      const t = rng.pick(tabs);
      reloads++;
      const m = await ops.restInsert({ id: rng.uuid(), title: `chaos: reload marker ${reloads}` });
      ops.model.set(m.id, { id: m.id, title: m.title, description: m.description ?? null, completed: !!m.completed });
      const got = await awaitTxId(t.page, m.txid, CONVERGE_MS);
      if (got !== 'ok') check(`${t.name} before reload ${reloads}: the marker's txid is awaited under faults`, false, got);
      else await checkTab(t, ` before reload ${reloads}`, await pgNow());
      await t.page.reload();
      await startSync(t.page, config);
      await withTimeout(ready(t.page), CONVERGE_MS, `${t.name}: ready after reload`);
      const again = await awaitTxId(t.page, m.txid, CONVERGE_MS);
      if (again !== 'ok') throw new Error(`${t.name}: after reload ${reloads}, the marker's txid: ${again}`);
      await mark(t.page);
    }
    if (restartAt.has(i)) {
      await backend.down();
      const n = rng.int(0, 50);
      for (let k = 0; k < n; k++) await ops.step({ sqlOnly: true });
      await backend.up();
      restarts++;
    }
    await ops.step();
    if (i % 100 === 99) {
      for (const t of tabs) {
        const ph = await phase(t.page);
        if (ph === 'error') errorSeen.set(t.name, (errorSeen.get(t.name) || 0) + 1);
      }
    }
  }
  const runMs = Date.now() - tRun;
  for (const { t, p } of pendingResets) {
    // A reload or a worker kill of that tab may end the page before its answer: not a failure.
    const got = await p.catch((e) => e.message);
    check(`${t.name}: resetLocal() under faults resolves (or its page was reloaded or closed first)`, got === 'ok' || /Execution context was destroyed|has been closed|Target closed/.test(got), got);
  }
  proxy.faults = false;
  proxy.offlineUntil = 0;
  const tStop = Date.now();

  // The model against Postgres (checks the test itself and the REST API's answers).
  const pgRows = (await pool.query('SELECT id::text, title, description, completed, updated_at::text FROM test_items ORDER BY id')).rows;
  const strip = (r) => ({ id: r.id, title: r.title, description: r.description ?? null, completed: !!r.completed });
  const modelRows = [...ops.model.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  const md = diff(modelRows, pgRows.map(strip));
  check('the model equals Postgres', !md, md || `${pgRows.length} rows`);

  // Convergence: each tab's query equals Postgres, polled, within the bound.
  const conv = await Promise.all(tabs.map(async (t) => {
    let last = 'never queried';
    while (Date.now() - tStop < CONVERGE_MS) {
      try {
        const rows = await withTimeout(tabRows(t.page), 10000, 'query');
        const d = diff(rows, pgRows);
        if (!d) return { ms: Date.now() - tStop };
        last = d;
      } catch (e) { last = e.message; }
      await sleep(200);
    }
    return { ms: null, last };
  }));
  tabs.forEach((t, i) => {
    const c = conv[i];
    check(`${t.name} (${t.mode}) converges to Postgres within ${CONVERGE_MS} ms`, c.ms !== null, c.ms !== null ? `${c.ms} ms` : c.last);
  });
  maxConverge = conv.every((c) => c.ms !== null) ? Math.max(...conv.map((c) => c.ms)) : null;

  // An end marker, awaited, so every DATA_CHANGE is delivered; then fold and compare.
  const end = await quiet('chaos: end marker');
  const finalPg = (await pool.query('SELECT id::text, title, description, completed, updated_at::text FROM test_items ORDER BY id')).rows;
  for (const [i, t] of tabs.entries()) {
    if (end[i] !== 'ok') { check(`${t.name}: the end marker's txid is awaited`, false, end[i]); continue; }
    const f = await checkTab(t, ' at the end', finalPg);
    const ph = await phase(t.page);
    check(`${t.name}: not in phase 'error' after the faults stop`, ph !== 'error', `phase ${ph}, 'error' sampled ${errorSeen.get(t.name) || 0}× during the run, phases seen ${JSON.stringify(f.phases)}`);
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  const faults = FATES.filter((f) => f !== 'pass').map((f) => `${f} ${proxy.counts[f]}`).join(', ');
  console.log(`${passed} passed, ${failed} failed`);
  console.log(`chaos summary: seed ${seed}, ${OPS} ops (${ops.rowChanges} row changes, ${Math.round(OPS / (runMs / 1000))} ops/s) [${Object.entries(ops.counts).map(([k, v]) => `${k} ${v}`).join(', ')}], ` +
    `${proxy.requests} shape requests, faults: ${faults}, server restarts ${restarts}, tab reloads ${reloads}, resetLocal ${resets}, worker kills ${kills}, offline spells ${offline}, max convergence ${maxConverge ?? 'n/a'} ms, ${tabs.length} tabs, ${Math.round((Date.now() - t0) / 1000)} s, ${failed ? 'FAILED' : 'passed'}`);
  if (failed) console.log(`replay: CHAOS_SEED=${seed} CHAOS_OPS=${OPS} npm run test:chaos`);
  exitCode = failed ? 1 : 0;
} catch (e) {
  console.error(`chaos: ${e.stack || e}`);
  if (browser) for (const c of browser.contexts) console.error(c.logs.slice(-30).join('\n'));
  console.log(`${results.filter((r) => r.ok).length} passed, ${results.filter((r) => !r.ok).length + 1} failed`);
  console.log(`replay: CHAOS_SEED=${seed} CHAOS_OPS=${OPS} npm run test:chaos`);
} finally {
  if (browser) await browser.close();
  await proxy.stop();
  await pool.end().catch(() => {});
  await backend.stop();
}
process.exit(exitCode);
