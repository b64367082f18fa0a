import { z } from '@hono/zod-openapi';
import { etlRunStatuses } from '../../db/schema/etl-runs.js';
import { sourceSchema } from '../../etl/source-config.js';

/**
 * A source's name, as sourceSchema accepts it (checked before any query is made with it).
 * `.meta()`, not `.openapi()`: zod copies methods onto a schema when it is built, and
 * source-config.ts may be loaded before @hono/zod-openapi adds `.openapi` (the CLI, tests). The
 * clone `.meta()` returns is built now, so it has `.openapi` for what follows.
 */
export const sourceName = sourceSchema.shape.name.meta({
  description: 'The source name: lowercase letters, digits and dashes, up to 63 characters',
  example: 'king-county',
});

/** A positive database id from a path or query string ("12", not "12abc", "-1" or "1e3"). */
export const idParam = z
  .string()
  .max(12)
  .regex(/^[1-9]\d*$/, 'must be a positive whole number')
  .transform(Number)
  .pipe(z.number().int().max(2_147_483_647, 'is too large'));

export const runIdParams = z.strictObject({
  id: idParam.openapi({ param: { name: 'id', in: 'path' }, example: '12', type: 'string' }),
});

export const runStatusSchema = z.enum(etlRunStatuses);

export const runSchema = z
  .object({
    id: z.number().int(),
    source: z.string(),
    status: runStatusSchema,
    trigger: z.string(),
    location: z.string().openapi({
      description: 'What the run read; credentials appear as FEED_ variable references or ***',
    }),
    started_at: z.string().openapi({ format: 'date-time' }),
    finished_at: z.string().nullable().openapi({ format: 'date-time' }),
    duration_ms: z.number().int().nullable(),
    rows: z.object({
      read: z.number().int(),
      inserted: z.number().int(),
      updated: z.number().int(),
      unchanged: z.number().int(),
      rejected: z.number().int(),
    }),
    timings: z
      .record(z.string(), z.number())
      .nullable()
      .openapi({ description: 'Milliseconds per phase (open, read, validate, merge, total)' }),
    error: z.string().nullable(),
    links: z.object({ self: z.string(), rejects: z.string() }),
  })
  .openapi('EtlRun');

/** The stored source, in the same shape PUT takes (and sources.json holds). */
export const storedSourceSchema = sourceSchema
  .extend({ id: z.number().int() })
  .openapi('EtlSource');

/** PUT's body: the source definition; its name may be left out, the path says it. */
export const sourceBodySchema = sourceSchema
  .extend({ name: sourceSchema.shape.name.optional() })
  .openapi('EtlSourceInput');
