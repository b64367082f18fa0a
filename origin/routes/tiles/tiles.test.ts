import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticSource, writeSyntheticCsv } from '../../../scripts/lib/synthetic.js';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { createApp } from '../../app.js';
import { declareShippedSources } from '../../bootstrap.js';
import { runSource } from '../../etl/run.js';
import { upsertSource } from '../../etl/sources.js';
import { createLogger } from '../../logger.js';
import {
  cellIdOf,
  decodeLayer,
  decodeListings,
  inBufferedTile,
  inTile,
  tileOf,
  tilePixel,
} from './mvt-test-support.js';
import {
  CLUSTER_LAYER,
  listingsTile,
  MAX_FEATURES_PER_TILE,
  tileCellsSql,
  tileHitsSql,
} from './tile.js';

/**
 * The listings tiles against real PostGIS, with the King County sample (21,597 closed sales)
 * and 4,000 synthetic listings of every status and type (500 of them around Seattle) loaded by
 * the real ETL. Expected contents are computed here in plain JS from the listings' coordinates.
 */

type Listing = {
  id: number;
  lon: number;
  lat: number;
  standard_status: string;
  property_type: string | null;
  list_price: number | null;
  close_price: number | null;
  bedrooms_total: number | null;
  living_area: number | null;
};

let t: TestDatabase;
let app: ReturnType<typeof createApp>;
let all: Listing[];

beforeAll(async () => {
  t = await createTestDatabase();
  await declareShippedSources(t.db);
  await runSource(t.db, 'king-county');
  const csv = join(mkdtempSync(join(tmpdir(), 'estate-edge-tiles-')), 'synthetic.csv');
  await writeSyntheticCsv(csv, 4000);
  await upsertSource(t.db, syntheticSource(csv));
  await runSource(t.db, 'synthetic');
  await t.db.rows(sql`ANALYZE listings`);
  all = await t.db.rows<Listing>(sql`
    SELECT id::float8 AS id, ST_X(geom) AS lon, ST_Y(geom) AS lat, standard_status, property_type,
           list_price::float8 AS list_price, close_price::float8 AS close_price, bedrooms_total::int AS bedrooms_total, living_area
    FROM listings`);
  app = createApp({ db: t.db, logger: createLogger('silent') });
});
afterAll(async () => {
  await t.drop();
});

const SEATTLE = [-122.33, 47.61] as const;

function price(l: Listing): number | null {
  return l.close_price ?? l.list_price;
}

function expectedIn(z: number, x: number, y: number, keep: (l: Listing) => boolean = () => true) {
  return all.filter((l) => inBufferedTile(l.lon, l.lat, z, x, y) && keep(l));
}

async function getTile(path: string, init?: RequestInit) {
  const res = await app.request(`/v1/tiles/listings/${path}`, init);
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { res, bytes, decoded: decodeListings(bytes) };
}

describe('GET /v1/tiles/listings/{z}/{x}/{y}.mvt', () => {
  it('holds exactly the listings in the tile and its buffer, each at its own pixel, with its properties', async () => {
    const { z, x, y } = tileOf(SEATTLE[0], SEATTLE[1], 13);
    const { res, bytes, decoded } = await getTile(`${z}/${x}/${y}.mvt`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.mapbox-vector-tile');
    expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d+/);
    expect(res.headers.get('etag')).toMatch(/^"[\w-]+"$/);
    expect(res.headers.get('x-tile-truncated')).toBe('false');
    const expected = expectedIn(z, x, y);
    expect(expected.length).toBeGreaterThan(200);
    expect(res.headers.get('x-tile-features')).toBe(String(expected.length));
    expect(bytes.byteLength).toBeGreaterThan(0);
    expect(decoded.extent).toBe(4096);
    expect(decoded.features.map((f) => f.id).sort((a, b) => a - b)).toEqual(
      expected.map((l) => l.id).sort((a, b) => a - b),
    );
    const byId = new Map(expected.map((l) => [l.id, l]));
    for (const f of decoded.features) {
      const l = byId.get(f.id) as Listing;
      const [px, py] = tilePixel(l.lon, l.lat, z, x, y);
      expect(Math.abs(f.x - px)).toBeLessThanOrEqual(1);
      expect(Math.abs(f.y - py)).toBeLessThanOrEqual(1);
      expect(f.properties.id).toBe(l.id);
      expect(f.properties.standard_status).toBe(l.standard_status);
      expect(f.properties.property_type).toBe(l.property_type ?? undefined);
      expect(f.properties.list_price).toBe(l.list_price ?? undefined);
      expect(f.properties.close_price).toBe(l.close_price ?? undefined);
      expect(f.properties.price).toBe(price(l) ?? undefined);
      expect(f.properties.bedrooms_total).toBe(l.bedrooms_total ?? undefined);
      expect(f.properties.living_area).toBe(l.living_area ?? undefined);
      const p = price(l);
      if (p !== null && l.living_area) {
        expect(f.properties.price_per_sqft).toBeCloseTo(p / l.living_area, 2);
      } else {
        expect(f.properties.price_per_sqft).toBeUndefined();
      }
    }
  });

  it('draws a dense tile as cells standing for every listing in it, with counts and median prices (issue 16)', async () => {
    const parent = tileOf(SEATTLE[0], SEATTLE[1], 8);
    const members = all.filter((l) => inTile(l.lon, l.lat, parent.z, parent.x, parent.y));
    expect(members.length).toBeGreaterThan(MAX_FEATURES_PER_TILE);
    const { res, bytes } = await getTile(`${parent.z}/${parent.x}/${parent.y}.mvt`);
    expect(res.headers.get('x-tile-truncated')).toBe('false');
    expect(res.headers.get('x-tile-layer')).toBe(CLUSTER_LAYER);
    expect(bytes.byteLength).toBeLessThan(512 * 1024);
    const cells = decodeLayer(bytes, CLUSTER_LAYER).features;
    expect(decodeListings(bytes).features).toEqual([]);
    // Every listing of the tile is in exactly one cell: the counts add up, per cell too.
    expect(cells.reduce((n, c) => n + Number(c.properties.count), 0)).toBe(members.length);
    expect(Number(res.headers.get('x-tile-listings'))).toBe(members.length);
    const expected = new Map<number, number[]>();
    for (const l of members) {
      const id = cellIdOf(l.lon, l.lat, parent.z, parent.x, parent.y);
      const prices = expected.get(id) ?? [];
      prices.push(price(l) ?? Number.NaN);
      expected.set(id, prices);
    }
    expect(cells.map((c) => c.id).sort((a, b) => a - b)).toEqual(
      [...expected.keys()].sort((a, b) => a - b),
    );
    for (const cell of cells) {
      const prices = (expected.get(cell.id) ?? []).filter((p) => !Number.isNaN(p));
      expect(cell.properties.count).toBe(expected.get(cell.id)?.length);
      const sorted = prices.sort((a, b) => a - b);
      const mid = (sorted.length - 1) / 2;
      const median = ((sorted[Math.floor(mid)] ?? 0) + (sorted[Math.ceil(mid)] ?? 0)) / 2;
      expect(cell.properties.median_price).toBeCloseTo(median, 1);
    }
    // Deterministic: the same request gives the same bytes (and ETag).
    const again = await getTile(`${parent.z}/${parent.x}/${parent.y}.mvt`);
    expect(again.res.headers.get('etag')).toBe(res.headers.get('etag'));
  });

  it('draws every zoom from 0 to 14 completely: cells up to 10, points above where they fit', async () => {
    for (let zoom = 0; zoom <= 14; zoom += 1) {
      const { z, x, y } = tileOf(SEATTLE[0], SEATTLE[1], zoom);
      const { res, bytes } = await getTile(`${z}/${x}/${y}.mvt`);
      const layer = res.headers.get('x-tile-layer');
      expect({ zoom, truncated: res.headers.get('x-tile-truncated') }).toEqual({
        zoom,
        truncated: 'false',
      });
      expect(bytes.byteLength).toBeLessThan(512 * 1024);
      if (zoom <= 10) expect({ zoom, layer }).toEqual({ zoom, layer: CLUSTER_LAYER });
      const inside = all.filter((l) => inTile(l.lon, l.lat, z, x, y)).length;
      if (layer === CLUSTER_LAYER) expect(Number(res.headers.get('x-tile-listings'))).toBe(inside);
      else expect(decodeListings(bytes).features.length).toBe(expectedIn(z, x, y).length);
    }
  });

  it('carries cells above the cluster zoom when a tile holds more listings than points allow', async () => {
    const { z, x, y } = tileOf(SEATTLE[0], SEATTLE[1], 12);
    const points = await listingsTile(t.db, { z, x, y });
    expect(points.layer).toBe('listings');
    const dense = await listingsTile(t.db, { z, x, y, maxFeatures: 10 });
    expect(dense).toMatchObject({ layer: CLUSTER_LAYER, truncated: false });
    expect(dense.listings).toBe(all.filter((l) => inTile(l.lon, l.lat, z, x, y)).length);
    // TILE_CLUSTER_MAX_ZOOM moves the switch (Active: few enough for points at z9).
    const lower = await listingsTile(t.db, {
      ...tileOf(SEATTLE[0], SEATTLE[1], 9),
      clusterMaxZoom: 8,
      status: ['Active'],
    });
    expect(lower.layer).toBe('listings');
  });

  it('applies the status, type and price filters exactly', async () => {
    const { z, x, y } = tileOf(SEATTLE[0], SEATTLE[1], 11);
    const cases: [string, (l: Listing) => boolean][] = [
      [
        'status=Active,Pending',
        (l) => l.standard_status === 'Active' || l.standard_status === 'Pending',
      ],
      ['type=Condominium', (l) => l.property_type === 'Condominium'],
      [
        'price_min=300000&price_max=450000.50',
        (l) => (price(l) ?? -1) >= 300_000 && (price(l) ?? Infinity) <= 450_000.5,
      ],
      [
        'status=Closed&type=Residential&price_min=1000000',
        (l) =>
          l.standard_status === 'Closed' &&
          l.property_type === 'Residential' &&
          (price(l) ?? 0) >= 1_000_000,
      ],
    ];
    for (const [query, keep] of cases) {
      const expected = expectedIn(z, x, y, keep);
      expect(expected.length, query).toBeGreaterThan(5);
      expect(expected.length, query).toBeLessThan(MAX_FEATURES_PER_TILE);
      const { res, decoded } = await getTile(`${z}/${x}/${y}.mvt?${query}`);
      expect(res.status, query).toBe(200);
      expect(
        decoded.features.map((f) => f.id).sort((a, b) => a - b),
        query,
      ).toEqual(expected.map((l) => l.id).sort((a, b) => a - b));
    }
  });

  it('answers an empty tile with 200, an empty body and the same caching headers', async () => {
    // Open Pacific, far from every listing.
    const { z, x, y } = tileOf(-150, 0, 12);
    const { res, bytes } = await getTile(`${z}/${x}/${y}.mvt`);
    expect(res.status).toBe(200);
    expect(bytes.byteLength).toBe(0);
    expect(res.headers.get('content-type')).toBe('application/vnd.mapbox-vector-tile');
    expect(res.headers.get('x-tile-features')).toBe('0');
    expect(res.headers.get('cache-control')).toMatch(/^public/);
  });

  it('answers a matching If-None-Match with 304 and no body', async () => {
    const { z, x, y } = tileOf(SEATTLE[0], SEATTLE[1], 14);
    const first = await getTile(`${z}/${x}/${y}.mvt`);
    const etag = first.res.headers.get('etag') as string;
    const second = await getTile(`${z}/${x}/${y}.mvt`, { headers: { 'If-None-Match': etag } });
    expect(second.res.status).toBe(304);
    expect(second.bytes.byteLength).toBe(0);
    expect(second.res.headers.get('etag')).toBe(etag);
    const stale = await getTile(`${z}/${x}/${y}.mvt`, { headers: { 'If-None-Match': '"other"' } });
    expect(stale.res.status).toBe(200);
  });

  it('finds points and cells through the GiST index on the stored Web Mercator point', async () => {
    for (const query of [
      tileHitsSql(tileOf(SEATTLE[0], SEATTLE[1], 14), MAX_FEATURES_PER_TILE),
      tileCellsSql(tileOf(SEATTLE[0], SEATTLE[1], 10)),
    ]) {
      const [row] = await t.db.rows<{ 'QUERY PLAN': unknown }>(sql`EXPLAIN (FORMAT JSON) ${query}`);
      const plan = JSON.stringify(row?.['QUERY PLAN']);
      expect(plan).toContain('listings_geom_3857_gist');
      expect(plan).not.toContain('"Seq Scan"');
      // No per-row transform left: the column is stored (migration 0008).
      expect(plan.toLowerCase()).not.toContain('st_transform');
    }
  });

  const bad: [string, string][] = [
    ['23/0/0.mvt', 'z'],
    ['-1/0/0.mvt', 'z'],
    ['abc/0/0.mvt', 'z'],
    ['1.5/0/0.mvt', 'z'],
    ['0x1/0/0.mvt', 'z'],
    ['%201/0/0.mvt', 'z'],
    [`${'9'.repeat(10_000)}/0/0.mvt`, 'z'],
    ['%D9%A1/0/0.mvt', 'z'],
    ['1/2/0.mvt', 'x'],
    ['12/4096/0.mvt', 'x'],
    ['12/1e3/0.mvt', 'x'],
    ['12/0/4096.mvt', 'y'],
    ['12/0/1%3B%20DROP%20TABLE%20listings.mvt', 'y'],
    ['12/0/%27%20OR%201%3D1.mvt', 'y'],
    ['12/0/-1.mvt', 'y'],
    ['0/0/0.mvt?status=Bogus', 'status'],
    ['0/0/0.mvt?status=', 'status'],
    ["0/0/0.mvt?status=Active'%20OR%20'1'%3D'1", 'status'],
    ['0/0/0.mvt?type=Residential%3BDROP%20TABLE%20listings', 'type'],
    [`0/0/0.mvt?type=${'A'.repeat(10_000)}`, 'type'],
    ['0/0/0.mvt?type=%F0%9F%8F%A0', 'type'],
    ['0/0/0.mvt?price_min=-1', 'price_min'],
    ['0/0/0.mvt?price_min=', 'price_min'],
    ['0/0/0.mvt?price_min=abc', 'price_min'],
    ['0/0/0.mvt?price_min=1e6', 'price_min'],
    ['0/0/0.mvt?price_max=0x10', 'price_max'],
    ['0/0/0.mvt?price_max=NaN', 'price_max'],
    ['0/0/0.mvt?price_max=99999999999999', 'price_max'],
    ['0/0/0.mvt?price_min=500&price_max=100', 'price_min'],
    ['0/0/0.mvt?bbox=1,2,3,4', 'bbox'],
  ];
  for (const [path, param] of bad) {
    it(`rejects ${path.length > 80 ? `${path.slice(0, 60)}… (${path.length} characters)` : path} with 400 naming ${param}`, async () => {
      const res = await app.request(`/v1/tiles/listings/${path}`);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const body = (await res.json()) as { status: number; detail: string };
      expect(body.status).toBe(400);
      // Schema failures say "query parameter 'x': …"; semantic ones (InvalidParameterError) "x: …".
      expect(body.detail).toMatch(new RegExp(`'${param}'|^${param}:`));
      expect(body.detail.length).toBeLessThan(600);
    });
  }

  it('has no route for a tile without the .mvt suffix', async () => {
    expect((await app.request('/v1/tiles/listings/0/0/0')).status).toBe(404);
    expect((await app.request('/v1/tiles/listings/0/0/0.pbf')).status).toBe(404);
  });
});

describe('GET /v1/tiles/listings.json', () => {
  it('is TileJSON 3.0.0 with the data extent, a centre, the layer fields and a tiles URL that works', async () => {
    const res = await app.request('http://origin.internal:8080/v1/tiles/listings.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toMatch(/^public/);
    const doc = (await res.json()) as Record<string, unknown> & {
      tiles: string[];
      bounds: number[];
      center: number[];
      vector_layers: { id: string; fields: Record<string, string> }[];
    };
    expect(doc.tilejson).toBe('3.0.0');
    expect(doc.tiles).toEqual(['http://origin.internal:8080/v1/tiles/listings/{z}/{x}/{y}.mvt']);
    expect(doc.minzoom).toBe(0);
    expect(doc.maxzoom).toBeGreaterThanOrEqual(14);
    const lons = all.map((l) => l.lon);
    const lats = all.map((l) => l.lat);
    const extent = [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)];
    for (const [i, v] of doc.bounds.entries()) expect(v).toBeCloseTo(extent[i] as number, 6);
    expect(doc.center).toHaveLength(3);
    expect(doc.center[0]).toBeGreaterThan(extent[0] as number);
    expect(doc.center[0]).toBeLessThan(extent[2] as number);
    expect(doc.vector_layers[0]?.id).toBe('listings');
    expect(Object.keys(doc.vector_layers[0]?.fields ?? {})).toEqual(
      expect.arrayContaining([
        'id',
        'standard_status',
        'property_type',
        'list_price',
        'close_price',
        'bedrooms_total',
        'living_area',
        'price_per_sqft',
      ]),
    );
    // The template resolves to a real tile.
    const { z, x, y } = tileOf(SEATTLE[0], SEATTLE[1], 12);
    const url = new URL(
      (doc.tiles[0] as string)
        .replace('{z}', String(z))
        .replace('{x}', String(x))
        .replace('{y}', String(y)),
    );
    const tile = await app.request(url.pathname + url.search);
    expect(tile.status).toBe(200);
    expect(
      decodeListings(new Uint8Array(await tile.arrayBuffer())).features.length,
    ).toBeGreaterThan(100);
  });

  it('builds the tiles URL from X-Forwarded-Host and -Proto, and ignores malformed ones', async () => {
    const forwarded = await app.request('http://origin.internal/v1/tiles/listings.json', {
      headers: {
        'X-Forwarded-Host': 'maps.example.com, proxy.local',
        'X-Forwarded-Proto': 'https',
      },
    });
    expect(((await forwarded.json()) as { tiles: string[] }).tiles[0]).toBe(
      'https://maps.example.com/v1/tiles/listings/{z}/{x}/{y}.mvt',
    );
    expect(forwarded.headers.get('vary')).toContain('X-Forwarded-Host');
    const junk = await app.request('http://origin.internal/v1/tiles/listings.json', {
      headers: { 'X-Forwarded-Host': 'evil.com/"><script>', 'X-Forwarded-Proto': 'javascript' },
    });
    expect(((await junk.json()) as { tiles: string[] }).tiles[0]).toBe(
      'http://origin.internal/v1/tiles/listings/{z}/{x}/{y}.mvt',
    );
  });

  it('carries the filters into the tiles URL and rejects bad ones', async () => {
    const res = await app.request(
      'http://o/v1/tiles/listings.json?status=Active,Pending&price_max=500000',
    );
    expect(((await res.json()) as { tiles: string[] }).tiles[0]).toBe(
      'http://o/v1/tiles/listings/{z}/{x}/{y}.mvt?status=Active%2CPending&price_max=500000',
    );
    const bad = await app.request('/v1/tiles/listings.json?status=Nope');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { detail: string }).detail).toContain("'status'");
    const unknown = await app.request('/v1/tiles/listings.json?callback=x');
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { detail: string }).detail).toContain("'callback'");
  });

  it('lists both tile routes in the OpenAPI document with their parameters', async () => {
    const doc = (await (await app.request('/openapi.json')).json()) as {
      paths: Record<string, { get?: { parameters?: { name: string; in: string }[] } }>;
    };
    const tile = doc.paths['/v1/tiles/listings/{z}/{x}/{y}.mvt']?.get;
    expect(tile?.parameters?.map((p) => `${p.in}:${p.name}`).sort()).toEqual(
      [
        'path:x',
        'path:y',
        'path:z',
        'query:price_max',
        'query:price_min',
        'query:status',
        'query:type',
      ].sort(),
    );
    expect(doc.paths['/v1/tiles/listings.json']?.get).toBeDefined();
  });
});
