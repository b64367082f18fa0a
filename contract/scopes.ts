/**
 * Scopes, roles and plans: what both the edge and the origin must agree on, written once
 * (STYLE.md: "What both ends must agree on is written once"). Plain data and tiny functions, no
 * runtime imports, so the Worker's bundle and the Node origin both take it as it is.
 */

/**
 * Every scope a token or API key can carry. `keys:write` lets a user manage their own API keys;
 * `keys:admin` everyone's. `etl:read` covers the ETL's read endpoints (run status, sources);
 * `ops:read` the operational detail (readiness details, metrics) for operators.
 */
export const scopes = [
  'listings:read',
  'stats:read',
  'tiles:read',
  'etl:read',
  'etl:run',
  'etl:admin',
  'keys:write',
  'keys:admin',
  'users:admin',
  'audit:read',
  'ops:read',
] as const;
export type Scope = (typeof scopes)[number];

/** The public read scopes; a caller without credentials gets these when anonymous access is on. */
export const readScopes = ['listings:read', 'stats:read', 'tiles:read'] as const satisfies Scope[];

export const roles = ['admin', 'analyst', 'engineer', 'user'] as const;
export type Role = (typeof roles)[number];

/** Quota plans, least to most (RATE_LIMITS in wrangler.toml has one entry per plan). */
export const plans = ['anonymous', 'standard', 'pro', 'admin'] as const;
export type Plan = (typeof plans)[number];

/**
 * What each role may do. The table is the whole policy: change it here, and tokens issued from
 * then on carry the new scopes (tokens already out keep theirs until they expire, minutes; API
 * keys follow their owner's role at every lookup, origin/auth/api-keys.ts).
 * - user: an API consumer: the read endpoints and their own API keys.
 * - analyst: a user who also follows the data pipeline (ETL run status and sources).
 * - engineer: runs the pipeline: starts runs and changes source definitions.
 * - admin: everything, including other people's keys, users, the audit log and operations.
 */
export const roleScopes: Record<Role, readonly Scope[]> = {
  user: [...readScopes, 'keys:write'],
  analyst: [...readScopes, 'keys:write', 'etl:read'],
  engineer: [...readScopes, 'keys:write', 'etl:read', 'etl:run', 'etl:admin'],
  admin: scopes,
};

/**
 * Scopes that satisfy another: `etl:admin` covers `etl:read`, `keys:admin` covers `keys:write`.
 * One table, read by hasScope at both ends, so a principal the edge lets through is never
 * refused by the origin for the same request (and the reverse).
 */
export const impliedBy: Partial<Record<Scope, readonly Scope[]>> = {
  'etl:read': ['etl:admin'],
  'keys:write': ['keys:admin'],
};

/** Whether a principal holding `held` may act with `needed` (directly or by implication). */
export function hasScope(held: Iterable<string>, needed: Scope): boolean {
  const set = held instanceof Set ? (held as ReadonlySet<string>) : new Set(held);
  if (set.has(needed)) return true;
  return (impliedBy[needed] ?? []).some((s) => set.has(s));
}

export function isScope(value: string): value is Scope {
  return (scopes as readonly string[]).includes(value);
}

export function isPlan(value: string): value is Plan {
  return (plans as readonly string[]).includes(value);
}

/** `"a b c"` → the known scopes in it (unknown words are dropped: a token never gains by them). */
export function parseScopes(text: string): Scope[] {
  return [...new Set(text.split(' ').filter(isScope))];
}

export function formatScopes(list: readonly Scope[]): string {
  return [...new Set(list)].join(' ');
}

/** Whether plan `a` is at most plan `b` (anonymous < standard < pro < admin). */
export function planAtMost(a: Plan, b: Plan): boolean {
  return plans.indexOf(a) <= plans.indexOf(b);
}
