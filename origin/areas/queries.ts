import { sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { NotFoundError } from '../errors.js';
import { pricePerSqftSql } from '../routes/stats/query.js';

export type Bbox = [number, number, number, number];

export type AreaSummary = {
  id: number;
  slug: string;
  name: string;
  kind: string;
  bbox: Bbox;
  listing_count: number;
};

export type ListAreasParams = {
  kind?: string | undefined;
  limit: number;
  /** Keyset: areas with an id above this one. */
  afterId?: number | undefined;
};

/**
 * Areas in id order, a page at a time. The listing count is live (one index-backed
 * ST_Intersects count per area): exact, and cheap for a page of ZIPs over the sample; see the
 * issue notes for a stored count should pages of big areas over millions of listings get slow.
 */
export async function listAreas(
  db: Database,
  params: ListAreasParams,
): Promise<{ items: AreaSummary[]; nextAfterId: number | null }> {
  const rows = await db.rows<
    AreaSummary & { xmin: number; ymin: number; xmax: number; ymax: number }
  >(sql`
    SELECT a.id, a.slug, a.name, a.kind,
           ST_XMin(a.geom) AS xmin, ST_YMin(a.geom) AS ymin, ST_XMax(a.geom) AS xmax, ST_YMax(a.geom) AS ymax,
           (SELECT count(*) FROM listings l WHERE ST_Intersects(l.geom, a.geom))::int AS listing_count
    FROM areas a
    WHERE a.id > ${params.afterId ?? 0}
      ${params.kind ? sql`AND a.kind = ${params.kind}` : sql``}
    ORDER BY a.id
    LIMIT ${params.limit + 1}`);
  const page = rows.slice(0, params.limit);
  return {
    items: page.map((r) => ({
      id: r.id,
      slug: r.slug,
      name: r.name,
      kind: r.kind,
      bbox: [r.xmin, r.ymin, r.xmax, r.ymax],
      listing_count: r.listing_count,
    })),
    nextAfterId: rows.length > params.limit ? (page.at(-1)?.id ?? null) : null,
  };
}

export type AreaHeadline = {
  listing_count: number;
  median_close_price: number | null;
  median_price_per_sqft: number | null;
  /** Sales in the 12 months up to `as_of`: the latest close date in the data, not today. */
  closed_sales_last_12_months: number;
  as_of: string | null;
};

export type AreaDetail = Omit<AreaSummary, 'listing_count'> & {
  properties: Record<string, unknown>;
  geometry: { type: 'MultiPolygon'; coordinates: number[][][][] };
  stats: AreaHeadline;
};

export type GetAreaParams = { id: number };

/**
 * One area with its geometry as GeoJSON and its headline stats. "The last 12 months" are those
 * of the data (up to the latest close date of any listing): the King County sample ends in
 * 2015, and a window ending today would always be empty for it.
 */
export async function getArea(db: Database, params: GetAreaParams): Promise<AreaDetail> {
  const [area] = await db.rows<{
    id: number;
    slug: string;
    name: string;
    kind: string;
    properties: Record<string, unknown>;
    geometry: string;
    xmin: number;
    ymin: number;
    xmax: number;
    ymax: number;
  }>(sql`
    SELECT id, slug, name, kind, properties, ST_AsGeoJSON(geom, 7) AS geometry,
           ST_XMin(geom) AS xmin, ST_YMin(geom) AS ymin, ST_XMax(geom) AS xmax, ST_YMax(geom) AS ymax
    FROM areas WHERE id = ${params.id}`);
  if (!area) throw new NotFoundError(`no area with id ${params.id}`);
  const [stats] = await db.rows<AreaHeadline>(sql`
    WITH as_of AS (SELECT max(close_date) AS day FROM listings)
    SELECT count(*)::int AS listing_count,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY l.close_price::float8) AS median_close_price,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ${pricePerSqftSql('l')}) AS median_price_per_sqft,
           count(*) FILTER (WHERE l.close_date > (SELECT day FROM as_of) - interval '12 months')::int
             AS closed_sales_last_12_months,
           (SELECT to_char(day, 'YYYY-MM-DD') FROM as_of) AS as_of
    FROM listings l
    WHERE ST_Intersects(l.geom, (SELECT geom FROM areas WHERE id = ${params.id}))`);
  return {
    id: area.id,
    slug: area.slug,
    name: area.name,
    kind: area.kind,
    bbox: [area.xmin, area.ymin, area.xmax, area.ymax],
    properties: area.properties,
    geometry: JSON.parse(area.geometry),
    stats: stats as AreaHeadline,
  };
}
