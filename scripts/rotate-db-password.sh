#!/usr/bin/env bash
# Change one database role's password on the running db service, without restarting PostgreSQL.
#
#   cd origin
#   NEW_PASSWORD=$(openssl rand -hex 32) ../scripts/rotate-db-password.sh estate_app
#
# The whole procedure, and which services to recreate after it for each role, is in
# docs/operations.md ("Rotating secrets"). In short: write the new value into origin/.env, run
# this, then recreate (`docker compose up -d --no-deps <service>`) what connects as the role.
# Connections already open stay open (PostgreSQL checks a password only when a session starts),
# so the only failures are new connections of the old containers in between.
#
# The password comes from NEW_PASSWORD, never from the command line (a process list shows
# arguments). It reaches psql on its standard input, and the session turns statement logging
# off first, so it appears in no log; the server stores only its SCRAM-SHA-256 verifier
# (password_encryption, postgres/postgresql.conf).
#
# ESTATE_PSQL: the command that runs psql as the superuser, reading SQL from stdin. Default: the
# compose db service, `docker compose exec -T db psql -X -q -U postgres -d postgres`.
# (test/rotate-db-password.test.ts runs it against a scratch cluster with a scratch role.)
#
# Exit code: 0 changed, 1 refused or failed, 2 usage.
set -Eeuo pipefail

die() {
  echo "rotate-db-password: $*" >&2
  exit "${2:-1}"
}

[ "$#" -eq 1 ] || die 'usage: NEW_PASSWORD=<openssl rand -hex 32> rotate-db-password.sh ROLE' 2
role="$1"
# A plain identifier: it is quoted into the SQL below.
[[ "$role" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "ROLE: not a role name: $role" 2
password="${NEW_PASSWORD:-}"
[ -n "$password" ] || die 'NEW_PASSWORD is empty: set it to the new value (openssl rand -hex 32)' 2
# Letters and digits only: the compose file embeds these passwords in postgres:// URLs, where
# anything else would need escaping; and it can then be written into the SQL text as is.
[[ "$password" =~ ^[A-Za-z0-9]{32,}$ ]] ||
  die 'NEW_PASSWORD: use letters and digits only, at least 32 (openssl rand -hex 32)' 2

read -r -a psql <<<"${ESTATE_PSQL:-docker compose exec -T db psql -X -q -U postgres -d postgres}"

# Turned off for this session only (superuser settings): a slow or failing statement would
# otherwise be logged with its text, the password in it.
if ! output="$(
  "${psql[@]}" -v ON_ERROR_STOP=1 2>&1 <<SQL
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_error_statement = 'panic';
SET client_min_messages = 'warning';
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role' AND rolcanlogin) THEN
    RAISE EXCEPTION 'no login role named $role';
  END IF;
END
\$\$;
ALTER ROLE "$role" PASSWORD '$password';
SQL
)"; then
  die "the password of $role was not changed: ${output//$password/<NEW_PASSWORD>}"
fi

echo "rotate-db-password: $role has its new password; existing connections are unaffected."
case "$role" in
postgres) echo 'next: docker compose up -d --no-deps backup' ;;
estate_owner) echo 'next: docker compose up -d --no-deps backup (migrate picks it up on its next run)' ;;
estate_app) echo 'next: docker compose up -d --no-deps api (one replica at a time when scaled)' ;;
metabase) echo 'next: docker compose up -d --no-deps metabase backup' ;;
estate_analytics) echo 'next: METABASE_UPDATE_DATABASE=true npm run metabase:setup (docs/analytics.md)' ;;
*) ;;
esac
