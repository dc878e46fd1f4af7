// Static files: web/ (here a temporary copy, so the test does not depend on what web/ holds
// today), /dev/sync-test, the wasm build at /wasm/, content types, and path traversal.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { api, expectError, prepareDatabase, raw, root, startServer } from './helpers.js'

let s, dir
before(async () => {
  await prepareDatabase()
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'esync-static-'))
  const web = path.join(dir, 'web')
  const wasm = path.join(dir, 'wasm')
  fs.mkdirSync(path.join(web, 'dev/sync-test'), { recursive: true })
  fs.mkdirSync(path.join(web, 'sub'), { recursive: true })
  fs.mkdirSync(wasm)
  fs.writeFileSync(path.join(web, 'index.html'), '<!doctype html><title>root</title>')
  fs.writeFileSync(path.join(web, 'dev/sync-test/index.html'), '<!doctype html><title>sync test</title>')
  fs.writeFileSync(path.join(web, 'electric-sync.js'), 'export const x = 1\n')
  fs.writeFileSync(path.join(web, 'electric-sync.worker.js'), 'self.onconnect = () => {}\n')
  fs.writeFileSync(path.join(web, 'style.css'), 'body{}')
  fs.writeFileSync(path.join(web, 'data.json'), '{"a":1}')
  fs.writeFileSync(path.join(web, 'blob.bin'), Buffer.from([0, 1, 2]))
  fs.writeFileSync(path.join(web, '.hidden'), 'secret')
  fs.writeFileSync(path.join(dir, 'outside.txt'), 'outside')
  fs.symlinkSync(path.join(dir, 'outside.txt'), path.join(web, 'escape.txt'))
  fs.symlinkSync(dir, path.join(web, 'up'))
  fs.writeFileSync(path.join(wasm, 'electric-sync.js'), 'var Module = {}\n')
  fs.writeFileSync(path.join(wasm, 'electric-sync.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))
  fs.writeFileSync(path.join(wasm, 'other.txt'), 'not served')
  s = await startServer({ dev: false, env: { ESYNC_WEB_DIR: web, ESYNC_WASM_DIR: wasm } })
})
after(async () => {
  await s?.stop()
  fs.rmSync(dir, { recursive: true, force: true })
})

const get = async (p, method = 'GET') => {
  const res = await fetch(s.base + p, { method })
  return { status: res.status, type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()), headers: res.headers }
}

test('files with their content types', async () => {
  const cases = [
    ['/', 'text/html; charset=utf-8', '<!doctype html><title>root</title>'],
    ['/index.html', 'text/html; charset=utf-8', '<!doctype html><title>root</title>'],
    ['/electric-sync.js', 'text/javascript; charset=utf-8', 'export const x = 1\n'],
    ['/electric-sync.worker.js', 'text/javascript; charset=utf-8', 'self.onconnect = () => {}\n'],
    ['/style.css', 'text/css; charset=utf-8', 'body{}'],
    ['/data.json', 'application/json', '{"a":1}'],
    ['/blob.bin', 'application/octet-stream', '\u0000\u0001\u0002'],
    ['/wasm/electric-sync.js', 'text/javascript; charset=utf-8', 'var Module = {}\n'],
  ]
  for (const [p, type, body] of cases) {
    const r = await get(p)
    assert.equal(r.status, 200, p)
    assert.equal(r.type, type, p)
    assert.equal(r.body.toString('latin1'), body, p)
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff')
  }
  const w = await get('/wasm/electric-sync.wasm')
  assert.equal(w.status, 200)
  assert.equal(w.type, 'application/wasm')
  assert.deepEqual([...w.body], [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])
  // WebAssembly.compileStreaming insists on application/wasm; the real thing must pass it.
})

test('/dev/sync-test serves its index.html, with or without the slash', async () => {
  for (const p of ['/dev/sync-test', '/dev/sync-test/', '/dev/sync-test/index.html']) {
    const r = await get(p)
    assert.equal(r.status, 200, p)
    assert.equal(r.type, 'text/html; charset=utf-8')
    assert.match(r.body.toString(), /sync test/)
  }
})

test('HEAD: headers only', async () => {
  const r = await get('/electric-sync.js', 'HEAD')
  assert.equal(r.status, 200)
  assert.equal(r.body.length, 0)
  assert.equal(r.headers.get('content-length'), String('export const x = 1\n'.length))
})

test('ETag: a matching If-None-Match gets a 304 without the body, a changed file a new ETag', async () => {
  const w = await get('/wasm/electric-sync.wasm')
  const etag = w.headers.get('etag')
  assert.match(etag, /^"[0-9a-f]+-[0-9a-f]+\.[0-9a-f]+"$/)
  assert.equal(w.headers.get('cache-control'), 'no-cache')
  const revalidate = (p, inm) => fetch(s.base + p, { headers: { 'if-none-match': inm } })
  for (const inm of [etag, `"other", ${etag}`, '*']) {
    const r = await revalidate('/wasm/electric-sync.wasm', inm)
    assert.equal(r.status, 304, inm)
    assert.equal(r.headers.get('etag'), etag)
    assert.equal((await r.arrayBuffer()).byteLength, 0)
  }
  const other = await revalidate('/wasm/electric-sync.wasm', '"0-0.0"')
  assert.equal(other.status, 200)
  assert.equal(Buffer.from(await other.arrayBuffer()).length, 8)
  // the same bytes written again: another modification time, another ETag, the whole file
  const file = path.join(dir, 'web/style.css')
  const before = (await get('/style.css')).headers.get('etag')
  fs.utimesSync(file, new Date(), new Date(Date.now() + 5000))
  const r = await revalidate('/style.css', before)
  assert.equal(r.status, 200)
  assert.notEqual(r.headers.get('etag'), before)
  assert.equal(await r.text(), 'body{}')
})

test('404s: missing, hidden, outside /wasm/ allow-list, symlinks out of the root', async () => {
  for (const p of ['/missing.js', '/.hidden', '/wasm/other.txt', '/escape.txt', '/up/outside.txt', '/sub', '/dev/']) {
    const r = await api(s, 'GET', p)
    expectError(r, 404, 'not_found')
  }
})

test('path traversal in every spelling is refused', async () => {
  const attempts = [
    '/../outside.txt', '/%2e%2e/outside.txt', '/%2E%2E%2Foutside.txt', '/sub/../../outside.txt',
    '/..%2foutside.txt', '/./index.html', '//etc/passwd', '/%2fetc%2fpasswd', '/sub/%2e%2e/%2e%2e/outside.txt',
    '/..\\outside.txt', '/%5c..%5coutside.txt', '/wasm/../outside.txt', '/wasm/%2e%2e/outside.txt',
    '/index.html%00.js', '/....//outside.txt',
  ]
  for (const p of attempts) {
    const r = await raw(s, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    assert.ok(r.status === 404 || r.status === 400, `${p} -> ${r.status}`)
    assert.ok(!r.body.includes('outside') || r.body.includes('error'), p)
    assert.ok(!r.body.includes('root:'), p)
  }
})

test('other methods on static paths: 405', async () => {
  const r = await api(s, 'POST', '/index.html', { json: {} })
  expectError(r, 405, 'method_not_allowed')
  assert.equal(r.headers.get('allow'), 'GET, HEAD')
  expectError(await api(s, 'DELETE', '/'), 405)
})

test('the default roots are web/ and build/wasm/ of the checkout', async (t) => {
  const d = await startServer({ dev: false })
  try {
    for (const [p, file, type] of [
      ['/wasm/electric-sync.wasm', 'build/wasm/electric-sync.wasm', 'application/wasm'],
      ['/wasm/electric-sync.js', 'build/wasm/electric-sync.js', 'text/javascript; charset=utf-8'],
      ['/electric-sync.js', 'web/electric-sync.js', 'text/javascript; charset=utf-8'],
      ['/dev/sync-test', 'web/dev/sync-test/index.html', 'text/html; charset=utf-8'],
    ]) {
      const r = await fetch(d.base + p)
      if (!fs.existsSync(path.join(root, file))) {
        assert.equal(r.status, 404, p)
        t.diagnostic(`${file} not built/written yet: 404 checked instead`)
        continue
      }
      assert.equal(r.status, 200, p)
      assert.equal(r.headers.get('content-type'), type)
      assert.ok(Buffer.from(await r.arrayBuffer()).equals(fs.readFileSync(path.join(root, file))), p)
    }
  } finally {
    await d.stop()
  }
})
