#!/usr/bin/env bash
# pgBackRest's schedule in the db container, started detached by estate-db-entrypoint.sh as the
# postgres user: the stanza once, then every PGBACKREST_CHECK_SECONDS a full backup when the last
# is PGBACKREST_FULL_EVERY_DAYS old, else a differential when the newest backup is
# PGBACKREST_DIFF_EVERY_HOURS old, and the PITR drill (pitr-drill.sh) when the last one is
# PITR_DRILL_EVERY_DAYS old. "When due" rather than at a clock time: a host that was down at
# 02:00 still gets its backup. Each backup ends with pgBackRest's expire, which prunes both
# repositories by their retention (pgbackrest.conf). Everything logs to stderr, that is to
# `docker compose logs db`.
set -uo pipefail

readonly STANZA="${PGBACKREST_STANZA:-estate}"
readonly FULL_DAYS="${PGBACKREST_FULL_EVERY_DAYS:-7}"
readonly DIFF_HOURS="${PGBACKREST_DIFF_EVERY_HOURS:-24}"
readonly DRILL_DAYS="${PITR_DRILL_EVERY_DAYS:-7}"
readonly CHECK_SECONDS="${PGBACKREST_CHECK_SECONDS:-600}"
readonly DRILL_STAMP="${PITR_DRILL_STAMP:-/var/lib/pgbackrest/pitr-drill.json}"

log() { printf '%s pgbackrest-schedule: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

# Over TCP: during the first-time init the server listens on its socket only, and the stanza
# must be created against the server that stays.
until pg_isready -q -h 127.0.0.1 -p "${PGPORT:-5432}"; do sleep 5; done

# Idempotent: succeeds on an existing stanza that matches this cluster.
until pgbackrest --stanza="$STANZA" stanza-create; do
  log "stanza-create failed; retrying in 60 s"
  sleep 60
done

# Newest stop time (epoch seconds) of the backups matching the jq filter, 0 when none.
newest() {
  pgbackrest --stanza="$STANZA" info --output=json |
    jq "[.[0].backup[]? | select($1) | .timestamp.stop] | max // 0"
}

while true; do
  now=$(date +%s)
  if last_full=$(newest '.type == "full"') && last_any=$(newest 'true'); then
    if [ $((now - last_full)) -ge $((FULL_DAYS * 86400)) ]; then
      log "full backup"
      pgbackrest --stanza="$STANZA" backup --type=full || log "full backup FAILED"
    elif [ $((now - last_any)) -ge $((DIFF_HOURS * 3600)) ]; then
      log "differential backup"
      pgbackrest --stanza="$STANZA" backup --type=diff || log "differential backup FAILED"
    fi
  else
    log "pgbackrest info failed"
  fi
  last_drill=$(jq '.finishedAt // 0' "$DRILL_STAMP" 2>/dev/null || echo 0)
  if [ "$DRILL_DAYS" != 0 ] && [ $((now - last_drill)) -ge $((DRILL_DAYS * 86400)) ]; then
    log "PITR drill"
    if pitr-drill.sh >"$DRILL_STAMP.tmp"; then
      mv "$DRILL_STAMP.tmp" "$DRILL_STAMP"
      log "PITR drill ok: $(cat "$DRILL_STAMP")"
    else
      log "PITR drill FAILED: $(cat "$DRILL_STAMP.tmp")"
      # Try again at the next round only after a day, not every CHECK_SECONDS.
      printf '{"ok":false,"finishedAt":%s}\n' "$((now - (DRILL_DAYS - 1) * 86400))" >"$DRILL_STAMP"
    fi
  fi
  sleep "$CHECK_SECONDS"
done
