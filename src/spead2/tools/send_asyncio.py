"""``spead2_send.py``: send a stream of dummy heaps, to test a link or a receiver.

    spead2_send.py [options] HOST:PORT [HOST:PORT ...]

Each heap has ``--items`` zero-filled items of ``--dtype`` sharing ``--heap-size``
bytes; several destinations are the stream's substreams (heap i goes to destination
i mod n). With ``--heaps N`` it sends N heaps then an end-of-stream heap to each
destination and prints ``Sent BYTES bytes in SECONDSs, RATE Gb/s``; without, it sends
until interrupted (Ctrl-C exits with status 1). ``--stats-interval SECONDS`` shows the
achieved rate every interval, in place on a terminal and as plain lines otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import logging
import sys
import time
import typing

import numpy as np

import spead2
import spead2.send
import spead2.send.asyncio
from spead2.tools import cmdline
from spead2.tools._entry import run_tool
from spead2.tools._live_stats import LiveDisplay, RateMeter, refresh


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """A destination: ``host:port`` (the host is required)."""
    if ":" not in endpoint:
        raise ValueError("destination must be HOST:PORT")
    return cmdline.parse_endpoint(endpoint)


def get_args(argv: typing.Sequence[str] | None = None) -> tuple[argparse.Namespace, cmdline.SenderOptions]:
    """Parse the command line (exits with status 2 on an invalid one)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("destination", type=parse_endpoint, nargs="+", metavar="HOST:PORT")

    group = parser.add_argument_group("Data options")
    group.add_argument("--heap-size", metavar="BYTES", type=int, default=4194304, help="Payload size for heap [%(default)s]")
    group.add_argument("--items", type=int, default=1, help="Number of items per heap [%(default)s]")
    group.add_argument("--dtype", type=str, default="<c8", help="Numpy data type [%(default)s]")
    group.add_argument("--heaps", type=int, help="Number of data heaps to send [infinite]")

    group = parser.add_argument_group("Output options")
    group.add_argument("--log", metavar="LEVEL", default="INFO", type=cmdline.log_level, help="Log level [%(default)s]")
    group.add_argument(
        "--stats-interval", type=float, metavar="SECONDS", help="Show the achieved rate every SECONDS [off]"
    )

    group = parser.add_argument_group("Protocol and performance options")
    protocol = cmdline.ProtocolOptions()
    sender = cmdline.SenderOptions(protocol)
    protocol.add_arguments(group)
    sender.add_arguments(group)
    group.add_argument("--descriptors", type=int, help="Description issue frequency [only at start]")

    args = parser.parse_args(argv)
    protocol.notify(parser, args)
    sender.notify(parser, args)
    if protocol.tcp and len(args.destination) > 1:
        parser.error("only one destination is supported with TCP")
    try:
        dtype = np.dtype(args.dtype)
    except TypeError as error:
        parser.error(f"invalid --dtype {args.dtype!r}: {error}")
    if args.items < 1:
        parser.error("--items must be at least 1")
    if args.heap_size < 0:
        parser.error("--heap-size must not be negative")
    if args.stats_interval is not None and not args.stats_interval > 0:
        parser.error("--stats-interval must be positive")
    args.dtype = dtype
    return args, sender


def make_item_group(args: argparse.Namespace, sender: cmdline.SenderOptions) -> spead2.send.ItemGroup:
    """The heaps' items: ``--items`` zero-filled arrays sharing ``--heap-size`` bytes."""
    elements = args.heap_size // (args.items * args.dtype.itemsize)
    used = elements * args.items * args.dtype.itemsize
    if used != args.heap_size:
        logging.warning("Heap size is not an exact multiple: using %d instead of %d", used, args.heap_size)
    item_group = spead2.send.ItemGroup(descriptor_frequency=args.descriptors, flavour=sender.make_flavour())
    for i in range(args.items):
        item_group.add_item(
            id=None,
            name=f"Test item {i}",
            description="A test item with arbitrary value",
            shape=(elements,),
            dtype=args.dtype,
            value=np.zeros((elements,), dtype=args.dtype),
        )
    return item_group


class SendCounter:
    """What has been sent: bytes, heaps and errors, from the completed futures."""

    def __init__(self) -> None:
        self.meter = RateMeter()
        self.errors = 0
        self.last_error: BaseException | None = None

    async def collect(self, future: asyncio.Future) -> None:
        try:
            self.meter.add(1, await future)
        except OSError as error:
            self.errors += 1
            self.last_error = error

    def status_line(self) -> str:
        heaps_per_second, gbps = self.meter.interval()
        return (
            f"sent {self.meter.heaps} heaps, {self.meter.bytes} bytes: {heaps_per_second:.1f} heaps/s, "
            f"{gbps:.3f} Gb/s; errors {self.errors}"
        )


async def run(args: argparse.Namespace, sender: cmdline.SenderOptions) -> None:
    """Send the heaps, at most ``--max-heaps`` outstanding, and print what was sent."""
    item_group = make_item_group(args, sender)
    thread_pool = sender.make_thread_pool()
    memory_regions = [item.value for item in item_group.values()]
    stream = await sender.make_stream(thread_pool, args.destination, memory_regions)
    substreams = len(args.destination)
    counter = SendCounter()
    live = None
    if args.stats_interval is not None:
        live = asyncio.ensure_future(refresh(LiveDisplay(), lambda: [counter.status_line()], args.stats_interval))
    pending: collections.deque[asyncio.Task] = collections.deque()

    async def queue(heap: spead2.send.Heap, substream_index: int) -> None:
        if len(pending) >= sender.max_heaps:
            await pending.popleft()
        future = stream.async_send_heap(heap, substream_index=substream_index)
        pending.append(asyncio.ensure_future(counter.collect(future)))

    start = time.perf_counter()
    try:
        heap_indices = range(args.heaps) if args.heaps is not None else itertools.count()
        for i in heap_indices:
            descriptors = "all" if i < substreams else "stale"
            await queue(item_group.get_heap(descriptors=descriptors, data="all"), i % substreams)
        for i in range(substreams):
            await queue(item_group.get_end(), i)
        await asyncio.gather(*pending)
    finally:
        if live is not None:
            live.cancel()
    elapsed = time.perf_counter() - start
    if counter.errors:
        logging.warning("%d errors, last one: %s", counter.errors, counter.last_error)
    n_bytes = counter.meter.bytes
    print(f"Sent {n_bytes} bytes in {elapsed:.6f}s, {n_bytes * 8e-9 / elapsed:.6f} Gb/s")


def main(argv: typing.Sequence[str] | None = None) -> int:
    """Entry point of ``spead2_send.py``."""
    args, sender = get_args(argv)
    return run_tool("spead2_send.py", args.log, run(args, sender))


if __name__ == "__main__":
    sys.exit(main())
