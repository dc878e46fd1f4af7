// The database: one pg Pool per server process and Drizzle over it (server/db/schema), plus the
// error envelope of the REST API (docs/contracts.md §4.1 of the repository:
// {"error":{"code","message"}}), so this app answers exactly as electric-sync-server does.
// DATABASE_URL (or NUXT_DATABASE_URL) is read at the first query, not at build time.
import pg from 'pg'
import { drizzle } from 'drizzle-orm/node-postgres'
import { createError, defineEventHandler, setResponseStatus, type EventHandlerRequest, type H3Event } from 'h3'
import * as schema from '../db/schema/test-items'

let pool: pg.Pool | null = null
let orm: ReturnType<typeof drizzle<typeof schema>> | null = null

export function usePool(): pg.Pool {
  if (!pool) {
    const url = process.env.DATABASE_URL || useRuntimeConfig().databaseUrl
    if (!url) throw apiError(503, 'database_unavailable', 'DATABASE_URL is not set')
    pool = new pg.Pool({ connectionString: url, max: 4 })
    pool.on('error', () => {}) // an idle client's error: the next query reconnects
  }
  return pool
}

export function useDb() {
  orm ||= drizzle(usePool(), { schema })
  return orm
}

// An error that defineApiHandler renders as the REST API's envelope.
export function apiError(status: number, code: string, message: string) {
  return createError({ statusCode: status, statusMessage: code, data: { error: { code, message } } })
}

// A route of the REST API: what it throws (apiError, a pg error) is answered in the envelope.
export function defineApiHandler<T>(fn: (event: H3Event<EventHandlerRequest>) => Promise<T>) {
  return defineEventHandler(async (event) => {
    try {
      return await fn(event)
    } catch (e) {
      const err = fromPgError(e)
      setResponseStatus(event, err.statusCode)
      return err.data
    }
  })
}

// A pg error as the REST API reports it.
export function fromPgError(e: any) {
  if (e?.statusCode) return e
  const code: string | undefined = e?.code
  if (code === '23505') return apiError(409, 'duplicate_id', 'a row with this id exists')
  if (code === '42P01') return apiError(503, 'schema_not_migrated', 'the table does not exist')
  if (code === 'ECONNREFUSED' || code === '57P01' || code === '57P03' || /^08/.test(code || ''))
    return apiError(503, 'database_unavailable', 'the database is unreachable')
  if (code && /^(22|23)/.test(code)) return apiError(400, 'invalid_body', e.message)
  console.error('database error', e)
  return apiError(500, 'internal_error', 'internal error')
}

// The migrations this app applies on /api/dev/reset and reports in /api/schema/version.
export function migrationsDir(): string {
  return process.env.MIGRATIONS_DIR || useRuntimeConfig().migrationsDir
}
