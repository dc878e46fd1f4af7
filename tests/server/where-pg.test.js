// Equivalence of the where compiler (src/where) with Postgres: for every clause of
// tests/where/test_where.c's --equiv set, the SQL that esync_where_sql renders (with its bind
// values) selects on the real cluster exactly the rows that esync_where_eval accepts. The rows
// are first checked to be what Postgres itself prints for them, so eval sees real Postgres text
// output.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import pg from 'pg'
import { prepareDatabase, root } from './helpers.js'

function buildEquiv() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'esync-where-'))
  const bin = path.join(dir, 'test_where')
  // every source of the where compiler (src/where/*.c), compiled with its unit test
  const srcDir = path.join(root, 'src/where')
  const sources = fs.readdirSync(srcDir).filter((f) => f.endsWith('.c')).map((f) => path.join(srcDir, f))
  execFileSync(process.env.CC || 'cc', [
    '-std=c11', '-O1', '-I', srcDir, ...sources, path.join(root, 'tests/where/test_where.c'),
    '-lm', '-o', bin,
  ])
  const out = execFileSync(bin, ['--equiv'], { encoding: 'utf8' })
  fs.rmSync(dir, { recursive: true, force: true })
  return JSON.parse(out)
}

const ident = (s) => '"' + s.replaceAll('"', '""') + '"'

test('esync_where_eval agrees with Postgres on the rendered SQL', async () => {
  const { columns, rows, cases } = buildEquiv()
  const client = new pg.Client({ connectionString: await prepareDatabase() })
  await client.connect()
  try {
    // a zone that is not UTC, so zone-less timestamptz literals would show a disagreement
    await client.query(`SET TimeZone = 'Asia/Kolkata'`)
    await client.query(`SET DateStyle = 'ISO, MDY'`)
    await client.query(`SET extra_float_digits = 1`)
    const defs = columns.map((c) => `${ident(c.name)} ${c.type}`).join(', ')
    await client.query(`CREATE TEMP TABLE where_equiv (${defs})`)
    for (const row of rows) {
      const ph = row.map((_, i) => `$${i + 1}::${columns[i].type}`).join(', ')
      await client.query(`INSERT INTO where_equiv VALUES (${ph})`, row)
    }
    // the rows, as Postgres prints them (pgoutput uses the same output functions), are the texts
    // eval was given
    const back = await client.query({
      // raw output functions (as pgoutput sends them), not node-postgres' parsed values
      text: `SELECT ${columns.map((c) => ident(c.name)).join(', ')} FROM where_equiv ORDER BY id`,
      rowMode: 'array',
      types: { getTypeParser: () => (v) => v },
    })
    const collation = (await client.query(`SELECT datcollate FROM pg_database WHERE datname = current_database()`)).rows[0].datcollate
    for (let r = 0; r < rows.length; r++) {
      for (let i = 0; i < columns.length; i++) {
        let want = rows[r][i]
        if (columns[i].type === 'jsonb' || columns[i].type === 'int4[]') continue // not evaluated
        assert.equal(back.rows[r][i], want, `row ${r + 1} column ${columns[i].name}`)
      }
    }
    const failures = []
    for (const c of cases) {
      let got
      try {
        const res = await client.query({ text: `SELECT id FROM where_equiv WHERE ${c.sql} ORDER BY id`, values: c.values, rowMode: 'array' })
        got = res.rows.map((r) => r[0])
      } catch (e) {
        // where Postgres raises an error (integer out of range), eval reads NULL instead
        if (!c.pg_error) failures.push(`${c.where}: Postgres error ${e.message} (sql ${c.sql})`)
        continue
      }
      if (c.pg_error) failures.push(`${c.where}: expected a Postgres error`)
      if (JSON.stringify(got) !== JSON.stringify(c.ids))
        failures.push(`${c.where}: Postgres ${JSON.stringify(got)}, eval ${JSON.stringify(c.ids)} (sql ${c.sql} ${JSON.stringify(c.values)})`)
    }
    assert.deepEqual(failures, [], `collation ${collation}`)
    assert.ok(cases.length >= 100, `${cases.length} cases`)
  } finally {
    await client.end()
  }
})
