// A new shape's chunks served while its snapshot is taken, behind the nginx cache of docs/cdn.md
// (bench/cdn/nginx.mjs runs that configuration): what nginx stores then is a whole chunk, the very
// answer the stored shape gives later (body and etag), so a cached answer is never a chunk in
// progress. Ordering is observed (meta.json absent, the estimate header), never timed.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { startNginx } from '../../bench/cdn/nginx.mjs'
import { freePort } from './helpers.js'
import { prepareShapeDb, shapeGet as shapeGetAny, sql, startShapeServer, shapesDir } from './shape-helpers.js'

// The uncompressed representation: a chunk cached while the snapshot runs is the very answer the
// stored shape gives (bytes, etag); the gzip one appears later, with its own etag (shape-gzip).
const shapeGet = (base, qs, opts = {}) => shapeGetAny(base, qs, { ...opts, headers: { 'accept-encoding': 'identity', ...opts.headers } })

const ROUTE = '/api/electric/v1/shape'
const ROWS = 120000
let server, cache
before(async () => {
  await prepareShapeDb()
  await sql('create table if not exists ssc_big (id int primary key, title text not null, description text)')
  const { rows } = await sql('select count(*)::int as n from ssc_big')
  if (rows[0].n !== ROWS) {
    await sql('truncate ssc_big')
    await sql(`insert into ssc_big select g, 'item ' || g, repeat(md5(g::text), 10) from generate_series(1, ${ROWS}) g`)
    await sql('analyze ssc_big')
  }
  server = await startShapeServer('snapcache', { env: { ESYNC_DEV: '0', ELECTRIC_SECRET: 'snapcache-secret', ESYNC_PROXY_TABLES: 'ssc_big' } })
  cache = await startNginx({ originPort: server.port, port: await freePort(), name: 'test-snapstream-cache' })
})
after(async () => {
  await cache?.stop()
  await server?.dispose()
})

const viaCache = (qs, headers = {}) => shapeGet(`http://127.0.0.1:${cache.port}`, qs, { path: ROUTE, headers })
const atOrigin = (qs) => shapeGet(server.base, qs, { path: ROUTE })

test('cache: chunks of a new shape cached while its snapshot runs are whole, the stored shape answers the same', async () => {
  const qs = `table=ssc_big&where=${encodeURIComponent("title <> 'cache'")}`
  const first = await viaCache(`${qs}&offset=-1`)
  assert.equal(first.status, 200)
  assert.equal(first.headers.get('x-cache'), 'MISS')
  const handle = first.headers.get('electric-handle')
  assert.equal(fs.existsSync(path.join(shapesDir('snapcache'), handle, 'meta.json')), false, 'the snapshot is still running')
  assert.ok(first.headers.get('electric-sync-rows-estimate'), 'built while the snapshot runs')
  const second = await viaCache(`${qs}&offset=0_0&handle=${handle}`)
  assert.equal(second.status, 200)
  assert.equal(second.headers.get('x-cache'), 'MISS')
  // both from the cache now, whole
  const hit = await viaCache(`${qs}&offset=-1`)
  assert.equal(hit.headers.get('x-cache'), 'HIT')
  assert.equal(hit.text, first.text)
  const hit2 = await viaCache(`${qs}&offset=0_0&handle=${handle}`)
  assert.equal(hit2.headers.get('x-cache'), 'HIT')
  assert.equal(hit2.text, second.text)
  // the rest through the cache, to up-to-date: every row once
  let offset = second.headers.get('electric-offset')
  const inserts = (b) => b.filter((m) => m.headers?.operation === 'insert').length
  let rows = inserts(first.body) + inserts(second.body)
  for (;;) {
    const r = await viaCache(`${qs}&offset=${offset}&handle=${handle}`)
    assert.equal(r.status, 200)
    rows += inserts(r.body)
    offset = r.headers.get('electric-offset')
    if (r.headers.get('electric-up-to-date')) break
  }
  assert.equal(rows, ROWS)
  // the stored shape, asked at the origin: the same chunks, the same etags, the exact count
  const o1 = await atOrigin(`${qs}&offset=-1`)
  assert.equal(o1.headers.get('electric-handle'), handle)
  assert.equal(o1.text, first.text)
  assert.equal(o1.headers.get('etag'), first.headers.get('etag'))
  assert.equal(o1.headers.get('electric-sync-rows'), String(ROWS))
  const o2 = await atOrigin(`${qs}&offset=0_0&handle=${handle}`)
  assert.equal(o2.text, second.text)
  assert.equal(o2.headers.get('etag'), second.headers.get('etag'))
  // a client revalidating its cached chunk 0 gets a 304 through the cache
  const nm = await viaCache(`${qs}&offset=-1`, { 'if-none-match': first.headers.get('etag') })
  assert.equal(nm.status, 304)
})
