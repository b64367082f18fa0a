import type { Scope } from './scopes';

/**
 * Which principal each route admits: one table, decided from at the edge
 * (edge/middleware/auth) and enforced again at the origin on every route
 * (origin/http/route-guard.ts): defence in depth, from the same rules, so the two cannot
 * disagree. The first matching rule wins, so specific prefixes come before general ones. A
 * prefix matches itself and everything under it, never a sibling (`/v1/etl` does not match
 * `/v1/etlx`); `exact` rules match only the path itself. test/attack/route-table.test.ts walks
 * every route the origin serves against this table and every rule against the routes.
 */
export type RoutePolicy =
  /** No credentials needed: how a caller gets them (login), liveness, public keys (JWKS). */
  | { kind: 'open' }
  /** Any principal, anonymous included even without read scopes: the viewer, the docs. */
  | { kind: 'public' }
  /**
   * The edge speaking for itself only (principal type `edge` holding `scope`): the edge answers
   * 404 to a client, as if it did not exist; the origin refuses every other principal.
   */
  | { kind: 'internal'; scope: string }
  /** A principal holding any one of these scopes (or a scope that implies it). */
  | { kind: 'scope'; anyOf: readonly Scope[] }
  /** No rule covers this request: refused, so a new route cannot ship unguarded. */
  | { kind: 'deny' };

export type RouteRule = {
  methods: readonly string[] | 'any';
  prefix: string;
  /** Only the path itself, not what is under it (the viewer's `/`). */
  exact?: boolean;
  policy: RoutePolicy;
};

/** The edge's `keys` job's route (origin/routes/api-keys/retire-signing-keys.ts). */
export const retireSigningKeysPath = '/v1/api-keys/signing-keys/retire-expired';
/** The internal scope the edge is admitted with on that route. */
export const retireSigningKeysScope = 'signing-keys:retire';

const read = ['GET', 'HEAD'] as const;
const open: RoutePolicy = { kind: 'open' };
const publicPolicy: RoutePolicy = { kind: 'public' };
const scope = (...anyOf: Scope[]): RoutePolicy => ({ kind: 'scope', anyOf });

export const routeRules: readonly RouteRule[] = [
  // The edge's own API-key lookup: a client must not use it as a key oracle.
  {
    methods: 'any',
    prefix: '/v1/auth/introspect-key',
    policy: { kind: 'internal', scope: 'keys:introspect' },
  },
  // Prometheus's figures are nobody else's business: an operator's (ops:read), at both ends.
  { methods: read, prefix: '/metrics', policy: scope('ops:read') },
  // Login, refresh, logout: the origin checks the credentials in the body.
  { methods: ['POST'], prefix: '/v1/auth', policy: open },
  { methods: read, prefix: '/.well-known', policy: open },
  // Liveness, readiness (status only; details for ops:read, origin/routes/health) and the data
  // version the edge keys its cache with.
  { methods: read, prefix: '/health', policy: open },

  { methods: read, prefix: '/v1/listings', policy: scope('listings:read') },
  { methods: read, prefix: '/v1/tiles', policy: scope('tiles:read') },
  { methods: read, prefix: '/v1/stats', policy: scope('stats:read') },
  { methods: read, prefix: '/v1/areas', policy: scope('stats:read') },
  // Uploading area boundaries changes what every stat means: the data admins' call.
  { methods: ['POST'], prefix: '/v1/areas', policy: scope('etl:admin') },

  { methods: ['POST'], prefix: '/v1/etl/runs', policy: scope('etl:run') },
  // etl:read is the analysts' scope; etl:admin implies it (contract/scopes.ts).
  { methods: read, prefix: '/v1/etl', policy: scope('etl:read') },
  { methods: ['PUT'], prefix: '/v1/etl/sources', policy: scope('etl:admin') },

  // The edge's `keys` job (edge/scheduled/keys.ts): `npm run keys -- retire-expired` on a
  // schedule. Before /v1/api-keys, whose keys:write would otherwise cover it.
  {
    methods: 'any',
    prefix: retireSigningKeysPath,
    policy: { kind: 'internal', scope: retireSigningKeysScope },
  },
  // keys:write manages one's own keys (the origin checks ownership); keys:admin implies it and
  // reaches everyone's.
  {
    methods: ['GET', 'HEAD', 'POST', 'DELETE'],
    prefix: '/v1/api-keys',
    policy: scope('keys:write'),
  },
  { methods: read, prefix: '/v1/audit', policy: scope('audit:read') },

  // Public material: the API reference and the map viewer.
  { methods: read, prefix: '/openapi.json', policy: publicPolicy },
  { methods: read, prefix: '/docs', policy: publicPolicy },
  { methods: read, prefix: '/viewer', policy: publicPolicy },
  { methods: read, prefix: '/', exact: true, policy: publicPolicy },
];

/**
 * The path a rule is matched on: percent-decoded, slashes collapsed, lower case. It can only
 * widen a rule's reach: `//v1/ETL/runs` and `/v1%2Fetl/runs` are held to the rule for
 * /v1/etl/runs even though the origin's router would not route them there.
 */
export function canonicalPath(path: string): string {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // A malformed escape: matched as written (the router will not route it either).
  }
  return decoded.replace(/\/{2,}/g, '/').toLowerCase();
}

/** The rule for one request, or undefined when none covers it. */
export function routeRuleFor(method: string, path: string): RouteRule | undefined {
  const canonical = canonicalPath(path);
  for (const rule of routeRules) {
    const methodMatches = rule.methods === 'any' || rule.methods.includes(method);
    if (!methodMatches) continue;
    if (canonical === rule.prefix) return rule;
    if (!rule.exact && canonical.startsWith(`${rule.prefix}/`)) return rule;
  }
  return undefined;
}

/**
 * The policy for one request. No rule: a read of something unlisted (a 404 to be) is public; a
 * write is denied.
 *
 * @example
 *   routePolicy('POST', '/v1/etl/runs'); // { kind: 'scope', anyOf: ['etl:run'] }
 */
export function routePolicy(method: string, path: string): RoutePolicy {
  // CORS preflights carry no credentials by design (Fetch spec); they reach no handler.
  if (method === 'OPTIONS') return open;
  const rule = routeRuleFor(method, path);
  if (rule) return rule.policy;
  return method === 'GET' || method === 'HEAD' ? publicPolicy : { kind: 'deny' };
}
