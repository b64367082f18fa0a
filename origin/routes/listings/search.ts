import { type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Database } from '../../db/database.js';

const DECIMAL = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

const bbox = z.string().transform((value, ctx) => {
  // Number() reads '' as 0 and '0x10' as 16: `,,1,1` would silently become 0,0,1,1.
  const parts = value
    .split(',')
    .map((part) => (DECIMAL.test(part.trim()) ? Number(part) : Number.NaN));
  const [x0, y0, x1, y1] = parts as [number, number, number, number];
  if (parts.length !== 4 || parts.some((n) => !Number.isFinite(n))) {
    ctx.addIssue({ code: 'custom', message: 'bbox is minLon,minLat,maxLon,maxLat (four numbers)' });
    return z.NEVER;
  }
  if (x0 < -180 || x1 > 180 || y0 < -90 || y1 > 90 || x0 >= x1 || y0 >= y1) {
    ctx.addIssue({
      code: 'custom',
      message: 'bbox must lie within [-180,-90,180,90] with min < max',
    });
    return z.NEVER;
  }
  return parts as [number, number, number, number];
});

export const listingsQuerySchema = z.strictObject({
  bbox: bbox.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
export type ListingsQuery = z.infer<typeof listingsQuerySchema>;

/** Listings in a bounding box, newest first. (The full search lands with the API issue.) */
export async function listingsInBbox(db: Database, params: ListingsQuery) {
  const where: SQL[] = [];
  if (params.bbox) {
    const [x0, y0, x1, y1] = params.bbox;
    // && against an envelope is the GiST index's operator: index-backed.
    where.push(sql`geom && ST_MakeEnvelope(${x0}, ${y0}, ${x1}, ${y1}, 4326)`);
  }
  return db.rows(sql`
    SELECT id, source_key, standard_status, property_type, list_price::float8 AS list_price,
           close_price::float8 AS close_price, bedrooms_total, bathrooms_total::float8 AS bathrooms_total,
           living_area, year_built, postal_code, close_date::text AS close_date,
           ST_X(geom) AS longitude, ST_Y(geom) AS latitude
    FROM listings
    ${where.length > 0 ? sql`WHERE ${sql.join(where, sql` AND `)}` : sql``}
    ORDER BY id DESC
    LIMIT ${params.limit}`);
}
