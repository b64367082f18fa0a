import { type SQL, sql } from 'drizzle-orm';
import vtpbf from 'vt-pbf';
import type { Database } from '../../db/database.js';
import type { TileAddress } from './params.js';
import { type ListingsTile, TILE_EXTENT, TILE_LAYER } from './tile.js';

/**
 * The vector-tile encoder for the embedded PGlite default only. PGlite's PostGIS is built without
 * protobuf, so it has no ST_AsMVT: here SQL still does the geometry (the index-backed envelope
 * filter, the transform to Web Mercator and the tile-pixel arithmetic, rounded as ST_AsMVTGeom
 * rounds), and vt-pbf (Mapbox's encoder) writes the protobuf. Points need no clipping or
 * simplification, so geojson-vt's tiler is not needed: the rows are handed to vt-pbf in
 * geojson-vt's tile format directly. PostgreSQL never takes this path.
 */

type Row = {
  id: number | string;
  standard_status: string;
  property_type: string | null;
  list_price: number | null;
  close_price: number | null;
  price: number | null;
  bedrooms_total: number | null;
  living_area: number | null;
  price_per_sqft: number | null;
  px: number;
  py: number;
};

/** geojson-vt's tile feature: type 1 is a point, geometry in tile pixels. */
type VtFeature = {
  id: number;
  type: 1;
  geometry: [number, number][];
  tags: Record<string, string | number>;
};

export async function encodeListingsTileJs(
  db: Database,
  hits: SQL,
  tile: TileAddress,
  cap: number,
): Promise<ListingsTile> {
  const rows = await db.rows<Row>(sql`
    WITH hits AS (${hits}),
    env AS (SELECT ST_TileEnvelope(${tile.z}::int, ${tile.x}::int, ${tile.y}::int) AS e)
    SELECT h.id, h.standard_status, h.property_type, h.list_price, h.close_price, h.price,
           h.bedrooms_total, h.living_area, h.price_per_sqft,
           round((ST_X(m.g) - ST_XMin(env.e)) * ${TILE_EXTENT} / (ST_XMax(env.e) - ST_XMin(env.e)))::int AS px,
           round((ST_YMax(env.e) - ST_Y(m.g)) * ${TILE_EXTENT} / (ST_YMax(env.e) - ST_YMin(env.e)))::int AS py
    FROM hits h
    CROSS JOIN env
    CROSS JOIN LATERAL (SELECT ST_Transform(h.geom, 3857) AS g) m
    ORDER BY hashint8(h.id), h.id`);

  const kept = rows.slice(0, cap);
  if (kept.length === 0) return { bytes: new Uint8Array(0), features: 0, truncated: false };
  const features: VtFeature[] = kept.map((r) => {
    const tags: Record<string, string | number> = {};
    // The same properties as ST_AsMVT writes; like it, a NULL is left out rather than written.
    for (const key of [
      'id',
      'standard_status',
      'property_type',
      'list_price',
      'close_price',
      'price',
      'bedrooms_total',
      'living_area',
      'price_per_sqft',
    ] as const) {
      const value = r[key];
      if (value !== null && value !== undefined) tags[key] = key === 'id' ? Number(value) : value;
    }
    return { id: Number(r.id), type: 1, geometry: [[r.px, r.py]], tags };
  });
  const bytes = vtpbf.fromGeojsonVt(
    { [TILE_LAYER]: { features } },
    { version: 2, extent: TILE_EXTENT },
  );
  return { bytes: new Uint8Array(bytes), features: features.length, truncated: rows.length > cap };
}
