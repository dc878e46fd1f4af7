// Snapshot chunks in gzip (docs/protocol.md §2.4): the service compresses each chunk's response
// body once, in a background thread once the snapshot is finished (snap.<k>.gz beside snap.<k>), and
// answers a request that accepts gzip with that file as it is (uncompressed until it exists). What must hold: the decoded body is byte for byte
// the uncompressed answer; a client that does not accept gzip (no Accept-Encoding, gzip;q=0, br
// only) gets the uncompressed body; the two representations have different ETags and both carry
// Vary: accept-encoding, so a cache never hands one to a client that asked for the other; 304
// works for the gzip one; log answers (not chunks) stay uncompressed; ESYNC_SHAPE_GZIP=0 writes no
// gzip; the official client syncs through it.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import zlib from 'node:zlib'
import { ShapeStream, Shape } from '@electric-sql/client'
import { expectSynced, freshTable, prepareShapeDb, rawGet, shapesDir, snapFiles, sql, startShapeServer, walk } from './shape-helpers.js'

const ROWS = 4000 // ~480 KB of messages: chunks of 64 KiB, 256 KiB and the rest
let server
before(async () => {
  await prepareShapeDb()
  await freshTable('gz_items')
  await sql(`insert into gz_items select g, 'item ' || g || ' ' || repeat(md5(g::text), 2), g, g % 3 = 0
             from generate_series(1, ${ROWS}) g`)
  server = await startShapeServer('gzip')
})
after(async () => {
  await server?.dispose()
})

test('gzip: every snapshot chunk decodes to the uncompressed answer, byte for byte', async () => {
  const plain = await walk(server.base, {}, 'gz_items') // makes the shape: its chunks are compressed after
  await snapFiles('gzip', ['.gz'])
  const gz = await walk(server.base, { 'accept-encoding': 'gzip, deflate, br' }, 'gz_items')
  assert.equal(gz.length, plain.length)
  assert.ok(plain.length >= 4, `a snapshot of several chunks (got ${plain.length} answers)`)
  let chunks = 0
  let wire = 0
  let decoded = 0
  for (let i = 0; i < plain.length; i++) {
    const p = plain[i]
    const g = gz[i]
    assert.equal(g.headers['electric-offset'], p.headers['electric-offset'])
    assert.match(p.headers.vary, /accept-encoding/i)
    assert.match(g.headers.vary, /accept-encoding/i)
    assert.equal(p.headers['content-encoding'], undefined)
    const last = i === plain.length - 1 // the log's answer (up-to-date): not a chunk
    if (last) {
      assert.equal(g.headers['content-encoding'], undefined, 'log answers are not compressed')
      assert.deepEqual(g.body, p.body)
      continue
    }
    chunks++
    assert.equal(g.headers['content-encoding'], 'gzip', `chunk ${i}`)
    assert.equal(Number(g.headers['content-length']), g.body.length, 'a known length (the file as it is)')
    const body = zlib.gunzipSync(g.body)
    assert.ok(body.equals(p.body), `chunk ${i}: decoded gzip differs from the uncompressed answer`)
    JSON.parse(body.toString())
    assert.notEqual(g.headers.etag, p.headers.etag, 'two representations, two ETags')
    assert.match(g.headers.etag, /:gzip"$/)
    wire += g.body.length
    decoded += body.length
  }
  assert.ok(chunks >= 3)
  assert.ok(wire * 3 < decoded, `compressed ${wire} of ${decoded} bytes`)
  // the files behind it: one whole gzip per chunk, no part left
  const dir = shapesDir('gzip')
  const files = fs.readdirSync(dir, { recursive: true }).map(String)
  assert.deepEqual(files.filter((f) => f.endsWith('.part')), [])
})

test('gzip: only for a client that accepts it', async () => {
  const qs = 'table=gz_items&offset=-1'
  const cases = [
    [{}, false],
    [{ 'accept-encoding': 'identity' }, false],
    [{ 'accept-encoding': 'br' }, false],
    [{ 'accept-encoding': 'gzip;q=0, br' }, false],
    [{ 'accept-encoding': 'gzip; q=0.000' }, false],
    [{ 'accept-encoding': '*;q=0' }, false],
    [{ 'accept-encoding': 'GZIP' }, true],
    [{ 'accept-encoding': 'br;q=1.0, gzip;q=0.5' }, true],
    [{ 'accept-encoding': 'x-gzip' }, true],
    [{ 'accept-encoding': '*' }, true],
    [{ 'accept-encoding': 'br, *;q=0.1' }, true],
  ]
  for (const [headers, gzip] of cases) {
    const r = await rawGet(server.base, qs, headers)
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-encoding'], gzip ? 'gzip' : undefined, JSON.stringify(headers))
    const text = (gzip ? zlib.gunzipSync(r.body) : r.body).toString()
    assert.ok(Array.isArray(JSON.parse(text)))
  }
})

test('gzip: 304 for the compressed representation (and for the uncompressed one), a HEAD tells the encoding', async () => {
  const qs = 'table=gz_items&offset=-1'
  const h = { 'accept-encoding': 'gzip' }
  const first = await rawGet(server.base, qs, h)
  const again = await rawGet(server.base, qs, { ...h, 'if-none-match': first.headers.etag })
  assert.equal(again.status, 304)
  assert.equal(again.body.length, 0)
  assert.equal(again.headers.etag, first.headers.etag)
  // a holder of the uncompressed answer (cached before the gzip existed) revalidates it: 304
  // with its own tag, the content being the same
  const plain = await rawGet(server.base, qs, {})
  assert.notEqual(plain.headers.etag, first.headers.etag)
  const other = await rawGet(server.base, qs, { ...h, 'if-none-match': plain.headers.etag })
  assert.equal(other.status, 304)
  assert.equal(other.headers.etag, plain.headers.etag)
  assert.equal(other.headers['content-encoding'], undefined)
  // and a tag of neither: the whole gzip answer
  const neither = await rawGet(server.base, qs, { ...h, 'if-none-match': '"something-else"' })
  assert.equal(neither.status, 200)
  assert.equal(neither.headers['content-encoding'], 'gzip')
  const head = await new Promise((resolve, reject) => {
    http.request(`${server.base}/v1/shape?${qs}`, { method: 'HEAD', headers: h }, (res) => {
      res.resume()
      res.on('end', () => resolve(res))
    }).on('error', reject).end()
  })
  assert.equal(head.statusCode, 200)
  assert.equal(head.headers['content-encoding'], 'gzip')
  assert.equal(head.headers.etag, first.headers.etag)
})

test('gzip: the official client syncs through it, changes included', async () => {
  // node's fetch asks for gzip and decodes it, as a browser's does; the encodings it got are kept
  const encodings = []
  const fetchClient = async (...args) => {
    const res = await fetch(...args)
    encodings.push(res.headers.get('content-encoding'))
    return res
  }
  const controller = new AbortController()
  const stream = new ShapeStream({ url: `${server.base}/v1/shape`, params: { table: 'gz_items' }, signal: controller.signal, fetchClient })
  const shape = new Shape(stream)
  try {
    await expectSynced(shape, 'select * from gz_items')
    assert.ok(encodings.includes('gzip'), `encodings: ${encodings}`)
    await sql(`update gz_items set title = 'changed' where id <= 10`)
    await expectSynced(shape, 'select * from gz_items')
  } finally {
    controller.abort()
  }
})

test('gzip: ESYNC_SHAPE_GZIP=0 writes no gzip and answers uncompressed', async () => {
  const off = await startShapeServer('gzip-off', { env: { ESYNC_SHAPE_GZIP: '0' } })
  try {
    await freshTable('gz_off')
    await sql(`insert into gz_off select g, repeat('x', 200), g, false from generate_series(1, 2000) g`)
    const answers = await walk(off.base, { 'accept-encoding': 'gzip' }, 'gz_off')
    assert.ok(answers.length >= 3)
    for (const r of answers) assert.equal(r.headers['content-encoding'], undefined)
    const files = fs.readdirSync(shapesDir('gzip-off'), { recursive: true }).map(String)
    assert.ok(files.some((f) => /snap\.\d+$/.test(f)))
    assert.deepEqual(files.filter((f) => f.includes('.gz')), [])
  } finally {
    await off.dispose()
  }
})

test('gzip: the proxy in front of an upstream that sends gzip passes the decoded body on', async () => {
  // the proxy's curl asks the upstream for gzip and decodes it: the answer it sends on must not
  // claim an encoding its body no longer has
  const front = await startShapeServer('gzip-front', { env: { ELECTRIC_URL: server.base, ESYNC_PROXY_TABLES: 'gz_items' } })
  try {
    const direct = await walk(server.base, {}, 'gz_items')
    let qs = 'table=gz_items&offset=-1'
    for (const want of direct) {
      const r = await new Promise((resolve, reject) => {
        http.get(`${front.base}/api/electric/v1/shape?${qs}`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
          const parts = []
          res.on('data', (d) => parts.push(d))
          res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }))
        }).on('error', reject)
      })
      assert.equal(r.status, 200)
      assert.equal(r.headers['content-encoding'], undefined)
      assert.ok(r.body.equals(want.body), `through the proxy: ${qs}`)
      qs = `table=gz_items&offset=${r.headers['electric-offset']}&handle=${r.headers['electric-handle']}`
    }
  } finally {
    await front.dispose()
  }
})

test('gzip: a shape stored without gzip gets it after a restart', async () => {
  const role = 'gzip-restart'
  let s = await startShapeServer(role, { env: { ESYNC_SHAPE_GZIP: '0' } })
  let port = s.port
  try {
    await freshTable('gz_later')
    await sql(`insert into gz_later select g, repeat('y', 300), g, true from generate_series(1, 3000) g`)
    const before = await walk(s.base, { 'accept-encoding': 'gzip' }, 'gz_later')
    for (const r of before) assert.equal(r.headers['content-encoding'], undefined)
    await s.stop()
    s = await startShapeServer(role, { keep: true, port, env: { ESYNC_SHAPE_GZIP: '1' } })
    await snapFiles(role, ['.gz'])
    const after = await walk(s.base, { 'accept-encoding': 'gzip' }, 'gz_later')
    assert.equal(after.length, before.length)
    for (let i = 0; i < after.length - 1; i++) {
      assert.equal(after[i].headers['electric-handle'], before[i].headers['electric-handle'])
      assert.equal(after[i].headers['content-encoding'], 'gzip')
      assert.ok(zlib.gunzipSync(after[i].body).equals(before[i].body))
    }
    const files = fs.readdirSync(shapesDir(role), { recursive: true }).map(String)
    assert.deepEqual(files.filter((f) => f.endsWith('.part')), [])
  } finally {
    await s.dispose()
  }
})
