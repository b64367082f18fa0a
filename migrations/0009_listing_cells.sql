-- Listing cells, precomputed (issue 16): the low-zoom tiles' aggregates (origin/routes/tiles/
-- cells.ts). One row per non-empty cell of the 2^level × 2^level grid over the Web Mercator
-- world, level = zoom + 6 (a tile's 64 × 64 grid): how many listings, their median price, their
-- mean position (world metres from the top-left corner). Level 18 (zoom 12) is computed from the
-- listings; each coarser level from the one below it. Written by hand: drizzle-kit manages
-- neither the trigger nor the singleton row.
CREATE TABLE IF NOT EXISTS listing_cells (
  level smallint NOT NULL,
  gx integer NOT NULL,
  gy integer NOT NULL,
  count integer NOT NULL,
  median_price double precision,
  mx double precision NOT NULL,
  my double precision NOT NULL,
  PRIMARY KEY (level, gy, gx)
);--> statement-breakpoint
-- Whether listing_cells still says what listings holds. Any write to listings marks it stale (the
-- statement trigger below, whoever writes); refreshListingCells marks it fresh. Stale cells are
-- never served: tiles are then aggregated live from listings, complete but slower.
CREATE TABLE IF NOT EXISTS listing_cells_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  fresh boolean NOT NULL DEFAULT false,
  refreshed_at timestamptz
);--> statement-breakpoint
INSERT INTO listing_cells_state (singleton, fresh) VALUES (true, false) ON CONFLICT DO NOTHING;--> statement-breakpoint
CREATE OR REPLACE FUNCTION listing_cells_mark_stale() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- WHERE fresh: when already stale, no row is touched and no lock taken.
  UPDATE listing_cells_state SET fresh = false WHERE singleton AND fresh;
  RETURN NULL;
END $$;--> statement-breakpoint
DROP TRIGGER IF EXISTS listings_cells_stale ON listings;--> statement-breakpoint
CREATE TRIGGER listings_cells_stale AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON listings
  FOR EACH STATEMENT EXECUTE FUNCTION listing_cells_mark_stale();
