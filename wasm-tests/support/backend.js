// The shape backend of the worker tests: the real electric-sync-server (binary from
// ESYNC_SERVER_BIN, default build/native/electric-sync-server) on the private Postgres cluster,
// as tests/server does; or, while the server has no /v1/shape yet (or ESYNC_TEST_FAKE_SHAPES=1),
// the in-process stand-in of fake-electric.js. Both expose the same small API; the real one also
// has SQL (`sql`) and a second table for a second shape (`createOther`), which the proxy
// (/api/electric/v1/shape) lets through besides test_items.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, cpSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root } from '../load.js';
import { startFakeElectric } from './fake-electric.js';

const serverBin = process.env.ESYNC_SERVER_BIN || path.join(root, 'build/native/electric-sync-server');
const OTHER = 'other_items';

// webDir: the directory the server serves the page's files from (ESYNC_WEB_DIR, its wasm/ as
// ESYNC_WASM_DIR), e.g. the package's dist/ (bench/browser.mjs); default web/ and build/wasm/.
async function startReal({ webDir } = {}) {
  const h = await import('../../tests/server/helpers.js');
  await h.prepareDatabase();
  // A private copy of the migrations, so a test can add one (a schema version change).
  const migrations = mkdtempSync(path.join(os.tmpdir(), 'esync-mig-'));
  cpSync(path.join(root, 'db/migrations'), migrations, { recursive: true });
  const journalPath = path.join(migrations, 'meta/_journal.json');
  const journal = readFileSync(journalPath, 'utf8');
  let migrated = false;
  // The shape logs of this server only (not the dev server's .data/shapes).
  const shapesDir = mkdtempSync(path.join(os.tmpdir(), 'esync-shapes-'));
  let proc, base, port, log = '';
  const start = async () => {
    port ??= await h.freePort(); // kept across restart(), so pages keep their origin
    proc = spawn(serverBin, [], {
      env: { ...process.env, PORT: String(port), DATABASE_URL: h.clusterUrl(), ESYNC_DEV: '1', ESYNC_MIGRATIONS_DIR: migrations, ESYNC_SHAPES_DIR: shapesDir, ESYNC_PROXY_TABLES: `test_items,${OTHER}`, ...(webDir ? { ESYNC_WEB_DIR: webDir, ESYNC_WASM_DIR: path.join(webDir, 'wasm') } : {}) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc.stderr.setEncoding('utf8');
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 15000);
      proc.stderr.on('data', (d) => { log += d; if (log.includes('listening on')) { clearTimeout(t); resolve(); } });
      proc.on('exit', (code) => { clearTimeout(t); reject(new Error(`server exited ${code}:\n${log}`)); });
    });
    base = `http://127.0.0.1:${port}`;
  };
  const stopProc = async () => {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.on('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
  };
  await start();
  const probe = await fetch(`${base}/v1/shape?table=test_items&offset=-1`).catch(() => null);
  const hasShapes = !!probe && probe.status !== 404;
  if (probe) await probe.arrayBuffer();
  const call = async (method, p, json) => {
    const r = await fetch(base + p, { method, headers: json ? { 'content-type': 'application/json' } : {}, body: json ? JSON.stringify(json) : undefined });
    const text = await r.text();
    if (r.status >= 400) throw new Error(`${method} ${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const b = {
    kind: 'real',
    hasShapes,
    get base() { return base; },
    get staticBase() { return base; },
    get shapeUrl() { return `${base}/api/electric/v1/shape`; },
    get liveUrl() { return `${base}/v1/shape`; },
    get versionUrl() { return `${base}/api/schema/version`; },
    // The REST writes; each answer carries the writing transaction's `txid`.
    insert: (row) => call('POST', '/api/test-items', row),
    update: (id, patch) => call('PUT', `/api/test-items/${id}`, patch),
    delete: (id) => call('DELETE', `/api/test-items/${id}`),
    sql: (text, params) => h.query(text, params),
    // what the server printed since it (re)started (its log lines: snapshot timings and the like)
    serverLog: () => log,
    // the server process's id (benchmarks watch its CPU time)
    get serverPid() { return proc.pid; },
    // The second table (dropped by every clear(): /api/dev/reset drops the public schema), with
    // n rows; insertOther writes one more row and returns its txid.
    other: OTHER,
    async createOther(n = 0) {
      await h.query(`drop table if exists ${OTHER}`);
      await h.query(`create table ${OTHER} (id int primary key, label text not null)`);
      for (let i = 1; i <= n; i++) await h.query(`insert into ${OTHER} values ($1, $2)`, [i, `other ${i}`]);
    },
    async insertOther(id, label) {
      const r = await h.query(`insert into ${OTHER} values ($1, $2) returning pg_current_xact_id()::xid::text as txid`, [id, label]);
      return r.rows[0].txid;
    },
    async rows() { return (await h.query('select id, title, completed from test_items order by id')).rows; },
    async clear() { await call('POST', '/api/dev/reset'); await h.query('delete from test_items'); },
    // Then ANALYZE, as autovacuum would a minute after such a load: the planner's row estimate
    // (a new shape's rows-estimate header, its progress fraction) is the table's, not a guess
    // from its size.
    async seedMany(n) {
      await b.clear();
      for (let left = n; left > 0; left -= 10000) await call('POST', '/api/dev/seed', { count: Math.min(left, 10000) });
      await h.query('ANALYZE test_items');
    },
    // A new migration changes the schema version (the server derives it from the applied ones).
    async migrate(tag) {
      const j = JSON.parse(readFileSync(path.join(migrations, 'meta/_journal.json'), 'utf8'));
      j.entries.push({ idx: j.entries.length, version: '7', when: Date.now(), tag, breakpoints: true });
      writeFileSync(path.join(migrations, 'meta/_journal.json'), JSON.stringify(j, null, 2));
      writeFileSync(path.join(migrations, `${tag}.sql`), `CREATE INDEX IF NOT EXISTS "${tag}_idx" ON "test_items" ("title");\n`);
      migrated = true;
      await call('POST', '/api/dev/reset');
      await h.query('delete from test_items');
    },
    // A server restart in two steps (SIGTERM; then the same binary again on the same port,
    // shapes directory and database), so a test can write straight to Postgres in between.
    down: () => stopProc(),
    async up() { log = ''; await start(); },
    async stop() {
      // Leave the test database at the repository's migrations.
      if (migrated) { writeFileSync(journalPath, journal); await call('POST', '/api/dev/reset').catch(() => {}); }
      await stopProc();
      rmSync(shapesDir, { recursive: true, force: true });
      rmSync(migrations, { recursive: true, force: true });
    },
  };
  return b;
}

async function startFake() {
  const f = await startFakeElectric();
  return {
    kind: 'fake',
    base: f.base,
    shapeUrl: f.shapeUrl,
    liveUrl: undefined,
    versionUrl: f.versionUrl,
    insert: async (row) => f.insert(row),
    update: async (id, patch) => f.update(id, patch),
    delete: async (id) => f.delete(id),
    async rows() { return f.rows().map((r) => ({ id: r.id, title: r.title, completed: r.completed })).sort((a, b) => (a.id < b.id ? -1 : 1)); },
    async clear() { for (const r of f.rows()) f.delete(r.id); f.rotateHandle(); },
    async seedMany(n) {
      for (const r of f.rows()) f.delete(r.id);
      f.rotateHandle();
      const hex = (i, w) => i.toString(16).padStart(w, '0');
      for (let i = 0; i < n; i++) f.insert({ id: `${hex(i, 8)}-0000-4000-8000-${hex(i * 7919, 12)}`, title: `Item ${i}`, description: `Description of item ${i}, some text to make the row realistic` });
    },
    async migrate(tag) { f.setVersion(tag); for (const r of f.rows()) f.delete(r.id); f.rotateHandle(); },
    stop: () => f.stop(),
  };
}

// { static }: the real server is needed anyway (the browser tests load web/ from it); its
// shape and version routes are used when it has /v1/shape, the stand-in's otherwise.
export async function startBackend({ static: needStatic = false, webDir } = {}) {
  if (process.env.ESYNC_TEST_FAKE_SHAPES !== '1' || needStatic) {
    if (!existsSync(serverBin)) throw new Error(`no server binary at ${serverBin} (bash scripts/build.sh native, or set ESYNC_SERVER_BIN)`);
    const real = await startReal({ webDir });
    if (real.hasShapes && process.env.ESYNC_TEST_FAKE_SHAPES !== '1') return real;
    process.stderr.write('worker tests: the server has no /v1/shape yet; shapes come from the in-process stand-in\n');
    if (!needStatic) await real.stop();
    const fake = await startFake();
    if (!needStatic) return fake;
    return { ...fake, staticBase: real.base, stop: async () => { await fake.stop(); await real.stop(); } };
  }
  return startFake();
}
