"""The AF_XDP reader for real: our XDP program on one end of a veth pair between two
network namespaces, our UDP sender on the other, payloads verified byte for byte.

Each receiver runs in its own process in the namespace (``RECEIVER``), prints
``ready`` once the reader is added, and a JSON summary at the end.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time

import pytest

import veth_support
from xdp_support import PAYLOAD, finish, wait_ready

PORT = 8888
GROUP = "239.10.11.12"

RECEIVER = PAYLOAD + r"""
import json, sys, warnings
import numpy as np
import spead2, spead2.recv
args = json.loads(sys.argv[1])
ring = spead2.recv.RingStreamConfig(heaps=args.get("ring_heaps", 8))
stream = spead2.recv.Stream(spead2.ThreadPool(), spead2.recv.StreamConfig(max_heaps=8), ring)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        for queue in args.get("queues", [0]):
            config = spead2.recv.UdpXdpConfig(interface=args["interface"], queue=queue,
                                              endpoints=[tuple(e) for e in args["endpoints"]], **args.get("config", {}))
            stream.add_udp_xdp_reader(config)
    except (RuntimeError, ValueError) as e:
        kind = "RuntimeError" if isinstance(e, RuntimeError) else type(e).__name__
        print(json.dumps({"error": kind, "type": type(e).__name__, "message": str(e)}), flush=True)
        sys.exit(0)
print("ready", flush=True)
if args.get("wait_stdin"):
    sys.stdin.readline()
heaps, good = receive(stream, args.get("stop_after"))
stats = stream.stats
print(json.dumps({"heaps": heaps, "good": good, "warnings": [str(w.message) for w in caught],
                  **{name: stats[name] for name in ("packets", "malformed_packets", "transport_dropped_packets",
                                                    "xdp_readers", "xdp_fallbacks")}}),
      flush=True)
"""

SENDER = PAYLOAD + r"""
import json, sys
import numpy as np
import spead2, spead2.send
args = json.loads(sys.argv[1])
config = spead2.send.StreamConfig(max_packet_size=args["packet_size"], rate=args.get("rate", 2e8))
stream = spead2.send.UdpStream(spead2.ThreadPool(), [tuple(e) for e in args["endpoints"]], config,
                               interface_address=args["source"])
ig = spead2.send.ItemGroup()
ig.add_item(0x1000, "x", "payload", shape=(args["elements"],), dtype=np.uint32)
for substream in range(len(args["endpoints"])):
    stream.send_heap(ig.get_heap(descriptors="all", data="none"), substream_index=substream)
for i in range(args["heaps"]):
    cnt = 100 + i
    ig["x"].value = payload(args["elements"], cnt)
    stream.send_heap(ig.get_heap(descriptors="none", data="all"), cnt=cnt,
                     substream_index=i % len(args["endpoints"]))
if args.get("end", True):
    stream.send_heap(ig.get_end(), substream_index=len(args["endpoints"]) - 1)
"""


def start_receiver(pair, prefix: list[str] | None = None, **args) -> subprocess.Popen:
    args.setdefault("interface", pair.ifname)
    argv = [*(prefix or []), sys.executable, "-c", RECEIVER, json.dumps(args)]
    return pair.popen(*argv, stdin=subprocess.PIPE)


def send(pair, endpoints, heaps=20, packet_size=1472, elements=50000, **extra) -> None:
    args = dict(endpoints=endpoints, heaps=heaps, packet_size=packet_size, elements=elements,
                source=pair.peer_addr, **extra)
    result = pair.run(sys.executable, "-c", SENDER, json.dumps(args), peer=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def echo(pair) -> bool:
    """Ping the reader's side from the peer (an ICMP echo request on a raw socket)."""
    sock = pair.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.settimeout(5)
    body = struct.pack("!BBHHH", 8, 0, 0, 0x5eed, 1) + b"spead2"
    checksum = sum(struct.unpack("!%dH" % (len(body) // 2), body))
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    body = body[:2] + struct.pack("!H", ~checksum & 0xFFFF) + body[4:]
    sock.sendto(body, (pair.addr, 0))
    while True:
        reply = sock.recv(1500)
        icmp = reply[(reply[0] & 0xF) * 4:]
        if icmp[0] == 0 and icmp[4:6] == b"\x5e\xed":
            return True


def xdp_attached(pair) -> bool:
    return "prog/xdp" in pair.run("ip", "link", "show", "dev", pair.ifname).stdout


@pytest.mark.parametrize("mode", ["native", "generic"])
@pytest.mark.parametrize("packet_size", [1472, 8972])
def test_receive(xdp_veth, mode, packet_size):
    """Every heap arrives intact, jumbo frames included (multi-buffer)."""
    proc = start_receiver(xdp_veth, endpoints=[[xdp_veth.addr, PORT]], config={"mode": mode})
    assert wait_ready(proc) is None
    assert xdp_attached(xdp_veth)
    send(xdp_veth, [[xdp_veth.addr, PORT]], packet_size=packet_size)
    summary = finish(proc)
    assert summary["heaps"] == 20 and summary["good"] == 20, summary
    assert summary["malformed_packets"] == 0 and summary["transport_dropped_packets"] == 0, summary
    assert (summary["xdp_readers"], summary["xdp_fallbacks"]) == (1, 0), "the statistics say AF_XDP"
    assert not xdp_attached(xdp_veth), "the XDP program outlived its reader"


def test_several_endpoints_and_busy_poll(xdp_veth):
    endpoints = [[xdp_veth.addr, PORT], [xdp_veth.addr, PORT + 1], [GROUP, PORT + 2]]
    proc = start_receiver(xdp_veth, endpoints=endpoints, config={"busy_poll": True})
    assert wait_ready(proc) is None
    send(xdp_veth, endpoints, heaps=30)
    summary = finish(proc)
    assert summary["heaps"] == 30 and summary["good"] == 30, summary


XDP_SENDER = PAYLOAD + r"""
import json, sys
import numpy as np
import spead2, spead2.send
args = json.loads(sys.argv[1])
config = spead2.send.StreamConfig(max_packet_size=1472, rate=1e8)
ig = spead2.send.ItemGroup()
ig.add_item(0x1000, "x", "payload", shape=(args["elements"],), dtype=np.uint32)
for queue in args["queues"]:
    stream = spead2.send.UdpXdpStream(spead2.ThreadPool(), config, spead2.send.UdpXdpConfig(
        interface=args["interface"], endpoints=[tuple(args["endpoint"])], queue=queue))
    stream.send_heap(ig.get_heap(descriptors="all", data="none"))
    for cnt in args["cnts"][queue]:
        ig["x"].value = payload(args["elements"], cnt)
        stream.send_heap(ig.get_heap(descriptors="none", data="all"), cnt=cnt)
    if queue == args["queues"][-1]:
        stream.send_heap(ig.get_end())
"""


@pytest.mark.parametrize("xdp_veth", [2], indirect=True)
@pytest.mark.parametrize(
    "mode, queues, heaps",
    [("native", [0, 1], 25), ("native", [1], 15), ("generic", [0, 1], 25)],
    ids=["native-both-queues", "native-queue-1-only", "generic-both-queues"],
)
def test_several_queues(xdp_veth, mode, queues, heaps):
    """One reader per receive queue: each takes the frames of its queue, here sent on
    the peer's transmit queue of the same number (10 heaps on queue 0, 15 on queue 1).
    Frames of a queue without a reader go to the kernel, which has no socket for them.
    (In generic mode a veth reports every frame on queue 0: only coexistence is checked.)"""
    proc = start_receiver(xdp_veth, endpoints=[[xdp_veth.addr, PORT]], queues=queues, config={"mode": mode})
    assert wait_ready(proc) is None
    mac = json.loads(xdp_veth.run("ip", "-j", "link", "show", "dev", xdp_veth.ifname).stdout)[0]["address"]
    xdp_veth.run("ip", "neigh", "replace", xdp_veth.addr, "lladdr", mac, "dev", xdp_veth.peer_ifname, peer=True,
                 check=True)
    args = dict(interface=xdp_veth.peer_ifname, endpoint=[xdp_veth.addr, PORT], elements=5000, queues=[0, 1],
                cnts=[list(range(100, 110)), list(range(110, 125))])
    result = xdp_veth.run(sys.executable, "-c", XDP_SENDER, json.dumps(args), peer=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = finish(proc)
    assert summary["heaps"] == heaps and summary["good"] == heaps, summary
    assert summary["xdp_readers"] == len(queues) and summary["malformed_packets"] == 0, summary


def test_other_traffic_reaches_the_kernel(xdp_veth):
    """ARP, ICMP and other UDP ports pass our program untouched."""
    proc = start_receiver(xdp_veth, endpoints=[[xdp_veth.addr, PORT]], wait_stdin=True, config={"max_size": 4000})
    assert wait_ready(proc) is None
    kernel_socket = xdp_veth.socket(peer=False)
    kernel_socket.bind((xdp_veth.addr, PORT + 5))
    kernel_socket.settimeout(10)
    sender = xdp_veth.socket()
    sender.sendto(b"for the kernel", (xdp_veth.addr, PORT + 5))
    assert kernel_socket.recvfrom(100)[0] == b"for the kernel"
    assert echo(xdp_veth), "no ICMP echo reply"
    # A datagram for the reader that is not SPEAD, and one above max_size: both counted.
    sender.sendto(b"not a SPEAD packet", (xdp_veth.addr, PORT))
    sender.sendto(b"\0" * 5000, (xdp_veth.addr, PORT))
    time.sleep(0.5)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    send(xdp_veth, [[xdp_veth.addr, PORT]], heaps=2)
    summary = finish(proc)
    assert summary["heaps"] == 2 and summary["good"] == 2, summary
    assert summary["malformed_packets"] == 2, summary


def test_stop_while_receiving(xdp_veth):
    proc = start_receiver(xdp_veth, endpoints=[[xdp_veth.addr, PORT]], stop_after=5)
    assert wait_ready(proc) is None
    send(xdp_veth, [[xdp_veth.addr, PORT]], heaps=200, end=False, rate=1e8)
    summary = finish(proc)
    assert summary["heaps"] == 5 and summary["good"] == 5, summary
    assert not xdp_attached(xdp_veth)


def test_killed_receiver_leaves_no_program(xdp_veth):
    """SIGKILL gives a reader no chance to clean up: the kernel detaches the program
    with the process (a BPF link), and the next receiver starts."""
    proc = start_receiver(xdp_veth, endpoints=[[xdp_veth.addr, PORT]], wait_stdin=True)
    assert wait_ready(proc) is None
    assert xdp_attached(xdp_veth)
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while xdp_attached(xdp_veth) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not xdp_attached(xdp_veth), "the XDP program outlived a killed receiver"
    proc = start_receiver(xdp_veth, endpoints=[[xdp_veth.addr, PORT]])
    assert wait_ready(proc) is None
    send(xdp_veth, [[xdp_veth.addr, PORT]], heaps=2)
    assert finish(proc)["good"] == 2


def test_every_loss_is_counted(xdp_veth):
    """A receiver that stops consuming: what the kernel drops is counted, exactly."""
    proc = start_receiver(xdp_veth, endpoints=[[xdp_veth.addr, PORT]], wait_stdin=True, ring_heaps=2,
                          config={"frame_count": 256, "ring_size": 64})
    assert wait_ready(proc) is None
    heaps = 3000
    send(xdp_veth, [[xdp_veth.addr, PORT]], heaps=heaps, elements=64, rate=0, end=False)
    time.sleep(0.5)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    time.sleep(1)
    send(xdp_veth, [[xdp_veth.addr, PORT]], heaps=0)   # descriptors and the stop heap, now with room
    summary = finish(proc)
    sent = (1 + heaps) + 2   # single-packet heaps: descriptors and data, then descriptors and stop
    assert summary["transport_dropped_packets"] > 0, summary
    assert summary["packets"] + summary["transport_dropped_packets"] == sent, summary
    assert summary["good"] == summary["heaps"], summary


def test_program_of_another_is_not_replaced(xdp_veth):
    """A second process finds an XDP program that is not its own: clear error, or fallback."""
    holder = start_receiver(xdp_veth, endpoints=[[xdp_veth.addr, PORT]], wait_stdin=True)
    assert wait_ready(holder) is None
    refused = start_receiver(xdp_veth, endpoints=[[xdp_veth.addr, PORT + 1]])
    summary = wait_ready(refused)
    refused.wait(timeout=30)
    assert summary["error"] == "RuntimeError", summary
    assert "already has an XDP program that is not ours" in summary["message"], summary

    fallback = start_receiver(xdp_veth, endpoints=[[xdp_veth.addr, PORT + 1]], config={"fallback": True})
    assert wait_ready(fallback) is None
    send(xdp_veth, [[xdp_veth.addr, PORT + 1]], heaps=5)
    summary = finish(fallback)
    assert summary["heaps"] == 5 and summary["good"] == 5, summary
    assert any("AF_XDP is unavailable" in w and "UDP sockets instead" in w for w in summary["warnings"]), summary
    assert (summary["xdp_readers"], summary["xdp_fallbacks"]) == (0, 1), "the statistics say UDP sockets"
    holder.stdin.write("go\n")
    holder.stdin.flush()
    send(xdp_veth, [[xdp_veth.addr, PORT]], heaps=2)
    assert finish(holder)["good"] == 2


def test_without_permission(xdp_veth):
    prefix = veth_support.drop_capabilities_prefix("net_admin", "bpf", "sys_admin", "net_raw")
    if prefix is None:
        pytest.skip("neither setpriv nor capsh is installed")
    proc = start_receiver(xdp_veth, prefix=prefix, endpoints=[[xdp_veth.addr, PORT]])
    summary = wait_ready(proc)
    proc.wait(timeout=30)
    assert summary is not None and summary["error"] == "RuntimeError", summary
    assert "refused" in summary["message"] and "CAP_NET_ADMIN" in summary["message"], summary


def test_without_permission_fallback(xdp_veth):
    """Without the capabilities, fallback=True receives through UDP sockets, which need none."""
    prefix = veth_support.drop_capabilities_prefix("net_admin", "bpf", "sys_admin", "net_raw")
    if prefix is None:
        pytest.skip("neither setpriv nor capsh is installed")
    proc = start_receiver(xdp_veth, prefix=prefix, endpoints=[[xdp_veth.addr, PORT]], config={"fallback": True})
    assert wait_ready(proc) is None
    send(xdp_veth, [[xdp_veth.addr, PORT]], heaps=5)
    summary = finish(proc)
    assert summary["heaps"] == 5 and summary["good"] == 5, summary
    assert any("refused" in w for w in summary["warnings"]), summary
    assert (summary["xdp_readers"], summary["xdp_fallbacks"]) == (0, 1), summary


def test_native_mode_unsupported_fallback(xdp_veth):
    """mode='native' on loopback with fallback=True: a UDP socket on lo receives instead."""
    proc = start_receiver(xdp_veth, interface="lo", endpoints=[["127.0.0.1", PORT]],
                          config={"mode": "native", "fallback": True})
    assert wait_ready(proc) is None
    args = dict(endpoints=[["127.0.0.1", PORT]], heaps=5, packet_size=1472, elements=50000, source="127.0.0.1")
    result = xdp_veth.run(sys.executable, "-c", SENDER, json.dumps(args), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = finish(proc)
    assert summary["heaps"] == 5 and summary["good"] == 5, summary
    assert any("no native XDP support" in w for w in summary["warnings"]), summary
    assert (summary["xdp_readers"], summary["xdp_fallbacks"]) == (0, 1), summary


def test_native_mode_unsupported(xdp_veth):
    """The loopback device has no native XDP: mode='native' says so; 'auto' falls back to generic."""
    proc = start_receiver(xdp_veth, interface="lo", endpoints=[["127.0.0.1", PORT]], config={"mode": "native"})
    summary = wait_ready(proc)
    proc.wait(timeout=30)
    assert summary is not None and "no native XDP support" in summary["message"], summary


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"frame_size": 1000}, ValueError, "frame_size must be 2048 or 4096"),
        ({"frame_count": 1000}, ValueError, "frame_count must be a power of 2"),
        ({"ring_size": 3}, ValueError, "ring_size must be a power of 2"),
        ({"mode": "turbo"}, ValueError, "mode must be 'auto', 'native' or 'generic'"),
        ({"endpoints": [("not-an-address", 1)]}, ValueError, "is not an IPv4 address"),
        ({"max_size": 0}, ValueError, "max_size must be positive"),
        ({"max_poll": 0}, ValueError, "max_poll must be at least 1"),
    ],
)
def test_config_validation(kwargs, error, message):
    spead2_recv = pytest.importorskip("spead2.recv")
    if not hasattr(spead2_recv, "UdpXdpConfig"):
        pytest.skip("spead2-xdp is not installed")
    with pytest.raises(error, match=message):
        spead2_recv.UdpXdpConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"interface": "lo"}, ValueError, "endpoints is empty"),
        ({"endpoints": [("127.0.0.1", PORT)]}, ValueError, "interface has not been specified"),
        ({"interface": "no-such-if0", "endpoints": [("127.0.0.1", PORT)]}, RuntimeError,
         "No network interface is called no-such-if0"),
        ({"interface": "192.0.2.77", "endpoints": [("127.0.0.1", PORT)]}, RuntimeError,
         "No network interface has the interface address 192.0.2.77"),
    ],
)
def test_reader_arguments(kwargs, error, message):
    import spead2
    import spead2.recv

    if not hasattr(spead2.recv, "UdpXdpConfig"):
        pytest.skip("spead2-xdp is not installed")
    stream = spead2.recv.Stream(spead2.ThreadPool())
    with pytest.raises(error, match=message):
        stream.add_udp_xdp_reader(spead2.recv.UdpXdpConfig(**kwargs))
