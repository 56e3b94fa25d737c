"""Shared helpers for the tests in ``tests/udp`` (network transports).

Test modules import this as ``import udp_support`` (``conftest.py`` puts this
directory on ``sys.path``, because the project runs pytest with
``--import-mode=importlib``).  It is named differently from ``tests/core``'s
``support`` so that both suites can run in one pytest session.

Everything here uses loopback addresses only.
"""

from __future__ import annotations

import asyncio
import importlib.util
import pathlib
import sys
import socket
import threading
import time

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.send


def _load_core_support():
    tests = pathlib.Path(__file__).resolve().parent.parent
    # It imports modules shared by every test folder (tests/), which a child process
    # started with only this folder on sys.path does not have yet.
    if str(tests) not in sys.path:
        sys.path.insert(0, str(tests))
    path = tests / "core" / "support.py"
    spec = importlib.util.spec_from_file_location("spead2_tests_core_support", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_core_support = _load_core_support()

#: Default timeout (seconds) of the helpers below.
DEFAULT_TIMEOUT = 10.0

#: Item ids used by :func:`make_item_group`.
DATA_ID = 0x1000
COUNTER_ID = 0x1001
MATRIX_ID = 0x1002


# --------------------------------------------------------------------------
# Threads and waiting
# --------------------------------------------------------------------------


def run_in_thread(fn, *args, timeout: float = DEFAULT_TIMEOUT, **kwargs):
    """``tests/core``'s ``run_in_thread`` with this suite's longer default timeout."""
    return _core_support.run_in_thread(fn, *args, timeout=timeout, **kwargs)


def run_async(coro_fn, *args, timeout: float = DEFAULT_TIMEOUT):
    """Run ``coro_fn(*args)`` under ``asyncio.run`` in a thread, with a timeout."""

    async def main():
        return await asyncio.wait_for(coro_fn(*args), timeout)

    return run_in_thread(asyncio.run, main(), timeout=timeout + 2)


def drain(stream, timeout: float = DEFAULT_TIMEOUT) -> list:
    """All heaps of ``stream`` until it stops (iterated in a thread with a timeout)."""
    return run_in_thread(list, stream, timeout=timeout)


def poll(predicate, timeout: float = DEFAULT_TIMEOUT, interval: float = 0.01) -> bool:
    """Call ``predicate`` every ``interval`` seconds until it is true (False on timeout)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def get_heaps(stream, n: int, timeout: float = DEFAULT_TIMEOUT) -> list:
    """The next ``n`` heaps of ``stream`` (fails the test if they do not come in time)."""

    def take():
        out = []
        for _ in range(n):
            out.append(stream.get())
        return out

    return run_in_thread(take, timeout=timeout)


def assert_no_heap(stream, wait: float = 0.2) -> None:
    """Assert that no heap becomes available on ``stream`` within ``wait`` seconds."""
    time.sleep(wait)
    with pytest.raises(spead2.Empty):
        stream.get_nowait()


# --------------------------------------------------------------------------
# Sockets (loopback only)
# --------------------------------------------------------------------------


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def udp_socket(host: str = "127.0.0.1", port: int = 0, reuse: bool = False,
               rcvbuf: int | None = None) -> socket.socket:
    """A UDP socket bound to ``(host, port)`` (an ephemeral port by default).

    ``rcvbuf`` sets its receive buffer, beyond ``net.core.rmem_max`` where allowed
    (root): a test that checks payloads rather than throughput then does not lose
    datagrams when a loaded machine leaves the receiving thread unscheduled for a while.
    """
    sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
    if reuse:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((host, port))
    return sock


def tcp_listener(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket listening on an ephemeral port of ``host``."""
    sock = socket.socket(family_of(host), socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(1)
    return sock


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_DGRAM) -> int:
    """A port of ``host`` that was free a moment ago (for APIs that take a port number).

    The kernel does not hand out an ephemeral port it just gave to a socket that is now
    closed again for a while, so a race with another process is unlikely.
    """
    with socket.socket(family_of(host), kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_of(sock: socket.socket) -> int:
    return sock.getsockname()[1]


# --------------------------------------------------------------------------
# Heaps and their contents
# --------------------------------------------------------------------------


def make_item_group(data_size: int = 1 << 20, flavour: spead2.Flavour | None = None) -> spead2.send.ItemGroup:
    """A send item group with three items of different kinds:

    - ``data`` (``DATA_ID``): a 1-D uint8 array of ``data_size`` elements,
    - ``counter`` (``COUNTER_ID``): a scalar unsigned 32-bit SPEAD format item,
    - ``matrix`` (``MATRIX_ID``): a (3, 5) little-endian float32 array.
    """
    ig = spead2.send.ItemGroup(flavour=flavour) if flavour is not None else spead2.send.ItemGroup()
    ig.add_item(DATA_ID, "data", "bulk payload", shape=(data_size,), dtype=np.uint8)
    ig.add_item(COUNTER_ID, "counter", "heap index", shape=(), format=[("u", 32)])
    ig.add_item(MATRIX_ID, "matrix", "small matrix", shape=(3, 5), dtype="<f4")
    return ig


def expected_values(index: int, data_size: int = 1 << 20) -> dict:
    """The item values :func:`fill_item_group` puts in heap number ``index``."""
    rng = np.random.default_rng(index)
    return {
        "data": rng.integers(0, 256, size=data_size, dtype=np.uint8),
        "counter": index,
        "matrix": (np.arange(15, dtype="<f4").reshape(3, 5) + index * 0.5),
    }


def fill_item_group(ig: spead2.send.ItemGroup, index: int) -> None:
    """Set the values of an item group made by :func:`make_item_group` for heap ``index``."""
    values = expected_values(index, ig["data"].shape[0])
    for name, value in values.items():
        ig[name].value = value


def check_values(ig: spead2.ItemGroup, index: int) -> None:
    """Assert that a receive item group holds the values of heap number ``index``."""
    values = expected_values(index, ig["data"].shape[0])
    np.testing.assert_array_equal(ig["data"].value, values["data"])
    assert ig["counter"].value == values["counter"]
    np.testing.assert_array_equal(ig["matrix"].value, values["matrix"])


def send_item_heaps(stream, n: int, data_size: int = 1 << 20, end: bool = True, substream_index: int = 0) -> int:
    """Send ``n`` heaps made by :func:`fill_item_group` (the first with descriptors),
    then (if ``end``) an end-of-stream heap; returns the bytes sent."""
    ig = make_item_group(data_size)
    total = 0
    for i in range(n):
        fill_item_group(ig, i)
        total += stream.send_heap(ig.get_heap(), substream_index=substream_index)
    if end:
        total += stream.send_heap(ig.get_end(), substream_index=substream_index)
    return total


class Collector:
    """Consumes a receive stream in a background thread, decoding heaps with an ItemGroup.

    ``cnts`` are the cnts of the (complete) heaps received; with ``check``,
    ``indices`` are the ``counter`` values of those carrying one, after checking
    their values with :func:`check_values`.  ``incomplete`` counts IncompleteHeaps,
    ``errors`` holds what went wrong.  The thread ends when the stream stops (or
    after ``limit`` heaps); ``join`` waits for it and re-raises the first error.
    """

    def __init__(self, stream, check: bool = True, limit: int | None = None) -> None:
        self.stream = stream
        self.check = check
        self.limit = limit
        self.indices: list[int] = []
        self.cnts: list[int] = []
        self.incomplete = 0
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        ig = spead2.ItemGroup()
        try:
            for heap in self.stream:
                if isinstance(heap, spead2.recv.IncompleteHeap):
                    self.incomplete += 1
                    continue
                self.cnts.append(heap.cnt)
                ig.update(heap)
                if self.check and any(item.id == COUNTER_ID for item in heap.get_items()):
                    index = int(ig["counter"].value)
                    try:
                        check_values(ig, index)
                    except AssertionError as exc:
                        self.errors.append(exc)
                    self.indices.append(index)
                if self.limit is not None and len(self.cnts) >= self.limit:
                    break
        except BaseException as exc:  # noqa: BLE001
            self.errors.append(exc)

    def join(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.thread.join(timeout)
        if self.thread.is_alive():
            pytest.fail(f"receive stream did not stop within {timeout} s")
        if self.errors:
            raise self.errors[0]


def simple_heap(value: int, size: int = 64) -> spead2.send.Heap:
    """A heap with one uint8 array item (id ``DATA_ID``) of ``size`` bytes equal to ``value % 256``."""
    heap = spead2.send.Heap()
    heap.add_item(spead2.Item(DATA_ID, "v", "", shape=(size,), dtype=np.uint8,
                              value=np.full(size, value % 256, np.uint8)))
    return heap


def simple_value(heap) -> tuple[int, int]:
    """``(first byte, length)`` of the ``DATA_ID`` item of a heap sent by :func:`simple_heap`."""
    (raw,) = [item for item in heap.get_items() if item.id == DATA_ID]
    arr = np.asarray(raw)
    assert np.all(arr == arr[0]), "item bytes are not uniform"
    return int(arr[0]), len(arr)


def packets(heap, cnt: int, max_packet_size: int = 1472) -> list[bytes]:
    """The packets of ``heap`` (cnt ``cnt``) as the sender would produce them."""
    return [bytes(p) for p in spead2.send.PacketGenerator(heap, cnt, max_packet_size)]


def payload_length(packet: bytes) -> int:
    """The PAYLOAD_LENGTH of a SPEAD-64-40/48 packet (from its item pointers)."""
    n = int.from_bytes(packet[6:8], "big")
    heap_address_bits = packet[3] * 8
    for i in range(n):
        pointer = int.from_bytes(packet[8 + 8 * i: 16 + 8 * i], "big")
        if (pointer >> heap_address_bits) & ((1 << (63 - heap_address_bits)) - 1) == spead2.PAYLOAD_LENGTH_ID:
            return pointer & ((1 << heap_address_bits) - 1)
    raise ValueError("no PAYLOAD_LENGTH item pointer")
