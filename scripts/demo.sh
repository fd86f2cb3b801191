#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds pvmm and boots the bundled demo
# guest: `./scripts/demo.sh`.  Extra arguments go to `pvmm run`, and
# `./scripts/demo.sh IMAGE [options]` boots IMAGE instead.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	exec ./build/pvmm run "$@"
fi
exec ./build/pvmm run build/tests/guests/hello-64 "$@"
