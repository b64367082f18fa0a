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
  /** Failed logins allowed per window, per account and per client IP. */
  loginLimits: { perAccount: number; perIp: number; windowSeconds: number };
  /** What a caller without credentials gets (enforced at the edge). */
  anonymous: { enabled: boolean; plan: Plan; scopes: readonly Scope[] };
};

export type IdentityEnv = {
  TOKEN_ISSUER?: string | undefined;
  TOKEN_AUDIENCE?: string | undefined;
  ACCESS_TOKEN_TTL_MINUTES?: number | undefined;
  REFRESH_TOKEN_TTL_DAYS?: number | undefined;
  SIGNING_KEY_ENCRYPTION_SECRET?: string | undefined;
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
    loginLimits: {
      perAccount: env.LOGIN_FAILURES_PER_ACCOUNT ?? 10,
      perIp: env.LOGIN_FAILURES_PER_IP ?? 50,
      windowSeconds: env.LOGIN_FAILURE_WINDOW_SECONDS ?? 900,
    },
    anonymous: { enabled: env.ANONYMOUS_ACCESS ?? true, plan: 'anonymous', scopes: readScopes },
  };
}
