import type { Context, MiddlewareHandler } from 'hono';
import { routePolicy } from '../../contract/routes.js';
import { hasScope, readScopes, type Scope } from '../../contract/scopes.js';
import { verifyAccessToken } from '../auth/access-tokens.js';
import type { IdentityConfig } from '../auth/config.js';
import { edgeAssertionEnforced, edgePrincipalOf } from './edge-assertion.js';
import { bearerChallenge, problem } from './problem.js';
import type { Deps } from './router.js';

/** Who is calling, as the route table sees it: enough to decide, nothing more. */
export type Caller = {
  id: string;
  type: 'user' | 'api_key' | 'anonymous' | 'edge';
  scopes: ReadonlySet<string>;
};

const CALLER_KEY = 'routeGuardCaller';

export type RouteGuardOptions = {
  /** `iss`/`aud` of access tokens, verified here when there is no edge (development). */
  identity: Pick<IdentityConfig, 'issuer' | 'audience'>;
  /**
   * ANONYMOUS_ACCESS, for the no-edge mode only: whether a caller without credentials gets the
   * read scopes. Behind the edge the assertion says what the anonymous caller may do.
   */
  anonymousAccess: boolean;
};

/**
 * The route table (contract/routes.ts) enforced at the origin on every request, before any
 * route runs: the same rules the edge decided from, checked again where the data lives. A route
 * the table does not cover is public when it is a read and refused when it is a write, so a new
 * write route cannot ship unguarded at either end.
 *
 * The caller is the edge's asserted principal when the app trusts only the edge; without the
 * edge (INSECURE_NO_EDGE_ASSERTION, development only) the bearer access token verified here, or
 * the anonymous caller. Nobody passes unchecked in either mode.
 *
 * @example
 *   app.use(routeGuard({ identity, anonymousAccess: true }));
 */
export function routeGuard(options: RouteGuardOptions): MiddlewareHandler {
  return async function routeGuardMiddleware(c, next) {
    const policy = routePolicy(c.req.method, c.req.path);
    if (policy.kind === 'open') return next();
    const caller = await callerFrom(c, options);
    if (caller === 'invalid')
      return challenge(c, 401, 'the access token is invalid', 'invalid_token');
    c.set(CALLER_KEY as never, caller as never);
    if (policy.kind === 'public') return next();
    if (policy.kind === 'internal')
      // As the edge answers it: the route does not exist for anyone but the edge itself.
      return caller?.type === 'edge' && caller.scopes.has(policy.scope)
        ? next()
        : problem(c, 'not_found', `no route for ${c.req.method} ${c.req.path.slice(0, 200)}`);
    const anyOf = policy.kind === 'scope' ? policy.anyOf : [];
    if (caller && anyOf.some((s) => hasScope(caller.scopes, s))) return next();
    if (!caller || caller.type === 'anonymous')
      return challenge(c, 401, 'an access token or API key is required');
    return anyOf.length > 0
      ? challenge(c, 403, `this needs the scope '${anyOf[0]}'`, 'insufficient_scope', anyOf[0])
      : challenge(c, 403, `no scope allows ${c.req.method} on this path`, 'insufficient_scope');
  };
}

/**
 * The caller the guard found; without the guard (a router mounted alone), the edge's asserted
 * principal. Null: nobody could be established (an open path, or no edge and no guard).
 */
export function callerOf(c: Context): Caller | null {
  const found = c.get(CALLER_KEY as never) as Caller | undefined;
  if (found) return found;
  const edge = edgePrincipalOf(c);
  return edge ? { id: edge.id, type: edge.type, scopes: edge.scopes } : null;
}

async function callerFrom(
  c: Context,
  options: RouteGuardOptions,
): Promise<Caller | null | 'invalid'> {
  if (edgeAssertionEnforced(c)) {
    const edge = edgePrincipalOf(c);
    return edge ? { id: edge.id, type: edge.type, scopes: edge.scopes } : null;
  }
  const header = c.req.header('Authorization');
  if (header === undefined)
    return {
      id: 'anonymous',
      type: 'anonymous',
      scopes: new Set<Scope>(options.anonymousAccess ? readScopes : []),
    };
  const token = /^Bearer ([^\s]+)$/i.exec(header.trim())?.[1];
  if (!token) return 'invalid';
  try {
    const verified = await verifyAccessToken((c.get('deps') as Deps).db, options.identity, token);
    return { id: verified.sub, type: 'user', scopes: new Set(verified.scopes) };
  } catch {
    return 'invalid';
  }
}

function challenge(
  c: Context,
  status: 401 | 403,
  detail: string,
  error?: 'invalid_token' | 'insufficient_scope',
  scope?: string,
) {
  c.header('WWW-Authenticate', bearerChallenge(error, scope));
  return problem(c, status === 401 ? 'unauthenticated' : 'forbidden', detail);
}
