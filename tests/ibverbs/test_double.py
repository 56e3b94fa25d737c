"""The ibverbs test double (tests/ibverbs/double) against real kernels on both ends.

``double_smoke`` (linked directly against the double, built from
<infiniband/verbs.h>) runs in the namespace of the double's veth end; the test
plays the far end with ordinary UDP sockets in the peer namespace.  What passes
here is what the ibverbs plugin's tests rely on: device discovery by GID, flow
steering of multicast, completions with the right bytes, frames built by the
user accepted by a receiving kernel, completion channels, pacing and the error
paths of the verbs.
"""

from __future__ import annotations

import ctypes
import random
import select
import subprocess
from typing import Sequence

import pytest

import netns_support

IBV_WC_LOC_LEN_ERR = 1
IBV_PORT_ACTIVE = 4
IBV_LINK_LAYER_ETHERNET = 2
IBV_MTU_1024 = 3
TIMEOUT = 10.0

EXPORTS = [
    "ibv_get_device_list", "ibv_free_device_list", "ibv_get_device_name", "ibv_open_device",
    "ibv_close_device", "ibv_query_device", "ibv_query_port", "ibv_query_gid", "ibv_alloc_pd",
    "ibv_dealloc_pd", "ibv_reg_mr", "ibv_reg_mr_iova", "ibv_reg_mr_iova2", "ibv_dereg_mr", "ibv_create_comp_channel", "ibv_destroy_comp_channel",
    "ibv_create_cq", "ibv_destroy_cq", "ibv_get_cq_event", "ibv_ack_cq_events", "ibv_create_qp",
    "ibv_modify_qp", "ibv_destroy_qp", "ibv_modify_qp_rate_limit", "ibv_wc_status_str",
    "spead2_ibv_double_stats", "spead2_ibv_double_reset_stats", "spead2_ibv_double_qp_rate_limit",
]


def parse(stdout: str) -> dict[str, list[str]]:
    """KEY value lines of double_smoke, the values of repeated keys in order."""
    lines: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(" ")
        lines.setdefault(key, []).append(value)
    return lines


def fields(value: str) -> dict[str, int]:
    return {k: int(v) for k, v in (item.split("=") for item in value.split())}


def run_smoke(pair: netns_support.IbvNetns, *args, prefix: Sequence[str] = (), env=None) -> dict[str, list[str]]:
    result = pair.run(*prefix, netns_support.SMOKE, *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = parse(result.stdout)
    assert "OK" in out, result.stdout + result.stderr
    return out


def random_port() -> int:
    return random.randint(20000, 60000)


def test_library_exports(ibv_double_library):
    """Everything the plugin dlsym()s is there, and the double does not pull in the real libibverbs."""
    lib = ctypes.CDLL(str(ibv_double_library))
    missing = [name for name in EXPORTS if not hasattr(lib, name)]
    assert missing == []
    needed = subprocess.run(["ldd", str(ibv_double_library)], capture_output=True, text=True).stdout
    assert "libibverbs" not in needed
    lib.spead2_ibv_double_reset_stats()
    stats = netns_support.double_stats(ibv_double_library)
    assert stats == dict.fromkeys(stats, 0)
    assert list(stats)[-1] == "live_qps"


def test_device_list_follows_environment(ibv_netns):
    assert run_smoke(ibv_netns, "list")["DEVICES"] == ["1"]
    assert run_smoke(ibv_netns, "list", env=ibv_netns.env(SPEAD2_IBV_DOUBLE_INTERFACE="nosuch0"))["DEVICES"] == ["0"]
    unset = ibv_netns.env()
    del unset["SPEAD2_IBV_DOUBLE_INTERFACE"]
    assert run_smoke(ibv_netns, "list", env=unset)["DEVICES"] == ["0"]


def test_device_attributes(ibv_netns):
    """Found by its GID (the interface address, IPv4-mapped); port and caps as a ConnectX reports them."""
    out = run_smoke(ibv_netns, "info", ibv_netns.addr)
    assert out["NAME"] == ["spead2_double0"]
    assert out["PORT_STATE"] == [str(IBV_PORT_ACTIVE)]
    assert out["LINK_LAYER"] == [str(IBV_LINK_LAYER_ETHERNET)]
    assert out["ACTIVE_MTU"] == [str(IBV_MTU_1024)]  # a 1500-byte veth, less RoCE's headers
    assert out["RATE_MIN"] == ["1"]
    assert out["RATE_MAX"] == ["100000000"]
    assert int(out["RATE_QPTS"][0]) & int(out["RAW_QPT_BIT"][0])
    assert out["NUM_COMP_VECTORS"] == ["4"]
    assert out["STATS_SIZE"] == [str(ctypes.sizeof(netns_support.DoubleStats))]


def test_receive_steered_multicast(ibv_netns):
    """(a) datagrams from a kernel socket arrive whole in the posted buffers (half of
    them scattered over three SGEs, one empty); other ports are not delivered,
    frames beyond the posted WRs or the CQ's room are counted as drops, a frame
    bigger than its buffer gives IBV_WC_LOC_LEN_ERR; (c) the completion channel's
    fd becomes readable (poll, then a non-blocking get)."""
    group = "239.21.0.1"
    port, other_port, small_port, overflow_port = random.sample(range(20000, 60000), 4)
    count, extra = 8, 3
    proc = ibv_netns.popen(netns_support.SMOKE, "recv", ibv_netns.addr, group, port, small_port, overflow_port,
                           count)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
        assert ready, "double_smoke did not get ready"
        line = proc.stdout.readline()
        assert line.strip() == "READY", line + proc.stderr.read()
        payloads = [bytes((i * 13 + j) % 256 for j in range(64 + 97 * i)) for i in range(count + extra)]
        with ibv_netns.multicast_sender() as tx:
            for i in range(3):
                tx.sendto(b"not steered %d" % i, (group, other_port))
            for payload in payloads:
                tx.sendto(payload, (group, port))
            tx.sendto(b"z" * 200, (group, small_port))
            for i in range(4):  # to a QP with 4 WRs but a CQ of 2
                tx.sendto(b"overflow %d" % i, (group, overflow_port))
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stdout + stderr
    out = parse(stdout)
    assert "OK" in out, stdout + stderr
    frames = [value.split() for value in out["FRAME"]]
    assert [int(f[1]) for f in frames] == [port] * count
    assert [bytes.fromhex(f[4]) for f in frames] == payloads[:count]
    # Checksums as on the wire (not veth's partial offload ones), and the NIC's verdict on them.
    assert all(f[2] == "1" and f[3] == "1" for f in frames)
    assert int(out["EVENTS"][0]) >= 1
    status, byte_len = out["SMALL"][0].split()
    assert int(status) == IBV_WC_LOC_LEN_ERR
    assert int(byte_len) == 14 + 20 + 8 + 200
    assert out["OVERFLOW_COMPLETIONS"] == ["2"]
    assert fields(out["STATS"][0]) == {"rx_frames": count + 2, "rx_errors": 1, "dropped_no_wr": extra,
                                       "dropped_cq_full": 2}


def test_send_to_kernel_socket(ibv_netns):
    """(b) hand-built Ethernet/IPv4/UDP frames (one SGE, two SGEs, inline, checksums
    by IBV_SEND_IP_CSUM) pass the receiving kernel's checks; the double does not
    hear its own frames; a frame over the MTU completes with an error."""
    group, port, count, size = "239.21.0.2", random_port(), 30, 1000
    with ibv_netns.multicast_receiver(group, port) as rx:
        rx.settimeout(TIMEOUT)
        out = run_smoke(ibv_netns, "send", ibv_netns.addr, group, port, count, size, 0)
        received = [rx.recvfrom(65536) for _ in range(count)]
    for i, (data, source) in enumerate(received):
        assert source == (ibv_netns.addr, 40000)
        assert data == bytes((i * 7 + j) % 256 for j in range(size))
    assert out["OVERSIZE"] == [str(IBV_WC_LOC_LEN_ERR)]
    assert out["LOOPBACK"] == ["0"]
    assert fields(out["STATS"][0]) == {"tx_frames": count, "tx_errors": 1, "rx_frames": 0}


def test_rate_limit_paces_sends(ibv_netns):
    """(d) at 10 Mb/s, N frames take at least (N - 1) frame times."""
    count, size, rate_kbps = 100, 1200, 10000
    out = run_smoke(ibv_netns, "send", ibv_netns.addr, "239.21.0.3", random_port(), count, size, rate_kbps)
    frame_bytes = int(out["FRAME_BYTES"][0])
    expected = (count - 1) * frame_bytes * 8 / (rate_kbps * 1000)
    elapsed = float(out["ELAPSED"][0])
    assert elapsed >= 0.95 * expected
    assert elapsed < 5 * expected + 1.0, "paced far slower than asked"


def test_error_paths(ibv_netns):
    """(e) posting in the wrong state, state machine, limits, flow specs, full SQ,
    EBUSY on destroy, bad lkey -> error completion and flushes (checks in double_smoke)."""
    out = run_smoke(ibv_netns, "errors", ibv_netns.addr)
    assert out["STATUS_STR"] == ["local protection error"]


def test_completion_channel_semantics(ibv_netns):
    """(c) one event per arming, only for completions after it; solicited-only
    arming ignores raw-packet completions; destroy after ack; ibv_close_device
    destroys what was left (checks in double_smoke)."""
    run_smoke(ibv_netns, "channel", ibv_netns.addr)


def test_create_qp_needs_cap_net_raw(ibv_netns):
    """(e) as with a real device, a raw-packet QP without CAP_NET_RAW fails with EPERM."""
    prefix = netns_support.drop_net_raw_prefix()
    if prefix is None:
        pytest.skip("neither setpriv nor capsh is installed to drop CAP_NET_RAW")
    out = run_smoke(ibv_netns, "eperm", ibv_netns.addr, prefix=prefix)
    assert out["ERRNO"] == ["EPERM"]


def test_peer_socket_is_in_peer_namespace(ibv_netns):
    """netns_support.socket() really creates sockets in the namespace asked for."""
    with ibv_netns.socket() as sock:
        sock.bind((ibv_netns.peer_addr, 0))
    with ibv_netns.socket(peer=False) as sock:
        with pytest.raises(OSError):
            sock.bind((ibv_netns.peer_addr, 0))  # not an address of the double's namespace
        sock.bind((ibv_netns.addr, 0))
