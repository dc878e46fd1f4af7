// Debian's nginx as a caching reverse proxy on loopback, for the CDN bench (bench/cdn/load.mjs)
// and the cache tests (tests/server/shape-cache.test.js).
//
// The configuration is the one docs/cdn.md ships to users: the ```nginx block after its
// `cdn-conf` marker, with only the upstream address, the listen address, the cache directory and
// the log path replaced (each must be found, so the doc and what is tested cannot drift apart).
// nginx runs as a child in the foreground (daemon off) with a private prefix under build/cdn/:
// no system service, no port 80, nothing outside the prefix written.
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

function nginxBin() {
  for (const p of ['/usr/sbin/nginx', '/usr/local/sbin/nginx']) if (fs.existsSync(p)) return p
  try {
    return execFileSync('bash', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || null
  } catch {
    return null
  }
}

// A Debian package installed the way scripts/setup.sh installs its packages. While apt runs, a
// policy-rc.d (when the machine has none; removed afterwards) keeps the package from starting
// its system service (nginx on port 80, varnish on 6081).
export function aptInstall(pkg) {
  const sudo = process.getuid?.() === 0 ? '' : 'sudo '
  const script = `set -e
policy=/usr/sbin/policy-rc.d; made=0
if [ ! -e $policy ]; then printf '#!/bin/sh\\nexit 101\\n' | ${sudo}tee $policy >/dev/null; ${sudo}chmod +x $policy; made=1; fi
trap '[ $made = 1 ] && ${sudo}rm -f '$policy EXIT
${sudo}apt-get update -qq
DEBIAN_FRONTEND=noninteractive ${sudo}apt-get install -y -qq ${pkg} >/dev/null`
  process.stderr.write(`cdn: installing Debian package ${pkg}\n`)
  execFileSync('bash', ['-c', script], { stdio: ['ignore', 'ignore', 'inherit'] })
}

// The nginx binary, installed from Debian (nginx-light) when missing.
export function ensureNginx() {
  let bin = nginxBin()
  if (bin) return bin
  aptInstall('nginx-light')
  bin = nginxBin()
  if (!bin) throw new Error('nginx is not installed and apt-get could not install nginx-light')
  return bin
}

// The users' configuration from docs/cdn.md, pointed at this origin, port and prefix.
export function docConfig({ origin, listen, cacheDir, logFile, logBuffer }) {
  const md = fs.readFileSync(path.join(root, 'docs/cdn.md'), 'utf8')
  const at = md.indexOf('<!-- cdn-conf')
  const start = md.indexOf('```nginx\n', at)
  const end = md.indexOf('\n```', start + 9)
  if (at < 0 || start < 0 || end < 0) throw new Error('docs/cdn.md: no ```nginx block after the cdn-conf marker')
  let conf = md.slice(start + 9, end + 1)
  const swap = (from, to) => {
    if (!conf.includes(from)) throw new Error(`docs/cdn.md: the nginx block no longer has "${from}"`)
    conf = conf.replace(from, to)
  }
  swap('server 127.0.0.1:3000;', `server ${origin};`)
  swap('listen 8080;', `listen ${listen};`)
  swap('/var/cache/nginx/electric-sync ', `${cacheDir} `)
  const buffered = logBuffer ? ` buffer=${logBuffer} flush=1s` : ''
  swap('/var/log/nginx/electric-sync.log electric_sync;', `${logFile} electric_sync${buffered};`)
  return conf
}

export function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.on('connect', () => { s.destroy(); resolve(true) })
    s.on('error', () => resolve(false))
  })
}

// Starts nginx in front of originPort. Options: name (the prefix build/cdn/<name>), workers,
// connections (per worker), logBuffer (e.g. '256k': the shape log written in blocks, flushed
// every second; unset: a line per request at once, as the doc has it).
// Resolves to { port, prefix, logFile, pid, stats(), logLines(), stop() }.
export async function startNginx({ originPort, port, name = 'nginx', workers = 1, connections = 4096, logBuffer }) {
  const bin = ensureNginx()
  const prefix = path.join(root, 'build/cdn', name)
  fs.rmSync(prefix, { recursive: true, force: true })
  for (const d of ['cache', 'logs', 'tmp']) fs.mkdirSync(path.join(prefix, d), { recursive: true })
  const logFile = path.join(prefix, 'logs/shape.log')
  const snippet = docConfig({
    origin: `127.0.0.1:${originPort}`,
    listen: `127.0.0.1:${port}`,
    cacheDir: path.join(prefix, 'cache'),
    logFile,
    logBuffer,
  })
  const tmp = (k) => `${k}_temp_path ${path.join(prefix, 'tmp', k)};`
  const conf = `# written by bench/cdn/nginx.mjs: a private nginx around the configuration of docs/cdn.md
${process.getuid?.() === 0 ? 'user root;' : ''}
daemon off;
worker_processes ${workers};
worker_rlimit_nofile ${connections * 2 + 64};
pid ${path.join(prefix, 'nginx.pid')};
error_log ${path.join(prefix, 'logs/error.log')} warn;
events {
    worker_connections ${connections};
    multi_accept on;
}
http {
    default_type application/octet-stream;
    access_log off;
    ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(tmp).join('\n    ')}

${snippet}}
`
  const confFile = path.join(prefix, 'nginx.conf')
  fs.writeFileSync(confFile, conf)
  const proc = spawn(bin, ['-p', prefix + '/', '-c', confFile, '-e', path.join(prefix, 'logs/error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const { exited } = await waitListening(proc, port, 'nginx', 100, () => {
    try { return fs.readFileSync(path.join(prefix, 'logs/error.log'), 'utf8') } catch { return '' }
  })
  // (nginx flushes its shape log's buffer at least every second)
  return proxyHandle({ port, prefix, logFile, proc, exited })
}

// Waits until the proxy `proc` (its stderr piped) listens on port, polling every 50 ms up to
// `tries` times; kills it and throws with its stderr and moreLog() when it exits or never listens.
// Resolves to { exited }: a promise of its exit (wrapped: an async function returning the promise
// itself would wait for the exit).
export async function waitListening(proc, port, what, tries, moreLog = () => '') {
  let err = ''
  proc.stderr.on('data', (d) => { err += d })
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })))
  for (let i = 0; i < tries; i++) {
    if (proc.exitCode !== null) break
    if (await portOpen(port)) break
    await new Promise((r) => setTimeout(r, 50))
  }
  if (proc.exitCode !== null || !(await portOpen(port))) {
    proc.kill('SIGKILL')
    throw new Error(`${what} did not start: ${err}\n${moreLog()}`)
  }
  return { exited }
}

// What startNginx and startVarnish resolve to: { port, prefix, logFile, pid, proc, stats() (the
// process tree's RSS and CPU), logLines() (the shape log so far: one line per request that
// reached the origin is marked upstream), stop() (after beforeStop()) }.
export function proxyHandle({ port, prefix, logFile, proc, exited, beforeStop = () => {} }) {
  return {
    port,
    prefix,
    logFile,
    pid: proc.pid,
    proc,
    stats() {
      return procTreeStats(proc.pid)
    },
    logLines() {
      try { return fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean) } catch { return [] }
    },
    async stop() {
      beforeStop()
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      await exited
    },
  }
}

// A process and its descendants: their RSS (bytes) and CPU seconds (user + system).
export function procTreeStats(pid) {
  const pids = [pid]
  for (let i = 0; i < pids.length; i++) {
    try {
      for (const t of fs.readdirSync(`/proc/${pids[i]}/task`)) {
        const kids = fs.readFileSync(`/proc/${pids[i]}/task/${t}/children`, 'utf8').trim()
        if (kids) pids.push(...kids.split(/\s+/).map(Number))
      }
    } catch {}
  }
  let rss = 0
  let cpu = 0
  for (const p of pids) {
    try {
      rss += Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))[1]) * 1024
      const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')
      cpu += (Number(st[11]) + Number(st[12])) / 100
    } catch {}
  }
  return { rss, cpu }
}

// One line of the electric_sync log format: { t (s), cache, upstream (bool), status, uri }.
export function parseLogLine(line) {
  const m = /^(\S+) (\S+) (.+?) (\d{3}) (\S+) "(.*)"$/.exec(line)
  if (!m) return null
  return { t: Number(m[1]), cache: m[2], upstream: m[3] !== '-', status: Number(m[4]), uri: m[6] }
}
