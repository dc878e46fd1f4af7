// A stand-in for the shape service while /v1/shape is not in the server yet: an in-memory
// test_items table with a change log, served over HTTP in Electric's format (snapshot at -1,
// catch-up, long-poll live with a cursor, 409 on an unknown handle) plus /api/schema/version.
// Only for the worker tests: the real server replaces it (see harness.js).
import http from 'node:http';

const SCHEMA = JSON.stringify({
  id: { type: 'uuid', pk_index: 0, not_null: true }, title: { type: 'text', not_null: true },
  description: { type: 'text' }, completed: { type: 'bool', not_null: true },
  created_at: { type: 'timestamp', not_null: true }, updated_at: { type: 'timestamp', not_null: true },
});
const UTD = { headers: { control: 'up-to-date' } };

export async function startFakeElectric() {
  const rows = new Map();
  const log = []; // {lsn, msg}
  let lsn = 1000;
  let handle = 'fake-1';
  let version = '0000_test_items';
  const waiters = new Set();
  let down = false;

  const value = (r) => ({ id: r.id, title: r.title, description: r.description, completed: r.completed ? 'true' : 'false', created_at: r.created_at, updated_at: r.updated_at });
  const msg = (op, r) => ({ key: `"public"."test_items"/"${r.id}"`, value: op === 'delete' ? { id: r.id } : value(r), headers: { operation: op, relation: ['public', 'test_items'] } });
  const push = (op, r) => {
    lsn++;
    log.push({ lsn, msg: msg(op, r) });
    for (const w of [...waiters]) w();
  };
  const ts = () => new Date().toISOString().replace('T', ' ').replace('Z', '');

  const api = {
    insert(r) {
      const row = { description: null, completed: false, created_at: ts(), updated_at: ts(), ...r };
      rows.set(row.id, row);
      push('insert', row);
      return row;
    },
    update(id, patch) {
      const row = { ...rows.get(id), ...patch, updated_at: ts() };
      rows.set(id, row);
      push('update', row);
      return row;
    },
    delete(id) {
      const row = rows.get(id);
      rows.delete(id);
      push('delete', row);
    },
    rows: () => [...rows.values()],
    setVersion(v) { version = v; },
    rotateHandle() { handle = `fake-${Number(handle.split('-')[1]) + 1}`; },
    setDown(d) { down = d; },
    requests: 0,
  };

  // CORS as Electric answers it: the browser tests load pages from the real server's origin.
  const cors = {
    'access-control-allow-origin': '*',
    'access-control-expose-headers': 'electric-handle, electric-offset, electric-schema, electric-cursor, electric-up-to-date, retry-after',
  };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (down) { req.socket.destroy(); return; }
    for (const [k, v] of Object.entries(cors)) res.setHeader(k, v);
    if (req.method === 'OPTIONS') { res.writeHead(204, { 'access-control-allow-methods': 'GET, HEAD, OPTIONS' }); res.end(); return; }
    if (url.pathname === '/api/schema/version') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ version, hash: 'x', tables: ['test_items'] }));
      return;
    }
    if (url.pathname !== '/v1/shape') { res.writeHead(404); res.end(); return; }
    api.requests++;
    const offset = url.searchParams.get('offset');
    const h = url.searchParams.get('handle');
    const headers = { 'content-type': 'application/json', 'electric-handle': handle, 'electric-schema': SCHEMA };
    if (offset !== '-1' && h !== handle) {
      res.writeHead(409, { ...headers });
      res.end(JSON.stringify([{ headers: { control: 'must-refetch' } }]));
      return;
    }
    if (offset === '-1') {
      const head = log.length ? log[log.length - 1].lsn : lsn;
      const body = [...rows.values()].map((r) => msg('insert', r));
      body.push(UTD);
      res.writeHead(200, { ...headers, 'electric-offset': `${head}_0`, 'electric-up-to-date': '' });
      res.end(JSON.stringify(body));
      return;
    }
    const from = Number(offset.split('_')[0]);
    const since = () => log.filter((e) => e.lsn > from);
    let items = since();
    if (!items.length && url.searchParams.get('live') === 'true') {
      await new Promise((resolve) => {
        const w = () => { waiters.delete(w); clearTimeout(t); resolve(); };
        const t = setTimeout(w, 20000);
        waiters.add(w);
        req.on('close', w);
      });
      if (res.destroyed) return;
      items = since();
    }
    const head = items.length ? items[items.length - 1].lsn : from;
    res.writeHead(200, { ...headers, 'electric-offset': `${head}_0`, 'electric-up-to-date': '', 'electric-cursor': String(Date.now()) });
    res.end(JSON.stringify([...items.map((e) => e.msg), UTD]));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    ...api,
    api,
    base,
    shapeUrl: `${base}/v1/shape`,
    versionUrl: `${base}/api/schema/version`,
    async stop() {
      for (const w of [...waiters]) w();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
