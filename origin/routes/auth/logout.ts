import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import { logout } from '../../auth/refresh-tokens.js';
import { auditContextOf } from '../../http/principal.js';
import type { AppEnv } from '../../http/router.js';
import { jsonBody, problemResponse, refreshTokenField } from './schema.js';

export const logoutRoute = createRoute({
  method: 'post',
  path: '/logout',
  tags: ['Auth'],
  summary: 'Sign out: revoke the refresh token and its whole family',
  description:
    'Answers 204 whether or not the token was known, so it cannot be used to test tokens. The ' +
    'access token already issued stays valid until it expires (minutes).',
  request: {
    body: jsonBody(z.strictObject({ refresh_token: refreshTokenField }).openapi('LogoutRequest')),
  },
  responses: {
    204: { description: 'Signed out' },
    400: problemResponse('The body is not `{ "refresh_token" }`'),
  },
});

export const logoutHandler: RouteHandler<typeof logoutRoute, AppEnv> = async (c) => {
  const { refresh_token } = c.req.valid('json');
  await logout(c.get('deps').db, { token: refresh_token, audit: auditContextOf(c) });
  return c.body(null, 204);
};
