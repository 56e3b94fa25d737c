"""UDP loopback demo: a sender process streams 1 MiB heaps of numpy data to a receiver.

    python -m spead2.tools.demo [--heaps N] [--heap-size BYTES] [--packet-size BYTES]
                                [--rate GBPS] [--port PORT]

The receiver (this process) binds a UDP port on 127.0.0.1 and starts the sender as a
separate process (``--send``), which sends ``--heaps`` heaps at ``--rate`` Gb/s and then
an end-of-stream heap. The receiver verifies every heap's payload and prints heaps/s,
Gb/s, and what was lost: heaps missing or incomplete, and packets the socket dropped
(its receive buffer overflowed) or that did not decode. At a sustainable rate all of
these are 0; exits with status 1 otherwise.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time

import numpy as np

import spead2
import spead2.recv
import spead2.send

TIMESTAMP_ID = 0x1600
DATA_ID = 0x1601


def payload(index: int, heap_size: int) -> np.ndarray:
    """The data of heap ``index``: cheap to regenerate on both sides, different per heap."""
    return (np.arange(heap_size, dtype=np.uint32) * 7 + index).astype(np.uint8)


def send(args: argparse.Namespace) -> None:
    config = spead2.send.StreamConfig(max_packet_size=args.packet_size, rate=args.rate * 1e9 / 8, max_heaps=8)
    stream = spead2.send.UdpStream(spead2.ThreadPool(), [("127.0.0.1", args.port)], config)
    ig = spead2.send.ItemGroup()
    ig.add_item(TIMESTAMP_ID, "timestamp", "Heap index", shape=(), format=[("u", 40)])
    ig.add_item(DATA_ID, "data", "Payload", shape=(args.heap_size,), dtype=np.uint8)
    values = [payload(i, args.heap_size) for i in range(16)]
    for i in range(args.heaps):
        ig["timestamp"].value = i
        ig["data"].value = values[i % 16]
        stream.send_heap(ig.get_heap(descriptors="all"))
    stream.send_heap(ig.get_end())


def receive(args: argparse.Namespace) -> int:
    pool = spead2.MemoryPool(args.heap_size, args.heap_size + 4096, 16, 16)
    stream = spead2.recv.Stream(
        spead2.ThreadPool(),
        spead2.recv.StreamConfig(max_heaps=4, memory_allocator=pool),
        spead2.recv.RingStreamConfig(heaps=16),
    )
    # Bound before the sender starts, so that no packet can arrive at a closed port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    sock.bind(("127.0.0.1", args.port))
    args.port = sock.getsockname()[1]
    stream.add_udp_reader(sock)
    sock.close()

    sender = subprocess.Popen(
        [sys.executable, "-m", "spead2.tools.demo", "--send", "--port", str(args.port), "--heaps", str(args.heaps),
         "--heap-size", str(args.heap_size), "--packet-size", str(args.packet_size), "--rate", str(args.rate)])
    values = [payload(i, args.heap_size) for i in range(16)]
    ig = spead2.ItemGroup()
    seen = set()
    incomplete = corrupt = 0
    start = None
    for heap in stream:
        if start is None:
            start = time.perf_counter()
        if isinstance(heap, spead2.recv.IncompleteHeap):
            incomplete += 1
            continue
        ig.update(heap)
        i = ig["timestamp"].value
        if not np.array_equal(ig["data"].value, values[i % 16]):
            corrupt += 1
        seen.add(i)
    elapsed = time.perf_counter() - (start or time.perf_counter())
    if sender.wait() != 0:
        raise SystemExit(f"the sender failed with status {sender.returncode}")

    stats = stream.stats
    lost = args.heaps - len(seen)
    print(f"received {len(seen)} of {args.heaps} heaps of {args.heap_size} bytes in {elapsed:.3f} s: "
          f"{len(seen) / elapsed:.1f} heaps/s, {len(seen) * args.heap_size * 8 / elapsed / 1e9:.2f} Gb/s")
    print(f"lost heaps: {lost} (incomplete: {incomplete}); packets: {stats['packets']} received, "
          f"{stats['transport_dropped_packets']} dropped by the socket, {stats['malformed_packets']} malformed")
    print(f"payload verified: {len(seen) - corrupt} heaps intact, {corrupt} corrupt")
    return 0 if lost == 0 and corrupt == 0 and stats["transport_dropped_packets"] == 0 else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heaps", type=int, default=2000)
    parser.add_argument("--heap-size", type=int, default=1 << 20)
    parser.add_argument("--packet-size", type=int, default=8972)
    parser.add_argument("--rate", type=float, default=4.0, help="send rate in Gb/s (0: as fast as possible)")
    parser.add_argument("--port", type=int, default=0, help="UDP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--send", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.send:
        send(args)
    else:
        sys.exit(receive(args))


if __name__ == "__main__":
    main()
