-- The listings' points in Web Mercator (EPSG:3857), stored (issue 16): tiles are cut in 3857, so
-- a tile query filters on this column's own GiST index and hands it to ST_AsMVTGeom as it is,
-- instead of transforming every point of every tile on every request. Generated from geom, so
-- nothing that writes listings (the ETL's COPY and upserts, the seed) has to know about it.
-- Written by hand: drizzle-kit does not generate PostGIS expressions.
ALTER TABLE "listings" ADD COLUMN "geom_3857" geometry(Point, 3857)
  GENERATED ALWAYS AS (ST_Transform("geom", 3857)) STORED;--> statement-breakpoint
CREATE INDEX "listings_geom_3857_gist" ON "listings" USING gist ("geom_3857");
