#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang, ASan and UBSan in build-fuzz/
# and runs one for a bounded time:
#   tests/fuzz/run.sh [SECONDS] [HARNESS]   (default 60 seconds, blkif;
#                                            netif: the network backend)
# A crash, leak, sanitizer report or broken invariant fails the run; the
# input that caused it is left in build-fuzz/ as crash-* for replay
# (build-fuzz/tests/fuzz/fuzz_HARNESS FILE).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
harness=${2:-blkif}
case $harness in
blkif) max_len=12288 ;;
netif) max_len=90000 ;;
*) echo "tests/fuzz/run.sh: no harness '$harness' (blkif, netif)" >&2; exit 2 ;;
esac
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
flock "$dir/.lock" ninja -C "$dir" "tests/fuzz/fuzz_$harness"

corpus=$dir/fuzz-corpus/$harness
mkdir -p "$corpus"
cd "$dir"
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	"./tests/fuzz/fuzz_$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	-max_len="$max_len" -print_final_stats=1 "fuzz-corpus/$harness"
