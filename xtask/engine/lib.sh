# shellcheck shell=bash
# Internal helpers shared by the scripts of this folder.
# Sourced after `set -euo pipefail`; not meant for interactive use (see env.sh for that).

QE_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=env.sh
. "$QE_LIB_DIR/env.sh"
quarry_engine_paths || exit 2

# mount and umount (debootstrap's, and ours for what a killed one left) keep libmount's
# table here, not in /run/mount.
export LIBMOUNT_UTAB=$QE_RUN/utab

# A script stopped by a signal still runs its EXIT trap (clean-up), after its foreground child.
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Never fails: a stop.sh must not end half-way because the terminal went away.
qe_log() { printf '[quarry-engine%s] %s\n' "${QE_KIND:+ $QE_KIND}" "$*" >&2 || true; }
qe_die() { qe_log "ERROR: $*"; exit 1; }

qe_need_root() {
    [ "$(id -u)" = 0 ] || qe_die "must run as root"
}

# ---------------------------------------------------------------- packages
# Nothing is installed into the system: packages are downloaded with `apt-get download`
# using a private apt state (the system's apt sources, lists and dpkg database are never
# written) and unpacked with `dpkg -x` into a root folder of their own.

# The bookworm set: Docker 20.10 (docker.io, with its containerd, runc and tini), runc for
# Docker 26 too (trixie's needs glibc 2.38), iptables and nftables for the engines' NAT rules,
# busybox-static and debootstrap for the base images, docker-registry for the remote-cache
# tests, jq for measure-apt-layout.sh. The libraries of theirs this machine lacks are added.
QE_BOOKWORM_PACKAGES="docker.io containerd runc tini iptables nftables busybox-static debootstrap docker-registry jq"
# The trixie set: Docker 26.1.5 and buildx 0.13.1 (glibc 2.36 is enough for them).
QE_TRIXIE_PACKAGES="docker.io docker-cli docker-buildx containerd tini"

# qe_fetch SUITE DIR WITH_MISSING_LIBS PKG...: download PKG... of Debian SUITE from the
# machine's own mirror and unpack them into DIR/root (the .debs are not kept); with
# WITH_MISSING_LIBS=1 also the
# packages they depend on that this machine has not installed (what `apt-get install`
# would add, computed with `apt-get -s` against the machine's dpkg status). Cached: DIR/.complete
# names the packages asked for, and a second call with the same list does nothing.
qe_fetch() {
    local suite=$1 d=$2 with_libs=$3
    shift 3
    local want="packages: $*"
    if [ -f "$d/.complete" ] && [ "$(head -n 1 "$d/.complete")" = "$want" ]; then
        return 0
    fi
    quarry_engine_mirror
    qe_log "downloading $suite's $* from $QE_MIRROR into $d"
    rm -rf "$d.tmp"
    mkdir -p "$d.tmp/srcparts" "$d.tmp/lists/partial" "$d.tmp/cache/archives/partial" \
        "$d.tmp/debs" "$d.tmp/root"
    cat >"$d.tmp/srcparts/$suite.sources" <<EOF
Types: deb
URIs: $QE_MIRROR
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    local a=(-o APT::Sandbox::User=root -o Debug::NoLocking=1 -o Dir::Etc::SourceList=/dev/null
        -o "Dir::Etc::SourceParts=$d.tmp/srcparts" -o "Dir::State::Lists=$d.tmp/lists"
        -o "Dir::Cache=$d.tmp/cache")
    apt-get "${a[@]}" update -qq >&2
    local pkgs=("$@")
    if [ "$with_libs" = 1 ]; then
        # `Inst NAME (...)` for every package an install would add to this machine.
        # shellcheck disable=SC2207
        pkgs+=($(apt-get "${a[@]}" -s install --no-install-recommends "$@" | awk '$1 == "Inst" {print $2}'))
    fi
    # shellcheck disable=SC2046 # one word per package
    (cd "$d.tmp/debs" && apt-get "${a[@]}" download $(printf '%s\n' "${pkgs[@]}" | sort -u) >&2)
    local f
    for f in "$d.tmp"/debs/*.deb; do dpkg -x "$f" "$d.tmp/root"; done
    { printf '%s\n' "$want"; ls "$d.tmp/debs"; } >"$d.tmp/.complete"
    # Only needed for the download and the unpacking (.complete names the files fetched).
    rm -rf "$d.tmp/lists" "$d.tmp/cache" "$d.tmp/srcparts" "$d.tmp/debs"
    rm -rf "$d"
    mkdir -p "$(dirname "$d")"
    mv "$d.tmp" "$d"
}

qe_fetch_bookworm() {
    # shellcheck disable=SC2086
    qe_fetch bookworm "$QE_BOOKWORM" 1 $QE_BOOKWORM_PACKAGES
}

qe_fetch_trixie() {
    # shellcheck disable=SC2086
    qe_fetch trixie "$QE_TRIXIE" 0 $QE_TRIXIE_PACKAGES
    # trixie's runc needs glibc 2.38; bookworm's runc is used instead (see start.sh).
    rm -f "$QE_TRIXIE/root/usr/sbin/runc" "$QE_TRIXIE/root/usr/bin/runc"
}

# The Podman set: bookworm's Podman 4.3.1 (Buildah 1.28 inside) with what it runs: crun,
# conmon (crun is fetched, but conmon starts it without the folder's libraries: the
# bookworm set's runc runs, as for the Docker engines), netavark and aardvark-dns, fuse-overlayfs, slirp4netns, uidmap (rootless),
# catatonit (--init) and containers-common's configuration; with the libraries of theirs the
# machine lacks.
QE_PODMAN_PACKAGES="podman buildah crun conmon netavark aardvark-dns fuse-overlayfs slirp4netns uidmap catatonit golang-github-containers-common"

qe_fetch_podman() {
    # shellcheck disable=SC2086
    qe_fetch bookworm "$QE_PODMAN_ROOT" 1 $QE_PODMAN_PACKAGES
}

# qe_pkg CMD ARGS...: run a program of the bookworm root with its libraries
# (LD_LIBRARY_PATH), iptables' extensions (XTABLES_LIBDIR) and a private xtables lock.
qe_pkg() {
    local lib
    lib=$(printf '%s\n' "$QE_BOOKWORM"/root/usr/lib/*-linux-gnu | head -n 1)
    LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} XTABLES_LIBDIR=$lib/xtables \
        XTABLES_LOCKFILE=$QE_RUN/xtables.lock "$@"
}

# ---------------------------------------------------------------- processes
# qe_alive PID [COMM]: true if PID exists, is not a zombie (PID 1 here may not reap
# orphans) and, if given, its command name is COMM.
qe_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ] || return 1
    [ -z "${2:-}" ] || [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

# qe_daemon_pid: print the pid of this kind's running dockerd, or fail. The pidfile is
# dockerd's own; KIND.launched is what start.sh started (for a dockerd stopped before it
# wrote its pidfile).
qe_daemon_pid() {
    local f pid
    for f in "$QE_PIDFILE" "$QE_RUN/$QE_KIND.launched"; do
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        if [ -n "$pid" ] && qe_alive "$pid" dockerd; then
            printf '%s\n' "$pid"
            return 0
        fi
    done
    return 1
}

# qe_pids_naming TEXT: the pids of live processes whose command line contains TEXT.
qe_pids_naming() {
    local p c
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" != $$ ] && [ "$p" != "$BASHPID" ] || continue
        c=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
        if [[ "$c" == *"$1"* ]] && qe_alive "$p"; then
            printf '%s\n' "$p"
        fi
    done
}

# qe_kill_naming TEXT: SIGTERM, then SIGKILL after 10 s, to every process whose command
# line contains TEXT (containerd and shims left behind by a dockerd that had to be killed).
qe_kill_naming() {
    local pids p
    pids=$(qe_pids_naming "$1")
    [ -n "$pids" ] || return 0
    qe_log "stopping what is left of it: ${pids//$'\n'/ }"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 1 50); do
        pids=$(for p in $pids; do qe_alive "$p" && echo "$p"; done || true)
        [ -n "$pids" ] || return 0
        sleep 0.2
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
}

# qe_umount_under DIR: unmount every mount point at or under DIR, deepest first (what a
# killed debootstrap or dockerd may leave).
qe_umount_under() {
    local m
    awk -v d="${1%/}/" '{ p = $5; gsub(/\\040/, " ", p); if (index(p "/", d) == 1) print p }' \
        /proc/self/mountinfo | sort -r | while IFS= read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
}

# qe_cgroup_done: once the daemon is gone, kill what is left in its containers' cgroups
# ($QE_CGROUP in every hierarchy: the processes of containers whose shim was killed outlive
# it) and remove the cgroups, and their parent when empty.
qe_cgroup_done() {
    local h d pids
    for h in /sys/fs/cgroup /sys/fs/cgroup/*; do
        d=$h$QE_CGROUP
        [ -d "$d" ] || continue
        for _ in $(seq 1 25); do
            pids=$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null || true)
            [ -n "$pids" ] || break
            qe_log "killing what is left in $d: ${pids//$'\n'/ }"
            # shellcheck disable=SC2086
            kill -KILL $pids 2>/dev/null || true
            sleep 0.2
        done
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
        rmdir "$(dirname "$d")" 2>/dev/null || true
    done
}

# qe_docker ARGS...: run this kind's docker client against this kind's daemon.
qe_docker() {
    DOCKER_HOST=$QE_HOST DOCKER_CONFIG=$QE_CONFIG "$QE_DOCKER" "$@"
}

# ---------------------------------------------------------------- network
# Each engine has its own bridge (qbr...), marked with this folder's $QE_OWNER as its alias,
# one NAT rule and two FORWARD rules (iptables, nf_tables backend when the kernel has it).
# start.sh adds them with qe_net_up, stop.sh removes them with qe_net_down; when no engine
# bridge of any folder is left, ip_forward gets its old value back and the nf_tables tables
# the rules created are deleted again (when empty).

# qe_iptables_backend: nft (the nf_tables backend) if the kernel answers it, else legacy. The
# choice is kept in $QE_RUN/iptables-backend, so rules are removed where they were added.
qe_iptables_backend() {
    local b
    b=$(cat "$QE_RUN/iptables-backend" 2>/dev/null || true)
    if [ -z "$b" ]; then
        b=legacy
        # Listing creates nothing with the nf_tables backend.
        if qe_pkg "$QE_BOOKWORM/root/usr/sbin/xtables-nft-multi" iptables -t nat -S >/dev/null 2>&1; then
            b=nft
        fi
        mkdir -p "$QE_RUN"
        echo "$b" >"$QE_RUN/iptables-backend"
    fi
    printf '%s\n' "$b"
}

# qe_iptables ARGS...: bookworm's iptables (xtables-*-multi: dpkg -x sets up no alternatives).
qe_iptables() {
    local b
    b=$(qe_iptables_backend)
    qe_pkg "$QE_BOOKWORM/root/usr/sbin/xtables-$b-multi" iptables "$@"
}

qe_nft() {
    qe_pkg "$QE_BOOKWORM/root/usr/sbin/nft" "$@"
}

# The rules of this engine, one per line (arguments after -A/-I/-C/-D).
qe_rules() {
    printf '%s\n' \
        "-t nat POSTROUTING -s $QE_SUBNET ! -o $QE_BRIDGE -j MASQUERADE" \
        "-t filter FORWARD -i $QE_BRIDGE -j ACCEPT" \
        "-t filter FORWARD -o $QE_BRIDGE -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
}

qe_bridge_owner() { cat "/sys/class/net/$1/ifalias" 2>/dev/null || true; }

# qe_net_up: this engine's bridge, NAT and FORWARD rules, and ip_forward=1.
qe_net_up() {
    mkdir -p "$QE_RUN"
    # Own bridge per kind (never --bridge=none: that deletes the host's docker0). dockerd runs
    # with --iptables=false so two daemons never fight over iptables chains; the NAT rule
    # that lets RUN steps reach the Debian mirror is added here instead.
    if ip link show "$QE_BRIDGE" >/dev/null 2>&1; then
        local owner
        owner=$(qe_bridge_owner "$QE_BRIDGE")
        [ "$owner" = "$QE_OWNER" ] ||
            qe_die "bridge $QE_BRIDGE exists and is not this folder's (its alias: '$owner'):" \
                "an engine of another QUARRY_ENGINE_CACHE with the same name, or one an older" \
                "checkout left (those had no alias); if nothing uses it: ip link del $QE_BRIDGE"
    else
        ip link add "$QE_BRIDGE" type bridge
        ip link set dev "$QE_BRIDGE" alias "$QE_OWNER"
    fi
    if ! ip -4 addr show dev "$QE_BRIDGE" | grep -q "inet $QE_GATEWAY/24"; then
        ip addr add "$QE_GATEWAY/24" dev "$QE_BRIDGE"
    fi
    # A fixed MAC address. A bridge made by `ip link add` takes the lowest MAC of its ports,
    # so it changes whenever a RUN container comes or goes; containers still running then
    # hold a stale ARP entry for the gateway and their new connections time out for ~30 s
    # (apt: "Could not connect to deb.debian.org:80 ... connection timed out" right after a
    # successful `apt-get update`, as soon as parallel stages finish). dockerd sets a fixed
    # MAC on the docker0 it creates itself, but not on a bridge given with --bridge.
    local mac
    mac=$(printf '02:42:ac:1f:%02x:01' "$QE_NET")
    if [ "$(cat "/sys/class/net/$QE_BRIDGE/address")" != "$mac" ]; then
        ip link set dev "$QE_BRIDGE" address "$mac"
    fi
    ip link set "$QE_BRIDGE" up
    if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then
        [ -e "$QE_RUN/ip_forward" ] || cat /proc/sys/net/ipv4/ip_forward >"$QE_RUN/ip_forward"
        sysctl -qw net.ipv4.ip_forward=1
    fi
    if [ "$(qe_iptables_backend)" = nft ]; then
        local t
        for t in nat filter; do
            if ! qe_nft list table ip "$t" >/dev/null 2>&1 &&
                ! grep -qx "$t" "$QE_RUN/nft-tables" 2>/dev/null; then
                echo "$t" >>"$QE_RUN/nft-tables"
            fi
        done
    fi
    local rule
    while IFS= read -r rule; do
        # shellcheck disable=SC2086
        set -- $rule
        local table=$2 chain=$3
        shift 3
        if ! qe_iptables -t "$table" -C "$chain" "$@" 2>/dev/null; then
            # MASQUERADE goes last; the FORWARD accepts first (a system Docker on the same
            # machine sets the FORWARD policy to DROP).
            if [ "$table" = nat ]; then
                qe_iptables -t "$table" -A "$chain" "$@"
            else
                qe_iptables -t "$table" -I "$chain" "$@"
            fi
        fi
    done < <(qe_rules)
}

# qe_net_down: remove this engine's rules and bridge; restore what qe_net_up changed once no
# engine bridge of any folder is left.
qe_net_down() {
    local rule
    if ip link show "$QE_BRIDGE" >/dev/null 2>&1 && [ "$(qe_bridge_owner "$QE_BRIDGE")" != "$QE_OWNER" ]; then
        # Another folder's engine of the same name: the bridge and the rules are its own.
        return 0
    fi
    if [ -x "$QE_BOOKWORM/root/usr/sbin/xtables-nft-multi" ]; then
        while IFS= read -r rule; do
            # shellcheck disable=SC2086
            set -- $rule
            local table=$2 chain=$3
            shift 3
            while qe_iptables -t "$table" -C "$chain" "$@" 2>/dev/null; do
                qe_iptables -t "$table" -D "$chain" "$@"
            done
        done < <(qe_rules)
    fi
    if ip link show "$QE_BRIDGE" >/dev/null 2>&1; then
        ip link del "$QE_BRIDGE"
    fi
    # Another engine's bridge (of any folder, or of an older checkout) still needs them.
    local l
    for l in /sys/class/net/qbr*; do
        [ ! -e "$l" ] || return 0
    done
    # No engine left: give back what the first one changed.
    if [ -s "$QE_RUN/nft-tables" ]; then
        local t
        while IFS= read -r t; do
            # Only when empty: nothing but the table, its built-in chains and their policies.
            if qe_nft list table ip "$t" 2>/dev/null |
                grep -vqE '^\s*(table ip [a-z]+ \{|chain [A-Z]+ \{|type [a-z]+ hook [a-z]+ priority [a-z0-9+-]+; policy accept;|\}|)\s*$'; then
                continue
            fi
            qe_nft delete table ip "$t" 2>/dev/null || true
        done <"$QE_RUN/nft-tables"
        rm -f "$QE_RUN/nft-tables"
    fi
    if [ -s "$QE_RUN/ip_forward" ]; then
        sysctl -qw "net.ipv4.ip_forward=$(cat "$QE_RUN/ip_forward")"
        rm -f "$QE_RUN/ip_forward"
    fi
}

# qe_system_dirs_done: remove the folders the daemons make whatever their flags say, when
# empty (whoever made them: they hold sockets and state of running containers only):
# containerd's for its shims' sockets, dockerd's for plugin sockets, and runc's default root,
# which BuildKit's runc executor uses for the containers of RUN steps.
qe_system_dirs_done() {
    rmdir /run/containerd/s /run/containerd /run/docker/plugins /run/docker /run/runc 2>/dev/null || true
}

# qe_run_dir_done: remove the runtime folder once nothing of this folder runs.
qe_run_dir_done() {
    [ -d "$QE_RUN" ] || return 0
    local f
    for f in "$QE_RUN"/*.pid "$QE_RUN"/*.sock; do
        [ -e "$f" ] && return 0
    done
    # ip_forward and nft-tables stay while another folder's engine holds them.
    rm -f "$QE_RUN/xtables.lock" "$QE_RUN/iptables-backend" "$QE_RUN/utab" "$QE_RUN/utab.lock"
    rm -f "$QE_RUN"/*.launched
    rmdir "$QE_RUN" 2>/dev/null || true
}
