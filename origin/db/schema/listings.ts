import { sql } from 'drizzle-orm';
import {
  bigint,
  date,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  smallint,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { etlSources } from './etl-sources.js';
import { geometryColumn } from './postgis.js';

/** RESO Data Dictionary `StandardStatus` values. */
export const standardStatuses = [
  'Active',
  'Active Under Contract',
  'Pending',
  'Closed',
  'Canceled',
  'Expired',
  'Withdrawn',
  'Hold',
  'Coming Soon',
  'Delete',
  'Incomplete',
] as const;
export type StandardStatus = (typeof standardStatuses)[number];

/**
 * A listing, named after the RESO Data Dictionary in snake_case. A listing is identified by its
 * source and the source's key; `extra` keeps the source's other fields untouched.
 */
export const listings = pgTable(
  'listings',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    sourceId: integer('source_id')
      .notNull()
      .references(() => etlSources.id),
    sourceKey: text('source_key').notNull(),
    standardStatus: text('standard_status', { enum: standardStatuses }).notNull(),
    propertyType: text('property_type'),
    listPrice: numeric('list_price', { precision: 14, scale: 2, mode: 'number' }),
    closePrice: numeric('close_price', { precision: 14, scale: 2, mode: 'number' }),
    bedroomsTotal: smallint('bedrooms_total'),
    bathroomsTotal: numeric('bathrooms_total', { precision: 5, scale: 2, mode: 'number' }),
    livingArea: integer('living_area'),
    lotSizeArea: integer('lot_size_area'),
    yearBuilt: smallint('year_built'),
    unparsedAddress: text('unparsed_address'),
    streetNumber: text('street_number'),
    streetName: text('street_name'),
    unitNumber: text('unit_number'),
    city: text('city'),
    stateOrProvince: text('state_or_province'),
    postalCode: text('postal_code'),
    country: text('country'),
    listingContractDate: date('listing_contract_date'),
    closeDate: date('close_date'),
    modificationTimestamp: timestamp('modification_timestamp', { withTimezone: true }),
    geom: geometryColumn('geom', 'Point'),
    /** geom in Web Mercator, generated (migration 0008): what tiles are cut from. */
    geom3857: geometryColumn('geom_3857', 'Point', 3857).generatedAlwaysAs(
      sql`ST_Transform(geom, 3857)`,
    ),
    extra: jsonb('extra').notNull().default(sql`'{}'::jsonb`),
    lastRunId: integer('last_run_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('listings_source_key_uq').on(t.sourceId, t.sourceKey),
    index('listings_geom_gist').using('gist', t.geom),
    index('listings_geom_3857_gist').using('gist', t.geom3857),
    index('listings_status_type_idx').on(t.standardStatus, t.propertyType),
    index('listings_list_price_idx').on(t.listPrice),
    index('listings_close_price_idx').on(t.closePrice),
    index('listings_listing_contract_date_idx').on(t.listingContractDate),
    index('listings_close_date_idx').on(t.closeDate),
  ],
);
