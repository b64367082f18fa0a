import { type Plan, plans, type Role } from '../db/schema/users.js';

/**
 * Every scope a token or API key can carry. `keys:write` lets a user manage their own API keys;
 * `keys:admin` everyone's. `etl:read` covers the ETL's read endpoints (run status, sources).
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
] as const;
export type Scope = (typeof scopes)[number];

export const readScopes = ['listings:read', 'stats:read', 'tiles:read'] as const satisfies Scope[];

/**
 * What each role may do. The table is the whole policy: change it here, and tokens issued from
 * then on carry the new scopes (tokens already out keep theirs until they expire, minutes).
 * - user: an API consumer: the read endpoints and their own API keys.
 * - analyst: a user who also follows the data pipeline (ETL run status and sources).
 * - engineer: runs the pipeline: starts runs and changes source definitions.
 * - admin: everything, including other people's keys, users and the audit log.
 */
export const roleScopes: Record<Role, readonly Scope[]> = {
  user: [...readScopes, 'keys:write'],
  analyst: [...readScopes, 'keys:write', 'etl:read'],
  engineer: [...readScopes, 'keys:write', 'etl:read', 'etl:run', 'etl:admin'],
  admin: scopes,
};

export function isScope(value: string): value is Scope {
  return (scopes as readonly string[]).includes(value);
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
