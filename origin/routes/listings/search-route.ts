import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { negotiateRepresentation } from '../../../contract/negotiate.js';
import { problemResponse } from '../../http/problem-schema.js';
import type { AppEnv } from '../../http/router.js';
import { resolveWhere } from '../shared/where.js';
import type { CursorCodec } from './cursor.js';
import { featureCollectionSchema, searchQuerySchema, searchResponseSchema } from './schema.js';
import {
  type ListingSummary,
  type SearchSort,
  searchFingerprint,
  searchListings,
} from './search.js';

/** GET /v1/listings: the HTTP side of the search (the query itself is search.ts). */
export const searchRoute = createRoute({
  method: 'get',
  path: '/',
  tags: ['listings'],
  summary: 'Search listings by place, filters and sort, a page at a time',
  description:
    'Keyset-paginated: pass `next_cursor` back as `cursor` (with the same where, filters and sort) until it is null. Pages stay exact when listings are added between them. JSON by default; GeoJSON with `format=geojson`, or with an `Accept` that ranks `application/geo+json` above `application/json` (RFC 9110 weights; `;q=0` refuses it).',
  request: { query: searchQuerySchema },
  responses: {
    200: {
      description: 'a page of listings',
      content: {
        'application/json': { schema: searchResponseSchema },
        'application/geo+json': { schema: featureCollectionSchema },
      },
    },
    400: problemResponse('a parameter is invalid (the detail names it)'),
  },
});

/** RFC 7946: coordinates [lon, lat]; `next_cursor` rides along as a foreign member. */
export function toFeatureCollection(items: ListingSummary[], nextCursor: string | null) {
  return {
    type: 'FeatureCollection' as const,
    features: items.map(({ longitude, latitude, ...properties }) => ({
      type: 'Feature' as const,
      id: properties.id,
      // RFC 7946 §3.2: an unlocated feature has a null geometry.
      geometry:
        longitude === null || latitude === null
          ? null
          : { type: 'Point' as const, coordinates: [longitude, latitude] as [number, number] },
      properties,
    })),
    next_cursor: nextCursor,
  };
}

export function searchHandler(cursors: CursorCodec): RouteHandler<typeof searchRoute, AppEnv> {
  return async function searchListingsHandler(c) {
    const { bbox, near, radius, area, sort, limit, cursor, format, ...filters } =
      c.req.valid('query');
    const where = resolveWhere({ bbox, near, radius, area });
    const order: SearchSort = sort ?? (where?.kind === 'near' ? 'distance' : 'newest');
    const search = searchFingerprint(where, filters);
    const after =
      cursor === undefined ? undefined : cursors.decode(cursor, { sort: order, search });
    const { items, next } = await searchListings(c.get('deps').db, {
      where,
      filters,
      sort: order,
      limit,
      after,
    });
    const nextCursor = next
      ? cursors.encode({ sort: order, search, key: next.key, id: next.id })
      : null;

    c.header('Vary', 'Accept');
    // The same negotiation the edge keys its cache with (contract/negotiate.ts): decided apart,
    // `Accept: application/geo+json;q=0` planted JSON where GeoJSON clients were answered from.
    if ((format ?? negotiateRepresentation(c.req.header('accept'))) === 'geojson') {
      return c.json(toFeatureCollection(items, nextCursor), 200, {
        'Content-Type': 'application/geo+json',
      });
    }
    return c.json({ items, next_cursor: nextCursor }, 200);
  };
}
