import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import { appendAudit } from '../../auth/audit.js';
import { etlRunStatuses } from '../../db/schema/etl-runs.js';
import { startRun } from '../../etl/run.js';
import { requireScope } from '../../http/authz.js';
import { metricsFor, recordEtlRun } from '../../http/metrics.js';
import { auditContextOf } from '../../http/principal.js';
import { problemResponse } from '../../http/problem-schema.js';
import type { AppEnv } from '../../http/router.js';
import { listParam } from '../shared/where.js';
import { getRun, listRejects, listRuns } from './runs-queries.js';
import { idParam, runIdParams, runSchema, sourceName } from './schema.js';

const TAG = ['ETL'];

// --- POST /runs

export const startRunRoute = createRoute({
  method: 'post',
  path: '/runs',
  tags: TAG,
  summary: 'Start a run of a source',
  description:
    'Records the run and answers at once with its id; the run goes on in the background. Poll ' +
    'the Location until its status is no longer `running`. One run per source at a time.',
  middleware: [requireScope('etl:run')] as const,
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.strictObject({ source: sourceName }).openapi('EtlRunRequest'),
        },
      },
    },
  },
  responses: {
    202: {
      description: 'The run was recorded and is running',
      headers: z.object({ Location: z.string().openapi({ example: '/v1/etl/runs/12' }) }),
      content: {
        'application/json': {
          schema: z
            .object({
              id: z.number().int(),
              source: z.string(),
              status: z.literal('running'),
              links: z.object({ self: z.string(), rejects: z.string() }),
            })
            .openapi('EtlRunStarted'),
        },
      },
    },
    400: problemResponse('The body is not `{ "source": "<name>" }`'),
    404: problemResponse('No source by that name'),
    409: problemResponse('A run of that source is already in progress'),
  },
});

export const startRunHandler: RouteHandler<typeof startRunRoute, AppEnv> = async (c) => {
  const deps = c.get('deps');
  const { source } = c.req.valid('json');
  // Throws SourceNotFoundError (404) or RunConflictError (409) before anything is recorded.
  const { runId, finished } = await startRun(deps.db, source, { trigger: 'api' });
  await appendAudit(deps.db, {
    ...auditContextOf(c),
    action: 'etl.run.start',
    target: `source:${source}`,
    outcome: 'success',
    details: { run_id: runId },
  });
  const log = deps.logger.child({ runId, source, requestId: c.get('requestId') });
  // The response does not wait for the run, so nobody would see its end: log it and count it
  // here. Both branches handle the promise, so a failing run is never an unhandled rejection.
  finished.then(
    (summary) => {
      recordEtlRun(metricsFor(deps), summary);
      const { status, rowsRead, rowsInserted, rowsUpdated, rowsRejected, timings } = summary;
      const fields = {
        status,
        rowsRead,
        rowsInserted,
        rowsUpdated,
        rowsRejected,
        ms: timings.total,
      };
      if (summary.status === 'succeeded') log.info(fields, 'etl run finished');
      else log.warn({ ...fields, error: summary.error }, 'etl run failed');
    },
    (error: unknown) => log.error({ err: error }, 'etl run crashed'),
  );
  const self = `/v1/etl/runs/${runId}`;
  c.header('Location', self);
  return c.json(
    { id: runId, source, status: 'running' as const, links: { self, rejects: `${self}/rejects` } },
    202,
  );
};

// --- GET /runs

export const listRunsRoute = createRoute({
  method: 'get',
  path: '/runs',
  tags: TAG,
  summary: 'List runs, newest first',
  middleware: [requireScope('etl:read')] as const,
  request: {
    query: z.strictObject({
      source: sourceName.optional(),
      status: listParam(etlRunStatuses, 'status')
        .optional()
        .openapi({
          type: 'string',
          description: `Comma list of ${etlRunStatuses.join(', ')}`,
          example: 'failed,abandoned',
        }),
      limit: z.coerce
        .number()
        .int()
        .min(1)
        .max(200)
        .default(50)
        .openapi({ type: 'integer', description: 'Runs per page, 1 to 200 (default 50)' }),
      before_id: idParam
        .optional()
        .openapi({ type: 'string', description: 'The `next_before_id` of the previous page' }),
    }),
  },
  responses: {
    200: {
      description: 'A page of runs',
      content: {
        'application/json': {
          schema: z
            .object({
              items: z.array(runSchema),
              next_before_id: z.number().int().nullable().openapi({
                description: 'Pass as `before_id` for the next page; null on the last',
              }),
            })
            .openapi('EtlRunPage'),
        },
      },
    },
    400: problemResponse('A query parameter is invalid'),
  },
});

export const listRunsHandler: RouteHandler<typeof listRunsRoute, AppEnv> = async (c) => {
  const q = c.req.valid('query');
  const page = await listRuns(c.get('deps').db, {
    source: q.source,
    statuses: q.status,
    beforeId: q.before_id,
    limit: q.limit,
  });
  return c.json({ items: page.items, next_before_id: page.nextBeforeId }, 200);
};

// --- GET /runs/{id}

export const getRunRoute = createRoute({
  method: 'get',
  path: '/runs/{id}',
  tags: TAG,
  summary: 'One run: status, counts, timings, error',
  middleware: [requireScope('etl:read')] as const,
  request: { params: runIdParams },
  responses: {
    200: { description: 'The run', content: { 'application/json': { schema: runSchema } } },
    400: problemResponse('The id is not a positive whole number'),
    404: problemResponse('No run with that id'),
  },
});

export const getRunHandler: RouteHandler<typeof getRunRoute, AppEnv> = async (c) => {
  const run = await getRun(c.get('deps').db, { id: c.req.valid('param').id });
  // A running run changes under the poller's feet: never let a cache answer for it.
  c.header('Cache-Control', 'no-store');
  return c.json(run, 200);
};

// --- GET /runs/{id}/rejects

export const listRejectsRoute = createRoute({
  method: 'get',
  path: '/runs/{id}/rejects',
  tags: TAG,
  summary: "A run's rejected rows, in file order",
  middleware: [requireScope('etl:read')] as const,
  request: {
    params: runIdParams,
    query: z.strictObject({
      limit: z.coerce
        .number()
        .int()
        .min(1)
        .max(1000)
        .default(100)
        .openapi({ type: 'integer', description: 'Rows per page, 1 to 1000 (default 100)' }),
      after_row: z
        .string()
        .max(12)
        .regex(/^\d+$/, 'must be a whole number')
        .transform(Number)
        .pipe(z.number().int().max(2_147_483_647, 'is too large'))
        .optional()
        .openapi({ type: 'string', description: 'The `next_after_row` of the previous page' }),
    }),
  },
  responses: {
    200: {
      description: 'A page of rejected rows',
      content: {
        'application/json': {
          schema: z
            .object({
              items: z.array(
                z
                  .object({
                    row_number: z
                      .number()
                      .int()
                      .openapi({ description: '1 is the first data row' }),
                    reason: z.string(),
                    raw: z.string().openapi({ description: 'The row as read (capped)' }),
                  })
                  .openapi('EtlReject'),
              ),
              next_after_row: z.number().int().nullable(),
            })
            .openapi('EtlRejectPage'),
        },
      },
    },
    400: problemResponse('A parameter is invalid'),
    404: problemResponse('No run with that id'),
  },
});

export const listRejectsHandler: RouteHandler<typeof listRejectsRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const q = c.req.valid('query');
  const page = await listRejects(c.get('deps').db, {
    runId: id,
    afterRow: q.after_row,
    limit: q.limit,
  });
  return c.json({ items: page.items, next_after_row: page.nextAfterRow }, 200);
};
