// What every write of test_items returns, as electric-sync-server does (docs/contracts.md §4.2 of
// the repository): the row as Postgres' row_to_json (snake_case, timestamps without a zone) and
// `txid`, the writing transaction's id read in the same statement — the number the shape stream
// carries in that change's headers.txids, which the page hands to awaitTxId.
import { sql } from 'drizzle-orm'
import { testItems } from '../db/schema/test-items'

export const rowJson = sql<string>`row_to_json(${testItems})::text`
export const txid = sql<string>`pg_current_xact_id()::xid::text`

export const rowWithTxid = (r: { row: string; txid: string }) => ({ ...JSON.parse(r.row), txid: r.txid })
