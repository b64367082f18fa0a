import { z } from '@hono/zod-openapi';
import { MAX_FEATURES } from '../../areas/geojson.js';
import { kindParam } from '../stats/schema.js';

/** The wire shapes of /v1/areas, all documented in /openapi.json. */

/** Page size: an area row carries a live listing count, so pages stay modest. */
export const MAX_AREA_PAGE = 500;

/** A positive database id from a path or query string ("12", not "12abc", "-1" or "1e3"). */
const positiveId = z
  .string()
  .max(12)
  .regex(/^[1-9]\d*$/, 'must be a positive whole number')
  .transform(Number)
  .pipe(z.number().int().max(2_147_483_647, 'is too large'));

export const areaIdParams = z.strictObject({
  id: positiveId.openapi({ param: { name: 'id', in: 'path' }, example: '12', type: 'string' }),
});

export const listAreasQuery = z.strictObject({
  kind: kindParam
    .optional()
    .openapi({ description: 'only areas of this kind', example: 'zip-derived' }),
  limit: z
    .string()
    .max(6)
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(MAX_AREA_PAGE))
    .optional()
    .openapi({
      description: `1 to ${MAX_AREA_PAGE} (default 100)`,
      type: 'string',
      example: '100',
    }),
  cursor: positiveId
    .optional()
    .openapi({ description: 'the `next_cursor` of the previous page', type: 'string' }),
});

const bbox = z
  .tuple([z.number(), z.number(), z.number(), z.number()])
  .openapi({ description: 'minLon, minLat, maxLon, maxLat' });

export const areaSummarySchema = z
  .object({
    id: z.number().int(),
    slug: z.string(),
    name: z.string(),
    kind: z.string(),
    bbox,
    listing_count: z
      .number()
      .int()
      .openapi({ description: 'listings whose point lies in the area' }),
  })
  .openapi('AreaSummary');

export const areaListSchema = z
  .object({ items: z.array(areaSummarySchema), next_cursor: z.string().nullable() })
  .openapi('AreaList');

export const areaDetailSchema = z
  .object({
    id: z.number().int(),
    slug: z.string(),
    name: z.string(),
    kind: z.string(),
    bbox,
    properties: z.record(z.string(), z.unknown()),
    geometry: z
      .object({ type: z.literal('MultiPolygon'), coordinates: z.array(z.unknown()) })
      .openapi({ description: 'GeoJSON MultiPolygon, WGS84' }),
    stats: z.object({
      listing_count: z.number().int(),
      median_close_price: z.number().nullable(),
      median_price_per_sqft: z.number().nullable().openapi({
        description:
          'close_price / living_area for sold listings, list_price / living_area otherwise (as /v1/stats)',
      }),
      closed_sales_last_12_months: z.number().int().openapi({
        description: 'sales in the 12 months up to `as_of`, the latest close date in the data',
      }),
      as_of: z.string().nullable(),
    }),
  })
  .openapi('AreaDetail');

const booleanText = z.enum(['true', 'false']).transform((v) => v === 'true');

export const createAreasQuery = z.strictObject({
  kind: kindParam.openapi({
    description: 'the kind of the areas in the file',
    example: 'neighbourhood',
  }),
  name_property: z.string().min(1).max(100).optional().openapi({
    description: "the feature property holding each area's name (default `name`)",
    example: 'ZCTA5CE10',
  }),
  slug_property: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .openapi({ description: 'the feature property holding a stable slug (default: kind + name)' }),
  replace: booleanText.optional().openapi({
    description:
      "`true`: the file replaces the kind's areas (same slug keeps its id; others of the kind are deleted)",
    type: 'string',
  }),
});

/** Only the outline is checked here; every feature is checked by loadAreasFromGeoJSON, which reports each bad one. */
export const featureCollectionBody = z
  .object({
    type: z.literal('FeatureCollection'),
    features: z.array(z.unknown()).max(MAX_FEATURES),
  })
  .openapi('AreaFeatureCollection', {
    description: 'A GeoJSON FeatureCollection of Polygon / MultiPolygon features in WGS84',
  });

export const createAreasResponse = z
  .object({
    ids: z.array(z.number().int()),
    repaired: z.array(z.number().int()).openapi({
      description: 'indexes of features whose invalid geometry was repaired (ST_MakeValid)',
    }),
    deleted: z.number().int().openapi({ description: 'areas of the kind deleted by `replace`' }),
  })
  .openapi('AreasCreated');
