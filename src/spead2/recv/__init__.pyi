# Type stubs for spead2.recv: the native receive classes (runtime module
# spead2._spead2.recv) re-exported by the package.
#
# _Stream, HeapBase and RawItem are not re-exported by spead2.recv at runtime:
# they live only in spead2._spead2.recv (spead2_core._core.recv). They are
# declared here, under their runtime names, so that annotations can refer to
# them; import them from spead2._spead2.recv in running code.
#
# The readers of the core, of the spead2-udp plugin (UDP, TCP, pcap) and of the
# spead2-ibverbs plugin (UdpIbvConfig, add_udp_ibv_reader) and of the spead2-xdp
# plugin (UdpXdpConfig, add_udp_xdp_reader) are described;
# add_udp_pcap_file_reader exists only where libpcap was found at build time,
# the ibverbs names only where spead2-ibverbs is installed (it needs rdma-core's
# headers to build), the AF_XDP names only where spead2-xdp is (libxdp, libbpf). The chunking receiver's classes come from the
# spead2-chunk plugin's stubs.

import enum
import socket
from collections.abc import Iterator, Sequence
from typing import ClassVar, Final, TypeVar, overload

from typing_extensions import Buffer, Self

from spead2 import Flavour as _Flavour
from spead2 import MemoryAllocator as _MemoryAllocator
from spead2 import InprocQueue as _InprocQueue
from spead2 import ThreadPool as _ThreadPool
from spead2_core._core import RawDescriptor as _RawDescriptor
from spead2_chunk._chunk import Chunk as Chunk
from spead2_chunk._chunk import ChunkRingbuffer as ChunkRingbuffer
from spead2_chunk._chunk import ChunkStreamConfig as ChunkStreamConfig
from spead2_chunk._chunk import ChunkRingPair as ChunkRingPair
from spead2_chunk._chunk import ChunkRingStream as ChunkRingStream
from spead2_chunk._chunk import ChunkStreamGroupConfig as ChunkStreamGroupConfig
from spead2_chunk._chunk import ChunkStreamGroupMember as ChunkStreamGroupMember
from spead2_chunk._group import ChunkStreamRingGroup as ChunkStreamRingGroup
from spead2_xdp._xdp import recv as _xdp_recv

UdpXdpConfig = _xdp_recv.UdpXdpConfig

from . import stream_stat_indices as stream_stat_indices

_T = TypeVar("_T")

class StreamStatConfig:
    class Mode(enum.Enum):
        COUNTER = 0
        MAXIMUM = 1

    def __init__(self, name: str, mode: StreamStatConfig.Mode = ...) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def mode(self) -> StreamStatConfig.Mode: ...
    def combine(self, a: int, b: int, /) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]

class StreamStats:
    """Snapshot of a stream's statistics (no Python constructor)."""

    heaps: int
    incomplete_heaps_evicted: int
    incomplete_heaps_flushed: int
    packets: int
    batches: int
    worker_blocked: int
    max_batch: int
    single_packet_heaps: int
    search_dist: int
    @property
    def config(self) -> list[StreamStatConfig]: ...
    @overload
    def __getitem__(self, index: int, /) -> int: ...
    @overload
    def __getitem__(self, name: str, /) -> int: ...
    @overload
    def __setitem__(self, index: int, value: int, /) -> None: ...
    @overload
    def __setitem__(self, name: str, value: int, /) -> None: ...
    def __contains__(self, name: str, /) -> bool: ...
    @overload
    def get(self, name: str, default: None = None, /) -> int | None: ...
    @overload
    def get(self, name: str, default: _T, /) -> int | _T: ...
    def items(self) -> Iterator[tuple[str, int]]: ...
    def __iter__(self) -> Iterator[str]: ...
    def keys(self) -> Iterator[str]: ...
    def values(self) -> Iterator[int]: ...
    def __len__(self) -> int: ...
    def __add__(self, other: StreamStats, /) -> StreamStats: ...
    def __iadd__(self, other: StreamStats, /) -> Self: ...

class StreamConfig:
    DEFAULT_MAX_HEAPS: Final = 4
    def __init__(
        self,
        *,
        max_heaps: int = 4,
        substreams: int = 1,
        bug_compat: int = 0,
        memcpy: int = 0,
        memory_allocator: _MemoryAllocator = ...,
        stop_on_stop_item: bool = True,
        allow_unsized_heaps: bool = True,
        allow_out_of_order: bool = False,
        stream_id: int = 0,
        explicit_start: bool = False,
    ) -> None: ...
    max_heaps: int
    substreams: int
    bug_compat: int
    memcpy: int
    memory_allocator: _MemoryAllocator
    stop_on_stop_item: bool
    allow_unsized_heaps: bool
    allow_out_of_order: bool
    stream_id: int
    explicit_start: bool
    @property
    def stats(self) -> list[StreamStatConfig]: ...
    def add_stat(self, name: str, mode: StreamStatConfig.Mode = ...) -> int: ...
    def get_stat_index(self, name: str) -> int: ...
    def next_stat_index(self) -> int: ...

class RingStreamConfig:
    DEFAULT_HEAPS: Final = 4
    def __init__(
        self, *, heaps: int = 4, contiguous_only: bool = True, incomplete_keep_payload_ranges: bool = False
    ) -> None: ...
    heaps: int
    contiguous_only: bool
    incomplete_keep_payload_ranges: bool

class UdpIbvConfig:
    DEFAULT_BUFFER_SIZE: Final = 16777216
    DEFAULT_MAX_SIZE: Final = 9200
    DEFAULT_MAX_POLL: Final = 10
    def __init__(
        self,
        *,
        endpoints: Sequence[tuple[str, int]] = ...,
        interface_address: str = "",
        buffer_size: int = 16777216,
        max_size: int = 9200,
        comp_vector: int = 0,
        max_poll: int = 10,
    ) -> None: ...
    @property
    def endpoints(self) -> list[tuple[str, int]]: ...
    @endpoints.setter
    def endpoints(self, value: Sequence[tuple[str, int]]) -> None: ...
    interface_address: str
    buffer_size: int
    max_size: int
    comp_vector: int
    max_poll: int

class RawItem:
    """One item of a received heap; a read/write 1-D byte buffer (no Python constructor)."""

    @property
    def id(self) -> int: ...
    @property
    def is_immediate(self) -> bool: ...
    @property
    def immediate_value(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...

class HeapBase:
    """Base of Heap and IncompleteHeap (no Python constructor)."""

    @property
    def cnt(self) -> int: ...
    @property
    def flavour(self) -> _Flavour: ...
    def get_items(self) -> list[RawItem]: ...
    def is_start_of_stream(self) -> bool: ...
    def is_end_of_stream(self) -> bool: ...

class Heap(HeapBase):
    def get_descriptors(self) -> list[_RawDescriptor]: ...

class IncompleteHeap(HeapBase):
    @property
    def heap_length(self) -> int: ...
    @property
    def received_length(self) -> int: ...
    @property
    def payload_ranges(self) -> list[tuple[int, int]]: ...

class _Stream:
    """Reader-owning base of receive streams (no Python constructor)."""

    DEFAULT_UDP_MAX_SIZE: Final = 9200
    DEFAULT_UDP_BUFFER_SIZE: Final = 8388608
    DEFAULT_TCP_MAX_SIZE: Final = 65536
    DEFAULT_TCP_BUFFER_SIZE: Final = 212992
    @property
    def stats(self) -> StreamStats: ...
    @property
    def config(self) -> StreamConfig: ...
    def add_buffer_reader(self, buffer: Buffer) -> None: ...
    @overload
    def add_udp_reader(
        self, port: int, max_size: int = 9200, buffer_size: int = 8388608, bind_hostname: str = ""
    ) -> None: ...
    @overload
    def add_udp_reader(self, socket: socket.socket, max_size: int = 9200) -> None: ...
    @overload
    def add_udp_reader(
        self,
        multicast_group: str,
        port: int,
        max_size: int = 9200,
        buffer_size: int = 8388608,
        interface_address: str = "0.0.0.0",
    ) -> None: ...
    @overload
    def add_udp_reader(
        self,
        multicast_group: str,
        port: int,
        max_size: int = 9200,
        buffer_size: int = 8388608,
        interface_index: int = 0,
    ) -> None: ...
    @overload
    def add_tcp_reader(
        self, port: int, max_size: int = 65536, buffer_size: int = 212992, bind_hostname: str = ""
    ) -> None: ...
    @overload
    def add_tcp_reader(self, acceptor: socket.socket, max_size: int = 65536) -> None: ...
    def add_udp_pcap_file_reader(self, filename: str, filter: str = "") -> None: ...
    def add_udp_ibv_reader(self, config: UdpIbvConfig) -> None: ...
    def add_udp_xdp_reader(self, config: UdpXdpConfig) -> None: ...
    def add_inproc_reader(self, queue: _InprocQueue) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...

class Stream(_Stream):
    class Ringbuffer:
        """Live view of a stream's ring buffer (no Python constructor)."""

        def size(self) -> int: ...
        def capacity(self) -> int: ...

    def __init__(
        self,
        thread_pool: _ThreadPool,
        config: StreamConfig = ...,
        ring_config: RingStreamConfig = ...,
    ) -> None: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Heap | IncompleteHeap: ...
    def get(self) -> Heap | IncompleteHeap: ...
    def get_nowait(self) -> Heap | IncompleteHeap: ...
    @property
    def fd(self) -> int: ...
    @property
    def ringbuffer(self) -> Stream.Ringbuffer: ...
    @property
    def ring_config(self) -> RingStreamConfig: ...
