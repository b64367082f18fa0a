import { sql } from 'drizzle-orm';
import { index, jsonb, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import { geometryColumn } from './postgis.js';

/** Named polygons used for aggregation: ZIP codes, neighbourhoods, any GeoJSON a user loads. */
export const areas = pgTable(
  'areas',
  {
    id: serial('id').primaryKey(),
    slug: text('slug').notNull().unique(),
    name: text('name').notNull(),
    kind: text('kind').notNull().default('custom'),
    geom: geometryColumn('geom', 'MultiPolygon').notNull(),
    properties: jsonb('properties').notNull().default(sql`'{}'::jsonb`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('areas_geom_gist').using('gist', t.geom), index('areas_kind_idx').on(t.kind)],
);
