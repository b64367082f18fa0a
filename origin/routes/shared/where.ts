import { z } from '@hono/zod-openapi';
import { type SQL, sql } from 'drizzle-orm';
import { InvalidParameterError } from '../../errors.js';

/**
 * The "where" of a search or a statistic: one of a bounding box, a circle (near + radius) or a
 * stored area. Shared by /v1/listings, /v1/stats and the viewer, so they agree to the metre.
 */

const DECIMAL = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/** Strict decimal numbers: Number() reads '' as 0 and '0x10' as 16. */
function numbers(value: string, count: number): number[] | undefined {
  const parts = value.split(',').map((p) => (DECIMAL.test(p.trim()) ? Number(p) : Number.NaN));
  return parts.length === count && parts.every(Number.isFinite) ? parts : undefined;
}

export const bboxParam = z
  .string()
  .max(200)
  .transform((value, ctx) => {
    const parts = numbers(value, 4);
    if (!parts) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected minLon,minLat,maxLon,maxLat (four numbers)',
      });
      return z.NEVER;
    }
    const [x0, y0, x1, y1] = parts as [number, number, number, number];
    if (x0 < -180 || x1 > 180 || y0 < -90 || y1 > 90) {
      ctx.addIssue({ code: 'custom', message: 'must lie within -180,-90,180,90' });
      return z.NEVER;
    }
    if (x0 >= x1 || y0 >= y1) {
      ctx.addIssue({ code: 'custom', message: 'min must be less than max (is it inverted?)' });
      return z.NEVER;
    }
    return parts as [number, number, number, number];
  })
  .openapi({
    description: 'minLon,minLat,maxLon,maxLat in WGS84 degrees',
    example: '-122.4,47.5,-122.2,47.7',
  });

export const pointParam = z
  .string()
  .max(100)
  .transform((value, ctx) => {
    const parts = numbers(value, 2);
    const [lon, lat] = (parts ?? []) as [number, number];
    if (!parts || lon < -180 || lon > 180 || lat < -90 || lat > 90) {
      ctx.addIssue({ code: 'custom', message: 'expected lon,lat in WGS84 degrees' });
      return z.NEVER;
    }
    return parts as [number, number];
  })
  .openapi({ description: 'lon,lat in WGS84 degrees', example: '-122.3,47.6' });

/** Largest circle a search may ask for: a metro area, not a continent. */
export const MAX_RADIUS_M = 50_000;

export const whereParams = {
  bbox: bboxParam.optional(),
  near: pointParam.optional(),
  radius: z.coerce
    .number()
    .positive()
    .max(MAX_RADIUS_M)
    .optional()
    .openapi({ description: `metres around \`near\` (default 1000, at most ${MAX_RADIUS_M})` }),
  area: z.coerce
    .number()
    .int()
    .positive()
    .max(2_147_483_647)
    .optional()
    .openapi({ description: 'an area id (see /v1/areas)' }),
};

export type Where =
  | { kind: 'bbox'; bbox: [number, number, number, number] }
  | { kind: 'near'; lon: number; lat: number; radius: number }
  | { kind: 'area'; id: number };

type WhereInput = {
  bbox?: [number, number, number, number] | undefined;
  near?: [number, number] | undefined;
  radius?: number | undefined;
  area?: number | undefined;
};

/** The one where of a request, or undefined; two at once is an error naming both. */
export function resolveWhere(
  q: WhereInput,
  options: { required?: boolean } = {},
): Where | undefined {
  const given = (['bbox', 'near', 'area'] as const).filter((k) => q[k] !== undefined);
  if (given.length > 1)
    throw new InvalidParameterError(given.join(','), 'give only one of bbox, near or area');
  if (q.radius !== undefined && !q.near)
    throw new InvalidParameterError('radius', 'radius needs near');
  if (q.bbox) return { kind: 'bbox', bbox: q.bbox };
  if (q.near) return { kind: 'near', lon: q.near[0], lat: q.near[1], radius: q.radius ?? 1000 };
  if (q.area !== undefined) return { kind: 'area', id: q.area };
  if (options.required)
    throw new InvalidParameterError('bbox', 'give one of bbox, near (with radius) or area');
  return undefined;
}

/**
 * Degrees per metre for the prefilter envelope, erring wide: a degree of latitude is at least
 * 110,574 m (at the equator) and a degree of longitude at most 111,320 m x cos(lat); the envelope
 * only has to contain the circle, ST_DWithin is the exact test.
 */
const METRES_PER_DEGREE_LAT = 110_574;
const METRES_PER_DEGREE_LON = 111_320;

/**
 * The where as SQL on `alias.geom`, always index-backed: a bounding-box `&&` the GiST index can
 * use, then the exact test. A circle is an envelope in degrees (wider in longitude away from the
 * equator) and then ST_DWithin on geography, exact on the spheroid.
 */
export function whereSql(where: Where, alias = 'l'): SQL {
  const geom = sql.raw(`${alias}.geom`);
  switch (where.kind) {
    case 'bbox': {
      const [x0, y0, x1, y1] = where.bbox;
      return sql`${geom} && ST_MakeEnvelope(${x0}, ${y0}, ${x1}, ${y1}, 4326)`;
    }
    case 'near': {
      const dLat = where.radius / METRES_PER_DEGREE_LAT;
      const dLon =
        (where.radius /
          (METRES_PER_DEGREE_LON * Math.max(Math.cos((where.lat * Math.PI) / 180), 0.01))) *
        1.01;
      return sql`${geom} && ST_MakeEnvelope(${where.lon - dLon}, ${where.lat - dLat}, ${where.lon + dLon}, ${where.lat + dLat}, 4326)
        AND ST_DWithin(${geom}::geography, ${pointSql(where.lon, where.lat)}::geography, ${where.radius})`;
    }
    case 'area':
      // ST_Intersects carries its own && test, which uses the GiST index.
      return sql`ST_Intersects(${geom}, (SELECT a.geom FROM areas a WHERE a.id = ${where.id}))`;
  }
}

export function pointSql(lon: number, lat: number): SQL {
  return sql`ST_SetSRID(ST_MakePoint(${lon}::float8, ${lat}::float8), 4326)`;
}

/** Comma-separated list parameter (`status=Active,Pending`), each value checked. */
export function listParam<T extends string>(values: readonly [T, ...T[]], name: string) {
  return z
    .string()
    .max(1000)
    .transform((value, ctx) => {
      const items = value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);
      const bad = items.filter((v) => !values.includes(v as T));
      if (items.length === 0 || bad.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown ${name} ${bad.map((b) => `'${b.slice(0, 40)}'`).join(', ') || '(empty)'}; expected some of: ${values.join(', ')}`,
        });
        return z.NEVER;
      }
      return [...new Set(items)] as T[];
    });
}
