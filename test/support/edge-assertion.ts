import { randomUUID } from 'node:crypto';
import { type JWTPayload, SignJWT } from 'jose';
import {
  bodyDigest,
  EDGE_ASSERTION_AUDIENCE,
  EDGE_ASSERTION_HEADER,
  EDGE_ASSERTION_ISSUER,
  requestTarget,
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
    htu: await requestTarget(url),
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

/** A secret for tests that build the origin app themselves. */
export const TEST_EDGE_SECRET = 'test-edge-assertion-secret-0123456789abcdef';

type RequestingApp = {
  request: (input: string | Request | URL, init?: RequestInit) => Response | Promise<Response>;
};

/**
 * The app as the Worker reaches it: every `app.request(path, init)` carries an assertion bound to
 * that request (an admin user unless `options.claims` say otherwise). For route tests whose subject
 * is not authorization; the app must be built with `edgeAssertionSecret: secret`.
 */
export function throughEdge<A extends RequestingApp>(
  app: A,
  secret: string = TEST_EDGE_SECRET,
  options: AssertionOptions = {},
): A {
  const request = async (input: string | Request | URL, init: RequestInit = {}) => {
    const path = input instanceof Request ? input.url : input.toString();
    const body =
      typeof init.body === 'string' || init.body instanceof Uint8Array
        ? init.body
        : init.body instanceof ArrayBuffer
          ? new Uint8Array(init.body)
          : null;
    const headers = new Headers(init.headers);
    const signed = await assertionHeaders(
      secret,
      { method: init.method ?? 'GET', path, body },
      options,
    );
    for (const [name, value] of Object.entries(signed)) headers.set(name, value);
    return app.request(input, { ...init, headers });
  };
  return new Proxy(app, {
    get: (target, property, receiver) =>
      property === 'request' ? request : Reflect.get(target, property, receiver),
  });
}
