# Shared by scripts/deploy.sh and scripts/rollback.sh (sourced, not run).
#
# DEPLOY_COMPOSE_DIR  where origin/compose.yaml and its .env are (default: origin/)
# DEPLOY_STATE_DIR    where the deployed tags are recorded (default: .deploy/ at the repository root)
# DEPLOY_WAIT_SECONDS how long a replica may take to become healthy (default 180)

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
compose_dir=${DEPLOY_COMPOSE_DIR:-$repo_root/origin}
state_dir=${DEPLOY_STATE_DIR:-$repo_root/.deploy}
wait_seconds=${DEPLOY_WAIT_SECONDS:-180}
# The API replicas, rolled in this order, one at a time; the tunnel connectors likewise.
api_replicas=(api api-2)
tunnel_replicas=(cloudflared cloudflared-2)

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# docker compose in the stack's directory, with the image tag being deployed.
dc() { (cd "$compose_dir" && ORIGIN_IMAGE_TAG="$tag" docker compose "$@"); }

# Replace one replica and wait until its healthcheck passes; the other keeps serving meanwhile.
# --no-deps: only this service is recreated (never the database, never the other replica).
roll() {
  log "replacing $1 with $tag"
  dc up -d --no-deps --wait --wait-timeout "$wait_seconds" "$1" || die "$1 did not become healthy on $tag"
}

# Readiness of every API replica, asked inside each container (no port is published).
health() {
  local service
  for service in "${api_replicas[@]}"; do
    dc exec -T "$service" node -e \
      "fetch('http://127.0.0.1:8080/health/ready',{signal:AbortSignal.timeout(10000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" \
      || die "$service is not ready on $tag"
  done
  log "healthy: ${api_replicas[*]} on $tag"
}

# Make $tag the one plain `docker compose` commands use too (origin/.env's ORIGIN_IMAGE_TAG), so a
# later `up -d` or a reboot does not bring back another image.
pin_tag() {
  local env_file=$compose_dir/.env
  if [[ -f $env_file ]] && grep -q '^ORIGIN_IMAGE_TAG=' "$env_file"; then
    sed -i.bak "s|^ORIGIN_IMAGE_TAG=.*|ORIGIN_IMAGE_TAG=$tag|" "$env_file" && rm -f "$env_file.bak"
  else
    printf 'ORIGIN_IMAGE_TAG=%s\n' "$tag" >>"$env_file"
  fi
}

# Record what is deployed now and what was before (rollback.sh goes back to the latter).
record() {
  mkdir -p "$state_dir"
  printf '%s\n' "$1" >"$state_dir/previous-tag"
  printf '%s\n' "$tag" >"$state_dir/current-tag"
  printf '%s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(basename "$0" .sh)" "$tag" >>"$state_dir/history"
}
