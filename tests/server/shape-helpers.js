// Helpers of the shape service tests (shape-*.test.js): a database of their own
// (electric_sync_shape_test, so the REST tests' resets never drop our tables), servers with a
// short long-poll hold and a stable shapes directory per role under .data/test-shapes/ (stable, so
// every run reuses the same replication slot instead of piling up new ones), the official client,
// and the check every step ends with: the client's rows equal a SELECT on Postgres.
import http from 'node:http'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { ShapeStream, Shape } from '@electric-sql/client'
import { clusterUrl, pg_sh, query, root, sleep, startServer } from './helpers.js'

export const SHAPE_DB = 'electric_sync_shape_test'
export const LONG_POLL_MS = 1500
export const shapeDbUrl = () => clusterUrl(SHAPE_DB)

let prepared = false
export async function prepareShapeDb() {
  if (prepared) return
  pg_sh('start')
  const exists = await query('select 1 from pg_database where datname = $1', [SHAPE_DB], clusterUrl('postgres'))
  if (exists.rowCount === 0) await query(`create database ${SHAPE_DB}`, [], clusterUrl('postgres'))
  prepared = true
}

export const sql = (text, params = []) => query(text, params, shapeDbUrl())

// A fresh table: dropped and created (the publication forgets a dropped table by itself).
export async function freshTable(name, columns = 'id int primary key, title text, num int, done boolean') {
  await sql(`drop table if exists ${name}`)
  await sql(`create table ${name} (${columns})`)
}

export function shapesDir(role) {
  return path.join(root, '.data/test-shapes', role)
}

// Starts a server on the shape database. `role` names its shapes directory; `keep` keeps what a
// previous server of that role stored (the restart tests); `port` reuses a port (a client that
// goes on across a restart).
export async function startShapeServer(role, { keep = false, env = {}, port } = {}) {
  const dir = shapesDir(role)
  if (!keep) fs.rmSync(dir, { recursive: true, force: true })
  const server = await startServer({
    port,
    env: { DATABASE_URL: shapeDbUrl(), ESYNC_SHAPES_DIR: dir, ESYNC_LONG_POLL_MS: String(LONG_POLL_MS), ...env },
  })
  if (server.result) throw new Error(`server exited: ${JSON.stringify(server.result)}\n${server.log()}`)
  // A sanitizer build reports at exit: a report fails the test that stopped the server.
  const stop = server.stop.bind(server)
  server.stop = async (signal) => {
    const r = await stop(signal)
    assert.ok(!/(AddressSanitizer|LeakSanitizer|runtime error:)/.test(server.log()), server.log())
    return r
  }
  // Stops the server and removes what it kept (its shapes, slot and publication), so test runs
  // leave no replication slot behind.
  server.dispose = async () => {
    await server.stop()
    await dropStore(role)
  }
  return server
}

export async function dropStore(role) {
  const dir = shapesDir(role)
  let slot
  try { slot = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')).slot } catch {}
  if (slot && /^esync_[a-z0-9_]+$/.test(slot)) {
    // The stopped server's walsender may still hold the slot for a moment: wait for it. An
    // active slot is not dropped, and its publication must then stay too: a slot left without
    // its publication breaks the next server that gets the same name (decoding fails with
    // "publication does not exist").
    for (let i = 0; i < 50; i++) {
      const r = await sql('select active from pg_replication_slots where slot_name = $1', [slot])
      if (r.rowCount === 0 || !r.rows[0].active) break
      await sleep(100)
    }
    await sql(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active`, [slot])
    if ((await sql('select 1 from pg_replication_slots where slot_name = $1', [slot])).rowCount === 0)
      await sql(`drop publication if exists ${slot.replace(/^esync_/, 'esync_pub_')}`)
  }
  fs.rmSync(dir, { recursive: true, force: true })
}

// The official client on a shape. Returns { stream, shape, stop }.
export function clientShape(base, params, opts = {}) {
  const controller = new AbortController()
  const stream = new ShapeStream({
    url: `${base}${opts.path ?? '/v1/shape'}`,
    params,
    signal: controller.signal,
    ...(opts.offset ? { offset: opts.offset, handle: opts.handle } : {}),
    onError: opts.onError,
  })
  const shape = new Shape(stream)
  return { stream, shape, stop: () => controller.abort() }
}

const norm = (rows, key) =>
  [...rows].map((r) => JSON.stringify(r, (k, v) => (typeof v === 'bigint' ? v.toString() : v)))
    .sort()
    .map((s) => JSON.parse(s))
    .sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0))

// Waits until the client's rows equal `select <cols> from <table> [where]`.
export async function expectSynced(shape, selectSql, { key = 'id', timeoutMs = 10000, params = [] } = {}) {
  const deadline = Date.now() + timeoutMs
  let want, got
  for (;;) {
    want = norm((await sql(selectSql, params)).rows, key)
    got = norm(shape.currentRows, key)
    if (shape.isUpToDate && JSON.stringify(got) === JSON.stringify(want)) return got
    if (Date.now() > deadline) break
    await sleep(25)
  }
  assert.deepEqual(got, want, `client rows differ from: ${selectSql}`)
  return got
}

// Raw request helper: fetch with the parsed JSON body.
export async function shapeGet(base, qs, { method = 'GET', headers = {}, path: p = '/v1/shape' } = {}) {
  const res = await fetch(`${base}${p}?${qs}`, { method, headers })
  const text = await res.text()
  let body = null
  try { body = text ? JSON.parse(text) : null } catch { body = text }
  return { status: res.status, headers: res.headers, body, text }
}

export { sleep, query }

// One raw GET of the shape API: the bytes as they crossed the wire (node's http does not decode
// a gzip body), on a connection of its own.
export function rawGet(base, qs, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}/v1/shape?${qs}`, { headers, agent: false }, (res) => {
      const parts = []
      res.on('data', (d) => parts.push(d))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

// Every answer of a table's snapshot, from offset -1 until up-to-date, with these headers.
export async function walk(base, headers, table) {
  const out = []
  let qs = `table=${table}&offset=-1`
  for (let i = 0; i < 50; i++) {
    const r = await rawGet(base, qs, headers)
    assert.equal(r.status, 200, r.body.toString())
    out.push(r)
    if ('electric-up-to-date' in r.headers) return out
    qs = `table=${table}&offset=${r.headers['electric-offset']}&handle=${r.headers['electric-handle']}`
  }
  throw new Error('no up-to-date')
}

// Until every snapshot chunk of the role's shapes has a file with each of these suffixes beside
// it (what the background thread makes: '.gz', '.img', '.img.gz'). Returns the shapes
// directory's files.
export async function snapFiles(role, suffixes, timeoutMs = 20000) {
  const t0 = Date.now()
  for (;;) {
    const files = fs.readdirSync(shapesDir(role), { recursive: true }).map(String)
    const snaps = files.filter((f) => /snap\.\d+$/.test(f))
    if (snaps.length && snaps.every((f) => suffixes.every((x) => files.includes(f + x)))) return files
    if (Date.now() - t0 > timeoutMs) throw new Error(`no ${suffixes.join(', ')} after ${timeoutMs} ms: ${files.join(' ')}`)
    await sleep(50)
  }
}
