# Type stubs for the spead2 facade package.
#
# The native names are defined in spead2_core/_core.pyi (the runtime module
# spead2._spead2 is spead2_core._core) and re-exported here, as at runtime.
# Descriptor, Item, ItemGroup and parse_range_list are pure Python.

from collections.abc import ItemsView, KeysView, Sequence, ValuesView
from typing import Any

import numpy as np
from numpy.typing import DTypeLike
from typing_extensions import Buffer, Self

from spead2.recv import Heap as _RecvHeap
from spead2.recv import RawItem as _RawItem
from spead2_core import _core as _spead2
from spead2_core._core import (
    BUG_COMPAT_DESCRIPTOR_WIDTHS as BUG_COMPAT_DESCRIPTOR_WIDTHS,
    BUG_COMPAT_PYSPEAD_0_5_2 as BUG_COMPAT_PYSPEAD_0_5_2,
    BUG_COMPAT_SHAPE_BIT_1 as BUG_COMPAT_SHAPE_BIT_1,
    BUG_COMPAT_SWAP_ENDIAN as BUG_COMPAT_SWAP_ENDIAN,
    CTRL_DESCRIPTOR_REISSUE as CTRL_DESCRIPTOR_REISSUE,
    CTRL_DESCRIPTOR_UPDATE as CTRL_DESCRIPTOR_UPDATE,
    CTRL_STREAM_START as CTRL_STREAM_START,
    CTRL_STREAM_STOP as CTRL_STREAM_STOP,
    DESCRIPTOR_DESCRIPTION_ID as DESCRIPTOR_DESCRIPTION_ID,
    DESCRIPTOR_DTYPE_ID as DESCRIPTOR_DTYPE_ID,
    DESCRIPTOR_FORMAT_ID as DESCRIPTOR_FORMAT_ID,
    DESCRIPTOR_ID as DESCRIPTOR_ID,
    DESCRIPTOR_ID_ID as DESCRIPTOR_ID_ID,
    DESCRIPTOR_NAME_ID as DESCRIPTOR_NAME_ID,
    DESCRIPTOR_SHAPE_ID as DESCRIPTOR_SHAPE_ID,
    HEAP_CNT_ID as HEAP_CNT_ID,
    HEAP_LENGTH_ID as HEAP_LENGTH_ID,
    MEMCPY_NONTEMPORAL as MEMCPY_NONTEMPORAL,
    MEMCPY_STD as MEMCPY_STD,
    NULL_ID as NULL_ID,
    PAYLOAD_LENGTH_ID as PAYLOAD_LENGTH_ID,
    PAYLOAD_OFFSET_ID as PAYLOAD_OFFSET_ID,
    STREAM_CTRL_ID as STREAM_CTRL_ID,
    Empty as Empty,
    Flavour as Flavour,
    Full as Full,
    MemoryAllocator as MemoryAllocator,
    MemoryPool as MemoryPool,
    MmapAllocator as MmapAllocator,
    Stopped as Stopped,
    ThreadPool as ThreadPool,
    InprocQueue as InprocQueue,
)

__version__: str

def parse_range_list(ranges: str | None) -> list[int]: ...

class Descriptor:
    id: int
    name: str
    description: str
    shape: tuple[int | None, ...]
    dtype: np.dtype[Any] | None
    order: str
    format: list[tuple[str, int]] | None
    def __init__(
        self,
        id: int | None,
        name: str,
        description: str,
        shape: Sequence[int | None],
        dtype: DTypeLike | None = None,
        order: str = "C",
        format: list[tuple[str, int]] | None = None,
    ) -> None: ...
    @property
    def itemsize_bits(self) -> int: ...
    def is_variable_size(self) -> bool: ...
    def allow_immediate(self) -> bool: ...
    def dynamic_shape(self, max_elements: int) -> Sequence[int]: ...
    def compatible_shape(self, shape: Sequence[int]) -> bool: ...
    @classmethod
    def from_raw(cls, raw_descriptor: _spead2.RawDescriptor, flavour: Flavour) -> Self: ...
    def to_raw(self, flavour: Flavour) -> _spead2.RawDescriptor: ...

class Item(Descriptor):
    version: int
    def __init__(
        self,
        id: int | None,
        name: str,
        description: str,
        shape: Sequence[int | None],
        dtype: DTypeLike | None = None,
        order: str = "C",
        format: list[tuple[str, int]] | None = None,
        *,
        value: Any = None,
    ) -> None: ...
    @property
    def value(self) -> Any: ...
    @value.setter
    def value(self, new_value: Any) -> None: ...
    def set_from_raw(self, raw_item: _RawItem, new_order: str = "=") -> None: ...
    def to_buffer(self) -> Buffer: ...

class ItemGroup:
    def __init__(self) -> None: ...
    def add_item(
        self,
        id: int | None,
        name: str,
        description: str,
        shape: Sequence[int | None],
        dtype: DTypeLike | None = None,
        order: str = "C",
        format: list[tuple[str, int]] | None = None,
        *,
        value: Any = None,
    ) -> Item: ...
    def __getitem__(self, key: int | str) -> Item: ...
    def __contains__(self, key: object) -> bool: ...
    def keys(self) -> KeysView[str]: ...
    def ids(self) -> KeysView[int]: ...
    def values(self) -> ValuesView[Item]: ...
    def items(self) -> ItemsView[str, Item]: ...
    def __len__(self) -> int: ...
    def update(self, heap: _RecvHeap, new_order: str = "=") -> dict[str, Item]: ...
