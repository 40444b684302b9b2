#!/usr/bin/env bash
# start.sh KIND — start a private Docker engine for quarry's build tests (as root).
#
#   KIND = 26c    Docker 26.1.5 + buildx 0.13.1 (Debian trixie packages unpacked under
#                 /var/cache/quarry-engine/docker26), containerd image store
#          26     the same binaries, classic (overlay2) image store
#          20.10  Debian bookworm's docker.io (apt-get install), as a separate daemon
# Installs with apt-get (bookworm): runc, iptables, and docker.io for 20.10. Every kind
# gets the buildx plugin in its own DOCKER_CONFIG folder.
#
# Each kind has its own socket /var/run/quarry-docker-KIND.sock, data/exec roots, pidfile,
# log (/var/lib/quarry-engine/KIND/dockerd.log) and bridge (qbr26c/qbr26/qbr2010 on
# 172.31.252/251/250.1/24), so the three can run side by side. Idempotent: if the daemon
# is already up it only prints the two lines below.
#
# stdout: exactly two lines, last:   DOCKER_HOST=unix:///var/run/quarry-docker-KIND.sock
#                                    DOCKER_CONFIG=/var/lib/quarry-engine/KIND/docker-config
# Everything else goes to stderr.
set -euo pipefail
exec 3>&1 1>&2 # progress to stderr; fd 3 is the caller's stdout

# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

KIND=${1:-}
quarry_engine_vars "$KIND" || { echo "usage: $0 26c|26|20.10[-NAME]" >&2; exit 2; }
qe_need_root
T0=$(date +%s.%N)

emit() {
    printf 'DOCKER_HOST=%s\nDOCKER_CONFIG=%s\n' "$QE_HOST" "$QE_CONFIG" >&3
}

# ---------------------------------------------------------------- binaries
# Docker 26.1.5 from trixie, downloaded with apt-get into a private apt state (the system's
# apt sources are never touched) and unpacked with dpkg -x. Cached: a second run is instant.
install_docker26() {
    local d=$QE_D26
    if [ -f "$d/.complete" ] && [ -x "$d/root/usr/sbin/dockerd" ]; then
        return 0
    fi
    quarry_engine_mirror
    qe_log "downloading Docker 26 (trixie docker.io, docker-cli, docker-buildx, containerd, tini) from $QE_MIRROR"
    rm -rf "$d.tmp"
    mkdir -p "$d.tmp/srcparts" "$d.tmp/lists/partial" "$d.tmp/cache/archives/partial" \
        "$d.tmp/debs" "$d.tmp/root"
    cat >"$d.tmp/srcparts/trixie.sources" <<EOF
Types: deb
URIs: $QE_MIRROR
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    local a=(-o APT::Sandbox::User=root -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$d.tmp/srcparts"
        -o "Dir::State::Lists=$d.tmp/lists" -o "Dir::Cache=$d.tmp/cache")
    apt-get "${a[@]}" update -qq
    (cd "$d.tmp/debs" && apt-get "${a[@]}" download docker.io docker-cli docker-buildx containerd tini)
    local f
    for f in "$d.tmp"/debs/*.deb; do dpkg -x "$f" "$d.tmp/root"; done
    # trixie's runc needs glibc 2.38; bookworm's runc (installed below) is used instead.
    rm -f "$d.tmp/root/usr/sbin/runc" "$d.tmp/root/usr/bin/runc"
    rm -rf "$d.tmp/lists" "$d.tmp/cache" # apt state is only needed for the download
    ls "$d.tmp/debs" >"$d.tmp/.complete"
    rm -rf "$d"
    mv "$d.tmp" "$d"
}

case "$QE_BASE" in
    26 | 26c)
        qe_apt_install runc iptables
        install_docker26
        DOCKERD=$QE_D26/root/usr/sbin/dockerd
        DPATH=$QE_D26/root/usr/bin:$QE_D26/root/usr/sbin:$PATH
        ;;
    20.10)
        qe_apt_install docker.io runc iptables
        install_docker26 # only for its buildx plugin (see below)
        DOCKERD=/usr/sbin/dockerd
        DPATH=$PATH
        ;;
esac

# ---------------------------------------------------------------- config
mkdir -p "$QE_DIR" "$QE_DATA_ROOT" "$QE_EXEC_ROOT" "$QE_CONFIG"
if [ "$QE_BASE" = 26c ]; then
    echo '{"features":{"containerd-snapshotter":true}}' >"$QE_DAEMON_JSON.tmp"
else
    echo '{}' >"$QE_DAEMON_JSON.tmp"
fi
mv "$QE_DAEMON_JSON.tmp" "$QE_DAEMON_JSON"
# buildx 0.13.1 for every kind. With 20.10 it drives the daemon's own BuildKit 0.8 and
# Dockerfile frontend (COPY --link is still rejected), and it is what lets a 23+ client
# (the machines have 28.x) run `docker build` with BuildKit at all: without it that client
# fails with "BuildKit is enabled but the buildx component is missing or broken".
# The 20.10 client (/usr/bin/docker, DOCKER_BUILDKIT=1) works too and needs no plugin.
mkdir -p "$QE_CONFIG/cli-plugins"
install -m 755 "$QE_D26/root/usr/libexec/docker/cli-plugins/docker-buildx" \
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
if [ -z "$QE_NET" ]; then # an instance (26c-NAME) started for the first time
    for n in $(seq 200 247); do
        if ! ip -4 -o addr show | grep -q " inet 172\.31\.$n\." &&
            ! grep -qx "$n" "$QUARRY_ENGINE_STATE"/*/net 2>/dev/null; then
            echo "$n" >"$QE_DIR/net"
            break
        fi
    done
    quarry_engine_vars "$KIND"
    [ -n "$QE_NET" ] || qe_die "no free subnet in 172.31.200-247.0/24"
fi
# Own bridge per kind (never --bridge=none: that deletes the host's docker0). dockerd runs
# with --iptables=false so two daemons never fight over iptables chains; the NAT rule that
# lets RUN steps reach the Debian mirror is added here instead.
if ! ip link show "$QE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$QE_BRIDGE" type bridge
fi
if ! ip -4 addr show dev "$QE_BRIDGE" | grep -q "inet $QE_GATEWAY/24"; then
    ip addr add "$QE_GATEWAY/24" dev "$QE_BRIDGE"
fi
# A fixed MAC address. A bridge made by `ip link add` takes the lowest MAC of its ports, so
# it changes whenever a RUN container comes or goes; containers still running then hold a
# stale ARP entry for the gateway and their new connections time out for ~30 s (apt:
# "Could not connect to deb.debian.org:80 ... connection timed out" right after a
# successful `apt-get update`, as soon as parallel stages finish). dockerd sets a fixed MAC
# on the docker0 it creates itself, but not on a bridge given with --bridge.
mac=$(printf '02:42:ac:1f:%02x:01' "$QE_NET")
if [ "$(cat "/sys/class/net/$QE_BRIDGE/address")" != "$mac" ]; then
    ip link set dev "$QE_BRIDGE" address "$mac"
fi
ip link set "$QE_BRIDGE" up
sysctl -qw net.ipv4.ip_forward=1
if ! iptables -t nat -C POSTROUTING -s "$QE_SUBNET" ! -o "$QE_BRIDGE" -j MASQUERADE 2>/dev/null; then
    iptables -t nat -A POSTROUTING -s "$QE_SUBNET" ! -o "$QE_BRIDGE" -j MASQUERADE
fi
# A system Docker on the same machine sets the FORWARD policy to DROP; let our bridge through.
if ! iptables -C FORWARD -i "$QE_BRIDGE" -j ACCEPT 2>/dev/null; then
    iptables -I FORWARD -i "$QE_BRIDGE" -j ACCEPT
fi
if ! iptables -C FORWARD -o "$QE_BRIDGE" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT 2>/dev/null; then
    iptables -I FORWARD -o "$QE_BRIDGE" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
fi

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
    </dev/null >>"$QE_LOG" 2>&1 3>&- &
# (3>&-: the daemon must not keep the caller's stdout open, or `$(start.sh 26c)` hangs)
child=$!

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
        exit 1
    fi
    sleep 0.5
done

qe_log "$(qe_docker version --format 'server {{.Server.Version}}, client {{.Client.Version}}')," \
    "storage $(qe_docker info --format '{{.Driver}}'), ready after" \
    "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
emit
