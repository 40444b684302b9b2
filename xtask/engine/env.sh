# shellcheck shell=bash
# Source me (do not execute): `. xtask/engine/env.sh`
#
# Defines
#   quarry_engine_env KIND    export DOCKER_HOST and DOCKER_CONFIG for an engine that
#                             start.sh already started (it does not start anything)
#   quarry_engine_vars KIND   set the QE_* variables that describe that engine (used by
#                             start.sh, stop.sh, images.sh)
#   quarry_engine_mirror      set QE_MIRROR (Debian mirror URL from the machine's own apt
#                             sources), QE_MIRROR_HOST, QE_MIRROR_IP, QE_ADD_HOST (host:ip)
# KIND is one of: 26c (Docker 26.1.5, containerd image store), 26 (Docker 26.1.5, classic
# store), 20.10 (Debian bookworm's docker.io), optionally followed by -NAME (1-5 of a-z0-9)
# for another private engine of that kind, e.g. 26c-m; or podman (Debian bookworm's Podman
# 4.3 with Buildah 1.28, no daemon: podman.sh).
#
# Everything the engines download, unpack and keep lives in ONE folder,
# $QUARRY_ENGINE_CACHE (default /var/cache/quarry-engine): packages, root file systems,
# data roots, configs, logs, registry storage. Only sockets, pidfiles and the engines'
# --exec-root live in a runtime folder, $QE_RUN (/run/quarry-engine for the default folder,
# /run/quarry-engine-<checksum of the folder's path> for another one), which stop.sh empties
# and removes. Nothing is installed into the system: `rm -rf $QUARRY_ENGINE_CACHE` after
# `stop.sh all` removes everything.
#
# This file only defines functions and variables; it does not change shell options.

# quarry_engine_paths: (re)compute the folders from $QUARRY_ENGINE_CACHE.
quarry_engine_paths() {
    QUARRY_ENGINE_CACHE=${QUARRY_ENGINE_CACHE:-/var/cache/quarry-engine}
    QUARRY_ENGINE_CACHE=${QUARRY_ENGINE_CACHE%/}
    case "$QUARRY_ENGINE_CACHE" in
        /?*) ;;
        *)
            echo "quarry-engine: QUARRY_ENGINE_CACHE must be an absolute path, not '$QUARRY_ENGINE_CACHE'" >&2
            return 2
            ;;
    esac
    if [ "$QUARRY_ENGINE_CACHE" = /var/cache/quarry-engine ]; then
        QE_RUN=/run/quarry-engine
    else
        QE_RUN=/run/quarry-engine-$(printf '%s' "$QUARRY_ENGINE_CACHE" | cksum | cut -d' ' -f1)
    fi
    # Debian bookworm's packages (docker.io 20.10, containerd, runc, tini, iptables, nftables,
    # busybox-static, debootstrap, docker-registry, jq and the libraries of theirs this
    # machine lacks) and trixie's Docker 26 set, each downloaded and unpacked into a root.
    QE_BOOKWORM=$QUARRY_ENGINE_CACHE/pkg/bookworm
    QE_TRIXIE=$QUARRY_ENGINE_CACHE/pkg/trixie
    # Debian bookworm's Podman 4.3 and Buildah 1.28 (podman.sh).
    QE_PODMAN_ROOT=$QUARRY_ENGINE_CACHE/pkg/podman
    # Marks the bridges of this folder's engines (`ip link` alias).
    QE_OWNER="quarry-engine $QUARRY_ENGINE_CACHE"
    export QUARRY_ENGINE_CACHE QE_RUN QE_BOOKWORM QE_TRIXIE QE_PODMAN_ROOT QE_OWNER
}

quarry_engine_vars() {
    local kind=${1:-} base inst=""
    base=${kind%%-*}
    [ "$base" = "$kind" ] || inst=${kind#*-}
    case "$base" in
        26c)   QE_TAG=26c;  QE_NET=252 ;;
        26)    QE_TAG=26;   QE_NET=251 ;;
        20.10) QE_TAG=2010; QE_NET=250 ;;
        podman) QE_TAG=podman; QE_NET=249 ;;
        *) base="" ;;
    esac
    if [ -z "$base" ] || ! [[ "$inst" =~ ^[a-z0-9]{0,5}$ ]] || [[ "$kind" == *- ]] ||
        { [ "$base" = podman ] && [ -n "$inst" ]; }; then
        echo "quarry-engine: unknown engine kind '$kind' (want 26c, 26, 20.10 or podman," \
            "the first three optionally with an instance name: 26c-m)" >&2
        return 2
    fi
    quarry_engine_paths || return
    QE_DIR=$QUARRY_ENGINE_CACHE/engines/$1
    if [ -n "$inst" ]; then
        # Another private engine of the same kind (e.g. for measurements that prune the
        # build cache): own socket, folders and bridge. start.sh picks a free subnet
        # 172.31.200-247.0/24 for it and remembers it in $QE_DIR/net.
        QE_TAG=$QE_TAG$inst
        QE_NET=$(cat "$QE_DIR/net" 2>/dev/null || true)
    fi
    QE_BASE=$base
    QE_KIND=$1
    QE_SOCK=$QE_RUN/$1.sock
    QE_HOST=unix://$QE_SOCK
    QE_PIDFILE=$QE_RUN/$1.pid
    QE_EXEC_ROOT=$QE_RUN/$1
    QE_DATA_ROOT=$QE_DIR/data
    QE_CONFIG=$QE_DIR/docker-config        # DOCKER_CONFIG (holds cli-plugins/docker-buildx)
    QE_DAEMON_JSON=$QE_DIR/daemon.json
    QE_LOG=$QE_DIR/dockerd.log
    # Its containers' cgroups (the default, /docker, would be shared with a system Docker).
    QE_CGROUP=/${QE_RUN##*/}/$1
    QE_BRIDGE=qbr$QE_TAG
    QE_GATEWAY=172.31.$QE_NET.1
    QE_SUBNET=172.31.$QE_NET.0/24
    # Client: the engine's own client for 20.10 (a 28.x client needs buildx for BuildKit,
    # see README.md); for 26/26c any `docker` on PATH (the machines have 28.x), else
    # trixie's.
    # podman: the wrapper podman.sh writes (its packages with its configuration); the socket
    # is its Docker-compatible API, the pidfile that service's.
    QE_PODMAN=$QE_DIR/bin/podman
    if [ "$base" = podman ]; then
        QE_LOG=$QE_DIR/service.log
    fi
    if [ "$base" = 20.10 ]; then
        QE_DOCKER=$QE_BOOKWORM/root/usr/bin/docker
    else
        QE_DOCKER=$(command -v docker || true)
        [ -n "$QE_DOCKER" ] || QE_DOCKER=$QE_TRIXIE/root/usr/bin/docker
    fi
    export QE_KIND QE_SOCK QE_HOST QE_PIDFILE QE_EXEC_ROOT QE_DIR QE_DATA_ROOT QE_CONFIG \
        QE_DAEMON_JSON QE_LOG QE_CGROUP QE_BRIDGE QE_GATEWAY QE_SUBNET QE_DOCKER QE_PODMAN QE_TAG QE_NET QE_BASE
}

quarry_engine_env() {
    quarry_engine_vars "${1:-}" || return
    export DOCKER_HOST=$QE_HOST DOCKER_CONFIG=$QE_CONFIG
}

quarry_engine_mirror() {
    local src=/etc/apt/sources.list.d/debian.sources
    QE_MIRROR=
    if [ -r "$src" ]; then
        QE_MIRROR=$(awk '/^URIs:/{print $2; exit}' "$src")
    fi
    if [ -z "$QE_MIRROR" ] && [ -r /etc/apt/sources.list ]; then
        QE_MIRROR=$(awk '$1=="deb"{for(i=2;i<=NF;i++) if($i ~ /^[a-z]+:\/\//){print $i; exit}}' \
            /etc/apt/sources.list)
    fi
    if [ -z "$QE_MIRROR" ]; then
        echo "quarry-engine: no Debian mirror found in $src" >&2
        return 1
    fi
    QE_MIRROR=${QE_MIRROR%/}
    QE_MIRROR_HOST=$(printf '%s\n' "$QE_MIRROR" | sed -E 's#^[a-z]+://([^/:]+).*#\1#')
    QE_MIRROR_IP=$(getent ahostsv4 "$QE_MIRROR_HOST" | awk '{print $1; exit}')
    if [ -z "$QE_MIRROR_IP" ]; then
        echo "quarry-engine: cannot resolve $QE_MIRROR_HOST" >&2
        return 1
    fi
    QE_ADD_HOST=$QE_MIRROR_HOST:$QE_MIRROR_IP
    export QE_MIRROR QE_MIRROR_HOST QE_MIRROR_IP QE_ADD_HOST
}

quarry_engine_paths || true
