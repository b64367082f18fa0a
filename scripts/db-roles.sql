-- Least-privilege roles for estate-edge on PostgreSQL. Run once, as a superuser:
--   psql "$ADMIN_URL" -v app_password="'...'" -v owner_password="'...'" -f scripts/db-roles.sql
-- Not a migration: creating roles needs a superuser, and migrations run as the schema owner.
-- Safe before or after the first migration: if audit_log does not exist yet, skip the last
-- statement; migration 0003 revokes the same rights when it creates the table.
--
-- estate_owner: owns the schema; `npm run migrate` connects as it (MIGRATE_ON_START=false in the
--               app, a one-shot migrate job with this role's DATABASE_URL).
-- estate_app:   what the origin connects as at runtime: reads and writes rows, never DDL, and
--               cannot UPDATE, DELETE or TRUNCATE the audit log.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'estate_owner') THEN
    CREATE ROLE estate_owner LOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'estate_app') THEN
    CREATE ROLE estate_app LOGIN;
  END IF;
END;
$$;
ALTER ROLE estate_owner PASSWORD :owner_password;
ALTER ROLE estate_app PASSWORD :app_password;

ALTER SCHEMA public OWNER TO estate_owner;
GRANT USAGE ON SCHEMA public TO estate_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO estate_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO estate_app;
-- Tables created later by estate_owner's migrations get the same grants.
ALTER DEFAULT PRIVILEGES FOR ROLE estate_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO estate_app;
ALTER DEFAULT PRIVILEGES FOR ROLE estate_owner IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO estate_app;

-- The audit log: append and read only. (Migration 0003 repeats this REVOKE when it runs after
-- the role exists, and its trigger refuses changes from every role, the owner included.)
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM estate_app;
