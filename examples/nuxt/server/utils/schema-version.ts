// The schema version as electric-sync-server computes it (src/server/api/migrate.c), so the worker
// sees the same {version, hash, tables} whichever server answers: `version` the tag of the newest
// applied migration (looked up by its journal `when` in the migrations folder; the number itself
// when the journal does not know it; `none` before any), `hash` a sha256 over the applied
// migrations' hashes in order, `tables` the tables of schema public.
import fs from 'node:fs'
import path from 'node:path'

type Queryable = { query: (text: string) => Promise<{ rows: any[] }> }

export async function schemaVersion(db: Queryable) {
  let when: string | null = null
  let hash: string
  try {
    const { rows } = await db.query(`SELECT max(created_at)::text AS when, encode(sha256(convert_to(coalesce(
      string_agg(hash, ',' ORDER BY created_at, id), ''), 'UTF8')), 'hex') AS hash FROM "drizzle"."__drizzle_migrations"`)
    when = rows[0].when
    hash = rows[0].hash
  } catch (e: any) {
    if (e?.code !== '42P01' && e?.code !== '3F000') throw e
    hash = (await db.query(`SELECT encode(sha256(''::bytea), 'hex') AS hash`)).rows[0].hash
  }
  let version = 'none'
  if (when !== null) {
    version = when
    try {
      const journal = JSON.parse(fs.readFileSync(path.join(migrationsDir(), 'meta/_journal.json'), 'utf8'))
      for (const e of journal.entries) if (String(e.when) === when) version = e.tag
    } catch {}
  }
  const { rows } = await db.query(`SELECT coalesce(json_agg(relname ORDER BY relname), '[]') AS tables
    FROM pg_class WHERE relnamespace = to_regnamespace('public') AND relkind IN ('r', 'p')`)
  return { version, hash, tables: rows[0].tables as string[] }
}
