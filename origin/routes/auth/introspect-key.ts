import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import { lookupApiKey } from '../../auth/api-keys.js';
import type { AppEnv } from '../../http/router.js';
import { jsonBody, problemResponse } from './schema.js';

/**
 * For the edge only: it looks up an API key here and caches the answer briefly. Today the origin
 * listens on the private network and the edge does not forward this path; once the edge
 * assertion exists, this route will also require an assertion from the edge itself (not from a
 * client), so nobody else can use it as a key oracle.
 */
export const introspectKeyRoute = createRoute({
  method: 'post',
  path: '/introspect-key',
  tags: ['Auth'],
  summary: 'Internal (edge only): who an API key speaks for',
  request: {
    body: jsonBody(
      z.strictObject({ key: z.string().min(1).max(200) }).openapi('IntrospectKeyRequest'),
    ),
  },
  responses: {
    200: {
      description: 'The key is valid',
      content: {
        'application/json': {
          schema: z
            .object({
              principal: z.string().openapi({ example: 'api_key:3' }),
              owner: z.string().openapi({ example: 'user:1' }),
              scope: z.string(),
              plan: z.string(),
              expires_at: z.string().nullable().openapi({ format: 'date-time' }),
            })
            .openapi('IntrospectKeyResponse'),
        },
      },
    },
    400: problemResponse('The body is not `{ "key" }`'),
    401: problemResponse('The key is unknown, malformed, revoked or expired'),
  },
});

export const introspectKeyHandler: RouteHandler<typeof introspectKeyRoute, AppEnv> = async (c) => {
  const { key } = c.req.valid('json');
  const found = await lookupApiKey(c.get('deps').db, { key });
  c.header('Cache-Control', 'no-store');
  return c.json(
    {
      principal: `api_key:${found.keyId}`,
      owner: `user:${found.ownerId}`,
      scope: found.scopes.join(' '),
      plan: found.plan,
      expires_at: found.expiresAt?.toISOString() ?? null,
    },
    200,
  );
};
