# Type stubs for the native module spead2_core._core (public name: spead2._spead2).
#
# Only the module's top-level names are described here. Its submodules ``send``
# and ``recv`` (and ``recv.stream_stat_indices``) are typed as plain modules;
# their classes are described by the facade stubs spead2/send/__init__.pyi and
# spead2/recv/__init__.pyi, which is where user code finds them.
#
# Runtime behaviour wins over the mistakes of the reference's stubs: Stopped,
# Empty and Full derive directly from Exception; the constants include
# DESCRIPTOR_ID_ID and DESCRIPTOR_DTYPE_ID; there is no IbvContext.

from collections.abc import Sequence
from types import ModuleType
from typing import ClassVar, Final, overload

from typing_extensions import Buffer

send: ModuleType
recv: ModuleType

BUG_COMPAT_DESCRIPTOR_WIDTHS: Final = 1
BUG_COMPAT_SHAPE_BIT_1: Final = 2
BUG_COMPAT_SWAP_ENDIAN: Final = 4
BUG_COMPAT_PYSPEAD_0_5_2: Final = 7

NULL_ID: Final = 0x00
HEAP_CNT_ID: Final = 0x01
HEAP_LENGTH_ID: Final = 0x02
PAYLOAD_OFFSET_ID: Final = 0x03
PAYLOAD_LENGTH_ID: Final = 0x04
DESCRIPTOR_ID: Final = 0x05
STREAM_CTRL_ID: Final = 0x06

DESCRIPTOR_NAME_ID: Final = 0x10
DESCRIPTOR_DESCRIPTION_ID: Final = 0x11
DESCRIPTOR_SHAPE_ID: Final = 0x12
DESCRIPTOR_FORMAT_ID: Final = 0x13
DESCRIPTOR_ID_ID: Final = 0x14
DESCRIPTOR_DTYPE_ID: Final = 0x15

CTRL_STREAM_START: Final = 0
CTRL_DESCRIPTOR_REISSUE: Final = 1
CTRL_STREAM_STOP: Final = 2
CTRL_DESCRIPTOR_UPDATE: Final = 3

MEMCPY_STD: Final = 0
MEMCPY_NONTEMPORAL: Final = 1

class Stopped(Exception):
    """The ring buffer or queue has been stopped."""

class Empty(Exception):
    """Non-blocking get on an empty ring buffer."""

class Full(Exception):
    """Non-blocking put on a full ring buffer."""

class Flavour:
    @overload
    def __init__(
        self, version: int, item_pointer_bits: int, heap_address_bits: int, bug_compat: int = 0
    ) -> None: ...
    @overload
    def __init__(self) -> None: ...
    @property
    def version(self) -> int: ...
    @property
    def item_pointer_bits(self) -> int: ...
    @property
    def heap_address_bits(self) -> int: ...
    @property
    def bug_compat(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]

class ThreadPool:
    @overload
    def __init__(self, threads: int = 1) -> None: ...
    @overload
    def __init__(self, threads: int, affinity: Sequence[int]) -> None: ...
    def stop(self) -> None: ...
    @staticmethod
    def set_affinity(core: int, /) -> None: ...

class MemoryAllocator:
    def __init__(self) -> None: ...

class MmapAllocator(MemoryAllocator):
    def __init__(self, flags: int = 0, prefer_huge: bool = False) -> None: ...

class MemoryPool(MemoryAllocator):
    @overload
    def __init__(
        self, lower: int, upper: int, max_free: int, initial: int, allocator: MemoryAllocator | None = None
    ) -> None: ...
    @overload
    def __init__(
        self,
        thread_pool: ThreadPool,
        lower: int,
        upper: int,
        max_free: int,
        initial: int,
        low_water: int,
        allocator: MemoryAllocator | None = None,
    ) -> None: ...
    warn_on_empty: bool

class InprocQueue:
    """Unbounded, thread-safe, lossless in-process packet queue."""

    def __init__(self) -> None: ...
    def add_packet(self, packet: Buffer, /) -> None: ...
    def stop(self) -> None: ...

class RawDescriptor:
    """Undecoded item descriptor (not re-exported as spead2.RawDescriptor)."""

    def __init__(self) -> None: ...
    id: int
    name: bytes
    description: bytes
    @property
    def shape(self) -> list[int | None]: ...
    @shape.setter
    def shape(self, value: Sequence[int | None]) -> None: ...
    @property
    def format(self) -> list[tuple[str, int]]: ...
    @format.setter
    def format(self, value: Sequence[tuple[str, int]]) -> None: ...
    numpy_header: bytes

def log_info(msg: str, /) -> None: ...
def _shutdown() -> None: ...
