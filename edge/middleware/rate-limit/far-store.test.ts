import { Ratelimit } from '@upstash/ratelimit';
import { Redis } from '@upstash/redis/cloudflare';
import { describe, expect, inject, it, vi } from 'vitest';
import { scenario } from '../../test/scenario';
import { creditOf } from './upstash';

/**
 * Issue 15, "quotas off the hot path", with the run's real Redis 40 ms away behind a delay proxy
 * (edge/test/quota-store.ts). A caller this isolate knows is decided here and counted after the
 * answer; the store still counts every request; the overshoot stays within creditOf.
 */

const url = inject('farQuotaStoreUrl');
const token = inject('quotaStoreToken');
const window = '1 m';

function setup(limit: number) {
  const prefix = `test:${crypto.randomUUID()}`;
  const vars = {
    CACHE_RULES: [],
    RATE_LIMITS: {
      prefix,
      default_plan: 'anonymous',
      burst: { limit: 10_000, period: 10 },
      plans: { anonymous: [{ limit, window }] },
    },
    UPSTASH_REDIS_REST_URL: url,
    UPSTASH_REDIS_REST_TOKEN: token,
  };
  const caller = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
  // The counter as another isolate (or location) sees it: same prefix and identifier as
  // edge/middleware/rate-limit/upstash.ts gives the anonymous plan.
  const elsewhere = new Ratelimit({
    redis: new Redis({ url, token, enableAutoPipelining: false }),
    limiter: Ratelimit.slidingWindow(limit, window),
    prefix: `${prefix}:plan-anonymous:1m`,
    analytics: false,
  });
  return { vars, caller, elsewhere, id: `ip:${caller}` };
}

/** `n` sequential requests; each answer's status and the access log's rate_limit. */
async function sequential(
  s: Awaited<ReturnType<typeof scenario>>,
  vars: Record<string, unknown>,
  ip: string,
  n: number,
) {
  const log = vi.spyOn(console, 'log');
  const answers: { status: number; rateLimit: unknown }[] = [];
  for (let i = 0; i < n; i += 1) {
    const requestId = crypto.randomUUID();
    const res = await s.fetch(
      '/v1/listings',
      { headers: { 'cf-connecting-ip': ip, 'x-request-id': requestId } },
      vars,
    );
    await res.arrayBuffer();
    const line = log.mock.calls
      .map((c) => String(c[0]))
      .find((l) => l.includes('"msg":"request"') && l.includes(requestId));
    answers.push({ status: res.status, rateLimit: line ? JSON.parse(line).rate_limit : null });
  }
  log.mockRestore();
  return answers;
}

const settle = () => new Promise((r) => setTimeout(r, 300));

describe('quotas with the quota store 40 ms away', () => {
  it('waits for the store on a caller’s first request only, and the store still counts every request', async () => {
    const s = await scenario();
    const { vars, caller, elsewhere, id } = setup(1000);

    const answers = await sequential(s, vars, caller, 20);

    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers[0]?.rateLimit).toBe('allowed');
    expect(answers.slice(1).map((a) => a.rateLimit)).toEqual(Array(19).fill('allowed-local'));
    await settle();
    expect((await elsewhere.getRemaining(id)).remaining).toBe(1000 - 20);
  });

  it('meets a sequential client’s 429 at the first request past its plan', async () => {
    const s = await scenario();
    const { vars, caller } = setup(30);

    const answers = await sequential(s, vars, caller, 33);

    expect(answers.slice(0, 30).every((a) => a.status === 200)).toBe(true);
    expect(answers.slice(30).map((a) => a.status)).toEqual([429, 429, 429]);
    // The last two were refused in the isolate: the store had said no.
    expect(answers.slice(31).map((a) => a.rateLimit)).toEqual([
      'limited-local:plan anonymous',
      'limited-local:plan anonymous',
    ]);
  });

  it('lets at most creditOf(quota) requests past when another isolate used the quota up', async () => {
    const s = await scenario();
    const limit = 30;
    const { vars, caller, elsewhere, id } = setup(limit);
    await sequential(s, vars, caller, 5);
    await settle();
    // Another isolate spends what is left; this one still believes 25 remain.
    await elsewhere.limit(id, { rate: limit - 5 });

    const answers = await sequential(s, vars, caller, 10);

    const overshoot = answers.findIndex((a) => a.status === 429);
    expect(overshoot).toBeGreaterThanOrEqual(0);
    expect(overshoot).toBeLessThanOrEqual(creditOf({ limit }));
    expect(answers.slice(overshoot).every((a) => a.status === 429)).toBe(true);
  });
});
