# shellcheck shell=bash
# Internal helpers shared by start.sh, stop.sh, images.sh and measure-apt-layout.sh.
# Sourced after `set -euo pipefail`; not meant for interactive use (see env.sh for that).

QE_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=env.sh
. "$QE_LIB_DIR/env.sh"

qe_log() { printf '[quarry-engine%s] %s\n' "${QE_KIND:+ $QE_KIND}" "$*" >&2; }
qe_die() { qe_log "ERROR: $*"; exit 1; }

qe_need_root() {
    [ "$(id -u)" = 0 ] || qe_die "must run as root"
}

# qe_apt_install PKG...: install the bookworm packages that are not installed yet.
# Runs `apt-get update` first (a fresh machine may have no lists), only when something is
# missing. Services are never started by the packages' maintainer scripts (policy-rc.d).
qe_apt_install() {
    local missing=() p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
            missing+=("$p")
        fi
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    qe_log "apt-get install ${missing[*]}"
    local made_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # Without this, docker.io's postinst would start a system dockerd (docker0, iptables).
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local rc=0 out
    out=$(mktemp)
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                "${missing[@]}"
    } >"$out" 2>&1 || rc=$?
    if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
    if [ "$rc" != 0 ]; then
        tail -n 30 "$out" >&2
        rm -f "$out"
        qe_die "apt-get install ${missing[*]} failed"
    fi
    rm -f "$out"
}

# qe_alive PID [COMM]: true if PID exists, is not a zombie (PID 1 here may not reap
# orphans) and, if given, its command name is COMM.
qe_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ] || return 1
    [ -z "${2:-}" ] || [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

# qe_daemon_pid: print the pid of this kind's running dockerd, or fail.
qe_daemon_pid() {
    local pid
    [ -s "$QE_PIDFILE" ] || return 1
    pid=$(cat "$QE_PIDFILE")
    [ -n "$pid" ] && qe_alive "$pid" dockerd || return 1
    printf '%s\n' "$pid"
}

# qe_docker ARGS...: run this kind's docker client against this kind's daemon.
qe_docker() {
    DOCKER_HOST=$QE_HOST DOCKER_CONFIG=$QE_CONFIG "$QE_DOCKER" "$@"
}
