"""``spead2_bench.py``: find the highest UDP rate a receiver sustains without loss.

    spead2_bench.py [--log LEVEL] agent PORT
    spead2_bench.py [--log LEVEL] master [options] HOST:PORT

The agent runs on the receiving machine: it accepts control connections on TCP
``PORT`` and, for each measurement pass the master asks for, receives UDP on the same
port number and counts complete heaps. The master sends passes of about 1 GB
(``--pass-size``): a warm-up, one at full speed (``Send rate: X Gbps``; if nothing was
lost, ``Limited by send speed``), then a binary search over the rate, five passes per
rate, a rate being good when every pass lost at most one heap (``Rate: X Gbps (Y
actual): GOOD|BAD``), until the interval is within 2%: ``Sustainable rate: X Gbps``.

The control protocol is newline-terminated JSON, the same as spead2 4.x's, so our
master works with its agent and the other way round:
``{"cmd": "start", "args": {...}, "protocol": {...}, "receiver": {...}}`` → ``ready``;
``{"cmd": "stop"}`` → ``{"received_heaps": N}``; ``{"cmd": "exit"}`` closes the
connection.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import enum
import json
import logging
import sys
import time
import typing

import numpy as np

import spead2
import spead2.recv
import spead2.recv.asyncio
import spead2.send
from spead2.tools import cmdline
from spead2.tools._entry import run_tool

PASSES = 5
PRECISION = 0.02  # stop searching when the rate interval is this narrow, relatively
DEFAULT_PASS_SIZE = 10**9

SENDER_NAMES = {
    "packet": None,
    "rate": None,
    "buffer": "send_buffer",
    "bind": "send_bind",
    "ibv": "send_ibv",
    "ibv_vector": "send_ibv_vector",
    "ibv_max_poll": "send_ibv_max_poll",
    "affinity": "send-affinity",
    "threads": "send-threads",
}
RECEIVER_NAMES = {
    "mem_pool": None,
    "mem_lower": None,
    "mem_upper": None,
    "buffer": "recv_buffer",
    "bind": "recv_bind",
    "ibv": "recv_ibv",
    "ibv_vector": "recv_ibv_vector",
    "ibv_max_poll": "recv_ibv_max_poll",
    "affinity": "recv-affinity",
    "threads": "recv-threads",
}


class AgentError(RuntimeError):
    """The agent refused or failed a command."""


# --------------------------------------------------------------------------
# Agent
# --------------------------------------------------------------------------


class AgentConnection:
    """One control connection: at most one receiving stream at a time."""

    def __init__(self) -> None:
        self.stream: spead2.recv.asyncio.Stream | None = None
        self.counter: asyncio.Task | None = None

    async def count_heaps(self, stream: spead2.recv.asyncio.Stream) -> int:
        received = 0
        async for heap in stream:
            if not isinstance(heap, spead2.recv.IncompleteHeap):
                received += 1
        return received

    def start(self, command: dict[str, typing.Any]) -> None:
        protocol = cmdline.ProtocolOptions()
        protocol.update(command.get("protocol", {}))
        receiver = cmdline.ReceiverOptions(protocol)
        settings = command.get("receiver", {})
        if settings.get("ibv") and "ibv" not in vars(receiver):
            raise AgentError("ibverbs was requested but this agent has no ibverbs plugin")
        receiver.update(settings)
        receiver.fill_defaults()
        args = command.get("args", {})
        endpoint = args.get("multicast") or args["endpoint"]
        stream = spead2.recv.asyncio.Stream(
            receiver.make_thread_pool(), receiver.make_stream_config(), receiver.make_ring_stream_config()
        )
        try:
            receiver.add_readers(stream, [endpoint])
        except BaseException:
            stream.stop()
            raise
        self.stream = stream
        self.counter = asyncio.ensure_future(self.count_heaps(stream))

    async def stop(self) -> int:
        if self.stream is None or self.counter is None:
            return 0
        # Count what had arrived when "stop" came: on a busy host the stream may still
        # be working through its socket buffer, and stopping now would discard that.
        packets = -1
        while not self.counter.done() and self.stream.stats["packets"] != packets:
            packets = self.stream.stats["packets"]
            await asyncio.sleep(0.05)
        self.stream.stop()
        received = await self.counter
        self.stream = self.counter = None
        return received

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                command = json.loads(line)
                logging.debug("agent command: %s", command)
                if command["cmd"] == "start":
                    await self.stop()
                    try:
                        self.start(command)
                    except (RuntimeError, OSError, ValueError, KeyError) as error:
                        logging.error("cannot start receiving: %s", error)
                        writer.write(json.dumps({"error": str(error)}).encode() + b"\n")
                        break
                    writer.write(b"ready\n")
                elif command["cmd"] == "stop":
                    writer.write(json.dumps({"received_heaps": await self.stop()}).encode() + b"\n")
                elif command["cmd"] == "exit":
                    break
                else:
                    logging.warning("ignoring unknown command %r", command["cmd"])
                await writer.drain()
        except (ConnectionError, json.JSONDecodeError, KeyError) as error:
            logging.warning("control connection failed: %s", error)
        finally:
            await self.stop()
            writer.close()


async def run_agent(port: int) -> None:
    """Serve control connections on TCP ``port`` until cancelled."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await AgentConnection().serve(reader, writer)

    server = await asyncio.start_server(serve, port=port)
    async with server:
        await server.serve_forever()


# --------------------------------------------------------------------------
# Master
# --------------------------------------------------------------------------


def _json_default(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.name
    raise TypeError(f"cannot serialise {value!r}")


class Master:
    """The sending side of the measurement, and the agent's remote control."""

    def __init__(self, args: argparse.Namespace, protocol: cmdline.ProtocolOptions,
                 sender: cmdline.SenderOptions, receiver: cmdline.ReceiverOptions) -> None:
        self.args = args
        self.protocol = protocol
        self.sender = sender
        self.receiver = receiver
        self.host, self.port = args.endpoint
        self.num_heaps = max(2, round(args.pass_size / args.heap_size)) if args.heap_size else 2
        item_group = spead2.send.ItemGroup(flavour=sender.make_flavour())
        self.payload = np.zeros((args.heap_size,), np.uint8)
        item_group.add_item(0x1000, "payload", "payload", shape=self.payload.shape, dtype=self.payload.dtype,
                            value=self.payload)
        self.heap = item_group.get_heap(descriptors="all", data="all")
        args_dict = {key: value for key, value in vars(args).items() if key != "command"}
        args_dict["endpoint"] = f"{self.host}:{self.port}"
        self.start_command = json.dumps(
            {"cmd": "start", "args": args_dict, "protocol": protocol.to_dict(), "receiver": receiver.to_dict()},
            default=_json_default,
        ).encode() + b"\n"

    async def send_pass(self, rate: float) -> tuple[int, float]:
        """Send one pass at ``rate`` Gb/s (0: unlimited); the bytes sent and the seconds taken."""
        self.sender.rate = rate
        destination = self.args.multicast or f"{self.host}:{self.port}"
        thread_pool = self.sender.make_thread_pool()
        stream = await self.sender.make_stream(thread_pool, [cmdline.parse_endpoint(destination)], [self.payload])
        pending: collections.deque[asyncio.Future] = collections.deque()
        sent = 0
        start = time.perf_counter()
        for _ in range(self.num_heaps):
            if len(pending) >= self.sender.max_heaps:
                sent += await pending.popleft()
            pending.append(stream.async_send_heap(self.heap))
        for future in pending:
            sent += await future
        return sent, time.perf_counter() - start

    async def measure_once(self, rate: float) -> tuple[bool, float]:
        """One pass with the agent receiving: whether at most one heap was lost, and the Gb/s achieved."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(self.start_command)
            await writer.drain()
            response = await reader.readline()
            if response != b"ready\n":
                raise AgentError(f"agent did not start: {response.decode(errors='replace').strip() or 'closed'}")
            sent, elapsed = await self.send_pass(rate)
            await asyncio.sleep(0.1)  # packets still in flight, and the last heap's assembly
            writer.write(b'{"cmd": "stop"}\n')
            await writer.drain()
            response = await reader.readline()
            if not response:
                raise AgentError("agent closed the connection")
            received = json.loads(response)["received_heaps"]
            writer.write(b'{"cmd": "exit"}\n')
            await writer.drain()
        finally:
            writer.close()
        logging.debug("rate %.3f Gb/s: received %d of %d heaps", rate, received, self.num_heaps)
        return received >= self.num_heaps - 1, sent * 8e-9 / elapsed

    async def measure(self, rate: float, passes: int = PASSES) -> tuple[bool, float]:
        """Whether ``rate`` is good in every one of ``passes`` passes, and the mean Gb/s achieved."""
        rates = []
        for _ in range(passes):
            good, actual = await self.measure_once(rate)
            rates.append(actual)
            if not good:
                return False, sum(rates) / len(rates)
        return True, sum(rates) / len(rates)

    async def run(self) -> float:
        """The sustainable rate in Gb/s, printing the search as it goes."""
        quiet = self.args.quiet
        await self.measure_once(0.0)  # warm-up: caches, ARP, socket buffers
        good, send_rate = await self.measure_once(0.0)
        if good:
            if not quiet:
                print("Limited by send speed")
            best = send_rate
        else:
            if not quiet:
                print(f"Send rate: {send_rate:.3f} Gbps")
            low, high, best = 0.0, send_rate, 0.0
            while high - low > high * PRECISION:
                rate = (low + high) / 2
                good, actual = await self.measure(rate)
                if not quiet:
                    print(f"Rate: {rate:.3f} Gbps ({actual:.3f} actual): {'GOOD' if good else 'BAD'}")
                if good:
                    low, best = rate, actual
                else:
                    high = rate
        if quiet:
            print(f"{best:.3f}")
        else:
            print(f"Sustainable rate: {best:.3f} Gbps")
        return best


def get_args(argv: typing.Sequence[str] | None = None) -> tuple[argparse.Namespace, typing.Any, typing.Any, typing.Any]:
    """Parse the command line; for the master also its protocol, sender and receiver options."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", metavar="LEVEL", default="INFO", type=cmdline.log_level, help="Log level [%(default)s]")
    subparsers = parser.add_subparsers(title="subcommands", dest="command", required=True)

    master = subparsers.add_parser("master")
    master.add_argument("--quiet", action="store_true", help="Print only the final result")
    master.add_argument("--heap-size", metavar="BYTES", type=int, default=4194304,
                        help="Payload size for heap [%(default)s]")
    master.add_argument("--multicast", metavar="ADDRESS", type=str, help="Send via multicast group [unicast]")
    master.add_argument("--pass-size", metavar="BYTES", type=int, default=DEFAULT_PASS_SIZE,
                        help="Bytes of payload per measurement pass [%(default)s]")
    protocol = cmdline.ProtocolOptions(name_map={"tcp": None})
    protocol.add_arguments(master)
    sender = cmdline.SenderOptions(protocol, name_map=SENDER_NAMES)
    sender.add_arguments(master.add_argument_group("sender options"))
    receiver = cmdline.ReceiverOptions(protocol, name_map=RECEIVER_NAMES)
    receiver.add_arguments(master.add_argument_group("receiver options"))
    master.add_argument("endpoint", metavar="HOST:PORT", type=cmdline.parse_endpoint)

    agent = subparsers.add_parser("agent")
    agent.add_argument("port", type=int)

    args = parser.parse_args(argv)
    if args.command == "agent":
        return args, None, None, None
    # As the reference reports it: the multicast requirement before the options' own checks.
    if getattr(args, "send_ibv", False) and not args.multicast:
        master.error("--send-ibv requires --multicast")
    protocol.notify(master, args)
    sender.notify(master, args)
    receiver.notify(master, args)
    if args.packet is not None:
        sender.packet = args.packet
    if args.heap_size < 1:
        master.error("--heap-size must be positive")
    if args.pass_size < 1:
        master.error("--pass-size must be positive")
    if args.multicast is not None:
        try:
            cmdline.parse_endpoint(args.multicast)
        except ValueError:
            master.error(f"--multicast must be GROUP:PORT, not {args.multicast!r}")
    receiver.mem_pool = True
    receiver.mem_lower = args.heap_size
    receiver.mem_upper = args.heap_size + 1024
    return args, protocol, sender, receiver


def main(argv: typing.Sequence[str] | None = None) -> int:
    """Entry point of ``spead2_bench.py``."""
    args, protocol, sender, receiver = get_args(argv)
    if args.command == "agent":
        return run_tool("spead2_bench.py", args.log, run_agent(args.port))
    return run_tool("spead2_bench.py", args.log, Master(args, protocol, sender, receiver).run())


if __name__ == "__main__":
    sys.exit(main())
