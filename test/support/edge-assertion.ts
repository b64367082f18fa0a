import { randomUUID } from 'node:crypto';
import { type JWTPayload, SignJWT } from 'jose';
import {
  bodyDigest,
  EDGE_ASSERTION_AUDIENCE,
  EDGE_ASSERTION_HEADER,
  EDGE_ASSERTION_ISSUER,
  secretKeyId,
} from '../../contract/assertion.js';

/** What an assertion is made for: the request the origin will see. */
export type AssertedRequest = {
  method?: string;
  /** Path and query (`/v1/etl/runs?x=1`) or a full URL. */
  path: string;
  body?: string | Uint8Array | null;
};

export type AssertionOptions = {
  /** Claims added or overriding the defaults (an admin user). */
  claims?: JWTPayload;
  /** Signing key; default: `secret`. Another one forges. */
  key?: Uint8Array;
  /** The JWT header's kid; default: the secret's key id. */
  kid?: string | null;
};

/**
 * Signs an edge assertion as the Worker does (edge/middleware/origin-assertion), for tests that
 * call the origin directly: bound to `request`, an admin user unless `claims` say otherwise.
 *
 * @example
 *   const headers = await assertionHeaders(secret, { method: 'POST', path: '/v1/areas', body });
 */
export async function signAssertion(
  secret: string,
  request: AssertedRequest,
  options: AssertionOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const url = new URL(request.path, 'http://origin.test');
  const body =
    typeof request.body === 'string' ? new TextEncoder().encode(request.body) : request.body;
  const digest = await bodyDigest(body ?? null);
  const claims: JWTPayload = {
    iss: EDGE_ASSERTION_ISSUER,
    aud: EDGE_ASSERTION_AUDIENCE,
    iat: now,
    exp: now + 30,
    jti: randomUUID(),
    sub: 'user:1',
    principal_type: 'user',
    scope:
      'listings:read stats:read tiles:read etl:read etl:run etl:admin keys:write keys:admin users:admin audit:read ops:read',
    plan: 'admin',
    rid: `test-${randomUUID()}`,
    htm: (request.method ?? 'GET').toUpperCase(),
    htu: `${url.pathname}${url.search}`,
    ...(digest ? { bdy: digest } : {}),
    ...options.claims,
  };
  const kid = options.kid === undefined ? await secretKeyId(secret) : options.kid;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...(kid ? { kid } : {}) })
    .sign(options.key ?? new TextEncoder().encode(secret));
}

/** `{ 'X-Edge-Assertion': … }` for `request`. */
export async function assertionHeaders(
  secret: string,
  request: AssertedRequest,
  options: AssertionOptions = {},
): Promise<Record<string, string>> {
  return { [EDGE_ASSERTION_HEADER]: await signAssertion(secret, request, options) };
}
