import { z } from '@hono/zod-openapi';
import { type SQL, sql } from 'drizzle-orm';
import { standardStatuses } from '../../db/schema/listings.js';
import { InvalidParameterError } from '../../errors.js';
import { typeList } from '../shared/params.js';
import { listParam } from '../shared/where.js';

/** Deepest zoom a tile may be asked for: MapLibre's own limit, and well past a house's size. */
export const MAX_ZOOM = 22;

/**
 * Tile coordinates as plain digits only: `Number()` would read '0x10', '1e3' or ' 7' too, and a
 * tile address has exactly one spelling (a second spelling is a second cache entry).
 */
const tileNumber = (name: string, maxDigits: number) =>
  z
    .string()
    .max(64)
    .regex(new RegExp(`^\\d{1,${maxDigits}}$`), `${name} must be a whole number`)
    .transform(Number);

export const tilePathSchema = z.strictObject({
  z: tileNumber('z', 2)
    .pipe(z.number().int().min(0).max(MAX_ZOOM))
    .openapi({
      param: { name: 'z', in: 'path' },
      description: `zoom, 0..${MAX_ZOOM}`,
      example: '12',
    }),
  x: tileNumber('x', 7).openapi({
    param: { name: 'x', in: 'path' },
    description: 'tile column, 0..2^z-1',
    example: '656',
  }),
  y: tileNumber('y', 7).openapi({
    param: { name: 'y', in: 'path' },
    description: 'tile row, 0..2^z-1 (XYZ scheme, north at 0)',
    example: '1430',
  }),
});

export type TileAddress = { z: number; x: number; y: number };

/** x and y must lie in the zoom's grid; only known once z is, so checked here, not in the schema. */
export function checkTileAddress(t: TileAddress): TileAddress {
  const size = 2 ** t.z;
  if (t.x >= size) throw new InvalidParameterError('x', `must be 0..${size - 1} at zoom ${t.z}`);
  if (t.y >= size) throw new InvalidParameterError('y', `must be 0..${size - 1} at zoom ${t.z}`);
  return t;
}

/** A money amount as plain decimal text (no '', no hex, no exponent), 0 to a trillion. */
const price = (name: string) =>
  z
    .string()
    .max(32)
    .regex(/^\d{1,13}(\.\d{1,2})?$/, `${name} must be a plain amount such as 250000`)
    .transform(Number)
    .openapi({
      description: `${name === 'price_min' ? 'lowest' : 'highest'} price (close price when closed, else list price)`,
      example: name === 'price_min' ? '250000' : '900000',
    });

/** The search's filters that make sense on a map; the same names and rules as /v1/listings. */
export const tileFilterShape = {
  status: listParam(standardStatuses, 'status')
    .optional()
    .openapi({ description: 'comma list of RESO standard statuses', example: 'Active,Pending' }),
  type: typeList
    .openapi({ description: 'comma list of property types', example: 'Residential,Condominium' })
    .optional(),
  price_min: price('price_min').optional(),
  price_max: price('price_max').optional(),
};

export const tileQuerySchema = z.strictObject(tileFilterShape);

export type TileFilters = {
  status?: string[] | undefined;
  type?: string[] | undefined;
  price_min?: number | undefined;
  price_max?: number | undefined;
};

/** Cross-parameter rules the schema cannot express one field at a time. */
export function checkTileFilters(f: TileFilters): TileFilters {
  if (f.price_min !== undefined && f.price_max !== undefined && f.price_min > f.price_max) {
    throw new InvalidParameterError('price_min', 'must not be greater than price_max');
  }
  return f;
}

/**
 * The price a map shows and filters on: what it sold for when it sold, else what is asked.
 * (Closed sales in the King County sample have no list price at all.)
 */
export function priceSql(alias = 'l'): SQL {
  return sql.raw(`COALESCE(${alias}.close_price, ${alias}.list_price)`);
}

/** The filters as SQL on `alias`; every value bound, never spliced. */
export function tileFilterSql(f: TileFilters, alias = 'l'): SQL {
  const parts: SQL[] = [];
  const col = (name: string) => sql.raw(`${alias}.${name}`);
  if (f.status)
    parts.push(
      sql`${col('standard_status')} IN (${sql.join(
        f.status.map((s) => sql`${s}`),
        sql`, `,
      )})`,
    );
  if (f.type)
    parts.push(
      sql`${col('property_type')} IN (${sql.join(
        f.type.map((t) => sql`${t}`),
        sql`, `,
      )})`,
    );
  if (f.price_min !== undefined) parts.push(sql`${priceSql(alias)} >= ${f.price_min}`);
  if (f.price_max !== undefined) parts.push(sql`${priceSql(alias)} <= ${f.price_max}`);
  return parts.length > 0 ? sql.join(parts, sql` AND `) : sql`TRUE`;
}

/** The filters back as a query string (for TileJSON's tiles URL), in a fixed order. */
export function tileFilterQuery(f: TileFilters): string {
  const params = new URLSearchParams();
  if (f.status) params.set('status', f.status.join(','));
  if (f.type) params.set('type', f.type.join(','));
  if (f.price_min !== undefined) params.set('price_min', String(f.price_min));
  if (f.price_max !== undefined) params.set('price_max', String(f.price_max));
  const text = params.toString();
  return text ? `?${text}` : '';
}
