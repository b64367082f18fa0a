import { describe, expect, inject, it, vi } from 'vitest';
import { testApiKey } from '../../test/recorder-contract';
import { scenario } from '../../test/scenario';
import { signAccessToken } from '../../test/tokens';
import type { Principal } from '../auth/principal';
import { quotaChecks } from '.';
import { rateLimitConfigSchema } from './config';

type Plans = Record<string, { limit: number; window: string }[]>;

/** RATE_LIMITS with a key prefix of its own, so tests never share counters in the run's Redis. */
function limits(plans: Plans, extra: Record<string, unknown> = {}) {
  return {
    prefix: `test:${crypto.randomUUID()}`,
    default_plan: 'anonymous',
    burst: { limit: 100, period: 10 },
    plans: { anonymous: [{ limit: 1000, window: '1 m' }], ...plans },
    ...extra,
  };
}

/** Vars for a Worker whose quotas live in the run's private Redis, behind the REST adapter. */
function quotas(rateLimits: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    CACHE_RULES: [],
    RATE_LIMITS: rateLimits,
    UPSTASH_REDIS_REST_URL: inject('quotaStoreUrl'),
    UPSTASH_REDIS_REST_TOKEN: inject('quotaStoreToken'),
    ...extra,
  };
}

const from = (ip: string, headers: Record<string, string> = {}) => ({
  headers: { 'cf-connecting-ip': ip, ...headers },
});
const ip = () =>
  `198.51.100.${Math.floor(Math.random() * 250) + 1}-${crypto.randomUUID().slice(0, 6)}`;

describe('quotas', () => {
  it('refuses the N+1st request in the window with 429, Retry-After and RateLimit headers', async () => {
    const s = await scenario();
    const vars = quotas(limits({ anonymous: [{ limit: 3, window: '1 m' }] }));
    const caller = ip();
    const remaining: (string | null)[] = [];
    for (let i = 0; i < 3; i += 1) {
      const res = await s.fetch('/v1/listings', from(caller), vars);
      expect(res.status).toBe(200);
      remaining.push(res.headers.get('ratelimit-remaining'));
    }

    const refused = await s.fetch('/v1/listings', from(caller), vars);

    expect(remaining).toEqual(['2', '1', '0']);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(refused.headers.get('ratelimit-limit')).toBe('3');
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('ratelimit-reset')).toBe(refused.headers.get('retry-after'));
    expect(refused.headers.get('ratelimit-policy')).toBe('3;w=60');
    expect(await refused.json()).toMatchObject({
      type: 'urn:estate-edge:problem:rate-limited',
      status: 429,
      detail: expect.stringMatching(/anonymous plan \(3 requests per 1 m per address\)/),
    });
    expect((await s.counts()).hits).toBe(3);
  });

  it('counts anonymous callers per address', async () => {
    const s = await scenario();
    const vars = quotas(limits({ anonymous: [{ limit: 1, window: '1 m' }] }));
    const [a, b] = [ip(), ip()];
    await s.fetch('/v1/listings', from(a), vars);

    expect((await s.fetch('/v1/listings', from(a), vars)).status).toBe(429);
    expect((await s.fetch('/v1/listings', from(b), vars)).status).toBe(200);
  });

  it('counts an API key against its key and its owner: two keys of one owner share one quota', async () => {
    const s = await scenario();
    const vars = quotas(limits({ standard: [{ limit: 3, window: '1 m' }] }));
    // Both keys belong to the recording origin's user:2.
    const [keyA, keyB] = [testApiKey('read'), testApiKey('read')];
    const first = await s.fetch('/v1/listings', from(ip(), { 'x-api-key': keyA }), vars);
    const second = await s.fetch('/v1/listings', from(ip(), { 'x-api-key': keyB }), vars);
    await s.fetch('/v1/listings', from(ip(), { 'x-api-key': keyA }), vars);

    const refused = await s.fetch('/v1/listings', from(ip(), { 'x-api-key': keyB }), vars);

    // The headers follow the tightest counter: the owner's, which both keys fill.
    expect(first.headers.get('ratelimit-remaining')).toBe('2');
    expect(second.headers.get('ratelimit-remaining')).toBe('1');
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({
      detail: expect.stringContaining(
        'standard plan (3 requests per 1 m), shared by every API key of its owner',
      ),
    });
    // Another principal of the plan is counted apart.
    const other = await signAccessToken({
      claims: { plan: 'standard', sub: `user:${crypto.randomUUID()}` },
    });
    const res = await s.fetch(
      '/v1/listings',
      from(ip(), { authorization: `Bearer ${other}` }),
      vars,
    );
    expect(res.status).toBe(200);
  });

  it('lists the key and its owner as separate counters, and only for an API key', () => {
    const config = rateLimitConfigSchema.parse(limits({ standard: [{ limit: 3, window: '1 m' }] }));
    const key: Principal = {
      id: 'api_key:7',
      type: 'api_key',
      scopes: [],
      plan: 'standard',
      owner: 'user:1',
    };
    const user: Principal = { id: 'user:1', type: 'user', scopes: [], plan: 'standard' };
    const [forKey, forOwner] = quotaChecks(config, key, '203.0.113.1');
    const [forUser] = quotaChecks(config, user, '203.0.113.1');

    expect([forKey?.identifier, forOwner?.identifier]).toEqual(['api_key:7', 'user:1']);
    expect(forOwner?.sharedBy).toBe('owner');
    // The owner's counter is the very one their own tokens use under that plan.
    expect({ ...forOwner, sharedBy: undefined }).toEqual({ ...forUser, sharedBy: undefined });
    expect(quotaChecks(config, user, '203.0.113.1')).toHaveLength(1);
  });

  it('applies the plan in the token, and the default plan to a plan it does not know', async () => {
    const s = await scenario();
    const vars = quotas(
      limits({ pro: [{ limit: 5, window: '1 m' }], anonymous: [{ limit: 1, window: '1 m' }] }),
    );
    const pro = await signAccessToken({
      claims: { plan: 'pro', sub: `user:${crypto.randomUUID()}` },
    });
    const odd = await signAccessToken({
      claims: { plan: 'platinum', sub: `user:${crypto.randomUUID()}` },
    });

    const proRes = await s.fetch(
      '/v1/listings',
      from(ip(), { authorization: `Bearer ${pro}` }),
      vars,
    );
    const oddRes = await s.fetch(
      '/v1/listings',
      from(ip(), { authorization: `Bearer ${odd}` }),
      vars,
    );

    expect(proRes.headers.get('ratelimit-limit')).toBe('5');
    expect(oddRes.headers.get('ratelimit-limit')).toBe('1');
  });

  it('enforces the tighter of a plan’s windows: a day quota under a minute quota', async () => {
    const s = await scenario();
    const vars = quotas(
      limits({
        standard: [
          { limit: 100, window: '1 m' },
          { limit: 2, window: '1 d' },
        ],
      }),
    );
    const key = testApiKey('read');
    await s.fetch('/v1/listings', { headers: { 'x-api-key': key } }, vars);
    const second = await s.fetch('/v1/listings', { headers: { 'x-api-key': key } }, vars);
    const third = await s.fetch('/v1/listings', { headers: { 'x-api-key': key } }, vars);

    expect(second.headers.get('ratelimit-policy')).toBe('2;w=86400');
    expect(third.status).toBe(429);
    expect(await third.json()).toMatchObject({
      detail: expect.stringContaining('2 requests per 1 d'),
    });
  });

  it('holds the global ceiling under concurrent load from many callers', async () => {
    const s = await scenario();
    const vars = quotas(limits({}, { global: { limit: 10, window: '1 m' } }));

    const answers = await Promise.all(
      Array.from({ length: 40 }, () => s.fetch('/v1/listings', from(ip()), vars)),
    );
    const statuses = answers.map((r) => r.status);

    expect(statuses.filter((x) => x === 200)).toHaveLength(10);
    expect(statuses.filter((x) => x === 429)).toHaveLength(30);
    const refused = answers.find((r) => r.status === 429) as Response;
    expect(await refused.json()).toMatchObject({
      detail: expect.stringContaining('service-wide ceiling'),
    });
    expect((await s.counts()).hits).toBe(10);
  });

  it('counts a cache hit like any other request', async () => {
    const s = await scenario({ dataVersion: 1 });
    const vars = quotas(limits({ anonymous: [{ limit: 2, window: '1 m' }] }), {
      CACHE_RULES: [{ prefix: '/v1/stats', ttl: 60 }],
    });
    const caller = ip();
    const path = `/v1/stats?q=${crypto.randomUUID()}`;
    await s.fetch(path, from(caller), vars);
    const hit = await s.fetch(path, from(caller), vars);
    const third = await s.fetch(path, from(caller), vars);

    expect(hit.headers.get('x-cache')).toBe('HIT');
    expect(hit.headers.get('ratelimit-remaining')).toBe('0');
    expect(third.status).toBe(429);
  });

  it('copes with a hostile client address without failing', async () => {
    const s = await scenario();
    const vars = quotas(limits({ anonymous: [{ limit: 5, window: '1 m' }] }));
    for (const address of ['x'.repeat(4_000), '"; EVAL "return 1" 0', '\u{1F3E0}', '*']) {
      const res = await s.fetch('/v1/listings', from(address), vars);
      expect(res.status, address.slice(0, 20)).toBe(200);
    }
  });
});

describe('when quotas cannot be checked', () => {
  it('serves the request with RATE_LIMIT_FAIL_MODE=open and logs one warning', async () => {
    const s = await scenario();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const vars = quotas(limits({ anonymous: [{ limit: 1, window: '1 m' }] }), {
      UPSTASH_REDIS_REST_URL: inject('deadQuotaStoreUrl'),
    });
    const caller = ip();

    const answers = [
      await s.fetch('/v1/listings', from(caller), vars),
      await s.fetch('/v1/listings', from(caller), vars),
    ];

    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    expect(answers[0]?.headers.get('ratelimit-limit')).toBeNull();
    const lines = warn.mock.calls
      .map((c) => String(c[0]))
      .filter((l) => l.includes('quotas are off'));
    expect(lines.length).toBeLessThanOrEqual(1);
    warn.mockRestore();
  });

  it('answers 503 with Retry-After under RATE_LIMIT_FAIL_MODE=closed', async () => {
    const s = await scenario();
    const vars = quotas(limits({}), {
      UPSTASH_REDIS_REST_URL: inject('deadQuotaStoreUrl'),
      RATE_LIMIT_FAIL_MODE: 'closed',
    });

    const res = await s.fetch('/v1/listings', from(ip()), vars);

    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.json()).toMatchObject({
      detail: expect.stringContaining('cannot be checked'),
    });
    expect((await s.counts()).hits).toBe(0);
  });

  it('treats an endpoint that does not answer in time like one that is down', async () => {
    const s = await scenario();
    const slowStore = await scenario({ delayMs: 3_000 });
    const rateLimits = limits({}, { timeout_ms: 100 });
    const started = Date.now();

    const open = await s.fetch(
      '/v1/listings',
      from(ip()),
      quotas(rateLimits, { UPSTASH_REDIS_REST_URL: slowStore.originUrl }),
    );
    const closed = await s.fetch(
      '/v1/listings',
      from(ip()),
      quotas(rateLimits, {
        UPSTASH_REDIS_REST_URL: slowStore.originUrl,
        RATE_LIMIT_FAIL_MODE: 'closed',
      }),
    );

    expect(open.status).toBe(200);
    expect(closed.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('treats an unreachable endpoint and a wrong token like an outage, never as allowed-by-accident in closed mode', async () => {
    const s = await scenario();
    for (const extra of [
      { UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1' },
      { UPSTASH_REDIS_REST_TOKEN: 'not-the-token' },
    ]) {
      const res = await s.fetch(
        '/v1/listings',
        from(ip()),
        quotas(limits({}), { ...extra, RATE_LIMIT_FAIL_MODE: 'closed' }),
      );
      expect(res.status, JSON.stringify(extra)).toBe(503);
    }
  });

  it('says quotas are off when no store is configured, and still serves', async () => {
    const s = await scenario();
    const res = await s.fetch('/v1/listings', from(ip()), { CACHE_RULES: [] });

    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-limit')).toBeNull();
  });
});

describe('RATE_LIMITS', () => {
  it('refuses malformed configurations, naming the field', () => {
    const base = limits({});
    for (const bad of [
      { ...base, plans: { anonymous: [{ limit: 0, window: '1 m' }] } },
      { ...base, plans: { anonymous: [{ limit: 5, window: 'a minute' }] } },
      { ...base, default_plan: 'gold' },
      { ...base, burst: { limit: 10, period: 30 } },
      { ...base, plans: {} },
    ])
      expect(rateLimitConfigSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
  });

  it('answers 503 naming the var, and logs it, when the deployed config is broken', async () => {
    const s = await scenario();
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await s.fetch('/v1/listings', from(ip()), {
      RATE_LIMITS: { plans: 'nope' },
    });

    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      type: 'urn:estate-edge:problem:misconfigured',
      detail: expect.stringContaining('RATE_LIMITS plans'),
    });
    expect(error.mock.calls.map((c) => String(c[0])).join('\n')).toContain('RATE_LIMITS');
    expect((await s.counts()).hits).toBe(0);
    error.mockRestore();
  });
});

describe('a quota store behind Cloudflare Access', () => {
  it('is sent the Access service token with every Redis request', async () => {
    const s = await scenario();
    const clientId = `${crypto.randomUUID()}.access`;
    await s.fetch(
      '/v1/listings',
      from(ip()),
      quotas(limits({}), {
        // The recording origin stands in for SRH behind Access: it records what it was sent.
        UPSTASH_REDIS_REST_URL: inject('originUrl'),
        CF_ACCESS_CLIENT_ID: clientId,
        CF_ACCESS_CLIENT_SECRET: 'access-secret',
      }),
    );
    const recorded = (await (
      await fetch(`${inject('originUrl')}/__recordings/missing`)
    ).json()) as { headers: Record<string, string> }[];

    const ours = recorded.filter((r) => r.headers['cf-access-client-id'] === clientId);
    expect(ours.length).toBeGreaterThan(0);
    expect(ours[0]?.headers['cf-access-client-secret']).toBe('access-secret');
    expect(ours[0]?.headers.authorization).toBe(`Bearer ${inject('quotaStoreToken')}`);
  });
});
