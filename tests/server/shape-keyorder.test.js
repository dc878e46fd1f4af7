// A snapshot comes in primary key order when that costs little (src/server/shape/snapshot.c,
// docs/protocol.md §7.2): a shape without a where clause, or one that keeps at least a quarter
// of the table; a selective shape is read as the planner likes. Rows whose heap order is not
// their key order (random UUIDs) show it: a replica then fills its key's b-tree from the right
// edge instead of rewriting pages all over it.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { prepareShapeDb, sql, startShapeServer, shapeGet } from './shape-helpers.js'

const N = 4000

before(async () => {
  await prepareShapeDb()
  await sql('drop table if exists ko_items')
  await sql('create table ko_items (id uuid primary key, n int not null, title text)')
  await sql(`insert into ko_items (id, n, title) select gen_random_uuid(), g, 'row ' || g from generate_series(1, ${N}) g`)
  await sql('analyze ko_items')
  // integer keys in shuffled heap order: their key order (1, 2, 3 … 10) is not their text
  // order ("1", "10", "100" …), which an ORDER BY on the text-cast output column would give
  await sql('drop table if exists ko_nums')
  await sql('create table ko_nums (id int primary key, title text)')
  await sql(`insert into ko_nums (id, title) select g, 'n ' || g from generate_series(1, ${N}) g order by random()`)
  await sql('analyze ko_nums')
})

// Every row of a shape from offset -1 to up-to-date, in the order served.
async function snapshotIds(base, qs) {
  let offset = '-1', handle = null
  const ids = []
  for (;;) {
    const r = await shapeGet(base, `${qs}&offset=${offset}${handle ? `&handle=${handle}` : ''}`)
    assert.equal(r.status, 200, r.text.slice(0, 200))
    for (const m of r.body) if (m.headers?.operation === 'insert') ids.push(m.value.id)
    handle = r.headers.get('electric-handle')
    offset = r.headers.get('electric-offset')
    if (r.headers.get('electric-up-to-date') !== null) return ids
  }
}
const sorted = (xs) => xs.every((x, i) => i === 0 || xs[i - 1] < x) // uuid order = its text order

test('a shape without where, and one keeping half the rows, come in key order; a selective one is complete', async () => {
  const heap = (await sql('select id::text as id from ko_items')).rows.map((r) => r.id)
  assert.equal(sorted(heap), false, 'the table\'s own order is not the key order')
  const srv = await startShapeServer('keyorder')
  try {
    const all = await snapshotIds(srv.base, 'table=ko_items')
    assert.equal(all.length, N)
    assert.ok(sorted(all), 'whole table: key order')
    const most = await snapshotIds(srv.base, `table=ko_items&where=${encodeURIComponent(`n > ${N / 2}`)}`)
    assert.equal(most.length, N / 2)
    assert.ok(sorted(most), 'half the table: key order')
    const nums = (await snapshotIds(srv.base, 'table=ko_nums')).map(Number)
    assert.equal(nums.length, N)
    assert.deepEqual(nums, Array.from({ length: N }, (_, i) => i + 1), 'integer keys: numeric key order')
    const few = await snapshotIds(srv.base, `table=ko_items&where=${encodeURIComponent('n <= 3')}`)
    const want = (await sql('select id::text as id from ko_items where n <= 3')).rows.map((r) => r.id)
    assert.deepEqual([...few].sort(), [...want].sort())
  } finally {
    await srv.stop()
  }
})
