#!/usr/bin/env bash
# stop.sh KIND|all — stop the private Docker engine that start.sh KIND started, and remove
# what it added to the machine.
#
# SIGTERM to dockerd (by its pidfile), wait for it and its containerd to exit (SIGKILL after
# 60 s; then whatever still names its exec root, containerd and shims, is stopped too). Then
# its NAT and FORWARD rules and its bridge are removed, and its exec root, socket and
# pidfile. When no engine bridge is left on the machine, ip_forward gets back the value it
# had before the first start.sh and the nf_tables tables the rules created are deleted
# (when empty). Keeps the folder: images, build cache and downloads stay
# ($QUARRY_ENGINE_CACHE). "not running" is not an error; the clean-up runs anyway.
#
# `stop.sh all` does this for every engine and registry of $QUARRY_ENGINE_CACHE, and unmounts
# anything left mounted under it: afterwards `rm -rf $QUARRY_ENGINE_CACHE` removes everything.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

KIND=${1:-}
# Podman has no daemon of its own to start: podman.sh sets it up.
[ "$KIND" != podman ] || exec bash "$QE_LIB_DIR/podman.sh" stop podman
if [ "$KIND" = all ]; then
    rc=0
    for d in "$QUARRY_ENGINE_CACHE"/engines/*/; do
        [ -d "$d" ] || continue
        "$HERE/stop.sh" "$(basename "$d")" || rc=1
    done
    for d in "$QUARRY_ENGINE_CACHE"/registries/*/; do
        [ -d "$d" ] || continue
        "$HERE/registry.sh" stop "$(basename "$d")" || rc=1
    done
    if [ -d "$QUARRY_ENGINE_CACHE" ]; then
        qe_umount_under "$QUARRY_ENGINE_CACHE"
    fi
    qe_run_dir_done
    exit "$rc"
fi
quarry_engine_vars "$KIND" || { echo "usage: $0 26c|26|20.10[-NAME]|podman|all" >&2; exit 2; }
qe_need_root

if pid=$(qe_daemon_pid); then
    # Containers still running are killed first: dockerd would give each 10 s to stop.
    running=$(timeout 10 env DOCKER_HOST="$QE_HOST" DOCKER_CONFIG="$QE_CONFIG" "$QE_DOCKER" ps -q 2>/dev/null || true)
    if [ -n "$running" ]; then
        qe_log "killing its running containers: ${running//$'\n'/ }"
        # shellcheck disable=SC2086
        timeout 30 env DOCKER_HOST="$QE_HOST" DOCKER_CONFIG="$QE_CONFIG" "$QE_DOCKER" kill $running >/dev/null 2>&1 || true
    fi
    qe_log "stopping dockerd pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 120); do
        qe_alive "$pid" || break
        sleep 0.5
    done
    if qe_alive "$pid"; then
        qe_log "dockerd pid $pid still running after 60 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while qe_alive "$pid"; do sleep 0.2; done
    fi
    # dockerd stops the containerd it started; wait for that one too (it holds the data root).
    cpidfile=$QE_EXEC_ROOT/containerd/containerd.pid
    if [ -s "$cpidfile" ]; then
        cpid=$(cat "$cpidfile")
        for _ in $(seq 1 60); do
            qe_alive "$cpid" containerd || break
            sleep 0.5
        done
    fi
    stopped=1
else
    qe_log "not running"
    stopped=
fi
# What a killed dockerd leaves: its containerd and the shims, which all name the exec root.
qe_kill_naming "$QE_EXEC_ROOT/"
qe_kill_naming "--exec-root $QE_EXEC_ROOT "
qe_cgroup_done
# What a killed dockerd leaves mounted (its data root on itself, containers' root file systems).
[ ! -d "$QE_DATA_ROOT" ] || qe_umount_under "$QE_DATA_ROOT"
if [ -d "$QE_EXEC_ROOT" ]; then
    qe_umount_under "$QE_EXEC_ROOT"
    rm -rf --one-file-system "$QE_EXEC_ROOT"
fi
rm -f "$QE_PIDFILE" "$QE_SOCK" "$QE_RUN/$KIND.launched"
if [ -n "$QE_NET" ]; then
    qe_net_down
fi
qe_system_dirs_done
qe_run_dir_done
[ -z "$stopped" ] || qe_log "stopped"
