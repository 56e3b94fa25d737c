#!/usr/bin/env bash
# Build the C++ of the core and of the chunk plugin with AddressSanitizer and
# UndefinedBehaviorSanitizer, and run every C++ test program against it
# (tests/core/cpp/*.cpp, tests/chunk/cpp/*.cpp): memory errors and undefined
# behaviour on the receive path, in chunk placement (bad callbacks included) and
# on the send path abort the test with a report.  With "thread", the same programs
# with ThreadSanitizer instead: a data race or a lock-order inversion fails a test.
#
#   scripts/sanitize.sh            # from anywhere; build in build/sanitize
#   scripts/sanitize.sh thread     # build in build/sanitize-cpp-thread
#
# Environment: CXX (default c++), JOBS (parallel compiles, default: number of CPUs).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
CXX=${CXX:-c++}
JOBS=${JOBS:-$(nproc)}
case "${1:-address}" in
    address)
        out=build/sanitize
        sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
        options=(ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1)
        run=()
        ;;
    thread)
        out=build/sanitize-cpp-thread
        sanitize=(-fsanitize=thread)
        # A report makes the program exit with 66 (after it ran to the end).
        options=(TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1")
        # TSan maps its shadow memory at fixed addresses, which address-space
        # randomisation can collide with: off for the test programs only.
        run=(setarch "$(uname -m)" -R)
        ;;
    *) sed -n '9,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
mkdir -p "$out/obj" "$out/bin"

flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer "${sanitize[@]}"
       -Ipackages/spead2-core/include -Ipackages/spead2-chunk/include -Itests/include)
# Every non-binding source (py_*.cpp are the pybind11 modules).
sources=(packages/spead2-core/src/common_*.cpp packages/spead2-core/src/recv_*.cpp
         packages/spead2-core/src/send_*.cpp packages/spead2-chunk/src/recv_*.cpp)

# An object is rebuilt when its source or any public header is newer.
compile() {
    local src=$1 obj
    obj="$out/obj/$(echo "$src" | tr / _).o"
    if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] \
            || [ -n "$(find packages/spead2-core/include packages/spead2-chunk/include -newer "$obj" -print -quit)" ]; then
        "$CXX" "${flags[@]}" -c "$src" -o "$obj"
    fi
}
export -f compile
export CXX out
echo "compiling ${#sources[@]} sources with ${sanitize[0]} ($JOBS at a time)"
printf '%s\n' "${sources[@]}" | FLAGS="${flags[*]}" xargs -P "$JOBS" -I{} bash -c 'flags=($FLAGS); compile "$1"' _ {}

failed=0
for test in tests/core/cpp/*.cpp tests/chunk/cpp/*.cpp; do
    exe="$out/bin/$(basename "$test" .cpp)"
    "$CXX" "${flags[@]}" "$test" "$out"/obj/*.o -pthread -o "$exe"
    if result=$(env "${options[@]}" "${run[@]}" "$exe" 2>"$exe.log") && [ "$result" = ok ]; then
        echo "ok      $test"
    else
        echo "FAILED  $test (see $exe.log)"
        failed=1
    fi
done
exit $failed
