"""ChunkStreamGroupConfig, ChunkStreamRingGroup and ChunkStreamGroupMember (spec §6.10, §6.11, §1.17).

Members are fed by their own InprocQueues (the network splitting one stream's heaps
between them); the chunks they fill together come out of one data ring.
"""

from __future__ import annotations

import collections.abc
import enum
import pathlib
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import spead2
import spead2.recv
from chunk_support import Placement, Source, drain, expected_data

EvictionMode = spead2.recv.ChunkStreamGroupConfig.EvictionMode


def make_group(placement, n_members=2, mode=EvictionMode.LOSSY, max_chunks=4, n_free=8, member_max_chunks=None):
    group = spead2.recv.ChunkStreamRingGroup(
        spead2.recv.ChunkStreamGroupConfig(max_chunks=max_chunks, eviction_mode=mode),
        spead2.recv.ChunkRingbuffer(16),
        spead2.recv.ChunkRingbuffer(16),
    )
    sources = []
    for i in range(n_members):
        group.emplace_back(
            spead2.ThreadPool(),
            spead2.recv.StreamConfig(stream_id=10 + i),
            placement.config(max_chunks=member_max_chunks or max_chunks),
        )
    for _ in range(n_free):
        group.add_free_chunk(placement.chunk())
    for member in group:
        source = Source(placement.heap_size)
        member.add_inproc_reader(source.queue)
        sources.append(source)
    return group, sources


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


def test_group_config():
    config = spead2.recv.ChunkStreamGroupConfig()
    assert config.max_chunks == spead2.recv.ChunkStreamGroupConfig.DEFAULT_MAX_CHUNKS == 2
    assert config.eviction_mode is EvictionMode.LOSSY
    assert issubclass(EvictionMode, enum.Enum)
    assert (EvictionMode.LOSSY.value, EvictionMode.LOSSLESS.value) == (0, 1)
    config = spead2.recv.ChunkStreamGroupConfig(max_chunks=5, eviction_mode=EvictionMode.LOSSLESS)
    assert (config.max_chunks, config.eviction_mode) == (5, EvictionMode.LOSSLESS)
    with pytest.raises(ValueError, match="max_chunks cannot be 0"):
        spead2.recv.ChunkStreamGroupConfig(max_chunks=0)
    with pytest.raises(ValueError, match="max_chunks cannot be 0"):
        config.max_chunks = 0
    with pytest.raises(TypeError):
        config.eviction_mode = 1
    with pytest.raises(TypeError):
        spead2.recv.ChunkStreamGroupConfig(4)  # keyword-only


def test_group_config_property_is_a_copy_of_the_settings():
    group = spead2.recv.ChunkStreamRingGroup(
        spead2.recv.ChunkStreamGroupConfig(max_chunks=3, eviction_mode=EvictionMode.LOSSLESS),
        spead2.recv.ChunkRingbuffer(2),
        spead2.recv.ChunkRingbuffer(2),
    )
    assert (group.config.max_chunks, group.config.eviction_mode) == (3, EvictionMode.LOSSLESS)
    group.stop()


@pytest.mark.parametrize("which", ["data_ringbuffer", "free_ringbuffer"])
def test_group_rings_must_not_be_none(which):
    kwargs = dict(
        config=spead2.recv.ChunkStreamGroupConfig(),
        data_ringbuffer=spead2.recv.ChunkRingbuffer(2),
        free_ringbuffer=spead2.recv.ChunkRingbuffer(2),
    )
    kwargs[which] = None
    with pytest.raises(TypeError):
        spead2.recv.ChunkStreamRingGroup(**kwargs)


def test_emplace_back_errors():
    placement = Placement()
    group = spead2.recv.ChunkStreamRingGroup(
        spead2.recv.ChunkStreamGroupConfig(max_chunks=2), spead2.recv.ChunkRingbuffer(4), spead2.recv.ChunkRingbuffer(4)
    )
    with pytest.raises(ValueError, match="stream max_chunks must not be larger than group max_chunks"):
        group.emplace_back(spead2.ThreadPool(), spead2.recv.StreamConfig(), placement.config(max_chunks=3))
    with pytest.raises(ValueError, match="chunk_config.place is not set"):
        group.emplace_back(spead2.ThreadPool(), spead2.recv.StreamConfig(), spead2.recv.ChunkStreamConfig())
    with pytest.raises(TypeError):
        group.emplace_back(None, spead2.recv.StreamConfig(), placement.config())
    member = group.emplace_back(
        thread_pool=spead2.ThreadPool(), config=spead2.recv.StreamConfig(), chunk_stream_config=placement.config()
    )
    assert isinstance(member, spead2.recv.ChunkStreamGroupMember)
    assert len(group) == 1
    group.stop()
    with pytest.raises(RuntimeError, match="Cannot add a stream after group has started receiving data"):
        group.emplace_back(spead2.ThreadPool(), spead2.recv.StreamConfig(), placement.config())


def test_emplace_back_after_data_arrived():
    placement = Placement()
    group, sources = make_group(placement, n_members=1)
    sources[0].send(0)
    deadline = time.monotonic() + 5
    while group[0].stats["packets"] == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    with pytest.raises(RuntimeError, match="Cannot add a stream after group has started receiving data"):
        group.emplace_back(spead2.ThreadPool(), spead2.recv.StreamConfig(), placement.config())
    group.stop()


def test_sequence_semantics():
    placement = Placement()
    group, _ = make_group(placement, n_members=3)
    members = [group[0], group[1], group[2]]
    assert len(group) == 3
    assert group[-1] is members[2] and group[-3] is members[0]
    for index in (3, -4):
        with pytest.raises(IndexError):
            group[index]
    assert group[1:] == members[1:] and group[::-1] == members[::-1]
    assert isinstance(group[0:2], list)
    assert list(group) == members and list(reversed(group)) == members[::-1]
    assert members[1] in group and None not in group
    assert group.index(members[2]) == 2 and group.count(members[0]) == 1
    with pytest.raises(ValueError):
        group.index(members[2], 0, 2)
    assert isinstance(group, collections.abc.Sequence)
    assert issubclass(spead2.recv.ChunkStreamRingGroup, collections.abc.Sequence)
    assert isinstance(group, spead2.recv.ChunkRingPair)
    group.stop()


def test_members_keep_the_group_alive():
    placement = Placement()
    group, sources = make_group(placement, n_members=2)
    member = group[1]
    data_ring = group.data_ringbuffer
    del group
    import gc

    gc.collect()
    # Chunk 0 is delivered once the group's window (4 chunks) moves past it; in LOSSY
    # mode the idle member 0 is made to let it go.
    sources[1].send(0, 1, 2, 3, 16)
    assert data_ring.get().chunk_id == 0
    member.stop()  # stops the whole group: the data ring ends
    with pytest.raises(spead2.Stopped):
        data_ring.get()


# --------------------------------------------------------------------------
# Receiving together
# --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [EvictionMode.LOSSY, EvictionMode.LOSSLESS])
def test_members_fill_shared_chunks(mode):
    placement = Placement()
    group, sources = make_group(placement, mode=mode)
    cnts = list(range(24))
    for cnt in cnts:  # alternate heaps go to alternate members, as a switch would split them
        sources[cnt % 2].send(cnt)
    for source in sources:
        source.end()
    chunks = drain(group.data_ringbuffer, recycle=group)
    assert [c[0] for c in chunks] == list(range(6))
    assert all(c[2] == [1, 1, 1, 1] for c in chunks)
    assert all(c[3] == expected_data(cnts, c[0], placement) for c in chunks)
    assert {c[1] for c in chunks} <= {10, 11}  # the stream_id of one of the members
    assert [m.stats["heaps"] for m in group] == [12, 12]
    assert [m.stats["too_old_heaps"] for m in group] == [0, 0]


def test_data_ring_stops_only_when_every_member_has_stopped():
    placement = Placement()
    group, sources = make_group(placement)
    sources[0].send(0, 2)
    sources[0].end()
    time.sleep(0.1)
    with pytest.raises(spead2.Empty):
        group.data_ringbuffer.get_nowait()
    sources[1].send(1, 3)
    sources[1].end()
    chunks = drain(group.data_ringbuffer)
    assert [(c[0], c[2]) for c in chunks] == [(0, [1, 1, 1, 1])]


def test_lossy_group_does_not_wait_for_an_idle_member():
    # Member 1 receives nothing: in LOSSY mode it is made to let go of old chunks, so
    # chunks keep coming (half full) while member 0 receives.
    placement = Placement()
    group, sources = make_group(placement, mode=EvictionMode.LOSSY, max_chunks=2, n_free=4)
    for cnt in range(0, 40, 2):
        sources[0].send(cnt)
    received = []
    while len(received) < 8:
        chunk = group.data_ringbuffer.get()
        received.append((chunk.chunk_id, list(np.asarray(chunk.present))))
        group.add_free_chunk(chunk)
    assert [r[0] for r in received] == list(range(8))
    assert all(r[1] == [1, 0, 1, 0] for r in received)
    group.stop()


def test_lossy_member_that_lags_counts_too_old_heaps():
    placement = Placement()
    group, sources = make_group(placement, mode=EvictionMode.LOSSY, max_chunks=2, n_free=8)
    sources[0].send(0, 4, 8, 12, 16)  # member 0 moves the group on to chunks 3 and 4
    time.sleep(0.2)
    sources[1].send(1)  # chunk 0 has gone: too old for member 1
    sources[0].end()
    sources[1].end()
    chunks = drain(group.data_ringbuffer)
    assert [c[0] for c in chunks] == [0, 1, 2, 3, 4]
    assert chunks[0][2] == [1, 0, 0, 0]
    assert group[1].stats["too_old_heaps"] == 1


def test_lossless_group_waits_for_every_member():
    placement = Placement()
    group, sources = make_group(placement, mode=EvictionMode.LOSSLESS, max_chunks=2, n_free=8)
    sources[0].send(*range(0, 24, 2))  # member 0 would need chunk 2: it waits for member 1
    time.sleep(0.2)
    with pytest.raises(spead2.Empty):
        group.data_ringbuffer.get_nowait()
    sources[1].send(*range(1, 24, 2))
    for source in sources:
        source.end()
    chunks = drain(group.data_ringbuffer)
    assert [c[0] for c in chunks] == list(range(6))
    assert all(c[2] == [1, 1, 1, 1] for c in chunks)  # nothing lost
    assert [m.stats["too_old_heaps"] for m in group] == [0, 0]


def test_lossless_member_that_ends_releases_the_group():
    placement = Placement()
    group, sources = make_group(placement, mode=EvictionMode.LOSSLESS, max_chunks=2, n_free=8)
    sources[0].send(*range(0, 24, 2))
    time.sleep(0.1)
    sources[1].end()  # a member whose data ended no longer holds anyone back
    sources[0].end()
    chunks = drain(group.data_ringbuffer)
    assert [c[0] for c in chunks] == list(range(6))
    assert all(c[2] == [1, 0, 1, 0] for c in chunks)


def test_member_stop_stops_the_group():
    placement = Placement()
    group, sources = make_group(placement)
    sources[0].send(0, 2)
    sources[1].send(1)
    time.sleep(0.05)
    group[1].stop()
    # The rings stop first: chunk 0, still in the window, could not be delivered.
    assert drain(group.data_ringbuffer) == []
    with pytest.raises(spead2.Stopped):
        group.free_ringbuffer.put_nowait(placement.chunk())
    # Member 0 was stopped too: its later data is not received.
    sources[0].send(3)
    time.sleep(0.05)
    assert group[0].stats["heaps"] == 2


def test_stop_releases_a_lossless_member_waiting_for_another():
    placement = Placement()
    group, sources = make_group(placement, mode=EvictionMode.LOSSLESS, max_chunks=2, n_free=8)
    sources[0].send(*range(0, 24, 2))
    time.sleep(0.1)  # member 0 now waits for member 1 to finish chunk 0
    start = time.monotonic()
    group.stop()
    assert time.monotonic() - start < 5
    chunks = drain(group.data_ringbuffer)
    assert [c[0] for c in chunks] in ([], [0], [0, 1])  # at most the window, flushed to a stopped ring


def test_member_stats_have_chunk_statistics():
    placement = Placement()
    group, sources = make_group(placement, n_members=1)
    sources[0].send(0)
    sources[0].end()
    drain(group.data_ringbuffer)
    stats = group[0].stats
    assert stats["rejected_heaps"] == 1 and stats["too_old_heaps"] == 0
    assert group[0].config.allow_unsized_heaps is False


def test_interpreter_exit_with_a_lossless_member_blocked_on_another():
    script = textwrap.dedent(
        """
        import sys, time
        sys.path.insert(0, %r)
        from chunk_support import Placement, Source
        import spead2.recv
        placement = Placement()
        mode = spead2.recv.ChunkStreamGroupConfig.EvictionMode.LOSSLESS
        group = spead2.recv.ChunkStreamRingGroup(
            spead2.recv.ChunkStreamGroupConfig(max_chunks=2, eviction_mode=mode),
            spead2.recv.ChunkRingbuffer(4), spead2.recv.ChunkRingbuffer(8))
        for i in range(2):
            group.emplace_back(spead2.ThreadPool(), spead2.recv.StreamConfig(), placement.config())
        for _ in range(8):
            group.add_free_chunk(placement.chunk())
        sources = [Source(placement.heap_size) for _ in range(2)]
        for member, source in zip(group, sources):
            member.add_inproc_reader(source.queue)
        sources[0].send(*range(0, 24, 2))
        time.sleep(0.1)
        print("blocked", flush=True)
        """
        % str(pathlib.Path(__file__).resolve().parents[1])
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "blocked\n"
