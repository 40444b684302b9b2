#!/usr/bin/env bash
# measure-apt-layout.sh [REPS] — measure the two layouts of quarry's "apt group" on a real
# Docker 26 engine with the containerd image store.
#
#   L1  one `RUN apt-get install` of the sorted, de-duplicated union of all packages
#   L2  one RUN per extension, highest cache_priority first
#
# For every scenario, layout and repetition: empty the build cache of the measurement
# engine (`docker builder prune -af`, cache mounts included), build OLD, then build NEW,
# and record for NEW which steps ran / were CACHED (from --progress=rawjson), the wall
# time, the time spent in the apt RUNs, and the image size.
# Scenario S5 is the clean build (empty cache, empty cache mounts) of the baseline file.
#
# The engine is a PRIVATE instance, `26c-m` (start.sh 26c-m: same binaries and config as
# 26c, own socket/data/bridge), started here and stopped at the end
# (QUARRY_MEASURE_KEEP=1 keeps it), so pruning never touches an engine other people use.
# QUARRY_MEASURE_KIND=26c|26|20.10 measures on a shared engine instead, which this script
# then prunes: it refuses unless QUARRY_MEASURE_PRUNE_SHARED=1. (20.10 runs without
# COPY --link, which it rejects.)
#
# Output: $QUARRY_MEASURE_DIR (default /tmp/quarry-apt-layout): Dockerfiles, build logs,
# results.tsv, and a markdown summary on stdout (progress on stderr).
# QUARRY_MEASURE_RENDER_ONLY=1 only writes the Dockerfiles; QUARRY_MEASURE_SUMMARY_ONLY=1
# only prints the summary of an earlier run's results.tsv.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

REPS=${1:-2}
KIND=${QUARRY_MEASURE_KIND:-26c-m}
OUT=${QUARRY_MEASURE_DIR:-/tmp/quarry-apt-layout}
quarry_engine_vars "$KIND"
mkdir -p "$OUT"

COPY_FLAG="--link "
[ "$QE_BASE" != 20.10 ] || COPY_FLAG=""
COPY_FLAG="--link "
[ "$KIND" != 20.10 ] || COPY_FLAG=""

# ---------------------------------------------------------------- the extensions
# name:priority:packages (space separated)
BASE=("curl:90:ca-certificates curl" "git:85:git" "jq:50:jq" "tree:40:tree" "zip:30:zip unzip")
S1=("${BASE[@]}" "file:45:file")                                        # add, middle priority
S2=("${BASE[@]}" "less:10:less")                                        # add, lowest priority
S3=("curl:90:ca-certificates curl" "git:85:git" "tree:40:tree" "zip:30:zip unzip") # remove jq
S4=("curl:90:ca-certificates curl" "git:85:git" "jq:50:jq" "tree:40:tree ncdu" "zip:30:zip unzip")

apt_run() { # PACKAGES... -> one apt RUN instruction
    cat <<EOF
RUN --mount=type=cache,id=apt-cache-measure,target=/var/cache/apt,sharing=locked \\
    --mount=type=cache,id=apt-lists-measure,target=/var/lib/apt/lists,sharing=locked \\
    rm -f /etc/apt/apt.conf.d/docker-clean \\
    && apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $*
EOF
}

render() { # LAYOUT EXT... -> Dockerfile on stdout
    local layout=$1 e
    shift
    cat <<'EOF'
FROM debian:bookworm AS build-alpha
RUN mkdir -p /opt/quarry/alpha && echo alpha > /opt/quarry/alpha/README && sleep 1

FROM debian:bookworm AS build-beta
RUN mkdir -p /opt/quarry/beta && echo beta > /opt/quarry/beta/README && sleep 1

FROM debian:bookworm AS final
EOF
    # extensions sorted by priority, highest first (ties: by name)
    local sorted
    sorted=$(printf '%s\n' "$@" | sort -t: -k2,2nr -k1,1)
    if [ "$layout" = L1 ]; then
        echo "# apt group: $(printf '%s\n' "$sorted" | cut -d: -f1 | paste -sd' ')"
        # shellcheck disable=SC2046
        apt_run $(printf '%s\n' "$sorted" | cut -d: -f3 | tr ' ' '\n' | sort -u | paste -sd' ')
    else
        while IFS= read -r e; do
            echo "# extension ${e%%:*} (cache_priority $(echo "$e" | cut -d: -f2))"
            # shellcheck disable=SC2046
            apt_run $(echo "$e" | cut -d: -f3 | tr ' ' '\n' | sort -u | paste -sd' ')
        done <<<"$sorted"
    fi
    cat <<EOF
COPY ${COPY_FLAG}--from=build-alpha /opt/quarry/alpha /opt/quarry/alpha
COPY ${COPY_FLAG}--from=build-beta /opt/quarry/beta /opt/quarry/beta
RUN sleep 2 && echo 1 > /etc/quarry-setup-1
RUN sleep 2 && echo 2 > /etc/quarry-setup-2
RUN sleep 2 && echo 3 > /etc/quarry-setup-3
EOF
}

for layout in L1 L2; do
    render "$layout" "${BASE[@]}" >"$OUT/$layout-base.Dockerfile"
    render "$layout" "${S1[@]}" >"$OUT/$layout-S1.Dockerfile"
    render "$layout" "${S2[@]}" >"$OUT/$layout-S2.Dockerfile"
    render "$layout" "${S3[@]}" >"$OUT/$layout-S3.Dockerfile"
    render "$layout" "${S4[@]}" >"$OUT/$layout-S4.Dockerfile"
done
if [ -n "${QUARRY_MEASURE_RENDER_ONLY:-}" ]; then
    qe_log "Dockerfiles written to $OUT (QUARRY_MEASURE_RENDER_ONLY set: not building)"
    exit 0
fi

summary() { # results.tsv -> markdown on stdout
    echo "engine: $KIND $(qe_docker info --format '{{.ServerVersion}} {{.Driver}}' 2>/dev/null || true), raw: $RES"
    echo "NEW wall s, apt s, export s: one number per repetition; sizes and layer count from the first"
    echo
    echo "| scenario | layout | apt RUN exec/cached | setup RUN exec/cached | builder RUN exec/cached | COPY copy exec/cached | COPY link exec/cached | NEW wall s | apt RUNs s | export s | size: inspect (compressed) / uncompressed layers | layers | OLD (clean) wall s |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    tail -n +2 "$RES" | sort -t$'\t' -k1,1 -k2,2 -k3,3n | awk -F'\t' '
      function add(a, v) { return a (a == "" ? "" : ", ") v }
      { k = $1 "|" $2
        cc = $6 "/" $7 "|" $8 "/" $9 "|" $10 "/" $11 "|" $12 "/" $13 "|" $14 "/" $15
        if (!(k in cnt)) { order[++n] = k; cnt[k] = cc; size[k] = $16; layers[k] = $17; usum[k] = $18 }
        else if (cnt[k] != cc) varies[k] = " (step counts differ between reps: see results.tsv)"
        wall[k] = add(wall[k], $4); apt[k] = add(apt[k], $5); xp[k] = add(xp[k], $21)
        old[k] = add(old[k], ($19 == "" ? "-" : $19)) }
      END { for (i = 1; i <= n; i++) { k = order[i]; split(k, p, "|"); split(cnt[k], q, "|")
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f / %.1f MB | %s | %s |%s\n",
              p[1], p[2], q[1], q[2], q[3], q[4], q[5], wall[k], apt[k], xp[k],
              size[k] / 1e6, usum[k] / 1e6, layers[k], old[k], varies[k] } }'
}

RES=$OUT/results.tsv
if [ -n "${QUARRY_MEASURE_SUMMARY_ONLY:-}" ]; then
    summary
    exit 0
fi

# ---------------------------------------------------------------- the engine
if [ "$KIND" = "$QE_BASE" ] && [ -z "${QUARRY_MEASURE_PRUNE_SHARED:-}" ]; then
    qe_die "$KIND is a shared engine and this script empties its build cache;" \
        "use the default private instance (26c-m) or set QUARRY_MEASURE_PRUNE_SHARED=1"
fi
qe_need_root
"$HERE/start.sh" "$KIND" >/dev/null
"$HERE/images.sh" "$KIND" >/dev/null
if [ "$KIND" != "$QE_BASE" ] && [ -z "${QUARRY_MEASURE_KEEP:-}" ]; then
    trap '"$HERE/stop.sh" "$KIND"' EXIT
fi
quarry_engine_mirror
# bookworm's jq from the folder when the machine has none (nothing is installed).
if ! command -v jq >/dev/null; then
    qe_fetch_bookworm
    jq() { qe_pkg "$QE_BOOKWORM/root/usr/bin/jq" "$@"; }
fi

# ---------------------------------------------------------------- building and counting
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

reset_cache() {
    qe_docker image rm -f quarry-measure:old quarry-measure:new >/dev/null 2>&1 || true
    # DOCKER_HOST is set explicitly by qe_docker: this only ever prunes OUR engine.
    qe_docker builder prune -af >/dev/null
}

build() { # DOCKERFILE TAG LOG -> prints wall seconds; fails if the build fails
    local ctx t0 t1 rc=0
    ctx=$(mktemp -d)
    cp "$1" "$ctx/Dockerfile"
    t0=$(now)
    # buildx for every kind (start.sh installs it for 20.10 too): only it prints rawjson.
    qe_docker buildx build --load --progress=rawjson --add-host "$QE_ADD_HOST" \
        -t "$2" "$ctx" >"$3" 2>&1 || rc=$?
    t1=$(now)
    rm -rf "$ctx"
    if [ "$rc" != 0 ]; then
        qe_log "build of $1 failed: $(jq -r '.logs // [] | .[] | .data | @base64d' "$3" 2>/dev/null |
            grep -m1 -E 'connect to|Could not|Temporary failure' || tail -n 1 "$3")"
        return 1
    fi
    elapsed "$t0" "$t1"
}

# counts LOG -> "apt_exec apt_cached setup_exec setup_cached builder_exec builder_cached
#                copy_exec copy_cached link_exec link_cached apt_secs export_secs"
# (apt_secs: time spent in the apt RUNs that ran; export_secs: the "exporting to image"
# step, which compresses the new layers for the containerd store)
# From the rawjson stream: the last state of every vertex, classified by its name
# ("[final 3/9] RUN ...", "[final  8/12] ..." is padded when there are 10+ steps,
# "[final 8/9] LINK COPY --link ..." is the merge half of a
# COPY --link on the containerd store, "[final 8/9] COPY ..." the copy half).
counts() {
    jq -rs '
      [ .[] | .vertexes // [] | .[] ] | group_by(.digest)
      | map(reduce .[] as $v ({}; . + ($v | with_entries(select(.value != null)))))
      | .[] | select(.name | test("^\\[[^ ]+ +[0-9]+/[0-9]+\\] |^exporting to image"))
      | (.name | capture("^\\[(?<stage>[^ ]+) +[0-9]+/[0-9]+\\] (?<rest>.*)$")
         // {stage: "", rest: .}) as $n
      | (if   ($n.rest | startswith("exporting to image")) then "export"
         elif ($n.rest | startswith("LINK COPY")) then "link"
         elif ($n.rest | startswith("COPY")) then "copy"
         elif ($n.rest | startswith("RUN")) and $n.stage != "final" then "builder"
         elif ($n.rest | startswith("RUN")) and ($n.rest | test("apt-get install")) then "apt"
         elif ($n.rest | startswith("RUN")) then "setup"
         else "other" end) as $kind
      | [$kind, (if .cached then "cached" else "exec" end),
         (.started // "" | sub("^.*T"; "") | sub("Z$"; "")),
         (.completed // "" | sub("^.*T"; "") | sub("Z$"; ""))] | @tsv' "$1" |
        awk -F'\t' '
          function secs(t,  a) { split(t, a, ":"); return a[1]*3600 + a[2]*60 + a[3] }
          { n[$1 "_" $2]++
            if ($2 == "exec" && $3 != "" && $4 != "") {
              d = secs($4) - secs($3); if (d < 0) d += 86400; t[$1] += d } }
          END { printf "%d %d %d %d %d %d %d %d %d %d %.1f %.1f\n",
                n["apt_exec"], n["apt_cached"], n["setup_exec"], n["setup_cached"],
                n["builder_exec"], n["builder_cached"], n["copy_exec"], n["copy_cached"],
                n["link_exec"], n["link_cached"], t["apt"], t["export"] }'
}

image_size() { # TAG -> "inspect_size_bytes layers uncompressed_sum_bytes"
    local size layers sum
    size=$(qe_docker image inspect -f '{{.Size}}' "$1")
    layers=$(qe_docker image inspect -f '{{len .RootFS.Layers}}' "$1")
    sum=$(qe_docker history --human=false --format '{{.Size}}' "$1" | awk '{s+=$1} END{print s+0}')
    echo "$size $layers $sum"
}

printf 'scenario\tlayout\trep\twall_s\tapt_s\tapt_exec\tapt_cached\tsetup_exec\tsetup_cached\tbuilder_exec\tbuilder_cached\tcopy_exec\tcopy_cached\tlink_exec\tlink_cached\timage_size\tlayers\tlayer_sum\told_wall_s\tretries\texport_s\n' >"$RES"

record() { # SCENARIO LAYOUT REP WALL LOG TAG OLD_WALL
    local c s
    read -r -a c <<<"$(counts "$5")"
    read -r -a s <<<"$(image_size "$6")"
    local retries
    retries=$(cat "$5.retries" 2>/dev/null || echo 0)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$1" "$2" "$3" "$4" "${c[10]}" "${c[0]}" "${c[1]}" "${c[2]}" "${c[3]}" "${c[4]}" \
        "${c[5]}" "${c[6]}" "${c[7]}" "${c[8]}" "${c[9]}" "${s[0]}" "${s[1]}" "${s[2]}" "$7" \
        "$retries" "${c[11]}" >>"$RES"
    qe_log "$1 $2 rep $3: ${4}s (apt RUNs ${c[10]}s, export ${c[11]}s) apt exec/cached ${c[0]}/${c[1]}," \
        "setup ${c[2]}/${c[3]}, builder ${c[4]}/${c[5]}, copy ${c[6]}/${c[7]}, link ${c[8]}/${c[9]}," \
        "size ${s[0]} (${s[1]} layers), failed attempts $retries"
}

# measure SCENARIO LAYOUT REP: prune, build OLD (not for S5), build NEW, record NEW.
# The mirror here sometimes refuses connections for a few seconds ("Unable to connect to
# deb.debian.org:80"). A failed build may leave some of its steps in the cache, so the
# whole measurement (prune, OLD, NEW) is repeated, up to 4 times, 30 s apart; the number
# of failed attempts goes into the retries column.
measure() {
    local sc=$1 layout=$2 rep=$3 attempt old wall
    local log=$OUT/$sc-$layout-$rep.json
    for attempt in 1 2 3 4; do
        reset_cache
        old=""
        if [ "$sc" != S5 ]; then
            old=$(build "$OUT/$layout-base.Dockerfile" quarry-measure:old "$OUT/$sc-$layout-$rep-old.json") ||
                { sleep 30; continue; }
            wall=$(build "$OUT/$layout-$sc.Dockerfile" quarry-measure:new "$log") ||
                { sleep 30; continue; }
        else
            wall=$(build "$OUT/$layout-base.Dockerfile" quarry-measure:new "$log") ||
                { sleep 30; continue; }
        fi
        echo $((attempt - 1)) >"$log.retries"
        record "$sc" "$layout" "$rep" "$wall" "$log" quarry-measure:new "$old"
        return 0
    done
    qe_die "$sc $layout rep $rep failed 4 times; see $log"
}

for rep in $(seq 1 "$REPS"); do
    for sc in S1 S2 S3 S4 S5; do
        for layout in L1 L2; do
            measure "$sc" "$layout" "$rep"
        done
    done
done

# layer sizes of the baseline images, for the record
for layout in L1 L2; do
    reset_cache
    build "$OUT/$layout-base.Dockerfile" "quarry-measure:$layout" "$OUT/history-$layout.json" >/dev/null ||
        build "$OUT/$layout-base.Dockerfile" "quarry-measure:$layout" "$OUT/history-$layout.json" >/dev/null
    qe_docker history --format '{{.Size}}\t{{.CreatedBy}}' "quarry-measure:$layout" |
        cut -c1-120 >"$OUT/history-$layout.txt"
done
reset_cache
qe_docker image rm -f quarry-measure:L1 quarry-measure:L2 >/dev/null 2>&1 || true

# ---------------------------------------------------------------- summary (stdout)
summary
