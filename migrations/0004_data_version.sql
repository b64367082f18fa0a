-- The data version: one number that changes whenever the data the public API serves changes
-- (listings by an ETL run, areas by a load or a derivation). The edge puts it in its cache keys,
-- so answers computed from older data stop being served within its polling interval
-- (docs/edge-gateway.md). Written by hand: drizzle-kit does not manage single-row tables with a
-- CHECK on the key. Bumped explicitly by the code that changes data, in the same transaction
-- (origin/db/data-version.ts), rather than by triggers: a statement-level trigger cannot tell
-- whether a statement changed any row without transition tables, and those would capture every
-- row of a million-row load.
CREATE TABLE IF NOT EXISTS data_version (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version bigint NOT NULL DEFAULT 1,
  changed_at timestamptz NOT NULL DEFAULT now(),
  reason text NOT NULL DEFAULT 'initial'
);
--> statement-breakpoint
INSERT INTO data_version (singleton) VALUES (true) ON CONFLICT DO NOTHING;
