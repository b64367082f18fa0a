import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import { revokeApiKey } from '../../auth/api-keys.js';
import type { IdentityConfig } from '../../auth/config.js';
import { auditContextOf, authenticate, principalOf } from '../../http/principal.js';
import { problemResponse } from '../../http/problem-schema.js';
import type { AppEnv } from '../../http/router.js';
import { idParam } from '../etl/schema.js';
import { apiKeyJson, apiKeySchema } from './schema.js';

export function revokeApiKeyRoute(config: IdentityConfig) {
  return createRoute({
    method: 'delete',
    path: '/{id}',
    tags: ['API keys'],
    summary: 'Revoke an API key (own keys; with keys:admin, any)',
    description:
      'Effective at the origin at once, for the key and every key it minted; at the edge within ' +
      '5 s (the credentials epoch, docs/edge-auth.md).',
    middleware: [authenticate(config, 'keys:write')] as const,
    security: [{ bearerAuth: [] }],
    request: {
      params: z.strictObject({
        id: idParam.openapi({ param: { name: 'id', in: 'path' }, example: '3', type: 'string' }),
      }),
    },
    responses: {
      200: {
        description: 'The key, revoked',
        content: { 'application/json': { schema: apiKeySchema } },
      },
      400: problemResponse('The id is not a positive whole number'),
      401: problemResponse('No valid access token'),
      403: problemResponse('The caller lacks keys:write'),
      404: problemResponse('No such key among those the caller may revoke'),
    },
  });
}

export const revokeApiKeyHandler: RouteHandler<
  ReturnType<typeof revokeApiKeyRoute>,
  AppEnv
> = async (c) => {
  const principal = principalOf(c);
  const record = await revokeApiKey(c.get('deps').db, {
    id: c.req.valid('param').id,
    ownerId: principal.scopes.includes('keys:admin') ? undefined : principal.userId,
    audit: auditContextOf(c),
  });
  return c.json(apiKeyJson(record), 200);
};
