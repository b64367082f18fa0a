import type { Database } from '../db/database.js';
import type { Plan, Role } from '../db/schema/users.js';
import { issueAccessToken } from './access-tokens.js';
import { type AuditContext, appendAudit } from './audit.js';
import type { IdentityConfig } from './config.js';
import { InvalidCredentialsError, RateLimitedError } from './errors.js';
import { dummyPasswordHash, passwords } from './password.js';
import { hitWindow, peekWindow } from './rate-limit.js';
import { issueRefreshToken, rotateRefreshToken } from './refresh-tokens.js';
import { roleScopes } from './scopes.js';
import { findUserByEmail, getUser, normalizeEmail } from './users.js';

export type TokenPair = {
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  user: { id: number; email: string; role: Role; plan: Plan };
};

async function tokensFor(
  db: Database,
  config: IdentityConfig,
  user: { id: number; email: string; role: Role; plan: Plan },
  refresh: { token: string },
): Promise<TokenPair> {
  const access = await issueAccessToken(db, config, {
    sub: `user:${user.id}`,
    scopes: roleScopes[user.role],
    plan: user.plan,
  });
  return {
    accessToken: access.token,
    expiresIn: access.expiresIn,
    refreshToken: refresh.token,
    user: { id: user.id, email: user.email, role: user.role, plan: user.plan },
  };
}

export type LoginParams = { email: string; password: string; audit: Omit<AuditContext, 'actor'> };

/**
 * Email and password → an access token and a new refresh family.
 * Constant time whether or not the email exists: an unknown email is checked against a dummy
 * hash, so both paths run exactly one scrypt. Failures count against the account and the client
 * IP (fixed windows in PostgreSQL); past the limit the answer is 429 before any scrypt runs —
 * keyed by the email as typed, so that too says nothing about whether it exists.
 */
export async function login(
  db: Database,
  config: IdentityConfig,
  params: LoginParams,
): Promise<TokenPair> {
  const email = normalizeEmail(params.email);
  const { windowSeconds, perAccount, perIp } = config.loginLimits;
  const windows = [
    { key: `login:account:${email}`, limit: perAccount },
    { key: `login:ip:${params.audit.ip ?? 'unknown'}`, limit: perIp },
  ];
  for (const w of windows) {
    const { count, retryAfterSeconds } = await peekWindow(db, { key: w.key, windowSeconds });
    if (count >= w.limit) {
      await appendAudit(db, {
        ...params.audit,
        actor: null,
        action: 'auth.login',
        target: email,
        outcome: 'denied',
        details: { reason: 'rate_limited', window: w.key.split(':')[1] },
      });
      throw new RateLimitedError(retryAfterSeconds);
    }
  }

  const user = await findUserByEmail(db, { email });
  const matches = await passwords.verify(
    params.password,
    user?.passwordHash ?? (await dummyPasswordHash()),
  );
  if (!user || !matches || user.disabled) {
    for (const w of windows) await hitWindow(db, { key: w.key, windowSeconds });
    await appendAudit(db, {
      ...params.audit,
      actor: null,
      action: 'auth.login',
      target: user ? `user:${user.id}` : email,
      outcome: 'failure',
      details: {
        email,
        reason: !user ? 'unknown_email' : !matches ? 'bad_password' : 'disabled',
      },
    });
    throw new InvalidCredentialsError();
  }

  const refresh = await issueRefreshToken(db, {
    userId: user.id,
    ttlDays: config.refreshTokenTtlDays,
  });
  await appendAudit(db, {
    ...params.audit,
    actor: `user:${user.id}`,
    action: 'auth.login',
    target: `user:${user.id}`,
    outcome: 'success',
    details: { refresh_family: refresh.familyId },
  });
  return tokensFor(db, config, user, refresh);
}

export type RefreshParams = { refreshToken: string; audit: AuditContext };

/** Spend a refresh token: a new access token and the family's next refresh token. */
export async function refreshSession(
  db: Database,
  config: IdentityConfig,
  params: RefreshParams,
): Promise<TokenPair> {
  const next = await rotateRefreshToken(db, {
    token: params.refreshToken,
    ttlDays: config.refreshTokenTtlDays,
    audit: params.audit,
  });
  // Role and plan are read again: a role change takes effect at the next refresh.
  const user = await getUser(db, { id: next.userId });
  return tokensFor(db, config, user, next);
}
