import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import { appendAudit } from '../../auth/audit.js';
import { retireExpiredSigningKeys } from '../../auth/signing-keys.js';
import { auditContextOf } from '../../http/principal.js';
import { problemResponse } from '../../http/problem-schema.js';
import type { AppEnv } from '../../http/router.js';

/**
 * `npm run keys -- retire-expired` on a schedule: the edge's `keys` job (edge/scheduled/keys.ts)
 * calls it from a Cron Trigger, so a rotated-out signing key stops verifying soon after its last
 * token expires instead of whenever an operator remembers (issue 14, finding 12). Internal: the
 * route table (contract/routes.ts) lets only the edge's own assertion with `signing-keys:retire`
 * in; anyone else gets the 404 of a route that does not exist. It lives with the API keys because
 * /v1/api-keys is where key management is mounted; the work is the CLI's, audited the same way.
 */
export const retireSigningKeysRoute = createRoute({
  method: 'post',
  path: '/signing-keys/retire-expired',
  tags: ['Signing keys'],
  summary: 'Internal (edge only): retire signing keys whose tokens have all expired',
  responses: {
    200: {
      description: 'The keys retired now (often none)',
      content: {
        'application/json': {
          schema: z
            .object({ retired: z.array(z.string()).openapi({ description: 'Their kids' }) })
            .openapi('RetiredSigningKeys'),
        },
      },
    },
    404: problemResponse('The caller is not the edge itself'),
  },
});

export const retireSigningKeysHandler: RouteHandler<typeof retireSigningKeysRoute, AppEnv> = async (
  c,
) => {
  const db = c.get('deps').db;
  const retired = await retireExpiredSigningKeys(db);
  // Audited only when something changed: the edge calls this every few minutes.
  if (retired.length > 0)
    await appendAudit(db, {
      ...auditContextOf(c),
      action: 'signing_key.retire',
      target: null,
      outcome: 'success',
      details: { retired },
    });
  c.header('Cache-Control', 'no-store');
  return c.json({ retired }, 200);
};
