"""Tests for spead2.send.HeapGenerator and spead2.send.ItemGroup.

The delta logic is checked with :class:`RecordingHeap`, a duck-typed stand-in
for :class:`spead2.send.Heap` that records what is added. Tests in
``TestNativeHeaps`` use the real native heap, packet generator and streams.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import spead2
import spead2.send


class RecordingHeap:
    """Records ``('D', id)`` for descriptors and ``('V', id, bytes)`` for values."""

    def __init__(self, flavour: spead2.Flavour | None = None) -> None:
        self.flavour = spead2.Flavour() if flavour is None else flavour
        self.entries: list[tuple] = []

    def add_descriptor(self, descriptor) -> None:
        descriptor.to_raw(self.flavour)  # as the native heap does
        self.entries.append(("D", descriptor.id))

    def add_item(self, item) -> None:
        item.allow_immediate()
        self.entries.append(("V", item.id, memoryview(item.to_buffer()).tobytes()))


def add(gen: spead2.send.HeapGenerator, descriptors: str = "stale", data: str = "stale") -> list:
    heap = RecordingHeap()
    assert gen.add_to_heap(heap, descriptors, data) is heap
    return heap.entries


def make_group(cls=spead2.send.ItemGroup, **kwargs):
    ig = cls(**kwargs)
    ig.add_item(0x1000, "a", "", (), format=[("u", 8)], value=1)
    ig.add_item(0x1001, "b", "", (None,), format=[("c", 8)], value="xy")
    return ig


class TestDeltas:
    def test_first_heap_then_nothing(self) -> None:
        ig = make_group()
        assert add(ig) == [("D", 0x1000), ("V", 0x1000, b"\x01"), ("D", 0x1001), ("V", 0x1001, b"xy")]
        assert add(ig) == []
        assert add(ig) == []

    def test_value_change(self) -> None:
        ig = make_group()
        add(ig)
        ig["b"].value = "z"
        assert add(ig) == [("V", 0x1001, b"z")]
        assert add(ig) == []

    def test_same_value_reassigned_is_resent(self) -> None:
        ig = make_group()
        add(ig)
        ig["a"].value = ig["a"].value
        assert add(ig) == [("V", 0x1000, b"\x01")]

    def test_in_place_modification_not_detected(self) -> None:
        ig = spead2.send.ItemGroup()
        value = np.zeros(3, np.uint8)
        ig.add_item(0x1000, "a", "", (3,), np.uint8, value=value)
        add(ig)
        value[0] = 5
        assert add(ig) == []
        assert add(ig, data="all") == [("V", 0x1000, b"\x05\x00\x00")]
        ig["a"].version += 1
        assert add(ig) == [("V", 0x1000, b"\x05\x00\x00")]

    def test_none_value_not_sent(self) -> None:
        ig = spead2.send.ItemGroup()
        ig.add_item(0x1000, "a", "", (), format=[("u", 8)])
        assert add(ig) == [("D", 0x1000)]
        assert add(ig, "all", "all") == [("D", 0x1000)]
        ig["a"].value = 3
        assert add(ig) == [("V", 0x1000, b"\x03")]

    def test_new_item(self) -> None:
        ig = make_group()
        add(ig)
        ig.add_item(0x1002, "c", "", (), format=[("u", 16)], value=2)
        assert add(ig) == [("D", 0x1002), ("V", 0x1002, b"\x00\x02")]

    def test_all(self) -> None:
        ig = make_group()
        add(ig)
        assert add(ig, descriptors="all") == [("D", 0x1000), ("D", 0x1001)]
        assert add(ig, data="all") == [("V", 0x1000, b"\x01"), ("V", 0x1001, b"xy")]
        assert add(ig, "all", "all") == [
            ("D", 0x1000),
            ("V", 0x1000, b"\x01"),
            ("D", 0x1001),
            ("V", 0x1001, b"xy"),
        ]

    def test_none(self) -> None:
        ig = make_group()
        assert add(ig, "none", "none") == []
        # Nothing was recorded as sent
        assert add(ig, "none", "stale") == [("V", 0x1000, b"\x01"), ("V", 0x1001, b"xy")]
        assert add(ig, "stale", "none") == [("D", 0x1000), ("D", 0x1001)]
        assert add(ig) == []

    def test_all_records_state(self) -> None:
        ig = make_group()
        add(ig, "all", "all")
        assert add(ig) == []

    def test_separate_item_group(self) -> None:
        ig = make_group(spead2.ItemGroup)
        gen = spead2.send.HeapGenerator(ig)
        assert add(gen) == [("D", 0x1000), ("V", 0x1000, b"\x01"), ("D", 0x1001), ("V", 0x1001, b"xy")]
        assert add(gen) == []
        ig["a"].value = 7
        assert add(gen) == [("V", 0x1000, b"\x07")]
        # Two generators on one group are independent
        gen2 = spead2.send.HeapGenerator(ig)
        assert len(add(gen2)) == 4


class TestDescriptorFrequency:
    def test_frequency_2(self) -> None:
        ig = make_group(descriptor_frequency=2)
        results = [add(ig) for _ in range(6)]
        assert results[0] == [("D", 0x1000), ("V", 0x1000, b"\x01"), ("D", 0x1001), ("V", 0x1001, b"xy")]
        assert results[1] == []
        assert results[2] == [("D", 0x1000), ("D", 0x1001)]
        assert results[3] == []
        assert results[4] == [("D", 0x1000), ("D", 0x1001)]
        assert results[5] == []

    def test_frequency_1(self) -> None:
        ig = make_group(descriptor_frequency=1)
        add(ig)
        for _ in range(3):
            assert add(ig) == [("D", 0x1000), ("D", 0x1001)]

    def test_frequency_counts_calls(self) -> None:
        ig = make_group(descriptor_frequency=3)
        add(ig)  # call 0: sent
        add(ig, "none", "none")  # call 1
        add(ig, "all", "none")  # call 2: descriptors sent again (cnt 2)
        assert add(ig) == []  # call 3
        assert add(ig) == []  # call 4
        assert add(ig) == [("D", 0x1000), ("D", 0x1001)]  # call 5

    def test_frequency_per_item(self) -> None:
        ig = spead2.send.ItemGroup(descriptor_frequency=2)
        ig.add_item(0x1000, "a", "", (), format=[("u", 8)], value=1)
        assert add(ig) == [("D", 0x1000), ("V", 0x1000, b"\x01")]  # call 0
        ig.add_item(0x1001, "b", "", (), format=[("u", 8)], value=2)
        assert add(ig) == [("D", 0x1001), ("V", 0x1001, b"\x02")]  # call 1
        assert add(ig) == [("D", 0x1000)]  # call 2
        assert add(ig) == [("D", 0x1001)]  # call 3

    def test_start_end_do_not_count(self) -> None:
        ig = make_group(descriptor_frequency=2)
        add(ig)
        ig.get_start()
        ig.get_end()
        assert add(ig) == []
        assert add(ig) == [("D", 0x1000), ("D", 0x1001)]


class TestReplacement:
    def test_replacement_detected(self) -> None:
        ig = make_group()
        add(ig)
        old = ig["a"]
        new = ig.add_item(0x1000, "a", "new description", (), format=[("u", 8)], value=9)
        assert ig["a"] is new is not old
        assert add(ig) == [("D", 0x1000), ("V", 0x1000, b"\x09")]
        assert add(ig) == []

    def test_replacement_without_value(self) -> None:
        ig = make_group()
        add(ig)
        ig.add_item(0x1000, "a", "new description", (), format=[("u", 8)])
        assert add(ig) == [("D", 0x1000)]
        ig["a"].value = 1
        assert add(ig) == [("V", 0x1000, b"\x01")]

    def test_replacement_old_item_collected(self) -> None:
        ig = make_group()
        add(ig)
        ig.add_item(0x1000, "a", "other", (), format=[("u", 8)], value=1)
        gc.collect()
        assert add(ig) == [("D", 0x1000), ("V", 0x1000, b"\x01")]

    def test_replacement_resets_version(self) -> None:
        # The new item's version could coincide with the recorded one; the
        # record's version is reset so the value is resent anyway.
        ig = make_group()
        add(ig)
        new = spead2.Item(0x1000, "a", "", (), format=[("u", 8)], value=5)
        new.version = ig["a"].version
        ig._by_id[0x1000] = new
        ig._by_name["a"] = new
        assert add(ig) == [("D", 0x1000), ("V", 0x1000, b"\x05")]

    def test_merge_is_not_replacement(self) -> None:
        ig = make_group()
        add(ig)
        ig.add_item(0x1000, "a", "", (), format=[("u", 8)], value=4)
        assert add(ig) == [("V", 0x1000, b"\x04")]

    def test_no_detection_with_all_or_none(self) -> None:
        ig = make_group()
        add(ig)
        new = spead2.Item(0x1000, "a", "", (), format=[("u", 8)], value=5)
        new.version = ig["a"].version
        ig._by_id[0x1000] = new
        ig._by_name["a"] = new
        # Versions are equal and replacement detection is skipped
        assert add(ig, "none") == []
        assert add(ig, "all") == [("D", 0x1000), ("D", 0x1001)]
        # Detected on the next 'stale' call
        assert add(ig) == [("D", 0x1000), ("V", 0x1000, b"\x05")]

    def test_frequency_precedes_replacement_check(self) -> None:
        ig = make_group(descriptor_frequency=1)
        add(ig)
        new = spead2.Item(0x1000, "a", "", (), format=[("u", 8)], value=5)
        new.version = ig["a"].version
        ig._by_id[0x1000] = new
        ig._by_name["a"] = new
        # Stale by frequency: record not re-pointed, so the equal version
        # means the value is not resent ...
        assert add(ig) == [("D", 0x1000), ("D", 0x1001)]


class TestValidation:
    @pytest.mark.parametrize("value", ["bogus", "ALL", None, ""])
    def test_descriptors(self, value) -> None:
        ig = make_group(descriptor_frequency=2)
        with pytest.raises(ValueError, match=r"^descriptors must be one of 'stale', 'all', 'none'$"):
            ig.add_to_heap(RecordingHeap(), descriptors=value)
        # No state change
        assert len(add(ig)) == 4
        assert add(ig) == []

    @pytest.mark.parametrize("value", ["bogus", "Stale", None])
    def test_data(self, value) -> None:
        ig = make_group()
        with pytest.raises(ValueError, match=r"^data must be one of 'stale', 'all', 'none'$"):
            ig.add_to_heap(RecordingHeap(), data=value)
        assert len(add(ig)) == 4

    def test_descriptors_checked_first(self) -> None:
        ig = make_group()
        with pytest.raises(ValueError, match="descriptors must be"):
            ig.add_to_heap(RecordingHeap(), "bad", "bad")

    def test_get_heap_validation(self) -> None:
        ig = make_group()
        with pytest.raises(ValueError, match="data must be one of"):
            ig.get_heap(data="bad")


class TestSendItemGroup:
    def test_isinstance(self) -> None:
        ig = spead2.send.ItemGroup()
        assert isinstance(ig, spead2.ItemGroup)
        assert isinstance(ig, spead2.send.HeapGenerator)
        assert issubclass(spead2.send.ItemGroup, spead2.ItemGroup)

    def test_no_reference_cycle(self) -> None:
        gc.collect()
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            ig = make_group()
            add(ig)
            ref = weakref.ref(ig)
            del ig
            assert ref() is None
        finally:
            if was_enabled:
                gc.enable()

    def test_item_group_behaviour(self) -> None:
        ig = make_group()
        assert len(ig) == 2
        assert list(ig.keys()) == ["a", "b"]
        assert ig[0x1001].value == "xy"

    def test_positional_args(self) -> None:
        ig = spead2.send.ItemGroup(2, spead2.Flavour(4, 64, 48))
        ig.add_item(0x1000, "a", "", (), format=[("u", 8)], value=1)
        assert len(add(ig)) == 2
        assert add(ig) == []
        assert add(ig) == [("D", 0x1000)]


class TestNativeHeaps:
    """Need the native spead2.send.Heap / PacketGenerator / streams."""

    def test_get_heap_type_and_flavour(self) -> None:
        flavour = spead2.Flavour(4, 64, 48, spead2.BUG_COMPAT_PYSPEAD_0_5_2)
        ig = make_group(flavour=flavour)
        heap = ig.get_heap()
        assert isinstance(heap, spead2.send.Heap)
        assert heap.flavour == flavour
        assert isinstance(ig.get_start(), spead2.send.Heap)
        assert ig.get_end().flavour == flavour
        gen = spead2.send.HeapGenerator(spead2.ItemGroup())
        assert gen.get_heap().flavour == spead2.Flavour()

    def test_get_end_bytes(self) -> None:
        """protocol.md §14: stop heap with cnt 3 (57 bytes)."""
        ig = make_group()
        packets = list(spead2.send.PacketGenerator(ig.get_end(), 3, 1472))
        expected = bytes.fromhex(
            "5304030500000006"
            "8000010000000003"
            "8000020000000001"
            "8000030000000000"
            "8000040000000001"
            "8000060000000002"
            "0000000000000000"
            "00"
        )
        assert packets == [expected]
        # get_end does not change state
        assert len(add(ig)) == 4

    def test_get_start_bytes(self) -> None:
        ig = make_group()
        (packet,) = list(spead2.send.PacketGenerator(ig.get_start(), 1, 1472))
        assert bytes.fromhex("8000060000000000") in packet
        assert len(packet) == 57

    def test_get_heap_bytes(self) -> None:
        ig = spead2.send.ItemGroup()
        ig.add_item(0x1000, "a", "", (), format=[("u", 40)], value=0x0102030405)
        ig.add_item(0x1001, "b", "", (3,), ">u2", value=[1, 2, 3])
        packets = list(spead2.send.PacketGenerator(ig.get_heap(descriptors="none"), 5, 1472))
        expected = bytes.fromhex(
            "5304030500000006"
            "8000010000000005"
            "8000020000000006"
            "8000030000000000"
            "8000040000000006"
            "8010000102030405"
            "0010010000000000"
            "000100020003"
        )
        assert packets == [expected]

    def test_descriptor_bytes(self) -> None:
        """protocol.md §14: descriptor heap for a c8 item."""
        ig = spead2.send.ItemGroup()
        ig.add_item(0x1002, "name", "text", (None,), format=[("c", 8)])
        packets = list(spead2.send.PacketGenerator(ig.get_heap(), 1, 1472))
        expected = bytes.fromhex(
            "5304030500000005"
            "8000010000000001"
            "8000020000000062"
            "8000030000000000"
            "8000040000000062"
            "0000050000000000"
            "5304030500000009"
            "8000010000000001"
            "8000020000000012"
            "8000030000000000"
            "8000040000000012"
            "8000140000001002"
            "0000100000000000"
            "0000110000000004"
            "0000130000000008"
            "000012000000000c"
            "6e616d6574657874"
            "63000008"
            "010000000000"
        )
        assert packets == [expected]

    def test_stream_round_trip(self) -> None:
        import spead2.recv

        send_ig = spead2.send.ItemGroup(descriptor_frequency=3)
        send_ig.add_item(0x1000, "counter", "", (), format=[("u", 40)], value=0)
        send_ig.add_item(0x1001, "data", "", (1024,), np.uint8, value=np.zeros(1024, np.uint8))
        stream = spead2.send.BytesStream(spead2.ThreadPool())
        stream.send_heap(send_ig.get_start())
        for i in range(5):
            send_ig["counter"].value = i
            if i == 2:
                send_ig["data"].value = np.full(1024, 7, np.uint8)
            stream.send_heap(send_ig.get_heap())
        stream.send_heap(send_ig.get_end())

        recv_stream = spead2.recv.Stream(spead2.ThreadPool())
        recv_stream.add_buffer_reader(stream.getvalue())
        recv_ig = spead2.ItemGroup()
        updates = []
        for heap in recv_stream:
            if heap.is_start_of_stream():
                continue
            updated = recv_ig.update(heap)
            updates.append(
                (sorted(updated), recv_ig["counter"].value, int(recv_ig["data"].value[0]))
            )
        assert updates == [
            (["counter", "data"], 0, 0),
            (["counter"], 1, 0),
            (["counter", "data"], 2, 7),
            (["counter"], 3, 7),
            (["counter"], 4, 7),
        ]
