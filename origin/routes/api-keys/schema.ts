import { z } from '@hono/zod-openapi';
import type { ApiKeyRecord } from '../../auth/api-keys.js';

export const apiKeySchema = z
  .object({
    id: z.number().int(),
    prefix: z.string().openapi({ description: 'Shown in lists so a key can be recognised' }),
    name: z.string(),
    owner: z.string().openapi({ example: 'user:1' }),
    scope: z.string(),
    plan: z.string(),
    created_at: z.string().openapi({ format: 'date-time' }),
    expires_at: z.string().nullable().openapi({ format: 'date-time' }),
    revoked_at: z.string().nullable().openapi({ format: 'date-time' }),
    last_used_at: z.string().nullable().openapi({
      format: 'date-time',
      description: 'To the minute: written at most once a minute',
    }),
  })
  .openapi('ApiKey');

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function apiKeyJson(k: ApiKeyRecord) {
  return {
    id: k.id,
    prefix: `ee_live_${k.prefix}`,
    name: k.name,
    owner: `user:${k.ownerId}`,
    scope: k.scopes,
    plan: k.plan,
    created_at: k.createdAt.toISOString(),
    expires_at: iso(k.expiresAt),
    revoked_at: iso(k.revokedAt),
    last_used_at: iso(k.lastUsedAt),
  };
}
