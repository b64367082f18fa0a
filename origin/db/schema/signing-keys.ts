import { jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

export const signingKeyStatuses = ['active', 'retiring', 'retired'] as const;
export type SigningKeyStatus = (typeof signingKeyStatuses)[number];

/**
 * The keys access tokens are signed with. One is `active` (signs); `retiring` ones only verify
 * until `verify_until` (the last token they signed has expired); `retired` ones do nothing.
 * The private key is a JWK, AES-256-GCM encrypted when SIGNING_KEY_ENCRYPTION_SECRET is set.
 */
export const signingKeys = pgTable('signing_keys', {
  kid: text('kid').primaryKey(),
  alg: text('alg').notNull(),
  publicJwk: jsonb('public_jwk').$type<Record<string, unknown>>().notNull(),
  privateKey: text('private_key').notNull(),
  /** `none` (dev, no secret configured) or `aes-256-gcm`. */
  encryption: text('encryption', { enum: ['none', 'aes-256-gcm'] }).notNull(),
  status: text('status', { enum: signingKeyStatuses }).notNull().default('active'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  retiringAt: timestamp('retiring_at', { withTimezone: true }),
  verifyUntil: timestamp('verify_until', { withTimezone: true }),
  retiredAt: timestamp('retired_at', { withTimezone: true }),
});
