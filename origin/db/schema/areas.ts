import { sql } from 'drizzle-orm';
import { customType, index, jsonb, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * drizzle's built-in `geometry` column only models points; areas are multipolygons, so the
 * column is declared as a custom type and read/written as GeoJSON in SQL (ST_AsGeoJSON /
 * ST_GeomFromGeoJSON), never parsed in JS.
 */
const multiPolygon = customType<{ data: string; driverData: string }>({
  dataType: () => 'geometry(MultiPolygon, 4326)',
});

/** Named polygons used for aggregation: ZIP codes, neighbourhoods, any GeoJSON a user loads. */
export const areas = pgTable(
  'areas',
  {
    id: serial('id').primaryKey(),
    slug: text('slug').notNull().unique(),
    name: text('name').notNull(),
    kind: text('kind').notNull().default('custom'),
    geom: multiPolygon('geom').notNull(),
    properties: jsonb('properties').notNull().default(sql`'{}'::jsonb`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('areas_geom_gist').using('gist', t.geom), index('areas_kind_idx').on(t.kind)],
);
