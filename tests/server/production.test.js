// Safe by default: the server started as a user would in production (no ESYNC_DEV). The raw shape
// API is not served without a secret (404) and requires it when set (401); the proxy keeps
// working; a server facing a network without a secret refuses to start unless ELECTRIC_INSECURE
// is set on purpose; the names people already use (POSTGRES_URL, ELECTRIC_LOG_LEVEL) and the log
// settings; the health routes, with Postgres up and down and with the shape service disabled.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  api, clusterUrl, dropShapeStore, expectError, pg_sh, prepareDatabase, query, raw, sleep, startServer, testShapesDir,
} from './helpers.js'

const SECRET = 'prod-Secret-9f2c41d7e8'
const SHAPE = '/v1/shape?table=test_items&offset=-1'

// A production server with a shapes directory of its own; dispose() also drops its slot.
async function prodServer(role, env = {}, opts = {}) {
  const dir = testShapesDir(role)
  await dropShapeStore(dir)
  const s = await startServer({ dev: false, env: { ESYNC_SHAPES_DIR: dir, ESYNC_LONG_POLL_MS: '1000', ...env }, ...opts })
  s.dispose = async () => {
    await s.stop()
    await dropShapeStore(dir)
  }
  return s
}

const get = async (s, p, headers = {}) => {
  const r = await fetch(s.base + p, { headers })
  const text = await r.text()
  let data = null
  try { data = JSON.parse(text) } catch {}
  return { status: r.status, headers: r.headers, text, data }
}

before(async () => {
  await prepareDatabase()
  await query('delete from test_items')
  await query("insert into test_items (id, title) values (gen_random_uuid(), 'prod one'), (gen_random_uuid(), 'prod two')")
})
after(() => pg_sh('start'))

describe('production without a secret', () => {
  let s
  before(async () => { s = await prodServer('prod-nosecret') })
  after(async () => { await s?.dispose() })

  test('the raw shape API is not served on the app port: 404 for every method and spelling', async () => {
    for (const p of [SHAPE, '/v1/shape/?table=test_items&offset=-1', '/v1//shape?table=test_items&offset=-1',
      '/v1/%73hape?table=test_items&offset=-1', `${SHAPE}&secret=anything`]) {
      const r = await api(s, 'GET', p)
      expectError(r, 404, 'not_found')
      assert.equal(r.headers.get('access-control-allow-origin'), null, 'no CORS for a route that is not there')
    }
    for (const m of ['HEAD', 'OPTIONS', 'POST', 'DELETE']) {
      const r = await fetch(s.base + SHAPE, { method: m })
      assert.equal(r.status, 404, m)
    }
    assert.match(s.log(), /\/v1\/shape not served \(no ELECTRIC_SECRET\)/)
  })

  test('the proxy keeps serving the allow-listed table', async () => {
    const r = await get(s, `/api/electric${SHAPE}`)
    assert.equal(r.status, 200, r.text)
    const titles = r.data.filter((m) => m.value).map((m) => m.value.title).sort()
    assert.deepEqual(titles, ['prod one', 'prod two'])
    const other = await get(s, '/api/electric/v1/shape?table=pg_authid&offset=-1')
    assert.equal(other.status, 403)
  })

  test('GET /v1/health: Electric\'s body, never cached', async () => {
    const r = await get(s, '/v1/health')
    assert.equal(r.status, 200)
    assert.deepEqual(r.data, { status: 'active' })
    assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8')
    assert.equal(r.headers.get('cache-control'), 'no-cache, no-store, must-revalidate')
    const h = await fetch(s.base + '/v1/health', { method: 'HEAD' })
    assert.equal(h.status, 200)
    assert.equal((await h.text()), '')
    expectError(await api(s, 'POST', '/v1/health'), 405, 'method_not_allowed')
  })

  test('GET /api/health: database, replication slot, shapes', async () => {
    // the proxy test above made one shape: replication streams from its slot
    let r
    for (let i = 0; i < 50; i++) {
      r = await get(s, '/api/health')
      if (r.data?.replication?.state === 'streaming') break
      await sleep(100)
    }
    assert.equal(r.status, 200, r.text)
    assert.equal(r.headers.get('cache-control'), 'no-cache, no-store, must-revalidate')
    assert.deepEqual(Object.keys(r.data).sort(), ['database', 'replication', 'shapes', 'status'])
    assert.equal(r.data.status, 'ok')
    assert.equal(r.data.database, 'reachable')
    assert.equal(r.data.shapes, 1)
    const { state, slot, slot_exists: exists, slot_active: active, wal_status: wal } = r.data.replication
    assert.equal(state, 'streaming')
    assert.match(slot, /^esync_electric_sync_test_[0-9a-f]{8}$/)
    assert.equal(exists, true)
    assert.equal(active, true)
    assert.equal(wal, 'reserved')
    const pgSlot = await query('select active from pg_replication_slots where slot_name = $1', [slot])
    assert.deepEqual(pgSlot.rows, [{ active: true }])
  })

  test('Postgres stopped: /api/health 503 and /v1/health 202 starting, then healthy again', async () => {
    pg_sh('stop')
    try {
      const a = await get(s, '/api/health')
      assert.equal(a.status, 503, a.text)
      assert.equal(a.data.status, 'unavailable')
      assert.equal(a.data.database, 'unreachable')
      assert.equal(a.data.replication.slot_exists, null)
      const e = await get(s, '/v1/health')
      assert.equal(e.status, 202)
      assert.deepEqual(e.data, { status: 'starting' })
    } finally {
      pg_sh('start')
    }
    let a
    for (let i = 0; i < 100; i++) {
      a = await get(s, '/api/health')
      if (a.status === 200) break
      await sleep(100)
    }
    assert.equal(a.status, 200, a.text)
    assert.equal(a.data.replication.state, 'streaming')
    assert.deepEqual((await get(s, '/v1/health')).data, { status: 'active' })
  })

  test('a second server on the same shapes directory: /v1/health 202 waiting, /api/health 503', async () => {
    const t = await startServer({ dev: false, env: { ESYNC_SHAPES_DIR: testShapesDir('prod-nosecret') } })
    try {
      const e = await get(t, '/v1/health')
      assert.equal(e.status, 202)
      assert.deepEqual(e.data, { status: 'waiting' })
      const a = await get(t, '/api/health')
      assert.equal(a.status, 503)
      assert.equal(a.data.database, 'reachable')
      assert.deepEqual(a.data.replication, { state: 'disabled', slot: null, slot_exists: null, slot_active: null, wal_status: null })
    } finally {
      await t.stop()
    }
  })
})

describe('production with ELECTRIC_SECRET', () => {
  let s
  before(async () => { s = await prodServer('prod-secret', { ELECTRIC_SECRET: SECRET }) })
  after(async () => { await s?.dispose() })

  test('/v1/shape: 401 without the right secret, 200 with it (secret or api_secret)', async () => {
    for (const extra of ['', '&secret=', '&secret=wrong', `&secret=${SECRET.slice(0, -1)}`, `&secret=${SECRET}x`,
      `&secret=${SECRET.toUpperCase()}`, `&api_secret=${SECRET}x`, `&Secret=${SECRET}`, `&secret[]=${SECRET}`,
      `&secret=${SECRET}%00`, `&secret=%20${SECRET}`]) {
      const r = await get(s, SHAPE + extra)
      assert.equal(r.status, 401, extra)
      assert.deepEqual(r.data, { message: 'Unauthorized - Invalid API secret' })
    }
    for (const extra of [`&secret=${SECRET}`, `&api_secret=${SECRET}`]) {
      const r = await get(s, SHAPE + extra)
      assert.equal(r.status, 200, extra)
    }
    // OPTIONS needs no secret (Electric's preflight)
    assert.equal((await fetch(s.base + SHAPE, { method: 'OPTIONS' })).status, 204)
    assert.match(s.log(), /\/v1\/shape requires the secret/)
  })

  test('the proxy adds the secret itself; /v1/health needs none', async () => {
    assert.equal((await get(s, `/api/electric${SHAPE}`)).status, 200)
    assert.equal((await get(s, '/v1/health')).status, 200)
    assert.equal((await get(s, '/api/health')).status, 200)
  })
})

describe('ELECTRIC_INSECURE=true', () => {
  test('outside dev mode, without a secret, /v1/shape is open on purpose (and said so)', async () => {
    const s = await prodServer('prod-insecure', { ELECTRIC_INSECURE: 'true' })
    try {
      assert.equal((await get(s, SHAPE)).status, 200)
      assert.match(s.log(), /warning: ELECTRIC_INSECURE=true: anyone who reaches this port reads any table/)
    } finally {
      await s.dispose()
    }
  })
})

describe('refusing to face a network without a secret', () => {
  const REFUSAL = /refusing to start: HOST=(\S+) is not a loopback address and ELECTRIC_SECRET is not set; set ELECTRIC_SECRET, or ELECTRIC_INSECURE=true to serve the shape API without a secret on purpose/

  test('HOST 0.0.0.0 or :: without a secret: exit 2, one line, in dev mode too', async () => {
    for (const [host, dev] of [['0.0.0.0', false], ['::', false], ['192.0.2.1', false], ['0.0.0.0', true],
      ['::ffff:10.0.0.1', false]]) {
      const s = await startServer({ dev, env: { HOST: host } })
      assert.deepEqual(s.result, { code: 2, signal: null }, s.log())
      const lines = s.log().trim().split('\n')
      assert.equal(lines.length, 1, s.log())
      assert.match(lines[0], REFUSAL)
      assert.equal(lines[0].match(REFUSAL)[1], host)
    }
  })

  test('loopback hosts start without a secret', async () => {
    for (const host of ['127.0.0.1', '127.0.0.2']) {
      const s = await startServer({ dev: false, env: { HOST: host } })
      assert.equal(s.result, undefined, s.log())
      await s.stop()
    }
  })

  test('a secret, or ELECTRIC_INSECURE=true, lets it face the network', async () => {
    for (const env of [{ ELECTRIC_SECRET: SECRET }, { ELECTRIC_INSECURE: 'true' }, { ELECTRIC_INSECURE: 'TRUE' }]) {
      const s = await startServer({ dev: false, env: { HOST: '0.0.0.0', ...env } })
      assert.equal(s.result, undefined, s.log())
      assert.equal((await get(s, '/api/health')).status, 200)
      await s.stop()
    }
  })

  test('ELECTRIC_INSECURE=false is the default: still refused', async () => {
    const s = await startServer({ dev: false, env: { HOST: '0.0.0.0', ELECTRIC_INSECURE: 'false' } })
    assert.equal(s.result?.code, 2)
    assert.match(s.log(), REFUSAL)
  })
})

describe('settings', () => {
  test('POSTGRES_URL when DATABASE_URL is not set; DATABASE_URL wins when both are', async () => {
    const a = await startServer({ dev: false, env: { DATABASE_URL: undefined, POSTGRES_URL: clusterUrl() } })
    assert.equal(a.result, undefined, a.log())
    assert.equal((await api(a, 'GET', '/api/schema/version')).status, 200)
    await a.stop()
    const b = await startServer({ dev: false, env: { POSTGRES_URL: 'postgresql://nobody:pw@127.0.0.1:1/none' } })
    assert.equal(b.result, undefined, b.log())
    assert.equal((await api(b, 'GET', '/api/schema/version')).status, 200)
    await b.stop()
    const c = await startServer({ dev: false, env: { DATABASE_URL: '', POSTGRES_URL: '' } })
    assert.equal(c.result?.code, 2)
    assert.match(c.log(), /DATABASE_URL is not set, nor POSTGRES_URL/)
  })

  test('malformed values stop the start naming the variable (exit 2)', async () => {
    for (const [env, re] of [
      [{ ESYNC_LOG_LEVEL: 'verbose' }, /ESYNC_LOG_LEVEL='verbose' must be one of error, warn, info, debug/],
      [{ ELECTRIC_LOG_LEVEL: 'loud' }, /ELECTRIC_LOG_LEVEL='loud' must be one of error, warn, info, debug/],
      [{ ESYNC_LOG_FORMAT: 'xml' }, /ESYNC_LOG_FORMAT='xml' must be text or json/],
      [{ ELECTRIC_INSECURE: 'yes' }, /ELECTRIC_INSECURE='yes' must be true or false/],
      [{ ELECTRIC_INSECURE: '1' }, /ELECTRIC_INSECURE='1' must be true or false/],
    ]) {
      const s = await startServer({ dev: false, env })
      assert.equal(s.result?.code, 2, `${JSON.stringify(env)}: ${s.log()}`)
      assert.match(s.log(), re)
    }
  })

  test('ESYNC_LOG_FORMAT=json: every line is a JSON object (events and the access log)', async () => {
    const s = await startServer({ dev: false, env: { ESYNC_LOG_FORMAT: 'json' } })
    await api(s, 'GET', '/api/schema/version')
    await api(s, 'GET', '/api/nope/"quoted"\x7f')
    await raw(s, Buffer.from('GET /a%01b\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'latin1'))
    await s.stop()
    const lines = s.log().trim().split('\n')
    assert.ok(lines.length >= 5, s.log())
    const events = lines.map((l) => JSON.parse(l))
    for (const e of events) {
      assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      assert.ok(['error', 'warn', 'info', 'debug'].includes(e.level), JSON.stringify(e))
      assert.equal(typeof e.msg, 'string')
    }
    assert.ok(events.some((e) => e.level === 'info' && e.msg.startsWith('listening on http://127.0.0.1:')))
    const access = events.filter((e) => e.msg === 'request')
    const v = access.find((e) => e.path === '/api/schema/version')
    assert.deepEqual(Object.keys(v).sort(), ['bytes', 'client', 'level', 'method', 'ms', 'msg', 'path', 'status', 'time'])
    assert.equal(v.method, 'GET')
    assert.equal(v.status, 200)
    assert.equal(v.client, '127.0.0.1')
    assert.ok(access.some((e) => e.path === '/api/nope/"quoted"\x7f' && e.status === 404))
    assert.ok(events.some((e) => e.msg === 'stopped'))
  })

  test('ESYNC_LOG_LEVEL=warn drops info (the access log too); ELECTRIC_LOG_LEVEL when ESYNC_LOG_LEVEL is unset', async () => {
    for (const env of [{ ESYNC_LOG_LEVEL: 'warn' }, { ELECTRIC_LOG_LEVEL: 'error' }, { ELECTRIC_LOG_LEVEL: 'WARNING' },
      { ESYNC_LOG_LEVEL: 'warn', ELECTRIC_LOG_LEVEL: 'debug' }]) {
      const s = await startServer({ dev: false, env, readyByHttp: true })
      assert.equal(s.result, undefined, s.log())
      await api(s, 'GET', '/api/schema/version')
      await s.stop()
      assert.equal(s.log(), '', `${JSON.stringify(env)}: nothing at info`)
    }
    const d = await startServer({ dev: false, env: { ESYNC_LOG_LEVEL: 'debug', ELECTRIC_LOG_LEVEL: 'error' } })
    assert.equal(d.result, undefined, d.log())
    await d.stop()
    assert.match(d.log(), /listening on/)
  })
})

