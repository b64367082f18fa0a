#!/usr/bin/env bash
# The db image's entrypoint (origin/postgres/Dockerfile): pgBackRest's off-site repository and
# backup schedule, then the official image's docker-entrypoint.sh, which does the first-time init
# and execs the server as the postgres user.
#
# repo2 (S3/R2) from the variables the backup service uses for its dumps, so one bucket and one
# key hold both: BACKUP_S3_BUCKET (unset: local repository only), BACKUP_S3_ENDPOINT,
# BACKUP_S3_REGION, BACKUP_S3_ACCESS_KEY_ID, BACKUP_S3_SECRET_ACCESS_KEY, BACKUP_S3_PREFIX.
# pgBackRest reads PGBACKREST_REPO2_* variables natively, but refuses an empty one, and compose
# passes unset optional variables as empty: hence a conf.d file written here, and only when the
# bucket is set. The file is the postgres user's alone (0600): it holds the secret key.
set -Eeuo pipefail

readonly CONF_D=/etc/pgbackrest/conf.d
readonly REPO2_CONF="$CONF_D/repo2.conf"

if [ -n "${BACKUP_S3_BUCKET:-}" ]; then
  : "${BACKUP_S3_ACCESS_KEY_ID:?estate-db-entrypoint: BACKUP_S3_BUCKET is set, BACKUP_S3_ACCESS_KEY_ID is not}"
  : "${BACKUP_S3_SECRET_ACCESS_KEY:?estate-db-entrypoint: BACKUP_S3_BUCKET is set, BACKUP_S3_SECRET_ACCESS_KEY is not}"
  endpoint="${BACKUP_S3_ENDPOINT:-s3.amazonaws.com}"
  endpoint="${endpoint#https://}"
  endpoint="${endpoint%%/*}"
  # Beside the dumps, never among them: the backup service's retention prunes only its prefix.
  prefix="${BACKUP_S3_PREFIX:-}"
  prefix="/${prefix#/}"
  prefix="${prefix%/}/pgbackrest"
  umask 077
  cat >"$REPO2_CONF.tmp" <<CONF
[global]
repo2-type=s3
repo2-path=$prefix
repo2-s3-bucket=$BACKUP_S3_BUCKET
repo2-s3-endpoint=$endpoint
repo2-s3-region=${BACKUP_S3_REGION:-auto}
repo2-s3-key=$BACKUP_S3_ACCESS_KEY_ID
repo2-s3-key-secret=$BACKUP_S3_SECRET_ACCESS_KEY
# R2 and most S3-compatible stores want path-style addresses.
repo2-s3-uri-style=path
# Off-site keeps longer than the local volume: four full backups, about a month.
repo2-retention-full-type=count
repo2-retention-full=${PGBACKREST_REPO2_RETENTION_FULL:-4}
CONF
  chown postgres:postgres "$REPO2_CONF.tmp"
  mv "$REPO2_CONF.tmp" "$REPO2_CONF"
else
  rm -f "$REPO2_CONF"
fi

# The backup schedule runs beside the server, detached. It must not be the server's child: the
# postmaster treats an unknown child exiting non-zero as a crashed backend and restarts every
# session. Detached, it is re-parented to PID 1, which compose's `init: true` makes tini, which
# reaps it. Without an init (we are PID 1 and would become the postmaster), no schedule.
if [ "${1:-}" = postgres ] && [ "${PGBACKREST_SCHEDULE:-on}" != off ]; then
  if [ "$$" -eq 1 ]; then
    echo 'estate-db-entrypoint: no init process (compose `init: true`): backup schedule not started' >&2
  else
    (setsid gosu postgres pgbackrest-schedule.sh </dev/null &)
  fi
fi

exec docker-entrypoint.sh "$@"
