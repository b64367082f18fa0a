import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { type AuditContext, appendAudit } from './audit.js';
import { UnauthenticatedError } from './errors.js';

/**
 * Refresh tokens are opaque: `ert_` and 32 random bytes. Not JWTs, so one can never pass for an
 * access token (and the reverse: an access token is not in this table). Stored as SHA-256: the
 * token has 256 bits of entropy, so a fast hash is enough to make a stolen table useless.
 */
const PREFIX = 'ert_';
const TOKEN = /^ert_[A-Za-z0-9_-]{43}$/;

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export type IssueRefreshTokenParams = { userId: number; familyId?: string; ttlDays: number };

/** A new refresh token; a new family unless `familyId` is given (rotation). */
export async function issueRefreshToken(
  db: Database,
  params: IssueRefreshTokenParams,
): Promise<{ token: string; familyId: string }> {
  const token = `${PREFIX}${randomBytes(32).toString('base64url')}`;
  const familyId = params.familyId ?? randomUUID();
  await db.rows(sql`
    INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
    VALUES (${familyId}, ${params.userId}, ${hashRefreshToken(token)},
            now() + make_interval(days => ${params.ttlDays}))`);
  return { token, familyId };
}

type TokenRow = {
  id: number;
  family_id: string;
  user_id: number;
  used: boolean;
  revoked: boolean;
  expired: boolean;
};

export type RotateRefreshTokenParams = { token: string; ttlDays: number; audit: AuditContext };

/**
 * Spend a refresh token and issue its successor in the same family. A token already spent is
 * being replayed (by a thief, or by the owner after a thief): the whole family is revoked, so
 * whichever of the two holds the newest token loses it too, and the reuse is audited.
 */
export async function rotateRefreshToken(
  db: Database,
  params: RotateRefreshTokenParams,
): Promise<{ token: string; familyId: string; userId: number }> {
  if (!TOKEN.test(params.token)) throw new UnauthenticatedError('the refresh token is invalid');
  const hash = hashRefreshToken(params.token);
  // The UPDATE claims the token atomically: of two concurrent refreshes, one wins and the other
  // sees it used (and is treated as a reuse).
  const [claimed] = await db.rows<{ id: number; family_id: string; user_id: number }>(sql`
    UPDATE refresh_tokens t SET used_at = now()
    FROM users u
    WHERE t.token_hash = ${hash} AND t.used_at IS NULL AND t.revoked_at IS NULL
      AND t.expires_at > now() AND u.id = t.user_id AND NOT u.disabled
    RETURNING t.id, t.family_id, t.user_id`);
  if (claimed) {
    const next = await issueRefreshToken(db, {
      userId: claimed.user_id,
      familyId: claimed.family_id,
      ttlDays: params.ttlDays,
    });
    return { ...next, userId: claimed.user_id };
  }
  const [row] = await db.rows<TokenRow>(sql`
    SELECT id, family_id, user_id, used_at IS NOT NULL AS used, revoked_at IS NOT NULL AS revoked,
           expires_at <= now() AS expired
    FROM refresh_tokens WHERE token_hash = ${hash}`);
  if (row?.used && !row.revoked) {
    const revoked = await revokeFamily(db, { familyId: row.family_id });
    await appendAudit(db, {
      ...params.audit,
      actor: params.audit.actor ?? `user:${row.user_id}`,
      action: 'auth.refresh_reuse',
      target: `refresh_family:${row.family_id}`,
      outcome: 'denied',
      details: { user_id: row.user_id, tokens_revoked: revoked },
    });
  }
  throw new UnauthenticatedError(
    'the refresh token is invalid',
    !row
      ? 'unknown'
      : row.revoked
        ? 'revoked'
        : row.used
          ? 'reused'
          : row.expired
            ? 'expired'
            : 'disabled',
  );
}

/** Revoke every token of a family; returns how many were still live. */
export async function revokeFamily(db: Database, params: { familyId: string }): Promise<number> {
  const rows = await db.rows<{ id: number }>(sql`
    UPDATE refresh_tokens SET revoked_at = now()
    WHERE family_id = ${params.familyId} AND revoked_at IS NULL RETURNING id`);
  return rows.length;
}

export type LogoutParams = { token: string; audit: AuditContext };

/**
 * Revoke the family of this refresh token (the session it belongs to). An unknown token is not an
 * error: logging out twice, or with garbage, just does nothing.
 */
export async function logout(db: Database, params: LogoutParams): Promise<boolean> {
  if (!TOKEN.test(params.token)) return false;
  const [row] = await db.rows<{ family_id: string; user_id: number }>(sql`
    SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = ${hashRefreshToken(params.token)}`);
  if (!row) return false;
  const revoked = await revokeFamily(db, { familyId: row.family_id });
  await appendAudit(db, {
    ...params.audit,
    actor: params.audit.actor ?? `user:${row.user_id}`,
    action: 'auth.logout',
    target: `refresh_family:${row.family_id}`,
    outcome: 'success',
    details: { tokens_revoked: revoked },
  });
  return true;
}
