import type { MiddlewareHandler } from 'hono';
import { hasScope } from '../../contract/scopes.js';
import type { Scope as IdentityScope } from '../auth/scopes.js';
import { bearerChallenge, problem } from './problem.js';
import { callerOf } from './route-guard.js';

/** What a caller may do: the scopes of origin/auth/scopes.ts (roles map to them there). */
export type Scope = IdentityScope;

/**
 * A route's own statement of the scope it needs, checked against the caller the route guard
 * established (http/route-guard.ts: the edge's asserted principal, or without the edge the
 * bearer token verified here). The guard has already enforced contract/routes.ts for the path;
 * this repeats the rule where the handler is declared, so a route moved under another prefix
 * keeps its requirement. Nobody passes unchecked: no caller is a 401.
 *
 * Answers directly (not by throwing), so it works under any router's onError.
 *
 * @example
 *   createRoute({ method: 'post', path: '/runs', middleware: [requireScope('etl:run')] as const, ... })
 */
export function requireScope(scope: Scope): MiddlewareHandler {
  if (!/^[a-z]+:[a-z]+$/.test(scope)) throw new Error(`requireScope: malformed scope '${scope}'`);
  const needed = scope;
  return async function requireScopeMiddleware(c, next) {
    const caller = callerOf(c);
    if (!caller || (caller.type === 'anonymous' && !hasScope(caller.scopes, needed))) {
      c.header('WWW-Authenticate', bearerChallenge());
      return problem(c, 'unauthenticated', 'an access token or API key is required');
    }
    if (!hasScope(caller.scopes, needed)) {
      c.header('WWW-Authenticate', bearerChallenge('insufficient_scope', needed));
      return problem(c, 'forbidden', `this needs the scope '${needed}'`);
    }
    await next();
  };
}
