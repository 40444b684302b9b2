#!/usr/bin/env bash
# measure-podman.sh — what the Podman of start.sh podman builds, and which changes its layer
# cache survives: the measurements behind docs/podman.md. Each case builds an OLD Dockerfile,
# then a NEW one, and reads which steps of the NEW build Buildah reused (`--> Using cache`).
# Every case salts its first step, so no case reuses another's layers.
#
# Needs: start.sh podman (and images.sh podman for debian:bookworm). Scratch in a temporary
# folder, removed at the end; the images the cases build are removed too.
set -euo pipefail

# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
quarry_engine_vars podman
qe_need_root
P=$QE_PODMAN
BASE=docker.io/library/debian:bookworm
"$P" image exists "$BASE" || qe_die "no $BASE in podman: run images.sh podman"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
SALT=$(date +%s%N)
TAGS=()

echo "podman $("$P" version --format '{{.Client.Version}}'), buildah $("$P" info --format '{{.Host.BuildahVersion}}' 2>/dev/null || echo '?')"
echo

# build NAME [podman build args...]: builds $W/NAME.Dockerfile, keeps the log in $W/NAME.log.
build() {
    local name=$1
    shift
    TAGS+=("localhost/measure-$name")
    "$P" build --layers -f "$W/$name.Dockerfile" -t "localhost/measure-$name" "$@" "$W" >"$W/$name.log" 2>&1
}

# steps NAME: each step of the build (every stage) but FROM, `reused` or `ran`.
steps() {
    awk '/^(\[[0-9]+\/[0-9]+\] )?STEP [0-9]+\/[0-9]+: /{ if (s!="") print s" ran"; s=$0; sub(/^(\[[^]]*\] )?STEP [0-9]+\/[0-9]+: /,"",s); if (s ~ /^FROM /) s=""; next }
         /^--> (Pushing cache|Cache pulled from remote) /{ next }
         /^--> Using cache /{ if (s!="") print s" reused"; s=""; next }
         /^--> /{ if (s!="") print s" ran"; s="" }
         END { if (s!="") print s" ran" }' "$W/$1.log"
}

# feature NAME: whether the build of NAME.Dockerfile succeeded; the error line if not.
feature() {
    if build "$1"; then echo "$1: accepted"; else echo "$1: refused: $(grep -m1 '^Error' "$W/$1.log")"; fi
}

echo "## features"
printf 'FROM %s AS s\nRUN echo %s > /x\nFROM %s\nCOPY --link --from=s /x /x\n' "$BASE" "$SALT" "$BASE" >"$W/copy-link.Dockerfile"
feature copy-link
printf 'FROM %s\nRUN <<EOT\necho heredoc > /h\nEOT\n' "$BASE" >"$W/heredoc.Dockerfile"
feature heredoc
printf 'FROM %s AS s\nRUN echo %s > /x\nFROM %s\nCOPY --chown=1000:1000 --chmod=0750 --from=s /x /x\nRUN stat -c "%%u:%%g %%a" /x\n' \
    "$BASE" "$SALT" "$BASE" >"$W/chown-chmod.Dockerfile"
feature chown-chmod
echo "chown-chmod: /x is $(grep -m1 -E '^[0-9]+:[0-9]+ [0-7]+$' "$W/chown-chmod.log")"

# Cache mounts: an id with an ARG in it, sharing=locked; a build with id b does not see what
# id a wrote, id a sees its own again. The RUN prints what it finds.
cat >"$W/mount.Dockerfile" <<EOF
FROM $BASE
ARG CACHE_ID=default
RUN --mount=type=cache,id=m-$SALT-\${CACHE_ID},target=/c,sharing=locked echo found: \$(ls /c) && touch /c/\$CACHE_ID
EOF
for id in a b a; do
    build mount --build-arg CACHE_ID=$id --no-cache || { echo "mount: refused: $(grep -m1 '^Error' "$W/mount.log")"; break; }
    echo "mount id m-\${CACHE_ID} with CACHE_ID=$id: $(grep -m1 '^found:' "$W/mount.log")"
done
echo

# Cache rules: OLD then NEW; the NEW build's steps.
case_() { # NAME OLD-TEXT NEW-TEXT [build args of OLD] -- [build args of NEW]
    local name=$1 old=$2 new=$3
    shift 3
    local old_args=() new_args=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do old_args+=("$1"); shift; done
    [ $# -eq 0 ] || shift
    new_args=("$@")
    printf '%s' "$old" >"$W/$name-old.Dockerfile"
    printf '%s' "$new" >"$W/$name-new.Dockerfile"
    build "$name-old" "${old_args[@]}" || { echo "$name: old build failed"; tail -3 "$W/$name-old.log"; return; }
    build "$name-new" "${new_args[@]}" || { echo "$name: new build failed"; tail -3 "$W/$name-new.log"; return; }
    echo "### $name"
    steps "$name-new"
}

echo "## cache rules (the NEW build's steps)"
S="FROM $BASE AS s
RUN echo $SALT > /salt
"
case_ b-literal-mount-id \
    "${S}RUN --mount=type=cache,id=one-$SALT,target=/c echo run
" "${S}RUN --mount=type=cache,id=two-$SALT,target=/c echo run
"
case_ b-arg-cache-id \
    "${S}ARG CACHE_ID=default
RUN --mount=type=cache,id=apt-\${CACHE_ID},target=/c echo run
COPY mount.Dockerfile /copied
" "${S}ARG CACHE_ID=default
RUN --mount=type=cache,id=apt-\${CACHE_ID},target=/c echo run
COPY mount.Dockerfile /copied
" --build-arg CACHE_ID=one -- --build-arg CACHE_ID=two
case_ a-unused-arg \
    "${S}ARG UNUSED=1
RUN echo run
" "${S}ARG UNUSED=1
RUN echo run
" --build-arg UNUSED=1 -- --build-arg UNUSED=2
case_ c-env \
    "${S}ENV E=1
COPY mount.Dockerfile /copied
RUN echo run
" "${S}ENV E=2
COPY mount.Dockerfile /copied
RUN echo run
"
case_ i-sharing \
    "${S}RUN --mount=type=cache,id=sh-$SALT,target=/c,sharing=locked echo run
" "${S}RUN --mount=type=cache,id=sh-$SALT,target=/c,sharing=shared echo run
"
D="FROM $BASE AS b
ARG V=1
RUN echo $SALT-builder > /out
FROM $BASE
RUN echo $SALT-final > /final
COPY --from=b /out /out
RUN echo after
"
case_ d-copy-from-identical-bytes "$D" "$D" --build-arg V=1 -- --build-arg V=2
E="FROM $BASE AS b
RUN echo $SALT-builder > /out
FROM $BASE
"
case_ e-copy-from-after-changed-layer \
    "${E}RUN echo $SALT-one > /final
COPY --from=b /out /out
" "${E}RUN echo $SALT-two > /final
COPY --from=b /out /out
"
case_ h-swap \
    "${S}RUN echo one
RUN echo two
" "${S}RUN echo two
RUN echo one
"

printf 'FROM %s\nRUN --mount=type=cache,id=p-%s,target=/c,sharing=private true\n' "$BASE" "$SALT" >"$W/sharing-private.Dockerfile"
feature sharing-private
echo

# The registry cache: --cache-to REPO pushes every step's layer as REPO:<key>; after the
# local layers are gone, --cache-from REPO pulls them instead of running the steps. A private
# registry (bookworm's docker-registry) on loopback, in the scratch folder.
echo "## registry cache"
qe_fetch_bookworm
port=${QUARRY_MEASURE_REGISTRY_PORT:-55099}
mkdir -p "$W/registry"
printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$W/registry/storage" "$port" >"$W/registry/config.yml"
setsid "$QE_BOOKWORM/root/usr/bin/docker-registry" serve "$W/registry/config.yml" >"$W/registry/log" 2>&1 &
registry=$!
trap 'kill "$registry" 2>/dev/null || true; rm -rf "$W"' EXIT
sleep 1
printf 'FROM %s\nRUN echo %s-remote > /a\nRUN echo two > /b\n' "$BASE" "$SALT" >"$W/remote.Dockerfile"
build remote --tls-verify=false --cache-to "127.0.0.1:$port/cache"
echo "cache-to: $(grep -c '^--> Pushing cache' "$W/remote.log") steps pushed"
"$P" rmi -f localhost/measure-remote $("$P" images --format '{{.Repository}}:{{.Tag}}' | grep "^127.0.0.1:$port/") >/dev/null
build remote --tls-verify=false --cache-from "127.0.0.1:$port/cache"
echo "cache-from after the local layers were removed: $(grep -c '^--> Cache pulled from remote' "$W/remote.log") steps pulled"
steps remote
"$P" rmi -f $("$P" images --format '{{.Repository}}:{{.Tag}}' | grep "^127.0.0.1:$port/") >/dev/null 2>&1 || true
"$P" rmi -f "${TAGS[@]}" >/dev/null 2>&1 || true
