/**
 * Which scope each route needs, checked at the edge before anything reaches the origin (the
 * origin checks again: defence in depth). The first matching rule wins, so specific prefixes
 * come before general ones. A prefix matches itself and everything under it, never a sibling
 * (`/v1/etl` does not match `/v1/etlx`).
 */
export type RoutePolicy =
  /** No credentials needed: how a caller gets them (login), or public material (JWKS). */
  | { kind: 'open' }
  /** Never forwarded for a client: answered 404 as if it did not exist. */
  | { kind: 'internal' }
  /** Any one of these scopes. */
  | { kind: 'scope'; anyOf: readonly string[] }
  /** No rule covers this write: refused, so a new write route cannot ship unguarded. */
  | { kind: 'deny' }
  /** Reads no rule covers (the viewer, /docs, /openapi.json, 404s): any principal. */
  | { kind: 'any' };

type RouteRule = { methods: readonly string[] | 'any'; prefix: string; policy: RoutePolicy };

const read = ['GET', 'HEAD'] as const;
const open: RoutePolicy = { kind: 'open' };
const internal: RoutePolicy = { kind: 'internal' };
const scope = (...anyOf: string[]): RoutePolicy => ({ kind: 'scope', anyOf });

export const routeRules: readonly RouteRule[] = [
  // The edge's own API-key lookup: a client must not use it as a key oracle.
  { methods: 'any', prefix: '/v1/auth/introspect-key', policy: internal },
  // Prometheus is scraped on the private network; its labels are nobody else's business.
  { methods: 'any', prefix: '/metrics', policy: internal },
  // Login, refresh, logout: the origin checks the credentials in the body.
  { methods: 'any', prefix: '/v1/auth', policy: open },
  { methods: read, prefix: '/.well-known', policy: open },

  { methods: read, prefix: '/v1/listings', policy: scope('listings:read') },
  { methods: read, prefix: '/v1/tiles', policy: scope('tiles:read') },
  { methods: read, prefix: '/v1/stats', policy: scope('stats:read') },
  { methods: read, prefix: '/v1/areas', policy: scope('stats:read') },
  // Uploading area boundaries changes what every stat means: the data admins' call.
  { methods: ['POST'], prefix: '/v1/areas', policy: scope('etl:admin') },

  { methods: ['POST'], prefix: '/v1/etl/runs', policy: scope('etl:run') },
  // etl:read is the analysts' scope (origin/auth/scopes.ts); etl:admin implies it.
  { methods: read, prefix: '/v1/etl', policy: scope('etl:read', 'etl:admin') },
  { methods: 'any', prefix: '/v1/etl', policy: scope('etl:admin') },

  // keys:write manages one's own keys (the origin checks ownership), keys:admin everyone's.
  { methods: 'any', prefix: '/v1/api-keys', policy: scope('keys:write', 'keys:admin') },
  { methods: 'any', prefix: '/v1/audit', policy: scope('audit:read') },
  { methods: 'any', prefix: '/v1/users', policy: scope('users:admin') },
];

/**
 * The policy for one request.
 *
 * @example
 *   routePolicy('POST', '/v1/etl/runs'); // { kind: 'scope', anyOf: ['etl:run'] }
 */
export function routePolicy(method: string, path: string): RoutePolicy {
  // CORS preflights carry no credentials by design (Fetch spec); the origin answers them.
  if (method === 'OPTIONS') return open;
  // Matched on a canonical form that can only widen a rule's reach: `//v1/ETL/runs` is held to
  // the rule for /v1/etl/runs even though the origin's router would not route it there.
  const canonical = path.replace(/\/{2,}/g, '/').toLowerCase();
  for (const rule of routeRules) {
    const methodMatches = rule.methods === 'any' || rule.methods.includes(method);
    if (methodMatches && (canonical === rule.prefix || canonical.startsWith(`${rule.prefix}/`)))
      return rule.policy;
  }
  return method === 'GET' || method === 'HEAD' ? { kind: 'any' } : { kind: 'deny' };
}
