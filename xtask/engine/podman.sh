#!/usr/bin/env bash
# podman.sh start|stop|status|images — Podman and Buildah from Debian bookworm's packages,
# private to the folder like the Docker engines (start.sh podman, stop.sh podman, status.sh
# podman and images.sh podman call this).
#
# Podman needs no daemon: `start` downloads and unpacks the packages (pkg/podman/), writes its
# configuration (engines/podman/conf/: containers.conf, storage.conf, registries.conf,
# the network), a wrapper `engines/podman/bin/podman` that runs that Podman with
# that configuration, and starts its Docker-compatible API (`podman system service`) on a
# private socket, for what talks to an engine through DOCKER_HOST. Rootful (as root); storage
# under engines/podman/storage, runtime state under $QE_RUN/podman. stdout ends with
#   PODMAN=/var/cache/quarry-engine/engines/podman/bin/podman
#   PODMAN_HOST=unix:///run/quarry-engine/podman.sock
# `stop` stops the API service and every container, unmounts what is left and removes the
# runtime state, the network bridge and the API socket; images and layers stay.
# `images` imports debian:bookworm and debian:trixie from the cached root file systems
# (images.sh makes them) and prints ADD_HOST=host:ip.
set -euo pipefail
exec 3>&1 1>&2

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

ACTION=${1:-}
quarry_engine_vars "${2:-podman}" || exit 2
[ "$QE_BASE" = podman ] || qe_die "podman.sh is for the kind podman, not $QE_KIND"

# ---------------------------------------------------------------- configuration
configure() {
    local R=$QE_PODMAN_ROOT/root lib
    lib=$(printf '%s\n' "$R"/usr/lib/*-linux-gnu | head -n 1)
    mkdir -p "$QE_DIR/conf" "$QE_DIR/bin" "$QE_DIR/sbin" "$QE_DIR/networks" "$QE_DIR/tmp" \
        "$QE_DIR/home" "$QE_DIR/storage"
    cat >"$QE_DIR/conf/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$QE_DIR/storage"
runroot = "$QE_RUN/podman/storage"
EOF
    # Nothing is pulled: no registry is searched for a short name.
    cat >"$QE_DIR/conf/registries.conf" <<EOF
unqualified-search-registries = []
short-name-mode = "permissive"
EOF
    local nproc
    nproc=$(ulimit -Hu)
    [ "$nproc" != unlimited ] && [ "$nproc" -lt 32768 ] || nproc=32768
    cat >"$QE_DIR/conf/containers.conf" <<EOF
[containers]
netns = "bridge"
# Podman raises a container's open-files limit to 1048576 by default; the hard limit of the
# machines here is lower, and runc then fails ("error setting rlimit type 7"): the limits of
# the shell that starts the engine instead, and at most 32768 processes (the machine's own
# hard limit failed too: "rlimit type 6").
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$nproc:$nproc"]
[network]
network_backend = "netavark"
network_config_dir = "$QE_DIR/networks"
default_network = "quarry"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$QE_DIR/events.log"
conmon_path = ["$R/usr/bin/conmon"]
helper_binaries_dir = ["$R/usr/lib/podman", "$R/usr/libexec/podman", "$R/usr/bin"]
static_dir = "$QE_DIR/storage/libpod"
volume_path = "$QE_DIR/storage/volumes"
tmp_dir = "$QE_RUN/podman/libpod"
runtime = "runc"
[engine.runtimes]
runc = ["$QE_BOOKWORM/root/usr/sbin/runc", "$QE_BOOKWORM/root/usr/bin/runc"]
EOF
    # The network: its own bridge and subnet, next to the Docker engines' (netavark makes the
    # bridge and its rules when the first container joins).
    cat >"$QE_DIR/networks/quarry.json" <<EOF
{
  "name": "quarry",
  "id": "7175617272790000000000000000000000000000000000000000000000000001",
  "driver": "bridge",
  "network_interface": "$QE_BRIDGE",
  "created": "2026-01-01T00:00:00Z",
  "subnets": [{"subnet": "$QE_SUBNET", "gateway": "$QE_GATEWAY"}],
  "ipv6_enabled": false,
  "internal": false,
  "dns_enabled": false,
  "ipam_options": {"driver": "host-local"}
}
EOF
    # netavark runs iptables: bookworm's, from the folder (the machine may have none).
    local b t s blib
    b=$(qe_iptables_backend)
    blib=$(printf '%s\n' "$QE_BOOKWORM"/root/usr/lib/*-linux-gnu | head -n 1)
    for t in iptables ip6tables; do
        for s in "" -save -restore; do
            printf '#!/bin/sh\nLD_LIBRARY_PATH=%s XTABLES_LIBDIR=%s XTABLES_LOCKFILE=%s exec %s %s "$@"\n' \
                "$blib" "$blib/xtables" \
                "$QE_RUN/xtables.lock" "$QE_BOOKWORM/root/usr/sbin/xtables-$b-multi" "$t$s" >"$QE_DIR/sbin/$t$s"
            chmod 755 "$QE_DIR/sbin/$t$s"
        done
    done
    cat >"$QE_PODMAN.tmp" <<EOF
#!/bin/sh
# Podman of $QE_PODMAN_ROOT with the configuration of $QE_DIR (xtask/engine/podman.sh).
export TMPDIR=$QE_DIR/tmp HOME=$QE_DIR/home CONTAINERS_CONF=$QE_DIR/conf/containers.conf \\
    CONTAINERS_STORAGE_CONF=$QE_DIR/conf/storage.conf CONTAINERS_REGISTRIES_CONF=$QE_DIR/conf/registries.conf
export LD_LIBRARY_PATH=$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export PATH=$QE_DIR/sbin:$R/usr/bin:$R/usr/sbin:\$PATH
exec $R/usr/bin/podman "\$@"
EOF
    chmod 755 "$QE_PODMAN.tmp"
    mv "$QE_PODMAN.tmp" "$QE_PODMAN"
}

# The pid of the running API service, or fail.
service_pid() {
    local pid
    [ -s "$QE_PIDFILE" ] || return 1
    pid=$(cat "$QE_PIDFILE")
    qe_alive "$pid" podman && printf '%s\n' "$pid"
}

emit() {
    printf 'PODMAN=%s\nPODMAN_HOST=%s\n' "$QE_PODMAN" "$QE_HOST" >&3
}

case "$ACTION" in
    start)
        qe_need_root
        qe_fetch_podman
        qe_fetch_bookworm
        mkdir -p "$QE_RUN/podman"
        configure
        # netavark sets ip_forward; its value before the first engine is given back by stop.
        if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ] && [ ! -e "$QE_RUN/ip_forward" ]; then
            cat /proc/sys/net/ipv4/ip_forward >"$QE_RUN/ip_forward"
        fi
        if ! service_pid >/dev/null; then
            rm -f "$QE_SOCK"
            {
                echo
                echo "==== $(date -Is) podman.sh start"
            } >>"$QE_LOG"
            setsid "$QE_PODMAN" system service --time=0 "$QE_HOST" </dev/null >>"$QE_LOG" 2>&1 3>&- &
            echo $! >"$QE_PIDFILE"
            for _ in $(seq 1 60); do
                [ -S "$QE_SOCK" ] && break
                qe_alive "$(cat "$QE_PIDFILE")" || { tail -n 20 "$QE_LOG" >&2; qe_die "podman system service exited"; }
                sleep 0.5
            done
            [ -S "$QE_SOCK" ] || qe_die "podman system service made no socket within 30 s (log: $QE_LOG)"
        fi
        qe_log "$("$QE_PODMAN" version --format 'podman {{.Client.Version}}'), buildah $("$QE_PODMAN" info --format '{{.Host.BuildahVersion}}' 2>/dev/null), API on $QE_HOST"
        emit
        ;;
    stop)
        qe_need_root
        if [ -x "$QE_PODMAN" ]; then
            timeout 60 "$QE_PODMAN" stop --all --time 1 >/dev/null 2>&1 || true
        fi
        if pid=$(service_pid); then
            qe_log "stopping podman system service pid $pid"
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do
                qe_alive "$pid" || break
                sleep 0.2
            done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        # conmon of a container that outlived `podman stop`.
        qe_kill_naming "$QE_RUN/podman/"
        [ ! -d "$QE_DIR/storage" ] || qe_umount_under "$QE_DIR/storage"
        if [ -d "$QE_RUN/podman" ]; then
            qe_umount_under "$QE_RUN/podman"
            rm -rf --one-file-system "$QE_RUN/podman"
        fi
        rm -f "$QE_PIDFILE" "$QE_SOCK"
        # netavark's bridge (it has no alias of ours: netavark made it), then what every
        # engine's stop gives back once no engine bridge is left.
        if ip link show "$QE_BRIDGE" >/dev/null 2>&1 && [ -z "$(qe_bridge_owner "$QE_BRIDGE")" ]; then
            ip link del "$QE_BRIDGE" 2>/dev/null || true
        fi
        qe_net_down
        qe_run_dir_done
        ;;
    status)
        service_pid >/dev/null && [ -x "$QE_PODMAN" ] && "$QE_PODMAN" info >/dev/null 2>&1
        ;;
    images)
        qe_need_root
        quarry_engine_mirror
        [ -x "$QE_PODMAN" ] || qe_die "podman is not set up; run start.sh podman first"
        for suite in bookworm trixie; do
            if "$QE_PODMAN" image exists "docker.io/library/debian:$suite"; then
                qe_log "debian:$suite already present"
                continue
            fi
            tar=$QUARRY_ENGINE_CACHE/rootfs/debian-$suite-minbase.tar
            [ -s "$tar" ] || qe_die "no $tar: run images.sh 26c (or another Docker kind) once to make it"
            qe_log "importing $tar as debian:$suite"
            "$QE_PODMAN" import --change 'CMD ["/bin/bash"]' \
                --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
                "$tar" "docker.io/library/debian:$suite" >/dev/null
        done
        printf 'ADD_HOST=%s\n' "$QE_ADD_HOST" >&3
        ;;
    *)
        echo "usage: $0 start|stop|status|images [podman]" >&2
        exit 2
        ;;
esac
