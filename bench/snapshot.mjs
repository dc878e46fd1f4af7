// The shape service's answer to a NEW shape (its snapshot taken on the request) against the same
// shape once it is stored (warm): time to the first response byte of `offset=-1`, and the whole
// initial sync (every snapshot chunk and the log until `electric-up-to-date`, fetched in series as
// a client does), for 100k and 1M rows. Part of `npm run bench shapes` (scripts/bench.sh).
//
//   node bench/snapshot.mjs
//   env: BENCH_SNAP_SIZES (100000,1000000), BENCH_SNAP_RUNS (3; medians),
//        ESYNC_SERVER_BIN (build/native/electric-sync-server),
//        BENCH_SNAP_BEFORE_BIN (another server build measured in the same run, e.g. the one before
//        a change: its rows are labelled "before"),
//        BENCH_SNAP_CLIENT_SIZES (100000: the sizes also synced with @electric-sql/client, which
//        parses every response and keeps the rows, as a real client does; new vs stored shape)
//
// Rows look like the seed's test_items (uuid, title, a 200-character description, boolean, two
// timestamps): about 450 bytes of JSON each. Every new shape is a definition of its own
// (`where title <> 'run-<n>'`, which every row passes), so each run takes a fresh snapshot; the
// warm measure repeats the same definition once it is stored. The replication stream is started
// before the first measure (a tiny shape), as on a server that already serves shapes.
// The server's own account of each snapshot (its "snapshot … rows" log line: time to the first
// row, Postgres wait, encoding, writing, fsync) is copied into the results.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { ShapeStream } from '@electric-sql/client'
import { clusterUrl, freePort, root } from './support.mjs'

const SIZES = (process.env.BENCH_SNAP_SIZES ?? '100000,1000000').split(',').map(Number)
const RUNS = Number(process.env.BENCH_SNAP_RUNS ?? 3)
const BIN = process.env.ESYNC_SERVER_BIN ?? path.join(root, 'build/native/electric-sync-server')
const BEFORE = process.env.BENCH_SNAP_BEFORE_BIN
const CLIENT_SIZES = (process.env.BENCH_SNAP_CLIENT_SIZES ?? '100000').split(',').map(Number)
const DB = 'electric_sync_snap_bench'
const log = (m) => process.stderr.write(`bench snapshot: ${m}\n`)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function prepare() {
  const admin = new pg.Client({ connectionString: clusterUrl('postgres') })
  await admin.connect()
  if ((await admin.query('select 1 from pg_database where datname = $1', [DB])).rowCount === 0)
    await admin.query(`create database ${DB}`)
  await admin.end()
  const db = new pg.Client({ connectionString: clusterUrl(DB) })
  await db.connect()
  await db.query('create table if not exists snap_tiny (id int primary key)')
  await db.query('insert into snap_tiny values (1) on conflict do nothing')
  for (const n of SIZES) {
    const t = `snap_${n}`
    await db.query(`create table if not exists ${t} (id uuid primary key, title text not null, description text,
      completed boolean not null default false, created_at timestamp not null default now(),
      updated_at timestamp not null default now())`)
    const have = Number((await db.query(`select count(*) from ${t}`)).rows[0].count)
    if (have !== n) {
      log(`seeding ${t} (${n} rows)`)
      await db.query(`truncate ${t}`)
      for (let from = 0; from < n; from += 100000) {
        await db.query(`insert into ${t} (id, title, description, completed)
          select gen_random_uuid(), 'item ' || i, repeat(md5(i::text), 6) || ' ' || i, i % 3 = 0
          from generate_series($1::int, $2::int) i`, [from, Math.min(n, from + 100000) - 1])
      }
      await db.query(`vacuum analyze ${t}`)
    }
  }
  await db.end()
}

function startServer(bin, label) {
  return new Promise(async (resolve, reject) => {
    const port = await freePort()
    const dir = path.join(root, 'build/bench-snapshot', label)
    fs.rmSync(dir, { recursive: true, force: true })
    const child = spawn(bin, [], {
      env: { ...process.env, DATABASE_URL: clusterUrl(DB), PORT: String(port), ESYNC_DEV: '1',
        ESYNC_SHAPES_DIR: dir, ESYNC_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let out = ''
    child.stderr.on('data', (d) => {
      out += d
      if (/listening/.test(out)) resolve({ port, child, dir, log: () => out })
    })
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)))
  })
}

const agent = new http.Agent({ keepAlive: true })
// One GET: resolves with the status, headers, the body's size and count of insert messages, the
// time of the first body byte and of the end (ms since t0).
function get(port, qs, t0) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/v1/shape?${qs}`, agent }, (res) => {
      let first = null, bytes = 0, inserts = 0, carry = ''
      res.on('data', (c) => {
        if (first === null) first = performance.now() - t0
        bytes += c.length
        const s = carry + c.toString('latin1')
        for (let i = s.indexOf('"operation":"insert"'); i >= 0; i = s.indexOf('"operation":"insert"', i + 1)) inserts++
        carry = s.slice(-19)
      })
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, bytes, inserts,
        first, end: performance.now() - t0 }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

// A whole initial sync: -1, then every offset until up-to-date.
async function sync(port, table, where) {
  const base = `table=${table}&where=${encodeURIComponent(where)}`
  const t0 = performance.now()
  let r = await get(port, `${base}&offset=-1`, t0)
  if (r.status !== 200) throw new Error(`-1: ${r.status}`)
  const out = { first_byte_ms: r.first, first_response_ms: r.end, responses: 1, bytes: r.bytes,
    rows: r.inserts, rows_header: r.headers['electric-sync-rows'] ?? null,
    rows_estimate_header: r.headers['electric-sync-rows-estimate'] ?? null }
  const handle = r.headers['electric-handle']
  while (!r.headers['electric-up-to-date']) {
    r = await get(port, `${base}&offset=${r.headers['electric-offset']}&handle=${handle}`, t0)
    if (r.status !== 200) throw new Error(`${r.status} after ${out.responses} responses`)
    out.responses++
    out.bytes += r.bytes
    out.rows += r.inserts
  }
  out.total_ms = r.end
  return out
}

// The same with the official client (memory only): until its first up-to-date.
async function clientSync(port, table, where) {
  const t0 = performance.now()
  const ctl = new AbortController()
  const stream = new ShapeStream({ url: `http://127.0.0.1:${port}/v1/shape`, params: { table, where }, signal: ctl.signal })
  let rows = 0, first = null
  await new Promise((resolve, reject) => {
    stream.subscribe((msgs) => {
      for (const m of msgs) {
        if (m.headers?.operation === 'insert') { rows++; first ??= performance.now() - t0 }
        if (m.headers?.control === 'up-to-date') resolve()
      }
    }, reject)
  })
  ctl.abort()
  return { first_rows_ms: first, total_ms: performance.now() - t0, rows }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }

async function measure(bin, label) {
  const server = await startServer(bin, label)
  const res = {}
  try {
    await sync(server.port, 'snap_tiny', 'id > 0') // the replication stream runs from here on
    for (const n of SIZES) {
      const runs = []
      for (let i = 0; i < RUNS; i++) {
        const where = `title <> 'run-${label}-${i}'`
        const before = server.log().length
        const cold = await sync(server.port, `snap_${n}`, where)
        const warm = await sync(server.port, `snap_${n}`, where)
        if (cold.rows !== n || warm.rows !== n) throw new Error(`rows ${cold.rows}/${warm.rows}, expected ${n}`)
        await sleep(100)
        const line = server.log().slice(before).split("\n").find((l) => l.includes(`snapshot of public.snap_${n}:`))
        const run = { cold, warm, server: line ? line.replace(/^.*shapes: /, '') : null }
        if (CLIENT_SIZES.includes(n)) {
          const cwhere = `title <> 'client-${label}-${i}'`
          run.client_new = await clientSync(server.port, `snap_${n}`, cwhere)
          run.client_warm = await clientSync(server.port, `snap_${n}`, cwhere)
          if (run.client_new.rows !== n || run.client_warm.rows !== n) throw new Error(`client rows ${run.client_new.rows}/${run.client_warm.rows}`)
          log(`${label} ${n}: official client: new shape ${run.client_new.total_ms.toFixed(0)} ms, stored ${run.client_warm.total_ms.toFixed(0)} ms`)
        }
        runs.push(run)
        log(`${label} ${n}: new shape first byte ${cold.first_byte_ms.toFixed(0)} ms, total ${cold.total_ms.toFixed(0)} ms` +
          ` (${cold.responses} responses); warm total ${warm.total_ms.toFixed(0)} ms; load ${os.loadavg()[0].toFixed(1)}`)
      }
      res[n] = {
        new_first_byte_ms: Math.round(median(runs.map((r) => r.cold.first_byte_ms))),
        new_total_ms: Math.round(median(runs.map((r) => r.cold.total_ms))),
        warm_first_byte_ms: Math.round(median(runs.map((r) => r.warm.first_byte_ms))),
        warm_total_ms: Math.round(median(runs.map((r) => r.warm.total_ms))),
        responses: runs[0].cold.responses,
        bytes: runs[0].cold.bytes,
        rows_header: runs[0].cold.rows_header,
        rows_estimate_header: runs[0].cold.rows_estimate_header,
        runs,
      }
      res[n].new_over_warm = +(res[n].new_total_ms / res[n].warm_total_ms).toFixed(2)
      if (runs[0].client_new) {
        res[n].client_new_first_rows_ms = Math.round(median(runs.map((r) => r.client_new.first_rows_ms)))
        res[n].client_new_total_ms = Math.round(median(runs.map((r) => r.client_new.total_ms)))
        res[n].client_warm_total_ms = Math.round(median(runs.map((r) => r.client_warm.total_ms)))
        res[n].client_new_over_warm = +(res[n].client_new_total_ms / res[n].client_warm_total_ms).toFixed(2)
      }
    }
  } finally {
    server.child.kill('SIGTERM')
    await new Promise((r) => server.child.once('exit', r))
    fs.rmSync(server.dir, { recursive: true, force: true })
  }
  return res
}

await prepare()
const results = { date: new Date().toISOString(), cpus: os.cpus().length, runs: RUNS, load_start: os.loadavg() }
if (BEFORE) results.before = await measure(BEFORE, 'before')
results.after = await measure(BIN, 'after')
results.load_end = os.loadavg()
fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true })
fs.writeFileSync(path.join(root, 'bench/results/snapshot.json'), JSON.stringify(results, null, 2) + '\n')

console.log(`\nnew shape vs stored shape (medians of ${RUNS}; load average ${results.load_start[0].toFixed(1)} -> ${results.load_end[0].toFixed(1)}, ${results.cpus} cores)`)
console.log('| rows | build | new: first byte | new: whole sync | stored: whole sync | new / stored | responses | official client: new / stored |')
console.log('|---|---|---|---|---|---|---|---|')
for (const n of SIZES)
  for (const label of ['before', 'after']) {
    const r = results[label]?.[n]
    if (!r) continue
    const c = r.client_new_total_ms ? `${r.client_new_total_ms} / ${r.client_warm_total_ms} ms = ${r.client_new_over_warm}` : '–'
    console.log(`| ${n} | ${label} | ${r.new_first_byte_ms} ms | ${r.new_total_ms} ms | ${r.warm_total_ms} ms | ${r.new_over_warm} | ${r.responses} | ${c} |`)
  }
