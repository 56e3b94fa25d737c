"""The AF_XDP sender for real: ``spead2.send.UdpXdpStream`` on one end of a veth pair
between two network namespaces; on the other end our UDP reader, the reference's, or
our AF_XDP reader; payloads verified byte for byte.

Senders and receivers run as processes in their namespaces (``SENDER``, ``RECEIVER``);
a receiver prints ``ready`` once its readers are added and a JSON summary at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from xdp_support import PAYLOAD, finish, wait_ready

PORT = 8890
GROUP = "239.10.11.13"

# Runs with our spead2 or the reference's: only the 4.x receive API.
RECEIVER = PAYLOAD + r"""
import json, sys
import numpy as np
import spead2, spead2.recv
args = json.loads(sys.argv[1])
stream = spead2.recv.Stream(spead2.ThreadPool(), spead2.recv.StreamConfig(max_heaps=8),
                            spead2.recv.RingStreamConfig(heaps=16))
if args.get("xdp"):
    stream.add_udp_xdp_reader(spead2.recv.UdpXdpConfig(interface=args["interface"], **args["xdp"],
                                                       endpoints=[tuple(e) for e in args["endpoints"]]))
else:
    for host, port in args["endpoints"]:
        if host.startswith("239."):
            stream.add_udp_reader(host, port, max_size=9200, buffer_size=4 << 20,
                                  interface_address=args["interface_address"])
        else:
            stream.add_udp_reader(port, max_size=9200, buffer_size=4 << 20, bind_hostname=host)
print("ready", flush=True)
heaps, good = receive(stream)
print(json.dumps({"heaps": heaps, "good": good}), flush=True)
"""

SENDER = PAYLOAD + r"""
import asyncio, json, sys, time
import numpy as np
import spead2, spead2.send, spead2.send.asyncio
args = json.loads(sys.argv[1])
# asyncio queues every heap at once
config = spead2.send.StreamConfig(max_packet_size=args["packet_size"], rate=args["rate"],
                                  max_heaps=1000 if args.get("asyncio") else 4)
xdp_config = spead2.send.UdpXdpConfig(interface=args["interface"], endpoints=[tuple(e) for e in args["endpoints"]],
                                      **args.get("config", {}))
pool = spead2.ThreadPool()
n = len(args["endpoints"])
ig = spead2.send.ItemGroup()
ig.add_item(0x1000, "x", "payload", shape=(args["elements"],), dtype=np.uint32)

def heaps():
    for s in range(n):
        yield ig.get_heap(descriptors="all", data="none"), -1, s
    for i in range(args["heaps"]):
        cnt = 100 + i
        ig["x"].value = payload(args["elements"], cnt)
        yield ig.get_heap(descriptors="none", data="all"), cnt, i % n
    if args.get("end", True):
        for s in range(n):
            yield ig.get_end(), -1, s

start = time.monotonic()
if args.get("asyncio"):
    async def main():
        stream = spead2.send.asyncio.UdpXdpStream(pool, config, xdp_config)
        futures = [stream.async_send_heap(heap, cnt, substream_index=s) for heap, cnt, s in heaps()]
        if args.get("abandon"):
            return 0
        sizes = await asyncio.gather(*futures)
        return sum(sizes)
    sent = asyncio.run(main())
else:
    stream = spead2.send.UdpXdpStream(pool, config, xdp_config)
    sent = sum(stream.send_heap(heap, cnt, substream_index=s) for heap, cnt, s in heaps())
print(json.dumps({"bytes": sent, "seconds": time.monotonic() - start}), flush=True)
"""


def peer_mac(pair) -> str:
    link = pair.run("ip", "-j", "link", "show", "dev", pair.peer_ifname, peer=True)
    return json.loads(link.stdout)[0]["address"]


def start_receiver(pair, python: str = sys.executable, **args) -> subprocess.Popen:
    args.setdefault("interface", pair.peer_ifname)
    args.setdefault("interface_address", pair.peer_addr)
    return pair.popen(python, "-c", RECEIVER, json.dumps(args), peer=True)


def send(pair, endpoints, heaps=20, packet_size=1472, elements=50000, rate=2e8, **extra) -> dict:
    args = dict(interface=pair.ifname, endpoints=endpoints, heaps=heaps, packet_size=packet_size,
                elements=elements, rate=rate, **extra)
    result = pair.run(sys.executable, "-c", SENDER, json.dumps(args), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def heap_bytes(pair, endpoints, heaps, elements, packet_size) -> int:
    """What send_heap reports for the run of ``send``, from our own stream (no network)."""
    import numpy as np

    import spead2
    import spead2.send

    stream = spead2.send.BytesStream(spead2.ThreadPool(), spead2.send.StreamConfig(max_packet_size=packet_size))
    ig = spead2.send.ItemGroup()
    ig.add_item(0x1000, "x", "payload", shape=(elements,), dtype=np.uint32)
    ig["x"].value = np.zeros(elements, np.uint32)
    total = sum(stream.send_heap(ig.get_heap(descriptors="all", data="none")) for _ in endpoints)
    total += sum(stream.send_heap(ig.get_heap(descriptors="none", data="all"), cnt=100 + i) for i in range(heaps))
    return total + sum(stream.send_heap(ig.get_end()) for _ in endpoints)


@pytest.mark.parametrize("packet_size", [1472, 8972])
@pytest.mark.parametrize("unicast", [False, True], ids=["multicast", "unicast"])
def test_send_to_our_udp_reader(xdp_veth, packet_size, unicast):
    """Every heap arrives intact at kernel UDP sockets; jumbo frames span several frames."""
    endpoint = [xdp_veth.peer_addr, PORT] if unicast else [GROUP, PORT]
    if unicast:
        xdp_veth.run("ip", "neigh", "replace", xdp_veth.peer_addr, "lladdr", peer_mac(xdp_veth),
                     "dev", xdp_veth.ifname, check=True)
    proc = start_receiver(xdp_veth, endpoints=[endpoint])
    assert wait_ready(proc) is None
    config = {"frame_size": 2048} if packet_size > 2048 else {}
    report = send(xdp_veth, [endpoint], packet_size=packet_size, config=config)
    summary = finish(proc)
    assert summary == {"heaps": 20, "good": 20}, summary
    assert report["bytes"] == heap_bytes(xdp_veth, [endpoint], 20, 50000, packet_size)


@pytest.mark.parametrize("packet_size", [1472, 8972])
def test_send_to_the_reference(xdp_veth, reference_python, packet_size):
    """The reference's UDP reader takes our frames: a multicast and a unicast substream."""
    xdp_veth.run("ip", "neigh", "replace", xdp_veth.peer_addr, "lladdr", peer_mac(xdp_veth),
                 "dev", xdp_veth.ifname, check=True)
    endpoints = [[GROUP, PORT], [xdp_veth.peer_addr, PORT + 1]]
    proc = start_receiver(xdp_veth, python=reference_python, endpoints=endpoints)
    assert wait_ready(proc) is None
    send(xdp_veth, endpoints, heaps=30, packet_size=packet_size)
    assert finish(proc) == {"heaps": 30, "good": 30}


@pytest.mark.parametrize("mode", ["native", "generic"])
def test_send_to_our_xdp_reader(xdp_veth, mode):
    """Bypass at both ends: our frames through our XDP program to our AF_XDP socket."""
    proc = start_receiver(xdp_veth, endpoints=[[xdp_veth.peer_addr, PORT]], xdp={"mode": mode})
    assert wait_ready(proc) is None
    xdp_veth.run("ip", "neigh", "replace", xdp_veth.peer_addr, "lladdr", peer_mac(xdp_veth),
                 "dev", xdp_veth.ifname, check=True)
    send(xdp_veth, [[xdp_veth.peer_addr, PORT]], packet_size=8972, heaps=30)
    assert finish(proc) == {"heaps": 30, "good": 30}


def test_asyncio(xdp_veth):
    proc = start_receiver(xdp_veth, endpoints=[[GROUP, PORT]])
    assert wait_ready(proc) is None
    report = send(xdp_veth, [[GROUP, PORT]], heaps=40, asyncio=True)
    assert finish(proc) == {"heaps": 40, "good": 40}
    assert report["bytes"] == heap_bytes(xdp_veth, [[GROUP, PORT]], 40, 50000, 1472)


def test_rate_is_kept(xdp_veth):
    """The stream's rate limiter paces the AF_XDP writer: 4 MB at 20 MB/s cannot take under 0.2 s."""
    report = send(xdp_veth, [[GROUP, PORT]], heaps=20, elements=50000, rate=2e7)
    assert report["seconds"] >= 0.9 * report["bytes"] / 2e7, report


def test_exit_with_heaps_queued(xdp_veth):
    """A process that leaves heaps queued on a slow stream exits promptly and cleanly."""
    start = time.monotonic()
    report = send(xdp_veth, [[GROUP, PORT]], heaps=500, rate=1e6, asyncio=True, abandon=True, end=False)
    assert report["bytes"] == 0
    assert time.monotonic() - start < 60


def test_unicast_without_neighbour_entry(xdp_veth):
    args = dict(interface=xdp_veth.ifname, endpoints=[[xdp_veth.peer_addr, PORT]], heaps=1, packet_size=1472,
                elements=10, rate=0)
    result = xdp_veth.run(sys.executable, "-c", SENDER, json.dumps(args))
    assert result.returncode != 0
    assert "RuntimeError: the Ethernet address of " + xdp_veth.peer_addr in result.stderr
    assert "not in the kernel's neighbour table" in result.stderr


def test_packet_larger_than_mtu(xdp_veth):
    args = dict(interface=xdp_veth.ifname, endpoints=[[GROUP, PORT]], heaps=1, packet_size=9000,
                elements=10, rate=0)
    result = xdp_veth.run(sys.executable, "-c", SENDER, json.dumps(args))
    assert result.returncode != 0
    assert "ValueError: max_packet_size (9000) does not fit in the MTU" in result.stderr


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"frame_size": 1000}, ValueError, "frame_size must be 2048 or 4096"),
        ({"frame_count": 1000}, ValueError, "frame_count must be a power of 2"),
        ({"ring_size": 3}, ValueError, "ring_size must be a power of 2"),
        ({"endpoints": [("not-an-address", 1)]}, ValueError, "is not an IPv4 address"),
        ({"endpoints": [("", 1)]}, ValueError, "'' is not an IPv4 address"),
        ({"interface": ""}, ValueError, "interface must not be empty"),
    ],
)
def test_config_validation(kwargs, error, message):
    import spead2.send

    if not hasattr(spead2.send, "UdpXdpConfig"):
        pytest.skip("spead2-xdp is not installed")
    config = spead2.send.UdpXdpConfig()
    with pytest.raises(error, match=message):
        for name, value in kwargs.items():
            setattr(config, name, value)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"interface": "lo"}, ValueError, "endpoints is empty"),
        ({"endpoints": [(GROUP, PORT)]}, ValueError, "interface has not been specified"),
        ({"interface": "no-such-if0", "endpoints": [(GROUP, PORT)]}, RuntimeError,
         "No network interface is called no-such-if0"),
    ],
)
def test_stream_arguments(kwargs, error, message):
    import spead2
    import spead2.send

    if not hasattr(spead2.send, "UdpXdpConfig"):
        pytest.skip("spead2-xdp is not installed")
    with pytest.raises(error, match=message):
        spead2.send.UdpXdpStream(spead2.ThreadPool(), spead2.send.StreamConfig(),
                                 spead2.send.UdpXdpConfig(**kwargs))


def test_config_defaults():
    import spead2.send

    if not hasattr(spead2.send, "UdpXdpConfig"):
        pytest.skip("spead2-xdp is not installed")
    config = spead2.send.UdpXdpConfig(interface="eth0", endpoints=[(GROUP, PORT)])
    assert (config.interface, config.endpoints, config.queue) == ("eth0", [(GROUP, PORT)], 0)
    assert (config.frame_size, config.frame_count, config.ring_size) == (4096, 4096, 4096)
    assert (config.zero_copy, config.ttl) == (True, 1)
    assert spead2.send.UdpXdpConfig.DEFAULT_FRAME_SIZE == spead2.send.UdpXdpConfig.DEFAULT_RING_SIZE == 4096


def test_queue_taken_right_after_a_reader_left(xdp_veth):
    """The kernel frees a closed AF_XDP socket's queue a little later: a sender made
    right after a reader on the same queue has gone waits for it rather than fail."""
    script = r"""
import sys
import spead2, spead2.recv, spead2.send
interface, group = sys.argv[1], sys.argv[2]
for _ in range(5):
    stream = spead2.recv.Stream(spead2.ThreadPool())
    stream.add_udp_xdp_reader(spead2.recv.UdpXdpConfig(interface=interface, endpoints=[(group, 8890)]))
    stream.stop()
    del stream
    sender = spead2.send.UdpXdpStream(spead2.ThreadPool(), spead2.send.StreamConfig(),
                                      spead2.send.UdpXdpConfig(interface=interface, endpoints=[(group, 8890)]))
    del sender
print("ok")
"""
    result = xdp_veth.run(sys.executable, "-c", script, xdp_veth.ifname, GROUP, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
