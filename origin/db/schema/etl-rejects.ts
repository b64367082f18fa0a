import { bigserial, index, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { etlRuns } from './etl-runs.js';

/** A row a run refused, with the reason a person can act on. `raw` is capped (see etl/rejects.ts). */
export const etlRejects = pgTable(
  'etl_rejects',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    runId: integer('run_id')
      .notNull()
      .references(() => etlRuns.id, { onDelete: 'cascade' }),
    rowNumber: integer('row_number').notNull(),
    raw: text('raw').notNull(),
    reason: text('reason').notNull(),
  },
  (t) => [index('etl_rejects_run_row_idx').on(t.runId, t.rowNumber)],
);
