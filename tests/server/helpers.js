// Test helpers for the server integration tests: the real private Postgres cluster (scripts/pg.sh)
// with a database of its own (electric_sync_test, so a test run never wipes the dev database),
// the real server binary (build/native/electric-sync-server) on a free port, raw HTTP for what
// fetch cannot send (bad bytes in paths, bodies that never finish), and node-postgres to look at
// what the server wrote.
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
// ESYNC_SERVER_BIN: another build of the server (a private build tree while developing)
export const serverBin = process.env.ESYNC_SERVER_BIN || path.join(root, 'build/native/electric-sync-server')
export const TEST_DB = 'electric_sync_test'

// The private cluster, whatever DATABASE_URL the caller's shell has.
const clusterEnv = () => {
  const env = { ...process.env }
  delete env.DATABASE_URL
  return env
}

export function pg_sh(cmd) {
  return execFileSync('bash', [path.join(root, 'scripts/pg.sh'), cmd], {
    cwd: root, env: clusterEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  }).trim()
}

let baseUrl
export function clusterUrl(db = TEST_DB) {
  baseUrl ??= pg_sh('url')
  return baseUrl.replace('/electric_sync?', `/${db}?`)
}

const pools = new Map()
// One small pool per database; allowExitOnIdle lets the test process end without closing it.
// Connection errors (the cluster stopped by a test) surface on the query, not as a crash.
export async function query(sql, params = [], url = clusterUrl()) {
  let pool = pools.get(url)
  if (!pool) {
    pool = new pg.Pool({ connectionString: url, max: 2, allowExitOnIdle: true, idleTimeoutMillis: 1000 })
    pool.on('error', () => {})
    pools.set(url, pool)
  }
  return pool.query(sql, params)
}

let prepared = false
// Starts the cluster, creates the test database, applies the migrations with drizzle-kit
// (npm run db:migrate's path), once per test file.
export async function prepareDatabase() {
  if (prepared) return clusterUrl()
  pg_sh('start')
  const exists = await query('select 1 from pg_database where datname = $1', [TEST_DB], clusterUrl('postgres'))
  if (exists.rowCount === 0) await query(`create database ${TEST_DB}`, [], clusterUrl('postgres'))
  execFileSync('bash', [path.join(root, 'scripts/db.sh'), 'migrate'], {
    cwd: root, env: { ...process.env, DATABASE_URL: clusterUrl() }, stdio: ['ignore', 'ignore', 'pipe'],
  })
  prepared = true
  return clusterUrl()
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

// Spawns the server. Resolves once it logs "listening" (or, with readyByHttp, for a server whose
// log level hides that line, once /v1/health answers), or with the exit code and log when it
// exits first (for the start-up failure tests).
export async function startServer({ dev = true, env = {}, port, readyByHttp = false } = {}) {
  port ??= await freePort()
  const fullEnv = {
    ...process.env,
    PORT: String(port),
    DATABASE_URL: clusterUrl(),
    ESYNC_DEV: dev ? '1' : '0',
    ...env,
  }
  for (const [k, v] of Object.entries(fullEnv)) if (v === undefined) delete fullEnv[k]
  const proc = spawn(serverBin, [], { env: fullEnv, stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  proc.stderr.setEncoding('utf8')
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })))
  const ready = new Promise((resolve) => {
    proc.stderr.on('data', (d) => {
      log += d
      if (log.includes('listening on')) resolve('ready')
    })
    if (readyByHttp) {
      const poll = async () => {
        while (proc.exitCode === null && proc.signalCode === null) {
          try {
            await (await fetch(`http://127.0.0.1:${port}/v1/health`)).arrayBuffer()
            return resolve('ready')
          } catch {}
          await sleep(50)
        }
      }
      poll()
    }
  })
  let timer
  const slow = new Promise((resolve) => { timer = setTimeout(() => resolve('slow'), 10000) })
  const first = await Promise.race([ready, exited, slow])
  clearTimeout(timer)
  const server = {
    port,
    proc,
    base: `http://127.0.0.1:${port}`,
    log: () => log,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      return exited
    },
  }
  if (first === 'slow') {
    proc.kill('SIGKILL')
    throw new Error(`server did not start:\n${log}`)
  }
  if (first !== 'ready') server.result = first
  return server
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// A shapes directory of its own for a server that serves shapes from the test database (so it
// never shares the slot of another server), and the cleanup: the slot and publication it left in
// that database, then the directory, so test runs leave no replication slot behind.
export const testShapesDir = (role) => path.join(root, '.data/test-shapes', role)
export async function dropShapeStore(dir, url = clusterUrl()) {
  let slot
  try { slot = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')).slot } catch {}
  if (slot && /^esync_[a-z0-9_]+$/.test(slot)) {
    for (let i = 0; i < 50; i++) { // the walsender of a stopped server takes a moment to go
      const r = await query('select active from pg_replication_slots where slot_name = $1', [slot], url)
      if (r.rowCount === 0 || !r.rows[0].active) break
      await sleep(100)
    }
    await query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active', [slot], url)
    await query(`drop publication if exists ${slot.replace(/^esync_/, 'esync_pub_')}`, [], url)
  }
  fs.rmSync(dir, { recursive: true, force: true })
}

// fetch + parsed JSON body (null for an empty body).
export async function api(server, method, p, { body, json, headers = {} } = {}) {
  const h = { ...headers }
  let payload = body
  if (json !== undefined) {
    payload = JSON.stringify(json)
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json'
  }
  const res = await fetch(server.base + p, { method, headers: h, body: payload })
  const text = await res.text()
  let data = null
  if (text && (res.headers.get('content-type') || '').startsWith('application/json')) data = JSON.parse(text)
  return { status: res.status, headers: res.headers, data, text }
}

// Sends raw bytes on a fresh connection; resolves with the whole reply (until the server closes
// or `idleMs` of silence after the first bytes) as { status, headers, body, raw }.
export function raw(server, bytes, { idleMs = 300, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(server.port, '127.0.0.1')
    const chunks = []
    let idle
    const done = () => {
      clearTimeout(idle)
      clearTimeout(overall)
      sock.destroy()
      const text = Buffer.concat(chunks).toString('latin1')
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text)
      const [head, ...rest] = text.split('\r\n\r\n')
      resolve({ status: m ? Number(m[1]) : null, head, body: rest.join('\r\n\r\n'), raw: text })
    }
    const overall = setTimeout(done, timeoutMs)
    sock.on('data', (d) => {
      chunks.push(d)
      clearTimeout(idle)
      idle = setTimeout(done, idleMs)
    })
    sock.on('end', done)
    sock.on('error', (e) => (chunks.length ? done() : reject(e)))
    sock.write(bytes)
  })
}

export function expectError(res, status, code) {
  assert.equal(res.status, status, `status for ${res.text}`)
  assert.equal(res.headers.get('content-type'), 'application/json')
  assert.equal(typeof res.data?.error?.message, 'string', res.text)
  assert.ok(res.data.error.message.length > 0)
  if (code) assert.equal(res.data.error.code, code, res.text)
  assert.deepEqual(Object.keys(res.data), ['error'])
  assert.deepEqual(Object.keys(res.data.error).sort(), ['code', 'message'])
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
