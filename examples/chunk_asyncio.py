#!/usr/bin/env python3
"""Consume a chunk stream from asyncio, with per-heap metadata in ``Chunk.extra``.

The data ring is a spead2.recv.asyncio.ChunkRingbuffer, so that a coroutine can
wait for chunks (``async for chunk in data_ring``) without blocking the event
loop; the stream itself still receives on its own thread pool. The sender is a
spead2.send.asyncio.UdpStream on the same event loop, to the loopback.

Each heap carries two immediates and a payload:

* TIMESTAMP (0x1600): sample count, a multiple of TIMESTAMP_STEP;
* SATURATED (0x4105, an ID chosen for this example): how many of the heap's samples
  were clipped, metadata that has no place in the chunk's data;
* SAMPLES (0x4300): SAMPLES_PER_HEAP int16 samples.

A chunk holds HEAPS_PER_CHUNK consecutive timestamps. The place callback also
copies SATURATED into the chunk's ``extra`` array (one uint64 per heap), through
the scratch area that ChunkStreamConfig.max_heap_extra sizes.

    python examples/chunk_asyncio.py [--chunks N] [--port P]
"""

import argparse
import asyncio
import socket
import sys

import numba
import numpy as np
import scipy
from numba import types

import spead2
import spead2.recv
import spead2.recv.asyncio
import spead2.send
import spead2.send.asyncio
from spead2.numba import intp_to_voidptr
from spead2.recv.numba import chunk_place_data

TIMESTAMP_ID = 0x1600
SATURATED_ID = 0x4105
SAMPLES_ID = 0x4300

SAMPLES_PER_HEAP = 2048
HEAP_BYTES = SAMPLES_PER_HEAP * 2  # int16
TIMESTAMP_STEP = SAMPLES_PER_HEAP
HEAPS_PER_CHUNK = 8
EXTRA_BYTES = 8  # one uint64 of extra per heap

FLAVOUR = spead2.Flavour(4, 64, 48, 0)  # 48-bit immediates
SEND_RATE = 100e6  # bytes per second, so that the receiver's socket buffer never overflows


@numba.cfunc(types.void(types.CPointer(chunk_place_data), types.uintp), nopython=True)
def place(data_ptr, data_size):
    data = numba.carray(data_ptr, 1)
    items = numba.carray(intp_to_voidptr(data[0].items), 3, dtype=np.int64)
    timestamp = items[0]
    saturated = items[1]
    heap_length = items[2]
    # A missing immediate reads -1: descriptor and stop heaps are rejected here.
    if timestamp < 0 or timestamp % TIMESTAMP_STEP != 0 or saturated < 0 or heap_length != HEAP_BYTES:
        return
    heap_number = timestamp // TIMESTAMP_STEP
    data[0].chunk_id = heap_number // HEAPS_PER_CHUNK
    data[0].heap_index = heap_number % HEAPS_PER_CHUNK
    data[0].heap_offset = data[0].heap_index * HEAP_BYTES
    # data[0].extra is a scratch area of max_heap_extra bytes; the stream copies
    # extra_size bytes of it to chunk.extra[extra_offset:].
    extra = numba.carray(intp_to_voidptr(data[0].extra), 1, dtype=np.uint64)
    extra[0] = saturated
    data[0].extra_offset = data[0].heap_index * EXTRA_BYTES
    data[0].extra_size = EXTRA_BYTES


def samples(timestamp: int) -> np.ndarray:
    """The payload of one heap: reproducible noise, so that the receiver can check it."""
    return np.random.default_rng(timestamp).integers(-2**15, 2**15, size=SAMPLES_PER_HEAP, dtype=np.int16)


def saturated(timestamp: int) -> int:
    """The SATURATED value of one heap (made up, but reproducible)."""
    return (timestamp // TIMESTAMP_STEP) * 7 % 100


async def send(port: int, n_chunks: int) -> None:
    """Send n_chunks chunks' worth of heaps, then a stop heap."""
    config = spead2.send.StreamConfig(rate=SEND_RATE)
    stream = spead2.send.asyncio.UdpStream(spead2.ThreadPool(), [("127.0.0.1", port)], config)
    ig = spead2.send.ItemGroup(flavour=FLAVOUR)
    ig.add_item(TIMESTAMP_ID, "timestamp", "Sample count", shape=(), format=[("u", 48)])
    ig.add_item(SATURATED_ID, "saturated", "Clipped samples in the heap", shape=(), format=[("u", 48)])
    ig.add_item(SAMPLES_ID, "samples", "Samples", shape=(SAMPLES_PER_HEAP,), dtype=np.int16)
    await stream.async_send_heap(ig.get_heap(descriptors="all", data="none"))
    for i in range(n_chunks * HEAPS_PER_CHUNK):
        timestamp = i * TIMESTAMP_STEP
        ig["timestamp"].value = timestamp
        ig["saturated"].value = saturated(timestamp)
        ig["samples"].value = samples(timestamp)
        heap = ig.get_heap(descriptors="none", data="all")
        heap.repeat_pointers = True  # the immediates in every packet
        # Awaiting each heap keeps at most one in flight: the send stream refuses
        # (BlockingIOError) more than StreamConfig.max_heaps at once.
        await stream.async_send_heap(heap)
    await stream.async_send_heap(ig.get_end())


async def receive(stream: spead2.recv.ChunkRingStream, data_ring: spead2.recv.asyncio.ChunkRingbuffer,
                  problems: list[str]) -> tuple[list[int], int]:
    """Check every chunk that arrives; return their IDs and the number of heaps."""
    received_ids = []
    heaps = 0
    # Ends when the ring stops: after the stop heap, or stream.stop().
    async for chunk in data_ring:
        received_ids.append(chunk.chunk_id)
        heaps += int(chunk.present.sum())
        for index in range(HEAPS_PER_CHUNK):
            timestamp = (chunk.chunk_id * HEAPS_PER_CHUNK + index) * TIMESTAMP_STEP
            if not chunk.present[index]:
                problems.append(f"timestamp {timestamp}: heap missing")
            elif not np.array_equal(chunk.data[index], samples(timestamp)):
                problems.append(f"timestamp {timestamp}: wrong payload")
            elif chunk.extra[index] != saturated(timestamp):
                problems.append(f"timestamp {timestamp}: extra is {chunk.extra[index]}, not {saturated(timestamp)}")
        # Back to the free ring, to be filled again.
        stream.add_free_chunk(chunk)
    return received_ids, heaps


def free_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is using right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=16, help="chunks to send [%(default)s]")
    parser.add_argument("--port", type=int, help="UDP port [a free one]")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="stop the stream after this many seconds [%(default)s]")
    args = parser.parse_args()
    port = args.port if args.port is not None else free_port()

    chunk_config = spead2.recv.ChunkStreamConfig(
        items=[TIMESTAMP_ID, SATURATED_ID, spead2.HEAP_LENGTH_ID],
        max_chunks=4,
        max_heap_extra=EXTRA_BYTES,  # size of the callback's extra scratch area
        place=scipy.LowLevelCallable(place.ctypes, signature="void (void *, size_t)"),
    )
    n_chunks_allocated = 8
    # Only the ring we await needs to be the asyncio kind; the free ring is only
    # used without waiting (add_free_chunk) by us, and by the stream's threads.
    data_ring = spead2.recv.asyncio.ChunkRingbuffer(n_chunks_allocated)
    free_ring = spead2.recv.ChunkRingbuffer(n_chunks_allocated)
    stream = spead2.recv.ChunkRingStream(
        spead2.ThreadPool(), spead2.recv.StreamConfig(), chunk_config, data_ring, free_ring
    )
    for _ in range(n_chunks_allocated):
        stream.add_free_chunk(
            spead2.recv.Chunk(
                present=np.zeros(HEAPS_PER_CHUNK, np.uint8),
                data=np.zeros((HEAPS_PER_CHUNK, SAMPLES_PER_HEAP), np.int16),
                extra=np.zeros(HEAPS_PER_CHUNK, np.uint64),
            )
        )
    stream.add_udp_reader(port, bind_hostname="127.0.0.1")

    # UDP may lose the stop heap: make sure that we cannot wait forever.
    watchdog = asyncio.get_running_loop().call_later(args.timeout, stream.stop)
    problems: list[str] = []
    (received_ids, heaps), _ = await asyncio.gather(receive(stream, data_ring, problems), send(port, args.chunks))
    watchdog.cancel()
    stream.stop()

    if received_ids != list(range(args.chunks)):
        problems.append(f"received chunk IDs {received_ids}, expected 0 to {args.chunks - 1}")
    stats = stream.stats
    print(f"received {len(received_ids)}/{args.chunks} chunks, {heaps}/{args.chunks * HEAPS_PER_CHUNK} heaps")
    print(f"stream statistics: heaps={stats['heaps']} rejected_heaps={stats['rejected_heaps']} "
          f"too_old_heaps={stats['too_old_heaps']}")
    for problem in problems[:10]:
        print(f"error: {problem}")
    if problems:
        print(f"FAILED: {len(problems)} problems")
        return 1
    print("OK: every heap arrived with the right payload and extra")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
