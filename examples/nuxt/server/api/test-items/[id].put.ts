// PUT /api/test-items/:id {title?, description?, completed?} -> 200 {...row, txid}; 404 not_found.
// updated_at strictly advances, even for {} or two updates in the same microsecond.
import { eq, sql } from 'drizzle-orm'
import { getRouterParam } from 'h3'
import { testItems } from '../../db/schema/test-items'

export default defineApiHandler(async (event) => {
  const id = checkId(getRouterParam(event, 'id'))
  const input = itemInput((await readJson(event))!, false)
  const rows = await useDb()
    .update(testItems)
    .set({
      ...(input.title !== undefined && { title: input.title }),
      ...(input.description !== undefined && { description: input.description }),
      ...(input.completed !== undefined && { completed: input.completed }),
      updatedAt: sql`greatest(now()::timestamp, ${testItems.updatedAt} + interval '1 microsecond')`,
    })
    .where(eq(testItems.id, id))
    .returning({ row: rowJson, txid })
  if (rows.length === 0) throw apiError(404, 'not_found', 'no such test item')
  return rowWithTxid(rows[0])
})
