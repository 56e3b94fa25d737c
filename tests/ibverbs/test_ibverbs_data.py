"""The ibverbs data path end to end, over the verbs test double (tests/ibverbs/double)
in a pair of network namespaces joined by a veth: real frames through the kernel.

Our ibverbs programs run in the double's namespace; ordinary UDP sockets (ours, and
the reference spead2's when it is available) run in the peer namespace.  Payloads are
checked byte for byte by the receiving side.
"""

from __future__ import annotations

import json
import pathlib
import signal
import subprocess
import sys
import textwrap

import pytest

import spead2
import spead2.recv

pytestmark = pytest.mark.skipif(
    not hasattr(spead2.recv.Stream, "add_udp_ibv_reader"), reason="the spead2-ibverbs plugin is not installed"
)

GROUP = "239.10.11.12"
PORT = 7148

# A sender: N heaps of one item of SIZE bytes (byte j of heap i is (i * 7 + j) % 251),
# then the stop heap.  Argument: a JSON object with the transport and its settings.
SENDER = """
import json, sys, time
import numpy as np
import spead2, spead2.send
args = json.loads(sys.argv[1])
config = spead2.send.StreamConfig(max_packet_size=args.get("packet", 1472), rate=args.get("rate", 0.0),
                                  rate_method=getattr(spead2.send.RateMethod, args.get("method", "AUTO")))
thread_pool = spead2.ThreadPool()
values = [((np.arange(args["size"]) + i * 7) % 251).astype(np.uint8) for i in range(args["heaps"])]
if args["transport"] == "ibv":
    ibv = spead2.send.UdpIbvConfig(endpoints=[(args["group"], args["port"])], interface_address=args["interface"],
                                   comp_vector=args.get("comp_vector", 0), buffer_size=args.get("buffer_size", 0),
                                   memory_regions=values if args.get("regions") else [])
    if args.get("asyncio"):
        import asyncio, spead2.send.asyncio
        async def send_all():
            stream = spead2.send.asyncio.UdpIbvStream(thread_pool, config, ibv)
            ig = spead2.send.ItemGroup(flavour=spead2.Flavour())
            ig.add_item(0x1000, "index", "", shape=(), format=[("u", 32)])
            ig.add_item(0x1001, "data", "", shape=(args["size"],), dtype=np.uint8)
            futures = []
            for i, value in enumerate(values):
                ig["index"].value = i
                ig["data"].value = value
                futures.append(stream.async_send_heap(ig.get_heap(descriptors="all" if i == 0 else "none", data="all")))
                await asyncio.sleep(0.005)
            await asyncio.gather(*futures)
            await stream.async_send_heap(ig.get_end())
        asyncio.run(send_all())
        print(json.dumps({"elapsed": 0}))
        sys.exit(0)
    stream = spead2.send.UdpIbvStream(thread_pool, config, ibv)
else:
    stream = spead2.send.UdpStream(thread_pool, [(args["group"], args["port"])], config, ttl=1,
                                   interface_address=args["interface"])
ig = spead2.send.ItemGroup(flavour=spead2.Flavour())
ig.add_item(0x1000, "index", "", shape=(), format=[("u", 32)])
ig.add_item(0x1001, "data", "", shape=(args["size"],), dtype=np.uint8)
time.sleep(args.get("delay", 0.0))
start = time.monotonic()
for i, value in enumerate(values):
    ig["index"].value = i
    ig["data"].value = value
    stream.send_heap(ig.get_heap(descriptors="all" if i == 0 else "none", data="all"))
elapsed = time.monotonic() - start
stream.send_heap(ig.get_end())
# The reference spead2 sometimes spins forever destroying a stream left for interpreter
# teardown (seen as a peer here): end it while everything is alive.
del stream
report = {"elapsed": elapsed}
if args.get("double_stats"):
    # netns_support and the veth_support it builds on (tests/ibverbs and tests/).
    sys.path[:0] = [args["double_stats"], args["double_stats"] + "/.."]
    import netns_support
    report["rate_limit_kbps"] = netns_support.double_stats()["last_rate_limit_kbps"]
print(json.dumps(report))
"""

# A receiver: takes heaps until the stop heap (or a timeout), checks every payload,
# prints a JSON summary.  Argument: a JSON object with the transport and its settings.
RECEIVER = """
import json, sys, threading
import numpy as np
import spead2, spead2.recv
args = json.loads(sys.argv[1])
stream = spead2.recv.Stream(spead2.ThreadPool(), spead2.recv.StreamConfig(max_heaps=4),
                            spead2.recv.RingStreamConfig(heaps=64))
if args["transport"] == "ibv":
    stream.add_udp_ibv_reader(spead2.recv.UdpIbvConfig(
        endpoints=[(args["group"], args["port"])], interface_address=args["interface"],
        comp_vector=args.get("comp_vector", 0), buffer_size=args.get("buffer_size", 0),
        max_size=args.get("max_size", 9200)))
else:
    stream.add_udp_reader(args["group"], args["port"], interface_address=args["interface"])
print("ready", flush=True)
timer = threading.Timer(args.get("timeout", 20), stream.stop)
timer.start()
ig = spead2.ItemGroup()
good = bad = 0
for heap in stream:
    if isinstance(heap, spead2.recv.IncompleteHeap):
        bad += 1
        continue
    ig.update(heap)
    if "index" not in ig.keys():
        continue  # its descriptors were lost (a lossy test): nothing to check it against
    i = int(ig["index"].value)
    expected = ((np.arange(ig["data"].value.size) + i * 7) % 251).astype(np.uint8)
    if np.array_equal(ig["data"].value, expected):
        good += 1
    else:
        bad += 1
    if args.get("stop_after") and good >= args["stop_after"]:
        stream.stop()
timer.cancel()
stats = stream.stats
try:
    malformed = stats["malformed_packets"]
except KeyError:  # the reference counts no malformed packets
    malformed = 0
print(json.dumps({"good": good, "bad": bad, "heaps": stats["heaps"], "malformed": malformed,
                  "incomplete": stats["incomplete_heaps_evicted"] + stats["incomplete_heaps_flushed"]}))
"""


_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_leftover_processes():
    """A failed test must not leave a receiver running (it may spin on the double)."""
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def start_receiver(pair, python, args, peer):
    process = pair.popen(python, "-c", textwrap.dedent(RECEIVER), json.dumps(args), peer=peer)
    _started.append(process)
    line = process.stdout.readline()
    assert line == "ready\n", line + process.stderr.read()
    return process


def finish(process, timeout=60):
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the receiver did not finish:\n{err[-5000:]}")
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def send(pair, python, args, peer):
    process = pair.popen(python, "-X", "faulthandler", "-c", textwrap.dedent(SENDER), json.dumps(args), peer=peer)
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)  # faulthandler: every thread's Python stack
        out, err = process.communicate()
        pytest.fail(f"the sender hung:\n{err[-5000:]}")
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def ibv_args(pair, **extra):
    return {"transport": "ibv", "group": GROUP, "port": PORT, "interface": pair.addr, **extra}


def udp_args(pair, **extra):
    return {"transport": "udp", "group": GROUP, "port": PORT, "interface": pair.peer_addr, **extra}


@pytest.mark.parametrize("comp_vector", [0, -1], ids=["events", "busy-poll"])
@pytest.mark.parametrize("size", [1000, 100000], ids=["one-packet", "many-packets"])
def test_udp_sender_to_ibverbs_reader(ibv_netns, comp_vector, size):
    receiver = start_receiver(ibv_netns, sys.executable, ibv_args(ibv_netns, comp_vector=comp_vector), peer=False)
    # Paced well below what the veth and the double carry, so that nothing is lost.
    send(ibv_netns, sys.executable, udp_args(ibv_netns, heaps=50, size=size, rate=20e6), peer=True)
    summary = finish(receiver)
    assert summary == {"good": 50, "bad": 0, "heaps": 50, "malformed": 0, "incomplete": 0}


@pytest.mark.parametrize("regions", [False, True], ids=["copied", "memory-regions"])
@pytest.mark.parametrize("comp_vector", [0, -1], ids=["events", "busy-poll"])
def test_ibverbs_sender_to_udp_reader(ibv_netns, regions, comp_vector):
    receiver = start_receiver(ibv_netns, sys.executable, udp_args(ibv_netns), peer=True)
    send(ibv_netns, sys.executable,
         ibv_args(ibv_netns, heaps=50, size=20000, rate=20e6, regions=regions, comp_vector=comp_vector), peer=False)
    summary = finish(receiver)
    assert summary == {"good": 50, "bad": 0, "heaps": 50, "malformed": 0, "incomplete": 0}


def test_ibverbs_asyncio_sender(ibv_netns):
    receiver = start_receiver(ibv_netns, sys.executable, udp_args(ibv_netns), peer=True)
    send(ibv_netns, sys.executable, ibv_args(ibv_netns, heaps=20, size=20000, asyncio=True), peer=False)
    assert finish(receiver) == {"good": 20, "bad": 0, "heaps": 20, "malformed": 0, "incomplete": 0}


def test_ibverbs_sender_heaps_larger_than_its_buffer(ibv_netns):
    # A send buffer of a few frames: each 200 kB heap goes out in many rounds of it.
    receiver = start_receiver(ibv_netns, sys.executable, udp_args(ibv_netns), peer=True)
    send(ibv_netns, sys.executable, ibv_args(ibv_netns, heaps=10, size=200000, rate=20e6, buffer_size=8192),
         peer=False)
    assert finish(receiver) == {"good": 10, "bad": 0, "heaps": 10, "malformed": 0, "incomplete": 0}


def test_ibverbs_sender_to_reference_reader(ibv_netns, reference_python):
    receiver = start_receiver(ibv_netns, reference_python, {**udp_args(ibv_netns)}, peer=True)
    send(ibv_netns, sys.executable, ibv_args(ibv_netns, heaps=20, size=5000, rate=20e6), peer=False)
    summary = finish(receiver)
    assert summary["good"] == 20 and summary["bad"] == 0


def test_reference_sender_to_ibverbs_reader(ibv_netns, reference_python):
    receiver = start_receiver(ibv_netns, sys.executable, ibv_args(ibv_netns), peer=False)
    send(ibv_netns, reference_python, udp_args(ibv_netns, heaps=20, size=5000, rate=20e6), peer=True)
    assert finish(receiver) == {"good": 20, "bad": 0, "heaps": 20, "malformed": 0, "incomplete": 0}


def test_packets_larger_than_max_size_are_counted(ibv_netns):
    receiver = start_receiver(ibv_netns, sys.executable, ibv_args(ibv_netns, max_size=1000, timeout=5), peer=False)
    send(ibv_netns, sys.executable, udp_args(ibv_netns, heaps=5, size=3000, rate=20e6, packet=1472), peer=True)
    summary = finish(receiver)
    assert summary["good"] == 0
    assert summary["malformed"] > 0  # every 1472-byte packet (and the stop heap's, which fits, ends it)


def test_small_receive_buffer_loses_but_counts_and_never_corrupts(ibv_netns):
    # A buffer of a few slots and an unpaced sender: frames the double cannot place are
    # lost (as a NIC drops them), heaps are incomplete, and no complete heap is wrong.
    receiver = start_receiver(ibv_netns, sys.executable,
                              ibv_args(ibv_netns, buffer_size=4 * 9300, timeout=5), peer=False)
    send(ibv_netns, sys.executable, udp_args(ibv_netns, heaps=30, size=200000), peer=True)
    summary = finish(receiver)
    assert summary["bad"] == 0  # incomplete heaps are dropped (and counted), never delivered as good
    assert 0 < summary["good"] + summary["incomplete"] <= 30


def test_stop_while_receiving(ibv_netns):
    receiver = start_receiver(ibv_netns, sys.executable, ibv_args(ibv_netns, stop_after=10), peer=False)
    send(ibv_netns, sys.executable, udp_args(ibv_netns, heaps=200, size=5000, rate=5e6), peer=True)
    summary = finish(receiver)
    assert summary["good"] >= 10 and summary["bad"] == 0


@pytest.mark.parametrize("method", ["HW", "SW", "AUTO"])
def test_rate_methods(ibv_netns, method):
    # HW: the queue pair is given the rate (plus the headers of each 1472-byte packet)
    # and the double paces it; SW and AUTO: the stream paces and the QP has no limit.
    # Either way 40 heaps of 20 kB at 2 MB/s take about 0.4 s.
    receiver = start_receiver(ibv_netns, sys.executable, udp_args(ibv_netns), peer=True)
    report = send(ibv_netns, sys.executable,
                  ibv_args(ibv_netns, heaps=40, size=20000, rate=2e6, method=method,
                           double_stats=str(pathlib.Path(__file__).resolve().parent)), peer=False)
    assert finish(receiver)["good"] == 40
    assert report["elapsed"] >= 0.3
    expected = round(2e6 * 8 * (1472 + 42) / 1472 / 1000) if method == "HW" else 0
    assert report["rate_limit_kbps"] == expected


def test_ibv_context_exists_where_ibverbs_works(ibv_netns):
    code = f"""
import spead2
assert hasattr(spead2, "IbvContext")
context = spead2.IbvContext("{ibv_netns.addr}")
context.reset()
try:
    spead2.IbvContext(interface="192.0.2.1")
except RuntimeError as e:
    print("error:", e)
"""
    result = ibv_netns.run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert "No network interface has the interface address 192.0.2.1" in result.stdout


def test_missing_cap_net_raw_is_a_clear_error(ibv_netns):
    from netns_support import drop_net_raw_prefix

    prefix = drop_net_raw_prefix()
    if prefix is None:
        pytest.skip("neither setpriv nor capsh is available to drop CAP_NET_RAW")
    code = f"""
import spead2, spead2.recv
try:
    spead2.recv.Stream(spead2.ThreadPool()).add_udp_ibv_reader(spead2.recv.UdpIbvConfig(
        endpoints=[("{GROUP}", {PORT})], interface_address="{ibv_netns.addr}"))
except RuntimeError as e:
    print(e)
"""
    result = ibv_netns.run(*prefix, sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert "CAP_NET_RAW" in result.stdout


def test_packets_too_big_for_the_link_are_refused_at_construction(ibv_netns):
    code = f"""
import spead2, spead2.send
try:
    spead2.send.UdpIbvStream(spead2.ThreadPool(), spead2.send.StreamConfig(max_packet_size=8972),
        spead2.send.UdpIbvConfig(endpoints=[("{GROUP}", {PORT})], interface_address="{ibv_netns.addr}"))
except ValueError as e:
    print(e)
"""
    result = ibv_netns.run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert "does not fit in the MTU" in result.stdout and "1500" in result.stdout


RECOVERING_SENDER = """
import sys
import numpy as np
import spead2, spead2.send
stream = spead2.send.UdpIbvStream(spead2.ThreadPool(), spead2.send.StreamConfig(max_packet_size=1400),
    spead2.send.UdpIbvConfig(endpoints=[(sys.argv[1], int(sys.argv[2]))], interface_address=sys.argv[3]))
ig = spead2.send.ItemGroup(flavour=spead2.Flavour())
ig.add_item(0x1000, "index", "", shape=(), format=[("u", 32)])
ig.add_item(0x1001, "data", "", shape=(5000,), dtype=np.uint8)
for i in range(2):
    print("ready", flush=True)
    sys.stdin.readline()  # the test changes the link's MTU in between
    ig["index"].value = i
    ig["data"].value = ((np.arange(5000) + i * 7) % 251).astype(np.uint8)
    try:
        stream.send_heap(ig.get_heap(descriptors="all", data="all"))
        print("sent", flush=True)
    except OSError as e:
        print("failed", e.errno, flush=True)
stream.send_heap(ig.get_end())
"""


def test_sender_recovers_after_a_send_error(ibv_netns):
    # Frames that the link refuses (its MTU lowered under the stream) fail their heap;
    # the queue pair is restarted, and the next heap goes out once the link is back.
    receiver = start_receiver(ibv_netns, sys.executable, udp_args(ibv_netns, timeout=10), peer=True)
    sender = ibv_netns.popen(sys.executable, "-c", textwrap.dedent(RECOVERING_SENDER), GROUP, str(PORT),
                             ibv_netns.addr, stdin=subprocess.PIPE)
    _started.append(sender)
    link = ["ip", "-n", ibv_netns.ns, "link", "set", "dev", ibv_netns.ifname, "mtu"]
    try:
        assert sender.stdout.readline() == "ready\n"
        subprocess.run([*link, "1000"], check=True)
        sender.stdin.write("go\n")
        sender.stdin.flush()
        assert sender.stdout.readline().startswith("failed")
        assert sender.stdout.readline() == "ready\n"
        subprocess.run([*link, "1500"], check=True)
        sender.stdin.write("go\n")
        sender.stdin.flush()
        assert sender.stdout.readline() == "sent\n"
        sender.stdin.close()
        assert sender.wait(timeout=30) == 0, sender.stderr.read()
    finally:
        subprocess.run([*link, "1500"], check=False)
        if sender.poll() is None:
            sender.kill()
    summary = finish(receiver)
    assert summary["good"] == 1 and summary["bad"] == 0
