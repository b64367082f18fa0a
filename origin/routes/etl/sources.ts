import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import { appendAudit } from '../../auth/audit.js';
import { InvalidParameterError } from '../../errors.js';
import { redactLocation } from '../../etl/feed-location.js';
import { getSource, listSources, upsertSource } from '../../etl/sources.js';
import { requireScope } from '../../http/authz.js';
import { auditContextOf } from '../../http/principal.js';
import { problemResponse } from '../../http/problem-schema.js';
import type { AppEnv } from '../../http/router.js';
import { sourceBodySchema, sourceName, storedSourceSchema } from './schema.js';

const TAG = ['ETL'];
const nameParams = z.strictObject({
  name: sourceName.openapi({ param: { name: 'name', in: 'path' } }),
});

// --- GET /sources

export const listSourcesRoute = createRoute({
  method: 'get',
  path: '/sources',
  tags: TAG,
  summary: 'Every declared source, by name: what the edge scheduler reads for cron expressions',
  middleware: [requireScope('etl:read')] as const,
  // No parameters: an unknown one is refused rather than silently ignored, like everywhere else.
  request: { query: z.strictObject({}) },
  responses: {
    200: {
      description: 'The sources',
      content: {
        'application/json': {
          schema: z.object({ items: z.array(storedSourceSchema) }).openapi('EtlSourceList'),
        },
      },
    },
    400: problemResponse('An unknown query parameter'),
  },
});

export const listSourcesHandler: RouteHandler<typeof listSourcesRoute, AppEnv> = async (c) => {
  const items = await listSources(c.get('deps').db);
  return c.json({ items: items.map(shown) }, 200);
};

// --- GET /sources/{name}

export const getSourceRoute = createRoute({
  method: 'get',
  path: '/sources/{name}',
  tags: TAG,
  summary: "A source's definition: format, location, schedule, mapping",
  middleware: [requireScope('etl:read')] as const,
  request: { params: nameParams },
  responses: {
    200: {
      description: 'The source',
      content: { 'application/json': { schema: storedSourceSchema } },
    },
    400: problemResponse('The name is not a valid source name'),
    404: problemResponse('No source by that name'),
  },
});

export const getSourceHandler: RouteHandler<typeof getSourceRoute, AppEnv> = async (c) => {
  const source = await getSource(c.get('deps').db, { name: c.req.valid('param').name });
  return c.json(shown(source), 200);
};

// --- PUT /sources/{name}

export const putSourceRoute = createRoute({
  method: 'put',
  path: '/sources/{name}',
  tags: TAG,
  summary: 'Declare or replace a source',
  description:
    'The whole definition, validated as sources.json is (cron schedule, mapping fields and ' +
    'types); the body may leave `name` out, and must not contradict the path. A run in progress ' +
    'keeps the definition it started with.',
  middleware: [requireScope('etl:admin')] as const,
  request: {
    params: nameParams,
    body: { required: true, content: { 'application/json': { schema: sourceBodySchema } } },
  },
  responses: {
    200: {
      description: 'The source was replaced',
      content: { 'application/json': { schema: storedSourceSchema } },
    },
    201: {
      description: 'The source was created',
      content: { 'application/json': { schema: storedSourceSchema } },
    },
    400: problemResponse('The definition is invalid; the detail names each wrong field'),
  },
});

export const putSourceHandler: RouteHandler<typeof putSourceRoute, AppEnv> = async (c) => {
  const { db } = c.get('deps');
  const { name } = c.req.valid('param');
  const body = c.req.valid('json');
  if (body.name !== undefined && body.name !== name) {
    throw new InvalidParameterError(
      'name',
      `the body names '${body.name}' but the path names '${name}'`,
    );
  }
  const [existing] = await db.rows<{ id: number }>(
    sql`SELECT id FROM etl_sources WHERE name = ${name}`,
  );
  const stored = await upsertSource(db, { ...body, name });
  await appendAudit(db, {
    ...auditContextOf(c),
    action: existing ? 'etl.source.update' : 'etl.source.create',
    target: `source:${name}`,
    outcome: 'success',
    details: {
      format: stored.format,
      location: redactLocation(stored.location),
      schedule: stored.schedule,
    },
  });
  c.header('Location', `/v1/etl/sources/${name}`);
  return existing ? c.json(shown(stored), 200) : c.json(shown(stored), 201);
};

/** A source as it is answered: a credential in its location (stored before references) hidden. */
function shown<S extends { location: string }>(source: S): S {
  return { ...source, location: redactLocation(source.location) };
}
