-- Edge assertions already used by an unsafe request (POST, PUT, PATCH, DELETE). An assertion is
-- bound to its method, path, query and body digest (docs/edge-auth.md), so replaying a captured
-- one can only repeat that exact request; for reads that is harmless, for writes it is not, so
-- a write's `jti` is recorded here, in the primary every origin replica shares, and survives
-- restarts. Rows are kept until their assertion expires (a minute) and deleted by the origin as
-- it goes. Logged, not UNLOGGED: a
-- crash of PostgreSQL must not forget them. Written by hand, like 0004 (no drizzle model: only
-- origin/http/replay-guard.ts touches it, in plain SQL).
CREATE TABLE IF NOT EXISTS edge_assertion_uses (
  jti text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS edge_assertion_uses_expires_at ON edge_assertion_uses (expires_at);
