// The seed's dummy table for testing sync and change events (phase 0.0 of the original plan).
// drizzle-kit reads every file of db/schema; `npm run db:generate` turns a change here into a new
// SQL migration in db/migrations/, which the server also applies itself on /api/dev/reset.
import { pgTable, uuid, text, boolean, timestamp } from 'drizzle-orm/pg-core'

export const testItems = pgTable('test_items', {
  id: uuid('id').primaryKey(),
  title: text('title').notNull(),
  description: text('description'),
  completed: boolean('completed').notNull().default(false),
  createdAt: timestamp('created_at').notNull().defaultNow(),
  updatedAt: timestamp('updated_at').notNull().defaultNow(),
})
