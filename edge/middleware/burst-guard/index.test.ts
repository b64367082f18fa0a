import { describe, expect, it } from 'vitest';
import { recordedFor } from '../../test/edge-client';
import { testApiKey } from '../../test/recorder-contract';
import { scenario } from '../../test/scenario';

const from = (ip: string, headers: Record<string, string> = {}) => ({
  headers: { 'cf-connecting-ip': ip, ...headers },
});
const ip = () => `198.51.100.${Math.floor(Math.random() * 250) + 1}-${crypto.randomUUID()}`;
const noCache = { CACHE_RULES: [] };

describe('the burst guard', () => {
  it('refuses a burst from one address with the Workers rate-limit binding, and names it', async () => {
    const s = await scenario();
    const caller = ip();
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 300 && !refused; i += 1) {
      const res = await s.fetch('/v1/listings', from(caller), noCache);
      statuses.push(res.status);
      if (res.status === 429) refused = res;
    }

    expect(refused).toBeDefined();
    // 100 per 10 s window; on a loaded machine the stream may cross a window boundary (then up to twice).
    const passed = statuses.filter((x) => x === 200).length;
    expect(passed).toBeGreaterThanOrEqual(100);
    expect(passed).toBeLessThanOrEqual(200);
    expect(refused?.headers.get('retry-after')).toBe('10');
    expect(refused?.headers.get('ratelimit-policy')).toBe('100;w=10');
    expect(await refused?.json()).toMatchObject({
      type: 'urn:estate-edge:problem:rate-limited',
      detail: expect.stringContaining('burst guard allows 100 per 10 s'),
    });
    // Another address is not affected.
    expect((await s.fetch('/v1/listings', from(ip()), noCache)).status).toBe(200);
  });

  it('runs before authentication: a stream of bad API keys meets 429 without another lookup', async () => {
    const s = await scenario();
    const caller = ip();
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 250 && !refused; i += 1) {
      // Well-formed, so each one would cost the origin a lookup; the recorder refuses them all.
      const res = await s.fetch(
        '/v1/listings',
        from(caller, { 'x-api-key': testApiKey('revoked') }),
      );
      statuses.push(res.status);
      if (res.status === 429) refused = res;
    }

    // 100 per window; a loaded machine may cross a window boundary mid-stream (then up to twice).
    const passed = statuses.filter((x) => x === 401).length;
    expect(passed).toBeGreaterThanOrEqual(100);
    expect(passed).toBeLessThanOrEqual(200);
    expect(refused?.status).toBe(429);
    // The refused request never reached the origin, not even as a key lookup.
    expect(await recordedFor(refused?.headers.get('x-request-id') ?? '')).toEqual([]);
    expect((await s.counts()).hits).toBe(0);
  });

  it('counts refusals in /edge/health, which it never limits itself', async () => {
    const s = await scenario();
    const caller = ip();
    for (let i = 0; i < 101; i += 1) await s.fetch('/v1/stats', from(caller), noCache);

    const health = await s.fetch('/edge/health', from(caller));
    expect(health.status).toBe(200);
    const body = (await health.json()) as { isolate: { rate_limits: { burst: number } } };
    expect(body.isolate.rate_limits.burst).toBeGreaterThanOrEqual(1);
  });
});
