"""``spead2_recv.py``: receive SPEAD streams and report their heaps and items.

    spead2_recv.py [options] SOURCE [SOURCE ...]

Each source is ``host:port``, ``port`` or (when it is not an endpoint) a pcap file.
One stream per source, or one for all of them with ``--joint``. For each heap it prints
``Received heap CNT on stream NAME`` and the names of the items it updated (with
``--values``, ``name = value``; with ``--descriptors``, each descriptor first). When a
stream ends (its sender's end-of-stream heap, or Ctrl-C) it prints ``Shutting down
stream NAME after N heaps`` and the stream's statistics.

``--stats-interval SECONDS`` adds a live line per stream (heaps/s, Gb/s, packets,
incomplete heaps, malformed and rejected packets, packets the socket dropped), in
place on a terminal and as plain lines otherwise, and a summary line per stream at
the end. Heap reports are then printed only with ``--values`` or ``--descriptors``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import typing

import spead2
import spead2.recv
import spead2.recv.asyncio
from spead2.tools import cmdline
from spead2.tools._entry import run_tool
from spead2.tools._live_stats import LiveDisplay, RateMeter, refresh


def get_args(argv: typing.Sequence[str] | None = None) -> tuple[argparse.Namespace, cmdline.ReceiverOptions]:
    """Parse the command line (exits with status 2 on an invalid one)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("source", nargs="+", help="Sources (filename, host:port or port)")

    group = parser.add_argument_group("Output options")
    group.add_argument("--log", metavar="LEVEL", default="INFO", type=cmdline.log_level, help="Log level [%(default)s]")
    group.add_argument("--values", action="store_true", help="Show heap values")
    group.add_argument("--descriptors", action="store_true", help="Show descriptors")
    group.add_argument(
        "--stats-interval",
        type=float,
        metavar="SECONDS",
        help="Show live statistics every SECONDS, and a summary at the end [off]",
    )

    group = parser.add_argument_group("Input options")
    group.add_argument("--max-heaps", type=int, help="Stop receiving after this many heaps")
    group.add_argument("--joint", action="store_true", help="Treat all sources as a single stream")

    group = parser.add_argument_group("Protocol and performance options")
    protocol = cmdline.ProtocolOptions()
    receiver = cmdline.ReceiverOptions(protocol)
    protocol.add_arguments(group)
    receiver.add_arguments(group)

    args = parser.parse_args(argv)
    protocol.notify(parser, args)
    receiver.notify(parser, args)
    if args.stats_interval is not None and not args.stats_interval > 0:
        parser.error("--stats-interval must be positive")
    return args, receiver


def payload_bytes(heap: spead2.recv.Heap) -> int:
    """Bytes of item payload in ``heap`` (immediate items count as none)."""
    return sum(memoryview(item).nbytes for item in heap.get_items() if not item.is_immediate)


class StreamReport:
    """One stream: its reader task's output and its counters for the live display."""

    def __init__(self, name: str, stream: spead2.recv.asyncio.Stream, args: argparse.Namespace,
                 display: LiveDisplay | None) -> None:
        self.name = name
        self.stream = stream
        self.args = args
        self.display = display
        self.meter = RateMeter()
        self.show_heaps = display is None or args.values or args.descriptors

    def print(self, text: str) -> None:
        if self.display is not None:
            self.display.print(text)
        else:
            print(text)

    def report_heap(self, heap: spead2.recv.Heap, item_group: spead2.ItemGroup) -> None:
        """Print what the reference tool prints for one heap."""
        if self.show_heaps:
            self.print(f"Received heap {heap.cnt} on stream {self.name}")
        try:
            if self.args.descriptors:
                for raw_descriptor in heap.get_descriptors():
                    descriptor = spead2.Descriptor.from_raw(raw_descriptor, heap.flavour)
                    self.print(
                        f"    Descriptor for {descriptor.name} ({descriptor.id:#x})\n"
                        f"      description: {descriptor.description}\n"
                        f"      format:      {descriptor.format}\n"
                        f"      dtype:       {descriptor.dtype}\n"
                        f"      shape:       {descriptor.shape}"
                    )
            changed = item_group.update(heap)
            if self.show_heaps:
                for name, item in changed.items():
                    self.print(f"{name} = {item.value}" if self.args.values else name)
        except ValueError as error:
            self.print(f"Error raised processing heap: {error}")

    def status_line(self) -> str:
        """The live line: rates over the last interval and the counts so far."""
        stats = self.stream.stats
        heaps_per_second, gbps = self.meter.interval()
        incomplete = stats["incomplete_heaps_evicted"] + stats["incomplete_heaps_flushed"]
        return (
            f"{self.name}: {heaps_per_second:.1f} heaps/s, {gbps:.3f} Gb/s, "
            f"heaps {self.meter.heaps}, packets {stats['packets']}, "
            f"incomplete {incomplete} (evicted {stats['incomplete_heaps_evicted']}), "
            f"malformed {stats['malformed_packets']}, rejected {stats['rejected_packets']}, "
            f"socket drops {stats['transport_dropped_packets']}"
        )

    def summary_line(self) -> str:
        """The end-of-stream summary for ``--stats-interval``."""
        stats = self.stream.stats
        elapsed, heaps_per_second, gbps = self.meter.overall()
        lost = stats["incomplete_heaps_evicted"] + stats["incomplete_heaps_flushed"]
        return (
            f"Summary for stream {self.name}: {self.meter.heaps} heaps, {self.meter.bytes} bytes "
            f"in {elapsed:.3f}s ({heaps_per_second:.1f} heaps/s, {gbps:.3f} Gb/s); "
            f"incomplete heaps {lost}, malformed packets {stats['malformed_packets']}, "
            f"rejected packets {stats['rejected_packets']}, "
            f"socket drops {stats['transport_dropped_packets']}"
        )

    async def run(self) -> None:
        """Receive until the stream ends, ``--max-heaps`` is reached or the task is cancelled."""
        item_group = spead2.ItemGroup()
        num_heaps = 0
        try:
            while self.args.max_heaps is None or num_heaps < self.args.max_heaps:
                try:
                    heap = await self.stream.get()
                except (spead2.Stopped, asyncio.CancelledError):  # ended, Ctrl-C, or cancelled
                    lines = [f"Shutting down stream {self.name} after {num_heaps} heaps"]
                    lines += [f"{key}: {value}" for key, value in self.stream.stats.items()]
                    if self.display is not None:
                        lines.append(self.summary_line())
                    self.print("\n".join(lines))
                    break
                num_heaps += 1
                self.meter.add(1, payload_bytes(heap))
                self.report_heap(heap, item_group)
        finally:
            self.stream.stop()


async def run(args: argparse.Namespace, receiver: cmdline.ReceiverOptions) -> None:
    """Build the streams and run them until each ends; SIGINT stops them all."""
    loop = asyncio.get_running_loop()
    streams: list[spead2.recv.asyncio.Stream] = []
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        for stream in streams:
            stream.stop()  # each report drains its ring, then prints its summary

    # Installed before the readers bind: a Ctrl-C as soon as the ports are open (or
    # while later sources are being opened) still stops every stream cleanly.
    loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        thread_pool = receiver.make_thread_pool()
        groups = [args.source] if args.joint else [[source] for source in args.source]
        display = LiveDisplay() if args.stats_interval is not None else None
        reports = []
        try:
            for sources in groups:
                stream = spead2.recv.asyncio.Stream(
                    thread_pool, receiver.make_stream_config(), receiver.make_ring_stream_config()
                )
                streams.append(stream)
                receiver.add_readers(stream, sources, allow_pcap=True)
                reports.append(StreamReport(sources[0], stream, args, display))
        except BaseException:
            for stream in streams:
                stream.stop()
            raise
        if interrupted:
            interrupt()
        await run_reports(reports, display, args.stats_interval)
    finally:
        loop.remove_signal_handler(signal.SIGINT)


async def run_reports(reports: list[StreamReport], display: LiveDisplay | None, interval: float | None) -> None:
    """Run every stream's report until each stream ends, with the live display if any."""
    tasks = [asyncio.ensure_future(report.run()) for report in reports]
    live = None
    if display is not None and interval is not None:
        live = asyncio.ensure_future(refresh(display, lambda: [report.status_line() for report in reports], interval))
    try:
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        if live is not None:
            live.cancel()
    if display is not None:
        display.status([report.status_line() for report in reports])  # the final counts
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def main(argv: typing.Sequence[str] | None = None) -> int:
    """Entry point of ``spead2_recv.py``."""
    args, receiver = get_args(argv)
    return run_tool("spead2_recv.py", args.log, run(args, receiver))


if __name__ == "__main__":
    sys.exit(main())
