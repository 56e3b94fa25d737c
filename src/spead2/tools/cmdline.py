"""Options shared by the command-line tools (and by user programs that build their own).

Each options class holds its settings as attributes whose initial values are the
defaults. ``add_arguments(parser)`` adds one ``--flag`` per attribute (``_`` becomes
``-``), ``notify(parser, namespace)`` copies the parsed values back, checks them
(reporting errors through ``parser.error``, so they exit with status 2) and fills in
the defaults that depend on the transport. ``name_map`` renames options (``{"buffer":
"send_buffer"}`` gives ``--send-buffer``, stored under the argparse ``dest``
``send_buffer``) or suppresses them (``{"tcp": None}``); ``spead2_bench.py`` uses it to
give the sender and the receiver the same options under different names.

Transports come from the installed plugins: an option whose transport is missing
fails with a message that says so, and the ibverbs options exist only when a plugin
provides ibverbs.
"""

from __future__ import annotations

import argparse
import logging
import typing

import spead2
import spead2.recv
import spead2.send
import spead2.send.asyncio

__all__ = [
    "parse_endpoint",
    "parse_rate_method",
    "log_level",
    "ProtocolOptions",
    "SharedOptions",
    "ReceiverOptions",
    "SenderOptions",
]

_HAVE_IBV = hasattr(spead2.recv.Stream, "add_udp_ibv_reader")

NameMap = typing.Optional[typing.Mapping[str, typing.Optional[str]]]


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """Split ``"host:port"`` at the last colon (a bare ``"port"`` gives host ``""``).

    An IPv6 literal may be written in brackets (``"[::1]:8888"``); the brackets are
    removed. A port that is not an integer raises :exc:`ValueError`.
    """
    host, sep, port = endpoint.rpartition(":")
    if not sep:
        return "", int(endpoint)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def parse_rate_method(name: str) -> spead2.send.RateMethod:
    """The :class:`spead2.send.RateMethod` named ``name``, in any case."""
    try:
        return spead2.send.RateMethod[name.upper()]
    except KeyError:
        raise ValueError(f"unknown rate method {name!r}") from None


def log_level(name: str) -> str:
    """``name`` if it names a :mod:`logging` level (any case), else :exc:`ValueError`."""
    if not isinstance(logging.getLevelName(name.upper()), int):
        raise ValueError(f"unknown log level {name!r}")
    return name


def _require(obj: object, name: str, what: str) -> typing.Any:
    """``getattr(obj, name)``, or a :exc:`RuntimeError` saying which transport is missing."""
    try:
        return getattr(obj, name)
    except AttributeError:
        raise RuntimeError(f"{what} is not available: install the spead2 plugin that provides it") from None


class _Options:
    """Attributes as options: the machinery behind every options class below."""

    def __init__(self, name_map: NameMap = None) -> None:
        self._name_map = dict(name_map or {})
        self._added: list[str] = []

    def _dest(self, name: str) -> str | None:
        return self._name_map.get(name, name)

    def _add(self, parser: typing.Any, name: str, help: str, **kwargs: typing.Any) -> None:
        """Add ``--name`` (as mapped) with the attribute's current value as default."""
        dest = self._dest(name)
        if dest is None:
            return
        if kwargs.get("action") != "store_true" and "metavar" not in kwargs:
            kwargs["metavar"] = dest.upper()
        parser.add_argument("--" + dest.replace("_", "-"), dest=dest, default=getattr(self, name), help=help, **kwargs)
        self._added.append(name)

    def notify(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
        """Take the parsed values of the options this object added."""
        for name in self._added:
            setattr(self, name, getattr(namespace, self._dest(name)))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, typing.Any]:
        """The settings (public attributes), as ``spead2_bench.py`` sends them to its agent."""
        return {key: value for key, value in vars(self).items() if not key.startswith("_")}

    def update(self, settings: typing.Mapping[str, typing.Any]) -> None:
        """Set attributes from ``settings`` (the inverse of :meth:`to_dict`); unknown keys are ignored."""
        for key, value in settings.items():
            if not key.startswith("_") and key in vars(self):
                setattr(self, key, value)


class ProtocolOptions(_Options):
    """Options that sender and receiver must agree on: ``--tcp`` and ``--pyspead``."""

    def __init__(self, name_map: NameMap = None) -> None:
        super().__init__(name_map)
        self.tcp = False
        self.pyspead = False

    def add_arguments(self, parser: typing.Any) -> None:
        """Add the options to ``parser`` (an argument parser or group)."""
        self._add(parser, "tcp", "Use TCP instead of UDP", action="store_true")
        self._add(parser, "pyspead", "Be bug-compatible with PySPEAD", action="store_true")

    @property
    def bug_compat(self) -> int:
        """The flavour's bug-compatibility mask these options select."""
        return spead2.BUG_COMPAT_PYSPEAD_0_5_2 if self.pyspead else 0


class SharedOptions(_Options):
    """Options of both ends: socket buffer, interface address, ibverbs, threads."""

    def __init__(self, protocol: ProtocolOptions, name_map: NameMap = None) -> None:
        super().__init__(name_map)
        self._protocol = protocol
        self.buffer: int | None = None
        self.bind: str | None = None
        if _HAVE_IBV:
            self.ibv = False
            self.ibv_vector = 0
        self.threads = 1
        self.affinity: list[int] | None = None

    def add_arguments(self, parser: typing.Any) -> None:
        """Add the options to ``parser`` (an argument parser or group)."""
        self._add(parser, "buffer", "Socket buffer size", type=int)
        self._add(parser, "bind", "Interface address")
        if _HAVE_IBV:
            self._add(parser, "ibv", "Use ibverbs [no]", action="store_true")
            self._add(parser, "ibv_vector", "Completion vector, or -1 to use polling [0]", type=int, metavar="N")
            if hasattr(self, "ibv_max_poll"):  # the subclass's default
                self._add(parser, "ibv_max_poll", "Maximum number of times to poll in a row [%(default)s]", type=int)
        self._add(parser, "affinity", "List of CPUs to pin threads to [no affinity]", type=spead2.parse_range_list)
        self._add(parser, "threads", "Number of worker threads [1]", type=int)

    @property
    def use_ibv(self) -> bool:
        """Whether ibverbs is selected (always false without the ibverbs plugin)."""
        return bool(getattr(self, "ibv", False))

    def notify(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
        """Take the parsed values and check them (errors exit through ``parser.error``)."""
        super().notify(parser, namespace)
        if self.use_ibv and not self.bind:
            parser.error("--ibv requires --bind")
        if self.use_ibv and self._protocol.tcp:
            parser.error("--ibv and --tcp are incompatible")
        if self.threads < 1:
            parser.error(f"--{self._dest('threads').replace('_', '-')} must be at least 1")

    def make_thread_pool(self) -> spead2.ThreadPool:
        """A thread pool of ``threads`` workers.

        With an affinity list ``[a0, a1, ...]`` the calling thread is pinned to ``a0``
        and the workers to ``a1, ..., a0`` in turn, so that with one CPU per thread the
        caller and the workers each have their own.
        """
        if self.affinity:
            spead2.ThreadPool.set_affinity(self.affinity[0])
            return spead2.ThreadPool(self.threads, self.affinity[1:] + self.affinity[:1])
        return spead2.ThreadPool(self.threads)


class ReceiverOptions(SharedOptions):
    """Options of a receiving stream: its configuration and its readers."""

    def __init__(self, protocol: ProtocolOptions, name_map: NameMap = None) -> None:
        super().__init__(protocol, name_map)
        self.memcpy_nt = False
        self.concurrent_heaps = spead2.recv.StreamConfig.DEFAULT_MAX_HEAPS
        self.substreams = 1
        self.ring_heaps = spead2.recv.RingStreamConfig.DEFAULT_HEAPS
        self.mem_pool = False
        self.mem_lower = 16384
        self.mem_upper = 32 * 1024 * 1024
        self.mem_max_free = 12
        self.mem_initial = 8
        self.packet: int | None = None
        if _HAVE_IBV:
            self.ibv_max_poll = spead2.recv.UdpIbvConfig.DEFAULT_MAX_POLL

    def add_arguments(self, parser: typing.Any) -> None:
        """Add the options to ``parser`` (an argument parser or group)."""
        self._add(parser, "memcpy_nt", "Use non-temporal memcpy", action="store_true")
        self._add(parser, "concurrent_heaps", "Maximum number of in-flight heaps per substream [%(default)s]",
                  type=int)
        self._add(parser, "substreams", "Number of parallel substreams [%(default)s]", type=int)
        self._add(parser, "ring_heaps", "Ring buffer capacity in heaps [%(default)s]", type=int)
        self._add(parser, "mem_pool", "Use a memory pool", action="store_true")
        self._add(parser, "mem_lower", "Minimum allocation which will use the memory pool [%(default)s]", type=int)
        self._add(parser, "mem_upper", "Maximum allocation which will use the memory pool [%(default)s]", type=int)
        self._add(parser, "mem_max_free", "Maximum free memory buffers [%(default)s]", type=int)
        self._add(parser, "mem_initial", "Initial free memory buffers [%(default)s]", type=int)
        self._add(parser, "packet", "Maximum packet size to accept", type=int)
        super().add_arguments(parser)

    def notify(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
        """Take the parsed values, check them and fill in the transport's defaults."""
        super().notify(parser, namespace)
        self.fill_defaults()

    def fill_defaults(self) -> None:
        """Set ``buffer`` and ``packet``, where unset, to the selected transport's defaults."""
        if self._protocol.tcp:
            buffer_name, packet_name, owner = "DEFAULT_TCP_BUFFER_SIZE", "DEFAULT_TCP_MAX_SIZE", spead2.recv.Stream
        elif self.use_ibv:
            buffer_name, packet_name, owner = "DEFAULT_BUFFER_SIZE", "DEFAULT_MAX_SIZE", spead2.recv.UdpIbvConfig
        else:
            buffer_name, packet_name, owner = "DEFAULT_UDP_BUFFER_SIZE", "DEFAULT_UDP_MAX_SIZE", spead2.recv.Stream
        # Without the transport's plugin these stay None: add_readers reports what is missing.
        if self.buffer is None:
            self.buffer = getattr(owner, buffer_name, None)
        if self.packet is None:
            self.packet = getattr(owner, packet_name, None)

    def make_stream_config(self) -> spead2.recv.StreamConfig:
        """The :class:`spead2.recv.StreamConfig` these options describe."""
        config = spead2.recv.StreamConfig(
            max_heaps=self.concurrent_heaps, substreams=self.substreams, bug_compat=self._protocol.bug_compat
        )
        if self.mem_pool:
            config.memory_allocator = spead2.MemoryPool(
                self.mem_lower, self.mem_upper, self.mem_max_free, self.mem_initial
            )
        if self.memcpy_nt:
            config.memcpy = spead2.MEMCPY_NONTEMPORAL
        return config

    def make_ring_stream_config(self) -> spead2.recv.RingStreamConfig:
        """The :class:`spead2.recv.RingStreamConfig` these options describe."""
        return spead2.recv.RingStreamConfig(heaps=self.ring_heaps)

    def add_readers(self, stream: typing.Any, endpoints: typing.Iterable[str], *, allow_pcap: bool = False) -> None:
        """Add a reader to ``stream`` for each source.

        A source is ``host:port`` or ``port``; with ``allow_pcap``, a source that is not
        an endpoint is the name of a pcap file. ibverbs endpoints share one reader.
        """
        ibv_endpoints = []
        for source in endpoints:
            try:
                host, port = parse_endpoint(source)
            except ValueError:
                if not allow_pcap:
                    raise
                if not hasattr(stream, "add_udp_pcap_file_reader"):
                    raise RuntimeError("spead2 was compiled without pcap support") from None
                stream.add_udp_pcap_file_reader(source)
                continue
            if self._protocol.tcp:
                _require(stream, "add_tcp_reader", "TCP")(port, self.packet, self.buffer, host)
            elif self.use_ibv:
                ibv_endpoints.append((host, port))
            elif self.bind:
                _require(stream, "add_udp_reader", "UDP")(host, port, self.packet, self.buffer, self.bind)
            else:
                _require(stream, "add_udp_reader", "UDP")(port, self.packet, self.buffer, host)
        if ibv_endpoints:
            config = spead2.recv.UdpIbvConfig(
                endpoints=ibv_endpoints,
                interface_address=self.bind or "",
                max_size=self.packet,
                buffer_size=self.buffer,
                comp_vector=self.ibv_vector,
                max_poll=self.ibv_max_poll,
            )
            stream.add_udp_ibv_reader(config)


class SenderOptions(SharedOptions):
    """Options of a sending stream: flavour, packet size, rate and transport."""

    def __init__(self, protocol: ProtocolOptions, name_map: NameMap = None) -> None:
        super().__init__(protocol, name_map)
        self.addr_bits = spead2.Flavour().heap_address_bits
        self.packet = spead2.send.StreamConfig.DEFAULT_MAX_PACKET_SIZE
        self.burst = spead2.send.StreamConfig.DEFAULT_BURST_SIZE
        self.burst_rate_ratio = spead2.send.StreamConfig.DEFAULT_BURST_RATE_RATIO
        self.max_heaps = spead2.send.StreamConfig.DEFAULT_MAX_HEAPS
        self.rate_method = spead2.send.StreamConfig.DEFAULT_RATE_METHOD
        self.rate = 0.0
        self.ttl: int | None = None
        if _HAVE_IBV:
            self.ibv_max_poll = spead2.send.UdpIbvConfig.DEFAULT_MAX_POLL

    def add_arguments(self, parser: typing.Any) -> None:
        """Add the options to ``parser`` (an argument parser or group)."""
        self._add(parser, "addr_bits", "Heap address bits [%(default)s]", type=int)
        self._add(parser, "packet", "Maximum packet size to send [%(default)s]", type=int)
        self._add(parser, "burst", "Burst size [%(default)s]", type=int, metavar="BYTES")
        self._add(parser, "burst_rate_ratio", "Hard rate limit, relative to --rate [%(default)s]", type=float,
                  metavar="RATIO")
        self._add(parser, "max_heaps", "Maximum heaps in flight [%(default)s]", type=int, metavar="HEAPS")
        self._add(parser, "rate_method", "Method for rate limiting (SW/HW/AUTO)", type=parse_rate_method,
                  metavar="METHOD")
        self._add(parser, "rate", "Transmission rate bound [no limit]", type=float, metavar="Gb/s")
        self._add(parser, "ttl", "TTL for multicast target", type=int)
        super().add_arguments(parser)

    def notify(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
        """Take the parsed values, check them and fill in the transport's default buffer size."""
        super().notify(parser, namespace)
        if self.buffer is None:
            if self._protocol.tcp:
                owner = getattr(spead2.send.asyncio, "TcpStream", None)
            elif self.use_ibv:
                owner = spead2.send.UdpIbvConfig
            else:
                owner = getattr(spead2.send.asyncio, "UdpStream", None)
            self.buffer = getattr(owner, "DEFAULT_BUFFER_SIZE", None)

    def make_flavour(self) -> spead2.Flavour:
        """The :class:`spead2.Flavour` these options describe."""
        return spead2.Flavour(4, 64, self.addr_bits, self._protocol.bug_compat)

    def make_stream_config(self) -> spead2.send.StreamConfig:
        """The :class:`spead2.send.StreamConfig` these options describe (``rate`` is in Gb/s)."""
        return spead2.send.StreamConfig(
            max_packet_size=self.packet,
            rate=self.rate * 1e9 / 8,
            burst_size=self.burst,
            burst_rate_ratio=self.burst_rate_ratio,
            max_heaps=self.max_heaps,
            rate_method=self.rate_method,
        )

    async def make_stream(
        self, thread_pool: spead2.ThreadPool, endpoints: list[tuple[str, int]], memory_regions: list[typing.Any]
    ) -> typing.Any:
        """An asyncio send stream to ``endpoints`` (TCP: the connection is made here).

        ``memory_regions`` are buffers the stream may register for zero-copy sending
        (used by ibverbs only).
        """
        config = self.make_stream_config()
        if self._protocol.tcp:
            tcp_stream = _require(spead2.send.asyncio, "TcpStream", "TCP")
            return await tcp_stream.connect(thread_pool, endpoints, config, self.buffer, self.bind or "")
        if self.use_ibv:
            ibv_config = spead2.send.UdpIbvConfig(
                endpoints=endpoints,
                interface_address=self.bind or "",
                buffer_size=self.buffer,
                ttl=self.ttl or 1,
                comp_vector=self.ibv_vector,
                max_poll=self.ibv_max_poll,
                memory_regions=memory_regions,
            )
            return spead2.send.asyncio.UdpIbvStream(thread_pool, config, ibv_config)
        kwargs: dict[str, typing.Any] = {}
        if self.ttl is not None:
            kwargs["ttl"] = self.ttl
        if self.bind is not None:
            kwargs["interface_address"] = self.bind
        udp_stream = _require(spead2.send.asyncio, "UdpStream", "UDP")
        return udp_stream(thread_pool, endpoints, config, self.buffer, **kwargs)
