// The unmodified official @electric-sql/client against our /v1/shape: after
// every step its Shape rows equal a SELECT on Postgres.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { ShapeStream } from '@electric-sql/client'
import {
  clientShape, expectSynced, freshTable, prepareShapeDb, sql, startShapeServer, sleep, shapeGet, shapesDir,
} from './shape-helpers.js'

let server
before(async () => {
  await prepareShapeDb()
  server = await startShapeServer('client', { env: { ESYNC_RECONCILE_MS: '300' } })
})
after(async () => {
  await server?.dispose()
})

test('initial sync, then live insert, update, delete', async () => {
  await freshTable('sc_items')
  await sql(`insert into sc_items select g, 'row ' || g, g, g % 2 = 0 from generate_series(1, 25) g`)
  const c = clientShape(server.base, { table: 'sc_items' })
  try {
    await expectSynced(c.shape, 'select * from sc_items')
    await sql(`insert into sc_items values (100, 'new', 100, true)`)
    await expectSynced(c.shape, 'select * from sc_items')
    await sql(`update sc_items set title = 'changed', done = not done where id in (1, 2, 100)`)
    await expectSynced(c.shape, 'select * from sc_items')
    await sql(`delete from sc_items where id in (3, 100)`)
    await expectSynced(c.shape, 'select * from sc_items')
    // one transaction with a key change and several statements
    await sql(`begin; insert into sc_items values (200, 'tx', 1, null); update sc_items set id = 201 where id = 4; delete from sc_items where id = 5; commit`)
    await expectSynced(c.shape, 'select * from sc_items')
    // special characters survive the round trip
    await sql(`insert into sc_items values (300, $1, -1, false)`, ['a/b "quoted" \\ \n\t é 😀'])
    await expectSynced(c.shape, 'select * from sc_items')
  } finally {
    c.stop()
  }
})

test('where-filtered shape: rows move in and out, with params', async () => {
  await freshTable('sc_where')
  await sql(`insert into sc_where select g, 't' || g, g, false from generate_series(1, 10) g`)
  const c = clientShape(server.base, { table: 'sc_where', where: 'num > $1 AND title LIKE $2', params: { 1: '5', 2: 't%' } })
  const q = `select * from sc_where where num > 5 and title like 't%'`
  try {
    await expectSynced(c.shape, q)
    await sql(`update sc_where set num = 50 where id = 1`) // moves in
    await expectSynced(c.shape, q)
    await sql(`update sc_where set num = 0 where id = 9`) // moves out
    await expectSynced(c.shape, q)
    await sql(`begin; update sc_where set num = 60 where id = 2; update sc_where set num = 1 where id = 10; commit`)
    await expectSynced(c.shape, q)
    await sql(`update sc_where set title = 'x' || title where id = 6`) // out through another column
    await expectSynced(c.shape, q)
    await sql(`insert into sc_where values (11, 'tnew', 99, true), (12, 'tlow', 1, true)`)
    await expectSynced(c.shape, q)
    await sql(`delete from sc_where where id in (11, 12)`)
    await expectSynced(c.shape, q)
  } finally {
    c.stop()
  }
})

test('columns: only the selected columns; updates of other columns send nothing', async () => {
  await freshTable('sc_cols')
  await sql(`insert into sc_cols select g, 't' || g, g, true from generate_series(1, 5) g`)
  const c = clientShape(server.base, { table: 'sc_cols', columns: ['id', 'title'] })
  try {
    await expectSynced(c.shape, 'select id, title from sc_cols')
    const offset = c.stream.lastOffset
    await sql(`update sc_cols set num = num + 1`)
    await sleep(300)
    assert.equal(c.stream.lastOffset, offset, 'an update of unselected columns must not reach the client')
    await sql(`update sc_cols set title = 'new' where id = 2`)
    await expectSynced(c.shape, 'select id, title from sc_cols')
    await sql(`insert into sc_cols values (9, 'nine', 9, false)`)
    await expectSynced(c.shape, 'select id, title from sc_cols')
  } finally {
    c.stop()
  }
})

test('replica=full: full rows and old values', async () => {
  await freshTable('sc_full')
  await sql(`insert into sc_full select g, 't' || g, g, true from generate_series(1, 3) g`)
  const seen = []
  const c = clientShape(server.base, { table: 'sc_full', replica: 'full' })
  c.stream.subscribe((msgs) => seen.push(...msgs))
  try {
    await expectSynced(c.shape, 'select * from sc_full')
    await sql(`update sc_full set title = 'changed' where id = 1`)
    await expectSynced(c.shape, 'select * from sc_full')
    const upd = seen.find((m) => m.headers?.operation === 'update')
    assert.deepEqual(upd.value, { id: 1, title: 'changed', num: 1, done: true })
    assert.deepEqual(upd.old_value, { title: 't1' })
    await sql(`delete from sc_full where id = 2`)
    await expectSynced(c.shape, 'select * from sc_full')
    const del = seen.find((m) => m.headers?.operation === 'delete')
    assert.deepEqual(del.value, { id: 2, title: 't2', num: 2, done: true })
  } finally {
    c.stop()
  }
})

// A change the shape cannot follow (it is rotated: 409 must-refetch and a new handle); the client
// resyncs to the table as it is now and keeps following it.
async function expectRotation(table, change) {
  await freshTable(table)
  await sql(`insert into ${table} select g, 't' || g, g, true from generate_series(1, 5) g`)
  const controls = []
  const c = clientShape(server.base, { table })
  c.stream.subscribe((msgs) => controls.push(...msgs.filter((m) => m.headers?.control).map((m) => m.headers.control)))
  try {
    await expectSynced(c.shape, `select * from ${table}`)
    const h1 = c.stream.shapeHandle
    await change()
    await sql(`insert into ${table} values (42, 'after', 1, false)`)
    await expectSynced(c.shape, `select * from ${table}`)
    assert.ok(controls.includes('must-refetch'))
    assert.notEqual(c.stream.shapeHandle, h1)
    await sql(`insert into ${table} values (43, 'later', 2, true)`)
    await expectSynced(c.shape, `select * from ${table}`)
  } finally {
    c.stop()
  }
}

test('TRUNCATE: the client recovers through 409 must-refetch', () =>
  expectRotation('sc_trunc', () => sql('truncate sc_trunc')))

test('a schema change rotates the shape (409), the client resyncs', async () => {
  await freshTable('sc_schema')
  await sql(`insert into sc_schema values (1, 'a', 1, true)`)
  const c = clientShape(server.base, { table: 'sc_schema' })
  try {
    await expectSynced(c.shape, 'select * from sc_schema')
    await sql(`alter table sc_schema add column extra text default 'x'`)
    await sql(`insert into sc_schema values (2, 'b', 2, false, 'y')`)
    await expectSynced(c.shape, 'select * from sc_schema')
  } finally {
    c.stop()
  }
})

// The replication stream says nothing about this: the periodic catalog check finds it.
test('a table dropped and created again (no TRUNCATE, no ALTER): the shape rotates, the client resyncs', () =>
  expectRotation('sc_recreate', () => freshTable('sc_recreate')))

test('two shapes at once, one transaction touching both', async () => {
  await freshTable('sc_two_a')
  await freshTable('sc_two_b')
  await sql(`insert into sc_two_a values (1, 'a', 1, true)`)
  const a = clientShape(server.base, { table: 'sc_two_a' })
  const b = clientShape(server.base, { table: 'sc_two_b', where: 'done = true' })
  try {
    await expectSynced(a.shape, 'select * from sc_two_a')
    await expectSynced(b.shape, 'select * from sc_two_b where done = true')
    await sql(`begin; insert into sc_two_a values (2, 'a2', 2, false); insert into sc_two_b values (1, 'b', 1, true), (2, 'b2', 2, false); commit`)
    await expectSynced(a.shape, 'select * from sc_two_a')
    await expectSynced(b.shape, 'select * from sc_two_b where done = true')
  } finally {
    a.stop()
    b.stop()
  }
})

// Materializes messages like Shape does (insert sets, update merges, delete removes).
function apply(rows, msgs) {
  for (const m of msgs) {
    if (m.headers?.control === 'must-refetch') rows.clear()
    if (!m.key) continue
    const op = m.headers.operation
    if (op === 'insert') rows.set(m.key, m.value)
    else if (op === 'update') rows.set(m.key, { ...rows.get(m.key), ...m.value })
    else if (op === 'delete') rows.delete(m.key)
  }
}

async function syncedRows(rows, stream, selectSql) {
  const deadline = Date.now() + 10000
  for (;;) {
    const want = JSON.stringify((await sql(selectSql)).rows.sort((x, y) => x.id - y.id))
    const got = JSON.stringify([...rows.values()].sort((x, y) => x.id - y.id))
    if (stream.isUpToDate && got === want) return
    if (Date.now() > deadline) assert.equal(got, want)
    await sleep(25)
  }
}

test('resume from a stored offset and handle, also across a server restart', async () => {
  await freshTable('sc_resume')
  await sql(`insert into sc_resume select g, 't' || g, g, true from generate_series(1, 5) g`)
  let srv = await startShapeServer('resume')
  const rows = new Map()
  const ctl = new AbortController()
  let s1 = new ShapeStream({ url: `${srv.base}/v1/shape`, params: { table: 'sc_resume' }, signal: ctl.signal })
  s1.subscribe((m) => apply(rows, m))
  await syncedRows(rows, s1, 'select * from sc_resume')
  await sql(`update sc_resume set title = 'u' where id = 1`)
  await syncedRows(rows, s1, 'select * from sc_resume')
  ctl.abort()
  let handle = s1.shapeHandle
  let offset = s1.lastOffset
  try {
    // same server: resume from the stored offset
    await sql(`insert into sc_resume values (6, 'six', 6, false)`)
    let ctl2 = new AbortController()
    let s2 = new ShapeStream({ url: `${srv.base}/v1/shape`, params: { table: 'sc_resume' }, offset, handle, signal: ctl2.signal })
    s2.subscribe((m) => apply(rows, m))
    await syncedRows(rows, s2, 'select * from sc_resume')
    assert.equal(s2.shapeHandle, handle, 'no refetch needed')
    ctl2.abort()
    offset = s2.lastOffset
    // restart: changes made while the server is down are not lost
    await srv.stop()
    await sql(`begin; insert into sc_resume values (7, 'seven', 7, true); delete from sc_resume where id = 2; commit`)
    await sql(`update sc_resume set num = 70 where id = 7`)
    srv = await startShapeServer('resume', { keep: true })
    ctl2 = new AbortController()
    const restarted = { n: 0 }
    s2 = new ShapeStream({ url: `${srv.base}/v1/shape`, params: { table: 'sc_resume' }, offset, handle, signal: ctl2.signal })
    s2.subscribe((m) => {
      if (m.some((x) => x.headers?.control === 'must-refetch')) restarted.n++
      apply(rows, m)
    })
    await syncedRows(rows, s2, 'select * from sc_resume')
    assert.equal(restarted.n, 0, 'the stored log serves the old offset without a refetch')
    assert.equal(s2.shapeHandle, handle)
    await sql(`insert into sc_resume values (8, 'eight', 8, true)`)
    await syncedRows(rows, s2, 'select * from sc_resume')
    ctl2.abort()
    // an offset from an older log is still served (any offset it was given)
    const old = await shapeGet(srv.base, `table=sc_resume&offset=0_inf&handle=${handle}`)
    assert.equal(old.status, 200)
  } finally {
    await srv.dispose()
  }
})

test('restart with a lost slot: stored shapes answer 409, clients refetch', async () => {
  await freshTable('sc_lost')
  await sql(`insert into sc_lost values (1, 'a', 1, true)`)
  let srv = await startShapeServer('lost')
  const first = await shapeGet(srv.base, 'table=sc_lost&offset=-1')
  const handle = first.headers.get('electric-handle')
  await srv.stop()
  // the slot disappears while the server is down
  const { slot } = JSON.parse(fs.readFileSync(path.join(shapesDir('lost'), 'state.json'), 'utf8'))
  // The server has exited, but its walsender may take a moment to let go of the slot.
  for (let i = 0; ; i++) {
    const { rows } = await sql(`select active from pg_replication_slots where slot_name = $1`, [slot])
    if (!rows.length || !rows[0].active || i >= 100) break
    await sleep(50)
  }
  await sql(`select pg_drop_replication_slot($1)`, [slot])
  srv = await startShapeServer('lost', { keep: true })
  try {
    await sleep(300)
    const r = await shapeGet(srv.base, `table=sc_lost&offset=0_inf&handle=${handle}`)
    assert.equal(r.status, 409)
    assert.notEqual(r.headers.get('electric-handle'), handle)
    const c = clientShape(srv.base, { table: 'sc_lost' })
    await expectSynced(c.shape, 'select * from sc_lost')
    c.stop()
  } finally {
    await srv.dispose()
  }
})
