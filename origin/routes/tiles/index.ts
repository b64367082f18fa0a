import { createHash } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { describeIssues, problem } from '../../http/problem.js';
import { problemResponse } from '../../http/problem-schema.js';
import { createRouter } from '../../http/router.js';
import {
  checkTileAddress,
  checkTileFilters,
  tileFilterQuery,
  tilePathSchema,
  tileQuerySchema,
} from './params.js';
import { CLUSTER_GRID, CLUSTER_LAYER, listingsTile, MAX_FEATURES_PER_TILE } from './tile.js';
import { listingsExtent, listingsTileJson, publicBaseUrl } from './tilejson.js';

/**
 * Listings data changes when an ETL run lands (hours apart): five minutes of caching at the edge
 * and in browsers takes the load off PostGIS while panning, and the ETag makes a revalidation
 * after that a cheap 304.
 */
const CACHE_CONTROL = 'public, max-age=300, stale-while-revalidate=600';
const MVT = 'application/vnd.mapbox-vector-tile';

const tileRoute = createRoute({
  method: 'get',
  path: '/listings/{z}/{x}/{y}.mvt',
  summary: 'A vector tile of listings',
  description: `Mapbox Vector Tile. Up to TILE_CLUSTER_MAX_ZOOM (10 by default) the layer \`${CLUSTER_LAYER}\`: one feature per cell of a ${CLUSTER_GRID} × ${CLUSTER_GRID} grid with listings in it, with \`count\` and \`median_price\`. Above it the layer \`listings\` (points, feature id = listing id), or cells again where more than ${MAX_FEATURES_PER_TILE} listings fall in the tile: no tile is a sample (\`X-Tile-Truncated\` is always false). \`X-Tile-Layer\` says which; \`X-Tile-Listings\` how many listings the features stand for. An empty tile is 200 with an empty body.`,
  request: { params: tilePathSchema, query: tileQuerySchema },
  responses: {
    200: {
      description: 'The tile (empty body when no listing falls in it)',
      content: { [MVT]: { schema: z.string().openapi({ format: 'binary' }) } },
      headers: {
        ETag: { schema: { type: 'string' } },
        'X-Tile-Features': { schema: { type: 'integer' }, description: 'features in the tile' },
        'X-Tile-Truncated': {
          schema: { type: 'string', enum: ['true', 'false'] },
          description: 'always false: a tile too dense for points carries cells',
        },
        'X-Tile-Layer': {
          schema: { type: 'string', enum: ['listings', 'listing_clusters'] },
          description: 'the layer the tile carries',
        },
        'X-Tile-Listings': {
          schema: { type: 'integer' },
          description: 'listings the features stand for',
        },
      },
    },
    304: { description: 'Not modified (If-None-Match)' },
    400: problemResponse('A bad z, x, y or filter'),
  },
});

const tileJsonRoute = createRoute({
  method: 'get',
  path: '/listings.json',
  summary: 'TileJSON 3.0.0 for the listings tiles',
  description: 'The filters given here are carried into the `tiles` URL.',
  request: { query: tileQuerySchema },
  responses: {
    200: {
      description: 'TileJSON',
      content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
    },
    400: problemResponse('A bad filter'),
  },
});

/** A strong ETag from the bytes; a matching If-None-Match gets 304 with the same caching headers. */
function etagOf(body: Uint8Array | string): string {
  return `"${createHash('sha1').update(body).digest('base64url')}"`;
}

function notModified(c: Context, etag: string): boolean {
  const header = c.req.header('if-none-match');
  if (!header) return false;
  return header === '*' || header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

export const tileRoutes = createRouter();

// Documented from the route above, but routed by hand: Hono cannot take `{y}.mvt` (a parameter
// followed by a suffix in one segment), so the segment is matched with a pattern and the
// validation the router would do is done here, with the same 400 problem+json.
tileRoutes.openAPIRegistry.registerPath(tileRoute);
tileRoutes.get('/listings/:z/:x/:y{[^/]+\\.mvt}', async (c) => {
  const { z: zoom, x, y } = c.req.param();
  const path = tilePathSchema.safeParse({ z: zoom, x, y: y.slice(0, -'.mvt'.length) });
  if (!path.success)
    return problem(c, 'invalid_request', describeIssues(path.error.issues, 'param'));
  const query = tileQuerySchema.safeParse(c.req.query());
  if (!query.success)
    return problem(c, 'invalid_request', describeIssues(query.error.issues, 'query'));
  const address = checkTileAddress(path.data);
  const filters = checkTileFilters(query.data);

  const deps = c.get('deps');
  const tile = await listingsTile(
    deps.db,
    {
      ...address,
      ...filters,
      ...(deps.tileClusterMaxZoom === undefined ? {} : { clusterMaxZoom: deps.tileClusterMaxZoom }),
    },
    deps.logger,
  );
  const etag = etagOf(tile.bytes);
  const headers = {
    'Content-Type': MVT,
    'Cache-Control': CACHE_CONTROL,
    ETag: etag,
    'X-Tile-Features': String(tile.features),
    'X-Tile-Truncated': String(tile.truncated),
    'X-Tile-Layer': tile.layer,
    'X-Tile-Listings': String(tile.listings),
  };
  if (notModified(c, etag)) return c.body(null, 304, headers);
  // Empty tiles are 200 with no body, not 204: caches (the edge's included) keep a 200 without
  // special rules, and MapLibre draws both the same way.
  if (tile.bytes.byteLength === 0) return c.body(null, 200, headers);
  return c.body(tile.bytes as Uint8Array<ArrayBuffer>, 200, headers);
});

tileRoutes.openapi(tileJsonRoute, async (c) => {
  const filters = checkTileFilters(c.req.valid('query'));
  const extent = await listingsExtent(c.get('deps').db);
  const body = JSON.stringify(
    listingsTileJson({
      baseUrl: publicBaseUrl(c.req.url, { get: (name) => c.req.header(name) }),
      query: tileFilterQuery(filters),
      extent,
      ...(c.get('deps').tileClusterMaxZoom === undefined
        ? {}
        : { clusterMaxZoom: c.get('deps').tileClusterMaxZoom }),
    }),
  );
  const etag = etagOf(body);
  const headers = {
    'Content-Type': 'application/json',
    'Cache-Control': CACHE_CONTROL,
    ETag: etag,
    // The tiles URL is built from these: a cache must not hand one host's answer to another.
    Vary: 'X-Forwarded-Host, X-Forwarded-Proto',
  };
  // The body is sent as text, already serialized for its ETag: c.json's typed response does
  // not fit, hence the casts.
  if (notModified(c, etag)) return c.body(null, 304, headers) as never;
  return c.body(body, 200, headers) as never;
});
