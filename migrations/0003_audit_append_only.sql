-- The audit log is append-only. Custom migration, written by hand because drizzle-kit does not
-- manage triggers. A trigger (not only a REVOKE) so that it also holds on PGlite, where there is
-- a single role, and against the table owner. See docs/identity.md and scripts/db-roles.sql.
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER audit_log_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
--> statement-breakpoint
CREATE TRIGGER audit_log_no_truncate
  BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
--> statement-breakpoint
-- Where the least-privilege application role exists (scripts/db-roles.sql), it may not even try.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'estate_app') THEN
    REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM estate_app;
  END IF;
END;
$$;
