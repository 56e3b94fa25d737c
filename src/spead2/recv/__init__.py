"""Receiving SPEAD: receive streams, heaps and statistics (from the core and plugins)."""

from __future__ import annotations

from spead2 import _plugins
from spead2._spead2.recv import (
    Heap,
    IncompleteHeap,
    RingStreamConfig,
    Stream,
    StreamConfig,
    StreamStatConfig,
    StreamStats,
)

from . import stream_stat_indices

globals().update(_plugins.recv_names())
