-- PostGIS must exist before any table that has a geometry column. Custom migration, written by
-- hand because drizzle-kit does not manage extensions.
CREATE EXTENSION IF NOT EXISTS postgis;
