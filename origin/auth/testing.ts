import { SignJWT } from 'jose';
import { expect, it } from 'vitest';
import type { Database } from '../db/database.js';
import type { Plan } from '../db/schema/users.js';
import { ACCESS_TOKEN_TYPE } from './access-tokens.js';
import type { IdentityConfig } from './config.js';
import { identityConfigFrom } from './config.js';
import { impliedBy, type Scope, scopes } from './scopes.js';
import { activeSigningKey, SIGNING_ALG } from './signing-keys.js';

/** Test support (not a test file): the identity config tests use, and a token minter. */
export const testIdentityConfig: IdentityConfig = identityConfigFrom({
  LOGIN_FAILURES_PER_ACCOUNT: 3,
  LOGIN_FAILURES_PER_IP: 1000,
});

export type MintOptions = {
  sub?: string;
  scopes?: readonly Scope[];
  plan?: Plan;
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  notBefore?: number;
  issuer?: string;
  audience?: string;
};

/** An access token signed with the database's active key, with any claims a test needs. */
export async function mintAccessToken(
  db: Database,
  config: IdentityConfig,
  options: MintOptions = {},
): Promise<string> {
  const { kid, privateKey } = await activeSigningKey(db, {
    encryptionSecret: config.signingKeyEncryptionSecret,
    previousEncryptionSecret: config.signingKeyEncryptionPreviousSecret,
    accessTokenTtlMinutes: config.accessTokenTtlMinutes,
  });
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    scope: (options.scopes ?? scopes).join(' '),
    plan: options.plan ?? 'standard',
  })
    .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: ACCESS_TOKEN_TYPE })
    .setIssuer(options.issuer ?? config.issuer)
    .setAudience(options.audience ?? config.audience)
    .setSubject(options.sub ?? 'user:1')
    .setIssuedAt(now - 5)
    .setNotBefore(now + (options.notBefore ?? -5))
    .setExpirationTime(now + (options.expiresIn ?? 300))
    .sign(privateKey);
}

export type ProtectedRoute = {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  /** The scope the route needs: a token with every other scope gets 403. */
  scope: Scope;
  body?: unknown;
};

type RouteTestContext = {
  app: { request: (path: string, init?: RequestInit) => Response | Promise<Response> };
  db: Database;
  config: IdentityConfig;
  /** `sub` of a real user, so a valid token's principal exists. */
  sub: string;
};

/**
 * The security checks every protected route gets (Unkey's runCommonRouteTests): no credentials,
 * a bad signature, an expired token, a token in the query string → 401 with WWW-Authenticate;
 * the wrong scope → 403. Call inside a describe; `context` is read when the tests run.
 *
 * @example
 *   runCommonRouteTests(() => ({ app, db: t.db, config, sub }), { method: 'GET', path: '/v1/audit', scope: 'audit:read' });
 */
export function runCommonRouteTests(context: () => RouteTestContext, route: ProtectedRoute) {
  const label = `${route.method} ${route.path}`;
  const send = (token?: string, path = route.path) =>
    context().app.request(path, {
      method: route.method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(route.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(route.body !== undefined ? { body: JSON.stringify(route.body) } : {}),
    });
  const expect401 = async (res: Response) => {
    expect(res.status).toBe(401);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm="estate-edge"/);
  };

  it(`${label} refuses a request without credentials (401, WWW-Authenticate)`, async () => {
    const res = await send();
    await expect401(res);
    expect(res.headers.get('WWW-Authenticate')).not.toMatch(/error=/);
  });

  it(`${label} refuses a token with a bad signature (401)`, async () => {
    const { db, config, sub } = context();
    const token = await mintAccessToken(db, config, { sub });
    const [h, p, s] = token.split('.') as [string, string, string];
    const forged = `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`;
    const res = await send(forged);
    await expect401(res);
    expect(res.headers.get('WWW-Authenticate')).toMatch(/error="invalid_token"/);
  });

  it(`${label} refuses an expired token (401)`, async () => {
    const { db, config, sub } = context();
    await expect401(await send(await mintAccessToken(db, config, { sub, expiresIn: -120 })));
  });

  it(`${label} ignores a token in the query string (401)`, async () => {
    const { db, config, sub } = context();
    const token = await mintAccessToken(db, config, { sub });
    const sep = route.path.includes('?') ? '&' : '?';
    await expect401(await send(undefined, `${route.path}${sep}access_token=${token}`));
  });

  it(`${label} refuses a token without the scope ${route.scope} (403)`, async () => {
    const { db, config, sub } = context();
    // Nor one that implies it (keys:admin covers keys:write, contract/scopes.ts impliedBy).
    const others = scopes.filter(
      (s) => s !== route.scope && !(impliedBy[route.scope] ?? []).includes(s),
    );
    const res = await send(await mintAccessToken(db, config, { sub, scopes: others }));
    expect(res.status).toBe(403);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    expect(((await res.json()) as { detail: string }).detail).toContain(route.scope);
  });
}
