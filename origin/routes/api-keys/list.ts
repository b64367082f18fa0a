import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import { listApiKeys } from '../../auth/api-keys.js';
import type { IdentityConfig } from '../../auth/config.js';
import { authenticate, principalOf } from '../../http/principal.js';
import { problemResponse } from '../../http/problem-schema.js';
import type { AppEnv } from '../../http/router.js';
import { apiKeyJson, apiKeySchema } from './schema.js';

export function listApiKeysRoute(config: IdentityConfig) {
  return createRoute({
    method: 'get',
    path: '/',
    tags: ['API keys'],
    summary: "The caller's API keys (with keys:admin: everyone's), newest first",
    middleware: [authenticate(config, 'keys:write')] as const,
    security: [{ bearerAuth: [] }],
    request: { query: z.strictObject({}) },
    responses: {
      200: {
        description: 'The keys (never their secrets)',
        content: {
          'application/json': {
            schema: z.object({ items: z.array(apiKeySchema) }).openapi('ApiKeyList'),
          },
        },
      },
      400: problemResponse('An unknown query parameter'),
      401: problemResponse('No valid access token'),
      403: problemResponse('The caller lacks keys:write'),
    },
  });
}

export const listApiKeysHandler: RouteHandler<ReturnType<typeof listApiKeysRoute>, AppEnv> = async (
  c,
) => {
  const principal = principalOf(c);
  const all = principal.scopes.includes('keys:admin');
  const keys = await listApiKeys(c.get('deps').db, {
    ownerId: all ? undefined : principal.userId,
  });
  c.header('Cache-Control', 'no-store');
  return c.json({ items: keys.map(apiKeyJson) }, 200);
};
