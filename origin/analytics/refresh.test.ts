import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.js';
import { fixture } from '../../test/support/etl.js';
import { openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { runSource } from '../etl/run.js';
import { upsertSource } from '../etl/sources.js';
import { logRefreshFailure, refreshAnalytics } from './refresh.js';
import { SMALL_FEED_HEADER, smallFeed } from './test-data.js';

const MATERIALIZED = [
  'inventory_by_area_month',
  'inventory_monthly',
  'market_by_area_month',
  'market_monthly',
  'price_per_sqft_by_area_type',
];

const ROWS = [
  'A,S,Residential,500000,2000,2024-01-10,2024-03-05,,47.61,-122.33',
  'B,A,Condominium,300000,1000,2024-02-01,,,47.62,-122.32',
  'C,P,Townhouse,450000,1500,2023-12-20,,,47.42,-122.12',
];
const feedOf = (rows: string[]) => fixture([SMALL_FEED_HEADER, ...rows].join('\n'));

async function monthlyListings(db: TestDatabase['db']): Promise<number> {
  const [row] = await db.rows<{ n: number }>(
    sql`SELECT coalesce(sum(listings), 0)::int AS n FROM analytics.market_monthly`,
  );
  return row?.n ?? -1;
}

let t: TestDatabase;
let other: postgres.Sql;
beforeAll(async () => {
  t = await createTestDatabase();
  other = postgres(t.url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await other.end();
  await t.drop();
});

describe('refreshAnalytics on PostgreSQL', () => {
  it('is called by an ETL run that changed data, and not by one that changed nothing', async () => {
    const feed = feedOf(ROWS);
    await upsertSource(t.db, smallFeed('refresh-feed', feed));
    expect(await runSource(t.db, 'refresh-feed')).toMatchObject({ rowsInserted: 3 });
    expect(await monthlyListings(t.db)).toBe(3);
    // A listing the views have not seen, written past the ETL: only a refresh shows it.
    await t.db.rows(sql`
      INSERT INTO listings (source_id, source_key, standard_status, list_price, listing_contract_date)
      SELECT id, 'OUTSIDE', 'Active', 100000, '2024-02-02' FROM etl_sources WHERE name = 'refresh-feed'`);
    expect(await runSource(t.db, 'refresh-feed')).toMatchObject({
      rowsInserted: 0,
      rowsUpdated: 0,
      rowsUnchanged: 3,
    });
    expect(await monthlyListings(t.db)).toBe(3);
    const changed = feedOf([...ROWS, 'D,A,Residential,350000,1400,2024-03-01,,,47.41,-122.11']);
    expect(await runSource(t.db, 'refresh-feed', { location: changed })).toMatchObject({
      rowsInserted: 1,
    });
    expect(await monthlyListings(t.db)).toBe(5);
  });

  it('refreshes every materialized view concurrently, without blocking readers', async () => {
    // A reader holds the view open in another session: a plain REFRESH would wait for it.
    await other.begin(async (reader) => {
      await reader`SELECT count(*) FROM analytics.market_monthly`;
      const views = await refreshAnalytics(t.db, { lockTimeoutMs: 2_000 });
      expect(views.map((v) => v.view)).toEqual(MATERIALIZED);
      for (const v of views) {
        expect(v.concurrently).toBe(true);
        expect(v.ms).toBeGreaterThanOrEqual(0);
      }
    });
  });

  it('gives up on a lock it cannot get instead of holding up its caller', async () => {
    const started = performance.now();
    // A manual, plain REFRESH in an open transaction holds the view's ACCESS EXCLUSIVE lock.
    await other.begin(async (manual) => {
      await manual`REFRESH MATERIALIZED VIEW analytics.market_monthly`;
      const error = await refreshAnalytics(t.db, { lockTimeoutMs: 300 }).catch((e) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as { cause?: { code?: string } }).cause?.code).toBe('55P03');
    });
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('refreshes a view never populated, or without a unique index, without CONCURRENTLY', async () => {
    await t.db.rows(
      sql`CREATE MATERIALIZED VIEW analytics.zz_scratch AS SELECT count(*) AS n FROM listings WITH NO DATA`,
    );
    try {
      const first = await refreshAnalytics(t.db);
      expect(first.find((v) => v.view === 'zz_scratch')).toMatchObject({ concurrently: false });
      const [row] = await t.db.rows<{ n: number }>(
        sql`SELECT n::int AS n FROM analytics.zz_scratch`,
      );
      expect(row?.n).toBeGreaterThan(0);
      const second = await refreshAnalytics(t.db);
      expect(second.find((v) => v.view === 'zz_scratch')).toMatchObject({ concurrently: false });
    } finally {
      await t.db.rows(sql`DROP MATERIALIZED VIEW analytics.zz_scratch`);
    }
  });

  it('never fails an ETL run: a failed refresh is logged and the run stays succeeded', async () => {
    const before = await monthlyListings(t.db);
    await t.db.rows(sql`ALTER FUNCTION refresh_analytics_views() RENAME TO refresh_analytics_gone`);
    try {
      await expect(refreshAnalytics(t.db)).rejects.toThrow();
      expect(() => logRefreshFailure(new Error('a test of the failure log'))).not.toThrow();
      const changed = feedOf([
        ...ROWS,
        'D,A,Residential,350000,1400,2024-03-01,,,47.41,-122.11',
        'E,A,Residential,360000,1400,2024-03-02,,,47.41,-122.11',
      ]);
      const summary = await runSource(t.db, 'refresh-feed', { location: changed });
      expect(summary).toMatchObject({ status: 'succeeded', rowsInserted: 1 });
      const [run] = await t.db.rows<{ status: string }>(
        sql`SELECT status FROM etl_runs WHERE id = ${summary.runId}`,
      );
      expect(run?.status).toBe('succeeded');
      // The views kept their previous contents.
      expect(await monthlyListings(t.db)).toBe(before);
    } finally {
      await t.db.rows(
        sql`ALTER FUNCTION refresh_analytics_gone() RENAME TO refresh_analytics_views`,
      );
    }
    await refreshAnalytics(t.db);
    expect(await monthlyListings(t.db)).toBe(before + 1);
  });
});

describe('the analytics schema on the embedded PGlite database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'estate-edge-analytics-pglite-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('migrates, is refreshed by the ETL and refreshes concurrently, as on a server', async () => {
    const db = await openDatabase({ dataDir: join(dir, 'data') });
    try {
      expect(db.driver).toBe('pglite');
      await migrate(db);
      await upsertSource(db, smallFeed('pglite-feed', feedOf(ROWS)));
      expect(await runSource(db, 'pglite-feed')).toMatchObject({ rowsInserted: 3 });
      const [sums] = await db.rows<{ listings: number; active: number }>(sql`
        SELECT (SELECT sum(listings)::int FROM analytics.market_monthly) AS listings,
               (SELECT sum(active_listings)::int FROM analytics.inventory_monthly
                WHERE month = '2024-02-01') AS active`);
      // A and B on the market at the end of February, C pending since December.
      expect(sums).toEqual({ listings: 3, active: 3 });
      const views = await refreshAnalytics(db);
      expect(views.map((v) => [v.view, v.concurrently])).toEqual(
        MATERIALIZED.map((name) => [name, true]),
      );
    } finally {
      await db.close();
    }
  }, 120_000);
});
