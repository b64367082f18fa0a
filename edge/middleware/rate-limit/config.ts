import * as z from 'zod/mini';

const units = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 } as const;
type Unit = keyof typeof units;
/** The window as @upstash/ratelimit spells it: `10 s`, `1 m`, `1 d`. */
export type Window = `${number} ${Unit}`;

const windowSchema = z.pipe(
  z.string().check(z.regex(/^[1-9]\d{0,5} (ms|s|m|h|d)$/, 'must look like "10 s", "1 m" or "1 d"')),
  z.transform((w) => w as Window),
);

const quotaSchema = z.object({
  limit: z.int().check(z.positive(), z.lte(100_000_000)),
  window: windowSchema,
});
export type Quota = z.infer<typeof quotaSchema>;

/**
 * RATE_LIMITS in wrangler.toml. Quotas per plan (the principal's `plan` claim; anonymous callers
 * have the plan `anonymous` and are counted per IP, everyone else per user or API key), a global
 * ceiling over all callers, and the burst guard's figures, which must repeat the `[[ratelimits]]`
 * binding's `simple` block (the binding does not expose them, and the 429 headers need them).
 */
export const rateLimitConfigSchema = z
  .object({
    plans: z.record(
      z.string().check(z.regex(/^[a-z][a-z0-9_-]{0,31}$/)),
      z.array(quotaSchema).check(z.minLength(1), z.maxLength(4)),
    ),
    /** The plan of a principal whose plan has no entry (a token minted before a plan existed). */
    default_plan: z._default(z.string(), 'anonymous'),
    global: z.optional(quotaSchema),
    burst: z.object({
      limit: z.int().check(z.positive()),
      period: z.union([z.literal(10), z.literal(60)]),
    }),
    /** How long a quota check may take before the fail mode decides (ms). */
    timeout_ms: z._default(z.int().check(z.gte(20), z.lte(10_000)), 1000),
    /** Redis key prefix, so two deployments can share a Redis. */
    prefix: z._default(z.string().check(z.regex(/^[\w:.-]{1,64}$/)), 'estate-edge:rl'),
  })
  .check(
    z.refine((c) => c.default_plan in c.plans, {
      message: 'default_plan must name one of the plans',
      path: ['default_plan'],
    }),
  );
export type RateLimitConfig = z.infer<typeof rateLimitConfigSchema>;

export function windowSeconds(window: Window): number {
  const [count, unit] = window.split(' ') as [string, Unit];
  return Number(count) * units[unit];
}
