"""Achieved send rate versus the configured rate, over the inproc transport.

    python bench/rate_accuracy.py [--rates 1e9,5e9] [--seconds 2] [--heap-size 1048576]

StreamConfig.rate counts whole packets (headers included), in bytes per second; the
receiver counts the packet bytes it gets and the wall time from first to last heap.
The sender keeps several heaps queued (asyncio), as a rate-limited producer would: a
queue that runs empty is idle, and idle time deliberately earns no credit.
Prints the achieved rate and its error for each target.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time

import numpy as np

import spead2
import spead2.recv
import spead2.send
import spead2.send.asyncio


def measure(rate_bits: float, seconds: float, heap_size: int, packet_size: int) -> tuple[float, float]:
    """Send for about ``seconds`` at ``rate_bits``; return (achieved bits/s, packet bytes)."""
    queue = spead2.InprocQueue()
    receiver = spead2.recv.Stream(spead2.ThreadPool(), spead2.recv.StreamConfig(max_heaps=4),
                                  spead2.recv.RingStreamConfig(heaps=16))
    receiver.add_inproc_reader(queue)
    config = spead2.send.StreamConfig(max_packet_size=packet_size, rate=rate_bits / 8, max_heaps=8)
    sender = spead2.send.asyncio.InprocStream(spead2.ThreadPool(), [queue], config)
    heap = spead2.send.Heap()
    item = spead2.Item(0x1000, "data", "", shape=(heap_size,), dtype=np.uint8, value=np.zeros(heap_size, np.uint8))
    heap.add_item(item)
    n_heaps = max(4, int(rate_bits / 8 * seconds / heap_size))
    heap_bytes = sum(len(p) for p in spead2.send.PacketGenerator(heap, 1, packet_size))

    async def send_all() -> None:
        window: list[asyncio.Future] = []
        for _ in range(n_heaps):
            window.append(sender.async_send_heap(heap))
            if len(window) >= 4:
                await window.pop(0)
        await asyncio.gather(*window)

    def send() -> None:
        asyncio.run(send_all())
        queue.stop()

    thread = threading.Thread(target=send)
    thread.start()
    times = [time.perf_counter() for _ in receiver]
    thread.join()
    # The first heap's arrival starts the clock, so it is not counted.
    elapsed = times[-1] - times[0]
    return (len(times) - 1) * heap_bytes * 8 / elapsed, heap_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="1e9,5e9", help="target rates in bit/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--heap-size", type=int, default=1 << 20)
    parser.add_argument("--packet-size", type=int, default=8972)
    args = parser.parse_args()
    for rate in (float(r) for r in args.rates.split(",")):
        achieved, _ = measure(rate, args.seconds, args.heap_size, args.packet_size)
        print(f"target {rate / 1e9:6.2f} Gb/s  achieved {achieved / 1e9:8.4f} Gb/s  "
              f"error {100 * (achieved / rate - 1):+6.2f}%")


if __name__ == "__main__":
    main()
