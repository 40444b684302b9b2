#!/usr/bin/env bash
# images.sh KIND — make the local base images quarry's build tests need, in the engine that
# start.sh KIND started (nothing can be pulled on these machines). Only missing images are
# made; idempotent.
#
#   quarry-test/busybox:latest   FROM scratch + the busybox-static binary (a second)
#   debian:bookworm              debootstrap --variant=minbase, then docker import
#   debian:trixie                same
# busybox-static and debootstrap are bookworm's, unpacked into $QUARRY_ENGINE_CACHE/pkg/ (see
# lib.sh); nothing is installed.
#
# The Debian root file systems are cached as tarballs in
# $QUARRY_ENGINE_CACHE/rootfs/debian-SUITE-minbase.tar, so a new engine (or a pruned
# one) re-imports them in seconds. Like the official debian images they carry
# /etc/apt/apt.conf.d/docker-clean and an empty /var/lib/apt/lists, and default to
# CMD ["/bin/bash"] with the usual PATH.
#
# stdout: one line, ADD_HOST=HOST:IP — the value builds and containers need for
# `--add-host` to reach the Debian mirror. Everything else goes to stderr.
set -euo pipefail
exec 3>&1 1>&2

# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

KIND=${1:-}
# Podman has no daemon of its own to start: podman.sh sets it up.
[ "$KIND" != podman ] || exec bash "$QE_LIB_DIR/podman.sh" images podman >&3
quarry_engine_vars "$KIND" || { echo "usage: $0 26c|26|20.10[-NAME]|podman" >&2; exit 2; }
qe_need_root
quarry_engine_mirror
qe_docker info >/dev/null 2>&1 || qe_die "engine $KIND is not running; run start.sh $KIND first"
export DOCKER_BUILDKIT=1 # the 20.10 client needs it; harmless for the others

have_image() { qe_docker image inspect "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- busybox
if ! have_image quarry-test/busybox:latest; then
    qe_fetch_bookworm
    ctx=$(mktemp -d)
    trap 'rm -rf "$ctx"' EXIT
    cp "$QE_BOOKWORM/root/bin/busybox" "$ctx/busybox"
    cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["/bin/sh"]
EOF
    qe_log "building quarry-test/busybox:latest"
    qe_docker build -q -t quarry-test/busybox:latest "$ctx" >&2
    rm -rf "$ctx"
    trap - EXIT
else
    qe_log "quarry-test/busybox:latest already present"
fi

# ---------------------------------------------------------------- debian
rootfs_tarball() { # SUITE -> path of the cached tarball (made if missing)
    local suite=$1 dir=$QUARRY_ENGINE_CACHE/rootfs
    local tar=$dir/debian-$suite-minbase.tar
    if [ -s "$tar" ]; then
        printf '%s\n' "$tar"
        return 0
    fi
    qe_fetch_bookworm
    mkdir -p "$dir"
    local root=$dir/$suite.tmp
    # A debootstrap that was killed may have left /proc and /sys mounted in its target.
    qe_umount_under "$root"
    rm -rf --one-file-system "$root"
    trap 'qe_umount_under "'"$root"'"' EXIT
    qe_log "debootstrap --variant=minbase $suite from $QE_MIRROR (~25 s)"
    if ! DEBOOTSTRAP_DIR=$QE_BOOKWORM/root/usr/share/debootstrap \
        "$QE_BOOKWORM/root/usr/sbin/debootstrap" --variant=minbase "$suite" "$root" "$QE_MIRROR" \
        >"$root.log" 2>&1; then
        tail -n 30 "$root.log" >&2
        tail -n 20 "$root/debootstrap/debootstrap.log" >&2 2>/dev/null || true
        qe_die "debootstrap $suite failed (log: $root.log)"
    fi
    rm -f "$root.log"
    # What the official debian images (debuerreotype) do, so tests see the same base:
    # apt caches cleaned after every install (quarry's Dockerfiles remove this file to
    # keep their cache mounts useful) and no package lists in the image.
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
# Replica of the file the official debian images ship (made by quarry's images.sh).
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    find "$root/var/lib/apt/lists" -mindepth 1 -maxdepth 1 ! -name partial -exec rm -rf {} +
    rm -f "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    : >"$root/etc/resolv.conf"
    printf 'quarry\n' >"$root/etc/hostname"
    qe_umount_under "$root"
    tar --numeric-owner -C "$root" -cf "$tar.tmp" .
    mv "$tar.tmp" "$tar"
    rm -rf --one-file-system "$root"
    trap - EXIT
    printf '%s\n' "$tar"
}

for suite in bookworm trixie; do
    if have_image "debian:$suite"; then
        qe_log "debian:$suite already present"
        continue
    fi
    tar=$(rootfs_tarball "$suite")
    qe_log "docker import $tar as debian:$suite"
    qe_docker import \
        --change 'CMD ["/bin/bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "$tar" "debian:$suite" >&2
done

qe_docker image ls --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}' |
    grep -E '^(quarry-test/busybox:latest|debian:(bookworm|trixie)) ' >&2 || true
printf 'ADD_HOST=%s\n' "$QE_ADD_HOST" >&3
