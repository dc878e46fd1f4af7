// Snapshot chunks as replica images (docs/protocol.md §2.4): the service makes each chunk's rows
// into a SQLite image (snap.<k>.img as the chunk completes, its gzip later, in the background) and
// answers a request whose Accept names the image type with it; a new shape's first client waits
// for the images of the large chunks. What must hold: an image holds
// exactly what the engine stores from the chunk's JSON, for every column type (the engine, the
// wasm build a browser runs, applies both and ends with the same rows and the same change
// events); only a client that names the type gets one (not */*, not q=0); the image has its own
// ETag, 304 works for it, every answer says Vary: accept; a hostile image (bytes that are not a
// database) is refused by the engine with nothing written, and the shape goes on in JSON;
// ESYNC_SHAPE_IMAGES=false makes none.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { loadModule } from '../../wasm-tests/load.js'
import { freshTable, prepareShapeDb, rawGet, shapesDir, snapFiles, sql, startShapeServer, walk } from './shape-helpers.js'

const IMAGE = 'application/vnd.electric-sync.image'
const ROWS = 3000
let server
let M
before(async () => {
  await prepareShapeDb()
  await freshTable('img_items', `id uuid primary key, n int2, big int8, f float8, ok boolean not null,
    j jsonb, b bytea, tags text[], nums int4[], t text, at timestamptz`)
  await sql(`insert into img_items
    select md5(g::text)::uuid, (g % 30000)::int2, g::int8 * 3000000000, case when g % 50 = 0 then 'NaN'::float8 else g / 7.0 end,
           g % 2 = 0, case when g % 3 = 0 then null else jsonb_build_object('g', g, 'a', jsonb_build_array(g, 'x')) end,
           decode(md5(g::text), 'hex'), array['a' || g, null, 'q"uote'], array[g, -g], 'row ' || g || ' é ' || repeat('z', g % 40),
           timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute'
    from generate_series(1, ${ROWS}) g`)
  server = await startShapeServer('image')
  M = await loadModule()
})
after(async () => {
  await server?.dispose()
})

// The answers applied by the wasm engine (checkpoints on, as the worker runs it): its events and
// its rows at the end. An answer of the image type goes in as an image.
function apply(answers, name) {
  const e = new M.Engine(`/${name}.db`, { seed: 1, checkpointBytes: 1 })
  try {
    e.defineShape('s', { table: 'img_items' })
    const events = []
    for (const r of answers) {
      const req = e.nextRequest('s')
      assert.equal(req.action, 'fetch')
      const body = r.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(r.body) : r.body
      const isImage = (r.headers['content-type'] || '').startsWith(IMAGE)
      if (isImage) assert.ok(req.image, 'an image only where the engine asked for one')
      const resp = { status: r.status, headers: r.headers, nowMs: 1 }
      if (isImage) resp.image = new Uint8Array(body)
      else resp.body = new Uint8Array(body)
      events.push(...e.ingest('s', resp))
    }
    const rows = e.query('SELECT * FROM img_items ORDER BY id')
    return { events, rows, status: e.status()[0] }
  } finally {
    e.close()
    M.deleteDatabase(`/${name}.db`)
  }
}

test('image: every chunk as an image, applied by the engine, gives the rows and events its JSON gives', async () => {
  const plain = await walk(server.base, { 'accept-encoding': 'identity' }, 'img_items') // makes the shape
  const files = await snapFiles('image', ['.img', '.img.gz'])
  assert.deepEqual(files.filter((f) => f.endsWith('.part')), [])
  for (const enc of ['identity', 'gzip']) {
    const img = await walk(server.base, { accept: `${IMAGE}, application/json;q=0.9`, 'accept-encoding': enc }, 'img_items')
    assert.equal(img.length, plain.length)
    assert.ok(plain.length >= 3, `several chunks (got ${plain.length} answers)`)
    for (let i = 0; i < plain.length; i++) {
      const p = plain[i]
      const g = img[i]
      assert.equal(g.headers['electric-offset'], p.headers['electric-offset'])
      assert.equal(g.headers['electric-schema'], p.headers['electric-schema'])
      assert.match(g.headers.vary, /\baccept\b.*|accept$/i)
      const last = i === plain.length - 1 // the log's answer: JSON, never an image
      if (last) {
        assert.match(g.headers['content-type'], /^application\/json/)
        continue
      }
      assert.equal(g.headers['content-type'], IMAGE, `chunk ${i}`)
      assert.equal(g.headers['content-encoding'], enc === 'gzip' ? 'gzip' : undefined)
      const bytes = enc === 'gzip' ? zlib.gunzipSync(g.body) : g.body
      assert.equal(bytes.subarray(0, 16).toString('latin1'), 'SQLite format 3\0')
      assert.match(g.headers.etag, enc === 'gzip' ? /:img:gzip"$/ : /:img"$/)
      assert.notEqual(g.headers.etag, p.headers.etag)
    }
    const a = apply(plain, `json-${enc}`)
    const b = apply(img, `img-${enc}`)
    assert.equal(a.rows.length, ROWS)
    assert.deepEqual(b.rows, a.rows)
    assert.deepEqual(b.events, a.events)
    assert.equal(b.status.rows, ROWS)
    assert.equal(b.status.phase, 'live')
  }
})

test('image: the first client of a new shape waits for the images of its large chunks', async () => {
  // a where of its own: a new shape, whose snapshot is written as this client walks it
  const get = async (headers) => {
    const out = []
    let qs = `table=img_items&where=${encodeURIComponent('big > 0')}&offset=-1`
    for (let i = 0; i < 50 && !out.some((r) => 'electric-up-to-date' in r.headers); i++) {
      const r = await rawGet(server.base, qs, headers)
      assert.equal(r.status, 200, r.body.toString())
      out.push(r)
      qs = `table=img_items&where=${encodeURIComponent('big > 0')}&offset=${r.headers['electric-offset']}&handle=${r.headers['electric-handle']}`
    }
    return out
  }
  const img = await get({ accept: `${IMAGE}, application/json;q=0.9` })
  const plain = await get({})
  assert.equal(img.length, plain.length)
  // chunk k holds at most 64 KiB * 4^k (storage.h); from 1 MiB on, the client waits for the image
  let large = 0
  for (let k = 0; k < img.length - 1; k++) {
    if (64 * 1024 * 4 ** k < 1 << 20) continue
    large++
    assert.equal(img[k].headers['content-type'], IMAGE, `chunk ${k} of ${img.length - 1}`)
  }
  assert.ok(large >= 1, `a chunk of 1 MiB or more (${img.length} answers)`)
  const a = apply(plain, 'new-json')
  const b = apply(img, 'new-img')
  assert.equal(a.rows.length, ROWS)
  assert.deepEqual(b.rows, a.rows)
  assert.deepEqual(b.events, a.events)
})

test('image: an image left unsynced by a crash (snap.<k>.img.new) is removed at start and made again', async () => {
  // (an image is served as snap.<k>.img.new while it is synced, then renamed: shape/gzip.c)
  const role = 'image-restart'
  let srv = await startShapeServer(role)
  try {
    const accept = { accept: `${IMAGE}, application/json;q=0.9`, 'accept-encoding': 'identity' }
    await walk(srv.base, accept, 'img_items')
    const files = await snapFiles(role, ['.img'])
    assert.deepEqual(files.filter((f) => f.endsWith('.img.new')), [], 'synced and renamed')
    const img0 = path.join(shapesDir(role), files.find((f) => /snap\.0\.img$/.test(f)))
    const whole = fs.readFileSync(img0)
    await srv.stop()
    // the crash: chunk 0's image renamed to .img.new but only half of it on disk
    for (const f of [img0, `${img0}.gz`]) fs.rmSync(f, { force: true })
    fs.writeFileSync(`${img0}.new`, whole.subarray(0, whole.length >> 1))
    // a start removes it (images off for this one, so that no job makes the image again
    // meanwhile: a remade image is itself an .img.new while it is synced)
    srv = await startShapeServer(role, { keep: true, env: { ESYNC_SHAPE_IMAGES: 'false' } })
    assert.equal(fs.existsSync(`${img0}.new`), false, 'removed at start')
    const json = await rawGet(srv.base, 'table=img_items&offset=-1', accept)
    assert.match(json.headers['content-type'], /^application\/json/, 'not the half image')
    await srv.stop()
    // with images on, the missing image is made again
    srv = await startShapeServer(role, { keep: true })
    await snapFiles(role, ['.img'])
    assert.deepEqual(fs.readFileSync(img0), whole, 'made again, the same image')
    const answers = await walk(srv.base, accept, 'img_items')
    assert.equal(answers[0].headers['content-type'], IMAGE)
    const a = apply(await walk(srv.base, {}, 'img_items'), 'restart-json')
    const b = apply(answers, 'restart-img')
    assert.equal(a.rows.length, ROWS)
    assert.deepEqual(b.rows, a.rows)
  } finally {
    await srv.dispose()
  }
})

test('image: only for a client that names the type', async () => {
  const qs = 'table=img_items&offset=-1'
  await snapFiles('image', ['.img', '.img.gz'])
  const cases = [
    [{}, false],
    [{ accept: '*/*' }, false],
    [{ accept: 'application/json' }, false],
    [{ accept: `${IMAGE};q=0` }, false],
    [{ accept: `${IMAGE}; q=0.0, application/json` }, false],
    [{ accept: IMAGE }, true],
    [{ accept: `application/json;q=1, ${IMAGE};q=0.5` }, true],
    [{ accept: IMAGE.toUpperCase() }, true],
  ]
  for (const [headers, image] of cases) {
    const r = await rawGet(server.base, qs, headers)
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-type'] === IMAGE, image, JSON.stringify(headers))
    if (!image) assert.ok(Array.isArray(JSON.parse(r.body.toString())))
  }
})

test('image: 304 for its tag; a holder of the JSON answer is not sent the image as unchanged', async () => {
  const qs = 'table=img_items&offset=-1'
  const h = { accept: IMAGE, 'accept-encoding': 'gzip' }
  const first = await rawGet(server.base, qs, h)
  assert.equal(first.headers['content-type'], IMAGE)
  const again = await rawGet(server.base, qs, { ...h, 'if-none-match': first.headers.etag })
  assert.equal(again.status, 304)
  assert.equal(again.body.length, 0)
  assert.equal(again.headers.etag, first.headers.etag)
  const json = await rawGet(server.base, qs, { 'accept-encoding': 'gzip' })
  const other = await rawGet(server.base, qs, { ...h, 'if-none-match': json.headers.etag })
  assert.equal(other.status, 200)
  assert.equal(other.headers['content-type'], IMAGE)
})

test('image: the engine refuses a hostile image, writes nothing, and goes on in JSON', async () => {
  const plain = await walk(server.base, {}, 'img_items')
  const e = new M.Engine('/hostile.db', { seed: 1, checkpointBytes: 1 })
  try {
    e.defineShape('s', { table: 'img_items' })
    assert.ok(e.nextRequest('s').image)
    const garbage = new Uint8Array(8192).map((_, i) => (i * 31) % 251)
    assert.throws(() => e.ingest('s', { status: 200, headers: plain[0].headers, image: garbage }),
      (err) => err.codeName === 'ESYNC_EPROTO')
    assert.deepEqual(e.status()[0].rows, 0)
    let req = e.nextRequest('s')
    if (req.action === 'wait') req = e.nextRequest('s')
    assert.equal(req.image, false, 'JSON from then on')
    for (const r of plain) {
      if (e.nextRequest('s').action !== 'fetch') e.nextRequest('s')
      e.ingest('s', { status: 200, headers: r.headers, body: new Uint8Array(r.body), nowMs: 1 })
    }
    assert.equal(e.query('SELECT count(*) AS n FROM img_items')[0].n, ROWS)
  } finally {
    e.close()
    M.deleteDatabase('/hostile.db')
  }
})

test('image: ESYNC_SHAPE_IMAGES=false makes none and answers JSON', async () => {
  const off = await startShapeServer('image-off', { env: { ESYNC_SHAPE_IMAGES: 'false' } })
  try {
    await freshTable('img_off')
    await sql(`insert into img_off select g, repeat('x', 200), g, false from generate_series(1, 2000) g`)
    const answers = await walk(off.base, { accept: IMAGE }, 'img_off')
    assert.ok(answers.length >= 3)
    for (const r of answers) assert.match(r.headers['content-type'], /^application\/json/)
    await new Promise((r) => setTimeout(r, 300))
    const files = fs.readdirSync(shapesDir('image-off'), { recursive: true }).map(String)
    assert.ok(files.some((f) => /snap\.\d+$/.test(f)))
    assert.deepEqual(files.filter((f) => f.includes('.img')), [])
  } finally {
    await off.dispose()
  }
})
