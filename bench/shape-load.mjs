// Shape service load: N live long-polls held on our /v1/shape while single-row writes
// go on at a fixed rate; every client ends equal to Postgres. Reports commit-to-response latency
// (p50/p99/max), responses/s, and the server's RSS and CPU.
//
//   node bench/shape-load.mjs        (scripts/bench.sh shape; the server build is build/native)
//   env: BENCH_CLIENTS (1000), BENCH_SHAPES (100: clients spread over `bucket = k` shapes),
//        BENCH_RATE (500 writes/s), BENCH_SECONDS (60), ESYNC_SERVER_BIN
//
// Latency: each written row carries t_ms = clock_timestamp() in ms, taken inside its transaction
// just before COMMIT; a client that receives the row subtracts it from its own clock (same host).
// Writes are 60% inserts, 30% updates, 10% deletes, each its own transaction, spread over the
// shapes round robin, so every write wakes the BENCH_CLIENTS/BENCH_SHAPES clients of one shape.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import http from 'node:http'
import pg from 'pg'
import { clusterUrl, freePort, root } from './support.mjs'

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1000)
const SHAPES = Number(process.env.BENCH_SHAPES ?? 100)
const RATE = Number(process.env.BENCH_RATE ?? 500)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60)
const BIN = process.env.ESYNC_SERVER_BIN ?? path.join(root, 'build/native/electric-sync-server')
const DB = 'electric_sync_shape_bench'
// A production server (no ESYNC_DEV) serves /v1/shape only with a secret, which it then requires.
const SECRET = 'bench-shape-load-secret'
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function procStats(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)[1]) * 1024
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  const ticks = Number(stat[11]) + Number(stat[12]) // utime + stime
  return { rss, cpu: ticks / 100 }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })
function getJson(port, qs) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/v1/shape?${qs}&secret=${SECRET}`, agent }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : null })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(60000, () => req.destroy(new Error('timeout')))
  })
}

const latencies = []
let responses = 0
let stopping = false

// One client: initial sync, then long-polls until stopped; materializes its rows.
async function runClient(port, bucket, state) {
  const base = `table=bench_items&where=${encodeURIComponent(`bucket = ${bucket}`)}`
  let handle = null
  let offset = '-1'
  let live = false
  let cursor = ''
  while (!stopping || state.draining) {
    let qs = `${base}&offset=${offset}`
    if (handle) qs += `&handle=${handle}`
    if (live) qs += `&live=true${cursor ? `&cursor=${cursor}` : ''}`
    let r
    try {
      r = await getJson(port, qs)
    } catch (e) {
      state.errors++
      await sleep(100)
      continue
    }
    responses++
    if (r.status === 409) {
      state.rows.clear()
      handle = r.headers['electric-handle'] ?? null
      offset = '-1'
      live = false
      continue
    }
    if (r.status !== 200) {
      state.errors++
      await sleep(100)
      continue
    }
    const now = Date.now()
    for (const m of r.body) {
      if (!m.key) continue
      const op = m.headers.operation
      if (op === 'delete') state.rows.delete(m.key)
      else state.rows.set(m.key, { ...(state.rows.get(m.key) ?? {}), ...m.value })
      if (live && op !== 'delete' && m.value.t_ms) latencies.push(now - Number(m.value.t_ms))
    }
    handle = r.headers['electric-handle']
    offset = r.headers['electric-offset']
    cursor = r.headers['electric-cursor'] ?? cursor
    if (r.headers['electric-up-to-date'] !== undefined) {
      live = true
      state.upToDate = true
      if (state.draining && state.drainUntil < Date.now()) return
    }
  }
}

async function main() {
  const url = clusterUrl('postgres')
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  if ((await admin.query('select 1 from pg_database where datname = $1', [DB])).rowCount === 0)
    await admin.query(`create database ${DB}`)
  await admin.end()
  const dbUrl = url.replace('/postgres?', `/${DB}?`)
  const db = new pg.Pool({ connectionString: dbUrl, max: 6 })
  await db.query('drop table if exists bench_items')
  await db.query(`create table bench_items (id bigserial primary key, bucket int not null, title text,
                  num int, t_ms bigint)`)
  await db.query(`insert into bench_items (bucket, title, num, t_ms)
                  select g % ${SHAPES}, 'seed ' || g, g, 0 from generate_series(1, ${SHAPES * 20}) g`)

  const dir = path.join(root, '.data/bench-shapes')
  fs.rmSync(dir, { recursive: true, force: true })
  const port = await freePort()
  const server = spawn(BIN, [], {
    env: { ...process.env, PORT: String(port), DATABASE_URL: dbUrl, ESYNC_SHAPES_DIR: dir, ESYNC_DEV: '0', ELECTRIC_SECRET: SECRET,
      ESYNC_MAX_CONNECTIONS: String(CLIENTS * 2 + 100) },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  process.on('exit', () => server.kill('SIGKILL')) // never leave it holding the slot
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))
  let log = ''
  server.stderr.on('data', (d) => { log += d; if (log.length > 1e6) log = log.slice(-1e5) })
  for (let i = 0; i < 100 && !log.includes('listening on'); i++) await sleep(100)
  if (!log.includes('listening on')) throw new Error(`server did not start:\n${log}`)

  // clients
  const states = []
  const tasks = []
  for (let i = 0; i < CLIENTS; i++) {
    const st = { bucket: i % SHAPES, rows: new Map(), upToDate: false, errors: 0, draining: false, drainUntil: 0 }
    states.push(st)
    tasks.push(runClient(port, st.bucket, st))
  }
  const t0 = Date.now()
  while (states.some((s) => !s.upToDate)) {
    if (Date.now() - t0 > 120000) throw new Error('initial sync did not finish')
    await sleep(100)
  }
  const syncMs = Date.now() - t0
  latencies.length = 0
  responses = 0
  await sleep(500)

  // writes at RATE/s for SECONDS
  const before = procStats(server.pid)
  const start = Date.now()
  let written = 0
  let next = 0
  const writers = []
  const ids = []
  const write = async (k) => {
    const bucket = k % SHAPES
    const r = Math.random()
    const stamp = `(extract(epoch from clock_timestamp()) * 1000)::bigint`
    if (r < 0.6 || ids.length < 100) {
      const res = await db.query(`insert into bench_items (bucket, title, num, t_ms) values ($1, $2, $3, ${stamp}) returning id`,
        [bucket, `w${k}`, k])
      ids.push(res.rows[0].id)
    } else if (r < 0.9) {
      await db.query(`update bench_items set title = $1, num = num + 1, t_ms = ${stamp} where id = (select id from bench_items where bucket = $2 order by random() limit 1)`, [`u${k}`, bucket])
    } else {
      await db.query(`delete from bench_items where id = (select id from bench_items where bucket = $1 order by random() limit 1)`, [bucket])
    }
    written++
  }
  while (Date.now() - start < SECONDS * 1000) {
    const due = Math.floor(((Date.now() - start) / 1000) * RATE)
    while (next < due) writers.push(write(next++))
    if (writers.length > 5000) await Promise.all(writers.splice(0))
    await sleep(2)
  }
  await Promise.all(writers)
  const elapsed = (Date.now() - start) / 1000
  const after = procStats(server.pid)
  const liveResponses = responses

  // drain: every client long-polls until up-to-date after the last write, then stops
  await sleep(2000)
  stopping = true
  for (const s of states) { s.draining = true; s.drainUntil = Date.now() }
  await Promise.race([Promise.all(tasks), sleep(60000)])

  // every client equals Postgres
  const want = new Map()
  for (const row of (await db.query('select id, bucket, title, num, t_ms from bench_items')).rows) {
    const key = `"public"."bench_items"/"${row.id}"`
    if (!want.has(row.bucket)) want.set(row.bucket, new Map())
    want.get(row.bucket).set(key, row)
  }
  let mismatched = 0
  for (const s of states) {
    const w = want.get(s.bucket) ?? new Map()
    let ok = w.size === s.rows.size
    if (ok) for (const [k, row] of w) {
      const got = s.rows.get(k)
      if (!got || got.title !== row.title || Number(got.num) !== row.num || String(got.t_ms) !== String(row.t_ms)) { ok = false; break }
    }
    if (!ok) mismatched++
  }
  if (process.env.BENCH_LOG) fs.writeFileSync(process.env.BENCH_LOG, log)
  server.kill("SIGTERM")
  await new Promise((r) => server.on('exit', r))
  // leave no replication slot behind: drop the bench server's slot, publication and logs
  try {
    const { slot } = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'))
    if (/^esync_[a-z0-9_]+$/.test(slot)) {
      await db.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active', [slot])
      await db.query(`drop publication if exists ${slot.replace(/^esync_/, 'esync_pub_')}`)
    }
  } catch {}
  fs.rmSync(dir, { recursive: true, force: true })
  await db.end()
  agent.destroy()

  latencies.sort((a, b) => a - b)
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]
  const result = {
    clients: CLIENTS, shapes: SHAPES, rate_target: RATE, seconds: elapsed,
    writes: written, writes_per_s: +(written / elapsed).toFixed(1),
    initial_sync_ms: syncMs,
    responses_per_s: +(liveResponses / elapsed).toFixed(0),
    deliveries: latencies.length,
    latency_ms: { p50: pct(50), p90: pct(90), p99: pct(99), max: latencies.at(-1) },
    server_rss_mb: { before: +(before.rss / 1048576).toFixed(1), after: +(after.rss / 1048576).toFixed(1) },
    server_cpu_percent: +(((after.cpu - before.cpu) / elapsed) * 100).toFixed(1),
    client_errors: states.reduce((a, s) => a + s.errors, 0),
    clients_equal_to_postgres: CLIENTS - mismatched,
    clients_mismatched: mismatched,
  }
  fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true })
  fs.writeFileSync(path.join(root, 'bench/results/shape-load.json'), JSON.stringify(result, null, 2) + '\n')
  console.log('shape load: %d live long-polls on %d shapes, %d writes/s for %ss', CLIENTS, SHAPES, result.writes_per_s, elapsed.toFixed(0))
  console.table({
    'commit->response p50 (ms)': result.latency_ms.p50,
    'commit->response p99 (ms)': result.latency_ms.p99,
    'commit->response max (ms)': result.latency_ms.max,
    'live responses/s': result.responses_per_s,
    'server RSS before/after (MB)': `${result.server_rss_mb.before} / ${result.server_rss_mb.after}`,
    'server CPU (% of one core)': result.server_cpu_percent,
    'clients equal to Postgres': `${result.clients_equal_to_postgres}/${CLIENTS}`,
  })
  if (mismatched) process.exitCode = 1
}

main().catch((e) => { console.error(e); process.exit(1) })
