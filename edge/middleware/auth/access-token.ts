import { createRemoteJWKSet, customFetch, errors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { type OriginCredentialsEnv, originCredentials } from '../origin-assertion';
import { originTarget } from '../origin-proxy';
import { edgePrincipal, type Principal } from './principal';

/** A real ES256 access token is ~600 characters; longer ones are refused before parsing. */
export const MAX_TOKEN_LENGTH = 4096;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** RFC 9068 access tokens (what the origin signs): a JWT minted for another use fails on `typ`. */
const ACCESS_TOKEN_TYPE = 'at+jwt';

/** Same tolerance as the origin's own verification (origin/auth/access-tokens.ts). */
const CLOCK_TOLERANCE_SECONDS = 30;

export type AccessTokenEnv = OriginCredentialsEnv & {
  ORIGIN_URL: string;
  AUTH_ISSUER: string;
  AUTH_AUDIENCE: string;
};

/**
 * One key set per origin, at module scope so it lives as long as the isolate: jose caches the
 * keys (10 min), refetches when a token names an unknown `kid` (key rotation), and never more
 * than once per 30 s cooldown, so a flood of made-up kids costs the origin one fetch per 30 s.
 */
const keySets = new Map<string, JWTVerifyGetKey>();

function keySetFor(env: AccessTokenEnv): JWTVerifyGetKey {
  let keySet = keySets.get(env.ORIGIN_URL);
  if (!keySet) {
    const url = originTarget(
      env.ORIGIN_URL,
      new URL('/.well-known/jwks.json', 'https://edge.invalid'),
    );
    keySet = createRemoteJWKSet(new URL(url), {
      timeoutDuration: 5_000,
      cooldownDuration: 30_000,
      cacheMaxAge: 600_000,
      // The origin trusts only the edge, so even the public keys are fetched with an assertion
      // (the edge's own, no scope needed: JWKS is public).
      [customFetch]: async (input, init) => {
        const requestId = `edge-jwks-${crypto.randomUUID()}`;
        const headers = new Headers(init.headers);
        headers.set('X-Request-Id', requestId);
        const credentials = await originCredentials(
          env,
          {
            principal: edgePrincipal('jwks:read'),
            requestId,
            clientIp: null,
          },
          { method: init.method ?? 'GET', url: String(input) },
        );
        for (const [name, value] of Object.entries(credentials)) headers.set(name, value);
        return fetch(input, { ...init, headers });
      },
    });
    keySets.set(env.ORIGIN_URL, keySet);
  }
  return keySet;
}

export type TokenVerdict =
  | { status: 'valid'; principal: Principal }
  | { status: 'invalid'; reason: string }
  /** The key set could not be fetched: not the caller's fault. */
  | { status: 'unavailable' };

/**
 * Verify an access token against the origin's JWKS: ES256 or EdDSA only (so `none`, and HS256
 * with the public key as the "secret", fail on `algorithms`), our issuer and audience, `at+jwt`,
 * unexpired and not before its `nbf`; unknown `crit` headers are refused by jose itself.
 *
 * @example
 *   const verdict = await verifyAccessToken(c.env, token);
 */
export async function verifyAccessToken(env: AccessTokenEnv, token: string): Promise<TokenVerdict> {
  if (token.length > MAX_TOKEN_LENGTH)
    return { status: 'invalid', reason: 'the token is too long' };
  if (!COMPACT_JWS.test(token)) return { status: 'invalid', reason: 'the token is not a JWT' };
  try {
    const { payload } = await jwtVerify(token, keySetFor(env), {
      algorithms: ['ES256', 'EdDSA'],
      issuer: env.AUTH_ISSUER,
      audience: env.AUTH_AUDIENCE,
      typ: ACCESS_TOKEN_TYPE,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'sub', 'scope', 'plan'],
    });
    const { sub, scope, plan } = payload as Record<string, unknown>;
    if (
      typeof sub !== 'string' ||
      sub.length > 200 ||
      typeof scope !== 'string' ||
      typeof plan !== 'string'
    )
      return { status: 'invalid', reason: 'the token has malformed claims' };
    return {
      status: 'valid',
      principal: { id: sub, type: 'user', scopes: scope.split(' ').filter(Boolean), plan },
    };
  } catch (error) {
    return verdictFor(error);
  }
}

function verdictFor(error: unknown): TokenVerdict {
  if (error instanceof errors.JWTExpired)
    return { status: 'invalid', reason: 'the token has expired' };
  if (error instanceof errors.JWTClaimValidationFailed) {
    const reason =
      error.claim === 'nbf' ? 'the token is not valid yet' : `the token's ${error.claim} is wrong`;
    return { status: 'invalid', reason };
  }
  if (error instanceof errors.JWKSNoMatchingKey)
    return { status: 'invalid', reason: 'the token was signed by an unknown key' };
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return { status: 'invalid', reason: 'the token signature does not verify' };
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported)
    return { status: 'invalid', reason: 'the token algorithm is not accepted' };
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid)
    return { status: 'invalid', reason: 'the token is malformed' };
  // JWKSTimeout, a non-200 JWKS answer, an invalid key set, a network error: the origin's
  // fault (or the tunnel's), so 503 rather than blaming the caller's token.
  console.error(
    JSON.stringify({
      level: 'error',
      msg: 'jwks unavailable',
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    }),
  );
  return { status: 'unavailable' };
}
