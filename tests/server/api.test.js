// Every route of docs/contracts.md and its errors, against the real server and the private cluster.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { api, dropShapeStore, expectError, prepareDatabase, query, startServer, testShapesDir, UUID_RE } from './helpers.js'

let dev, prod
before(async () => {
  await prepareDatabase()
  dev = await startServer({ dev: true })
  prod = await startServer({ dev: false })
  const r = await api(dev, 'POST', '/api/dev/reset')
  assert.equal(r.status, 200, r.text)
})
after(async () => {
  await dev?.stop()
  await prod?.stop()
})

const count = async () => Number((await query('select count(*) from test_items')).rows[0].count)
const ROW_KEYS = ['completed', 'created_at', 'description', 'id', 'title', 'updated_at']
// A write's body: the row and "txid", the writing transaction's id (a decimal string).
const WRITE_KEYS = [...ROW_KEYS, 'txid'].sort()
const TXID_RE = /^[1-9][0-9]*$/
// The transaction that last wrote a row is its xmin: what "txid" must name for an insert/update.
const xmin = async (id) => (await query('select xmin::text as x from test_items where id = $1', [id])).rows[0]?.x

describe('GET /api/schema/version', () => {
  test('version, hash and tables from the applied migrations', async () => {
    const r = await api(dev, 'GET', '/api/schema/version')
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('content-type'), 'application/json')
    assert.deepEqual(Object.keys(r.data).sort(), ['hash', 'tables', 'version'])
    assert.equal(r.data.version, '0000_test_items')
    assert.match(r.data.hash, /^[0-9a-f]{64}$/)
    assert.deepEqual(r.data.tables, ['test_items'])
    const p = await api(prod, 'GET', '/api/schema/version')
    assert.deepEqual(p.data, r.data, 'not a dev-only route')
  })
  test('HEAD answers without a body', async () => {
    const r = await api(dev, 'HEAD', '/api/schema/version')
    assert.equal(r.status, 200)
    assert.equal(r.text, '')
  })
  test('other methods: 405 with Allow', async () => {
    const r = await api(dev, 'POST', '/api/schema/version', { json: {} })
    expectError(r, 405, 'method_not_allowed')
    assert.equal(r.headers.get('allow'), 'GET, HEAD')
  })
})

describe('POST /api/test-items', () => {
  test('creates a row with a generated id and defaults', async () => {
    const before = await count()
    const r = await api(dev, 'POST', '/api/test-items', { json: { title: 'first' } })
    assert.equal(r.status, 201, r.text)
    assert.deepEqual(Object.keys(r.data).sort(), WRITE_KEYS)
    assert.equal(Object.keys(r.data).at(-1), 'txid', 'the row first, in column order, then txid')
    assert.match(r.data.txid, TXID_RE)
    assert.equal(r.data.txid, await xmin(r.data.id))
    assert.match(r.data.id, UUID_RE)
    assert.equal(r.data.title, 'first')
    assert.equal(r.data.description, null)
    assert.equal(r.data.completed, false)
    assert.equal(r.data.created_at, r.data.updated_at)
    assert.ok(!Number.isNaN(Date.parse(r.data.created_at + 'Z')))
    assert.equal(await count(), before + 1)
    const db = await query('select title, description, completed from test_items where id = $1', [r.data.id])
    assert.deepEqual(db.rows[0], { title: 'first', description: null, completed: false })
  })
  test('takes a client id, description and completed', async () => {
    const id = crypto.randomUUID()
    const r = await api(prod, 'POST', '/api/test-items', {
      json: { id, title: 'second', description: 'two', completed: true },
    })
    assert.equal(r.status, 201, r.text)
    assert.equal(r.data.id, id)
    assert.equal(r.data.description, 'two')
    assert.equal(r.data.completed, true)
  })
  test('upper-case uuid is accepted and stored canonically', async () => {
    const id = crypto.randomUUID()
    const r = await api(dev, 'POST', '/api/test-items', { json: { id: id.toUpperCase(), title: 'x' } })
    assert.equal(r.status, 201)
    assert.equal(r.data.id, id)
  })
  test('charset=utf-8 parameter is fine', async () => {
    const r = await api(dev, 'POST', '/api/test-items', {
      json: { title: 'x' }, headers: { 'content-type': 'application/json; charset=UTF-8' },
    })
    assert.equal(r.status, 201)
  })
  test('409 duplicate id', async () => {
    const id = crypto.randomUUID()
    assert.equal((await api(dev, 'POST', '/api/test-items', { json: { id, title: 'a' } })).status, 201)
    const r = await api(dev, 'POST', '/api/test-items', { json: { id, title: 'b' } })
    expectError(r, 409, 'duplicate_id')
    const db = await query('select title from test_items where id = $1', [id])
    assert.equal(db.rows[0].title, 'a')
  })
  const bad = [
    ['missing title', { description: 'x' }, 'invalid_body'],
    ['empty title', { title: '' }, 'invalid_body'],
    ['null title', { title: null }, 'invalid_body'],
    ['numeric title', { title: 5 }, 'invalid_body'],
    ['object title', { title: { a: 1 } }, 'invalid_body'],
    ['bad uuid', { id: 'not-a-uuid', title: 'x' }, 'invalid_id'],
    ['uuid without hyphens', { id: '0b7e3a0c7d8e4a559a6e2f4f5a1b2c3d', title: 'x' }, 'invalid_id'],
    ['numeric id', { id: 7, title: 'x' }, 'invalid_id'],
    ['completed as string', { title: 'x', completed: 'true' }, 'invalid_body'],
    ['completed as number', { title: 'x', completed: 1 }, 'invalid_body'],
    ['description as number', { title: 'x', description: 1 }, 'invalid_body'],
    ['unknown field', { title: 'x', owner: 'me' }, 'invalid_body'],
    ['camelCase field', { title: 'x', createdAt: '2020-01-01' }, 'invalid_body'],
    ['array body', [{ title: 'x' }], 'invalid_body'],
    ['string body', 'title', 'invalid_body'],
    ['null body', null, 'invalid_body'],
  ]
  for (const [name, json, code] of bad) {
    test(`400 ${name}`, async () => {
      const before = await count()
      const r = await api(dev, 'POST', '/api/test-items', { json })
      expectError(r, 400, code)
      assert.equal(await count(), before)
    })
  }
  test('400 invalid JSON, empty body, trailing data, duplicate keys', async () => {
    for (const body of ['{"title":', '', '{"title":"x"} {}', '{"title":"a","title":"b"}', "{'title':'x'}", '{"title":"x",}']) {
      const r = await api(dev, 'POST', '/api/test-items', { body, headers: { 'content-type': 'application/json' } })
      expectError(r, 400)
      assert.ok(['invalid_json', 'invalid_body'].includes(r.data.error.code), body)
    }
  })
  test('415 without or with another content type', async () => {
    for (const headers of [{}, { 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' },
      { 'content-type': 'application/json; charset=latin1' }, { 'content-type': 'application/jsonx' }]) {
      const r = await api(dev, 'POST', '/api/test-items', { body: '{"title":"x"}', headers })
      expectError(r, 415, 'unsupported_media_type')
    }
  })
  test('413 over 1 MiB, exactly at the limit is fine', async () => {
    const over = JSON.stringify({ title: 'x'.repeat(1024 * 1024) })
    expectError(await api(dev, 'POST', '/api/test-items', { body: over, headers: { 'content-type': 'application/json' } }), 413, 'payload_too_large')
    const pad = 1024 * 1024 - JSON.stringify({ title: '' }).length
    const exact = JSON.stringify({ title: 'y'.repeat(pad) })
    assert.equal(Buffer.byteLength(exact), 1024 * 1024)
    const r = await api(dev, 'POST', '/api/test-items', { body: exact, headers: { 'content-type': 'application/json' } })
    assert.equal(r.status, 201)
    assert.equal(r.data.title.length, pad)
  })
})

describe('PUT /api/test-items/:id', () => {
  test('updates any subset; updated_at advances, created_at stays', async () => {
    const c = (await api(dev, 'POST', '/api/test-items', { json: { title: 'old', description: 'd' } })).data
    let last = c
    const steps = [
      [{ title: 'new' }, { title: 'new', description: 'd', completed: false }],
      [{ completed: true }, { title: 'new', description: 'd', completed: true }],
      [{ description: null }, { title: 'new', description: null, completed: true }],
      [{ description: 'again', completed: false, title: 't' }, { title: 't', description: 'again', completed: false }],
      [{}, { title: 't', description: 'again', completed: false }],
    ]
    for (const [json, want] of steps) {
      const r = await api(dev, 'PUT', `/api/test-items/${c.id}`, { json })
      assert.equal(r.status, 200, r.text)
      assert.deepEqual(Object.keys(r.data).sort(), WRITE_KEYS)
      assert.match(r.data.txid, TXID_RE)
      assert.equal(r.data.txid, await xmin(c.id))
      assert.notEqual(r.data.txid, last.txid, 'each write is its own transaction')
      const { title, description, completed } = r.data
      assert.deepEqual({ title, description, completed }, want)
      assert.equal(r.data.created_at, c.created_at)
      assert.ok(r.data.updated_at > last.updated_at, `${r.data.updated_at} > ${last.updated_at}`)
      last = r.data
    }
    const db = await query('select title, description, completed from test_items where id = $1', [c.id])
    assert.deepEqual(db.rows[0], { title: 't', description: 'again', completed: false })
  })
  test('404 no such id', async () => {
    expectError(await api(dev, 'PUT', `/api/test-items/${crypto.randomUUID()}`, { json: { title: 'x' } }), 404, 'not_found')
  })
  test('400 bad uuid, bad body, id in body, unknown field, empty title; 415; 405 on the collection', async () => {
    const id = (await api(dev, 'POST', '/api/test-items', { json: { title: 'keep' } })).data.id
    expectError(await api(dev, 'PUT', '/api/test-items/123', { json: { title: 'x' } }), 400, 'invalid_id')
    expectError(await api(dev, 'PUT', `/api/test-items/${id}`, { json: { title: '' } }), 400, 'invalid_body')
    expectError(await api(dev, 'PUT', `/api/test-items/${id}`, { json: { title: null } }), 400, 'invalid_body')
    expectError(await api(dev, 'PUT', `/api/test-items/${id}`, { json: { id } }), 400, 'invalid_body')
    expectError(await api(dev, 'PUT', `/api/test-items/${id}`, { json: { done: true } }), 400, 'invalid_body')
    expectError(await api(dev, 'PUT', `/api/test-items/${id}`, { json: { completed: 'yes' } }), 400, 'invalid_body')
    expectError(await api(dev, 'PUT', `/api/test-items/${id}`, { body: 'nope', headers: { 'content-type': 'application/json' } }), 400, 'invalid_json')
    expectError(await api(dev, 'PUT', `/api/test-items/${id}`, { body: '{"title":"x"}', headers: { 'content-type': 'text/plain' } }), 415)
    expectError(await api(dev, 'PUT', '/api/test-items', { json: { title: 'x' } }), 405, 'method_not_allowed')
    const db = await query('select title from test_items where id = $1', [id])
    assert.equal(db.rows[0].title, 'keep')
  })
})

describe('DELETE /api/test-items/:id', () => {
  test('200 {id, txid}, then 404', async () => {
    const made = (await api(dev, 'POST', '/api/test-items', { json: { title: 'bye' } })).data
    const id = made.id
    const r = await api(dev, 'DELETE', `/api/test-items/${id}`)
    assert.equal(r.status, 200, r.text)
    assert.equal(r.headers.get('content-type'), 'application/json')
    assert.deepEqual(Object.keys(r.data), ['id', 'txid'])
    assert.equal(r.data.id, id)
    assert.match(r.data.txid, TXID_RE)
    assert.ok(BigInt(r.data.txid) > BigInt(made.txid), 'a later transaction than the insert')
    assert.equal((await query('select 1 from test_items where id = $1', [id])).rowCount, 0)
    expectError(await api(dev, 'DELETE', `/api/test-items/${id}`), 404, 'not_found')
  })
  test('an upper-case id in the path answers the canonical id', async () => {
    const id = (await api(dev, 'POST', '/api/test-items', { json: { title: 'bye' } })).data.id
    const r = await api(prod, 'DELETE', `/api/test-items/${id.toUpperCase()}`)
    assert.equal(r.status, 200, r.text)
    assert.equal(r.data.id, id)
  })
  test('400 bad uuid', async () => {
    expectError(await api(dev, 'DELETE', '/api/test-items/abc'), 400, 'invalid_id')
    expectError(await api(dev, 'DELETE', '/api/test-items/0b7e3a0c-7d8e-4a55-9a6e-2f4f5a1b2c3'), 400, 'invalid_id')
  })
  test('404 for a deeper path', async () => {
    expectError(await api(dev, 'DELETE', `/api/test-items/${crypto.randomUUID()}/x`), 404, 'not_found')
  })
})

// The txid a write returns is the one the shape service puts in that change's headers.txids: what
// a client waits for (read-your-writes). A server of its own, with its own shapes directory, so
// the slot and publication it creates are dropped at the end.
describe('txid and the shape service', () => {
  const dir = testShapesDir('api-txid')
  let s
  before(async () => {
    fs.rmSync(dir, { recursive: true, force: true })
    s = await startServer({ dev: true, env: { ESYNC_SHAPES_DIR: dir, ESYNC_LONG_POLL_MS: '1000' } })
    assert.equal(s.result, undefined, s.log())
  })
  after(async () => {
    await s?.stop()
    await dropShapeStore(dir)
  })

  // One /v1/shape request: the messages and the next offset/handle.
  async function shape(qs) {
    const res = await fetch(`${s.base}/v1/shape?table=test_items&${qs}`)
    const body = await res.json()
    assert.equal(res.status, 200, JSON.stringify(body))
    return {
      body,
      handle: res.headers.get('electric-handle'),
      offset: res.headers.get('electric-offset'),
      upToDate: res.headers.has('electric-up-to-date'),
    }
  }

  test('POST, PUT and DELETE: "txid" is in headers.txids of the change, through a live request', async () => {
    // Catch up to the live edge first.
    let r = await shape('offset=-1')
    let { handle, offset } = r
    while (!r.upToDate) {
      r = await shape(`offset=${offset}&handle=${handle}`)
      offset = r.offset
    }
    const made = (await api(prod, 'POST', '/api/test-items', { json: { title: 'txid probe' } })).data
    const put = (await api(prod, 'PUT', `/api/test-items/${made.id}`, { json: { completed: true } })).data
    const del = (await api(prod, 'DELETE', `/api/test-items/${made.id}`)).data
    const want = { insert: made.txid, update: put.txid, delete: del.txid }
    assert.equal(new Set(Object.values(want)).size, 3, JSON.stringify(want))
    const seen = {}
    const deadline = Date.now() + 10000
    while (Object.keys(seen).length < 3 && Date.now() < deadline) {
      r = await shape(`offset=${offset}&handle=${handle}&live=true`)
      offset = r.offset
      for (const m of r.body) {
        if (!m.key || !m.key.includes(made.id)) continue
        assert.ok(Array.isArray(m.headers.txids), JSON.stringify(m))
        seen[m.headers.operation] = m.headers.txids.map(String)
      }
    }
    for (const op of ['insert', 'update', 'delete']) {
      assert.ok(seen[op], `${op} seen on the shape: ${JSON.stringify(seen)}`)
      assert.deepEqual(seen[op], [want[op]], `${op}: the REST txid is the change's headers.txids`)
    }
  })
})

describe('dev routes', () => {
  test('POST /api/dev/seed: default 10, a count, and the bounds', async () => {
    const before = await count()
    let r = await api(dev, 'POST', '/api/dev/seed')
    assert.equal(r.status, 200, r.text)
    assert.deepEqual(r.data, { inserted: 10 })
    r = await api(dev, 'POST', '/api/dev/seed', { json: { count: 3 } })
    assert.deepEqual(r.data, { inserted: 3 })
    r = await api(dev, 'POST', '/api/dev/seed', { json: {} })
    assert.deepEqual(r.data, { inserted: 10 })
    assert.equal(await count(), before + 23)
    for (const c of [0, -1, 10001, 1.5, '5', null, true, 1e400]) {
      const body = c === 1e400 ? '{"count":1e400}' : JSON.stringify({ count: c })
      expectError(await api(dev, 'POST', '/api/dev/seed', { body, headers: { 'content-type': 'application/json' } }), 400, 'invalid_body')
    }
    expectError(await api(dev, 'POST', '/api/dev/seed', { json: { count: 1, extra: 1 } }), 400, 'invalid_body')
    expectError(await api(dev, 'POST', '/api/dev/seed', { body: '{"count":1}', headers: { 'content-type': 'text/plain' } }), 415)
    assert.equal(await count(), before + 23)
    r = await api(dev, 'POST', '/api/dev/seed', { json: { count: 10000 } })
    assert.deepEqual(r.data, { inserted: 10000 })
  })
  test('POST /api/dev/reset: drops everything, migrates, reseeds', async () => {
    await query("create table public.stray (x int)")
    await api(dev, 'POST', '/api/test-items', { json: { title: 'gone after reset' } })
    const r = await api(dev, 'POST', '/api/dev/reset')
    assert.equal(r.status, 200, r.text)
    assert.equal(r.data.ok, true)
    assert.equal(r.data.version, '0000_test_items')
    assert.equal(r.data.inserted, 10)
    assert.equal(await count(), 10)
    assert.equal((await query("select to_regclass('public.stray') as t")).rows[0].t, null)
    const v = await api(dev, 'GET', '/api/schema/version')
    assert.deepEqual(v.data.tables, ['test_items'])
    const m = await query('select count(*)::int as n from drizzle.__drizzle_migrations')
    assert.equal(m.rows[0].n, 1)
  })
  test('404 without dev mode (route does not exist), and no side effect', async () => {
    const before = await count()
    for (const p of ['/api/dev/seed', '/api/dev/reset']) {
      expectError(await api(prod, 'POST', p), 404, 'not_found')
      expectError(await api(prod, 'POST', p, { json: { count: 1 } }), 404, 'not_found')
    }
    assert.equal(await count(), before)
  })
  test('GET on a dev route is 405 in dev mode', async () => {
    expectError(await api(dev, 'GET', '/api/dev/seed'), 405)
  })
})

test('unknown API paths are 404 with the envelope', async () => {
  for (const p of ['/api', '/api/', '/api/nope', '/api/test-items/', '/v1/nothing', '/api/schema/version/x']) {
    expectError(await api(dev, 'GET', p), 404, 'not_found')
  }
})

test('one access-log line per request', async () => {
  const marker = `/api/log-marker-${Date.now()}`
  await api(dev, 'GET', marker)
  await new Promise((r) => setTimeout(r, 50))
  const lines = dev.log().split('\n').filter((l) => l.includes(marker))
  assert.equal(lines.length, 1)
  assert.match(lines[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z 127\.0\.0\.1 "GET \/api\/log-marker-\d+" 404 \d+ [\d.]+ms$/)
})
