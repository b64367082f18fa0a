import { z } from 'zod';
import { standardStatuses } from '../db/schema/listings.js';
import {
  ConversionError,
  clip,
  toBoolean,
  toDate,
  toInteger,
  toNumber,
  toTimestamp,
} from './convert.js';
import {
  type FieldMapping,
  type FieldType,
  fieldTypes,
  type MappableField,
  type Mapping,
  mappableFields,
} from './source-config.js';

/** A listing as the ETL stages it: column names, converted values, null for "no value". */
export type StagedListing = {
  source_key: string;
  extra: Record<string, unknown>;
} & { [K in MappableField]: string | number | null };

const nonNegative = (max: number) =>
  z
    .number()
    .min(0, 'must not be negative')
    .max(max, `must be at most ${max.toLocaleString('en')}`)
    .nullable();
const thisYear = new Date().getUTCFullYear();
const text = (max: number) => z.string().max(max, `must be at most ${max} characters`).nullable();
const isoDate = z
  .string()
  .refine((d) => d >= '1800-01-01' && d <= '2200-12-31', 'must be between 1800 and 2200')
  .nullable();

/** The checks a converted row must pass before it is staged. */
export const stagedListingSchema = z
  .object({
    source_key: z
      .string()
      .min(1, 'the key is empty')
      .max(256, 'the key is longer than 256 characters'),
    standard_status: z.enum(standardStatuses, {
      error: (issue) =>
        issue.input === null || issue.input === undefined
          ? 'is required (map a field or set a default)'
          : `'${clip(String(issue.input))}' is not a RESO StandardStatus (${standardStatuses.join(', ')})`,
    }),
    property_type: text(64),
    list_price: nonNegative(1e11),
    close_price: nonNegative(1e11),
    bedrooms_total: z
      .number()
      .int()
      .min(0, 'must not be negative')
      .max(200, 'must be at most 200')
      .nullable(),
    bathrooms_total: nonNegative(200),
    living_area: nonNegative(2_000_000_000),
    lot_size_area: nonNegative(2_000_000_000),
    year_built: z
      .number()
      .int()
      .min(1600, 'must be 1600 or later')
      .max(thisYear + 5, `must be ${thisYear + 5} or earlier`)
      .nullable(),
    unparsed_address: text(512),
    street_number: text(32),
    street_name: text(256),
    unit_number: text(32),
    city: text(128),
    state_or_province: text(64),
    postal_code: text(16),
    country: text(64),
    listing_contract_date: isoDate,
    close_date: isoDate,
    modification_timestamp: z.string().nullable(),
    latitude: z
      .number()
      .min(-90, 'must be between -90 and 90')
      .max(90, 'must be between -90 and 90')
      .nullable(),
    longitude: z
      .number()
      .min(-180, 'must be between -180 and 180')
      .max(180, 'must be between -180 and 180')
      .nullable(),
    extra: z.record(z.string(), z.unknown()),
  })
  .refine((row) => (row.latitude === null) === (row.longitude === null), {
    message: 'latitude and longitude must be given together',
    path: ['latitude'],
  });

export type TransformResult = { ok: true; listing: StagedListing } | { ok: false; reason: string };

type FieldReader = (fields: Record<string, unknown>) => unknown;

/**
 * Compile a mapping once into a function from a source row to a staged listing or a reason.
 * Everything that can be decided per mapping (paths, types, formats) is decided here, not per row.
 */
export function compileTransform(
  mapping: Mapping,
): (fields: Record<string, unknown>) => TransformResult {
  const nulls = new Set(mapping.nullValues);
  const used = new Set<string>();

  const compileField = (spec: string | FieldMapping, defaultType: FieldType) => {
    const m: FieldMapping = typeof spec === 'string' ? { from: spec } : spec;
    used.add(m.from.split('.')[0] as string);
    const read = pathReader(m.from);
    const type = m.type ?? defaultType;
    const formats = m.formats ?? mapping.dateFormats;
    return {
      from: m.from,
      convert(fields: Record<string, unknown>): string | number | boolean | null {
        let value = read(fields);
        if (value === undefined || value === null) return null;
        if (typeof value === 'string') {
          value = value.trim();
          if (nulls.has(value as string)) return null;
          if (m.values && Object.hasOwn(m.values, value as string))
            value = m.values[value as string];
        }
        let out = convertValue(value, type, formats);
        if (m.scale && typeof out === 'number') out *= m.scale;
        return out;
      },
    };
  };

  const keyParts = mapping.key.fields.map((spec) => compileField(spec, 'string'));
  const fields = mappableFields.flatMap((name) => {
    const spec = mapping.fields[name];
    return spec ? [{ name, ...compileField(spec, fieldTypes[name]) }] : [];
  });
  const defaults = mapping.defaults;
  const [minLon, minLat, maxLon, maxLat] = mapping.bounds ?? [];

  return (record) => {
    const tooLong = longField(record, mapping.maxFieldLength);
    if (tooLong) return { ok: false, reason: tooLong };

    const listing = { extra: {} } as StagedListing;
    try {
      const parts: string[] = [];
      for (const part of keyParts) {
        const value = part.convert(record);
        if (value === null) return { ok: false, reason: `key field '${part.from}' is empty` };
        parts.push(String(value));
      }
      listing.source_key = parts.join(mapping.key.separator);
      for (const name of mappableFields) listing[name] = (defaults[name] ?? null) as never;
      for (const field of fields) {
        try {
          const value = field.convert(record);
          if (value !== null) listing[field.name] = value as never;
        } catch (error) {
          if (error instanceof ConversionError) {
            return { ok: false, reason: `${field.name} (from '${field.from}'): ${error.message}` };
          }
          throw error;
        }
      }
    } catch (error) {
      if (error instanceof ConversionError) return { ok: false, reason: `key: ${error.message}` };
      throw error;
    }

    if (mapping.keepExtra) {
      for (const name in record) {
        const value = record[name];
        if (used.has(name) || value === null || value === undefined) continue;
        if (typeof value === 'string' && nulls.has(value.trim())) continue;
        // defineProperty, not assignment: a field named __proto__ is data, not a prototype.
        Object.defineProperty(listing.extra, name, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }

    const lat = listing.latitude;
    const lon = listing.longitude;
    if (
      typeof lat === 'number' &&
      typeof lon === 'number' &&
      Math.abs(lat) > 90 &&
      Math.abs(lon) <= 90
    ) {
      return {
        ok: false,
        reason: `latitude ${lat} is out of range and longitude ${lon} is a valid latitude: latitude and longitude look swapped`,
      };
    }
    const checked = stagedListingSchema.safeParse(listing);
    if (!checked.success) return { ok: false, reason: describeIssues(checked.error, listing) };

    if (mapping.bounds && listing.longitude !== null && listing.latitude !== null) {
      const lon = listing.longitude as number;
      const lat = listing.latitude as number;
      if (
        lon < (minLon as number) ||
        lon > (maxLon as number) ||
        lat < (minLat as number) ||
        lat > (maxLat as number)
      ) {
        const swapped =
          lat >= (minLon as number) &&
          lat <= (maxLon as number) &&
          lon >= (minLat as number) &&
          lon <= (maxLat as number);
        return {
          ok: false,
          reason: `point (${lon}, ${lat}) is outside the source's bounds [${mapping.bounds.join(', ')}]${swapped ? '; latitude and longitude look swapped' : ''}`,
        };
      }
    }
    return { ok: true, listing };
  };
}

function convertValue(
  value: unknown,
  type: FieldType,
  formats: readonly string[],
): string | number | boolean {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ConversionError(`${value} is not a finite number`);
    if (type === 'integer' && !Number.isInteger(value))
      throw new ConversionError(`${value} is not a whole number`);
    if (type === 'string') return String(value);
    if (type === 'number' || type === 'integer') return value;
  }
  if (typeof value === 'boolean') {
    if (type === 'boolean') return value;
    if (type === 'string') return String(value);
  }
  if (typeof value !== 'string') {
    throw new ConversionError(
      `expected ${type}, got ${Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  if (value.includes('\uFFFD')) {
    throw new ConversionError(
      `'${clip(value)}' contains bytes that are not valid UTF-8 (set the source's encoding, e.g. latin1)`,
    );
  }
  switch (type) {
    case 'string':
      return value;
    case 'number':
      return toNumber(value);
    case 'integer':
      return toInteger(value);
    case 'boolean':
      return toBoolean(value);
    case 'date':
      return toDate(value, formats);
    case 'timestamp':
      return toTimestamp(value, formats);
  }
}

function pathReader(path: string): FieldReader {
  if (!path.includes('.')) return (fields) => fields[path];
  const steps = path.split('.');
  return (fields) => {
    let current: unknown = fields;
    for (const step of steps) {
      if (current === null || typeof current !== 'object') return undefined;
      current = (current as Record<string, unknown>)[step];
    }
    return current;
  };
}

/** Values PostgreSQL cannot store at all (NUL) or that we refuse (huge): checked before anything. */
function longField(record: Record<string, unknown>, max: number): string | undefined {
  // for...in, not Object.entries: this runs on every row and entries() allocates per field.
  for (const name in record) {
    // A field's name ends up in `extra` (jsonb) too.
    if (name.includes('\u0000')) {
      return `field name '${clip(name, 40)}' contains a NUL character, which PostgreSQL cannot store`;
    }
    const value = record[name];
    let text: string;
    if (typeof value === 'string') text = value;
    else if (typeof value === 'object' && value !== null) text = JSON.stringify(value);
    else continue;
    if (text.length > max) {
      return `field '${clip(name, 40)}' is ${text.length.toLocaleString('en')} characters long; the limit is ${max.toLocaleString('en')}`;
    }
    // A JSON value carries NUL escaped as \u0000; jsonb refuses it just the same.
    if (text.includes('\u0000') || (typeof value === 'object' && text.includes('\\u0000'))) {
      return `field '${clip(name, 40)}' contains a NUL character, which PostgreSQL cannot store`;
    }
  }
  return undefined;
}

function describeIssues(error: z.ZodError, listing: StagedListing): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => {
      const field = issue.path.join('.') || 'row';
      const value = (listing as Record<string, unknown>)[field];
      const shown =
        value === null || value === undefined || issue.code === 'invalid_value'
          ? ''
          : ` (got ${clip(String(value))})`;
      return `${field}: ${issue.message}${shown}`;
    })
    .join('; ');
}
