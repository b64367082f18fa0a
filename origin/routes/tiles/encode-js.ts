import { type SQL, sql } from 'drizzle-orm';
import vtpbf from 'vt-pbf';
import type { Database } from '../../db/database.js';
import type { TileAddress } from './params.js';
import { CLUSTER_LAYER, type ListingsTile, TILE_EXTENT, TILE_LAYER } from './tile.js';

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
           ${pixelsSql('h.geom')}
    FROM hits h
    CROSS JOIN env
    ORDER BY h.id`);

  const kept = rows.slice(0, cap);
  if (kept.length === 0)
    return {
      bytes: new Uint8Array(0),
      features: 0,
      listings: 0,
      layer: TILE_LAYER,
      truncated: false,
    };
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
  return {
    bytes: new Uint8Array(bytes),
    features: features.length,
    listings: features.length,
    layer: TILE_LAYER,
    truncated: rows.length > cap,
  };
}

/** A Web Mercator point's tile pixels, rounded as ST_AsMVTGeom rounds (`env.e` the tile). */
function pixelsSql(geom: string): SQL {
  return sql.raw(`round((ST_X(${geom}) - ST_XMin(env.e)) * ${TILE_EXTENT} / (ST_XMax(env.e) - ST_XMin(env.e)))::int AS px,
           round((ST_YMax(env.e) - ST_Y(${geom})) * ${TILE_EXTENT} / (ST_YMax(env.e) - ST_YMin(env.e)))::int AS py`);
}

/** The cells of a tile (tile.ts, tileCellsSql) encoded as CLUSTER_LAYER, for PGlite. */
export async function encodeCellsTileJs(
  db: Database,
  cells: SQL,
  tile: TileAddress,
): Promise<ListingsTile> {
  const rows = await db.rows<{
    id: number | string;
    count: number;
    median_price: number | null;
    px: number;
    py: number;
  }>(sql`
    WITH cells AS (${cells}),
    env AS (SELECT ST_TileEnvelope(${tile.z}::int, ${tile.x}::int, ${tile.y}::int) AS e)
    SELECT c.id, c.count, c.median_price, ${pixelsSql('c.geom')}
    FROM cells c CROSS JOIN env
    ORDER BY c.id`);
  if (rows.length === 0)
    return {
      bytes: new Uint8Array(0),
      features: 0,
      listings: 0,
      layer: CLUSTER_LAYER,
      truncated: false,
    };
  const features: VtFeature[] = rows.map((r) => ({
    id: Number(r.id),
    type: 1,
    geometry: [[r.px, r.py]],
    tags: {
      count: Number(r.count),
      ...(r.median_price === null ? {} : { median_price: r.median_price }),
    },
  }));
  const bytes = vtpbf.fromGeojsonVt(
    { [CLUSTER_LAYER]: { features } },
    { version: 2, extent: TILE_EXTENT },
  );
  return {
    bytes: new Uint8Array(bytes),
    features: features.length,
    listings: rows.reduce((n, r) => n + Number(r.count), 0),
    layer: CLUSTER_LAYER,
    truncated: false,
  };
}
