import { customType } from 'drizzle-orm/pg-core';

/**
 * PostGIS geometry columns with their type and SRID in the column type itself
 * (`geometry(Point, 4326)`), so PostgreSQL refuses anything else. drizzle's built-in `geometry`
 * drops the SRID from generated migrations, hence a custom type. Geometries are read and written
 * in SQL (ST_MakePoint, ST_AsGeoJSON...), never parsed in JS, so the JS side is the raw EWKB hex.
 */
export function geometryColumn(name: string, kind: 'Point' | 'MultiPolygon', srid = 4326) {
  return customType<{ data: string; driverData: string }>({
    dataType: () => `geometry(${kind}, ${srid})`,
  })(name);
}
