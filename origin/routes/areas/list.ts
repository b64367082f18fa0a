import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { listAreas } from '../../areas/queries.js';
import { problemResponse } from '../../http/problem-schema.js';
import type { AppEnv } from '../../http/router.js';
import { areaListSchema, listAreasQuery } from './schema.js';

export const listAreasRoute = createRoute({
  method: 'get',
  path: '/',
  tags: ['Areas'],
  summary: 'List areas',
  description:
    'Areas in id order with their bbox and live listing count. Keyset pages: pass `next_cursor` ' +
    'back as `cursor` until it is null.',
  request: { query: listAreasQuery },
  responses: {
    200: {
      description: 'A page of areas',
      content: { 'application/json': { schema: areaListSchema } },
    },
    400: problemResponse('A parameter is malformed or unknown; `detail` names it'),
  },
});

export const listAreasHandler: RouteHandler<typeof listAreasRoute, AppEnv> = async (c) => {
  const q = c.req.valid('query');
  const page = await listAreas(c.get('deps').db, {
    kind: q.kind,
    limit: q.limit ?? 100,
    afterId: q.cursor,
  });
  return c.json(
    { items: page.items, next_cursor: page.nextAfterId === null ? null : String(page.nextAfterId) },
    200,
  );
};
