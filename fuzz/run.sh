#!/usr/bin/env bash
# Build the receive fuzz target, refresh its seed corpus and fuzz (single job).
#
#   fuzz/run.sh [RUNS] [extra libFuzzer flags...]     # RUNS defaults to 1000000
#   MAX_TOTAL_TIME=2400 fuzz/run.sh 100000000          # stop after 40 minutes
#   fuzz/run.sh 10000000 -fork=1 -ignore_crashes=1      # keep going past known crashes
#
# The corpus lives in fuzz/build/corpus and grows across runs; seeds are every
# tests/vectors/*.bin (else shared/vectors) and every single packet split out of
# them, each with a config header derived from the vector's recv section
# (fuzz/corpus.py).  Crashes, leaks, timeouts and OOMs land in fuzz/build/artifacts/.
#
# ASAN_OPTIONS: allocator_may_return_null=1 and max_allocation_size_mb=2048 keep a
# hostile HEAP_LENGTH (up to 2^56) from making ASan abort in malloc.  They do not
# cover a throwing operator new[] (ASan reports that as out-of-memory whatever the
# options say), which is why build.sh wraps new[] to throw std::bad_alloc above
# 256 MiB: live_heap::reserve's catch is exercised instead of ASan aborting.
# -rss_limit_mb (default 2048) still catches runaway memory use.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

runs=${1:-1000000}
shift || true

fuzz/build.sh

corpus=fuzz/build/corpus
mkdir -p "$corpus" fuzz/build/artifacts
python3 fuzz/corpus.py "$corpus"

export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:max_allocation_size_mb=2048:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Regression check first: every reproducer in fuzz/crashes/ must run clean
# (SKIP_REPLAY=1 to fuzz anyway, e.g. while a known bug is still open).
shopt -s nullglob
reproducers=()
for f in fuzz/crashes/*; do
    case "$f" in *.md|*.txt) continue ;; esac
    reproducers+=("$f")
done
if [ "${#reproducers[@]}" -gt 0 ] && [ "${SKIP_REPLAY:-0}" != 1 ]; then
    echo "run.sh: replaying ${#reproducers[@]} reproducer(s) from fuzz/crashes/"
    if ! fuzz/build/fuzz_recv "${reproducers[@]}" > fuzz/build/replay.log 2>&1; then
        grep -v '^INFO:' fuzz/build/replay.log >&2
        echo "run.sh: a reproducer in fuzz/crashes/ still fails (SKIP_REPLAY=1 to fuzz anyway)" >&2
        exit 1
    fi
fi

exec fuzz/build/fuzz_recv \
    -runs="$runs" \
    -max_len=65536 \
    -timeout=10 \
    -max_total_time="${MAX_TOTAL_TIME:-0}" \
    -print_final_stats=1 \
    -dict=fuzz/spead.dict \
    -artifact_prefix=fuzz/build/artifacts/ \
    "$@" \
    "$corpus"
