#!/usr/bin/env bash
# estate-edge's databases and roles, for the db service of origin/compose.yaml.
#
# The postgres image runs this once, when the data volume is empty (/docker-entrypoint-initdb.d,
# after any of the image's own), as the superuser over the local socket. It is
# idempotent, so it is also how role passwords are rotated on a running stack: change them in
# origin/.env, then
#
#   docker compose up -d db            # recreates db with the new secrets
#   docker compose exec db bash /docker-entrypoint-initdb.d/20-estate.sh
#   docker compose up -d               # recreates the services whose URLs changed
#
# What it sets up:
#   estate            the app database, owned by estate_owner. PostGIS is created here by the
#                     superuser: it is not a trusted extension, so migrations (run as
#                     estate_owner) could not; migration 0000's IF NOT EXISTS then does nothing.
#   estate_owner,     from scripts/db-roles.sql, mounted at $ESTATE_DB_ROLES_SQL, run with the
#   estate_app,       passwords as psql variables. estate_analytics is the analysts' read-only
#   estate_analytics  login (Metabase's data source), limited to the `analytics` schema.
#   metabase          Metabase's own application database, and the role that owns it.
#
# Passwords are read from the files named by *_FILE (compose secrets), else from the variables.
# They reach the server as psql variables quoted by psql itself (never on a command line, never
# pasted into SQL text), so any character is safe.

# A subshell: the image's entrypoint *sources* initdb scripts that are not executable, and our
# `set -u` and variables must not leak into it.
(
  set -Eeuo pipefail

  readonly APP_DB=estate
  readonly METABASE_DB=metabase
  readonly ROLES_SQL="${ESTATE_DB_ROLES_SQL:-/opt/estate/db-roles.sql}"
  readonly SUPERUSER="${POSTGRES_USER:-postgres}"

  die() {
    echo "20-estate.sh: $*" >&2
    exit 1
  }

  # secret NAME: the content of the file named by $NAME_FILE, else $NAME. Never empty.
  secret() {
    local name="$1" file_var="$1_FILE" value
    if [ -n "${!file_var:-}" ]; then
      [ -r "${!file_var}" ] || die "$file_var: cannot read ${!file_var}"
      value="$(<"${!file_var}")"
    else
      value="${!name:-}"
    fi
    [ -n "$value" ] || die "$name is empty: set it in origin/.env"
    printf '%s' "$value"
  }

  # Quiet: "already exists, skipping" notices on a re-run are not news.
  psql_su() {
    PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
      psql -X -q --no-password --username "$SUPERUSER" "$@"
  }

  owner_password="$(secret ESTATE_OWNER_PASSWORD)"
  app_password="$(secret ESTATE_APP_PASSWORD)"
  metabase_password="$(secret METABASE_DB_PASSWORD)"
  analytics_password="$(secret ANALYTICS_DB_PASSWORD)"
  [ -r "$ROLES_SQL" ] || die "cannot read $ROLES_SQL (scripts/db-roles.sql)"

  # --- the app database, with the extensions only a superuser may create
  psql_su -v ON_ERROR_STOP=1 --dbname postgres <<SQL
SELECT 'CREATE DATABASE $APP_DB'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$APP_DB')
\gexec
SQL
  psql_su -v ON_ERROR_STOP=1 --dbname "$APP_DB" <<'SQL'
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SQL

  # --- estate_owner, estate_app and estate_analytics (with its grants on the `analytics`
  # schema): scripts/db-roles.sql, which takes its passwords as SQL literals in psql variables.
  # quote_literal() makes them on the server from the raw values, read with \getenv so that they
  # never appear in a process list.
  # The script's last statement fails on a fresh database (audit_log does not exist before the
  # migrations; migration 0003 then does the same REVOKE), so errors are checked here instead
  # of stopping at the first: that one is expected, any other fails the script.
  roles_log="$(
    OWNER_RAW="$owner_password" APP_RAW="$app_password" ANALYTICS_RAW="$analytics_password" \
      psql_su -v ON_ERROR_STOP=0 --dbname "$APP_DB" 2>&1 <<SQL
\getenv owner_raw OWNER_RAW
\getenv app_raw APP_RAW
\getenv analytics_raw ANALYTICS_RAW
SELECT quote_literal(:'owner_raw') AS owner_password, quote_literal(:'app_raw') AS app_password,
       quote_literal(:'analytics_raw') AS analytics_password
\gset
\unset owner_raw
\unset app_raw
\unset analytics_raw
\i '$ROLES_SQL'
SQL
  )" || die "scripts/db-roles.sql failed: $roles_log"
  unexpected="$(grep -E '(ERROR|FATAL|PANIC):' <<<"$roles_log" |
    grep -v 'relation "audit_log" does not exist' || true)"
  [ -z "$unexpected" ] || die "scripts/db-roles.sql failed: $unexpected"

  # --- Metabase's own database and role; who may connect to which database
  METABASE_RAW="$metabase_password" psql_su -v ON_ERROR_STOP=1 --dbname postgres <<SQL
\getenv metabase_raw METABASE_RAW
SELECT 'CREATE ROLE metabase' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'metabase')
\gexec
ALTER ROLE metabase WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'metabase_raw';

SELECT 'CREATE DATABASE $METABASE_DB OWNER metabase'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$METABASE_DB')
\gexec
ALTER DATABASE $METABASE_DB OWNER TO metabase;
REVOKE ALL ON DATABASE $METABASE_DB FROM PUBLIC;

-- The app database belongs to the schema owner (drizzle's migrator creates its own schema
-- there); nobody else may connect unless named here. estate_app needs TEMPORARY: ETL staging
-- is a temporary table. estate_analytics is Metabase's data source for analysts.
ALTER DATABASE $APP_DB OWNER TO estate_owner;
REVOKE ALL ON DATABASE $APP_DB FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE $APP_DB TO estate_app;
GRANT CONNECT ON DATABASE $APP_DB TO estate_analytics;
SQL

  # --- drizzle's bookkeeping, readable by the app: readiness counts applied migrations as
  # estate_app (origin/db/migrate.ts migrationStatus), and would otherwise report them pending.
  psql_su -v ON_ERROR_STOP=1 --dbname "$APP_DB" <<'SQL'
CREATE SCHEMA IF NOT EXISTS drizzle AUTHORIZATION estate_owner;
GRANT USAGE ON SCHEMA drizzle TO estate_app;
GRANT SELECT ON ALL TABLES IN SCHEMA drizzle TO estate_app;
ALTER DEFAULT PRIVILEGES FOR ROLE estate_owner IN SCHEMA drizzle GRANT SELECT ON TABLES TO estate_app;
SQL

  echo "20-estate.sh: databases $APP_DB and $METABASE_DB and their roles are ready"
)
