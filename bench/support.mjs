// Helpers the server-side benchmarks share: the private Postgres cluster's URL and a free port.
import { execFileSync } from 'node:child_process'
import { createServer } from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

// Starts the checkout's private cluster (scripts/pg.sh) when it is not running and returns its
// URL, with database `db` instead of electric_sync when given. DATABASE_URL is ignored on purpose:
// a benchmark never touches the database of the app.
export function clusterUrl(db) {
  const env = { ...process.env }
  delete env.DATABASE_URL
  execFileSync('bash', [path.join(root, 'scripts/pg.sh'), 'start'], { env, stdio: ['ignore', 'ignore', 'inherit'] })
  const url = execFileSync('bash', [path.join(root, 'scripts/pg.sh'), 'url'], { env, encoding: 'utf8' }).trim()
  return db ? url.replace('/electric_sync?', `/${db}?`) : url
}

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}

// Serves `files` ({ '/path': [content type, body] }) on 127.0.0.1 with the headers of the shape
// service's static files: Cache-Control no-cache (or cacheControl) and a Last-Modified that
// answers revalidation with 304; 404 for any other path. Resolves with the server and its base URL.
export function serveStatic(files, { cacheControl = 'no-cache' } = {}) {
  const modified = new Date(Math.floor(Date.now() / 1000) * 1000).toUTCString()
  const server = createServer((req, res) => {
    const f = files[new URL(req.url, 'http://x').pathname]
    if (!f) { res.writeHead(404); res.end(); return }
    const headers = { 'content-type': f[0], 'cache-control': cacheControl, 'last-modified': modified }
    if (req.headers['if-modified-since'] === modified) { res.writeHead(304, headers); res.end(); return }
    res.writeHead(200, headers)
    res.end(f[1])
  })
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, base: `http://127.0.0.1:${server.address().port}` })))
}
