import type { MiddlewareHandler } from 'hono';
import type { Scope as IdentityScope } from '../auth/scopes.js';
import { edgeAssertionEnforced, edgePrincipalOf } from './edge-assertion.js';
import { problem } from './problem.js';

/** What a caller may do: the scopes of origin/auth/scopes.ts (roles map to them there). */
export type Scope = IdentityScope;

/**
 * Scopes that also satisfy a requirement, as the edge's route policy has them
 * (edge/middleware/auth/route-policy.ts: `GET /v1/etl` needs `etl:read` or `etl:admin`), so a
 * key the edge lets through is not refused here for the same request.
 */
const impliedBy: Partial<Record<IdentityScope, readonly IdentityScope[]>> = {
  'etl:read': ['etl:admin'],
};

const REALM = 'estate-edge';

/**
 * THE authorization seam: every admin route declares the scope it needs here, and only here
 * (`createRoute({ middleware: [requireScope('etl:run')], ... })`).
 *
 * - **Behind the edge** (the app is built with EDGE_ASSERTION_SECRET): the principal the edge
 *   asserted must hold the scope, else 403 problem+json naming it. The edge checked the same
 *   route already; this is defence in depth, for a route the edge's table forgot.
 * - **No edge** (development, tests of the routes themselves): everything passes. There is no
 *   one to vouch for a caller, and authenticating here would make every ETL test and the local
 *   CLI-driven workflow mint tokens for what the private network already bounds. It is safe only
 *   because production refuses to start without the secret (origin/env.ts), so this branch
 *   never faces the internet.
 *
 * Answers directly (not by throwing), so it works under any router's onError.
 *
 * @example
 *   createRoute({ method: 'post', path: '/runs', middleware: [requireScope('etl:run')] as const, ... })
 */
export function requireScope(scope: Scope): MiddlewareHandler {
  if (!/^[a-z]+:[a-z]+$/.test(scope)) throw new Error(`requireScope: malformed scope '${scope}'`);
  const needed = scope;
  const accepted = [needed, ...(impliedBy[needed] ?? [])];
  return async function requireScopeMiddleware(c, next) {
    if (!edgeAssertionEnforced(c) && !edgePrincipalOf(c)) return next();
    const principal = edgePrincipalOf(c);
    // Enforced but no principal: only on the assertion's open paths (/health), which mount no
    // scoped route; refuse rather than assume.
    if (!principal) {
      c.header('WWW-Authenticate', `Bearer realm="${REALM}"`);
      return problem(c, 401, 'Unauthorized', 'the request carries no principal');
    }
    if (!accepted.some((s) => principal.scopes.has(s))) {
      c.header(
        'WWW-Authenticate',
        `Bearer realm="${REALM}", error="insufficient_scope", scope="${needed}"`,
      );
      return problem(c, 403, 'Forbidden', `this needs the scope '${needed}'`);
    }
    await next();
  };
}
