import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticSource, writeSyntheticCsv } from '../../../scripts/lib/synthetic.js';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { createApp } from '../../app.js';
import { declareShippedSources } from '../../bootstrap.js';
import { type Database, openDatabase } from '../../db/database.js';
import { migrate } from '../../db/migrate.js';
import { projectRoot } from '../../etl/fetch-input.js';
import { runSource } from '../../etl/run.js';
import { upsertSource } from '../../etl/sources.js';
import { createLogger } from '../../logger.js';
import { decodeLayer, decodeListings, inBufferedTile, inTile, tileOf } from './mvt-test-support.js';
import { CLUSTER_LAYER, listingsTile } from './tile.js';

/**
 * The embedded PGlite default has no ST_AsMVT: its tiles come from the JS encoder. The same
 * small feed (2,000 King County sales and 2,000 synthetic listings) is loaded into PGlite and
 * into PostGIS, and the two encoders must give the same features: same listings (matched by
 * their source key, as the two databases number them independently), same pixel, same properties.
 */

const dir = mkdtempSync(join(tmpdir(), 'estate-edge-tiles-pglite-'));
const kcSubset = join(dir, 'kc-2000.csv');
const syntheticCsv = join(dir, 'synthetic.csv');
let lite: Database;
let pg: TestDatabase;

async function load(db: Database) {
  await declareShippedSources(db);
  await runSource(db, 'king-county', { location: kcSubset });
  await upsertSource(db, syntheticSource(syntheticCsv));
  await runSource(db, 'synthetic');
}

beforeAll(async () => {
  const sample = readFileSync(
    join(projectRoot, 'origin/etl/samples/kc_house_data.csv'),
    'utf8',
  ).split('\n');
  writeFileSync(kcSubset, `${sample.slice(0, 2001).join('\n')}\n`);
  await writeSyntheticCsv(syntheticCsv, 2000);
  lite = await openDatabase({ dataDir: join(dir, 'data') });
  await migrate(lite);
  pg = await createTestDatabase();
  await Promise.all([load(lite), load(pg.db)]);
});
afterAll(async () => {
  await lite?.close();
  await pg?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function keysById(db: Database): Promise<Map<number, string>> {
  const rows = await db.rows<{ id: number; source_key: string }>(
    sql`SELECT id::float8 AS id, source_key FROM listings`,
  );
  return new Map(rows.map((r) => [r.id, r.source_key]));
}

/** A tile's features keyed by source key, with the listing id left out (it differs per database). */
async function featuresByKey(db: Database, bytes: Uint8Array) {
  const keys = await keysById(db);
  const out = new Map<string, unknown>();
  for (const f of decodeListings(bytes).features) {
    const { id, ...properties } = f.properties;
    expect(id).toBe(f.id);
    out.set(keys.get(f.id) as string, { x: f.x, y: f.y, properties });
  }
  return out;
}

describe('vector tiles on the embedded PGlite database', () => {
  it('are encoded in JS with the same features as PostGIS gives', async () => {
    expect(lite.driver).toBe('pglite');
    for (const zoom of [11, 13]) {
      const { z, x, y } = tileOf(-122.33, 47.61, zoom);
      const fromJs = await listingsTile(lite, { z, x, y });
      const fromSql = await listingsTile(pg.db, { z, x, y });
      expect(fromJs.features, `z${zoom}`).toBeGreaterThan(10);
      expect(fromJs.features).toBe(fromSql.features);
      expect(fromJs.truncated).toBe(false);
      const js = await featuresByKey(lite, fromJs.bytes);
      const postgis = await featuresByKey(pg.db, fromSql.bytes);
      expect(js.size).toBe(fromJs.features);
      expect(js).toEqual(postgis);
    }
  });

  it('encode cells in JS as PostGIS does, at low zoom and for a tile too dense for points', async () => {
    // price_min=0 keeps every listing and makes both aggregate live (the stored cells of
    // cells.ts refresh in the background on each database at their own pace).
    for (const params of [
      { ...tileOf(-122.33, 47.61, 6), price_min: 0 },
      { ...tileOf(-122.33, 47.61, 9), price_min: 0 },
    ]) {
      const fromJs = await listingsTile(lite, params);
      const fromSql = await listingsTile(pg.db, params);
      expect(fromJs.layer).toBe(CLUSTER_LAYER);
      expect(fromSql.layer).toBe(CLUSTER_LAYER);
      expect(fromJs.features, `z${params.z}`).toBeGreaterThan(3);
      expect(fromJs.listings).toBe(fromSql.listings);
      // Cell ids come from the grid, not from the database: the two tiles match feature for feature.
      const js = decodeLayer(fromJs.bytes, CLUSTER_LAYER).features;
      const postgis = decodeLayer(fromSql.bytes, CLUSTER_LAYER).features;
      expect(js.sort((a, b) => a.id - b.id)).toEqual(postgis.sort((a, b) => a.id - b.id));
    }
  });

  it('holds exactly the listings of the buffered tile and honours filters, density and empty tiles', async () => {
    const rows = await lite.rows<{ id: number; lon: number; lat: number; standard_status: string }>(
      sql`SELECT id::float8 AS id, ST_X(geom) AS lon, ST_Y(geom) AS lat, standard_status FROM listings`,
    );
    const { z, x, y } = tileOf(-122.33, 47.61, 11);
    const expected = rows.filter((r) => inBufferedTile(r.lon, r.lat, z, x, y));
    const whole = await listingsTile(lite, { z, x, y });
    expect(
      decodeListings(whole.bytes)
        .features.map((f) => f.id)
        .sort((a, b) => a - b),
    ).toEqual(expected.map((r) => r.id).sort((a, b) => a - b));
    const active = await listingsTile(lite, { z, x, y, status: ['Active'] });
    const activeIds = decodeListings(active.bytes).features.map((f) => f.id);
    expect(activeIds.length).toBeGreaterThan(0);
    expect(activeIds.sort((a, b) => a - b)).toEqual(
      expected
        .filter((r) => r.standard_status === 'Active')
        .map((r) => r.id)
        .sort((a, b) => a - b),
    );
    // Over the cap: cells standing for every listing of the tile, never a sample.
    const dense = await listingsTile(lite, { z, x, y, maxFeatures: 25 });
    expect(dense).toMatchObject({ layer: CLUSTER_LAYER, truncated: false });
    expect(dense.listings).toBe(rows.filter((r) => inTile(r.lon, r.lat, z, x, y)).length);
    const empty = await listingsTile(lite, { ...tileOf(-150, 0, 12) });
    expect(empty).toEqual({
      bytes: new Uint8Array(0),
      features: 0,
      listings: 0,
      layer: 'listings',
      truncated: false,
    });
  });

  it('are served by the same route, with the same headers', async () => {
    const app = createApp({ db: lite, logger: createLogger('silent') });
    const { z, x, y } = tileOf(-122.33, 47.61, 12);
    const res = await app.request(`/v1/tiles/listings/${z}/${x}/${y}.mvt?status=Closed`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.mapbox-vector-tile');
    const features = decodeListings(new Uint8Array(await res.arrayBuffer())).features;
    expect(features.length).toBe(Number(res.headers.get('x-tile-features')));
    expect(features.every((f) => f.properties.standard_status === 'Closed')).toBe(true);
    const tilejson = (await (await app.request('/v1/tiles/listings.json')).json()) as {
      bounds: number[];
    };
    expect(tilejson.bounds[0]).toBeLessThan(-122);
  });
});
