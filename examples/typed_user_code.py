#!/usr/bin/env python3
"""Typed user code: send, receive and chunk, checked by mypy against spead2's stubs.

A sender thread streams a few spectra over UDP on 127.0.0.1; the receiver checks
them with an ItemGroup; the same heaps, encoded into bytes, then go through a
ChunkRingStream whose place callback (compiled with numba) puts each heap's
payload at its row of a chunk. Every spead2 name is annotated as a user would
annotate it, and ``mypy --strict examples/typed_user_code.py`` passes (see
``tests/facade/test_typing.py``).

    python examples/typed_user_code.py
"""

from __future__ import annotations

import socket
import threading

import numba
import numpy as np
import numpy.typing as npt
import scipy
from numba import types

import spead2
import spead2.recv
import spead2.send
from spead2.numba import intp_to_voidptr
from spead2.recv.numba import chunk_place_data

ROW_ID = 0x1600
SPECTRUM_ID = 0x4300
N_ROWS = 8
N_CHANNELS = 256
ROWS_PER_CHUNK = 4


def spectrum(row: int) -> npt.NDArray[np.float32]:
    return np.linspace(row, row + 1, N_CHANNELS, dtype=np.float32)


def make_item_group() -> spead2.send.ItemGroup:
    ig = spead2.send.ItemGroup()
    # 40 bits: an immediate item in the default flavour, so the chunk stream can read it.
    ig.add_item(ROW_ID, "row", "Row index", shape=(), format=[("u", 40)])
    ig.add_item(SPECTRUM_ID, "spectrum", "One spectrum", shape=(N_CHANNELS,), dtype=np.float32)
    return ig


def heaps(ig: spead2.send.ItemGroup) -> list[spead2.send.Heap]:
    """Descriptors, then one heap per row, then the stop heap."""
    result = [ig.get_heap(descriptors="all", data="none")]
    for row in range(N_ROWS):
        ig["row"].value = row
        ig["spectrum"].value = spectrum(row)
        result.append(ig.get_heap(descriptors="none", data="all"))
    result.append(ig.get_end())
    return result


def send_udp(port: int) -> None:
    config = spead2.send.StreamConfig(rate=50e6, max_packet_size=1472)
    stream = spead2.send.UdpStream(spead2.ThreadPool(), [("127.0.0.1", port)], config)
    for heap in heaps(make_item_group()):
        stream.send_heap(heap)


def receive_udp() -> int:
    """Receive the spectra over UDP; return how many arrived intact."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    stream = spead2.recv.Stream(spead2.ThreadPool(), spead2.recv.StreamConfig(max_heaps=4))
    stream.add_udp_reader(sock)
    sock.close()
    sender = threading.Thread(target=send_udp, args=(port,))
    sender.start()
    ig = spead2.ItemGroup()
    intact = 0
    for heap in stream:
        # A stream may hand on incomplete heaps (RingStreamConfig(contiguous_only=False)):
        # only complete ones carry descriptors and values for an ItemGroup.
        if not isinstance(heap, spead2.recv.Heap):
            continue
        updated: dict[str, spead2.Item] = ig.update(heap)
        if "spectrum" in updated and np.array_equal(ig["spectrum"].value, spectrum(int(ig["row"].value))):
            intact += 1
    sender.join()
    stats: spead2.recv.StreamStats = stream.stats
    # The descriptors and the rows; the stop heap ends the stream and is not a heap received.
    assert stats["heaps"] == N_ROWS + 1, stats["heaps"]
    return intact


# Places a heap at row ``row % ROWS_PER_CHUNK`` of chunk ``row // ROWS_PER_CHUNK``;
# heaps without a row (the descriptors) are not placed.
# numba has no type information mypy can use: the callback is typed by its signature.
@numba.cfunc(types.void(types.CPointer(chunk_place_data), types.uintp), nopython=True)
def place(data_ptr, data_size):  # type: ignore[no-untyped-def]
    data = numba.carray(data_ptr, 1)
    items = numba.carray(intp_to_voidptr(data[0].items), 1, dtype=np.int64)
    row = items[0]
    if row >= 0:
        data[0].chunk_id = row // ROWS_PER_CHUNK
        data[0].heap_index = row % ROWS_PER_CHUNK
        data[0].heap_offset = data[0].heap_index * N_CHANNELS * 4


def receive_chunks(packets: bytes) -> int:
    """Receive the same heaps into chunks; return how many rows were intact."""
    place_callback = scipy.LowLevelCallable(place.ctypes, signature="void (void *, size_t)")
    chunk_config = spead2.recv.ChunkStreamConfig(items=[ROW_ID], max_chunks=2, place=place_callback)
    data_ring = spead2.recv.ChunkRingbuffer(4)
    free_ring = spead2.recv.ChunkRingbuffer(4)
    stream = spead2.recv.ChunkRingStream(spead2.ThreadPool(), spead2.recv.StreamConfig(), chunk_config,
                                         data_ring, free_ring)
    for _ in range(4):
        chunk = spead2.recv.Chunk(present=np.zeros(ROWS_PER_CHUNK, np.uint8),
                                  data=np.zeros((ROWS_PER_CHUNK, N_CHANNELS), np.float32))
        stream.add_free_chunk(chunk)
    stream.add_buffer_reader(packets)
    intact = 0
    received: spead2.recv.Chunk
    for received in data_ring:
        rows: npt.NDArray[np.float32] = received.data.view(np.float32).reshape(ROWS_PER_CHUNK, N_CHANNELS)
        for index in range(ROWS_PER_CHUNK):
            row = received.chunk_id * ROWS_PER_CHUNK + index
            if received.present[index] and np.array_equal(rows[index], spectrum(row)):
                intact += 1
        stream.add_free_chunk(received)
    return intact


def main() -> None:
    udp_rows = receive_udp()
    encoder = spead2.send.BytesStream(spead2.ThreadPool())
    for heap in heaps(make_item_group()):
        encoder.send_heap(heap)
    chunk_rows = receive_chunks(encoder.getvalue())
    print(f"udp: {udp_rows}/{N_ROWS} rows intact; chunks: {chunk_rows}/{N_ROWS} rows intact")
    if udp_rows != N_ROWS or chunk_rows != N_ROWS:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
