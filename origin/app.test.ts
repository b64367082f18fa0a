import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test/support/db.js';
import { createApp } from './app.js';
import { runSource } from './etl/run.js';
import type { SourceInput } from './etl/source-config.js';
import { upsertSource } from './etl/sources.js';
import { createLogger } from './logger.js';

const SAMPLE = new URL('./etl/samples/kc_house_data.csv', import.meta.url);
const ROWS = 400;
/** Central Seattle: holds part of the sample, not all of it. */
const BBOX = [-122.36, 47.55, -122.25, 47.7] as const;

type Listing = {
  id: number;
  source_key: string;
  longitude: number;
  latitude: number;
  close_price: number;
};
type Problem = { type: string; title: string; status: number; detail: string; request_id?: string };

let testDb: TestDatabase;
let app: ReturnType<typeof createApp>;
let dir: string;
/** [lon, lat] of every row in the subset file, read straight from the CSV. */
let points: [number, number][];

beforeAll(async () => {
  testDb = await createTestDatabase();
  // The real ETL on a small slice of the King County sample: seconds, not the 21,613 rows.
  const lines = readFileSync(SAMPLE, 'utf8').split('\n');
  const header = (lines[0] as string).split(',');
  const subset = lines.slice(1, ROWS + 1);
  points = subset.map((line) => {
    const cells = line.split(',');
    return [Number(cells[header.indexOf('long')]), Number(cells[header.indexOf('lat')])];
  });
  dir = mkdtempSync(join(tmpdir(), 'estate-edge-app-'));
  const location = join(dir, 'kc-subset.csv');
  writeFileSync(location, [lines[0], ...subset].join('\n'));

  const sources = JSON.parse(
    readFileSync(new URL('./etl/sources.json', import.meta.url), 'utf8'),
  ) as SourceInput[];
  const kingCounty = sources.find((s) => s.name === 'king-county') as SourceInput;
  await upsertSource(testDb.db, { ...kingCounty, location });
  const summary = await runSource(testDb.db, 'king-county', { trigger: 'test' });
  expect(summary.status).toBe('succeeded');
  expect(summary.rowsInserted).toBe(ROWS);

  app = createApp({ db: testDb.db, logger: createLogger('silent') });
});

afterAll(async () => {
  await testDb?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const inBbox = ([lon, lat]: readonly [number, number]) =>
  lon >= BBOX[0] && lon <= BBOX[2] && lat >= BBOX[1] && lat <= BBOX[3];

async function listingCount(): Promise<number> {
  const [row] = await testDb.db.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM listings`);
  return (row as { n: number }).n;
}

/** Assert the response is an RFC 9457 problem with this status, and return its body. */
async function expectProblem(response: Response, status: number): Promise<Problem> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  expect(response.headers.get('cache-control')).toBe('no-store');
  const body = (await response.json()) as Problem;
  expect(body).toMatchObject({ type: 'about:blank', status });
  expect(body.title.length).toBeGreaterThan(0);
  expect(body.detail.length).toBeGreaterThan(0);
  // The id the client can quote is the one in the response header.
  expect(body.request_id).toBeTruthy();
  expect(body.request_id).toBe(response.headers.get('x-request-id'));
  return body;
}

describe('GET /health', () => {
  it('answers 200 ok and is never cached', async () => {
    const response = await app.request('/health');
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('sends the secure headers', async () => {
    const response = await app.request('/health');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-request-id')).toBeTruthy();
  });
});

describe('GET /health/ready', () => {
  it('reports ok, the database up and the migrations current', async () => {
    const response = await app.request('/health/ready');
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as {
      status: string;
      checks: {
        database: { status: string; latency_ms: number };
        migrations: { applied: number; available: number; current: boolean };
      };
    };
    expect(body.status).toBe('ok');
    expect(body.checks.database.status).toBe('up');
    expect(body.checks.database.latency_ms).toBeGreaterThanOrEqual(0);
    expect(body.checks.migrations.current).toBe(true);
    expect(body.checks.migrations.applied).toBeGreaterThan(0);
    expect(body.checks.migrations.applied).toBe(body.checks.migrations.available);
  });
});

describe('GET /v1/listings', () => {
  it('returns only listings inside the bbox, all of them when under the limit', async () => {
    const expected = points.filter(inBbox).length;
    expect(expected).toBeGreaterThan(10);
    expect(expected).toBeLessThan(ROWS); // the bbox must leave some listings out to prove anything

    const response = await app.request(`/v1/listings?bbox=${BBOX.join(',')}&limit=500`);
    expect(response.status).toBe(200);
    const { items } = (await response.json()) as { items: Listing[] };
    expect(items).toHaveLength(expected);
    for (const item of items) {
      expect(
        inBbox([item.longitude, item.latitude]),
        `${item.source_key} at ${item.longitude},${item.latitude}`,
      ).toBe(true);
    }
  });

  it('honours limit', async () => {
    const response = await app.request(`/v1/listings?bbox=${BBOX.join(',')}&limit=3`);
    expect(response.status).toBe(200);
    const { items } = (await response.json()) as { items: Listing[] };
    expect(items).toHaveLength(3);
    expect(new Set(items.map((i) => i.id)).size).toBe(3);
  });

  it('returns 50 listings by default and every field a map needs', async () => {
    const response = await app.request('/v1/listings');
    expect(response.status).toBe(200);
    const { items } = (await response.json()) as { items: Listing[] };
    expect(items).toHaveLength(50);
    expect(items[0]).toMatchObject({
      standard_status: 'Closed',
      source_key: expect.stringMatching(/^\d+:\d{4}-\d{2}-\d{2}$/),
      close_price: expect.any(Number),
      longitude: expect.any(Number),
      latitude: expect.any(Number),
    });
  });

  it('returns an empty list for a bbox with no listings', async () => {
    const response = await app.request('/v1/listings?bbox=10,10,11,11');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ items: [] });
  });

  it.each([
    ['bbox=1,2,3', 'bbox is minLon,minLat,maxLon,maxLat (four numbers)'],
    ['bbox=1,2,3,4,5', 'four numbers'],
    ['bbox=a,b,c,d', 'four numbers'],
    ['bbox=', 'four numbers'],
    ['bbox=,,1,1', 'four numbers'],
    ['bbox=0x10,1,20,2', 'four numbers'],
    ['bbox=-122,47,-123,48', 'min < max'],
    ['bbox=-200,47,-122,48', 'within [-180,-90,180,90]'],
    ['bbox=-122,-95,-121,48', 'within [-180,-90,180,90]'],
    ['bbox=-122,47,-121,Infinity', 'four numbers'],
  ])('refuses the bad bbox in ?%s with a 400 saying what a bbox is', async (query, detail) => {
    const body = await expectProblem(await app.request(`/v1/listings?${query}`), 400);
    expect(body.detail).toContain('bbox');
    expect(body.detail).toContain(detail);
  });

  it.each(['limit=0', 'limit=501', 'limit=-1', 'limit=2.5', 'limit=ten', 'limit='])(
    'refuses ?%s with a 400 naming limit',
    async (query) => {
      const body = await expectProblem(await app.request(`/v1/listings?${query}`), 400);
      expect(body.detail).toMatch(/^limit: /);
    },
  );

  it('refuses an unknown query parameter, naming it', async () => {
    const body = await expectProblem(
      await app.request('/v1/listings?bbox=-122.4,47.5,-122.2,47.7&colour=red'),
      400,
    );
    expect(body.detail).toContain('colour');
  });

  it('refuses a 100 KB bbox with a 400 and a short detail', async () => {
    const response = await app.request(`/v1/listings?bbox=${'1,'.repeat(50_000)}`);
    const body = await expectProblem(response, 400);
    expect(body.detail).toContain('bbox');
    expect(body.detail.length).toBeLessThan(1000);
  });

  it('refuses a 100 KB unknown parameter name with a 400 and a short detail', async () => {
    const response = await app.request(`/v1/listings?${'x'.repeat(100_000)}=1`);
    const body = await expectProblem(response, 400);
    expect(body.detail.length).toBeLessThan(1000);
  });

  it.each([
    "bbox=-122.4,47.5,-122.2,47.7');DROP TABLE listings;--",
    'limit=1;DROP TABLE listings;--',
    "limit=1' OR '1'='1",
    'bbox=-122.4,47.5,-122.2,47.7&limit=5%20UNION%20SELECT%20*%20FROM%20pg_user',
    "bbox'%20OR%201=1--=1",
  ])('refuses SQL in ?%s with a 400 and leaves the data alone', async (query) => {
    const before = await listingCount();
    const body = await expectProblem(await app.request(`/v1/listings?${query}`), 400);
    expect(body.title).toBe('Invalid request');
    expect(await listingCount()).toBe(before);
    expect(before).toBe(ROWS);
  });

  it('answers a repeated parameter without a 500', async () => {
    const response = await app.request('/v1/listings?limit=2&limit=3');
    expect(response.status).toBeLessThan(500);
  });

  it('echoes a well-formed X-Request-Id from the client in the problem', async () => {
    const response = await app.request('/v1/listings?limit=0', {
      headers: { 'X-Request-Id': 'client-req-123' },
    });
    const body = await expectProblem(response, 400);
    expect(body.request_id).toBe('client-req-123');
  });

  it('replaces a hostile X-Request-Id with its own', async () => {
    const response = await app.request('/v1/listings?limit=0', {
      headers: { 'X-Request-Id': `<script>${'a'.repeat(500)}` },
    });
    const body = await expectProblem(response, 400);
    expect(body.request_id).not.toContain('<script>');
    expect((body.request_id as string).length).toBeLessThanOrEqual(128);
  });
});

describe('errors', () => {
  it('answers an unknown route with a 404 problem naming the path', async () => {
    const body = await expectProblem(await app.request('/v2/nothing-here'), 404);
    expect(body.detail).toBe('no route for GET /v2/nothing-here');
  });

  it('clips a huge unknown path in the 404 detail', async () => {
    const body = await expectProblem(await app.request(`/${'p'.repeat(100_000)}`), 404);
    expect(body.detail.length).toBeLessThan(300);
  });

  it('refuses a body over 1 MiB with a 413 problem', async () => {
    const size = 1024 * 1024 + 1;
    const response = await app.request('/v1/listings', {
      method: 'POST',
      body: 'x'.repeat(size),
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(size) },
    });
    const body = await expectProblem(response, 413);
    expect(body.detail).toBe('the body is over 1 MiB');
  });

  it('does not refuse a body of exactly 1 MiB as too large', async () => {
    const size = 1024 * 1024;
    const response = await app.request('/v1/listings', {
      method: 'POST',
      body: 'x'.repeat(size),
      headers: { 'Content-Length': String(size) },
    });
    expect(response.status).not.toBe(413);
    expect(response.status).toBeLessThan(500);
  });
});
