#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds pvmm with -Wall -Wextra -Werror
# and runs the whole suite: `./scripts/test.sh`.  With --sanitize the build
# uses AddressSanitizer and UBSan (in build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh

dir=build
opts=()
if [ "${1:-}" = "--sanitize" ]; then
	dir=build-asan
	opts=(-Db_sanitize=address,undefined -Db_lundef=false)
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
[ -f "$dir/build.ninja" ] || meson setup "$dir" "${opts[@]}"
ninja -C "$dir"
meson test -C "$dir" --print-errorlogs --num-processes 2
