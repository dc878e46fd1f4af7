// The engine through the JS bridge (build/wasm/electric-sync.js): errors arrive as EsyncError,
// values JSON cannot carry are revived (int8 -> BigInt, non-finite floats -> Number), and wasm
// memory returns to its baseline. (What the module exports: exports.test.js.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModule } from './load.js';

const M = await loadModule();
const SCHEMA = JSON.stringify({ id: { type: 'int8', pk_index: 0, not_null: true }, f: { type: 'float8' },
  tags: { type: 'int8', dims: 1 }, ok: { type: 'bool' }, doc: { type: 'jsonb' }, title: { type: 'text' } });
const row = (id, f, title) => ({ key: `"public"."t"/"${id}"`, value: { id, f, tags: `{1,NULL,${id}}`, ok: 't', doc: '{"a": [1, 2]}', title }, headers: { operation: 'insert', relation: ['public', 't'] } });

test('sync, typed values, reads, status, reset; memory back to baseline', () => {
  const before = M.memoryUsed();
  const e = new M.Engine('/engine-test.db', { seed: 3 });
  e.defineShape('t', { table: 't' });
  assert.equal(e.nextRequest('t').query, 'table=t&offset=-1');
  assert.deepEqual(e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_0', 'electric-schema': SCHEMA },
    body: JSON.stringify([row('9007199254740993', 'NaN', 'a'), row('2', '0.5', 'b')]) }), []);
  const events = e.ingest('t', { status: 200, headers: new Headers({ 'electric-handle': 'h', 'electric-offset': '0_inf', 'electric-up-to-date': '' }),
    body: '[{"headers":{"control":"up-to-date"}}]', nowMs: 1234 });
  assert.equal(events.length, 1);
  const ins = events[0].changes.insert;
  assert.deepEqual(ins.map((r) => r.id), [2n, 9007199254740993n]);
  assert.ok(Number.isNaN(ins[1].f));
  assert.deepEqual(ins[1].tags, [1n, null, 9007199254740993n]);
  assert.equal(ins[0].ok, true);
  assert.deepEqual(ins[0].doc, { a: [1, 2] });
  const req = e.nextRequest('t');
  assert.equal(req.action, 'fetch');
  assert.equal(req.live, true);
  assert.deepEqual(e.query('SELECT title FROM t WHERE id = ?', [2]), [{ title: 'b' }]);
  const [st] = e.status();
  assert.equal(st.phase, 'live');
  assert.equal(st.rows, 2);
  assert.equal(st.lastSyncedAt, 1234);
  assert.deepEqual(e.versionCheck('v1'), { wiped: false, event: null });
  assert.equal(e.version(), 'v1');
  const vc = e.versionCheck('v2');
  assert.equal(vc.wiped, true);
  assert.deepEqual(vc.event, { type: 'SCHEMA_RESET', reason: 'version_mismatch', oldVersion: 'v1', newVersion: 'v2' });
  assert.deepEqual(e.reset(), { type: 'SCHEMA_RESET', reason: 'manual_reset', oldVersion: 'v2', newVersion: 'v2' });
  e.close();
  M.deleteDatabase('/engine-test.db');
  assert.equal(M.memoryUsed(), before);
});

test('errors are EsyncError with the engine message; a write through query changes nothing', () => {
  const before = M.memoryUsed();
  // a fixed seed: the retry's wait is full jitter in [0, 500) ms, which can draw 0 (a fetch)
  const e = new M.Engine('/errors.db', { seed: 7 });
  assert.throws(() => e.defineShape('x', '{"table":""}'), (err) => err instanceof M.EsyncError && err.codeName === 'ESYNC_EINVAL' && /table/.test(err.message));
  e.defineShape('t', { table: 't' });
  e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_inf', 'electric-schema': SCHEMA, 'electric-up-to-date': '' },
    body: JSON.stringify([row('1', '1', 'a')]) });
  assert.throws(() => e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '1_0', 'electric-up-to-date': '' }, body: '[{"key":' }),
    (err) => err.codeName === 'ESYNC_EJSON');
  assert.equal(e.nextRequest('t').action, 'wait');
  assert.throws(() => e.query('DELETE FROM t'), (err) => err.codeName === 'ESYNC_EREADONLY');
  assert.throws(() => e.query("ATTACH 'x' AS y"), (err) => err.codeName === 'ESYNC_EREADONLY');
  assert.deepEqual(e.query('SELECT count(*) AS n FROM t'), [{ n: 1 }]);
  assert.throws(() => e.ingest('t', { status: 503, headers: { 'retry-after': '2' } }), (err) => err.codeName === 'ESYNC_ERETRY');
  const w = e.nextRequest('t');
  assert.equal(w.action, 'wait');
  assert.ok(w.waitMs >= 2000);
  assert.throws(() => e.ingest('t', { status: 404, body: '{"message":"Not found"}' }), (err) => err.codeName === 'ESYNC_EHTTP' && /404/.test(err.message));
  assert.equal(e.nextRequest('t').action, 'stop');
  assert.throws(() => new M.Engine(''), (err) => err.codeName === 'ESYNC_EINVAL');
  e.close();
  M.deleteDatabase('/errors.db');
  assert.equal(M.memoryUsed(), before);
});

test('a refetch that changes a column to int8: new rows come back as BigInt', () => {
  const before = M.memoryUsed();
  const e = new M.Engine('/retype.db', { seed: 5 });
  e.defineShape('r', { table: 'r' });
  const textSchema = JSON.stringify({ id: { type: 'int4', pk_index: 0 }, n: { type: 'text' } });
  const int8Schema = JSON.stringify({ id: { type: 'int4', pk_index: 0 }, n: { type: 'int8' } });
  const ins = (id, n) => ({ key: `k${id}`, value: { id: String(id), n }, headers: { operation: 'insert' } });
  const first = e.ingest('r', { status: 200, headers: { 'electric-handle': 'h1', 'electric-offset': '0_inf', 'electric-schema': textSchema, 'electric-up-to-date': '' },
    body: JSON.stringify([ins(1, 'one')]) });
  assert.equal(first[0].changes.insert[0].n, 'one');
  assert.deepEqual(e.ingest('r', { status: 409, headers: { 'electric-handle': 'h2' }, body: '[{"headers":{"control":"must-refetch"}}]' }), []);
  const [ev] = e.ingest('r', { status: 200, headers: { 'electric-handle': 'h2', 'electric-offset': '0_inf', 'electric-schema': int8Schema, 'electric-up-to-date': '' },
    body: JSON.stringify([ins(1, '9007199254740993')]) });
  assert.equal(ev.changes.update.length, 1);
  assert.equal(ev.changes.update[0].old.n, 'one'); // the old row keeps its text
  assert.equal(ev.changes.update[0].new.n, 9007199254740993n);
  e.close();
  M.deleteDatabase('/retype.db');
  assert.equal(M.memoryUsed(), before);
});

// The tab API's engine part through the bridge: txids in events (TXIDS when nothing changed),
// txidSeen, 401 -> 'auth' and resume() with the batch kept, pending reads, queryTables,
// compareShape.
const live = (op, id, value, txids) => ({ key: `"public"."t"/"${id}"`, value: { id: String(id), ...value }, headers: { operation: op, relation: ['public', 't'], txids } });
const UTD = { headers: { control: 'up-to-date' } };

test('txids: DATA_CHANGE carries them as strings, TXIDS when no net change, txidSeen', () => {
  const before = M.memoryUsed();
  const e = new M.Engine('/txids.db', { seed: 9 });
  e.defineShape('t', { table: 't' });
  const [snap] = e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_inf', 'electric-schema': SCHEMA, 'electric-up-to-date': '' },
    body: JSON.stringify([row('1', '1', 'a')]) });
  assert.equal(snap.txids, undefined);
  const [ev] = e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '1_0', 'electric-up-to-date': '' },
    body: JSON.stringify([live('update', 1, { title: 'b' }, [9007199254740993n.toString()]), live('insert', 2, { f: '2', tags: null, ok: 'f', doc: null, title: 'x' }, [41]), UTD]) });
  assert.equal(ev.type, 'DATA_CHANGE');
  assert.deepEqual(ev.txids, ['41', '9007199254740993']);
  assert.equal(ev.changes.insert[0].id, 2n); // rows still revived
  assert.equal(e.txidSeen('41'), true);
  assert.equal(e.txidSeen(41), true);
  assert.equal(e.txidSeen(9007199254740993n), true);
  assert.equal(e.txidSeen('42'), false);
  assert.throws(() => e.txidSeen('4x'), (err) => err.codeName === 'ESYNC_EINVAL');
  const events = e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '2_0', 'electric-up-to-date': '' },
    body: JSON.stringify([live('insert', 7, { f: '1', tags: null, ok: 't', doc: null, title: 'tmp' }, [50]), live('delete', 7, {}, [50]), UTD]) });
  assert.deepEqual(events, [{ type: 'TXIDS', shapeName: 't', tableName: 't', txids: ['50'] }]);
  assert.equal(e.txidSeen('50'), true);
  e.close();
  const again = new M.Engine('/txids.db');
  assert.equal(again.txidSeen('50'), true); // kept across close/open
  again.close();
  M.deleteDatabase('/txids.db');
  assert.equal(M.memoryUsed(), before);
});

test('a 401 mid-batch: EsyncError ESYNC_EAUTH, action auth, resume() re-asks the same request, the batch commits whole', () => {
  const before = M.memoryUsed();
  const e = new M.Engine('/auth.db', { seed: 9 });
  e.defineShape('t', { table: 't' });
  e.defineShape('u', { table: 'u' });
  for (const s of ['t', 'u']) {
    e.ingest(s, { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_inf', 'electric-schema': SCHEMA, 'electric-up-to-date': '' },
      body: JSON.stringify([row('1', '1', 'a')]) });
  }
  assert.deepEqual(e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '1_0' },
    body: JSON.stringify([live('update', 1, { title: 'b' }, [60])]) }), []);
  const { query } = e.nextRequest('t');
  assert.throws(() => e.ingest('t', { status: 401, body: '{"message":"expired"}' }),
    (err) => err instanceof M.EsyncError && err.codeName === 'ESYNC_EAUTH' && /401/.test(err.message) && Array.isArray(err.events) && err.events.length === 0);
  assert.deepEqual(e.nextRequest('t'), { action: 'auth', live: false });
  assert.equal(e.status().find((s) => s.shapeName === 't').phase, 'unauthorized');
  // u's response waits behind t's open batch
  assert.deepEqual(e.ingest('u', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '1_0', 'electric-up-to-date': '' },
    body: JSON.stringify([live('update', 1, { title: 'u1' }, [61]), UTD]) }), []);
  e.resume('t');
  assert.equal(e.nextRequest('t').query, query);
  const events = e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '2_0', 'electric-up-to-date': '' }, body: JSON.stringify([UTD]) });
  assert.deepEqual(events.map((ev) => [ev.shapeName, ev.txids]), [['t', ['60']], ['u', ['61']]]);
  assert.equal(events[0].changes.update[0].new.title, 'b');
  assert.throws(() => e.resume('nope'), (err) => err.codeName === 'ESYNC_ENOSHAPE');
  e.resume('t'); // waits for nothing: no change
  assert.equal(e.nextRequest('t').action, 'fetch');
  // a 404 stops the shape; resume() clears the stop
  assert.throws(() => e.ingest('t', { status: 404, body: 'gone' }), (err) => err.codeName === 'ESYNC_EHTTP');
  assert.equal(e.nextRequest('t').action, 'stop');
  e.resume('t');
  assert.equal(e.nextRequest('t').query, 'table=t&offset=2_0&handle=h');
  e.close();
  M.deleteDatabase('/auth.db');
  assert.equal(M.memoryUsed(), before);
});

test('an ingest error keeps the events other shapes committed in the same call (err.events)', () => {
  const before = M.memoryUsed();
  const e = new M.Engine('/errevents.db', { seed: 9 });
  e.defineShape('t', { table: 't' });
  e.defineShape('u', { table: 'u' });
  for (const s of ['t', 'u']) {
    e.ingest(s, { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_inf', 'electric-schema': SCHEMA, 'electric-up-to-date': '' },
      body: JSON.stringify([row('1', '1', 'a')]) });
  }
  e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '1_0' }, body: JSON.stringify([live('update', 1, { title: 'b' }, [70])]) });
  e.ingest('u', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '1_0', 'electric-up-to-date': '' },
    body: JSON.stringify([live('update', 1, { title: 'u1' }, [71]), UTD]) });
  assert.throws(() => e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '2_0', 'electric-up-to-date': '' }, body: '[{"key":' }),
    (err) => err.codeName === 'ESYNC_EJSON' && err.events.length === 1 && err.events[0].shapeName === 'u' && err.events[0].txids[0] === '71' &&
      err.events[0].changes.update[0].new.id === 1n);
  e.close();
  M.deleteDatabase('/errevents.db');
  assert.equal(M.memoryUsed(), before);
});

test('pending reads, queryTables and compareShape', () => {
  const before = M.memoryUsed();
  const e = new M.Engine('/tables.db', { seed: 9 });
  e.defineShape('t', { table: 'public.t', columns: ['id', 'f', 'tags', 'ok', 'doc', 'title'] });
  assert.throws(() => e.query('SELECT * FROM t'), (err) => err.codeName === 'ESYNC_EPENDING' && /"t"/.test(err.message));
  assert.throws(() => e.queryTables('SELECT * FROM t'), (err) => err.codeName === 'ESYNC_EPENDING');
  assert.throws(() => e.query('SELECT * FROM nope'), (err) => err.codeName === 'ESYNC_ESQLITE' && /no such table: nope/.test(err.message));
  e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_inf', 'electric-schema': SCHEMA, 'electric-up-to-date': '' },
    body: JSON.stringify([row('1', '1', 'a')]) });
  assert.deepEqual(e.queryTables('SELECT count(*) FROM t WHERE id IN (SELECT id FROM esync_shapes)'), [{ table: 't', shape: 't' }]);
  assert.deepEqual(e.queryTables('SELECT 1'), []);
  assert.throws(() => e.queryTables('DELETE FROM t'), (err) => err.codeName === 'ESYNC_EREADONLY');
  assert.equal(e.compareShape('t', { columns: 'id,f,tags,ok,doc,title', table: 'public.t' }), 'same');
  assert.equal(e.compareShape('t', '{"table":"public.t"}'), 'different');
  assert.equal(e.compareShape('x', { table: 'x' }), 'undefined');
  assert.throws(() => e.compareShape('t', { table: '' }), (err) => err.codeName === 'ESYNC_EINVAL');
  e.reset();
  assert.throws(() => e.query('SELECT * FROM t'), (err) => err.codeName === 'ESYNC_EPENDING');
  e.close();
  M.deleteDatabase('/tables.db');
  assert.equal(M.memoryUsed(), before);
});

test('raw ingest: the bytes carry where each event lies and its row counts (esync_ingest_events); syncRows counts an open batch', () => {
  const e = new M.Engine('/events-index.db', { seed: 5 });
  e.defineShape('t', { table: 't' });
  const rows = Array.from({ length: 3000 }, (_, i) => row(String(i + 1), '1.5', `title "${i}" \\ {[`));
  // a chunk without up-to-date: nothing committed, the open batch counted in syncRows
  assert.equal(e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_0', 'electric-schema': SCHEMA }, body: JSON.stringify(rows.slice(0, 1000)) }, { raw: true }), null);
  let [st] = e.status();
  assert.deepEqual([st.rows, st.syncRows], [0, 1000]);
  const bytes = e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_inf', 'electric-up-to-date': '' },
    body: JSON.stringify([...rows.slice(1000), { headers: { control: 'up-to-date' } }]) }, { raw: true });
  [st] = e.status();
  assert.deepEqual([st.rows, st.syncRows], [3000, 3000]);
  assert.ok(bytes.events instanceof Uint32Array);
  assert.equal(bytes.events.length, 7);
  const [start, end, cut, cend, ins, upd, del] = bytes.events;
  const text = (a, b) => new TextDecoder().decode(bytes.subarray(a, b));
  assert.deepEqual([start, end], [1, bytes.length - 1]);
  assert.equal(text(cut, cut + 11), ',"changes":');
  const all = JSON.parse(text(0, bytes.length));
  assert.deepEqual(JSON.parse(text(cut + 11, cend)), all[0].changes);
  assert.deepEqual(JSON.parse(text(start, cut) + text(cend, end)), { type: 'DATA_CHANGE', shapeName: 't', tableName: 't' });
  assert.deepEqual([ins, upd, del], [3000, 0, 0]);
  // a live batch of every kind: its three counts; a TXIDS event: none
  const live = (id, operation, value) => ({ key: `"public"."t"/"${id}"`, value, headers: { operation, relation: ['public', 't'], txids: [77] } });
  const b2 = e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '1_0', 'electric-up-to-date': '' },
    body: JSON.stringify([live('1', 'update', { id: '1', title: 'u' }), live('2', 'delete', { id: '2' }), live('3001', 'insert', row('3001', '1', 'a').value),
      live('3002', 'insert', row('3002', '2', 'b').value), UTD]) }, { raw: true });
  assert.deepEqual([...b2.events.subarray(4, 7)], [2, 1, 1]);
  const ev = JSON.parse(new TextDecoder().decode(b2))[0];
  assert.deepEqual([ev.changes.insert.length, ev.changes.update.length, ev.changes.delete.length], [2, 1, 1]);
  const b3 = e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '2_0', 'electric-up-to-date': '' },
    body: JSON.stringify([{ headers: { control: 'up-to-date', global_last_seen_lsn: '5' } }]) }, { raw: true });
  if (b3 && b3.events) for (let k = 0; k < b3.events.length; k += 7) assert.deepEqual([...b3.events.subarray(k + 2, k + 7)], [0, 0, 0, 0, 0]);
  e.close();
  M.deleteDatabase('/events-index.db');
});

// The rows of a batch without tracking are inserted in groups, and an append batch's change set
// is written from the values as they are bound (rows.c, types.h esync_val): every type, nulls,
// escapes, in groups and in the remainder, must come out as a read of the table gives them.
test('rows emitted as they are bound equal the rows as stored: every type, grouped and one by one', () => {
  const before = M.memoryUsed();
  const schema = JSON.stringify({
    id: { type: 'int8', pk_index: 0, not_null: true }, i2: { type: 'int2' }, i4: { type: 'int4' }, f: { type: 'float8' },
    ok: { type: 'bool' }, doc: { type: 'jsonb' }, js: { type: 'json' }, b: { type: 'bytea' }, u: { type: 'uuid' },
    t: { type: 'text' }, tags: { type: 'int4', dims: 1 }, names: { type: 'text', dims: 1 }, ts: { type: 'timestamp' },
  });
  const floats = ['0.1', '-0', '1e300', 'NaN', 'Infinity', '-Infinity', '3', '-2.5e-7'];
  const texts = ['plain', 'quote " and \\ backslash', 'tab\tnew\nline\r', 'unicode é 漢 😀', '\u0001\u001f', ''];
  const value = (i) => i % 7 === 3
    ? { id: String(i), i2: null, i4: null, f: null, ok: null, doc: null, js: null, b: null, u: null, t: null, tags: null, names: null, ts: null }
    : {
      id: String(i), i2: String((i % 65536) - 32768), i4: String(i * 40503 - 2147483648 + (i % 3)), f: floats[i % floats.length],
      ok: i % 2 ? 't' : 'false', doc: `{"n": ${i}, "s": "x\\"y", "a": [true, null]}`, js: `[${i}, {"k": "v"}]`,
      b: i % 5 ? `\\x${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}` : '\\x', u: `${String(i).padStart(8, '0')}-0000-4000-8000-0000000000ab`,
      t: texts[i % texts.length] + i, tags: `{${i},NULL,-${i}}`, names: `{"a b","c\\"d",NULL,e${i}}`, ts: '2025-12-29 10:00:00.123456',
    };
  const msg = (i) => ({ key: `"public"."v"/"${i}"`, value: value(i), headers: { operation: 'insert', relation: ['public', 'v'] } });
  const e = new M.Engine('/emit-bound.db', { seed: 9, checkpointBytes: 1 });
  e.defineShape('v', { table: 'v' });
  const h = (offset, extra = {}) => ({ 'electric-handle': 'h', 'electric-offset': offset, 'electric-schema': schema, ...extra });
  const ids = (a, b) => Array.from({ length: b - a }, (_, k) => a + k);
  // 1: the first checkpoint (a fast batch: the table was empty); 2, 3: append batches of 64 + 64 + 9
  // rows and of 5 (one group and a remainder, a remainder alone); 4: up-to-date with a tracked batch
  const got = [];
  for (const [offset, rows, end] of [['0_0', ids(1, 90)], ['0_1', ids(90, 227)], ['0_2', ids(227, 232)], ['0_inf', ids(232, 240), true]]) {
    const body = rows.map(msg);
    if (end) body.push({ headers: { control: 'up-to-date' } });
    for (const ev of e.ingest('v', { status: 200, headers: h(offset, end ? { 'electric-up-to-date': '' } : {}), body: JSON.stringify(body) })) got.push(...ev.changes.insert);
  }
  const stored = e.query('SELECT * FROM v ORDER BY id');
  assert.equal(stored.length, 239);
  const byId = new Map(got.map((r) => [r.id, r]));
  assert.equal(byId.size, 239);
  const same = (a, b) => assert.deepEqual(a, b); // strict: NaN equals NaN, -0 is not 0
  // (a query gives int8 and non-finite floats as text: the tab library revives them from the
  // shape's types, as the events here are)
  for (const r of stored) same(byId.get(BigInt(r.id)), { ...r, id: BigInt(r.id), f: typeof r.f === 'string' ? Number(r.f) : r.f });
  // spot checks that the values are typed, not text
  const r11 = byId.get(11n);
  assert.deepEqual([typeof r11.i2, typeof r11.f, r11.ok, r11.tags, r11.b], ['number', 'number', true, [11, null, -11], '\\x' + (11 * 2654435761 >>> 0).toString(16).padStart(8, '0')]);
  assert.deepEqual(r11.doc, { n: 11, s: 'x"y', a: [true, null] });
  assert.equal(byId.get(10n).t, null);
  assert.ok(Number.isNaN(byId.get(99n).f)); // 99 % 8 = 3: NaN, emitted by an append batch
  assert.equal(byId.get(100n).f, Infinity);
  assert.ok(Object.is(byId.get(97n).f, 0)); // -0 is stored as 0 (a REAL column), and emitted so
  e.close();
  M.deleteDatabase('/emit-bound.db');
  assert.equal(M.memoryUsed(), before);
});

test('an upsert that does nothing (key columns only) emits a row once, also when a snapshot chunk repeats it', () => {
  const schema = JSON.stringify({ a: { type: 'int4', pk_index: 0, not_null: true }, b: { type: 'text', pk_index: 1, not_null: true } });
  const msg = (a) => ({ key: `"public"."k"/"${a}"/"x"`, value: { a: String(a), b: 'x' }, headers: { operation: 'insert', relation: ['public', 'k'] } });
  const e = new M.Engine('/emit-nothing.db', { seed: 9, checkpointBytes: 1 });
  e.defineShape('k', { table: 'k' });
  const h = (offset, extra = {}) => ({ 'electric-handle': 'h', 'electric-offset': offset, 'electric-schema': schema, ...extra });
  e.ingest('k', { status: 200, headers: h('0_0'), body: JSON.stringify([1, 2, 3].map(msg)) });
  const evs = e.ingest('k', { status: 200, headers: h('0_1'), body: JSON.stringify([4, 3, 5, 4, 6].map(msg)) });
  assert.deepEqual(evs.flatMap((ev) => ev.changes.insert.map((r) => r.a)), [4, 5, 6]);
  assert.deepEqual(e.query('SELECT a FROM k ORDER BY a').map((r) => r.a), [1, 2, 3, 4, 5, 6]);
  e.close();
  M.deleteDatabase('/emit-nothing.db');
});

test('a large append batch: its event is written around its rows (no second copy), records and rows exact', () => {
  const before = M.memoryUsed();
  const e = new M.Engine('/in-place.db', { seed: 5, checkpointBytes: 1 });
  e.defineShape('t', { table: 't' });
  const rows = Array.from({ length: 1500 }, (_, i) => row(String(i + 1), '1.5', `title "${i}" \\ {[ ${'x'.repeat(i % 50)}`));
  const h = (offset) => ({ 'electric-handle': 'h', 'electric-offset': offset, 'electric-schema': SCHEMA });
  e.ingest('t', { status: 200, headers: h('0_0'), body: JSON.stringify(rows.slice(0, 10)) });
  const bytes = e.ingest('t', { status: 200, headers: h('0_1'), body: JSON.stringify(rows.slice(10)) }, { raw: true });
  assert.ok(bytes.length > 64 * 1024);
  const text = (a, b) => new TextDecoder().decode(bytes.subarray(a, b));
  const all = JSON.parse(text(0, bytes.length));
  assert.equal(all.length, 1);
  assert.equal(all[0].changes.insert.length, 1490);
  assert.deepEqual([all[0].changes.update, all[0].changes.delete], [[], []]);
  const [start, end, cut, cend] = bytes.events;
  assert.deepEqual([bytes.events.length, start, end], [7, 1, bytes.length - 1]);
  assert.deepEqual([...bytes.events.subarray(4)], [1490, 0, 0]);
  assert.deepEqual(JSON.parse(text(cut + 11, cend)), all[0].changes);
  assert.deepEqual(JSON.parse(text(start, cut) + text(cend, end)), { type: 'DATA_CHANGE', shapeName: 't', tableName: 't' });
  const stored = e.query('SELECT id, title FROM t WHERE id > 10 ORDER BY id');
  assert.deepEqual(all[0].changes.insert.map((r) => [r.id, r.title]), stored.map((r) => [r.id, r.title]));
  e.close();
  M.deleteDatabase('/in-place.db');
  assert.equal(M.memoryUsed(), before);
});

test('a JSON string out of the engine escapes what it must wherever it stands (eight-byte scan)', async () => {
  const M = await loadModule();
  const e = new M.Engine('/escapes.db', { seed: 1 });
  try {
    const specials = ['"', '\\', '\n', '\u0001', '\u001f', 'é', '😀'];
    const strings = [];
    for (const ch of specials) for (let at = 0; at < 20; at++) strings.push('abcdefghijklmnopqrst'.slice(0, at) + ch + 'uvwxyz0123456789'.slice(0, 19 - at));
    for (const s of strings) assert.deepEqual(e.query('SELECT ? AS v, length(?) AS n', [s, s]), [{ v: s, n: [...s].length }]);
  } finally {
    e.close();
    M.deleteDatabase('/escapes.db');
  }
});

test('firstRequest: the query a new replica sends first, without an engine; a bad definition throws', () => {
  const defs = [{ table: 't' }, { table: 'public.t', where: 'a > $1 AND b = $2', params: ['1', 'x y'], columns: ['id', 'a'], replica: 'full' }, '{"table":"t","params":{"1":"ü"},"columns":"id,a"}'];
  defs.forEach((def, i) => {
    const e = new M.Engine(`/first-${i}.db`, { seed: 1 });
    try {
      e.defineShape('s', def);
      assert.equal(M.firstRequest(def), e.nextRequest('s').query);
    } finally {
      e.close();
      M.deleteDatabase(`/first-${i}.db`);
    }
  });
  assert.throws(() => M.firstRequest({ table: '' }), (err) => err instanceof M.EsyncError && err.codeName === 'ESYNC_EINVAL');
  assert.throws(() => M.firstRequest('not json'), (err) => err.codeName === 'ESYNC_EINVAL');
});

test('sliced ingest: a large response over several calls gives one call\'s events and replica; a busy read; abort; memory back to baseline', () => {
  const before = M.memoryUsed();
  const body = JSON.stringify(Array.from({ length: 30000 }, (_, i) => row(String(i + 1), '0.5', `title ${i} ${'x'.repeat(80)}`)));
  const first = { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '0_inf', 'electric-schema': SCHEMA, 'electric-up-to-date': '' }, body: JSON.stringify([row('0', '1', 'first')]), nowMs: 1 };
  const headers = { 'electric-handle': 'h', 'electric-offset': '1_0', 'electric-up-to-date': '' };
  const whole = new M.Engine('/slice-whole.db', { seed: 3 });
  whole.defineShape('t', { table: 't' });
  whole.ingest('t', first);
  const expected = whole.ingest('t', { status: 200, headers, body, nowMs: 1 });
  const e = new M.Engine('/slice.db', { seed: 3 });
  e.defineShape('t', { table: 't' });
  e.ingest('t', first);
  e.setIngestSlice(64 * 1024);
  let events = e.ingest('t', { status: 200, headers, body, nowMs: 1 });
  assert.equal(e.ingestPending(), true);
  assert.deepEqual(events, []);
  let calls = 1, busy = 0;
  while (e.ingestPending()) {
    // between slices a read sees the last commit, or is refused by the writer's lock
    try { assert.deepEqual(e.query('SELECT count(*) AS n FROM t'), [{ n: 1 }]); } catch (err) { assert.match(err.message, /locked/); busy++; }
    events = events.concat(e.ingestContinue());
    calls++;
  }
  assert.ok(calls > 10, `${calls} calls`);
  assert.ok(busy > 0, 'the batch outgrew the page cache: reads were refused between slices');
  assert.equal(e.sliceBody, 0); // the body's heap copy is freed after the last slice
  assert.deepEqual(events, expected);
  assert.deepEqual(e.query('SELECT count(*) AS n FROM t'), [{ n: 30001 }]);
  assert.equal(e.nextRequest('t').live, true);
  // a second response dropped half-way: rolled back, asked again from the last commit
  const more = JSON.stringify(Array.from({ length: 3000 }, (_, i) => row(String(100000 + i), '1.5', 'later')));
  e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '5_0' }, body: more, nowMs: 2 });
  assert.equal(e.ingestPending(), true);
  e.ingestContinue();
  e.ingestAbort();
  assert.equal(e.ingestPending(), false);
  assert.equal(e.sliceBody, 0);
  assert.deepEqual(e.query('SELECT count(*) AS n FROM t'), [{ n: 30001 }]);
  assert.match(e.nextRequest('t').query, /offset=1_0/);
  // the same shape again while one is pending: refused; a close while pending frees it all
  e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '5_0' }, body: more, nowMs: 2 });
  assert.throws(() => e.ingest('t', { status: 200, headers: { 'electric-handle': 'h', 'electric-offset': '5_0' }, body: '[]' }), /still being applied/);
  e.close();
  whole.close();
  M.deleteDatabase('/slice.db');
  M.deleteDatabase('/slice-whole.db');
  assert.equal(M.memoryUsed(), before);
});
