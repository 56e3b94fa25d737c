"""API tests for spead2.send (spec python-api.md §0.5, §0.6, §2.2–2.6, §2.8, §2.11, §2.15).

Covers StreamConfig, the RateMethod/GroupMode enums, Heap, PacketGenerator,
HeapReference/HeapReferenceList and the synchronous BytesStream (send_heap,
send_heaps, cnt sequences and error reporting), plus a full send queue (on a
rate-limited InprocStream, whose heaps stay in flight).  Wire output is checked
by parsing the generated packets.
"""

from __future__ import annotations

import enum
import errno
import functools
import gc
import logging
import math
import threading
from typing import NamedTuple

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.send
from spead2.send import GroupMode, HeapReference, HeapReferenceList, RateMethod

import support
from support import DuckItem

CALL_TIMEOUT = 5.0

run_in_thread = functools.partial(support.run_in_thread, timeout=CALL_TIMEOUT)

# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


class Packet(NamedTuple):
    cnt: int
    heap_length: int
    offset: int
    length: int
    heap_address_bits: int
    pointers: list  # (immediate: bool, id, value) excluding the first four
    payload: bytes
    raw: bytes


def parse_packets(data: bytes) -> list[Packet]:
    """Split a concatenation of SPEAD packets and decode their headers."""
    packets = []
    pos = 0
    while pos < len(data):
        assert len(data) - pos >= 8, "truncated header"
        header = data[pos : pos + 8]
        assert header[0] == 0x53 and header[1] == 0x04, f"bad magic at {pos}"
        n_bytes, a_bytes = header[2], header[3]
        assert n_bytes + a_bytes == 8
        assert header[4:6] == b"\0\0"
        n = int.from_bytes(header[6:8], "big")
        hab = a_bytes * 8
        id_mask = (1 << (63 - hab)) - 1
        value_mask = (1 << hab) - 1
        ptrs = []
        for i in range(n):
            start = pos + 8 + 8 * i
            ptr = int.from_bytes(data[start : start + 8], "big")
            ptrs.append((bool(ptr >> 63), (ptr >> hab) & id_mask, ptr & value_mask))
        first = {pid: value for imm, pid, value in ptrs[:4]}
        assert [p[1] for p in ptrs[:4]] == [1, 2, 3, 4], "first four pointers"
        assert all(p[0] for p in ptrs[:4])
        length = first[4]
        size = 8 + 8 * n + length
        packets.append(
            Packet(
                cnt=first[1],
                heap_length=first[2],
                offset=first[3],
                length=length,
                heap_address_bits=hab,
                pointers=ptrs[4:],
                payload=bytes(data[pos + 8 + 8 * n : pos + size]),
                raw=bytes(data[pos : pos + size]),
            )
        )
        pos += size
    assert pos == len(data), "trailing bytes"
    return packets


def make_heap(size: int, id: int = 0x1000, flavour: spead2.Flavour | None = None) -> spead2.send.Heap:
    """Heap with one addressed item of *size* bytes (byte i has value i % 251)."""
    heap = spead2.send.Heap(flavour) if flavour is not None else spead2.send.Heap()
    heap.add_item(DuckItem(id, bytes(i % 251 for i in range(size))))
    return heap


def empty_heap(flavour: spead2.Flavour | None = None) -> spead2.send.Heap:
    return spead2.send.Heap(flavour) if flavour is not None else spead2.send.Heap()


def generate(heap, cnt: int, max_packet_size: int) -> list[bytes]:
    return list(spead2.send.PacketGenerator(heap, cnt, max_packet_size))


def cnts(data: bytes) -> list[int]:
    """Distinct heap cnts in order of first appearance."""
    out: list[int] = []
    for p in parse_packets(data):
        if p.cnt not in out:
            out.append(p.cnt)
    return out


def bytes_stream(thread_pool, **config) -> spead2.send.BytesStream:
    return spead2.send.BytesStream(thread_pool, spead2.send.StreamConfig(**config))


EMPTY_HEAP_CNT1 = bytes.fromhex(
    "53 04 03 05 00 00 00 05"
    "80 00 01 00 00 00 00 01"
    "80 00 02 00 00 00 00 01"
    "80 00 03 00 00 00 00 00"
    "80 00 04 00 00 00 00 01"
    "00 00 00 00 00 00 00 00"
    "00"
)


# --------------------------------------------------------------------------
# §2.2 / §0.5 enums
# --------------------------------------------------------------------------


def test_rate_method_enum() -> None:
    assert issubclass(RateMethod, enum.Enum)
    assert [m.name for m in RateMethod] == ["SW", "HW", "AUTO"]
    assert [m.value for m in RateMethod] == [0, 1, 2]
    assert list(RateMethod.__members__) == ["SW", "HW", "AUTO"]
    assert repr(RateMethod.SW) == "<RateMethod.SW: 0>"
    assert repr(RateMethod.AUTO) == "<RateMethod.AUTO: 2>"
    assert RateMethod(1) is RateMethod.HW
    assert RateMethod.SW.name == "SW"
    assert RateMethod.AUTO.value == 2


def test_group_mode_enum() -> None:
    assert issubclass(GroupMode, enum.Enum)
    assert [(m.name, m.value) for m in GroupMode] == [("ROUND_ROBIN", 0), ("SERIAL", 1)]
    assert repr(GroupMode.SERIAL) == "<GroupMode.SERIAL: 1>"
    assert GroupMode(0) is GroupMode.ROUND_ROBIN


@pytest.mark.parametrize("member", [RateMethod.SW, GroupMode.ROUND_ROBIN])
def test_enum_not_int(member) -> None:
    assert (member == 0) is False
    assert (member != 0) is True
    with pytest.raises(TypeError):
        int(member)


def test_enum_bad_value() -> None:
    with pytest.raises(ValueError):
        RateMethod(7)


# --------------------------------------------------------------------------
# §2.3 StreamConfig
# --------------------------------------------------------------------------


def test_stream_config_defaults() -> None:
    config = spead2.send.StreamConfig()
    assert config.max_packet_size == 1472
    assert config.rate == 0.0
    assert config.burst_size == 65536
    assert config.max_heaps == 4
    assert config.burst_rate_ratio == pytest.approx(1.05)
    assert config.burst_rate_ratio == 1.05
    assert config.rate_method is RateMethod.AUTO
    assert config.burst_rate == 0.0


def test_stream_config_kwargs() -> None:
    config = spead2.send.StreamConfig(
        max_packet_size=9000, rate=1e6, burst_size=1000, max_heaps=7,
        burst_rate_ratio=2.0, rate_method=RateMethod.SW,
    )
    assert config.max_packet_size == 9000
    assert config.rate == 1e6
    assert config.burst_size == 1000
    assert config.max_heaps == 7
    assert config.burst_rate_ratio == 2.0
    assert config.rate_method is RateMethod.SW
    assert config.burst_rate == 2e6


def test_stream_config_setters() -> None:
    config = spead2.send.StreamConfig()
    config.max_packet_size = 100
    config.rate = 10.0
    config.burst_rate_ratio = 3.0
    config.max_heaps = 2
    config.burst_size = 0
    config.rate_method = RateMethod.HW
    assert (config.max_packet_size, config.rate, config.max_heaps, config.burst_size) == (100, 10.0, 2, 0)
    assert config.rate_method is RateMethod.HW
    assert config.burst_rate == 30.0


def test_stream_config_max_packet_size_not_validated_on_set() -> None:
    assert spead2.send.StreamConfig(max_packet_size=10).max_packet_size == 10
    assert spead2.send.StreamConfig(max_packet_size=0).max_packet_size == 0


@pytest.mark.parametrize("rate", [-1.0, -1e-9, math.nan, math.inf, -math.inf])
def test_stream_config_bad_rate(rate: float) -> None:
    with pytest.raises(ValueError) as info:
        spead2.send.StreamConfig(rate=rate)
    assert str(info.value) == "rate must be non-negative"
    config = spead2.send.StreamConfig(rate=5.0)
    with pytest.raises(ValueError):
        config.rate = rate
    assert config.rate == 5.0


def test_stream_config_max_heaps_zero() -> None:
    with pytest.raises(ValueError) as info:
        spead2.send.StreamConfig(max_heaps=0)
    assert str(info.value) == "max_heaps must be positive"
    config = spead2.send.StreamConfig()
    with pytest.raises(ValueError):
        config.max_heaps = 0
    assert config.max_heaps == 4


@pytest.mark.parametrize("ratio", [0.5, 0.999, -1.0, math.inf, math.nan])
def test_stream_config_bad_burst_rate_ratio(ratio: float) -> None:
    with pytest.raises(ValueError) as info:
        spead2.send.StreamConfig(burst_rate_ratio=ratio)
    assert str(info.value) == "burst rate ratio must be at least 1.0 and finite"


def test_stream_config_burst_rate_ratio_one() -> None:
    assert spead2.send.StreamConfig(burst_rate_ratio=1.0).burst_rate_ratio == 1.0


@pytest.mark.parametrize("value", [0, 2, "SW", None, GroupMode.SERIAL])
def test_stream_config_rate_method_type(value) -> None:
    with pytest.raises(TypeError):
        spead2.send.StreamConfig(rate_method=value)


@pytest.mark.parametrize(
    "kwargs", [{"max_heaps": -1}, {"max_packet_size": -1}, {"burst_size": -1}, {"max_heaps": 4.0}]
)
def test_stream_config_conversion_errors(kwargs) -> None:
    with pytest.raises(TypeError):
        spead2.send.StreamConfig(**kwargs)


def test_stream_config_unknown_keyword() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        spead2.send.StreamConfig(not_an_attribute=1)


def test_stream_config_keyword_order() -> None:
    # Keywords are applied in order: the first bad one determines the error.
    with pytest.raises(ValueError):
        spead2.send.StreamConfig(max_heaps=0, not_an_attribute=1)
    with pytest.raises(TypeError):
        spead2.send.StreamConfig(not_an_attribute=1, max_heaps=0)


def test_stream_config_read_only_keyword() -> None:
    with pytest.raises(AttributeError):
        spead2.send.StreamConfig(burst_rate=1.0)
    config = spead2.send.StreamConfig()
    with pytest.raises(AttributeError):
        config.burst_rate = 1.0


def test_stream_config_positional() -> None:
    with pytest.raises(TypeError):
        spead2.send.StreamConfig(1472)


# --------------------------------------------------------------------------
# §2.4 Heap
# --------------------------------------------------------------------------


def test_heap_flavour_copy() -> None:
    flavour = spead2.Flavour(4, 64, 48, 2)
    heap = spead2.send.Heap(flavour)
    assert heap.flavour == flavour
    assert heap.flavour is not flavour
    assert isinstance(heap.flavour, spead2.Flavour)
    assert spead2.send.Heap(flavour=flavour).flavour == flavour
    assert spead2.send.Heap().flavour == spead2.Flavour()


def test_heap_flavour_read_only() -> None:
    heap = spead2.send.Heap()
    with pytest.raises(AttributeError):
        heap.flavour = spead2.Flavour(4, 64, 48)
    assert heap.flavour == spead2.Flavour()


def test_heap_flavour_wrong_type() -> None:
    with pytest.raises(TypeError):
        spead2.send.Heap(48)


def test_heap_repeat_pointers_property() -> None:
    heap = spead2.send.Heap()
    assert heap.repeat_pointers is False
    heap.repeat_pointers = True
    assert heap.repeat_pointers is True


class NoId:
    def to_buffer(self):
        return b"x"

    def allow_immediate(self):
        return False


class NoToBuffer:
    id = 0x1000

    def allow_immediate(self):
        return False


class NoAllowImmediate:
    id = 0x1000

    def to_buffer(self):
        return b"x"


@pytest.mark.parametrize("item", [NoId(), NoToBuffer(), NoAllowImmediate()], ids=type)
def test_heap_add_item_duck_typing(item) -> None:
    with pytest.raises(AttributeError):
        spead2.send.Heap().add_item(item)


def test_heap_add_item_none_value() -> None:
    item = spead2.Item(0x1000, "x", "no value", (), format=[("u", 8)])
    with pytest.raises(ValueError):
        spead2.send.Heap().add_item(item)


def test_heap_add_item_keyword_and_real_item() -> None:
    item = spead2.Item(0x1234, "x", "", (4,), np.uint16, value=np.arange(4, dtype=np.uint16))
    heap = spead2.send.Heap()
    heap.add_item(item=item)
    (packet,) = parse_packets(b"".join(generate(heap, 1, 1472)))
    # The 8-byte value does not fit in 5 bytes: addressed item at address 0.
    assert packet.pointers == [(False, 0x1234, 0)]
    assert packet.payload == np.arange(4, dtype=np.uint16).tobytes()


def test_heap_add_item_immediate() -> None:
    heap = spead2.send.Heap()
    heap.add_item(DuckItem(0x1001, b"\x12\x34", immediate=True))
    heap.add_item(DuckItem(0x1002, b"\x01\x02\x03\x04\x05\x06", immediate=True))  # > 5 bytes
    (packet,) = parse_packets(b"".join(generate(heap, 1, 1472)))
    assert packet.pointers == [(True, 0x1001, 0x1234), (False, 0x1002, 0)]
    assert packet.payload == b"\x01\x02\x03\x04\x05\x06"


def test_heap_add_item_references_buffer() -> None:
    # The bytes are read at send time, not when the item is added.
    arr = np.zeros(8, np.uint8)
    heap = spead2.send.Heap()
    heap.add_item(DuckItem(0x1000, arr))
    arr[:] = np.arange(8, dtype=np.uint8) + 100
    (packet,) = parse_packets(b"".join(generate(heap, 1, 1472)))
    assert packet.payload == bytes(range(100, 108))


def test_heap_add_item_keeps_buffer_alive() -> None:
    heap = spead2.send.Heap()
    heap.add_item(DuckItem(0x1000, np.arange(16, dtype=np.uint8)))
    gc.collect()
    (packet,) = parse_packets(b"".join(generate(heap, 1, 1472)))
    assert packet.payload == bytes(range(16))


def _descriptor(id: int) -> spead2.Descriptor:
    return spead2.Descriptor(id, "name", "description", (), format=[("u", 8)])


@pytest.mark.parametrize(
    "flavour,bad_ids,good_ids",
    [
        (spead2.Flavour(), [0, -1, 2**23, 2**23 + 1], [1, 2**23 - 1]),
        (spead2.Flavour(4, 64, 48), [0, 2**15, 2**20], [1, 2**15 - 1]),
    ],
)
def test_heap_add_descriptor_id_range(flavour, bad_ids, good_ids) -> None:
    heap = spead2.send.Heap(flavour)
    for id in bad_ids:
        with pytest.raises(ValueError) as info:
            heap.add_descriptor(_descriptor(id))
        assert str(info.value) == "Item ID out of range"
    for id in good_ids:
        heap.add_descriptor(descriptor=_descriptor(id))
    packets = parse_packets(b"".join(generate(heap, 1, 9000)))
    ids = [p[1] for p in packets[0].pointers]
    assert ids == [spead2.DESCRIPTOR_ID] * len(good_ids)


def test_heap_add_descriptor_calls_to_raw() -> None:
    calls = []

    class Duck:
        id = 0x1000

        def to_raw(self, flavour):
            calls.append(flavour)
            return _descriptor(0x1000).to_raw(flavour)

    heap = spead2.send.Heap(spead2.Flavour(4, 64, 48))
    heap.add_descriptor(Duck())
    assert len(calls) == 1
    assert calls[0] == spead2.Flavour(4, 64, 48)


def test_heap_add_descriptor_copied() -> None:
    descriptor = _descriptor(0x1000)
    heap = spead2.send.Heap()
    heap.add_descriptor(descriptor)
    before = b"".join(generate(heap, 1, 1472))
    descriptor.name = "changed-name"
    descriptor.id = 0x1001
    assert b"".join(generate(heap, 1, 1472)) == before


def _ctrl_packet(value: int) -> bytes:
    return bytes.fromhex(
        "53 04 03 05 00 00 00 06"
        "80 00 01 00 00 00 00 01"
        "80 00 02 00 00 00 00 01"
        "80 00 03 00 00 00 00 00"
        "80 00 04 00 00 00 00 01"
        f"80 00 06 00 00 00 00 {value:02x}"
        "00 00 00 00 00 00 00 00"
        "00"
    )


def test_heap_add_start_bytes() -> None:
    heap = spead2.send.Heap()
    heap.add_start()
    assert generate(heap, 1, 1472) == [_ctrl_packet(spead2.CTRL_STREAM_START)]


def test_heap_add_end_bytes() -> None:
    heap = spead2.send.Heap()
    heap.add_end()
    assert generate(heap, 1, 1472) == [_ctrl_packet(spead2.CTRL_STREAM_STOP)]


def test_heap_items_in_order_added() -> None:
    heap = spead2.send.Heap()
    heap.add_item(DuckItem(0x1003, b"abc"))
    heap.add_start()
    heap.add_item(DuckItem(0x1001, b"\x07", immediate=True))
    heap.add_item(DuckItem(0x1002, b"defgh"))
    (packet,) = parse_packets(b"".join(generate(heap, 1, 1472)))
    assert packet.pointers == [
        (False, 0x1003, 0),
        (True, spead2.STREAM_CTRL_ID, 0),
        (True, 0x1001, 7),
        (False, 0x1002, 3),
    ]
    assert packet.payload == b"abcdefgh"
    assert packet.heap_length == 8


# --------------------------------------------------------------------------
# §2.5 PacketGenerator and §2.15 wire format
# --------------------------------------------------------------------------


def test_packet_generator_empty_heap_bytes() -> None:
    assert generate(spead2.send.Heap(), 1, 1472) == [EMPTY_HEAP_CNT1]
    # 56 is the smallest acceptable packet size; 63 rounds down to 56.
    assert generate(spead2.send.Heap(), 1, 56) == [EMPTY_HEAP_CNT1]
    assert generate(spead2.send.Heap(), 1, 63) == [EMPTY_HEAP_CNT1]


def test_packet_generator_iteration_protocol() -> None:
    gen = spead2.send.PacketGenerator(spead2.send.Heap(), 1, 1472)
    assert iter(gen) is gen
    packet = next(gen)
    assert type(packet) is bytes
    assert packet == EMPTY_HEAP_CNT1
    with pytest.raises(StopIteration):
        next(gen)
    with pytest.raises(StopIteration):
        next(gen)


def test_packet_generator_keywords() -> None:
    gen = spead2.send.PacketGenerator(heap=spead2.send.Heap(), cnt=1, max_packet_size=1472)
    assert list(gen) == [EMPTY_HEAP_CNT1]


@pytest.mark.parametrize("size", [0, 8, 48, 55])
def test_packet_generator_too_small(size: int) -> None:
    with pytest.raises(ValueError) as info:
        list(spead2.send.PacketGenerator(spead2.send.Heap(), 1, size))
    assert str(info.value) == "packet size is too small"


def test_packet_generator_repeat_pointers_too_small() -> None:
    heap = spead2.send.Heap()
    heap.add_item(DuckItem(0x1000, bytes(100)))
    heap.add_item(DuckItem(0x1001, bytes(100)))
    heap.repeat_pointers = True
    # P = (56 - 48) / 8 = 1 heap item pointer per packet, but there are 2.
    with pytest.raises(ValueError) as info:
        list(spead2.send.PacketGenerator(heap, 1, 56))
    assert str(info.value) == "packet size is too small to repeat item pointers"
    # Without repeat_pointers the same heap is fine.
    heap.repeat_pointers = False
    assert len(generate(heap, 1, 56)) > 1


@pytest.mark.parametrize("cnt", [-1, 2**64, 1.0])
def test_packet_generator_bad_cnt(cnt) -> None:
    with pytest.raises(TypeError):
        spead2.send.PacketGenerator(spead2.send.Heap(), cnt, 1472)


def test_packet_generator_negative_size() -> None:
    with pytest.raises(TypeError):
        spead2.send.PacketGenerator(spead2.send.Heap(), 1, -1)


def test_packet_generator_cnt_not_range_checked() -> None:
    # cnt is used verbatim even if it exceeds heap_address_bits (only a TypeError above 2**64).
    packets = generate(spead2.send.Heap(spead2.Flavour(4, 64, 48)), 2**40 + 5, 1472)
    assert parse_packets(packets[0])[0].cnt == 2**40 + 5


def test_packet_generator_keeps_heap_alive() -> None:
    gen = spead2.send.PacketGenerator(make_heap(100), 7, 1472)
    gc.collect()
    (packet,) = parse_packets(b"".join(gen))
    assert packet.cnt == 7
    assert packet.payload == bytes(i % 251 for i in range(100))


def test_packet_generator_split() -> None:
    # M = 128: first packet carries the item pointer (80 bytes of payload), later
    # ones 88 bytes each.
    heap = make_heap(200)
    raw = generate(heap, 3, 128)
    packets = [parse_packets(p)[0] for p in raw]
    assert [len(p) for p in raw] == [128, 128, 72]
    assert [(p.offset, p.length) for p in packets] == [(0, 80), (80, 88), (168, 32)]
    assert all(p.heap_length == 200 and p.cnt == 3 for p in packets)
    assert [len(p.pointers) for p in packets] == [1, 0, 0]
    assert b"".join(p.payload for p in packets) == bytes(i % 251 for i in range(200))
    # Rounded down to a multiple of 8.
    assert generate(heap, 3, 135) == raw


def test_packet_generator_repeat_pointers() -> None:
    heap = spead2.send.Heap()
    heap.add_item(DuckItem(0x1000, bytes(100)))
    heap.add_item(DuckItem(0x1001, bytes(range(100))))
    heap.repeat_pointers = True
    packets = [parse_packets(p)[0] for p in generate(heap, 1, 128)]
    # 128 - 40 - 16 = 72 bytes per packet: 72, 72, 56.
    assert [(p.offset, p.length) for p in packets] == [(0, 72), (72, 72), (144, 56)]
    for p in packets:
        assert p.pointers == [(False, 0x1000, 0), (False, 0x1001, 100)]


def test_packet_generator_48_bit_flavour() -> None:
    (packet,) = generate(spead2.send.Heap(spead2.Flavour(4, 64, 48)), 0x123456789A, 1472)
    assert packet[:8] == bytes([0x53, 0x04, 2, 6, 0, 0, 0, 5])
    assert packet[8:16] == bytes.fromhex("80 01 00 12 34 56 78 9a")


# --------------------------------------------------------------------------
# §2.6 HeapReference / HeapReferenceList
# --------------------------------------------------------------------------


def test_heap_reference_defaults() -> None:
    heap = spead2.send.Heap()
    ref = HeapReference(heap)
    assert ref.heap is heap
    assert ref.cnt == -1
    assert ref.substream_index == 0
    assert ref.rate == -1.0


def test_heap_reference_keywords() -> None:
    heap = spead2.send.Heap()
    ref = HeapReference(heap=heap, cnt=5, substream_index=2, rate=3.5)
    assert (ref.cnt, ref.substream_index, ref.rate) == (5, 2, 3.5)
    assert ref.heap is heap
    ref.cnt = 2**63 - 1
    ref.substream_index = 7
    ref.rate = 0.0
    assert (ref.cnt, ref.substream_index, ref.rate) == (2**63 - 1, 7, 0.0)


@pytest.mark.parametrize("args", [(5,), (5, 0), (5, 0, 1.0)])
def test_heap_reference_positional_params(args) -> None:
    with pytest.raises(TypeError):
        HeapReference(spead2.send.Heap(), *args)


def test_heap_reference_heap_read_only() -> None:
    ref = HeapReference(spead2.send.Heap())
    with pytest.raises(AttributeError):
        ref.heap = spead2.send.Heap()


def test_heap_reference_conversions() -> None:
    heap = spead2.send.Heap()
    with pytest.raises(TypeError):
        HeapReference(heap, substream_index=-1)
    with pytest.raises(TypeError):
        HeapReference(heap, cnt=2**63)
    with pytest.raises(TypeError):
        HeapReference(heap, rate="fast")


@pytest.mark.parametrize(
    "not_a_heap", ["not a heap", None, 5, spead2.Flavour()], ids=["str", "None", "int", "Flavour"]
)
def test_heap_reference_wrong_heap_type(not_a_heap) -> None:
    # §0.3: an argument of the wrong type fails overload resolution -> TypeError.
    with pytest.raises(TypeError):
        HeapReference(not_a_heap)


def test_heap_reference_keeps_heap_alive() -> None:
    ref = HeapReference(make_heap(10), cnt=9)
    gc.collect()
    (packet,) = parse_packets(b"".join(generate(ref.heap, 9, 1472)))
    assert packet.payload == bytes(range(10))


def test_heap_reference_list_basic() -> None:
    heaps = [spead2.send.Heap() for _ in range(3)]
    hrl = HeapReferenceList([HeapReference(h) for h in heaps])
    assert len(hrl) == 3
    assert len(HeapReferenceList([])) == 0
    assert len(HeapReferenceList(heaps=(HeapReference(heaps[0]),))) == 1


@pytest.mark.parametrize("bad", [[spead2.send.Heap()], [None], [1]])
def test_heap_reference_list_bad_element(bad) -> None:
    with pytest.raises(TypeError):
        HeapReferenceList(bad)


def test_heap_reference_list_int_index() -> None:
    hrl = HeapReferenceList([HeapReference(spead2.send.Heap())] * 3)
    with pytest.raises(TypeError):
        hrl[0]
    with pytest.raises(TypeError):
        hrl[-1]
    with pytest.raises(TypeError):
        list(hrl)  # not iterable


def test_heap_reference_list_zero_step() -> None:
    hrl = HeapReferenceList([HeapReference(spead2.send.Heap())] * 3)
    with pytest.raises(ValueError):
        hrl[::0]


@pytest.mark.parametrize(
    "index,expected",
    [
        (slice(None), [10, 11, 12, 13]),
        (slice(1, None), [11, 12, 13]),
        (slice(None, None, -1), [13, 12, 11, 10]),
        (slice(None, None, -2), [13, 11]),
        (slice(-3, -1), [11, 12]),
        (slice(None, None, 2), [10, 12]),
        (slice(1, 100, 3), [11]),
        (slice(-100, 2), [10, 11]),
    ],
)
def test_heap_reference_list_slicing(thread_pool, index, expected) -> None:
    heaps = [spead2.send.Heap() for _ in range(4)]
    hrl = HeapReferenceList([HeapReference(h, cnt=10 + i) for i, h in enumerate(heaps)])
    sliced = hrl[index]
    assert type(sliced) is HeapReferenceList
    assert len(sliced) == len(expected)
    stream = spead2.send.BytesStream(thread_pool)
    run_in_thread(stream.send_heaps, sliced, GroupMode.SERIAL)
    assert cnts(stream.getvalue()) == expected
    assert len(hrl) == 4


def test_heap_reference_list_empty_slice() -> None:
    hrl = HeapReferenceList([HeapReference(spead2.send.Heap())] * 3)
    assert len(hrl[5:]) == 0
    assert len(hrl[2:1]) == 0


# --------------------------------------------------------------------------
# §2.8 / §2.11 BytesStream
# --------------------------------------------------------------------------


def test_bytes_stream_construct(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    assert isinstance(stream, spead2.send.Stream)
    assert stream.num_substreams == 1
    assert stream.getvalue() == b""
    assert type(stream.getvalue()) is bytes
    assert not hasattr(stream, "flush")
    spead2.send.BytesStream(thread_pool=thread_pool, config=spead2.send.StreamConfig())
    spead2.send.BytesStream(thread_pool, spead2.send.StreamConfig(max_heaps=1))


def test_bytes_stream_num_substreams_read_only(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    with pytest.raises(AttributeError):
        stream.num_substreams = 2


def test_bytes_stream_thread_pool_none() -> None:
    with pytest.raises(TypeError):
        spead2.send.BytesStream(None)
    with pytest.raises(TypeError):
        spead2.send.BytesStream(thread_pool=None)


def test_send_stream_no_constructor() -> None:
    with pytest.raises(TypeError):
        spead2.send.Stream()


def test_send_heap_returns_bytes(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    n = run_in_thread(stream.send_heap, spead2.send.Heap())
    assert n == 49
    assert stream.getvalue() == EMPTY_HEAP_CNT1
    # 2000-byte item: 1472 + (40 + 576) bytes.
    n = run_in_thread(stream.send_heap, make_heap(2000))
    assert n == 1472 + 616
    assert len(stream.getvalue()) == 49 + 1472 + 616


def test_send_heap_auto_cnts(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    for _ in range(3):
        run_in_thread(stream.send_heap, spead2.send.Heap())
    assert [p.cnt for p in parse_packets(stream.getvalue())] == [1, 2, 3]


def test_getvalue_concatenation(thread_pool) -> None:
    stream = bytes_stream(thread_pool, max_packet_size=128)
    h1, h2 = make_heap(200), make_heap(30, id=0x1001)
    total = run_in_thread(stream.send_heap, h1)
    total += run_in_thread(stream.send_heap, h2)
    expected = b"".join(generate(h1, 1, 128) + generate(h2, 2, 128))
    assert stream.getvalue() == expected
    assert total == len(expected)
    # getvalue returns a copy of everything so far; repeated calls agree.
    assert stream.getvalue() == expected


def test_getvalue_racing_send_heap(thread_pool) -> None:
    # getvalue() could take the buffer between a heap's reservation and its
    # packets: the rest of that heap then failed with ENOMEM, split or lost.
    stream = spead2.send.BytesStream(thread_pool)
    heap = make_heap(20000)  # too large to be sent with the GIL held
    payload = bytes(i % 251 for i in range(20000))
    heap_size = sum(len(p) for p in generate(heap, 1, 1472))
    n_heaps = 1000
    errors: list[Exception] = []
    lengths: list[int] = []
    sent = threading.Event()

    def send() -> None:
        for _ in range(n_heaps):
            try:
                stream.send_heap(heap)
            except OSError as exc:
                errors.append(exc)
        sent.set()

    def read() -> None:
        while not sent.is_set():
            lengths.append(len(stream.getvalue()))

    threads = [threading.Thread(target=send), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    data = stream.getvalue()
    assert errors == []
    assert [n for n in lengths if n % heap_size] == []  # every result ends between heaps
    rx = spead2.recv.Stream(thread_pool, spead2.recv.StreamConfig(max_heaps=2))
    rx.add_buffer_reader(data)
    received = list(rx)
    assert [h.cnt for h in received] == list(range(1, n_heaps + 1))
    assert all(type(h) is spead2.recv.Heap for h in received)
    assert all(bytes(h.get_items()[0]) == payload for h in received)


def test_config_captured_at_construction(thread_pool) -> None:
    config = spead2.send.StreamConfig(max_packet_size=128)
    stream = spead2.send.BytesStream(thread_pool, config)
    config.max_packet_size = 1472
    run_in_thread(stream.send_heap, make_heap(200))
    assert len(parse_packets(stream.getvalue())) == 3


def test_set_cnt_sequence(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    stream.set_cnt_sequence(10, 5)
    for _ in range(3):
        run_in_thread(stream.send_heap, spead2.send.Heap())
    assert cnts(stream.getvalue()) == [10, 15, 20]
    stream.set_cnt_sequence(next=100, step=1)
    run_in_thread(stream.send_heap, spead2.send.Heap())
    assert cnts(stream.getvalue())[-1] == 100


def test_set_cnt_sequence_step_zero(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    with pytest.raises(ValueError) as info:
        stream.set_cnt_sequence(1, 0)
    assert str(info.value) == "step cannot be 0"


@pytest.mark.parametrize("args", [(-1, 1), (1, -1), (2**64, 1), (1.0, 1)])
def test_set_cnt_sequence_conversion(thread_pool, args) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    with pytest.raises(TypeError):
        stream.set_cnt_sequence(*args)


def test_cnt_sequence_wraps_to_heap_address_bits(thread_pool) -> None:
    flavour = spead2.Flavour(4, 64, 8)
    stream = spead2.send.BytesStream(thread_pool)
    stream.set_cnt_sequence(254, 1)
    for _ in range(3):
        run_in_thread(stream.send_heap, spead2.send.Heap(flavour))
    packets = parse_packets(stream.getvalue())
    assert all(p.heap_address_bits == 8 for p in packets)
    assert [p.cnt for p in packets] == [254, 255, 0]


def test_cnt_sequence_masked(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    stream.set_cnt_sequence(2**40 + 5, 2**40)
    run_in_thread(stream.send_heap, spead2.send.Heap())
    run_in_thread(stream.send_heap, spead2.send.Heap())
    assert [p.cnt for p in parse_packets(stream.getvalue())] == [5, 5]


def test_explicit_cnt(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    run_in_thread(stream.send_heap, spead2.send.Heap())
    run_in_thread(stream.send_heap, spead2.send.Heap(), 100)
    run_in_thread(stream.send_heap, spead2.send.Heap(), cnt=2**40 - 1)
    run_in_thread(stream.send_heap, spead2.send.Heap())  # explicit cnts do not advance
    assert cnts(stream.getvalue()) == [1, 100, 2**40 - 1, 2]


def test_explicit_cnt_out_of_range(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    with pytest.raises(OSError) as info:
        run_in_thread(stream.send_heap, spead2.send.Heap(), cnt=2**40)
    assert info.value.errno == errno.EINVAL
    assert stream.getvalue() == b""
    with pytest.raises(OSError) as info:
        run_in_thread(stream.send_heap, spead2.send.Heap(spead2.Flavour(4, 64, 8)), cnt=256)
    assert info.value.errno == errno.EINVAL
    # The range depends on the heap's flavour.
    run_in_thread(stream.send_heap, spead2.send.Heap(spead2.Flavour(4, 64, 48)), cnt=2**40)
    assert cnts(stream.getvalue()) == [2**40]
    # The stream still works and the rejected heaps did not consume cnts.
    run_in_thread(stream.send_heap, spead2.send.Heap())
    assert cnts(stream.getvalue()) == [2**40, 1]


@pytest.mark.parametrize("cnt", [2**63, 2**64, -(2**63) - 1, 1.0])
def test_send_heap_cnt_conversion(thread_pool, cnt) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    with pytest.raises(TypeError):
        stream.send_heap(spead2.send.Heap(), cnt=cnt)


def test_send_heap_bad_substream(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    for index in (1, 2, 1000):
        with pytest.raises(OSError) as info:
            run_in_thread(stream.send_heap, spead2.send.Heap(), substream_index=index)
        assert info.value.errno == errno.EINVAL
    assert stream.getvalue() == b""
    with pytest.raises(TypeError):
        stream.send_heap(spead2.send.Heap(), substream_index=-1)
    run_in_thread(stream.send_heap, spead2.send.Heap(), substream_index=0)
    assert cnts(stream.getvalue()) == [1]


def test_send_heap_rate_argument(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    assert run_in_thread(stream.send_heap, spead2.send.Heap(), rate=0.0) == 49
    assert run_in_thread(stream.send_heap, spead2.send.Heap(), -1, 0, 1e9) == 49
    assert cnts(stream.getvalue()) == [1, 2]


def test_send_heap_wrong_heap_type(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    with pytest.raises(TypeError):
        stream.send_heap(None)
    with pytest.raises(TypeError):
        stream.send_heap(b"bytes")


@pytest.mark.parametrize("size", [0, 40, 55])
def test_send_heap_packet_size_too_small(thread_pool, size: int) -> None:
    stream = bytes_stream(thread_pool, max_packet_size=size)
    with pytest.raises(ValueError) as info:
        run_in_thread(stream.send_heap, spead2.send.Heap())
    assert str(info.value) == "packet size is too small"
    assert stream.getvalue() == b""


def test_send_heap_repeat_pointers_too_small(thread_pool) -> None:
    stream = bytes_stream(thread_pool, max_packet_size=56)
    heap = spead2.send.Heap()
    heap.add_item(DuckItem(0x1000, bytes(100)))
    heap.add_item(DuckItem(0x1001, bytes(100)))
    heap.repeat_pointers = True
    with pytest.raises(ValueError) as info:
        run_in_thread(stream.send_heap, heap)
    assert str(info.value) == "packet size is too small to repeat item pointers"
    assert stream.getvalue() == b""


def test_send_heap_same_heap_repeatedly(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    heap = make_heap(20)
    for _ in range(3):
        run_in_thread(stream.send_heap, heap)
    packets = parse_packets(stream.getvalue())
    assert [p.cnt for p in packets] == [1, 2, 3]
    assert all(p.payload == bytes(range(20)) for p in packets)


# send_heaps ---------------------------------------------------------------

# With max_packet_size=128 these heaps have 1, 2 and 3 packets respectively.
GROUP_SIZES = [10, 100, 200]
GROUP_OFFSETS = [[0], [0, 80], [0, 80, 168]]


def _group_heaps():
    return [make_heap(size, id=0x1000 + i) for i, size in enumerate(GROUP_SIZES)]


def test_send_heaps_serial(thread_pool) -> None:
    stream = bytes_stream(thread_pool, max_packet_size=128)
    heaps = _group_heaps()
    n = run_in_thread(stream.send_heaps, [HeapReference(h) for h in heaps], GroupMode.SERIAL)
    data = stream.getvalue()
    assert n == len(data)
    order = [(p.cnt, p.offset) for p in parse_packets(data)]
    assert order == [(1, 0), (2, 0), (2, 80), (3, 0), (3, 80), (3, 168)]
    expected = b"".join(b"".join(generate(h, i + 1, 128)) for i, h in enumerate(heaps))
    assert data == expected


def test_send_heaps_round_robin(thread_pool) -> None:
    stream = bytes_stream(thread_pool, max_packet_size=128)
    heaps = _group_heaps()
    n = run_in_thread(stream.send_heaps, [HeapReference(h) for h in heaps], GroupMode.ROUND_ROBIN)
    data = stream.getvalue()
    assert n == len(data)
    order = [(p.cnt, p.offset) for p in parse_packets(data)]
    # H0P0, H1P0, H2P0, H1P1, H2P1, H2P2
    assert order == [(1, 0), (2, 0), (3, 0), (2, 80), (3, 80), (3, 168)]
    per_heap = [generate(h, i + 1, 128) for i, h in enumerate(heaps)]
    interleaved = [per_heap[0][0], per_heap[1][0], per_heap[2][0], per_heap[1][1], per_heap[2][1], per_heap[2][2]]
    assert data == b"".join(interleaved)


def test_send_heaps_round_robin_reverse_sizes(thread_pool) -> None:
    stream = bytes_stream(thread_pool, max_packet_size=128)
    heaps = list(reversed(_group_heaps()))  # 3, 2, 1 packets
    refs = [HeapReference(h, cnt=100 + i) for i, h in enumerate(heaps)]
    run_in_thread(stream.send_heaps, refs, GroupMode.ROUND_ROBIN)
    order = [(p.cnt, p.offset) for p in parse_packets(stream.getvalue())]
    assert order == [(100, 0), (101, 0), (102, 0), (100, 80), (101, 80), (100, 168)]


def test_send_heaps_keywords_and_list_types(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    refs = [HeapReference(spead2.send.Heap()) for _ in range(2)]
    assert run_in_thread(stream.send_heaps, heaps=refs, mode=GroupMode.SERIAL) == 98
    assert run_in_thread(stream.send_heaps, tuple(refs), GroupMode.SERIAL) == 98
    assert cnts(stream.getvalue()) == [1, 2, 3, 4]


def test_send_heaps_heap_reference_list_reuse(thread_pool) -> None:
    stream = bytes_stream(thread_pool, max_packet_size=128)
    hrl = HeapReferenceList([HeapReference(h) for h in _group_heaps()])
    n1 = run_in_thread(stream.send_heaps, hrl, GroupMode.SERIAL)
    n2 = run_in_thread(stream.send_heaps, hrl, GroupMode.SERIAL)
    assert n1 == n2
    assert n1 + n2 == len(stream.getvalue())
    assert cnts(stream.getvalue()) == [1, 2, 3, 4, 5, 6]


def test_send_heaps_explicit_params(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    refs = [
        HeapReference(spead2.send.Heap(), cnt=50),
        HeapReference(spead2.send.Heap()),
        HeapReference(spead2.send.Heap(), cnt=7, substream_index=0, rate=0.0),
        HeapReference(spead2.send.Heap()),
    ]
    run_in_thread(stream.send_heaps, refs, GroupMode.SERIAL)
    assert cnts(stream.getvalue()) == [50, 1, 7, 2]


def test_send_heaps_empty(thread_pool) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    for empty in ([], HeapReferenceList([])):
        with pytest.raises(OSError) as info:
            run_in_thread(stream.send_heaps, empty, GroupMode.SERIAL)
        assert info.value.errno == errno.EINVAL
    assert stream.getvalue() == b""


@pytest.mark.parametrize(
    "bad_ref",
    [
        {"substream_index": 1},
        {"cnt": 2**40},
    ],
    ids=["substream", "cnt"],
)
@pytest.mark.parametrize("as_hrl", [False, True])
def test_send_heaps_all_or_nothing(thread_pool, bad_ref, as_hrl) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    stream.set_cnt_sequence(10, 5)
    refs = [
        HeapReference(spead2.send.Heap()),
        HeapReference(spead2.send.Heap()),
        HeapReference(spead2.send.Heap(), **bad_ref),
        HeapReference(spead2.send.Heap()),
    ]
    group = HeapReferenceList(refs) if as_hrl else refs
    for mode in (GroupMode.SERIAL, GroupMode.ROUND_ROBIN):
        with pytest.raises(OSError) as info:
            run_in_thread(stream.send_heaps, group, mode)
        assert info.value.errno == errno.EINVAL
    assert stream.getvalue() == b""
    # The failed groups did not consume automatic cnts.
    run_in_thread(stream.send_heap, spead2.send.Heap())
    run_in_thread(stream.send_heaps, [HeapReference(spead2.send.Heap())] * 2, GroupMode.SERIAL)
    assert cnts(stream.getvalue()) == [10, 15, 20]


def test_send_heaps_more_than_max_heaps(thread_pool) -> None:
    stream = bytes_stream(thread_pool, max_heaps=4)
    refs = [HeapReference(spead2.send.Heap()) for _ in range(5)]
    with pytest.raises(BlockingIOError) as info:
        run_in_thread(stream.send_heaps, refs, GroupMode.SERIAL)
    assert info.value.errno == errno.EAGAIN
    assert stream.getvalue() == b""
    assert run_in_thread(stream.send_heaps, refs[:4], GroupMode.SERIAL) == 4 * 49


@pytest.mark.parametrize("mode", [0, 1, "SERIAL", None, RateMethod.SW])
def test_send_heaps_wrong_mode_type(thread_pool, mode) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    with pytest.raises(TypeError):
        stream.send_heaps([HeapReference(spead2.send.Heap())], mode)
    assert stream.getvalue() == b""


@pytest.mark.parametrize("heaps", [[spead2.send.Heap()], [None], "abc", 5])
def test_send_heaps_wrong_element_type(thread_pool, heaps) -> None:
    stream = spead2.send.BytesStream(thread_pool)
    with pytest.raises(TypeError):
        stream.send_heaps(heaps, GroupMode.SERIAL)
    assert stream.getvalue() == b""


def test_send_heaps_packet_size_too_small(thread_pool) -> None:
    stream = bytes_stream(thread_pool, max_packet_size=48)
    with pytest.raises(ValueError) as info:
        run_in_thread(stream.send_heaps, [HeapReference(spead2.send.Heap())], GroupMode.SERIAL)
    assert str(info.value) == "packet size is too small"


def test_send_from_several_threads(thread_pool) -> None:
    stream = bytes_stream(thread_pool, max_heaps=64)
    errors = []

    def worker():
        try:
            for _ in range(10):
                stream.send_heap(make_heap(300))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(CALL_TIMEOUT)
        assert not t.is_alive(), "send_heap from several threads hung"
    assert errors == []
    packets = parse_packets(stream.getvalue())
    assert sorted(set(p.cnt for p in packets)) == list(range(1, 41))
    assert len(packets) == 40


def test_send_heap_queue_full_fails_at_once(thread_pool, make_stream, spead2_log) -> None:
    """A send_heap that finds the queue full (max_heaps=1, another thread's heap in
    flight) fails at once with BlockingIOError and the §1.15 / §2.8 warning, without waiting
    for or disturbing the heap in flight."""
    rate = 1e6
    queue = spead2.InprocQueue()
    rx = make_stream(spead2.ThreadPool())
    rx.add_inproc_reader(queue)
    stream = spead2.send.InprocStream(
        thread_pool, [queue], spead2.send.StreamConfig(max_heaps=1, rate=rate))
    big = make_heap(1 << 20)  # ~1 s at this rate
    expected = sum(len(p) for p in generate(big, 1, 1472))
    result: dict = {}

    def send_big():
        try:
            result["n"] = stream.send_heap(big)
        except BaseException as exc:  # noqa: BLE001
            result["exc"] = exc

    thread = threading.Thread(target=send_big, daemon=True)
    thread.start()
    try:
        assert support.poll(lambda: rx.stats["packets"] > 0), "the big heap never started"
        with pytest.raises(BlockingIOError) as info:
            run_in_thread(stream.send_heap, make_heap(10, id=0x1001))
        assert info.value.errno == errno.EAGAIN
        assert thread.is_alive(), "send_heap waited for the heap in flight instead of failing"
    finally:
        thread.join(expected / rate * 2 + CALL_TIMEOUT)
    assert not thread.is_alive()
    assert result == {"n": expected}
    queue.stop()
    heaps = support.drain(rx)
    assert [(h.cnt, [i.id for i in h.get_items()]) for h in heaps] == [(1, [0x1000])]
    assert bytes(heaps[0].get_items()[0]) == bytes(i % 251 for i in range(1 << 20))
    message = "async_send_heap(s): dropping heap because queue is full"
    assert support.poll(lambda: message in spead2_log.messages(), timeout=1.0), spead2_log.messages()
    assert [r.levelno for r in spead2_log.snapshot() if r.getMessage() == message] == [logging.WARNING]
