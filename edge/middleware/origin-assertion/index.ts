import { SignJWT } from 'jose';
import {
  bodyDigest,
  EDGE_ASSERTION_AUDIENCE,
  EDGE_ASSERTION_HEADER,
  EDGE_ASSERTION_ISSUER,
  EDGE_ASSERTION_TTL_SECONDS,
  type EdgeAssertionClaims,
  requestTarget,
  secretKeyId,
} from '../../../contract/assertion';
import type { Principal } from '../auth/principal';

/**
 * The edge → origin assertion (contract/assertion.ts, docs/edge-auth.md; verified by
 * origin/http/edge-assertion.ts). HS256 with a secret only the Worker and the origin hold: both
 * ends are ours, so a shared secret is enough, and HMAC costs microseconds per request where an
 * asymmetric signature would cost a key import and milliseconds. Bound to the one request it is
 * sent with (method, path and query, body digest), so a captured one opens nothing else.
 */
export {
  EDGE_ASSERTION_AUDIENCE,
  EDGE_ASSERTION_HEADER,
  EDGE_ASSERTION_ISSUER,
  EDGE_ASSERTION_TTL_SECONDS,
};

/** The request an assertion is for: what the origin will receive. */
export type OriginRequest = {
  method: string;
  /** The full URL sent to the origin (its path and query are bound). */
  url: string | URL;
  /** The body exactly as sent; none for GET/HEAD. */
  body?: ArrayBuffer | Uint8Array | string | null;
};

/** Headers only the edge may set on the way to the origin: a client's copies are dropped. */
export const edgeOnlyRequestHeaders = [
  'x-edge-assertion',
  'cf-access-client-id',
  'cf-access-client-secret',
  'cf-access-jwt-assertion',
] as const;

/** What the edge needs to speak to the origin: the shared secret and, optionally, Access. */
export type OriginCredentialsEnv = {
  EDGE_ASSERTION_SECRET?: string;
  CF_ACCESS_CLIENT_ID?: string;
  CF_ACCESS_CLIENT_SECRET?: string;
};

export type AssertionSubject = {
  principal: Principal;
  requestId: string;
  /** CF-Connecting-IP; absent in local development. */
  clientIp: string | null;
};

const encoder = new TextEncoder();

/** The secret as bytes, refusing a missing or short one (a misconfigured Worker fails closed). */
function secretBytes(secret: string | undefined): Uint8Array {
  const bytes = encoder.encode(secret ?? '');
  if (bytes.length < 32)
    throw new Error(
      'EDGE_ASSERTION_SECRET is missing or shorter than 32 bytes: set it with `wrangler secret put EDGE_ASSERTION_SECRET`',
    );
  return bytes;
}

/**
 * Sign the assertion for one origin request.
 *
 * @example
 *   const jwt = await signEdgeAssertion(env.EDGE_ASSERTION_SECRET, { principal, requestId, clientIp }, { method: 'GET', url });
 */
export async function signEdgeAssertion(
  secret: string | undefined,
  subject: AssertionSubject,
  request: OriginRequest,
): Promise<string> {
  const { principal } = subject;
  const iat = Math.floor(Date.now() / 1000);
  const { key, kid } = await signingKey(secret);
  const body = typeof request.body === 'string' ? encoder.encode(request.body) : request.body;
  const digest = await bodyDigest(body);
  const claims: EdgeAssertionClaims = {
    principal_type: principal.type,
    scope: principal.scopes.join(' '),
    plan: principal.plan,
    rid: subject.requestId,
    ...(subject.clientIp ? { cip: subject.clientIp } : {}),
    ...(principal.owner ? { owner: principal.owner } : {}),
    htm: request.method.toUpperCase(),
    htu: await requestTarget(request.url),
    ...(digest ? { bdy: digest } : {}),
  };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid })
    .setIssuer(EDGE_ASSERTION_ISSUER)
    .setAudience(EDGE_ASSERTION_AUDIENCE)
    .setSubject(principal.id)
    .setIssuedAt(iat)
    .setExpirationTime(iat + EDGE_ASSERTION_TTL_SECONDS)
    .setJti(crypto.randomUUID())
    .sign(key);
}

// The HMAC key imported once per secret and isolate: jose would otherwise import the raw bytes
// on every request (bench:edge measured it in a forwarded request's CPU). The key is kept, not
// the import's promise: a promise from one request must not be awaited by another in workerd.
let cachedKey: { secret: string; key: CryptoKey; kid: string } | undefined;

async function signingKey(secret: string | undefined): Promise<{ key: CryptoKey; kid: string }> {
  const bytes = secretBytes(secret);
  const cached = cachedKey;
  if (cached && cached.secret === secret) return cached;
  const key = await crypto.subtle.importKey(
    'raw',
    bytes,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  cachedKey = { secret: secret as string, key, kid: await secretKeyId(secret as string) };
  return cachedKey;
}

/**
 * Every header the edge adds for the origin: the assertion and, when the Cloudflare Access
 * service token is configured, its id and secret (tunnel/README.md).
 *
 * @example
 *   const headers = await originCredentials(c.env, { principal, requestId, clientIp }, { method: 'GET', url });
 */
export async function originCredentials(
  env: OriginCredentialsEnv,
  subject: AssertionSubject,
  request: OriginRequest,
): Promise<Record<string, string>> {
  const headers: Record<string, string> = {
    [EDGE_ASSERTION_HEADER]: await signEdgeAssertion(env.EDGE_ASSERTION_SECRET, subject, request),
  };
  if (env.CF_ACCESS_CLIENT_ID && env.CF_ACCESS_CLIENT_SECRET) {
    headers['CF-Access-Client-Id'] = env.CF_ACCESS_CLIENT_ID;
    headers['CF-Access-Client-Secret'] = env.CF_ACCESS_CLIENT_SECRET;
  }
  return headers;
}
