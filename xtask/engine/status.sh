#!/usr/bin/env bash
# status.sh KIND — exit 0 when the private engine that start.sh KIND starts answers, 1 otherwise.
# Starts nothing; prints nothing on stdout.
set -euo pipefail
# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
[ "${1:-}" != podman ] || exec bash "$QE_LIB_DIR/podman.sh" status podman
quarry_engine_vars "${1:-}" || exit 2
qe_docker info >/dev/null 2>&1
