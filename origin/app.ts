import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { type IdentityConfig, identityConfigFrom } from './auth/config.js';
import type { Database } from './db/database.js';
import { type CfAccessOptions, cfAccess } from './http/cf-access.js';
import { edgeAssertion } from './http/edge-assertion.js';
import { createMetrics, type Metrics, requestMetrics } from './http/metrics.js';
import { problem, problemErrorHandler } from './http/problem.js';
import { singleQueryParameters } from './http/query-params.js';
import { databaseReplayGuard } from './http/replay-guard.js';
import { routeGuard } from './http/route-guard.js';
import { createRouter, type Deps } from './http/router.js';
import type { Logger } from './logger.js';
import { type OpsConfig, opsConfigFrom } from './ops/config.js';
import { createApiKeyRoutes } from './routes/api-keys/index.js';
import { areaRoutes } from './routes/areas/index.js';
import { createAuditRoutes } from './routes/audit/index.js';
import { createAuthRoutes } from './routes/auth/index.js';
import { docsRoutes } from './routes/docs/index.js';
import { etlRoutes } from './routes/etl/index.js';
import { healthRoutes } from './routes/health/index.js';
import { createListingRoutes } from './routes/listings/index.js';
import { metricsRoutes } from './routes/metrics/index.js';
import { statsRoutes } from './routes/stats/index.js';
import { tileRoutes } from './routes/tiles/index.js';
import { wellKnownRoutes } from './routes/well-known/index.js';
import { viewerRoutes } from './viewer/index.js';

export type AppDeps = {
  db: Database;
  logger: Logger;
  /** See CURSOR_SECRET in origin/env.ts. */
  cursorSecret?: string | undefined;
  /** CURSOR_SECRET_PREVIOUS: cursors it signed are still accepted during a rotation. */
  cursorPreviousSecret?: string | undefined;
  /** Defaults: a fresh registry; the data directory and backup file from the environment. */
  metrics?: Metrics;
  ops?: OpsConfig;
  /** Token issuer/audience/lifetimes, login limits (origin/auth/config.ts). Default: defaults. */
  identity?: IdentityConfig;
  /**
   * EDGE_ASSERTION_SECRET: when set, only requests signed by the edge Worker get in
   * (docs/edge-auth.md). Unset: no edge (INSECURE_NO_EDGE_ASSERTION, development and tests of
   * the routes themselves): callers are authenticated here by bearer token, and the route table
   * is enforced all the same.
   */
  edgeAssertionSecret?: string | undefined;
  /** EDGE_ASSERTION_SECRET_PREVIOUS: also accepted during a rotation. */
  edgeAssertionPreviousSecret?: string | undefined;
  /** ANONYMOUS_ACCESS, for the no-edge mode (behind the edge the assertion decides). */
  anonymousAccess?: boolean;
  /** TILE_CLUSTER_MAX_ZOOM (origin/env.ts); DEFAULT_CLUSTER_MAX_ZOOM when unset. */
  tileClusterMaxZoom?: number;
  /** Cloudflare Access (CF_ACCESS_TEAM_DOMAIN + CF_ACCESS_AUD): checked first when given. */
  cfAccess?: CfAccessOptions | undefined;
};

/** The origin API, wired explicitly: cross-cutting middleware, then each resource by path. */
export function createApp({
  db,
  logger,
  cursorSecret,
  cursorPreviousSecret,
  metrics,
  ops,
  identity,
  edgeAssertionSecret,
  edgeAssertionPreviousSecret,
  anonymousAccess = true,
  cfAccess: cfAccessOptions,
  tileClusterMaxZoom,
}: AppDeps) {
  const identityConfig = identity ?? identityConfigFrom({});
  const deps: Deps = {
    db,
    logger,
    metrics: metrics ?? createMetrics(),
    ops: ops ?? opsConfigFrom({}),
    ...(tileClusterMaxZoom === undefined ? {} : { tileClusterMaxZoom }),
  };
  const app = createRouter();

  // --- cross-cutting
  app.use(requestId({ limitLength: 128 }));
  app.use(async function injectDeps(c, next) {
    c.set('deps', deps);
    await next();
  });
  // Before the guards, so a refused request is counted, logged and carries the same headers.
  app.use(secureHeaders());
  app.use(requestMetrics());
  app.use(async function accessLog(c, next) {
    const started = performance.now();
    await next();
    logger.info(
      {
        requestId: c.get('requestId'),
        method: c.req.method,
        route: c.req.routePath,
        status: c.res.status,
        ms: Math.round(performance.now() - started),
      },
      'request',
    );
  });
  // --- only the edge gets in; /health stays open for the private network's probes
  // The body limit first: the assertion check reads the body to compare its digest.
  app.use(
    bodyLimit({
      maxSize: 1024 * 1024,
      onError: (c) => problem(c, 'payload_too_large', 'the body is over 1 MiB'),
    }),
  );
  if (cfAccessOptions) app.use(cfAccess(cfAccessOptions));
  if (edgeAssertionSecret)
    app.use(
      edgeAssertion({
        secrets: [
          edgeAssertionSecret,
          ...(edgeAssertionPreviousSecret ? [edgeAssertionPreviousSecret] : []),
        ],
        replayGuard: databaseReplayGuard(db),
      }),
    );
  // The route table (contract/routes.ts), enforced here on every route as at the edge.
  app.use(routeGuard({ identity: identityConfig, anonymousAccess }));
  // One spelling per query: a repeated parameter is refused here as at the edge's cache
  // (contract/query.ts), so no route reads "the first" where another reader took another.
  app.use(singleQueryParameters());

  // --- operations (open on the private network: they reveal no listing data)
  app.route('/health', healthRoutes);
  app.route('/metrics', metricsRoutes);

  // --- v1 API
  app.route('/v1/listings', createListingRoutes({ cursorSecret, cursorPreviousSecret }));
  app.route('/v1/stats', statsRoutes);
  app.route('/v1/areas', areaRoutes);
  app.route('/v1/tiles', tileRoutes);
  app.route('/v1/etl', etlRoutes);

  // --- identity (docs/identity.md)
  app.route('/v1/auth', createAuthRoutes(identityConfig));
  app.route('/v1/api-keys', createApiKeyRoutes(identityConfig));
  app.route('/v1/audit', createAuditRoutes(identityConfig));
  app.route('/.well-known', wellKnownRoutes);

  // --- docs and the map viewer
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'estate-edge origin API', version: '1.0.0' },
  });
  app.route('/docs', docsRoutes);
  app.route('/', viewerRoutes);

  app.notFound((c) =>
    problem(
      c,
      'not_found',
      `no route for ${c.req.method} ${new URL(c.req.url).pathname.slice(0, 200)}`,
    ),
  );
  app.onError(problemErrorHandler(logger));
  return app;
}
