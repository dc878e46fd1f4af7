// Debian's Varnish as the caching reverse proxy, for the CDN bench (bench/cdn/load.mjs, mode
// `varnish`): the comparison with nginx, whose request collapsing polls its lock every 500 ms
// where Varnish wakes its waiting list when the answer arrives.
//
// The VCL is the one docs/cdn.md ships (the ```vcl block after its `cdn-vcl` marker) with only the
// backend port replaced. varnishd runs as a child in the foreground (-F) with a private working
// directory under build/cdn/; varnishncsa (backend mode) writes one line per request that reached
// the origin, in the format of nginx's electric_sync log, so load.mjs counts both the same way.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { aptInstall, proxyHandle, root, waitListening } from './nginx.mjs'

const which = (name) => {
  for (const d of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    const p = path.join(d, name)
    if (fs.existsSync(p)) return p
  }
  return null
}

// varnishd and varnishncsa, installed from Debian when missing (aptInstall).
export function ensureVarnish() {
  if (which('varnishd') && which('varnishncsa')) return { varnishd: which('varnishd'), ncsa: which('varnishncsa') }
  aptInstall('varnish')
  if (!which('varnishd')) throw new Error('varnish is not installed and apt-get could not install it')
  return { varnishd: which('varnishd'), ncsa: which('varnishncsa') }
}

export function docVcl(originPort) {
  const md = fs.readFileSync(path.join(root, 'docs/cdn.md'), 'utf8')
  const at = md.indexOf('<!-- cdn-vcl')
  const start = md.indexOf('```vcl\n', at)
  const end = md.indexOf('\n```', start + 7)
  if (at < 0 || start < 0 || end < 0) throw new Error('docs/cdn.md: no ```vcl block after the cdn-vcl marker')
  const vcl = md.slice(start + 7, end + 1)
  if (!vcl.includes('.port = "3000";')) throw new Error('docs/cdn.md: the VCL no longer has `.port = "3000";`')
  return vcl.replace('.port = "3000";', `.port = "${originPort}";`)
}

// Starts varnishd in front of originPort. Resolves to the interface of startNginx:
// { port, prefix, logFile, pid, proc, stats(), logLines(), stop() }.
export async function startVarnish({ originPort, port, name = 'varnish', threads = 5000 }) {
  const bin = ensureVarnish()
  const prefix = path.join(root, 'build/cdn', name)
  fs.rmSync(prefix, { recursive: true, force: true })
  fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true })
  const vclFile = path.join(prefix, 'electric-sync.vcl')
  fs.writeFileSync(vclFile, docVcl(originPort))
  const workdir = path.join(prefix, 'work')
  const logFile = path.join(prefix, 'logs/shape.log')
  const proc = spawn(bin.varnishd, [
    '-F', '-j', 'none', '-n', workdir, '-a', `127.0.0.1:${port}`, '-f', vclFile, '-s', 'malloc,256m',
    '-p', `thread_pool_max=${threads}`, '-p', 'thread_pools=2', '-p', 'timeout_idle=65',
    '-p', 'listen_depth=4096', '-p', 'send_timeout=120',
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  const { exited } = await waitListening(proc, port, 'varnishd', 200)
  // One line per backend request: "<epoch s.ms> MISS <backend> <status> <seconds> "<url>"",
  // the fields of nginx's electric_sync format (bench/cdn/nginx.mjs parseLogLine).
  const ncsa = spawn(bin.ncsa, [
    '-n', workdir, '-b', '-w', logFile,
    '-F', '%{sec}t.%{msec_frac}t MISS origin %s %T "%U%q"',
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  await new Promise((r) => setTimeout(r, 500))
  return proxyHandle({
    port, prefix, logFile, proc, exited,
    beforeStop: () => { if (ncsa.exitCode === null) ncsa.kill('SIGTERM') },
  })
}
