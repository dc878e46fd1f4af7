// The dev routes (/api/dev/seed, /api/dev/reset) exist under `nuxt dev`, or with ESYNC_DEV=1 (as
// electric-sync-server's); elsewhere they answer 404 not_found.
// (The advisory lock is the one the server and its migrations take: resets never interleave.)
import { readMigrationFiles } from 'drizzle-orm/migrator'

export function requireDev() {
  if (!import.meta.dev && process.env.ESYNC_DEV !== '1') throw apiError(404, 'not_found', 'not found')
}

export const SEED_SQL = `INSERT INTO test_items (id, title, description, completed)
  SELECT gen_random_uuid(), 'Seed item ' || g,
         CASE WHEN g % 2 = 0 THEN 'Seeded for sync testing (' || g || ')' END, g % 3 = 0
  FROM generate_series(1, $1::int) AS g`

// Drops both schemas drizzle-kit touches, applies the migrations (drizzle's files and bookkeeping,
// so `drizzle-kit migrate` and this can take turns) and seeds, in one transaction: a reader sees
// the old database or the new one, and a failed migration leaves the old one in place. The shape
// service notices the recreated table by itself (a 409 makes its clients refetch).
export async function resetDatabase(count: number) {
  const migrations = readMigrationFiles({ migrationsFolder: migrationsDir() })
  const client = await usePool().connect()
  try {
    await client.query('BEGIN')
    await client.query('SELECT pg_advisory_xact_lock(7311965522013)')
    await client.query('DROP SCHEMA IF EXISTS "drizzle" CASCADE')
    await client.query('DROP SCHEMA IF EXISTS public CASCADE')
    await client.query('CREATE SCHEMA public AUTHORIZATION pg_database_owner')
    await client.query('GRANT USAGE ON SCHEMA public TO PUBLIC')
    await client.query('CREATE SCHEMA "drizzle"')
    await client.query('CREATE TABLE "drizzle"."__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)')
    for (const m of migrations) {
      for (const stmt of m.sql) if (stmt.trim()) await client.query(stmt)
      await client.query('INSERT INTO "drizzle"."__drizzle_migrations" (hash, created_at) VALUES ($1, $2)', [m.hash, m.folderMillis])
    }
    const inserted = (await client.query(SEED_SQL, [count])).rowCount
    const { version } = await schemaVersion(client)
    await client.query('COMMIT')
    return { ok: true, version, inserted, migrations: migrations.length }
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {})
    throw e
  } finally {
    client.release()
  }
}
