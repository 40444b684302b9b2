#!/usr/bin/env bash
# registry.sh start|stop|status [NAME] — a private OCI registry (Debian bookworm's
# `docker-registry`, the distribution registry 2.8, unpacked into $QUARRY_ENGINE_CACHE/pkg/
# like the engines: nothing is installed) on a loopback port, for the remote-cache tests (as
# root for start).
#
#   NAME = main  127.0.0.1:55015 (QUARRY_REGISTRY_PORT), storage $QUARRY_ENGINE_CACHE/registries/main/storage
#          ro    127.0.0.1:55016 (QUARRY_REGISTRY_RO_PORT), read-only (pushes are refused: maintenance.readonly)
# Each NAME has its own config file, storage folder and log under
# $QUARRY_ENGINE_CACHE/registries/NAME/, and its pidfile in $QE_RUN. Idempotent: start on a
# running registry only prints its address.
#
# stdout of start: exactly two lines  REGISTRY=127.0.0.1:PORT
#                                    REGISTRY_DIR=$QUARRY_ENGINE_CACHE/registries/NAME/storage
# Everything else goes to stderr. stop removes nothing of the folder (storage stays; `rm -rf`
# it to reset).
set -euo pipefail
exec 3>&1 1>&2

# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

ACTION=${1:-}
NAME=${2:-main}
case "$NAME" in
    main) PORT=${QUARRY_REGISTRY_PORT:-55015}; READONLY=false ;;
    ro) PORT=${QUARRY_REGISTRY_RO_PORT:-55016}; READONLY=true ;;
    *) echo "usage: $0 start|stop|status [main|ro]" >&2; exit 2 ;;
esac
HOST=127.0.0.1
QE_KIND=registry-$NAME
DIR=$QUARRY_ENGINE_CACHE/registries/$NAME
PIDFILE=$QE_RUN/registry-$NAME.pid
LOG=$DIR/registry.log
ADDR=$HOST:$PORT

answers() { bash -c "exec 9<>/dev/tcp/$HOST/$PORT && printf 'GET /v2/ HTTP/1.0\r\n\r\n' >&9 && head -c 12 <&9" 2>/dev/null | grep -q '^HTTP/1.. 200'; }
running_pid() { [ -s "$PIDFILE" ] && qe_alive "$(cat "$PIDFILE")" docker-registry && cat "$PIDFILE"; }

case "$ACTION" in
    status)
        running_pid >/dev/null && answers
        ;;
    stop)
        if ! pid=$(running_pid); then
            qe_kill_naming "$DIR/config.yml"
            rm -f "$PIDFILE"
            qe_run_dir_done
            qe_log "not running"
            exit 0
        fi
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            qe_alive "$pid" || break
            sleep 0.2
        done
        qe_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
        qe_kill_naming "$DIR/config.yml"
        rm -f "$PIDFILE"
        qe_run_dir_done
        qe_log "stopped"
        ;;
    start)
        qe_need_root
        if running_pid >/dev/null && answers; then
            qe_log "already running at $ADDR"
            printf 'REGISTRY=%s\nREGISTRY_DIR=%s\n' "$ADDR" "$DIR/storage" >&3
            exit 0
        fi
        qe_fetch_bookworm
        mkdir -p "$DIR/storage" "$QE_RUN"
        cat >"$DIR/config.yml.tmp" <<CFG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DIR/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: $READONLY
http:
  addr: $ADDR
CFG
        mv "$DIR/config.yml.tmp" "$DIR/config.yml"
        echo "==== $(date -Is) registry.sh start $NAME" >>"$LOG"
        setsid "$QE_BOOKWORM/root/usr/bin/docker-registry" serve "$DIR/config.yml" </dev/null >>"$LOG" 2>&1 3>&- &
        echo $! >"$PIDFILE"
        for _ in $(seq 1 50); do
            answers && break
            qe_alive "$(cat "$PIDFILE")" || { tail -n 20 "$LOG" >&2; qe_die "docker-registry exited"; }
            sleep 0.2
        done
        answers || { tail -n 20 "$LOG" >&2; qe_die "docker-registry does not answer at $ADDR"; }
        qe_log "serving at $ADDR (storage $DIR/storage, read-only: $READONLY)"
        printf 'REGISTRY=%s\nREGISTRY_DIR=%s\n' "$ADDR" "$DIR/storage" >&3
        ;;
    *)
        echo "usage: $0 start|stop|status [main|ro]" >&2
        exit 2
        ;;
esac
