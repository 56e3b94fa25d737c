"""Option parsing of the command-line tools (spec section 8).

Covers, without any network traffic or running a tool's main loop:

* the defaults of every option of ``spead2_send.py``, ``spead2_recv.py`` and
  ``spead2_bench.py master`` (including the transport-dependent buffer and packet
  defaults), checked both in the argparse namespace and in the options objects;
* that every option parses to the right attribute, value and type (``--rate-method``
  case-insensitively, ``--affinity`` through ``parse_range_list``) and the metavars
  shown by ``--help``;
* validation errors: exit status 2 through ``parser.error`` with the spec's message;
* the ibverbs options in both situations (``HAVE_IBV``): with the spead2-ibverbs
  plugin installed, their defaults, parsing, checks, help lines (the reference's, which
  has ibverbs compiled in) and bench renames; without it, their absence. The tests of
  the situation that does not hold here are skipped;
* the renames of ``spead2_bench.py master``, the receiver settings it forces and the
  JSON ``start`` command it sends to the agent; ``to_dict``/``update``;
* ``parse_endpoint``, ``parse_rate_method``, ``log_level``;
* ``make_thread_pool`` (affinity rotation, with a fake ``spead2.ThreadPool``);
* the receiver's and sender's ``make_stream_config``, ``make_ring_stream_config``
  and ``make_flavour``;
* ``ReceiverOptions.add_readers`` against fake streams (UDP, multicast, TCP, pcap,
  ibverbs) and the sender's ibverbs ``make_stream`` (with a fake stream class);
* ``--help`` of each installed console script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.send
import spead2.send.asyncio
from spead2.tools import bench_asyncio, cmdline, recv_asyncio, send_asyncio
from tools_support import HAVE_IBV, requires_ibv, requires_no_ibv

RECV_UDP_BUFFER = 8388608
RECV_UDP_PACKET = 9200
RECV_TCP_BUFFER = 212992
RECV_TCP_PACKET = 65536
SEND_UDP_BUFFER = 524288
SEND_TCP_BUFFER = 212992

IBV_ATTRS = ("ibv", "ibv_vector", "ibv_max_poll")
IBV_MAX_POLL = 10  # spead2.recv.UdpIbvConfig.DEFAULT_MAX_POLL and spead2.send.UdpIbvConfig.DEFAULT_MAX_POLL
RECV_IBV_BUFFER = 16777216  # spead2.recv.UdpIbvConfig.DEFAULT_BUFFER_SIZE
RECV_IBV_PACKET = 9200  # spead2.recv.UdpIbvConfig.DEFAULT_MAX_SIZE
SEND_IBV_BUFFER = 524288  # spead2.send.UdpIbvConfig.DEFAULT_BUFFER_SIZE
#: The ibverbs settings of a default options object, as ``to_dict`` has them (none without the plugin).
IBV_DEFAULTS = {"ibv": False, "ibv_vector": 0, "ibv_max_poll": IBV_MAX_POLL} if HAVE_IBV else {}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def assert_attrs(obj: object, **expected: object) -> None:
    """Each attribute has the expected value (``False``, ``True`` and ``None`` exactly, not ``0``)."""
    actual = {name: getattr(obj, name) for name in expected}
    assert actual == expected
    for name, value in expected.items():
        if isinstance(value, (bool, type(None))):
            assert actual[name] is value, name


def parse_error(capsys: pytest.CaptureFixture[str], get_args, argv: list[str]) -> str:
    """Run ``get_args(argv)``, require exit status 2 and return stderr."""
    with pytest.raises(SystemExit) as excinfo:
        get_args(argv)
    assert excinfo.value.code == 2
    return capsys.readouterr().err


def help_text(capsys: pytest.CaptureFixture[str], get_args, argv: list[str]) -> str:
    """Run ``get_args(argv + ["--help"])``, require exit status 0 and return stdout."""
    with pytest.raises(SystemExit) as excinfo:
        get_args(argv + ["--help"])
    assert excinfo.value.code in (0, None)
    return capsys.readouterr().out


def assert_ibv_defaults(obj: object, prefix: str = "") -> None:
    """``obj`` (an options object or, with ``prefix``, a namespace) has the ibverbs
    options' defaults if the plugin is installed, and none of them if not."""
    if HAVE_IBV:
        assert_attrs(obj, **{prefix + name: value for name, value in IBV_DEFAULTS.items()})
        assert type(getattr(obj, prefix + "ibv_vector")) is int
        assert type(getattr(obj, prefix + "ibv_max_poll")) is int
    else:
        for name in IBV_ATTRS:
            assert not hasattr(obj, prefix + name), prefix + name


def option_strings(text: str) -> set[str]:
    """All ``--flag`` strings of the usage block of a help text (the help strings may
    mention other flags, e.g. "relative to --rate")."""
    usage = text.split("\n\n")[0]
    assert usage.startswith("usage:")
    return set(re.findall(r"(?<![\w-])--[A-Za-z][\w-]*", usage))


class FakeStream:
    """Records the reader calls ``add_readers`` makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []

    def add_udp_reader(self, *args, **kwargs):
        assert not kwargs
        self.calls.append(("add_udp_reader", args))

    def add_tcp_reader(self, *args, **kwargs):
        assert not kwargs
        self.calls.append(("add_tcp_reader", args))

    def add_udp_pcap_file_reader(self, *args, **kwargs):
        assert not kwargs
        self.calls.append(("add_udp_pcap_file_reader", args))


class FakeStreamNoPcap:
    """A stream of a build without pcap support."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []

    def add_udp_reader(self, *args):
        self.calls.append(("add_udp_reader", args))


# --------------------------------------------------------------------------
# Environment: with or without the ibverbs plugin
# --------------------------------------------------------------------------


def test_cmdline_sees_the_plugin_as_we_do() -> None:
    assert cmdline._HAVE_IBV is HAVE_IBV


@requires_no_ibv
def test_no_ibverbs_plugin() -> None:
    assert not hasattr(spead2.recv.Stream, "add_udp_ibv_reader")
    assert cmdline._HAVE_IBV is False
    assert not hasattr(spead2.recv, "UdpIbvConfig")
    assert not hasattr(spead2.send, "UdpIbvConfig")
    assert not hasattr(spead2.send.asyncio, "UdpIbvStream")


@requires_ibv
def test_ibverbs_plugin() -> None:
    assert cmdline._HAVE_IBV is True
    # What the tools' ibverbs options use
    assert spead2.recv.UdpIbvConfig.DEFAULT_MAX_POLL == IBV_MAX_POLL
    assert spead2.send.UdpIbvConfig.DEFAULT_MAX_POLL == IBV_MAX_POLL
    assert spead2.recv.UdpIbvConfig.DEFAULT_BUFFER_SIZE == RECV_IBV_BUFFER
    assert spead2.recv.UdpIbvConfig.DEFAULT_MAX_SIZE == RECV_IBV_PACKET
    assert spead2.send.UdpIbvConfig.DEFAULT_BUFFER_SIZE == SEND_IBV_BUFFER
    assert hasattr(spead2.send.asyncio, "UdpIbvStream")


# --------------------------------------------------------------------------
# 1. Defaults
# --------------------------------------------------------------------------


def test_send_defaults() -> None:
    args, sender = send_asyncio.get_args(["localhost:8888"])
    assert isinstance(sender, cmdline.SenderOptions)
    assert args.destination == [("localhost", 8888)]
    # Data and output options
    assert_attrs(
        args,
        heap_size=4194304,
        items=1,
        dtype=np.dtype("<c8"),
        heaps=None,
        log="INFO",
        stats_interval=None,
        descriptors=None,
    )
    # Protocol options
    assert args.tcp is False
    assert args.pyspead is False
    # Sender options, in the namespace ...
    assert_attrs(
        args,
        addr_bits=40,
        packet=1472,
        burst=65536,
        burst_rate_ratio=1.05,
        max_heaps=4,
        rate_method=spead2.send.RateMethod.AUTO,
        rate=0.0,
        ttl=None,
    )
    assert args.buffer is None  # filled in on the options object, per transport
    assert args.bind is None
    assert args.affinity is None
    assert args.threads == 1
    assert_ibv_defaults(args)
    # ... and on the options object
    assert_attrs(
        sender,
        addr_bits=40,
        packet=1472,
        burst=65536,
        burst_rate_ratio=1.05,
        max_heaps=4,
        rate_method=spead2.send.RateMethod.AUTO,
        rate=0.0,
        ttl=None,
    )
    assert sender.buffer == spead2.send.asyncio.UdpStream.DEFAULT_BUFFER_SIZE == SEND_UDP_BUFFER
    assert_attrs(
        sender,
        bind=None,
        affinity=None,
        threads=1,
        use_ibv=False,
    )
    assert_ibv_defaults(sender)
    assert sender.to_dict() == {
        "buffer": SEND_UDP_BUFFER,
        "bind": None,
        "threads": 1,
        "affinity": None,
        "addr_bits": 40,
        "packet": 1472,
        "burst": 65536,
        "burst_rate_ratio": 1.05,
        "max_heaps": 4,
        "rate_method": spead2.send.RateMethod.AUTO,
        "rate": 0.0,
        "ttl": None,
        **IBV_DEFAULTS,
    }


def test_send_defaults_match_library_constants() -> None:
    _, sender = send_asyncio.get_args(["h:1"])
    assert_attrs(
        sender,
        addr_bits=spead2.Flavour().heap_address_bits,
        packet=spead2.send.StreamConfig.DEFAULT_MAX_PACKET_SIZE,
        burst=spead2.send.StreamConfig.DEFAULT_BURST_SIZE,
        burst_rate_ratio=spead2.send.StreamConfig.DEFAULT_BURST_RATE_RATIO,
        max_heaps=spead2.send.StreamConfig.DEFAULT_MAX_HEAPS,
        rate_method=spead2.send.StreamConfig.DEFAULT_RATE_METHOD,
    )


def test_send_tcp_buffer_default() -> None:
    args, sender = send_asyncio.get_args(["--tcp", "localhost:8888"])
    assert args.tcp is True
    assert sender.buffer == spead2.send.asyncio.TcpStream.DEFAULT_BUFFER_SIZE == SEND_TCP_BUFFER
    assert sender.packet == 1472


@pytest.mark.parametrize("extra", [[], ["--tcp"]])
def test_send_explicit_buffer_wins(extra: list[str]) -> None:
    _, sender = send_asyncio.get_args(extra + ["--buffer", "12345", "h:1"])
    assert sender.buffer == 12345


def test_recv_defaults() -> None:
    args, receiver = recv_asyncio.get_args(["8888"])
    assert isinstance(receiver, cmdline.ReceiverOptions)
    assert_attrs(
        args,
        source=["8888"],
        log="INFO",
        values=False,
        descriptors=False,
        stats_interval=None,
        max_heaps=None,
        joint=False,
        tcp=False,
        pyspead=False,
    )
    # Namespace
    assert_attrs(
        args,
        memcpy_nt=False,
        concurrent_heaps=4,
        substreams=1,
        ring_heaps=4,
        mem_pool=False,
        mem_lower=16384,
        mem_upper=33554432,
        mem_max_free=12,
        mem_initial=8,
        packet=None,
        buffer=None,
        bind=None,
        affinity=None,
        threads=1,
    )
    assert_ibv_defaults(args)
    # Options object (transport defaults filled in)
    assert receiver.memcpy_nt is False
    assert receiver.concurrent_heaps == 4 == spead2.recv.StreamConfig.DEFAULT_MAX_HEAPS
    assert receiver.substreams == 1
    assert receiver.ring_heaps == 4 == spead2.recv.RingStreamConfig.DEFAULT_HEAPS
    assert_attrs(
        receiver,
        mem_pool=False,
        mem_lower=16384,
        mem_upper=33554432,
        mem_max_free=12,
        mem_initial=8,
    )
    assert receiver.packet == RECV_UDP_PACKET == spead2.recv.Stream.DEFAULT_UDP_MAX_SIZE
    assert receiver.buffer == RECV_UDP_BUFFER == spead2.recv.Stream.DEFAULT_UDP_BUFFER_SIZE
    assert_attrs(
        receiver,
        bind=None,
        affinity=None,
        threads=1,
        use_ibv=False,
    )
    assert_ibv_defaults(receiver)
    assert receiver.to_dict() == {
        "buffer": RECV_UDP_BUFFER,
        "bind": None,
        "threads": 1,
        "affinity": None,
        "memcpy_nt": False,
        "concurrent_heaps": 4,
        "substreams": 1,
        "ring_heaps": 4,
        "mem_pool": False,
        "mem_lower": 16384,
        "mem_upper": 33554432,
        "mem_max_free": 12,
        "mem_initial": 8,
        "packet": RECV_UDP_PACKET,
        **IBV_DEFAULTS,
    }


def test_recv_tcp_defaults() -> None:
    args, receiver = recv_asyncio.get_args(["--tcp", "8888"])
    assert args.tcp is True
    assert receiver.buffer == RECV_TCP_BUFFER == spead2.recv.Stream.DEFAULT_TCP_BUFFER_SIZE
    assert receiver.packet == RECV_TCP_PACKET == spead2.recv.Stream.DEFAULT_TCP_MAX_SIZE


@pytest.mark.parametrize("extra", [[], ["--tcp"]])
def test_recv_explicit_buffer_and_packet_win(extra: list[str]) -> None:
    _, receiver = recv_asyncio.get_args(extra + ["--buffer", "4096", "--packet", "1500", "8888"])
    assert receiver.buffer == 4096
    assert receiver.packet == 1500


def test_bench_master_defaults() -> None:
    args, protocol, sender, receiver = bench_asyncio.get_args(["master", "remote:8888"])
    assert_attrs(
        args,
        command="master",
        endpoint=("remote", 8888),
        log="INFO",
        quiet=False,
        heap_size=4194304,
        multicast=None,
    )
    # Protocol
    assert isinstance(protocol, cmdline.ProtocolOptions)
    assert protocol.tcp is False
    assert protocol.pyspead is False
    assert args.pyspead is False
    # Sender: as spead2_send.py
    assert isinstance(sender, cmdline.SenderOptions)
    assert_attrs(
        sender,
        addr_bits=40,
        packet=1472,
        burst=65536,
        burst_rate_ratio=1.05,
        max_heaps=4,
        rate_method=spead2.send.RateMethod.AUTO,
        rate=0.0,
        ttl=None,
        buffer=SEND_UDP_BUFFER,
        bind=None,
        affinity=None,
        threads=1,
    )
    # Receiver: as spead2_recv.py, but with the forced memory pool
    assert isinstance(receiver, cmdline.ReceiverOptions)
    assert_attrs(
        receiver,
        memcpy_nt=False,
        concurrent_heaps=4,
        substreams=1,
        ring_heaps=4,
        mem_max_free=12,
        mem_initial=8,
        packet=RECV_UDP_PACKET,
        buffer=RECV_UDP_BUFFER,
        bind=None,
        affinity=None,
        threads=1,
        mem_pool=True,
        mem_lower=4194304,
        mem_upper=4194304 + 1024,
    )
    # Renamed options in the namespace
    assert args.send_buffer is None
    assert args.send_bind is None
    assert getattr(args, "send-affinity") is None
    assert getattr(args, "send-threads") == 1
    assert args.recv_buffer is None
    assert args.recv_bind is None
    assert getattr(args, "recv-affinity") is None
    assert getattr(args, "recv-threads") == 1
    assert args.packet is None
    assert_ibv_defaults(args, "send_")
    assert_ibv_defaults(args, "recv_")
    assert_ibv_defaults(sender)
    assert_ibv_defaults(receiver)
    assert sender.use_ibv is False and receiver.use_ibv is False
    # Options that are not exposed (or renamed away)
    for name in ("tcp", "rate", "mem_pool", "mem_lower", "mem_upper", "buffer", "bind", "affinity", "threads",
                 "send_affinity", "send_threads", "recv_affinity", "recv_threads", *IBV_ATTRS):
        assert not hasattr(args, name), name


def test_bench_agent() -> None:
    args, protocol, sender, receiver = bench_asyncio.get_args(["agent", "8888"])
    assert args.command == "agent"
    assert args.port == 8888
    assert args.log == "INFO"
    assert protocol is None and sender is None and receiver is None


# --------------------------------------------------------------------------
# 2. Every option parses to the right attribute
# --------------------------------------------------------------------------


def test_send_all_options() -> None:
    args, sender = send_asyncio.get_args([
        "--heap-size", "1000", "--items", "3", "--dtype", ">u2", "--heaps", "7",
        "--log", "debug", "--stats-interval", "0.5",
        "--pyspead", "--addr-bits", "48", "--packet", "9000", "--burst", "1000",
        "--burst-rate-ratio", "1.5", "--max-heaps", "9", "--rate-method", "sw", "--rate", "2.5",
        "--ttl", "3", "--buffer", "100000", "--bind", "127.0.0.1", "--affinity", "0-2,5",
        "--threads", "3", "--descriptors", "10",
        "a.example:1", "[::1]:2", "10.0.0.1:3",
    ])
    assert args.destination == [("a.example", 1), ("::1", 2), ("10.0.0.1", 3)]
    assert args.heap_size == 1000 and type(args.heap_size) is int
    assert_attrs(
        args,
        items=3,
        dtype=np.dtype(">u2"),
        heaps=7,
        log="debug",
    )
    assert args.stats_interval == 0.5 and type(args.stats_interval) is float
    assert args.descriptors == 10
    assert args.tcp is False
    assert args.pyspead is True
    assert sender.addr_bits == 48 and type(sender.addr_bits) is int
    assert sender.packet == 9000
    assert sender.burst == 1000
    assert sender.burst_rate_ratio == 1.5 and type(sender.burst_rate_ratio) is float
    assert sender.max_heaps == 9
    assert sender.rate_method is spead2.send.RateMethod.SW
    assert sender.rate == 2.5 and type(sender.rate) is float
    assert_attrs(
        sender,
        ttl=3,
        buffer=100000,
        bind="127.0.0.1",
        affinity=[0, 1, 2, 5],
        threads=3,
    )


def test_send_integer_rate_is_float() -> None:
    _, sender = send_asyncio.get_args(["--rate", "10", "h:1"])
    assert sender.rate == 10.0 and type(sender.rate) is float


@pytest.mark.parametrize(
    "name, expected",
    [
        ("sw", spead2.send.RateMethod.SW),
        ("SW", spead2.send.RateMethod.SW),
        ("Sw", spead2.send.RateMethod.SW),
        ("hw", spead2.send.RateMethod.HW),
        ("HW", spead2.send.RateMethod.HW),
        ("auto", spead2.send.RateMethod.AUTO),
        ("AuTo", spead2.send.RateMethod.AUTO),
    ],
)
def test_send_rate_method_case_insensitive(name: str, expected: spead2.send.RateMethod) -> None:
    args, sender = send_asyncio.get_args(["--rate-method", name, "h:1"])
    assert args.rate_method is expected
    assert sender.rate_method is expected


def test_recv_all_options() -> None:
    args, receiver = recv_asyncio.get_args([
        "--log", "warning", "--values", "--descriptors", "--stats-interval", "2",
        "--max-heaps", "5", "--joint", "--tcp", "--pyspead", "--memcpy-nt",
        "--concurrent-heaps", "8", "--substreams", "3", "--ring-heaps", "6",
        "--mem-pool", "--mem-lower", "100", "--mem-upper", "200", "--mem-max-free", "5",
        "--mem-initial", "2", "--packet", "1500", "--buffer", "4096", "--bind", "127.0.0.1",
        "--affinity", "1,3", "--threads", "2",
        "1234", "host:5678", "file.pcap",
    ])
    assert_attrs(
        args,
        source=["1234", "host:5678", "file.pcap"],
        log="warning",
        values=True,
        descriptors=True,
    )
    assert args.stats_interval == 2.0 and type(args.stats_interval) is float
    assert_attrs(
        args,
        max_heaps=5,
        joint=True,
        tcp=True,
        pyspead=True,
    )
    assert_attrs(
        receiver,
        memcpy_nt=True,
        concurrent_heaps=8,
        substreams=3,
        ring_heaps=6,
        mem_pool=True,
        mem_lower=100,
        mem_upper=200,
        mem_max_free=5,
        mem_initial=2,
        packet=1500,
        buffer=4096,
        bind="127.0.0.1",
        affinity=[1, 3],
        threads=2,
    )


def test_recv_affinity_range() -> None:
    _, receiver = recv_asyncio.get_args(["--affinity", "0-2,5", "8888"])
    assert receiver.affinity == [0, 1, 2, 5]


def test_bench_master_all_options() -> None:
    args, protocol, sender, receiver = bench_asyncio.get_args([
        "--log", "error", "master", "--quiet", "--heap-size", "1000",
        "--multicast", "239.1.2.3:7000", "--pyspead",
        "--addr-bits", "48", "--burst", "2000", "--burst-rate-ratio", "1.2", "--max-heaps", "6",
        "--rate-method", "hw", "--ttl", "4",
        "--send-buffer", "1111", "--send-bind", "10.0.0.1", "--send-affinity", "1-2", "--send-threads", "2",
        "--memcpy-nt", "--concurrent-heaps", "7", "--substreams", "2", "--ring-heaps", "5",
        "--mem-max-free", "3", "--mem-initial", "1", "--packet", "8000",
        "--recv-buffer", "2222", "--recv-bind", "10.0.0.2", "--recv-affinity", "3", "--recv-threads", "4",
        "host:9999",
    ])
    assert_attrs(
        args,
        log="error",
        quiet=True,
        heap_size=1000,
        multicast="239.1.2.3:7000",
        endpoint=("host", 9999),
    )
    assert protocol.pyspead is True
    assert protocol.tcp is False
    # Sender
    assert_attrs(
        sender,
        addr_bits=48,
        burst=2000,
        burst_rate_ratio=1.2,
        max_heaps=6,
        rate_method=spead2.send.RateMethod.HW,
        ttl=4,
        buffer=1111,
        bind="10.0.0.1",
        affinity=[1, 2],
        threads=2,
    )
    assert sender.packet == 8000  # --packet also sets the sender's packet size
    assert sender.rate == 0.0
    # Receiver
    assert_attrs(
        receiver,
        memcpy_nt=True,
        concurrent_heaps=7,
        substreams=2,
        ring_heaps=5,
        mem_max_free=3,
        mem_initial=1,
        packet=8000,
        buffer=2222,
        bind="10.0.0.2",
        affinity=[3],
        threads=4,
        mem_pool=True,
        mem_lower=1000,
        mem_upper=2024,
    )
    # Dest names of the renamed options
    assert args.send_buffer == 1111
    assert args.send_bind == "10.0.0.1"
    assert getattr(args, "send-affinity") == [1, 2]
    assert getattr(args, "send-threads") == 2
    assert args.recv_buffer == 2222
    assert args.recv_bind == "10.0.0.2"
    assert getattr(args, "recv-affinity") == [3]
    assert getattr(args, "recv-threads") == 4


@requires_ibv
def test_send_ibv_options() -> None:
    args, sender = send_asyncio.get_args([
        "--ibv", "--bind", "10.0.0.1", "--ibv-vector", "-1", "--ibv-max-poll", "5", "239.1.2.3:7000",
    ])
    assert_attrs(args, ibv=True, ibv_vector=-1, ibv_max_poll=5, bind="10.0.0.1", buffer=None)
    assert_attrs(sender, ibv=True, ibv_vector=-1, ibv_max_poll=5, bind="10.0.0.1", use_ibv=True)
    assert type(sender.ibv_vector) is int and type(sender.ibv_max_poll) is int
    # the ibverbs sender's default buffer size
    assert sender.buffer == spead2.send.UdpIbvConfig.DEFAULT_BUFFER_SIZE == SEND_IBV_BUFFER
    assert sender.to_dict()["ibv"] is True
    _, sender = send_asyncio.get_args(["--ibv", "--bind", "10.0.0.1", "--buffer", "1000", "h:1"])
    assert sender.buffer == 1000
    assert_attrs(sender, ibv_vector=0, ibv_max_poll=IBV_MAX_POLL)


@requires_ibv
def test_recv_ibv_options() -> None:
    args, receiver = recv_asyncio.get_args([
        "--ibv", "--bind", "10.0.0.1", "--ibv-vector", "3", "--ibv-max-poll", "0", "239.1.2.3:7000",
    ])
    assert_attrs(args, ibv=True, ibv_vector=3, ibv_max_poll=0, bind="10.0.0.1", buffer=None, packet=None)
    assert_attrs(receiver, ibv=True, ibv_vector=3, ibv_max_poll=0, bind="10.0.0.1", use_ibv=True)
    # the ibverbs reader's default buffer and packet sizes
    assert receiver.buffer == spead2.recv.UdpIbvConfig.DEFAULT_BUFFER_SIZE == RECV_IBV_BUFFER
    assert receiver.packet == spead2.recv.UdpIbvConfig.DEFAULT_MAX_SIZE == RECV_IBV_PACKET
    _, receiver = recv_asyncio.get_args(["--ibv", "--bind", "10.0.0.1", "--buffer", "4096", "--packet", "1500",
                                         "8888"])
    assert_attrs(receiver, buffer=4096, packet=1500, ibv_vector=0, ibv_max_poll=IBV_MAX_POLL)


@requires_ibv
def test_bench_master_ibv_options() -> None:
    args, _, sender, receiver = bench_asyncio.get_args([
        "master", "--multicast", "239.1.2.3:7000",
        "--send-ibv", "--send-bind", "10.0.0.1", "--send-ibv-vector", "2", "--send-ibv-max-poll", "3",
        "--recv-ibv", "--recv-bind", "10.0.0.2", "--recv-ibv-vector", "-1", "--recv-ibv-max-poll", "7",
        "h:1",
    ])
    # Dest names of the renamed options
    assert_attrs(args, send_ibv=True, send_ibv_vector=2, send_ibv_max_poll=3,
                 recv_ibv=True, recv_ibv_vector=-1, recv_ibv_max_poll=7)
    for name in IBV_ATTRS:
        assert not hasattr(args, name), name
    assert_attrs(sender, ibv=True, ibv_vector=2, ibv_max_poll=3, bind="10.0.0.1", use_ibv=True,
                 buffer=SEND_IBV_BUFFER)
    assert_attrs(receiver, ibv=True, ibv_vector=-1, ibv_max_poll=7, bind="10.0.0.2", use_ibv=True,
                 buffer=RECV_IBV_BUFFER, packet=RECV_IBV_PACKET)
    # Either end alone
    _, _, sender, receiver = bench_asyncio.get_args(["master", "--recv-ibv", "--recv-bind", "10.0.0.2", "h:1"])
    assert sender.use_ibv is False and receiver.use_ibv is True
    assert sender.buffer == SEND_UDP_BUFFER and receiver.buffer == RECV_IBV_BUFFER
    _, _, sender, receiver = bench_asyncio.get_args(["master", "--multicast", "239.1.2.3:7000", "--send-ibv",
                                                     "--send-bind", "10.0.0.1", "h:1"])
    assert sender.use_ibv is True and receiver.use_ibv is False
    assert sender.buffer == SEND_IBV_BUFFER and receiver.buffer == RECV_UDP_BUFFER


# --------------------------------------------------------------------------
# Metavars and options shown by --help
# --------------------------------------------------------------------------


@pytest.fixture
def columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Help texts formatted for 80 columns (argparse reads ``COLUMNS``), as the reference's below."""
    monkeypatch.setenv("COLUMNS", "80")


def test_send_help_metavars(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys, send_asyncio.get_args, [])
    for usage in [
        "HOST:PORT", "--heap-size BYTES", "--items ITEMS", "--dtype DTYPE", "--heaps HEAPS", "--log LEVEL",
        "--addr-bits ADDR_BITS", "--packet PACKET", "--burst BYTES", "--burst-rate-ratio RATIO",
        "--max-heaps HEAPS", "--rate-method METHOD", "--rate Gb/s", "--ttl TTL", "--buffer BUFFER",
        "--bind BIND", "--affinity AFFINITY", "--threads THREADS", "--descriptors DESCRIPTORS",
        "--stats-interval SECONDS",
    ]:
        assert usage in text, usage
    flags = option_strings(text)
    assert {"--tcp", "--pyspead"} <= flags


def test_recv_help_metavars(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys, recv_asyncio.get_args, [])
    for usage in [
        "--log LEVEL", "--max-heaps MAX_HEAPS", "--concurrent-heaps CONCURRENT_HEAPS",
        "--substreams SUBSTREAMS", "--ring-heaps RING_HEAPS", "--mem-lower MEM_LOWER",
        "--mem-upper MEM_UPPER", "--mem-max-free MEM_MAX_FREE", "--mem-initial MEM_INITIAL",
        "--packet PACKET", "--buffer BUFFER", "--bind BIND", "--affinity AFFINITY", "--threads THREADS",
        "--stats-interval SECONDS",
    ]:
        assert usage in text, usage
    flags = option_strings(text)
    assert {"--values", "--descriptors", "--joint", "--tcp", "--pyspead", "--memcpy-nt", "--mem-pool"} <= flags


def test_bench_master_help_renames(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys, bench_asyncio.get_args, ["master"])
    for usage in [
        "HOST:PORT", "--heap-size BYTES", "--multicast ADDRESS",
        "--addr-bits ADDR_BITS", "--burst BYTES", "--burst-rate-ratio RATIO", "--max-heaps HEAPS",
        "--rate-method METHOD", "--ttl TTL",
        "--send-buffer SEND_BUFFER", "--send-bind SEND_BIND",
        "--send-affinity SEND-AFFINITY", "--send-threads SEND-THREADS",
        "--concurrent-heaps CONCURRENT_HEAPS", "--substreams SUBSTREAMS", "--ring-heaps RING_HEAPS",
        "--mem-max-free MEM_MAX_FREE", "--mem-initial MEM_INITIAL", "--packet PACKET",
        "--recv-buffer RECV_BUFFER", "--recv-bind RECV_BIND",
        "--recv-affinity RECV-AFFINITY", "--recv-threads RECV-THREADS",
    ]:
        assert usage in text, usage
    flags = option_strings(text)
    assert {"--quiet", "--pyspead", "--memcpy-nt"} <= flags
    absent = {
        "--tcp", "--rate", "--mem-pool", "--mem-lower", "--mem-upper", "--buffer", "--bind", "--affinity",
        "--threads", "--ibv", "--ibv-vector", "--ibv-max-poll", "--send-packet", "--send-rate",
    }
    assert not absent & flags, absent & flags


#: The ibverbs lines of the reference's --help (80 columns), between --bind's and
#: --affinity's, for spead2_send.py and spead2_recv.py (prefix "") and for the sender
#: ("send-") and receiver ("recv-") options of spead2_bench.py master.
IBV_HELP = {
    "": """\
  --bind BIND           Interface address
  --ibv                 Use ibverbs [no]
  --ibv-vector N        Completion vector, or -1 to use polling [0]
  --ibv-max-poll IBV_MAX_POLL
                        Maximum number of times to poll in a row [10]
  --affinity AFFINITY   List of CPUs to pin threads to [no affinity]
""",
    "send-": """\
  --send-bind SEND_BIND
                        Interface address
  --send-ibv            Use ibverbs [no]
  --send-ibv-vector N   Completion vector, or -1 to use polling [0]
  --send-ibv-max-poll SEND_IBV_MAX_POLL
                        Maximum number of times to poll in a row [10]
  --send-affinity SEND-AFFINITY
""",
    "recv-": """\
  --recv-bind RECV_BIND
                        Interface address
  --recv-ibv            Use ibverbs [no]
  --recv-ibv-vector N   Completion vector, or -1 to use polling [0]
  --recv-ibv-max-poll RECV_IBV_MAX_POLL
                        Maximum number of times to poll in a row [10]
  --recv-affinity RECV-AFFINITY
""",
}
HELP_CASES = [(send_asyncio.get_args, [], [""]), (recv_asyncio.get_args, [], [""]),
              (bench_asyncio.get_args, ["master"], ["send-", "recv-"])]
HELP_IDS = ["send", "recv", "bench-master"]


@requires_ibv
@pytest.mark.parametrize("get_args, argv, prefixes", HELP_CASES, ids=HELP_IDS)
def test_help_ibv_options(capsys: pytest.CaptureFixture[str], columns: None, get_args, argv: list[str],
                          prefixes: list[str]) -> None:
    text = help_text(capsys, get_args, argv)
    flags = option_strings(text)
    for prefix in prefixes:
        for usage in [f"[--{prefix}ibv]", f"[--{prefix}ibv-vector N]",
                      f"[--{prefix}ibv-max-poll {prefix.replace('-', '_').upper()}IBV_MAX_POLL]"]:
            assert usage in text, usage
        assert {f"--{prefix}ibv", f"--{prefix}ibv-vector", f"--{prefix}ibv-max-poll"} <= flags
        assert IBV_HELP[prefix] in text, text


@requires_no_ibv
@pytest.mark.parametrize("get_args, argv, prefixes", HELP_CASES, ids=HELP_IDS)
def test_help_no_ibv_options(capsys: pytest.CaptureFixture[str], get_args, argv: list[str],
                             prefixes: list[str]) -> None:
    text = help_text(capsys, get_args, argv)
    flags = option_strings(text)
    for prefix in prefixes:
        assert not {f"--{prefix}ibv", f"--{prefix}ibv-vector", f"--{prefix}ibv-max-poll"} & flags
        assert "ibverbs" not in text and "poll" not in text


def test_bench_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys, bench_asyncio.get_args, [])
    assert "master" in text and "agent" in text
    assert "--log LEVEL" in text


# --------------------------------------------------------------------------
# 3. Validation errors
# --------------------------------------------------------------------------


def test_send_tcp_single_destination(capsys: pytest.CaptureFixture[str]) -> None:
    err = parse_error(capsys, send_asyncio.get_args, ["--tcp", "a:1", "b:2"])
    assert "only one destination is supported with TCP" in err
    # A single destination is fine with TCP, several are fine with UDP.
    args, _ = send_asyncio.get_args(["--tcp", "a:1"])
    assert args.destination == [("a", 1)]
    args, _ = send_asyncio.get_args(["a:1", "b:2"])
    assert args.destination == [("a", 1), ("b", 2)]


SEND, RECV, BENCH = send_asyncio.get_args, recv_asyncio.get_args, bench_asyncio.get_args
IBV_FLAGS = ["--ibv", "--ibv-vector=1", "--ibv-max-poll=1"]
NOT_IN_MASTER = ["--tcp", "--mem-pool", "--mem-lower=5", "--mem-upper=5", "--buffer=5", "--bind=1.2.3.4",
                 "--threads=2", "--affinity=1"]

#: (parser, argv, what stderr must say): each exits with status 2.
PARSE_ERRORS = [
    *[(SEND, [dest], ["invalid parse_endpoint value", repr(dest)]) for dest in ["8888", "localhost", "host:port", "host:"]],
    (SEND, [], ["required"]),
    (RECV, [], ["required"]),
    (SEND, ["--rate-method", "fast", "h:1"], ["--rate-method", "invalid parse_rate_method value"]),
    (SEND, ["--rate-method", "", "h:1"], ["--rate-method", "invalid parse_rate_method value"]),
    (BENCH, ["master", "--rate-method", "soft", "h:1"], ["--rate-method", "invalid parse_rate_method value"]),
    (SEND, ["--affinity", "x", "h:1"], ["--affinity", "invalid parse_range_list value"]),
    (RECV, ["--affinity", "1-", "8888"], ["--affinity", "invalid parse_range_list value"]),
    (BENCH, ["master", "--send-affinity", "a,b", "h:1"], ["--send-affinity", "invalid parse_range_list value"]),
    (BENCH, ["master", "--recv-affinity", "z", "h:1"], ["--recv-affinity", "invalid parse_range_list value"]),
    (SEND, ["--threads", "0", "h:1"], ["--threads must be at least 1"]),
    (SEND, ["--threads", "-1", "h:1"], ["--threads must be at least 1"]),
    (RECV, ["--threads", "0", "8888"], ["--threads must be at least 1"]),
    (BENCH, ["master", "--send-threads", "0", "h:1"], ["--send-threads must be at least 1"]),
    (BENCH, ["master", "--recv-threads", "0", "h:1"], ["--recv-threads must be at least 1"]),
    (SEND, ["--log", "loud", "h:1"], ["--log", "'loud'"]),
    (RECV, ["--log", "verbose", "8888"], ["--log", "'verbose'"]),
    (BENCH, ["--log", "chatty", "master", "h:1"], ["--log", "'chatty'"]),
    (SEND, ["--stats-interval", "0", "h:1"], ["--stats-interval must be positive"]),
    (SEND, ["--stats-interval", "-2", "h:1"], ["--stats-interval must be positive"]),
    (RECV, ["--stats-interval", "0", "8888"], ["--stats-interval must be positive"]),
    (RECV, ["--stats-interval", "-0.5", "8888"], ["--stats-interval must be positive"]),
    # options the bench master does not have (suppressed or renamed)
    *[(BENCH, ["master", flag, "h:1"], ["unrecognized arguments: " + flag]) for flag in NOT_IN_MASTER],
    *[(BENCH, ["master", flag, "h:1"], ["unrecognized arguments: " + flag.split("=")[0]]) for flag in IBV_FLAGS],
]
if HAVE_IBV:
    PARSE_ERRORS += [
        # --ibv needs the interface address and UDP (the bench master names them as the reference does)
        (SEND, ["--ibv", "h:1"], ["--ibv requires --bind"]),
        (RECV, ["--ibv", "--ibv-vector", "1", "8888"], ["--ibv requires --bind"]),
        (BENCH, ["master", "--recv-ibv", "h:1"], ["--ibv requires --bind"]),
        (BENCH, ["master", "--multicast", "239.1.2.3:7000", "--send-ibv", "h:1"], ["--ibv requires --bind"]),
        (SEND, ["--ibv", "--tcp", "--bind", "10.0.0.1", "h:1"], ["--ibv and --tcp are incompatible"]),
        (RECV, ["--tcp", "--ibv", "--bind", "10.0.0.1", "8888"], ["--ibv and --tcp are incompatible"]),
        # the bench's ibverbs sender only sends to a multicast group
        (BENCH, ["master", "--send-ibv", "--send-bind", "10.0.0.1", "h:1"], ["--send-ibv requires --multicast"]),
        # the values are integers
        (SEND, ["--ibv-vector", "x", "h:1"], ["argument --ibv-vector: invalid int value: 'x'"]),
        (RECV, ["--ibv-max-poll", "1.5", "8888"], ["argument --ibv-max-poll: invalid int value: '1.5'"]),
        (BENCH, ["master", "--recv-ibv-vector", "y", "h:1"], ["argument --recv-ibv-vector: invalid int value"]),
        (BENCH, ["master", "--send-ibv-max-poll", "z", "h:1"], ["argument --send-ibv-max-poll: invalid int value"]),
    ]
else:
    PARSE_ERRORS += [
        # no ibverbs plugin: its options do not exist
        *[(SEND, [flag, "h:1"], ["unrecognized arguments: " + flag.split("=")[0]]) for flag in IBV_FLAGS],
        *[(RECV, [flag, "8888"], ["unrecognized arguments: " + flag.split("=")[0]]) for flag in IBV_FLAGS],
        *[(BENCH, ["master", flag, "h:1"], ["unrecognized arguments: " + flag.split("=")[0]])
          for flag in ["--send-ibv-vector=1", "--recv-ibv-max-poll=1", "--send-ibv", "--recv-ibv"]],
    ]


@pytest.mark.parametrize("get_args, argv, expected", PARSE_ERRORS,
                         ids=[" ".join([get_args.__module__.rsplit(".", 1)[1], *argv]) for get_args, argv, _ in PARSE_ERRORS])
def test_parse_errors(capsys: pytest.CaptureFixture[str], get_args, argv: list[str], expected: list[str]) -> None:
    err = parse_error(capsys, get_args, argv)
    for text in expected:
        assert text in err


@pytest.mark.parametrize("level", ["debug", "INFO", "Warning", "error", "CRITICAL"])
def test_good_log_levels(level: str) -> None:
    args, _ = recv_asyncio.get_args(["--log", level, "8888"])
    assert args.log == level


@requires_ibv
def test_bench_send_ibv_without_multicast_or_bind(capsys: pytest.CaptureFixture[str]) -> None:
    err = parse_error(capsys, bench_asyncio.get_args, ["master", "--send-ibv", "h:1"])
    assert "--send-ibv requires --multicast" in err


@requires_no_ibv
def test_ibv_attributes_absent() -> None:
    args, sender = send_asyncio.get_args(["h:1"])
    for name in IBV_ATTRS:
        assert not hasattr(args, name)
        assert not hasattr(sender, name)
    args, receiver = recv_asyncio.get_args(["8888"])
    for name in IBV_ATTRS:
        assert not hasattr(args, name)
        assert not hasattr(receiver, name)
    args, _, sender, receiver = bench_asyncio.get_args(["master", "h:1"])
    for name in IBV_ATTRS:
        assert not hasattr(args, "send_" + name)
        assert not hasattr(args, "recv_" + name)
        assert not hasattr(sender, name)
        assert not hasattr(receiver, name)


@requires_ibv
def test_ibv_attributes_present() -> None:
    args, sender = send_asyncio.get_args(["h:1"])
    for obj in (args, sender):
        assert_attrs(obj, ibv=False, ibv_vector=0, ibv_max_poll=spead2.send.UdpIbvConfig.DEFAULT_MAX_POLL)
    args, receiver = recv_asyncio.get_args(["8888"])
    for obj in (args, receiver):
        assert_attrs(obj, ibv=False, ibv_vector=0, ibv_max_poll=spead2.recv.UdpIbvConfig.DEFAULT_MAX_POLL)
    args, _, sender, receiver = bench_asyncio.get_args(["master", "h:1"])
    for name in IBV_ATTRS:
        assert not hasattr(args, name)
    assert_attrs(args, send_ibv=False, send_ibv_vector=0, send_ibv_max_poll=IBV_MAX_POLL,
                 recv_ibv=False, recv_ibv_vector=0, recv_ibv_max_poll=IBV_MAX_POLL)
    assert_attrs(sender, ibv=False, ibv_vector=0, ibv_max_poll=IBV_MAX_POLL)
    assert_attrs(receiver, ibv=False, ibv_vector=0, ibv_max_poll=IBV_MAX_POLL)
    # SharedOptions alone has no ibv_max_poll (its default is the sender's or the receiver's)
    shared = cmdline.SharedOptions(cmdline.ProtocolOptions())
    assert_attrs(shared, ibv=False, ibv_vector=0, use_ibv=False)
    assert not hasattr(shared, "ibv_max_poll")


def test_bench_master_has_no_rate(capsys: pytest.CaptureFixture[str]) -> None:
    # "--rate" is only an abbreviation of "--rate-method" here: the sender's rate is searched.
    err = parse_error(capsys, bench_asyncio.get_args, ["master", "--rate", "5", "h:1"])
    assert "--rate-method" in err
    assert "invalid parse_rate_method value" in err


@pytest.mark.parametrize("argv", [[], ["master"], ["agent"], ["agent", "x"], ["master", "h:x"], ["nope"]])
def test_bench_bad_command_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    err = parse_error(capsys, bench_asyncio.get_args, argv)
    assert "error:" in err


def test_bench_multicast_must_be_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    err = parse_error(capsys, bench_asyncio.get_args, ["master", "--multicast", "239.1.2.3", "h:1"])
    assert "--multicast" in err
    args, *_ = bench_asyncio.get_args(["master", "--multicast", "239.1.2.3:7000", "h:1"])
    assert args.multicast == "239.1.2.3:7000"


# --------------------------------------------------------------------------
# 4. Bench master: forced receiver settings, start command, to_dict/update
# --------------------------------------------------------------------------


def test_bench_master_packet_sets_both() -> None:
    _, _, sender, receiver = bench_asyncio.get_args(["master", "--packet", "1400", "h:1"])
    assert sender.packet == 1400
    assert receiver.packet == 1400
    _, _, sender, receiver = bench_asyncio.get_args(["master", "h:1"])
    assert sender.packet == 1472
    assert receiver.packet == RECV_UDP_PACKET


@pytest.mark.parametrize("heap_size", [1, 1000, 4194304])
def test_bench_master_memory_pool_forced(heap_size: int) -> None:
    _, _, _, receiver = bench_asyncio.get_args(["master", "--heap-size", str(heap_size), "h:1"])
    assert receiver.mem_pool is True
    assert receiver.mem_lower == heap_size
    assert receiver.mem_upper == heap_size + 1024


def make_master(argv: list[str]) -> tuple[bench_asyncio.Master, dict]:
    args, protocol, sender, receiver = bench_asyncio.get_args(argv)
    master = bench_asyncio.Master(args, protocol, sender, receiver)
    assert master.start_command.endswith(b"\n")
    assert master.start_command.count(b"\n") == 1
    return master, json.loads(master.start_command)


def test_bench_start_command_defaults() -> None:
    _, command = make_master(["master", "--heap-size", "1000", "remote.host:8888"])
    assert set(command) == {"cmd", "args", "protocol", "receiver"}
    assert command["cmd"] == "start"
    args = command["args"]
    assert args["endpoint"] == "remote.host:8888"
    assert args["rate_method"] == "AUTO"
    assert args["heap_size"] == 1000
    assert args["multicast"] is None
    assert args["quiet"] is False
    assert args["pyspead"] is False
    assert args["addr_bits"] == 40
    assert args["burst"] == 65536
    assert args["burst_rate_ratio"] == 1.05
    assert args["max_heaps"] == 4
    assert args["concurrent_heaps"] == 4
    assert args["send-threads"] == 1
    assert args["recv-threads"] == 1
    assert "command" not in args
    assert command["protocol"] == {"tcp": False, "pyspead": False}
    assert command["receiver"] == {
        "buffer": RECV_UDP_BUFFER,
        "bind": None,
        "threads": 1,
        "affinity": None,
        "memcpy_nt": False,
        "concurrent_heaps": 4,
        "substreams": 1,
        "ring_heaps": 4,
        "mem_pool": True,
        "mem_lower": 1000,
        "mem_upper": 2024,
        "mem_max_free": 12,
        "mem_initial": 8,
        "packet": RECV_UDP_PACKET,
        **IBV_DEFAULTS,
    }


@requires_ibv
def test_bench_start_command_ibv() -> None:
    """The agent receives with ibverbs: the command carries the receiver's ibverbs settings."""
    _, command = make_master(["master", "--heap-size", "1000", "--recv-ibv", "--recv-bind", "10.0.0.2",
                              "--recv-ibv-vector", "-1", "--recv-ibv-max-poll", "6", "h:1"])
    receiver = command["receiver"]
    assert {key: receiver[key] for key in ("ibv", "ibv_vector", "ibv_max_poll", "bind", "buffer", "packet")} == {
        "ibv": True, "ibv_vector": -1, "ibv_max_poll": 6, "bind": "10.0.0.2",
        "buffer": RECV_IBV_BUFFER, "packet": RECV_IBV_PACKET,
    }
    args = command["args"]
    assert_attrs(argparse.Namespace(**args), recv_ibv=True, recv_bind="10.0.0.2", recv_ibv_vector=-1,
                 recv_ibv_max_poll=6, send_ibv=False, send_ibv_vector=0, send_ibv_max_poll=IBV_MAX_POLL)
    # What the agent rebuilds from it
    protocol = cmdline.ProtocolOptions()
    protocol.update(command["protocol"])
    rebuilt = cmdline.ReceiverOptions(protocol)
    rebuilt.update(receiver)
    rebuilt.fill_defaults()
    assert rebuilt.to_dict() == receiver
    assert rebuilt.use_ibv is True


def test_bench_start_command_options() -> None:
    _, command = make_master([
        "master", "--heap-size", "500", "--pyspead", "--rate-method", "sw", "--multicast", "239.1.1.1:7000",
        "--packet", "1400", "--recv-buffer", "65536", "--recv-threads", "2", "--recv-affinity", "0,1",
        "--concurrent-heaps", "9", "--memcpy-nt", "[::1]:9000",
    ])
    args = command["args"]
    assert args["endpoint"] == "::1:9000"
    assert args["rate_method"] == "SW"
    assert args["multicast"] == "239.1.1.1:7000"
    assert command["protocol"] == {"tcp": False, "pyspead": True}
    receiver = command["receiver"]
    assert receiver["buffer"] == 65536
    assert receiver["packet"] == 1400
    assert receiver["threads"] == 2
    assert receiver["affinity"] == [0, 1]
    assert receiver["concurrent_heaps"] == 9
    assert receiver["memcpy_nt"] is True
    assert receiver["mem_pool"] is True
    assert receiver["mem_lower"] == 500
    assert receiver["mem_upper"] == 1524


def test_bench_start_command_rebuilds_receiver() -> None:
    """What the agent does with the command: ``update`` fresh options from the dicts."""
    _, _, _, receiver = bench_asyncio.get_args(["master", "--heap-size", "2000", "--substreams", "3", "h:1"])
    _, command = make_master(["master", "--heap-size", "2000", "--substreams", "3", "h:1"])
    protocol = cmdline.ProtocolOptions()
    protocol.update(command["protocol"])
    rebuilt = cmdline.ReceiverOptions(protocol)
    rebuilt.update(command["receiver"])
    rebuilt.fill_defaults()
    assert rebuilt.to_dict() == receiver.to_dict()
    assert rebuilt.substreams == 3
    assert rebuilt.mem_pool is True


def test_receiver_to_dict_update_round_trip() -> None:
    _, original = recv_asyncio.get_args([
        "--tcp", "--concurrent-heaps", "8", "--mem-pool", "--mem-lower", "10", "--affinity", "0-1",
        "--bind", "1.2.3.4", "--memcpy-nt", "8888",
    ])
    settings = json.loads(json.dumps(original.to_dict()))
    assert all(not key.startswith("_") for key in settings)
    copy = cmdline.ReceiverOptions(cmdline.ProtocolOptions())
    assert copy.to_dict() != original.to_dict()
    copy.update(settings)
    assert copy.to_dict() == original.to_dict()
    assert_attrs(
        copy,
        buffer=RECV_TCP_BUFFER,
        packet=RECV_TCP_PACKET,
        affinity=[0, 1],
        concurrent_heaps=8,
    )


def test_update_ignores_unknown_keys() -> None:
    protocol = cmdline.ProtocolOptions()
    receiver = cmdline.ReceiverOptions(protocol)
    other_protocol = cmdline.ProtocolOptions()
    receiver.update({"threads": 3, "bogus": 1, "ibv": True, "_protocol": other_protocol, "_name_map": {"x": "y"}})
    assert receiver.threads == 3
    assert not hasattr(receiver, "bogus")
    if HAVE_IBV:  # a known key with the plugin, unknown without
        assert receiver.ibv is True and receiver.use_ibv is True
        assert receiver.to_dict()["ibv"] is True
    else:
        assert not hasattr(receiver, "ibv")
        assert receiver.use_ibv is False
    assert receiver._protocol is protocol
    assert "bogus" not in receiver.to_dict()
    protocol.update({"pyspead": True, "tcp": True, "extra": 5})
    assert protocol.to_dict() == {"tcp": True, "pyspead": True}


def test_sender_to_dict_update_round_trip() -> None:
    _, original = send_asyncio.get_args(["--rate-method", "hw", "--rate", "3", "--ttl", "2", "h:1"])
    copy = cmdline.SenderOptions(cmdline.ProtocolOptions())
    copy.update(original.to_dict())
    assert copy.to_dict() == original.to_dict()
    assert copy.rate_method is spead2.send.RateMethod.HW
    assert copy.rate == 3.0
    assert copy.ttl == 2


# --------------------------------------------------------------------------
# 5. parse_endpoint, parse_rate_method, log_level
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("host:8888", ("host", 8888)),
        ("127.0.0.1:1234", ("127.0.0.1", 1234)),
        ("8888", ("", 8888)),
        ("::1:5", ("::1", 5)),
        ("[::1]:8888", ("::1", 8888)),
        ("[ff02::1]:7", ("ff02::1", 7)),
        (":7", ("", 7)),
        ("a:b:c:0", ("a:b:c", 0)),
    ],
)
def test_parse_endpoint(text: str, expected: tuple[str, int]) -> None:
    result = cmdline.parse_endpoint(text)
    assert result == expected
    assert type(result[1]) is int


@pytest.mark.parametrize("text", ["host:port", "host:", "abc", "", "1.5", "host:1:x"])
def test_parse_endpoint_bad_port(text: str) -> None:
    with pytest.raises(ValueError):
        cmdline.parse_endpoint(text)


@pytest.mark.parametrize(
    "name, expected",
    [("sw", "SW"), ("HW", "HW"), ("Auto", "AUTO")],
)
def test_parse_rate_method(name: str, expected: str) -> None:
    assert cmdline.parse_rate_method(name) is spead2.send.RateMethod[expected]


@pytest.mark.parametrize("name", ["", "software", "S W", "0"])
def test_parse_rate_method_bad(name: str) -> None:
    with pytest.raises(ValueError):
        cmdline.parse_rate_method(name)


def test_log_level() -> None:
    assert cmdline.log_level("debug") == "debug"
    assert cmdline.log_level("WARNING") == "WARNING"
    with pytest.raises(ValueError):
        cmdline.log_level("loud")


# --------------------------------------------------------------------------
# 6. make_thread_pool
# --------------------------------------------------------------------------


@pytest.fixture
def fake_thread_pool(monkeypatch: pytest.MonkeyPatch):
    """Replace ``spead2.ThreadPool`` with a class recording its use."""

    class FakeThreadPool:
        affinity_calls: list = []
        constructed: list = []

        def __init__(self, *args, **kwargs) -> None:
            FakeThreadPool.constructed.append((args, kwargs))

        @staticmethod
        def set_affinity(core) -> None:
            FakeThreadPool.affinity_calls.append(core)

    monkeypatch.setattr(spead2, "ThreadPool", FakeThreadPool)
    assert cmdline.spead2.ThreadPool is FakeThreadPool
    return FakeThreadPool


def test_make_thread_pool_affinity_rotation(fake_thread_pool) -> None:
    options = cmdline.SharedOptions(cmdline.ProtocolOptions())
    options.affinity = [3, 5, 7]
    options.threads = 2
    pool = options.make_thread_pool()
    assert isinstance(pool, fake_thread_pool)
    assert fake_thread_pool.affinity_calls == [3]
    assert fake_thread_pool.constructed == [((2, [5, 7, 3]), {})]


def test_make_thread_pool_single_cpu(fake_thread_pool) -> None:
    options = cmdline.SharedOptions(cmdline.ProtocolOptions())
    options.affinity = [4]
    pool = options.make_thread_pool()
    assert isinstance(pool, fake_thread_pool)
    assert fake_thread_pool.affinity_calls == [4]
    assert fake_thread_pool.constructed == [((1, [4]), {})]


def test_make_thread_pool_without_affinity(fake_thread_pool) -> None:
    options = cmdline.SharedOptions(cmdline.ProtocolOptions())
    options.threads = 3
    pool = options.make_thread_pool()
    assert isinstance(pool, fake_thread_pool)
    assert fake_thread_pool.affinity_calls == []
    assert fake_thread_pool.constructed == [((3,), {})]


def test_make_thread_pool_from_command_line(fake_thread_pool) -> None:
    _, receiver = recv_asyncio.get_args(["--affinity", "0-2,5", "--threads", "4", "8888"])
    receiver.make_thread_pool()
    assert fake_thread_pool.affinity_calls == [0]
    assert fake_thread_pool.constructed == [((4, [1, 2, 5, 0]), {})]
    _, _, sender, _ = bench_asyncio.get_args(["master", "--send-affinity", "6,7", "--send-threads", "2", "h:1"])
    sender.make_thread_pool()
    assert fake_thread_pool.affinity_calls == [0, 6]
    assert fake_thread_pool.constructed[-1] == ((2, [7, 6]), {})


def test_make_thread_pool_real() -> None:
    options = cmdline.SharedOptions(cmdline.ProtocolOptions())
    options.threads = 2
    assert isinstance(options.make_thread_pool(), spead2.ThreadPool)


# --------------------------------------------------------------------------
# 7. Stream configurations and flavour
# --------------------------------------------------------------------------


def test_receiver_stream_config_defaults() -> None:
    _, receiver = recv_asyncio.get_args(["8888"])
    config = receiver.make_stream_config()
    assert isinstance(config, spead2.recv.StreamConfig)
    assert_attrs(
        config,
        max_heaps=4,
        substreams=1,
        bug_compat=0,
        memcpy=spead2.MEMCPY_STD,
    )
    assert not isinstance(config.memory_allocator, spead2.MemoryPool)
    ring = receiver.make_ring_stream_config()
    assert isinstance(ring, spead2.recv.RingStreamConfig)
    assert ring.heaps == 4


def test_receiver_stream_config_options(monkeypatch: pytest.MonkeyPatch) -> None:
    real_pool = spead2.MemoryPool
    pool_calls = []

    def recording_pool(*args, **kwargs):
        pool_calls.append((args, kwargs))
        return real_pool(*args, **kwargs)

    monkeypatch.setattr(spead2, "MemoryPool", recording_pool)
    _, receiver = recv_asyncio.get_args([
        "--concurrent-heaps", "8", "--substreams", "3", "--ring-heaps", "6", "--pyspead", "--memcpy-nt",
        "--mem-pool", "--mem-lower", "100", "--mem-upper", "200", "--mem-max-free", "5", "--mem-initial", "2",
        "8888",
    ])
    config = receiver.make_stream_config()
    assert_attrs(
        config,
        max_heaps=8,
        substreams=3,
        bug_compat=spead2.BUG_COMPAT_PYSPEAD_0_5_2,
        memcpy=spead2.MEMCPY_NONTEMPORAL,
    )
    assert isinstance(config.memory_allocator, real_pool)
    assert pool_calls == [((100, 200, 5, 2), {})]
    assert receiver.make_ring_stream_config().heaps == 6


def test_receiver_memory_pool_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    pool_calls = []
    monkeypatch.setattr(spead2, "MemoryPool", lambda *args, **kwargs: pool_calls.append(args))
    _, receiver = recv_asyncio.get_args(["--mem-lower", "100", "8888"])
    receiver.make_stream_config()
    assert pool_calls == []


def test_bench_receiver_stream_config_uses_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    real_pool = spead2.MemoryPool
    pool_calls = []

    def recording_pool(*args, **kwargs):
        pool_calls.append((args, kwargs))
        return real_pool(*args, **kwargs)

    monkeypatch.setattr(spead2, "MemoryPool", recording_pool)
    _, _, _, receiver = bench_asyncio.get_args(["master", "--heap-size", "1000", "h:1"])
    config = receiver.make_stream_config()
    assert isinstance(config.memory_allocator, real_pool)
    assert pool_calls == [((1000, 2024, 12, 8), {})]


def test_sender_stream_config_defaults() -> None:
    _, sender = send_asyncio.get_args(["h:1"])
    config = sender.make_stream_config()
    assert isinstance(config, spead2.send.StreamConfig)
    assert_attrs(
        config,
        max_packet_size=1472,
        rate=0.0,
        burst_size=65536,
        burst_rate_ratio=pytest.approx(1.05),
        max_heaps=4,
        rate_method=spead2.send.RateMethod.AUTO,
    )


def test_sender_stream_config_options() -> None:
    _, sender = send_asyncio.get_args([
        "--packet", "9000", "--rate", "2.5", "--burst", "1000", "--burst-rate-ratio", "1.5",
        "--max-heaps", "9", "--rate-method", "sw", "h:1",
    ])
    config = sender.make_stream_config()
    assert_attrs(
        config,
        max_packet_size=9000,
        rate=pytest.approx(2.5e9 / 8),
        burst_size=1000,
        burst_rate_ratio=pytest.approx(1.5),
        max_heaps=9,
        rate_method=spead2.send.RateMethod.SW,
    )


def test_sender_flavour() -> None:
    _, sender = send_asyncio.get_args(["h:1"])
    flavour = sender.make_flavour()
    assert isinstance(flavour, spead2.Flavour)
    assert_attrs(
        flavour,
        version=4,
        item_pointer_bits=64,
        heap_address_bits=40,
        bug_compat=0,
    )
    _, sender = send_asyncio.get_args(["--addr-bits", "48", "--pyspead", "h:1"])
    flavour = sender.make_flavour()
    assert flavour.heap_address_bits == 48
    assert flavour.bug_compat == spead2.BUG_COMPAT_PYSPEAD_0_5_2


def test_protocol_bug_compat() -> None:
    protocol = cmdline.ProtocolOptions()
    assert protocol.bug_compat == 0
    protocol.pyspead = True
    assert protocol.bug_compat == spead2.BUG_COMPAT_PYSPEAD_0_5_2


# --------------------------------------------------------------------------
# 8. add_readers
# --------------------------------------------------------------------------


def test_add_readers_udp_unicast() -> None:
    args, receiver = recv_asyncio.get_args(["--packet", "1500", "--buffer", "4096", "127.0.0.1:8888", "9999"])
    stream = FakeStream()
    receiver.add_readers(stream, args.source)
    assert stream.calls == [
        ("add_udp_reader", (8888, 1500, 4096, "127.0.0.1")),
        ("add_udp_reader", (9999, 1500, 4096, "")),
    ]


def test_add_readers_udp_defaults() -> None:
    args, receiver = recv_asyncio.get_args(["7148"])
    stream = FakeStream()
    receiver.add_readers(stream, args.source)
    assert stream.calls == [("add_udp_reader", (7148, RECV_UDP_PACKET, RECV_UDP_BUFFER, ""))]


def test_add_readers_udp_bind_uses_multicast_overload() -> None:
    args, receiver = recv_asyncio.get_args(["--bind", "10.0.0.1", "239.1.2.3:7000"])
    stream = FakeStream()
    receiver.add_readers(stream, args.source)
    assert stream.calls == [("add_udp_reader", ("239.1.2.3", 7000, RECV_UDP_PACKET, RECV_UDP_BUFFER, "10.0.0.1"))]


def test_add_readers_tcp() -> None:
    args, receiver = recv_asyncio.get_args(["--tcp", "127.0.0.1:8888", "9000"])
    stream = FakeStream()
    receiver.add_readers(stream, args.source)
    assert stream.calls == [
        ("add_tcp_reader", (8888, RECV_TCP_PACKET, RECV_TCP_BUFFER, "127.0.0.1")),
        ("add_tcp_reader", (9000, RECV_TCP_PACKET, RECV_TCP_BUFFER, "")),
    ]


def test_add_readers_pcap() -> None:
    args, receiver = recv_asyncio.get_args(["capture.pcap", "8888", "dir/other.pcap"])
    stream = FakeStream()
    receiver.add_readers(stream, args.source, allow_pcap=True)
    assert stream.calls == [
        ("add_udp_pcap_file_reader", ("capture.pcap",)),
        ("add_udp_reader", (8888, RECV_UDP_PACKET, RECV_UDP_BUFFER, "")),
        ("add_udp_pcap_file_reader", ("dir/other.pcap",)),
    ]


def test_add_readers_no_pcap_support() -> None:
    _, receiver = recv_asyncio.get_args(["8888"])
    stream = FakeStreamNoPcap()
    with pytest.raises(RuntimeError, match="spead2 was compiled without pcap support"):
        receiver.add_readers(stream, ["capture.pcap"], allow_pcap=True)
    assert stream.calls == []


def test_add_readers_pcap_not_allowed() -> None:
    _, receiver = recv_asyncio.get_args(["8888"])
    stream = FakeStream()
    with pytest.raises(ValueError):
        receiver.add_readers(stream, ["capture.pcap"])
    with pytest.raises(ValueError):
        receiver.add_readers(stream, ["capture.pcap"], allow_pcap=False)
    assert stream.calls == []


class FakeIbvStream(FakeStream):
    """A stream of a build with ibverbs."""

    def add_udp_ibv_reader(self, *args, **kwargs):
        assert not kwargs
        self.calls.append(("add_udp_ibv_reader", args))


@requires_ibv
def test_add_readers_ibv_one_reader() -> None:
    args, receiver = recv_asyncio.get_args([
        "--ibv", "--bind", "10.0.0.1", "--ibv-vector", "-1", "--ibv-max-poll", "4",
        "239.1.2.3:7000", "capture.pcap", "239.1.2.4:7001",
    ])
    stream = FakeIbvStream()
    receiver.add_readers(stream, args.source, allow_pcap=True)
    # the pcap file gets its own reader; the endpoints share one ibverbs reader, added last
    assert [name for name, _ in stream.calls] == ["add_udp_pcap_file_reader", "add_udp_ibv_reader"]
    assert stream.calls[0][1] == ("capture.pcap",)
    (config,) = stream.calls[1][1]
    assert isinstance(config, spead2.recv.UdpIbvConfig)
    assert_attrs(
        config,
        endpoints=[("239.1.2.3", 7000), ("239.1.2.4", 7001)],
        interface_address="10.0.0.1",
        max_size=RECV_IBV_PACKET,
        buffer_size=RECV_IBV_BUFFER,
        comp_vector=-1,
        max_poll=4,
    )


@requires_ibv
def test_add_readers_ibv_explicit_sizes() -> None:
    args, receiver = recv_asyncio.get_args(["--ibv", "--bind", "10.0.0.1", "--packet", "1500", "--buffer", "65536",
                                            "239.1.2.3:7000"])
    stream = FakeIbvStream()
    receiver.add_readers(stream, args.source)
    ((name, (config,)),) = stream.calls
    assert name == "add_udp_ibv_reader"
    assert_attrs(config, max_size=1500, buffer_size=65536, comp_vector=0, max_poll=IBV_MAX_POLL)


@requires_ibv
def test_sender_make_stream_ibv(monkeypatch: pytest.MonkeyPatch) -> None:
    made = []

    class FakeUdpIbvStream:
        def __init__(self, *args, **kwargs) -> None:
            made.append((args, kwargs))

    monkeypatch.setattr(spead2.send.asyncio, "UdpIbvStream", FakeUdpIbvStream)
    _, sender = send_asyncio.get_args(["--ibv", "--bind", "10.0.0.1", "--ibv-vector", "2", "--ibv-max-poll", "3",
                                       "--ttl", "4", "--packet", "8000", "239.1.2.3:7000"])
    thread_pool = spead2.ThreadPool()
    region = np.zeros(100, np.uint8)
    stream = asyncio.run(sender.make_stream(thread_pool, [("239.1.2.3", 7000)], [region]))
    assert isinstance(stream, FakeUdpIbvStream)
    ((args, kwargs),) = made
    assert kwargs == {}
    pool, config, ibv_config = args
    assert pool is thread_pool
    assert config.max_packet_size == 8000
    assert isinstance(ibv_config, spead2.send.UdpIbvConfig)
    assert_attrs(
        ibv_config,
        endpoints=[("239.1.2.3", 7000)],
        interface_address="10.0.0.1",
        buffer_size=SEND_IBV_BUFFER,
        ttl=4,
        comp_vector=2,
        max_poll=3,
    )
    assert len(ibv_config.memory_regions) == 1 and ibv_config.memory_regions[0] is region


# --------------------------------------------------------------------------
# 9. The installed console scripts
# --------------------------------------------------------------------------


def _script(name: str) -> pathlib.Path:
    path = pathlib.Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"console script {name} is not installed next to {sys.executable}")
    return path


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["spead2_send.py", "--help"], ["--stats-interval", "HOST:PORT", "--rate-method"]),
        (["spead2_recv.py", "--help"], ["--stats-interval", "--concurrent-heaps", "source"]),
        (["spead2_bench.py", "--help"], ["master", "agent"]),
        (["spead2_bench.py", "master", "--help"], ["--send-buffer", "--recv-buffer", "--heap-size"]),
    ],
)
def test_console_script_help(argv: list[str], expected: list[str]) -> None:
    result = subprocess.run(
        [str(_script(argv[0]))] + argv[1:], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")
    for text in expected:
        assert text in result.stdout, text


def _run_script(name: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(_script(name)), *argv], capture_output=True, text=True, timeout=60, check=False)


def test_console_script_bad_option_exits_2() -> None:
    result = _run_script("spead2_recv.py", "--no-such-option", "8888")
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr


@requires_no_ibv
@pytest.mark.parametrize("name", ["spead2_recv.py", "spead2_send.py"])
def test_console_script_without_ibv_option(name: str) -> None:
    result = _run_script(name, "--ibv", "8888" if name == "spead2_recv.py" else "h:1")
    assert result.returncode == 2
    assert "unrecognized arguments: --ibv" in result.stderr


@requires_ibv
@pytest.mark.parametrize("name", ["spead2_recv.py", "spead2_send.py"])
def test_console_script_ibv_requires_bind(name: str) -> None:
    result = _run_script(name, "--ibv", "8888" if name == "spead2_recv.py" else "h:1")
    assert result.returncode == 2
    assert f"{name}: error: --ibv requires --bind" in result.stderr
    assert "Traceback" not in result.stderr
