// The shape service behind an HTTP cache: Debian's nginx with the configuration of docs/cdn.md
// (bench/cdn/nginx.mjs) in front of electric-sync-server, then the same load straight on the
// server for comparison. `npm run bench cdn` (scripts/bench.sh) or `node bench/cdn/load.mjs`.
//
// Load: BENCH_CDN_BIG (5000) clients on one shape and BENCH_CDN_SMALL (500) on each of
// BENCH_CDN_SHAPES (20) more, every one on its own keep-alive connection, live long-polls on the
// browsers' route /api/electric/v1/shape (production mode: ESYNC_DEV=0, a secret set, the proxy
// route adds it); BENCH_CDN_RATE (100) single-row writes/s for BENCH_CDN_SECONDS (60), round
// robin over the shapes (60% inserts, 30% updates, 10% deletes). BENCH_CDN_SCALE (1) multiplies
// the client counts; BENCH_CDN_MODES (cache,direct; also varnish: Debian's Varnish with the VCL of
// docs/cdn.md) picks the runs; BENCH_CDN_DIRECT_SCALE (1)
// shrinks the direct run alone; BENCH_CDN_WORKERS (2) client threads; BENCH_CDN_SAMPLE (10)
// clients per shape that materialize rows; BENCH_CDN_LATE (0.1) the share of clients that only
// join while the writes go on (tabs opened meanwhile; they catch up, then long-poll with the rest).
//
// Reports, per run: requests that reached the origin per write per shape (in the cache run from
// nginx's log, where $upstream_addr is set; in the direct run every request; both cross-checked
// with the origin's own access log), commit-to-client latency p50/p99 (t_ms = clock_timestamp()
// at commit, same host), the origin's CPU and RSS (and nginx's, and the bench's own CPU), and
// whether every client ended equal to Postgres: every client at its shape's final handle and
// offset with the message count of a fresh full read, and the sampled clients' rows equal to
// Postgres. Writes bench/results/cdn.json (BENCH_CDN_OUT: another file) and prints a table.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import pg from 'pg'
import { parseLogLine, root, startNginx } from './nginx.mjs'
import { startVarnish } from './varnish.mjs'
import { clusterUrl, freePort } from '../support.mjs'

const env = (k, d) => (process.env[k] === undefined || process.env[k] === '' ? d : Number(process.env[k]))
const SCALE = env('BENCH_CDN_SCALE', 1)
const BIG = Math.max(1, Math.round(env('BENCH_CDN_BIG', 5000) * SCALE))
const SMALL = Math.max(1, Math.round(env('BENCH_CDN_SMALL', 500) * SCALE))
const NSMALL = env('BENCH_CDN_SHAPES', 20)
const RATE = env('BENCH_CDN_RATE', 100)
const SECONDS = env('BENCH_CDN_SECONDS', 60)
const DIRECT_SCALE = env('BENCH_CDN_DIRECT_SCALE', 1)
const WORKERS = env('BENCH_CDN_WORKERS', 2)
const SAMPLE = env('BENCH_CDN_SAMPLE', 10)
const LATE = env('BENCH_CDN_LATE', 0.1)
const MODES = (process.env.BENCH_CDN_MODES || 'cache,direct').split(',').map((s) => s.trim()).filter(Boolean)
const BIN = process.env.ESYNC_SERVER_BIN ?? path.join(root, 'build/native/electric-sync-server')
const DB = 'electric_sync_cdn_bench'
const ROUTE = '/api/electric/v1/shape'
const NSHAPES = NSMALL + 1
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const log = (...a) => console.error('cdn:', ...a)
// the server and nginx never outlive the bench (the server would keep its replication slot)
const children = new Set()
process.on('exit', () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL') })
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))

// 15,000 sockets: the soft limit on open files must allow them (scripts/bench.sh raises it; run
// alone, the bench raises it for itself by starting again under `ulimit -n <hard limit>`).
function nofile() {
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'))
  return { soft: Number(m[1]) || Infinity, hard: Number(m[2]) || Infinity }
}
{
  const need = Math.ceil((BIG + SMALL * NSMALL) * 1.1) + 1000
  const { soft, hard } = nofile()
  if (soft < need && soft < hard && !process.env.BENCH_CDN_NOFILE) {
    const r = spawnSyncSelf()
    process.exit(r)
  }
  if (Math.min(soft, hard) < need) log(`open-file limit ${Math.min(soft, hard)} is below the ${need} this load needs`)
}
function spawnSyncSelf() {
  try {
    execFileSync('bash', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"', process.execPath, ...process.argv.slice(1)], {
      stdio: 'inherit', env: { ...process.env, BENCH_CDN_NOFILE: '1' },
    })
    return 0
  } catch (e) {
    return e.status ?? 1
  }
}

function procStats(pid) {
  try {
    const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return { rss, cpu: (Number(st[11]) + Number(st[12])) / 100 }
  } catch {
    return { rss: 0, cpu: 0 }
  }
}
const mb = (b) => +(b / 1048576).toFixed(1)

const whereOf = (k) => encodeURIComponent(`bucket = ${k}`)
const shapeOfUri = (uri) => {
  const m = /where=bucket%20%3D%20(\d+)/.exec(uri)
  return m ? Number(m[1]) : -1
}

// A fresh full read of shape k from the origin (non-live, from -1): what every client must end at.
async function referenceRead(port, k) {
  const rows = new Map()
  let handle = null
  let offset = '-1'
  let msgs = 0
  for (let i = 0; i < 10000; i++) {
    const qs = `table=bench_items&where=${whereOf(k)}&offset=${offset}${handle ? `&handle=${handle}` : ''}`
    const res = await fetch(`http://127.0.0.1:${port}${ROUTE}?${qs}`)
    const body = await res.json()
    if (res.status !== 200) throw new Error(`reference read of shape ${k}: ${res.status} ${JSON.stringify(body)}`)
    for (const m of body) {
      if (!m.key) continue
      msgs++
      if (m.headers.operation === 'delete') rows.delete(m.key)
      else rows.set(m.key, { ...(rows.get(m.key) ?? {}), ...m.value })
    }
    handle = res.headers.get('electric-handle')
    offset = res.headers.get('electric-offset')
    if (res.headers.has('electric-up-to-date')) break
  }
  return { handle, offset, msgs, rows }
}

function percentile(hist, p) {
  let total = 0
  for (const n of hist) total += n
  if (!total) return null
  const want = Math.ceil((p / 100) * total)
  let acc = 0
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i]
    if (acc >= want) return i
  }
  return hist.length - 1
}

async function startServer(dbUrl, dir, maxConn) {
  fs.rmSync(dir, { recursive: true, force: true })
  const port = await freePort()
  const server = spawn(BIN, [], {
    env: {
      ...process.env, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: dbUrl, ESYNC_SHAPES_DIR: dir,
      ESYNC_DEV: '0', ELECTRIC_SECRET: `bench-${process.pid}-${Date.now()}`, ESYNC_PROXY_TABLES: 'bench_items',
      ESYNC_MAX_CONNECTIONS: String(maxConn),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  children.add(server)
  const s = { port, proc: server, tail: '', shapeRequests: 0, events: [] }
  // the access log: one line per request; shape requests are counted as they stream by
  const needle = `"GET ${ROUTE}"`
  let carry = ''
  server.stderr.setEncoding('utf8')
  server.stderr.on('data', (d) => {
    const text = carry + d
    for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) s.shapeRequests++
    carry = text.slice(-needle.length)
    s.tail = (s.tail + d).slice(-20000)
    // everything but access-log lines (start, replication, errors) goes into the results
    for (const line of d.split('\n')) {
      if (line && !/ "(GET|HEAD|OPTIONS|POST|PUT|DELETE) \//.test(line) && s.events.length < 200) s.events.push(line)
    }
  })
  for (let i = 0; i < 200 && !s.tail.includes('listening on'); i++) await sleep(50)
  if (!s.tail.includes('listening on')) throw new Error(`server did not start:\n${s.tail}`)
  s.stop = async () => {
    if (server.exitCode === null) server.kill('SIGTERM')
    await new Promise((r) => (server.exitCode !== null ? r() : server.on('exit', r)))
  }
  return s
}

async function dropStore(db, dir) {
  try {
    const { slot } = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'))
    if (/^esync_[a-z0-9_]+$/.test(slot)) {
      // the stopped server's walsender may hold the slot a moment longer; a publication dropped
      // without its slot would break the next server that gets the slot's name
      for (let i = 0; i < 50; i++) {
        const r = await db.query('select active from pg_replication_slots where slot_name = $1', [slot])
        if (r.rowCount === 0 || !r.rows[0].active) break
        await sleep(100)
      }
      await db.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active', [slot])
      if ((await db.query('select 1 from pg_replication_slots where slot_name = $1', [slot])).rowCount === 0)
        await db.query(`drop publication if exists ${slot.replace(/^esync_/, 'esync_pub_')}`)
    }
  } catch {}
  fs.rmSync(dir, { recursive: true, force: true })
}

async function run(mode, dbUrl, db) {
  const scale = mode === 'direct' ? DIRECT_SCALE : 1
  const big = Math.max(1, Math.round(BIG * scale))
  const small = Math.max(1, Math.round(SMALL * scale))
  const total = big + small * NSMALL
  log(`${mode}: ${total} clients (${big} on one shape, ${small} on each of ${NSMALL}), ${RATE} writes/s for ${SECONDS} s`)

  await db.query('drop table if exists bench_items')
  await db.query('create table bench_items (id bigserial primary key, bucket int not null, title text, num int, t_ms bigint)')
  await db.query(`insert into bench_items (bucket, title, num, t_ms)
                  select g % ${NSHAPES}, 'seed ' || g, g, 0 from generate_series(1, ${NSHAPES * 20}) g`)
  const dir = path.join(root, '.data/bench-cdn-shapes')
  const server = await startServer(dbUrl, dir, total + 500)
  let cache = null
  let port = server.port
  if (mode === 'cache') {
    cache = await startNginx({
      originPort: server.port, port: await freePort(), name: 'bench', workers: 2,
      connections: total + 2048, logBuffer: '256k',
    })
  } else if (mode === 'varnish') {
    cache = await startVarnish({ originPort: server.port, port: await freePort(), name: 'bench-varnish' })
  }
  if (cache) {
    port = cache.port
    children.add(cache.proc)
  }

  // clients, spread over the worker threads (a client's shape and whether it keeps rows)
  const specs = []
  for (let k = 0; k < NSHAPES; k++) {
    const n = k === 0 ? big : small
    for (let i = 0; i < n; i++) specs.push({ shape: k, sample: i < SAMPLE, late: i >= SAMPLE && i < SAMPLE + Math.round(n * LATE) })
  }
  for (let i = specs.length - 1; i > 0; i--) { // interleave shapes across threads and start order
    const j = Math.floor(Math.random() * (i + 1));
    [specs[i], specs[j]] = [specs[j], specs[i]]
  }
  const shapes = Array.from({ length: NSHAPES }, (_, k) => ({ where: whereOf(k) }))
  const workers = []
  const prog = []
  const nw = Math.max(1, Math.min(WORKERS, specs.length))
  for (let w = 0; w < nw; w++) {
    const mine = specs.filter((_, i) => i % nw === w)
    const worker = new Worker(new URL('./clients.mjs', import.meta.url), {
      workerData: { port, route: ROUTE, shapes, clients: mine, rampPerSec: Math.ceil(4000 / nw) },
    })
    const entry = { worker, progress: { upToDate: 0, done: 0, total: mine.length, early: mine.filter((c) => !c.late).length, requests: 0 }, waiters: [] }
    worker.on('message', (m) => {
      if (m.type === 'progress') entry.progress = m
      else entry.waiters.shift()?.(m)
    })
    worker.on('error', (e) => { log('client thread failed:', e); process.exit(1) })
    workers.push(entry)
    prog.push(entry)
  }
  const ask = (msg) => Promise.all(workers.map((e) => new Promise((resolve) => { e.waiters.push(resolve); e.worker.postMessage(msg) })))
  const sum = (f) => workers.reduce((a, e) => a + e.progress[f], 0)

  // initial sync: every client but the late joiners live
  const t0 = Date.now()
  const early = sum('early')
  while (sum('upToDate') < early) {
    if (Date.now() - t0 > 300000) throw new Error(`initial sync did not finish: ${sum('upToDate')}/${early}`)
    await sleep(250)
  }
  const syncMs = Date.now() - t0
  log(`${mode}: ${early} clients live after ${(syncMs / 1000).toFixed(1)} s; ${total - early} more join during the writes`)
  await sleep(1000)

  // writes at RATE/s for SECONDS, round robin over the shapes
  const markBefore = await ask({ type: 'mark' })
  const originBefore = server.shapeRequests
  const sBefore = procStats(server.proc.pid)
  const nBefore = cache ? cache.stats() : null
  const cpuBefore = process.cpuUsage()
  const start = Date.now()
  for (const e of workers) e.worker.postMessage({ type: 'late', ms: SECONDS * 1000 * 0.8 })
  const writesPerShape = new Array(NSHAPES).fill(0)
  const ids = Array.from({ length: NSHAPES }, () => [])
  let written = 0
  let next = 0
  let failed = 0
  const inflight = new Set()
  const stamp = '(extract(epoch from clock_timestamp()) * 1000)::bigint'
  const write = async (i) => {
    const k = i % NSHAPES
    const r = Math.random()
    try {
      if (r < 0.6 || ids[k].length < 5) {
        const res = await db.query(`insert into bench_items (bucket, title, num, t_ms) values ($1, $2, $3, ${stamp}) returning id`, [k, `w${i}`, i])
        ids[k].push(res.rows[0].id)
      } else if (r < 0.9) {
        const id = ids[k][Math.floor(Math.random() * ids[k].length)]
        await db.query(`update bench_items set title = $1, num = num + 1, t_ms = ${stamp} where id = $2`, [`u${i}`, id])
      } else {
        const id = ids[k].splice(Math.floor(Math.random() * ids[k].length), 1)[0]
        await db.query('delete from bench_items where id = $1', [id])
      }
      writesPerShape[k]++
      written++
    } catch (e) {
      failed++
      if (failed < 5) log('write failed:', e.message)
    }
  }
  while (Date.now() - start < SECONDS * 1000) {
    const due = Math.floor(((Date.now() - start) / 1000) * RATE)
    while (next < due) {
      const p = write(next++)
      inflight.add(p)
      p.finally(() => inflight.delete(p))
    }
    await sleep(5)
  }
  await Promise.all(inflight)
  const end = Date.now()
  const originDuring = server.shapeRequests - originBefore
  const elapsed = (end - start) / 1000
  const sAfter = procStats(server.proc.pid)
  const nAfter = cache ? cache.stats() : null
  const cpuAfter = process.cpuUsage(cpuBefore)
  const loadAvg = os.loadavg()[0]
  const markAfter = await ask({ type: 'mark' })
  await sleep(1500) // nginx flushes its log every second

  // requests that reached the origin during the writes, per shape
  const reached = new Array(NSHAPES).fill(0)
  const cacheStatus = {}
  if (cache) {
    for (const line of cache.logLines()) {
      const l = parseLogLine(line)
      if (!l || l.t * 1000 < start || l.t * 1000 > end) continue
      cacheStatus[l.cache] = (cacheStatus[l.cache] ?? 0) + 1
      if (l.upstream) {
        const k = shapeOfUri(l.uri)
        if (k >= 0) reached[k]++
      }
    }
  } else {
    for (let w = 0; w < workers.length; w++)
      for (let k = 0; k < NSHAPES; k++) reached[k] += markAfter[w].perShapeRequests[k] - markBefore[w].perShapeRequests[k]
  }
  const perWrite = reached.map((n, k) => (writesPerShape[k] ? n / writesPerShape[k] : 0))
  const smallPer = perWrite.slice(1)

  // drain: every client reaches its shape's final offset, which a fresh full read establishes
  await sleep(1000)
  const refs = {}
  for (let k = 0; k < NSHAPES; k++) refs[k] = await referenceRead(server.port, k)
  const want = new Map()
  for (const row of (await db.query('select id, bucket, title, num, t_ms from bench_items')).rows) {
    if (!want.has(row.bucket)) want.set(row.bucket, new Map())
    want.get(row.bucket).set(`"public"."bench_items"/"${row.id}"`, row)
  }
  let refsEqual = 0
  const refOk = new Array(NSHAPES).fill(false)
  for (let k = 0; k < NSHAPES; k++) {
    const w = want.get(k) ?? new Map()
    const r = refs[k]
    let ok = w.size === r.rows.size
    if (ok) for (const [key, row] of w) {
      const got = r.rows.get(key)
      if (!got || got.title !== row.title || got.num !== String(row.num) || got.t_ms !== String(row.t_ms)) { ok = false; break }
    }
    if (ok) refsEqual++
    refOk[k] = ok
  }
  const targets = {}
  for (let k = 0; k < NSHAPES; k++) targets[k] = { handle: refs[k].handle, offset: refs[k].offset }
  for (const e of workers) e.worker.postMessage({ type: 'targets', targets })
  const d0 = Date.now()
  while (sum('done') < total && Date.now() - d0 < 60000) await sleep(250)
  const drainMs = Date.now() - d0
  const plainRefs = {}
  for (let k = 0; k < NSHAPES; k++) {
    const r = refs[k]
    // a reference that differs from Postgres makes every client of its shape count as unequal
    plainRefs[k] = refOk[k]
      ? { handle: r.handle, offset: r.offset, msgs: r.msgs, rows: [...r.rows].map(([key, v]) => [key, v.title, v.num, v.t_ms]) }
      : null
  }
  const results = await ask({ type: 'finish', refs: plainRefs })
  for (const e of workers) await e.worker.terminate()

  const merge = (f) => {
    const h = new Uint32Array(120001)
    for (const r of results) for (let i = 0; i < h.length; i++) h[i] += r[f][i]
    return h
  }
  const hist = merge('hist')
  const histMiss = merge('histMiss')
  const histHit = merge('histHit')
  const lat = (h) => ({ p50: percentile(h, 50), p99: percentile(h, 99), n: h.reduce((a, b) => a + b, 0) })
  let deliveries = 0
  let maxLat = 0
  for (let i = 0; i < hist.length; i++) if (hist[i]) { deliveries += hist[i]; maxLat = i }
  const agg = (f) => results.reduce((a, r) => a + r[f], 0)
  const mergeCounts = (f) => {
    const o = {}
    for (const r of results) for (const [k, v] of Object.entries(r[f])) o[k] = (o[k] ?? 0) + v
    return o
  }

  if (cache) await cache.stop()
  await server.stop()
  await dropStore(db, dir)

  const round = (x, d = 2) => +x.toFixed(d)
  return {
    mode,
    clients: total,
    clients_big_shape: big,
    clients_per_small_shape: small,
    shapes: NSHAPES,
    initial_sync_s: round(syncMs / 1000, 1),
    seconds: round(elapsed, 1),
    writes: written,
    writes_failed: failed,
    writes_per_s: round(written / elapsed, 1),
    origin_requests: reached.reduce((a, b) => a + b, 0),
    origin_requests_access_log: originDuring,
    origin_requests_per_write_per_shape: {
      all: round(reached.reduce((a, b) => a + b, 0) / Math.max(1, written)),
      big_shape: round(perWrite[0]),
      small_shapes_mean: round(smallPer.reduce((a, b) => a + b, 0) / Math.max(1, smallPer.length)),
      small_shapes_max: round(Math.max(...smallPer, 0)),
    },
    client_requests: markAfter.reduce((a, m) => a + m.requests, 0) - markBefore.reduce((a, m) => a + m.requests, 0),
    cache_status: cache ? cacheStatus : null,
    deliveries,
    latency_ms: { p50: percentile(hist, 50), p90: percentile(hist, 90), p99: percentile(hist, 99), max: maxLat },
    latency_ms_by_cache_status: cache ? { went_to_origin: lat(histMiss), from_cache: lat(histHit) } : null,
    origin_cpu_percent: round(((sAfter.cpu - sBefore.cpu) / elapsed) * 100, 1),
    origin_rss_mb: { before: mb(sBefore.rss), after: mb(sAfter.rss) },
    nginx_cpu_percent: cache ? round(((nAfter.cpu - nBefore.cpu) / elapsed) * 100, 1) : null,
    nginx_rss_mb: cache ? mb(nAfter.rss) : null,
    bench_cpu_percent: round(((cpuAfter.user + cpuAfter.system) / 1e6 / elapsed) * 100, 1),
    load_average_1m: round(loadAvg, 1),
    drain_s: round(drainMs / 1000, 1),
    clients_equal_to_postgres: agg('equal'),
    sampled_clients: agg('sampled'),
    sampled_rows_equal: agg('sampledEqual'),
    reference_reads_equal_to_postgres: `${refsEqual}/${NSHAPES}`,
    mismatched_examples: results.flatMap((r) => r.bad).slice(0, 5),
    client_errors: agg('errors'),
    refetches: agg('refetches'),
    statuses: mergeCounts('statuses'),
    server_events: server.events,
  }
}

async function main() {
  const url = clusterUrl()
  const admin = new pg.Client({ connectionString: url.replace('/electric_sync?', '/postgres?') })
  await admin.connect()
  if ((await admin.query('select 1 from pg_database where datname = $1', [DB])).rowCount === 0)
    await admin.query(`create database ${DB}`)
  await admin.end()
  const dbUrl = url.replace('/electric_sync?', `/${DB}?`)
  const db = new pg.Pool({ connectionString: dbUrl, max: 8 })
  const runs = {}
  for (const mode of MODES) runs[mode] = await run(mode, dbUrl, db)
  await db.end()

  const cpu = os.cpus()
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpu.length, model: cpu[0]?.model, mem_gb: +(os.totalmem() / 2 ** 30).toFixed(1), nginx: nginxVersion(), varnish: MODES.includes('varnish') ? varnishVersion() : undefined },
    load: { clients_big_shape: BIG, clients_per_small_shape: SMALL, small_shapes: NSMALL, writes_per_s: RATE, seconds: SECONDS, late_joiners: LATE, sample_per_shape: SAMPLE, client_threads: WORKERS },
    runs,
  }
  const out = process.env.BENCH_CDN_OUT || path.join(root, 'bench/results/cdn.json')
  fs.mkdirSync(path.dirname(out), { recursive: true })
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n')

  const col = (r) => r && {
    [`clients (big shape + ${NSMALL} small)`]: `${r.clients} (${r.clients_big_shape} + ${NSMALL}×${r.clients_per_small_shape})`,
    'writes/s (for s)': `${r.writes_per_s} (${r.seconds})`,
    'origin requests per write per shape': `${r.origin_requests_per_write_per_shape.all} (big ${r.origin_requests_per_write_per_shape.big_shape}, small max ${r.origin_requests_per_write_per_shape.small_shapes_max})`,
    'commit->client p50 / p99 / max (ms)': `${r.latency_ms.p50} / ${r.latency_ms.p99} / ${r.latency_ms.max}`,
    '  of which: the request that reached the origin': r.latency_ms_by_cache_status
      ? `${r.latency_ms_by_cache_status.went_to_origin.p50} / ${r.latency_ms_by_cache_status.went_to_origin.p99}` : '-',
    '  of which: answered by the cache (lock waiters)': r.latency_ms_by_cache_status
      ? `${r.latency_ms_by_cache_status.from_cache.p50} / ${r.latency_ms_by_cache_status.from_cache.p99}` : '-',
    'deliveries (rows received)': r.deliveries,
    'load average (1 min, whole machine)': r.load_average_1m,
    'origin CPU (% of a core)': r.origin_cpu_percent,
    'origin RSS before/after (MB)': `${r.origin_rss_mb.before} / ${r.origin_rss_mb.after}`,
    'cache CPU / RSS (nginx or Varnish)': r.nginx_cpu_percent === null ? '-' : `${r.nginx_cpu_percent}% / ${r.nginx_rss_mb} MB`,
    'bench clients CPU (% of a core)': r.bench_cpu_percent,
    'clients equal to Postgres': `${r.clients_equal_to_postgres}/${r.clients} (rows checked on ${r.sampled_rows_equal}/${r.sampled_clients})`,
  }
  const table = {}
  for (const [mode, r] of Object.entries(runs)) {
    const c = col(r)
    const name = { cache: 'through nginx', varnish: 'through Varnish', direct: 'straight to the server' }[mode] ?? mode
    for (const [k, v] of Object.entries(c)) (table[k] ??= {})[name] = v
  }
  console.log(`shape service behind an HTTP cache: ${os.cpus().length} cores, ${result.date.slice(0, 10)}`)
  console.table(table)
  const bad = Object.values(runs).some((r) => r.clients_equal_to_postgres !== r.clients || r.sampled_rows_equal !== r.sampled_clients)
  if (bad) process.exitCode = 1
}

function varnishVersion() {
  const r = spawnSync('varnishd', ['-V'], { encoding: 'utf8' })
  return (/varnish-([0-9.]+)/.exec(String(r.stderr || r.stdout)) || [])[1] ?? null
}

function nginxVersion() {
  const r = spawnSync('nginx', ['-v'], { encoding: 'utf8' })
  return String(r.stderr || r.stdout || '').trim().replace(/^nginx version: /, '')
}

main().catch((e) => { console.error(e); process.exit(1) })
