import type { IdentityConfig } from '../../auth/config.js';
import { createRouter } from '../../http/router.js';
import { createApiKeyHandler, createApiKeyRoute } from './create.js';
import { listApiKeysHandler, listApiKeysRoute } from './list.js';
import { retireSigningKeysHandler, retireSigningKeysRoute } from './retire-signing-keys.js';
import { revokeApiKeyHandler, revokeApiKeyRoute } from './revoke.js';

/**
 * API keys for apps under /v1/api-keys: create (shown once), list, revoke; and, for the edge's
 * `keys` job only, retiring expired signing keys.
 */
export function createApiKeyRoutes(config: IdentityConfig) {
  return createRouter()
    .openapi(createApiKeyRoute(config), createApiKeyHandler(config))
    .openapi(listApiKeysRoute(config), listApiKeysHandler)
    .openapi(revokeApiKeyRoute(config), revokeApiKeyHandler)
    .openapi(retireSigningKeysRoute, retireSigningKeysHandler);
}
