import { describe, expect, it } from 'vitest';
import { impliedBy } from '../../contract/scopes';
import { anonymousReadScopes } from '../middleware/auth/principal';
import { routePolicy, routeRules } from '../middleware/auth/route-policy';
import { assertionClaims, expectRefused, send } from './edge-client';
import { allScopes, signAccessToken } from './tokens';

export type ProtectedRoute = { method: string; path: string; anyOf: readonly string[] };

/**
 * The same security checks for one protected route (Unkey's runCommonRouteTests): no
 * credentials, a bad signature, an expired token, a token without the scope, and, to show the
 * route is reachable at all, a token with exactly the scope it needs.
 */
export function runCommonRouteTests(route: ProtectedRoute): void {
  const { method, path, anyOf } = route;
  const anonymousMay = anyOf.some((s) => (anonymousReadScopes as readonly string[]).includes(s));
  const init = (authorization?: string): RequestInit => ({
    method,
    headers: authorization ? { authorization } : {},
  });

  describe(`${method} ${path} (needs ${anyOf.join(' or ')})`, () => {
    if (anonymousMay) {
      it('lets a caller without credentials through as anonymous', async () => {
        const { res, recorded } = await send(path, init());
        expect(res.status).toBe(200);
        expect(await assertionClaims(recorded[0])).toMatchObject({ sub: 'anonymous' });
      });
    } else {
      it('refuses a caller without credentials with 401', async () => {
        await expectRefused(await send(path, init()), 401);
      });
    }

    it('refuses a token with a bad signature with 401', async () => {
      const token = await signAccessToken({ key: 'impostor' });
      await expectRefused(await send(path, init(`Bearer ${token}`)), 401, /invalid_token/);
    });

    it('refuses an expired token with 401', async () => {
      const past = Math.floor(Date.now() / 1000) - 3600;
      const token = await signAccessToken({
        claims: { iat: past - 600, nbf: past - 600, exp: past },
      });
      await expectRefused(await send(path, init(`Bearer ${token}`)), 401, /invalid_token/);
    });

    it('refuses a token without the scope with 403', async () => {
      // Every scope but the ones that open the route, and those that imply them (keys:admin ⊇ keys:write).
      const opening = new Set(
        anyOf.flatMap((s) => [
          s,
          ...((impliedBy as Partial<Record<string, readonly string[]>>)[s] ?? []),
        ]),
      );
      const others = allScopes.split(' ').filter((s) => !opening.has(s));
      const token = await signAccessToken({ claims: { scope: others.join(' ') } });
      await expectRefused(await send(path, init(`Bearer ${token}`)), 403, /insufficient_scope/);
    });

    it('forwards a token with just that scope', async () => {
      const token = await signAccessToken({ claims: { scope: anyOf[0] } });
      const { res, recorded } = await send(path, init(`Bearer ${token}`));
      expect(res.status).toBe(200);
      expect(await assertionClaims(recorded[0])).toMatchObject({ scope: anyOf[0] });
    });
  });
}

/**
 * Every (method, path) the route table guards with a scope, with the scopes routePolicy really
 * demands there (an earlier rule may take precedence): new rules are covered without a test edit.
 */
export function protectedRoutes(): ProtectedRoute[] {
  const routes = new Map<string, ProtectedRoute>();
  for (const rule of routeRules) {
    if (rule.policy.kind !== 'scope') continue;
    const methods = rule.methods === 'any' ? ['GET', 'POST', 'DELETE'] : rule.methods;
    for (const method of methods) {
      if (method === 'HEAD') continue;
      const policy = routePolicy(method, rule.prefix);
      if (policy.kind !== 'scope') continue;
      routes.set(`${method} ${rule.prefix}`, { method, path: rule.prefix, anyOf: policy.anyOf });
    }
  }
  return [...routes.values()];
}
