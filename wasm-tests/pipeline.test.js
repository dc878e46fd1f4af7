// The worker's request pipeline in node (issue 12): the next chunk of an initial sync fetched
// while the engine ingests this one, STATUS progress during an initial sync, large DATA_CHANGEs
// shipped as JSON bytes, the bounded timeline. The real worker, tab library and server
// (support/backend.js), with snapshot chunks of 4 KiB (ESYNC_CHUNK_BYTES) so that a few hundred
// rows make many responses; a fetch wrapper records the order of requests and ingests, and can
// change a response (a failure, a must-refetch, the row-count header of our shape service).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { origin, startWorker, openTab, until, ElectricSyncWorker } from './support/harness.js';
import { startBackend } from './support/backend.js';

process.env.ESYNC_CHUNK_BYTES = '4096';
const DB_NAME = 'pipeline-test';
const SHAPES = [{ name: 'test_items', table: 'test_items' }];
const ROWS = 400;
let backend;
before(async () => {
  // Rows another run left (a 1M-row benchmark shares this database) would make the server's
  // first probe of /v1/shape write its whole snapshot in 4 KiB chunks: start from none.
  const h = await import('../tests/server/helpers.js');
  await h.prepareDatabase();
  await h.query('delete from test_items').catch(() => {}); // (no table yet: nothing to delete)
  backend = await startBackend();
  await backend.seedMany(ROWS);
  // a few titles the event splitter must read through: quotes, backslashes, braces, non-ASCII
  const tricky = ['a "quoted" title', 'back\\slash\\', '{"operation":"insert"}', 'brackets ] } [ {', 'ünïcödé ✓'];
  const { rows } = await backend.sql('select id from test_items order by id limit 5');
  for (let i = 0; i < rows.length; i++) await backend.sql('update test_items set title = $1 where id = $2', [tricky[i], rows[i].id]);
});
after(async () => { await backend?.stop(); });

const config = (extra = {}) => ({ shapes: SHAPES, dbName: DB_NAME, shapeUrl: backend.shapeUrl, liveUrl: backend.liveUrl, versionUrl: backend.versionUrl, ...extra });
const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const offsetOf = (url) => new URL(url).searchParams.get('offset');
const isShape = (url) => url.includes('/v1/shape');

// A recording fetch: log entries {kind: 'fetch', offset, live, signal} in call order. edit(url,
// n) may return a Response (or a promise of one) to answer the n-th shape request instead.
function recorder(edit = () => null) {
  const log = [];
  let n = 0;
  let open;
  const gate = new Promise((r) => { open = r; }); // shape requests wait for watchIngest
  const f = async (url, opts = {}) => {
    if (!isShape(url)) return fetch(url, opts);
    const u = new URL(url);
    const entry = { kind: 'fetch', offset: u.searchParams.get('offset'), live: u.searchParams.get('live') === 'true', signal: opts.signal, url };
    log.push(entry); // when it is called: before any await
    await gate;
    const replaced = edit(url, n++, opts);
    if (replaced) return replaced;
    const r = await fetch(url, opts);
    entry.type = r.headers.get('content-type');
    return r;
  };
  return { fetch: f, log, open };
}

// Records each ingest (its request's offset, start and end) into the same log, then lets the
// shape requests go.
function watchIngest(w, rec) {
  const log = rec.log;
  return until(() => w.engine, 10000, 'engine').then((engine) => {
    rec.open();
    const orig = engine.ingest.bind(engine);
    engine.ingest = (name, resp, opts) => {
      const h = resp.headers && typeof resp.headers.get === 'function' ? resp.headers : null;
      log.push({ kind: 'ingest', status: resp.status, next: h ? h.get('electric-offset') : null });
      try { return orig(name, resp, opts); } finally { log.push({ kind: 'ingested' }); }
    };
  });
}

async function syncWith(rec, extra = {}) {
  const o = origin();
  const w = startWorker(o, { fetch: rec.fetch });
  const tab = openTab(o, w, config(extra));
  await watchIngest(w, rec);
  return { o, w, tab, close: async () => { tab.sync.close(); await w.close(); } };
}

async function expectReplica(tab) {
  const replica = (await tab.sync.query('SELECT * FROM test_items')).sort(byId);
  const pg = await backend.rows();
  assert.equal(replica.length, pg.length);
  assert.deepEqual(replica.map((r) => r.id), pg.map((r) => r.id).sort());
  return replica;
}

const inserted = (tab) => tab.events.filter((e) => e.type === 'DATA_CHANGE').flatMap((e) => e.changes.insert);

test('overlapped fetch: the next chunk is requested while this one is ingested; ingest order, rows and events as without it', async () => {
  const rec = recorder();
  const s = await syncWith(rec);
  try {
    await s.tab.sync.ready;
    const replica = await expectReplica(s.tab);
    // One DATA_CHANGE set with every row once, equal to the replica (a large event: its
    // JSON is over RAW_EVENT_BYTES, so it went to the tab as bytes).
    const ins = inserted(s.tab).sort(byId);
    assert.deepEqual(ins, replica);
    const fetches = rec.log.filter((e) => e.kind === 'fetch' && !e.live);
    assert.ok(fetches.length >= 5, `${fetches.length} non-live requests: chunks of 4 KiB expected`);
    // Overlap: the request of the second chunk went out before the first chunk was ingested
    // (ingest() is synchronous: the worker sends it between the response and the ingest), and
    // so on for every chunk of the snapshot.
    const order = rec.log.map((e) => (e.kind === 'fetch' && e.live ? 'live' : e.kind));
    const firstIngest = order.indexOf('ingest');
    assert.deepEqual(order.slice(0, firstIngest), ['fetch', 'fetch']);
    let ahead = 0;
    for (let i = 0, fetched = 0, ingested = 0; i < order.length; i++) {
      if (order[i] === 'fetch') fetched++;
      if (order[i] === 'ingest') { ingested++; if (fetched > ingested) ahead++; }
    }
    assert.ok(ahead >= fetches.length - 2, `${ahead} of ${fetches.length} ingests had the next request out already`);
    // Ingest order: each ingested 200 response answers the offset the previous one announced.
    const ingests = rec.log.filter((e) => e.kind === 'ingest' && e.status === 200);
    const offsets = fetches.map((f) => f.offset);
    assert.equal(offsets[0], '-1');
    for (let i = 1; i < ingests.length && i < offsets.length; i++) assert.equal(offsets[i], ingests[i - 1].next, `request ${i} continues from response ${i - 1}`);
    // No request was dropped: every prefetched response was the engine's next request.
    assert.equal(s.w.engine && fetches.filter((f) => f.signal && f.signal.aborted).length, 0);
  } finally {
    await s.close();
  }
});

test('a new replica sends its first request before the engine opens; the engine takes that response, nothing is fetched twice', async () => {
  const rec = recorder();
  let w = null;
  const calls = []; // each shape request: its offset, and whether the engine was open when it went out
  const o = origin();
  w = startWorker(o, { fetch: (url, opts) => { if (isShape(url)) calls.push({ offset: offsetOf(url), engineOpen: !!(w && w.engine) }); return rec.fetch(url, opts); } });
  const tab = openTab(o, w, config());
  try {
    await watchIngest(w, rec);
    await tab.sync.ready;
    await expectReplica(tab);
    assert.deepEqual(calls[0], { offset: '-1', engineOpen: false });
    assert.equal(calls.filter((c) => c.offset === '-1').length, 1, 'the first request went out once');
    // the first response ingested answered it: the next request continues from its offset
    const ingests = rec.log.filter((e) => e.kind === 'ingest' && e.status === 200);
    assert.equal(calls[1].offset, ingests[0].next);
    assert.equal(rec.log.filter((e) => e.kind === 'fetch' && e.signal && e.signal.aborted).length, 0);
  } finally {
    tab.sync.close();
    await w.close();
  }
  // A stored replica sends nothing before its engine says what it needs (offset, handle).
  const again = [];
  const w2 = startWorker(o, { fetch: (url, opts) => { if (isShape(url)) again.push({ offset: offsetOf(url), engineOpen: !!(w2 && w2.engine) }); return fetch(url, opts); } });
  const tab2 = openTab(o, w2, config());
  try {
    await tab2.sync.ready;
    await until(() => again.length > 0, 10000, 'a request of the reopened replica');
    assert.equal(again[0].engineOpen, true);
    assert.notEqual(again[0].offset, '-1');
  } finally {
    tab2.sync.close();
    await w2.close();
  }
});

test('overlapped fetch: a failure in the middle (503, then a truncated body) is retried; no loss, no duplicate', async () => {
  const failAt = new Set([4, 7]);
  const rec = recorder((url, n, opts) => {
    if (!failAt.has(n)) return null;
    if (n === 4) return new Response('{"message":"busy"}', { status: 503, headers: { 'retry-after': '0' } });
    return fetch(url, opts).then(async (r) => {
      const body = await r.text();
      return new Response(body.slice(0, body.length >> 1), { status: 200, headers: r.headers });
    });
  });
  const s = await syncWith(rec);
  try {
    await s.tab.sync.ready;
    const replica = await expectReplica(s.tab);
    assert.deepEqual(inserted(s.tab).sort(byId), replica);
  } finally {
    await s.close();
  }
});

test('replica images: the chunks of a warm shape come as images (Accept), replica and events as with JSON', async () => {
  // the shape's chunks and their images made first (the service makes an image as a chunk completes)
  const IMAGE = 'application/vnd.electric-sync.image';
  await until(async () => {
    const r = await fetch(`${backend.shapeUrl}?table=test_items&offset=-1`, { headers: { accept: IMAGE } });
    await r.arrayBuffer();
    return r.headers.get('content-type') === IMAGE;
  }, 10000, 'an image of the first chunk');
  const rec = recorder();
  const s = await syncWith(rec);
  try {
    await s.tab.sync.ready;
    const replica = await expectReplica(s.tab);
    assert.deepEqual(inserted(s.tab).sort(byId), replica, 'every row once');
    const types = rec.log.filter((e) => e.kind === 'fetch' && !e.live).map((e) => e.type);
    assert.ok(types.filter((t) => t === IMAGE).length >= 2, `answers: ${types.join(', ')}`);
  } finally {
    await s.close();
  }
});

test('overlapped fetch: a must-refetch while the next chunk is prefetched drops it and restarts cleanly', async () => {
  let refetched = false, next = null;
  const rec = recorder((url, n, opts) => {
    if (n !== 3) return null;
    refetched = true;
    // a 200 whose body is the must-refetch control message: the next chunk was prefetched
    return fetch(url, opts).then(async (r) => {
      await r.arrayBuffer();
      next = r.headers.get('electric-offset');
      const headers = new Headers(r.headers); // a JSON body, whatever the chunk was (an image)
      headers.set('content-type', 'application/json');
      headers.delete('content-encoding');
      return new Response('[{"headers":{"control":"must-refetch"}}]', { status: 200, headers });
    });
  });
  const s = await syncWith(rec);
  try {
    await s.tab.sync.ready;
    assert.ok(refetched);
    const replica = await expectReplica(s.tab);
    assert.deepEqual(inserted(s.tab).sort(byId), replica, 'every row once');
    const fetches = rec.log.filter((e) => e.kind === 'fetch');
    const i = fetches.findIndex((f, k) => k > 3 && f.offset === next);
    assert.ok(i > 0, 'the chunk after the must-refetch was prefetched');
    assert.ok(fetches[i].signal.aborted, 'and aborted once the engine asked for another');
    assert.ok(fetches.slice(i + 1).some((f) => f.offset === '-1'), 'the sync restarted at -1');
  } finally {
    await s.close();
  }
});

test('overlapped fetch: close() aborts a prefetched request in flight', async () => {
  let pending = null;
  const rec = recorder((url, n, opts) => {
    if (n !== 2) return null;
    // this request hangs until it is aborted
    pending = opts.signal;
    return new Promise((_, reject) => opts.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
  });
  const s = await syncWith(rec);
  try {
    await until(() => pending, 10000, 'the hanging request');
    assert.equal(pending.aborted, false);
    await s.close();
    assert.equal(pending.aborted, true);
  } finally {
    await s.close();
  }
});

test('STATUS progress: rows rise during the initial sync; with the row-count header, total and progress, 1 at the end', async () => {
  // Our shape service's header on the snapshot responses (set here too, so the test does not
  // depend on the server's version); each response 30 ms late so the throttled STATUS shows steps.
  const rec = recorder((url, n, opts) => {
    if (new URL(url).searchParams.get('live') === 'true') return null;
    return new Promise((r) => setTimeout(r, 30)).then(() => fetch(url, opts)).then(async (r) => {
      const h = new Headers(r.headers);
      h.set('electric-sync-rows', String(ROWS));
      return new Response(await r.arrayBuffer(), { status: r.status, headers: h });
    });
  });
  const s = await syncWith(rec);
  try {
    await s.tab.sync.ready;
    await until(() => s.tab.sync.status.test_items?.phase === 'live', 10000, 'live');
    const st = s.tab.events.filter((e) => e.type === 'STATUS');
    const syncing = st.filter((e) => e.phase === 'initial-sync');
    assert.ok(syncing.length >= 2, `${syncing.length} initial-sync STATUS`);
    for (let i = 1; i < syncing.length; i++) assert.ok(syncing[i].rows >= syncing[i - 1].rows, 'rows never go down');
    assert.ok(syncing.some((e) => e.rows > 0 && e.rows < ROWS), 'rows in between');
    for (const e of syncing.filter((x) => x.rows > 0)) {
      assert.equal(e.total, ROWS);
      assert.ok(e.progress >= 0 && e.progress <= 1);
      assert.equal(e.progress, Math.min(1, e.rows / ROWS));
    }
    const live = st.filter((e) => e.phase === 'live');
    assert.equal(live[0].progress, 1);
    assert.equal(live[0].rows, ROWS);
  } finally {
    await s.close();
  }
});

test('STATUS progress without the header (Electric\'s server sends none): rows only, progress 1 once live', async () => {
  // Electric's responses: our server's row-count headers taken off.
  const rec = recorder((url, n, opts) => (new URL(url).searchParams.get('live') === 'true' ? null
    : new Promise((r) => setTimeout(r, 30)).then(() => fetch(url, opts)).then(async (r) => {
      const h = new Headers(r.headers);
      h.delete('electric-sync-rows');
      h.delete('electric-sync-rows-estimate');
      return new Response(await r.arrayBuffer(), { status: r.status, headers: h });
    })));
  const s = await syncWith(rec);
  try {
    await s.tab.sync.ready;
    await until(() => s.tab.sync.status.test_items?.phase === 'live', 10000, 'live');
    const st = s.tab.events.filter((e) => e.type === 'STATUS');
    const syncing = st.filter((e) => e.phase === 'initial-sync');
    assert.ok(syncing.some((e) => e.rows > 0 && e.rows < ROWS), 'rows in between');
    for (let i = 1; i < syncing.length; i++) assert.ok(syncing[i].rows >= syncing[i - 1].rows);
    for (const e of syncing) { assert.equal(e.total, undefined); assert.equal(e.progress, undefined); }
    assert.equal(st.find((e) => e.phase === 'live').progress, 1);
  } finally {
    await s.close();
  }
});

test('delivery: a large DATA_CHANGE reaches every tab equal to the replica, int8 as BigInt; small ones as before', async () => {
  await backend.sql(`drop table if exists ${backend.other}`);
  await backend.sql(`create table ${backend.other} (id int8 primary key, label text not null, big int8)`);
  await backend.sql(`insert into ${backend.other} select i, 'label "' || i || '" \\ ' || repeat('x', 40), 9007199254740993 + i from generate_series(1, 3000) i`);
  const shapes = [{ name: 'other', table: backend.other }];
  const o = origin();
  const w = startWorker(o);
  const cfg = { shapes, dbName: 'pipeline-int8', shapeUrl: backend.liveUrl, liveUrl: backend.liveUrl, versionUrl: backend.versionUrl };
  const tabs = [openTab(o, w, cfg), openTab(o, w, cfg), openTab(o, w, cfg)];
  try {
    await Promise.all(tabs.map((t) => t.sync.ready));
    // (query() gives int8 as decimal strings; events give BigInt)
    const replica = (await tabs[0].sync.query(`SELECT * FROM ${backend.other} ORDER BY id`)).map((r) => ({ ...r, id: BigInt(r.id), big: BigInt(r.big) }));
    assert.equal(replica.length, 3000);
    for (const t of tabs) {
      await until(() => t.events.some((e) => e.type === 'DATA_CHANGE'), 10000, 'DATA_CHANGE');
      const evs = t.events.filter((e) => e.type === 'DATA_CHANGE');
      const rows = evs.flatMap((e) => e.changes.insert).sort((a, b) => (a.id < b.id ? -1 : 1));
      assert.equal(rows.length, 3000);
      assert.equal(typeof rows[0].id, 'bigint');
      assert.equal(rows[0].big, 9007199254740994n);
      assert.deepEqual(rows.map((r) => ({ ...r })), replica.map((r) => ({ ...r })));
      for (const e of evs) {
        assert.equal(e.changesJson, undefined);
        assert.equal(e.types, undefined);
        assert.deepEqual(Object.keys(e).slice(0, 4), ['type', 'shapeName', 'tableName', 'changes']);
      }
    }
    // a small change afterwards: a plain event, also typed (the initial sync may have come in
    // several DATA_CHANGEs, one per commit: the live one is the first after them)
    const before = tabs.map((t) => t.events.filter((e) => e.type === 'DATA_CHANGE').length);
    await backend.sql(`insert into ${backend.other} values (5000000000, 'one more', 1)`);
    for (const [i, t] of tabs.entries()) await until(() => t.events.filter((e) => e.type === 'DATA_CHANGE').length > before[i], 10000, 'the live change');
    for (const [i, t] of tabs.entries()) {
      const live = t.events.filter((e) => e.type === 'DATA_CHANGE').slice(before[i]);
      assert.equal(live.length, 1);
      assert.deepEqual(live[0].changes.insert, [{ id: 5000000000n, label: 'one more', big: 1n }]);
    }
  } finally {
    for (const t of tabs) t.sync.close();
    await w.close();
    await backend.sql(`drop table if exists ${backend.other}`);
  }
});

test('delivery: a large change set is sent ahead (moved to the only tab) while the commit is flushed; listeners get it only once durable; a tab that comes meanwhile waits and comes in after it', async () => {
  const o = origin();
  // JSON answers only (a request without the image type in Accept): with this file's 4 KiB
  // chunks, images would commit every ESYNC_IMAGES_MAX (28) chunks, and this test wants the
  // initial sync in one large commit
  const jsonOnly = (url, opts = {}) => {
    const headers = { ...(opts.headers || {}) };
    delete headers.accept;
    return fetch(url, { ...opts, headers });
  };
  const w = startWorker(o, { fetch: jsonOnly });
  const a = openTab(o, w, config({ dbName: 'pipeline-preload' }));
  const wire = [];
  a.port1.addEventListener('message', (ev) => wire.push(ev.data));
  let release;
  const held = new Promise((r) => { release = r; });
  let b = null;
  try {
    await until(() => w.store, 10000, 'store');
    // Hold the flush of the initial sync's commit until the test releases it.
    const orig = w.store.commit.bind(w.store);
    let bytes = null;
    w.store.commit = (events) => {
      const dc = events.find((e) => e.type === 'DATA_CHANGE');
      if (!dc) return orig(events);
      bytes = dc.changesJson;
      return held.then(() => orig(events));
    };
    await until(() => wire.some((m) => m.type === 'DATA_CHANGE_PRELOAD'), 20000, 'the preload');
    const pre = wire.find((m) => m.type === 'DATA_CHANGE_PRELOAD');
    assert.ok(pre.changesJson instanceof Uint8Array && pre.changesJson.length > 0);
    assert.equal(bytes.byteLength, 0, 'the bytes moved to the only tab: the worker has them no more');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(a.events.filter((e) => e.type === 'DATA_CHANGE').length, 0, 'nothing delivered before durable');
    b = openTab(o, w, config({ dbName: 'pipeline-preload' }));
    const wireB = [];
    b.port1.addEventListener('message', (ev) => wireB.push(ev.data));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(w.clients.size, 1, 'the second tab waits outside while the moved preload is not delivered');
    assert.equal(wireB.length, 0, 'and is sent nothing');
    release();
    await Promise.all([a.sync.ready, b.sync.ready]);
    assert.equal(w.clients.size, 2);
    const replica = await expectReplica(a);
    await until(() => a.events.some((e) => e.type === 'DATA_CHANGE'), 10000, 'DATA_CHANGE');
    assert.deepEqual(inserted(a).sort(byId), replica);
    const dc = wire.find((m) => m.type === 'DATA_CHANGE');
    assert.equal(dc.ref, pre.ref);
    assert.equal(dc.changesJson, undefined, 'the preloaded tab gets the ref only');
    // the second tab came in after that DATA_CHANGE: it has the rows by query, not by event
    assert.deepEqual(await expectReplica(b), replica);
    assert.equal(wireB.some((m) => m.type === 'DATA_CHANGE_PRELOAD' || m.type === 'DATA_CHANGE'), false);
  } finally {
    release();
    a.sync.close();
    if (b) b.sync.close();
    await w.close();
  }
});

test('decodeEvents: large events split from the engine bytes equal JSON.parse of them', () => {
  const rows = [];
  for (let i = 0; i < 2000; i++) rows.push({ id: String(i), t: i % 3 ? `a "q" \\ ${i} {[` : null, n: i, b: i % 2 === 0, j: { x: [1, '"]'] } });
  const evs = [
    { type: 'DATA_CHANGE', shapeName: 'a', tableName: 't', changes: { insert: rows, update: [], delete: [] }, txids: ['7', '8'] },
    { type: 'TXIDS', shapeName: 'b', tableName: 'u', txids: ['9'] },
    { type: 'DATA_CHANGE', shapeName: 'c', tableName: 'v', changes: { insert: [{ id: '1' }], update: [], delete: [] } },
  ];
  const engine = { reviveEvent: (ev) => ev, shapeTypes: (n) => (n === 'a' ? { n: 'int8' } : {}) };
  // the engine's records of where the events lie (Engine.ingest's bytes.events): used when they
  // describe the bytes, else the bytes are scanned; the result is the same
  const records = () => {
    const x = [];
    let at = 1;
    for (const ev of evs) {
      const t = JSON.stringify(ev);
      const cut = ev.changes ? at + t.indexOf(',"changes":') : 0;
      x.push(at, at + t.length, cut, cut ? cut + 11 + JSON.stringify(ev.changes).length : 0,
        ...(ev.changes ? [ev.changes.insert.length, ev.changes.update.length, ev.changes.delete.length] : [0, 0, 0]));
      at += t.length + 1;
    }
    return new Uint32Array(x);
  };
  const variants = {
    scanned: null,
    recorded: records(),
    'bad records': (() => { const x = records(); x[8] += 1; return x; })(),
    'records of another array': new Uint32Array([1, 5, 0, 0, 0, 0, 0]),
  };
  let out;
  for (const [what, x] of Object.entries(variants)) {
    const bytes = new TextEncoder().encode(JSON.stringify(evs));
    if (x) bytes.events = x;
    assert.equal(ElectricSyncWorker.eventRecords(bytes) !== null, what === 'recorded', what);
    const got = ElectricSyncWorker.decodeEvents(bytes, engine);
    if (out) assert.deepEqual(got, out, what);
    out = got;
  }
  assert.equal(out.length, 3);
  assert.deepEqual(out[1], evs[1]);
  assert.deepEqual(out[2], evs[2]);
  const { changesJson, types, counts, ...env } = out[0];
  assert.deepEqual(types, { n: 'int8' });
  assert.deepEqual(counts, [2000, 0, 0], 'the row counts of its lists (recorded, or counted by the scan)');
  assert.deepEqual(env, { type: 'DATA_CHANGE', shapeName: 'a', tableName: 't', txids: ['7', '8'] });
  assert.deepEqual(JSON.parse(new TextDecoder().decode(changesJson)), evs[0].changes);
  // Most of the bytes: a view on them (a message clones a view's whole buffer, one copy less
  // than a slice); two large change sets in one output: each a buffer of its own.
  assert.ok(changesJson.length * 2 > changesJson.buffer.byteLength, 'a view on most of the bytes');
  const two = [evs[0], { ...evs[0], shapeName: 'c', tableName: 'v', txids: undefined }];
  const split = ElectricSyncWorker.decodeEvents(new TextEncoder().encode(JSON.stringify(two)), engine);
  assert.equal(split.length, 2);
  for (const ev of split) {
    assert.deepEqual(JSON.parse(new TextDecoder().decode(ev.changesJson)), evs[0].changes);
    assert.deepEqual(ev.counts, [2000, 0, 0]);
    assert.equal(ev.changesJson.buffer.byteLength, ev.changesJson.length, 'its own buffer: a clone copies only it');
  }
  // every list counted by the scan (strings with brackets and commas in them included)
  const mixed = { ...evs[0], changes: { insert: rows, update: [{ old: rows[1], new: rows[2] }, { old: rows[3], new: rows[4] }], delete: rows.slice(5, 8) } };
  const [m] = ElectricSyncWorker.decodeEvents(new TextEncoder().encode(JSON.stringify([mixed])), engine);
  assert.deepEqual(m.counts, [2000, 2, 3]);
  assert.deepEqual(ElectricSyncWorker.decodeEvents(null, engine), []);
});

test('timeline: bounded whatever the number of marks, never throws, keeps the start and the latest durable mark', () => {
  let t = 0;
  const tl = new ElectricSyncWorker.Timeline(() => t);
  for (let i = 0; i < 100000; i++) { t++; tl.mark(i === 99990 ? 'durable (5 pages)' : `response ${i}`); }
  const m = tl.marks();
  assert.ok(m.length <= 512);
  assert.equal(m[0][0], 'response 0');
  assert.ok(m.some(([l]) => l === 'durable (5 pages)'));
  for (let i = 1; i < m.length; i++) assert.ok(m[i][1] >= m[i - 1][1], 'in time order');
  assert.ok(tl.dropped > 0);
});
