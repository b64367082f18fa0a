import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import type { IdentityConfig } from '../../auth/config.js';
import { formatScopes, roleScopes } from '../../auth/scopes.js';
import { login, refreshSession, type TokenPair } from '../../auth/sessions.js';
import { auditContextOf } from '../../http/principal.js';
import type { AppEnv } from '../../http/router.js';
import {
  jsonBody,
  problemResponse,
  refreshTokenField,
  tokenResponse,
  tokenResponseSchema,
} from './schema.js';

const TAG = ['Auth'];

// --- POST /token

export const tokenRoute = createRoute({
  method: 'post',
  path: '/token',
  tags: TAG,
  summary: 'Sign in: email and password for an access token and a refresh token',
  description:
    'Failed attempts are limited per account and per client IP (429 with Retry-After past the ' +
    'limit). The answer takes as long whether or not the email exists.',
  request: {
    body: jsonBody(
      z
        .strictObject({
          email: z.email().max(320),
          password: z.string().min(1).max(1024),
        })
        .openapi('TokenRequest'),
    ),
  },
  responses: {
    200: {
      description: 'Signed in',
      content: { 'application/json': { schema: tokenResponseSchema } },
    },
    400: problemResponse('The body is not `{ "email", "password" }`'),
    401: problemResponse('The email or the password is wrong'),
    429: problemResponse('Too many failed attempts for this account or address'),
  },
});

export function tokenHandler(config: IdentityConfig): RouteHandler<typeof tokenRoute, AppEnv> {
  return async function postToken(c) {
    const body = c.req.valid('json');
    const pair = await login(c.get('deps').db, config, {
      email: body.email,
      password: body.password,
      audit: auditContextOf(c),
    });
    c.header('Cache-Control', 'no-store');
    return c.json(sessionBody(pair), 200);
  };
}

// --- POST /refresh

export const refreshRoute = createRoute({
  method: 'post',
  path: '/refresh',
  tags: TAG,
  summary: 'Spend a refresh token for a new access token and the next refresh token',
  description:
    'Every refresh token works once. Presenting one that was already spent revokes its whole ' +
    'family (every session descended from the same sign-in): a copied token is worthless.',
  request: {
    body: jsonBody(z.strictObject({ refresh_token: refreshTokenField }).openapi('RefreshRequest')),
  },
  responses: {
    200: {
      description: 'A new pair',
      content: { 'application/json': { schema: tokenResponseSchema } },
    },
    400: problemResponse('The body is not `{ "refresh_token" }`'),
    401: problemResponse('The refresh token is unknown, spent, revoked or expired'),
  },
});

export function refreshHandler(config: IdentityConfig): RouteHandler<typeof refreshRoute, AppEnv> {
  return async function postRefresh(c) {
    const { refresh_token } = c.req.valid('json');
    const pair = await refreshSession(c.get('deps').db, config, {
      refreshToken: refresh_token,
      audit: auditContextOf(c),
    });
    c.header('Cache-Control', 'no-store');
    return c.json(sessionBody(pair), 200);
  };
}

/** A sign-in or a refresh answers the same: the pair, with the user's scopes and plan. */
function sessionBody(pair: TokenPair) {
  return tokenResponse({
    ...pair,
    scope: formatScopes(roleScopes[pair.user.role]),
    plan: pair.user.plan,
  });
}
