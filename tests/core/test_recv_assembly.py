"""Heap assembly rules that are easy to get wrong, built from hand-made packets."""

from __future__ import annotations

import spead2
import spead2.recv

# conftest.py puts this directory on sys.path (pytest runs with --import-mode=importlib).
from support import raw_packet as packet


def receive(data: bytes, **config) -> tuple[list, spead2.recv.StreamStats]:
    stream = spead2.recv.Stream(spead2.ThreadPool(), spead2.recv.StreamConfig(**config),
                                spead2.recv.RingStreamConfig(contiguous_only=False))
    stream.add_buffer_reader(data)
    heaps = list(stream)
    return heaps, stream.stats


def test_unsized_packet_cannot_overrun_known_heap_length():
    """Found by fuzzing: a packet without HEAP_LENGTH whose payload ends past the length
    an earlier packet gave must be rejected, not copied past the heap's memory."""
    data = packet(1, b"\x11", 0, 2) + packet(1, b"\x22\x22", 1, None)
    heaps, stats = receive(data)
    assert stats["rejected_packets"] == 1
    assert [type(h).__name__ for h in heaps] == ["IncompleteHeap"]
    assert (heaps[0].heap_length, heaps[0].received_length) == (2, 1)


def test_unsized_packet_within_known_heap_length_completes():
    data = packet(1, b"\x11", 0, 3) + packet(1, b"\x22\x22", 1, None, [(0x1000 << 40)])
    heaps, stats = receive(data)
    assert stats["rejected_packets"] == 0
    assert type(heaps[0]).__name__ == "Heap"
    assert bytes(heaps[0].get_items()[0]) == b"\x11\x22\x22"


def test_heap_length_learnt_late_must_cover_payload():
    """An unsized start, then a HEAP_LENGTH smaller than what already arrived: refused."""
    data = packet(1, b"\x11\x11", 2, None) + packet(1, b"\x22", 0, 3)
    heaps, stats = receive(data, allow_out_of_order=True)
    assert stats["rejected_packets"] == 1
    assert [(type(h).__name__, h.received_length) for h in heaps] == [("IncompleteHeap", 2)]


def test_heap_length_conflict_rejected():
    data = packet(1, b"\x11", 0, 3) + packet(1, b"\x22", 1, 4) + packet(1, b"\x33\x33", 1, 3)
    heaps, stats = receive(data, allow_out_of_order=True)
    assert stats["rejected_packets"] == 1
    assert type(heaps[0]).__name__ == "Heap"


def _beyond_length_then_good(**config):
    """Heap 1 is one packet whose item address (5) lies beyond its HEAP_LENGTH (2)."""
    data = packet(1, b"\x11\x11", 0, 2, [(0x1000 << 40) | 5]) + packet(2, b"\x22\x22", 0, 2, [0x1000 << 40])
    return receive(data, **config)


def test_single_packet_heap_beyond_length_is_flushed_once():
    """A one-packet heap that is not complete stays live like any other and is
    counted once: here flushed at the end of the data (as the reference counts it)."""
    heaps, stats = _beyond_length_then_good()
    assert [(type(h).__name__, h.cnt) for h in heaps] == [("Heap", 2), ("IncompleteHeap", 1)]
    assert (stats["heaps"], stats["incomplete_heaps_flushed"], stats["incomplete_heaps_evicted"]) == (2, 1, 0)
    assert stats["single_packet_heaps"] == 2


def test_single_packet_heap_beyond_length_is_evicted_once():
    heaps, stats = _beyond_length_then_good(max_heaps=1)
    assert [(type(h).__name__, h.cnt) for h in heaps] == [("IncompleteHeap", 1), ("Heap", 2)]
    assert (stats["heaps"], stats["incomplete_heaps_flushed"], stats["incomplete_heaps_evicted"]) == (2, 0, 1)
