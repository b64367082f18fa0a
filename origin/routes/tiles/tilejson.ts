import { sql } from 'drizzle-orm';
import type { Database } from '../../db/database.js';
import { MAX_ZOOM } from './params.js';
import {
  CLUSTER_FIELDS,
  CLUSTER_GRID,
  CLUSTER_LAYER,
  DEFAULT_CLUSTER_MAX_ZOOM,
  MAX_FEATURES_PER_TILE,
  TILE_FIELDS,
  TILE_LAYER,
} from './tile.js';

/** Deepest zoom the tiles are made for; MapLibre over-zooms past it (points need no more detail). */
export const TILEJSON_MAXZOOM = 16;

export type Extent = [number, number, number, number];

/** The bounding box of every listing, or undefined when there are none. */
export async function listingsExtent(db: Database): Promise<Extent | undefined> {
  // ST_Extent reads every point (~100 ms per million); the answer is cached for max-age.
  const [row] = await db.rows<{
    x0: number | null;
    y0: number | null;
    x1: number | null;
    y1: number | null;
  }>(sql`
    SELECT ST_XMin(e) AS x0, ST_YMin(e) AS y0, ST_XMax(e) AS x1, ST_YMax(e) AS y1
    FROM (SELECT ST_Extent(geom) AS e FROM listings) s`);
  if (!row || row.x0 === null || row.y0 === null || row.x1 === null || row.y1 === null)
    return undefined;
  return [row.x0, row.y0, row.x1, row.y1];
}

/**
 * The public base URL of this request. The edge forwards to the origin, so the host a client
 * used is in X-Forwarded-Host/-Proto; only well-formed values are taken (a junk header falls
 * back to the request's own URL rather than ending up inside a URL we hand out).
 */
export function publicBaseUrl(
  requestUrl: string,
  headers: { get(name: string): string | null | undefined },
): string {
  const url = new URL(requestUrl);
  const host = headers.get('x-forwarded-host')?.split(',')[0]?.trim();
  const proto = headers.get('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  const validHost =
    host && /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(host)
      ? host
      : undefined;
  const validProto = proto === 'http' || proto === 'https' ? proto : undefined;
  return `${validProto ?? url.protocol.replace(':', '')}://${validHost ?? url.host}`;
}

export type TileJsonParams = {
  baseUrl: string;
  query: string;
  extent: Extent | undefined;
  /** TILE_CLUSTER_MAX_ZOOM. */
  clusterMaxZoom?: number;
};

/** TileJSON 3.0.0 for the listings tiles (https://github.com/mapbox/tilejson-spec/tree/master/3.0.0). */
export function listingsTileJson({
  baseUrl,
  query,
  extent,
  clusterMaxZoom = DEFAULT_CLUSTER_MAX_ZOOM,
}: TileJsonParams) {
  // With no data yet, the whole Web Mercator world: bounds must be there for clients to fit to.
  const bounds: Extent = extent ?? [-180, -85.051129, 180, 85.051129];
  const [x0, y0, x1, y1] = bounds;
  const span = Math.max(x1 - x0, (y1 - y0) * 1.5, 1e-6);
  // The zoom at which the data's extent about fills a 512-pixel view.
  const zoom = Math.max(0, Math.min(TILEJSON_MAXZOOM, Math.floor(Math.log2(360 / span))));
  return {
    tilejson: '3.0.0',
    name: 'estate-edge listings',
    description: `Listings as cells (${CLUSTER_LAYER}: count and median price) up to zoom ${clusterMaxZoom}, as points (${TILE_LAYER}) above it; a tile too dense for points carries cells too, so no tile is a sample. Empty tiles are 200 with an empty body.`,
    scheme: 'xyz',
    tiles: [`${baseUrl}/v1/tiles/listings/{z}/{x}/{y}.mvt${query}`],
    minzoom: 0,
    maxzoom: TILEJSON_MAXZOOM,
    bounds,
    center: [round6((x0 + x1) / 2), round6((y0 + y1) / 2), zoom],
    vector_layers: [
      {
        id: TILE_LAYER,
        description: `Listings (feature id = listing id), from zoom ${clusterMaxZoom + 1}, in tiles with at most ${MAX_FEATURES_PER_TILE} of them. Valid zooms 0..${MAX_ZOOM}.`,
        minzoom: Math.min(clusterMaxZoom + 1, TILEJSON_MAXZOOM),
        maxzoom: TILEJSON_MAXZOOM,
        fields: TILE_FIELDS,
      },
      {
        id: CLUSTER_LAYER,
        description: `The listings of each cell of a ${CLUSTER_GRID} × ${CLUSTER_GRID} grid per tile: count (how many), median_price (close price when closed, else list price), at their mean position. Every tile up to zoom ${clusterMaxZoom}, and any denser tile above it.`,
        minzoom: 0,
        maxzoom: TILEJSON_MAXZOOM,
        fields: CLUSTER_FIELDS,
      },
    ],
  };
}

function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
