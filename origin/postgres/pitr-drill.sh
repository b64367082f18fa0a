#!/usr/bin/env bash
# The point-in-time recovery drill: restore the stanza from its repository into a scratch data
# directory, start it on a private socket, wait for recovery to finish, run a check query, stop
# it and delete it. Prints one JSON line: what was restored and how long each step took (the
# RTO, measured). Exits non-zero when any step or the check fails.
#
#   pitr-drill.sh                         # the latest state (all archived WAL)
#   pitr-drill.sh '2026-12-07 20:54:04+00'  # a point in time
#
# Run weekly by pgbackrest-schedule.sh in the db container, as the postgres user; by hand:
#   docker compose exec -u postgres db pitr-drill.sh
# The restored copy never archives (--archive-mode=off): its WAL must not enter the repository
# the live server archives to. It needs free space for a copy of the cluster in PITR_DRILL_DIR.
set -Eeuo pipefail

readonly STANZA="${PGBACKREST_STANZA:-estate}"
readonly TARGET="${1:-}"
readonly DRILL_PARENT="${PITR_DRILL_DIR:-/var/lib/postgresql}"
readonly PORT="${PITR_DRILL_PORT:-5433}"
readonly DATABASE="${PITR_DRILL_DATABASE:-estate}"
# The app's main table exists and answers: a restore of the wrong thing, or one that stopped
# before the schema, fails here.
readonly CHECK_SQL="${PITR_DRILL_CHECK_SQL:-SELECT count(*) FROM listings}"
readonly RECOVERY_TIMEOUT="${PITR_DRILL_RECOVERY_TIMEOUT:-3600}"

scratch="$(mktemp -d "$DRILL_PARENT/pitr-drill.XXXXXX")"
data="$scratch/data"
started=0
cleanup() {
  if [ "$started" = 1 ]; then pg_ctl -D "$data" -m immediate -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

ms() { date +%s%3N; }
fail() {
  printf '{"ok":false,"step":"%s","finishedAt":%s}\n' "$1" "$(date +%s)"
  [ -f "$scratch/log" ] && tail -n 20 "$scratch/log" >&2
  exit 1
}

t0=$(ms)
# A time target stops there and promotes; without one, recovery replays all archived WAL.
target_args=()
[ -n "$TARGET" ] && target_args=(--type=time "--target=$TARGET" --target-action=promote)
mkdir -m 0700 "$data"
pgbackrest --stanza="$STANZA" restore --pg1-path="$data" --archive-mode=off \
  "${target_args[@]}" >&2 || fail restore
t1=$(ms)

# Its own socket, no TCP, a small memory footprint: it runs next to the live server. No hot
# standby: pg_ctl then waits for the end of recovery, and the check never sees a half-replayed
# state.
pg_ctl -D "$data" -l "$scratch/log" -w -t "$RECOVERY_TIMEOUT" -o "-c port=$PORT -c listen_addresses='' \
  -c unix_socket_directories='$scratch' -c shared_buffers=128MB -c archive_mode=off \
  -c hot_standby=off" start >/dev/null || fail start
started=1
psql_drill() { psql -X -q -At -h "$scratch" -p "$PORT" -U postgres "$@"; }
deadline=$(($(date +%s) + RECOVERY_TIMEOUT))
until [ "$(psql_drill -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail recovery
  sleep 0.2
done
t2=$(ms)

check="$(psql_drill -v ON_ERROR_STOP=1 -d "$DATABASE" -c "$CHECK_SQL")" || fail check
# The last transaction recovery replayed: how far back this restore reaches.
replayed="$(grep -o 'last completed transaction was at log time [^ ]* [^ ]*' "$scratch/log" |
  tail -n 1 | sed 's/.*log time //')" || true

printf '{"ok":true,"target":"%s","lastReplayed":"%s","check":%s,"restoreMs":%s,"recoveryMs":%s,"totalMs":%s,"finishedAt":%s}\n' \
  "${TARGET:-latest}" "$replayed" "$(jq -Rn --arg c "$check" '$c')" "$((t1 - t0))" "$((t2 - t1))" \
  "$((t2 - t0))" "$(date +%s)"
