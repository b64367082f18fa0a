import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../db/database.js';
import type { Plan, Role } from '../db/schema/users.js';
import { issueAccessToken } from './access-tokens.js';
import { type AuditContext, appendAudit } from './audit.js';
import type { IdentityConfig } from './config.js';
import { InvalidCredentialsError, RateLimitedError } from './errors.js';
import { dummyPasswordHash, passwords } from './password.js';
import {
  addressKey,
  backoffWait,
  forgetEvent,
  forgetKey,
  pruneEvents,
  recentEvents,
  recordEvent,
  restampEvent,
} from './rate-limit.js';
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

/** One sweep of abandoned sign-in keys per this many failures, on average. */
const PRUNE_ONE_IN = 100;

/**
 * Email and password → an access token and a new refresh family.
 *
 * Constant time whether or not the email exists: an unknown email is checked against a dummy
 * hash, so both paths run exactly one scrypt. Throttled, never locked (docs/identity.md): failures
 * count per (account, client address) and per address, and past each allowance the next attempt
 * from there must wait (1 s, 2 s, 4 s… up to the window; 429 with Retry-After, before any scrypt).
 * Nothing counted per account alone refuses anyone, so an attacker cannot lock the owner out:
 * past `accountWide` failures over all addresses every attempt is only answered a little later
 * and addresses that already failed on it lose their allowance. Keyed by the email as typed, so
 * none of this says whether the account exists.
 */
export async function login(
  db: Database,
  config: IdentityConfig,
  params: LoginParams,
): Promise<TokenPair> {
  const email = normalizeEmail(params.email);
  const limits = config.loginLimits;
  const { windowSeconds } = limits;
  const address = addressKey(params.audit.ip);
  const keys = {
    account_ip: `signin:pair:${address} ${email}`,
    ip: `signin:ip:${address}`,
    account: `signin:account:${email}`,
  };
  const account = await recentEvents(db, { key: keys.account, windowSeconds });
  const underAttack = account.count >= limits.accountWide;
  const policies = {
    account_ip: {
      free: underAttack ? 1 : limits.perAccount,
      baseSeconds: limits.backoffBaseSeconds,
      maxSeconds: windowSeconds,
    },
    ip: { free: limits.perIp, baseSeconds: limits.backoffBaseSeconds, maxSeconds: windowSeconds },
  };
  const refuse = async (window: 'account_ip' | 'ip', retryAfterSeconds: number) => {
    await appendAudit(db, {
      ...params.audit,
      actor: null,
      action: 'auth.login',
      target: email,
      outcome: 'denied',
      details: { reason: 'rate_limited', window, retry_after: retryAfterSeconds },
    });
    return new RateLimitedError(retryAfterSeconds);
  };

  // Read first: an address that must wait costs two reads, no write.
  for (const window of ['account_ip', 'ip'] as const) {
    const wait = backoffWait(
      await recentEvents(db, { key: keys[window], windowSeconds }),
      policies[window],
    );
    if (wait > 0) throw await refuse(window, wait);
  }
  // Then this attempt is recorded before its password is checked, and decided again on what
  // was there before it: of a burst sent in parallel, only the allowance gets through.
  const attempt = {
    account_ip: await recordEvent(db, { key: keys.account_ip, windowSeconds }),
    ip: await recordEvent(db, { key: keys.ip, windowSeconds }),
  };
  for (const window of ['account_ip', 'ip'] as const) {
    const wait = backoffWait(attempt[window].before, policies[window]);
    if (wait > 0) {
      await Promise.all([forgetEvent(db, attempt.account_ip), forgetEvent(db, attempt.ip)]);
      throw await refuse(window, wait);
    }
  }
  // A distributed attack on this account: slower answers for everyone on it, a lockout for none.
  if (underAttack) await sleep(limits.accountPauseMs);

  const user = await findUserByEmail(db, { email });
  const matches = await passwords.verify(
    params.password,
    user?.passwordHash ?? (await dummyPasswordHash()),
  );
  if (!user || !matches || user.disabled) {
    // The failure counts from when its answer goes out: the wait is the one the client sees.
    await Promise.all([restampEvent(db, attempt.account_ip), restampEvent(db, attempt.ip)]);
    await recordEvent(db, { key: keys.account, windowSeconds });
    if (Math.random() * PRUNE_ONE_IN < 1)
      await pruneEvents(db, { prefix: 'signin:', olderThanSeconds: windowSeconds });
    await appendAudit(db, {
      ...params.audit,
      actor: null,
      action: 'auth.login',
      target: user ? `user:${user.id}` : email,
      outcome: 'failure',
      details: {
        email,
        reason: !user ? 'unknown_email' : !matches ? 'bad_password' : 'disabled',
        ...(underAttack ? { account_under_attack: true } : {}),
      },
    });
    throw new InvalidCredentialsError();
  }

  // The owner's own typos from this address are forgotten; the address's count over every
  // account is not (signing in to one's own account must not reset a stuffer's allowance), but
  // this attempt was no failure.
  await Promise.all([forgetKey(db, keys.account_ip), forgetEvent(db, attempt.ip)]);
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
