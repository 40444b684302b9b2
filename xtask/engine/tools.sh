#!/usr/bin/env bash
# tools.sh — programs the engine tests run on this machine that a fresh one may lack, from
# Debian bookworm's packages downloaded and unpacked into $QUARRY_ENGINE_CACHE/pkg/tools/
# (see lib.sh, qe_fetch; with the libraries of theirs this machine lacks). Nothing is
# installed into the system. Today one: gpg with its gpg-agent, which the robotics test
# (cli/tests/engine_robotics.rs) makes keys and signs its simulated apt repositories with.
# Downloaded once; a second run only prints.
#
# stdout: one line, GPG=PATH — a wrapper that runs that gpg with its libraries and its agent
# (gpg's compiled-in /usr/bin/gpg-agent may not exist here). Everything else goes to stderr.
set -euo pipefail
exec 3>&1 1>&2

# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

qe_need_root
QE_TOOLS=$QUARRY_ENGINE_CACHE/pkg/tools
qe_fetch bookworm "$QE_TOOLS" 1 gpg gpg-agent

root=$QE_TOOLS/root
libs=
for d in "$root"/lib/*-linux-gnu "$root"/usr/lib/*-linux-gnu; do
    [ -d "$d" ] && libs=$libs${libs:+:}$d
done
wrapper=$QE_TOOLS/bin/gpg
mkdir -p "$QE_TOOLS/bin"
cat >"$wrapper.tmp" <<EOF
#!/bin/sh
# Written by xtask/engine/tools.sh: bookworm's gpg unpacked here, with its libraries and agent.
${libs:+LD_LIBRARY_PATH=$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH\} }exec "$root/usr/bin/gpg" --agent-program "$root/usr/bin/gpg-agent" "\$@"
EOF
chmod 0755 "$wrapper.tmp"
mv "$wrapper.tmp" "$wrapper"
printf 'GPG=%s\n' "$wrapper" >&3
