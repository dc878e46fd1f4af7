// The conformance cases of docs/protocol.md §8 that fall inside what /v1/shape serves, as raw
// HTTP: status codes, headers, bodies, cache-control, etag/304, HEAD, OPTIONS, every 400.
// Case numbers refer to §8.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  LONG_POLL_MS, freshTable, prepareShapeDb, shapeGet, sleep, sql, startShapeServer,
} from './shape-helpers.js'

let server
before(async () => {
  await prepareShapeDb()
  server = await startShapeServer('protocol')
})
after(async () => {
  await server?.dispose()
})

const INITIAL_CC = 'public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746'
const get = (qs, opts) => shapeGet(server.base, qs, opts)

// -1 then the follow-up up-to-date request; returns { handle, offset } of the shape's end.
async function syncTo(qs) {
  const first = await get(`${qs}&offset=-1`)
  assert.equal(first.status, 200, first.text)
  const handle = first.headers.get('electric-handle')
  let offset = first.headers.get('electric-offset')
  for (;;) {
    const r = await get(`${qs}&offset=${offset}&handle=${handle}`)
    assert.equal(r.status, 200, r.text)
    offset = r.headers.get('electric-offset')
    if (r.headers.has('electric-up-to-date')) return { handle, offset, last: r }
  }
}

test('§8.1, 8.34: initial snapshot, headers, schema', async () => {
  await freshTable('sp_one', 'id int8 primary key, value text')
  await sql(`insert into sp_one values (1, 'hello')`)
  const r = await get('table=sp_one&offset=-1')
  assert.equal(r.status, 200)
  assert.equal(r.body.length, 2)
  assert.deepEqual(r.body[0], {
    key: '"public"."sp_one"/"1"', value: { id: '1', value: 'hello' },
    headers: { operation: 'insert', relation: ['public', 'sp_one'] },
  })
  assert.equal(r.body[1].headers.control, 'snapshot-end')
  assert.match(r.body[1].headers.xmin, /^\d+$/)
  assert.match(r.body[1].headers.xmax, /^\d+$/)
  assert.ok(Array.isArray(r.body[1].headers.xip_list))
  assert.ok(r.headers.get('electric-handle'))
  assert.equal(r.headers.get('electric-offset'), '0_0')
  assert.equal(r.headers.has('electric-up-to-date'), false)
  assert.equal(r.headers.get('cache-control'), INITIAL_CC)
  assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8')
  assert.equal(r.headers.get('access-control-allow-origin'), '*')
  assert.match(r.headers.get('access-control-expose-headers'), /electric-handle.*electric-offset.*electric-schema/)
  assert.ok(r.headers.get('electric-server'))
  assert.ok(r.headers.get('x-request-id'))
  assert.deepEqual(JSON.parse(r.headers.get('electric-schema')), {
    id: { type: 'int8', pk_index: 0, not_null: true }, value: { type: 'text' },
  })
  const o = await fetch(`${server.base}/v1/shape?table=sp_one&offset=-1`, { headers: { origin: 'http://example.test' } })
  assert.equal(o.headers.get('access-control-allow-origin'), 'http://example.test')
})

test('§8.2: path variants route identically', async () => {
  await freshTable('sp_paths')
  for (const p of ['/v1/shape/', '/v1//shape', '/v1/%73hape']) {
    const r = await shapeGet(server.base, 'table=sp_paths&offset=-1', { path: p })
    assert.equal(r.status, 200, p)
  }
  const d = await shapeGet(server.base, 'table=sp_paths&offset=-1', { method: 'DELETE' })
  assert.equal(d.status, 405)
})

test('§8.3, 8.4, 8.22: empty table, catch-up with no data, offset=now', async () => {
  await freshTable('sp_empty')
  const r = await get('table=sp_empty&offset=-1')
  assert.equal(r.body.length, 1)
  assert.equal(r.body[0].headers.control, 'snapshot-end')
  const h = r.headers.get('electric-handle')
  const n = await get(`table=sp_empty&offset=0_0&handle=${h}`)
  assert.equal(n.status, 200)
  assert.equal(n.body.length, 1)
  assert.equal(n.body[0].headers.control, 'up-to-date')
  assert.match(n.body[0].headers.global_last_seen_lsn, /^\d+$/)
  assert.ok(n.headers.has('electric-up-to-date'))
  assert.equal(n.headers.get('electric-offset'), '0_inf')
  assert.equal(n.headers.get('cache-control'), 'public, max-age=60, stale-while-revalidate=300')
  assert.ok(n.headers.get('electric-schema'))
  const now = await get('table=sp_empty&offset=now')
  assert.equal(now.status, 200)
  assert.deepEqual(now.body.map((m) => m.headers.control), ['up-to-date'])
  assert.equal(now.headers.get('electric-offset'), '0_inf')
  assert.equal(now.headers.get('electric-has-data'), 'false')
  assert.equal(now.headers.get('electric-handle'), h)
})

test('§8.5, 8.7, 8.23: a held live request gets the insert', async () => {
  await freshTable('sp_live')
  await sql(`insert into sp_live values (1, 'a', 1, true)`)
  const { handle, offset } = await syncTo('table=sp_live')
  assert.equal(offset, '0_inf')
  const pending = get(`table=sp_live&offset=${offset}&handle=${handle}&live=true&cursor=5`)
  await sleep(200)
  await sql(`insert into sp_live values (2, 'b', 2, false)`)
  const r = await pending
  assert.equal(r.status, 200)
  assert.equal(r.body.length, 2)
  const [ins, utd] = r.body
  assert.equal(ins.headers.operation, 'insert')
  assert.deepEqual(ins.value, { id: '2', title: 'b', num: '2', done: 'f' })
  assert.match(ins.headers.lsn, /^\d+$/)
  assert.equal(ins.headers.op_position, 0)
  assert.equal(ins.headers.last, true)
  assert.equal(ins.headers.txids.length, 1)
  assert.equal(utd.headers.control, 'up-to-date')
  assert.equal(utd.headers.global_last_seen_lsn, ins.headers.lsn)
  assert.equal(r.headers.get('electric-offset'), `${ins.headers.lsn}_0`)
  assert.equal(r.headers.get('cache-control'), 'public, max-age=5, stale-while-revalidate=5')
  assert.ok(Number(r.headers.get('electric-cursor')) > 5)
  assert.equal(r.headers.has('electric-schema'), false)
  assert.equal(r.headers.get('electric-has-data'), 'true')
  // §8.7: the snapshot's int4 and the replicated one are both strings
  const snap = await get('table=sp_live&offset=-1')
  assert.equal(snap.body[0].value.num, '1')
  // §8.23: offset=now after data gives the live client's offset
  const now = await get('table=sp_live&offset=now')
  assert.equal(now.headers.get('electric-offset'), r.headers.get('electric-offset'))
})

test('§8.6: a live request with no change times out with up-to-date', async () => {
  await freshTable('sp_idle')
  const { handle, offset } = await syncTo('table=sp_idle')
  const t0 = Date.now()
  const r = await get(`table=sp_idle&offset=${offset}&handle=${handle}&live=true`)
  const held = Date.now() - t0
  assert.ok(held >= LONG_POLL_MS - 100 && held < LONG_POLL_MS + 1500, `held ${held} ms`)
  assert.equal(r.status, 200)
  assert.deepEqual(r.body.map((m) => m.headers.control), ['up-to-date'])
  assert.equal(r.headers.get('electric-has-data'), 'false')
  assert.ok(r.headers.has('electric-up-to-date'))
  assert.equal(r.headers.get('electric-offset'), offset)
  assert.match(r.headers.get('etag'), new RegExp(`^"${handle}:${offset}:${offset}:\\d+"$`))
  assert.ok(r.headers.get('electric-cursor'))
})

test('§8.8: value encodings of both paths', async () => {
  await freshTable('sp_types', `id int primary key, b bool, by bytea, a int8[], f float8, ts timestamptz,
    iv interval, j jsonb, c char(4), n numeric(8,2)`)
  const vals = `true, '\\x0001fffe', '{{1,2,3},{4,5,6}}', 4.5, '2024-01-02 03:04:05+02', '1 year 2 mons 3 days 04:00:00',
    '{"foo":"bar"}', 'ab', 12.5`
  await sql(`insert into sp_types values (1, ${vals})`)
  const { handle, offset } = await syncTo('table=sp_types')
  const snap = (await get('table=sp_types&offset=-1')).body[0].value
  assert.equal(snap.b, 'true')
  assert.equal(snap.by, '\\x0001fffe')
  assert.equal(snap.a, '{{1,2,3},{4,5,6}}')
  assert.equal(snap.f, '4.5')
  assert.equal(snap.ts, '2024-01-02 01:04:05+00')
  assert.equal(snap.iv, 'P1Y2M3DT4H')
  assert.equal(snap.j, '{"foo": "bar"}')
  assert.equal(snap.c, 'ab  ')
  assert.equal(snap.n, '12.50')
  const pending = get(`table=sp_types&offset=${offset}&handle=${handle}&live=true`)
  await sleep(100)
  await sql(`insert into sp_types values (2, ${vals.replace('true', 'false')})`)
  const live = (await pending).body[0].value
  assert.equal(live.b, 'f')
  for (const k of ['by', 'a', 'f', 'ts', 'iv', 'j', 'c', 'n']) assert.equal(live[k], snap[k], k)
  const schema = JSON.parse((await get('table=sp_types&offset=-1')).headers.get('electric-schema'))
  assert.deepEqual(schema.a, { type: 'int8', dims: 1 })
  assert.deepEqual(schema.c, { type: 'bpchar', length: 4 })
  assert.deepEqual(schema.n, { type: 'numeric', precision: 8, scale: 2 })
})

// The snapshot reads rows with COPY (text format), whose escapes the server undoes, and a where
// clause's values go into that COPY as literals: the bytes COPY escapes, the `\\N` text, an empty
// string and NULL come out as they are in Postgres, and literals with quotes, backslashes and a
// `$1` select exactly their rows.
test('snapshot values COPY escapes, and where literals with quotes and backslashes', async () => {
  await freshTable('sp_copy', 'id int primary key, t text, v varchar(30), u uuid, "we""ird $1" int')
  const texts = ['tab\there', 'new\nline', 'cr\rx', 'back\\slash', '\\N', '', 'bs\b ff\f vt\v', 'é ✓ "q"', "it's", '$1']
  for (let i = 0; i < texts.length; i++) await sql('insert into sp_copy values ($1, $2, $3, null, $1)', [i, texts[i], texts[i]])
  await sql(`insert into sp_copy values (100, null, null, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', null)`)
  await syncTo('table=sp_copy')
  const rows = (await get('table=sp_copy&offset=-1')).body.filter((m) => m.key).map((m) => m.value)
  assert.equal(rows.length, texts.length + 1)
  for (let i = 0; i < texts.length; i++) {
    const r = rows.find((x) => x.id === String(i))
    assert.deepEqual(r, { id: String(i), t: texts[i], v: texts[i], u: null, 'we"ird $1': String(i) }, JSON.stringify(texts[i]))
  }
  assert.deepEqual(rows.find((x) => x.id === '100'), { id: '100', t: null, v: null, u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'we"ird $1': null })
  const where = `t = 'it''s' OR t = 'back\\slash' OR t = '$1' OR "we""ird $1" = $1`
  const qs = `table=sp_copy&where=${encodeURIComponent(where)}&params[1]=5`
  await syncTo(qs)
  const picked = (await get(`${qs}&offset=-1`)).body.filter((m) => m.key).map((m) => m.value.t).sort()
  assert.deepEqual(picked, ['', '$1', 'back\\slash', "it's"])
})

// Holds a live request at the shape's end, runs `change`, returns the messages it got.
async function liveAfter(qs, change) {
  const { handle, offset } = await syncTo(qs)
  const pending = get(`${qs}&offset=${offset}&handle=${handle}&live=true`)
  await sleep(150)
  await change()
  const r = await pending
  assert.equal(r.status, 200, r.text)
  return r.body.filter((m) => m.key)
}

test('§8.9, 8.10, 8.11: updates by replica mode; insert + key change in one transaction', async () => {
  await freshTable('sp_upd', 'id int primary key, value1 text, value2 text, value3 text')
  await sql(`insert into sp_upd values (1, 'a', 'b', 'c')`)
  let m = await liveAfter('table=sp_upd', () => sql(`update sp_upd set value2 = 'B' where id = 1`))
  assert.deepEqual(m.map((x) => x.value), [{ id: '1', value2: 'B' }])
  m = await liveAfter('table=sp_upd&replica=full', () => sql(`update sp_upd set value3 = 'C' where id = 1`))
  assert.deepEqual(m[0].value, { id: '1', value1: 'a', value2: 'B', value3: 'C' })
  assert.deepEqual(m[0].old_value, { value3: 'c' })
  m = await liveAfter('table=sp_upd', () => sql(`begin; insert into sp_upd values (3, 'x', 'y', 'z'); update sp_upd set id = 2 where id = 1; commit`))
  assert.deepEqual(m.map((x) => [x.headers.operation, x.key]), [
    ['insert', '"public"."sp_upd"/"3"'], ['delete', '"public"."sp_upd"/"1"'], ['insert', '"public"."sp_upd"/"2"'],
  ])
  assert.deepEqual(m[1].value, { id: '1' })
  assert.deepEqual(m[2].value, { id: '2', value1: 'a', value2: 'B', value3: 'C' })
  assert.deepEqual(m.map((x) => x.headers.op_position), [0, 2, 3])
  assert.deepEqual(m.map((x) => x.headers.last), [undefined, undefined, true])
})

test('§8.12: table without a primary key', async () => {
  await freshTable('sp_nopk', 'a text, b text')
  await sql(`insert into sp_nopk values ('1', 'x')`)
  const m = await liveAfter('table=sp_nopk', () => sql(`begin; update sp_nopk set b = 'y'; insert into sp_nopk values ('2', 'z'); commit`))
  assert.deepEqual(m.map((x) => [x.headers.operation, x.key]), [
    ['delete', '"public"."sp_nopk"/"1"/"x"'], ['insert', '"public"."sp_nopk"/"1"/"y"'], ['insert', '"public"."sp_nopk"/"2"/"z"'],
  ])
  assert.deepEqual(m[0].value, { a: '1', b: 'x' })
})

test('§8.13: columns: an update of an unselected column keeps the request held', async () => {
  await freshTable('sp_cols', 'id int primary key, value1 text, value2 text')
  await sql(`insert into sp_cols values (1, 'a', 'b')`)
  const qs = 'table=sp_cols&columns=id,value1'
  const { handle, offset } = await syncTo(qs)
  const t0 = Date.now()
  const pending = get(`${qs}&offset=${offset}&handle=${handle}&live=true`)
  await sleep(100)
  await sql(`update sp_cols set value2 = 'B'`)
  const r = await pending
  assert.ok(Date.now() - t0 >= LONG_POLL_MS - 100, 'held until the timeout')
  assert.equal(r.headers.get('electric-has-data'), 'false')
  const m = await liveAfter(qs, () => sql(`update sp_cols set value1 = 'A'`))
  assert.deepEqual(m[0].value, { id: '1', value1: 'A' })
})

test('§8.14: where: one transaction moves a row in and another out', async () => {
  await freshTable('sp_move', 'id int primary key, num int')
  await sql(`insert into sp_move values (1, 1), (2, 10), (3, 10)`)
  const qs = 'table=sp_move&where=num%20%3E%205'
  const { handle, offset } = await syncTo(qs)
  const pending = get(`${qs}&offset=${offset}&handle=${handle}&live=true`)
  await sleep(150)
  await sql(`begin; update sp_move set num = 6 where id = 1; update sp_move set num = 0 where id = 3; commit`)
  const r = await pending
  const m = r.body.filter((x) => x.key)
  assert.deepEqual(m.map((x) => [x.headers.operation, x.value]), [['insert', { id: '1', num: '6' }], ['delete', { id: '3' }]])
  assert.equal(m[1].headers.op_position - m[0].headers.op_position, 2)
  assert.equal(m[1].headers.last, true)
  assert.equal(r.headers.get('electric-offset'), `${m[1].headers.lsn}_${m[1].headers.op_position}`)
  assert.equal(r.body.at(-1).headers.control, 'up-to-date')
})

test('§8.15, 8.16: composite keys and / in key values', async () => {
  await freshTable('sp_keys', 'first text, second text, third text, primary key (first, second, third)')
  await sql(`insert into sp_keys values ('a', 'b', 'c'), ('test/test', 'x', 'y')`)
  const r = await get('table=sp_keys&offset=-1')
  const keys = r.body.filter((m) => m.key).map((m) => m.key).sort()
  assert.deepEqual(keys, ['"public"."sp_keys"/"a"/"b"/"c"', '"public"."sp_keys"/"test//test"/"x"/"y"'])
})

test('§8.17, 8.18: handle mismatches answer 409 with the right handle', async () => {
  await freshTable('sp_409')
  const a = await get('table=sp_409&offset=-1')
  const h = a.headers.get('electric-handle')
  const r = await get(`table=sp_409&offset=0_0&handle=${h}&where=num%20%3E%201`)
  assert.equal(r.status, 409)
  assert.deepEqual(r.body, [{ headers: { control: 'must-refetch' } }])
  assert.ok(r.headers.get('electric-handle'))
  assert.notEqual(r.headers.get('electric-handle'), h)
  assert.equal(r.headers.get('cache-control'), 'public, max-age=60, must-revalidate')
  const n = await get('table=sp_409&offset=0_0&handle=nonexistent')
  assert.equal(n.status, 409)
  assert.equal(n.headers.get('electric-handle'), h)
})

test('§8.19: TRUNCATE while a live request is held', async () => {
  await freshTable('sp_trunc')
  await sql(`insert into sp_trunc values (1, 'a', 1, true)`)
  const { handle, offset } = await syncTo('table=sp_trunc')
  const pending = get(`table=sp_trunc&offset=${offset}&handle=${handle}&live=true`)
  await sleep(150)
  await sql('truncate sp_trunc')
  const r = await pending
  assert.equal(r.status, 409)
  assert.deepEqual(r.body, [{ headers: { control: 'must-refetch' } }])
  const again = await get('table=sp_trunc&offset=-1')
  assert.notEqual(again.headers.get('electric-handle'), handle)
  assert.deepEqual(again.body.map((m) => m.headers.control), ['snapshot-end'])
  const m = await liveAfter('table=sp_trunc', () => sql(`insert into sp_trunc values (5, 'e', 5, false)`))
  assert.equal(m[0].value.id, '5')
})

test('§8.24, 8.25: every 400 with its message; 401 needs the secret', async () => {
  await freshTable('sp_bad', 'id int primary key, value text')
  const cases = [
    ['offset=-1', { table: ["can't be blank"] }],
    ['table=.x&offset=-1', { table: ['Invalid zero-length delimited identifier'] }],
    ['table=nonexistent&offset=-1', { table: ['Table "public"."nonexistent" does not exist. If the table name contains capitals or special characters you must quote it.'] }],
    ['table=sp_bad&offset=invalid', { offset: ['has invalid format'] }],
    ['table=sp_bad&offset=0_-1', { offset: ['has invalid format'] }],
    ['table=sp_bad&offset=10', { offset: ['has invalid format'] }],
    ['table=sp_bad&offset=1_2_3', { offset: ['has invalid format'] }],
    ['table=sp_bad&offset=0_0', { handle: ["can't be blank when offset != -1"] }],
    ['table=sp_bad&offset=-1&live=true', { live: ["can't be true when offset == -1"] }],
    ['table=sp_bad&offset=now&live=true', { live: ["can't be true when offset is 'now'"] }],
    ['table=sp_bad&offset=-1&live_sse=true', { live_sse: ["can't be true unless live is also true"] }],
    ['table=sp_bad&offset=-1&columns=value', { columns: ['The list of columns must include all primary key columns, missing: id'] }],
    ['table=sp_bad&offset=-1&columns=id,invalid', { columns: ['The following columns are not found on the table: invalid'] }],
    ['table=sp_bad&offset=-1&columns=,,,', { columns: ['Invalid zero-length delimited identifier'] }],
    ['table=sp_bad&offset=-1&where=1%20x%201', { where: ['At location 17: syntax error at or near "x"'] }],
    ['table=sp_bad&offset=-1&where=id%20%2B%201', { where: ['WHERE clause must return a boolean'] }],
    ['table=sp_bad&offset=-1&where=id%20%3D%20%241&params[a]=1', { params: ['Parameters can only use numbers as keys'] }],
    ['table=sp_bad&offset=-1&where=id%20%3D%20%241&params[2]=1', { params: ['Parameters must be numbered sequentially, starting from 1'] }],
  ]
  for (const [qs, errors] of cases) {
    const r = await get(qs)
    assert.equal(r.status, 400, qs)
    assert.deepEqual(r.body, { message: 'Invalid request', errors }, qs)
    assert.equal(r.headers.get('cache-control'), 'no-store', qs)
    assert.equal(r.headers.get('surrogate-control'), 'no-store', qs)
  }
  const p = await get('table=sp_bad&offset=-1&where=id%20%3D%20%242')
  assert.equal(p.status, 400)
  assert.match(p.body.errors.where[0], /parameter \$2 was not provided/)
  const secret = await startShapeServer('protocol-secret', { env: { ELECTRIC_SECRET: 's3cret' } })
  try {
    for (const path of ['/v1/shape', '/v1//shape']) {
      const r = await shapeGet(secret.base, 'table=sp_bad&offset=-1', { path })
      assert.equal(r.status, 401)
      assert.deepEqual(r.body, { message: 'Unauthorized - Invalid API secret' })
    }
    assert.equal((await shapeGet(secret.base, 'table=sp_bad&offset=-1&secret=s3cret')).status, 200)
    assert.equal((await shapeGet(secret.base, 'table=sp_bad&offset=-1&api_secret=s3cret')).status, 200)
    assert.equal((await shapeGet(secret.base, 'table=sp_bad&offset=-1&secret=nope')).status, 401)
  } finally {
    await secret.dispose()
  }
})

test('§8.26: an offset past the shape end is held, then 400 out of bounds', async () => {
  await freshTable('sp_oob')
  const { handle } = await syncTo('table=sp_oob')
  const t0 = Date.now()
  const r = await get(`table=sp_oob&offset=99999999999_0&handle=${handle}`)
  const held = Date.now() - t0
  assert.ok(held >= LONG_POLL_MS / 2 - 100, `held ${held}`)
  assert.equal(r.status, 400)
  assert.deepEqual(r.body, { message: 'Invalid request', errors: { offset: ['out of bounds for this shape'] } })
})

test('§8.27, 8.28, 8.30, 8.31: etag and 304, a stable first chunk, HEAD, OPTIONS', async () => {
  // the uncompressed representation throughout (node's fetch asks for gzip, and a chunk's gzip
  // appears once the background thread made it: another representation, another etag)
  const get = (qs, opts = {}) => shapeGet(server.base, qs, { ...opts, headers: { 'accept-encoding': 'identity', ...opts.headers } })
  await freshTable('sp_cache')
  await sql(`insert into sp_cache values (1, 'a', 1, true)`)
  const a = await get('table=sp_cache&offset=-1')
  const etag = a.headers.get('etag')
  const h = a.headers.get('electric-handle')
  assert.equal(etag, `"${h}:-1:0_0"`)
  await sql(`insert into sp_cache values (2, 'b', 2, true)`)
  await sleep(100)
  const b = await get('table=sp_cache&offset=-1')
  assert.equal(b.headers.get('etag'), etag, 'the first chunk does not change')
  const nm = await get('table=sp_cache&offset=-1', { headers: { 'if-none-match': etag } })
  assert.equal(nm.status, 304)
  assert.equal(nm.text, '')
  assert.equal(nm.headers.get('cache-control'), INITIAL_CC)
  assert.equal(nm.headers.get('electric-handle'), h)
  const c = await get(`table=sp_cache&offset=0_0&handle=${h}`)
  const nm2 = await get(`table=sp_cache&offset=0_0&handle=${h}`, { headers: { 'if-none-match': c.headers.get('etag') } })
  assert.equal(nm2.status, 304)
  assert.equal(nm2.headers.get('cache-control'), 'public, max-age=60, stale-while-revalidate=300')
  const head = await get('table=sp_cache&offset=-1', { method: 'HEAD' })
  assert.equal(head.status, 200)
  assert.equal(head.text, '')
  for (const k of ['electric-handle', 'electric-offset', 'electric-schema', 'etag', 'cache-control'])
    assert.equal(head.headers.get(k), a.headers.get(k), k)
  const opt = await fetch(`${server.base}/v1/shape?table=sp_cache&offset=-1`, {
    method: 'OPTIONS', headers: { origin: 'http://x.test', 'access-control-request-method': 'GET', 'access-control-request-headers': 'if-none-match, authorization' },
  })
  assert.equal(opt.status, 204)
  assert.equal(opt.headers.get('access-control-allow-headers'), 'if-none-match')
  assert.equal(opt.headers.get('access-control-max-age'), '86400')
  assert.equal(opt.headers.get('access-control-allow-origin'), 'http://x.test')
})

test('§8.29: snapshot and log chunks at the chunk size', async () => {
  const small = await startShapeServer('protocol-chunks', { env: { ESYNC_CHUNK_BYTES: '2048' } })
  try {
    await freshTable('sp_chunks')
    await sql(`insert into sp_chunks select g, repeat('x', 100), g, true from generate_series(1, 60) g`)
    const g = (qs) => shapeGet(small.base, qs)
    let r = await g('table=sp_chunks&offset=-1')
    const h = r.headers.get('electric-handle')
    let rows = r.body.filter((m) => m.key).length
    let chunks = 1
    let offset = r.headers.get('electric-offset')
    for (;;) {
      r = await g(`table=sp_chunks&offset=${offset}&handle=${h}`)
      assert.equal(r.status, 200)
      offset = r.headers.get('electric-offset')
      if (r.headers.has('electric-up-to-date')) break
      assert.equal(offset, `0_${chunks}`)
      rows += r.body.filter((m) => m.key).length
      chunks++
    }
    assert.equal(rows, 60)
    assert.ok(chunks > 2, `${chunks} chunks`)
    // a large transaction: the log is served chunk by chunk, up-to-date only at the end
    await sql(`update sp_chunks set title = repeat('y', 100)`)
    await sleep(300)
    let updates = 0
    let responses = 0
    for (;;) {
      r = await g(`table=sp_chunks&offset=${offset}&handle=${h}`)
      responses++
      updates += r.body.filter((m) => m.key).length
      offset = r.headers.get('electric-offset')
      if (r.headers.has('electric-up-to-date')) break
      assert.ok(!r.body.some((m) => m.headers.control === 'up-to-date'))
    }
    assert.equal(updates, 60)
    assert.ok(responses > 2)
  } finally {
    await small.dispose()
  }
})
