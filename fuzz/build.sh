#!/usr/bin/env bash
# Build the receive-path fuzz target: fuzz/build/fuzz_recv (libFuzzer + ASan + UBSan).
#
#   fuzz/build.sh            # from anywhere; installs clang with apt-get if it is missing
#
# Environment: CXX (default clang++), EXTRA_CXXFLAGS (appended).
# Compiles everything in one command, so it uses a single core.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
CXX=${CXX:-clang++}

if ! command -v "$CXX" >/dev/null 2>&1; then
    echo "fuzz/build.sh: $CXX not found, installing clang with apt-get" >&2
    if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
    $sudo apt-get update
    $sudo apt-get install -y clang
fi

# Debian ships libFuzzer in the clang package's runtime; older layouts split it out.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t *, size_t) { return 0; }\n' \
    > "$probe/probe.cpp"
if ! "$CXX" -fsanitize=fuzzer "$probe/probe.cpp" -o "$probe/probe" 2>/dev/null; then
    echo "fuzz/build.sh: -fsanitize=fuzzer does not link, installing the clang runtime" >&2
    if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
    ver=$("$CXX" --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n1)
    $sudo apt-get install -y "libclang-rt-${ver}-dev" || $sudo apt-get install -y "libclang-common-${ver}-dev"
fi

core=packages/spead2-core
# Every non-binding source of the core (py_*.cpp are the pybind11 module).
sources=("$core"/src/common_*.cpp "$core"/src/recv_*.cpp "$core"/src/send_*.cpp)

mkdir -p fuzz/build
# -Wl,--wrap=_Znam: operator new[] goes through __wrap__Znam in fuzz_recv.cpp, which
# throws std::bad_alloc above 256 MiB (ASan would otherwise abort instead of throwing).
# shellcheck disable=SC2086
"$CXX" -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$core/include" \
    fuzz/fuzz_recv.cpp "${sources[@]}" \
    -Wl,--wrap=_Znam -lpthread ${EXTRA_CXXFLAGS:-} \
    -o fuzz/build/fuzz_recv
echo "built fuzz/build/fuzz_recv"
