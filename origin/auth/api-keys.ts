import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { apiKeys } from '../db/schema/api-keys.js';
import type { Plan } from '../db/schema/users.js';
import { NotFoundError } from '../errors.js';
import { type AuditContext, appendAudit } from './audit.js';
import { ForbiddenError, UnauthenticatedError } from './errors.js';
import { formatScopes, parseScopes, planAtMost, type Scope } from './scopes.js';

/**
 * `ee_live_<8-character lookup prefix>_<43-character secret>`. The fixed start makes leaked keys
 * easy to recognise (secret scanners, logs); the prefix finds the row; the secret is 32 random
 * bytes. Stored: the prefix and SHA-256(secret). A slow KDF would add nothing for a 256-bit
 * random secret (nobody can guess through 2^256 inputs however fast the hash) and would cost
 * every lookup ~50 ms of CPU.
 */
export const API_KEY_START = 'ee_live_';
const API_KEY = /^ee_live_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/;
const PREFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** last_used_at is written at most this often per key: a busy key must not write every request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** Compared against when the prefix is unknown, so a miss costs what a hit costs. */
const DUMMY_HASH = hashSecret(randomBytes(32).toString('base64url')).toString('base64url');

function randomPrefix(): string {
  const bytes = randomBytes(8);
  return [...bytes].map((b) => PREFIX_ALPHABET[b % PREFIX_ALPHABET.length]).join('');
}

export type ApiKeyRecord = Omit<typeof apiKeys.$inferSelect, 'secretHash'>;

function withoutHash({ secretHash: _, ...rest }: typeof apiKeys.$inferSelect): ApiKeyRecord {
  return rest;
}

export type ApiKeyCreator = { userId: number; scopes: readonly Scope[]; plan: Plan };

export type CreateApiKeyParams = {
  creator: ApiKeyCreator;
  name: string;
  scopes: readonly Scope[];
  plan?: Plan | undefined;
  expiresAt?: Date | undefined;
  audit: AuditContext;
};

/**
 * Create a key owned by its creator, with scopes the creator holds and a plan no higher than
 * theirs. Returns the key itself: the only time it exists outside the caller's hands.
 */
export async function createApiKey(
  db: Database,
  params: CreateApiKeyParams,
): Promise<{ key: string; record: ApiKeyRecord }> {
  const missing = params.scopes.filter((s) => !params.creator.scopes.includes(s));
  if (missing.length > 0)
    throw new ForbiddenError(`a key cannot have scopes its creator lacks: ${missing.join(', ')}`);
  const plan = params.plan ?? params.creator.plan;
  if (!planAtMost(plan, params.creator.plan))
    throw new ForbiddenError(`a key's plan cannot exceed its creator's (${params.creator.plan})`);
  const secret = randomBytes(32).toString('base64url');
  // A prefix collision (1 in 36^8 per pair) is retried rather than reported.
  for (let attempt = 0; attempt < 3; attempt++) {
    const prefix = randomPrefix();
    const [row] = await db.orm
      .insert(apiKeys)
      .values({
        prefix,
        secretHash: hashSecret(secret).toString('base64url'),
        name: params.name,
        ownerId: params.creator.userId,
        scopes: formatScopes(params.scopes),
        plan,
        expiresAt: params.expiresAt ?? null,
      })
      .onConflictDoNothing()
      .returning();
    if (!row) continue;
    await appendAudit(db, {
      ...params.audit,
      action: 'api_key.create',
      target: `api_key:${row.id}`,
      outcome: 'success',
      details: { name: row.name, owner_id: row.ownerId, scopes: row.scopes, plan: row.plan },
    });
    return { key: `${API_KEY_START}${prefix}_${secret}`, record: withoutHash(row) };
  }
  throw new Error('could not find a free API key prefix');
}

export type ListApiKeysParams = { ownerId?: number | undefined };

/** Keys, newest first: one owner's, or everyone's when ownerId is undefined. */
export async function listApiKeys(
  db: Database,
  params: ListApiKeysParams,
): Promise<ApiKeyRecord[]> {
  const rows = await db.orm
    .select()
    .from(apiKeys)
    .where(params.ownerId === undefined ? undefined : eq(apiKeys.ownerId, params.ownerId))
    .orderBy(desc(apiKeys.id));
  return rows.map(withoutHash);
}

export type RevokeApiKeyParams = { id: number; ownerId?: number | undefined; audit: AuditContext };

/**
 * Revoke a key. With `ownerId`, only that owner's key: someone else's answers NotFound (not
 * Forbidden), so ids of others' keys are not confirmed. Revoking twice is not an error.
 */
export async function revokeApiKey(
  db: Database,
  params: RevokeApiKeyParams,
): Promise<ApiKeyRecord> {
  const [row] = await db.orm
    .select()
    .from(apiKeys)
    .where(
      and(
        eq(apiKeys.id, params.id),
        params.ownerId === undefined ? undefined : eq(apiKeys.ownerId, params.ownerId),
      ),
    );
  if (!row) throw new NotFoundError(`no API key with id ${params.id}`);
  if (row.revokedAt) return withoutHash(row);
  const [revoked] = await db.orm
    .update(apiKeys)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(apiKeys.id, params.id), isNull(apiKeys.revokedAt)))
    .returning();
  await appendAudit(db, {
    ...params.audit,
    action: 'api_key.revoke',
    target: `api_key:${row.id}`,
    outcome: 'success',
    details: { name: row.name, owner_id: row.ownerId },
  });
  return withoutHash(revoked ?? row);
}

export type ApiKeyPrincipal = {
  keyId: number;
  ownerId: number;
  scopes: Scope[];
  plan: Plan;
  expiresAt: Date | null;
};

/**
 * Who a presented key speaks for. Refused (UnauthenticatedError): malformed or wrong start,
 * unknown prefix, wrong secret, revoked, expired, owner disabled. The secret is compared with
 * timingSafeEqual, against a dummy hash when the prefix is unknown, so the time taken does not
 * say whether a prefix exists. Scope checks are the caller's (the edge compares the route's).
 */
export async function lookupApiKey(
  db: Database,
  params: { key: string },
): Promise<ApiKeyPrincipal> {
  const m = API_KEY.exec(params.key);
  if (!m) throw new UnauthenticatedError('the API key is invalid', 'format');
  const [, prefix, secret] = m as unknown as [string, string, string];
  const [row] = await db.rows<{
    id: number;
    owner_id: number;
    secret_hash: string;
    scopes: string;
    plan: Plan;
    expires_at: Date | string | null;
    revoked: boolean;
    expired: boolean;
    owner_disabled: boolean;
    touch: boolean;
  }>(sql`
    SELECT k.id, k.owner_id, k.secret_hash, k.scopes, k.plan, k.expires_at,
           k.revoked_at IS NOT NULL AS revoked,
           k.expires_at IS NOT NULL AND k.expires_at <= now() AS expired,
           u.disabled AS owner_disabled,
           k.last_used_at IS NULL
             OR k.last_used_at < now() - make_interval(secs => ${LAST_USED_RESOLUTION_MS / 1000}) AS touch
    FROM api_keys k JOIN users u ON u.id = k.owner_id
    WHERE k.prefix = ${prefix}`);
  const expected = Buffer.from(row?.secret_hash ?? DUMMY_HASH, 'base64url');
  const matches = timingSafeEqual(hashSecret(secret), expected);
  if (!row || !matches) throw new UnauthenticatedError('the API key is invalid', 'unknown');
  if (row.revoked) throw new UnauthenticatedError('the API key is invalid', 'revoked');
  if (row.expired) throw new UnauthenticatedError('the API key is invalid', 'expired');
  if (row.owner_disabled) throw new UnauthenticatedError('the API key is invalid', 'disabled');
  if (row.touch) {
    // The condition is repeated in the UPDATE: of many concurrent requests only one writes.
    await db.rows(sql`
      UPDATE api_keys SET last_used_at = now()
      WHERE id = ${row.id}
        AND (last_used_at IS NULL
             OR last_used_at < now() - make_interval(secs => ${LAST_USED_RESOLUTION_MS / 1000}))`);
  }
  return {
    keyId: row.id,
    ownerId: row.owner_id,
    scopes: parseScopes(row.scopes),
    plan: row.plan,
    expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
  };
}
