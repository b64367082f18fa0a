import { randomUUID } from 'node:crypto';
import { errors, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import type { Database } from '../db/database.js';
import type { Plan } from '../db/schema/users.js';
import { plans } from '../db/schema/users.js';
import type { IdentityConfig } from './config.js';
import { UnauthenticatedError } from './errors.js';
import { formatScopes, parseScopes, type Scope } from './scopes.js';
import { activeSigningKey, SIGNING_ALG, verificationKey } from './signing-keys.js';

/** RFC 9068's type for access tokens: a JWT minted for another purpose is refused by `typ`. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

/**
 * A real ES256 access token is about 600 characters. Anything far longer is refused before it
 * is parsed, so a 100 KB token costs nothing.
 */
export const MAX_TOKEN_LENGTH = 4096;

/** Clock difference tolerated between the origin that signs and whoever verifies. */
const CLOCK_TOLERANCE_SECONDS = 30;

export type AccessTokenSubject = { sub: string; scopes: readonly Scope[]; plan: Plan };

export type IssuedAccessToken = { token: string; expiresIn: number; kid: string };

/** Sign an access token with the active key (made on first use on a fresh install). */
export async function issueAccessToken(
  db: Database,
  config: IdentityConfig,
  subject: AccessTokenSubject,
): Promise<IssuedAccessToken> {
  const { kid, privateKey } = await activeSigningKey(db, {
    encryptionSecret: config.signingKeyEncryptionSecret,
    previousEncryptionSecret: config.signingKeyEncryptionPreviousSecret,
    accessTokenTtlMinutes: config.accessTokenTtlMinutes,
  });
  const expiresIn = config.accessTokenTtlMinutes * 60;
  const token = await new SignJWT({ scope: formatScopes(subject.scopes), plan: subject.plan })
    .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: ACCESS_TOKEN_TYPE })
    .setIssuer(config.issuer)
    .setAudience(config.audience)
    .setSubject(subject.sub)
    .setIssuedAt()
    .setNotBefore('0s')
    .setExpirationTime(`${expiresIn}s`)
    .setJti(randomUUID())
    .sign(privateKey);
  return { token, expiresIn, kid };
}

export type VerifiedAccessToken = {
  sub: string;
  scopes: Scope[];
  plan: Plan;
  kid: string;
  expiresAt: Date;
  jti: string | undefined;
};

/**
 * Verify an access token against the database's signing keys. Everything but a well-formed,
 * unexpired ES256 `at+jwt` from one of our verifying keys, for our issuer and audience, is an
 * UnauthenticatedError: `alg: none` and HS256 (`algorithms`), unknown or retired `kid` (the key
 * resolver), unknown `crit` extensions (jose refuses them), tampering (the signature).
 */
export async function verifyAccessToken(
  db: Database,
  config: Pick<IdentityConfig, 'issuer' | 'audience'>,
  token: string,
): Promise<VerifiedAccessToken> {
  if (token.length > MAX_TOKEN_LENGTH) throw new UnauthenticatedError('the token is too long');
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token))
    throw new UnauthenticatedError('the token is not a compact JWS');
  let kid = '';
  let payload: JWTPayload;
  try {
    const verified = await jwtVerify(
      token,
      async (header) => {
        if (header.alg !== SIGNING_ALG) throw new errors.JOSEAlgNotAllowed('alg not allowed');
        if (typeof header.kid !== 'string' || header.kid.length > 100)
          throw new errors.JWKSNoMatchingKey('no kid');
        const key = await verificationKey(db, header.kid);
        if (!key) throw new errors.JWKSNoMatchingKey('unknown kid');
        kid = header.kid;
        return key;
      },
      {
        algorithms: [SIGNING_ALG],
        issuer: config.issuer,
        audience: config.audience,
        typ: ACCESS_TOKEN_TYPE,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'iat', 'sub', 'scope', 'plan'],
      },
    );
    payload = verified.payload;
  } catch (error) {
    // A database failure is not the caller's fault: let it through as a 500.
    if (!(error instanceof errors.JOSEError)) throw error;
    throw new UnauthenticatedError('the token is invalid', error.code);
  }
  const { sub, scope, plan, exp, jti } = payload as JWTPayload & {
    scope?: unknown;
    plan?: unknown;
  };
  if (typeof sub !== 'string' || typeof scope !== 'string' || typeof exp !== 'number')
    throw new UnauthenticatedError('the token is invalid', 'claims');
  if (typeof plan !== 'string' || !(plans as readonly string[]).includes(plan))
    throw new UnauthenticatedError('the token is invalid', 'plan');
  return {
    sub,
    scopes: parseScopes(scope),
    plan: plan as Plan,
    kid,
    expiresAt: new Date(exp * 1000),
    jti: typeof jti === 'string' ? jti : undefined,
  };
}
