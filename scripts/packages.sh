#!/usr/bin/env bash
# The folders of the packages that can be built on this machine, in build order, one a
# line: spead2-core first (the plugins and the facade are built against the installed
# core), then the plugins whose build dependencies are present, then the facade (.).
# A note on stderr for each plugin left out.  Used by scripts/setup.sh and
# scripts/sanitize_suite.sh.
#
# Environment: CXX (default c++).
set -euo pipefail
echo packages/spead2-core
echo packages/spead2-udp
echo packages/spead2-chunk
if echo '#include <infiniband/verbs.h>' | "${CXX:-c++}" -x c++ -fsyntax-only - 2>/dev/null; then
    echo packages/spead2-ibverbs
else
    echo "note: rdma-core's headers (libibverbs-dev) are missing: spead2-ibverbs is not built," \
         "and spead2 works without its ibverbs names" >&2
fi
if pkg-config --exists libxdp libbpf && command -v clang >/dev/null; then
    echo packages/spead2-xdp
else
    echo "note: libxdp, libbpf (libxdp-dev, libbpf-dev) or clang are missing: spead2-xdp is not built," \
         "and spead2 works without its AF_XDP names" >&2
fi
echo .
