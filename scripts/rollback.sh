#!/usr/bin/env bash
# Go back to the image deploy.sh replaced (recorded in .deploy/previous-tag), one API replica at
# a time, without downtime:
#
#   scripts/rollback.sh          # to the previous tag
#   scripts/rollback.sh v1.3.2   # to a tag of your choosing (its image must still be on the host)
#
# No build, no migration: the schema stays where the deploy took it, which the previous release
# runs on because migrations are expand/contract (docs/database.md). A migration that cannot be
# run backwards needs the backup instead (docs/backups.md). Rolling back twice returns to where
# you started: the tags swap.
set -euo pipefail
# shellcheck source=scripts/lib-deploy.sh
source "$(dirname "$0")/lib-deploy.sh"

current=$(cat "$state_dir/current-tag" 2>/dev/null || true)
tag=${1:-$(cat "$state_dir/previous-tag" 2>/dev/null || true)}
[[ -n $tag ]] || die "no previous tag recorded in $state_dir/previous-tag (pass one)"
[[ $tag != "$current" ]] || die "$tag is the deployed tag already"
docker image inspect "estate-edge-origin:$tag" >/dev/null 2>&1 \
  || die "the image estate-edge-origin:$tag is not on this host (build it: scripts/deploy.sh $tag)"

log "rolling back from ${current:-unknown} to $tag"
for service in "${api_replicas[@]}"; do roll "$service"; done
roll backup
health
record "$current"
pin_tag
log "rolled back to $tag (again with scripts/rollback.sh returns to $current)"
