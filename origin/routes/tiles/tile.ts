import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/database.js';
import { encodeListingsTileJs } from './encode-js.js';
import { priceSql, type TileAddress, type TileFilters, tileFilterSql } from './params.js';

/** The one layer of the listings tiles, as named in TileJSON's vector_layers. */
export const TILE_LAYER = 'listings';
/** Tile coordinate space, as MapLibre and the MVT spec default to. */
export const TILE_EXTENT = 4096;
/**
 * Pixels (of 4096) kept around the tile, as Martin and pg_tileserv do: a circle whose centre
 * sits just across the border is still drawn whole instead of cut in half at the seam.
 */
export const TILE_BUFFER = 64;
/**
 * At most this many features per tile: a z8 tile over a metro of a million listings must stay a
 * few hundred KB. Beyond it the tile is a deterministic sample (see `sampleOrderSql`) and is
 * marked truncated.
 */
export const MAX_FEATURES_PER_TILE = 10_000;

/** The properties every feature carries, their MVT value types named as TileJSON wants them. */
export const TILE_FIELDS = {
  id: 'Number',
  standard_status: 'String',
  property_type: 'String',
  list_price: 'Number',
  close_price: 'Number',
  price: 'Number',
  bedrooms_total: 'Number',
  living_area: 'Number',
  price_per_sqft: 'Number',
} as const;

export type ListingsTileParams = TileAddress & TileFilters & { maxFeatures?: number };

export type ListingsTile = {
  /** The encoded tile; empty when no listing falls in it. */
  bytes: Uint8Array;
  /** Features in the tile. */
  features: number;
  /** More listings matched than the cap: the tile holds a sample of them. */
  truncated: boolean;
};

/**
 * The sampling order when a tile has too many listings: a hash of the id. Unlike "the most
 * expensive first" it keeps the map's density honest, it is stable across requests (same tile,
 * same bytes, same ETag), and it nests across zooms: a listing drawn at zoom z is among the first
 * of its smaller tile at z+1 too, so points never vanish when zooming in.
 */
function sampleOrderSql(alias: string): SQL {
  return sql.raw(`hashint8(${alias}.id), ${alias}.id`);
}

/**
 * The listings of one tile with their feature properties, at most `cap + 1` of them (one more
 * than the cap tells that the tile was truncated).
 *
 * The envelope filter is `geom && <tile envelope with its buffer, in 4326>`: a bounding box the
 * GiST index on `geom` answers, with no per-row transform. Web Mercator maps a tile's rectangle
 * onto an exact lon/lat rectangle, so transforming its corners loses nothing.
 */
export function tileHitsSql(p: ListingsTileParams, cap: number): SQL {
  const envelope = sql`ST_TileEnvelope(${p.z}::int, ${p.x}::int, ${p.y}::int, margin => ${TILE_BUFFER / TILE_EXTENT}::float8)`;
  return sql`
    SELECT l.id,
           l.standard_status,
           l.property_type,
           l.list_price::float8 AS list_price,
           l.close_price::float8 AS close_price,
           ${priceSql('l')}::float8 AS price,
           l.bedrooms_total::int AS bedrooms_total,
           l.living_area,
           round(${priceSql('l')} / NULLIF(l.living_area, 0), 2)::float8 AS price_per_sqft,
           l.geom
    FROM listings l
    WHERE l.geom && ST_Transform(${envelope}, 4326)
      AND ${tileFilterSql(p, 'l')}
    ORDER BY ${sampleOrderSql('l')}
    LIMIT ${cap + 1}`;
}

/**
 * One vector tile of listings (layer `listings`, points, feature id = listing id).
 *
 * On PostgreSQL it is built by PostGIS (ST_AsMVTGeom + ST_AsMVT) in one statement. The embedded
 * PGlite's PostGIS has no ST_AsMVT (built without protobuf): there the same rows, with their
 * tile-pixel coordinates computed in SQL, are encoded in JS (encode-js.ts).
 */
export async function listingsTile(
  db: Database,
  params: ListingsTileParams,
): Promise<ListingsTile> {
  const cap = params.maxFeatures ?? MAX_FEATURES_PER_TILE;
  if (db.driver === 'pglite')
    return encodeListingsTileJs(db, tileHitsSql(params, cap), params, cap);

  const tile = sql`ST_TileEnvelope(${params.z}::int, ${params.x}::int, ${params.y}::int)`;
  const [row] = await db.rows<{ hits: number; features: number; mvt: Uint8Array | null }>(sql`
    WITH hits AS (${tileHitsSql(params, cap)}),
    features AS (
      SELECT h.id AS feature_id, h.id, h.standard_status, h.property_type, h.list_price,
             h.close_price, h.price, h.bedrooms_total, h.living_area, h.price_per_sqft,
             ST_AsMVTGeom(ST_Transform(h.geom, 3857), ${tile}, ${TILE_EXTENT}, ${TILE_BUFFER}, true) AS geom
      FROM (SELECT * FROM hits ORDER BY ${sampleOrderSql('hits')} LIMIT ${cap}) h
    )
    SELECT (SELECT count(*) FROM hits)::int AS hits,
           (SELECT count(*) FROM features WHERE geom IS NOT NULL)::int AS features,
           (SELECT ST_AsMVT(f.*, ${TILE_LAYER}, ${TILE_EXTENT}, 'geom', 'feature_id')
              FROM features f WHERE f.geom IS NOT NULL) AS mvt`);
  const hits = row?.hits ?? 0;
  const features = row?.features ?? 0;
  return {
    bytes: features > 0 && row?.mvt ? new Uint8Array(row.mvt) : new Uint8Array(0),
    features,
    truncated: hits > cap,
  };
}
