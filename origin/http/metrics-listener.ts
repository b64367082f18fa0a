import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import type { Database } from '../db/database.js';
import { collectDatabaseMetrics } from '../routes/metrics/collect.js';
import type { Metrics } from './metrics.js';
import { bearerChallenge, problem } from './problem.js';

/**
 * The metrics listener (METRICS_PORT): GET /metrics for Prometheus on the private network, and
 * nothing else. The API's own GET /metrics answers only callers the edge vouches for with
 * ops:read, which a scraper inside the compose network is not; this one asks for
 * `Authorization: Bearer $METRICS_TOKEN` instead (Hono's bearerAuth, compared in constant time),
 * and no tunnel route reaches its port. Same registry as the API's, so both say the same.
 *
 * @example
 *   serveApp(createMetricsApp({ db, metrics, token: env.METRICS_TOKEN }).fetch, { port: 9464 });
 */
export function createMetricsApp(deps: { db: Database; metrics: Metrics; token: string }) {
  const app = new Hono();
  const refuse = (detail: string) => ({
    message: (c: Parameters<typeof problem>[0]) => {
      c.header('WWW-Authenticate', bearerChallenge('invalid_token'));
      return problem(c, 'unauthenticated', detail);
    },
  });
  app.use(
    '*',
    bearerAuth({
      token: deps.token,
      noAuthenticationHeader: refuse('Send Authorization: Bearer <METRICS_TOKEN>.'),
      invalidAuthenticationHeader: refuse('Send Authorization: Bearer <METRICS_TOKEN>.'),
      invalidToken: refuse('That is not the METRICS_TOKEN.'),
    }),
  );
  app.get('/metrics', async (c) => {
    await collectDatabaseMetrics(deps.db, deps.metrics);
    const text = await deps.metrics.registry.metrics();
    return c.text(text, 200, {
      'Content-Type': deps.metrics.registry.contentType,
      'Cache-Control': 'no-store',
    });
  });
  app.notFound((c) => problem(c, 'not_found', 'This listener serves GET /metrics only.'));
  return app;
}
