import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/database.js';
import type { Logger } from '../../logger.js';
import {
  BASE_LEVEL,
  cellsAreFresh,
  LEVEL_OFFSET,
  refreshInBackground,
  storedCellsSql,
} from './cells.js';
import { encodeCellsTileJs, encodeListingsTileJs } from './encode-js.js';
import { priceSql, type TileAddress, type TileFilters, tileFilterSql } from './params.js';

/** The points layer of the listings tiles, as named in TileJSON's vector_layers. */
export const TILE_LAYER = 'listings';
/**
 * The aggregated layer: one feature per grid cell with listings in it, at its listings' mean
 * position, carrying how many it stands for and their median price. What a tile holds at zoom
 * TILE_CLUSTER_MAX_ZOOM and below, and wherever more listings fall in a tile than it can carry as
 * points: the map is complete at every zoom, no tile is a sample.
 */
export const CLUSTER_LAYER = 'listing_clusters';
/** Cells per tile side: at most 64 × 64 = 4,096 features, so a cell tile stays well under 512 KiB. */
export const CLUSTER_GRID = 64;
/** Zoom 0..10 are cells by default (TILE_CLUSTER_MAX_ZOOM): a z10 tile is ~39 km across. */
export const DEFAULT_CLUSTER_MAX_ZOOM = 10;
export const CLUSTER_FIELDS = { count: 'Number', median_price: 'Number' } as const;
/** Tile coordinate space, as MapLibre and the MVT spec default to. */
export const TILE_EXTENT = 4096;
/**
 * Pixels (of 4096) kept around the tile, as Martin and pg_tileserv do: a circle whose centre
 * sits just across the border is still drawn whole instead of cut in half at the seam.
 */
export const TILE_BUFFER = 64;
/**
 * At most this many points per tile: a tile over a dense metro must stay a few hundred KB.
 * Beyond it the tile carries cells instead (CLUSTER_LAYER), never a sample.
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

export type ListingsTileParams = TileAddress &
  TileFilters & {
    maxFeatures?: number;
    /** Cells at this zoom and below (DEFAULT_CLUSTER_MAX_ZOOM). */
    clusterMaxZoom?: number;
  };

export type ListingsTile = {
  /** The encoded tile; empty when no listing falls in it. */
  bytes: Uint8Array;
  /** Features in the tile. */
  features: number;
  /** Listings the features stand for (equal to `features` for points). */
  listings: number;
  /** Which layer the tile carries. */
  layer: typeof TILE_LAYER | typeof CLUSTER_LAYER;
  /** Always false now: a tile too dense for points carries cells. Kept for X-Tile-Truncated. */
  truncated: boolean;
};

/**
 * The listings of one tile with their feature properties, at most `cap + 1` of them (one more
 * than the cap tells that the tile is too dense for points).
 *
 * The envelope filter is `geom_3857 && <tile envelope with its buffer>`: a bounding box the GiST
 * index on the stored Web Mercator point answers, with no per-row transform (migration 0008).
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
           l.geom_3857 AS geom
    FROM listings l
    WHERE l.geom_3857 && ${envelope}
      AND ${tileFilterSql(p, 'l')}
    LIMIT ${cap + 1}`;
}

/**
 * The cells of one tile (CLUSTER_GRID per side): per cell with listings, their count, their
 * median price, their mean position, and an id unique across the zoom (the cell's row and
 * column in the zoom's global grid). A listing belongs to exactly one tile (the envelope taken
 * half-open), so counts add up across tiles. Set-based, on the stored Web Mercator point and its
 * index.
 */
export function tileCellsSql(p: ListingsTileParams): SQL {
  const tile = sql`ST_TileEnvelope(${p.z}::int, ${p.x}::int, ${p.y}::int)`;
  const side = CLUSTER_GRID;
  const perRow = sql`(${2 ** p.z * side}::bigint)`;
  return sql`
    WITH env AS (SELECT ${tile} AS e),
    members AS (
      SELECT ST_X(l.geom_3857) AS mx, ST_Y(l.geom_3857) AS my, ${priceSql('l')}::float8 AS price
      FROM listings l, env
      WHERE l.geom_3857 && env.e
        AND ST_X(l.geom_3857) < ST_XMax(env.e) AND ST_Y(l.geom_3857) > ST_YMin(env.e)
        AND ${tileFilterSql(p, 'l')}
    ),
    cells AS (
      SELECT LEAST(${side - 1}, floor((m.mx - ST_XMin(env.e)) * ${side} / (ST_XMax(env.e) - ST_XMin(env.e))))::int AS cx,
             LEAST(${side - 1}, floor((ST_YMax(env.e) - m.my) * ${side} / (ST_YMax(env.e) - ST_YMin(env.e))))::int AS cy,
             count(*)::int AS count,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY m.price)::float8 AS median_price,
             avg(m.mx) AS mx, avg(m.my) AS my
      FROM members m, env
      GROUP BY 1, 2
    )
    SELECT (${p.y * side}::bigint + c.cy) * ${perRow} + ${p.x * side}::bigint + c.cx AS id,
           c.count, round(c.median_price::numeric, 2)::float8 AS median_price,
           ST_SetSRID(ST_MakePoint(c.mx, c.my), 3857) AS geom
    FROM cells c`;
}

/**
 * One vector tile of listings: cells (CLUSTER_LAYER) at zoom `clusterMaxZoom` and below or where
 * more than `maxFeatures` listings fall in the tile, points (TILE_LAYER, feature id = listing
 * id) otherwise.
 *
 * On PostgreSQL it is built by PostGIS (ST_AsMVTGeom + ST_AsMVT) in one statement. The embedded
 * PGlite's PostGIS has no ST_AsMVT (built without protobuf): there the same rows, with their
 * tile-pixel coordinates computed in SQL, are encoded in JS (encode-js.ts).
 */
export async function listingsTile(
  db: Database,
  params: ListingsTileParams,
  logger?: Logger,
): Promise<ListingsTile> {
  const cap = params.maxFeatures ?? MAX_FEATURES_PER_TILE;
  if (params.z <= (params.clusterMaxZoom ?? DEFAULT_CLUSTER_MAX_ZOOM))
    return cellsTile(db, params, logger);
  // The stored cells know how many listings the tile holds: a dense tile goes straight to
  // them, without first reading cap + 1 points to find out.
  if ((await storedListingsIn(db, params)) > cap) return cellsTile(db, params, logger);
  const points =
    db.driver === 'pglite'
      ? await encodeListingsTileJs(db, tileHitsSql(params, cap), params, cap)
      : await pointsTile(db, params, cap);
  return points.truncated ? cellsTile(db, params, logger) : points;
}

/** Listings in the tile per the fresh stored cells; -1 when they cannot say (filters, stale). */
async function storedListingsIn(db: Database, params: ListingsTileParams): Promise<number> {
  if (filtered(params) || params.z > BASE_LEVEL - LEVEL_OFFSET) return -1;
  if (!(await cellsAreFresh(db))) return -1;
  const [row] = await db.rows<{ n: number }>(
    sql`SELECT coalesce(sum(c.count), 0)::int AS n FROM (${storedCellsSql(params)}) c`,
  );
  return row?.n ?? -1;
}

const filtered = (p: ListingsTileParams) =>
  [p.status, p.type, p.price_min, p.price_max].some((f) => f !== undefined);

async function pointsTile(
  db: Database,
  params: ListingsTileParams,
  cap: number,
): Promise<ListingsTile> {
  const tile = sql`ST_TileEnvelope(${params.z}::int, ${params.x}::int, ${params.y}::int)`;
  const [row] = await db.rows<{ hits: number; features: number; mvt: Uint8Array | null }>(sql`
    WITH hits AS (${tileHitsSql(params, cap)}),
    features AS (
      SELECT h.id AS feature_id, h.id, h.standard_status, h.property_type, h.list_price,
             h.close_price, h.price, h.bedrooms_total, h.living_area, h.price_per_sqft,
             ST_AsMVTGeom(h.geom, ${tile}, ${TILE_EXTENT}, ${TILE_BUFFER}, true) AS geom
      FROM hits h
    )
    SELECT (SELECT count(*) FROM hits)::int AS hits,
           (SELECT count(*) FROM features WHERE geom IS NOT NULL)::int AS features,
           CASE WHEN (SELECT count(*) FROM hits) > ${cap} THEN NULL
                ELSE (SELECT ST_AsMVT(f.*, ${TILE_LAYER}, ${TILE_EXTENT}, 'geom', 'feature_id'
                                      ORDER BY f.feature_id)
                        FROM features f WHERE f.geom IS NOT NULL) END AS mvt`);
  const hits = row?.hits ?? 0;
  const features = row?.features ?? 0;
  return {
    bytes: features > 0 && row?.mvt ? new Uint8Array(row.mvt) : new Uint8Array(0),
    features,
    listings: features,
    layer: TILE_LAYER,
    truncated: hits > cap,
  };
}

/**
 * The cells a tile carries: the precomputed ones (cells.ts) when the tile has no filters, its
 * zoom is one they hold and they are fresh; otherwise aggregated live from listings (and, when
 * stale cells were all that was missing, a refresh is started for the next requests).
 */
async function cellsSource(
  db: Database,
  params: ListingsTileParams,
  logger?: Logger,
): Promise<SQL> {
  if (filtered(params) || params.z > BASE_LEVEL - LEVEL_OFFSET) return tileCellsSql(params);
  if (await cellsAreFresh(db)) return storedCellsSql(params);
  refreshInBackground(db, logger);
  return tileCellsSql(params);
}

async function cellsTile(
  db: Database,
  params: ListingsTileParams,
  logger?: Logger,
): Promise<ListingsTile> {
  const cells = await cellsSource(db, params, logger);
  if (db.driver === 'pglite') return encodeCellsTileJs(db, cells, params);
  const tile = sql`ST_TileEnvelope(${params.z}::int, ${params.x}::int, ${params.y}::int)`;
  const [row] = await db.rows<{ features: number; listings: number; mvt: Uint8Array | null }>(sql`
    WITH cells AS (${cells}),
    features AS (
      SELECT c.id AS feature_id, c.count, c.median_price,
             ST_AsMVTGeom(c.geom, ${tile}, ${TILE_EXTENT}, ${TILE_BUFFER}, true) AS geom
      FROM cells c
    )
    SELECT count(*)::int AS features, coalesce(sum(f.count), 0)::int AS listings,
           ST_AsMVT(f.*, ${CLUSTER_LAYER}, ${TILE_EXTENT}, 'geom', 'feature_id'
                    ORDER BY f.feature_id) AS mvt
    FROM features f WHERE f.geom IS NOT NULL`);
  const features = row?.features ?? 0;
  return {
    bytes: features > 0 && row?.mvt ? new Uint8Array(row.mvt) : new Uint8Array(0),
    features,
    listings: row?.listings ?? 0,
    layer: CLUSTER_LAYER,
    truncated: false,
  };
}
