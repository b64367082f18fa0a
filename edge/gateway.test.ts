import { describe, expect, it, vi } from 'vitest';
import { routeLabel } from './middleware/access-log';
import { testApiKey } from './test/recorder-contract';
import { scenario } from './test/scenario';
import { signAccessToken } from './test/tokens';

/** The request path through the whole Worker: the order and the headers each layer adds. */
describe('the access log', () => {
  it('writes one JSON line per request with what every layer decided, and no credentials', async () => {
    const s = await scenario({ dataVersion: 1 });
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const key = testApiKey('read');
    const token = await signAccessToken({ claims: { scope: 'listings:read' } });

    await s.fetch(`/v1/listings/42?secret=${key}`, {
      headers: { 'x-api-key': key, 'x-request-id': 'log-1' },
    });
    await s.fetch('/v1/listings/43', {
      headers: { authorization: `Bearer ${token}`, 'x-request-id': 'log-2' },
    });

    const lines = log.mock.calls
      .map((c) => String(c[0]))
      .filter((l) => l.includes('"msg":"request"'));
    log.mockRestore();
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const first = entries.find((e) => e.request_id === 'log-1');
    expect(entries.filter((e) => e.request_id === 'log-1')).toHaveLength(1);
    expect(first).toMatchObject({
      method: 'GET',
      route: '/v1/listings/:id',
      status: 200,
      cache: 'MISS',
      rate_limit: 'off',
      principal: 'api_key',
      origin_status: 200,
      origin_attempts: 1,
      breaker: 'closed',
    });
    expect(typeof first?.duration_ms).toBe('number');
    expect(typeof first?.origin_ms).toBe('number');
    expect(entries.find((e) => e.request_id === 'log-2')).toMatchObject({ principal: 'user' });
    const all = lines.join('\n');
    expect(all).not.toContain(key);
    expect(all).not.toContain(token);
    expect(all).not.toContain('secret=');
  });

  it('labels routes with bounded cardinality', () => {
    expect(routeLabel('/v1/tiles/listings/12/654/1430.mvt')).toBe(
      '/v1/tiles/listings/:z/:x/:y.mvt',
    );
    expect(routeLabel('/v1/etl/runs/17/rejects')).toBe('/v1/etl/runs/:id/rejects');
    expect(routeLabel('/v1/areas/0b7f6a52-8d0e-4c7b-9a51-1f4c1f8f9a10')).toBe('/v1/areas/:uuid');
    expect(routeLabel(`/${'a'.repeat(5000)}`).length).toBeLessThanOrEqual(200);
  });
});

describe('response headers', () => {
  it('carries X-Request-Id, X-Cache, Server-Timing with the origin time, and security headers', async () => {
    const s = await scenario({ dataVersion: 1 });
    const res = await s.fetch(`/v1/stats?q=${crypto.randomUUID()}`);

    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('x-cache')).toBe('MISS');
    expect(res.headers.get('server-timing')).toMatch(/origin;dur=[\d.]+/);
    expect(res.headers.get('server-timing')).toMatch(/total;dur=/);
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'none'; frame-ancestors 'none'",
    );
  });

  it('keeps the CSP the origin sent for the map viewer instead of replacing it', async () => {
    const s = await scenario({});
    // The stand-in sends no CSP; the real viewer's CSP is checked end to end (test/e2e-gateway).
    const res = await s.fetch('/v1/listings', undefined, { CACHE_RULES: [] });
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
  });
});

describe('HTTPS', () => {
  it('redirects a plain-HTTP GET to HTTPS with 308, and refuses a plain-HTTP POST', async () => {
    const s = await scenario({});
    const get = await s.fetch('/v1/listings?x=1', undefined, {}, 'http://api.example.com');
    const post = await s.fetch(
      '/v1/auth/token',
      { method: 'POST', body: '{}' },
      {},
      'http://api.example.com',
    );

    expect(get.status).toBe(308);
    expect(get.headers.get('location')).toBe('https://api.example.com/v1/listings?x=1');
    expect(post.status).toBe(400);
    expect((await s.counts()).hits).toBe(0);
  });

  it('serves plain HTTP on loopback for local development', async () => {
    const s = await scenario({});
    const res = await s.fetch(
      '/v1/listings',
      undefined,
      { CACHE_RULES: [] },
      'http://127.0.0.1:8787',
    );
    expect(res.status).toBe(200);
  });
});

describe('CORS', () => {
  const vars = { CORS_ORIGINS: ['https://app.example.com'], CACHE_RULES: [] };

  it('allows a listed origin and exposes the rate-limit and cache headers to its scripts', async () => {
    const s = await scenario({});
    const res = await s.fetch(
      '/v1/listings',
      { headers: { origin: 'https://app.example.com' } },
      vars,
    );

    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(res.headers.get('access-control-expose-headers')).toContain('RateLimit-Remaining');
    expect(res.headers.get('access-control-expose-headers')).toContain('X-Cache');
  });

  it('gives each caller of a cached answer its own CORS headers, not the first caller’s', async () => {
    const s = await scenario({ dataVersion: 1 });
    const both = { CORS_ORIGINS: ['https://a.example', 'https://b.example'] };
    const get = (origin?: string) =>
      s.fetch('/v1/listings?bbox=1,2,3,4', origin ? { headers: { origin } } : {}, both);

    const first = await get('https://a.example');
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(first.headers.get('access-control-allow-origin')).toBe('https://a.example');

    const second = await get('https://b.example');
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.headers.get('access-control-allow-origin')).toBe('https://b.example');

    for (const res of [await get('https://evil.example'), await get()]) {
      expect(res.headers.get('x-cache')).toBe('HIT');
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('vary')).toMatch(/Origin/);
    }
    // Without an Origin (not a browser's cross-origin request) no CORS header at all.
    expect((await get()).headers.get('access-control-expose-headers')).toBeNull();
    expect((await s.counts()).hits).toBe(1);
  });

  it('gives an unlisted origin no CORS headers', async () => {
    const s = await scenario({});
    const res = await s.fetch(
      '/v1/listings',
      { headers: { origin: 'https://evil.example' } },
      vars,
    );
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers a preflight at the edge, allowing Authorization and X-API-Key', async () => {
    const s = await scenario({});
    const res = await s.fetch(
      '/v1/listings',
      {
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.example.com',
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization, x-api-key',
        },
      },
      vars,
    );

    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(res.headers.get('access-control-allow-headers')).toMatch(/X-API-Key/);
    expect((await s.counts()).hits).toBe(0);
  });
});

describe('body limit', () => {
  it('refuses a body over 1 MiB with 413 problem+json before it reaches the origin', async () => {
    const s = await scenario({});
    const token = await signAccessToken({ claims: { scope: 'etl:admin' } });
    const res = await s.fetch('/v1/areas', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: 'x'.repeat(1024 * 1024 + 1),
    });

    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect((await s.counts()).hits).toBe(0);
  });
});

describe('URL and header size', () => {
  it('refuses a URL over 8 KiB with 414 problem+json naming the limit, before the origin', async () => {
    const s = await scenario({});
    const ok = await s.fetch(`/v1/listings?q=${'a'.repeat(7000)}`);
    expect(ok.status).toBe(200);

    for (const length of [8200, 20_000, 100_000]) {
      const res = await s.fetch(`/v1/listings?q=${'%27'.repeat(length / 3)}`);
      expect(res.status).toBe(414);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const body = (await res.json()) as { detail: string };
      expect(body.detail).toMatch(/limit is 8192/);
    }
    expect((await s.counts()).hits).toBe(1);
  });

  it('refuses request headers over 16 KiB with 431 problem+json, before the origin', async () => {
    const s = await scenario({});
    const res = await s.fetch('/v1/listings', {
      headers: { cookie: `session=${'x'.repeat(17 * 1024)}` },
    });
    expect(res.status).toBe(431);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(((await res.json()) as { detail: string }).detail).toMatch(/limit is 16384/);
    // Many small headers count as much as one big one.
    const many = Object.fromEntries(
      Array.from({ length: 400 }, (_, i) => [`x-h${i}`, 'v'.repeat(40)]),
    );
    expect((await s.fetch('/v1/listings', { headers: many })).status).toBe(431);
    expect((await s.counts()).hits).toBe(0);
  });
});

describe('GET /edge/health', () => {
  it('answers from the Worker alone, with the isolate’s counters and no origin address', async () => {
    const s = await scenario({ status: 500 });
    const res = await s.fetch('/edge/health');
    const body = (await res.json()) as Record<string, unknown>;

    expect(res.status).toBe(200);
    expect(body).toMatchObject({ status: 'ok', quota_store: 'none', rate_limit_fail_mode: 'open' });
    expect(JSON.stringify(body)).not.toContain(s.originUrl);
    expect((await s.counts()).hits).toBe(0);
  });
});
