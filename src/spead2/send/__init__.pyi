# Type stubs for spead2.send: the native send classes (runtime module
# spead2._spead2.send) re-exported by the package, plus the pure-Python
# HeapGenerator and ItemGroup.
#
# The core's streams and those of the spead2-udp (UDP, TCP), spead2-ibverbs
# (UdpIbvConfig, UdpIbvStream) and spead2-xdp (UdpXdpConfig, UdpXdpStream) plugins
# are described; the ibverbs and AF_XDP names exist only where those plugins are
# installed (they need rdma-core's, and libxdp's and libbpf's, headers to build).
# Unlike the reference's stubs there is no typing-only SyncStream base:
# send_heap/send_heaps are declared on each concrete synchronous stream and
# return the number of bytes sent.

import enum
import socket
from collections.abc import Callable, Sequence
from typing import Final, Literal, overload

from typing_extensions import Buffer, Self

import spead2
from spead2 import Descriptor as _Descriptor
from spead2 import Flavour as _Flavour
from spead2 import Item as _Item
from spead2 import ThreadPool as _ThreadPool

class RateMethod(enum.Enum):
    SW = 0
    HW = 1
    AUTO = 2

class GroupMode(enum.Enum):
    ROUND_ROBIN = 0
    SERIAL = 1

class StreamConfig:
    DEFAULT_MAX_PACKET_SIZE: Final = 1472
    DEFAULT_MAX_HEAPS: Final = 4
    DEFAULT_BURST_SIZE: Final = 65536
    DEFAULT_BURST_RATE_RATIO: Final = 1.05
    DEFAULT_RATE_METHOD: Final = RateMethod.AUTO
    def __init__(
        self,
        *,
        max_packet_size: int = 1472,
        rate: float = 0.0,
        burst_size: int = 65536,
        max_heaps: int = 4,
        burst_rate_ratio: float = 1.05,
        rate_method: RateMethod = RateMethod.AUTO,
    ) -> None: ...
    max_packet_size: int
    rate: float
    burst_size: int
    max_heaps: int
    burst_rate_ratio: float
    rate_method: RateMethod
    @property
    def burst_rate(self) -> float: ...

class Heap:
    def __init__(self, flavour: _Flavour = ...) -> None: ...
    @property
    def flavour(self) -> _Flavour: ...
    repeat_pointers: bool
    def add_item(self, item: _Item) -> None: ...
    def add_descriptor(self, descriptor: _Descriptor) -> None: ...
    def add_start(self) -> None: ...
    def add_end(self) -> None: ...

class PacketGenerator:
    def __init__(self, heap: Heap, cnt: int, max_packet_size: int) -> None: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> bytes: ...

class HeapReference:
    def __init__(self, heap: Heap, *, cnt: int = -1, substream_index: int = 0, rate: float = -1.0) -> None: ...
    @property
    def heap(self) -> Heap: ...
    cnt: int
    substream_index: int
    rate: float

class HeapReferenceList:
    """Immutable list of HeapReference; supports len() and slicing only."""

    def __init__(self, heaps: Sequence[HeapReference]) -> None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, index: slice, /) -> HeapReferenceList: ...

class Stream:
    """Base of all send streams (no Python constructor)."""

    def set_cnt_sequence(self, next: int, step: int) -> None: ...
    @property
    def num_substreams(self) -> int: ...

class UdpStream(Stream):
    DEFAULT_BUFFER_SIZE: Final = 524288
    @overload
    def __init__(
        self,
        thread_pool: _ThreadPool,
        endpoints: Sequence[tuple[str, int]],
        config: StreamConfig = ...,
        buffer_size: int = 524288,
        interface_address: str = "",
    ) -> None: ...
    @overload
    def __init__(
        self,
        thread_pool: _ThreadPool,
        endpoints: Sequence[tuple[str, int]],
        config: StreamConfig = ...,
        buffer_size: int = 524288,
        *,
        ttl: int,
    ) -> None: ...
    @overload
    def __init__(
        self,
        thread_pool: _ThreadPool,
        endpoints: Sequence[tuple[str, int]],
        config: StreamConfig = ...,
        buffer_size: int = 524288,
        *,
        ttl: int,
        interface_address: str,
    ) -> None: ...
    @overload
    def __init__(
        self,
        thread_pool: _ThreadPool,
        endpoints: Sequence[tuple[str, int]],
        config: StreamConfig = ...,
        buffer_size: int = 524288,
        *,
        ttl: int,
        interface_index: int,
    ) -> None: ...
    @overload
    def __init__(
        self,
        thread_pool: _ThreadPool,
        socket: socket.socket,
        endpoints: Sequence[tuple[str, int]],
        config: StreamConfig = ...,
    ) -> None: ...
    def send_heap(self, heap: Heap, cnt: int = -1, substream_index: int = 0, rate: float = -1.0) -> int: ...
    @overload
    def send_heaps(self, heaps: HeapReferenceList, mode: GroupMode) -> int: ...
    @overload
    def send_heaps(self, heaps: Sequence[HeapReference], mode: GroupMode) -> int: ...

class UdpStreamAsyncio(Stream):
    """Native base of spead2.send.asyncio.UdpStream (only in spead2._spead2.send)."""

    DEFAULT_BUFFER_SIZE: Final = 524288
    @overload
    def __init__(
        self,
        thread_pool: _ThreadPool,
        endpoints: Sequence[tuple[str, int]],
        config: StreamConfig = ...,
        buffer_size: int = 524288,
        interface_address: str = "",
    ) -> None: ...
    @overload
    def __init__(
        self,
        thread_pool: _ThreadPool,
        endpoints: Sequence[tuple[str, int]],
        config: StreamConfig = ...,
        buffer_size: int = 524288,
        *,
        ttl: int,
    ) -> None: ...
    @overload
    def __init__(
        self,
        thread_pool: _ThreadPool,
        endpoints: Sequence[tuple[str, int]],
        config: StreamConfig = ...,
        buffer_size: int = 524288,
        *,
        ttl: int,
        interface_address: str,
    ) -> None: ...
    @overload
    def __init__(
        self,
        thread_pool: _ThreadPool,
        endpoints: Sequence[tuple[str, int]],
        config: StreamConfig = ...,
        buffer_size: int = 524288,
        *,
        ttl: int,
        interface_index: int,
    ) -> None: ...
    @overload
    def __init__(
        self,
        thread_pool: _ThreadPool,
        socket: socket.socket,
        endpoints: Sequence[tuple[str, int]],
        config: StreamConfig = ...,
    ) -> None: ...
    @property
    def fd(self) -> int: ...
    def async_send_heap(
        self,
        heap: Heap,
        callback: Callable[[OSError | None, int], None],
        cnt: int = -1,
        substream_index: int = 0,
        rate: float = -1.0,
    ) -> bool: ...
    @overload
    def async_send_heaps(
        self, heaps: HeapReferenceList, callback: Callable[[OSError | None, int], None], mode: GroupMode
    ) -> bool: ...
    @overload
    def async_send_heaps(
        self, heaps: Sequence[HeapReference], callback: Callable[[OSError | None, int], None], mode: GroupMode
    ) -> bool: ...
    def flush(self) -> None: ...
    def process_callbacks(self) -> None: ...

class UdpIbvConfig:
    DEFAULT_BUFFER_SIZE: Final = 524288
    DEFAULT_MAX_POLL: Final = 10
    def __init__(
        self,
        *,
        endpoints: Sequence[tuple[str, int]] = ...,
        interface_address: str = "",
        buffer_size: int = 524288,
        ttl: int = 1,
        comp_vector: int = 0,
        max_poll: int = 10,
        memory_regions: list[Buffer] = ...,
    ) -> None: ...
    @property
    def endpoints(self) -> list[tuple[str, int]]: ...
    @endpoints.setter
    def endpoints(self, value: Sequence[tuple[str, int]]) -> None: ...
    interface_address: str
    buffer_size: int
    ttl: int
    comp_vector: int
    max_poll: int
    memory_regions: list[Buffer]

class UdpIbvStream(Stream):
    # At runtime udp_ibv_config follows the defaulted config and has no default itself:
    # it is given either positionally after an explicit config, or by keyword.
    @overload
    def __init__(self, thread_pool: _ThreadPool, config: StreamConfig, udp_ibv_config: UdpIbvConfig) -> None: ...
    @overload
    def __init__(
        self, thread_pool: _ThreadPool, config: StreamConfig = ..., *, udp_ibv_config: UdpIbvConfig
    ) -> None: ...
    def send_heap(self, heap: Heap, cnt: int = -1, substream_index: int = 0, rate: float = -1.0) -> int: ...
    @overload
    def send_heaps(self, heaps: HeapReferenceList, mode: GroupMode) -> int: ...
    @overload
    def send_heaps(self, heaps: Sequence[HeapReference], mode: GroupMode) -> int: ...

class UdpIbvStreamAsyncio(Stream):
    """Native base of spead2.send.asyncio.UdpIbvStream (only in spead2._spead2.send)."""

    @overload
    def __init__(self, thread_pool: _ThreadPool, config: StreamConfig, udp_ibv_config: UdpIbvConfig) -> None: ...
    @overload
    def __init__(
        self, thread_pool: _ThreadPool, config: StreamConfig = ..., *, udp_ibv_config: UdpIbvConfig
    ) -> None: ...
    @property
    def fd(self) -> int: ...
    def async_send_heap(
        self,
        heap: Heap,
        callback: Callable[[OSError | None, int], None],
        cnt: int = -1,
        substream_index: int = 0,
        rate: float = -1.0,
    ) -> bool: ...
    @overload
    def async_send_heaps(
        self, heaps: HeapReferenceList, callback: Callable[[OSError | None, int], None], mode: GroupMode
    ) -> bool: ...
    @overload
    def async_send_heaps(
        self, heaps: Sequence[HeapReference], callback: Callable[[OSError | None, int], None], mode: GroupMode
    ) -> bool: ...
    def flush(self) -> None: ...
    def process_callbacks(self) -> None: ...

class UdpXdpConfig:
    DEFAULT_FRAME_SIZE: Final = 4096
    DEFAULT_FRAME_COUNT: Final = 4096
    DEFAULT_RING_SIZE: Final = 4096
    def __init__(
        self,
        *,
        interface: str = "",
        endpoints: Sequence[tuple[str, int]] = ...,
        queue: int = 0,
        frame_size: int = 4096,
        frame_count: int = 4096,
        ring_size: int = 4096,
        zero_copy: bool = True,
        ttl: int = 1,
    ) -> None: ...
    interface: str
    @property
    def endpoints(self) -> list[tuple[str, int]]: ...
    @endpoints.setter
    def endpoints(self, value: Sequence[tuple[str, int]]) -> None: ...
    queue: int
    frame_size: int
    frame_count: int
    ring_size: int
    zero_copy: bool
    ttl: int

class UdpXdpStream(Stream):
    # At runtime udp_xdp_config follows the defaulted config and has no default itself:
    # it is given either positionally after an explicit config, or by keyword.
    @overload
    def __init__(self, thread_pool: _ThreadPool, config: StreamConfig, udp_xdp_config: UdpXdpConfig) -> None: ...
    @overload
    def __init__(
        self, thread_pool: _ThreadPool, config: StreamConfig = ..., *, udp_xdp_config: UdpXdpConfig
    ) -> None: ...
    @property
    def zero_copy(self) -> bool: ...
    def send_heap(self, heap: Heap, cnt: int = -1, substream_index: int = 0, rate: float = -1.0) -> int: ...
    @overload
    def send_heaps(self, heaps: HeapReferenceList, mode: GroupMode) -> int: ...
    @overload
    def send_heaps(self, heaps: Sequence[HeapReference], mode: GroupMode) -> int: ...

class UdpXdpStreamAsyncio(Stream):
    """Native base of spead2.send.asyncio.UdpXdpStream (only in spead2._spead2.send)."""

    @overload
    def __init__(self, thread_pool: _ThreadPool, config: StreamConfig, udp_xdp_config: UdpXdpConfig) -> None: ...
    @overload
    def __init__(
        self, thread_pool: _ThreadPool, config: StreamConfig = ..., *, udp_xdp_config: UdpXdpConfig
    ) -> None: ...
    @property
    def zero_copy(self) -> bool: ...
    @property
    def fd(self) -> int: ...
    def async_send_heap(
        self,
        heap: Heap,
        callback: Callable[[OSError | None, int], None],
        cnt: int = -1,
        substream_index: int = 0,
        rate: float = -1.0,
    ) -> bool: ...
    @overload
    def async_send_heaps(
        self, heaps: HeapReferenceList, callback: Callable[[OSError | None, int], None], mode: GroupMode
    ) -> bool: ...
    @overload
    def async_send_heaps(
        self, heaps: Sequence[HeapReference], callback: Callable[[OSError | None, int], None], mode: GroupMode
    ) -> bool: ...
    def flush(self) -> None: ...
    def process_callbacks(self) -> None: ...

class TcpStream(Stream):
    DEFAULT_BUFFER_SIZE: Final = 212992
    @overload
    def __init__(self, thread_pool: _ThreadPool, socket: socket.socket, config: StreamConfig = ...) -> None: ...
    @overload
    def __init__(
        self,
        thread_pool: _ThreadPool,
        endpoints: Sequence[tuple[str, int]],
        config: StreamConfig = ...,
        buffer_size: int = 212992,
        interface_address: str = "",
    ) -> None: ...
    def send_heap(self, heap: Heap, cnt: int = -1, substream_index: int = 0, rate: float = -1.0) -> int: ...
    @overload
    def send_heaps(self, heaps: HeapReferenceList, mode: GroupMode) -> int: ...
    @overload
    def send_heaps(self, heaps: Sequence[HeapReference], mode: GroupMode) -> int: ...

class TcpStreamAsyncio(Stream):
    """Native base of spead2.send.asyncio.TcpStream (only in spead2._spead2.send).

    The endpoints overload connects asynchronously: ``callback`` is called once, from a
    worker thread, with None or the OSError."""

    DEFAULT_BUFFER_SIZE: Final = 212992
    @overload
    def __init__(self, thread_pool: _ThreadPool, socket: socket.socket, config: StreamConfig = ...) -> None: ...
    @overload
    def __init__(
        self,
        callback: Callable[[OSError | None], None],
        thread_pool: _ThreadPool,
        endpoints: Sequence[tuple[str, int]],
        config: StreamConfig = ...,
        buffer_size: int = 212992,
        interface_address: str = "",
    ) -> None: ...
    @property
    def fd(self) -> int: ...
    def async_send_heap(
        self,
        heap: Heap,
        callback: Callable[[OSError | None, int], None],
        cnt: int = -1,
        substream_index: int = 0,
        rate: float = -1.0,
    ) -> bool: ...
    @overload
    def async_send_heaps(
        self, heaps: HeapReferenceList, callback: Callable[[OSError | None, int], None], mode: GroupMode
    ) -> bool: ...
    @overload
    def async_send_heaps(
        self, heaps: Sequence[HeapReference], callback: Callable[[OSError | None, int], None], mode: GroupMode
    ) -> bool: ...
    def flush(self) -> None: ...
    def process_callbacks(self) -> None: ...

class BytesStream(Stream):
    def __init__(self, thread_pool: _ThreadPool, config: StreamConfig = ...) -> None: ...
    def send_heap(self, heap: Heap, cnt: int = -1, substream_index: int = 0, rate: float = -1.0) -> int: ...
    @overload
    def send_heaps(self, heaps: HeapReferenceList, mode: GroupMode) -> int: ...
    @overload
    def send_heaps(self, heaps: Sequence[HeapReference], mode: GroupMode) -> int: ...
    def getvalue(self) -> bytes: ...

class InprocStream(Stream):
    def __init__(
        self, thread_pool: _ThreadPool, queues: Sequence[spead2.InprocQueue], config: StreamConfig = ...
    ) -> None: ...
    @property
    def queues(self) -> list[spead2.InprocQueue]: ...
    def send_heap(self, heap: Heap, cnt: int = -1, substream_index: int = 0, rate: float = -1.0) -> int: ...
    @overload
    def send_heaps(self, heaps: HeapReferenceList, mode: GroupMode) -> int: ...
    @overload
    def send_heaps(self, heaps: Sequence[HeapReference], mode: GroupMode) -> int: ...

class InprocStreamAsyncio(Stream):
    """Native base of spead2.send.asyncio.InprocStream (only in spead2._spead2.send)."""

    def __init__(
        self, thread_pool: _ThreadPool, queues: Sequence[spead2.InprocQueue], config: StreamConfig = ...
    ) -> None: ...
    @property
    def queues(self) -> list[spead2.InprocQueue]: ...
    @property
    def fd(self) -> int: ...
    def async_send_heap(
        self,
        heap: Heap,
        callback: Callable[[OSError | None, int], None],
        cnt: int = -1,
        substream_index: int = 0,
        rate: float = -1.0,
    ) -> bool: ...
    @overload
    def async_send_heaps(
        self, heaps: HeapReferenceList, callback: Callable[[OSError | None, int], None], mode: GroupMode
    ) -> bool: ...
    @overload
    def async_send_heaps(
        self, heaps: Sequence[HeapReference], callback: Callable[[OSError | None, int], None], mode: GroupMode
    ) -> bool: ...
    def flush(self) -> None: ...
    def process_callbacks(self) -> None: ...

class HeapGenerator:
    def __init__(
        self,
        item_group: spead2.ItemGroup,
        descriptor_frequency: int | None = None,
        flavour: _Flavour = ...,
    ) -> None: ...
    def add_to_heap(
        self,
        heap: Heap,
        descriptors: Literal["stale", "all", "none"] = "stale",
        data: Literal["stale", "all", "none"] = "stale",
    ) -> Heap: ...
    def get_heap(
        self,
        descriptors: Literal["stale", "all", "none"] = "stale",
        data: Literal["stale", "all", "none"] = "stale",
    ) -> Heap: ...
    def get_start(self) -> Heap: ...
    def get_end(self) -> Heap: ...

class ItemGroup(spead2.ItemGroup, HeapGenerator):
    def __init__(self, descriptor_frequency: int | None = None, flavour: _Flavour = ...) -> None: ...
