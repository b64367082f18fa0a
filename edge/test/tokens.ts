import { env } from 'cloudflare:workers';
import { importJWK, type JWTHeaderParameters, type JWTPayload, SignJWT } from 'jose';
import { inject } from 'vitest';
import type { TestJwk } from './recorder-contract';

export const allScopes =
  'listings:read stats:read tiles:read etl:read etl:run etl:admin keys:write keys:admin users:admin audit:read';

const now = () => Math.floor(Date.now() / 1000);

/** The claims the origin puts in an access token (origin/auth/access-tokens.ts). */
export function accessClaims(overrides: JWTPayload = {}): JWTPayload {
  return {
    iss: env.AUTH_ISSUER,
    aud: env.AUTH_AUDIENCE,
    sub: 'user:1',
    scope: allScopes,
    plan: 'pro',
    iat: now(),
    nbf: now(),
    exp: now() + 600,
    jti: crypto.randomUUID(),
    ...overrides,
  };
}

type SignOptions = {
  claims?: JWTPayload;
  /** Which generated key signs (default: the published ES256 one). */
  key?: 'es256' | 'ed25519' | 'impostor';
  header?: Partial<JWTHeaderParameters>;
};

/**
 * An access token signed like the origin signs them, with a key the recording origin publishes
 * (or not: `impostor`). Every field can be overridden for the hostile cases.
 *
 * @example
 *   const token = await signAccessToken({ claims: { scope: 'listings:read' } });
 */
export async function signAccessToken(options: SignOptions = {}): Promise<string> {
  const jwk: TestJwk = inject('signingKeys')[options.key ?? 'es256'];
  const key = await importJWK(jwk, jwk.alg);
  return new SignJWT(accessClaims(options.claims))
    .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid, typ: 'at+jwt', ...options.header })
    .sign(key);
}

export function base64url(value: unknown): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

/**
 * A compact JWS built by hand, for what jose refuses to sign (`crit`, `alg: none`, HS256 with
 * the public key as the secret). `es256` signs with the published key, `hs256` with `secret`.
 */
export async function signRawJws(
  header: Record<string, unknown>,
  claims: JWTPayload,
  signer: { es256: true } | { hs256: Uint8Array } | { none: true },
): Promise<string> {
  const input = `${base64url(header)}.${base64url(claims)}`;
  const data = new TextEncoder().encode(input);
  let signature: ArrayBuffer;
  if ('none' in signer) return `${input}.`;
  if ('hs256' in signer) {
    const key = await crypto.subtle.importKey(
      'raw',
      signer.hs256,
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    signature = await crypto.subtle.sign('HMAC', key, data);
  } else {
    const { kid: _kid, alg: _alg, ...jwk } = inject('signingKeys').es256;
    const key = await crypto.subtle.importKey(
      'jwk',
      jwk as JsonWebKey,
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
    signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, data);
  }
  const bytes = new Uint8Array(signature);
  const encoded = btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
  return `${input}.${encoded}`;
}
