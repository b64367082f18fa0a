import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import { metricsFor } from '../../http/metrics.js';
import { type AppEnv, createRouter } from '../../http/router.js';
import { collectDatabaseMetrics } from './collect.js';

const metricsRoute = createRoute({
  method: 'get',
  path: '/',
  tags: ['Operations'],
  summary: 'Prometheus metrics',
  description:
    'Requests by route pattern and status (counts and latency histograms), database reachability ' +
    'and connections by state, ETL runs and rows by source and outcome, the last success of each ' +
    'source, and the process (CPU, memory, event loop, GC).',
  responses: {
    200: {
      description: 'The Prometheus text exposition format, version 0.0.4',
      content: { 'text/plain': { schema: z.string() } },
    },
  },
});

const metricsHandler: RouteHandler<typeof metricsRoute, AppEnv> = async (c) => {
  const deps = c.get('deps');
  const metrics = metricsFor(deps);
  await collectDatabaseMetrics(deps.db, metrics);
  const text = await metrics.registry.metrics();
  c.header('Cache-Control', 'no-store');
  return c.text(text, 200, { 'Content-Type': metrics.registry.contentType });
};

/** GET /metrics, for Prometheus. Open on the private network: it reveals no listing data. */
export const metricsRoutes = createRouter().openapi(metricsRoute, metricsHandler);
