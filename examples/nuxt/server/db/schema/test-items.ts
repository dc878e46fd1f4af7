// The seed's dummy table (server/db/schema/test-items.ts in the seed's plan): the same Drizzle schema as
// db/schema/test-items.ts of the repository (npm test checks they are equal), whose migrations
// (db/migrations) /api/dev/reset applies.
import { pgTable, uuid, text, boolean, timestamp } from 'drizzle-orm/pg-core'

export const testItems = pgTable('test_items', {
  id: uuid('id').primaryKey(),
  title: text('title').notNull(),
  description: text('description'),
  completed: boolean('completed').notNull().default(false),
  createdAt: timestamp('created_at').notNull().defaultNow(),
  updatedAt: timestamp('updated_at').notNull().defaultNow(),
})
