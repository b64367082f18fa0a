import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EDGE_ASSERTION_HEADER } from '../../contract/assertion.js';
import { createApp } from '../../origin/app.js';
import { identityConfigFrom } from '../../origin/auth/config.js';
import { runSource } from '../../origin/etl/run.js';
import { upsertSource } from '../../origin/etl/sources.js';
import { createLogger } from '../../origin/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { signAssertion } from '../support/edge-assertion.js';
import {
  buildEdgeWorker,
  type EdgeBundle,
  type EdgeWorker,
  startEdgeWorker,
} from '../support/edge-worker.js';
import { feedSource, fixture, HEADER } from '../support/etl.js';
import { type OriginServer, startOriginServer } from '../support/origin-server.js';

/**
 * Issue 13, findings 1 and 2, as an attacker would try them: the real Worker bundle in workerd in
 * front of the real origin on PostGIS, one anonymous request to plant a bad copy in the shared
 * cache, then the victim's request. Before the fix each of these handed the victim what the
 * attacker's request made: an empty body after a HEAD (at once, or through a stale-while-
 * revalidate refresh a HEAD started), JSON to a GeoJSON client (or GeoJSON to one that refused
 * it) after `Accept: application/geo+json;q=0`, and one filter's tile to another after a query
 * that repeated the filter in the other order.
 *
 * Every test asks for URLs no other test uses (limits, dates, tile addresses of its own): the
 * cache outlives a test, and a copy left by one must not decide another.
 */

const identity = identityConfigFrom({});
const secret = randomBytes(32).toString('base64url');

/** Seconds a /v1/stats answer is fresh here; the stale-while-revalidate test waits past it. */
const STATS_TTL_S = 2;

/** Four listings in Seattle, two of them under 500 000: enough for filters to tell tiles apart. */
const feedCsv = `${HEADER}
CP-1,A,250000,2,1 Poison Rd,2024-03-01,47.61,-122.33
CP-2,A,450000,3,2 Poison Rd,2024-03-02,47.62,-122.34
CP-3,P,650000,4,3 Poison Rd,2024-03-03,47.63,-122.35
CP-4,A,850000,5,4 Poison Rd,2024-03-04,47.64,-122.36
`;

let t: TestDatabase;
let bundle: EdgeBundle;
let origin: OriginServer;
let edge: EdgeWorker;

beforeAll(async () => {
  const [b, db] = await Promise.all([buildEdgeWorker(), createTestDatabase()]);
  bundle = b;
  t = db;
  await upsertSource(t.db, feedSource('poison-feed', fixture(feedCsv)));
  expect((await runSource(t.db, 'poison-feed')).status).toBe('succeeded');
  origin = await startOriginServer(
    createApp({
      db: t.db,
      logger: createLogger('silent'),
      identity,
      edgeAssertionSecret: secret,
    }),
  );
  edge = await startEdgeWorker({
    bundle,
    originUrl: origin.url,
    edgeAssertionSecret: secret,
    issuer: identity.issuer,
    audience: identity.audience,
    vars: {
      // Long enough that only what a test does changes the version (no ETL runs here).
      DATA_VERSION_TTL: 60,
      CACHE_RULES: [
        { prefix: '/v1/listings', ttl: 600 },
        { prefix: '/v1/tiles', ttl: 3_600 },
        { prefix: '/v1/stats', ttl: STATS_TTL_S, swr: 600 },
      ],
    },
  });
});

afterAll(async () => {
  await edge?.stop();
  await origin?.stop();
  await bundle?.dispose();
  await t?.drop();
});

let addresses = 0;
/** A client address per request (IPv6 documentation range): no burst guard or quota decides a test. */
const freshIp = () => `2001:db8:13::${(++addresses).toString(16)}`;

type Answer = { status: number; headers: Headers; body: Uint8Array; text: string };

/** One anonymous request through the Worker, as a client behind Cloudflare would send it. */
async function send(
  method: 'GET' | 'HEAD',
  path: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await edge.fetch(path, {
    method,
    headers: { 'CF-Connecting-IP': freshIp(), ...headers },
  });
  const body = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, text: new TextDecoder().decode(body) };
}

/** Polls until `probe` holds; fails at the deadline (a loaded machine gets generous time). */
async function until(what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Requests for exactly this path and query that reached the origin, by method. */
const reached = (path: string, method: string) =>
  origin.requests.filter((r) => r.path === path && r.method === method).length;

describe('a HEAD', () => {
  it('leaves the GET answer whole: HEAD then GET gets the full body', async () => {
    for (const path of ['/v1/listings?limit=7', '/v1/tiles/listings/0/0/0.mvt?price_min=1']) {
      const head = await send('HEAD', path);
      expect(head.status, path).toBe(200);
      expect(head.body.byteLength, path).toBe(0);

      const get = await send('GET', path);

      expect(get.status, path).toBe(200);
      expect(get.body.byteLength, `${path}: the GET after a HEAD came back empty`).toBeGreaterThan(
        0,
      );
      expect(get.headers.get('x-cache'), path).toBe('MISS');
      // And once a GET has filled the entry, a HEAD is answered from it, without a body.
      const again = await send('HEAD', path);
      expect(again.headers.get('x-cache'), path).toBe('HIT');
      expect(again.body.byteLength, path).toBe(0);
    }
    const listings = await send('GET', '/v1/listings?limit=7');
    expect((JSON.parse(listings.text) as { items: unknown[] }).items).toHaveLength(4);
  });

  it('that starts a stale-while-revalidate refresh does not store an empty body', async () => {
    const path = '/v1/stats?bbox=-123,47,-122,48&since=2001-01-01';
    const first = await send('GET', path);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    const full = first.text;
    expect(full.length).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, STATS_TTL_S * 1_000 + 200));

    const before = origin.count(path);
    const head = await send('HEAD', path);
    expect(head.headers.get('x-cache')).toBe('STALE');
    expect(head.body.byteLength).toBe(0);
    // The refresh reaches the origin in the background; give the Worker a moment to store it.
    await until('the background refresh', () => origin.count(path) > before);
    await new Promise((resolve) => setTimeout(resolve, 300));

    const get = await send('GET', path);
    expect(get.headers.get('x-cache')).toBe('HIT');
    expect(get.text, 'the copy the HEAD refreshed is empty').toBe(full);
    expect(reached(path, 'HEAD'), 'the refresh was sent as a HEAD').toBe(0);
  });
});

describe('Accept: application/geo+json;q=0', () => {
  const refused = { accept: 'application/geo+json;q=0' };
  const geoJson = { accept: 'application/geo+json' };
  const isGeoJson = (a: Answer) =>
    a.headers.get('content-type')?.startsWith('application/geo+json') === true &&
    (JSON.parse(a.text) as { type?: string }).type === 'FeatureCollection';
  const isJson = (a: Answer) =>
    a.headers.get('content-type')?.startsWith('application/json') === true &&
    Array.isArray((JSON.parse(a.text) as { items?: unknown }).items);

  it('does not plant JSON in the GeoJSON variant', async () => {
    const path = '/v1/listings?limit=11';
    const attacker = await send('GET', path, refused);
    expect(attacker.status).toBe(200);
    expect(isJson(attacker), 'q=0 refuses GeoJSON: the origin answers JSON').toBe(true);

    const victim = await send('GET', path, geoJson);

    expect(victim.status).toBe(200);
    expect(isGeoJson(victim), `a GeoJSON client got ${victim.headers.get('content-type')}`).toBe(
      true,
    );
  });

  it('is not answered from the GeoJSON variant (and vice versa)', async () => {
    const path = '/v1/listings?limit=12';
    const geo = await send('GET', path, geoJson);
    expect(isGeoJson(geo)).toBe(true);

    const refusing = await send('GET', path, refused);

    expect(
      isJson(refusing),
      `a client refusing GeoJSON got it (${refusing.headers.get('x-cache')})`,
    ).toBe(true);
    // A plain GET is JSON, and the GeoJSON client still gets GeoJSON.
    expect(isJson(await send('GET', path))).toBe(true);
    expect(isGeoJson(await send('GET', path, geoJson))).toBe(true);
  });

  it('is decided the same way at both ends, wildcards and preferences included', async () => {
    // Each pair: the Accept that fills the entry, then one that must get the other format.
    const pairs: [string, string, 'json' | 'geojson'][] = [
      ['application/geo+json;q=0, */*', 'application/geo+json, */*', 'geojson'],
      ['application/json, application/geo+json;q=0.5', 'application/geo+json', 'geojson'],
      ['application/geo+json, */*', 'application/json;q=1, application/geo+json;q=0.1', 'json'],
      ['application/geo+jsonx', 'application/geo+json', 'geojson'],
    ];
    let limit = 20;
    for (const [first, second, expected] of pairs) {
      const path = `/v1/listings?limit=${++limit}`;
      await send('GET', path, { accept: first });
      const answer = await send('GET', path, { accept: second });
      const label = `${first} then ${second}`;
      expect(answer.status, label).toBe(200);
      expect(expected === 'geojson' ? isGeoJson(answer) : isJson(answer), label).toBe(true);
    }
  });
});

describe('a repeated query parameter', () => {
  // The same two values in the other order: one key before the fix, two answers at the origin
  // (which reads the first).
  const tile = '/v1/tiles/listings/5/5/11.mvt';
  const cheapFirst = `${tile}?price_max=500000&price_max=900000`;
  const dearFirst = `${tile}?price_max=900000&price_max=500000`;

  it('is refused at the edge with a 400 problem, before the cache and the origin', async () => {
    for (const path of [cheapFirst, dearFirst, '/v1/listings?limit=5&limit=6']) {
      const res = await send('GET', path);
      expect(res.status, path).toBe(400);
      expect(res.headers.get('content-type'), path).toBe('application/problem+json');
      expect(res.text, path).toContain(path.includes('limit') ? 'limit' : 'price_max');
      expect(origin.count(path), `${path} reached the origin`).toBe(0);
    }
  });

  it('never hands one order the answer made for the other', async () => {
    const cheap = await send('GET', `${tile}?price_max=500000`);
    // z5 is a cell tile (issue 16): X-Tile-Listings counts the listings its cells stand for.
    expect(cheap.headers.get('x-tile-listings')).toBe('2');
    await send('GET', cheapFirst);

    const other = await send('GET', dearFirst);

    expect(
      other.headers.get('x-tile-listings'),
      'a 500 000 tile for price_max=900000,...',
    ).not.toBe('2');
  });

  it('is refused by the origin too, straight from a valid edge assertion', async () => {
    const path = `${tile}?price_max=500000&price_max=900000`;
    const assertion = await signAssertion(secret, { method: 'GET', path });
    const res = await fetch(`${origin.url}${path}`, {
      headers: { [EDGE_ASSERTION_HEADER]: assertion },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.text()).toContain('price_max');
  });
});
