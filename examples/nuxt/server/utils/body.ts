// Request bodies of the REST routes, checked as electric-sync-server checks them
// (docs/contracts.md §4.4 of the repository): JSON with content-type application/json (415
// otherwise), at most 1 MiB (413), an object with known fields of the right types (400
// invalid_body), canonical UUIDs (400 invalid_id).
import { getRequestHeader, readRawBody, type H3Event } from 'h3'

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/
const MAX_BODY = 1 << 20

export function checkId(id: string | undefined): string {
  if (!id || !UUID.test(id)) throw apiError(400, 'invalid_id', 'the id is not a canonical UUID')
  return id.toLowerCase()
}

// The JSON body; null when it is empty and `optional`.
export async function readJson(event: H3Event, optional = false): Promise<Record<string, unknown> | null> {
  const raw = (await readRawBody(event, false)) as Buffer | undefined
  if ((!raw || raw.length === 0) && optional) return null
  const type = (getRequestHeader(event, 'content-type') || '').toLowerCase().replace(/\s/g, '')
  if (type !== 'application/json' && type !== 'application/json;charset=utf-8')
    throw apiError(415, 'unsupported_media_type', 'the body must be application/json')
  if (raw && raw.length > MAX_BODY) throw apiError(413, 'payload_too_large', 'the body is over 1 MiB')
  let value: unknown
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(raw || new Uint8Array())
    if (text.includes('\u0000')) throw new Error('NUL')
    value = JSON.parse(text)
  } catch {
    throw apiError(400, 'invalid_json', 'the body is not valid JSON')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw apiError(400, 'invalid_body', 'the body must be a JSON object')
  return value as Record<string, unknown>
}

export interface ItemInput { id?: string; title?: string; description?: string | null; completed?: boolean }

// A test item's fields: `creating` requires a title and allows an id.
export function itemInput(body: Record<string, unknown>, creating: boolean): ItemInput {
  const out: ItemInput = {}
  for (const [k, v] of Object.entries(body)) {
    if (k === 'id' && creating) {
      if (typeof v !== 'string') throw apiError(400, 'invalid_body', 'id must be a string')
      out.id = checkId(v)
    } else if (k === 'title') {
      if (typeof v !== 'string' || v === '') throw apiError(400, 'invalid_body', 'title must be a non-empty string')
      out.title = v
    } else if (k === 'description') {
      if (v !== null && typeof v !== 'string') throw apiError(400, 'invalid_body', 'description must be a string or null')
      out.description = v as string | null
    } else if (k === 'completed') {
      if (typeof v !== 'boolean') throw apiError(400, 'invalid_body', 'completed must be a boolean')
      out.completed = v
    } else {
      throw apiError(400, 'invalid_body', `unknown field ${JSON.stringify(k)}`)
    }
  }
  if (creating && out.title === undefined) throw apiError(400, 'invalid_body', 'title is required')
  return out
}

// The dev routes' body: empty, or {"count"?: 1..10000} (default 10).
export function seedCount(body: Record<string, unknown> | null): number {
  if (!body) return 10
  for (const k of Object.keys(body)) if (k !== 'count') throw apiError(400, 'invalid_body', `unknown field ${JSON.stringify(k)}`)
  const c = body.count ?? 10
  if (typeof c !== 'number' || !Number.isInteger(c) || c < 1 || c > 10000)
    throw apiError(400, 'invalid_body', 'count must be an integer 1..10000')
  return c
}
