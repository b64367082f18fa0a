import { createRoute, z } from '@hono/zod-openapi';
import { listAudit } from '../../auth/audit.js';
import type { IdentityConfig } from '../../auth/config.js';
import { auditOutcomes } from '../../db/schema/audit-log.js';
import { authenticate } from '../../http/principal.js';
import { problemResponse } from '../../http/problem-schema.js';
import { createRouter } from '../../http/router.js';
import { idParam } from '../etl/schema.js';

const entrySchema = z
  .object({
    id: z.number().int(),
    at: z.string().openapi({ format: 'date-time' }),
    actor: z.string().nullable(),
    action: z.string(),
    target: z.string().nullable(),
    ip: z.string().nullable(),
    request_id: z.string().nullable(),
    outcome: z.enum(auditOutcomes),
    details: z.record(z.string(), z.unknown()),
  })
  .openapi('AuditEntry');

function listAuditRoute(config: IdentityConfig) {
  return createRoute({
    method: 'get',
    path: '/',
    tags: ['Audit'],
    summary: 'The audit log, newest first',
    middleware: [authenticate(config, 'audit:read')] as const,
    security: [{ bearerAuth: [] }],
    request: {
      query: z.strictObject({
        actor: z
          .string()
          .max(100)
          .regex(/^[a-z_]+:[\w.@+-]+$/, "must look like 'user:12' or 'api_key:3'")
          .optional()
          .openapi({ example: 'user:1' }),
        action: z
          .string()
          .max(64)
          .regex(/^[a-z_]+(\.[a-z_]+)*$/, "must look like 'auth.login'")
          .optional()
          .openapi({ example: 'auth.login' }),
        since: z.iso
          .datetime({ offset: true })
          .optional()
          .openapi({ description: 'Entries at or after this instant' }),
        limit: z.coerce
          .number()
          .int()
          .min(1)
          .max(200)
          .default(50)
          .openapi({ type: 'integer', description: 'Entries per page, 1 to 200 (default 50)' }),
        before_id: idParam
          .optional()
          .openapi({ type: 'string', description: 'The `next_before_id` of the previous page' }),
      }),
    },
    responses: {
      200: {
        description: 'A page of entries',
        content: {
          'application/json': {
            schema: z
              .object({ items: z.array(entrySchema), next_before_id: z.number().int().nullable() })
              .openapi('AuditPage'),
          },
        },
      },
      400: problemResponse('A query parameter is invalid'),
      401: problemResponse('No valid access token'),
      403: problemResponse('The caller lacks audit:read'),
    },
  });
}

/** The audit log under /v1/audit, for holders of audit:read (admins). */
export function createAuditRoutes(config: IdentityConfig) {
  return createRouter().openapi(listAuditRoute(config), async (c) => {
    const q = c.req.valid('query');
    const page = await listAudit(c.get('deps').db, {
      actor: q.actor,
      action: q.action,
      since: q.since === undefined ? undefined : new Date(q.since),
      beforeId: q.before_id,
      limit: q.limit,
    });
    c.header('Cache-Control', 'no-store');
    return c.json(
      {
        items: page.items.map((e) => ({
          id: e.id,
          at: e.at.toISOString(),
          actor: e.actor,
          action: e.action,
          target: e.target,
          ip: e.ip,
          request_id: e.requestId,
          outcome: e.outcome,
          details: e.details,
        })),
        next_before_id: page.nextBeforeId,
      },
      200,
    );
  });
}
