import {
  bigint,
  bigserial,
  index,
  integer,
  numeric,
  pgTable,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import { listings } from './listings.js';

/**
 * Every price and status change of a listing: the values before and after, and the run that saw
 * it. A listing's first state is in `previous_*` of its first change (or, with no change yet, the
 * listing itself, first seen at `listings.created_at`).
 */
export const listingHistory = pgTable(
  'listing_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    listingId: bigint('listing_id', { mode: 'number' })
      .notNull()
      .references(() => listings.id, { onDelete: 'cascade' }),
    runId: integer('run_id'),
    changedAt: timestamp('changed_at', { withTimezone: true }).notNull().defaultNow(),
    event: text('event', { enum: ['price', 'status', 'price_status'] }).notNull(),
    standardStatus: text('standard_status'),
    listPrice: numeric('list_price', { precision: 14, scale: 2, mode: 'number' }),
    closePrice: numeric('close_price', { precision: 14, scale: 2, mode: 'number' }),
    previousStatus: text('previous_status'),
    previousListPrice: numeric('previous_list_price', { precision: 14, scale: 2, mode: 'number' }),
    previousClosePrice: numeric('previous_close_price', {
      precision: 14,
      scale: 2,
      mode: 'number',
    }),
  },
  (t) => [index('listing_history_listing_idx').on(t.listingId, t.changedAt)],
);
