#!/usr/bin/env bash
# smoke.sh KIND — check that a started engine (start.sh + images.sh) really builds:
# a BuildKit build FROM debian:bookworm that runs `apt-get install jq` through the Debian
# mirror (--add-host) with apt cache mounts, then `docker run ... jq --version`.
# The RUN is forced to execute by a fresh build arg (not --no-cache: that also starts the
# cache mounts empty); from the second run on apt finds the .debs in the cache mount
# ("Need to get 0 B/...").
# 20.10 is driven with its own client (DOCKER_BUILDKIT=1 docker build, bookworm's client from
# $QUARRY_ENGINE_CACHE/pkg), 26/26c with
# `docker buildx build --load`.
set -euo pipefail

# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

KIND=${1:-}
quarry_engine_vars "$KIND" || { echo "usage: $0 26c|26|20.10[-NAME]" >&2; exit 2; }
quarry_engine_mirror
qe_docker info >/dev/null 2>&1 || qe_die "engine $KIND is not running; run start.sh $KIND first"
qe_docker image inspect debian:bookworm >/dev/null 2>&1 || qe_die "no debian:bookworm; run images.sh $KIND"

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cat >"$ctx/Dockerfile" <<'EOF'
FROM debian:bookworm
RUN rm -f /etc/apt/apt.conf.d/docker-clean
ARG SMOKE_RUN
RUN --mount=type=cache,id=apt-cache-smoke,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=apt-lists-smoke,target=/var/lib/apt/lists,sharing=locked \
    echo "smoke run $SMOKE_RUN" && apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends jq
EOF

T0=$(date +%s.%N)
if [ "$QE_BASE" = 20.10 ]; then
    build=(env DOCKER_BUILDKIT=1 DOCKER_HOST="$QE_HOST" "$QE_DOCKER" build)
else
    build=(env DOCKER_HOST="$QE_HOST" DOCKER_CONFIG="$QE_CONFIG" "$QE_DOCKER" buildx build --load)
fi
if ! "${build[@]}" --build-arg "SMOKE_RUN=$(date +%s%N)" --progress=plain --add-host "$QE_ADD_HOST" \
    -t quarry-test/smoke-jq:latest "$ctx" >"$ctx/build.log" 2>&1; then
    tail -n 40 "$ctx/build.log" >&2
    qe_die "smoke build failed"
fi
secs=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
grep -E 'Need to get|Fetched' "$ctx/build.log" | sed 's/^#[0-9]* [0-9.]* /  apt: /' >&2 || true
version=$(qe_docker run --rm quarry-test/smoke-jq:latest jq --version)
qe_log "OK: built in $secs s; docker run ... jq --version -> $version"
