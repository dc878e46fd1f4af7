// The browser worker in node: the real web/electric-sync.worker.js + electric-sync.store.js and
// the real tab library, with fake-indexeddb (a new IDBFactory per test), MessageChannel ports and
// a Web Locks stand-in, against the shape backend of support/backend.js.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { IDBObjectStore } from 'fake-indexeddb';
import { origin, startWorker, openTab, until, ElectricSyncStore, ElectricSyncWorker, useElectricSync } from './support/harness.js';
import { startBackend } from './support/backend.js';

// The app's own values (the library has no default shapes and names its database itself).
const DB_NAME = 'docpal-electric';
const SHAPES = [{ name: 'test_items', table: 'test_items' }];
const FILE = `/${DB_NAME}.sqlite3`;
let backend;
before(async () => { backend = await startBackend(); });
after(async () => { await backend?.stop(); });

const config = () => ({ shapes: SHAPES, dbName: DB_NAME, shapeUrl: backend.shapeUrl, liveUrl: backend.liveUrl, versionUrl: backend.versionUrl });
const ids = (rows) => rows.map((r) => r.id).sort();
const changes = (tab) => tab.events.filter((e) => e.type === 'DATA_CHANGE');
const resets = (tab) => tab.events.filter((e) => e.type === 'SCHEMA_RESET');

// A fetch the test can cut: the network is down while `net.down` is true.
function network() {
  const net = { down: false, fetch: (url, opts) => (net.down ? Promise.reject(new TypeError('fetch failed (network down)')) : fetch(url, opts)) };
  return net;
}

async function seed(n) {
  await backend.clear();
  const rows = [];
  for (let i = 0; i < n; i++) rows.push(await backend.insert({ id: randomUUID(), title: `seed ${i}` }));
  return rows;
}

async function replicaIds(tab) {
  return ids(await tab.sync.query('SELECT id FROM test_items'));
}

// Everything a test started, closed at its end.
function scope() {
  const items = [];
  return {
    add(x) { items.push(x); return x; },
    async close() {
      for (const x of items.reverse()) {
        if (x.sync) x.sync.close();
        else if (x.close) await x.close();
      }
    },
  };
}

test('initial sync: ready, rows, STATUS live, one DATA_CHANGE of inserts, durable in IndexedDB', async () => {
  const s = scope();
  try {
    const seeded = await seed(25);
    const o = origin();
    const w = s.add(startWorker(o));
    const tab = s.add(openTab(o, w, config()));
    await tab.sync.ready;
    await until(() => tab.sync.status.test_items?.phase === 'live', 10000, 'live');
    assert.deepEqual(await replicaIds(tab), ids(seeded));
    const st = tab.sync.status.test_items;
    assert.equal(st.rows, 25);
    assert.equal(typeof st.offset, 'string');
    assert.equal(typeof st.handle, 'string');
    assert.equal(typeof st.lastSyncedAt, 'number');
    const phases = tab.events.filter((e) => e.type === 'STATUS').map((e) => e.phase);
    assert.equal(phases[0], 'opening');
    const inserted = changes(tab).flatMap((e) => e.changes.insert);
    assert.deepEqual(ids(inserted), ids(seeded));
    assert.equal(inserted[0].completed, false); // typed like the official client
    // Durable: the meta record and the pages are in IndexedDB.
    const db = await ElectricSyncStore.openDatabase(o.indexedDB, DB_NAME);
    const meta = await new Promise((r) => { const q = db.transaction('meta').objectStore('meta').get('meta'); q.onsuccess = () => r(q.result); });
    db.close();
    assert.equal(meta.formatVersion, 4); // extent records (Blobs) + deltas (docs/storage.md §2)
    assert.equal(meta.groupPages, ElectricSyncStore.EXTENT); // 64 chunks (256 KiB) per extent record
    assert.equal(meta.pageSize, 4096);
    assert.ok(meta.commitSeq >= 1);
    assert.equal(meta.schemaVersion, w.engine.version());
    assert.equal(meta.size, meta.pageCount * 4096);
  } finally {
    await s.close();
  }
});

// A large change set crosses to the tab as JSON bytes with the row counts of its lists
// (docs/contracts.md §6): the tab knows the lengths at once and parses the rows only when a
// listener first reads them; the lists then behave as the plain arrays they wrap.
test('a large DATA_CHANGE: lengths known before any row is parsed, the rows parsed once on first read, plain arrays in every other respect', async () => {
  const s = scope();
  const parse = JSON.parse;
  let large = 0; // JSON.parse calls on text of a change set's size (the worker parses only envelopes)
  JSON.parse = function (text, ...rest) { if (typeof text === 'string' && text.length > 100000) large++; return parse.call(this, text, ...rest); };
  try {
    await backend.seedMany(2000);
    const o = origin();
    const w = s.add(startWorker(o));
    const tab = s.add(openTab(o, w, config()));
    await tab.sync.ready;
    await until(() => changes(tab).reduce((n, e) => n + e.changes.insert.length, 0) >= 2000, 10000, 'the initial DATA_CHANGE');
    const evs = changes(tab);
    assert.equal(large, 0, 'no row parsed: neither the preload nor the DATA_CHANGE nor .length parse them');
    const big = evs.find((e) => e.changes.insert.length > 1000);
    assert.ok(big, 'one change set of the initial sync holds most rows');
    const ins = big.changes.insert;
    assert.ok(Array.isArray(ins) && ins instanceof Array);
    assert.deepEqual([big.changes.update.length, big.changes.delete.length], [0, 0]);
    assert.equal(Object.keys(big).includes('counts'), false, 'the wire fields are gone');
    const first = ins[0];
    assert.equal(large, 1, 'the first read parses the set, once');
    assert.equal(typeof first.id, 'string');
    assert.equal(typeof first.completed, 'boolean'); // typed like the official client
    const replica = new Map((await tab.sync.query('SELECT * FROM test_items')).map((r) => [r.id, r]));
    for (const r of ins) assert.deepEqual(r, replica.get(r.id));
    assert.equal(ins.filter((r) => replica.has(r.id)).length, ins.length);
    assert.deepEqual([...ins].map((r) => r.id), ins.map((r) => r.id));
    assert.equal(Object.keys(ins).length, ins.length);
    const n0 = large; // (the query's answer is parsed in the worker)
    assert.deepEqual(JSON.parse(JSON.stringify(big.changes)), { insert: [...ins], update: [], delete: [] });
    assert.equal(large, n0 + 1, 'no parse of the set again: only the JSON.parse of this test');
    ins.push({ id: 'mine' });
    assert.equal(ins.at(-1).id, 'mine');
    assert.equal(evs.reduce((n, e) => n + e.changes.insert.length, 0), 2001);
    assert.deepEqual(structuredClone(Array.from(ins)).length, ins.length, 'a copy clones');
  } finally {
    JSON.parse = parse;
    await s.close();
  }
});

test('live changes reach two ports as the right DATA_CHANGE, only after they are durable', async () => {
  const s = scope();
  try {
    await seed(3);
    const o = origin();
    const w = s.add(startWorker(o));
    const a = s.add(openTab(o, w, config()));
    const b = s.add(openTab(o, w, config()));
    await a.sync.ready;
    await b.sync.ready;
    const flushesAt = [];
    const orig = w.store.commit.bind(w.store);
    w.store.commit = (evs) => orig(evs).then((r) => { flushesAt.push(w.store.stats.flushes); return r; });
    const before = changes(a).length;
    const id = randomUUID();
    const row = await backend.insert({ id, title: 'live one', completed: false });
    await until(() => changes(a).length > before && changes(b).length > before, 10000, 'insert on both');
    for (const t of [a, b]) {
      const ev = changes(t).at(-1);
      assert.equal(ev.shapeName, 'test_items');
      assert.equal(ev.tableName, 'test_items');
      assert.deepEqual(ev.changes.update, []);
      assert.deepEqual(ev.changes.delete, []);
      assert.equal(ev.changes.insert.length, 1);
      assert.equal(ev.changes.insert[0].id, id);
      assert.equal(ev.changes.insert[0].title, 'live one');
    }
    assert.ok(flushesAt.length >= 1 && flushesAt[0] >= 1, 'the event waited for a completed flush');
    await backend.update(id, { title: 'renamed', completed: true });
    await until(() => changes(a).some((e) => e.changes.update.length) && changes(b).some((e) => e.changes.update.length), 10000, 'update');
    for (const t of [a, b]) {
      const u = changes(t).find((e) => e.changes.update.length).changes.update[0];
      assert.equal(u.old.title, 'live one');
      assert.equal(u.old.completed, false);
      assert.equal(u.new.title, 'renamed');
      assert.equal(u.new.completed, true);
      assert.equal(u.new.id, id);
    }
    await backend.delete(id);
    await until(() => changes(a).some((e) => e.changes.delete.length) && changes(b).some((e) => e.changes.delete.length), 10000, 'delete');
    for (const t of [a, b]) {
      const d = changes(t).find((e) => e.changes.delete.length).changes.delete[0];
      assert.equal(d.id, id);
      assert.equal(d.title, 'renamed'); // full rows, not just the key
    }
    assert.equal(row.id, id);
    assert.deepEqual(await replicaIds(a), ids(await backend.rows()));
  } finally {
    await s.close();
  }
});

test('a tab is forgotten when its Web Lock is released, not by port events', async () => {
  const s = scope();
  try {
    await seed(1);
    const o = origin();
    const w = s.add(startWorker(o));
    const a = s.add(openTab(o, w, config()));
    const b = openTab(o, w, config());
    await a.sync.ready;
    await b.sync.ready;
    assert.equal(w.clients.size, 2);
    b.port1.close(); // the port alone says nothing
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(w.clients.size, 2);
    b.sync.close(); // releases the tab lock
    await until(() => w.clients.size === 1, 2000, 'tab forgotten');
  } finally {
    await s.close();
  }
});

test('a new worker on the same IndexedDB with the network down serves the stored replica', async () => {
  const s = scope();
  try {
    const seeded = await seed(12);
    const o = origin();
    const w1 = startWorker(o);
    const t1 = openTab(o, w1, config());
    await t1.sync.ready;
    await until(() => t1.sync.status.test_items?.phase === 'live');
    const offset = t1.sync.status.test_items.offset;
    t1.sync.close();
    await w1.close();

    const net = network();
    net.down = true;
    const w2 = s.add(startWorker(o, { fetch: net.fetch }));
    const t2 = s.add(openTab(o, w2, config()));
    await t2.sync.ready;
    assert.deepEqual(await replicaIds(t2), ids(seeded));
    const st = t2.sync.status.test_items;
    assert.equal(st.phase, 'offline');
    assert.equal(st.rows, 12);
    assert.equal(st.offset, offset);
    assert.equal(w2.module.integrityCheck(FILE), 'ok');
    // Back online: it resumes from the stored offset.
    const id = randomUUID();
    await backend.insert({ id, title: 'while away' });
    net.down = false;
    await until(() => changes(t2).some((e) => e.changes.insert.some((r) => r.id === id)), 15000, 'resume after the network returns');
    assert.equal(changes(t2).flatMap((e) => e.changes.insert).filter((r) => r.id === id).length, 1);
    assert.equal(resets(t2).length, 0);
  } finally {
    await s.close();
  }
});

// Crash injection: the flush of a single-row commit fails at its k-th put (pages, then the meta
// record last), or its transaction aborts; the worker dies right there. The next worker must
// find the previous commit intact and resume without loss or duplicate.
test('crash injection at every step of a commit', async (t) => {
  const proto = IDBObjectStore.prototype;
  const origPut = proto.put;
  // Count the puts of one single-row commit's flush first.
  let putsPerFlush;
  {
    const s = scope();
    try {
      await seed(40);
      const o = origin();
      const w = s.add(startWorker(o));
      const tab = s.add(openTab(o, w, config()));
      await tab.sync.ready;
      await until(() => tab.sync.status.test_items?.phase === 'live');
      let puts = 0;
      proto.put = function (...args) { puts++; return origPut.apply(this, args); };
      const n = changes(tab).length;
      await backend.insert({ id: randomUUID(), title: 'count the puts' });
      await until(() => changes(tab).length > n);
      proto.put = origPut;
      putsPerFlush = puts;
      assert.ok(puts >= 2 && puts <= 4, `puts per single-row commit: ${puts}`);
    } finally {
      proto.put = origPut;
      await s.close();
    }
  }
  const cases = [];
  for (let k = 1; k <= putsPerFlush; k++) cases.push({ k, how: 'throw' });
  cases.push({ k: putsPerFlush, how: 'abort' });
  for (const c of cases) {
    await t.test(`${c.how} at put ${c.k} of ${putsPerFlush}${c.k === putsPerFlush ? ' (the meta record)' : ''}`, async () => {
      const s = scope();
      try {
        await seed(40);
        const o = origin();
        const w1 = startWorker(o);
        const t1 = openTab(o, w1, config());
        await t1.sync.ready;
        await until(() => t1.sync.status.test_items?.phase === 'live');
        const durableIds = await replicaIds(t1);
        const durableOffset = t1.sync.status.test_items.offset;
        let puts = 0, injected = false;
        proto.put = function (...args) {
          puts++;
          if (puts === c.k && !injected) {
            injected = true;
            if (c.how === 'abort') { origPut.apply(this, args); this.transaction.abort(); return; }
            throw new DOMException('injected failure', 'UnknownError');
          }
          return origPut.apply(this, args);
        };
        const lost = randomUUID();
        await backend.insert({ id: lost, title: 'written during the crash' });
        await until(() => injected, 10000, 'the injected failure');
        w1.crash(); // the worker dies: no retry, no further flush
        t1.sync.close();
        proto.put = origPut;

        // The replica in IndexedDB: the previous commit, whole.
        const net = network();
        net.down = true;
        const w2 = s.add(startWorker(o, { fetch: net.fetch }));
        const t2 = s.add(openTab(o, w2, config()));
        await t2.sync.ready;
        assert.equal(w2.module.integrityCheck(FILE), 'ok');
        assert.deepEqual(await replicaIds(t2), durableIds);
        const st = t2.sync.status.test_items;
        assert.equal(st.offset, durableOffset, 'the offset matches the rows');
        assert.equal(st.rows, durableIds.length);
        // Resume: the lost change comes again, once.
        net.down = false;
        await until(() => changes(t2).some((e) => e.changes.insert.some((r) => r.id === lost)), 15000, 'resume');
        const all = await t2.sync.query('SELECT id, count(*) AS n FROM test_items GROUP BY id HAVING n > 1');
        assert.deepEqual(all, [], 'no duplicate');
        assert.deepEqual(await replicaIds(t2), ids(await backend.rows()), 'no loss');
        assert.equal(changes(t2).flatMap((e) => e.changes.insert).filter((r) => r.id === lost).length, 1);
      } finally {
        proto.put = origPut;
        await s.close();
      }
    });
  }
});

test('a schema version change gives SCHEMA_RESET version_mismatch and a full resync', async () => {
  const s = scope();
  try {
    await seed(5);
    const o = origin();
    const w1 = startWorker(o);
    const t1 = openTab(o, w1, config());
    await t1.sync.ready;
    await until(() => t1.sync.status.test_items?.phase === 'live');
    const oldVersion = w1.engine.version();
    t1.sync.close();
    await w1.close();

    await backend.migrate('0001_title_index');
    const seeded = [];
    for (let i = 0; i < 4; i++) seeded.push(await backend.insert({ id: randomUUID(), title: `after ${i}` }));
    const w2 = s.add(startWorker(o));
    const t2 = s.add(openTab(o, w2, config()));
    await t2.sync.ready;
    await until(() => t2.sync.status.test_items?.phase === 'live');
    const [ev] = resets(t2);
    assert.deepEqual(ev, { type: 'SCHEMA_RESET', reason: 'version_mismatch', oldVersion, newVersion: w2.engine.version() });
    assert.notEqual(ev.newVersion, oldVersion);
    assert.deepEqual(await replicaIds(t2), ids(seeded));
    assert.deepEqual(ids(changes(t2).flatMap((e) => e.changes.insert)), ids(seeded));
    assert.equal(w2.store.meta.schemaVersion, ev.newVersion);
    assert.equal(w2.store.meta.commitSeq <= 3, true, 'a new IndexedDB database');
  } finally {
    await s.close();
  }
});

test('resetLocal gives SCHEMA_RESET manual_reset to every tab, then a full resync', async () => {
  const s = scope();
  try {
    const seeded = await seed(6);
    const o = origin();
    const w = s.add(startWorker(o));
    const a = s.add(openTab(o, w, config()));
    const b = s.add(openTab(o, w, config()));
    await a.sync.ready;
    await b.sync.ready;
    await until(() => changes(a).length === 1 && changes(b).length === 1, 5000, 'the initial sync');
    const n = changes(b).length;
    await a.sync.resetLocal();
    for (const t of [a, b]) {
      await until(() => resets(t).length === 1, 5000, 'SCHEMA_RESET');
      const v = w.engine.version();
      assert.deepEqual(resets(t)[0], { type: 'SCHEMA_RESET', reason: 'manual_reset', oldVersion: v, newVersion: v });
    }
    await until(() => changes(b).length > n, 10000, 'resync');
    assert.deepEqual(ids(changes(b).slice(n).flatMap((e) => e.changes.insert)), ids(seeded));
    assert.deepEqual(await replicaIds(a), ids(seeded));
  } finally {
    await s.close();
  }
});

test('a write attempted through query is refused and changes nothing', async () => {
  const s = scope();
  try {
    const seeded = await seed(4);
    const o = origin();
    const w = s.add(startWorker(o));
    const tab = s.add(openTab(o, w, config()));
    await tab.sync.ready;
    const flushes = w.store.stats.flushes;
    for (const sql of ['DELETE FROM test_items', "INSERT INTO test_items(id, title) VALUES ('x', 'y')",
      'DROP TABLE test_items', "UPDATE esync_shapes SET \"offset\" = '-1'", 'PRAGMA writable_schema = 1',
      "ATTACH 'other' AS o", 'SELECT 1; DELETE FROM test_items']) {
      await assert.rejects(tab.sync.query(sql), (e) => e.code === 'ESYNC_EREADONLY', sql);
    }
    assert.deepEqual(await replicaIds(tab), ids(seeded));
    assert.equal(w.store.stats.flushes, flushes, 'nothing was written');
    assert.deepEqual(await tab.sync.query('SELECT count(*) AS n FROM test_items WHERE title LIKE ?', ['seed%']), [{ n: 4 }]);
  } finally {
    await s.close();
  }
});

test('one owner: a second worker waits for the lock, asks the first to step aside, and takes over', async () => {
  const s = scope();
  try {
    await seed(3);
    const o = origin();
    const w1 = s.add(startWorker(o));
    const t1 = s.add(openTab(o, w1, config()));
    await t1.sync.ready;
    // a row the old worker commits just before the new one starts, which starts offline: it
    // reads IndexedDB while the lock is still held (that read is dropped), then again as owner
    const last = randomUUID();
    await backend.insert({ id: last, title: 'before the hand-over' });
    await until(async () => (await replicaIds(t1)).includes(last), 10000, 'old owner has it');
    const net = network();
    net.down = true;
    const w2 = s.add(startWorker(o, { fetch: net.fetch }));
    const t2 = s.add(openTab(o, w2, config()));
    await t2.sync.ready;
    assert.ok((await replicaIds(t2)).includes(last), 'the new owner read what the old one flushed last');
    assert.equal(w2.module.integrityCheck(FILE), 'ok');
    net.down = false;
    await until(() => t1.sync.status.test_items?.phase === 'error', 5000, 'old worker steps aside');
    assert.match(t1.sync.status.test_items.error, /newer worker/);
    assert.equal(w1.engine, null);
    const id = randomUUID();
    await backend.insert({ id, title: 'after the hand-over' });
    await until(async () => (await replicaIds(t2)).includes(id), 10000, 'new owner syncs');
  } finally {
    await s.close();
  }
});

test('shapes are required: useElectricSync throws a TypeError for missing or malformed ones', () => {
  const { port1, port2 } = new MessageChannel();
  try {
    const cases = [
      [undefined, /options\.shapes is required/],
      [[], /must be a non-empty array/],
      [{ name: 'test_items', table: 'test_items' }, /must be a non-empty array/],
      [[null], /\[0\] must be an object/],
      [[{ table: 'test_items' }], /\[0\]\.name must be a non-empty string/],
      [[{ name: 'test_items' }], /\[0\]\.table must be a non-empty string/],
      [[{ name: 'a', table: 'test_items' }, { name: 'a', table: 'other' }], /\[1\]\.name 'a' is used twice/],
    ];
    for (const [shapes, want] of cases) {
      assert.throws(() => useElectricSync({ ...(shapes === undefined ? {} : { shapes }), port: port1 }), (e) => e instanceof TypeError && want.test(e.message), JSON.stringify(shapes));
    }
    assert.throws(() => useElectricSync(), /options\.shapes is required/);
  } finally {
    port1.close();
    port2.close();
  }
});

test('a HELLO without shapes does not start the worker', async () => {
  const o = origin();
  const logged = [];
  const w = startWorker(o, { log: (...a) => logged.push(a.map(String).join(' ')) });
  const c = w.addClient(() => {});
  await w.handle(c, { type: 'HELLO', config: { dbName: DB_NAME } });
  await w.started;
  assert.match(logged.join('\n'), /worker failed.*config\.shapes/);
  assert.equal(w.engine, null);
  assert.deepEqual((await o.locks.query()).held, [], 'no owner lock taken');
  await w.close();
});

test('prestart (a SharedWorker named for its replica): the owner lock and the IndexedDB read begin before the first HELLO; a HELLO for another replica fails that worker', async () => {
  const s = scope();
  try {
    const seeded = await seed(3);
    const o = origin();
    const w = s.add(startWorker(o));
    w.prestart(DB_NAME);
    await until(async () => (await o.locks.query()).held.some((l) => l.name === `sqlite-owner:${DB_NAME}`), 5000, 'owner lock before HELLO');
    assert.equal(w.started, null, 'no HELLO yet');
    await until(async () => (await o.indexedDB.databases()).some((d) => d.name === DB_NAME), 5000, 'IndexedDB opened before HELLO');
    assert.equal(w.started, null, 'still no HELLO');
    const tab = s.add(openTab(o, w, config()));
    await tab.sync.ready;
    assert.deepEqual(await replicaIds(tab), ids(seeded));
    const logged = [];
    const other = startWorker(o, { log: (...a) => logged.push(a.map(String).join(' ')) });
    other.prestart('another-replica');
    const c = other.addClient(() => {});
    await other.handle(c, { type: 'HELLO', config: config() });
    await other.started;
    assert.match(logged.join('\n'), /worker failed.*serves replica "another-replica".*not "docpal-electric"/);
    assert.equal(other.engine, null);
    await other.close();
    assert.deepEqual(await replicaIds(tab), ids(seeded), 'the first worker is untouched');
  } finally {
    await s.close();
  }
});

test('openEarly (a SharedWorker\'s first request): the IndexedDB open begins before the worker exists, its prestart read takes that connection (one open in all); an open begun on another factory, or for another replica, is not taken', async () => {
  const s = scope();
  try {
    const seeded = await seed(4);
    const o = origin();
    // a first worker makes the stored replica
    const w1 = s.add(startWorker(o));
    const t1 = s.add(openTab(o, w1, config()));
    await t1.sync.ready;
    t1.sync.close();
    await w1.close();
    const opens = [];
    const open = o.indexedDB.open.bind(o.indexedDB);
    o.indexedDB.open = (name, v) => { opens.push(name); return open(name, v); };
    // an early open on another factory (another origin's) is not taken by a store of o
    const other = origin();
    ElectricSyncStore.openEarly(other.indexedDB, DB_NAME);
    ElectricSyncStore.openEarly(o.indexedDB, 'another-replica');
    const probe = startWorker(o);
    probe.prestart(DB_NAME);
    assert.deepEqual(opens, ['another-replica', DB_NAME], 'its own open');
    // the early open it did not take is closed: nothing holds up a delete of that database
    const deleted = await Promise.race([
      ElectricSyncStore.deleteDatabase(other.indexedDB, DB_NAME).then(() => true),
      new Promise((r) => setTimeout(() => r(false), 2000)),
    ]);
    assert.equal(deleted, true, 'the early open not taken was closed');
    await probe.close();
    opens.length = 0;
    ElectricSyncStore.openEarly(o.indexedDB, DB_NAME);
    assert.deepEqual(opens, [DB_NAME]);
    const w = s.add(startWorker(o));
    w.prestart(DB_NAME);
    assert.deepEqual(opens, [DB_NAME], 'the prestart read took the early open');
    const tab = s.add(openTab(o, w, config()));
    await tab.sync.ready;
    assert.deepEqual(await replicaIds(tab), ids(seeded));
    assert.deepEqual(opens, [DB_NAME], 'no second open');
    // taken once: a later store of the same name opens its own connection
    const db = await ElectricSyncStore.openDatabase(o.indexedDB, DB_NAME);
    db.close();
    assert.deepEqual(opens, [DB_NAME, DB_NAME]);
  } finally {
    await s.close();
  }
});

test('without dbName the replica is the library\'s own: IndexedDB database electric-sync', async () => {
  const s = scope();
  try {
    const seeded = await seed(2);
    const o = origin();
    const w = s.add(startWorker(o));
    const { dbName, ...rest } = config();
    assert.equal(dbName, DB_NAME);
    const tab = s.add(openTab(o, w, rest));
    await tab.sync.ready;
    assert.deepEqual(await replicaIds(tab), ids(seeded));
    assert.deepEqual((await o.indexedDB.databases()).map((d) => d.name), [ElectricSyncWorker.DEFAULTS.dbName]);
    assert.equal(ElectricSyncWorker.DEFAULTS.dbName, 'electric-sync');
    assert.equal(w.module.integrityCheck('/electric-sync.sqlite3'), 'ok');
  } finally {
    await s.close();
  }
});

test('STATS: the flusher counters and the timeline of the start-up and the first durable commit', async () => {
  const s = scope();
  try {
    await seed(3);
    const o = origin();
    const w = s.add(startWorker(o));
    const tab = s.add(openTab(o, w, config()));
    await tab.sync.ready;
    const replies = [];
    const c = w.addClient((m) => replies.push(m));
    await w.handle(c, { type: 'STATS', id: 7 });
    const [{ type, id, value }] = replies;
    assert.equal(type, 'RESULT');
    assert.equal(id, 7);
    assert.ok(value.flushes >= 1 && value.pagesWritten >= 1 && value.commitSeq >= 1 && value.size > 0);
    assert.equal(typeof value.startedAt, 'number');
    const labels = value.timeline.map(([l]) => l);
    // 'image whole': the stored image all in the heap (a lazy open's background reads done), when
    // that happens (at once for a new replica)
    assert.ok(labels.indexOf('image whole') > labels.indexOf('image loaded'), labels.join(', '));
    assert.deepEqual(labels.filter((l) => l !== 'image whole').slice(0, 8), ['worker', 'hello', 'owner lock', 'module', 'indexeddb read', 'image loaded', 'engine open', 'version']);
    assert.ok(labels.some((l) => l.startsWith('durable')), labels.join(', '));
  } finally {
    await s.close();
  }
});

test('the timeline never throws: it keeps the first marks and a ring of the latest', () => {
  let t = 0;
  const tl = new ElectricSyncWorker.Timeline(() => t);
  for (let i = 0; i < 100000; i++) { t = i; tl.mark(`response ${i}`); }
  tl.mark('durable');
  const marks = tl.marks();
  assert.equal(marks.length, 64 + 448);
  assert.deepEqual(marks[0], ['response 0', 0]);
  assert.deepEqual(marks[63], ['response 63', 63]);
  assert.deepEqual(marks.at(-1), ['durable', 99999]);
  assert.deepEqual(marks.at(-2), ['response 99999', 99999]);
  assert.deepEqual(marks[64], [`response ${100000 - 447}`, 100000 - 447]);
  assert.equal(tl.dropped, 100001 - 64 - 448);
  for (let i = 1; i < marks.length; i++) assert.ok(marks[i][1] >= marks[i - 1][1], 'in time order');
});

test('Tabs: a preload is copied to every tab but the last and moved to that one; a tab that connects before its DATA_CHANGE waits, kept messages in order, and no preload moves while it waits', async () => {
  const tabs = new ElectricSyncWorker.Tabs({ log: () => {} });
  const got = new Map(); // tab name -> [wire message]
  const handled = [];
  const port = (name) => {
    const { port1, port2 } = new MessageChannel();
    got.set(name, []);
    port1.onmessage = (ev) => got.get(name).push(ev.data);
    const c = tabs.connect(port2, (client, data) => handled.push([name, data]));
    return { c, port1, port2 };
  };
  const settle = () => new Promise((r) => setTimeout(r, 30));
  const event = (n) => ({ type: 'DATA_CHANGE', shapeName: 's', tableName: 't', changesJson: new TextEncoder().encode(JSON.stringify({ insert: [{ id: n }], update: [], delete: [] })), counts: [1, 0, 0] });
  const ports = [port('a'), port('b')];
  try {
    const ev1 = event('1');
    const size = ev1.changesJson.length;
    tabs.preload([ev1]);
    assert.equal(ev1.changesJson.byteLength, 0, 'moved: the worker has the bytes no more');
    // c connects before ev1's DATA_CHANGE: it waits, what it sends is kept
    ports.push(port('c'));
    ports[2].port1.postMessage({ n: 1 });
    ports[2].port1.postMessage({ n: 2 });
    await settle();
    assert.equal(tabs.size, 2);
    assert.deepEqual(handled, []);
    // a preload while c waits: copied to a and b, not moved (c will need the bytes)
    const ev2 = event('2');
    tabs.preload([ev2]);
    assert.equal(ev2.changesJson.length, ev2.changesJson.byteLength);
    assert.ok(ev2.changesJson.byteLength > 0, 'copied, not moved');
    tabs.broadcast({ type: 'STATUS', n: 0 }); // c is not in: it gets nothing
    tabs.broadcast(ev1);
    assert.equal(tabs.size, 3, 'c comes in once the moved preload was delivered');
    assert.deepEqual(handled, [['c', { n: 1 }], ['c', { n: 2 }]]);
    tabs.broadcast(ev2);
    await settle();
    for (const name of ['a', 'b']) {
      const w = got.get(name);
      assert.deepEqual(w.map((m) => m.type), ['DATA_CHANGE_PRELOAD', 'DATA_CHANGE_PRELOAD', 'STATUS', 'DATA_CHANGE', 'DATA_CHANGE']);
      assert.equal(w[0].changesJson.length, size);
      assert.equal(w[3].ref, w[0].ref);
      assert.equal(w[3].changesJson, undefined);
    }
    const wc = got.get('c');
    assert.deepEqual(wc.map((m) => m.type), ['DATA_CHANGE'], 'c came after ev1: only ev2, whole');
    assert.deepEqual(JSON.parse(new TextDecoder().decode(wc[0].changesJson)).insert, [{ id: '2' }]);
    // messages after coming in are handled at once
    ports[2].port1.postMessage({ n: 3 });
    await settle();
    assert.deepEqual(handled.at(-1), ['c', { n: 3 }]);
    // a client that is no port (the fallback's): nothing is moved
    tabs.add(() => {});
    const ev3 = event('3');
    tabs.preload([ev3]);
    assert.ok(ev3.changesJson.byteLength > 0, 'with a client that is no port the bytes stay');
  } finally {
    for (const p of ports) { p.port1.close(); p.port2.close(); }
  }
});

test('Tabs: the wait outside is bounded: a tab let in before a moved preload\'s DATA_CHANGE went out is not sent that DATA_CHANGE, and it is logged', async () => {
  const logs = [];
  const timers = []; // the bound's timer, fired by hand: no race with real time
  const tabs = new ElectricSyncWorker.Tabs({ log: (...a) => logs.push(a.join(' ')), setTimeout: (fn, ms) => timers.push([fn, ms]) });
  const got = [[]], handled = [];
  const chans = [new MessageChannel()];
  chans.forEach((ch, i) => {
    ch.port1.onmessage = (ev) => got[i].push(ev.data);
    tabs.connect(ch.port2, (c, d) => handled.push([i, d]));
  });
  const settle = (ms = 30) => new Promise((r) => setTimeout(r, ms));
  try {
    const ev = { type: 'DATA_CHANGE', shapeName: 's', tableName: 't', changesJson: new TextEncoder().encode('{"insert":[{"id":"1"}],"update":[],"delete":[]}'), counts: [1, 0, 0] };
    tabs.preload([ev]);
    const late = new MessageChannel();
    const lateGot = [];
    late.port1.onmessage = (e) => lateGot.push(e.data);
    tabs.connect(late.port2, (c, d) => handled.push(['late', d]));
    late.port1.postMessage({ hello: 1 });
    await settle();
    assert.equal(tabs.size, 1, 'waiting');
    assert.deepEqual(timers.map(([, ms]) => ms), [5000], 'one timer, of the default bound');
    assert.deepEqual(handled, [], 'its message kept');
    timers[0][0]();
    assert.equal(tabs.size, 2, 'let in once the bound passed');
    assert.deepEqual(handled, [['late', { hello: 1 }]]);
    tabs.broadcast(ev);
    tabs.broadcast({ type: 'STATUS' });
    await settle();
    assert.deepEqual(got[0].map((m) => m.type), ['DATA_CHANGE_PRELOAD', 'DATA_CHANGE', 'STATUS']);
    assert.deepEqual(lateGot.map((m) => m.type), ['STATUS'], 'no DATA_CHANGE without its bytes');
    assert.ok(logs.some((l) => l.includes('DATA_CHANGE not sent')), logs.join('; '));
    late.port1.close(); late.port2.close();
  } finally {
    for (const ch of chans) { ch.port1.close(); ch.port2.close(); }
  }
});

// ---- the tab API: read-your-writes, live queries, reads that wait, credentials, shapes ----------

const OTHER_SHAPE = () => ({ name: 'other', table: backend.other });
const rowsOf = (rs) => rs.map((r) => r.id).sort();
const statsOf = async (w) => {
  const replies = [];
  const c = w.addClient((m) => replies.push(m));
  await w.handle(c, { type: 'STATS', id: 1 });
  return replies[0].value;
};

test('awaitTxId: a write\'s txid awaited in a second tab, then read there with query; its DATA_CHANGE came first', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  const s = scope();
  try {
    await seed(3);
    const o = origin();
    const w = s.add(startWorker(o));
    const a = s.add(openTab(o, w, config()));
    const b = s.add(openTab(o, w, config()));
    await a.sync.ready;
    await b.sync.ready;
    const id = randomUUID();
    const { txid } = await backend.insert({ id, title: 'read your writes' });
    assert.match(txid, /^[0-9]+$/);
    await b.sync.awaitTxId(txid);
    assert.ok(changes(b).some((e) => e.changes.insert.some((r) => r.id === id)), 'the DATA_CHANGE was delivered before awaitTxId resolved');
    assert.deepEqual(await b.sync.query('SELECT id, title FROM test_items WHERE id = ?', [id]), [{ id, title: 'read your writes' }]);
    // An update and a delete: their txids too (txids ride on the DATA_CHANGE as well).
    const u = await backend.update(id, { title: 'renamed' });
    await a.sync.awaitTxId(u.txid);
    assert.deepEqual(await a.sync.query('SELECT title FROM test_items WHERE id = ?', [id]), [{ title: 'renamed' }]);
    assert.ok(changes(a).some((e) => (e.txids || []).includes(u.txid)));
    const d = await backend.delete(id);
    await b.sync.awaitTxId(BigInt(d.txid)); // a BigInt or a number is accepted as well
    assert.deepEqual(await b.sync.query('SELECT id FROM test_items WHERE id = ?', [id]), []);
    // Awaited again: at once.
    const t0 = Date.now();
    await a.sync.awaitTxId(txid);
    assert.ok(Date.now() - t0 < 200);
    const tx = (await statsOf(w)).txids;
    assert.deepEqual([tx.waiting, tx.inflight], [0, 0]);
    assert.equal(tx.atOnce + tx.afterWait, 4, 'every waiter counted once, as answered at once or after a wait');
    assert.ok(tx.atOnce >= 1, 'the txid awaited again was answered at once');
  } finally {
    await s.close();
  }
});

test('awaitTxId: an old txid resolves at once after a reload (from the replica in IndexedDB, offline)', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  const s = scope();
  try {
    await seed(2);
    const o = origin();
    const w1 = startWorker(o);
    const t1 = openTab(o, w1, config());
    await t1.sync.ready;
    const { txid } = await backend.insert({ id: randomUUID(), title: 'before the reload' });
    await t1.sync.awaitTxId(txid);
    t1.sync.close();
    await w1.close();

    const net = network();
    net.down = true; // nothing can arrive: only the stored txids can answer
    const w2 = s.add(startWorker(o, { fetch: net.fetch }));
    const t2 = s.add(openTab(o, w2, config()));
    const t0 = Date.now();
    await t2.sync.awaitTxId(txid, { timeoutMs: 3000 });
    assert.ok(Date.now() - t0 < 1000, `resolved after ${Date.now() - t0} ms`);
    await t2.sync.ready;
    assert.equal(t2.sync.status.test_items.phase, 'offline', 'nothing came from the network');
  } finally {
    await s.close();
  }
});

test('awaitTxId: a txid that never comes rejects with code TIMEOUT, and the worker forgets the waiter', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  const s = scope();
  try {
    await seed(1);
    const o = origin();
    const w = s.add(startWorker(o));
    const tab = s.add(openTab(o, w, config()));
    await tab.sync.ready;
    const t0 = Date.now();
    await assert.rejects(tab.sync.awaitTxId('4000000000', { timeoutMs: 300 }), (e) => e instanceof Error && e.code === 'TIMEOUT' && /4000000000/.test(e.message));
    assert.ok(Date.now() - t0 >= 290);
    await until(async () => (await statsOf(w)).txids.waiting === 0, 2000, 'the waiter dropped');
    await assert.rejects(tab.sync.awaitTxId('not a txid'), TypeError);
  } finally {
    await s.close();
  }
});

test('liveQuery: called after a write to its table and not after a write to another shape\'s table; one run shared by tabs', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  const s = scope();
  try {
    const seeded = await seed(4);
    await backend.createOther(2);
    const o = origin();
    const w = s.add(startWorker(o));
    const shapes = [...SHAPES, OTHER_SHAPE()];
    const a = s.add(openTab(o, w, { ...config(), shapes }));
    const b = s.add(openTab(o, w, { ...config(), shapes }));
    await a.sync.ready;
    await b.sync.ready;
    const SQL = 'SELECT id, title, completed FROM test_items ORDER BY id';
    const callsA = [], callsB = [];
    const stopA = a.sync.liveQuery(SQL, [], (rows) => callsA.push(rows));
    b.sync.liveQuery(SQL, [], (rows) => callsB.push(rows));
    await until(() => callsA.length === 1 && callsB.length === 1, 15000, 'the first results');
    assert.deepEqual(rowsOf(callsA[0]), ids(seeded));
    assert.equal(callsA[0][0].completed, false, 'typed like query');
    let st = await statsOf(w);
    assert.equal(st.live.queries, 1, 'identical statements share one live query');
    assert.equal(st.live.subscriptions, 2);
    assert.equal(st.live.firstRuns, 1, 'the second subscriber got the last result without a run');

    // A write to the other shape's table: its DATA_CHANGE arrives, the live query does not run.
    const reruns = st.live.reruns;
    const otherTxid = await backend.insertOther(100, 'not read by the live query');
    await a.sync.awaitTxId(otherTxid);
    await b.sync.awaitTxId(otherTxid);
    assert.ok(changes(a).some((e) => e.shapeName === 'other' && e.changes.insert.some((r) => r.id === 100)));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(callsA.length, 1, 'not called after a write to another shape\'s table');
    assert.equal(callsB.length, 1);
    assert.equal((await statsOf(w)).live.reruns, reruns, 'and not run');

    // A write to test_items: called once in each tab, after one run.
    const id = randomUUID();
    const { txid } = await backend.insert({ id, title: 'seen live' });
    await a.sync.awaitTxId(txid);
    await until(() => callsA.length === 2 && callsB.length === 2, 5000, 'the re-run');
    assert.ok(callsA[1].some((r) => r.id === id && r.title === 'seen live'));
    assert.deepEqual(callsA[1], callsB[1]);
    st = await statsOf(w);
    assert.equal(st.live.reruns, reruns + 1, 'one run for both tabs');

    // Unsubscribed: no longer called; the other tab still is. A closed tab's live query goes.
    stopA();
    const u = await backend.update(id, { completed: true });
    await b.sync.awaitTxId(u.txid);
    await until(() => callsB.length === 3, 5000, 'b re-run');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(callsA.length, 2);
    assert.equal(callsB[2].find((r) => r.id === id).completed, true);
    b.sync.close();
    await until(async () => (await statsOf(w)).live.queries === 0, 2000, 'the closed tab\'s live query dropped');

    // A statement that cannot run: onError, at once; a table that is no shape's fails at once.
    const errs = [];
    a.sync.liveQuery('DELETE FROM test_items', [], () => assert.fail('no rows'), (e) => errs.push(e));
    a.sync.liveQuery('SELECT * FROM no_such_thing', [], () => assert.fail('no rows'), (e) => errs.push(e));
    await until(() => errs.length === 2, 2000, 'the errors');
    assert.deepEqual(errs.map((e) => e.code).sort(), ['ESYNC_EREADONLY', 'ESYNC_ESQLITE']);
    await assert.rejects(a.sync.query('SELECT * FROM no_such_thing'), (e) => e.code === 'ESYNC_ESQLITE' && /no such table/.test(e.message));
  } finally {
    await s.close();
  }
});

// The engine goes on ingesting while a flush is in flight, so its replica in memory can hold a
// commit that is not durable yet. A live query must not show that commit's rows before its
// DATA_CHANGE (and its awaitTxId): the flushes are held here one at a time (the store's write
// waits for the test) while two writes arrive.
test('liveQuery: a result never shows a row before that row\'s commit is durable and its DATA_CHANGE delivered', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  const proto = ElectricSyncStore.ReplicaStore.prototype;
  const origWrite = proto.write;
  const s = scope();
  try {
    const seeded = await seed(3);
    const o = origin();
    const w = s.add(startWorker(o));
    const a = s.add(openTab(o, w, config()));
    await a.sync.ready;
    await until(() => a.sync.status.test_items?.phase === 'live');
    const delivered = () => new Set(changes(a).flatMap((e) => e.changes.insert.map((r) => r.id)));
    const results = []; // [ids of the result, ids whose DATA_CHANGE had arrived by then]
    const shownAfterDelivery = () => {
      for (const [rows, seen] of results) {
        for (const id of rows) assert.ok(seeded.some((r) => r.id === id) || seen.has(id), 'every row shown was delivered first');
      }
    };
    a.sync.liveQuery('SELECT id FROM test_items', [], (rows) => results.push([rowsOf(rows), delivered()]));
    await until(() => results.length === 1, 10000, 'the first result');
    assert.deepEqual(results[0][0], ids(seeded));

    // From now on each flush waits until the test lets it go.
    const held = [];
    proto.write = function (...args) {
      return new Promise((resolve) => held.push(resolve)).then(() => origWrite.apply(this, args));
    };
    const first = randomUUID(), second = randomUUID();
    const r1 = await backend.insert({ id: first, title: 'first, flushed alone' });
    await until(async () => held.length === 1 && (await statsOf(w)).txids.inflight === 1, 10000, 'the first commit held in its flush');
    const waiting = a.sync.awaitTxId(r1.txid);
    await backend.insert({ id: second, title: 'second, committed during the first flush' });
    await until(async () => (await statsOf(w)).txids.inflight === 2, 10000, 'the second commit in the engine');
    assert.equal(held.length, 1, 'the second commit waits for the first flush');
    held.shift()(); // the first flush completes; the second one is held
    await waiting;
    assert.ok(delivered().has(first), 'awaitTxId resolved after its DATA_CHANGE');
    await until(() => held.length === 1, 10000, 'the second flush held');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!delivered().has(second));
    for (const [rows] of results) assert.ok(!rows.includes(second), `a result showed the second row before its commit was durable: ${results.length} results`);
    shownAfterDelivery();
    proto.write = origWrite;
    held.shift()();
    await until(() => results.some(([rows]) => rows.includes(second)), 10000, 'the second row shown once durable');
    shownAfterDelivery();
    assert.deepEqual(results.at(-1)[0], ids([...seeded, { id: first }, { id: second }]));
    assert.ok((await statsOf(w)).live.deferred >= 1, 'the runs of the first commit waited for the second');
  } finally {
    proto.write = origWrite;
    await s.close();
  }
});

test('reads never see a missing table: before the first sync, and 20 queries in a loop across resetLocal() all resolve with rows', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  const s = scope();
  try {
    const seeded = await seed(10);
    const o = origin();
    const w = s.add(startWorker(o));
    const tab = s.add(openTab(o, w, config()));
    // Before the first sync: the query waits for the table.
    const first = tab.sync.query('SELECT id FROM test_items');
    const liveCalls = [];
    tab.sync.liveQuery('SELECT id FROM test_items', null, (rows) => liveCalls.push(rows));
    assert.deepEqual(rowsOf(await first), ids(seeded));
    await tab.sync.ready;
    await until(() => liveCalls.length >= 1);
    assert.deepEqual(rowsOf(liveCalls[0]), ids(seeded));

    for (let round = 0; round < 2; round++) {
      const n = liveCalls.length;
      const queries = [];
      const reset = tab.sync.resetLocal();
      for (let i = 0; i < 20; i++) {
        queries.push(tab.sync.query('SELECT id FROM test_items').then((rows) => ({ rows }), (error) => ({ error })));
        await new Promise((r) => setTimeout(r, i % 4 === 0 ? 0 : 3));
      }
      await reset;
      const results = await Promise.all(queries);
      assert.deepEqual(results.filter((r) => r.error).map((r) => r.error.message), [], 'no query failed');
      for (const r of results) assert.deepEqual(rowsOf(r.rows), ids(seeded));
      await until(() => resets(tab).length === round + 1 && liveCalls.length > n, 10000, 'the live query after the reset');
      for (const rows of liveCalls.slice(n)) assert.deepEqual(rowsOf(rows), ids(seeded), 'no empty result in between');
    }
    assert.ok((await statsOf(w)).live.waits >= 1, 'some queries did wait for the table');
  } finally {
    await s.close();
  }
});

test('a schema version change: a query issued while the replica is rebuilt waits and answers from the new one', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  const s = scope();
  try {
    await seed(2);
    const o = origin();
    const w1 = startWorker(o);
    const t1 = openTab(o, w1, config());
    await t1.sync.ready;
    t1.sync.close();
    await w1.close();
    await backend.migrate('0002_reads_wait');
    const after = [];
    for (let i = 0; i < 3; i++) after.push(await backend.insert({ id: randomUUID(), title: `after ${i}` }));
    const w2 = s.add(startWorker(o));
    const t2 = s.add(openTab(o, w2, config()));
    const q = t2.sync.query('SELECT id FROM test_items'); // issued at once: old replica, rebuild or new one
    const rows = await q;
    assert.ok([2, 3].includes(rows.length), `rows: ${rows.length}`);
    await t2.sync.ready;
    assert.deepEqual(await replicaIds(t2), ids(after));
  } finally {
    await s.close();
  }
});

test('headers: a 401 gives STATUS unauthorized; new values resume where the shape was, without SCHEMA_RESET and without downloading the rows again', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  const { startAuthProxy } = await import('./support/auth-proxy.js');
  const s = scope();
  const proxy = await startAuthProxy(backend.base, { valid: 't1' });
  try {
    await backend.seedMany(1000);
    const o = origin();
    const w = s.add(startWorker(o));
    let token = 't1';
    let asked = 0;
    const cfg = { ...config(), shapeUrl: `${proxy.base}/v1/shape`, liveUrl: undefined, headers: async () => { asked++; return { Authorization: `Bearer ${token}` }; } };
    const tab = s.add(openTab(o, w, cfg));
    await tab.sync.ready;
    assert.ok(asked >= 1, 'the function was called on the worker\'s request');
    const snapshotBytes = proxy.bytes;
    assert.ok(snapshotBytes > 1000 * 100, `snapshot bytes ${snapshotBytes}`);
    assert.equal(proxy.refused(), 0);
    const phases = () => tab.events.filter((e) => e.type === 'STATUS').map((e) => e.phase);

    // 1. The token expires and the app already holds the next one: the worker asks at once.
    proxy.valid = 't2';
    token = 't2';
    // Ends the long-poll in flight (or, if it reached the proxy after the token changed, that
    // request is the refused one); the next request is refused, the worker asks, resumes.
    const r1 = await backend.insert({ id: randomUUID(), title: 'while t1 expires' });
    await tab.sync.awaitTxId(r1.txid, { timeoutMs: 10000 });
    const r2 = await backend.insert({ id: randomUUID(), title: 'after t2' });
    await tab.sync.awaitTxId(r2.txid, { timeoutMs: 10000 });
    assert.ok(proxy.refused() >= 1, 'a request was refused');
    assert.ok(phases().includes('unauthorized'), phases().join(' '));

    // 2. Expired and the function still returns the old token: unauthorized until refreshAuth().
    const before = proxy.requests.length;
    proxy.valid = 't3';
    const r3 = await backend.insert({ id: randomUUID(), title: 'while t2 expires' }); // arrives now or after the refresh
    await until(() => tab.sync.status.test_items.phase === 'unauthorized', 10000, 'unauthorized');
    assert.match(tab.sync.status.test_items.error || '', /401|credential|auth/i);
    const refusedAt = proxy.refused();
    const r4 = await backend.insert({ id: randomUUID(), title: 'written while unauthorized' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(tab.sync.status.test_items.phase, 'unauthorized');
    assert.equal(proxy.refused(), refusedAt, 'the refused values are not sent again');
    token = 't3';
    await tab.sync.refreshAuth();
    await tab.sync.awaitTxId(r3.txid, { timeoutMs: 10000 });
    await tab.sync.awaitTxId(r4.txid, { timeoutMs: 10000 });
    await until(() => tab.sync.status.test_items.phase === 'live', 5000, 'live again');

    assert.equal(resets(tab).length, 0, 'no SCHEMA_RESET');
    const after = proxy.requests.slice(before);
    assert.deepEqual(after.filter((r) => r.offset === '-1'), [], 'no request from offset -1');
    const resumedBytes = after.reduce((n, r) => n + r.bytes, 0);
    assert.ok(resumedBytes < snapshotBytes / 20, `bytes after the 401: ${resumedBytes}, the snapshot: ${snapshotBytes}`);
    assert.equal((await tab.sync.query('SELECT count(*) AS n FROM test_items'))[0].n, 1004);
  } finally {
    await s.close();
    await proxy.stop();
  }
});

test('shapes: a second tab adding a shape gets its rows; a different definition of a synced name rejects ready with SHAPE_CONFLICT', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  const s = scope();
  try {
    const seeded = await seed(3);
    await backend.createOther(5);
    const o = origin();
    const w = s.add(startWorker(o));
    const a = s.add(openTab(o, w, config()));
    await a.sync.ready;
    assert.deepEqual(Object.keys(a.sync.status), ['test_items']);
    // A statement on a table that is no shape's yet fails at once.
    await assert.rejects(a.sync.query(`SELECT * FROM ${backend.other}`), (e) => e.code === 'ESYNC_ESQLITE');

    const b = s.add(openTab(o, w, { ...config(), shapes: [...SHAPES, OTHER_SHAPE()] }));
    await b.sync.ready;
    assert.deepEqual((await b.sync.query(`SELECT id, label FROM ${backend.other} ORDER BY id`)).map((r) => r.id), [1, 2, 3, 4, 5]);
    await until(() => a.sync.status.other?.phase === 'live', 5000, 'the first tab hears of the new shape');
    const txid = await backend.insertOther(6, 'six');
    await a.sync.awaitTxId(txid);
    assert.ok(changes(a).some((e) => e.shapeName === 'other' && e.changes.insert.some((r) => r.id === 6)));
    assert.deepEqual(await replicaIds(a), ids(seeded));

    // The same name, another definition.
    const c = s.add(openTab(o, w, { ...config(), shapes: [{ name: 'test_items', table: 'test_items', where: 'completed = true' }] }));
    await assert.rejects(c.sync.ready, (e) => e instanceof Error && e.code === 'SHAPE_CONFLICT' && /test_items/.test(e.message));
    // Nothing changed for the others.
    const id = randomUUID();
    const r = await backend.insert({ id, title: 'after the conflict' });
    await b.sync.awaitTxId(r.txid);
    assert.equal((await b.sync.query('SELECT count(*) AS n FROM test_items'))[0].n, 4);
    assert.equal(resets(a).length, 0);
  } finally {
    await s.close();
  }
});

test('a large initial sync is applied in slices: reads between them all resolve (none fails on the writer\'s lock), the replica is whole', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  const s = scope();
  try {
    // ~14 MB of responses in one batch (no checkpoint before up-to-date), which outgrows
    // SQLite's 4 MiB page cache (with the default checkpoints, key-ordered inserts keep each
    // batch within it)
    const N = 40000;
    await backend.seedMany(N);
    const o = origin();
    const w = s.add(startWorker(o, { replica: { checkpointBytes: 1 << 30 } }));
    const tab = s.add(openTab(o, w, config()));
    const reads = [];
    let done = false;
    const ready = tab.sync.ready.then(() => { done = true; });
    while (!done) {
      reads.push(tab.sync.query('SELECT count(*) AS n FROM test_items').then((rows) => ({ n: rows[0].n }), (error) => ({ error: error.message })));
      await new Promise((r) => setTimeout(r, 2));
    }
    await ready;
    const results = await Promise.all(reads);
    assert.deepEqual(results.filter((r) => r.error), [], 'no read failed');
    assert.ok(results.length >= 10, `${results.length} reads during the sync`);
    for (const r of results) assert.ok(r.n >= 0 && r.n <= N);
    const live = (await statsOf(w)).live;
    t.diagnostic(`${results.length} reads, ${live.busyWaits} waited for a response's last slice, ${live.waits} for the table`);
    assert.ok(live.busyWaits >= 1, 'a read met the writer\'s lock (the batch outgrew the cache) and waited');
    assert.deepEqual(await tab.sync.query('SELECT count(*) AS n FROM test_items'), [{ n: N }]);
    assert.equal(changes(tab).flatMap((e) => e.changes.insert).length, N);
  } finally {
    await s.close();
  }
});
