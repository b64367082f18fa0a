import { z } from '@hono/zod-openapi';
import { standardStatuses } from '../../db/schema/listings.js';
import { isoDate, typeList } from '../shared/params.js';
import { listParam, whereParams } from '../shared/where.js';

/**
 * The wire shapes of /v1/listings: query parameters (strict: an unknown one is a 400 naming it)
 * and responses, all documented in /openapi.json.
 */

const DECIMAL = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;
const WHOLE = /^\d+$/;

/**
 * A number from its text, strictly: z.coerce.number() reads '' as 0, '0x10' as 16 and
 * 'Infinity' as a number, so `price_min=` would silently mean "free".
 */
export function numberParam(min: number, max: number, options: { integer?: boolean } = {}) {
  const pattern = options.integer ? WHOLE : DECIMAL;
  const inner = z.number().min(min).max(max);
  return z
    .string()
    .max(40)
    .regex(pattern, options.integer ? 'expected a whole number' : 'expected a number')
    .transform(Number)
    .pipe(options.integer ? inner.int() : inner);
}

export const SORTS = ['price', '-price', 'listed', '-listed', 'distance'] as const;
export type Sort = (typeof SORTS)[number];

export const searchQuerySchema = z.strictObject({
  ...whereParams,
  status: listParam(standardStatuses, 'status')
    .optional()
    .openapi({
      description: `comma list of RESO StandardStatus values: ${standardStatuses.join(', ')}`,
      example: 'Active,Pending',
    }),
  type: typeList.optional().openapi({
    description: 'comma list of property types, exact match',
    example: 'Residential,Condominium',
  }),
  price_min: numberParam(0, 1e12).optional().openapi({
    description:
      'lowest price, in the listing currency. Price is the sold price of a closed sale and the asking price otherwise: `coalesce(close_price, list_price)`, what a property-search app shows on a card.',
  }),
  price_max: numberParam(0, 1e12)
    .optional()
    .openapi({ description: 'highest price (same price as price_min)' }),
  beds_min: numberParam(0, 100, { integer: true })
    .optional()
    .openapi({ description: 'at least this many bedrooms' }),
  baths_min: numberParam(0, 100)
    .optional()
    .openapi({ description: 'at least this many bathrooms (halves count: 1.5)' }),
  sqft_min: numberParam(0, 10_000_000, { integer: true })
    .optional()
    .openapi({ description: 'living area at least (sq ft)' }),
  sqft_max: numberParam(0, 10_000_000, { integer: true })
    .optional()
    .openapi({ description: 'living area at most (sq ft)' }),
  year_min: numberParam(1000, 2200, { integer: true })
    .optional()
    .openapi({ description: 'built in this year or later' }),
  listed_since: isoDate
    .optional()
    .openapi({ description: 'listing_contract_date on or after (YYYY-MM-DD)' }),
  closed_since: isoDate.optional().openapi({ description: 'close_date on or after (YYYY-MM-DD)' }),
  sort: z.enum(SORTS).optional().openapi({
    description:
      'price (as price_min), listed (listing_contract_date); `-` for descending; distance needs near. Listings without the key come last either way; ties break on id. Default: distance with near, else the most recently added first.',
  }),
  limit: numberParam(1, 500, { integer: true })
    .default(50)
    .openapi({ description: 'page size, 1 to 500 (default 50)' }),
  cursor: z
    .string()
    .max(1000)
    .optional()
    .openapi({ description: 'next_cursor of the previous page, unchanged' }),
  format: z.enum(['json', 'geojson']).optional().openapi({
    description:
      'json (default) or geojson; without it, an `Accept` preferring `application/geo+json` selects GeoJSON',
  }),
});
export type SearchQuery = z.infer<typeof searchQuerySchema>;

const nullableNumber = z.number().nullable();
const nullableText = z.string().nullable();

export const listingItemSchema = z
  .object({
    id: z.number().int(),
    source_key: z.string(),
    standard_status: z.enum(standardStatuses),
    property_type: nullableText,
    list_price: nullableNumber,
    close_price: nullableNumber,
    bedrooms_total: nullableNumber,
    bathrooms_total: nullableNumber,
    living_area: nullableNumber,
    lot_size_area: nullableNumber,
    year_built: nullableNumber,
    unparsed_address: nullableText,
    city: nullableText,
    postal_code: nullableText,
    listing_contract_date: nullableText.openapi({ format: 'date' }),
    close_date: nullableText.openapi({ format: 'date' }),
    longitude: nullableNumber.openapi({
      description: 'WGS84; null for a listing the source gave no position',
    }),
    latitude: nullableNumber,
    distance_m: z
      .number()
      .optional()
      .openapi({ description: 'metres from near (on the spheroid); only with near' }),
  })
  .openapi('ListingSummary');

export const searchResponseSchema = z
  .object({
    items: z.array(listingItemSchema),
    next_cursor: z
      .string()
      .nullable()
      .openapi({ description: 'pass as cursor for the next page; null on the last page' }),
  })
  .openapi('ListingPage');

export const featureCollectionSchema = z
  .object({
    type: z.literal('FeatureCollection'),
    features: z.array(
      z.object({
        type: z.literal('Feature'),
        id: z.number().int(),
        geometry: z
          .object({ type: z.literal('Point'), coordinates: z.tuple([z.number(), z.number()]) })
          .nullable(),
        properties: z.record(z.string(), z.unknown()),
      }),
    ),
    next_cursor: z.string().nullable(),
  })
  .openapi('ListingFeatureCollection', {
    description:
      'RFC 7946; coordinates are [lon, lat]; properties are the item minus longitude/latitude',
  });

export const listingIdParams = z.strictObject({
  id: z
    .string()
    .max(20)
    .regex(/^[1-9]\d*$/, 'expected a positive whole number')
    .transform(Number)
    .pipe(z.number().int().max(Number.MAX_SAFE_INTEGER))
    .openapi({ param: { name: 'id', in: 'path' }, example: '42' }),
});
