// /api/electric/v1/shape, the proxy, in both modes: built-in (the shape service in-process) and
// ELECTRIC_URL (a second instance of our server as the upstream Electric). The official client
// syncs through it; only allow-listed tables pass (403); the secret is added server-side and never
// reaches the browser.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { clientShape, expectSynced, freshTable, prepareShapeDb, shapeGet, sleep, sql, startShapeServer } from './shape-helpers.js'

const SECRET = 'proxy-s3cret-value'
const PROXY = '/api/electric/v1/shape'
let builtin, upstream, front
before(async () => {
  await prepareShapeDb()
  await freshTable('sx_items')
  await freshTable('sx_other')
  const env = { ELECTRIC_SECRET: SECRET, ESYNC_PROXY_TABLES: 'sx_items, public.sx_more' }
  builtin = await startShapeServer('proxy-builtin', { env })
  upstream = await startShapeServer('proxy-upstream', { env: { ELECTRIC_SECRET: SECRET } })
  front = await startShapeServer('proxy-front', { env: { ...env, ELECTRIC_URL: upstream.base } })
})
after(async () => {
  await front?.dispose()
  await upstream?.dispose()
  await builtin?.dispose()
})

function noSecret(r) {
  assert.ok(!r.text.includes(SECRET), 'secret in the body')
  for (const [k, v] of r.headers) assert.ok(!v.includes(SECRET), `secret in header ${k}`)
}

for (const mode of ['built-in', 'ELECTRIC_URL']) {
  test(`proxy (${mode}): the official client syncs through it, live changes included`, async () => {
    const srv = mode === 'built-in' ? builtin : front
    await sql('delete from sx_items')
    await sql(`insert into sx_items select g, 't' || g, g, true from generate_series(1, 10) g`)
    const c = clientShape(srv.base, { table: 'sx_items' }, { path: PROXY })
    try {
      await expectSynced(c.shape, 'select * from sx_items')
      await sql(`insert into sx_items values (11, 'new', 11, false)`)
      await expectSynced(c.shape, 'select * from sx_items')
      await sql(`update sx_items set title = 'u' where id < 4`)
      await expectSynced(c.shape, 'select * from sx_items')
      await sql(`delete from sx_items where id > 8`)
      await expectSynced(c.shape, 'select * from sx_items')
    } finally {
      c.stop()
    }
  })

  test(`proxy (${mode}): allow-list, secret, headers and errors`, async () => {
    const srv = mode === 'built-in' ? builtin : front
    const deny = await shapeGet(srv.base, 'table=sx_other&offset=-1', { path: PROXY })
    assert.equal(deny.status, 403)
    assert.match(deny.body.message, /not allowed/)
    assert.equal((await shapeGet(srv.base, 'offset=-1', { path: PROXY })).status, 403)
    assert.equal((await shapeGet(srv.base, 'table=%22sx_items%22.x&offset=-1', { path: PROXY })).status, 403)
    // the client's own secret parameter is not what authorizes: ours is
    const ok = await shapeGet(srv.base, 'table=sx_items&offset=-1&secret=wrong', { path: PROXY })
    assert.equal(ok.status, 200, ok.text)
    noSecret(ok)
    for (const h of ['electric-handle', 'electric-offset', 'electric-schema', 'etag', 'cache-control'])
      assert.ok(ok.headers.get(h), h)
    assert.equal(ok.headers.get('access-control-allow-origin'), '*')
    assert.match(ok.headers.get('access-control-expose-headers'), /electric-handle/)
    // errors of the service come through unchanged
    const bad = await shapeGet(srv.base, 'table=sx_items&offset=nope', { path: PROXY })
    assert.equal(bad.status, 400)
    assert.deepEqual(bad.body, { message: 'Invalid request', errors: { offset: ['has invalid format'] } })
    noSecret(bad)
    // a long-poll held upstream is streamed back when data arrives
    const h = ok.headers.get('electric-handle')
    let off = ok.headers.get('electric-offset')
    for (;;) {
      const r = await shapeGet(srv.base, `table=sx_items&offset=${off}&handle=${h}`, { path: PROXY })
      off = r.headers.get('electric-offset')
      if (r.headers.has('electric-up-to-date')) break
    }
    const pending = shapeGet(srv.base, `table=sx_items&offset=${off}&handle=${h}&live=true`, { path: PROXY })
    await sleep(200)
    await sql(`insert into sx_items values (100, 'live', 1, true)`)
    const live = await pending
    assert.equal(live.status, 200)
    assert.equal(live.body[0].value.id, '100')
    assert.ok(live.headers.get('electric-cursor'))
    noSecret(live)
    const opt = await fetch(`${srv.base}${PROXY}?table=sx_items&offset=-1`, { method: 'OPTIONS' })
    assert.equal(opt.status, 204)
  })
}

test('the upstream itself needs the secret the proxy adds', async () => {
  const direct = await shapeGet(upstream.base, 'table=sx_items&offset=-1')
  assert.equal(direct.status, 401)
  const direct2 = await shapeGet(builtin.base, 'table=sx_items&offset=-1')
  assert.equal(direct2.status, 401)
})
