import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import { createApiKey } from '../../auth/api-keys.js';
import type { IdentityConfig } from '../../auth/config.js';
import { scopes } from '../../auth/scopes.js';
import { plans } from '../../db/schema/users.js';
import { InvalidParameterError } from '../../errors.js';
import { auditContextOf, authenticate, principalOf } from '../../http/principal.js';
import { problemResponse } from '../../http/problem-schema.js';
import type { AppEnv } from '../../http/router.js';
import { apiKeyJson, apiKeySchema } from './schema.js';

export function createApiKeyRoute(config: IdentityConfig) {
  return createRoute({
    method: 'post',
    path: '/',
    tags: ['API keys'],
    summary: 'Create an API key (the key is shown in this answer only)',
    description:
      'The key gets the scopes asked for, each of which the caller must hold now, and a plan no ' +
      'higher than the caller’s. Called with an API key, the new key is that key’s child: at ' +
      'most its scopes and plan, never expiring after it (no expiry asked for: its expiry), and ' +
      'refused once it is revoked. Store the key at once: only a hash of it is kept.',
    middleware: [authenticate(config, 'keys:write')] as const,
    security: [{ bearerAuth: [] }],
    request: {
      body: {
        required: true,
        content: {
          'application/json': {
            schema: z
              .strictObject({
                name: z
                  .string()
                  .min(1)
                  .max(100)
                  .regex(/^[\p{L}\p{N} ._:/()-]+$/u, 'letters, digits, spaces and ._:/()- only'),
                scopes: z.array(z.enum(scopes)).min(1).max(scopes.length),
                plan: z.enum(plans).optional(),
                expires_at: z.iso
                  .datetime({ offset: true })
                  .optional()
                  .openapi({ description: 'When the key stops working; none: never' }),
              })
              .openapi('ApiKeyRequest'),
          },
        },
      },
    },
    responses: {
      201: {
        description: 'Created; `key` is the secret, shown this once',
        content: {
          'application/json': {
            schema: apiKeySchema.extend({ key: z.string() }).openapi('ApiKeyCreated'),
          },
        },
      },
      400: problemResponse('A body field is invalid'),
      401: problemResponse('No valid access token'),
      403: problemResponse(
        'The caller lacks keys:write, a requested scope or the plan, or the key would outlive the calling key',
      ),
    },
  });
}

export function createApiKeyHandler(
  _config: IdentityConfig,
): RouteHandler<ReturnType<typeof createApiKeyRoute>, AppEnv> {
  return async function postApiKey(c) {
    const body = c.req.valid('json');
    const principal = principalOf(c);
    const expiresAt = body.expires_at === undefined ? undefined : new Date(body.expires_at);
    if (expiresAt && expiresAt.getTime() <= Date.now())
      throw new InvalidParameterError('expires_at', 'must be in the future');
    const { key, record } = await createApiKey(c.get('deps').db, {
      creator: {
        userId: principal.userId,
        scopes: principal.scopes,
        plan: principal.plan,
        // A key minting a key: the child gets at most the parent's current rights and life.
        keyId: principal.type === 'api_key' ? Number(principal.sub.split(':')[1]) : undefined,
      },
      name: body.name,
      scopes: body.scopes,
      plan: body.plan,
      expiresAt,
      audit: auditContextOf(c),
    });
    c.header('Cache-Control', 'no-store');
    c.header('Location', `/v1/api-keys/${record.id}`);
    return c.json({ ...apiKeyJson(record), key }, 201);
  };
}
