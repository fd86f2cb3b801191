#!/bin/sh
# Builds pvmm and runs its benchmarks, one at a time, printing their reports.
#   bench/run.sh [BUILD_DIR] [meson test options, e.g. a benchmark's name]
set -eu
cd "$(dirname "$0")/.."
build=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ] && [ -d "$1" ]; then
	build=$1
	shift
fi
[ -f "$build/build.ninja" ] || meson setup "$build"
ninja -C "$build"
exec meson test -C "$build" --benchmark --verbose --num-processes 1 "$@"
