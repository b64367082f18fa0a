import { OpenAPIHono } from '@hono/zod-openapi';
import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { OpsConfig } from '../ops/config.js';
import type { Metrics } from './metrics.js';
import { describeIssues, problem } from './problem.js';

/** What handlers may use: built once at start, put on the context by the deps middleware. */
export type Deps = {
  db: Database;
  logger: Logger;
  /** This app's Prometheus registry and instruments (one per app, never the global one). */
  metrics: Metrics;
  /** Where the data lives and where the backup job reports, for readiness. */
  ops: OpsConfig;
  /** Tiles at this zoom and below are aggregated cells (TILE_CLUSTER_MAX_ZOOM; tile.ts). */
  tileClusterMaxZoom?: number;
};

export type AppEnv = { Variables: { requestId: string; deps: Deps } };

/**
 * A router whose validation failures answer 400 problem+json naming the parameter, so every
 * route gets the same error shape without saying so.
 *
 * @example
 *   export const listingRoutes = createRouter().openapi(searchRoute, async (c) => { ... });
 */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        return problem(c, 'invalid_request', describeIssues(result.error.issues, result.target));
      }
      return undefined;
    },
  });
}
