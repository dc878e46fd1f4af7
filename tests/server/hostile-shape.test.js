// Hostile input against the shape API in production mode: no table outside the allowed set
// (ESYNC_PROXY_TABLES, default test_items) is readable through any route, with any spelling of
// the table (quoting, schema prefix, case, %00, ..), of the path, or of the parameters (repeated
// keys, subqueries in where); and the secret never appears in a response, a log line or an error.
//
// Four production servers (no ESYNC_DEV) on the test database:
//   open     no secret: /v1/shape is not served, the proxy calls the service in-process
//   guarded  ELECTRIC_SECRET set: /v1/shape requires it; logs at debug
//   front    its proxy forwards to `guarded` (ELECTRIC_URL) with the secret; JSON logs at debug
//   broken   its proxy forwards to an unreachable upstream whose URL holds a password
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, test } from 'node:test'
import { dropShapeStore, freePort, prepareDatabase, query, raw, startServer, testShapesDir } from './helpers.js'

const SECRET = 'Sh4pe-secret-7a1e90c2b3'
const MARKER = 'TOPSECRET-MARKER'
const ROLES = ['hostile-open', 'hostile-guarded', 'hostile-front', 'hostile-broken']
let open, guarded, front, broken
const seen = [] // every response: the secret must be in none, nor the marker

async function prod(role, env) {
  const s = await startServer({
    dev: false,
    env: { ESYNC_SHAPES_DIR: testShapesDir(role), ESYNC_LONG_POLL_MS: '1000', ESYNC_LOG_LEVEL: 'debug', ...env },
  })
  assert.equal(s.result, undefined, s.log())
  return s
}

before(async () => {
  await prepareDatabase()
  for (const r of ROLES) await dropShapeStore(testShapesDir(r))
  await query('delete from test_items')
  await query("insert into test_items (id, title) values (gen_random_uuid(), 'visible one'), (gen_random_uuid(), 'visible two')")
  // Tables that must stay unreadable: another table, the same name in another schema, the same
  // name in another case.
  await query('drop table if exists public.secret_stuff; drop table if exists public."TEST_ITEMS"; drop schema if exists hidden cascade')
  await query('create table public.secret_stuff (id int primary key, v text)')
  await query('create table public."TEST_ITEMS" (id int primary key, v text)')
  await query('create schema hidden')
  await query('create table hidden.test_items (id int primary key, v text)')
  for (const t of ['public.secret_stuff', 'public."TEST_ITEMS"', 'hidden.test_items']) {
    await query(`insert into ${t} values (1, '${MARKER}')`)
  }
  open = await prod('hostile-open', {})
  guarded = await prod('hostile-guarded', { ELECTRIC_SECRET: SECRET })
  front = await prod('hostile-front', { ELECTRIC_SECRET: SECRET, ELECTRIC_URL: guarded.base, ESYNC_LOG_FORMAT: 'json' })
  broken = await prod('hostile-broken', {
    ELECTRIC_SECRET: SECRET, ELECTRIC_URL: `http://user:pw-in-url@127.0.0.1:${await freePort()}`,
  })
})

after(async () => {
  for (const s of [front, broken, open, guarded]) await s?.stop()
  for (const r of ROLES) await dropShapeStore(testShapesDir(r))
  await query('drop table if exists public.secret_stuff; drop table if exists public."TEST_ITEMS"; drop schema if exists hidden cascade')
})

// GET with a query string written by hand (so %00 and friends go out as written).
async function get(s, pathAndQuery) {
  const r = await fetch(s.base + pathAndQuery)
  const text = await r.text()
  const res = { status: r.status, headers: [...r.headers], text, url: pathAndQuery }
  seen.push(res)
  return res
}
const q = (v) => encodeURIComponent(v)

// Every spelling of a table the allow-list does not name.
const FORBIDDEN = [
  'secret_stuff', 'public.secret_stuff', '"secret_stuff"', '"public"."secret_stuff"', 'SECRET_STUFF',
  'Public.Secret_Stuff', 'public . secret_stuff', '"TEST_ITEMS"', 'public."TEST_ITEMS"', 'hidden.test_items',
  '"hidden"."test_items"', 'HIDDEN.TEST_ITEMS', 'hidden."test_items"', 'pg_catalog.pg_authid', 'pg_authid',
  'information_schema.tables', '../secret_stuff', 'test_items/../secret_stuff', 'public..secret_stuff',
  '.secret_stuff', 'test_items.', 'test_items,secret_stuff', 'test_items;secret_stuff',
  'test_items; select * from secret_stuff', '"test_items" "secret_stuff"', 'test_items secret_stuff',
  '"test_items\u0000"', 'test_items\u0000', ' secret_stuff',
].map(q)
// Raw %00 (left undecoded by the server) and %2e%2e spellings.
FORBIDDEN.push('secret_stuff%00', 'test_items%00', 'test_items%00secret_stuff', '%2e%2e%2fsecret_stuff',
  'test_items%00.secret_stuff', 'test_items%2500', '%22test_items%22%00')
// Spellings of the allowed table: served, and only its rows.
const ALLOWED = ['test_items', 'public.test_items', '"test_items"', '"public"."test_items"', 'TEST_ITEMS', 'Public.Test_Items'].map(q)

function onlyTestItems(r) {
  assert.equal(r.status, 200, `${r.url}: ${r.text}`)
  const msgs = JSON.parse(r.text).filter((m) => m.key)
  assert.ok(msgs.length >= 2, r.text)
  for (const m of msgs) assert.ok(m.key.startsWith('"public"."test_items"/'), m.key)
  assert.deepEqual(msgs.map((m) => m.value.title).sort(), ['visible one', 'visible two'])
}
const refused = (r, statuses) => {
  assert.ok(statuses.includes(r.status), `${r.url}: ${r.status} ${r.text}`)
  assert.ok(!r.text.includes(MARKER), r.url)
}

test('the raw /v1/shape without a secret configured: 404 for every table spelling', async () => {
  for (const t of [...FORBIDDEN, ...ALLOWED]) {
    for (const extra of ['', `&secret=${SECRET}`, '&secret=', '&api_secret=x']) {
      refused(await get(open, `/v1/shape?table=${t}&offset=-1${extra}`), [404])
    }
  }
})

test('the raw /v1/shape with a secret configured: 401 without the right one, for every spelling', async () => {
  for (const t of [...FORBIDDEN, ...ALLOWED]) {
    for (const extra of ['', '&secret=', `&secret=${SECRET.slice(1)}`, `&secret=${q(SECRET + '\u0000')}`,
      `&secret=${SECRET}%00`, `&Secret=${SECRET}`, `&SECRET=${SECRET}`, `&secret%00=${SECRET}`, `&api_secret=${SECRET.toLowerCase()}`]) {
      refused(await get(guarded, `/v1/shape?table=${t}&offset=-1${extra}`), [401])
    }
  }
  // and a live request, a HEAD, a handle: still the secret first
  refused(await get(guarded, '/v1/shape?table=secret_stuff&offset=0_0&handle=x&live=true'), [401])
  const h = await fetch(`${guarded.base}/v1/shape?table=secret_stuff&offset=-1`, { method: 'HEAD' })
  assert.equal(h.status, 401)
})

test('the proxy: only the allow-listed table, whatever the spelling, in both modes', async () => {
  for (const s of [open, guarded, front]) {
    for (const t of FORBIDDEN) refused(await get(s, `/api/electric/v1/shape?table=${t}&offset=-1`), [403])
    for (const t of ALLOWED) onlyTestItems(await get(s, `/api/electric/v1/shape?table=${t}&offset=-1`))
  }
})

test('the proxy: repeated table keys never reach another table', async () => {
  for (const s of [open, front]) {
    // the first is checked and the first is served (in-process); upstream gets that one only
    onlyTestItems(await get(s, '/api/electric/v1/shape?table=test_items&table=secret_stuff&offset=-1'))
    onlyTestItems(await get(s, '/api/electric/v1/shape?table=test_items&offset=-1&table=hidden.test_items'))
    refused(await get(s, '/api/electric/v1/shape?table=secret_stuff&table=test_items&offset=-1'), [403])
    refused(await get(s, '/api/electric/v1/shape?table&table=test_items&offset=-1'), [403])
  }
})

test('the proxy: a where clause cannot read another table', async () => {
  const wheres = [
    "id in (select id from secret_stuff)",
    "(select count(*) from secret_stuff) > 0",
    "title = (SELECT v FROM secret_stuff LIMIT 1)",
    "exists (select 1 from hidden.test_items)",
    "id = any(table secret_stuff)",
    "title in (with x as (select v from secret_stuff) select v from x)",
    "title = pg_read_file('/etc/passwd')",
    "title = current_setting('data_directory')",
    "title = 'x'; select * from secret_stuff",
  ]
  for (const w of wheres) {
    refused(await get(open, `/api/electric/v1/shape?table=test_items&offset=-1&where=${q(w)}`), [400])
    // upstream: a subquery never leaves this server (403); a function call is the upstream's to refuse
    const sub = /select|table|with/i.test(w)
    refused(await get(front, `/api/electric/v1/shape?table=test_items&offset=-1&where=${q(w)}`), sub ? [403] : [400])
    refused(await get(front, `/api/electric/v1/shape?table=test_items&offset=-1&subset__where=${q(w)}`), sub ? [403] : [400])
  }
  // a quoted word is not a keyword: still served
  const ok = await get(front, `/api/electric/v1/shape?table=test_items&offset=-1&where=${q("title <> 'select from table'")}`)
  onlyTestItems(ok)
})

test('path spellings of the shape API do not open another way in', async () => {
  const qs = 'table=secret_stuff&offset=-1'
  const paths = [
    `/v1/shape%00?${qs}`, `/./v1/shape?${qs}`, `/v1/./shape?${qs}`, `/v1/shape/..?${qs}`, `/v1/shape/.?${qs}`,
    `/api/electric/v1/../../../v1/shape?${qs}`, `/api/electric/v1/shape/../shape?${qs}`, `/x/../v1/shape?${qs}`,
    `/V1/SHAPE?${qs}`, `/v1/shape;x?${qs}`, `/api/electric/v1/shape%2f..%2f..%2fshape?${qs}`,
    `/api/electric//v1/shape?${qs}`, `/api%2felectric/v1/shape?${qs}`, `/v1/shape?table=test_items&offset=-1&${qs}`,
  ]
  for (const s of [open, guarded]) {
    for (const p of paths) {
      const r = await raw(s, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
      seen.push({ status: r.status, headers: [], text: r.raw, url: p })
      assert.ok(r.status !== 200 || !r.raw.includes(MARKER), `${p}: ${r.raw.slice(0, 300)}`)
      assert.ok(!r.raw.includes(MARKER), p)
    }
  }
})

test('errors with the right secret do not echo it', async () => {
  for (const extra of ['&offset=bogus', '&offset=0_0', '&live=true', '&where=nope(', '&columns=%22', '&replica=x']) {
    const r = await get(guarded, `/v1/shape?table=test_items&secret=${SECRET}${extra}`)
    assert.ok(r.status >= 400 && r.status < 500, `${extra}: ${r.status}`)
  }
  const b = await get(broken, '/api/electric/v1/shape?table=test_items&offset=-1')
  assert.equal(b.status, 502, b.text)
})

test('the secret is in no response, no header, no log line; the marker in no response', async () => {
  assert.ok(seen.length > 500, `${seen.length} responses looked at`)
  for (const r of seen) {
    assert.ok(!r.text.includes(SECRET), `secret in the body of ${r.url}`)
    for (const [k, v] of r.headers) assert.ok(!v.includes(SECRET), `secret in header ${k} of ${r.url}`)
    assert.ok(!r.text.includes(MARKER), `marker in ${r.url}`)
  }
  // the upstream failure was logged, without the query (where the secret is) or the password;
  // the proxy thread writes that line after the reply went out, so give it a moment
  const failure = /warning: proxy: http:\/\/user:\*\*\*@127\.0\.0\.1:\d+\/v1\/shape: /
  for (let i = 0; i < 100 && !failure.test(broken.log()); i++) await new Promise((r) => setTimeout(r, 50))
  for (const [name, s] of [['open', open], ['guarded', guarded], ['front', front], ['broken', broken]]) {
    const log = s.log()
    assert.ok(log.length > 0)
    assert.ok(!log.includes(SECRET), `${name}'s log holds the secret:\n${log.split('\n').filter((l) => l.includes(SECRET)).join('\n')}`)
    assert.ok(!log.includes(encodeURIComponent(SECRET)), name)
  }
  assert.match(broken.log(), failure)
  assert.ok(!broken.log().includes('pw-in-url'))
  // the front's JSON log: every line parses
  for (const l of front.log().trim().split('\n')) JSON.parse(l)
})

test('what the proxy sends upstream: one table (the checked one), our secret only, no subquery', async () => {
  const got = []
  const upstream = http.createServer((req, res) => {
    got.push(new URL(req.url, 'http://x').searchParams)
    res.writeHead(200, { 'content-type': 'application/json', 'electric-handle': 'h', 'electric-offset': '0_0' })
    res.end('[]')
  })
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r))
  const spy = await prod('hostile-spy', { ELECTRIC_SECRET: SECRET, ELECTRIC_URL: `http://127.0.0.1:${upstream.address().port}` })
  try {
    for (const qs of ['table=test_items&table=secret_stuff&offset=-1', 'table=test_items&offset=-1&table=hidden.test_items',
      'offset=-1&table=TEST_ITEMS&secret=mine&api_secret=mine&table=%22TEST_ITEMS%22']) {
      const r = await get(spy, `/api/electric/v1/shape?${qs}`)
      assert.equal(r.status, 200, r.text)
      const p = got.at(-1)
      assert.deepEqual(p.getAll('table'), [decodeURIComponent(qs.match(/table=([^&]*)/)[1])], qs)
      assert.deepEqual(p.getAll('secret'), [SECRET])
      assert.deepEqual(p.getAll('api_secret'), [])
    }
    const n = got.length
    refused(await get(spy, `/api/electric/v1/shape?table=test_items&offset=-1&where=${q('id in (select id from secret_stuff)')}`), [403])
    refused(await get(spy, `/api/electric/v1/shape?table=test_items&offset=-1&subset__order_by=${q('(select v from secret_stuff)')}`), [403])
    assert.equal(got.length, n, 'nothing forwarded')
  } finally {
    await spy.stop()
    await dropShapeStore(testShapesDir('hostile-spy'))
    upstream.close()
  }
  assert.ok(!spy.log().includes(SECRET))
})
