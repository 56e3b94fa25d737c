#!/usr/bin/env bash
# The ibverbs test double (tests/ibverbs/double): a software libibverbs serving
# one netdev through AF_PACKET sockets, so ibverbs code runs without an RDMA NIC.
#
#   scripts/ibv_double.sh            # build, create the namespaces, print what to export
#   scripts/ibv_double.sh --build    # only build (no root needed); prints the library path
#   scripts/ibv_double.sh --down     # delete the namespaces (and with them the veth pair)
#
# Builds build/ibv-double/libspead2_ibv_double.so and build/ibv-double/double_smoke
# (rebuilt when a source is newer).  The network, created idempotently:
#
#   namespace spead2-ibv        veth ibv0  10.77.0.1/24   the double serves ibv0:
#                                                         run the ibverbs program here
#   namespace spead2-ibv-peer   veth ibv1  10.77.0.2/24   the far end: ordinary sockets
#
# Both sides route 224.0.0.0/4 to their veth end, so multicast works either way.
# Two namespaces rather than the root one: nothing on the host (routes, multicast
# defaults) changes.  Creating the network needs root (ip netns, and the double's
# raw-packet QPs need CAP_NET_RAW anyway).
#
# Environment: CXX (default g++).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
src="$repo/tests/ibverbs/double"
out="$repo/build/ibv-double"
CXX=${CXX:-g++}

NS=spead2-ibv
PEER_NS=spead2-ibv-peer
IF=ibv0
PEER_IF=ibv1
ADDR=10.77.0.1
PEER_ADDR=10.77.0.2

# One compile at a time (-j1): the library, then the smoke program linked against it.
# Outputs are written under a temporary name and renamed, so a reader never sees half a file.
build() {
    mkdir -p "$out"
    local lib="$out/libspead2_ibv_double.so" smoke="$out/double_smoke"
    if [ ! -e "$lib" ] || [ "$src/ibv_double.cpp" -nt "$lib" ] || [ "$src/ibv_double.h" -nt "$lib" ]; then
        "$CXX" -std=c++17 -O2 -Wall -Wextra -fPIC -fvisibility=hidden -fvisibility-inlines-hidden -shared \
            -Wl,-soname,libspead2_ibv_double.so -Wl,--no-undefined \
            -o "$lib.tmp.$$" "$src/ibv_double.cpp" -pthread
        mv -f "$lib.tmp.$$" "$lib"
    fi
    if [ ! -e "$smoke" ] || [ "$src/double_smoke.cpp" -nt "$smoke" ] || [ "$lib" -nt "$smoke" ]; then
        "$CXX" -std=c++17 -O2 -Wall -Wextra -I"$src" -I"$repo/tests/include" \
            -o "$smoke.tmp.$$" "$src/double_smoke.cpp" \
            -L"$out" -lspead2_ibv_double -Wl,-rpath,"$out" -pthread
        mv -f "$smoke.tmp.$$" "$smoke"
    fi
}

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: $1 needs root (network namespaces; raw-packet QPs need CAP_NET_RAW)" >&2
        exit 1
    fi
    command -v ip >/dev/null || { echo "error: the ip tool (iproute2) is not installed" >&2; exit 1; }
}

has_ns() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

up() {
    for ns in "$NS" "$PEER_NS"; do
        has_ns "$ns" || ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    if ! ip -n "$NS" link show "$IF" >/dev/null 2>&1; then
        ip link add "$IF" netns "$NS" type veth peer name "$PEER_IF" netns "$PEER_NS"
    fi
    local ns dev addr
    for side in 0 1; do
        if [ $side = 0 ]; then ns=$NS dev=$IF addr=$ADDR; else ns=$PEER_NS dev=$PEER_IF addr=$PEER_ADDR; fi
        ip -n "$ns" addr replace "$addr/24" dev "$dev"
        # Wire-sized frames: a veth would pass UDP GSO super-frames through whole.
        ip -n "$ns" link set dev "$dev" gso_max_segs 1
        ip -n "$ns" link set "$dev" up
        ip -n "$ns" route replace 224.0.0.0/4 dev "$dev"
    done
}

down() {
    for ns in "$NS" "$PEER_NS"; do
        if has_ns "$ns"; then ip netns del "$ns"; echo "deleted namespace $ns"; fi
    done
}

case "${1:-}" in
    --build)
        build
        echo "$out/libspead2_ibv_double.so"
        ;;
    --down)
        need_root "removing the namespaces"
        down
        ;;
    "")
        need_root "creating the namespaces"
        build
        up
        cat <<EOF
The double serves $IF ($ADDR) in namespace $NS; the peer end is $PEER_IF ($PEER_ADDR) in $PEER_NS.

export SPEAD2_IBV_LIBRARY=$out/libspead2_ibv_double.so
export SPEAD2_IBV_DOUBLE_INTERFACE=$IF
# give spead2 interface_address=$ADDR

Run the ibverbs program inside the namespace (it keeps the exported variables):
    ip netns exec $NS PROGRAM ...
and its peers (ordinary UDP sockets, e.g. a multicast group joined on $PEER_ADDR) in:
    ip netns exec $PEER_NS PROGRAM ...
Check the double:  ip netns exec $NS env SPEAD2_IBV_DOUBLE_INTERFACE=$IF $out/double_smoke info $ADDR
Remove it all:     $0 --down
EOF
        ;;
    *)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
