import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { TEST_EDGE_SECRET, throughEdge } from '../../../test/support/edge-assertion.js';
import { createApp } from '../../app.js';
import { deriveZipAreas } from '../../areas/derive.js';
import { declareShippedSources } from '../../bootstrap.js';
import { projectRoot } from '../../etl/fetch-input.js';
import { runSource } from '../../etl/run.js';
import { createLogger } from '../../logger.js';
import { inRings, percentileCont, type Rec, readKingCounty } from '../stats/reference.js';

/**
 * /v1/areas and derived ZIP areas against real PostGIS over the King County sample. Expected
 * values come from the CSV in JS (point-in-polygon over the geometry the API returns), or from
 * /v1/stats where the point is that the two agree.
 */

let t: TestDatabase;
let app: ReturnType<typeof createApp>;
let kc: Rec[];
let derived: Awaited<ReturnType<typeof deriveZipAreas>>;

beforeAll(async () => {
  t = await createTestDatabase();
  await declareShippedSources(t.db);
  await runSource(t.db, 'king-county');
  kc = readKingCounty(join(projectRoot, 'origin/etl/samples/kc_house_data.csv'));
  derived = await deriveZipAreas(t.db);
  app = throughEdge(
    createApp({ db: t.db, logger: createLogger('silent'), edgeAssertionSecret: TEST_EDGE_SECRET }),
  );
}, 120_000);

afterAll(async () => {
  await t.drop();
});

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field below
type Json = any;

async function get(path: string): Promise<{ status: number; type: string | null; body: Json }> {
  const res = await app.request(path);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
}

async function post(query: string, body: string, contentType = 'application/geo+json') {
  const res = await app.request(`/v1/areas?${query}`, {
    method: 'POST',
    body,
    headers: { 'content-type': contentType },
  });
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: (await res.json()) as Json,
  };
}

async function allAreas(query = ''): Promise<Json[]> {
  const items: Json[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res = await get(`/v1/areas?limit=25${query}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
    pages += 1;
  } while (cursor && pages < 100);
  return items;
}

const inMulti = (r: Rec, geometry: { coordinates: number[][][][] }) =>
  geometry.coordinates.some((rings) => inRings(r.lon, r.lat, rings));

describe('derived ZIP areas', () => {
  it('makes one approximate area per postal code, each holding (nearly) all of its listings', async () => {
    const byZip = new Map<string, Rec[]>();
    for (const r of kc) byZip.set(r.zip as string, [...(byZip.get(r.zip as string) ?? []), r]);
    const eligible = [...byZip].filter(([, recs]) => recs.length >= 5);
    expect(derived.areas).toBe(eligible.length);
    expect(derived.skipped).toEqual(
      [...byZip]
        .filter(([, recs]) => recs.length < 5)
        .map(([zip, recs]) => ({
          postalCode: zip,
          listings: recs.length,
          reason: expect.any(String),
        })),
    );
    const areas = await allAreas('&kind=zip-derived');
    expect(areas).toHaveLength(eligible.length);
    let contained = 0;
    for (const area of areas) {
      const detail = (await get(`/v1/areas/${area.id}`)).body;
      const zip = detail.properties.postal_code as string;
      expect(detail.name).toBe(`ZIP ${zip} (derived from listings)`);
      expect(detail.slug).toBe(`zip-derived-${zip}`);
      expect(detail.properties.approximate).toBe(true);
      const own = byZip.get(zip) as Rec[];
      const inside = own.filter((r) => inMulti(r, detail.geometry)).length;
      // Every listing the hull was drawn around is inside; far-off outliers may not be.
      expect(inside, zip).toBeGreaterThanOrEqual(detail.properties.listings);
      expect(detail.properties.listings + detail.properties.outliers_left_out).toBe(own.length);
      expect(inside / own.length, zip).toBeGreaterThanOrEqual(0.9);
      contained += inside;
    }
    const total = eligible.reduce((n, [, recs]) => n + recs.length, 0);
    expect(contained / total).toBeGreaterThanOrEqual(0.99);
  });

  it('re-derives in place: same ids, nothing deleted', async () => {
    const before = (await allAreas('&kind=zip-derived')).map((a) => a.id);
    const again = await deriveZipAreas(t.db);
    expect(again.deleted).toBe(0);
    expect((await allAreas('&kind=zip-derived')).map((a) => a.id)).toEqual(before);
  });

  it('skips postal codes whose listings spread over an implausible area', async () => {
    const result = await deriveZipAreas(t.db, { maxAreaKm2: 5 });
    expect(result.skipped.some((s) => /spread over/.test(s.reason))).toBe(true);
    expect(result.areas + result.skipped.length).toBe(derived.areas + derived.skipped.length);
    // Put the full set back for the other tests.
    expect((await deriveZipAreas(t.db)).areas).toBe(derived.areas);
  });
});

describe('GET /v1/areas', () => {
  it('pages through every area once, in id order, with bbox and listing count', async () => {
    const items = await allAreas();
    const ids = items.map((a) => a.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(items.length).toBe(derived.areas);
    for (const a of items.slice(0, 10)) {
      const detail = (await get(`/v1/areas/${a.id}`)).body;
      expect(a.listing_count).toBe(kc.filter((r) => inMulti(r, detail.geometry)).length);
      const [x0, y0, x1, y1] = a.bbox;
      const points = detail.geometry.coordinates.flat(2) as number[][];
      expect(x0).toBeCloseTo(Math.min(...points.map((p) => p[0] as number)), 6);
      expect(y1).toBeCloseTo(Math.max(...points.map((p) => p[1] as number)), 6);
      expect(x0 < x1 && y0 < y1).toBe(true);
    }
  });

  it('filters by kind and caps the page', async () => {
    expect((await get('/v1/areas?kind=nothing')).body).toEqual({ items: [], next_cursor: null });
    const page = await get('/v1/areas?limit=3');
    expect(page.body.items).toHaveLength(3);
    expect(page.body.next_cursor).toBe(String(page.body.items[2].id));
  });

  it('answers 400 problem+json naming the parameter for bad input', async () => {
    const cases: [string, string][] = [
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=10000', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=1e2', 'limit'],
      ['cursor=abc', 'cursor'],
      ['cursor=-1', 'cursor'],
      [`cursor=${'9'.repeat(10_000)}`, 'cursor'],
      ['kind=ZIP', 'kind'],
      [`kind=${encodeURIComponent("zip' OR 1=1--")}`, 'kind'],
      ['kind=🏠', 'kind'],
      ['bbox=1,2,3,4', 'bbox'],
    ];
    for (const [query, param] of cases) {
      const res = await get(`/v1/areas?${query}`);
      expect(res.status, query.slice(0, 60)).toBe(400);
      expect(res.type).toBe('application/problem+json');
      expect(res.body.detail).toContain(param);
    }
  });
});

describe('GET /v1/areas/{id}', () => {
  it('gives the geometry as GeoJSON and headline stats that agree with /v1/stats and the CSV', async () => {
    const [area] = await allAreas('&kind=zip-derived');
    const detail = await get(`/v1/areas/${area.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.geometry.type).toBe('MultiPolygon');
    const inside = kc.filter((r) => inMulti(r, detail.body.geometry));
    const asOf = kc
      .map((r) => r.closed as string)
      .sort()
      .at(-1) as string;
    const { stats } = detail.body;
    expect(stats.as_of).toBe(asOf);
    expect(stats.listing_count).toBe(inside.length);
    expect(stats.median_close_price).toBeCloseTo(
      percentileCont(
        inside.map((r) => r.close as number),
        0.5,
      ) as number,
      6,
    );
    expect(stats.median_price_per_sqft).toBeCloseTo(
      percentileCont(
        inside.map((r) => (r.close as number) / (r.living as number)),
        0.5,
      ) as number,
      9,
    );

    const [y, m, d] = asOf.split('-').map(Number) as [number, number, number];
    const windowStart = new Date(Date.UTC(y - 1, m - 1, d + 1)).toISOString().slice(0, 10);
    expect(stats.closed_sales_last_12_months).toBe(
      inside.filter((r) => (r.closed as string) >= windowStart).length,
    );

    const whole = (await get(`/v1/stats?area=${area.id}&group=type`)).body;
    expect(whole.groups).toHaveLength(1); // the sample is all Residential
    expect(stats.listing_count).toBe(whole.groups[0].count);
    expect(stats.median_close_price).toBe(whole.groups[0].close_price.median);
    expect(stats.median_price_per_sqft).toBe(whole.groups[0].price_per_sqft.median);
    const lastYear = (
      await get(`/v1/stats?area=${area.id}&group=type&since=${windowStart}&until=${asOf}`)
    ).body;
    expect(stats.closed_sales_last_12_months).toBe(lastYear.groups[0].closed_sales);
  });

  it('answers 404 problem+json for an unknown id and 400 for a malformed one', async () => {
    const missing = await get('/v1/areas/987654');
    expect(missing.status).toBe(404);
    expect(missing.type).toBe('application/problem+json');
    expect(missing.body.detail).toMatch(/987654/);
    for (const id of [
      '0',
      '-1',
      'abc',
      '1e3',
      '1.5',
      '99999999999',
      "1'%20OR%201=1",
      'x'.repeat(10_000),
    ]) {
      const res = await get(`/v1/areas/${id}`);
      expect(res.status, id.slice(0, 30)).toBe(400);
      expect(res.body.detail).toContain('id');
    }
  });
});

describe('POST /v1/areas', () => {
  const ring = [
    [-122.35117, 47.60113],
    [-122.30119, 47.60171],
    [-122.30231, 47.64137],
    [-122.35011, 47.64093],
    [-122.35117, 47.60113],
  ];
  const file = (features: unknown[]) => JSON.stringify({ type: 'FeatureCollection', features });
  const poly = (name: string, coordinates: unknown) => ({
    type: 'Feature',
    properties: { NAME: name },
    geometry: { type: 'Polygon', coordinates },
  });

  it('stores a file and answers the ids; the area then lists and counts its listings', async () => {
    const res = await post(
      'kind=neighbourhood&name_property=NAME',
      file([poly('Downtown-ish', [ring])]),
    );
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ ids: [expect.any(Number)], repaired: [], deleted: 0 });
    const detail = (await get(`/v1/areas/${res.body.ids[0]}`)).body;
    expect(detail).toMatchObject({
      slug: 'neighbourhood-downtown-ish',
      name: 'Downtown-ish',
      kind: 'neighbourhood',
    });
    expect(detail.stats.listing_count).toBe(kc.filter((r) => inRings(r.lon, r.lat, [ring])).length);
    expect((await get('/v1/areas?kind=neighbourhood')).body.items.map((a: Json) => a.id)).toEqual(
      res.body.ids,
    );

    const again = await post(
      'kind=neighbourhood&name_property=NAME',
      file([poly('Downtown-ish', [ring])]),
      'application/json',
    );
    expect(again.status).toBe(409);
    expect(again.type).toBe('application/problem+json');
    const replaced = await post(
      'kind=neighbourhood&name_property=NAME&replace=true',
      file([poly('Downtown-ish', [ring])]),
    );
    expect(replaced.body.ids).toEqual(res.body.ids);
  });

  it('refuses bad features with 400 naming each by index, and stores none', async () => {
    const open = ring.slice(0, 4).concat([[-122.3, 47.6]]);
    const res = await post(
      'kind=bad&name_property=NAME',
      file([
        poly('ok', [ring]),
        poly('open', [open]),
        {
          type: 'Feature',
          properties: { NAME: 'pt' },
          geometry: { type: 'Point', coordinates: [0, 0] },
        },
      ]),
    );
    expect(res.status).toBe(400);
    expect(res.type).toBe('application/problem+json');
    expect(res.body.detail).toMatch(
      /features: 2 bad feature\(s\).*#1: .*not closed.*#2: .*Polygon or MultiPolygon/,
    );
    expect((await get('/v1/areas?kind=bad')).body.items).toEqual([]);
  });

  it('answers 400, 413 or 415 for bodies and parameters that are wrong', async () => {
    const good = file([poly('x', [ring])]);
    const cases: [string, string, string | undefined, number, string][] = [
      ['', good, undefined, 400, 'kind'],
      ['kind=Bad Kind', good, undefined, 400, 'kind'],
      ['kind=ok&replace=yes', good, undefined, 400, 'replace'],
      ['kind=ok&color=red', good, undefined, 400, 'color'],
      ['kind=ok', '{"type":"FeatureCollection","features":[', undefined, 400, 'JSON'],
      ['kind=ok', '{"type":"Feature"}', undefined, 400, 'type'],
      ['kind=ok', '[]', undefined, 400, 'expected object'],
      ['kind=ok', good, 'text/plain', 415, 'Unsupported'],
      ['kind=ok', file([poly('x'.repeat(2_000_000), [ring])]), undefined, 413, 'MiB'],
    ];
    for (const [query, body, type, status, mention] of cases) {
      const res = await post(query, body, type);
      expect(res.status, `${query} ${body.slice(0, 40)}`).toBe(status);
      expect(res.type).toBe('application/problem+json');
      expect(res.body.detail, `${query} ${body.slice(0, 40)}`).toContain(mention);
    }
  });
});
