import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { apiKeys } from '../db/schema/api-keys.js';
import { type Plan, type Role, users } from '../db/schema/users.js';
import { NotFoundError } from '../errors.js';
import { type AuditContext, appendAudit } from './audit.js';
import { ForbiddenError, UnauthenticatedError } from './errors.js';
import {
  formatScopes,
  hasScope,
  parseScopes,
  planAtMost,
  roleScopes,
  type Scope,
} from './scopes.js';

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

/**
 * Who asks for a key, as authenticated: a user (token) or an API key of theirs (`keyId`). What
 * the request carries is only an upper bound: createApiKey checks the owner's current role, plan
 * and state, and for a key its current effective rights and expiry, from the database.
 */
export type ApiKeyCreator = {
  userId: number;
  scopes: readonly Scope[];
  plan: Plan;
  /** Set when the caller is an API key: the new key becomes its child. */
  keyId?: number | undefined;
};

export type CreateApiKeyParams = {
  creator: ApiKeyCreator;
  name: string;
  scopes: readonly Scope[];
  plan?: Plan | undefined;
  expiresAt?: Date | undefined;
  audit: AuditContext;
};

/**
 * Create a key owned by its creator, with scopes the creator holds now and a plan no higher than
 * theirs. A key creating a key gives it at most its own effective scopes, plan and expiry (no
 * expiry asked for: the parent's), and the child is refused once the parent is revoked
 * (`parent_key_id`, lookupApiKey). Returns the key itself: the only time it exists outside the
 * caller's hands.
 */
export async function createApiKey(
  db: Database,
  params: CreateApiKeyParams,
): Promise<{ key: string; record: ApiKeyRecord }> {
  const authority = await creatorAuthority(db, params.creator);
  const missing = params.scopes.filter((s) => !authority.scopes.includes(s));
  if (missing.length > 0)
    throw new ForbiddenError(`a key cannot have scopes its creator lacks: ${missing.join(', ')}`);
  const plan = params.plan ?? authority.plan;
  if (!planAtMost(plan, authority.plan))
    throw new ForbiddenError(`a key's plan cannot exceed its creator's (${authority.plan})`);
  const expiresAt = params.expiresAt ?? authority.expiresAt;
  if (authority.expiresAt && expiresAt && expiresAt > authority.expiresAt)
    throw new ForbiddenError(
      `a key cannot outlive the key that creates it (${authority.expiresAt.toISOString()})`,
    );
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
        expiresAt: expiresAt ?? null,
        parentKeyId: params.creator.keyId ?? null,
      })
      .onConflictDoNothing()
      .returning();
    if (!row) continue;
    await appendAudit(db, {
      ...params.audit,
      action: 'api_key.create',
      target: `api_key:${row.id}`,
      outcome: 'success',
      details: {
        name: row.name,
        owner_id: row.ownerId,
        scopes: row.scopes,
        plan: row.plan,
        ...(row.parentKeyId === null ? {} : { parent_key_id: row.parentKeyId }),
      },
    });
    return { key: `${API_KEY_START}${prefix}_${secret}`, record: withoutHash(row) };
  }
  throw new Error('could not find a free API key prefix');
}

/** What a creator may hand out now: the request's claims, cut to the database's current view. */
async function creatorAuthority(
  db: Database,
  creator: ApiKeyCreator,
): Promise<{ scopes: Scope[]; plan: Plan; expiresAt: Date | null }> {
  if (creator.keyId !== undefined) {
    const key = await effectiveKey(db, { id: creator.keyId });
    if (key.ownerId !== creator.userId)
      throw new UnauthenticatedError('the API key is invalid', 'owner mismatch');
    return {
      scopes: creator.scopes.filter((s) => key.scopes.includes(s)),
      plan: planAtMost(creator.plan, key.plan) ? creator.plan : key.plan,
      expiresAt: key.expiresAt,
    };
  }
  // An access token lives minutes and carries the role's scopes of its issue: a user demoted or
  // disabled since then must not mint a key with what they no longer hold.
  const [owner] = await db.orm
    .select({ role: users.role, plan: users.plan, disabled: users.disabled })
    .from(users)
    .where(eq(users.id, creator.userId));
  if (!owner || owner.disabled)
    throw new UnauthenticatedError('the credentials are invalid', 'owner disabled');
  return {
    scopes: ownerCut(creator.scopes, owner.role),
    plan: planAtMost(creator.plan, owner.plan) ? creator.plan : owner.plan,
    expiresAt: null,
  };
}

/** The scopes of `held` that the role also grants (directly or by implication). */
function ownerCut(held: readonly Scope[], role: Role): Scope[] {
  const granted = roleScopes[role] ?? [];
  return held.filter((s) => hasScope(granted, s));
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
 * Revoke a key and every key it minted, down the line (lookupApiKey refuses those anyway; marking
 * them shows it in the lists too). With `ownerId`, only that owner's key: someone else's answers
 * NotFound (not Forbidden), so ids of others' keys are not confirmed. Revoking twice is not an
 * error. The credentials epoch moves with it (trigger, migration 0007), so the edge drops its
 * cached lookups within its bound (docs/edge-auth.md).
 */
export async function revokeApiKey(
  db: Database,
  params: RevokeApiKeyParams,
): Promise<ApiKeyRecord> {
  return db.transaction(async (tx) => {
    const [row] = await tx.orm
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
    const [revoked] = await tx.orm
      .update(apiKeys)
      .set({ revokedAt: sql`now()` })
      .where(and(eq(apiKeys.id, params.id), isNull(apiKeys.revokedAt)))
      .returning();
    const descendants = await tx.rows<{ id: number }>(sql`
      WITH RECURSIVE below AS (
        SELECT id, 1 AS depth FROM api_keys WHERE parent_key_id = ${row.id}
        UNION ALL
        SELECT k.id, below.depth + 1 FROM api_keys k JOIN below ON k.parent_key_id = below.id
        WHERE below.depth < ${MAX_KEY_DEPTH}
      )
      UPDATE api_keys SET revoked_at = now()
      WHERE id IN (SELECT id FROM below) AND revoked_at IS NULL
      RETURNING id`);
    await appendAudit(tx, {
      ...params.audit,
      action: 'api_key.revoke',
      target: `api_key:${row.id}`,
      outcome: 'success',
      details: {
        name: row.name,
        owner_id: row.ownerId,
        ...(descendants.length > 0 ? { descendants: descendants.map((d) => d.id) } : {}),
      },
    });
    return withoutHash(revoked ?? row);
  });
}

/**
 * How deep a line of keys minting keys is followed. Rows only ever point at older rows, so there
 * is no cycle unless someone writes one by hand; the bound keeps such a row from looping.
 */
const MAX_KEY_DEPTH = 32;

export type ApiKeyPrincipal = {
  keyId: number;
  ownerId: number;
  /** Effective: the key's scopes that its owner's current role also grants. */
  scopes: Scope[];
  /** Effective: the lower of the key's plan and its owner's current one. */
  plan: Plan;
  expiresAt: Date | null;
  /**
   * The credentials epoch (migration 0007) as of this lookup, read in the same statement as the
   * key: the edge keeps its cached answer only while the epoch has not moved past it.
   */
  credentialsEpoch: number;
};

type KeyRow = {
  id: number;
  owner_id: number;
  secret_hash: string;
  scopes: string;
  plan: Plan;
  expires_at: Date | string | null;
  revoked: boolean;
  expired: boolean;
  ancestor_dead: boolean;
  owner_disabled: boolean;
  owner_role: Role;
  owner_plan: Plan;
  touch: boolean;
  credentials_epoch: string | number;
};

/**
 * One statement, so the epoch, the key, its owner and its ancestors are read from one snapshot:
 * an epoch the edge stores beside the answer is never newer than what the answer reflects.
 */
async function keyRow(
  db: Database,
  where: { prefix: string } | { id: number },
): Promise<KeyRow | undefined> {
  const match = 'prefix' in where ? sql`k.prefix = ${where.prefix}` : sql`k.id = ${where.id}`;
  const [row] = await db.rows<KeyRow>(sql`
    WITH RECURSIVE above AS (
      SELECT k.parent_key_id AS id, 1 AS depth FROM api_keys k
      WHERE ${match} AND k.parent_key_id IS NOT NULL
      UNION ALL
      SELECT p.parent_key_id, above.depth + 1 FROM api_keys p JOIN above ON p.id = above.id
      WHERE p.parent_key_id IS NOT NULL AND above.depth < ${MAX_KEY_DEPTH}
    )
    SELECT k.id, k.owner_id, k.secret_hash, k.scopes, k.plan, k.expires_at,
           k.revoked_at IS NOT NULL AS revoked,
           k.expires_at IS NOT NULL AND k.expires_at <= now() AS expired,
           EXISTS (
             SELECT 1 FROM api_keys a JOIN above ON a.id = above.id
             WHERE a.revoked_at IS NOT NULL OR (a.expires_at IS NOT NULL AND a.expires_at <= now())
           ) AS ancestor_dead,
           u.disabled AS owner_disabled, u.role AS owner_role, u.plan AS owner_plan,
           k.last_used_at IS NULL
             OR k.last_used_at < now() - make_interval(secs => ${LAST_USED_RESOLUTION_MS / 1000}) AS touch,
           (SELECT epoch FROM credentials_epoch WHERE singleton) AS credentials_epoch
    FROM api_keys k JOIN users u ON u.id = k.owner_id
    WHERE ${match}`);
  return row;
}

/** Refuses a key that no longer speaks for anyone; else its effective rights. */
function effective(row: KeyRow): ApiKeyPrincipal {
  if (row.revoked) throw new UnauthenticatedError('the API key is invalid', 'revoked');
  if (row.expired) throw new UnauthenticatedError('the API key is invalid', 'expired');
  if (row.ancestor_dead)
    throw new UnauthenticatedError('the API key is invalid', 'parent revoked or expired');
  if (row.owner_disabled) throw new UnauthenticatedError('the API key is invalid', 'disabled');
  return {
    keyId: row.id,
    ownerId: row.owner_id,
    scopes: ownerCut(parseScopes(row.scopes), row.owner_role),
    plan: planAtMost(row.plan, row.owner_plan) ? row.plan : row.owner_plan,
    expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
    credentialsEpoch: Number(row.credentials_epoch),
  };
}

/** A key's effective rights by id (the key already authenticated, e.g. by the edge). */
async function effectiveKey(db: Database, params: { id: number }): Promise<ApiKeyPrincipal> {
  const row = await keyRow(db, params);
  if (!row) throw new UnauthenticatedError('the API key is invalid', 'unknown');
  return effective(row);
}

/**
 * Who a presented key speaks for, and with what: the key's scopes that its owner's current role
 * grants, the lower of the two plans. Refused (UnauthenticatedError): malformed or wrong start,
 * unknown prefix, wrong secret, revoked, expired, a parent key revoked or expired, owner
 * disabled. Computed at every lookup, so a demotion counts from the next one. The secret is
 * compared with timingSafeEqual, against a dummy hash when the prefix is unknown, so the time
 * taken does not say whether a prefix exists. Scope checks are the caller's (the edge compares
 * the route's).
 */
export async function lookupApiKey(
  db: Database,
  params: { key: string },
): Promise<ApiKeyPrincipal> {
  const m = API_KEY.exec(params.key);
  if (!m) throw new UnauthenticatedError('the API key is invalid', 'format');
  const [, prefix, secret] = m as unknown as [string, string, string];
  const row = await keyRow(db, { prefix });
  const expected = Buffer.from(row?.secret_hash ?? DUMMY_HASH, 'base64url');
  const matches = timingSafeEqual(hashSecret(secret), expected);
  if (!row || !matches) throw new UnauthenticatedError('the API key is invalid', 'unknown');
  const found = effective(row);
  if (row.touch) {
    // The condition is repeated in the UPDATE: of many concurrent requests only one writes.
    await db.rows(sql`
      UPDATE api_keys SET last_used_at = now()
      WHERE id = ${row.id}
        AND (last_used_at IS NULL
             OR last_used_at < now() - make_interval(secs => ${LAST_USED_RESOLUTION_MS / 1000}))`);
  }
  return found;
}
