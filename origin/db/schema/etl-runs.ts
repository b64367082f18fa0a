import { index, integer, jsonb, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import { etlSources } from './etl-sources.js';

export const etlRunStatuses = ['running', 'succeeded', 'failed', 'abandoned'] as const;
export type EtlRunStatus = (typeof etlRunStatuses)[number];

/** One execution of a source: what was read, what it did to the listings, how long each phase took. */
export const etlRuns = pgTable(
  'etl_runs',
  {
    id: serial('id').primaryKey(),
    sourceId: integer('source_id')
      .notNull()
      .references(() => etlSources.id, { onDelete: 'cascade' }),
    status: text('status', { enum: etlRunStatuses }).notNull().default('running'),
    trigger: text('trigger').notNull().default('cli'),
    location: text('location').notNull(),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    rowsRead: integer('rows_read').notNull().default(0),
    rowsInserted: integer('rows_inserted').notNull().default(0),
    rowsUpdated: integer('rows_updated').notNull().default(0),
    rowsUnchanged: integer('rows_unchanged').notNull().default(0),
    rowsRejected: integer('rows_rejected').notNull().default(0),
    /** Milliseconds per phase: read, copy, merge, total. */
    timings: jsonb('timings').$type<Record<string, number>>(),
    error: text('error'),
  },
  (t) => [index('etl_runs_source_started_idx').on(t.sourceId, t.startedAt)],
);
