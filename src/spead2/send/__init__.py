"""Sending SPEAD: heaps, heap generators and send streams (from the core and plugins)."""

from __future__ import annotations

from spead2 import _plugins
from spead2._spead2.send import (
    GroupMode,
    Heap,
    HeapReference,
    HeapReferenceList,
    PacketGenerator,
    RateMethod,
    Stream,
    StreamConfig,
)

from ._heap_generator import HeapGenerator, ItemGroup, _ItemInfo

globals().update(_plugins.send_names())
