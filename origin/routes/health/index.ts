import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import { readDataVersion } from '../../db/data-version.js';
import { type AppEnv, createRouter } from '../../http/router.js';
import { type OpsConfig, opsConfigFrom } from '../../ops/config.js';
import { assessReadiness, readinessSchema } from './assess.js';
import { gatherReadiness } from './checks.js';

const TAG = ['Operations'];

const livenessRoute = createRoute({
  method: 'get',
  path: '/',
  tags: TAG,
  summary: 'Liveness: the process answers',
  description: 'Touches no dependency, on purpose: a restart does not fix a database outage.',
  responses: {
    200: {
      description: 'The process is alive',
      content: {
        'application/json': { schema: z.object({ status: z.literal('ok') }).openapi('Liveness') },
      },
    },
  },
});

const livenessHandler: RouteHandler<typeof livenessRoute, AppEnv> = (c) => {
  c.header('Cache-Control', 'no-store');
  return c.json({ status: 'ok' as const }, 200);
};

const readinessRoute = createRoute({
  method: 'get',
  path: '/ready',
  tags: TAG,
  summary: 'Readiness: database, migrations, ETL freshness, backup age, disk space',
  description:
    '503 only when the database (the one critical dependency) is unreachable or does not answer ' +
    'within 2 s. Pending migrations, a stale scheduled source (no success for 26 h), a failed or ' +
    'old backup (26 h), a failed restore drill and a disk under 10% free make it `degraded`, still ' +
    '200, with a sentence ' +
    'for each in `problems`.',
  responses: {
    200: {
      description: 'Ready (ok or degraded)',
      content: { 'application/json': { schema: readinessSchema } },
    },
    503: {
      description: 'The database is down',
      content: { 'application/json': { schema: readinessSchema } },
    },
  },
});

const readinessHandler: RouteHandler<typeof readinessRoute, AppEnv> = async (c) => {
  const deps = c.get('deps') as AppEnv['Variables']['deps'] & { ops?: OpsConfig };
  const readiness = assessReadiness(await gatherReadiness(deps.db, opsConfigFrom(deps)));
  // A probe's answer is about this instant: a cached "ok" would hide an outage.
  c.header('Cache-Control', 'no-store');
  return readiness.status === 'down' ? c.json(readiness, 503) : c.json(readiness, 200);
};

const dataVersionRoute = createRoute({
  method: 'get',
  path: '/data-version',
  tags: TAG,
  summary: 'The version of the served data',
  description:
    'A number that grows whenever an ETL run or an area load changes what the API serves. The ' +
    'edge polls it and puts it in its cache keys, so cached answers from older data stop being ' +
    'served within a minute of the change (docs/edge-gateway.md).',
  responses: {
    200: {
      description: 'The current version',
      content: {
        'application/json': {
          schema: z
            .object({ version: z.number().int(), changed_at: z.iso.datetime() })
            .openapi('DataVersion'),
        },
      },
    },
  },
});

const dataVersionHandler: RouteHandler<typeof dataVersionRoute, AppEnv> = async (c) => {
  const { version, changedAt } = await readDataVersion(c.get('deps').db);
  c.header('Cache-Control', 'no-store');
  return c.json({ version, changed_at: changedAt.toISOString() }, 200);
};

/**
 * Liveness (`/health`), readiness (`/health/ready`) and the data version (`/health/data-version`). Open on the private network: they tell
 * an operator what is wrong and reveal no listing data.
 */
export const healthRoutes = createRouter()
  .openapi(livenessRoute, livenessHandler)
  .openapi(readinessRoute, readinessHandler)
  .openapi(dataVersionRoute, dataVersionHandler);
