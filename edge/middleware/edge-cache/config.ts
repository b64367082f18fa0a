import * as z from 'zod/mini';

/**
 * Paths whose answers depend on who asks or change state: never cached, whatever CACHE_RULES
 * says (a rule naming one is refused at start-up rather than silently ignored).
 */
export const neverCached = [
  '/v1/auth',
  '/v1/api-keys',
  '/v1/audit',
  '/v1/etl',
  '/v1/users',
  '/.well-known',
  '/health',
  '/metrics',
  '/edge',
] as const;

function isNeverCached(path: string): boolean {
  return neverCached.some(
    (p) => path === p || path.startsWith(`${p}/`) || p.startsWith(`${path}/`) || path === '/',
  );
}

const ruleSchema = z
  .object({
    /** A path prefix: matches itself and what is under it (`/v1/stats` matches `/v1/stats/x`). */
    prefix: z.string().check(z.regex(/^\/[\w./-]*$/, 'must be a path starting with /')),
    /** Seconds an answer is fresh: served as HIT without asking the origin. */
    ttl: z.int().check(z.gte(1), z.lte(31_536_000)),
    /** Seconds after that it is still served (STALE) while one background refresh runs. */
    swr: z._default(z.int().check(z.gte(0), z.lte(86_400)), 0),
    /** Seconds after freshness it may still be served (STALE) when the origin fails. */
    sie: z._default(z.int().check(z.gte(0), z.lte(604_800)), 0),
  })
  .check(
    z.refine((r) => !isNeverCached(r.prefix), {
      message: `must not cover a personal or operational path (${neverCached.join(', ')}) or the root`,
      path: ['prefix'],
    }),
  );
export type CacheRule = z.infer<typeof ruleSchema>;

/** CACHE_RULES in wrangler.toml: the first rule whose prefix matches wins. */
export const cacheRulesSchema = z.array(ruleSchema).check(z.maxLength(50));

export function ruleFor(rules: readonly CacheRule[], path: string): CacheRule | undefined {
  for (const rule of rules) {
    if (
      path === rule.prefix ||
      path.startsWith(rule.prefix.endsWith('/') ? rule.prefix : `${rule.prefix}/`)
    )
      return isNeverCached(path) ? undefined : rule;
  }
  return undefined;
}
