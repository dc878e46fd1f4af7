// Helpers the server-side benchmarks share: the private Postgres cluster's URL and a free port.
import { execFileSync } from 'node:child_process'
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
