/**
 * The "Market overview" dashboard's questions: native SQL over the `analytics` schema only (the
 * read-only role Metabase connects as sees nothing else). scripts/metabase-setup.ts saves them in
 * Metabase; questions.test.ts runs every one against PostGIS with data, and
 * test/analytics-role.test.ts runs them as the read-only role.
 *
 * To add a question: append it here, run the tests, run `npm run metabase:setup` (docs/analytics.md).
 */

/** Metabase's chart types used here (a card's `display`). */
export type Display = 'line' | 'area' | 'bar' | 'table' | 'pie';

export type Question = {
  /** Unique among the questions: re-runs of the setup find a question by its name. */
  name: string;
  description: string;
  display: Display;
  sql: string;
  /** Metabase's `visualization_settings`: which columns are the axis and the series. */
  visualizationSettings: Record<string, unknown>;
  /** Size on the dashboard's 24-column grid. */
  width: number;
  height: number;
};

export const MARKET_OVERVIEW = {
  name: 'Market overview',
  description:
    'Listings, sales, prices, inventory and ETL runs from the estate-edge analytics schema. ' +
    'Managed by scripts/metabase-setup.ts: copy a question before changing its SQL.',
} as const;

const MANAGED = 'Managed by scripts/metabase-setup.ts (docs/analytics.md).';

const lineChart = (dimension: string, metrics: string[]) => ({
  'graph.dimensions': [dimension],
  'graph.metrics': metrics,
});

export const QUESTIONS: readonly Question[] = [
  {
    name: 'Listings, new listings and sales by month',
    description: `Each listing counts once, in the month of its sale (or of its listing when it has not sold), as in /v1/stats. ${MANAGED}`,
    display: 'line',
    sql: `SELECT month, listings, new_listings, closed_sales
FROM analytics.market_monthly
ORDER BY month`,
    visualizationSettings: lineChart('month', ['listings', 'new_listings', 'closed_sales']),
    width: 12,
    height: 6,
  },
  {
    name: 'Median list and close price by month',
    description: `Medians (percentile_cont) over the listings of each month. ${MANAGED}`,
    display: 'line',
    sql: `SELECT month, median_list_price, median_close_price
FROM analytics.market_monthly
ORDER BY month`,
    visualizationSettings: lineChart('month', ['median_list_price', 'median_close_price']),
    width: 12,
    height: 6,
  },
  {
    name: 'Median price per sq ft by month',
    description: `Sale price per sq ft for sold listings, asking price otherwise. ${MANAGED}`,
    display: 'line',
    sql: `SELECT month, median_price_per_sqft
FROM analytics.market_monthly
WHERE median_price_per_sqft IS NOT NULL
ORDER BY month`,
    visualizationSettings: lineChart('month', ['median_price_per_sqft']),
    width: 12,
    height: 6,
  },
  {
    name: 'Median days on market by month',
    description: `Close date minus listing date, over the sales of each month that have both. ${MANAGED}`,
    display: 'line',
    sql: `SELECT month, median_days_on_market
FROM analytics.market_monthly
WHERE median_days_on_market IS NOT NULL
ORDER BY month`,
    visualizationSettings: lineChart('month', ['median_days_on_market']),
    width: 12,
    height: 6,
  },
  {
    name: 'Active inventory by property type',
    description: `Listings on the market at the end of each month (docs/analytics.md says how that is decided). ${MANAGED}`,
    display: 'area',
    sql: `SELECT month, property_type, active_listings
FROM analytics.inventory_monthly
WHERE active_listings > 0
ORDER BY month, property_type`,
    visualizationSettings: {
      'graph.dimensions': ['month', 'property_type'],
      'graph.metrics': ['active_listings'],
      'stackable.stack_type': 'stacked',
    },
    width: 24,
    height: 7,
  },
  {
    name: 'Listings by status',
    description: `Every listing by its current RESO standard status. ${MANAGED}`,
    display: 'pie',
    sql: `SELECT standard_status, count(*)::int AS listings
FROM analytics.listings
GROUP BY standard_status
ORDER BY listings DESC, standard_status`,
    visualizationSettings: { 'pie.dimension': 'standard_status', 'pie.metric': 'listings' },
    width: 8,
    height: 6,
  },
  {
    name: 'Busiest areas over the last 12 months of data',
    description: `Closed sales and new listings by area over the 12 months up to the latest month in the data. ${MANAGED}`,
    display: 'table',
    sql: `WITH latest AS (SELECT max(month) AS month FROM analytics.market_by_area_month)
SELECT m.area_name, m.area_kind,
       sum(m.closed_sales)::int AS closed_sales,
       sum(m.new_listings)::int AS new_listings,
       sum(m.listings)::int AS listings
FROM analytics.market_by_area_month m CROSS JOIN latest
WHERE m.month > latest.month - interval '12 months'
GROUP BY m.area_id, m.area_name, m.area_kind
ORDER BY closed_sales DESC, listings DESC, m.area_name
LIMIT 25`,
    visualizationSettings: {},
    width: 16,
    height: 6,
  },
  {
    name: 'Price per sq ft by area and property type',
    description: `Percentiles of price per sq ft in each area, for groups of at least 5 listings. ${MANAGED}`,
    display: 'table',
    sql: `SELECT area_name, property_type, listings,
       round(p10::numeric, 2) AS p10, round(p25::numeric, 2) AS p25,
       round(median::numeric, 2) AS median, round(p75::numeric, 2) AS p75,
       round(p90::numeric, 2) AS p90
FROM analytics.price_per_sqft_by_area_type
WHERE listings >= 5
ORDER BY median DESC, area_name, property_type`,
    visualizationSettings: {},
    width: 24,
    height: 7,
  },
  {
    name: 'Recent ETL runs',
    description: `The last 50 feed runs: status, duration and what each did to the listings. ${MANAGED}`,
    display: 'table',
    sql: `SELECT run_id, source, status, trigger, started_at, duration_seconds,
       rows_read, rows_inserted, rows_updated, rows_unchanged, rows_rejected, has_error
FROM analytics.etl_run_history
ORDER BY started_at DESC, run_id DESC
LIMIT 50`,
    visualizationSettings: {},
    width: 24,
    height: 6,
  },
];

export type Placement = { row: number; col: number; width: number; height: number };

/** Where each question goes on a 24-column grid: left to right, wrapping, rows as tall as their tallest card. */
export function dashboardLayout(questions: readonly Question[]): Placement[] {
  const placements: Placement[] = [];
  let row = 0;
  let col = 0;
  let rowHeight = 0;
  for (const q of questions) {
    if (col + q.width > 24) {
      row += rowHeight;
      col = 0;
      rowHeight = 0;
    }
    placements.push({ row, col, width: q.width, height: q.height });
    col += q.width;
    rowHeight = Math.max(rowHeight, q.height);
  }
  return placements;
}
