import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { declareShippedSources } from '../../bootstrap.js';
import { runSource } from '../../etl/run.js';
import { backgroundRefresh, cellsAreFresh, refreshListingCells } from './cells.js';
import { cellIdOf, decodeLayer, inTile, tileOf } from './mvt-test-support.js';
import { CLUSTER_LAYER, listingsTile } from './tile.js';

/**
 * The precomputed cells (migration 0009, cells.ts) against the live aggregation they stand in
 * for, on the King County sample (21,597 sales) loaded by the real ETL.
 */

type Listing = { lon: number; lat: number; price: number | null };
let t: TestDatabase;
let all: Listing[];
const SEATTLE = [-122.33, 47.61] as const;

beforeAll(async () => {
  t = await createTestDatabase();
  await declareShippedSources(t.db);
  await runSource(t.db, 'king-county');
  all = await t.db.rows<Listing>(sql`
    SELECT ST_X(geom) AS lon, ST_Y(geom) AS lat, COALESCE(close_price, list_price)::float8 AS price
    FROM listings`);
});
afterAll(async () => {
  await t.drop();
});

async function cellsOf(z: number, live: boolean) {
  const tile = tileOf(SEATTLE[0], SEATTLE[1], z);
  // A filter that keeps everything forces the live aggregation.
  const params = { ...tile, clusterMaxZoom: 12, ...(live ? { price_min: 0 } : {}) };
  const answer = await listingsTile(t.db, params);
  expect(answer.layer).toBe(CLUSTER_LAYER);
  const features = decodeLayer(answer.bytes, CLUSTER_LAYER).features;
  return new Map(features.map((f) => [f.id, f]));
}

describe('precomputed listing cells', () => {
  it('are stale after an ETL run, and a stale tile request refreshes them in the background', async () => {
    expect(await cellsAreFresh(t.db)).toBe(false);
    await listingsTile(t.db, tileOf(SEATTLE[0], SEATTLE[1], 4));
    await backgroundRefresh();
    expect(await cellsAreFresh(t.db)).toBe(true);
  });

  it('hold the same cells and counts as the live aggregation at every zoom, exact medians at zoom 12', async () => {
    expect(await refreshListingCells(t.db)).toBe(false); // fresh already: nothing to do
    for (const z of [0, 4, 8, 10, 12]) {
      const [stored, live] = [await cellsOf(z, false), await cellsOf(z, true)];
      expect(
        [...stored.keys()].sort((a, b) => a - b),
        `z${z}`,
      ).toEqual([...live.keys()].sort((a, b) => a - b));
      const tile = tileOf(SEATTLE[0], SEATTLE[1], z);
      const inside = all.filter((l) => inTile(l.lon, l.lat, tile.z, tile.x, tile.y));
      let total = 0;
      for (const [id, cell] of stored) {
        const twin = live.get(id);
        expect(cell.properties.count, `z${z} cell ${id}`).toBe(twin?.properties.count);
        total += Number(cell.properties.count);
        // Mean positions agree to the pixel (the stored ones are summed in another order).
        expect(Math.abs(cell.x - (twin?.x ?? 0))).toBeLessThanOrEqual(1);
        if (z === 12) expect(cell.properties.median_price).toBe(twin?.properties.median_price);
        else {
          // Coarser: the weighted median of the finer cells' medians, within the cell's prices.
          const prices = inside
            .filter((l) => cellIdOf(l.lon, l.lat, tile.z, tile.x, tile.y) === id)
            .map((l) => l.price ?? Number.NaN)
            .filter((p) => !Number.isNaN(p));
          const median = Number(cell.properties.median_price);
          expect(median).toBeGreaterThanOrEqual(Math.min(...prices));
          expect(median).toBeLessThanOrEqual(Math.max(...prices));
        }
      }
      expect(total, `z${z}`).toBe(inside.length);
    }
  });

  it('go stale on any write to listings, and tiles stay right meanwhile (served live)', async () => {
    const tile = tileOf(SEATTLE[0], SEATTLE[1], 6);
    const before = await listingsTile(t.db, tile);
    await t.db.rows(sql`
      UPDATE listings SET geom = ST_SetSRID(ST_MakePoint(-150, 0), 4326)
      WHERE id = (SELECT min(id) FROM listings)`);
    expect(await cellsAreFresh(t.db)).toBe(false);
    const after = await listingsTile(t.db, tile);
    expect(after.listings).toBe(before.listings - 1);
    await backgroundRefresh();
    expect(await cellsAreFresh(t.db)).toBe(true);
    expect((await listingsTile(t.db, tile)).listings).toBe(before.listings - 1);
  });
});
