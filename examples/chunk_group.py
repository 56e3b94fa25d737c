#!/usr/bin/env python3
"""Receive one stream on two UDP ports with a chunk stream group.

When one thread cannot keep up with a stream, the sender can split it over several
ports (or network interfaces) and a ChunkStreamRingGroup can receive each part on a
thread of its own: every member stream writes its heaps into the same chunks, and
a chunk reaches the data ring once every member is done with it.

Here the sender sends spectra of N_CHANNELS channels, one heap per timestamp and
group of CHANNELS_PER_HEAP channels, each carrying two immediates:

* TIMESTAMP (0x1600): the ADC sample count, a multiple of TIMESTAMP_STEP;
* FREQUENCY (0x4103): the first channel of the heap;

and a payload item (0x4300, int8 samples shaped (channel, spectrum)). The lower
half of the band goes to one port and the upper half to the other; a chunk holds
one timestamp of the whole band, so every chunk is completed by both members.

The --eviction-mode option picks what the group does when a member wants a chunk
beyond the group's window while another member still works on the oldest one:
LOSSY (the default) makes the laggard give it up, LOSSLESS makes the eager member
wait (right only when every member's data will arrive; a lost stop heap would
stall the group).

    python examples/chunk_group.py [--chunks N] [--port P] [--eviction-mode lossless]
"""

import argparse
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

TIMESTAMP_ID = 0x1600
FREQUENCY_ID = 0x4103
PAYLOAD_ID = 0x4300

N_CHANNELS = 512
CHANNELS_PER_HEAP = 64
SPECTRA_PER_HEAP = 32
HEAP_SHAPE = (CHANNELS_PER_HEAP, SPECTRA_PER_HEAP)
HEAP_BYTES = CHANNELS_PER_HEAP * SPECTRA_PER_HEAP  # int8 samples
HEAPS_PER_CHUNK = N_CHANNELS // CHANNELS_PER_HEAP
TIMESTAMP_STEP = 2 * N_CHANNELS * SPECTRA_PER_HEAP
N_MEMBERS = 2

FLAVOUR = spead2.Flavour(4, 64, 48, 0)  # 48-bit immediates
SEND_RATE = 100e6  # bytes per second, so that the receivers' socket buffers never overflow


# This callback has no user data ("void (void *, size_t)"): numba compiles the
# module-level constants above into it. Both members use the same callback, since
# the heap's own FREQUENCY says where it goes; as each member receives different
# channels, they write different parts of a chunk, as members of a group must.
@numba.cfunc(types.void(types.CPointer(chunk_place_data), types.uintp), nopython=True)
def place(data_ptr, data_size):
    data = numba.carray(data_ptr, 1)
    items = numba.carray(intp_to_voidptr(data[0].items), 3, dtype=np.int64)
    timestamp = items[0]
    frequency = items[1]
    heap_length = items[2]
    # A missing immediate reads -1: descriptor and stop heaps are rejected here.
    if timestamp < 0 or timestamp % TIMESTAMP_STEP != 0:
        return
    if frequency < 0 or frequency >= N_CHANNELS or frequency % CHANNELS_PER_HEAP != 0:
        return
    if heap_length != HEAP_BYTES:
        return
    data[0].chunk_id = timestamp // TIMESTAMP_STEP
    data[0].heap_index = frequency // CHANNELS_PER_HEAP
    data[0].heap_offset = frequency * SPECTRA_PER_HEAP


def spectra(timestamp: int, frequency: int) -> np.ndarray:
    """The payload of one heap: reproducible noise, so that the receiver can check it."""
    rng = np.random.default_rng([timestamp, frequency])
    return rng.integers(-128, 128, size=HEAP_SHAPE, dtype=np.int8)


def send(ports: list[int], n_chunks: int) -> None:
    """Send n_chunks timestamps, the lower half of the band to ports[0], the upper to ports[1]."""
    config = spead2.send.StreamConfig(rate=SEND_RATE)
    # One substream per port: send_heap's substream_index picks the destination.
    stream = spead2.send.UdpStream(spead2.ThreadPool(), [("127.0.0.1", port) for port in ports], config)
    ig = spead2.send.ItemGroup(flavour=FLAVOUR)
    ig.add_item(TIMESTAMP_ID, "timestamp", "ADC sample count", shape=(), format=[("u", 48)])
    ig.add_item(FREQUENCY_ID, "frequency", "First channel in the heap", shape=(), format=[("u", 48)])
    ig.add_item(PAYLOAD_ID, "payload", "Spectra", shape=HEAP_SHAPE, dtype=np.int8)
    descriptors = ig.get_heap(descriptors="all", data="none")
    for substream in range(N_MEMBERS):
        stream.send_heap(descriptors, substream_index=substream)
    for i in range(n_chunks):
        timestamp = i * TIMESTAMP_STEP
        for frequency in range(0, N_CHANNELS, CHANNELS_PER_HEAP):
            ig["timestamp"].value = timestamp
            ig["frequency"].value = frequency
            ig["payload"].value = spectra(timestamp, frequency)
            heap = ig.get_heap(descriptors="none", data="all")
            heap.repeat_pointers = True  # the immediates in every packet
            stream.send_heap(heap, substream_index=frequency * N_MEMBERS // N_CHANNELS)
    # Each member stops at its own stop heap; the data ring stops after the last.
    for substream in range(N_MEMBERS):
        stream.send_heap(ig.get_end(), substream_index=substream)


def free_ports(n: int) -> list[int]:
    """n distinct UDP ports on 127.0.0.1 that nothing is using right now."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=16, help="timestamps to send [%(default)s]")
    parser.add_argument("--port", type=int, help=f"first of {N_MEMBERS} consecutive UDP ports [free ones]")
    parser.add_argument("--eviction-mode", choices=["lossy", "lossless"], default="lossy",
                        help="group eviction mode [%(default)s]")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="stop the group after this many seconds [%(default)s]")
    args = parser.parse_args()
    ports = [args.port + i for i in range(N_MEMBERS)] if args.port is not None else free_ports(N_MEMBERS)

    eviction_mode = spead2.recv.ChunkStreamGroupConfig.EvictionMode[args.eviction_mode.upper()]
    group_config = spead2.recv.ChunkStreamGroupConfig(max_chunks=4, eviction_mode=eviction_mode)
    n_chunks_allocated = 8
    data_ring = spead2.recv.ChunkRingbuffer(n_chunks_allocated)
    free_ring = spead2.recv.ChunkRingbuffer(n_chunks_allocated)
    group = spead2.recv.ChunkStreamRingGroup(group_config, data_ring, free_ring)

    chunk_config = spead2.recv.ChunkStreamConfig(
        items=[TIMESTAMP_ID, FREQUENCY_ID, spead2.HEAP_LENGTH_ID],
        max_chunks=4,  # a member's window may not exceed the group's
        place=scipy.LowLevelCallable(place.ctypes, signature="void (void *, size_t)"),
    )
    # Add every member before any reader. Each has a thread pool of its own, so
    # that one member waiting (LOSSLESS) cannot hold up another.
    for i in range(N_MEMBERS):
        group.emplace_back(spead2.ThreadPool(), spead2.recv.StreamConfig(stream_id=i), chunk_config)
    # Chunks belong to the group, not to a member: the group hands them out.
    for _ in range(n_chunks_allocated):
        group.add_free_chunk(
            spead2.recv.Chunk(
                present=np.zeros(HEAPS_PER_CHUNK, np.uint8),
                data=np.zeros((N_CHANNELS, SPECTRA_PER_HEAP), np.int8),
            )
        )
    for member, port in zip(group, ports):
        member.add_udp_reader(port, bind_hostname="127.0.0.1")

    sender = threading.Thread(target=send, args=(ports, args.chunks))
    sender.start()
    # UDP may lose a stop heap: make sure that we cannot wait forever.
    watchdog = threading.Timer(args.timeout, group.stop)
    watchdog.start()

    received_ids = []
    heaps = 0
    problems = []
    for chunk in data_ring:
        received_ids.append(chunk.chunk_id)
        heaps += int(chunk.present.sum())
        timestamp = chunk.chunk_id * TIMESTAMP_STEP
        for index in range(HEAPS_PER_CHUNK):
            frequency = index * CHANNELS_PER_HEAP
            if not chunk.present[index]:
                problems.append(f"chunk {chunk.chunk_id}, channel {frequency}: heap missing")
            elif not np.array_equal(chunk.data[frequency : frequency + CHANNELS_PER_HEAP],
                                    spectra(timestamp, frequency)):
                problems.append(f"chunk {chunk.chunk_id}, channel {frequency}: wrong payload")
        group.add_free_chunk(chunk)
    watchdog.cancel()
    sender.join()
    group.stop()

    if received_ids != list(range(args.chunks)):
        problems.append(f"received chunk IDs {received_ids}, expected 0 to {args.chunks - 1}")
    print(f"eviction mode {eviction_mode.name}: received {len(received_ids)}/{args.chunks} chunks, "
          f"{heaps}/{args.chunks * HEAPS_PER_CHUNK} heaps")
    for i, member in enumerate(group):
        stats = member.stats
        print(f"member {i} (port {ports[i]}): heaps={stats['heaps']} rejected_heaps={stats['rejected_heaps']} "
              f"too_old_heaps={stats['too_old_heaps']}")
    for problem in problems[:10]:
        print(f"error: {problem}")
    if problems:
        print(f"FAILED: {len(problems)} problems")
        return 1
    print("OK: every chunk was completed by both members with the right payload")
    return 0


if __name__ == "__main__":
    sys.exit(main())
