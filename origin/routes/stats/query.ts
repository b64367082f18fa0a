import { type SQL, sql } from 'drizzle-orm';
import { textArray } from '../../areas/sql-arrays.js';
import type { Database } from '../../db/database.js';
import type { StandardStatus } from '../../db/schema/listings.js';
import { type Where, whereSql } from '../shared/where.js';

/**
 * Listing statistics, computed in SQL (percentile_cont) over the listings a where selects.
 *
 * What is counted where — every listing has one *event*, the latest thing that happened to it:
 * its sale (close_date) when it sold, else its listing (listing_contract_date). Then:
 * - `group=month` puts each listing in the month of its event; `new_listings` counts the
 *   listings whose listing_contract_date falls in that month (a listing listed in January and
 *   sold in March counts in January's new_listings and in March's count and closed_sales).
 *   Listings with neither date have no month and are left out.
 * - `group=type` and `group=area` put each listing in its property type / in every area its
 *   point lies in; `new_listings` counts those listed within since..until.
 * - `since`/`until` (inclusive dates) keep listings whose event falls in the period; without
 *   them every listing counts.
 * - `count`: listings in the group (by event); `closed_sales`: those that sold (have a
 *   close_date); price percentiles over those with the price; `price_per_sqft` is
 *   close_price / living_area for a sold listing and list_price / living_area otherwise;
 *   `median_days_on_market` is close_date − listing_contract_date over sales with both dates
 *   (and a close not before the listing: anything else is a data error).
 */

/** A client cannot make the response unbounded: 500 months is 41 years, 500 areas a large metro. */
export const MAX_GROUPS = 500;
export const PERCENTILES = [0.1, 0.25, 0.5, 0.75, 0.9] as const;

export type Distribution = { p10: number; p25: number; median: number; p75: number; p90: number };

export type StatsGroup = {
  /** `YYYY-MM` for month, the property type (null when unknown) for type, the area id as text for area. */
  key: string | null;
  area?: { id: number; slug: string; name: string; kind: string };
  count: number;
  new_listings: number;
  closed_sales: number;
  list_price: Distribution | null;
  close_price: Distribution | null;
  price_per_sqft: Distribution | null;
  median_days_on_market: number | null;
};

export type StatsParams = {
  where: Where;
  group: 'month' | 'type' | 'area';
  status?: StandardStatus[] | undefined;
  type?: string[] | undefined;
  /** Inclusive `YYYY-MM-DD`. */
  since?: string | undefined;
  until?: string | undefined;
  /** With group=area: only areas of this kind. */
  kind?: string | undefined;
};

/**
 * Price per square foot of one listing, as both /v1/stats and an area's headline stats use it:
 * the sale price when it sold, the asking price otherwise.
 */
export function pricePerSqftSql(alias = 'l'): SQL {
  const a = sql.raw(alias);
  return sql`(coalesce(${a}.close_price, ${a}.list_price) / nullif(${a}.living_area, 0))::float8`;
}

function inPeriod(column: SQL, since?: string, until?: string): SQL {
  const parts: SQL[] = [];
  if (since) parts.push(sql`${column} >= ${since}::date`);
  if (until) parts.push(sql`${column} <= ${until}::date`);
  return parts.length > 0 ? sql.join(parts, sql` AND `) : sql`true`;
}

type Row = {
  key: string | null;
  count: number;
  new_listings: number;
  closed_sales: number;
  list_price: number[] | null;
  close_price: number[] | null;
  price_per_sqft: number[] | null;
  median_days_on_market: number | null;
  area_id?: number;
  slug?: string;
  name?: string;
  kind?: string;
};

function distribution(values: number[] | null): Distribution | null {
  if (!values || values.some((v) => v === null)) return null;
  const [p10, p25, median, p75, p90] = values.map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return { p10, p25, median, p75, p90 };
}

export async function listingStats(
  db: Database,
  params: StatsParams,
): Promise<{ groups: StatsGroup[]; truncated: boolean }> {
  const { since, until } = params;
  const filters: SQL[] = [whereSql(params.where, 'l')];
  if (params.status) filters.push(sql`l.standard_status = ANY(${textArray(params.status)})`);
  if (params.type) filters.push(sql`l.property_type = ANY(${textArray(params.type)})`);
  const event = sql`coalesce(l.close_date, l.listing_contract_date)`;
  if (since || until)
    filters.push(
      sql`((${inPeriod(event, since, until)}) OR (${inPeriod(sql`l.listing_contract_date`, since, until)}))`,
    );

  const eventInPeriod = inPeriod(sql`event`, since, until);
  const listedInPeriod = sql`listed IS NOT NULL AND ${inPeriod(sql`listed`, since, until)}`;
  const measures = sql`list_price, close_price, ppsf, dom, closed`;
  let rows: SQL;
  switch (params.group) {
    case 'month':
      rows = sql`
        SELECT to_char(event, 'YYYY-MM') AS key, true AS main, false AS new, ${measures}
        FROM s WHERE event IS NOT NULL AND ${eventInPeriod}
        UNION ALL
        SELECT to_char(listed, 'YYYY-MM'), false, true, NULL, NULL, NULL, NULL, NULL
        FROM s WHERE ${listedInPeriod}`;
      break;
    case 'type':
      rows = sql`SELECT property_type AS key, ${eventInPeriod} AS main, ${listedInPeriod} AS new, ${measures} FROM s`;
      break;
    case 'area':
      // The spatial join probes areas' GiST index once per listing (ST_Intersects brings its &&).
      rows = sql`
        SELECT a.id::text AS key, ${eventInPeriod} AS main, ${listedInPeriod} AS new, ${measures}
        FROM s JOIN areas a ON ST_Intersects(a.geom, s.geom)
        ${params.kind ? sql`AND a.kind = ${params.kind}` : sql``}`;
      break;
  }
  const percentiles = sql.raw(`ARRAY[${PERCENTILES.join(',')}]::float8[]`);
  const order =
    params.group === 'month' ? sql`key` : sql`count DESC, new_listings DESC, key ASC NULLS LAST`;
  const aggregated = sql`
    WITH s AS (
      SELECT l.geom, l.property_type,
             l.list_price::float8 AS list_price, l.close_price::float8 AS close_price,
             ${pricePerSqftSql('l')} AS ppsf,
             CASE WHEN l.close_date >= l.listing_contract_date
                  THEN (l.close_date - l.listing_contract_date)::float8 END AS dom,
             l.listing_contract_date AS listed, l.close_date AS closed, ${event} AS event
      FROM listings l
      WHERE ${sql.join(filters, sql` AND `)}
    ), r AS (${rows})
    SELECT key,
           count(*) FILTER (WHERE main)::int AS count,
           count(*) FILTER (WHERE new)::int AS new_listings,
           count(*) FILTER (WHERE main AND closed IS NOT NULL)::int AS closed_sales,
           percentile_cont(${percentiles}) WITHIN GROUP (ORDER BY list_price) FILTER (WHERE main) AS list_price,
           percentile_cont(${percentiles}) WITHIN GROUP (ORDER BY close_price) FILTER (WHERE main) AS close_price,
           percentile_cont(${percentiles}) WITHIN GROUP (ORDER BY ppsf) FILTER (WHERE main) AS price_per_sqft,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY dom) FILTER (WHERE main) AS median_days_on_market
    FROM r GROUP BY key
    HAVING count(*) FILTER (WHERE main OR new) > 0
    ORDER BY ${order}
    LIMIT ${MAX_GROUPS + 1}`;
  const result = await db.rows<Row>(
    params.group === 'area'
      ? sql`SELECT g.*, a.id AS area_id, a.slug, a.name, a.kind
            FROM (${aggregated}) g JOIN areas a ON a.id = g.key::int
            ORDER BY g.count DESC, g.new_listings DESC, a.id`
      : aggregated,
  );
  const truncated = result.length > MAX_GROUPS;
  const groups = result.slice(0, MAX_GROUPS).map(
    (r): StatsGroup => ({
      key: r.key,
      ...(params.group === 'area'
        ? {
            area: {
              id: r.area_id as number,
              slug: r.slug as string,
              name: r.name as string,
              kind: r.kind as string,
            },
          }
        : {}),
      count: r.count,
      new_listings: r.new_listings,
      closed_sales: r.closed_sales,
      list_price: distribution(r.list_price),
      close_price: distribution(r.close_price),
      price_per_sqft: distribution(r.price_per_sqft),
      median_days_on_market:
        r.median_days_on_market === null ? null : Number(r.median_days_on_market),
    }),
  );
  return { groups, truncated };
}

export type AreaExistsParams = { id: number };

export async function areaExists(db: Database, params: AreaExistsParams): Promise<boolean> {
  const rows = await db.rows<{ one: number }>(
    sql`SELECT 1 AS one FROM areas WHERE id = ${params.id}`,
  );
  return rows.length > 0;
}
