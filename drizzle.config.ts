// drizzle-kit configuration: schema in db/schema, SQL migrations in db/migrations.
// scripts/db.sh sets DATABASE_URL (the private cluster's unless the caller set one), so
// `npm run db:migrate` always targets the database that `npm run -s db:url` prints.
import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'postgresql',
  schema: './db/schema',
  out: './db/migrations',
  dbCredentials: { url: process.env.DATABASE_URL ?? '' },
  // drizzle's own bookkeeping; the C server reads and writes the same table (src/server/api/migrate.c).
  migrations: { table: '__drizzle_migrations', schema: 'drizzle' },
  strict: false,
  verbose: false,
})
