#!/usr/bin/env bash
# Upgrade the origin without downtime, with a way back (docs/operations.md, "Upgrades and
# rollbacks"). On the host, from a checkout of the release:
#
#   scripts/deploy.sh            # tag: `git describe --tags --always --dirty`
#   scripts/deploy.sh v1.4.0     # or an explicit tag
#
# 1. a backup, taken by the running backup service, before anything changes;
# 2. the image built under a tag of its own (never overwriting the running one);
# 3. the migrations, with the new image, once (they must be backward compatible: the old API
#    keeps serving on the new schema until it is replaced; docs/database.md, expand/contract);
# 4. the API replicas replaced one at a time, each healthy before the next (cloudflared sends
#    requests to whichever answers), then the backup service and the tunnel connectors one at a
#    time, then whatever else changed (`up -d` recreates only services whose definition changed);
# 5. readiness of every replica, then the tags recorded for scripts/rollback.sh and pinned in
#    origin/.env.
#
# Any failing step stops the deploy; until step 4 nothing serving has changed.
set -euo pipefail
# shellcheck source=scripts/lib-deploy.sh
source "$(dirname "$0")/lib-deploy.sh"

tag=${1:-${ORIGIN_IMAGE_TAG_OVERRIDE:-$(git -C "$repo_root" describe --tags --always --dirty)}}
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "'$tag' is not a valid image tag"
[[ $tag != latest ]] || die "never deploy 'latest': a rollback needs tags that stay put"
previous=$(cat "$state_dir/current-tag" 2>/dev/null || true)
[[ $previous != "$tag" ]] || die "$tag is deployed already; tag the change (or pass a new tag)"

log "deploying $tag (running: ${previous:-unknown})"
dc config --quiet || die "origin/compose.yaml or origin/.env is invalid"

# 1. Backup first, by the backup service that is running (the deployed image, its paths).
if [[ -n $(dc ps --quiet --status running backup) ]]; then
  log "backing up before the upgrade"
  dc exec -T backup node dist/scripts/backup.js run || die "the backup failed; nothing was changed"
elif [[ ${DEPLOY_SKIP_BACKUP:-} == yes ]]; then
  log "no backup service running; DEPLOY_SKIP_BACKUP=yes (a first install): no backup"
else
  die "no backup service is running to back up first (a first install: DEPLOY_SKIP_BACKUP=yes)"
fi

# 2. Build: one image for api, api-2, migrate and backup, under the new tag.
log "building estate-edge-origin:$tag"
dc build api || die "the build failed; nothing was changed"

# 3. Migrate with the new image, while the old API still serves.
log "migrating"
dc run --rm migrate || die "the migrations failed; the old API still serves (restore: docs/backups.md)"

# 4. Roll.
for service in "${api_replicas[@]}"; do roll "$service"; done
roll backup
for service in "${tunnel_replicas[@]}"; do roll "$service"; done
log "applying the rest of the configuration"
dc up -d --wait --wait-timeout "$wait_seconds" || die "a service did not come up healthy"

# 5. Check, record, pin.
health
record "$previous"
pin_tag
log "deployed $tag (roll back with scripts/rollback.sh, to ${previous:-nothing recorded})"
