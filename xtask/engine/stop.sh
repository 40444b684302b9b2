#!/usr/bin/env bash
# stop.sh KIND — stop the private Docker engine that start.sh KIND started.
# Sends SIGTERM to the pid in its pidfile and waits for it to exit (SIGKILL after 60 s).
# Removes nothing: images, build cache, bridge and downloads stay. Idempotent.
set -euo pipefail

# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

KIND=${1:-}
quarry_engine_vars "$KIND" || { echo "usage: $0 26c|26|20.10[-NAME]" >&2; exit 2; }

if ! pid=$(qe_daemon_pid); then
    qe_log "not running"
    exit 0
fi
qe_need_root
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
qe_log "stopped"
