// /api/electric/v1/shape: the browser's shape endpoint (the worker's shapeUrl), proxied to the shape
// service's /v1/shape (ELECTRIC_URL: electric-sync-server, or Electric itself) with the secret
// (ELECTRIC_SECRET) added here, on the server: it never reaches the browser, and one the browser
// sends is dropped. Only the tables of ELECTRIC_PROXY_TABLES (default test_items) pass (403
// otherwise), one `table` parameter exactly. Status, headers (electric-handle, -offset, -schema,
// -up-to-date, cache headers) and the body stream back as they arrive, long-polls included; a
// browser that goes away (a closed tab) aborts its upstream request, so no long-poll outlives it.
import { createError, defineEventHandler, getRequestURL, getRouterParam, proxyRequest } from 'h3'

export default defineEventHandler(async (event) => {
  if (getRouterParam(event, 'shape') !== 'v1/shape') throw createError({ statusCode: 404, statusMessage: 'not_found' })
  if (event.method !== 'GET' && event.method !== 'HEAD') throw createError({ statusCode: 405, statusMessage: 'method_not_allowed' })
  const config = useRuntimeConfig()
  const upstream = process.env.ELECTRIC_URL || config.electricUrl
  const secret = process.env.ELECTRIC_SECRET || config.electricSecret
  const allowed = (process.env.ELECTRIC_PROXY_TABLES || 'test_items').split(',').map((t) => t.trim())

  const query = getRequestURL(event).searchParams
  const tables = query.getAll('table')
  if (tables.length !== 1 || !allowed.includes(tables[0]))
    throw createError({ statusCode: 403, statusMessage: 'forbidden', data: { error: { code: 'forbidden', message: 'table not allowed' } } })
  query.delete('secret')
  query.delete('api_secret')
  if (secret) query.set('secret', secret)
  const abort = new AbortController()
  event.node.res.on('close', () => abort.abort()) // also after a complete answer: then a no-op
  return proxyRequest(event, `${upstream.replace(/\/+$/, '')}/v1/shape?${query}`, { fetchOptions: { signal: abort.signal } })
})
