// The fault-injecting HTTP proxy in front of the shape service: the pages use it as their shape
// URL (snapshots and live long-polls alike). While `faults` is on, every request draws one fate:
// pass, delay (then pass), drop (headers and part of the body, then the socket destroyed), stall
// (a live long-poll held with no answer, then the socket destroyed), 500, 503 with Retry-After,
// truncated (a well-framed HTTP response whose body is cut short: invalid JSON that HTTP cannot
// detect); and, during an offline spell, every request's socket destroyed at once. Counts every fate. CORS as a shape endpoint answers it (the pages' origin differs).
import http from 'node:http';

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': '*',
  'access-control-allow-methods': 'GET, HEAD, OPTIONS',
  'access-control-expose-headers': 'electric-handle, electric-offset, electric-schema, electric-cursor, electric-up-to-date, retry-after',
};

export const FATES = ['pass', 'delay', 'drop', 'stall', 'http500', 'http503', 'truncated', 'offline'];

export async function startFaultProxy(target, rng, { weights } = {}) {
  const w = weights || { pass: 55, delay: 15, drop: 8, stall: 6, http500: 5, http503: 5, truncated: 6 };
  // offlineUntil: until then every request's socket is destroyed at once (an offline spell).
  const proxy = { faults: false, offlineUntil: 0, counts: Object.fromEntries(FATES.map((f) => [f, 0])), requests: 0 };
  const open = new Set();
  const timers = new Set();
  const later = (ms, fn) => { const t = setTimeout(() => { timers.delete(t); fn(); }, ms); timers.add(t); };

  const forward = (req, res, url, fate) => {
    const up = http.request(`${target}${url.pathname}${url.search}`, { method: req.method }, (ur) => {
      const headers = {};
      for (const [k, v] of Object.entries(ur.headers)) {
        if (!k.startsWith('access-control-') && k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection') headers[k] = v;
      }
      res.writeHead(ur.statusCode, { ...headers, ...CORS });
      if (fate === 'pass' || ur.statusCode !== 200) {
        ur.pipe(res);
        ur.on('error', () => res.destroy());
        return;
      }
      // drop / truncated: collect the body, send a prefix, then cut.
      const parts = [];
      ur.on('data', (d) => parts.push(d));
      ur.on('error', () => res.destroy());
      ur.on('end', () => {
        const body = Buffer.concat(parts);
        const cut = body.length > 1 ? rng.int(0, body.length - 1) : 0;
        if (cut > 0) res.write(body.subarray(0, cut));
        if (fate === 'truncated') res.end();
        else later(rng.int(0, 50), () => res.destroy());
      });
    });
    open.add(up);
    up.on('close', () => open.delete(up));
    up.on('error', () => res.destroy());
    req.on('close', () => { if (!res.writableEnded) up.destroy(); });
    up.end();
  };

  const server = http.createServer((req, res) => {
    if (req.method === 'OPTIONS') { res.writeHead(204, CORS); res.end(); return; }
    proxy.requests++;
    const url = new URL(req.url, 'http://x');
    const live = url.searchParams.get('live') === 'true';
    let fate = 'pass';
    if (Date.now() < proxy.offlineUntil) fate = 'offline';
    else if (proxy.faults) {
      fate = rng.weighted(Object.entries(w));
      if (fate === 'stall' && !live) fate = 'delay';
    }
    proxy.counts[fate]++;
    switch (fate) {
      case 'pass': case 'drop': case 'truncated': forward(req, res, url, fate); break;
      case 'delay': later(rng.int(50, 1500), () => { if (!req.destroyed) forward(req, res, url, 'pass'); }); break;
      case 'stall': later(rng.int(2000, 8000), () => res.destroy()); break;
      case 'offline': req.socket.destroy(); break;
      case 'http500':
        res.writeHead(500, { ...CORS, 'content-type': 'application/json' });
        res.end('{"message":"chaos: internal error"}');
        break;
      case 'http503':
        res.writeHead(503, { ...CORS, 'content-type': 'application/json', 'retry-after': String(rng.int(0, 2)) });
        res.end('{"message":"chaos: unavailable"}');
        break;
    }
  });
  server.keepAliveTimeout = 60000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  proxy.base = `http://127.0.0.1:${server.address().port}`;
  proxy.stop = async () => {
    for (const t of timers) clearTimeout(t);
    for (const u of open) u.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return proxy;
}
