// Start-up, shutdown, Postgres going away and coming back, and the schema version across
// migrations (the server's own migrator and drizzle-kit's, on the same bookkeeping table).
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { api, clusterUrl, expectError, pg_sh, prepareDatabase, query, root, sleep, startServer } from './helpers.js'

before(prepareDatabase)
after(() => pg_sh('start'))

test('Postgres unreachable at start: clear message, exit code 3', async () => {
  const s = await startServer({ env: { DATABASE_URL: 'postgresql:///x?host=/nonexistent-esync&port=1&user=postgres&password=hunter2' } })
  assert.deepEqual(s.result, { code: 3, signal: null })
  assert.match(s.log(), /cannot connect to Postgres at postgresql:\/\/\/x\?host=\/nonexistent-esync/)
  assert.ok(!s.log().includes('hunter2'), 'password redacted')
  const t = await startServer({ env: { DATABASE_URL: 'postgresql://bob:hunter2@127.0.0.1:1/db' } })
  assert.equal(t.result.code, 3)
  assert.match(t.log(), /postgresql:\/\/bob:\*\*\*@127\.0\.0\.1:1\/db/)
  assert.ok(!t.log().includes('hunter2'), 'password redacted')
})

test('bad configuration: exit code 2 with the reason', async () => {
  for (const [env, re] of [
    [{ PORT: 'abc' }, /PORT='abc' must be an integer/],
    [{ PORT: '70000' }, /PORT='70000'/],
    [{ DATABASE_URL: undefined }, /DATABASE_URL is not set/],
    [{ ESYNC_DB_POOL: '0' }, /ESYNC_DB_POOL/],
    [{ HOST: 'localhost' }, /HOST 'localhost' is not a numeric/],
  ]) {
    const s = await startServer({ env })
    assert.ok(s.result, `exits for ${JSON.stringify(env)}`)
    assert.equal(s.result.code, env.HOST ? 4 : 2, s.log())
    assert.match(s.log(), re)
  }
})

test('malformed shape service settings: exit code 2 naming the variable', async () => {
  for (const [env, re] of [
    [{ ESYNC_LONG_POLL_MS: '20s' }, /ESYNC_LONG_POLL_MS='20s' must be an integer from 100 to 600000/],
    [{ ESYNC_LONG_POLL_MS: '50' }, /ESYNC_LONG_POLL_MS='50'/],
    [{ ESYNC_CHUNK_BYTES: '-1' }, /ESYNC_CHUNK_BYTES='-1'/],
    [{ ESYNC_SHAPE_WORKERS: '0' }, /ESYNC_SHAPE_WORKERS='0'/],
    [{ ESYNC_RECONCILE_MS: '1e4' }, /ESYNC_RECONCILE_MS='1e4'/],
    [{ ESYNC_PROXY_TABLES: 'test_items, "open' }, /ESYNC_PROXY_TABLES: '"open': /],
  ]) {
    const s = await startServer({ env })
    assert.ok(s.result, `exits for ${JSON.stringify(env)}`)
    assert.equal(s.result.code, 2, s.log())
    assert.match(s.log(), re)
  }
})

test('port in use: exit code 4', async () => {
  const blocker = net.createServer().listen(0, '127.0.0.1')
  await new Promise((r) => blocker.on('listening', r))
  const s = await startServer({ port: blocker.address().port })
  blocker.close()
  assert.equal(s.result?.code, 4)
  assert.match(s.log(), /cannot listen/)
})

test('SIGINT and SIGTERM: clean exit 0; in-flight requests finish first', async () => {
  for (const sig of ['SIGINT', 'SIGTERM']) {
    const s = await startServer()
    const inflight = Promise.allSettled(Array.from({ length: 5 }, () => api(s, 'POST', '/api/dev/seed', { json: { count: 2000 } })))
    // Long enough for the server to accept the connections on a loaded machine (a connection
    // still in the kernel's backlog when the listener closes is reset, which is not what this
    // test is about), short enough that the seeds are still running.
    await sleep(100)
    const res = await s.stop(sig)
    assert.deepEqual(res, { code: 0, signal: null })
    assert.match(s.log(), new RegExp(`${sig}: shutting down`))
    assert.match(s.log(), /stopped\n$/)
    for (const d of await inflight) {
      // Accepted before the signal: answered (seeded, or 503 shutting_down if not started yet).
      assert.equal(d.status, 'fulfilled', String(d.reason?.cause ?? d.reason))
      assert.ok([200, 503].includes(d.value.status), d.value.text)
    }
  }
})

test('Postgres stopped under the running server: 503 envelope, then recovery', async () => {
  const s = await startServer()
  try {
    const id = (await api(s, 'POST', '/api/test-items', { json: { title: 'before the outage' } })).data.id
    pg_sh('stop')
    for (const [m, p, json] of [
      ['GET', '/api/schema/version'],
      ['POST', '/api/test-items', { title: 'during' }],
      ['PUT', `/api/test-items/${id}`, { title: 'during' }],
      ['DELETE', `/api/test-items/${id}`],
      ['POST', '/api/dev/seed', {}],
      ['POST', '/api/dev/reset', {}],
    ]) {
      expectError(await api(s, m, p, json ? { json } : {}), 503, 'database_unavailable')
    }
    // Validation still answers without the database.
    expectError(await api(s, 'POST', '/api/test-items', { json: { title: '' } }), 400)
    assert.equal(s.proc.exitCode, null, 'still running')
    pg_sh('start')
    // Every pooled connection was broken; each must be replaced without a failed request.
    for (let i = 0; i < 12; i++) assert.equal((await api(s, 'GET', '/api/schema/version')).status, 200)
    const u = await api(s, 'PUT', `/api/test-items/${id}`, { json: { title: 'after' } })
    assert.equal(u.status, 200)
    assert.match(s.log(), /database unreachable/)
    assert.match(s.log(), /database reachable again/)
    // A backend killed while idle (pg_terminate_backend) is also replaced transparently.
    await query("select pg_terminate_backend(pid, 5000) from pg_stat_activity where application_name = 'electric-sync-server'")
    for (let i = 0; i < 8; i++) assert.equal((await api(s, 'GET', '/api/schema/version')).status, 200)
  } finally {
    pg_sh('start')
    await s.stop()
  }
})

test('no migrations applied: version "none", writes answer 503 schema_not_migrated', async () => {
  const s = await startServer()
  try {
    await query('drop schema if exists drizzle cascade')
    await query('drop table if exists test_items')
    const v = await api(s, 'GET', '/api/schema/version')
    assert.equal(v.status, 200)
    assert.equal(v.data.version, 'none')
    assert.deepEqual(v.data.tables, [])
    expectError(await api(s, 'POST', '/api/test-items', { json: { title: 'x' } }), 503, 'schema_not_migrated')
    assert.equal((await api(s, 'POST', '/api/dev/reset')).status, 200)
    assert.equal((await api(s, 'GET', '/api/schema/version')).data.version, '0000_test_items')
  } finally {
    await s.stop()
  }
})

test('a new migration changes version and hash; drizzle-kit and the server agree', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'esync-mig-'))
  const mig = path.join(dir, 'migrations')
  fs.cpSync(path.join(root, 'db/migrations'), mig, { recursive: true })
  const journal = JSON.parse(fs.readFileSync(path.join(mig, 'meta/_journal.json'), 'utf8'))
  const last = journal.entries.at(-1)
  journal.entries.push({ idx: last.idx + 1, version: last.version, when: last.when + 1000, tag: '0001_extra', breakpoints: true })
  fs.writeFileSync(path.join(mig, 'meta/_journal.json'), JSON.stringify(journal, null, 2))
  fs.writeFileSync(path.join(mig, '0001_extra.sql'),
    'CREATE TABLE "extra_things" ("id" integer PRIMARY KEY NOT NULL);\n--> statement-breakpoint\n' +
    'ALTER TABLE "test_items" ADD COLUMN "note" text;')
  const config = path.join(dir, 'drizzle.config.mjs')
  fs.writeFileSync(config, `export default { dialect: 'postgresql', out: ${JSON.stringify(mig)}, ` +
    `dbCredentials: { url: process.env.DATABASE_URL }, migrations: { table: '__drizzle_migrations', schema: 'drizzle' } }\n`)

  const plain = await startServer()
  const extra = await startServer({ env: { ESYNC_MIGRATIONS_DIR: mig } })
  try {
    const base = (await api(plain, 'POST', '/api/dev/reset')).data
    const v0 = (await api(extra, 'GET', '/api/schema/version')).data
    assert.equal(v0.version, base.version)

    // drizzle-kit applies only the new one on top of what the server applied.
    execFileSync(path.join(root, 'node_modules/.bin/drizzle-kit'), ['migrate', `--config=${config}`], {
      cwd: root, env: { ...process.env, DATABASE_URL: clusterUrl() }, stdio: 'pipe',
    })
    const v1 = (await api(extra, 'GET', '/api/schema/version')).data
    assert.equal(v1.version, '0001_extra')
    assert.notEqual(v1.hash, v0.hash)
    assert.deepEqual(v1.tables, ['extra_things', 'test_items'])
    // A server whose journal lacks the tag still sees the change (version = the journal's "when").
    const p1 = (await api(plain, 'GET', '/api/schema/version')).data
    assert.equal(p1.version, String(last.when + 1000))
    assert.equal(p1.hash, v1.hash)

    // The server's own migrator produces the same bookkeeping, hence the same version and hash.
    const r = await api(extra, 'POST', '/api/dev/reset')
    assert.equal(r.status, 200, r.text)
    assert.equal(r.data.version, '0001_extra')
    assert.equal(r.data.migrations, 2)
    assert.deepEqual((await api(extra, 'GET', '/api/schema/version')).data, v1)
    const item = await api(extra, 'POST', '/api/test-items', { json: { title: 'with note column' } })
    assert.equal(item.data.note, null)

    // And drizzle-kit finds nothing left to do after the server's reset.
    const before = (await query('select count(*)::int as n from drizzle.__drizzle_migrations')).rows[0].n
    execFileSync(path.join(root, 'node_modules/.bin/drizzle-kit'), ['migrate', `--config=${config}`], {
      cwd: root, env: { ...process.env, DATABASE_URL: clusterUrl() }, stdio: 'pipe',
    })
    assert.equal((await query('select count(*)::int as n from drizzle.__drizzle_migrations')).rows[0].n, before)

    // Back to the committed migrations.
    const back = await api(plain, 'POST', '/api/dev/reset')
    assert.equal(back.data.version, base.version)
    assert.deepEqual((await api(plain, 'GET', '/api/schema/version')).data.hash, v0.hash)
  } finally {
    await plain.stop()
    await extra.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('a broken migration fails the reset and leaves the database as it was', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'esync-mig-'))
  fs.cpSync(path.join(root, 'db/migrations'), dir, { recursive: true })
  const journal = JSON.parse(fs.readFileSync(path.join(dir, 'meta/_journal.json'), 'utf8'))
  journal.entries.push({ idx: 1, version: '7', when: journal.entries[0].when + 1, tag: '0001_broken', breakpoints: true })
  fs.writeFileSync(path.join(dir, 'meta/_journal.json'), JSON.stringify(journal))
  fs.writeFileSync(path.join(dir, '0001_broken.sql'), 'CREATE TABLE oops (;')
  const s = await startServer({ env: { ESYNC_MIGRATIONS_DIR: dir } })
  try {
    const before = (await query('select count(*)::int as n from test_items')).rows[0].n
    const r = await api(s, 'POST', '/api/dev/reset')
    expectError(r, 500, 'migration_failed')
    assert.match(r.data.error.message, /0001_broken/)
    assert.equal((await query('select count(*)::int as n from test_items')).rows[0].n, before)
    fs.rmSync(path.join(dir, 'meta/_journal.json'))
    expectError(await api(s, 'POST', '/api/dev/reset'), 500, 'migration_failed')
    assert.equal((await api(s, 'GET', '/api/schema/version')).status, 200)
  } finally {
    await s.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
