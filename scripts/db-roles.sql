-- Least-privilege roles for estate-edge on PostgreSQL. Run once, as a superuser:
--   psql "$ADMIN_URL" -v app_password="'...'" -v owner_password="'...'" \
--     -v analytics_password="'...'" -f scripts/db-roles.sql
-- Not a migration: creating roles needs a superuser, and migrations run as the schema owner.
-- Safe before or after the first migration: if audit_log does not exist yet, skip the last
-- statement; migration 0003 revokes the same rights when it creates the table.
--
-- estate_owner: owns the schema; `npm run migrate` connects as it (MIGRATE_ON_START=false in the
--               app, a one-shot migrate job with this role's DATABASE_URL).
-- estate_app:   what the origin connects as at runtime: reads and writes rows, never DDL, and
--               cannot UPDATE, DELETE or TRUNCATE the audit log.
-- estate_analytics: what Metabase connects as (docs/analytics.md): reads the `analytics` schema's
--               views and nothing else (no table of `public`: not users, api_keys, audit_log,
--               refresh_tokens, not even listings), writes nothing anywhere.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'estate_owner') THEN
    CREATE ROLE estate_owner LOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'estate_app') THEN
    CREATE ROLE estate_app LOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'estate_analytics') THEN
    CREATE ROLE estate_analytics LOGIN;
  END IF;
END;
$$;
ALTER ROLE estate_owner PASSWORD :owner_password;
ALTER ROLE estate_app PASSWORD :app_password;
ALTER ROLE estate_analytics PASSWORD :analytics_password;
-- Second lines of defence for the analysts' role, behind its privileges: its sessions start
-- read-only (not even a temporary table), and a runaway question is cancelled after 5 minutes
-- instead of holding a connection and a snapshot on the primary.
ALTER ROLE estate_analytics SET default_transaction_read_only = on;
ALTER ROLE estate_analytics SET statement_timeout = '5min';

ALTER SCHEMA public OWNER TO estate_owner;
GRANT USAGE ON SCHEMA public TO estate_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO estate_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO estate_app;
-- Tables created later by estate_owner's migrations get the same grants.
ALTER DEFAULT PRIVILEGES FOR ROLE estate_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO estate_app;
ALTER DEFAULT PRIVILEGES FOR ROLE estate_owner IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO estate_app;

-- drizzle's record of applied migrations: the app's readiness check reads it to report pending
-- migrations (as estate_app it would otherwise count none and report them pending forever).
CREATE SCHEMA IF NOT EXISTS drizzle AUTHORIZATION estate_owner;
GRANT USAGE ON SCHEMA drizzle TO estate_app;
GRANT SELECT ON ALL TABLES IN SCHEMA drizzle TO estate_app;
ALTER DEFAULT PRIVILEGES FOR ROLE estate_owner IN SCHEMA drizzle GRANT SELECT ON TABLES TO estate_app;

-- The analytics schema (migration 0005 creates its views; created here too when this script runs
-- first, so that the grants below always have a schema to name). It belongs to estate_owner, whose
-- migrations add views to it.
CREATE SCHEMA IF NOT EXISTS analytics AUTHORIZATION estate_owner;
ALTER SCHEMA analytics OWNER TO estate_owner;
GRANT USAGE ON SCHEMA analytics TO estate_analytics;
GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO estate_analytics;
-- Views and materialized views created later by estate_owner's migrations are readable too.
ALTER DEFAULT PRIVILEGES FOR ROLE estate_owner IN SCHEMA analytics
  GRANT SELECT ON TABLES TO estate_analytics;
-- Nothing of public, should an earlier grant have given it (views in `analytics` read their
-- tables with their owner's rights, so the role needs none).
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM estate_analytics;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM estate_analytics;
-- The origin refreshes the materialized views after an ETL run through this SECURITY DEFINER
-- function of migration 0005 (only a view's owner may refresh it). Skipped before that migration;
-- the migration grants the same when it runs after this script.
DO $$
BEGIN
  IF to_regprocedure('public.refresh_analytics_views()') IS NOT NULL THEN
    GRANT EXECUTE ON FUNCTION public.refresh_analytics_views() TO estate_app;
  END IF;
END;
$$;

-- The audit log: append and read only. (Migration 0003 repeats this REVOKE when it runs after
-- the role exists, and its trigger refuses changes from every role, the owner included.)
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM estate_app;
