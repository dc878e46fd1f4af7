// scripts/pg.sh and scripts/db.sh: idempotent, quiet where they must be, and per checkout.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { pg_sh, prepareDatabase, root } from './helpers.js'

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts })

test('pg.sh start is idempotent; status and url agree', async () => {
  await prepareDatabase()
  pg_sh('start')
  pg_sh('start')
  const url = pg_sh('url')
  assert.match(url, /^postgresql:\/\/\/electric_sync\?host=[^&]+&port=\d+&user=postgres$/)
  assert.equal(pg_sh('status'), url)
  assert.ok(url.includes(`host=${fs.realpathSync(root)}/.data/run&`))
})

test('npm run -s db:url prints the URL and nothing else; DATABASE_URL wins', () => {
  const env = { ...process.env }
  delete env.DATABASE_URL
  assert.equal(run('npm', ['run', '-s', 'db:url'], { env }), pg_sh('url') + '\n')
  assert.equal(run('npm', ['run', '-s', 'db:url'], { env: { ...env, DATABASE_URL: 'postgresql://elsewhere/db' } }),
    'postgresql://elsewhere/db\n')
  assert.equal(run('bash', ['scripts/pg.sh', 'url'], { env: { ...env, DATABASE_URL: 'postgresql://elsewhere/db' } }),
    'postgresql://elsewhere/db\n')
})

test('a checkout whose socket path would be too long gets a short one under /tmp, and its own port', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'esync-deep-'))
  const deep = path.join(base, 'x'.repeat(60), 'y'.repeat(40), 'checkout')
  fs.mkdirSync(path.join(deep, 'scripts'), { recursive: true })
  for (let d = deep; d !== path.dirname(base); d = path.dirname(d)) fs.chmodSync(d, 0o755)
  fs.copyFileSync(path.join(root, 'scripts/pg.sh'), path.join(deep, 'scripts/pg.sh'))
  const env = { ...process.env }
  delete env.DATABASE_URL
  const sh = (cmd) => run('bash', [path.join(deep, 'scripts/pg.sh'), cmd], { env, cwd: deep }).trim()
  try {
    const url = sh('url')
    const host = /host=([^&]+)/.exec(url)[1]
    const port = /port=(\d+)/.exec(url)[1]
    assert.match(host, /^\/tmp\/esync-[0-9a-f]{8}$/)
    assert.notEqual(port, /port=(\d+)/.exec(pg_sh('url'))[1], 'a different port than this checkout')
    sh('start')
    assert.equal(sh('status'), url)
    assert.equal(run('psql', ['-X', '-tAc', 'select current_setting(\'wal_level\')', url]).trim(), 'logical')
    sh('stop')
    sh('stop')
    assert.throws(() => sh('status'), /not running/)
  } finally {
    try { sh('stop') } catch {}
    fs.rmSync(base, { recursive: true, force: true })
  }
})
