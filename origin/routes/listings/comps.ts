import { createRoute, type RouteHandler, z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import type { Database } from '../../db/database.js';
import { NotFoundError } from '../../errors.js';
import { problemResponse } from '../../http/problem-schema.js';
import type { AppEnv } from '../../http/router.js';
import { MAX_RADIUS_M, pointSql, whereSql } from '../shared/where.js';
import { listingIdParams, listingItemSchema, numberParam } from './schema.js';
import { type ListingSummary, SUMMARY_COLUMNS } from './search.js';

/**
 * Comparable closed sales of a listing and a simple estimate from them: what an agent's CMA does
 * first. A comp is a Closed sale of the same property type, living area within ±living_area_pct,
 * bedrooms within ±1 (ignored when the subject's count is unknown), inside `radius` metres and
 * closed within `months` before the subject's date (its close date, else its listing date, else
 * today), nearest first, the subject excluded.
 */

export type CompsParams = {
  id: number;
  radius: number;
  months: number;
  limit: number;
  livingAreaPct: number;
};

export type Comp = ListingSummary & { distance_m: number; price_per_sqft: number };

export type Estimate = {
  /** median price per sq ft × the subject's living area */
  value: number;
  /** p25 and p75 price per sq ft × living area: the spread of the comps. */
  low: number;
  high: number;
  price_per_sqft: { median: number; p25: number; p75: number };
  count: number;
};

type Subject = {
  id: number;
  property_type: string | null;
  living_area: number | null;
  bedrooms_total: number | null;
  longitude: number | null;
  latitude: number | null;
  anchor: string;
};

export async function listingComps(db: Database, params: CompsParams) {
  const [subject] = await db.rows<Subject>(sql`
    SELECT l.id::float8 AS id, l.property_type, l.living_area, l.bedrooms_total,
           ST_X(l.geom) AS longitude, ST_Y(l.geom) AS latitude,
           coalesce(l.close_date, l.listing_contract_date, current_date)::text AS anchor
    FROM listings l WHERE l.id = ${params.id}`);
  if (!subject) throw new NotFoundError(`no listing with id ${params.id}`);
  const criteria = {
    radius_m: params.radius,
    months: params.months,
    living_area_pct: params.livingAreaPct,
    closed_between: [null as string | null, subject.anchor] as const,
  };
  // Without a position or a living area there is nothing to compare by: no comps, no estimate.
  if (subject.longitude === null || subject.latitude === null || !subject.living_area) {
    return { subject: { id: subject.id }, criteria, comps: [] as Comp[], estimate: null };
  }
  const near = {
    kind: 'near' as const,
    lon: subject.longitude,
    lat: subject.latitude,
    radius: params.radius,
  };
  const low = subject.living_area * (1 - params.livingAreaPct / 100);
  const high = subject.living_area * (1 + params.livingAreaPct / 100);
  const beds =
    subject.bedrooms_total === null
      ? sql``
      : sql`AND l.bedrooms_total BETWEEN ${subject.bedrooms_total - 1}::int AND ${subject.bedrooms_total + 1}::int`;
  const point = pointSql(subject.longitude, subject.latitude);

  // The circle is whereSql's: GiST-backed envelope, then exact ST_DWithin. The percentiles are
  // over the comps returned (the nearest `limit`), so the estimate explains itself.
  const rows = await db.rows<
    Comp & { n: number; median: number; p25: number; p75: number; since: string }
  >(sql`
    WITH comps AS (
      SELECT ${SUMMARY_COLUMNS},
             ST_Distance(l.geom::geography, ${point}::geography) AS distance_m,
             (l.close_price / l.living_area)::float8 AS price_per_sqft
      FROM listings l
      WHERE ${whereSql(near, 'l')}
        AND l.standard_status = 'Closed'
        AND l.id <> ${subject.id}::bigint
        AND l.property_type IS NOT DISTINCT FROM ${subject.property_type}::text
        AND l.living_area BETWEEN ${low}::float8 AND ${high}::float8
        ${beds}
        AND l.close_price IS NOT NULL AND l.living_area > 0
        AND l.close_date <= ${subject.anchor}::date
        AND l.close_date > ${subject.anchor}::date - make_interval(months => ${params.months}::int)
      ORDER BY distance_m, l.id
      LIMIT ${params.limit}
    )
    SELECT c.*, s.*, (${subject.anchor}::date - make_interval(months => ${params.months}::int))::date::text AS since
    FROM comps c CROSS JOIN (
      SELECT count(*)::int AS n,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY price_per_sqft) AS median,
             percentile_cont(0.25) WITHIN GROUP (ORDER BY price_per_sqft) AS p25,
             percentile_cont(0.75) WITHIN GROUP (ORDER BY price_per_sqft) AS p75
      FROM comps) s
    ORDER BY c.distance_m, c.id`);

  const first = rows[0];
  const area = subject.living_area;
  const comps = rows.map(
    ({ n: _n, median: _m, p25: _p25, p75: _p75, since: _s, ...comp }) => comp as Comp,
  );
  return {
    subject: { id: subject.id },
    criteria: { ...criteria, closed_between: [first?.since ?? null, subject.anchor] as const },
    comps,
    estimate: first
      ? {
          value: Math.round(first.median * area),
          low: Math.round(first.p25 * area),
          high: Math.round(first.p75 * area),
          price_per_sqft: { median: first.median, p25: first.p25, p75: first.p75 },
          count: first.n,
        }
      : null,
  };
}

// --- HTTP

export const compsQuerySchema = z.strictObject({
  radius: numberParam(1, MAX_RADIUS_M)
    .default(1600)
    .openapi({
      description: `metres around the listing (default 1600, about a mile; at most ${MAX_RADIUS_M})`,
    }),
  months: numberParam(1, 120, { integer: true }).default(12).openapi({
    description:
      "sales closed within this many months before the listing's date (default 12, at most 120)",
  }),
  limit: numberParam(1, 50, { integer: true })
    .default(10)
    .openapi({ description: 'at most this many comps (default 10, at most 50)' }),
  living_area_pct: numberParam(1, 100)
    .default(25)
    .openapi({ description: "living area within ± this percentage of the listing's (default 25)" }),
});

const compSchema = listingItemSchema.extend({ distance_m: z.number(), price_per_sqft: z.number() });

export const compsResponseSchema = z
  .object({
    subject: z.object({ id: z.number().int() }),
    criteria: z.object({
      radius_m: z.number(),
      months: z.number(),
      living_area_pct: z.number(),
      closed_between: z.tuple([z.string().nullable(), z.string()]),
    }),
    comps: z.array(compSchema),
    estimate: z
      .object({
        value: z.number(),
        low: z.number(),
        high: z.number(),
        price_per_sqft: z.object({ median: z.number(), p25: z.number(), p75: z.number() }),
        count: z.number().int(),
      })
      .nullable()
      .openapi({
        description:
          'median price per sq ft × living area, with p25/p75 as low/high; null without comps',
      }),
  })
  .openapi('Comps');

export const compsRoute = createRoute({
  method: 'get',
  path: '/{id}/comps',
  tags: ['listings'],
  summary: 'Comparable closed sales near a listing, and an estimate from them',
  request: { params: listingIdParams, query: compsQuerySchema },
  responses: {
    200: {
      description: 'the comps, nearest first, and the estimate',
      content: { 'application/json': { schema: compsResponseSchema } },
    },
    400: problemResponse('a parameter is invalid (the detail names it)'),
    404: problemResponse('no listing has this id'),
  },
});

export const compsHandler: RouteHandler<typeof compsRoute, AppEnv> =
  async function listingCompsHandler(c) {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const result = await listingComps(c.get('deps').db, {
      id,
      radius: q.radius,
      months: q.months,
      limit: q.limit,
      livingAreaPct: q.living_area_pct,
    });
    return c.json(result as never, 200);
  };
