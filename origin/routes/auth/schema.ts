import { z } from '@hono/zod-openapi';
import { problemResponse } from '../../http/problem-schema.js';

export { problemResponse };

/** One JSON body per request: the schema's own, nothing else (unknown fields are a 400). */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { 'application/json': { schema } } };
}

export const refreshTokenField = z
  .string()
  .min(1)
  .max(200)
  .openapi({ description: 'The refresh token from the last /token or /refresh answer' });

export const tokenResponseSchema = z
  .object({
    access_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().openapi({ description: 'Seconds until the access token expires' }),
    refresh_token: z.string().openapi({ description: 'Single-use: spend it at /v1/auth/refresh' }),
    scope: z.string().openapi({ description: 'Space-separated scopes of the access token' }),
    plan: z.string(),
  })
  .openapi('TokenResponse');

export function tokenResponse(pair: {
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  scope: string;
  plan: string;
}) {
  return {
    access_token: pair.accessToken,
    token_type: 'Bearer' as const,
    expires_in: pair.expiresIn,
    refresh_token: pair.refreshToken,
    scope: pair.scope,
    plan: pair.plan,
  };
}
