import type { Context, MiddlewareHandler } from 'hono';
import { verifyAccessToken } from '../auth/access-tokens.js';
import type { AuditContext } from '../auth/audit.js';
import type { IdentityConfig } from '../auth/config.js';
import { ForbiddenError, UnauthenticatedError } from '../auth/errors.js';
import { hasScope, isScope, type Scope } from '../auth/scopes.js';
import { type Plan, plans } from '../db/schema/users.js';
import { type EdgePrincipal, edgeAssertionEnforced, edgePrincipalOf } from './edge-assertion.js';
import type { Deps } from './router.js';

/**
 * Who is calling, as the routes see it. `sub` is who acts (`user:1`, or `api_key:3` for an app),
 * and is what the audit log records; `userId` is the user on whose behalf (the key's owner for an
 * API key), which is what ownership checks compare.
 */
export type Principal = {
  sub: string;
  type: 'user' | 'api_key';
  userId: number;
  scopes: Scope[];
  plan: Plan;
};

/**
 * Authenticate the request and, when `scope` is given, require it; handlers then read the
 * caller with principalOf(c).
 *
 * Where the principal comes from:
 * - **The app trusts only the edge** (built with EDGE_ASSERTION_SECRET, docs/edge-auth.md): from
 *   the edge's verified assertion, and from nothing else. The edge has already verified the
 *   token or API key; the bearer is not looked at again, so a request cannot name one caller in
 *   its Authorization header and another in the assertion. Anonymous and the edge's own
 *   principal are not users: 401.
 * - **No edge in this setup** (development, tests of the routes themselves): from a bearer
 *   access JWT verified here against the signing keys in the database, so the routes still
 *   work end to end with real tokens.
 *
 * @example
 *   createRoute({ method: 'get', path: '/', middleware: [authenticate(config, 'audit:read')] as const, ... })
 */
export function authenticate(
  config: Pick<IdentityConfig, 'issuer' | 'audience'>,
  scope?: Scope,
): MiddlewareHandler {
  return async function authenticateMiddleware(c, next) {
    const edge = edgePrincipalOf(c);
    const principal =
      edge || edgeAssertionEnforced(c)
        ? fromEdge(edge)
        : await fromBearer(c, (c.get('deps') as Deps).db, config);
    if (scope && !hasScope(principal.scopes, scope))
      throw new ForbiddenError(`this needs the scope '${scope}'`, { cause: scope });
    c.set('principal' as never, principal as never);
    await next();
  };
}

/** The edge's principal as the routes' Principal; users and API keys only. */
function fromEdge(edge: EdgePrincipal | null): Principal {
  if (!edge || edge.type === 'anonymous' || edge.type === 'edge')
    throw new UnauthenticatedError('an access token or API key is required', 'missing');
  // The edge signed these, so a mismatch is a bug or a version skew between the two, not an
  // attack; still, refuse rather than guess.
  const userId = edge.type === 'user' ? userNumber(edge.id) : userNumber(edge.owner);
  if (userId === null || (edge.type === 'api_key' && !/^api_key:\d+$/.test(edge.id)))
    throw new UnauthenticatedError('the credentials are invalid', `edge principal ${edge.id}`);
  if (!(plans as readonly string[]).includes(edge.plan))
    throw new UnauthenticatedError('the credentials are invalid', `edge plan ${edge.plan}`);
  return {
    sub: edge.id,
    type: edge.type,
    userId,
    // Unknown words are dropped: a principal never gains by them (as parseScopes does).
    scopes: [...edge.scopes].filter(isScope),
    plan: edge.plan as Plan,
  };
}

function userNumber(id: string | null): number | null {
  const n = id ? /^user:(\d{1,15})$/.exec(id)?.[1] : undefined;
  return n ? Number(n) : null;
}

/** Development and route tests only (no edge): the bearer access JWT, verified here. */
async function fromBearer(
  c: Context,
  db: Deps['db'],
  config: Pick<IdentityConfig, 'issuer' | 'audience'>,
): Promise<Principal> {
  const header = c.req.header('Authorization');
  // Only the Authorization header: a token in the query string leaks into logs and is ignored.
  const match = header ? /^Bearer ([^\s]+)$/i.exec(header.trim()) : null;
  if (!match?.[1]) throw new UnauthenticatedError('an access token is required', 'missing');
  const token = await verifyAccessToken(db, config, match[1]);
  const userId = userNumber(token.sub);
  if (userId === null) throw new UnauthenticatedError('the token is invalid', 'sub');
  return { sub: token.sub, type: 'user', userId, scopes: token.scopes, plan: token.plan };
}

/** The caller authenticate() found. Throws when the route forgot authenticate(): a 401, not data. */
export function principalOf(c: Context): Principal {
  const principal = c.get('principal' as never) as Principal | undefined;
  if (!principal) throw new UnauthenticatedError('an access token is required', 'no middleware');
  return principal;
}

/**
 * The client's address. Behind the edge, the one the edge signed into its assertion (`cip`, from
 * Cloudflare's CF-Connecting-IP): a header could be set by anyone who reaches the origin, the
 * assertion only by the edge. Without the edge (dev), the `CF-Connecting-IP`/`X-Real-IP` header,
 * used only for rate-limit keys and audit, never for a decision that grants anything.
 */
export function clientIp(c: Context): string | null {
  if (edgeAssertionEnforced(c)) return edgePrincipalOf(c)?.clientIp ?? null;
  const forwarded = c.req.header('CF-Connecting-IP') ?? c.req.header('X-Real-IP');
  return forwarded && forwarded.length <= 64 ? forwarded : null;
}

/**
 * Who, from where, and the request id: what every audit entry of this request carries. The
 * actor is the authenticated principal only: on the open sign-in routes it stays null so the
 * auth functions fill in the user they identified (an edge's `anonymous` would hide them).
 */
export function auditContextOf(c: Context): AuditContext {
  const principal = c.get('principal' as never) as Principal | undefined;
  // Routes guarded by requireScope alone (the ETL's) have no `principal`, only the edge's; an
  // anonymous caller stays null (the sign-in routes fill in the user themselves).
  const asserted = edgePrincipalOf(c);
  const fromEdge = asserted && asserted.type !== 'anonymous' ? asserted.id : null;
  return {
    actor: principal?.sub ?? fromEdge,
    ip: clientIp(c),
    requestId: (c.get('requestId' as never) as string | undefined) ?? null,
  };
}
