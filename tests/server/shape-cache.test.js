// The shape API behind a real HTTP cache: Debian's nginx with the configuration docs/cdn.md ships
// (bench/cdn/nginx.mjs runs that very block; it installs nginx-light with apt when missing), in
// front of the real server in production mode (ESYNC_DEV=0, ELECTRIC_SECRET set), browsers'
// route /api/electric/v1/shape. What a cache needs from the origin: identical live requests
// collapse into one origin request; clients that reached the same offset with different cursors
// share the next cache key; a live timeout never loops on its own cached answer; 409s are cached
// briefly; ETag/304 works for clients and for nginx's revalidation; CORS answers are never served
// to another origin; the secret appears in no cache key, cache file or log line.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import zlib from 'node:zlib'
import path from 'node:path'
import { startNginx } from '../../bench/cdn/nginx.mjs'
import { freePort } from './helpers.js'
import { LONG_POLL_MS, freshTable, prepareShapeDb, shapeGet, sleep, sql, startShapeServer } from './shape-helpers.js'

const SECRET = 'cache-s3cret-value'
const ROUTE = '/api/electric/v1/shape'
let server, cache
before(async () => {
  await prepareShapeDb()
  await freshTable('sc_items')
  await sql(`insert into sc_items select g, 't' || g, g, false from generate_series(1, 5) g`)
  server = await startShapeServer('cache', {
    env: { ESYNC_DEV: '0', ELECTRIC_SECRET: SECRET, ESYNC_PROXY_TABLES: 'sc_items' },
  })
  cache = await startNginx({ originPort: server.port, port: await freePort(), name: 'test-shape-cache' })
})
after(async () => {
  await cache?.stop()
  await server?.dispose()
})

const viaCache = (qs, headers = {}) => shapeGet(`http://127.0.0.1:${cache.port}`, qs, { path: ROUTE, headers })
const atOrigin = (qs, headers = {}) => shapeGet(server.base, qs, { path: ROUTE, headers })
// Requests that reached the origin: its access log has one line per shape request it answered,
// written just after the answer (so a moment is left for the last line to arrive).
const originLines = async () => {
  await sleep(150)
  return [...server.log().matchAll(/"(?:GET|HEAD) \/api\/electric\/v1\/shape" (\d+)/g)].map((m) => Number(m[1]))
}
const originCount = async () => (await originLines()).length
// electric-cursor's clock: seconds since 2024-10-09, rounded up to the long-poll interval (1 s)
const clockCursor = () => Math.ceil(Date.now() / 1000 - 1728432000)

// The current handle and offset of the table's shape, read through the cache as a client does:
// a cached offset=-1 may name a shape that is gone since, and its 409 names the new one.
async function catchUp(table = 'sc_items') {
  let handle = null
  let offset = '-1'
  for (let i = 0; i < 20; i++) {
    // past -1, a cache-buster: a cached catch-up answer may stop short of the log's end
    const buster = offset === '-1' ? '' : `&cache-buster=${Math.random()}`
    const r = await viaCache(`table=${table}&offset=${offset}${handle ? `&handle=${handle}` : ''}${buster}`)
    if (r.status === 409) {
      handle = r.headers.get('electric-handle')
      offset = '-1'
      continue
    }
    assert.equal(r.status, 200, r.text)
    handle = r.headers.get('electric-handle')
    offset = r.headers.get('electric-offset')
    if (r.headers.has('electric-up-to-date')) return { handle, offset }
  }
  throw new Error('catchUp: no up-to-date')
}

const live = (h, off, cursor) => `table=sc_items&offset=${off}&handle=${h}&live=true&cursor=${cursor}`
let nextId = 100

test('cache: identical concurrent live requests collapse into one origin request', async () => {
  const { handle, offset } = await catchUp()
  const before = await originCount()
  const qs = live(handle, offset, 42)
  const pending = []
  for (let i = 0; i < 6; i++) pending.push(viaCache(qs))
  await sleep(300)
  const id = nextId++
  await sql(`insert into sc_items values ($1, 'collapsed', 1, true)`, [id])
  const answers = await Promise.all(pending)
  for (const r of answers) {
    assert.equal(r.status, 200, r.text)
    assert.equal(r.text, answers[0].text)
    assert.ok(r.body.some((m) => m.value?.id === String(id)), r.text)
  }
  assert.deepEqual(answers.map((r) => r.headers.get('x-cache')).sort(), ['HIT', 'HIT', 'HIT', 'HIT', 'HIT', 'MISS'])
  assert.equal(await originCount() - before, 1, 'one request reached the origin')
})

test('cache: clients at one offset with different cursors get the same next cursor, so they share the next key', async () => {
  const { handle, offset } = await catchUp()
  // A herd whose cursor is old and one whose cursor is ahead of the clock (a cursor that was
  // moved past the clock to avoid a repeat): after the same change both must be back on the
  // clock's cursor, or they stay two herds (two origin requests per change) for good.
  const behind = viaCache(live(handle, offset, 1))
  const ahead = viaCache(live(handle, offset, clockCursor() + 1000))
  await sleep(300)
  await sql(`insert into sc_items values ($1, 'herds', 1, true)`, [nextId++])
  const [a, b] = await Promise.all([behind, ahead])
  assert.equal(a.status, 200)
  assert.equal(b.status, 200)
  assert.equal(a.headers.get('electric-offset'), b.headers.get('electric-offset'))
  const ca = a.headers.get('electric-cursor')
  assert.equal(b.headers.get('electric-cursor'), ca, 'both herds are on the same cursor')
  assert.ok(Math.abs(Number(ca) - clockCursor()) <= 2, `cursor ${ca} follows the clock`)
  // ... so their next live requests are one cache key and one origin request
  const before = await originCount()
  const next = live(handle, a.headers.get('electric-offset'), ca)
  const p = [viaCache(next), viaCache(next)]
  await sleep(300)
  await sql(`insert into sc_items values ($1, 'herds 2', 1, true)`, [nextId++])
  const rs = await Promise.all(p)
  assert.deepEqual(rs.map((r) => r.status), [200, 200])
  assert.equal(await originCount() - before, 1)
})

test('cache: a live timeout moves the cursor, so the next request is a new key, never its cached answer', async () => {
  const { handle, offset } = await catchUp()
  let cursor = clockCursor()
  const seen = new Set([String(cursor)])
  const before = await originCount()
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now()
    const r = await viaCache(live(handle, offset, cursor))
    assert.equal(r.status, 200, r.text)
    assert.equal(r.headers.get('x-cache'), 'MISS')
    assert.equal(r.headers.get('electric-has-data'), 'false')
    assert.equal(r.headers.get('electric-offset'), offset)
    assert.ok(Date.now() - t0 >= LONG_POLL_MS - 100, 'held for the long-poll time')
    assert.match(r.headers.get('cache-control'), /max-age=5\b/)
    cursor = r.headers.get('electric-cursor')
    assert.ok(!seen.has(cursor), `cursor ${cursor} repeats`)
    seen.add(cursor)
  }
  assert.equal(await originCount() - before, 3)
})

test('cache: a 409 is cached briefly (60 s with the new handle, 1 s without one)', async () => {
  const { handle, offset } = await catchUp()
  // a handle that is not the current one: 409 with the current handle, cached for 60 s
  let before = await originCount()
  const stale = `table=sc_items&offset=${offset}&handle=1-1`
  const r1 = await viaCache(stale)
  assert.equal(r1.status, 409)
  assert.equal(r1.headers.get('electric-handle'), handle)
  assert.equal(r1.headers.get('cache-control'), 'public, max-age=60, must-revalidate')
  assert.deepEqual(r1.body, [{ headers: { control: 'must-refetch' } }])
  const r2 = await viaCache(stale)
  assert.equal(r2.status, 409)
  assert.equal(r2.headers.get('x-cache'), 'HIT')
  assert.equal(await originCount() - before, 1)

  // live requests parked on a shape that goes away (TRUNCATE) before its replacement exists:
  // 409 without a handle, cached for 1 s only; then the origin names the new shape
  before = await originCount()
  const qs = live(handle, offset, 7)
  const parked = [viaCache(qs), viaCache(qs)]
  await sleep(300)
  await sql('truncate sc_items')
  const gone = await Promise.all(parked)
  for (const r of gone) {
    assert.equal(r.status, 409, r.text)
    assert.equal(r.headers.get('electric-handle'), null)
    assert.equal(r.headers.get('cache-control'), 'public, max-age=1, must-revalidate')
  }
  assert.equal(await originCount() - before, 1)
  const again = await viaCache(qs)
  assert.equal(again.status, 409)
  assert.equal(again.headers.get('x-cache'), 'HIT')
  await sleep(2100) // max-age=1 in whole seconds: fresh through second S+1
  const later = await viaCache(qs)
  assert.equal(later.status, 409)
  assert.notEqual(later.headers.get('x-cache'), 'HIT')
  assert.ok(later.headers.get('electric-handle'), 'the new shape is named once it exists')
  assert.notEqual(later.headers.get('electric-handle'), handle)
  await sql(`insert into sc_items select g, 't' || g, g, false from generate_series(1, 5) g`)
})

test('cache: ETag/304 for clients, for nginx revalidation, and for a list of etags', async () => {
  const first = await viaCache('table=sc_items&offset=-1')
  assert.equal(first.status, 200)
  const etag = first.headers.get('etag')
  assert.match(etag, /^"[0-9]+-[0-9]+:-1:0_0(:gzip)?"$/) // node's fetch accepts gzip
  let before = await originCount()
  const nm = await viaCache('table=sc_items&offset=-1', { 'if-none-match': etag })
  assert.equal(nm.status, 304)
  assert.equal(nm.text, '')
  assert.equal(await originCount() - before, 0, 'answered by the cache')
  const head = await shapeGet(`http://127.0.0.1:${cache.port}`, 'table=sc_items&offset=-1', { path: ROUTE, method: 'HEAD' })
  assert.equal(head.status, 200)
  assert.equal(head.headers.get('etag'), etag)

  // a live answer with data (max-age=5): once it expires, nginx asks the origin with
  // If-None-Match and the origin's 304 renews it
  const { handle, offset } = await catchUp()
  const qs = live(handle, offset, 9)
  const p = viaCache(qs)
  await sleep(300)
  await sql(`insert into sc_items values ($1, 'etag', 1, true)`, [nextId++])
  const data = await p
  assert.equal(data.status, 200)
  const liveTag = data.headers.get('etag')
  await sleep(7100) // nginx counts max-age in whole seconds: valid through second S+5
  before = await originCount()
  const renewed = await viaCache(qs)
  assert.equal(renewed.status, 200)
  assert.equal(renewed.text, data.text)
  assert.equal(renewed.headers.get('x-cache'), 'REVALIDATED')
  assert.deepEqual((await originLines()).slice(before), [304])
  const nm2 = await viaCache(qs, { 'if-none-match': liveTag })
  assert.equal(nm2.status, 304)

  // the origin itself: If-None-Match is a list of entity tags (weak ones compare equal)
  const current = (await atOrigin('table=sc_items&offset=-1', { 'accept-encoding': 'identity' })).headers.get('etag')
  for (const inm of [`"other", ${current}`, `W/${current}`, `${current} , "x"`, '*']) {
    const r = await atOrigin('table=sc_items&offset=-1', { 'if-none-match': inm, 'accept-encoding': 'identity' })
    assert.equal(r.status, 304, inm)
    assert.equal(r.headers.get('etag'), current)
  }
  for (const inm of ['"other"', current.slice(0, -2) + '"', '']) {
    const r = await atOrigin('table=sc_items&offset=-1', { 'if-none-match': inm, 'accept-encoding': 'identity' })
    assert.equal(r.status, 200, inm)
  }
})

test('cache: a CORS answer is never served to another origin', async () => {
  const qs = `table=sc_items&offset=-1&vary=${Math.random()}`
  const a = await viaCache(qs, { origin: 'https://a.example' })
  assert.equal(a.headers.get('access-control-allow-origin'), 'https://a.example')
  assert.match(a.headers.get('vary') ?? '', /^origin, accept-encoding, accept$/i) // one line: nginx reads one
  const b = await viaCache(qs, { origin: 'https://b.example' })
  assert.equal(b.headers.get('access-control-allow-origin'), 'https://b.example')
  const none = await viaCache(qs)
  assert.equal(none.headers.get('access-control-allow-origin'), '*')
  const a2 = await viaCache(qs, { origin: 'https://a.example' })
  assert.equal(a2.headers.get('access-control-allow-origin'), 'https://a.example')
})

test('cache: production mode, the secret stays out of URLs, cache keys, cache files and logs', async () => {
  // browsers never send it: the proxy route adds it (or, built in, needs none)
  const r = await viaCache('table=sc_items&offset=-1')
  assert.equal(r.status, 200)
  // the raw API is not published through the cache
  const raw = await shapeGet(`http://127.0.0.1:${cache.port}`, 'table=sc_items&offset=-1&secret=guess')
  assert.equal(raw.status, 404)
  // tables outside ESYNC_PROXY_TABLES stay refused, and refusals are not cached
  const no = await viaCache('table=pg_class&offset=-1')
  assert.equal(no.status, 403)
  assert.notEqual(no.headers.get('x-cache'), 'HIT')
  const files = []
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else files.push(p)
    }
  }
  walk(path.join(cache.prefix, 'cache'))
  assert.ok(files.length > 3, 'the cache holds entries')
  for (const f of files) {
    const text = fs.readFileSync(f, 'latin1')
    assert.match(text, /KEY: /)
    assert.ok(!text.includes(SECRET), `secret in ${f}`)
  }
  const logs = cache.logLines().join('\n')
  assert.ok(logs.includes('/api/electric/v1/shape?'))
  assert.ok(!logs.includes(SECRET), 'secret in the cache log')
  assert.ok(!server.log().includes(SECRET), 'secret in the server log')
})

// One GET through the cache: its headers and body as they crossed the wire (not decoded).
const throughCache = (qs, headers) => new Promise((resolve, reject) => {
  http.get(`http://127.0.0.1:${cache.port}${ROUTE}?${qs}`, { headers }, (res) => {
    const parts = []
    res.on('data', (d) => parts.push(d))
    res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(parts) }))
  }).on('error', reject)
})

test('cache: a gzip snapshot chunk is never served to a client that did not ask for gzip', async () => {
  const qs = `table=sc_items&offset=-1&enc=${Math.random()}`
  const get = (headers) => throughCache(qs, headers)
  // the chunk's gzip is made in the background once the snapshot is written: until it is there
  for (let i = 0; i < 100 && (await atOrigin('table=sc_items&offset=-1')).headers.get('content-encoding') !== 'gzip'; i++) await sleep(50)
  const gz = await get({ 'accept-encoding': 'gzip' })
  assert.equal(gz.headers['content-encoding'], 'gzip')
  const plain = await get({})
  assert.equal(plain.headers['content-encoding'], undefined)
  assert.ok(zlib.gunzipSync(gz.body).equals(plain.body))
  const gz2 = await get({ 'accept-encoding': 'gzip' })
  assert.equal(gz2.headers['x-cache'], 'HIT')
  assert.ok(gz2.body.equals(gz.body))
  const plain2 = await get({})
  assert.equal(plain2.headers['x-cache'], 'HIT')
  assert.ok(plain2.body.equals(plain.body))
})

test('cache: a replica image is never served to a client that asked for JSON, nor JSON to one that asked for the image', async () => {
  const IMAGE = 'application/vnd.electric-sync.image'
  const qs = `table=sc_items&offset=-1&img=${Math.random()}`
  const get = (headers) => throughCache(qs, headers)
  // the chunk's image is made in the background as the chunk completes: until it is there
  for (let i = 0; i < 100 && (await atOrigin('table=sc_items&offset=-1', { accept: IMAGE })).headers.get('content-type') !== IMAGE; i++) await sleep(50)
  const img = await get({ accept: IMAGE })
  assert.equal(img.headers['content-type'], IMAGE)
  assert.equal(img.body.subarray(0, 15).toString('latin1'), 'SQLite format 3')
  const json = await get({})
  assert.match(json.headers['content-type'], /^application\/json/)
  JSON.parse(json.body.toString())
  const img2 = await get({ accept: IMAGE })
  assert.equal(img2.headers['x-cache'], 'HIT')
  assert.equal(img2.headers['content-type'], IMAGE)
  assert.ok(img2.body.equals(img.body))
  const json2 = await get({ accept: '*/*' })
  assert.match(json2.headers['content-type'], /^application\/json/)
  const json3 = await get({})
  assert.equal(json3.headers['x-cache'], 'HIT')
  assert.ok(json3.body.equals(json.body))
})
