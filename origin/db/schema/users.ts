import { sql } from 'drizzle-orm';
import { boolean, pgTable, serial, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

export const roles = ['admin', 'analyst', 'engineer', 'user'] as const;
export type Role = (typeof roles)[number];

/** Lowest to highest: the order matters (an API key's plan may not exceed its creator's). */
export const plans = ['anonymous', 'standard', 'pro', 'admin'] as const;
export type Plan = (typeof plans)[number];

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
