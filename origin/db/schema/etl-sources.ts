import { sql } from 'drizzle-orm';
import { boolean, jsonb, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * A feed the ETL can read. `mapping` holds the declarative field mapping (see
 * `origin/etl/source-config.ts`); it is validated with zod before it is stored.
 */
export const etlSources = pgTable('etl_sources', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  format: text('format', { enum: ['csv', 'ndjson', 'geojson'] }).notNull(),
  location: text('location').notNull(),
  mapping: jsonb('mapping').notNull(),
  schedule: text('schedule'),
  enabled: boolean('enabled').notNull().default(true),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().default(sql`now()`),
});
