#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang, ASan and UBSan in build-fuzz/
# and runs each for a bounded time:
#   tests/fuzz/run.sh [SECONDS]        (default 60)
# A crash, leak, sanitizer report or broken invariant fails the run; the
# input that caused it is left in build-fuzz/ as crash-* for replay
# (build-fuzz/tests/fuzz/fuzz_blkif FILE).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
dir=${FUZZ_BUILD_DIR:-build-fuzz}

if ! command -v clang >/dev/null; then
	echo "tests/fuzz/run.sh: clang is not installed (apt-get install clang libclang-rt-dev)" >&2
	exit 1
fi
if [ ! -f "$dir/build.ninja" ]; then
	CC=clang meson setup "$dir" -Dfuzz=enabled -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null
fi
mkdir -p "$dir"
flock "$dir/.lock" ninja -C "$dir" tests/fuzz/fuzz_blkif

corpus=$dir/fuzz-corpus/blkif
mkdir -p "$corpus"
cd "$dir"
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	./tests/fuzz/fuzz_blkif -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=12288 \
	-print_final_stats=1 "fuzz-corpus/blkif"
