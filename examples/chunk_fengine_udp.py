#!/usr/bin/env python3
"""Receive a simulated F-engine's output into chunks, over UDP on the loopback.

An F-engine channelises the signal of one antenna and sends it as SPEAD heaps.
Here N_ANTS simulated F-engines each send, for every timestamp, one heap per group
of CHANNELS_PER_HEAP channels. Every heap carries three immediate items (besides
its payload) that say where it belongs:

* TIMESTAMP (0x1600): the ADC sample count at the start of the heap; it advances
  by TIMESTAMP_STEP from one heap to the next of the same F-engine and channels;
* FENG_ID (0x4101): which F-engine (antenna) sent it, 0 to N_ANTS - 1;
* FREQUENCY (0x4103): the first channel of the heap, a multiple of CHANNELS_PER_HEAP;

and the payload FENG_RAW (0x4300): int8 complex voltages, shaped
(channel, spectrum, polarisation, real/imaginary).

The receiver is a ChunkRingStream. One chunk holds one timestamp: an array shaped
(antenna, channel, spectrum, polarisation, real/imaginary), and a ``present`` array
of (antenna, channel group) flags. A numba place callback turns the immediates into
a chunk ID and the heap's place in the chunk; its parameters reach it as *user
data* (the "void (void *, size_t, void *)" signature) rather than being compiled in.

The sender runs in a thread of this process, and the main thread checks every
received chunk against what was sent. Exit status 0 means every heap arrived
intact; 1 means data was missing or wrong.

    python examples/chunk_fengine_udp.py [--chunks N] [--port P]
"""

import argparse
import ctypes
import socket
import sys
import threading

import numba
import numpy as np
import scipy
from numba import types

import spead2
import spead2.recv
import spead2.send
from spead2.numba import intp_to_voidptr
from spead2.recv.numba import chunk_place_data

# Item IDs, as MeerKAT F-engines use them.
TIMESTAMP_ID = 0x1600
FENG_ID_ID = 0x4101
FREQUENCY_ID = 0x4103
FENG_RAW_ID = 0x4300

N_ANTS = 4
N_CHANNELS = 256
CHANNELS_PER_HEAP = 64
SPECTRA_PER_HEAP = 16
HEAP_SHAPE = (CHANNELS_PER_HEAP, SPECTRA_PER_HEAP, 2, 2)  # channel, spectrum, pol, re/im
HEAP_BYTES = int(np.prod(HEAP_SHAPE))  # int8 samples
HEAPS_PER_CHUNK = N_ANTS * (N_CHANNELS // CHANNELS_PER_HEAP)
# A spectrum of N_CHANNELS channels takes 2 * N_CHANNELS ADC samples.
TIMESTAMP_STEP = 2 * N_CHANNELS * SPECTRA_PER_HEAP
# Timestamps count ADC samples since some epoch, so the first one is not 0.
FIRST_TIMESTAMP = 1_000_000 * TIMESTAMP_STEP

# SPEAD-64-48: immediates have 48 bits, enough for a timestamp.
FLAVOUR = spead2.Flavour(4, 64, 48, 0)
# Sending as fast as possible can overflow the receiver's socket buffer: UDP
# drops what does not fit. 100 MB/s is plenty for the default run.
SEND_RATE = 100e6  # bytes per second

# The callback's parameters, passed to it as user data. The array must outlive the
# stream: it is a module-level global, and the pointer made from it below also
# keeps it alive.
PARAMS = np.array([TIMESTAMP_STEP, N_ANTS, N_CHANNELS, CHANNELS_PER_HEAP, HEAP_BYTES], dtype=np.int64)


# The place callback runs on a spead2 worker thread for the first packet of every
# heap, so it must be compiled (nopython, no GIL). It fills in chunk_id, heap_index
# and heap_offset; leaving chunk_id at its preset -1 rejects the heap (counted in
# the rejected_heaps statistic), which is what happens to the descriptor heap and
# the stop heap, since they carry no TIMESTAMP.
@numba.cfunc(
    types.void(types.CPointer(chunk_place_data), types.uintp, types.CPointer(types.int64)),
    nopython=True,
)
def place(data_ptr, data_size, params_ptr):
    data = numba.carray(data_ptr, 1)
    params = numba.carray(params_ptr, 5)
    timestamp_step = params[0]
    n_ants = params[1]
    n_channels = params[2]
    channels_per_heap = params[3]
    heap_bytes = params[4]
    # One value per ChunkStreamConfig.items entry, -1 if the packet lacks it.
    items = numba.carray(intp_to_voidptr(data[0].items), 4, dtype=np.int64)
    timestamp = items[0]
    feng_id = items[1]
    frequency = items[2]
    heap_length = items[3]
    # Reject anything that does not fit the layout, rather than trust the network.
    if timestamp < 0 or timestamp % timestamp_step != 0:
        return
    if feng_id < 0 or feng_id >= n_ants:
        return
    if frequency < 0 or frequency >= n_channels or frequency % channels_per_heap != 0:
        return
    if heap_length != heap_bytes:
        return
    data[0].chunk_id = timestamp // timestamp_step
    data[0].heap_index = feng_id * (n_channels // channels_per_heap) + frequency // channels_per_heap
    # The chunk's data is (antenna, channel, ...) in C order, so heap i starts at
    # i * heap_bytes.
    data[0].heap_offset = data[0].heap_index * heap_bytes


def simulated_voltages(timestamp: int, feng_id: int, frequency: int) -> np.ndarray:
    """The payload of one heap: noise, but reproducible, so the receiver can check it."""
    rng = np.random.default_rng([timestamp, feng_id, frequency])
    return rng.integers(-128, 128, size=HEAP_SHAPE, dtype=np.int8)


def send(port: int, n_chunks: int) -> None:
    """Play N_ANTS F-engines: n_chunks timestamps' worth of heaps, then a stop heap."""
    config = spead2.send.StreamConfig(rate=SEND_RATE)
    stream = spead2.send.UdpStream(spead2.ThreadPool(), [("127.0.0.1", port)], config)
    ig = spead2.send.ItemGroup(flavour=FLAVOUR)
    # Scalar 48-bit unsigned items fit in an immediate in SPEAD-64-48.
    ig.add_item(TIMESTAMP_ID, "timestamp", "ADC sample count", shape=(), format=[("u", 48)])
    ig.add_item(FENG_ID_ID, "feng_id", "F-engine (antenna) index", shape=(), format=[("u", 48)])
    ig.add_item(FREQUENCY_ID, "frequency", "First channel in the heap", shape=(), format=[("u", 48)])
    ig.add_item(FENG_RAW_ID, "feng_raw", "Channelised voltages", shape=HEAP_SHAPE, dtype=np.int8)
    # Descriptors travel in a heap of their own: data heaps stay all alike, and the
    # place callback rejects this one.
    stream.send_heap(ig.get_heap(descriptors="all", data="none"))
    for i in range(n_chunks):
        timestamp = FIRST_TIMESTAMP + i * TIMESTAMP_STEP
        for feng_id in range(N_ANTS):
            for frequency in range(0, N_CHANNELS, CHANNELS_PER_HEAP):
                ig["timestamp"].value = timestamp
                ig["feng_id"].value = feng_id
                ig["frequency"].value = frequency
                ig["feng_raw"].value = simulated_voltages(timestamp, feng_id, frequency)
                heap = ig.get_heap(descriptors="none", data="all")
                # Every packet repeats the item pointers, so whichever packet of the
                # heap arrives first carries the immediates the callback needs.
                heap.repeat_pointers = True
                stream.send_heap(heap)
    stream.send_heap(ig.get_end())


def check_chunk(chunk: spead2.recv.Chunk) -> list[str]:
    """Compare a received chunk with what the sender sent; return the problems."""
    problems = []
    timestamp = chunk.chunk_id * TIMESTAMP_STEP
    for feng_id in range(N_ANTS):
        for group in range(N_CHANNELS // CHANNELS_PER_HEAP):
            frequency = group * CHANNELS_PER_HEAP
            where = f"chunk {chunk.chunk_id}, F-engine {feng_id}, channel {frequency}"
            if not chunk.present[feng_id, group]:
                problems.append(f"{where}: heap missing")
            elif not np.array_equal(chunk.data[feng_id, frequency : frequency + CHANNELS_PER_HEAP],
                                    simulated_voltages(timestamp, feng_id, frequency)):
                problems.append(f"{where}: wrong payload")
    return problems


def free_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is using right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=8, help="timestamps to send [%(default)s]")
    parser.add_argument("--port", type=int, help="UDP port [a free one]")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="stop the stream after this many seconds [%(default)s]")
    args = parser.parse_args()
    port = args.port if args.port is not None else free_port()

    place_callback = scipy.LowLevelCallable(
        place.ctypes,
        user_data=PARAMS.ctypes.data_as(ctypes.c_void_p),
        signature="void (void *, size_t, void *)",
    )
    chunk_config = spead2.recv.ChunkStreamConfig(
        # The callback receives the values of these immediates, in this order.
        items=[TIMESTAMP_ID, FENG_ID_ID, FREQUENCY_ID, spead2.HEAP_LENGTH_ID],
        max_chunks=4,  # chunks under construction at once: room for late heaps
        place=place_callback,
    )
    # Chunks circulate: free ring -> stream -> data ring -> us -> add_free_chunk.
    # Rings that can hold every chunk never block the stream.
    n_chunks_allocated = 8
    data_ring = spead2.recv.ChunkRingbuffer(n_chunks_allocated)
    free_ring = spead2.recv.ChunkRingbuffer(n_chunks_allocated)
    stream = spead2.recv.ChunkRingStream(
        spead2.ThreadPool(), spead2.recv.StreamConfig(), chunk_config, data_ring, free_ring
    )
    for _ in range(n_chunks_allocated):
        stream.add_free_chunk(
            spead2.recv.Chunk(
                present=np.zeros((N_ANTS, N_CHANNELS // CHANNELS_PER_HEAP), np.uint8),
                data=np.zeros((N_ANTS, N_CHANNELS) + HEAP_SHAPE[1:], np.int8),
            )
        )
    # The socket is bound when add_udp_reader returns, so the sender may start.
    stream.add_udp_reader(port, bind_hostname="127.0.0.1")

    sender = threading.Thread(target=send, args=(port, args.chunks))
    sender.start()
    # The stop heap ends the stream, and then data_ring. UDP may lose it, though:
    # stop() after a timeout so that we cannot wait forever.
    watchdog = threading.Timer(args.timeout, stream.stop)
    watchdog.start()

    first_chunk_id = FIRST_TIMESTAMP // TIMESTAMP_STEP
    expected_ids = set(range(first_chunk_id, first_chunk_id + args.chunks))
    received_ids = set()
    heaps = 0
    empty = 0
    problems = []
    for chunk in data_ring:
        if chunk.chunk_id in expected_ids:
            received_ids.add(chunk.chunk_id)
            heaps += int(chunk.present.sum())
            problems += check_chunk(chunk)
        elif chunk.present.any():
            problems.append(f"chunk {chunk.chunk_id}: unexpected heaps")
        else:
            # The first heap lands in chunk first_chunk_id, and the window fills the
            # max_chunks - 1 IDs below it with chunks too: those stay empty.
            empty += 1
        # Hand the chunk back for reuse (add_free_chunk zeroes present).
        stream.add_free_chunk(chunk)
    watchdog.cancel()
    sender.join()
    # The stream has stopped already (at the stop heap, or by the watchdog); stop()
    # again is harmless, and closes the socket now rather than at garbage collection.
    stream.stop()

    missing = sorted(expected_ids - received_ids)
    if missing:
        problems.append(f"chunks never received: {missing}")
    stats = stream.stats
    print(f"received {len(received_ids)}/{args.chunks} chunks, {heaps}/{args.chunks * HEAPS_PER_CHUNK} heaps "
          f"({N_ANTS} F-engines x {N_CHANNELS // CHANNELS_PER_HEAP} channel groups per chunk), "
          f"{empty} empty chunks")
    print(f"stream statistics: heaps={stats['heaps']} rejected_heaps={stats['rejected_heaps']} "
          f"too_old_heaps={stats['too_old_heaps']} incomplete_heaps_evicted={stats['incomplete_heaps_evicted']}")
    for problem in problems[:10]:
        print(f"error: {problem}")
    if problems:
        print(f"FAILED: {len(problems)} problems")
        return 1
    print("OK: every heap arrived with the right payload")
    return 0


if __name__ == "__main__":
    sys.exit(main())
