import { Cron } from 'croner';
import { z } from 'zod';
import { standardStatuses } from '../db/schema/listings.js';
import { DEFAULT_DATE_FORMATS, DEFAULT_NULL_VALUES } from './convert.js';
import { literalCredential } from './feed-location.js';

/** Listing fields a mapping can fill, by their column names (RESO names in snake_case). */
export const mappableFields = [
  'standard_status',
  'property_type',
  'list_price',
  'close_price',
  'bedrooms_total',
  'bathrooms_total',
  'living_area',
  'lot_size_area',
  'year_built',
  'unparsed_address',
  'street_number',
  'street_name',
  'unit_number',
  'city',
  'state_or_province',
  'postal_code',
  'country',
  'listing_contract_date',
  'close_date',
  'modification_timestamp',
  'latitude',
  'longitude',
] as const;
export type MappableField = (typeof mappableFields)[number];

/** How each listing field is read when a mapping does not say. */
export const fieldTypes: Record<MappableField, FieldType> = {
  standard_status: 'string',
  property_type: 'string',
  list_price: 'number',
  close_price: 'number',
  bedrooms_total: 'integer',
  bathrooms_total: 'number',
  living_area: 'number',
  lot_size_area: 'number',
  year_built: 'integer',
  unparsed_address: 'string',
  street_number: 'string',
  street_name: 'string',
  unit_number: 'string',
  city: 'string',
  state_or_province: 'string',
  postal_code: 'string',
  country: 'string',
  listing_contract_date: 'date',
  close_date: 'date',
  modification_timestamp: 'timestamp',
  latitude: 'number',
  longitude: 'number',
};

const fieldType = z.enum(['string', 'number', 'integer', 'boolean', 'date', 'timestamp']);
export type FieldType = z.infer<typeof fieldType>;

const fieldMapping = z.strictObject({
  /** The source's field name; for JSON formats a dot path (`address.city`). */
  from: z.string().min(1).max(200),
  type: fieldType.optional(),
  /** Date formats tried in order (tokens YYYY MM M DD D HH H mm ss). */
  formats: z.array(z.string().min(1)).min(1).optional(),
  /** Translate codes, e.g. `{ "A": "Active", "S": "Closed" }`; unmapped values pass through. */
  values: z.record(z.string(), z.string()).optional(),
  /** Multiply numbers, e.g. 43560 to turn acres into square feet. */
  scale: z.number().positive().optional(),
});
export type FieldMapping = z.infer<typeof fieldMapping>;

const fieldSpec = z.union([z.string().min(1).max(200), fieldMapping]);

export const mappingSchema = z.strictObject({
  /** The listing's key within the source, built from one or more fields. */
  key: z.strictObject({
    fields: z.array(fieldSpec).min(1).max(8),
    separator: z.string().max(4).default(':'),
  }),
  fields: z.partialRecord(z.enum(mappableFields), fieldSpec),
  /** Constant values for fields the feed does not carry (e.g. every row is a Closed sale). */
  defaults: z.partialRecord(z.enum(mappableFields), z.union([z.string(), z.number()])).default({}),
  nullValues: z.array(z.string()).default([...DEFAULT_NULL_VALUES]),
  dateFormats: z.array(z.string().min(1)).min(1).default(DEFAULT_DATE_FORMATS),
  /** CSV only. */
  delimiter: z.string().length(1).default(','),
  encoding: z.enum(['utf-8', 'latin1']).default('utf-8'),
  /**
   * The extent the feed's points must fall in, [minLon, minLat, maxLon, maxLat]: catches swapped
   * or zeroed coordinates that are still valid degrees.
   */
  bounds: z
    .tuple([z.number(), z.number(), z.number(), z.number()])
    .refine(
      ([x0, y0, x1, y1]) => x0 < x1 && y0 < y1,
      'bounds must be [minLon, minLat, maxLon, maxLat]',
    )
    .optional(),
  /** Keep the source's unmapped fields in the listing's `extra` jsonb. */
  keepExtra: z.boolean().default(true),
  /** Longest field accepted, in characters; longer ones reject the row. */
  maxFieldLength: z.number().int().min(16).max(1_000_000).default(65_536),
});
export type Mapping = z.infer<typeof mappingSchema>;

export const sourceSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a source name is lowercase letters, digits and dashes'),
  format: z.enum(['csv', 'ndjson', 'geojson']),
  /**
   * A file path under a feed root (relative paths are from the project root) or an https URL;
   * credentials only as `${FEED_<NAME>}` references (origin/etl/feed-location.ts).
   */
  location: z
    .string()
    .min(1)
    .max(2048)
    .superRefine((location, ctx) => {
      const why = literalCredential(location);
      if (why) ctx.addIssue({ code: 'custom', message: why });
    }),
  /** A cron expression (5 or 6 fields) for scheduled runs, or null. */
  schedule: z
    .string()
    .nullable()
    .default(null)
    .refine((value) => value === null || isValidCron(value), 'not a valid cron expression'),
  enabled: z.boolean().default(true),
  mapping: mappingSchema,
});
export type SourceConfig = z.infer<typeof sourceSchema>;
export type SourceInput = z.input<typeof sourceSchema>;

function isValidCron(expression: string): boolean {
  try {
    new Cron(expression, { paused: true }).stop();
    return true;
  } catch {
    return false;
  }
}

/** Every status the database accepts; a mapping's `values` must translate into these. */
export const knownStatuses: readonly string[] = standardStatuses;
