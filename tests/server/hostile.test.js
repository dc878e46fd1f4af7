// Hostile input: SQL in ids and fields, invalid UTF-8, deep nesting, huge bodies, bodies that
// never finish, odd bytes in paths and headers. The server must answer each with the documented
// error (or store the text verbatim), never crash, and keep serving everyone else.
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { Readable } from 'node:stream'
import { after, before, test } from 'node:test'
import { api, expectError, prepareDatabase, query, raw, sleep, startServer } from './helpers.js'

let s
before(async () => {
  await prepareDatabase()
  // A short idle timeout so the never-finishing body test does not take 30 s.
  s = await startServer({ dev: true, env: { ESYNC_HTTP_TIMEOUT: '2' } })
  assert.equal((await api(s, 'POST', '/api/dev/reset')).status, 200)
})
after(async () => {
  const r = await s?.stop()
  assert.equal(r?.code, 0, 'clean exit after all of this')
})

// On a connection of its own: the server closes idle ones after ESYNC_HTTP_TIMEOUT (2 s here), and
// fetch's pool may reuse one at that very moment ("fetch failed", seen once in a full run).
const alive = async () => {
  const status = await new Promise((resolve, reject) => {
    http.get(`${s.base}/api/schema/version`, { agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)) }).on('error', reject)
  })
  assert.equal(status, 200)
  assert.equal(s.proc.exitCode, null)
}
const count = async () => Number((await query('select count(*) from test_items')).rows[0].count)
const postRaw = (body, headers = { 'content-type': 'application/json' }) =>
  api(s, 'POST', '/api/test-items', { body, headers })

test('SQL in fields is stored verbatim', async () => {
  const evil = [
    "Robert'); DROP TABLE test_items;--",
    "' OR '1'='1",
    '"; DELETE FROM test_items; --',
    '$1, $2) RETURNING *; --',
    "\\'; SELECT pg_sleep(5); --",
    'E\'\\x00\'',
    '😀 ünïcödé 漢字 \u202e RTL \uFEFF',
  ]
  for (const title of evil) {
    const r = await api(s, 'POST', '/api/test-items', { json: { title, description: title } })
    assert.equal(r.status, 201, r.text)
    assert.equal(r.data.title, title)
    const db = await query('select title, description from test_items where id = $1', [r.data.id])
    assert.deepEqual(db.rows[0], { title, description: title })
    const u = await api(s, 'PUT', `/api/test-items/${r.data.id}`, { json: { title: title + ' (2)' } })
    assert.equal(u.data.title, title + ' (2)')
  }
  assert.equal((await query("select to_regclass('public.test_items') is not null as ok")).rows[0].ok, true)
})

test('SQL in ids: 400, nothing touched', async () => {
  const before = await count()
  const ids = ["' OR 1=1 --", "1; DROP TABLE test_items", "00000000-0000-0000-0000-000000000000' OR '1'='1",
    '%27%20OR%201%3D1', '..%2F..%2Fetc', "'||pg_sleep(1)||'"]
  for (const id of ids) {
    const p = `/api/test-items/${encodeURIComponent(id)}`
    expectError(await api(s, 'DELETE', p), 400, 'invalid_id')
    expectError(await api(s, 'PUT', p, { json: { title: 'x' } }), 400, 'invalid_id')
  }
  expectError(await api(s, 'POST', '/api/test-items', { json: { id: "' OR 1=1 --", title: 'x' } }), 400, 'invalid_id')
  assert.equal(await count(), before)
})

test('invalid UTF-8 in bodies: 400, never stored', async () => {
  const before = await count()
  const bodies = [
    Buffer.from([0x7b, 0x22, 0x74, 0x69, 0x74, 0x6c, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), // {"title":"\xff\xfe"}
    Buffer.concat([Buffer.from('{"title":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]),       // overlong '/'
    Buffer.concat([Buffer.from('{"title":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]), // surrogate
    Buffer.concat([Buffer.from('{"title":"'), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from('"}')]), // > U+10FFFF
    Buffer.concat([Buffer.from('{"title":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}')]),       // truncated
    Buffer.from('{"title":"a\u0000b"}'.replace('\u0000', '\\u0000')),
    Buffer.concat([Buffer.from('{"title":"a'), Buffer.from([0]), Buffer.from('b"}')]),
    Buffer.from('{"title":"\\ud800"}'),
    Buffer.from('{"title":"\\udc00x"}'),
    Buffer.from('{"title":"tab\there"}'),
  ]
  for (const b of bodies) expectError(await postRaw(b), 400, 'invalid_json')
  assert.equal(await count(), before)
  const ok = await postRaw(Buffer.from('{"title":"\\ud83d\\ude00 ok"}'))
  assert.equal(ok.status, 201)
  assert.equal(ok.data.title, '😀 ok')
})

test('deeply nested JSON: 400 past 32 levels, no crash at 100000', async () => {
  expectError(await postRaw('['.repeat(33) + ']'.repeat(33)), 400, 'invalid_json')
  expectError(await postRaw('{"title":' + '{"a":'.repeat(100000) + '1' + '}'.repeat(100001)), 400, 'invalid_json')
  expectError(await postRaw('['.repeat(500000)), 400, 'invalid_json')
  // 32 levels parse, then fail the schema.
  expectError(await postRaw('{"title":' + '['.repeat(31) + ']'.repeat(31) + '}'), 400, 'invalid_body')
  await alive()
})

test('a 10 MB body: 413, and the server survives', async () => {
  const big = '{"title":"' + 'x'.repeat(10 * 1024 * 1024) + '"}'
  expectError(await postRaw(big), 413, 'payload_too_large')
  // Chunked (no Content-Length): the limit is enforced while reading.
  const res = await new Promise((resolve, reject) => {
    const req = http.request({ port: s.port, host: '127.0.0.1', method: 'POST', path: '/api/test-items',
      headers: { 'content-type': 'application/json' } }, (r) => {
      let body = ''
      r.on('data', (d) => (body += d))
      r.on('end', () => resolve({ status: r.statusCode, body }))
    })
    req.on('error', reject)
    Readable.from((function* () { for (let i = 0; i < 160; i++) yield Buffer.alloc(65536, 0x61) })()).pipe(req)
  })
  assert.equal(res.status, 413)
  assert.equal(JSON.parse(res.body).error.code, 'payload_too_large')
  // Expect: 100-continue: refused before the body is sent.
  const r = await raw(s, 'POST /api/test-items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
    'Content-Length: 10485760\r\nExpect: 100-continue\r\n\r\n')
  assert.equal(r.status, 413)
  // Announced far beyond what is worth reading: 413 and the connection is closed.
  const r2 = await raw(s, 'POST /api/test-items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
    'Content-Length: 1000000000000\r\n\r\n{"title":')
  assert.equal(r2.status, 413)
  await alive()
})

test('a client that never finishes its body: others are served, it times out', async () => {
  const sock = net.connect(s.port, '127.0.0.1')
  await new Promise((r) => sock.on('connect', r))
  sock.write('POST /api/test-items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"tit')
  const closed = new Promise((resolve) => sock.on('close', () => resolve(Date.now())))
  sock.on('error', () => {})
  const t0 = Date.now()
  // Meanwhile: many requests on other connections, all answered promptly.
  const results = await Promise.all(Array.from({ length: 20 }, () => api(s, 'GET', '/api/schema/version')))
  assert.ok(results.every((r) => r.status === 200))
  assert.ok(Date.now() - t0 < 1500, 'others were not held up')
  const created = await api(s, 'POST', '/api/test-items', { json: { title: 'while another hangs' } })
  assert.equal(created.status, 201)
  const t1 = await closed
  assert.ok(t1 - t0 >= 1500 && t1 - t0 < 6000, `closed after ${t1 - t0} ms`)
  await sleep(50)
  assert.match(s.log(), /"POST \/api\/test-items" - 0 [\d.]+ms timeout/)
  // Many at once (slowloris-style) do not block either.
  const socks = []
  for (let i = 0; i < 50; i++) {
    const c = net.connect(s.port, '127.0.0.1')
    c.on('error', () => {})
    c.write('POST /api/test-items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{')
    socks.push(c)
  }
  await alive()
  for (const c of socks) c.destroy()
})

test('unknown fields, wrong content types', async () => {
  expectError(await api(s, 'POST', '/api/test-items', { json: { title: 'x', __proto__: { a: 1 }, constructor: 1 } }), 400, 'invalid_body')
  expectError(await api(s, 'POST', '/api/test-items', { json: { title: 'x', 'title ': 'y' } }), 400, 'invalid_body')
  expectError(await api(s, 'POST', '/api/test-items', { json: { Title: 'x' } }), 400, 'invalid_body')
  const form = await api(s, 'POST', '/api/test-items', { body: new URLSearchParams({ title: 'x' }) })
  expectError(form, 415, 'unsupported_media_type')
  const multi = new FormData()
  multi.set('title', 'x')
  expectError(await api(s, 'POST', '/api/test-items', { body: multi }), 415, 'unsupported_media_type')
  expectError(await postRaw('{"title":"x"}', { 'content-type': 'text/json' }), 415)
  expectError(await postRaw('{"title":"x"}', { 'content-type': 'application/json; charset=utf-16' }), 415)
})

test('odd request lines and headers do not crash the server', async () => {
  const lines = [
    'GET /api/schema/version?x=%00 HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /api/test-items/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n',
    'DELETE /api/test-items/%2e%2e%2f HTTP/1.1\r\nHost: x\r\n\r\n',
    'BREW /api/test-items HTTP/1.1\r\nHost: x\r\n\r\n',
    'POST /api/test-items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n',
    'POST /api/test-items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}',
    'POST /api/test-items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'GET /' + 'a'.repeat(100000) + ' HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nX-Big: ' + 'b'.repeat(100000) + '\r\n\r\n',
    'GET /api/"quoted"\x1b[31m%0a%1b[0m HTTP/1.1\r\nHost: x\r\n\r\n',
    '\r\n\r\n\r\n',
    'garbage\r\n\r\n',
  ]
  for (const l of lines) {
    const r = await raw(s, l, { idleMs: 100, timeoutMs: 3000 })
    assert.ok(r.status === null || r.status < 500, `${JSON.stringify(l.slice(0, 60))} -> ${r.status}`)
  }
  await alive()
  // The access log escapes what it prints: no raw control bytes or forged lines.
  assert.ok(!/\x1b/.test(s.log()))
})

test('concurrent writes are all stored', async () => {
  const before = await count()
  const rs = await Promise.all(Array.from({ length: 200 }, (_, i) =>
    api(s, 'POST', '/api/test-items', { json: { title: `concurrent ${i}` } })))
  assert.ok(rs.every((r) => r.status === 201))
  assert.equal(await count(), before + 200)
})
