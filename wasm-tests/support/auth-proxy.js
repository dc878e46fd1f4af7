// A small HTTP proxy for the credential tests, in front of the real server: it lets a shape
// request through only with `authorization: Bearer <valid>` (or `?token=<valid>`, which it removes
// before forwarding), answers 401 otherwise, and counts what it forwarded (each request's path,
// offset and live flag, and the response bytes), so a test can tell that a resumed shape did not
// download its rows again. Real HTTP on both sides; CORS as a shape endpoint answers it, so a
// page of the real server's origin may call it (Chromium preflights the authorization header).
import http from 'node:http';

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization',
  'access-control-allow-methods': 'GET, HEAD, OPTIONS',
  'access-control-expose-headers': 'electric-handle, electric-offset, electric-schema, electric-cursor, electric-up-to-date, retry-after',
};

// target: the real server's base URL. valid: the token accepted at first (proxy.valid changes it).
export async function startAuthProxy(target, { valid }) {
  const proxy = {
    valid,
    requests: [], // {path, offset, live, status, bytes}
    get bytes() { return proxy.requests.reduce((n, r) => n + r.bytes, 0); },
    refused: () => proxy.requests.filter((r) => r.status === 401).length,
  };
  const open = new Set();
  const server = http.createServer((req, res) => {
    if (req.method === 'OPTIONS') { res.writeHead(204, CORS); res.end(); return; }
    const url = new URL(req.url, 'http://x');
    const token = url.searchParams.get('token');
    url.searchParams.delete('token');
    const rec = { path: url.pathname, offset: url.searchParams.get('offset'), live: url.searchParams.get('live') === 'true', status: 0, bytes: 0 };
    proxy.requests.push(rec);
    if (req.headers.authorization !== `Bearer ${proxy.valid}` && token !== proxy.valid) {
      rec.status = 401;
      const body = JSON.stringify({ message: 'unauthorized' });
      rec.bytes = body.length;
      res.writeHead(401, { ...CORS, 'content-type': 'application/json' });
      res.end(body);
      return;
    }
    const up = http.request(`${target}${url.pathname}${url.search}`, { method: req.method }, (ur) => {
      rec.status = ur.statusCode;
      const headers = {};
      for (const [k, v] of Object.entries(ur.headers)) if (!k.startsWith('access-control-')) headers[k] = v;
      res.writeHead(ur.statusCode, { ...headers, ...CORS });
      ur.on('data', (d) => { rec.bytes += d.length; res.write(d); });
      ur.on('end', () => res.end());
      ur.on('error', () => res.destroy());
    });
    open.add(up);
    up.on('close', () => open.delete(up));
    up.on('error', () => res.destroy());
    req.on('close', () => { if (!res.writableEnded) up.destroy(); });
    up.end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  proxy.base = `http://127.0.0.1:${server.address().port}`;
  proxy.stop = async () => {
    for (const u of open) u.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return proxy;
}
