import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { InvalidParameterError } from '../../errors.js';
import { problemResponse } from '../../http/problem-schema.js';
import { type AppEnv, createRouter } from '../../http/router.js';
import { resolveWhere } from '../shared/where.js';
import { areaExists, listingStats, MAX_GROUPS } from './query.js';
import { statsQuery, statsResponse } from './schema.js';

export const statsRoute = createRoute({
  method: 'get',
  path: '/',
  tags: ['Stats'],
  summary: 'Listing statistics for a bbox, a circle or an area, grouped by month, type or area',
  description:
    'Counts, new listings, closed sales, percentiles (p10, p25, median, p75, p90; percentile_cont) ' +
    'of list price, close price and price per sq ft, and the median days on market. Each listing ' +
    'counts once, at its event: its sale when it sold, else its listing. One of `bbox`, `near` ' +
    `(with \`radius\`) or \`area\` is required. At most ${MAX_GROUPS} groups (\`truncated\` says ` +
    'when there were more); an empty selection gives `groups: []`.',
  request: { query: statsQuery },
  responses: {
    200: { description: 'The groups', content: { 'application/json': { schema: statsResponse } } },
    400: problemResponse('A parameter is malformed, out of range or unknown; `detail` names it'),
  },
});

export const statsHandler: RouteHandler<typeof statsRoute, AppEnv> = async (c) => {
  const q = c.req.valid('query');
  const where = resolveWhere(q, { required: true });
  if (!where)
    throw new InvalidParameterError('bbox', 'give one of bbox, near (with radius) or area');
  if (q.since && q.until && q.since > q.until)
    throw new InvalidParameterError('since', `since (${q.since}) is after until (${q.until})`);
  if (q.kind && q.group !== 'area')
    throw new InvalidParameterError('kind', 'kind only applies with group=area');
  const { db } = c.get('deps');
  // An unknown area would silently give empty stats; say what is wrong instead.
  if (where.kind === 'area' && !(await areaExists(db, { id: where.id })))
    throw new InvalidParameterError('area', `no area with id ${where.id} (see /v1/areas)`);
  const { groups, truncated } = await listingStats(db, {
    where,
    group: q.group,
    status: q.status,
    type: q.type,
    since: q.since,
    until: q.until,
    kind: q.kind,
  });
  return c.json({ group: q.group, groups, truncated }, 200);
};

/** GET /v1/stats. */
export const statsRoutes = createRouter().openapi(statsRoute, statsHandler);
