import { index, integer, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import { plans, users } from './users.js';

/**
 * API keys for apps: `ee_live_<prefix>_<secret>`. Only the prefix (to find the row) and the
 * SHA-256 of the secret are stored; the key itself is shown once, at creation.
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: serial('id').primaryKey(),
    prefix: text('prefix').notNull().unique(),
    secretHash: text('secret_hash').notNull(),
    name: text('name').notNull(),
    ownerId: integer('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** Space-separated, like a token's `scope` claim. */
    scopes: text('scopes').notNull(),
    plan: text('plan', { enum: plans }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
  },
  (t) => [index('api_keys_owner_idx').on(t.ownerId)],
);
