import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, inject, it } from 'vitest';
import worker from '../../index';
import { scenario } from '../../test/scenario';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** No cache in the way: these tests are about the forwarding. */
const noCache = { CACHE_RULES: [] };

describe('deadlines', () => {
  it('answers 504 when the origin is slower than the route deadline, without waiting for it', async () => {
    const s = await scenario({ delayMs: 1_500 });
    const vars = { ...noCache, ORIGIN_POLICY: { timeout_ms: 200, retries: 0 } };
    const started = Date.now();

    const res = await s.fetch('/v1/listings', undefined, vars);

    expect(res.status).toBe(504);
    // Well before the origin would have answered (1.5 s): the deadline, not the origin, ended it.
    expect(Date.now() - started).toBeLessThan(1_400);
    expect(((await res.json()) as { detail: string }).detail).toContain('200 ms');
    // That the upstream request is really aborted is proven in test/e2e-gateway.test.ts, on the
    // real bundle in workerd: here the pool relays outbound fetches through its own Node side,
    // which does not always pass the abort on to the socket (nor count it in time).
  });

  it('uses the deadline of the first matching route prefix', async () => {
    const s = await scenario({ delayMs: 400 });
    const vars = {
      ...noCache,
      ORIGIN_POLICY: {
        timeout_ms: 100,
        retries: 0,
        routes: [{ prefix: '/v1/etl', timeout_ms: 2_000 }],
      },
    };

    expect((await s.fetch('/v1/stats', undefined, vars)).status).toBe(504);
  });
});

describe('retries', () => {
  it('retries a GET on 502, 503 and 504, three attempts in all', async () => {
    for (const status of [502, 503, 504]) {
      const s = await scenario({ status });
      const res = await s.fetch('/v1/listings', undefined, noCache);

      expect(res.status).toBe(status);
      expect((await s.counts()).hits, String(status)).toBe(3);
    }
  });

  it('never retries a POST, nor a 500 or a 404', async () => {
    const post = await scenario({ status: 503 });
    await post.fetch('/v1/auth/token', { method: 'POST', body: '{}' }, noCache);
    expect((await post.counts()).hits).toBe(1);

    for (const status of [500, 404]) {
      const s = await scenario({ status });
      await s.fetch('/v1/listings', undefined, noCache);
      expect((await s.counts()).hits, String(status)).toBe(1);
    }
  });

  // workerd prints "uncaught exception ... Network connection lost" for each dropped connection
  // even though the fetch's rejection is handled (a bare fetch().catch() prints it too).
  it('retries a dropped connection and gives 502 when every attempt fails', async () => {
    const s = await scenario({ destroy: true });
    const res = await s.fetch('/v1/listings', undefined, noCache);

    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect((await s.counts()).hits).toBe(3);
  });
});

describe('the circuit breaker', () => {
  const vars = {
    ...noCache,
    ORIGIN_POLICY: { retries: 0, breaker: { failures: 3, cooldown_ms: 1_000 } },
  };

  it('opens after consecutive failures and then answers 503 at once without calling the origin', async () => {
    const s = await scenario({ status: 503 });
    for (let i = 0; i < 3; i += 1) await s.fetch('/v1/listings', undefined, vars);

    const res = await s.fetch('/v1/listings', undefined, vars);

    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(await res.json()).toMatchObject({ type: 'urn:estate-edge:problem:origin-unavailable' });
    expect((await s.counts()).hits).toBe(3);
  });

  it('lets one probe through after the cooldown and closes again when the origin is back', async () => {
    const s = await scenario({ status: 503 });
    for (let i = 0; i < 3; i += 1) await s.fetch('/v1/listings', undefined, vars);
    await s.set({ status: 200 });
    expect((await s.fetch('/v1/listings', undefined, vars)).status).toBe(503);

    await sleep(1_100);
    const probe = await s.fetch('/v1/listings', undefined, vars);
    const after = await s.fetch('/v1/listings', undefined, vars);

    expect(probe.status).toBe(200);
    expect(after.status).toBe(200);
    expect((await s.counts()).hits).toBe(5);
  });

  it('opens again when the probe fails', async () => {
    const s = await scenario({ status: 503 });
    for (let i = 0; i < 3; i += 1) await s.fetch('/v1/listings', undefined, vars);
    await sleep(1_100);

    expect((await s.fetch('/v1/listings', undefined, vars)).status).toBe(503);
    expect(
      (await s.fetch('/v1/listings', undefined, vars)).headers.get('retry-after'),
    ).not.toBeNull();
    expect((await s.counts()).hits).toBe(4);
  });

  it('does not count a success between failures: only consecutive failures open it', async () => {
    const s = await scenario({ status: 503 });
    for (let i = 0; i < 2; i += 1) await s.fetch('/v1/listings', undefined, vars);
    await s.set({ status: 200 });
    await s.fetch('/v1/listings', undefined, vars);
    await s.set({ status: 503 });
    for (let i = 0; i < 2; i += 1) await s.fetch('/v1/listings', undefined, vars);

    await s.fetch('/v1/listings', undefined, vars);
    expect((await s.counts()).hits).toBe(6);
  });

  it('lets the cache serve a stale copy while the circuit is open', async () => {
    const s = await scenario({ dataVersion: 1, label: 'good' });
    const cached = {
      CACHE_RULES: [{ prefix: '/v1/listings', ttl: 1, sie: 600 }],
      ORIGIN_POLICY: { retries: 0, breaker: { failures: 1, cooldown_ms: 60_000 } },
    };
    await s.fetch('/v1/listings?stale=1', undefined, cached);
    await s.set({ dataVersion: 1, status: 503 });
    await sleep(1_100);
    await s.fetch('/v1/other', undefined, cached); // opens the circuit

    const res = await s.fetch('/v1/listings?stale=1', undefined, cached);

    expect(res.status).toBe(200);
    expect(res.headers.get('x-cache')).toBe('STALE');
    expect((await s.counts()).hits).toBe(2);
  });
});

describe('what reaches the origin', () => {
  it('sets X-Forwarded-For/-Proto/-Host and the request id, and no client assertion', async () => {
    const ctx = createExecutionContext();
    await worker.fetch(
      new Request('https://edge.test/v1/stats?x=1', {
        headers: {
          'cf-connecting-ip': '203.0.113.9',
          'x-request-id': 'trace-xff-1',
          'x-edge-assertion': 'forged',
        },
      }),
      { ...env, ...noCache },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const [recorded] = (await (
      await fetch(`${inject('originUrl')}/__recordings/trace-xff-1`)
    ).json()) as { headers: Record<string, string> }[];

    expect(recorded?.headers['x-forwarded-for']).toBe('203.0.113.9');
    expect(recorded?.headers['x-forwarded-proto']).toBe('https');
    expect(recorded?.headers['x-forwarded-host']).toBe('edge.test');
    expect(recorded?.headers['x-edge-assertion']).not.toBe('forged');
  });
});

describe('breaker state names', () => {
  it('name cockatiel’s states as cockatiel numbers them', async () => {
    const { CircuitState } = await import('cockatiel');
    const { stateName } = await import('./policy');
    expect(stateName(CircuitState.Closed)).toBe('closed');
    expect(stateName(CircuitState.Open)).toBe('open');
    expect(stateName(CircuitState.HalfOpen)).toBe('half-open');
    expect(stateName(CircuitState.Isolated)).toBe('isolated');
  });
});
