import {
  type AnyPgColumn,
  index,
  integer,
  pgTable,
  serial,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
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
    /**
     * The key that created this one, when a key did (POST /v1/api-keys with an API key): the
     * child is refused once any ancestor is revoked or expired (origin/auth/api-keys.ts).
     */
    parentKeyId: integer('parent_key_id').references((): AnyPgColumn => apiKeys.id, {
      onDelete: 'cascade',
    }),
  },
  (t) => [
    index('api_keys_owner_idx').on(t.ownerId),
    index('api_keys_parent_idx').on(t.parentKeyId),
  ],
);
