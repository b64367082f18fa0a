-- The analysts' schema (docs/analytics.md): views and materialized views that Metabase reads
-- through the read-only role estate_analytics (scripts/db-roles.sql), which sees this schema and
-- nothing else. Custom migration, written by hand: drizzle-kit does not manage views.
--
-- Definitions follow /v1/stats (origin/routes/stats/query.ts) so the numbers agree with the API;
-- origin/analytics/views.test.ts compares them. Every listing has one *event*: its sale
-- (close_date) when it sold, else its listing (listing_contract_date); price per sq ft is
-- coalesce(close_price, list_price) / living_area; days on market is close_date -
-- listing_contract_date over sales with both dates and a close not before the listing.
--
-- Materialized views are refreshed after every ETL run that changed data, by
-- refresh_analytics_views() below (origin/analytics/refresh.ts). Each has a unique index on
-- plain columns so REFRESH ... CONCURRENTLY works: analysts keep reading while it runs.
CREATE SCHEMA IF NOT EXISTS analytics;
--> statement-breakpoint
COMMENT ON SCHEMA analytics IS 'Views for analysts (docs/analytics.md); read by the estate_analytics role';
--> statement-breakpoint
-- The whole market by month: the same numbers as /v1/stats?group=month over every listing.
-- `month` is the first day of the month. A listing counts in `listings` (and `closed_sales` when
-- it sold) in the month of its event, and in `new_listings` in the month it was listed.
CREATE MATERIALIZED VIEW analytics.market_monthly AS
WITH s AS (
  SELECT l.list_price::float8 AS list_price, l.close_price::float8 AS close_price,
         (coalesce(l.close_price, l.list_price) / nullif(l.living_area, 0))::float8 AS ppsf,
         CASE WHEN l.close_date >= l.listing_contract_date
              THEN (l.close_date - l.listing_contract_date)::float8 END AS dom,
         l.listing_contract_date AS listed, l.close_date AS closed,
         coalesce(l.close_date, l.listing_contract_date) AS event
  FROM public.listings l
), r AS (
  SELECT date_trunc('month', event::timestamp)::date AS month, true AS main, false AS new,
         list_price, close_price, ppsf, dom, closed
  FROM s WHERE event IS NOT NULL
  UNION ALL
  SELECT date_trunc('month', listed::timestamp)::date, false, true, NULL, NULL, NULL, NULL, NULL
  FROM s WHERE listed IS NOT NULL
)
SELECT month,
       count(*) FILTER (WHERE main)::int AS listings,
       count(*) FILTER (WHERE new)::int AS new_listings,
       count(*) FILTER (WHERE main AND closed IS NOT NULL)::int AS closed_sales,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY list_price) FILTER (WHERE main) AS median_list_price,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY close_price) FILTER (WHERE main) AS median_close_price,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ppsf) FILTER (WHERE main) AS median_price_per_sqft,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY dom) FILTER (WHERE main) AS median_days_on_market
FROM r
GROUP BY month;
--> statement-breakpoint
CREATE UNIQUE INDEX market_monthly_uq ON analytics.market_monthly (month);
--> statement-breakpoint
-- The same by area (the `areas` table: ZIP codes, neighbourhoods, any loaded polygon): the numbers
-- of /v1/stats?area=<area_id>&group=month. A listing counts in every area its point lies in.
CREATE MATERIALIZED VIEW analytics.market_by_area_month AS
WITH s AS (
  SELECT a.id AS area_id,
         l.list_price::float8 AS list_price, l.close_price::float8 AS close_price,
         (coalesce(l.close_price, l.list_price) / nullif(l.living_area, 0))::float8 AS ppsf,
         CASE WHEN l.close_date >= l.listing_contract_date
              THEN (l.close_date - l.listing_contract_date)::float8 END AS dom,
         l.listing_contract_date AS listed, l.close_date AS closed,
         coalesce(l.close_date, l.listing_contract_date) AS event
  FROM public.listings l
  JOIN public.areas a ON ST_Intersects(a.geom, l.geom)
), r AS (
  SELECT area_id, date_trunc('month', event::timestamp)::date AS month, true AS main, false AS new,
         list_price, close_price, ppsf, dom, closed
  FROM s WHERE event IS NOT NULL
  UNION ALL
  SELECT area_id, date_trunc('month', listed::timestamp)::date, false, true,
         NULL, NULL, NULL, NULL, NULL
  FROM s WHERE listed IS NOT NULL
), g AS (
  SELECT area_id, month,
         count(*) FILTER (WHERE main)::int AS listings,
         count(*) FILTER (WHERE new)::int AS new_listings,
         count(*) FILTER (WHERE main AND closed IS NOT NULL)::int AS closed_sales,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY list_price) FILTER (WHERE main) AS median_list_price,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY close_price) FILTER (WHERE main) AS median_close_price,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY ppsf) FILTER (WHERE main) AS median_price_per_sqft,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY dom) FILTER (WHERE main) AS median_days_on_market
  FROM r
  GROUP BY area_id, month
)
SELECT g.area_id, a.slug AS area_slug, a.name AS area_name, a.kind AS area_kind, g.month,
       g.listings, g.new_listings, g.closed_sales, g.median_list_price, g.median_close_price,
       g.median_price_per_sqft, g.median_days_on_market
FROM g JOIN public.areas a ON a.id = g.area_id;
--> statement-breakpoint
CREATE UNIQUE INDEX market_by_area_month_uq ON analytics.market_by_area_month (area_id, month);
--> statement-breakpoint
-- Price per sq ft distributions by area and property type (a missing type reads '(unknown)', so
-- the unique key has no NULL), over every listing that has one (sale price when it sold, asking
-- price otherwise, as in /v1/stats). Percentiles are percentile_cont, as in the API.
CREATE MATERIALIZED VIEW analytics.price_per_sqft_by_area_type AS
WITH s AS (
  SELECT a.id AS area_id, coalesce(l.property_type, '(unknown)') AS property_type,
         (coalesce(l.close_price, l.list_price) / nullif(l.living_area, 0))::float8 AS ppsf
  FROM public.listings l
  JOIN public.areas a ON ST_Intersects(a.geom, l.geom)
), g AS (
  SELECT area_id, property_type, count(*)::int AS listings,
         min(ppsf) AS min,
         percentile_cont(0.1) WITHIN GROUP (ORDER BY ppsf) AS p10,
         percentile_cont(0.25) WITHIN GROUP (ORDER BY ppsf) AS p25,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY ppsf) AS median,
         percentile_cont(0.75) WITHIN GROUP (ORDER BY ppsf) AS p75,
         percentile_cont(0.9) WITHIN GROUP (ORDER BY ppsf) AS p90,
         max(ppsf) AS max
  FROM s
  WHERE ppsf IS NOT NULL
  GROUP BY area_id, property_type
)
SELECT g.area_id, a.slug AS area_slug, a.name AS area_name, a.kind AS area_kind, g.property_type,
       g.listings, g.min, g.p10, g.p25, g.median, g.p75, g.p90, g.max
FROM g JOIN public.areas a ON a.id = g.area_id;
--> statement-breakpoint
CREATE UNIQUE INDEX price_per_sqft_by_area_type_uq
  ON analytics.price_per_sqft_by_area_type (area_id, property_type);
--> statement-breakpoint
-- Inventory: listings on the market at the end of each month, by property type. A listing is on
-- the market from its listing_contract_date until its close_date; without a close date, until
-- now when its status is Active, Active Under Contract or Pending, else (Canceled, Expired,
-- Withdrawn...) until its last modification, and left out when that is unknown. "Now" is the
-- latest date in the data, not the clock, so a historical feed is not shown as still for sale
-- today (and the view only changes when the data does). A span is capped at 120 months: a
-- listing "active" for ten years is stale data, and the cap bounds the rows a bad date can make.
-- `new_listings` counts every listing listed in the month (as market_monthly does). Counts only:
-- a median asking price here would sort every (listing, month) pair, which tripled the refresh
-- time on 300k listings; asking prices are in market_monthly.
CREATE MATERIALIZED VIEW analytics.inventory_monthly AS
WITH last_day AS (
  SELECT max(greatest(listing_contract_date, close_date)) AS d FROM public.listings
), spans AS (
  SELECT coalesce(l.property_type, '(unknown)') AS property_type, l.listing_contract_date AS listed,
         CASE WHEN l.close_date IS NOT NULL THEN l.close_date
              WHEN l.standard_status IN ('Active', 'Active Under Contract', 'Pending') THEN NULL
              ELSE (l.modification_timestamp AT TIME ZONE 'UTC')::date END AS ended
  FROM public.listings l
  WHERE l.listing_contract_date IS NOT NULL
    AND (l.close_date IS NOT NULL OR l.modification_timestamp IS NOT NULL
         OR l.standard_status IN ('Active', 'Active Under Contract', 'Pending'))
    AND (l.close_date IS NULL OR l.close_date >= l.listing_contract_date)
), r AS (
  SELECT s.property_type, m.month::date AS month, true AS active, false AS new
  FROM spans s CROSS JOIN last_day
  CROSS JOIN LATERAL generate_series(
    date_trunc('month', s.listed::timestamp),
    date_trunc('month', least(coalesce(s.ended, last_day.d), s.listed + 3650)::timestamp),
    interval '1 month') AS m(month)
  WHERE s.ended IS NULL OR s.ended > (m.month + interval '1 month' - interval '1 day')::date
  UNION ALL
  SELECT coalesce(l.property_type, '(unknown)'),
         date_trunc('month', l.listing_contract_date::timestamp)::date, false, true
  FROM public.listings l
  WHERE l.listing_contract_date IS NOT NULL
)
SELECT property_type, month,
       count(*) FILTER (WHERE active)::int AS active_listings,
       count(*) FILTER (WHERE new)::int AS new_listings
FROM r
GROUP BY property_type, month;
--> statement-breakpoint
CREATE UNIQUE INDEX inventory_monthly_uq ON analytics.inventory_monthly (property_type, month);
--> statement-breakpoint
-- The same by area.
CREATE MATERIALIZED VIEW analytics.inventory_by_area_month AS
WITH last_day AS (
  SELECT max(greatest(listing_contract_date, close_date)) AS d FROM public.listings
), spans AS (
  SELECT a.id AS area_id, coalesce(l.property_type, '(unknown)') AS property_type,
         l.listing_contract_date AS listed,
         CASE WHEN l.close_date IS NOT NULL THEN l.close_date
              WHEN l.standard_status IN ('Active', 'Active Under Contract', 'Pending') THEN NULL
              ELSE (l.modification_timestamp AT TIME ZONE 'UTC')::date END AS ended
  FROM public.listings l
  JOIN public.areas a ON ST_Intersects(a.geom, l.geom)
  WHERE l.listing_contract_date IS NOT NULL
    AND (l.close_date IS NOT NULL OR l.modification_timestamp IS NOT NULL
         OR l.standard_status IN ('Active', 'Active Under Contract', 'Pending'))
    AND (l.close_date IS NULL OR l.close_date >= l.listing_contract_date)
), r AS (
  SELECT s.area_id, s.property_type, m.month::date AS month, true AS active, false AS new
  FROM spans s CROSS JOIN last_day
  CROSS JOIN LATERAL generate_series(
    date_trunc('month', s.listed::timestamp),
    date_trunc('month', least(coalesce(s.ended, last_day.d), s.listed + 3650)::timestamp),
    interval '1 month') AS m(month)
  WHERE s.ended IS NULL OR s.ended > (m.month + interval '1 month' - interval '1 day')::date
  UNION ALL
  SELECT a.id, coalesce(l.property_type, '(unknown)'),
         date_trunc('month', l.listing_contract_date::timestamp)::date, false, true
  FROM public.listings l
  JOIN public.areas a ON ST_Intersects(a.geom, l.geom)
  WHERE l.listing_contract_date IS NOT NULL
), g AS (
  SELECT area_id, property_type, month,
         count(*) FILTER (WHERE active)::int AS active_listings,
         count(*) FILTER (WHERE new)::int AS new_listings
  FROM r
  GROUP BY area_id, property_type, month
)
SELECT g.area_id, a.slug AS area_slug, a.name AS area_name, a.kind AS area_kind, g.property_type,
       g.month, g.active_listings, g.new_listings
FROM g JOIN public.areas a ON a.id = g.area_id;
--> statement-breakpoint
CREATE UNIQUE INDEX inventory_by_area_month_uq
  ON analytics.inventory_by_area_month (area_id, property_type, month);
--> statement-breakpoint
-- ETL run history, live (a plain view). Left out on purpose: `location` (a feed URL can carry
-- credentials in its query string or userinfo) and `error` (free text that can quote rows and
-- URLs); `has_error` says whether there is one, and the operator reads it with `npm run etl`.
CREATE VIEW analytics.etl_run_history AS
SELECT r.id AS run_id, s.name AS source, r.status, r.trigger, r.started_at, r.finished_at,
       extract(epoch FROM r.finished_at - r.started_at)::float8 AS duration_seconds,
       r.rows_read, r.rows_inserted, r.rows_updated, r.rows_unchanged, r.rows_rejected,
       r.error IS NOT NULL AS has_error
FROM public.etl_runs r
JOIN public.etl_sources s ON s.id = r.source_id;
--> statement-breakpoint
-- The listings themselves, live, for questions the views above do not answer. Without the street
-- address and the source's raw fields (`extra`): an analyst needs the market, not the doorbell.
CREATE VIEW analytics.listings AS
SELECT l.id AS listing_id, s.name AS source, l.standard_status, l.property_type,
       l.list_price::float8 AS list_price, l.close_price::float8 AS close_price,
       l.bedrooms_total, l.bathrooms_total::float8 AS bathrooms_total, l.living_area,
       l.lot_size_area, l.year_built, l.city, l.state_or_province, l.postal_code,
       l.listing_contract_date, l.close_date,
       CASE WHEN l.close_date >= l.listing_contract_date
            THEN l.close_date - l.listing_contract_date END AS days_on_market,
       (coalesce(l.close_price, l.list_price) / nullif(l.living_area, 0))::float8 AS price_per_sqft,
       ST_X(l.geom) AS longitude, ST_Y(l.geom) AS latitude, l.updated_at
FROM public.listings l
JOIN public.etl_sources s ON s.id = l.source_id;
--> statement-breakpoint
-- Refreshes every materialized view of the schema: CONCURRENTLY when it is populated and has a
-- usable unique index (readers are not blocked), plainly otherwise. SECURITY DEFINER because only
-- a view's owner may refresh it, and the origin connects as estate_app, which owns nothing:
-- this function (owned by the migrating role) is the one thing it may do here. search_path is
-- pinned, as for every SECURITY DEFINER function, so a caller cannot substitute objects. Views
-- in name order, so two concurrent refreshes take their locks in the same order (no deadlock).
-- JIT off: these aggregations are bound by sorting and hashing, and compiling them cost seconds
-- per refresh for no gain (measured on 300k listings).
CREATE OR REPLACE FUNCTION public.refresh_analytics_views()
RETURNS TABLE (view_name text, refreshed_concurrently boolean, milliseconds float8)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public SET jit = off AS $$
DECLARE
  v record;
  started timestamptz;
BEGIN
  FOR v IN
    SELECT m.matviewname::text AS name,
           m.ispopulated AND EXISTS (
             SELECT 1 FROM pg_index i
             WHERE i.indrelid = format('analytics.%I', m.matviewname)::regclass
               AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
           ) AS concurrent
    FROM pg_matviews m
    WHERE m.schemaname = 'analytics'
    ORDER BY m.matviewname
  LOOP
    started := clock_timestamp();
    IF v.concurrent THEN
      EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.%I', v.name);
    ELSE
      EXECUTE format('REFRESH MATERIALIZED VIEW analytics.%I', v.name);
    END IF;
    view_name := v.name;
    refreshed_concurrently := v.concurrent;
    milliseconds := extract(epoch FROM clock_timestamp() - started) * 1000;
    RETURN NEXT;
  END LOOP;
END;
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION public.refresh_analytics_views() FROM PUBLIC;
--> statement-breakpoint
-- Where the roles of scripts/db-roles.sql exist already, give them their rights now (the script
-- gives the same ones when it runs after this migration). Default privileges for the migrating
-- role (estate_owner in production), so views added by later migrations stay readable.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'estate_app') THEN
    GRANT EXECUTE ON FUNCTION public.refresh_analytics_views() TO estate_app;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'estate_analytics') THEN
    GRANT USAGE ON SCHEMA analytics TO estate_analytics;
    GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO estate_analytics;
    ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO estate_analytics;
  END IF;
END;
$$;
