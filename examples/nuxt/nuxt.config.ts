// The example's Nuxt config: the electric-sync module with the seed's one shape. The shape requests
// go to this app's own proxy (/api/electric/v1/shape, server/api/electric/[...shape].ts), which adds
// the shape service's secret on the server; the schema version comes from this app too.
// Server settings are read from the environment at run time (see README.md):
//   DATABASE_URL      Postgres (the Drizzle schema of server/db/schema, migrated)
//   ELECTRIC_URL      the shape service (electric-sync-server, or Electric), default 127.0.0.1:3000
//   ELECTRIC_SECRET   its secret, added by the proxy
//   MIGRATIONS_DIR    the migrations /api/dev/reset applies (default: the repository's db/migrations)
//   ESYNC_DEV=1       the dev routes in a built server (always on under `nuxt dev`)
import { fileURLToPath } from 'node:url'

export default defineNuxtConfig({
  compatibilityDate: '2026-11-01',
  devtools: { enabled: false },
  telemetry: false,
  modules: ['electric-sync/nuxt'],
  electricSync: {
    shapes: [{ name: 'test_items', table: 'test_items' }],
    shapeUrl: '/api/electric/v1/shape',
    versionUrl: '/api/schema/version',
    dbName: 'nuxt-example',
  },
  runtimeConfig: {
    databaseUrl: '',
    electricUrl: 'http://127.0.0.1:3000',
    electricSecret: '',
    migrationsDir: fileURLToPath(new URL('../../db/migrations', import.meta.url)),
  },
  app: { head: { title: 'electric-sync · Nuxt example' } },
})
