#!/usr/bin/env bash
# Bring a fresh Debian machine to what the test suite needs, doing only what is missing:
# PostGIS for the local PostgreSQL, PostgreSQL and Redis running, npm packages installed.
# Idempotent: on a machine that has everything it only checks. Run first by .ci/run,
# `npm run bench` and `npm run test:reliability`, so each works from a clean clone.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

pg_major() {
  if [ -d /etc/postgresql ]; then ls /etc/postgresql | sort -n | tail -1; else echo 15; fi
}

# --- PostgreSQL with PostGIS
major=$(pg_major)
if ! ls /usr/share/postgresql/"$major"/extension/postgis.control >/dev/null 2>&1; then
  say "installing PostGIS for PostgreSQL $major from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$major-postgis-3" >/dev/null
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  say "starting PostgreSQL $major"
  as_root pg_ctlcluster --skip-systemctl-redirect "$major" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

# --- Chromium for the map viewer's browser test (Debian's build; playwright-core drives it)
if ! command -v chromium >/dev/null 2>&1; then
  say "installing Chromium from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# --- age, for the encrypted-backup tests (gpg is part of Debian's base system)
if ! command -v age >/dev/null 2>&1; then
  say "installing age from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq age >/dev/null
fi

# --- pgBackRest, for the point-in-time recovery test (test/pitr.test.ts)
if ! command -v pgbackrest >/dev/null 2>&1; then
  say "installing pgBackRest from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbackrest >/dev/null
fi

# --- GDAL's ogr2ogr, the peer the ETL benchmark measures itself against (bench/etl/ogr2ogr.ts)
if ! command -v ogr2ogr >/dev/null 2>&1; then
  say "installing gdal-bin from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gdal-bin >/dev/null
fi

# --- Redis (the rate limiter and health history use it from the next issues on)
if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  say "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi

# --- npm packages (exactly the lockfile's)
if [ "${CI:-}" = "true" ] || [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "ready"
