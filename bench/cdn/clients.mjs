// The CDN bench's clients (bench/cdn/load.mjs starts this file as worker threads): thousands of
// cheap shape clients, each with its own keep-alive socket and a minimal HTTP/1.1 reader, that
// follow handles, offsets and cursors the way Electric's client does (-1, then catch-up, then
// live long-polls with the cursor they were given; 409: back to -1 with the new handle).
//
// Cheap because only a sample of the clients parses bodies into rows (checked against Postgres at
// the end); every client counts the change messages it received and measures commit-to-client
// latency from each row's t_ms (clock_timestamp() in ms just before COMMIT, same host), and at the
// end every client must hold its shape's final handle and offset with the same message count as a
// fresh full read of the shape: nothing lost, nothing doubled.
import net from 'node:net'
import { parentPort, workerData } from 'node:worker_threads'

const { port, route, shapes, clients: specs, rampPerSec } = workerData
const HIST_MAX = 120000
const hist = new Uint32Array(HIST_MAX + 1) // commit-to-client latency, 1 ms buckets
// the same, split by how the cache answered: the request that went to the origin (MISS) or one
// that was answered from the cache (HIT: it found the answer there, or waited on the cache lock)
const histMiss = new Uint32Array(HIST_MAX + 1)
const histHit = new Uint32Array(HIST_MAX + 1)
const perShapeRequests = new Float64Array(shapes.length)
const statuses = {}
const cacheStatus = {}
let requests = 0
let targets = null // shape index -> { handle, offset } once writes are over

// --- a keep-alive HTTP/1.1 connection, one request at a time ---------------------------------
class Conn {
  constructor() {
    this.sock = null
    this.buf = null
    this.cb = null
  }

  open() {
    this.buf = null
    const s = net.connect({ port, host: '127.0.0.1' })
    s.setNoDelay(true)
    s.on('data', (d) => {
      this.buf = this.buf ? Buffer.concat([this.buf, d]) : d
      this.parse()
    })
    const fail = (e) => {
      if (this.sock !== s) return
      this.sock = null
      const cb = this.cb
      this.cb = null
      if (cb) cb(e ?? new Error('connection closed'))
    }
    s.on('error', fail)
    s.on('close', () => fail(null))
    this.sock = s
  }

  get(path, cb) {
    if (!this.sock || this.sock.destroyed) this.open()
    this.cb = cb
    this.buf = null
    this.sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
  }

  parse() {
    const buf = this.buf
    const he = buf.indexOf('\r\n\r\n')
    if (he < 0) return
    const head = buf.toString('latin1', 0, he)
    const lines = head.split('\r\n')
    const status = Number(lines[0].slice(9, 12))
    const h = {}
    for (let i = 1; i < lines.length; i++) {
      const c = lines[i].indexOf(':')
      if (c > 0) h[lines[i].slice(0, c).toLowerCase()] = lines[i].slice(c + 1).trim()
    }
    let body
    let end
    const start = he + 4
    if (h['transfer-encoding'] === 'chunked') {
      const parts = []
      let p = start
      for (;;) {
        const le = buf.indexOf('\r\n', p)
        if (le < 0) return
        const n = parseInt(buf.toString('latin1', p, le), 16)
        if (n === 0) {
          if (buf.length < le + 4) return
          end = le + 4
          break
        }
        if (buf.length < le + 2 + n + 2) return
        parts.push(buf.subarray(le + 2, le + 2 + n))
        p = le + 2 + n + 2
      }
      body = parts.length === 1 ? parts[0] : Buffer.concat(parts)
    } else {
      const n = Number(h['content-length'] ?? 0)
      if (buf.length < start + n) return
      body = buf.subarray(start, start + n)
      end = start + n
    }
    this.buf = end < buf.length ? buf.subarray(end) : null
    if (h.connection === 'close') {
      const s = this.sock
      this.sock = null
      s.destroy()
    }
    const cb = this.cb
    this.cb = null
    if (cb) cb(null, status, h, body)
  }

  close() {
    this.cb = null
    if (this.sock) this.sock.destroy()
    this.sock = null
  }
}

// --- one client ---------------------------------------------------------------------------------
const T_MS = /"t_ms":"(\d+)"/g
const OP = '"operation":"'

class Client {
  constructor(spec) {
    this.shape = spec.shape
    this.base = `${route}?table=bench_items&where=${shapes[spec.shape].where}`
    this.rows = spec.sample ? new Map() : null
    this.conn = new Conn()
    this.handle = null
    this.offset = '-1'
    this.cursor = null
    this.live = false
    this.liveSince = 0
    this.msgs = 0
    this.upToDate = false
    this.done = false
    this.errors = 0
    this.refetches = 0
  }

  path() {
    let p = `${this.base}&offset=${this.offset}`
    if (this.handle) p += `&handle=${this.handle}`
    if (this.live) p += this.cursor ? `&live=true&cursor=${this.cursor}` : '&live=true'
    return p
  }

  next() {
    if (targets) {
      const t = targets[this.shape]
      if (t && this.handle === t.handle && this.offset === t.offset) {
        this.done = true
        return
      }
    }
    requests++
    perShapeRequests[this.shape]++
    this.conn.get(this.path(), (err, status, h, body) => this.onResponse(err, status, h, body))
  }

  onResponse(err, status, h, body) {
    if (err) {
      this.errors++
      statuses.error = (statuses.error ?? 0) + 1
      setTimeout(() => this.next(), 200)
      return
    }
    statuses[status] = (statuses[status] ?? 0) + 1
    const xc = h['x-cache']
    if (xc) cacheStatus[xc] = (cacheStatus[xc] ?? 0) + 1
    if (status === 409) {
      this.refetches++
      this.handle = h['electric-handle'] ?? null
      this.offset = '-1'
      this.live = false
      this.cursor = null
      this.msgs = 0
      this.rows?.clear()
      this.next()
      return
    }
    if (status !== 200) {
      this.errors++
      setTimeout(() => this.next(), 200)
      return
    }
    const now = Date.now()
    const text = body.toString('utf8')
    for (let i = text.indexOf(OP); i >= 0; i = text.indexOf(OP, i + OP.length)) this.msgs++
    if (this.live) {
      // rows committed while this client was live; older ones are its catch-up, not latency
      const split = xc === 'MISS' ? histMiss : xc === 'HIT' ? histHit : null
      T_MS.lastIndex = 0
      for (let m = T_MS.exec(text); m; m = T_MS.exec(text)) {
        const t = Number(m[1])
        if (t < this.liveSince) continue
        const ms = Math.min(HIST_MAX, Math.max(0, now - t))
        hist[ms]++
        if (split) split[ms]++
      }
    }
    if (this.rows) {
      for (const m of JSON.parse(text)) {
        if (!m.key) continue
        if (m.headers.operation === 'delete') this.rows.delete(m.key)
        else this.rows.set(m.key, { ...(this.rows.get(m.key) ?? {}), ...m.value })
      }
    }
    this.handle = h['electric-handle'] ?? this.handle
    this.offset = h['electric-offset'] ?? this.offset
    if (h['electric-cursor']) this.cursor = h['electric-cursor']
    if (h['electric-up-to-date'] !== undefined) {
      if (!this.live) this.liveSince = now
      this.live = true
      this.upToDate = true
    }
    this.next()
  }
}

// --- the worker ---------------------------------------------------------------------------------
const clients = specs.map((s) => new Client(s))
const early = clients.filter((c, i) => !specs[i].late)
const late = clients.filter((c, i) => specs[i].late)
let started = 0
const ramp = setInterval(() => {
  const n = Math.max(1, Math.round(rampPerSec / 20))
  for (let i = 0; i < n && started < early.length; i++) early[started++].next()
  if (started === early.length) clearInterval(ramp)
}, 50)
// late joiners (tabs opened while writes go on): spread evenly over the given time
let lateTimer = null
function joinLate(ms) {
  let k = 0
  const t0 = Date.now()
  lateTimer = setInterval(() => {
    const due = Math.min(late.length, Math.ceil(((Date.now() - t0) / ms) * late.length))
    while (k < due) late[k++].next()
    if (k === late.length) clearInterval(lateTimer)
  }, 50)
}

const progress = () => {
  let up = 0
  let done = 0
  for (const c of clients) {
    if (c.upToDate) up++
    if (c.done) done++
  }
  return { type: 'progress', upToDate: up, done, total: clients.length, early: early.length, requests }
}
const tick = setInterval(() => parentPort.postMessage(progress()), 250)

parentPort.on('message', (m) => {
  if (m.type === 'late') {
    joinLate(m.ms)
  } else if (m.type === 'mark') {
    parentPort.postMessage({ type: 'marked', perShapeRequests: Array.from(perShapeRequests), requests })
  } else if (m.type === 'targets') {
    targets = m.targets
    for (const c of clients) {
      const t = targets[c.shape]
      // a client parked on a live request at the final offset is done already
      if (t && c.handle === t.handle && c.offset === t.offset) c.done = true
    }
  } else if (m.type === 'finish') {
    clearInterval(tick)
    clearInterval(ramp)
    clearInterval(lateTimer)
    const refs = m.refs
    let equal = 0
    let sampled = 0
    let sampledEqual = 0
    const bad = []
    for (const c of clients) {
      const r = refs[c.shape]
      const same = r && c.handle === r.handle && c.offset === r.offset && c.msgs === r.msgs
      if (same) equal++
      else if (bad.length < 5) bad.push({ shape: c.shape, handle: c.handle, offset: c.offset, msgs: c.msgs, want: { handle: r?.handle, offset: r?.offset, msgs: r?.msgs } })
      if (c.rows) {
        sampled++
        let ok = same && c.rows.size === r.rows.length
        if (ok) {
          for (const [key, title, num, tms] of r.rows) {
            const got = c.rows.get(key)
            if (!got || got.title !== title || got.num !== num || got.t_ms !== tms) { ok = false; break }
          }
        }
        if (ok) sampledEqual++
      }
      c.conn.close()
    }
    parentPort.postMessage({
      type: 'result',
      hist,
      histMiss,
      histHit,
      clients: clients.length,
      equal,
      sampled,
      sampledEqual,
      bad,
      errors: clients.reduce((a, c) => a + c.errors, 0),
      refetches: clients.reduce((a, c) => a + c.refetches, 0),
      statuses,
      cacheStatus,
      requests,
    })
  }
})
