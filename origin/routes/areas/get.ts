import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { getArea } from '../../areas/queries.js';
import { problemResponse } from '../../http/problem-schema.js';
import type { AppEnv } from '../../http/router.js';
import { areaDetailSchema, areaIdParams } from './schema.js';

export const getAreaRoute = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['Areas'],
  summary: 'An area with its geometry and headline stats',
  request: { params: areaIdParams },
  responses: {
    200: { description: 'The area', content: { 'application/json': { schema: areaDetailSchema } } },
    400: problemResponse('The id is not a positive whole number'),
    404: problemResponse('No area with that id'),
  },
});

export const getAreaHandler: RouteHandler<typeof getAreaRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  // NotFoundError → 404 problem+json in the one onError.
  return c.json(await getArea(c.get('deps').db, { id }), 200);
};
