import { sql } from 'drizzle-orm';
import { boolean, pgTable, serial, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

import { plans, roles } from '../../../contract/scopes.js';

/** Roles and plans (lowest to highest: an API key's plan may not exceed its owner's): contract/scopes.ts. */
export { type Plan, plans, type Role, roles } from '../../../contract/scopes.js';

/**
 * People who sign in. `password_hash` is self-describing (`scrypt$N=..,r=..,p=..$salt$key`, see
 * origin/auth/password.ts) so the cost can be raised later without a migration.
 */
export const users = pgTable(
  'users',
  {
    id: serial('id').primaryKey(),
    /** Stored lowercased; the unique index on lower(email) also guards rows written by hand. */
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    role: text('role', { enum: roles }).notNull().default('user'),
    plan: text('plan', { enum: plans }).notNull().default('standard'),
    disabled: boolean('disabled').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('users_email_lower_idx').on(sql`lower(${t.email})`)],
);
