import type { Plan } from '../db/schema/users.js';
import { readScopes, type Scope } from './scopes.js';

/** How the origin issues and checks identities. Built once from the environment (origin/env.ts). */
export type IdentityConfig = {
  /** `iss` of access tokens. */
  issuer: string;
  /** `aud` of access tokens: the API the edge guards. */
  audience: string;
  /** Access token lifetime. Short: a token cannot be revoked, only left to expire. */
  accessTokenTtlMinutes: number;
  refreshTokenTtlDays: number;
  /** Encrypts signing keys at rest (AES-256-GCM). Unset: stored unencrypted (dev only). */
  signingKeyEncryptionSecret: string | undefined;
  /** The secret being rotated out: still opens keys sealed with it (`keys reencrypt` ends that). */
  signingKeyEncryptionPreviousSecret: string | undefined;
  /** Sign-in throttling (docs/identity.md, "Sign-in throttling"): slows, never locks. */
  loginLimits: LoginLimits;
  /** What a caller without credentials gets (enforced at the edge). */
  anonymous: { enabled: boolean; plan: Plan; scopes: readonly Scope[] };
};

/**
 * How sign-in slows a guesser without locking the owner out (OWASP: exponential backoff per
 * client rather than an account lockout anyone can trigger). Failures are remembered for
 * `windowSeconds` after they happen, per key, in PostgreSQL (auth/rate-limit.ts).
 */
export type LoginLimits = {
  /**
   * Wrong passwords for one account *from one client address* (LOGIN_FAILURES_PER_ACCOUNT)
   * before each further attempt from there waits: base, then twice as long after each failure.
   * Other addresses are not affected, so the owner elsewhere still signs in.
   */
  perAccount: number;
  /** The same for one client address over every account (LOGIN_FAILURES_PER_IP): a stuffer. */
  perIp: number;
  /** How long a failure is remembered (LOGIN_FAILURE_WINDOW_SECONDS), and the longest wait. */
  windowSeconds: number;
  /** The first wait once an allowance is spent; doubles with each further failure. */
  backoffBaseSeconds: number;
  /**
   * Failures on one account over all addresses that mark it as under a distributed attack. It
   * still locks nobody out: every attempt on it is answered `accountPauseMs` later, and an
   * address that already failed on it waits after its first failure instead of `perAccount`.
   * A fresh address with the right password gets in.
   */
  accountWide: number;
  accountPauseMs: number;
};

export type IdentityEnv = {
  TOKEN_ISSUER?: string | undefined;
  TOKEN_AUDIENCE?: string | undefined;
  ACCESS_TOKEN_TTL_MINUTES?: number | undefined;
  REFRESH_TOKEN_TTL_DAYS?: number | undefined;
  SIGNING_KEY_ENCRYPTION_SECRET?: string | undefined;
  SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS?: string | undefined;
  LOGIN_FAILURES_PER_ACCOUNT?: number | undefined;
  LOGIN_FAILURES_PER_IP?: number | undefined;
  LOGIN_FAILURE_WINDOW_SECONDS?: number | undefined;
  ANONYMOUS_ACCESS?: boolean | undefined;
};

/** The identity config from parsed environment values; every field has a default. */
export function identityConfigFrom(env: IdentityEnv): IdentityConfig {
  return {
    issuer: env.TOKEN_ISSUER ?? 'estate-edge-origin',
    audience: env.TOKEN_AUDIENCE ?? 'estate-edge-api',
    accessTokenTtlMinutes: env.ACCESS_TOKEN_TTL_MINUTES ?? 10,
    refreshTokenTtlDays: env.REFRESH_TOKEN_TTL_DAYS ?? 30,
    signingKeyEncryptionSecret: env.SIGNING_KEY_ENCRYPTION_SECRET,
    signingKeyEncryptionPreviousSecret: env.SIGNING_KEY_ENCRYPTION_SECRET_PREVIOUS,
    loginLimits: {
      perAccount: env.LOGIN_FAILURES_PER_ACCOUNT ?? 10,
      perIp: env.LOGIN_FAILURES_PER_IP ?? 50,
      windowSeconds: env.LOGIN_FAILURE_WINDOW_SECONDS ?? 900,
      // Code defaults, not environment variables: the three knobs above are the ones operators tune.
      backoffBaseSeconds: 1,
      accountWide: 100,
      accountPauseMs: 1_000,
    },
    anonymous: { enabled: env.ANONYMOUS_ACCESS ?? true, plan: 'anonymous', scopes: readScopes },
  };
}
