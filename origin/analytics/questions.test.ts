import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.js';
import { dashboardLayout, QUESTIONS, type Question } from './questions.js';
import { loadMarket } from './test-data.js';

/**
 * Metabase cannot run here, so the SQL behind every dashboard question runs against PostGIS with
 * the sample and synthetic listings loaded, and its answers are checked against the tables.
 */

let t: TestDatabase;
const answers = new Map<string, Record<string, unknown>[]>();
let truth: { listings: number; dated: number; closed: number; runs: number };

beforeAll(async () => {
  t = await createTestDatabase();
  await loadMarket(t.db);
  for (const q of QUESTIONS) answers.set(q.name, await t.db.rows(sql.raw(q.sql)));
  const [row] = await t.db.rows<typeof truth>(sql`
    SELECT count(*)::int AS listings,
           count(*) FILTER (WHERE coalesce(close_date, listing_contract_date) IS NOT NULL)::int AS dated,
           count(close_date)::int AS closed,
           (SELECT count(*)::int FROM etl_runs) AS runs
    FROM listings`);
  truth = row as typeof truth;
}, 180_000);
afterAll(async () => {
  await t.drop();
});

const answer = (name: string) => {
  const rows = answers.get(name);
  if (!rows) throw new Error(`no question named "${name}"`);
  return rows;
};
const sum = (rows: Record<string, unknown>[], column: string) =>
  rows.reduce((n, r) => n + Number(r[column] ?? 0), 0);

describe('every question of the Market overview', () => {
  it.each(QUESTIONS.map((q) => [q.name, q] as const))(
    '"%s" answers rows with the columns its chart uses',
    (_name, question: Question) => {
      const rows = answer(question.name);
      expect(rows.length).toBeGreaterThan(0);
      const columns = Object.keys(rows[0] as object);
      const settings = question.visualizationSettings;
      const used = [
        ...((settings['graph.dimensions'] as string[] | undefined) ?? []),
        ...((settings['graph.metrics'] as string[] | undefined) ?? []),
        ...[settings['pie.dimension'], settings['pie.metric']].filter(
          (c): c is string => typeof c === 'string',
        ),
      ];
      for (const column of used) expect(columns).toContain(column);
      // Only the analytics schema (test/analytics-role.test.ts runs it as the read-only role).
      expect(question.sql).not.toMatch(/\bpublic\./i);
      expect(question.sql).toMatch(/\banalytics\./);
    },
  );

  it('have unique names and fit the 24-column dashboard grid without overlapping', () => {
    expect(new Set(QUESTIONS.map((q) => q.name)).size).toBe(QUESTIONS.length);
    const cells = new Set<string>();
    for (const p of dashboardLayout(QUESTIONS)) {
      expect(p.col + p.width).toBeLessThanOrEqual(24);
      for (let r = p.row; r < p.row + p.height; r++)
        for (let c = p.col; c < p.col + p.width; c++) {
          expect(cells.has(`${r},${c}`)).toBe(false);
          cells.add(`${r},${c}`);
        }
    }
  });
});

describe('the answers agree with the tables', () => {
  it('listings by status add up to every listing', () => {
    const rows = answer('Listings by status');
    expect(sum(rows, 'listings')).toBe(truth.listings);
    expect(rows.map((r) => r.standard_status)).toEqual(
      expect.arrayContaining(['Closed', 'Active', 'Pending']),
    );
  });

  it('monthly listings and sales add up to the dated listings and the sales', () => {
    const rows = answer('Listings, new listings and sales by month');
    expect(sum(rows, 'listings')).toBe(truth.dated);
    expect(sum(rows, 'closed_sales')).toBe(truth.closed);
    const months = rows.map((r) => String(r.month));
    expect(months).toEqual([...months].sort());
  });

  it('monthly medians are plausible for the Seattle area', () => {
    for (const r of answer('Median list and close price by month')) {
      if (r.median_close_price !== null) {
        expect(Number(r.median_close_price)).toBeGreaterThan(50_000);
        expect(Number(r.median_close_price)).toBeLessThan(5_000_000);
      }
    }
    for (const r of answer('Median price per sq ft by month')) {
      expect(Number(r.median_price_per_sqft)).toBeGreaterThan(20);
      expect(Number(r.median_price_per_sqft)).toBeLessThan(2_000);
    }
    for (const r of answer('Median days on market by month')) {
      expect(Number(r.median_days_on_market)).toBeGreaterThanOrEqual(0);
      // The synthetic feed sells within 10 to 100 days of listing.
      expect(Number(r.median_days_on_market)).toBeLessThanOrEqual(100);
    }
  });

  it('active inventory is positive, by the property types the listings have', async () => {
    const rows = answer('Active inventory by property type');
    const types = await t.db.rows<{ property_type: string }>(
      sql`SELECT DISTINCT property_type FROM listings WHERE listing_contract_date IS NOT NULL`,
    );
    const known = types.map((r) => r.property_type);
    for (const r of rows) {
      expect(Number(r.active_listings)).toBeGreaterThan(0);
      expect(known).toContain(r.property_type);
    }
    // No month has more listings on the market than there are on-market or sold listings.
    const [bound] = await t.db.rows<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM listings WHERE listing_contract_date IS NOT NULL`);
    const byMonth = new Map<string, number>();
    for (const r of rows)
      byMonth.set(String(r.month), (byMonth.get(String(r.month)) ?? 0) + Number(r.active_listings));
    for (const n of byMonth.values()) expect(n).toBeLessThanOrEqual(bound?.n as number);
  });

  it('the busiest areas are derived ZIP areas, busiest first, at most 25', () => {
    const rows = answer('Busiest areas over the last 12 months of data');
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.length).toBeLessThanOrEqual(25);
    const sales = rows.map((r) => Number(r.closed_sales));
    expect(sales).toEqual([...sales].sort((a, b) => b - a));
    for (const r of rows) {
      expect(r.area_kind).toBe('zip-derived');
      expect(Number(r.closed_sales)).toBeLessThanOrEqual(Number(r.listings));
    }
  });

  it('price per sq ft percentiles are ordered, in groups of at least 5 listings', () => {
    const rows = answer('Price per sq ft by area and property type');
    for (const r of rows) {
      const p = ['p10', 'p25', 'median', 'p75', 'p90'].map((k) => Number(r[k]));
      expect(p).toEqual([...p].sort((a, b) => a - b));
      expect(p[0]).toBeGreaterThan(0);
      expect(Number(r.listings)).toBeGreaterThanOrEqual(5);
    }
    const medians = rows.map((r) => Number(r.median));
    expect(medians).toEqual([...medians].sort((a, b) => b - a));
  });

  it('recent ETL runs are the runs, newest first, and account for every listing', () => {
    const rows = answer('Recent ETL runs');
    expect(rows).toHaveLength(truth.runs);
    expect(rows.map((r) => r.source)).toEqual(['synthetic', 'king-county']);
    expect(sum(rows, 'rows_inserted')).toBe(truth.listings);
    for (const r of rows) {
      expect(r.status).toBe('succeeded');
      expect(Number(r.rows_read)).toBe(
        Number(r.rows_inserted) +
          Number(r.rows_updated) +
          Number(r.rows_unchanged) +
          Number(r.rows_rejected),
      );
    }
  });
});
