"""ChunkRingPair and ChunkRingStream (spec §6.4–§6.9, §1.17), fed through the inproc transport.

Every test sends real heaps with our sender through an InprocQueue into a chunk
stream whose place callback is compiled by numba (chunk_support.py).
"""

from __future__ import annotations

import gc
import logging
import pathlib
import subprocess
import sys
import textwrap
import time
import weakref

import numpy as np
import pytest

import spead2
import spead2.recv
from chunk_support import Placement, Source, drain, expected_data, payload

def make_stream(placement, n_free=4, data_ring=None, free_ring=None, stream_config=None, **chunk_kwargs):
    data_ring = data_ring if data_ring is not None else spead2.recv.ChunkRingbuffer(8)
    free_ring = free_ring if free_ring is not None else spead2.recv.ChunkRingbuffer(8)
    stream = spead2.recv.ChunkRingStream(
        spead2.ThreadPool(),
        stream_config or spead2.recv.StreamConfig(),
        placement.config(**chunk_kwargs),
        data_ring,
        free_ring,
    )
    for _ in range(n_free):
        stream.add_free_chunk(placement.chunk())
    return stream


def receive(placement, cnts, n_free=8, **kwargs):
    """Send heaps @a cnts then the stop heap; the chunks and the stream's statistics."""
    stream = make_stream(placement, n_free=n_free, **kwargs)
    source = Source(placement.heap_size)
    stream.add_inproc_reader(source.queue)
    source.send_descriptors()
    source.send(*cnts)
    source.end()
    return drain(stream.data_ringbuffer), stream.stats


# --------------------------------------------------------------------------
# Construction
# --------------------------------------------------------------------------


def test_place_must_be_set():
    with pytest.raises(ValueError, match="chunk_config.place is not set"):
        spead2.recv.ChunkRingStream(
            spead2.ThreadPool(),
            spead2.recv.StreamConfig(),
            spead2.recv.ChunkStreamConfig(),
            spead2.recv.ChunkRingbuffer(2),
            spead2.recv.ChunkRingbuffer(2),
        )


@pytest.mark.parametrize("which", ["data_ringbuffer", "free_ringbuffer"])
def test_rings_must_not_be_none(which):
    kwargs = dict(
        thread_pool=spead2.ThreadPool(),
        chunk_stream_config=Placement().config(),
        data_ringbuffer=spead2.recv.ChunkRingbuffer(2),
        free_ringbuffer=spead2.recv.ChunkRingbuffer(2),
    )
    kwargs[which] = None
    with pytest.raises(TypeError):
        spead2.recv.ChunkRingStream(**kwargs)


def test_keywords_and_ring_identity():
    class Ring(spead2.recv.ChunkRingbuffer):
        pass

    data_ring, free_ring = Ring(2), spead2.recv.ChunkRingbuffer(2)
    stream = spead2.recv.ChunkRingStream(
        thread_pool=spead2.ThreadPool(),
        chunk_stream_config=Placement().config(),
        data_ringbuffer=data_ring,
        free_ringbuffer=free_ring,
    )
    assert isinstance(stream, spead2.recv.ChunkRingPair)
    assert isinstance(stream, spead2._spead2.recv._Stream)
    del data_ring, free_ring
    gc.collect()
    # The stream keeps the very Python objects (and their class) alive.
    assert type(stream.data_ringbuffer) is Ring
    assert stream.data_ringbuffer is stream.data_ringbuffer
    assert type(stream.free_ringbuffer) is spead2.recv.ChunkRingbuffer
    stream.stop()


def test_effective_config():
    config = spead2.recv.StreamConfig(allow_unsized_heaps=True, memcpy=spead2.MEMCPY_NONTEMPORAL)
    config.add_stat("mine")
    stream = make_stream(Placement(), n_free=0, stream_config=config)
    effective = stream.config
    assert effective.allow_unsized_heaps is False
    with pytest.raises(ValueError):
        effective.memcpy
    names = [s.name for s in effective.stats]
    assert names[-3:] == ["mine", "too_old_heaps", "rejected_heaps"]
    assert stream.stats["too_old_heaps"] == 0 and stream.stats["rejected_heaps"] == 0
    stream.stop()


# --------------------------------------------------------------------------
# Placement
# --------------------------------------------------------------------------


@pytest.mark.parametrize("memcpy", [spead2.MEMCPY_STD, spead2.MEMCPY_NONTEMPORAL])
def test_heaps_land_in_chunks(memcpy):
    placement = Placement()
    cnts = [c for c in range(12) if c != 6]
    chunks, stats = receive(placement, cnts, stream_config=spead2.recv.StreamConfig(memcpy=memcpy))
    assert [c[0] for c in chunks] == [0, 1, 2]
    assert [c[2] for c in chunks] == [[1, 1, 1, 1], [1, 1, 0, 1], [1, 1, 1, 1]]
    for chunk_id, _, _, data in chunks:
        assert data == expected_data(cnts, chunk_id, placement)
    assert stats["heaps"] == len(cnts) + 1  # and the descriptors (the stop heap is consumed)
    assert stats["rejected_heaps"] == 2  # the callback rejects the descriptor and stop heaps
    assert stats["too_old_heaps"] == 0


def test_stream_id_and_chunk_id_are_assigned():
    placement = Placement()
    chunks, _ = receive(placement, [0, 5], stream_config=spead2.recv.StreamConfig(stream_id=7))
    assert [(c[0], c[1]) for c in chunks] == [(0, 7), (1, 7)]


def test_back_fill_and_jump():
    # max_chunks 4: a first heap in chunk 10 allocates 7..10; one in chunk 20 retires
    # those and allocates 17..20 (spec §6.5).
    placement = Placement(heaps_per_chunk=1)
    chunks, _ = receive(placement, [10, 20], max_chunks=4)
    assert [c[0] for c in chunks] == [7, 8, 9, 10, 17, 18, 19, 20]
    assert [c[2] for c in chunks] == [[0], [0], [0], [1], [0], [0], [0], [1]]


def test_first_heap_in_chunk_1_allocates_chunk_0():
    chunks, _ = receive(Placement(heaps_per_chunk=1), [1], max_chunks=4)
    assert [c[0] for c in chunks] == [0, 1]


def test_too_old_heaps():
    placement = Placement(heaps_per_chunk=1)
    chunks, stats = receive(placement, [5, 6, 7, 2, 8, 3], max_chunks=2)
    assert stats["too_old_heaps"] == 2
    assert [c[0] for c in chunks if c[2] == [1]] == [5, 6, 7, 8]


def packets_of(placement, cnt, packet_size):
    """The packets of heap @a cnt, each exactly @a packet_size bytes (pointers repeated)."""
    source = Source(placement.heap_size)
    sender = spead2.send.BytesStream(spead2.ThreadPool(), spead2.send.StreamConfig(max_packet_size=packet_size))
    source.ig["payload"].value = payload(cnt, placement.heap_size)
    heap = source.ig.get_heap(descriptors="none", data="all")
    heap.repeat_pointers = True
    sender.send_heap(heap, cnt=cnt)
    wire = sender.getvalue()
    assert len(wire) % packet_size == 0
    return [wire[i : i + packet_size] for i in range(0, len(wire), packet_size)]


def test_incomplete_heap_is_not_marked_but_complete_ones_are():
    placement = Placement(heap_size=4000)
    stream = make_stream(placement, stream_config=spead2.recv.StreamConfig(allow_out_of_order=True))
    queue = spead2.InprocQueue()
    stream.add_inproc_reader(queue)
    first = packets_of(placement, 1, 1048)
    assert len(first) == 4
    for packet in first[:3] + packets_of(placement, 2, 1048):  # heap 1 misses its last packet
        queue.add_packet(packet)
    queue.stop()
    chunks = drain(stream.data_ringbuffer)
    assert [c[2] for c in chunks] == [[0, 0, 1, 0]]
    # Its bytes may already be in the chunk (spec §6.1): the first three packets are.
    assert chunks[0][3][4000 : 4000 + 3000] == payload(1, 4000)[:3000].tobytes()
    assert stream.stats["incomplete_heaps_flushed"] == 1


def test_absent_item_reads_minus_one():
    # The callback accepts a heap only if its second item equals "heap_size": with -1
    # and an item ID no packet carries, every heap is accepted.
    placement = Placement(heap_size=-1, heaps_per_chunk=1)
    config = spead2.recv.ChunkStreamConfig(items=[spead2.HEAP_CNT_ID, 0x9999], place=placement.place)
    stream = spead2.recv.ChunkRingStream(
        spead2.ThreadPool(), spead2.recv.StreamConfig(), config, spead2.recv.ChunkRingbuffer(4), spead2.recv.ChunkRingbuffer(4)
    )
    for _ in range(4):
        stream.add_free_chunk(spead2.recv.Chunk(present=np.zeros(1, np.uint8), data=np.zeros(1024, np.uint8)))
    source = Source(1024)
    stream.add_inproc_reader(source.queue)
    source.send(10, 11)
    source.end()  # our sender numbers it 1: behind the window, so too old
    chunks = {c[0]: c for c in drain(stream.data_ringbuffer)}
    assert chunks[10][2] == [1] and chunks[11][2] == [1]
    assert chunks[11][3] == payload(11, 1024).tobytes()
    assert stream.stats["rejected_heaps"] == 0
    assert stream.stats["too_old_heaps"] == 1


def test_custom_statistic_from_batch_stats():
    config = spead2.recv.StreamConfig()
    index = config.add_stat("placed")
    placement = Placement(stat_index=index)
    _, stats = receive(placement, list(range(8)), stream_config=config)
    assert stats["placed"] == 8
    assert stats[index] == 8


def test_extra_is_copied():
    placement = Placement(extra_size=3)
    stream = make_stream(placement, n_free=0, max_heap_extra=3)
    for _ in range(4):
        stream.add_free_chunk(placement.chunk(extra=12))
    source = Source(placement.heap_size)
    stream.add_inproc_reader(source.queue)
    source.send(0, 1, 3)
    source.end()
    chunk = stream.data_ringbuffer.get()
    extra = np.asarray(chunk.extra)
    assert list(extra) == [0, 1, 2, 1, 2, 3, 0, 0, 0, 3, 4, 5]
    stream.stop()


def test_packet_presence():
    # Heaps of two packets of exactly 1000 payload bytes, slot index scaled by 2:
    # a heap in slot k marks present[2k] and present[2k + 1] (spec §6.6).
    placement = Placement(heap_size=2000, index_scale=2)
    config = placement.config().enable_packet_presence(1000)
    stream = spead2.recv.ChunkRingStream(
        spead2.ThreadPool(),
        spead2.recv.StreamConfig(),
        config,
        spead2.recv.ChunkRingbuffer(4),
        spead2.recv.ChunkRingbuffer(4),
    )
    for _ in range(2):
        stream.add_free_chunk(placement.chunk(present_scale=2))
    # 5 item pointers repeated in every packet: 8 + 5 * 8 + 1000 bytes.
    source = Source(placement.heap_size, max_packet_size=1048, repeat_pointers=True)
    stream.add_inproc_reader(source.queue)
    source.send(0, 2)
    source.end()
    chunks = drain(stream.data_ringbuffer)
    assert chunks[0][2] == [1, 1, 0, 0, 1, 1, 0, 0]


# --------------------------------------------------------------------------
# Placements that do not fit: rejected, counted, logged, never written
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, max_heap_extra, extra_size, rejected, present",
    [
        # Slot 3 (heaps 3 and 7) would write past data / present / extra; the stop heap
        # is rejected by the callback itself.
        ({"offset_bias": 1}, 0, 0, 3, [1, 1, 1, 0]),
        ({"index_bias": 1}, 0, 0, 3, [0, 1, 1, 1]),
        ({"extra_size": 4, "extra_size_bias": 1}, 5, 16, 3, [1, 1, 1, 0]),
        # Every heap claims more extra than max_heap_extra.
        ({"extra_size": 2, "extra_size_bias": 2}, 2, 16, 9, [0, 0, 0, 0]),
    ],
    ids=["heap_offset", "heap_index", "extra_offset", "max_heap_extra"],
)
def test_misplaced_heaps_are_rejected(params, max_heap_extra, extra_size, rejected, present, caplog):
    placement = Placement(**params)
    stream = make_stream(placement, n_free=0, max_heap_extra=max_heap_extra)
    # Each buffer is the front of a bigger one whose tail must stay untouched.
    backing = []
    for _ in range(4):
        data, flags, extra = (np.full(n + 64, 0xAA, np.uint8) for n in (4096, 4, extra_size))
        backing.append((data, flags, extra))
        stream.add_free_chunk(
            spead2.recv.Chunk(data=data[:4096], present=flags[:4], extra=extra[:extra_size] if extra_size else None)
        )
    source = Source(placement.heap_size)
    with caplog.at_level(logging.WARNING, logger="spead2"):
        stream.add_inproc_reader(source.queue)
        source.send(*range(8))
        source.end()
        received = drain(stream.data_ringbuffer)
        deadline = time.monotonic() + 5
        while not any("rejected" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.01)
    for data, flags, extra in backing:
        assert (data[4096:] == 0xAA).all() and (flags[4:] == 0xAA).all() and (extra[extra_size:] == 0xAA).all()
    assert stream.stats["rejected_heaps"] == rejected
    assert [c[2] for c in received] == [present, present]
    warnings = [r.getMessage() for r in caplog.records if r.name == "spead2" and "rejected" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "further such heaps are only counted in rejected_heaps" in warnings[0]


# --------------------------------------------------------------------------
# The rings: recycling, producers, stop
# --------------------------------------------------------------------------


def test_add_free_chunk_zeroes_present():
    placement = Placement()
    stream = make_stream(placement, n_free=0)
    chunk = placement.chunk()
    np.asarray(chunk.present)[:] = 7
    stream.add_free_chunk(chunk)
    assert chunk.present is None  # in flight
    got = stream.free_ringbuffer.get_nowait()
    assert got is chunk and list(np.asarray(chunk.present)) == [0, 0, 0, 0]
    stream.stop()


@pytest.mark.parametrize("missing, message", [("data", "data buffer is not set"), ("present", "present buffer is not set")])
def test_add_free_chunk_validates(missing, message):
    placement = Placement()
    stream = make_stream(placement, n_free=0)
    chunk = placement.chunk()
    setattr(chunk, missing, None)
    with pytest.raises(ValueError, match=message):
        stream.add_free_chunk(chunk)
    stream.stop()


def test_add_free_chunk_full_and_stopped():
    placement = Placement()
    stream = make_stream(placement, n_free=0, free_ring=spead2.recv.ChunkRingbuffer(1))
    stream.add_free_chunk(placement.chunk())
    chunk = placement.chunk()
    with pytest.raises(spead2.Full):
        stream.add_free_chunk(chunk)
    assert chunk.data is not None and chunk.present is not None  # given back
    stream.free_ringbuffer.stop()
    stream.add_free_chunk(chunk)  # no exception; the chunk is dropped
    assert chunk.data is None and chunk.present is None  # [quirk] its buffers were released
    stream.stop()


def test_shared_data_ring_stops_with_its_last_producer():
    placement = Placement()
    data_ring = spead2.recv.ChunkRingbuffer(8)
    streams, sources = [], []
    for stream_id in (1, 2):
        stream = make_stream(placement, data_ring=data_ring, stream_config=spead2.recv.StreamConfig(stream_id=stream_id))
        source = Source(placement.heap_size)
        stream.add_inproc_reader(source.queue)
        streams.append(stream)
        sources.append(source)
    sources[0].send(0, 1, 2, 3)
    sources[0].end()
    first = data_ring.get()
    assert (first.chunk_id, first.stream_id) == (0, 1)
    time.sleep(0.05)
    with pytest.raises(spead2.Empty):  # one producer left: not stopped
        data_ring.get_nowait()
    assert not streams[0].free_ringbuffer.empty()  # a network stop leaves the free ring alone
    sources[1].send(4)
    sources[1].end()
    rest = drain(data_ring)
    assert [(c[0], c[1], c[2]) for c in rest] == [(0, 2, [0, 0, 0, 0]), (1, 2, [1, 0, 0, 0])]  # 0 back-filled
    with pytest.raises(spead2.Stopped):
        data_ring.get_nowait()


def test_stop_releases_a_worker_blocked_on_a_full_data_ring():
    placement = Placement(heaps_per_chunk=1)
    stream = make_stream(placement, n_free=8, data_ring=spead2.recv.ChunkRingbuffer(1), max_chunks=1)
    source = Source(placement.heap_size)
    stream.add_inproc_reader(source.queue)
    source.send(*range(6))
    deadline = time.monotonic() + 5
    while not stream.data_ringbuffer.full() and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)  # the worker is now waiting to push chunk 1
    start = time.monotonic()
    stream.stop()
    assert time.monotonic() - start < 5
    chunk = stream.data_ringbuffer.get_nowait()  # what was already delivered stays retrievable
    assert chunk.chunk_id == 0 and list(np.asarray(chunk.present)) == [1]
    with pytest.raises(spead2.Stopped):
        stream.data_ringbuffer.get_nowait()
    with pytest.raises(spead2.Stopped):  # stop() stops the free ring too
        stream.free_ringbuffer.put_nowait(placement.chunk())


def test_free_ring_running_dry_blocks_a_lossless_reader_without_loss():
    placement = Placement()
    stream = make_stream(placement, n_free=1, max_chunks=1)
    source = Source(placement.heap_size)
    stream.add_inproc_reader(source.queue)
    cnts = list(range(40))
    source.send(*cnts)
    source.end()
    received = []
    for chunk in stream.data_ringbuffer:  # every chunk is recycled: the stream waits for it
        received.append((chunk.chunk_id, list(np.asarray(chunk.present)), bytes(chunk.data)))
        stream.add_free_chunk(chunk)
    assert [r[0] for r in received] == list(range(10))
    assert all(r[1] == [1, 1, 1, 1] for r in received)
    assert all(r[2] == expected_data(cnts, r[0], placement) for r in received)
    assert stream.stats["too_old_heaps"] == 0


def test_chunks_of_a_dropped_stream_are_released():
    placement = Placement()
    stream = make_stream(placement, n_free=0)
    chunks = [placement.chunk() for _ in range(3)]
    data = [weakref.ref(c.data) for c in chunks]
    for chunk in chunks:
        stream.add_free_chunk(chunk)
    source = Source(placement.heap_size)
    stream.add_inproc_reader(source.queue)
    source.send(0, 4)  # two chunks taken into the window
    time.sleep(0.05)
    del stream, chunks
    gc.collect()
    assert all(ref() is None for ref in data)


def test_interpreter_exit_with_a_worker_blocked_on_a_full_data_ring():
    # §1.17: exit must neither hang nor crash while a worker waits to deliver a chunk.
    script = textwrap.dedent(
        """
        import sys, time
        sys.path.insert(0, %r)
        from chunk_support import Placement, Source
        import spead2.recv
        placement = Placement(heaps_per_chunk=1)
        stream = spead2.recv.ChunkRingStream(
            spead2.ThreadPool(), spead2.recv.StreamConfig(), placement.config(max_chunks=1),
            spead2.recv.ChunkRingbuffer(1), spead2.recv.ChunkRingbuffer(8))
        for _ in range(8):
            stream.add_free_chunk(placement.chunk())
        source = Source(placement.heap_size)
        stream.add_inproc_reader(source.queue)
        source.send(*range(6))
        while not stream.data_ringbuffer.full():
            time.sleep(0.01)
        time.sleep(0.05)
        print("blocked", flush=True)
        """
        % str(pathlib.Path(__file__).resolve().parents[1])
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "blocked\n"
