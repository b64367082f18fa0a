import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.js';
import { fixture } from '../../test/support/etl.js';
import { loadAreasFromGeoJSON } from '../areas/load.js';
import { runSource } from '../etl/run.js';
import { upsertSource } from '../etl/sources.js';
import { listingStats, type StatsGroup } from '../routes/stats/query.js';
import { refreshAnalytics } from './refresh.js';
import { loadMarket, SMALL_FEED_HEADER, smallFeed } from './test-data.js';

/**
 * The analytics schema against real PostGIS: its numbers agree with /v1/stats (the same
 * definitions, computed by the API's own query code), and the inventory follows its stated rules
 * on a feed small enough to work out by hand.
 */

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await loadMarket(t.db);
}, 180_000);
afterAll(async () => {
  await t.drop();
});

type MarketRow = {
  month: string;
  listings: number;
  new_listings: number;
  closed_sales: number;
  median_list_price: number | null;
  median_close_price: number | null;
  median_price_per_sqft: number | null;
  median_days_on_market: number | null;
};

const monthOf = (row: { month: string | Date }) =>
  (row.month instanceof Date ? row.month.toISOString() : String(row.month)).slice(0, 7);

/** The view's row as /v1/stats would have it, to compare whole groups at once. */
function expectSameNumbers(row: MarketRow, group: StatsGroup) {
  expect({ key: monthOf(row), count: row.listings, new: row.new_listings }).toEqual({
    key: group.key,
    count: group.count,
    new: group.new_listings,
  });
  expect(row.closed_sales).toBe(group.closed_sales);
  const close = (a: number | null, b: number | null | undefined) => {
    if (b === null || b === undefined) expect(a).toBeNull();
    else expect(a).toBeCloseTo(b, 6);
  };
  close(row.median_list_price, group.list_price?.median);
  close(row.median_close_price, group.close_price?.median);
  close(row.median_price_per_sqft, group.price_per_sqft?.median);
  close(row.median_days_on_market, group.median_days_on_market);
}

describe('analytics.market_monthly', () => {
  it('agrees with /v1/stats grouped by month over every listing', async () => {
    const [noPoint] = await t.db.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM listings WHERE geom IS NULL`,
    );
    // The API needs a where; a world bbox is every listing when every listing has a point.
    expect(noPoint?.n).toBe(0);
    const { groups, truncated } = await listingStats(t.db, {
      where: { kind: 'bbox', bbox: [-180, -90, 180, 90] },
      group: 'month',
    });
    expect(truncated).toBe(false);
    const rows = await t.db.rows<MarketRow>(
      sql`SELECT * FROM analytics.market_monthly ORDER BY month`,
    );
    expect(rows.length).toBeGreaterThan(24);
    expect(rows.map(monthOf)).toEqual(groups.map((g) => g.key));
    rows.forEach((row, i) => {
      expectSameNumbers(row, groups[i] as StatsGroup);
    });
  });

  it('counts every listing that has a date exactly once', async () => {
    const [sums] = await t.db.rows<{ listings: number; closed: number; listed: number }>(sql`
      SELECT sum(listings)::int AS listings, sum(closed_sales)::int AS closed, sum(new_listings)::int AS listed
      FROM analytics.market_monthly`);
    const [truth] = await t.db.rows<{ dated: number; closed: number; listed: number }>(sql`
      SELECT count(*) FILTER (WHERE coalesce(close_date, listing_contract_date) IS NOT NULL)::int AS dated,
             count(close_date)::int AS closed, count(listing_contract_date)::int AS listed
      FROM listings`);
    expect(sums).toEqual({ listings: truth?.dated, closed: truth?.closed, listed: truth?.listed });
  });
});

describe('analytics.market_by_area_month', () => {
  it('agrees with /v1/stats for each of the busiest areas', async () => {
    const busiest = await t.db.rows<{ area_id: number }>(sql`
      SELECT area_id FROM analytics.market_by_area_month
      GROUP BY area_id ORDER BY sum(listings) DESC, area_id LIMIT 4`);
    expect(busiest).toHaveLength(4);
    for (const { area_id } of busiest) {
      const { groups } = await listingStats(t.db, {
        where: { kind: 'area', id: area_id },
        group: 'month',
      });
      const rows = await t.db.rows<MarketRow & { area_name: string }>(sql`
        SELECT * FROM analytics.market_by_area_month WHERE area_id = ${area_id} ORDER BY month`);
      expect(rows.map(monthOf)).toEqual(groups.map((g) => g.key));
      rows.forEach((row, i) => {
        expectSameNumbers(row, groups[i] as StatsGroup);
      });
      expect(rows[0]?.area_name).toMatch(/^ZIP \d{5}/);
    }
  });
});

describe('analytics.price_per_sqft_by_area_type', () => {
  it('has the percentiles /v1/stats gives for the same area and property type', async () => {
    const rows = await t.db.rows<{
      area_id: number;
      property_type: string;
      listings: number;
      min: number;
      p10: number;
      p25: number;
      median: number;
      p75: number;
      p90: number;
      max: number;
    }>(sql`
      SELECT * FROM analytics.price_per_sqft_by_area_type
      WHERE area_id IN (SELECT area_id FROM analytics.price_per_sqft_by_area_type
                        GROUP BY area_id ORDER BY count(*) DESC, area_id LIMIT 3)
      ORDER BY area_id, property_type`);
    // Areas where the synthetic cluster overlaps the sample hold several property types.
    expect(new Set(rows.map((r) => r.property_type)).size).toBeGreaterThan(1);
    for (const row of rows) {
      const { groups } = await listingStats(t.db, {
        where: { kind: 'area', id: row.area_id },
        group: 'type',
        type: [row.property_type],
      });
      const ppsf = groups[0]?.price_per_sqft;
      expect(ppsf).not.toBeNull();
      expect(row.p10).toBeCloseTo(ppsf?.p10 as number, 6);
      expect(row.p25).toBeCloseTo(ppsf?.p25 as number, 6);
      expect(row.median).toBeCloseTo(ppsf?.median as number, 6);
      expect(row.p75).toBeCloseTo(ppsf?.p75 as number, 6);
      expect(row.p90).toBeCloseTo(ppsf?.p90 as number, 6);
      expect(row.min).toBeLessThanOrEqual(row.p10);
      expect(row.max).toBeGreaterThanOrEqual(row.p90);
      const [n] = await t.db.rows<{ n: number }>(sql`
        SELECT count(*)::int AS n FROM listings l JOIN areas a ON ST_Intersects(a.geom, l.geom)
        WHERE a.id = ${row.area_id} AND l.property_type = ${row.property_type}
          AND coalesce(l.close_price, l.list_price) / nullif(l.living_area, 0) IS NOT NULL`);
      expect(row.listings).toBe(n?.n);
    }
  });
});

describe('analytics.etl_run_history and analytics.listings', () => {
  it('show each ETL run, without its location or error text', async () => {
    const rows = await t.db.rows<Record<string, unknown>>(
      sql`SELECT * FROM analytics.etl_run_history ORDER BY run_id`,
    );
    expect(rows.map((r) => [r.source, r.status, r.has_error])).toEqual([
      ['king-county', 'succeeded', false],
      ['synthetic', 'succeeded', false],
    ]);
    expect(Object.keys(rows[0] as object)).not.toContain('location');
    expect(Object.keys(rows[0] as object)).not.toContain('error');
    const inserted = rows.reduce((n, r) => n + Number(r.rows_inserted), 0);
    const [count] = await t.db.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM listings`);
    expect(inserted).toBe(count?.n);
    for (const r of rows) expect(Number(r.duration_seconds)).toBeGreaterThanOrEqual(0);
  });

  it('show one row per listing, without its street address or raw source fields', async () => {
    const [counts] = await t.db.rows<{ view: number; table: number }>(sql`
      SELECT (SELECT count(*)::int FROM analytics.listings) AS view,
             (SELECT count(*)::int FROM listings) AS table`);
    expect(counts?.view).toBe(counts?.table);
    const columns = await t.db.rows<{ column_name: string }>(sql`
      SELECT column_name FROM information_schema.columns
      WHERE table_schema = 'analytics' AND table_name = 'listings'`);
    const names = columns.map((c) => c.column_name);
    expect(names).toEqual(expect.arrayContaining(['listing_id', 'price_per_sqft', 'latitude']));
    for (const hidden of ['unparsed_address', 'street_name', 'street_number', 'extra', 'geom'])
      expect(names).not.toContain(hidden);
  });
});

describe('analytics.inventory_monthly and inventory_by_area_month', () => {
  let small: TestDatabase;
  beforeAll(async () => {
    small = await createTestDatabase();
    // Worked out by hand below. The data's last date is A's sale, 2024-03-05.
    const feed = fixture(
      [
        SMALL_FEED_HEADER,
        // sold: on the market at the end of January and February
        'A,S,Residential,500000,2000,2024-01-10,2024-03-05,,47.61,-122.33',
        // active: from February to the end of the data
        'B,A,Condominium,300000,1000,2024-02-01,,,47.62,-122.32',
        // withdrawn on February 15: on the market at the end of January only
        'C,W,Residential,400000,1600,2024-01-01,,2024-02-15T10:00:00Z,47.40,-122.10',
        // withdrawn, no idea when: left out of the inventory (still a new listing)
        'D,W,Residential,350000,1400,2024-01-05,,,47.41,-122.11',
        // pending since December
        'E,P,Townhouse,450000,1500,2023-12-20,,,47.42,-122.12',
        // listed and sold within January: never on the market at a month's end
        'F,S,Residential,600000,2500,2024-01-02,2024-01-20,,47.43,-122.13',
        // sold before it was listed: bad data, left out of the inventory
        'G,S,Residential,700000,2800,2024-02-01,2024-01-01,,47.44,-122.14',
      ].join('\n'),
    );
    await upsertSource(small.db, smallFeed('small', feed));
    const run = await runSource(small.db, 'small');
    expect(run).toMatchObject({ status: 'succeeded', rowsInserted: 7 });
    // One area around A and B only.
    await loadAreasFromGeoJSON(
      small.db,
      {
        type: 'FeatureCollection',
        features: [
          {
            type: 'Feature',
            properties: { name: 'Downtown' },
            geometry: {
              type: 'Polygon',
              coordinates: [
                [
                  [-122.4, 47.55],
                  [-122.25, 47.55],
                  [-122.25, 47.7],
                  [-122.4, 47.7],
                  [-122.4, 47.55],
                ],
              ],
            },
          },
        ],
      },
      { kind: 'hood' },
    );
    await refreshAnalytics(small.db);
  }, 60_000);
  afterAll(async () => {
    await small.drop();
  });

  type InventoryRow = {
    property_type: string;
    month: string;
    active_listings: number;
    new_listings: number;
  };
  const shape = (rows: InventoryRow[]) =>
    rows.map((r) => [r.property_type, monthOf(r), r.active_listings, r.new_listings]);

  it('counts the listings on the market at the end of each month, by the stated rules', async () => {
    const rows = await small.db.rows<InventoryRow>(
      sql`SELECT * FROM analytics.inventory_monthly ORDER BY month, property_type`,
    );
    expect(shape(rows)).toEqual([
      ['Townhouse', '2023-12', 1, 1],
      ['Residential', '2024-01', 2, 4],
      ['Townhouse', '2024-01', 1, 0],
      ['Condominium', '2024-02', 1, 1],
      ['Residential', '2024-02', 1, 1],
      ['Townhouse', '2024-02', 1, 0],
      ['Condominium', '2024-03', 1, 0],
      ['Townhouse', '2024-03', 1, 0],
    ]);
  });

  it('counts the same by area, for the listings inside it', async () => {
    const rows = await small.db.rows<InventoryRow & { area_name: string }>(
      sql`SELECT * FROM analytics.inventory_by_area_month ORDER BY month, property_type`,
    );
    expect(new Set(rows.map((r) => r.area_name))).toEqual(new Set(['Downtown']));
    expect(shape(rows)).toEqual([
      ['Residential', '2024-01', 1, 1],
      ['Condominium', '2024-02', 1, 1],
      ['Residential', '2024-02', 1, 0],
      ['Condominium', '2024-03', 1, 0],
    ]);
  });
});
