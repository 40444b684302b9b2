#!/usr/bin/env bash
# start.sh KIND — start a private Docker engine for quarry's build tests (as root).
#
#   KIND = 26c    Docker 26.1.5 + buildx 0.13.1 (Debian trixie packages), containerd image store
#          26     the same binaries, classic (overlay2) image store
#          20.10  Debian bookworm's docker.io 20.10.24, as a separate daemon
# Installs nothing into the system: the Debian packages are downloaded and unpacked into
# $QUARRY_ENGINE_CACHE/pkg/ (see lib.sh, qe_fetch). Every kind gets the buildx plugin in its
# own DOCKER_CONFIG folder.
#
# Each kind has its own socket $QE_RUN/KIND.sock, data root, exec root, pidfile, log
# ($QUARRY_ENGINE_CACHE/engines/KIND/dockerd.log) and bridge (qbr26c/qbr26/qbr2010 on
# 172.31.252/251/250.1/24), so the three can run side by side. Idempotent: if the daemon
# is already up it only prints the two lines below.
#
# stdout: exactly two lines, last:   DOCKER_HOST=unix:///run/quarry-engine/KIND.sock
#                                    DOCKER_CONFIG=/var/cache/quarry-engine/engines/KIND/docker-config
# Everything else goes to stderr.
set -euo pipefail
exec 3>&1 1>&2 # progress to stderr; fd 3 is the caller's stdout

# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

KIND=${1:-}
# Podman has no daemon of its own to start: podman.sh sets it up.
[ "$KIND" != podman ] || exec bash "$QE_LIB_DIR/podman.sh" start podman >&3
quarry_engine_vars "$KIND" || { echo "usage: $0 26c|26|20.10[-NAME]|podman" >&2; exit 2; }
qe_need_root
T0=$(date +%s.%N)

emit() {
    printf 'DOCKER_HOST=%s\nDOCKER_CONFIG=%s\n' "$QE_HOST" "$QE_CONFIG" >&3
}

# ---------------------------------------------------------------- binaries
# Downloaded once into the folder; a second run is instant. 20.10 needs trixie's set too,
# for its buildx plugin (see below).
qe_fetch_bookworm
qe_fetch_trixie
B=$QE_BOOKWORM/root
T=$QE_TRIXIE/root
case "$QE_BASE" in
    26 | 26c)
        DOCKERD=$T/usr/sbin/dockerd
        # trixie's containerd and docker-init first; bookworm's runc.
        DPATH=$T/usr/bin:$T/usr/sbin:$T/usr/libexec/docker:$B/usr/bin:$B/usr/sbin:$PATH
        ;;
    20.10)
        DOCKERD=$B/usr/sbin/dockerd
        DPATH=$B/usr/bin:$B/usr/sbin:$PATH
        ;;
esac

# ---------------------------------------------------------------- config
mkdir -p "$QE_DIR" "$QE_DATA_ROOT" "$QE_RUN" "$QE_EXEC_ROOT" "$QE_CONFIG"
case "$QE_BASE" in
    26c) echo '{"features":{"containerd-snapshotter":true}}' >"$QE_DAEMON_JSON.tmp" ;;
    26) echo '{}' >"$QE_DAEMON_JSON.tmp" ;;
    # 20.10 writes a trust key, by default to /etc/docker/key.json (a key of the config file
    # only, no flag).
    20.10) printf '{"deprecated-key-path":"%s"}\n' "$QE_DIR/key.json" >"$QE_DAEMON_JSON.tmp" ;;
esac
mv "$QE_DAEMON_JSON.tmp" "$QE_DAEMON_JSON"
# buildx 0.13.1 for every kind. With 20.10 it drives the daemon's own BuildKit 0.8 and
# Dockerfile frontend (COPY --link is still rejected), and it is what lets a 23+ client
# (the machines have 28.x) run `docker build` with BuildKit at all: without it that client
# fails with "BuildKit is enabled but the buildx component is missing or broken".
# The 20.10 client (pkg/bookworm/root/usr/bin/docker, DOCKER_BUILDKIT=1) works too and needs
# no plugin.
mkdir -p "$QE_CONFIG/cli-plugins"
install -m 755 "$QE_TRIXIE/root/usr/libexec/docker/cli-plugins/docker-buildx" \
    "$QE_CONFIG/cli-plugins/docker-buildx"
[ -f "$QE_CONFIG/config.json" ] || echo '{}' >"$QE_CONFIG/config.json"

# ---------------------------------------------------------------- already running?
if pid=$(qe_daemon_pid); then
    if qe_docker info >/dev/null 2>&1; then
        qe_log "already running (pid $pid)"
        emit
        exit 0
    fi
    qe_die "dockerd pid $pid is running but $QE_SOCK does not answer; run stop.sh $KIND first"
fi

# ---------------------------------------------------------------- network
if [ -n "$QE_NET" ] && [ "$KIND" != "$QE_BASE" ] &&
    ip -4 -o addr show | grep " inet 172\.31\.$QE_NET\." | grep -qv "^[0-9]*: $QE_BRIDGE "; then
    # The subnet this instance had is taken by another interface now: pick another.
    rm -f "$QE_DIR/net"
    QE_NET=
fi
if [ -z "$QE_NET" ]; then # an instance (26c-NAME) started for the first time
    for n in $(seq 200 247); do
        if ! ip -4 -o addr show | grep -q " inet 172\.31\.$n\." &&
            ! grep -qx "$n" "$QUARRY_ENGINE_CACHE"/engines/*/net 2>/dev/null; then
            echo "$n" >"$QE_DIR/net"
            break
        fi
    done
    quarry_engine_vars "$KIND"
    [ -n "$QE_NET" ] || qe_die "no free subnet in 172.31.200-247.0/24"
fi
qe_net_up

# ---------------------------------------------------------------- start
qe_log "starting $DOCKERD (log: $QE_LOG)"
{
    echo
    echo "==== $(date -Is) start.sh $KIND"
} >>"$QE_LOG"
PATH=$DPATH setsid "$DOCKERD" \
    --config-file "$QE_DAEMON_JSON" \
    --host "$QE_HOST" \
    --data-root "$QE_DATA_ROOT" \
    --exec-root "$QE_EXEC_ROOT" \
    --pidfile "$QE_PIDFILE" \
    --bridge "$QE_BRIDGE" \
    --iptables=false \
    --cgroup-parent "$QE_CGROUP" \
    </dev/null >>"$QE_LOG" 2>&1 3>&- &
# (3>&-: the daemon must not keep the caller's stdout open, or `$(start.sh 26c)` hangs)
child=$!
# stop.sh finds the daemon by this too, should start.sh be stopped before dockerd wrote its
# pidfile.
echo "$child" >"$QE_RUN/$KIND.launched"

deadline=$(($(date +%s) + ${QUARRY_ENGINE_START_TIMEOUT:-60}))
until qe_docker info >/dev/null 2>&1; do
    if ! qe_alive "$child"; then
        qe_log "dockerd exited; last lines of $QE_LOG:"
        tail -n 40 "$QE_LOG" >&2
        exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        qe_log "dockerd did not answer within ${QUARRY_ENGINE_START_TIMEOUT:-60}s; last lines of $QE_LOG:"
        tail -n 40 "$QE_LOG" >&2
        qe_log "it may still be starting: stop.sh $KIND stops it"
        exit 1
    fi
    sleep 0.5
done

qe_log "$(qe_docker version --format 'server {{.Server.Version}}, client {{.Client.Version}}')," \
    "storage $(qe_docker info --format '{{.Driver}}'), ready after" \
    "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
emit
