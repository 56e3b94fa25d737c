"""API tests for spead2.recv (spec python-api.md §4.2–4.8; only add_buffer_reader exists today).

Covers StreamConfig / RingStreamConfig, statistics (StreamStatConfig,
StreamStats, stream_stat_indices), the ring-buffered Stream (get/get_nowait,
iteration, fd, ringbuffer, explicit start, stop semantics, full-ring
behaviour), received Heap / IncompleteHeap / RawItem, the live-heap limit per
substream and eviction, add_buffer_reader and memory allocators used for heap
payloads.

Input is produced with spead2.send (ItemGroup, BytesStream, PacketGenerator);
the fd test feeds an InprocQueue instead, because the end of a buffer stops the
stream (and a stopped stream's fd stays readable).
Every call that could block runs in a helper thread with a timeout, and every
stream created through the ``make_stream`` fixture is stopped at teardown.

Note: our receive streams also count ``malformed_packets`` and
``rejected_packets``; they are extension statistics, readable by name but outside
the indexed layout, so ``stream.stats`` has 9 + custom entries, as in spead2 4.x.
"""

from __future__ import annotations

import enum
import functools
import gc
import logging
import re
import select
import threading
import time

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.send
from spead2.recv import StreamStatConfig
from spead2.recv import stream_stat_indices as ssi

import support
from support import DuckItem

TIMEOUT = 5.0

run_in_thread = functools.partial(support.run_in_thread, timeout=TIMEOUT)
drain = functools.partial(support.drain, timeout=TIMEOUT)
poll = functools.partial(support.poll, timeout=TIMEOUT)

CORE_STATS = [
    ("heaps", StreamStatConfig.Mode.COUNTER),
    ("incomplete_heaps_evicted", StreamStatConfig.Mode.COUNTER),
    ("incomplete_heaps_flushed", StreamStatConfig.Mode.COUNTER),
    ("packets", StreamStatConfig.Mode.COUNTER),
    ("batches", StreamStatConfig.Mode.COUNTER),
    ("max_batch", StreamStatConfig.Mode.MAXIMUM),
    ("single_packet_heaps", StreamStatConfig.Mode.COUNTER),
    ("search_dist", StreamStatConfig.Mode.COUNTER),
    ("worker_blocked", StreamStatConfig.Mode.COUNTER),
]
CORE_NAMES = [name for name, _ in CORE_STATS]
EXTENSION_NAMES = ["malformed_packets", "rejected_packets"]


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def get(stream, timeout: float = TIMEOUT):
    return run_in_thread(stream.get, timeout=timeout)


def pattern(size: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) % 256 for i in range(size))


def data_heap(size: int, seed: int = 0, flavour=None, id: int = 0x1000) -> spead2.send.Heap:
    heap = spead2.send.Heap(flavour) if flavour is not None else spead2.send.Heap()
    heap.add_item(DuckItem(id, pattern(size, seed)))
    return heap


def send_bytes(heaps, max_packet_size: int = 1472, cnts=None) -> bytes:
    """Encode *heaps* with a BytesStream (automatic cnts 1, 2, … unless given)."""
    stream = spead2.send.BytesStream(
        spead2.ThreadPool(), spead2.send.StreamConfig(max_packet_size=max_packet_size)
    )
    for i, heap in enumerate(heaps):
        if cnts is None:
            run_in_thread(stream.send_heap, heap)
        else:
            run_in_thread(stream.send_heap, heap, cnts[i])
    return stream.getvalue()


def packets_of(heap, cnt: int, max_packet_size: int = 1472) -> list[bytes]:
    return list(spead2.send.PacketGenerator(heap, cnt, max_packet_size))


def item_group_heap():
    """A heap from spead2.send.ItemGroup with an addressed and an immediate item."""
    ig = spead2.send.ItemGroup()
    ig.add_item(0x1000, "a", "array", (100,), np.uint8, value=np.arange(100, dtype=np.uint8))
    ig.add_item(0x1001, "b", "immediate", (), format=[("u", 32)], value=0x12345678)
    return ig.get_heap()


def feed(make_stream, data, *, config=None, ring_config=None):
    kwargs = {}
    if config is not None:
        kwargs["config"] = config
    if ring_config is not None:
        kwargs["ring_config"] = ring_config
    stream = make_stream(**kwargs)
    stream.add_buffer_reader(data)
    return stream


# --------------------------------------------------------------------------
# §4.2 StreamConfig
# --------------------------------------------------------------------------


def test_stream_config_defaults() -> None:
    config = spead2.recv.StreamConfig()
    assert config.max_heaps == 4
    assert config.substreams == 1
    assert config.bug_compat == 0
    assert config.memcpy == spead2.MEMCPY_STD
    assert isinstance(config.memory_allocator, spead2.MemoryAllocator)
    assert config.stop_on_stop_item is True
    assert config.allow_unsized_heaps is True
    assert config.allow_out_of_order is False
    assert config.stream_id == 0
    assert config.explicit_start is False
    assert spead2.recv.StreamConfig.DEFAULT_MAX_HEAPS == 4


def test_stream_config_kwargs() -> None:
    config = spead2.recv.StreamConfig(
        max_heaps=9, substreams=3, bug_compat=spead2.BUG_COMPAT_PYSPEAD_0_5_2,
        memcpy=spead2.MEMCPY_NONTEMPORAL, stop_on_stop_item=False,
        allow_unsized_heaps=False, allow_out_of_order=True, stream_id=2**64 - 1,
        explicit_start=True,
    )
    assert config.max_heaps == 9
    assert config.substreams == 3
    assert config.bug_compat == 7
    assert config.memcpy == spead2.MEMCPY_NONTEMPORAL
    assert config.stop_on_stop_item is False
    assert config.allow_unsized_heaps is False
    assert config.allow_out_of_order is True
    assert config.stream_id == 2**64 - 1
    assert config.explicit_start is True


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"max_heaps": 0}, "max_heaps cannot be 0"),
        ({"substreams": 0}, "substreams cannot be 0"),
        ({"bug_compat": 8}, "unknown compatibility bits in bug_compat"),
        ({"bug_compat": 0xFF}, "unknown compatibility bits in bug_compat"),
        ({"memcpy": 2}, "Unknown memcpy function"),
        ({"memcpy": 100}, "Unknown memcpy function"),
    ],
)
def test_stream_config_validation(kwargs, message) -> None:
    with pytest.raises(ValueError) as info:
        spead2.recv.StreamConfig(**kwargs)
    assert str(info.value) == message
    # The same validation applies to the setters, and a failed set changes nothing.
    config = spead2.recv.StreamConfig()
    ((key, value),) = kwargs.items()
    before = getattr(config, key)
    with pytest.raises(ValueError) as info:
        setattr(config, key, value)
    assert str(info.value) == message
    assert getattr(config, key) == before


@pytest.mark.parametrize("bits", [0, 1, 2, 4, 7])
def test_stream_config_bug_compat_valid(bits: int) -> None:
    assert spead2.recv.StreamConfig(bug_compat=bits).bug_compat == bits


@pytest.mark.parametrize("value", [spead2.MEMCPY_STD, spead2.MEMCPY_NONTEMPORAL])
def test_stream_config_memcpy_values(value: int) -> None:
    config = spead2.recv.StreamConfig()
    config.memcpy = value
    assert config.memcpy == value


@pytest.mark.parametrize(
    "allocator",
    [spead2.MemoryAllocator(), spead2.MmapAllocator(), spead2.MemoryPool(1, 100, 4, 0)],
    ids=["MemoryAllocator", "MmapAllocator", "MemoryPool"],
)
def test_stream_config_memory_allocator_identity(allocator) -> None:
    config = spead2.recv.StreamConfig(memory_allocator=allocator)
    assert config.memory_allocator is allocator
    assert config.memory_allocator is allocator
    config = spead2.recv.StreamConfig()
    config.memory_allocator = allocator
    assert config.memory_allocator is allocator


def test_stream_config_default_allocator_stable() -> None:
    config = spead2.recv.StreamConfig()
    assert config.memory_allocator is config.memory_allocator


@pytest.mark.parametrize("value", [None, 5, "allocator", spead2.ThreadPool])
def test_stream_config_memory_allocator_bad(value) -> None:
    # None -> TypeError is our deliberate choice for the upstream quirk (§4.2).
    with pytest.raises(TypeError):
        spead2.recv.StreamConfig(memory_allocator=value)
    config = spead2.recv.StreamConfig()
    with pytest.raises(TypeError):
        config.memory_allocator = value


@pytest.mark.parametrize(
    "kwargs",
    [{"stream_id": -1}, {"max_heaps": -1}, {"substreams": -2}, {"bug_compat": -1}, {"max_heaps": 4.0}],
)
def test_stream_config_conversion_errors(kwargs) -> None:
    with pytest.raises(TypeError):
        spead2.recv.StreamConfig(**kwargs)


def test_stream_config_unknown_keyword() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        spead2.recv.StreamConfig(bogus=1)


@pytest.mark.parametrize("kwargs", [{"stats": []}, {"add_stat": 3}, {"next_stat_index": 1}])
def test_stream_config_read_only_keywords(kwargs) -> None:
    with pytest.raises(AttributeError):
        spead2.recv.StreamConfig(**kwargs)


def test_stream_config_positional() -> None:
    with pytest.raises(TypeError):
        spead2.recv.StreamConfig(4)


def test_stream_config_stats_read_only() -> None:
    config = spead2.recv.StreamConfig()
    with pytest.raises(AttributeError):
        config.stats = []


# --------------------------------------------------------------------------
# §4.3 RingStreamConfig
# --------------------------------------------------------------------------


def test_ring_stream_config_defaults() -> None:
    config = spead2.recv.RingStreamConfig()
    assert config.heaps == 4
    assert config.contiguous_only is True
    assert config.incomplete_keep_payload_ranges is False
    assert spead2.recv.RingStreamConfig.DEFAULT_HEAPS == 4


def test_ring_stream_config_kwargs() -> None:
    config = spead2.recv.RingStreamConfig(heaps=10, contiguous_only=False, incomplete_keep_payload_ranges=True)
    assert (config.heaps, config.contiguous_only, config.incomplete_keep_payload_ranges) == (10, False, True)


def test_ring_stream_config_heaps_zero() -> None:
    with pytest.raises(ValueError) as info:
        spead2.recv.RingStreamConfig(heaps=0)
    assert str(info.value) == "heaps must be at least 1"
    config = spead2.recv.RingStreamConfig()
    with pytest.raises(ValueError):
        config.heaps = 0
    assert config.heaps == 4


def test_ring_stream_config_errors() -> None:
    with pytest.raises(TypeError):
        spead2.recv.RingStreamConfig(heaps=-1)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        spead2.recv.RingStreamConfig(max_heaps=2)
    with pytest.raises(TypeError):
        spead2.recv.RingStreamConfig(4)
    with pytest.raises(AttributeError):
        spead2.recv.RingStreamConfig(DEFAULT_HEAPS=3)


# --------------------------------------------------------------------------
# §4.4 statistics
# --------------------------------------------------------------------------


def test_stat_indices_constants() -> None:
    expected = {
        "HEAPS": 0, "INCOMPLETE_HEAPS_EVICTED": 1, "INCOMPLETE_HEAPS_FLUSHED": 2,
        "PACKETS": 3, "BATCHES": 4, "MAX_BATCH": 5, "SINGLE_PACKET_HEAPS": 6,
        "SEARCH_DIST": 7, "WORKER_BLOCKED": 8,
    }
    for name, value in expected.items():
        got = getattr(ssi, name)
        assert type(got) is int
        assert got == value
        assert getattr(spead2._spead2.recv.stream_stat_indices, name) == value


def test_stat_config_class() -> None:
    Mode = StreamStatConfig.Mode
    assert issubclass(Mode, enum.Enum)
    assert Mode.__qualname__ == "StreamStatConfig.Mode"
    assert [(m.name, m.value) for m in Mode] == [("COUNTER", 0), ("MAXIMUM", 1)]
    assert (Mode.COUNTER == 0) is False
    c = StreamStatConfig("foo")
    assert c.name == "foo"
    assert c.mode is Mode.COUNTER
    m = StreamStatConfig(name="bar", mode=Mode.MAXIMUM)
    assert m.mode is Mode.MAXIMUM
    assert c.combine(3, 4) == 7
    assert m.combine(3, 4) == 4
    assert m.combine(9, 4) == 9
    assert c.combine(2**63, 2**63 - 1) == 2**64 - 1
    with pytest.raises(AttributeError):
        c.name = "x"
    with pytest.raises(AttributeError):
        c.mode = Mode.MAXIMUM


def test_stat_config_errors() -> None:
    with pytest.raises(TypeError):
        StreamStatConfig("foo", 1)
    with pytest.raises(TypeError):
        StreamStatConfig("foo").combine(-1, 2)
    with pytest.raises(TypeError):
        StreamStatConfig("foo").combine(a=1, b=2)


def test_stat_config_equality() -> None:
    Mode = StreamStatConfig.Mode
    assert StreamStatConfig("a") == StreamStatConfig("a", Mode.COUNTER)
    assert StreamStatConfig("a") != StreamStatConfig("a", Mode.MAXIMUM)
    assert StreamStatConfig("a") != StreamStatConfig("b")
    assert (StreamStatConfig("a") == "a") is False
    assert (StreamStatConfig("a") != "a") is True
    assert StreamStatConfig.__hash__ is None
    with pytest.raises(TypeError):
        hash(StreamStatConfig("a"))


def test_config_stats_fresh() -> None:
    config = spead2.recv.StreamConfig()
    stats = config.stats
    assert [(s.name, s.mode) for s in stats] == CORE_STATS
    assert config.next_stat_index() == 9
    stats.append(StreamStatConfig("x"))
    assert len(config.stats) == 9
    assert config.stats is not config.stats


def test_add_stat() -> None:
    Mode = StreamStatConfig.Mode
    config = spead2.recv.StreamConfig()
    assert config.add_stat("foo") == 9
    assert config.next_stat_index() == 10
    assert config.add_stat("bar", Mode.MAXIMUM) == 10
    assert config.add_stat(name="baz", mode=Mode.COUNTER) == 11
    assert config.next_stat_index() == 12
    assert [(s.name, s.mode) for s in config.stats] == CORE_STATS + [
        ("foo", Mode.COUNTER), ("bar", Mode.MAXIMUM), ("baz", Mode.COUNTER)
    ]
    assert config.get_stat_index("heaps") == 0
    assert config.get_stat_index("worker_blocked") == 8
    assert config.get_stat_index("max_batch") == 5
    assert config.get_stat_index("foo") == 9
    assert config.get_stat_index("bar") == 10


@pytest.mark.parametrize("name", ["foo", "heaps", "worker_blocked"])
def test_add_stat_duplicate(name: str) -> None:
    config = spead2.recv.StreamConfig()
    config.add_stat("foo")
    with pytest.raises(ValueError) as info:
        config.add_stat(name)
    assert str(info.value) == f"A statistic called {name} already exists"
    assert config.next_stat_index() == 10


def test_get_stat_index_unknown() -> None:
    with pytest.raises(IndexError) as info:
        spead2.recv.StreamConfig().get_stat_index("nope")
    assert str(info.value) == "nope is not a known statistic name"


def test_add_stat_mode_type() -> None:
    with pytest.raises(TypeError):
        spead2.recv.StreamConfig().add_stat("foo", 1)


def test_stream_stats_no_constructor() -> None:
    with pytest.raises(TypeError):
        spead2.recv.StreamStats()


def _received_stream(make_stream, n_heaps: int = 3, custom=()):
    config = spead2.recv.StreamConfig()
    for name, mode in custom:
        config.add_stat(name, mode)
    stream = feed(make_stream, send_bytes([data_heap(50, i) for i in range(n_heaps)]), config=config)
    heaps = drain(stream)
    assert len(heaps) == n_heaps
    return stream


def test_stream_stats_layout(make_stream) -> None:
    Mode = StreamStatConfig.Mode
    stream = _received_stream(make_stream, custom=[("foo", Mode.COUNTER), ("bar", Mode.MAXIMUM)])
    stats = stream.stats
    names = CORE_NAMES + ["foo", "bar"]
    assert len(stats) == 11
    assert [c.name for c in stats.config] == names
    assert stats.config == stream.config.stats
    assert list(stats) == names
    assert list(stats.keys()) == names
    assert [v for v in stats.values()] == [stats[n] for n in names]
    assert list(stats.items()) == [(n, stats[n]) for n in names]
    assert stats.config[9] == StreamStatConfig("foo", Mode.COUNTER)
    assert stats.config[10] == StreamStatConfig("bar", Mode.MAXIMUM)


def test_stream_stats_default_stream_len(make_stream) -> None:
    stream = make_stream()
    assert len(spead2.recv.StreamConfig().stats) == 9
    assert len(stream.stats) == 9
    assert list(stream.stats) == CORE_NAMES
    assert stream.stats.config == spead2.recv.StreamConfig().stats == stream.config.stats


def test_stream_stats_values(make_stream) -> None:
    stream = _received_stream(make_stream, n_heaps=3)
    stats = stream.stats
    assert stats["heaps"] == 3
    assert stats["packets"] == 3
    assert stats["single_packet_heaps"] == 3
    assert stats["incomplete_heaps_evicted"] == 0
    assert stats["incomplete_heaps_flushed"] == 0
    assert stats["worker_blocked"] == 0
    assert stats["batches"] >= 1
    assert 1 <= stats["max_batch"] <= 3
    for name in CORE_NAMES:
        index = getattr(ssi, name.upper())
        assert stats[index] == stats[name] == getattr(stats, name)


def test_stream_stats_snapshot(make_stream) -> None:
    stream = _received_stream(make_stream)
    stats = stream.stats
    assert stream.stats is not stream.stats
    stats["heaps"] = 100
    stats[ssi.PACKETS] = 200
    stats.worker_blocked = 5
    assert stats.heaps == 100
    assert stats["packets"] == 200
    assert stats[ssi.WORKER_BLOCKED] == 5
    assert stream.stats["heaps"] == 3
    assert stream.stats["packets"] == 3
    assert stream.stats["worker_blocked"] == 0


def test_stream_stats_read_only_properties(make_stream) -> None:
    stream = make_stream()
    with pytest.raises(AttributeError):
        stream.stats = stream.stats
    stats = stream.stats
    with pytest.raises(AttributeError):
        stats.config = []
    assert len(stats.config) == 9
    config = stats.config
    config.append(StreamStatConfig("x"))
    assert len(stats.config) == 9


def test_stream_stats_index_errors(make_stream) -> None:
    stats = make_stream().stats
    n = len(stats)
    with pytest.raises(IndexError):
        stats[n]
    with pytest.raises(IndexError):
        stats[n] = 1
    with pytest.raises(TypeError):
        stats[-1]
    with pytest.raises(TypeError):
        stats[-1] = 1
    with pytest.raises(KeyError) as info:
        stats["nope"]
    assert info.value.args == ("nope",)
    with pytest.raises(KeyError):
        stats["nope"] = 1
    with pytest.raises(TypeError):
        stats["heaps"] = -5
    with pytest.raises(TypeError):
        stats[0] = -5
    with pytest.raises(TypeError):
        stats.heaps = -1
    with pytest.raises(TypeError):
        stats[1.0]


def test_stream_stats_contains_and_get(make_stream) -> None:
    stats = _received_stream(make_stream).stats
    assert "heaps" in stats
    assert "malformed_packets" in stats
    assert "nope" not in stats
    with pytest.raises(TypeError):
        0 in stats  # noqa: B015
    assert stats.get("heaps") == 3
    assert stats.get("nope") is None
    assert stats.get("nope", 42) == 42
    with pytest.raises(TypeError):
        stats.get(0)


def test_stream_stats_iterators(make_stream) -> None:
    stream = make_stream()
    for method in ("keys", "values", "items", "__iter__"):
        it = getattr(stream.stats, method)()  # the stats object itself is a temporary
        assert iter(it) is it
        gc.collect()
        assert len(list(it)) == 9
    assert not isinstance(stream.stats.keys(), list)


def test_stream_stats_add(make_stream) -> None:
    Mode = StreamStatConfig.Mode
    stream = _received_stream(make_stream, custom=[("foo", Mode.COUNTER), ("bar", Mode.MAXIMUM)])
    a = stream.stats
    b = stream.stats
    a["max_batch"] = 7
    b["max_batch"] = 3
    a["foo"] = 10
    b["foo"] = 5
    a["bar"] = 2
    b["bar"] = 20
    c = a + b
    assert type(c) is spead2.recv.StreamStats
    assert c["heaps"] == 6
    assert c["packets"] == 6
    assert c["max_batch"] == 7
    assert c["foo"] == 15
    assert c["bar"] == 20
    assert c.config == a.config
    assert a["heaps"] == 3  # operands unchanged
    a += b
    assert a["heaps"] == 6
    assert a["max_batch"] == 7
    assert a["foo"] == 15
    assert a["bar"] == 20


def test_stream_stats_add_mismatch(make_stream) -> None:
    s1 = make_stream().stats
    config = spead2.recv.StreamConfig()
    config.add_stat("foo")
    s2 = make_stream(config=config).stats
    with pytest.raises(ValueError) as info:
        s1 + s2
    assert str(info.value) == "config must match to add stats together"
    with pytest.raises(ValueError):
        s1 += s2
    with pytest.raises(TypeError):
        s1 + 1


def _stream_with_bad_packets(make_stream, config=spead2.recv.StreamConfig()):
    """A stream fed one good heap, one undecodable packet and one refused packet."""
    good = send_bytes([data_heap(50, 1)])
    # The second packet of a heap, alone: a heap must start at offset 0 in order mode.
    refused = [bytes(p) for p in spead2.send.PacketGenerator(data_heap(3000, 2), 7, 1472)][1]
    queue = spead2.InprocQueue()
    stream = make_stream(config=config)
    for packet in [good, refused, b"\x00" * 40]:
        queue.add_packet(packet)
    queue.stop()
    stream.add_inproc_reader(queue)
    drain(stream)
    return stream


def test_stream_stats_extensions_by_name(make_stream) -> None:
    """malformed_packets / rejected_packets: by name only, outside the 4.x layout."""
    stats = _stream_with_bad_packets(make_stream).stats
    assert stats["malformed_packets"] == 1
    assert stats["rejected_packets"] == 1
    assert stats.get("malformed_packets") == 1
    assert all(name in stats for name in EXTENSION_NAMES)
    assert len(stats) == 9
    assert list(stats) == CORE_NAMES
    assert [c.name for c in stats.config] == CORE_NAMES
    with pytest.raises(IndexError):
        stats[9]
    stats["malformed_packets"] = 5  # a snapshot, writable like the others
    assert stats["malformed_packets"] == 5
    doubled = stats + stats
    assert doubled["malformed_packets"] == 10
    assert doubled["rejected_packets"] == 2


def test_stream_config_extension_stats_have_no_index(make_stream) -> None:
    stream = make_stream()
    config = stream.config
    assert [c.name for c in config.stats] == CORE_NAMES
    assert config.next_stat_index() == 9
    with pytest.raises(IndexError, match="malformed_packets is not a known statistic name"):
        config.get_stat_index("malformed_packets")
    # A config taken from a stream builds a stream with the same layout.
    assert config.add_stat("custom") == 9
    again = make_stream(config=config)
    assert [c.name for c in again.stats.config] == CORE_NAMES + ["custom"]


@pytest.mark.parametrize("name", EXTENSION_NAMES)
def test_stream_stats_user_may_take_extension_names(make_stream, name) -> None:
    """A custom statistic may be called malformed_packets (as in 4.x); it shadows ours."""
    config = spead2.recv.StreamConfig()
    assert config.add_stat(name) == 9
    stream = _stream_with_bad_packets(make_stream, config=config)
    stats = stream.stats
    assert len(stats) == 10
    assert list(stats) == CORE_NAMES + [name]
    assert stats[9] == stats[name] == 0  # the user's own, which nobody bumps
    assert stream.config.get_stat_index(name) == 9


# --------------------------------------------------------------------------
# §4.6 Stream construction and properties
# --------------------------------------------------------------------------


def test_stream_constructor_keywords(make_stream, thread_pool) -> None:
    stream = make_stream(
        thread_pool=thread_pool,
        config=spead2.recv.StreamConfig(max_heaps=3),
        ring_config=spead2.recv.RingStreamConfig(heaps=5),
    )
    assert stream.config.max_heaps == 3
    assert stream.ring_config.heaps == 5


def test_stream_constructor_bad_keyword(thread_pool) -> None:
    with pytest.raises(TypeError):
        spead2.recv.Stream(thread_pool, stream_config=spead2.recv.StreamConfig())
    with pytest.raises(TypeError):
        spead2.recv.Stream(thread_pool, spead2.recv.RingStreamConfig())


def test_stream_thread_pool_none() -> None:
    with pytest.raises(TypeError):
        spead2.recv.Stream(None)
    with pytest.raises(TypeError):
        spead2.recv.Stream(thread_pool=None)
    with pytest.raises(TypeError):
        spead2.recv.Stream()


def test_stream_base_classes() -> None:
    assert issubclass(spead2.recv.Stream, spead2._spead2.recv._Stream)
    with pytest.raises(TypeError):
        spead2._spead2.recv._Stream()


def test_stream_config_copy(make_stream) -> None:
    config = spead2.recv.StreamConfig(max_heaps=9, bug_compat=2, stream_id=5, allow_out_of_order=True)
    config.add_stat("foo")
    stream = make_stream(config=config)
    config.max_heaps = 2
    config.add_stat("bar")
    got = stream.config
    assert isinstance(got, spead2.recv.StreamConfig)
    assert got is not config
    assert (got.max_heaps, got.bug_compat, got.stream_id, got.allow_out_of_order) == (9, 2, 5, True)
    assert got.get_stat_index("foo") == 9
    with pytest.raises(IndexError):
        got.get_stat_index("bar")
    got.max_heaps = 1
    assert stream.config.max_heaps == 9
    with pytest.raises(AttributeError):
        stream.config = config


def test_stream_ring_config_copy(make_stream) -> None:
    ring_config = spead2.recv.RingStreamConfig(heaps=7, contiguous_only=False, incomplete_keep_payload_ranges=True)
    stream = make_stream(ring_config=ring_config)
    ring_config.heaps = 2
    got = stream.ring_config
    assert got is not ring_config
    assert (got.heaps, got.contiguous_only, got.incomplete_keep_payload_ranges) == (7, False, True)
    got.heaps = 3
    assert stream.ring_config.heaps == 7
    assert stream.ringbuffer.capacity() == 7
    with pytest.raises(AttributeError):
        stream.ring_config = ring_config


def test_stream_ringbuffer(make_stream) -> None:
    stream = make_stream(ring_config=spead2.recv.RingStreamConfig(heaps=6))
    ring = stream.ringbuffer
    assert type(ring) is spead2.recv.Stream.Ringbuffer
    assert type(ring).__qualname__ == "Stream.Ringbuffer"
    assert ring.capacity() == 6
    assert ring.size() == 0
    stream.add_buffer_reader(send_bytes([data_heap(10, i) for i in range(3)]))
    assert poll(lambda: ring.size() == 3), f"ring size is {ring.size()}, expected 3"
    get(stream)
    assert ring.size() == 2
    with pytest.raises(TypeError):
        spead2.recv.Stream.Ringbuffer()


def test_stream_fd(make_stream) -> None:
    stream = make_stream()
    fd = stream.fd
    assert isinstance(fd, int)
    assert fd >= 0
    assert stream.fd == fd
    with pytest.raises(AttributeError):
        stream.fd = 3
    stream.stop()
    readable, _, _ = select.select([fd], [], [], 1.0)
    assert readable == [fd]


def test_stream_fd_readable_on_data(make_stream) -> None:
    stream = make_stream(config=spead2.recv.StreamConfig(explicit_start=True))
    stream.add_buffer_reader(send_bytes([data_heap(10)]))
    stream.start()
    readable, _, _ = select.select([stream.fd], [], [], 2.0)
    assert readable == [stream.fd]


def _fd_readable(stream, timeout: float) -> bool:
    readable, _, _ = select.select([stream.fd], [], [], timeout)
    return readable == [stream.fd]


def test_stream_fd_tracks_ring_contents(make_stream, queue) -> None:
    """fd is readable exactly while a heap is queued (or the stream stopped): not on a
    fresh stream, not after the ring was drained.  A live inproc reader keeps the
    stream running, so stopping cannot explain readability."""
    stream = make_stream()
    stream.add_inproc_reader(queue)
    assert not _fd_readable(stream, 0.2), "fd readable on a fresh stream with nothing queued"
    for cnt in (1, 2):
        queue.add_packet(packets_of(data_heap(10, cnt), cnt)[0])
    assert _fd_readable(stream, TIMEOUT)
    assert poll(lambda: stream.ringbuffer.size() == 2)
    assert stream.get_nowait().cnt == 1
    assert _fd_readable(stream, 0), "fd not readable although a heap is still queued"
    assert stream.get_nowait().cnt == 2
    assert not _fd_readable(stream, 0.2), "fd still readable after the ring was drained"
    with pytest.raises(spead2.Empty):
        stream.get_nowait()


def test_stream_subclass(thread_pool) -> None:
    class MyStream(spead2.recv.Stream):
        def __init__(self, pool, **kwargs):
            super().__init__(pool, **kwargs)
            self.extra = 42

    stream = MyStream(thread_pool, ring_config=spead2.recv.RingStreamConfig(heaps=2))
    try:
        assert stream.extra == 42
        stream.add_buffer_reader(send_bytes([data_heap(10)]))
        heaps = drain(stream)
        assert [h.cnt for h in heaps] == [1]
    finally:
        run_in_thread(stream.stop)


# --------------------------------------------------------------------------
# §4.6 get / get_nowait / iteration; §4.5 start / stop
# --------------------------------------------------------------------------


def test_get_nowait_empty_then_stopped(make_stream) -> None:
    stream = make_stream()
    with pytest.raises(spead2.Empty):
        stream.get_nowait()
    stream.stop()
    with pytest.raises(spead2.Stopped):
        stream.get_nowait()
    with pytest.raises(spead2.Stopped):
        get(stream)


def test_get_returns_all_then_stopped(make_stream) -> None:
    stream = feed(make_stream, send_bytes([data_heap(10, i) for i in range(3)]))
    assert [get(stream).cnt for _ in range(3)] == [1, 2, 3]
    with pytest.raises(spead2.Stopped):
        get(stream)
    with pytest.raises(spead2.Stopped):
        stream.get_nowait()


def test_get_nowait_after_stop_drains(make_stream) -> None:
    stream = feed(make_stream, send_bytes([data_heap(10, i) for i in range(3)]))
    assert poll(lambda: stream.ringbuffer.size() == 3)
    stream.stop()
    assert [stream.get_nowait().cnt for _ in range(3)] == [1, 2, 3]
    with pytest.raises(spead2.Stopped):
        stream.get_nowait()


def test_get_blocks_until_data(make_stream) -> None:
    stream = make_stream(config=spead2.recv.StreamConfig(explicit_start=True))
    stream.add_buffer_reader(send_bytes([data_heap(10)]))
    result = {}

    def consumer():
        result["heap"] = stream.get()

    thread = threading.Thread(target=consumer, daemon=True)
    thread.start()
    time.sleep(0.2)
    assert thread.is_alive(), "get() returned before any data was available"
    stream.start()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert result["heap"].cnt == 1


def test_get_released_by_stop(make_stream) -> None:
    stream = make_stream()
    errors = []

    def consumer():
        try:
            stream.get()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=consumer, daemon=True)
    thread.start()
    time.sleep(0.1)
    run_in_thread(stream.stop)
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "get() was not released by stop()"
    assert len(errors) == 1 and isinstance(errors[0], spead2.Stopped)


def test_iteration(make_stream) -> None:
    stream = feed(make_stream, send_bytes([data_heap(10, i) for i in range(4)]))
    assert iter(stream) is stream
    heaps = drain(stream)
    assert [h.cnt for h in heaps] == [1, 2, 3, 4]
    assert all(type(h) is spead2.recv.Heap for h in heaps)
    with pytest.raises(StopIteration):
        next(stream)


def test_stop_idempotent(make_stream) -> None:
    stream = make_stream()
    run_in_thread(stream.stop)
    run_in_thread(stream.stop)
    stream = feed(make_stream, send_bytes([data_heap(10)]))
    drain(stream)
    run_in_thread(stream.stop)
    run_in_thread(stream.stop)


def test_explicit_start(make_stream) -> None:
    stream = make_stream(config=spead2.recv.StreamConfig(explicit_start=True))
    stream.add_buffer_reader(send_bytes([data_heap(10, i) for i in range(3)]))
    time.sleep(0.2)
    with pytest.raises(spead2.Empty):
        stream.get_nowait()
    assert stream.stats["packets"] == 0
    stream.start()
    heaps = drain(stream)
    assert [h.cnt for h in heaps] == [1, 2, 3]
    stream.start()  # harmless when repeated


def test_add_reader_after_explicit_start(make_stream) -> None:
    stream = make_stream(config=spead2.recv.StreamConfig(explicit_start=True))
    stream.start()
    stream.start()
    with pytest.raises(RuntimeError) as info:
        stream.add_buffer_reader(send_bytes([data_heap(10)]))
    assert str(info.value) == "Cannot add readers after explicit start"


def test_start_without_explicit_start_is_noop(make_stream) -> None:
    stream = make_stream()
    stream.start()
    stream.start()
    stream.add_buffer_reader(send_bytes([data_heap(10)]))  # still allowed
    assert [h.cnt for h in drain(stream)] == [1]


def test_add_reader_to_stopped_stream(make_stream) -> None:
    stream = make_stream()
    stream.stop()
    stream.add_buffer_reader(send_bytes([data_heap(10)]))  # silently ignored
    with pytest.raises(spead2.Stopped):
        get(stream)
    assert stream.stats["packets"] == 0
    assert stream.stats["heaps"] == 0


def test_add_reader_after_buffer_end(make_stream) -> None:
    # The end of a buffer stops the stream; later readers are ignored.
    stream = feed(make_stream, send_bytes([data_heap(10)]))
    assert [h.cnt for h in drain(stream)] == [1]
    stream.add_buffer_reader(send_bytes([data_heap(10)], cnts=[5]))
    with pytest.raises(spead2.Stopped):
        get(stream)
    assert stream.stats["packets"] == 1


# --------------------------------------------------------------------------
# §4.5 add_buffer_reader
# --------------------------------------------------------------------------


def test_add_buffer_reader_non_contiguous(make_stream) -> None:
    data = send_bytes([data_heap(10)])
    arr = np.frombuffer(data * 2, dtype=np.uint8)[::2]
    assert not arr.flags.c_contiguous
    stream = make_stream()
    with pytest.raises(ValueError) as info:
        stream.add_buffer_reader(arr)
    assert str(info.value) == "ndarray is not C-contiguous"


@pytest.mark.parametrize("bad", ["text", 5, None, [1, 2]])
def test_add_buffer_reader_not_buffer(make_stream, bad) -> None:
    with pytest.raises(TypeError):
        make_stream().add_buffer_reader(bad)


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "numpy"])
def test_add_buffer_reader_buffer_types(make_stream, kind) -> None:
    data = send_bytes([data_heap(300, 1), data_heap(20, 2)])
    buf = {
        "bytes": data,
        "bytearray": bytearray(data),
        "memoryview": memoryview(data),
        "numpy": np.frombuffer(data, np.uint8).copy(),
    }[kind]
    stream = make_stream()
    stream.add_buffer_reader(buffer=buf)
    del buf
    gc.collect()
    heaps = drain(stream)
    assert [h.cnt for h in heaps] == [1, 2]
    assert [bytes(h.get_items()[0]) for h in heaps] == [pattern(300, 1), pattern(20, 2)]


def test_add_buffer_reader_trailing_garbage(make_stream) -> None:
    data = send_bytes([data_heap(10, i) for i in range(2)])
    stream = feed(make_stream, data + b"\xff" * 20 + send_bytes([data_heap(10)], cnts=[9]))
    assert [h.cnt for h in drain(stream)] == [1, 2]


def test_add_buffer_reader_flushes_partial_heap(make_stream) -> None:
    # Buffer ends in the middle of heap 2: it is flushed (dropped: contiguous_only).
    packets = packets_of(data_heap(3000), 2)
    assert len(packets) == 3
    data = send_bytes([data_heap(10)]) + packets[0]
    stream = feed(make_stream, data)
    assert [h.cnt for h in drain(stream)] == [1]
    run_in_thread(stream.stop)
    assert stream.stats["incomplete_heaps_flushed"] == 1


# --------------------------------------------------------------------------
# §4.7 Heap / RawItem
# --------------------------------------------------------------------------


def _item_group_stream_heap(make_stream, **config):
    stream = feed(make_stream, send_bytes([item_group_heap()]), config=spead2.recv.StreamConfig(**config))
    (heap,) = drain(stream)
    return stream, heap


def test_heap_items(make_stream) -> None:
    _, heap = _item_group_stream_heap(make_stream)
    assert type(heap) is spead2.recv.Heap
    assert isinstance(heap, spead2._spead2.recv.HeapBase)
    assert heap.cnt == 1
    items = heap.get_items()
    assert sorted(item.id for item in items) == [0x1000, 0x1001]  # descriptors excluded
    by_id = {item.id: item for item in items}
    a, b = by_id[0x1000], by_id[0x1001]
    assert a.is_immediate is False
    assert bytes(a) == bytes(range(100))
    assert b.is_immediate is True
    assert b.immediate_value == 0x12345678
    assert bytes(b) == (0x12345678).to_bytes(5, "big")
    assert type(a) is spead2._spead2.recv.RawItem
    with pytest.raises(AttributeError):
        a.id = 5
    with pytest.raises(AttributeError):
        b.is_immediate = False
    with pytest.raises(AttributeError):
        b.immediate_value = 1
    with pytest.raises(AttributeError):
        heap.cnt = 5


def test_heap_descriptors(make_stream) -> None:
    _, heap = _item_group_stream_heap(make_stream)
    descriptors = heap.get_descriptors()
    assert all(type(d) is spead2._spead2.RawDescriptor for d in descriptors)
    assert [(d.id, d.name) for d in descriptors] == [(0x1000, b"a"), (0x1001, b"b")]
    assert descriptors[1].format == [("u", 32)]
    assert descriptors[1].shape == []


class RawOnly:
    """Stands in for a Descriptor whose to_raw gives what Descriptor would refuse to."""

    def __init__(self, raw) -> None:
        self.raw = raw

    def to_raw(self, flavour):
        return self.raw


def test_heap_descriptor_non_ascii_format_code(make_stream) -> None:
    # A format code is any byte on the wire; 0x91 used to make the format
    # unreadable (UnicodeDecodeError) instead of an illegal format of one item.
    bad = spead2._spead2.RawDescriptor()
    bad.id = 0x1001
    bad.name = b"bad"
    bad.format = [("\x91", 8)]
    heap = spead2.send.Heap()
    heap.add_descriptor(spead2.Descriptor(0x1000, "good", "", shape=(), format=[("u", 8)]))
    heap.add_descriptor(RawOnly(bad))
    (received,) = drain(feed(make_stream, send_bytes([heap])))
    descriptors = received.get_descriptors()
    assert [(d.name, d.format) for d in descriptors] == [(b"good", [("u", 8)]), (b"bad", [("\x91", 8)])]
    group = spead2.ItemGroup()
    with pytest.raises(ValueError, match="^illegal format \\(\x91, 8\\)$"):
        group.update(received)
    assert list(group.keys()) == ["good"]  # earlier descriptors stay applied


def test_heap_flavour(make_stream) -> None:
    flavour = spead2.Flavour(4, 64, 48)
    data = send_bytes([data_heap(10, flavour=flavour)])
    stream = feed(make_stream, data, config=spead2.recv.StreamConfig(bug_compat=spead2.BUG_COMPAT_SHAPE_BIT_1))
    (heap,) = drain(stream)
    assert heap.flavour == spead2.Flavour(4, 64, 48, spead2.BUG_COMPAT_SHAPE_BIT_1)
    assert heap.flavour.heap_address_bits == 48


def test_heap_immediate_48_bit(make_stream) -> None:
    heap = spead2.send.Heap(spead2.Flavour(4, 64, 48))
    heap.add_item(DuckItem(0x1001, b"\x01\x02\x03", immediate=True))
    stream = feed(make_stream, send_bytes([heap]))
    (received,) = drain(stream)
    (item,) = received.get_items()
    assert item.is_immediate
    assert item.immediate_value == 0x010203
    assert bytes(item) == b"\x00\x00\x00\x01\x02\x03"


def test_no_constructors() -> None:
    for cls in (spead2.recv.Heap, spead2.recv.IncompleteHeap, spead2._spead2.recv.RawItem,
                spead2._spead2.recv.HeapBase):
        with pytest.raises(TypeError):
            cls()


def test_raw_item_buffer_protocol(make_stream) -> None:
    _, heap = _item_group_stream_heap(make_stream)
    item = {i.id: i for i in heap.get_items()}[0x1000]
    mv = memoryview(item)
    assert mv.format == "B"
    assert mv.itemsize == 1
    assert mv.ndim == 1
    assert mv.shape == (100,)
    assert mv.readonly is False
    assert mv.tobytes() == bytes(range(100))
    assert bytearray(item) == bytearray(range(100))
    arr1 = np.asarray(item)
    arr2 = np.asarray(item)
    assert arr1.dtype == np.uint8
    assert arr1.shape == (100,)
    np.testing.assert_array_equal(arr1, np.arange(100, dtype=np.uint8))
    assert np.shares_memory(arr1, arr2), "numpy.asarray(RawItem) must not copy"
    assert np.shares_memory(arr1, np.asarray(mv))
    # A second get_items() refers to the same payload.
    again = {i.id: i for i in heap.get_items()}[0x1000]
    assert np.shares_memory(arr1, np.asarray(again))


def test_raw_item_immediate_buffer(make_stream) -> None:
    _, heap = _item_group_stream_heap(make_stream)
    item = {i.id: i for i in heap.get_items()}[0x1001]
    mv = memoryview(item)
    assert mv.format == "B"
    assert mv.shape == (5,)
    np.testing.assert_array_equal(np.asarray(item), np.array([0, 0x12, 0x34, 0x56, 0x78], np.uint8))


def test_raw_item_keeps_heap_alive(thread_pool) -> None:
    stream = spead2.recv.Stream(thread_pool)
    stream.add_buffer_reader(send_bytes([data_heap(5000, 3)]))
    (heap,) = drain(stream)
    (item,) = heap.get_items()
    arr = np.asarray(item)
    mv = memoryview(item)
    run_in_thread(stream.stop)
    del stream, heap, item
    gc.collect()
    # Churn memory so that freed payload would likely be reused/overwritten.
    for seed in range(5):
        other = spead2.recv.Stream(thread_pool)
        other.add_buffer_reader(send_bytes([data_heap(5000, 100 + seed)]))
        drain(other)
        run_in_thread(other.stop)
        del other
        gc.collect()
    assert arr.tobytes() == pattern(5000, 3)
    assert mv.tobytes() == pattern(5000, 3)


def test_heap_start_end_of_stream(make_stream) -> None:
    ig = spead2.send.ItemGroup()
    reissue = spead2.send.Heap()
    reissue.add_item(DuckItem(spead2.STREAM_CTRL_ID, b"\x01", immediate=True))
    heaps = [ig.get_start(), data_heap(10), reissue, ig.get_end()]
    stream = feed(make_stream, send_bytes(heaps), config=spead2.recv.StreamConfig(stop_on_stop_item=False))
    got = drain(stream)
    assert [h.cnt for h in got] == [1, 2, 3, 4]
    assert [(h.is_start_of_stream(), h.is_end_of_stream()) for h in got] == [
        (True, False), (False, False), (False, False), (False, True)
    ]
    ctrl = [i for i in got[0].get_items() if i.id == spead2.STREAM_CTRL_ID]
    assert len(ctrl) == 1 and ctrl[0].is_immediate and ctrl[0].immediate_value == spead2.CTRL_STREAM_START
    reissue_items = got[2].get_items()
    assert [(i.id, i.immediate_value) for i in reissue_items] == [(spead2.STREAM_CTRL_ID, 1)]


def test_stop_on_stop_item(make_stream) -> None:
    end = spead2.send.ItemGroup().get_end()
    data = send_bytes([data_heap(10), end, data_heap(10)])
    stream = feed(make_stream, data)
    got = drain(stream)
    assert [h.cnt for h in got] == [1]
    run_in_thread(stream.stop)
    assert stream.stats["heaps"] == 1  # the stop heap is not counted
    assert stream.stats["packets"] >= 2


# --------------------------------------------------------------------------
# §4.3 / §4.7 / §4.8 incomplete heaps
# --------------------------------------------------------------------------


def _incomplete_data():
    """Heap 1 (200-byte item + start item) with its middle packet removed, then heap 2."""
    heap = data_heap(200, 5)
    heap.add_start()
    packets = packets_of(heap, 1, 128)
    offsets = [int.from_bytes(p[8 + 2 * 8 + 3 : 8 + 3 * 8], "big") for p in packets]
    assert offsets == [0, 72, 160]
    return packets[0] + packets[2] + packets_of(data_heap(10, 6), 2, 128)[0]


@pytest.mark.parametrize(
    "out_of_order,keep,received,ranges",
    [
        (False, True, 72, [(0, 72)]),
        (False, False, 72, []),
        (True, True, 112, [(0, 72), (160, 200)]),
        (True, False, 112, []),
    ],
)
def test_incomplete_heap(make_stream, out_of_order, keep, received, ranges) -> None:
    stream = feed(
        make_stream,
        _incomplete_data(),
        config=spead2.recv.StreamConfig(allow_out_of_order=out_of_order),
        ring_config=spead2.recv.RingStreamConfig(contiguous_only=False, incomplete_keep_payload_ranges=keep),
    )
    got = drain(stream)
    assert len(got) == 2
    by_cnt = {h.cnt: h for h in got}
    assert type(by_cnt[2]) is spead2.recv.Heap
    incomplete = by_cnt[1]
    assert type(incomplete) is spead2.recv.IncompleteHeap
    assert isinstance(incomplete, spead2._spead2.recv.HeapBase)
    assert incomplete.heap_length == 200
    assert incomplete.received_length == received
    assert incomplete.payload_ranges == ranges
    # Only immediate items are available for an incomplete heap.
    items = incomplete.get_items()
    assert [(i.id, i.is_immediate, i.immediate_value) for i in items] == [
        (spead2.STREAM_CTRL_ID, True, spead2.CTRL_STREAM_START)
    ]
    assert incomplete.is_start_of_stream() is True
    assert incomplete.flavour == spead2.Flavour()
    run_in_thread(stream.stop)
    assert stream.stats["incomplete_heaps_flushed"] == 1
    assert stream.stats["heaps"] == 2


def test_incomplete_heap_dropped_when_contiguous_only(make_stream) -> None:
    stream = feed(make_stream, _incomplete_data(), config=spead2.recv.StreamConfig(allow_out_of_order=True))
    got = drain(stream)
    assert [(type(h), h.cnt) for h in got] == [(spead2.recv.Heap, 2)]
    run_in_thread(stream.stop)
    assert stream.stats["incomplete_heaps_flushed"] == 1


def three_packets(cnt: int) -> list[bytes]:
    """Heap ``cnt`` (200-byte item seeded with ``cnt``) as packets at offsets 0, 80, 168."""
    packets = packets_of(data_heap(200, cnt), cnt, 128)
    assert len(packets) == 3
    return packets


def _three_packet_heaps():
    return three_packets(1), three_packets(2)


def _kinds(heaps) -> list[tuple[str, int]]:
    return [(type(h).__name__, h.cnt) for h in heaps]


def test_eviction_by_max_heaps(make_stream) -> None:
    a, b = _three_packet_heaps()
    # With one live heap per substream, the first packet of heap 2 evicts heap 1.
    data = a[0] + b[0] + b[1] + b[2]
    stream = feed(
        make_stream, data,
        config=spead2.recv.StreamConfig(max_heaps=1),
        ring_config=spead2.recv.RingStreamConfig(contiguous_only=False),
    )
    got = drain(stream)
    assert [(type(h).__name__, h.cnt) for h in got] == [("IncompleteHeap", 1), ("Heap", 2)]
    assert got[0].received_length == 80
    assert got[0].heap_length == 200
    assert bytes(got[1].get_items()[0]) == pattern(200, 2)
    run_in_thread(stream.stop)
    assert stream.stats["incomplete_heaps_evicted"] == 1


@pytest.mark.parametrize(
    "substreams,other,expected,evicted",
    [
        (2, 2, [("Heap", 1), ("Heap", 2)], 0),
        (2, 3, [("IncompleteHeap", 1), ("Heap", 3)], 1),
        (1, 2, [("IncompleteHeap", 1), ("Heap", 2)], 1),
    ],
    ids=["different-substreams", "same-substream", "one-substream"],
)
def test_max_heaps_per_substream(make_stream, substreams, other, expected, evicted) -> None:
    """max_heaps limits live heaps per substream (cnt % substreams): with one slot each,
    interleaved heaps 1 and 2 coexist in two substreams, but 1 and 3 (same substream)
    or 1 and 2 (a single substream) compete and the first is evicted."""
    a, b = three_packets(1), three_packets(other)
    data = b"".join(p for pair in zip(a, b) for p in pair)
    stream = feed(
        make_stream, data,
        config=spead2.recv.StreamConfig(max_heaps=1, substreams=substreams),
        ring_config=spead2.recv.RingStreamConfig(contiguous_only=False),
    )
    got = drain(stream)
    assert _kinds(got) == expected
    complete = [h for h in got if type(h) is spead2.recv.Heap]
    assert [bytes(h.get_items()[0]) for h in complete] == [pattern(200, h.cnt) for h in complete]
    if evicted:
        assert got[0].received_length == 80  # evicted after its first packet
    run_in_thread(stream.stop)
    assert stream.stats["incomplete_heaps_evicted"] == evicted


def test_eviction_takes_oldest_heap(make_stream) -> None:
    """With max_heaps=2, starting a third heap evicts the one started first (cnt 1),
    not a more recent one: heaps 2 and 3 still complete."""
    a, b, c = (three_packets(cnt) for cnt in (1, 2, 3))
    data = b"".join([a[0], b[0], c[0], b[1], c[1], b[2], c[2]])
    stream = feed(
        make_stream, data,
        config=spead2.recv.StreamConfig(max_heaps=2),
        ring_config=spead2.recv.RingStreamConfig(contiguous_only=False),
    )
    got = drain(stream)
    assert _kinds(got) == [("IncompleteHeap", 1), ("Heap", 2), ("Heap", 3)]
    assert (got[0].received_length, got[0].heap_length) == (80, 200)
    assert [bytes(h.get_items()[0]) for h in got[1:]] == [pattern(200, 2), pattern(200, 3)]
    run_in_thread(stream.stop)
    assert stream.stats["incomplete_heaps_evicted"] == 1


def test_completion_order(make_stream) -> None:
    a, b = _three_packet_heaps()
    data = a[0] + b[0] + b[1] + b[2] + a[1] + a[2]
    stream = feed(make_stream, data, config=spead2.recv.StreamConfig(max_heaps=2))
    got = drain(stream)
    assert [h.cnt for h in got] == [2, 1]
    assert [bytes(h.get_items()[0]) for h in got] == [pattern(200, 2), pattern(200, 1)]


# --------------------------------------------------------------------------
# §4.8 full ring buffer and stop()
# --------------------------------------------------------------------------


def test_full_ring_blocks_worker(make_stream) -> None:
    stream = feed(
        make_stream,
        send_bytes([data_heap(10, i) for i in range(5)]),
        ring_config=spead2.recv.RingStreamConfig(heaps=1),
    )
    cnts = []
    sizes = []
    for _ in range(5):
        time.sleep(0.15)  # slow consumer
        sizes.append(stream.ringbuffer.size())
        cnts.append(get(stream).cnt)
    with pytest.raises(spead2.Stopped):
        get(stream)
    assert cnts == [1, 2, 3, 4, 5]
    assert sizes == [1, 1, 1, 1, 1]
    stats = stream.stats
    assert stats["heaps"] == 5
    # Heaps 2..5 each found the ring full.
    assert stats["worker_blocked"] == 4


@pytest.mark.parametrize("source", ["buffer", "inproc", "inproc-stopped"])
def test_stop_while_worker_blocked(make_stream, spead2_log, source) -> None:
    """stop() on a stream blocked on its full ring still accounts for every heap that
    was already available (10 here, as the reference counts for a buffer): the ring's
    4 heaps stay retrievable; the rest are counted and dropped with an INFO message."""
    data = send_bytes([data_heap(100, i) for i in range(10)])
    stream = make_stream(ring_config=spead2.recv.RingStreamConfig(heaps=4))
    if source == "buffer":
        stream.add_buffer_reader(data)
    else:
        queue = spead2.InprocQueue()
        for i in range(10):
            queue.add_packet(data[i * len(data) // 10 : (i + 1) * len(data) // 10])
        if source == "inproc-stopped":
            queue.stop()
        stream.add_inproc_reader(queue)
    assert poll(lambda: stream.stats["worker_blocked"] >= 1), "worker never blocked on the full ring"
    assert stream.ringbuffer.size() == 4
    run_in_thread(stream.stop, timeout=2.0)
    stats = stream.stats
    assert stats["heaps"] == 10
    assert stats["packets"] == 10
    assert stats["incomplete_heaps_flushed"] == stats["incomplete_heaps_evicted"] == 0
    assert [h.cnt for h in drain(stream)] == [1, 2, 3, 4]
    dropped = [f"dropped heap {cnt} due to external stop" for cnt in range(5, 11)]
    assert poll(lambda: all(m in spead2_log.messages() for m in dropped)), spead2_log.messages()


def test_stop_on_blocked_inproc_ignores_later_packets(make_stream) -> None:
    """Packets queued after stop() are not read: only what was available is counted."""
    data = send_bytes([data_heap(100, i) for i in range(12)])
    packets = [data[i * len(data) // 12 : (i + 1) * len(data) // 12] for i in range(12)]
    queue = spead2.InprocQueue()
    for packet in packets[:6]:
        queue.add_packet(packet)
    stream = make_stream(ring_config=spead2.recv.RingStreamConfig(heaps=4))
    stream.add_inproc_reader(queue)
    assert poll(lambda: stream.stats["worker_blocked"] >= 1), "worker never blocked on the full ring"
    run_in_thread(stream.stop, timeout=2.0)
    for packet in packets[6:]:
        queue.add_packet(packet)
    time.sleep(0.1)
    assert stream.stats["heaps"] == 6
    assert len(drain(stream)) == 4
    queue.stop()


# --------------------------------------------------------------------------
# §1.6 allocators used by a receive stream
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_allocator",
    [
        lambda tp: spead2.MemoryPool(1, 4096, 4, 2),
        lambda tp: spead2.MemoryPool(tp, 1, 4096, 8, 4, 2),
        lambda tp: spead2.MemoryPool(1, 4096, 4, 2, spead2.MmapAllocator()),
        lambda tp: spead2.MmapAllocator(),
        lambda tp: spead2.MemoryPool(10, 100, 4, 2),  # most heaps bypass the pool
    ],
    ids=["pool", "pool-thread-pool", "pool-mmap", "mmap", "pool-bypass"],
)
def test_memory_allocator_delivers_data(make_stream, thread_pool, make_allocator) -> None:
    allocator = make_allocator(thread_pool)
    sizes = [2000, 50, 3000, 4000, 1, 2500, 10000]
    data = send_bytes([data_heap(size, i) for i, size in enumerate(sizes)])
    config = spead2.recv.StreamConfig(memory_allocator=allocator)
    stream = feed(make_stream, data, config=config)
    got = drain(stream)
    assert [h.cnt for h in got] == list(range(1, len(sizes) + 1))
    payloads = [bytes(h.get_items()[0]) for h in got]
    assert payloads == [pattern(size, i) for i, size in enumerate(sizes)]
    assert stream.config.memory_allocator is allocator


def test_memory_pool_warn_on_empty(make_stream, spead2_log) -> None:
    pool = spead2.MemoryPool(1, 4096, 4, 0)
    data = send_bytes([data_heap(2000, i) for i in range(2)])
    stream = feed(make_stream, data, config=spead2.recv.StreamConfig(memory_allocator=pool))
    assert len(drain(stream)) == 2
    regex = re.compile(r"memory pool is empty when allocating \d+ bytes")
    assert poll(lambda: any(regex.fullmatch(m) for m in spead2_log.messages()), timeout=1.0), (
        f"no 'memory pool is empty' warning in {spead2_log.messages()!r}"
    )


def test_memory_pool_no_warning_when_disabled(make_stream, spead2_log) -> None:
    pool = spead2.MemoryPool(1, 4096, 4, 0)
    pool.warn_on_empty = False
    data = send_bytes([data_heap(2000, i) for i in range(2)])
    stream = feed(make_stream, data, config=spead2.recv.StreamConfig(memory_allocator=pool))
    assert len(drain(stream)) == 2
    support.settle_log()
    assert not any("memory pool is empty" in m for m in spead2_log.messages())


@pytest.mark.parametrize("allow,cnts,rejected,logged", [(False, [2], 1, 1), (True, [2, 1], 0, 0)])
def test_unsized_packet_rejection_logged(make_stream, spead2_log, allow, cnts, rejected, logged) -> None:
    """allow_unsized_heaps=False refuses a packet without HEAP_LENGTH (counted in
    rejected_packets) and logs the INFO message of spec §1.15 on logger "spead2";
    when allowed, the same packet is delivered (flushed at the end) without that log."""
    unsized = support.raw_packet(1, pattern(8), 0, None, [0x1000 << 40])  # item 0x1000 at address 0
    data = unsized + send_bytes([data_heap(10, 2)], cnts=[2])
    stream = feed(make_stream, data, config=spead2.recv.StreamConfig(allow_unsized_heaps=allow))
    assert [h.cnt for h in drain(stream)] == cnts
    assert stream.stats["rejected_packets"] == rejected
    support.settle_log()
    message = "packet rejected because it has no HEAP_LEN"
    records = [r for r in spead2_log.snapshot() if r.getMessage() == message]
    assert [(r.name, r.levelno) for r in records] == [("spead2", logging.INFO)] * logged


@pytest.mark.parametrize("memcpy", [spead2.MEMCPY_STD, spead2.MEMCPY_NONTEMPORAL], ids=["std", "nontemporal"])
def test_memcpy_delivers_data(make_stream, memcpy) -> None:
    """Both copy routines reproduce the payload exactly, whatever the alignment and
    length (the non-temporal one copies an unaligned head and tail separately)."""
    sizes = [1, 15, 16, 17, 63, 64, 65, 127, 1000, 100_007]
    data = send_bytes([data_heap(size, i) for i, size in enumerate(sizes)])
    stream = feed(make_stream, data, config=spead2.recv.StreamConfig(memcpy=memcpy))
    got = drain(stream)
    assert [bytes(h.get_items()[0]) for h in got] == [pattern(size, i) for i, size in enumerate(sizes)]
