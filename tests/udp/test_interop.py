"""Interoperability with the reference spead2 4.5.1, run as a peer process only.

A session fixture (``reference_python`` in conftest.py) keeps a separate venv in
``build/reference-venv`` with the reference installed from the package index; the
peer scripts below are written to ``tmp_path`` and run with that venv's interpreter
(never imported here).  Directions covered:

- reference UdpStream -> our add_udp_reader (IPv4 and IPv6; two flavours),
- our UdpStream -> reference add_udp_reader,
- reference TcpStream -> our add_tcp_reader,
- our TcpStream -> reference add_tcp_reader.

Both sides describe what they received as JSON (descriptors and item values, via the
same ``COMMON`` code) and the test compares it with what was sent.
"""

from __future__ import annotations

import functools
import json
import os
import select
import subprocess
import threading

import pytest

import spead2
import spead2.recv
import spead2.send
import udp_support
from udp_support import port_of, tcp_listener, udp_socket

TIMEOUT = 30.0
N_HEAPS = 5
run_in_thread = functools.partial(udp_support.run_in_thread, timeout=TIMEOUT)

#: Shared by this process and the peers: the item group, the values of heap i, and a
#: JSON-able description of a (receive) item group.
COMMON = r'''
import hashlib
import numpy as np

BULK = 150000


def make_send_ig(spead2, heap_address_bits):
    import spead2.send
    ig = spead2.send.ItemGroup(flavour=spead2.Flavour(4, 64, heap_address_bits, 0))
    ig.add_item(0x1000, "bulk", "uint8 bulk data", shape=(BULK,), dtype=np.uint8)
    ig.add_item(0x1001, "matrix_be", "big-endian float64 matrix", shape=(3, 4), dtype=">f8")
    ig.add_item(0x1002, "vec_i16", "little-endian int16 vector", shape=(5,), dtype="<i2")
    ig.add_item(0x1003, "counter", "SPEAD unsigned 32-bit scalar", shape=(), format=[("u", 32)])
    ig.add_item(0x1004, "label", "variable-length string", shape=(None,), format=[("c", 8)])
    ig.add_item(0x1005, "pair", "SPEAD float32 pair", shape=(2,), format=[("f", 32)])
    ig.add_item(0x1006, "cplx", "complex64 vector", shape=(2,), dtype=np.complex64)
    ig.add_item(0x1007, "fortran", "Fortran-order uint16 matrix", shape=(2, 3), dtype=np.uint16, order="F")
    return ig


def values(i):
    rng = np.random.default_rng(1000 + i)
    return {
        "bulk": rng.integers(0, 256, BULK, dtype=np.uint8),
        "matrix_be": (np.arange(12).reshape(3, 4) * 1.25 + i).astype(">f8"),
        "vec_i16": np.array([-i, i, -32768, 32767, 7], dtype="<i2"),
        "counter": 1000 + i,
        "label": "heap-%d" % i + "x" * i,
        "pair": np.array([0.5 + i, -1.5], dtype=np.float32),
        "cplx": np.array([1 + 2j, i - 1j], dtype=np.complex64),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.uint16).reshape(2, 3) + i),
    }


def fill(ig, i):
    for name, value in values(i).items():
        ig[name].value = value


def normalise(value):
    if isinstance(value, str):
        return {"str": value}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    arr = np.asarray(value)
    if arr.dtype.kind == "c":
        arr = np.stack([arr.real, arr.imag], axis=-1)
    native = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    if native.size > 64:
        return {"shape": list(native.shape), "sha256": hashlib.sha256(native.tobytes()).hexdigest()}
    return {"shape": list(native.shape), "data": native.tolist()}


def describe(ig):
    out = {}
    for item in sorted(ig.values(), key=lambda item: item.id):
        out[item.name] = {
            "id": item.id,
            "description": item.description,
            "shape": [None if s is None else int(s) for s in item.shape],
            "format": None if item.format is None else [[c, int(b)] for c, b in item.format],
            "dtype": None if item.dtype is None else item.dtype.str,
            "order": item.order,
            "value": normalise(item.value),
        }
    return out
'''

SEND_SCRIPT = r'''
import os, sys
import spead2, spead2.send
import common
proto, host = sys.argv[1], sys.argv[2]
port, n, hab, mps = (int(arg) for arg in sys.argv[3:7])
tp = spead2.ThreadPool()
config = spead2.send.StreamConfig(max_packet_size=mps, rate=1e8 if proto == "udp" else 0)
if proto == "udp":
    stream = spead2.send.UdpStream(tp, [(host, port)], config)
else:
    stream = spead2.send.TcpStream(tp, [(host, port)], config)
ig = common.make_send_ig(spead2, hab)
for i in range(n):
    common.fill(ig, i)
    stream.send_heap(ig.get_heap())
stream.send_heap(ig.get_end())
print("sent", flush=True)
# The reference sometimes hangs in interpreter shutdown after a UDP send; everything was
# transmitted already (send_heap is synchronous), so leave without the shutdown.
os._exit(0)
'''

RECV_SCRIPT = r'''
import json, os, socket, sys
import spead2, spead2.recv
import common
proto, host = sys.argv[1], sys.argv[2]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
stream = spead2.recv.Stream(spead2.ThreadPool())
if proto == "udp":
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 32 << 20)
    except OSError:
        pass
    sock.bind((host, 0))
    stream.add_udp_reader(sock, max_size=9200)
else:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(1)
    stream.add_tcp_reader(sock)
print(sock.getsockname()[1], flush=True)
ig = spead2.ItemGroup()
heaps = []
for heap in stream:
    ig.update(heap)
    heaps.append({"cnt": heap.cnt, "bits": heap.flavour.heap_address_bits, "items": common.describe(ig)})
print(json.dumps(heaps), flush=True)
os._exit(0)  # see SEND_SCRIPT
'''


@pytest.fixture(scope="module")
def common():
    namespace: dict = {}
    exec(compile(COMMON, "interop_common", "exec"), namespace)  # noqa: S102
    return namespace


@pytest.fixture
def scripts(tmp_path):
    (tmp_path / "common.py").write_text(COMMON)
    (tmp_path / "send.py").write_text(SEND_SCRIPT)
    (tmp_path / "recv.py").write_text(RECV_SCRIPT)
    return tmp_path


def expected(common, n: int, heap_address_bits: int = 40) -> list[dict]:
    """What a receiver should report for heaps 0..n-1 (cnts 1..n)."""
    ig = common["make_send_ig"](spead2, heap_address_bits)
    out = []
    for i in range(n):
        common["fill"](ig, i)
        out.append({"cnt": i + 1, "bits": heap_address_bits, "items": common["describe"](ig)})
    return json.loads(json.dumps(out))


def receive_json(stream, common) -> list[dict]:
    """Drain our stream and describe every heap as the peer script does."""

    def run():
        ig = spead2.ItemGroup()
        heaps = []
        for heap in stream:
            ig.update(heap)
            heaps.append({"cnt": heap.cnt, "bits": heap.flavour.heap_address_bits,
                          "items": common["describe"](ig)})
        return heaps

    return json.loads(json.dumps(run_in_thread(run)))


def receive_during(stream, common, send) -> list[dict]:
    """Our stream's heaps (as receive_json describes them), received while ``send()`` runs."""
    got: dict = {}
    thread = threading.Thread(target=lambda: got.update(heaps=receive_json(stream, common)), daemon=True)
    thread.start()
    send()
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "our receiver did not see the end of stream"
    return got["heaps"]


def send_heaps(sender, ig, common, n: int, end: bool = True) -> None:
    """Send heaps 0..n-1 of the common item group (and the end-of-stream heap)."""
    for i in range(n):
        common["fill"](ig, i)
        sender.send_heap(ig.get_heap())
    if end:
        sender.send_heap(ig.get_end())


def peer_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


class Peer:
    """A reference peer process, killed at the end if it is still running."""

    def __init__(self, python: str, script_dir, script: str, *args) -> None:
        self.proc = subprocess.Popen([python, str(script_dir / script), *map(str, args)],
                                     cwd=script_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=peer_env())

    def readline(self, timeout: float = TIMEOUT) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.kill()
            pytest.fail(f"peer printed nothing within {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            _, err = self.finish()
            pytest.fail(f"peer exited early: {err[-2000:]}")
        return line

    def finish(self, timeout: float = TIMEOUT) -> tuple[str, str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"peer did not finish within {timeout} s")
        return out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def peers():
    started: list[Peer] = []

    def start(*args) -> Peer:
        peer = Peer(*args)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.kill()


def run_sender(reference_python, scripts, proto, host, port, heap_address_bits=40, max_packet_size=1472):
    proc = subprocess.run(
        [reference_python, str(scripts / "send.py"), proto, host, str(port), str(N_HEAPS),
         str(heap_address_bits), str(max_packet_size)],
        cwd=scripts, capture_output=True, text=True, timeout=TIMEOUT, env=peer_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "sent"


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


@pytest.mark.parametrize("host,bits,mps", [("127.0.0.1", 40, 1472), ("127.0.0.1", 48, 8972), ("::1", 40, 8972)])
def test_reference_udp_to_us(reference_python, scripts, common, make_stream, host, bits, mps):
    sock = udp_socket(host, rcvbuf=32 << 20)
    stream = make_stream()
    stream.add_udp_reader(sock, max_size=9200)
    port = port_of(sock)
    sock.close()
    heaps = receive_during(stream, common,
                           lambda: run_sender(reference_python, scripts, "udp", host, port, bits, mps))
    assert heaps == expected(common, N_HEAPS, bits)
    assert stream.stats["incomplete_heaps_flushed"] == 0


@pytest.mark.parametrize("host,bits,mps", [("127.0.0.1", 40, 1472), ("127.0.0.1", 48, 8972), ("::1", 40, 8972)])
def test_us_udp_to_reference(reference_python, scripts, common, thread_pool, peers, host, bits, mps):
    peer = peers(reference_python, scripts, "recv.py", "udp", host)
    port = int(peer.readline())
    sender = spead2.send.UdpStream(thread_pool, [(host, port)],
                                   spead2.send.StreamConfig(max_packet_size=mps, rate=1e8))
    ig = common["make_send_ig"](spead2, bits)

    run_in_thread(send_heaps, sender, ig, common, N_HEAPS)
    out, err = peer.finish()
    assert peer.proc.returncode == 0, err[-2000:]
    assert json.loads(out) == expected(common, N_HEAPS, bits)


def test_reference_tcp_to_us(reference_python, scripts, common, make_stream):
    listener = tcp_listener()
    stream = make_stream()
    stream.add_tcp_reader(listener)
    port = port_of(listener)
    listener.close()
    heaps = receive_during(stream, common,
                           lambda: run_sender(reference_python, scripts, "tcp", "127.0.0.1", port, 40, 8192))
    assert heaps == expected(common, N_HEAPS)


def test_us_tcp_to_reference(reference_python, scripts, common, thread_pool, peers):
    peer = peers(reference_python, scripts, "recv.py", "tcp", "127.0.0.1")
    port = int(peer.readline())
    ig = common["make_send_ig"](spead2, 40)

    def send_all():
        sender = spead2.send.TcpStream(thread_pool, [("127.0.0.1", port)],
                                       spead2.send.StreamConfig(max_packet_size=8192))
        send_heaps(sender, ig, common, N_HEAPS)

    run_in_thread(send_all)
    out, err = peer.finish()
    assert peer.proc.returncode == 0, err[-2000:]
    assert json.loads(out) == expected(common, N_HEAPS)


def test_us_tcp_to_reference_close_ends_stream(reference_python, scripts, common, thread_pool, peers):
    """Without an end-of-stream heap, closing our connection ends the reference's stream."""
    peer = peers(reference_python, scripts, "recv.py", "tcp", "127.0.0.1")
    port = int(peer.readline())
    ig = common["make_send_ig"](spead2, 40)

    def send_and_close():
        sender = spead2.send.TcpStream(thread_pool, [("127.0.0.1", port)],
                                       spead2.send.StreamConfig(max_packet_size=8192))
        send_heaps(sender, ig, common, 2, end=False)
        del sender  # the last reference: the connection closes

    run_in_thread(send_and_close)
    out, err = peer.finish()
    assert peer.proc.returncode == 0, err[-2000:]
    assert json.loads(out) == expected(common, 2)
