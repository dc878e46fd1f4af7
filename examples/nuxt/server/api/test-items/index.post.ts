// POST /api/test-items {id?, title, description?, completed?} -> 201 {...row, txid}
import { sql } from 'drizzle-orm'
import { setResponseStatus } from 'h3'
import { testItems } from '../../db/schema/test-items'

export default defineApiHandler(async (event) => {
  const input = itemInput((await readJson(event))!, true)
  const [r] = await useDb()
    .insert(testItems)
    .values({
      id: input.id ?? sql`gen_random_uuid()`,
      title: input.title!,
      description: input.description ?? null,
      completed: input.completed ?? false,
    })
    .returning({ row: rowJson, txid })
  setResponseStatus(event, 201)
  return rowWithTxid(r)
})
