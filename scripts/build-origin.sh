#!/usr/bin/env bash
# `npm run build:origin`: the origin and its operational scripts as JavaScript under dist/, laid
# out like the repository (dist/origin, dist/contract, dist/scripts, dist/migrations), so the
# paths the code finds from import.meta.url (the migrations, the shipped sample, the viewer's and
# the docs' static files) resolve inside dist/ as they do in the sources. Run by origin/Dockerfile
# and by test/origin-build.test.ts; production runs `node dist/origin/index.js`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${ORIGIN_BUILD_DIR:-dist}

# dist/edge belongs to `npm run build:edge`: only what this script makes is replaced.
rm -rf "$out/origin" "$out/contract" "$out/scripts" "$out/migrations"
npx tsc -p tsconfig.build.json --outDir "$out"

# The files the compiled code reads next to itself (each path is read relative to its module).
cp -R migrations "$out/migrations"
mkdir -p "$out/origin/etl" "$out/origin/viewer" "$out/origin/routes/docs"
cp origin/etl/sources.json "$out/origin/etl/"
cp -R origin/etl/samples "$out/origin/etl/samples"
cp -R origin/viewer/static "$out/origin/viewer/static"
cp -R origin/routes/docs/assets "$out/origin/routes/docs/assets"
cp scripts/db-roles.sql "$out/scripts/"
