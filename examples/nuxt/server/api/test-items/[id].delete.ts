// DELETE /api/test-items/:id -> 200 {id, txid}; 404 not_found.
import { eq } from 'drizzle-orm'
import { getRouterParam } from 'h3'
import { testItems } from '../../db/schema/test-items'

export default defineApiHandler(async (event) => {
  const id = checkId(getRouterParam(event, 'id'))
  const rows = await useDb().delete(testItems).where(eq(testItems.id, id)).returning({ id: testItems.id, txid })
  if (rows.length === 0) throw apiError(404, 'not_found', 'no such test item')
  return { id: rows[0].id, txid: rows[0].txid }
})
