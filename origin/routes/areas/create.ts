import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { logRefreshFailure, refreshAnalytics } from '../../analytics/refresh.js';
import { loadAreasFromGeoJSON } from '../../areas/load.js';
import { problemResponse } from '../../http/problem-schema.js';
import type { AppEnv } from '../../http/router.js';
import { createAreasQuery, createAreasResponse, featureCollectionBody } from './schema.js';

export const createAreasRoute = createRoute({
  method: 'post',
  path: '/',
  tags: ['Areas'],
  summary: 'Load areas from a GeoJSON FeatureCollection (admin)',
  description:
    'All-or-nothing: a file with any bad feature stores nothing, and the 400 lists the bad ' +
    'features by index. Bodies are limited to 1 MiB; load bigger files (a state of ZIP ' +
    'outlines) with `npm run areas -- load <file> --kind <kind>`, which takes up to 50 MB.',
  // AUTHORIZATION SEAM: who may load areas is the identity issue's job. Put
  // `middleware: [requireScope('areas:write')] as const` here once http/authz.ts has that scope.
  request: {
    query: createAreasQuery,
    body: {
      required: true,
      content: {
        'application/geo+json': { schema: featureCollectionBody },
        'application/json': { schema: featureCollectionBody },
      },
    },
  },
  responses: {
    201: {
      description: 'The areas were stored',
      content: { 'application/json': { schema: createAreasResponse } },
    },
    400: problemResponse(
      'A bad parameter or bad features (each listed by index); nothing was stored',
    ),
    409: problemResponse('A slug already exists (without `replace`), or belongs to another kind'),
    413: problemResponse('The body is over 1 MiB: use the CLI'),
    415: problemResponse('The body is not JSON'),
  },
});

export const createAreasHandler: RouteHandler<typeof createAreasRoute, AppEnv> = async (c) => {
  const q = c.req.valid('query');
  const body = c.req.valid('json');
  const result = await loadAreasFromGeoJSON(c.get('deps').db, body, {
    kind: q.kind,
    nameProperty: q.name_property,
    slugProperty: q.slug_property,
    replace: q.replace,
  });
  // The analysts' per-area views follow; a failed refresh is logged and the load still stands.
  await refreshAnalytics(c.get('deps').db).catch(logRefreshFailure);
  return c.json(result, 201);
};
