"""A configurable numba place callback and an inproc heap source for chunk stream tests.

One callback, compiled once, serves every test: its behaviour is read from a numpy
array of parameters (the callback's user data), which a test sets before data flows.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.send

numba = pytest.importorskip("numba")
scipy = pytest.importorskip("scipy")
from numba import types  # noqa: E402

from spead2.numba import intp_to_voidptr  # noqa: E402
from spead2.recv.numba import chunk_place_data  # noqa: E402

PAYLOAD_ID = 0x1000
ITEMS = [spead2.HEAP_CNT_ID, spead2.HEAP_LENGTH_ID]

# Indices into the parameter array.
HEAP_SIZE = 0  # heaps of any other length are rejected (descriptors, stop heaps)
HEAPS_PER_CHUNK = 1  # heap cnt c goes to chunk c // this, slot c % this
INDEX_SCALE = 2  # heap_index = slot * this + INDEX_BIAS
EXTRA_SIZE = 3  # bytes of extra per heap (written: cnt + i); 0: none
STAT_INDEX = 4  # a statistic the callback increments per heap; -1: none
OFFSET_BIAS = 5  # added to heap_offset (to aim past the chunk)
INDEX_BIAS = 6
EXTRA_OFFSET_BIAS = 7
EXTRA_SIZE_BIAS = 8  # added to extra_size (to exceed max_heap_extra)
N_PARAMS = 9


@numba.cfunc(
    types.void(types.CPointer(chunk_place_data), types.uintp, types.CPointer(types.int64)), nopython=True
)
def _place(data_ptr, data_size, params):
    data = numba.carray(data_ptr, 1)
    items = numba.carray(intp_to_voidptr(data[0].items), 2, dtype=np.int64)
    cnt = items[0]
    if items[1] != params[HEAP_SIZE]:
        return
    slot = cnt % params[HEAPS_PER_CHUNK]
    data[0].chunk_id = cnt // params[HEAPS_PER_CHUNK]
    data[0].heap_index = slot * params[INDEX_SCALE] + params[INDEX_BIAS]
    data[0].heap_offset = slot * params[HEAP_SIZE] + params[OFFSET_BIAS]
    extra_size = params[EXTRA_SIZE]
    if extra_size > 0:
        extra = numba.carray(intp_to_voidptr(data[0].extra), extra_size, dtype=np.uint8)
        for i in range(extra_size):
            extra[i] = (cnt + i) & 0xFF
        data[0].extra_offset = slot * extra_size + params[EXTRA_OFFSET_BIAS]
        data[0].extra_size = extra_size + params[EXTRA_SIZE_BIAS]
    if params[STAT_INDEX] >= 0:
        stats = numba.carray(intp_to_voidptr(data[0].batch_stats), params[STAT_INDEX] + 1, dtype=np.uint64)
        stats[params[STAT_INDEX]] += 1


class Placement:
    """The callback with its parameters; ``place`` is for ChunkStreamConfig."""

    def __init__(self, heap_size: int = 1024, heaps_per_chunk: int = 4, **params: int) -> None:
        self.params = np.zeros(N_PARAMS, np.int64)
        self.params[HEAP_SIZE] = heap_size
        self.params[HEAPS_PER_CHUNK] = heaps_per_chunk
        self.params[INDEX_SCALE] = 1
        self.params[STAT_INDEX] = -1
        for name, value in params.items():
            self.params[globals()[name.upper()]] = value
        self.place = scipy.LowLevelCallable(
            _place.ctypes,
            user_data=self.params.ctypes.data_as(ctypes.c_void_p),
            signature="void (void *, size_t, void *)",
        )

    @property
    def heap_size(self) -> int:
        return int(self.params[HEAP_SIZE])

    @property
    def heaps_per_chunk(self) -> int:
        return int(self.params[HEAPS_PER_CHUNK])

    def config(self, **kwargs) -> spead2.recv.ChunkStreamConfig:
        kwargs.setdefault("max_chunks", 2)
        return spead2.recv.ChunkStreamConfig(items=ITEMS, place=self.place, **kwargs)

    def chunk(self, present_scale: int = 1, extra: int = 0, cls=None) -> spead2.recv.Chunk:
        cls = cls or spead2.recv.Chunk
        return cls(
            present=np.zeros(self.heaps_per_chunk * present_scale, np.uint8),
            data=np.zeros(self.heaps_per_chunk * self.heap_size, np.uint8),
            extra=np.zeros(extra, np.uint8) if extra else None,
        )


def payload(cnt: int, size: int) -> np.ndarray:
    """The payload of heap @a cnt: distinct per heap and per byte."""
    return ((np.arange(size, dtype=np.int64) + cnt * 7) % 251).astype(np.uint8)


class Source:
    """Heaps into an InprocQueue through our sender (whole heaps, in order)."""

    def __init__(self, heap_size: int, max_packet_size: int = 1472, repeat_pointers: bool = False) -> None:
        self.queue = spead2.InprocQueue()
        self.heap_size = heap_size
        self.repeat_pointers = repeat_pointers
        config = spead2.send.StreamConfig(max_packet_size=max_packet_size)
        self.stream = spead2.send.InprocStream(spead2.ThreadPool(), [self.queue], config)
        self.ig = spead2.send.ItemGroup(flavour=spead2.Flavour())
        self.ig.add_item(PAYLOAD_ID, "payload", "", shape=(heap_size,), dtype=np.uint8)

    def send(self, *cnts: int) -> None:
        for cnt in cnts:
            self.ig["payload"].value = payload(cnt, self.heap_size)
            heap = self.ig.get_heap(descriptors="none", data="all")
            heap.repeat_pointers = self.repeat_pointers
            self.stream.send_heap(heap, cnt=cnt)

    def send_descriptors(self) -> None:
        self.stream.send_heap(self.ig.get_heap(descriptors="all", data="none"))

    def end(self) -> None:
        self.stream.send_heap(self.ig.get_end())


def drain(ring: spead2.recv.ChunkRingbuffer, recycle=None) -> list[tuple[int, int, list[int], bytes]]:
    """(chunk_id, stream_id, present, data) of every chunk until the ring stops."""
    out = []
    for chunk in ring:
        out.append((chunk.chunk_id, chunk.stream_id, list(np.asarray(chunk.present)), bytes(chunk.data)))
        if recycle is not None:
            recycle.add_free_chunk(chunk)
    return out


def expected_data(cnts, chunk_id: int, placement: Placement) -> bytes:
    """A chunk's data after receiving heaps @a cnts into zeroed buffers."""
    data = np.zeros(placement.heaps_per_chunk * placement.heap_size, np.uint8)
    for cnt in cnts:
        if cnt // placement.heaps_per_chunk == chunk_id:
            slot = cnt % placement.heaps_per_chunk
            data[slot * placement.heap_size : (slot + 1) * placement.heap_size] = payload(cnt, placement.heap_size)
    return data.tobytes()
