import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { lookupApiKey } from '../../auth/api-keys.js';
import { edgeAssertionEnforced, edgePrincipalOf } from '../../http/edge-assertion.js';
import { problem } from '../../http/problem.js';
import type { AppEnv } from '../../http/router.js';
import { jsonBody, problemResponse } from './schema.js';

/**
 * For the edge only: it looks up an API key here and caches the answer until the credentials
 * epoch moves (docs/edge-auth.md). The scopes and plan are the effective ones: cut to what the
 * owner's current role and plan allow. The edge answers
 * 404 to clients on this path; here, when the app trusts only the edge, the assertion must be the
 * edge's own (`principal_type: 'edge'`), not one it signed for a client, so nobody else can use
 * it as a key oracle. 403 rather than 404: only a misconfigured edge gets it, and the edge turns
 * anything but 200/401/404 into a 503 it does not cache, which makes the mistake visible.
 */
const edgeOnly: MiddlewareHandler = async function introspectKeyEdgeOnly(c, next) {
  if (!edgeAssertionEnforced(c)) return next();
  if (edgePrincipalOf(c)?.type !== 'edge')
    return problem(c, 'forbidden', 'only the edge may look up API keys');
  await next();
};

export const introspectKeyRoute = createRoute({
  method: 'post',
  path: '/introspect-key',
  tags: ['Auth'],
  summary: 'Internal (edge only): who an API key speaks for',
  middleware: [edgeOnly] as const,
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
              credentials_epoch: z
                .number()
                .int()
                .openapi({
                  description:
                    'The credentials epoch this answer reflects: the edge drops it once ' +
                    '/health/data-version reports a later one (docs/edge-auth.md)',
                }),
            })
            .openapi('IntrospectKeyResponse'),
        },
      },
    },
    400: problemResponse('The body is not `{ "key" }`'),
    401: problemResponse(
      'The key is unknown, malformed, revoked or expired, its parent key is, or its owner is disabled',
    ),
    403: problemResponse('The caller is not the edge itself'),
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
      credentials_epoch: found.credentialsEpoch,
    },
    200,
  );
};
