import { describe, expect, it } from 'vitest';
import { scenario } from '../../test/scenario';
import { signAccessToken } from '../../test/tokens';
import { cacheRulesSchema } from './config';
import { cacheKey } from './key';

/** A query no other test uses: the Cache API is shared by every test of the run. */
const unique = () => `t=${crypto.randomUUID()}`;
const json = async (res: Response) => (await res.json()) as { hit: number; label: string | null };

describe('the edge cache', () => {
  it('answers a second identical GET from the cache without reaching the origin', async () => {
    const s = await scenario({ dataVersion: 1 });
    const path = `/v1/listings?bbox=-122.4,47.5,-122.2,47.7&${unique()}`;

    const first = await s.fetch(path);
    const second = await s.fetch(path);

    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.headers.get('age')).toMatch(/^\d+$/);
    expect(await json(second)).toEqual(await json(first));
    expect((await s.counts()).hits).toBe(1);
  });

  it('treats another parameter order and tracking parameters as the same request', async () => {
    const s = await scenario({ dataVersion: 1 });
    const id = unique();
    await s.fetch(`/v1/stats?group=month&bbox=1,2,3,4&${id}`);

    const reordered = await s.fetch(
      `/v1/stats?${id}&bbox=1,2,3,4&group=month&utm_source=mail&fbclid=x`,
    );

    expect(reordered.headers.get('x-cache')).toBe('HIT');
    expect((await s.counts()).hits).toBe(1);
  });

  it('keeps GeoJSON and JSON answers of the same URL apart', async () => {
    const s = await scenario({ dataVersion: 1 });
    const path = `/v1/listings?${unique()}`;
    await s.fetch(path);

    const geo = await s.fetch(path, { headers: { accept: 'application/geo+json' } });

    expect(geo.headers.get('x-cache')).toBe('MISS');
    expect((await s.counts()).hits).toBe(2);
  });

  it('never caches a personal route, even for the same caller asking twice', async () => {
    const s = await scenario({ dataVersion: 1 });
    const token = await signAccessToken({ claims: { scope: 'keys:write' } });
    const init = { headers: { authorization: `Bearer ${token}` } };

    await s.fetch('/v1/api-keys', init);
    const again = await s.fetch('/v1/api-keys', init);

    expect(again.headers.get('x-cache')).toBe('BYPASS');
    expect((await s.counts()).hits).toBe(2);
  });

  it('does not store answers marked private, no-store, or setting a cookie', async () => {
    for (const behaviour of [
      { cacheControl: 'private, max-age=60' },
      { cacheControl: 'no-store' },
      { setCookie: 'a=b' },
    ]) {
      const s = await scenario({ dataVersion: 1, ...behaviour });
      const path = `/v1/listings?${unique()}`;
      await s.fetch(path);
      const again = await s.fetch(path);

      expect(again.headers.get('x-cache'), JSON.stringify(behaviour)).toBe('MISS');
      expect((await s.counts()).hits).toBe(2);
    }
  });

  it('does not cache errors', async () => {
    const s = await scenario({ dataVersion: 1, status: 404 });
    const path = `/v1/listings/999?${unique()}`;
    await s.fetch(path);
    await s.fetch(path);

    expect((await s.counts()).hits).toBe(2);
  });

  it('misses once the data version changes, within the version TTL', async () => {
    const s = await scenario({ dataVersion: 10, label: 'before' });
    const path = `/v1/listings?${unique()}`;
    const vars = { DATA_VERSION_TTL: '1' };
    await s.fetch(path, undefined, vars);
    expect((await s.fetch(path, undefined, vars)).headers.get('x-cache')).toBe('HIT');

    await s.set({ dataVersion: 11, label: 'after' });
    // The bound under traffic: an isolate refreshes the version in the background after 1 TTL,
    // and the next request after the refresh uses it, so within 3 s the old answer must be gone.
    const deadline = Date.now() + 3_500;
    let res = await s.fetch(path, undefined, vars);
    while (res.headers.get('x-cache') === 'HIT' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      res = await s.fetch(path, undefined, vars);
    }

    expect(res.headers.get('x-cache')).toBe('MISS');
    expect((await json(res)).label).toBe('after');
  });

  it('after an idle spell, answers with the version it knows and refreshes it in the background (issue 15)', async () => {
    const s = await scenario({ dataVersion: 20, label: 'before' });
    const path = `/v1/listings?${unique()}`;
    const vars = { DATA_VERSION_TTL: '1' };
    await s.fetch(path, undefined, vars);
    // Idle past 3 TTLs, where a request used to wait; the origin is now slow to say its version.
    await new Promise((resolve) => setTimeout(resolve, 3_200));
    // Under the refresh's own 2 s timeout, so the refresh lands.
    await s.set({ dataVersion: 21, label: 'after', dataVersionDelayMs: 1_200 });

    const { res: first, answeredMs } = await s.timedFetch(path, undefined, vars);

    expect(first.headers.get('x-cache')).toBe('HIT');
    expect((await json(first)).label).toBe('before');
    expect(answeredMs).toBeLessThan(900);
    // The background refresh lands: the next requests see the new version.
    const deadline = Date.now() + 5_000;
    let res = await s.fetch(path, undefined, vars);
    while (res.headers.get('x-cache') === 'HIT' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      res = await s.fetch(path, undefined, vars);
    }
    expect((await json(res)).label).toBe('after');
  }, 20_000);

  it('serves a stale copy while one background refresh fetches the new one', async () => {
    const s = await scenario({ dataVersion: 1, label: 'old' });
    const path = `/v1/listings?${unique()}`;
    const vars = { CACHE_RULES: [{ prefix: '/v1/listings', ttl: 1, swr: 60 }] };
    await s.fetch(path, undefined, vars);
    await s.set({ dataVersion: 1, label: 'new' });
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    const stale = await s.fetch(path, undefined, vars);
    const fresh = await s.fetch(path, undefined, vars);

    expect(stale.headers.get('x-cache')).toBe('STALE');
    expect(stale.headers.get('warning')).toContain('110');
    expect((await json(stale)).label).toBe('old');
    expect(fresh.headers.get('x-cache')).toBe('HIT');
    expect((await json(fresh)).label).toBe('new');
    expect((await s.counts()).hits).toBe(2);
  });

  it('serves the last good answer, marked stale, when the origin fails', async () => {
    const s = await scenario({ dataVersion: 1, label: 'good' });
    const path = `/v1/listings?${unique()}`;
    const vars = {
      CACHE_RULES: [{ prefix: '/v1/listings', ttl: 1, sie: 60 }],
      ORIGIN_POLICY: { retries: 0 },
    };
    await s.fetch(path, undefined, vars);
    await s.set({ dataVersion: 1, status: 503 });
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    const res = await s.fetch(path, undefined, vars);

    expect(res.status).toBe(200);
    expect(res.headers.get('x-cache')).toBe('STALE');
    expect(res.headers.get('warning')).toContain('111');
    expect(res.headers.get('cache-control')).not.toBe('no-store');
    expect((await json(res)).label).toBe('good');
  });

  it('passes the error on once the copy is older than stale-if-error allows', async () => {
    const s = await scenario({ dataVersion: 1 });
    const path = `/v1/listings?${unique()}`;
    const vars = {
      CACHE_RULES: [{ prefix: '/v1/listings', ttl: 1, sie: 1 }],
      ORIGIN_POLICY: { retries: 0 },
    };
    await s.fetch(path, undefined, vars);
    await s.set({ dataVersion: 1, status: 503 });
    await new Promise((resolve) => setTimeout(resolve, 2_100));

    const res = await s.fetch(path, undefined, vars);

    expect(res.status).toBe(503);
  });

  it('answers HEAD from a cached GET, without a body', async () => {
    const s = await scenario({ dataVersion: 1 });
    const path = `/v1/listings?${unique()}`;
    await s.fetch(path);

    const head = await s.fetch(path, { method: 'HEAD' });

    expect(head.headers.get('x-cache')).toBe('HIT');
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('never stores the answer to a HEAD: the GET after it gets the whole body', async () => {
    const s = await scenario({ dataVersion: 1 });
    const path = `/v1/listings?${unique()}`;

    const head = await s.fetch(path, { method: 'HEAD' });
    const get = await s.fetch(path);

    expect(head.headers.get('x-cache')).toBe('MISS');
    expect(get.headers.get('x-cache')).toBe('MISS');
    expect((await json(get)).hit).toBe(2);
    expect((await s.counts()).requests.map((r) => r.method)).toEqual(['HEAD', 'GET']);
  });

  it('refreshes with a GET when a HEAD finds a stale copy, so the copy keeps its body', async () => {
    const s = await scenario({ dataVersion: 1, label: 'old' });
    const path = `/v1/listings?${unique()}`;
    const vars = { CACHE_RULES: [{ prefix: '/v1/listings', ttl: 1, swr: 60 }] };
    await s.fetch(path, undefined, vars);
    await s.set({ dataVersion: 1, label: 'new' });
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    const head = await s.fetch(path, { method: 'HEAD' }, vars);
    const fresh = await s.fetch(path, undefined, vars);

    expect(head.headers.get('x-cache')).toBe('STALE');
    expect(fresh.headers.get('x-cache')).toBe('HIT');
    expect((await json(fresh)).label).toBe('new');
    expect((await s.counts()).requests.map((r) => r.method)).toEqual(['GET', 'GET']);
  });

  it('keys the variant on the negotiated format: geo+json;q=0 shares the JSON entry', async () => {
    const s = await scenario({ dataVersion: 1 });
    const path = `/v1/listings?${unique()}`;
    await s.fetch(path, { headers: { accept: 'application/geo+json;q=0' } });

    const plain = await s.fetch(path);
    const geo = await s.fetch(path, { headers: { accept: 'application/geo+json' } });

    expect(plain.headers.get('x-cache')).toBe('HIT');
    expect(geo.headers.get('x-cache')).toBe('MISS');
    expect((await s.counts()).hits).toBe(2);
  });

  it('refuses a repeated query parameter with 400, before the cache and the origin', async () => {
    const s = await scenario({ dataVersion: 1 });
    const id = unique();
    for (const query of [`a=1&a=2&${id}`, `a=2&a=1&${id}`, `price%5Fmax=1&price_max=2&${id}`]) {
      const res = await s.fetch(`/v1/listings?${query}`);

      expect(res.status, query).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(((await res.json()) as { detail: string }).detail).toMatch(/given more than once/);
    }
    expect((await s.counts()).hits).toBe(0);
  });

  it('answers 304 from the cache when the client already has the ETag', async () => {
    const s = await scenario({ dataVersion: 1, etag: '"abc"' });
    const path = `/v1/tiles/listings/1/0/0.mvt?${unique()}`;
    await s.fetch(path);

    const res = await s.fetch(path, { headers: { 'if-none-match': 'W/"abc"' } });

    expect(res.status).toBe(304);
    expect(res.headers.get('etag')).toBe('"abc"');
  });

  it('turns public into private for a signed-in caller, so shared caches do not keep it', async () => {
    const s = await scenario({ dataVersion: 1, cacheControl: 'public, max-age=300' });
    const path = `/v1/tiles/listings/1/0/0.mvt?${unique()}`;
    const token = await signAccessToken({ claims: { scope: 'tiles:read' } });
    await s.fetch(path);

    const res = await s.fetch(path, { headers: { authorization: `Bearer ${token}` } });

    expect(res.headers.get('x-cache')).toBe('HIT');
    expect(res.headers.get('cache-control')).toBe('private, max-age=300');
  });

  it('still refuses an unauthorised caller before looking in the cache', async () => {
    const s = await scenario({ dataVersion: 1 });
    const path = `/v1/listings?${unique()}`;
    await s.fetch(path);

    const res = await s.fetch(path, undefined, { ANONYMOUS_ACCESS: 'false' });

    expect(res.status).toBe(401);
  });

  it('bypasses the cache when the origin publishes no data version', async () => {
    const s = await scenario({});
    const path = `/v1/listings?${unique()}`;
    await s.fetch(path);
    const again = await s.fetch(path);

    expect(again.headers.get('x-cache')).toBe('BYPASS');
    expect((await s.counts()).hits).toBe(2);
  });

  it('survives hostile query strings without a 500', async () => {
    const s = await scenario({ dataVersion: 1 });
    const many = Array.from({ length: 2_000 }, (_, i) => `p${i}=${i}`).join('&');
    for (const query of [
      many,
      `q=${'%F0%9F%8F%A0'.repeat(500)}`,
      'a=%zz&__v=9&__accept=geojson',
      '&&&=&=',
    ]) {
      const res = await s.fetch(`/v1/listings?${query}`);
      expect(res.status, query.slice(0, 40)).toBeLessThan(500);
    }
  });
});

describe('cacheKey', () => {
  const url = (q: string) => new URL(`https://edge.test/v1/listings?${q}`);

  it('sorts by name, keeping the values of a repeated name in the order given', () => {
    expect(cacheKey(url('b=2&a=1&a=0'), null, '3')).toBe(
      'https://edge-cache.estate-edge.internal/v1/listings?a=1&a=0&b=2&__v=3',
    );
    expect(cacheKey(url('a=0&a=1'), null, '3')).not.toBe(cacheKey(url('a=1&a=0'), null, '3'));
  });

  it('cannot be steered by a client-sent __v or __accept', () => {
    expect(cacheKey(url('__v=999&__accept=geojson&x=1'), null, '3')).toBe(
      'https://edge-cache.estate-edge.internal/v1/listings?x=1&__v=3',
    );
  });

  it('drops tracking and credential parameters, keeps everything else', () => {
    expect(cacheKey(url('utm_campaign=x&gclid=y&api_key=z&limit=5'), null, '1')).toBe(
      'https://edge-cache.estate-edge.internal/v1/listings?limit=5&__v=1',
    );
  });

  it('varies by version and by GeoJSON', () => {
    const base = cacheKey(url('a=1'), null, '1');
    expect(cacheKey(url('a=1'), null, '2')).not.toBe(base);
    expect(cacheKey(url('a=1'), 'application/geo+json', '1')).not.toBe(base);
    expect(cacheKey(url('a=1'), 'application/json', '1')).toBe(base);
  });

  it('keys the format the origin negotiates, not a substring of Accept', () => {
    const json = cacheKey(url('a=1'), null, '1');
    const geo = cacheKey(url('a=1'), 'application/geo+json', '1');
    for (const accept of [
      'application/geo+json;q=0',
      'application/geo+json; q=0.000, */*',
      'application/GEO+JSON;Q=0',
      'application/geo+jsonx',
      'application/json, application/geo+json;q=0.5',
      '*/*',
    ])
      expect(cacheKey(url('a=1'), accept, '1'), accept).toBe(json);
    for (const accept of [
      'application/geo+json, */*',
      'application/geo+json, application/json',
      'application/json;q=0.5, application/geo+json',
      'Application/Geo+JSON ; q=1',
    ])
      expect(cacheKey(url('a=1'), accept, '1'), accept).toBe(geo);
  });
});

describe('CACHE_RULES', () => {
  it('refuses rules that would cache personal or operational paths, or the root', () => {
    for (const prefix of [
      '/v1/auth',
      '/v1/api-keys/x',
      '/v1/audit',
      '/v1',
      '/',
      '/health',
      '/v1/etl',
    ])
      expect(cacheRulesSchema.safeParse([{ prefix, ttl: 60 }]).success, prefix).toBe(false);
  });

  it('refuses malformed rules: no slash, zero ttl, negative stale windows', () => {
    expect(cacheRulesSchema.safeParse([{ prefix: 'v1/stats', ttl: 60 }]).success).toBe(false);
    expect(cacheRulesSchema.safeParse([{ prefix: '/v1/stats', ttl: 0 }]).success).toBe(false);
    expect(cacheRulesSchema.safeParse([{ prefix: '/v1/stats', ttl: 1, swr: -1 }]).success).toBe(
      false,
    );
  });

  it('accepts the public read routes', () => {
    expect(
      cacheRulesSchema.safeParse([{ prefix: '/v1/stats', ttl: 300, swr: 60, sie: 86400 }]).success,
    ).toBe(true);
  });
});
