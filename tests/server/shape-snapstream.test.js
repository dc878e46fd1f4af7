// A new shape's snapshot served while it is taken (docs/protocol.md §7.2): the chunks written
// whole go out at once, the rest as they complete; the row count headers; concurrent readers of
// one new shape; a snapshot that fails midway, a cancelled request, a restart during a snapshot;
// the official client on a new large shape while rows change under it.
//
// Ordering is observed, never timed: a shape's meta.json is written only once its snapshot is
// complete (and synced), and an answer built before that carries electric-sync-rows-estimate
// instead of electric-sync-rows. The table is large enough (about 60 MB of JSON) that the
// snapshot is still running when the first chunks (64 KiB, then 256 KiB) have arrived.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {
  prepareShapeDb, sql, startShapeServer, shapesDir, shapeGet as shapeGetAny, clientShape, sleep,
} from './shape-helpers.js'

// The uncompressed representation: a chunk served while the snapshot runs is the very answer the
// stored shape gives (bytes, etag); the gzip one appears later, with its own etag (shape-gzip).
const shapeGet = (base, qs, opts = {}) => shapeGetAny(base, qs, { ...opts, headers: { 'accept-encoding': 'identity', ...opts.headers } })

const BIG = 120000

before(async () => {
  await prepareShapeDb()
  await sql('create table if not exists ss_big (id int primary key, title text not null, description text, done boolean not null default false, created_at timestamp not null default now())')
  const { rows } = await sql('select count(*)::int as n, coalesce(max(id), 0) as m from ss_big')
  if (rows[0].n !== BIG || rows[0].m !== BIG) {
    await sql('truncate ss_big')
    await sql(`insert into ss_big (id, title, description, done)
      select g, 'item ' || g, repeat(md5(g::text), 10), g % 2 = 0 from generate_series(1, ${BIG}) g`)
    await sql('analyze ss_big')
  }
})

const metaPath = (role, handle) => path.join(shapesDir(role), handle, 'meta.json')
const inserts = (body) => body.filter((m) => m.headers?.operation === 'insert').length
// A definition of its own per test (equal definitions share one shape): every row passes it.
const defOf = (tag) => `table=ss_big&where=${encodeURIComponent(`title <> '${tag}'`)}`

// Waits until the client's shape is up to date with as many rows as the table, then compares
// them with Postgres' (timestamps as text, as the shape sends them).
async function expectBigSynced(shape, where, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs
  const want = async () => (await sql(`select id, title, description, done, created_at::text as created_at
    from ss_big where ${where} order by id`)).rows
  for (;;) {
    const n = (await sql(`select count(*)::int as n from ss_big where ${where}`)).rows[0].n
    if (shape.isUpToDate && shape.currentRows.length === n) {
      const got = [...shape.currentRows].sort((a, b) => a.id - b.id)
      const w = await want()
      if (JSON.stringify(got) === JSON.stringify(w)) return
      if (Date.now() > deadline) assert.deepEqual(got, w)
    }
    if (Date.now() > deadline) assert.fail(`not synced: ${shape.currentRows.length} rows of ${n}, up to date ${shape.isUpToDate}`)
    await sleep(100)
  }
}

// The process id of the Postgres backend that runs the snapshot query of `table` (asserts that
// one does).
async function snapshotBackend(table) {
  const r = await sql(`select pid from pg_stat_activity where application_name = 'esync-shapes'
    and query like 'COPY (SELECT %${table}%' and state = 'active'`)
  assert.equal(r.rowCount, 1, 'the snapshot query is running')
  return r.rows[0].pid
}

// Stops `srv` while a snapshot of `table` runs: the snapshot query's backend is paused
// (SIGSTOP) before the server gets SIGTERM and resumed once the server logs that it is stopping,
// so the snapshot cannot complete in between; the paused backend is resumed whatever happens.
async function stopDuringSnapshot(srv, table) {
  const pid = await snapshotBackend(table)
  process.kill(pid, 'SIGSTOP')
  try {
    srv.proc.kill('SIGTERM')
    for (let i = 0; i < 100 && !srv.log().includes('shutting down'); i++) await sleep(20)
    assert.match(srv.log(), /shutting down/)
    await sleep(100) // the server's stop has begun: it now waits for the snapshot job
  } finally {
    process.kill(pid, 'SIGCONT')
  }
  await srv.stop()
}

// Follows a shape from `offset` to up-to-date with raw requests. Returns every response.
async function follow(base, qs, handle, offset) {
  const out = []
  for (;;) {
    const r = await shapeGet(base, `${qs}&offset=${offset}&handle=${handle}`)
    assert.equal(r.status, 200, r.text.slice(0, 200))
    out.push(r)
    offset = r.headers.get('electric-offset')
    if (r.headers.get('electric-up-to-date')) return out
  }
}

test('the first chunks of a new shape arrive before its snapshot is complete; the row count headers', async () => {
  const srv = await startShapeServer('snapstream')
  try {
    const qs = defOf('first-bytes')
    const first = await shapeGet(srv.base, `${qs}&offset=-1`)
    assert.equal(first.status, 200)
    const handle = first.headers.get('electric-handle')
    // chunk 0 is here, and the snapshot is still being taken
    assert.equal(fs.existsSync(metaPath('snapstream', handle)), false, 'meta.json not written yet')
    assert.equal(first.headers.get('electric-sync-rows'), null)
    const estimate = Number(first.headers.get('electric-sync-rows-estimate'))
    assert.ok(estimate > BIG / 2 && estimate < BIG * 2, `estimate ${estimate}`)
    assert.equal(first.headers.get('electric-offset'), '0_0')
    assert.equal(first.headers.get('electric-up-to-date'), null)
    assert.match(first.headers.get('cache-control'), /max-age=604800/)
    assert.match(first.headers.get('access-control-expose-headers'), /electric-sync-rows, electric-sync-rows-estimate/)
    const n0 = inserts(first.body)
    assert.ok(n0 > 0 && first.text.length <= 64 * 1024 + 2, `first chunk ${first.text.length} bytes`)
    // the next chunk too (a larger one), still while the snapshot runs
    const second = await shapeGet(srv.base, `${qs}&offset=0_0&handle=${handle}`)
    assert.equal(second.status, 200)
    assert.equal(second.headers.get('electric-offset'), '0_1')
    assert.equal(fs.existsSync(metaPath('snapstream', handle)), false, 'meta.json still not written')
    assert.ok(second.headers.get('electric-sync-rows-estimate'))
    assert.ok(second.text.length > first.text.length)
    // a HEAD and a revalidation of chunk 0 during the snapshot: its etag and headers
    const head = await shapeGet(srv.base, `${qs}&offset=-1`, { method: 'HEAD' })
    assert.equal(head.headers.get('etag'), first.headers.get('etag'))
    const nm = await shapeGet(srv.base, `${qs}&offset=-1`, { headers: { 'if-none-match': first.headers.get('etag') } })
    assert.equal(nm.status, 304)
    assert.equal(nm.headers.get('electric-handle'), handle)
    // the rest, to up-to-date
    const rest = await follow(srv.base, qs, handle, '0_1')
    assert.ok(fs.existsSync(metaPath('snapstream', handle)), 'meta.json once up to date')
    const total = n0 + inserts(second.body) + rest.reduce((a, r) => a + inserts(r.body), 0)
    assert.equal(total, BIG)
    const last = rest.at(-1).body
    assert.equal(last.at(-1).headers.control, 'up-to-date')
    assert.ok(rest.some((r) => r.body.some((m) => m.headers?.control === 'snapshot-end')))
    // snapshot chunk answers carry one of the two headers; the exact one from readiness on
    for (const r of rest) {
      const isChunk = /^0_\d+$/.test(r.headers.get('electric-offset')) && !r.headers.get('electric-up-to-date')
      const exact = r.headers.get('electric-sync-rows'), est = r.headers.get('electric-sync-rows-estimate')
      if (isChunk) assert.ok((exact === null) !== (est === null), 'one row header per snapshot chunk')
      if (exact !== null) assert.equal(Number(exact), BIG)
    }
    // the stored shape: chunk 0 is the same answer (bytes and etag), now with the exact count
    const again = await shapeGet(srv.base, `${qs}&offset=-1`)
    assert.equal(again.headers.get('electric-handle'), handle)
    assert.equal(again.headers.get('etag'), first.headers.get('etag'))
    assert.equal(again.text, first.text)
    assert.equal(again.headers.get('electric-sync-rows'), String(BIG))
    assert.equal(again.headers.get('electric-sync-rows-estimate'), null)
    const chunk1 = await shapeGet(srv.base, `${qs}&offset=0_0&handle=${handle}`)
    assert.equal(chunk1.text, second.text)
    // with a where clause, the estimate follows the clause's selectivity
    const some = await shapeGet(srv.base, `table=ss_big&where=${encodeURIComponent('id <= 1000')}&offset=-1`)
    const est = Number(some.headers.get('electric-sync-rows-estimate') ?? some.headers.get('electric-sync-rows'))
    assert.ok(est >= 500 && est <= 2000, `estimate ${est}`)
    // a live answer and a log answer carry neither
    const utd = await shapeGet(srv.base, `${qs}&offset=${rest.at(-1).headers.get('electric-offset')}&handle=${handle}`)
    assert.equal(utd.headers.get('electric-sync-rows'), null)
    assert.equal(utd.headers.get('electric-sync-rows-estimate'), null)
  } finally {
    await srv.dispose()
  }
})

test('concurrent readers of one new shape: one snapshot, the same chunks, a cancelled request changes nothing', async () => {
  const srv = await startShapeServer('snapstream')
  try {
    const qs = defOf('concurrent')
    // one request given up on at once (its connection closed while it waits)
    const ctl = new AbortController()
    const gone = fetch(`${srv.base}/v1/shape?${qs}&offset=-1`, { signal: ctl.signal }).catch((e) => e)
    ctl.abort()
    await gone
    const readers = await Promise.all([0, 1, 2, 3, 4].map(async () => {
      const first = await shapeGet(srv.base, `${qs}&offset=-1`)
      assert.equal(first.status, 200)
      const handle = first.headers.get('electric-handle')
      const rest = await follow(srv.base, qs, handle, first.headers.get('electric-offset'))
      return { handle, texts: [first.text, ...rest.map((r) => r.text)], rows: inserts(first.body) + rest.reduce((a, r) => a + inserts(r.body), 0) }
    }))
    for (const r of readers) {
      assert.equal(r.handle, readers[0].handle)
      assert.equal(r.rows, BIG)
      assert.deepEqual(r.texts, readers[0].texts)
    }
    const snapshots = srv.log().split('\n').filter((l) => l.includes(`${readers[0].handle} snapshot of`))
    assert.equal(snapshots.length, 1, 'one snapshot for every reader')
  } finally {
    await srv.dispose()
  }
})

test('a snapshot that fails midway: waiting readers get a 503 to retry, nothing is stored, the next shape is whole', async () => {
  let srv = await startShapeServer('snapfail')
  try {
    const qs = defOf('fails')
    const first = await shapeGet(srv.base, `${qs}&offset=-1`)
    const handle = first.headers.get('electric-handle')
    assert.equal(fs.existsSync(metaPath('snapfail', handle)), false, 'the snapshot is still running')
    // a reader waits for a chunk that is not written yet
    const waiting = shapeGet(srv.base, `${qs}&offset=0_40&handle=${handle}`)
    await sleep(50)
    // the snapshot's connection dies midway
    const killed = await sql('select pg_terminate_backend($1) as ok', [await snapshotBackend('ss_big')])
    assert.equal(killed.rows[0].ok, true, 'the snapshot query was running')
    const w = await waiting
    assert.equal(w.status, 503)
    assert.ok(Number(w.headers.get('retry-after')) > 0)
    assert.equal(w.headers.get('cache-control'), 'no-store')
    // the handle is gone (409), and so are its files
    const old = await shapeGet(srv.base, `${qs}&offset=0_0&handle=${handle}`)
    assert.equal(old.status, 409)
    assert.notEqual(old.headers.get('electric-handle'), handle)
    // (removed by the snapshot's worker as it fails the shape, which may be just after the 409)
    const dir = path.join(shapesDir('snapfail'), handle)
    for (let i = 0; i < 40 && fs.existsSync(dir); i++) await sleep(50)
    assert.equal(fs.existsSync(dir), false, `the failed shape's files are removed (left: ${fs.existsSync(dir) ? fs.readdirSync(dir).join(', ') : ''})`)
    // a restart keeps nothing of it either, and the definition syncs whole
    await srv.stop()
    srv = await startShapeServer('snapfail', { keep: true })
    const again = await shapeGet(srv.base, `${qs}&offset=-1`)
    assert.equal(again.status, 200)
    const h2 = again.headers.get('electric-handle')
    assert.notEqual(h2, handle)
    const rest = await follow(srv.base, qs, h2, again.headers.get('electric-offset'))
    assert.equal(inserts(again.body) + rest.reduce((a, r) => a + inserts(r.body), 0), BIG)
  } finally {
    await srv.dispose()
  }
})

test('the official client syncs a new large shape while rows change, also across a restart during the snapshot', async () => {
  let srv = await startShapeServer('snapclient')
  const port = srv.port
  const qs = { table: 'ss_big', where: `title <> 'client'` }
  const c = clientShape(srv.base, qs)
  let c2
  try {
    // the first rows reach the client while the snapshot runs; rows change meanwhile
    let got = 0
    const firstRows = new Promise((resolve) => c.stream.subscribe((msgs) => {
      got += msgs.filter((m) => m.headers?.operation).length
      if (got) resolve()
    }))
    await firstRows
    const handle = c.stream.shapeHandle
    assert.equal(fs.existsSync(metaPath('snapclient', handle)), false, 'rows before the snapshot is complete')
    await sql(`update ss_big set title = 'changed during the snapshot' where id in (1, ${BIG})`)
    await sql(`delete from ss_big where id = 2`)
    await sql(`insert into ss_big (id, title) values (${BIG + 1}, 'new during the snapshot')`)
    await expectBigSynced(c.shape, `title <> 'client'`)
    c.stop()

    // a second new shape; the server restarts while its snapshot runs
    const qs2 = { table: 'ss_big', where: `title <> 'restart'` }
    c2 = clientShape(srv.base, qs2)
    let got2 = 0
    await new Promise((resolve) => c2.stream.subscribe((msgs) => {
      got2 += msgs.filter((m) => m.headers?.operation).length
      if (got2) resolve()
    }))
    const h = c2.stream.shapeHandle
    assert.equal(fs.existsSync(metaPath('snapclient', h)), false, 'restart during the snapshot')
    // The server stops while the snapshot query still runs: its backend is paused (a database
    // that is slow to answer) until the server has begun to stop, so the snapshot cannot end
    // in between, however slow this machine is to get here.
    await stopDuringSnapshot(srv, 'ss_big')
    // (on failure: what the directory holds and the server's last lines, to tell a snapshot that
    // finished before the stop from one whose files were left behind)
    const left = path.join(shapesDir('snapclient'), h)
    assert.equal(fs.existsSync(left), false, fs.existsSync(left) &&
      `an unfinished snapshot is not kept: ${h} holds ${fs.readdirSync(left).join(', ')}; the server's log ends:\n${srv.log().split('\n').slice(-12).join('\n')}`)
    await sql(`update ss_big set title = 'changed while down' where id = 3`)
    srv = await startShapeServer('snapclient', { keep: true, port })
    await expectBigSynced(c2.shape, `title <> 'restart'`)
    assert.notEqual(c2.stream.shapeHandle, h, 'the client refetched under a new handle')
    c2.stop()
  } finally {
    c.stop()
    c2?.stop()
    await sql(`delete from ss_big where id > ${BIG}`)
    await sql(`insert into ss_big (id, title, description, done)
      select g, 'item ' || g, repeat(md5(g::text), 10), g % 2 = 0 from unnest(array[1, 2, 3, ${BIG}]) g
      on conflict (id) do update set title = excluded.title, description = excluded.description, done = excluded.done`)
    await srv.dispose()
  }
})
