/**
 * The edge → origin assertion (docs/edge-auth.md): what the Worker signs and the origin checks,
 * written once. The Worker verifies the caller's token or API key, then signs this short-lived
 * HS256 JWT with EDGE_ASSERTION_SECRET and sends it as `X-Edge-Assertion`; the origin trusts
 * nothing else about who is calling.
 *
 * The assertion is **bound to its request** (the idea of DPoP's `htm`/`htu`, RFC 9449): the method,
 * the path and query, and a SHA-256 of the body when there is one. A captured assertion therefore
 * authorises only the exact request it was made for; the origin records the `jti` of every write
 * in PostgreSQL (shared by its replicas, kept across restarts), so even that request runs once.
 * Plain data and Web Crypto only: the Worker and Node both import this file as it is.
 */
export const EDGE_ASSERTION_HEADER = 'X-Edge-Assertion';
export const EDGE_ASSERTION_ISSUER = 'estate-edge-worker';
export const EDGE_ASSERTION_AUDIENCE = 'estate-edge-origin';
/**
 * Lifetime. The origin reads the assertion when the request's headers arrive, a few hundred ms
 * after signing over the tunnel; 30 s covers a slow tunnel and clock skew (tolerated: 5 s) and is
 * the longest a captured read assertion could be replayed for the same request.
 */
export const EDGE_ASSERTION_TTL_SECONDS = 30;
/** Clock difference tolerated between the Worker and the origin host. */
export const EDGE_ASSERTION_CLOCK_TOLERANCE_SECONDS = 5;

/** `edge` is the Worker speaking for itself (API-key lookups, its Cron Triggers). */
export const principalTypes = ['user', 'api_key', 'anonymous', 'edge'] as const;
export type PrincipalType = (typeof principalTypes)[number];

/** The claims beyond the registered ones (iss, aud, sub, iat, exp, jti). */
export type EdgeAssertionClaims = {
  principal_type: PrincipalType;
  /** Space-separated scopes. */
  scope: string;
  plan: string;
  /** The edge's request id, the X-Request-Id it sends. */
  rid: string;
  /** CF-Connecting-IP as the edge saw it; absent in local development. */
  cip?: string;
  /** For an API key: the user who owns it (`user:1`). */
  owner?: string;
  /** The request's method, upper case. */
  htm: string;
  /** The request's path and query as sent to the origin (`/v1/etl/runs?x=1`): see requestTarget. */
  htu: string;
  /** base64url SHA-256 of the body; absent when the request has no body (or an empty one). */
  bdy?: string;
};

/** Methods whose assertion the origin records, so a replay of the same write is refused. */
export const unsafeMethods: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Targets longer than this are bound by their SHA-256, so the assertion stays small. */
export const MAX_LITERAL_TARGET = 512;

/**
 * The `htu` of a URL: path and query as the origin's router will see them; for a longer target,
 * `sha256:` and the base64url SHA-256 of it, so a 7,000-character query does not make the header
 * that carries the assertion too large for the origin (Node refuses headers over 16 KiB).
 */
export async function requestTarget(url: URL | string): Promise<string> {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  const target = `${parsed.pathname}${parsed.search}`;
  if (target.length <= MAX_LITERAL_TARGET) return target;
  return `sha256:${await sha256Base64Url(new TextEncoder().encode(target))}`;
}

/** base64url SHA-256 of a body, or undefined for no body or an empty one (`bdy` absent). */
export async function bodyDigest(
  body: ArrayBuffer | Uint8Array | null | undefined,
): Promise<string | undefined> {
  if (!body || body.byteLength === 0) return undefined;
  return sha256Base64Url(body instanceof Uint8Array ? body : new Uint8Array(body));
}

async function sha256Base64Url(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  let text = '';
  for (const byte of digest) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The key id of a secret: the first 8 bytes of its SHA-256, hex. Sent as the JWT's `kid`, so an
 * origin holding two secrets during a rotation (EDGE_ASSERTION_SECRET and
 * EDGE_ASSERTION_SECRET_PREVIOUS) picks the right one without trying both. Says nothing usable
 * about the secret (64 bits of a hash of ≥ 32 random bytes).
 */
export async function secretKeyId(secret: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-256', new TextEncoder().encode(secret)),
  );
  return [...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Why a present assertion does not fit the request it came with; null when it fits. */
export function bindingMismatch(
  claims: Pick<EdgeAssertionClaims, 'htm' | 'htu' | 'bdy'>,
  request: { method: string; target: string; digest: string | undefined },
): string | null {
  if (claims.htm !== request.method) return 'the edge assertion was made for another method';
  if (claims.htu !== request.target) return 'the edge assertion was made for another path or query';
  if ((claims.bdy ?? undefined) !== request.digest)
    return 'the edge assertion was made for another body';
  return null;
}
