// The replication slot outliving its publication (docs/replication.md §1.3): pgoutput looks the
// publication up as of each change it decodes, so a slot whose publication was dropped (by hand,
// by a cleanup script, or dropped and created again) fails every session with "publication ...
// does not exist". Before the fix the server retried that for ever and every live request
// answered 503. Now it drops the slot, creates publication and slot anew and purges the stored
// shapes: clients get 409, refetch, and end with the right rows; changes flow again.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { clientShape, expectSynced, freshTable, prepareShapeDb, shapeGet, shapesDir, sleep, sql, startShapeServer } from './shape-helpers.js'

before(prepareShapeDb)

const names = (role) => {
  const { slot } = JSON.parse(fs.readFileSync(path.join(shapesDir(role), 'state.json'), 'utf8'))
  return { slot, pub: slot.replace(/^esync_/, 'esync_pub_') }
}

// Polls a shape request from (handle, offset) until it answers 409: a 200 (a live hold that ended
// first) moves the offset on, a 503 (replication down) is asked again.
async function until409(base, table, handle, offset, timeoutMs = 30000) {
  const seen = []
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    const r = await shapeGet(base, `table=${table}&offset=${offset}&handle=${handle}&live=true`)
    seen.push(r.status)
    if (r.status === 409) return { r, seen }
    if (r.status === 200) offset = r.headers.get('electric-offset') ?? offset
    else await sleep(200)
  }
  assert.fail(`no 409 within ${timeoutMs} ms; statuses: ${seen.join(' ')}`)
}

test('publication dropped under a running server: live requests get 409 (not 503 for ever), clients refetch the right rows', async () => {
  await freshTable('sp_items')
  await sql(`insert into sp_items select g, 't' || g, g, true from generate_series(1, 5) g`)
  const srv = await startShapeServer('publost')
  try {
    const c = clientShape(srv.base, { table: 'sp_items' })
    let refetches = 0
    c.stream.subscribe((m) => { if (m.some((x) => x.headers?.control === 'must-refetch')) refetches++ })
    await expectSynced(c.shape, 'select * from sp_items')
    const first = await shapeGet(srv.base, 'table=sp_items&offset=-1')
    const handle = first.headers.get('electric-handle')
    const offset = first.headers.get('electric-offset')
    // state.json is written at the first durable point (within a second)
    for (let i = 0; i < 50 && !fs.existsSync(path.join(shapesDir('publost'), 'state.json')); i++) await sleep(100)
    const { pub } = names('publost')
    await sql(`drop publication ${pub}`)
    // the next decoded change fails in pgoutput: the server must notice and start over
    await sql(`insert into sp_items values (6, 'six', 6, false)`)
    await sql(`update sp_items set title = 'changed' where id = 2`)
    await sql(`delete from sp_items where id = 3`)
    const { r, seen } = await until409(srv.base, 'sp_items', handle, offset)
    assert.notEqual(r.headers.get('electric-handle'), handle, `statuses before the 409: ${seen.join(' ')}`)
    // the official client refetches and ends equal to Postgres
    await expectSynced(c.shape, 'select * from sp_items', { timeoutMs: 30000 })
    assert.ok(refetches >= 1, 'the client saw must-refetch')
    // and the stream runs again: a change made now reaches it
    await sql(`insert into sp_items values (7, 'after', 7, true)`)
    await expectSynced(c.shape, 'select * from sp_items', { timeoutMs: 15000 })
    c.stop()
    assert.match(srv.log(), /publication esync_pub_\w+ was missing: dropping replication slot/)
    const { rows } = await sql(`select 1 from pg_publication where pubname = $1`, [pub])
    assert.equal(rows.length, 1, 'the publication exists again')
  } finally {
    await srv.dispose()
  }
})

test('publication dropped between two runs (the slot kept): stored shapes answer 409, clients refetch', async () => {
  await freshTable('sp_between')
  await sql(`insert into sp_between select g, 't' || g, g, false from generate_series(1, 4) g`)
  let srv = await startShapeServer('publost2')
  const first = await shapeGet(srv.base, 'table=sp_between&offset=-1')
  assert.equal(first.status, 200)
  const handle = first.headers.get('electric-handle')
  for (let i = 0; i < 50 && !fs.existsSync(path.join(shapesDir('publost2'), 'state.json')); i++) await sleep(100)
  await srv.stop()
  const { slot, pub } = names('publost2')
  assert.equal((await sql(`select 1 from pg_replication_slots where slot_name = $1`, [slot])).rowCount, 1, 'a stopped server with a stored shape keeps its slot')
  await sql(`drop publication ${pub}`)
  await sql(`insert into sp_between values (5, 'five', 5, true)`)
  await sql(`delete from sp_between where id = 1`)
  srv = await startShapeServer('publost2', { keep: true })
  try {
    const { r } = await until409(srv.base, 'sp_between', handle, '0_inf')
    assert.notEqual(r.headers.get('electric-handle'), handle)
    const c = clientShape(srv.base, { table: 'sp_between' })
    await expectSynced(c.shape, 'select * from sp_between', { timeoutMs: 30000 })
    await sql(`update sp_between set title = 'live again' where id = 5`)
    await expectSynced(c.shape, 'select * from sp_between', { timeoutMs: 15000 })
    c.stop()
  } finally {
    await srv.dispose()
  }
})
