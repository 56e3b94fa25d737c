"""Round trip demo: encode a stream of 1 MiB heaps from numpy arrays, decode it again.

    python -m spead2.tools.demo [--heaps N] [--heap-size BYTES] [--packet-size BYTES]

Prints throughput of each direction (heaps/s and Gb/s of item payload) and checks
that every heap came back intact.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import spead2
import spead2.recv
import spead2.send


def encode(args: argparse.Namespace, thread_pool: spead2.ThreadPool, values: np.ndarray) -> bytes:
    """Encode args.heaps heaps, each a timestamp and one slice of ``values``."""
    stream = spead2.send.BytesStream(thread_pool, spead2.send.StreamConfig(max_packet_size=args.packet_size))
    ig = spead2.send.ItemGroup()
    ig.add_item(0x1600, "timestamp", "Heap index", shape=(), format=[("u", 40)])
    ig.add_item(0x1601, "data", "Payload", shape=(args.heap_size,), dtype=np.uint8)
    for i in range(args.heaps):
        ig["timestamp"].value = i
        ig["data"].value = values[i % len(values)]
        stream.send_heap(ig.get_heap())
    stream.send_heap(ig.get_end())
    return stream.getvalue()


def decode(data: bytes, thread_pool: spead2.ThreadPool, values: np.ndarray) -> int:
    """Decode ``data`` with an ItemGroup, verifying every heap; returns the heap count."""
    stream = spead2.recv.Stream(thread_pool, spead2.recv.StreamConfig(max_heaps=4))
    stream.add_buffer_reader(data)
    ig = spead2.ItemGroup()
    received = 0
    for heap in stream:
        ig.update(heap)
        i = ig["timestamp"].value
        if i != received or not np.array_equal(ig["data"].value, values[i % len(values)]):
            raise RuntimeError(f"heap {received} came back wrong")
        received += 1
    return received


def report(what: str, heaps: int, heap_size: int, seconds: float) -> None:
    print(f"{what:7s} {heaps:6d} heaps in {seconds:6.3f} s: {heaps / seconds:10.1f} heaps/s, "
          f"{heaps * heap_size * 8 / seconds / 1e9:7.2f} Gb/s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heaps", type=int, default=1000)
    parser.add_argument("--heap-size", type=int, default=1 << 20)
    parser.add_argument("--packet-size", type=int, default=8972)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(1)
    values = rng.integers(0, 256, size=(16, args.heap_size), dtype=np.uint8)
    thread_pool = spead2.ThreadPool()

    start = time.perf_counter()
    data = encode(args, thread_pool, values)
    report("encode", args.heaps, args.heap_size, time.perf_counter() - start)

    start = time.perf_counter()
    received = decode(data, thread_pool, values)
    report("decode", received, args.heap_size, time.perf_counter() - start)
    if received != args.heaps:
        raise SystemExit(f"received {received} of {args.heaps} heaps")
    print(f"all {received} heaps verified ({len(data)} bytes on the wire)")


if __name__ == "__main__":
    main()
