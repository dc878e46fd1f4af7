// The shape service while Postgres is down (docs/protocol.md §1.3): what is already in
// a shape's log is still served from disk, a request that needs the database (a new shape's
// catalog check and snapshot) gets 503 with Electric's body and retry-after, the server does not
// crash, and once Postgres is back the same request succeeds and live changes flow again.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { pg_sh } from './helpers.js'
import { freshTable, prepareShapeDb, shapeGet, sleep, sql, startShapeServer } from './shape-helpers.js'

let server
before(async () => {
  await prepareShapeDb()
  server = await startShapeServer('outage')
})
after(async () => {
  pg_sh('start')
  await server?.dispose()
})

test('Postgres stopped under the shape service: stored logs served, new shapes 503, then recovery', async () => {
  await freshTable('so_items')
  await sql(`insert into so_items select g, 't' || g, g, true from generate_series(1, 5) g`)
  const first = await shapeGet(server.base, 'table=so_items&offset=-1')
  assert.equal(first.status, 200)
  const handle = first.headers.get('electric-handle')
  const rest = await shapeGet(server.base, `table=so_items&offset=0_0&handle=${handle}`)
  assert.equal(rest.status, 200)
  try {
    pg_sh('stop')
    // The stored snapshot is still served: the log is on disk.
    const again = await shapeGet(server.base, 'table=so_items&offset=-1')
    assert.equal(again.status, 200)
    assert.equal(again.headers.get('electric-handle'), handle)
    assert.equal(again.body.filter((m) => m.headers?.operation === 'insert').length, 5)
    // A new definition needs the catalog: 503, Electric's envelope, retry-after.
    const fresh = await shapeGet(server.base, 'table=so_items&offset=-1&where=' + encodeURIComponent('num > 2'))
    assert.equal(fresh.status, 503, fresh.text)
    assert.deepEqual(fresh.body, { code: 'database_unreachable', error: 'Database is unreachable' })
    assert.ok(Number(fresh.headers.get('retry-after')) > 0)
    assert.equal(server.proc.exitCode, null, 'still running')
  } finally {
    pg_sh('start')
  }
  // Back: the same request succeeds, and a change made now reaches a live request.
  let ok
  for (let i = 0; i < 100; i++) {
    ok = await shapeGet(server.base, 'table=so_items&offset=-1&where=' + encodeURIComponent('num > 2'))
    if (ok.status === 200) break
    await sleep(Math.max(200, Number(ok.headers.get('retry-after') ?? 0) * 10))
  }
  assert.equal(ok.status, 200, ok.text)
  assert.equal(ok.body.filter((m) => m.headers?.operation === 'insert').length, 3)
  const up = await shapeGet(server.base, `table=so_items&offset=${rest.headers.get('electric-offset')}&handle=${handle}`)
  assert.equal(up.status, 200)
  const live = shapeGet(server.base, `table=so_items&offset=${up.headers.get('electric-offset')}&handle=${handle}&live=true`)
  await sleep(100)
  await sql(`insert into so_items values (99, 'after the outage', 99, false)`)
  let got = await live
  for (let i = 0; i < 20 && !got.body.some((m) => m.headers?.operation); i++) {
    // a live answer without the change (a hold that ended first): ask again from where it left off
    got = await shapeGet(server.base, `table=so_items&offset=${got.headers.get('electric-offset')}&handle=${handle}&live=true`)
  }
  assert.ok(got.body.some((m) => m.headers?.operation === 'insert' && m.value.id === '99'), got.text)
})
