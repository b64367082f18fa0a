import { describe, expect, it } from 'vitest';
import { unstable_readConfig } from 'wrangler';
import { configVar } from '../edge/lib/config.js';
import { parseSettings } from '../edge/lib/settings.js';
import { cacheRulesSchema } from '../edge/middleware/edge-cache/config.js';
import { originPolicySchema } from '../edge/middleware/origin-proxy/policy.js';
import { rateLimitConfigSchema } from '../edge/middleware/rate-limit/config.js';
import { corsOriginsSchema } from '../edge/middleware/security-headers/cors.js';

const environments = ['', 'staging', 'production'] as const;

function read(env: (typeof environments)[number]) {
  return unstable_readConfig({ config: 'wrangler.toml', ...(env ? { env } : {}) });
}

/**
 * The Worker checks its structured vars on first use, so a bad deploy would fail every request.
 * This runs each environment's vars through the same schemas at test time instead.
 */
describe.each(environments)('wrangler.toml, environment "%s"', (env) => {
  it('has gateway config that the Worker accepts', () => {
    const config = read(env);
    const vars = config.vars as Record<string, unknown>;
    expect(() => configVar('RATE_LIMITS', vars.RATE_LIMITS, rateLimitConfigSchema)).not.toThrow();
    expect(() => configVar('CACHE_RULES', vars.CACHE_RULES, cacheRulesSchema)).not.toThrow();
    expect(() => configVar('ORIGIN_POLICY', vars.ORIGIN_POLICY, originPolicySchema)).not.toThrow();
    expect(() => configVar('CORS_ORIGINS', vars.CORS_ORIGINS, corsOriginsSchema)).not.toThrow();
    expect(['open', 'closed']).toContain(vars.RATE_LIMIT_FAIL_MODE);
    // All of them at once, through the one schema the Worker parses its env with.
    expect(parseSettings(vars)).toMatchObject({ ok: true });
  });

  it('declares the burst binding with the figures RATE_LIMITS repeats', () => {
    const config = read(env);
    const limits = rateLimitConfigSchema.parse(
      (config.vars as Record<string, unknown>).RATE_LIMITS,
    );
    const burst = config.ratelimits.find((r: { name: string }) => r.name === 'BURST_LIMITER');
    expect(burst?.simple).toEqual({ limit: limits.burst.limit, period: limits.burst.period });
  });

  it('keeps the data version TTL within the one-minute promise', () => {
    const ttl = Number((read(env).vars as Record<string, unknown>).DATA_VERSION_TTL);
    // Under traffic a change is in the keys within 2 TTLs (the isolate's, the shared copy's) and a
    // round trip; the 4 keeps the margin of the bound before the version was served stale.
    expect(4 * ttl).toBeLessThanOrEqual(60);
  });
});

describe('gateway config checks', () => {
  it('name the var and the field of a bad value', () => {
    expect(() =>
      configVar(
        'RATE_LIMITS',
        { plans: { anonymous: [{ limit: -1, window: '1 m' }] } },
        rateLimitConfigSchema,
      ),
    ).toThrow(/RATE_LIMITS: .*limit/);
    expect(() => configVar('CORS_ORIGINS', ['https://a.example/path'], corsOriginsSchema)).toThrow(
      /CORS_ORIGINS: 0: must be an origin/,
    );
    expect(() => configVar('ORIGIN_POLICY', '{not json', originPolicySchema)).toThrow(/not JSON/);
  });
});
