// The tabs of the chaos run: Chromium pages on the real server's origin running useElectricSync,
// every event recorded in the page (window.__ev) from before the library starts. A "mark" taken at
// a quiet point (no write in flight, a marker write awaited in every tab, so every earlier
// DATA_CHANGE has been delivered) stores the tab's replica as its starting replica; the fold
// replays the DATA_CHANGE stream after the mark over it, in the page, and reports every anomaly:
// an insert of a key already present (doubled), an update or delete of a key absent (lost or out
// of order), an update whose `old` differs from the folded row (a change lost or reordered).
import { openContext, startSync, ready } from '../e2e/browser.js';

export const ROW_SQL = 'SELECT id, title, description, completed, updated_at FROM test_items ORDER BY id';

export async function openTabs(base, config, layout) {
  const tabs = [];
  const contexts = [];
  for (const { name, noSharedWorker, count } of layout) {
    const b = await openContext(base, { noSharedWorker });
    b.name = name;
    contexts.push(b);
    for (let i = 0; i < count; i++) {
      const page = await b.page();
      tabs.push({ name: `${name}.${i + 1}`, page, ctx: b, mode: noSharedWorker ? 'dedicated' : 'shared' });
    }
  }
  for (const t of tabs) await startSync(t.page, config);
  for (const t of tabs) await withTimeout(ready(t.page), 60000, `${t.name}: ready`);
  return { tabs, contexts, close: async () => { for (const c of contexts) await c.close().catch(() => {}); } };
}

export function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([p, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

export const awaitTxId = (page, txid, ms) => page.evaluate(([t, m]) => window.__sync.awaitTxId(t, { timeoutMs: m }).then(() => 'ok', (e) => `${e.code}: ${e.message}`), [txid, ms]);

// The replica as comparable rows (SQLite gives completed as 0/1, events as booleans).
export const tabRows = (page) => page.evaluate(async (sql) => (await window.__sync.query(sql, [])).map((r) => ({
  id: r.id, title: r.title, description: r.description ?? null, completed: !!r.completed, updated_at: r.updated_at,
})), ROW_SQL);

export const mark = (page) => page.evaluate(async (sql) => {
  const rows = await window.__sync.query(sql, []);
  window.__start = rows.map((r) => ({ id: r.id, title: r.title, description: r.description ?? null, completed: !!r.completed, updated_at: r.updated_at }));
  window.__markIdx = window.__ev.length;
  return rows.length;
}, ROW_SQL);

// A mark at the start of the page's stream with an empty starting replica: for a tab whose
// worker must begin with SCHEMA_RESET (the fold clears at the reset, whatever was loaded).
export const markEmpty = (page) => page.evaluate(() => { window.__start = []; window.__markIdx = 0; });

export const resetEvents = (page) => page.evaluate(() => window.__ev.filter((e) => e.type === 'SCHEMA_RESET'));

// PRAGMA integrity_check of the replica, asked of the page's SharedWorker over a port of its own
// (the library's worker URL and name, its format the library's WORKER_FORMAT export, so that a new
// storage format does not start a second worker; STATS with integrity: true, docs/contracts.md §6).
export const integrity = (page, dbName) => page.evaluate(async (db) => {
  const fmt = (await import('/electric-sync.js')).WORKER_FORMAT;
  if (!fmt) return 'WORKER_FORMAT not found in /electric-sync.js';
  const w = new SharedWorker(new URL('/electric-sync.worker.js', location.href), { name: `electric-sync:${db}:${fmt}` });
  const id = Math.random();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('no answer within 10 s'), 10000);
    w.port.onmessage = (ev) => {
      if (ev.data?.id !== id) return;
      clearTimeout(timer);
      w.port.close();
      resolve(ev.data.value ? ev.data.value.integrity : null);
    };
    w.port.postMessage({ type: 'STATS', id, integrity: true });
  });
}, dbName);

// The page's SharedWorker's latest timeline marks (responses with their status, backoff waits,
// flushes), each as "<label> @-<s>s" (seconds before now), for a failed check's message: what the
// worker was doing meanwhile. Same port and name as integrity().
export const recentMarks = (page, dbName, n = 24) => page.evaluate(async ([db, n]) => {
  const fmt = (await import('/electric-sync.js')).WORKER_FORMAT;
  const w = new SharedWorker(new URL('/electric-sync.worker.js', location.href), { name: `electric-sync:${db}:${fmt}` });
  const id = Math.random();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('no answer within 10 s'), 10000);
    w.port.onmessage = (ev) => {
      if (ev.data?.id !== id) return;
      clearTimeout(timer);
      w.port.close();
      const v = ev.data.value;
      if (!v || !v.timeline) return resolve('no timeline');
      resolve(v.timeline.slice(-n).map(([l, t]) => `${l} @-${((v.sinceStart - t) / 1000).toFixed(1)}s`).join(', '));
    };
    w.port.postMessage({ type: 'STATS', id });
  });
}, [dbName, n]).catch((e) => e.message);

// The same, as soon as the page's worker has the replica open (polled): right after a new
// worker loaded it from IndexedDB, before much else can commit.
export async function integrityWhenOpen(page, dbName, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const got = await integrity(page, dbName);
    if (got !== null || Date.now() > end) return got ?? 'the replica did not open';
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Resolves once no worker of the page's origin holds the replica's owner lock (the old workers
// of a closed context are gone), polled.
export const ownerReleased = (page, dbName) => page.evaluate(async (db) => {
  for (;;) {
    const { held } = await navigator.locks.query();
    if (!held.some((l) => l.name === `sqlite-owner:${db}`)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
}, dbName);

// Folds the DATA_CHANGE stream since the mark over the starting replica, in the page. rebase
// (at a quiet point): when the fold found no anomaly, its result becomes the new starting
// replica and the events folded are dropped, so a long run keeps a bounded stream in the page;
// folding verified segments one after another is the same check as folding the whole stream.
export const fold = (page, { rebase = false } = {}) => page.evaluate((rebase) => {
  const pick = (r) => ({ id: r.id, title: r.title, description: r.description ?? null, completed: !!r.completed, updated_at: r.updated_at });
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const state = new Map(window.__start.map((r) => [r.id, r]));
  const errs = [];
  let changes = 0, events = 0, resets = 0;
  const phases = {};
  for (const e of window.__ev.slice(window.__markIdx)) {
    if (e.type === 'STATUS') { phases[e.phase] = (phases[e.phase] || 0) + 1; continue; }
    if (e.type === 'SCHEMA_RESET') { state.clear(); resets++; continue; }
    if (e.type !== 'DATA_CHANGE' || e.shapeName !== 'test_items') continue;
    events++;
    const seen = new Set();
    const once = (id) => { if (seen.has(id)) errs.push(`event ${events}: key ${id} twice in one DATA_CHANGE`); seen.add(id); };
    for (const r of e.changes.insert) {
      once(r.id); changes++;
      if (state.has(r.id)) errs.push(`event ${events}: insert of ${r.id}, already present (doubled)`);
      state.set(r.id, pick(r));
    }
    for (const u of e.changes.update) {
      once(u.new.id); changes++;
      const cur = state.get(u.old.id);
      if (!cur) errs.push(`event ${events}: update of ${u.old.id}, absent (lost insert or out of order)`);
      else if (!same(cur, pick(u.old))) errs.push(`event ${events}: update of ${u.old.id}: old ${JSON.stringify(pick(u.old))} but folded ${JSON.stringify(cur)} (a change lost or reordered)`);
      state.delete(u.old.id);
      state.set(u.new.id, pick(u.new));
    }
    for (const r of e.changes.delete) {
      once(r.id); changes++;
      if (!state.has(r.id)) errs.push(`event ${events}: delete of ${r.id}, absent (doubled delete or lost insert)`);
      state.delete(r.id);
    }
  }
  const rows = [...state.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (rebase && !errs.length) {
    window.__start = rows;
    window.__ev.splice(0, window.__ev.length); // nothing arrived during this synchronous fold
    window.__markIdx = 0;
  }
  return { rows, errs: errs.slice(0, 10), nerrs: errs.length, changes, events, resets, phases };
}, rebase);

// Resolves true once the row `id` is in the tab's replica (polled), false after ms.
export async function rowArrives(page, id, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const n = await page.evaluate(async (id) => (await window.__sync.query('SELECT count(*) AS n FROM test_items WHERE id = ?', [id]))[0].n, id).catch(() => 0);
    if (n === 1) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

// Why a marker's txid did not arrive, in a few words: the tab's shape status, and whether the
// marker row is in its replica anyway (then it came in a snapshot, which carries no txids: a
// refetch or a reset while the marker was written) or not (the tab is behind).
export const whyNot = (page, id) => page.evaluate(async (id) => {
  const s = window.__sync.status.test_items;
  const st = s ? `phase ${s.phase}${s.error ? ` (${s.error})` : ''}, offset ${s.offset}, handle ${s.handle}` : 'no status';
  const rows = await window.__sync.query('SELECT count(*) AS n FROM test_items WHERE id = ?', [id]).catch((e) => [{ n: e.message }]);
  return `${st}; marker row in the replica: ${rows[0].n === 1 ? 'yes' : rows[0].n === 0 ? 'no' : rows[0].n}`;
}, id).catch((e) => e.message);

export const phase = (page) => page.evaluate(() => window.__sync.status.test_items?.phase ?? null);
