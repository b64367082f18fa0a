import type { IdentityConfig } from '../../auth/config.js';
import { createRouter } from '../../http/router.js';
import { introspectKeyHandler, introspectKeyRoute } from './introspect-key.js';
import { logoutHandler, logoutRoute } from './logout.js';
import { refreshHandler, refreshRoute, tokenHandler, tokenRoute } from './token.js';

/**
 * Sign-in under /v1/auth: token, refresh, logout, and the edge's API-key lookup. Open by design
 * (they are how a caller gets credentials); abuse is bounded by the login rate limits.
 */
export function createAuthRoutes(config: IdentityConfig) {
  return createRouter()
    .openapi(tokenRoute, tokenHandler(config))
    .openapi(refreshRoute, refreshHandler(config))
    .openapi(logoutRoute, logoutHandler)
    .openapi(introspectKeyRoute, introspectKeyHandler);
}
