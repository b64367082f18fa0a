import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import { readDataVersion } from '../../db/data-version.js';
import { type AppEnv, createRouter } from '../../http/router.js';
import { type OpsConfig, opsConfigFrom } from '../../ops/config.js';
import { assessReadiness, readinessSchema, readinessStatusSchema } from './assess.js';
import { mayReadReadinessDetails } from './audience.js';
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

/** Status for everyone; the details for `ops:read` and the private network (audience.ts). */
const readinessContent = {
  'application/json': { schema: z.union([readinessSchema, readinessStatusSchema]) },
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
    '200, with a sentence for each in `problems`. The checks and problems are shown to a caller ' +
    'with the `ops:read` scope and to probes on the private network (no edge assertion); anyone ' +
    'else gets `{ "status" }` only, with the same HTTP status.',
  responses: {
    200: { description: 'Ready (ok or degraded)', content: readinessContent },
    503: { description: 'The database is down', content: readinessContent },
  },
});

const readinessHandler: RouteHandler<typeof readinessRoute, AppEnv> = async (c) => {
  const deps = c.get('deps') as AppEnv['Variables']['deps'] & { ops?: OpsConfig };
  const readiness = assessReadiness(await gatherReadiness(deps.db, opsConfigFrom(deps)));
  // A probe's answer is about this instant: a cached "ok" would hide an outage. (no-store also
  // keeps an operator's detailed answer out of every cache: it differs by who asks.)
  c.header('Cache-Control', 'no-store');
  const body = mayReadReadinessDetails(c) ? readiness : { status: readiness.status };
  return readiness.status === 'down' ? c.json(body, 503) : c.json(body, 200);
};

const dataVersionRoute = createRoute({
  method: 'get',
  path: '/data-version',
  tags: TAG,
  summary: 'The version of the served data',
  description:
    'A number that grows whenever an ETL run or an area load changes what the API serves. The ' +
    'edge polls it and puts it in its cache keys, so cached answers from older data stop being ' +
    'served within a minute of the change (docs/edge-gateway.md). Beside it, the credentials ' +
    'epoch: it grows when an API key is revoked or its owner demoted or disabled, and the edge ' +
    'drops its cached key lookups when it sees it move (docs/edge-auth.md).',
  responses: {
    200: {
      description: 'The current version',
      content: {
        'application/json': {
          schema: z
            .object({
              version: z.number().int(),
              changed_at: z.iso.datetime(),
              credentials_epoch: z.number().int(),
            })
            .openapi('DataVersion'),
        },
      },
    },
  },
});

const dataVersionHandler: RouteHandler<typeof dataVersionRoute, AppEnv> = async (c) => {
  const { version, changedAt, credentialsEpoch } = await readDataVersion(c.get('deps').db);
  c.header('Cache-Control', 'no-store');
  return c.json(
    { version, changed_at: changedAt.toISOString(), credentials_epoch: credentialsEpoch },
    200,
  );
};

/**
 * Liveness (`/health`), readiness (`/health/ready`) and the data version (`/health/data-version`).
 * Open, for the private network's probes and the edge; readiness tells the status to anyone and
 * what is wrong only to operators (audience.ts). None reveals listing data.
 */
export const healthRoutes = createRouter()
  .openapi(livenessRoute, livenessHandler)
  .openapi(readinessRoute, readinessHandler)
  .openapi(dataVersionRoute, dataVersionHandler);
