"""Tests for the pure-Python value model (spead2._items).

Most tests only need ``spead2`` to be importable (the value model itself is
pure Python, but the package imports the native module). Received raw items
are replaced by :class:`FakeRawItem` (a ``bytearray`` with the ``RawItem``
attributes) and received heaps by :class:`FakeHeap`. The tests in
``TestNativeRoundTrip`` additionally exercise the native send/receive path.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import spead2
import spead2._items
from spead2 import _spead2


class FakeRawItem(bytearray):
    """Stand-in for :class:`spead2.recv.RawItem`."""

    def __init__(self, data: bytes, id: int = 0x1000, is_immediate: bool = False) -> None:
        super().__init__(data)
        self.id = id
        self.is_immediate = is_immediate
        self.immediate_value = int.from_bytes(data, "big") if is_immediate else 0


def as_bytes(buffer) -> bytes:
    """Bytes of a buffer (``bytes()`` on a 0-d integer array would use ``__index__``)."""
    return memoryview(buffer).tobytes()


def immediate(value_bytes: bytes, id: int = 0x1000, hab: int = 5) -> FakeRawItem:
    """An immediate raw item: `value_bytes` right-aligned in a `hab`-byte field."""
    assert len(value_bytes) <= hab
    return FakeRawItem(bytes(hab - len(value_bytes)) + value_bytes, id, True)


class FakeHeap:
    """Stand-in for a complete :class:`spead2.recv.Heap`."""

    def __init__(self, descriptors=(), items=(), bug_compat: int = 0) -> None:
        self._descriptors = list(descriptors)
        self._items = list(items)
        self.flavour = spead2.Flavour(4, 64, 40, bug_compat)

    def get_descriptors(self):
        return list(self._descriptors)

    def get_items(self):
        return list(self._items)


def raw_descriptor(
    id=0x1000, name=b"x", description=b"", shape=(), format=(), numpy_header=b""
) -> _spead2.RawDescriptor:
    raw = _spead2.RawDescriptor()
    raw.id = id
    raw.name = name
    raw.description = description
    raw.shape = list(shape)
    raw.format = list(format)
    raw.numpy_header = numpy_header
    return raw


# --------------------------------------------------------------------------
# parse_range_list
# --------------------------------------------------------------------------


class TestParseRangeList:
    def test_example(self) -> None:
        assert spead2.parse_range_list("100,4-6,8,10-10,12-13") == [100, 4, 5, 6, 8, 10, 12, 13]

    @pytest.mark.parametrize("ranges", ["", None])
    def test_empty(self, ranges) -> None:
        assert spead2.parse_range_list(ranges) == []

    def test_whitespace(self) -> None:
        assert spead2.parse_range_list(" 1 , 2") == [1, 2]

    def test_reversed(self) -> None:
        assert spead2.parse_range_list("5-3") == []

    def test_duplicates_kept(self) -> None:
        assert spead2.parse_range_list("3,1-3,3") == [3, 1, 2, 3, 3]

    @pytest.mark.parametrize("ranges", ["1-", "x", "1,,2", "-5"])
    def test_malformed(self, ranges) -> None:
        with pytest.raises(ValueError):
            spead2.parse_range_list(ranges)


# --------------------------------------------------------------------------
# Descriptor
# --------------------------------------------------------------------------


class TestDescriptorConstruction:
    def test_module_constants(self) -> None:
        items = spead2._items
        assert items._UNRESERVED_ID == 0x1000
        assert (items._FASTPATH_NONE, items._FASTPATH_IMMEDIATE, items._FASTPATH_NUMPY) == (0, 1, 2)
        assert items._logger is logging.getLogger("spead2")
        assert items._shape_elements((2, 3, 4)) == 24
        assert items._shape_elements(()) == 1

    def test_attributes_dtype(self) -> None:
        d = spead2.Descriptor(0x1000, "name", "desc", [2, 3], "<i2", order="F")
        assert d.id == 0x1000
        assert d.name == "name"
        assert d.description == "desc"
        assert d.shape == (2, 3)
        assert isinstance(d.shape, tuple)
        assert d.dtype == np.dtype("<i2")
        assert isinstance(d.dtype, np.dtype)
        assert d.order == "F"
        assert d.format is None

    def test_attributes_format(self) -> None:
        fmt = [("u", 8), ("f", 32)]
        d = spead2.Descriptor(None, "name", "desc", (None,), format=fmt)
        assert d.id is None
        assert d.format is fmt
        assert d.dtype is None
        assert d.order == "C"

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            # Step 1 comes before anything else
            (dict(shape=(None, None), dtype="u1"), "Cannot have multiple unknown dimensions"),
            (
                dict(shape=(None, None), dtype="u1", format=[("u", 8)]),
                "Cannot have multiple unknown dimensions",
            ),
            (dict(shape=(None, None), format=[("x", 8)]), "Cannot have multiple unknown dimensions"),
            # dtype checks, in order
            (dict(dtype=object), "Cannot use dtype that has reference-counted objects"),
            (
                dict(dtype=[("a", "u1"), ("b", "O")]),
                "Cannot use dtype that has reference-counted objects",
            ),
            (dict(dtype=object, format=[("u", 8)]), "reference-counted objects"),
            (dict(dtype="u1", format=[("u", 8)]), "Only one of dtype and format can be specified"),
            (dict(dtype=np.str_, format=[("u", 8)]), "Only one of dtype and format can be specified"),
            (dict(dtype=np.str_), "Cannot use zero-sized dtype"),
            (dict(dtype=np.str_, shape=(None,)), "Cannot use zero-sized dtype"),
            (
                dict(dtype="u1", shape=(None,)),
                "Cannot have unknown dimensions when using numpy descriptor",
            ),
            (dict(dtype="u1", shape=(None,), order="X"), "Cannot have unknown dimensions"),
            # format checks, in order
            (dict(), "One of dtype and format must be specified"),
            (dict(order="X"), "One of dtype and format must be specified"),
            (dict(format=[("u", 8)], order="F"), "When specifying format, order must be 'C'"),
            (dict(format=[("u", 8)], order="X"), "When specifying format, order must be 'C'"),
            (dict(format=[("x", 8)], order="F"), "When specifying format, order must be 'C'"),
            (dict(format=[]), "empty format"),
            (dict(format=[("u", 0)]), r"zero-length field \(bug_compat mismatch\?\)"),
            (dict(format=[("u", -1)]), "negative-length field"),
            (dict(format=[("x", 0)]), "zero-length field"),
            (dict(format=[("u", 8), ("c", 0)]), "zero-length field"),
            # order
            (dict(dtype="u1", order="X"), "Order must be 'C' or 'F'"),
            (dict(dtype="u1", order="c"), "Order must be 'C' or 'F'"),
        ],
    )
    def test_errors(self, kwargs, message) -> None:
        kwargs.setdefault("shape", ())
        with pytest.raises(ValueError, match=message):
            spead2.Descriptor(1, "name", "", **kwargs)

    def test_bad_dtype_propagates(self) -> None:
        with pytest.raises(TypeError):
            spead2.Descriptor(1, "name", "", (), dtype="not_a_dtype")

    def test_no_validation_of_id_name(self) -> None:
        d = spead2.Descriptor(-5, 3, None, (), "u1")
        assert (d.id, d.name, d.description) == (-5, 3, None)

    def test_attributes_assignable(self) -> None:
        d = spead2.Descriptor(1, "name", "", (), "u1")
        d.id = 2
        d.name = "other"
        assert (d.id, d.name) == (2, "other")

    def test_no_eq(self) -> None:
        a = spead2.Descriptor(1, "name", "", (), "u1")
        b = spead2.Descriptor(1, "name", "", (), "u1")
        assert a != b
        assert a == a


class TestFormatMapping:
    @pytest.mark.parametrize(
        "format, dtype",
        [
            ([("u", 8)], ">u1"),
            ([("u", 16)], ">u2"),
            ([("u", 32)], ">u4"),
            ([("u", 64)], ">u8"),
            ([("i", 8)], ">i1"),
            ([("i", 16)], ">i2"),
            ([("i", 32)], ">i4"),
            ([("i", 64)], ">i8"),
            ([("f", 32)], ">f4"),
            ([("f", 64)], ">f8"),
            ([("b", 8)], "?"),
            ([("c", 8)], "S1"),
            ([("u", 4)], "O"),
            ([("u", 40)], "O"),
            ([("i", 24)], "O"),
            ([("u", 128)], "O"),
            ([("b", 1)], "O"),
            ([("b", 16)], "O"),
            ([("u", 8), ("f", 32)], [("f0", "u1"), ("f1", ">f4")]),
            ([("u", 4), ("u", 16)], [("f0", "O"), ("f1", ">u2")]),
            ([("c", 8), ("i", 64), ("b", 8)], [("f0", "S1"), ("f1", ">i8"), ("f2", "?")]),
        ],
    )
    def test_legal(self, format, dtype) -> None:
        d = spead2.Descriptor(1, "x", "", (), format=format)
        assert d._internal_dtype == np.dtype(dtype)
        if len(format) > 1:
            # packed, no alignment
            assert d._internal_dtype.itemsize == sum(
                np.dtype(t).itemsize for _, t in np.dtype(dtype).descr
            )

    @pytest.mark.parametrize(
        "format, message",
        [
            ([("c", 16)], r"illegal format \(c, 16\)"),
            ([("c", 7)], r"illegal format \(c, 7\)"),
            ([("f", 16)], r"illegal format \(f, 16\)"),
            ([("f", 128)], r"illegal format \(f, 128\)"),
            ([("x", 8)], r"illegal format \(x, 8\)"),
            ([("0", 8)], r"illegal format \(0, 8\)"),
            ([("u", 8), ("q", 32)], r"illegal format \(q, 32\)"),
        ],
    )
    def test_illegal(self, format, message) -> None:
        with pytest.raises(ValueError, match=message):
            spead2.Descriptor(1, "x", "", (), format=format)

    @pytest.mark.parametrize(
        "kwargs, fastpath",
        [
            (dict(dtype="<u2", shape=(3,)), 2),
            (dict(dtype=[("a", "u1"), ("b", "<f8")], shape=()), 2),
            (dict(format=[("u", 8), ("f", 32)], shape=()), 2),
            (dict(format=[("c", 8)], shape=(None,)), 2),
            (dict(format=[("u", 40)], shape=()), 1),
            (dict(format=[("i", 24)], shape=()), 1),
            (dict(format=[("u", 12)], shape=()), 1),
            (dict(format=[("u", 63)], shape=()), 1),
            (dict(format=[("u", 65)], shape=()), 0),
            (dict(format=[("u", 40)], shape=(1,)), 0),
            (dict(format=[("b", 1)], shape=()), 0),
            (dict(format=[("u", 4), ("u", 4)], shape=()), 0),
            (dict(format=[("u", 4)], shape=(None,)), 0),
        ],
    )
    def test_fastpath(self, kwargs, fastpath) -> None:
        d = spead2.Descriptor(1, "x", "", **kwargs)
        assert d._fastpath == fastpath


class TestDescriptorMembers:
    @pytest.mark.parametrize(
        "kwargs, bits",
        [
            (dict(dtype="<u2"), 16),
            (dict(dtype=[("a", "u1"), ("b", "<f8")]), 72),
            (dict(dtype="S5"), 40),
            (dict(format=[("u", 4), ("f", 32)]), 36),
            (dict(format=[("u", 40)]), 40),
            (dict(format=[("c", 8)]), 8),
        ],
    )
    def test_itemsize_bits(self, kwargs, bits) -> None:
        assert spead2.Descriptor(1, "x", "", (), **kwargs).itemsize_bits == bits

    @pytest.mark.parametrize(
        "kwargs, variable, allow",
        [
            (dict(dtype="<u2", shape=(3,)), False, True),
            (dict(dtype="<u2", shape=()), False, True),
            (dict(dtype="<u2", shape=(0,)), False, True),
            (dict(format=[("u", 16)], shape=(None,)), True, False),
            (dict(format=[("u", 16)], shape=(2, None)), True, False),
            (dict(format=[("u", 12)], shape=()), False, False),
            (dict(format=[("u", 4)], shape=(2,)), False, False),
            (dict(format=[("u", 4), ("u", 4)], shape=()), False, True),
            (dict(format=[("u", 40)], shape=()), False, True),
            (dict(format=[("c", 8)], shape=(4,)), False, True),
        ],
    )
    def test_variable_and_immediate(self, kwargs, variable, allow) -> None:
        d = spead2.Descriptor(1, "x", "", **kwargs)
        assert d.is_variable_size() is variable
        assert d.allow_immediate() is allow

    def test_dynamic_shape(self) -> None:
        fixed = spead2.Descriptor(1, "x", "", (2, 3), "u1")
        assert fixed.dynamic_shape(100) is fixed.shape
        d = spead2.Descriptor(1, "x", "", (2, None), format=[("u", 8)])
        assert d.dynamic_shape(10) == [2, 5]
        assert d.dynamic_shape(11) == [2, 5]
        assert d.dynamic_shape(1) == [2, 0]
        assert isinstance(d.dynamic_shape(10), list)
        d = spead2.Descriptor(1, "x", "", (0, None), format=[("u", 8)])
        assert d.dynamic_shape(10) == [0, 0]
        d = spead2.Descriptor(1, "x", "", (None,), format=[("u", 8)])
        assert d.dynamic_shape(7) == [7]

    def test_compatible_shape(self) -> None:
        d = spead2.Descriptor(1, "x", "", (2, None), format=[("u", 8)])
        assert d.compatible_shape((2, 7))
        assert d.compatible_shape([2, 0])
        assert not d.compatible_shape((3, 7))
        assert not d.compatible_shape((2,))
        assert not d.compatible_shape((2, 7, 1))
        d = spead2.Descriptor(1, "x", "", (), "u1")
        assert d.compatible_shape(())
        assert not d.compatible_shape((1,))


class TestRawDescriptorConversion:
    def test_to_raw_numpy(self) -> None:
        d = spead2.Descriptor(0x1000, "name", "desc", (2, 3), "<f4", order="F")
        raw = d.to_raw(spead2.Flavour())
        assert isinstance(raw, _spead2.RawDescriptor)
        assert raw.id == 0x1000
        assert raw.name == b"name"
        assert raw.description == b"desc"
        assert raw.shape == [2, 3]
        assert raw.format == []
        assert raw.numpy_header == b"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3)}"

    def test_to_raw_numpy_examples(self) -> None:
        cases = [
            (np.dtype("<f4"), (2,), "C", b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}"),
            (
                np.dtype(">i2"),
                (2, 3, 4),
                "F",
                b"{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3, 4)}",
            ),
            (
                np.dtype([("a", "<u2"), ("b", ">f8"), ("c", "S3")]),
                (2,),
                "C",
                b"{'descr': [('a', '<u2'), ('b', '>f8'), ('c', '|S3')], "
                b"'fortran_order': False, 'shape': (2,)}",
            ),
            (np.dtype("?"), (), "C", b"{'descr': '|b1', 'fortran_order': False, 'shape': ()}"),
        ]
        for dtype, shape, order, header in cases:
            d = spead2.Descriptor(1, "x", "", shape, dtype, order=order)
            assert d.to_raw(spead2.Flavour()).numpy_header == header

    def test_to_raw_numpy_integer_shape(self) -> None:
        d = spead2.Descriptor(1, "x", "", (np.int64(2),), "<f4")
        assert d.to_raw(spead2.Flavour()).numpy_header == (
            b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}"
        )

    def test_to_raw_swap_endian(self) -> None:
        d = spead2.Descriptor(1, "x", "", (2,), [("a", "<u2"), ("b", ">f8"), ("c", "u1")])
        flavour = spead2.Flavour(4, 64, 40, spead2.BUG_COMPAT_SWAP_ENDIAN)
        assert d.to_raw(flavour).numpy_header == (
            b"{'descr': [('a', '>u2'), ('b', '<f8'), ('c', '|u1')], "
            b"'fortran_order': False, 'shape': (2,)}"
        )
        # Other bug_compat bits do not swap
        flavour = spead2.Flavour(4, 64, 40, spead2.BUG_COMPAT_DESCRIPTOR_WIDTHS)
        assert b"'<u2'" in d.to_raw(flavour).numpy_header

    def test_to_raw_format(self) -> None:
        d = spead2.Descriptor(0x1234, "name", "desc", (None, 2), format=[("u", 8), ("f", 32)])
        raw = d.to_raw(spead2.Flavour())
        assert raw.id == 0x1234
        assert raw.shape == [None, 2]
        assert raw.format == [("u", 8), ("f", 32)]
        assert raw.numpy_header == b""

    def test_to_raw_non_ascii(self) -> None:
        d = spead2.Descriptor(1, "nämé", "", (), "u1")
        with pytest.raises(UnicodeEncodeError):
            d.to_raw(spead2.Flavour())
        d = spead2.Descriptor(1, "name", "dèsc", (), "u1")
        with pytest.raises(UnicodeEncodeError):
            d.to_raw(spead2.Flavour())

    def test_from_raw_numpy(self) -> None:
        raw = raw_descriptor(
            id=0x1001,
            name=b"name",
            description=b"desc",
            numpy_header=b"{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3, 4)}",
        )
        d = spead2.Descriptor.from_raw(raw, spead2.Flavour())
        assert type(d) is spead2.Descriptor
        assert (d.id, d.name, d.description) == (0x1001, "name", "desc")
        assert d.shape == (2, 3, 4)
        assert d.dtype == np.dtype(">i2")
        assert d.order == "F"
        assert d.format is None

    def test_from_raw_numpy_ignores_shape_and_format(self) -> None:
        raw = raw_descriptor(
            shape=[5],
            format=[("u", 8)],
            numpy_header=b"{'descr': '<u2', 'fortran_order': False, 'shape': (3,)}",
        )
        d = spead2.Descriptor.from_raw(raw, spead2.Flavour())
        assert d.shape == (3,)
        assert d.format is None
        assert d.order == "C"

    def test_from_raw_swap_endian(self) -> None:
        raw = raw_descriptor(numpy_header=b"{'descr': '>u2', 'fortran_order': False, 'shape': ()}")
        flavour = spead2.Flavour(4, 64, 40, spead2.BUG_COMPAT_PYSPEAD_0_5_2)
        assert spead2.Descriptor.from_raw(raw, flavour).dtype == np.dtype("<u2")

    def test_from_raw_format(self) -> None:
        raw = raw_descriptor(name=b"n", shape=[None, 2], format=[("u", 4), ("c", 8)])
        d = spead2.Descriptor.from_raw(raw, spead2.Flavour())
        assert d.shape == (None, 2)
        assert d.format == [("u", 4), ("c", 8)]
        assert d.dtype is None
        assert d.order == "C"

    def test_item_from_raw(self) -> None:
        raw = raw_descriptor(format=[("u", 8)])
        item = spead2.Item.from_raw(raw, flavour=spead2.Flavour())
        assert type(item) is spead2.Item
        assert item.value is None
        assert item.version == 1

    @pytest.mark.parametrize(
        "header, message",
        [
            (b"{'descr': '<u2', 'fortran_order': False, 'shape': (", "Cannot parse descriptor"),
            (b"import os", "Cannot parse descriptor"),
            (b"[1, 2]", "Descriptor is not a dictionary"),
            (b"{'descr': '<u2', 'shape': ()}", "Descriptor does not contain the correct keys"),
            (
                b"{'descr': '<u2', 'fortran_order': False, 'shape': (), 'x': 1}",
                "Descriptor does not contain the correct keys",
            ),
            (b"{'descr': '<u2', 'fortran_order': False, 'shape': [2]}", "shape is not valid"),
            (b"{'descr': '<u2', 'fortran_order': False, 'shape': (-1,)}", "shape is not valid"),
            (b"{'descr': '<u2', 'fortran_order': False, 'shape': (1.5,)}", "shape is not valid"),
            (b"{'descr': '<u2', 'fortran_order': 1, 'shape': ()}", "fortran_order is not a valid bool"),
            (b"{'descr': 'not a type', 'fortran_order': False, 'shape': ()}", None),
            (b"{'descr': 3, 'fortran_order': False, 'shape': ()}", None),
            (b"{'descr': '|O', 'fortran_order': False, 'shape': ()}", "reference-counted"),
            (b"{'descr': '<U0', 'fortran_order': False, 'shape': ()}", "zero-sized"),
        ],
    )
    def test_from_raw_bad_header(self, header, message) -> None:
        raw = raw_descriptor(numpy_header=header)
        with pytest.raises(ValueError, match=message):
            spead2.Descriptor.from_raw(raw, spead2.Flavour())

    def test_from_raw_bad_format(self) -> None:
        raw = raw_descriptor(format=[("u", 0)])
        with pytest.raises(ValueError, match="zero-length field"):
            spead2.Descriptor.from_raw(raw, spead2.Flavour())
        raw = raw_descriptor(format=[])
        with pytest.raises(ValueError, match="empty format"):
            spead2.Descriptor.from_raw(raw, spead2.Flavour())

    def test_from_raw_non_ascii(self) -> None:
        raw = raw_descriptor(name=b"\xff", format=[("u", 8)])
        with pytest.raises(UnicodeDecodeError):
            spead2.Descriptor.from_raw(raw, spead2.Flavour())

    @pytest.mark.parametrize("bug_compat", [0, spead2.BUG_COMPAT_SWAP_ENDIAN])
    @pytest.mark.parametrize(
        "kwargs",
        [
            dict(shape=(2, 3), dtype="<f4", order="F"),
            dict(shape=(), dtype=[("a", ">u2"), ("b", "S3")]),
            dict(shape=(None,), format=[("c", 8)]),
            dict(shape=(3, None), format=[("u", 4), ("i", 40)]),
        ],
    )
    def test_round_trip(self, kwargs, bug_compat) -> None:
        flavour = spead2.Flavour(4, 64, 48, bug_compat)
        d = spead2.Descriptor(0x1005, "name", "description", **kwargs)
        d2 = spead2.Descriptor.from_raw(d.to_raw(flavour), flavour)
        for attr in ["id", "name", "description", "shape", "dtype", "order", "format"]:
            assert getattr(d2, attr) == getattr(d, attr), attr


# --------------------------------------------------------------------------
# Item: value, version, to_buffer
# --------------------------------------------------------------------------


class TestItemValue:
    def test_construct(self) -> None:
        item = spead2.Item(1, "x", "", (), "u1")
        assert item.value is None
        assert item.version == 1
        item = spead2.Item(1, "x", "", (), "u1", value=5)
        assert item.value == 5
        assert item.version == 1
        assert isinstance(item, spead2.Descriptor)

    def test_value_keyword_only(self) -> None:
        with pytest.raises(TypeError):
            spead2.Item(1, "x", "", (), "u1", "C", None, 5)

    def test_set_value(self) -> None:
        item = spead2.Item(1, "x", "", (), "u1")
        item.value = 3
        assert item.version == 2
        item.value = 3
        assert item.version == 3
        with pytest.raises(ValueError, match="Item value cannot be set to None"):
            item.value = None
        assert item.version == 3
        assert item.value == 3


class TestToBuffer:
    def test_none(self) -> None:
        for kwargs in [dict(dtype="u1"), dict(format=[("u", 40)]), dict(format=[("u", 4)])]:
            item = spead2.Item(1, "x", "", (), **kwargs)
            with pytest.raises(ValueError, match="Cannot send a value of None"):
                item.to_buffer()

    def test_numpy_zero_copy(self) -> None:
        value = np.arange(1 << 20, dtype=np.uint8) % 251
        item = spead2.Item(1, "x", "", value.shape, np.uint8, value=value)
        assert item.to_buffer() is value
        # Native-endian dtype descriptor, matching array
        value = np.arange(100, dtype="<u4")
        item = spead2.Item(1, "x", "", (100,), "<u4", value=value)
        assert item.to_buffer() is value

    def test_numpy_convert(self) -> None:
        item = spead2.Item(1, "x", "", (3,), "<u2", value=[1, 2, 0x1234])
        buf = item.to_buffer()
        assert as_bytes(buf) == b"\x01\x00\x02\x00\x34\x12"
        assert memoryview(buf).c_contiguous

    def test_numpy_format_big_endian(self) -> None:
        item = spead2.Item(1, "x", "", (), format=[("u", 16)], value=0x1234)
        assert as_bytes(item.to_buffer()) == b"\x12\x34"
        item = spead2.Item(1, "x", "", (2,), format=[("u", 8), ("f", 32)], value=[(1, 1.0), (2, -2.0)])
        assert as_bytes(item.to_buffer()) == b"\x01\x3f\x80\x00\x00\x02\xc0\x00\x00\x00"

    def test_numpy_non_contiguous(self) -> None:
        value = np.arange(10, dtype=np.uint8)[::2]
        item = spead2.Item(1, "x", "", (5,), np.uint8, value=value)
        buf = item.to_buffer()
        assert memoryview(buf).c_contiguous
        assert as_bytes(buf) == bytes([0, 2, 4, 6, 8])

    def test_numpy_overflow(self) -> None:
        item = spead2.Item(1, "x", "", (), format=[("u", 16)], value=70000)
        with pytest.raises(OverflowError):
            item.to_buffer()

    def test_fortran_order(self) -> None:
        value = np.arange(6, dtype=np.uint8).reshape(2, 3)
        item = spead2.Item(1, "x", "", (2, 3), np.uint8, order="F", value=value)
        buf = item.to_buffer()
        assert memoryview(buf).c_contiguous
        assert as_bytes(buf) == bytes([0, 3, 1, 4, 2, 5])
        # Already Fortran-ordered: no copy
        value = np.asfortranarray(value)
        item.value = value
        buf = item.to_buffer()
        assert np.shares_memory(buf, value)
        assert as_bytes(buf) == bytes([0, 3, 1, 4, 2, 5])

    def test_shape_mismatch(self) -> None:
        item = spead2.Item(1, "x", "", (2,), np.uint8, value=[1, 2, 3])
        with pytest.raises(ValueError, match=r"Value has shape \(3,\), expected \(2,\)"):
            item.to_buffer()
        item = spead2.Item(1, "x", "", (2, None), format=[("u", 8)], value=[[1, 2, 3]])
        with pytest.raises(ValueError, match=r"Value has shape \(1, 3\), expected \(2, None\)"):
            item.to_buffer()
        item = spead2.Item(1, "x", "", (2, None), format=[("u", 8)], value=[[1, 2, 3], [4, 5, 6]])
        assert as_bytes(item.to_buffer()) == bytes([1, 2, 3, 4, 5, 6])

    @pytest.mark.parametrize("value", ["abc", b"abc"])
    def test_string(self, value) -> None:
        item = spead2.Item(1, "x", "", (None,), format=[("c", 8)], value=value)
        assert as_bytes(item.to_buffer()) == b"abc"
        item = spead2.Item(1, "x", "", (3,), format=[("c", 8)], value=value)
        assert as_bytes(item.to_buffer()) == b"abc"
        item = spead2.Item(1, "x", "", (4,), format=[("c", 8)], value=value)
        with pytest.raises(ValueError, match="Value has shape"):
            item.to_buffer()

    def test_string_empty(self) -> None:
        item = spead2.Item(1, "x", "", (None,), format=[("c", 8)], value="")
        assert as_bytes(item.to_buffer()) == b""

    def test_string_nul(self) -> None:
        item = spead2.Item(1, "x", "", (None,), format=[("c", 8)], value="a\0b")
        assert as_bytes(item.to_buffer()) == b"a\0b"

    def test_string_non_ascii(self) -> None:
        item = spead2.Item(1, "x", "", (None,), format=[("c", 8)], value="é")
        with pytest.raises(UnicodeEncodeError):
            item.to_buffer()

    def test_string_dtype(self) -> None:
        item = spead2.Item(1, "x", "", (3,), "S1", value="xyz")
        assert as_bytes(item.to_buffer()) == b"xyz"

    def test_string_split_other_dtype(self) -> None:
        # bytes are split into 1-byte pieces, then converted with the dtype
        item = spead2.Item(1, "x", "", (2,), "S2", value=b"ab")
        assert as_bytes(item.to_buffer()) == b"a\0b\0"

    def test_string_not_split_for_scalar(self) -> None:
        item = spead2.Item(1, "x", "", (), "S3", value=b"ab")
        assert as_bytes(item.to_buffer()) == b"ab\0"

    @pytest.mark.parametrize(
        "format, value, expected",
        [
            ([("u", 40)], 0x0102030405, b"\x01\x02\x03\x04\x05"),
            ([("u", 24)], 0xABCDEF, b"\xab\xcd\xef"),
            ([("u", 24)], 0x1ABCDEF, b"\xab\xcd\xef"),  # excess bits dropped
            ([("u", 48)], 1, b"\0\0\0\0\0\x01"),
            ([("u", 56)], 2**56 - 1, b"\xff" * 7),
            ([("i", 24)], 5, b"\0\0\x05"),
            ([("i", 24)], -1, b"\xff\xff\xff"),  # two's complement (fixes a reference quirk)
            ([("i", 40)], -2, b"\xff\xff\xff\xff\xfe"),
            ([("i", 40)], -(2**39), b"\x80\0\0\0\0"),
            ([("i", 8 * 7)], np.int64(-3), b"\xff" * 6 + b"\xfd"),
        ],
    )
    def test_immediate(self, format, value, expected) -> None:
        item = spead2.Item(1, "x", "", (), format=format, value=value)
        buf = item.to_buffer()
        assert as_bytes(buf) == expected
        assert memoryview(buf).c_contiguous

    def test_immediate_zero_copy(self) -> None:
        value = np.array(5, dtype=">u8")
        item = spead2.Item(1, "x", "", (), format=[("u", 40)], value=value)
        buf = item.to_buffer()
        assert as_bytes(buf) == b"\0\0\0\0\x05"
        value[()] = 0x0102030405
        assert as_bytes(buf) == b"\x01\x02\x03\x04\x05"

    def test_immediate_shape_mismatch(self) -> None:
        item = spead2.Item(1, "x", "", (), format=[("u", 40)], value=[1, 2])
        with pytest.raises(ValueError, match=r"Value has shape \(2,\), expected \(\)"):
            item.to_buffer()

    @pytest.mark.parametrize(
        "format, shape, value, expected",
        [
            ([("u", 4)], (3,), [1, 2, 15], b"\x12\xf0"),
            ([("u", 4)], (None,), [1, 2, 15], b"\x12\xf0"),
            ([("u", 4)], (2, 2), [[1, 2], [3, 4]], b"\x12\x34"),
            ([("u", 1)], (10,), [1] * 10, b"\xff\xc0"),
            ([("u", 12)], (), 0xABC, b"\xab\xc0"),
            ([("u", 65)], (), 2**64 + 1, b"\x80" + b"\0" * 7 + b"\x80"),
            ([("i", 4)], (2,), [-1, 7], b"\xf7"),
            ([("i", 4)], (2,), [-8, 0], b"\x80"),
            ([("b", 1)], (3,), [True, False, 5], b"\xa0"),
            ([("b", 16)], (), True, b"\0\x01"),
            ([("u", 4), ("c", 8)], (), (1, b"a"), b"\x16\x10"),
            ([("u", 4), ("c", 8)], (), (1, "a"), b"\x16\x10"),
            ([("u", 4), ("u", 16)], (2,), [(1, 0x1234), (2, 0xFFFF)], b"\x11\x23\x42\xff\xff"),
            ([("u", 4), ("b", 8)], (), (3, True), b"\x30\x10"),
            ([("u", 40)], (1,), [0x0102030405], b"\x01\x02\x03\x04\x05"),
            ([("u", 4)], (0,), [], b""),
        ],
    )
    def test_bits(self, format, shape, value, expected) -> None:
        item = spead2.Item(1, "x", "", shape, format=format, value=value)
        buf = item.to_buffer()
        assert isinstance(buf, bytearray)
        assert as_bytes(buf) == expected

    def test_bits_float(self) -> None:
        item = spead2.Item(1, "x", "", (), format=[("b", 1), ("f", 32)], value=(True, 1.0))
        expected = ((1 << 32 | 0x3F800000) << 7).to_bytes(5, "big")
        assert as_bytes(item.to_buffer()) == expected
        item = spead2.Item(1, "x", "", (), format=[("u", 8), ("f", 64), ("b", 1)], value=(1, -2.0, 0))
        expected = ((1 << 65 | 0xC000000000000000 << 1) << 7).to_bytes(10, "big")
        assert as_bytes(item.to_buffer()) == expected

    def test_bits_nul_char(self) -> None:
        item = spead2.Item(1, "x", "", (), format=[("u", 4), ("c", 8)], value=(1, b"\0"))
        assert as_bytes(item.to_buffer()) == b"\x10\x00"

    @pytest.mark.parametrize(
        "format, value, message",
        [
            ([("u", 4)], [16], "16 is out of range for u4"),
            ([("u", 4)], [-1], "-1 is out of range for u4"),
            ([("i", 4)], [8], "8 is out of range for i4"),
            ([("i", 4)], [-9], "-9 is out of range for i4"),
            ([("u", 4), ("u", 4)], [(1, 16)], "16 is out of range for u4"),
        ],
    )
    def test_bits_out_of_range(self, format, value, message) -> None:
        item = spead2.Item(1, "x", "", (None,), format=format, value=value)
        with pytest.raises(ValueError, match=message):
            item.to_buffer()


# --------------------------------------------------------------------------
# Item.set_from_raw
# --------------------------------------------------------------------------


class TestSetFromRaw:
    def test_numpy_addressed(self) -> None:
        item = spead2.Item(1, "x", "", (3,), "<u2")
        raw = FakeRawItem(b"\x01\x00\x02\x00\x03\x00\xff")  # trailing byte ignored
        item.set_from_raw(raw)
        assert item.version == 2
        np.testing.assert_array_equal(item.value, [1, 2, 3])
        assert item.value.dtype == np.dtype("=u2")
        # The value references the received memory
        assert np.shares_memory(item.value, np.frombuffer(raw, np.uint8))

    def test_numpy_big(self) -> None:
        data = bytes(range(256)) * 4096
        item = spead2.Item(1, "x", "", (len(data),), np.uint8)
        raw = FakeRawItem(data)
        item.set_from_raw(raw)
        assert np.shares_memory(item.value, np.frombuffer(raw, np.uint8))
        assert item.value.tobytes() == data

    def test_too_few(self) -> None:
        item = spead2.Item(1, "x", "", (4,), "<u2", value=[1, 2, 3, 4])
        with pytest.raises(ValueError, match=r"Item x has too few elements for shape \(3 < 4\)"):
            item.set_from_raw(FakeRawItem(bytes(7)))
        assert item.version == 1
        item = spead2.Item(1, "y", "", (3,), format=[("u", 4)])
        with pytest.raises(ValueError, match=r"Item y has too few elements for shape \(2 < 3\)"):
            item.set_from_raw(FakeRawItem(b"\x12"))

    def test_numpy_format_variable(self) -> None:
        item = spead2.Item(1, "x", "", (None,), format=[("u", 16)])
        item.set_from_raw(FakeRawItem(b"\x00\x01\x00\x02\x12\x34\x56"))
        np.testing.assert_array_equal(item.value, [1, 2, 0x1234])
        assert item.value.dtype == np.dtype("=u2")

    def test_new_order_keep(self) -> None:
        item = spead2.Item(1, "x", "", (None,), format=[("u", 16)])
        raw = FakeRawItem(b"\x00\x01\x00\x02")
        item.set_from_raw(raw, new_order="|")
        assert item.value.dtype == np.dtype(">u2")
        np.testing.assert_array_equal(item.value, [1, 2])
        assert np.shares_memory(item.value, np.frombuffer(raw, np.uint8))

    @pytest.mark.parametrize("new_order", ["<", ">", "S", "="])
    def test_new_order(self, new_order) -> None:
        item = spead2.Item(1, "x", "", (2,), "<u2")
        item.set_from_raw(FakeRawItem(b"\x01\x00\x02\x00"), new_order=new_order)
        assert item.value.dtype == np.dtype("<u2").newbyteorder(new_order)
        np.testing.assert_array_equal(item.value, [1, 2])

    def test_structured_native(self) -> None:
        item = spead2.Item(1, "x", "", (2,), format=[("u", 8), ("u", 16)])
        item.set_from_raw(FakeRawItem(b"\x01\x00\x02\x03\x00\x04"))
        assert item.value.dtype == np.dtype([("f0", "u1"), ("f1", "=u2")])
        assert item.value.tolist() == [(1, 2), (3, 4)]

    def test_numpy_variable_2d(self) -> None:
        item = spead2.Item(1, "x", "", (2, None), format=[("u", 8)])
        item.set_from_raw(FakeRawItem(bytes(range(11))))
        assert item.value.shape == (2, 5)
        np.testing.assert_array_equal(item.value, np.arange(10).reshape(2, 5))
        item = spead2.Item(1, "x", "", (0, None), format=[("u", 8)])
        item.set_from_raw(FakeRawItem(bytes(10)))
        assert item.value.shape == (0, 0)

    @pytest.mark.parametrize(
        ("shape", "dtype", "order"),
        [
            ((5,), "u1", "C"),
            ((2, 3), "<u2", "C"),
            ((2, 3), "<u2", "F"),
            ((2, 3), ">u2", "C"),  # swapped to native order: not the one-call decode
            ((2, 2, 2), "<f4", "F"),
        ],
    )
    def test_numpy_matches_plain_numpy(self, shape, dtype, order) -> None:
        # Fixed shapes in native order are decoded in one numpy call; every case
        # must give what the plain numpy recipe gives, and keep referencing the
        # received memory.
        dtype = np.dtype(dtype)
        n = int(np.prod(shape))
        data = np.random.default_rng(1).integers(0, 256, n * dtype.itemsize + 3, np.uint8).tobytes()
        expected = np.frombuffer(data, dtype, n).reshape(shape, order=order).astype(dtype.newbyteorder("="))
        item = spead2.Item(1, "x", "", shape, dtype, order=order)
        for version in (2, 3):  # the second decode reuses what the first worked out
            raw = FakeRawItem(data)
            item.set_from_raw(raw)
            assert item.version == version
            assert item.value.dtype == expected.dtype
            assert item.value.shape == expected.shape
            np.testing.assert_array_equal(item.value, expected)
            assert item.value.flags.f_contiguous == (order == "F" or len(shape) == 1)
            if dtype.isnative:
                assert np.shares_memory(item.value, np.frombuffer(raw, np.uint8))

    def test_numpy_shape_and_order_reassigned(self) -> None:
        item = spead2.Item(1, "x", "", (2, 3), "u1")
        data = bytes(range(6))
        item.set_from_raw(FakeRawItem(data))
        assert item.value.tolist() == [[0, 1, 2], [3, 4, 5]]
        item.order = "F"
        item.set_from_raw(FakeRawItem(data))
        assert item.value.tolist() == [[0, 2, 4], [1, 3, 5]]
        item.shape = (3, 2)
        item.set_from_raw(FakeRawItem(data))
        assert item.value.tolist() == [[0, 3], [1, 4], [2, 5]]
        item.shape = (4,)
        item.set_from_raw(FakeRawItem(data))
        assert item.value.tolist() == [0, 1, 2, 3]
        with pytest.raises(ValueError, match=r"Item x has too few elements for shape \(6 < 7\)"):
            item.shape = (7,)
            item.set_from_raw(FakeRawItem(data))

    def test_numpy_immediate(self) -> None:
        item = spead2.Item(1, "x", "", (), "<u2")
        item.set_from_raw(FakeRawItem(b"\x00\x00\x00\x34\x12", is_immediate=True))
        assert item.value == 0x1234
        assert isinstance(item.value, np.uint16)
        item = spead2.Item(1, "x", "", (3,), "u1")
        item.set_from_raw(immediate(b"\x07\x08\x09"))
        np.testing.assert_array_equal(item.value, [7, 8, 9])

    def test_numpy_scalar(self) -> None:
        item = spead2.Item(1, "x", "", (), format=[("u", 32)])
        item.set_from_raw(FakeRawItem(b"\x00\x00\x01\x00"))
        assert item.value == 256
        assert isinstance(item.value, np.uint32)
        item = spead2.Item(1, "x", "", (), format=[("u", 8), ("u", 8)])
        item.set_from_raw(FakeRawItem(b"\x01\x02"))
        assert isinstance(item.value, np.void)
        assert item.value.tolist() == (1, 2)

    @pytest.mark.parametrize("dtype", ["<f4", ">u2", "u1"])
    def test_zero_size_fixed_immediate(self, dtype) -> None:
        # Deliberate deviation from the reference (which raises ValueError)
        item = spead2.Item(1, "x", "", (0,), dtype)
        item.set_from_raw(immediate(b""))
        assert isinstance(item.value, np.ndarray)
        assert item.value.shape == (0,)
        assert item.value.dtype == np.dtype(dtype).newbyteorder("=")

    def test_fortran_order(self) -> None:
        item = spead2.Item(1, "x", "", (2, 3), "u1", order="F")
        item.set_from_raw(FakeRawItem(bytes([0, 3, 1, 4, 2, 5])))
        np.testing.assert_array_equal(item.value, np.arange(6).reshape(2, 3))
        assert item.value.flags.f_contiguous

    def test_string(self) -> None:
        item = spead2.Item(1, "x", "", (None,), format=[("c", 8)])
        item.set_from_raw(FakeRawItem(b"hello"))
        assert item.value == "hello"
        item = spead2.Item(1, "x", "", (3,), format=[("c", 8)])
        item.set_from_raw(immediate(b"abc"))
        assert item.value == "abc"

    def test_string_non_ascii(self) -> None:
        item = spead2.Item(1, "x", "", (None,), format=[("c", 8)])
        with pytest.raises(UnicodeDecodeError):
            item.set_from_raw(FakeRawItem(b"\xff"))

    def test_string_2d_not_joined(self) -> None:
        item = spead2.Item(1, "x", "", (2, 2), format=[("c", 8)])
        item.set_from_raw(FakeRawItem(b"abcd"))
        assert isinstance(item.value, np.ndarray)
        assert item.value.dtype == np.dtype("S1")
        assert item.value.tolist() == [[b"a", b"b"], [b"c", b"d"]]

    def test_immediate_fastpath(self) -> None:
        item = spead2.Item(1, "x", "", (), format=[("u", 40)])
        item.set_from_raw(immediate(b"\x01\x02\x03\x04\x05"))
        assert item.value == 0x0102030405
        assert type(item.value) is int
        assert item.version == 2

    @pytest.mark.parametrize(
        "data, value", [(b"\xff\xff\xff\xff\xfe", -2), (b"\x7f\xff\xff\xff\xff", 2**39 - 1)]
    )
    def test_immediate_fastpath_signed(self, data, value) -> None:
        item = spead2.Item(1, "x", "", (), format=[("i", 40)])
        item.set_from_raw(immediate(data))
        assert item.value == value
        assert type(item.value) is int

    def test_immediate_narrower_than_field(self) -> None:
        # 64-40 field, 24-bit item: generic path on the trailing bytes
        item = spead2.Item(1, "x", "", (), format=[("u", 24)])
        item.set_from_raw(immediate(b"\xab\xcd\xef"))
        assert item.value == 0xABCDEF
        assert type(item.value) is int
        item = spead2.Item(1, "x", "", (), format=[("i", 24)])
        item.set_from_raw(immediate(b"\xff\xff\xfd"))
        assert item.value == -3
        # 64-48 field, 40-bit item
        item = spead2.Item(1, "x", "", (), format=[("u", 40)])
        item.set_from_raw(immediate(b"\x01\x02\x03\x04\x05", hab=6))
        assert item.value == 0x0102030405

    def test_immediate_fastpath_addressed(self) -> None:
        item = spead2.Item(1, "x", "", (), format=[("u", 40)])
        item.set_from_raw(FakeRawItem(b"\x01\x02\x03\x04\x05\x06"))
        assert item.value == 0x0102030405
        assert type(item.value) is int

    def test_bits(self) -> None:
        item = spead2.Item(1, "x", "", (3,), format=[("u", 4)])
        item.set_from_raw(FakeRawItem(b"\x12\xf0"))
        assert isinstance(item.value, np.ndarray)
        assert item.value.dtype == np.dtype("O")
        assert item.value.tolist() == [1, 2, 15]

    def test_bits_variable_overcount(self) -> None:
        item = spead2.Item(1, "x", "", (None,), format=[("u", 4)])
        item.set_from_raw(FakeRawItem(b"\x12\x34\x50"))
        assert item.value.tolist() == [1, 2, 3, 4, 5, 0]

    def test_bits_scalar(self) -> None:
        item = spead2.Item(1, "x", "", (), format=[("u", 12)])
        item.set_from_raw(FakeRawItem(b"\xab\xc0"))
        assert item.value == 0xABC
        assert type(item.value) is int
        item = spead2.Item(1, "x", "", (), format=[("b", 1)])
        item.set_from_raw(FakeRawItem(b"\x80"))
        assert item.value is True

    def test_bits_signed(self) -> None:
        item = spead2.Item(1, "x", "", (2,), format=[("i", 4)])
        item.set_from_raw(FakeRawItem(b"\xf7"))
        assert item.value.tolist() == [-1, 7]

    def test_bits_multi_field(self) -> None:
        item = spead2.Item(1, "x", "", (), format=[("u", 4), ("c", 8)])
        item.set_from_raw(FakeRawItem(b"\x16\x10"))
        assert isinstance(item.value, np.void)
        assert item.value.tolist() == (1, b"a")
        item = spead2.Item(1, "x", "", (2,), format=[("u", 4), ("u", 16)])
        item.set_from_raw(FakeRawItem(b"\x11\x23\x42\xff\xff"))
        assert item.value.tolist() == [(1, 0x1234), (2, 0xFFFF)]

    def test_bits_float(self) -> None:
        item = spead2.Item(1, "x", "", (), format=[("b", 1), ("f", 32)])
        item.set_from_raw(FakeRawItem(((1 << 32 | 0x3F800000) << 7).to_bytes(5, "big")))
        flag, value = item.value.tolist()
        assert flag is True
        assert value == 1.0
        # No byte-order conversion on the bit path
        assert item.value.dtype == np.dtype([("f0", "O"), ("f1", ">f4")])

    def test_bits_immediate(self) -> None:
        # A 24-bit two-field element arriving as a 64-40 immediate: trailing bytes
        item = spead2.Item(1, "x", "", (), format=[("u", 4), ("u", 20)])
        item.set_from_raw(immediate(b"\x1a\xbc\xde"))
        assert item.value.tolist() == (1, 0xABCDE)

    def test_bits_round_trip(self) -> None:
        cases = [
            ([("u", 4)], (None,), [1, 2, 15, 0]),
            ([("i", 12)], (2, 2), [[-1, 2], [-2048, 2047]]),
            ([("u", 3), ("i", 5), ("b", 1)], (3,), [(7, -16, True), (0, 15, False), (1, -1, True)]),
            ([("u", 100)], (), 2**99 + 12345),
        ]
        for format, shape, value in cases:
            sender = spead2.Item(1, "x", "", shape, format=format, value=value)
            receiver = spead2.Item(1, "x", "", shape, format=format)
            receiver.set_from_raw(FakeRawItem(as_bytes(sender.to_buffer())))
            result = receiver.value
            if isinstance(result, np.ndarray):
                result = result.tolist()
            assert result == value


# --------------------------------------------------------------------------
# ItemGroup
# --------------------------------------------------------------------------


class TestItemGroup:
    def test_add_item_returns_item(self) -> None:
        ig = spead2.ItemGroup()
        item = ig.add_item(0x1234, "x", "desc", (), "u1", value=3)
        assert isinstance(item, spead2.Item)
        assert ig[0x1234] is item
        assert ig["x"] is item
        assert item.version == 1
        assert item.value == 3

    def test_auto_id(self) -> None:
        ig = spead2.ItemGroup()
        ig.add_item(0x1001, "b", "", (), "u1")
        assert ig.add_item(None, "a", "", (), "u1").id == 0x1000
        assert ig.add_item(None, "c", "", (), "u1").id == 0x1002
        assert ig.add_item(5, "d", "", (), "u1").id == 5
        assert ig.add_item(None, "e", "", (), "u1").id == 0x1003

    def test_value_keyword_only(self) -> None:
        ig = spead2.ItemGroup()
        with pytest.raises(TypeError):
            ig.add_item(1, "x", "", (), "u1", "C", None, 5)

    def test_lookup(self) -> None:
        ig = spead2.ItemGroup()
        a = ig.add_item(1, "a", "", (), "u1")
        b = ig.add_item(0x1000, "b", "", (), "u1")
        assert ig[np.int64(0x1000)] is b
        assert ig[True] is a
        assert ig["a"] is a
        assert 1 in ig
        assert np.uint16(0x1000) in ig
        assert "b" in ig
        assert 2 not in ig
        assert "c" not in ig
        assert "1" not in ig
        with pytest.raises(KeyError):
            ig[2]
        with pytest.raises(KeyError):
            ig["c"]

    def test_views(self) -> None:
        ig = spead2.ItemGroup()
        a = ig.add_item(3, "a", "", (), "u1")
        b = ig.add_item(1, "b", "", (), "u1")
        assert list(ig.keys()) == ["a", "b"]
        assert list(ig.ids()) == [3, 1]
        assert list(ig.values()) == [a, b]
        assert list(ig.items()) == [("a", a), ("b", b)]
        assert len(ig) == 2

    def test_merge_same_descriptor(self) -> None:
        ig = spead2.ItemGroup()
        old = ig.add_item(0x1000, "x", "desc", (2,), "<u2", value=[1, 2])
        new = ig.add_item(0x1000, "x", "desc", (2,), "<u2", value=[3, 4])
        assert new is not old
        assert ig[0x1000] is old
        assert old.value == [3, 4]
        assert old.version == 2
        assert len(ig) == 1
        # value None: nothing changes
        ig.add_item(0x1000, "x", "desc", (2,), "<u2")
        assert old.value == [3, 4]
        assert old.version == 2
        assert ig[0x1000] is old

    def test_merge_same_format_descriptor(self) -> None:
        ig = spead2.ItemGroup()
        old = ig.add_item(0x1000, "x", "", (None,), format=[("u", 4)])
        ig.add_item(0x1000, "x", "", (None,), format=[("u", 4)], value=[1])
        assert ig[0x1000] is old
        assert old.version == 2

    @pytest.mark.parametrize(
        "kwargs",
        [
            dict(name="x", description="other", shape=(2,), dtype="<u2"),
            dict(name="x", description="desc", shape=(3,), dtype="<u2"),
            dict(name="x", description="desc", shape=(2,), dtype=">u2"),
            dict(name="x", description="desc", shape=(2,), dtype="<u2", order="F"),
            dict(name="x", description="desc", shape=(2,), format=[("u", 16)]),
            dict(name="y", description="desc", shape=(2,), dtype="<u2"),
        ],
    )
    def test_replace_by_id(self, kwargs, caplog) -> None:
        ig = spead2.ItemGroup()
        ig.add_item(1, "first", "", (), "u1")
        old = ig.add_item(0x1000, "x", "desc", (2,), "<u2", value=[1, 2])
        old.value = [3, 4]
        old.value = [5, 6]
        assert old.version == 3
        ig.add_item(2, "last", "", (), "u1")
        with caplog.at_level(logging.INFO, logger="spead2"):
            new = ig.add_item(0x1000, **kwargs)
        assert ig[0x1000] is new
        assert ig[kwargs["name"]] is new
        assert new.version == 4
        assert new.value is None
        if kwargs["name"] != "x":
            assert "x" not in ig
        assert list(ig.keys()) == ["first", "last", kwargs["name"]]
        assert [r.getMessage() for r in caplog.records if r.name == "spead2"] == [
            f"Descriptor replacement for ID 0x1000, name {kwargs['name']}"
        ]
        assert caplog.records[-1].levelno == logging.INFO

    def test_replace_by_name(self) -> None:
        ig = spead2.ItemGroup()
        old = ig.add_item(0x1000, "x", "", (), "u1")
        new = ig.add_item(0x1001, "x", "", (), "u1")
        assert new.version == 2
        assert 0x1000 not in ig
        assert ig["x"] is new
        assert list(ig.ids()) == [0x1001]
        assert old is not new

    def test_replace_both(self) -> None:
        ig = spead2.ItemGroup()
        by_id = ig.add_item(0x1000, "a", "", (), "u1")
        by_name = ig.add_item(0x1001, "b", "", (), "u1")
        for _ in range(5):
            by_name.value = 1
        by_id.value = 1
        assert (by_id.version, by_name.version) == (2, 6)
        keep = ig.add_item(0x1002, "c", "", (), "u1")
        new = ig.add_item(0x1000, "b", "", (), "u1")
        assert new.version == 7
        assert list(ig.items()) == [("c", keep), ("b", new)]
        assert list(ig.ids()) == [0x1002, 0x1000]

    def test_replace_keeps_higher_new_version(self) -> None:
        ig = spead2.ItemGroup()
        ig.add_item(0x1000, "a", "", (), "u1")
        item = spead2.Item(0x1000, "a", "changed", (), "u1")
        item.version = 10
        ig._add_item(item)
        assert ig["a"].version == 10

    def test_replace_after_attribute_change(self) -> None:
        ig = spead2.ItemGroup()
        old = ig.add_item(0x1000, "a", "", (), "u1")
        old.name = "renamed"  # attributes are freely assignable
        new = ig.add_item(0x1000, "b", "", (), "u1")
        assert list(ig.items()) == [("b", new)]

    def test_dtype_none_vs_float64(self) -> None:
        # numpy.dtype('f8') == None is true: make sure it is not treated as equal
        ig = spead2.ItemGroup()
        old = ig.add_item(0x1000, "a", "", (), np.float64)
        item = spead2.Item(0x1000, "a", "", (), np.float64)
        item.dtype = None  # contrived, but exercises the comparison
        item.format = None
        ig._add_item(item)
        assert ig["a"] is item
        assert old is not item


class TestItemGroupUpdate:
    def test_update(self, caplog) -> None:
        ig = spead2.ItemGroup()
        descriptors = [
            raw_descriptor(id=0x1000, name=b"imm", format=[("u", 40)]),
            raw_descriptor(
                id=0x1001,
                name=b"arr",
                numpy_header=b"{'descr': '>u2', 'fortran_order': False, 'shape': (3,)}",
            ),
        ]
        heap = FakeHeap(descriptors)
        with caplog.at_level(logging.INFO, logger="spead2"):
            assert ig.update(heap) == {}
        assert list(ig.keys()) == ["imm", "arr"]
        assert ig["imm"].version == 1
        assert ig["imm"].value is None
        assert ig["arr"].dtype == np.dtype(">u2")
        assert not caplog.records

        items = [
            FakeRawItem(b"\x00\x01\x00\x02\x00\x03", 0x1001),
            FakeRawItem(b"\0\0\0\0\0", spead2.STREAM_CTRL_ID, True),
            FakeRawItem(b"\0\0\0\0\x07", 0x1234, True),
            immediate(b"\x01\x02\x03\x04\x05", 0x1000),
        ]
        with caplog.at_level(logging.INFO, logger="spead2"):
            updated = ig.update(FakeHeap([], items))
        assert list(updated.keys()) == ["arr", "imm"]
        assert updated["arr"] is ig["arr"]
        assert ig["imm"].value == 0x0102030405
        np.testing.assert_array_equal(ig["arr"].value, [1, 2, 3])
        assert ig["arr"].value.dtype == np.dtype("=u2")
        assert ig["imm"].version == 3
        assert ig["arr"].version == 3
        assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
            (logging.WARNING, "Item with ID 0x1234 received but there is no descriptor")
        ]

    def test_update_skips_special_ids(self) -> None:
        ig = spead2.ItemGroup()
        for i in range(7):
            ig._add_item(spead2.Item(i, f"item{i}", "", (), format=[("u", 40)]))
        items = [immediate(b"\x01", i) for i in range(7)]
        assert ig.update(FakeHeap([], items)) == {}
        assert all(item.value is None for item in ig.values())

    def test_update_new_order(self) -> None:
        ig = spead2.ItemGroup()
        ig.add_item(0x1000, "a", "", (2,), ">u2")
        ig.update(FakeHeap([], [FakeRawItem(b"\0\x01\0\x02")]), new_order="|")
        assert ig["a"].value.dtype == np.dtype(">u2")

    def test_update_same_descriptor(self) -> None:
        ig = spead2.ItemGroup()
        item = ig.add_item(0x1000, "a", "", (None,), format=[("u", 8)], value=[1])
        ig.update(FakeHeap([raw_descriptor(id=0x1000, name=b"a", shape=[None], format=[("u", 8)])]))
        assert ig["a"] is item
        assert item.value == [1]
        assert item.version == 1

    def test_update_replacement(self) -> None:
        ig = spead2.ItemGroup()
        item = ig.add_item(0x1000, "a", "", (None,), format=[("u", 8)], value=[1])
        item.value = [2]
        desc = raw_descriptor(id=0x1000, name=b"a", description=b"new", format=[("u", 8)])
        ig.update(FakeHeap([desc]))
        assert ig["a"] is not item
        assert ig["a"].version == 3
        assert ig["a"].value is None
        assert ig["a"].shape == ()

    def test_update_swap_endian(self) -> None:
        ig = spead2.ItemGroup()
        desc = raw_descriptor(numpy_header=b"{'descr': '>u2', 'fortran_order': False, 'shape': ()}")
        ig.update(FakeHeap([desc], [immediate(b"\x34\x12")], bug_compat=spead2.BUG_COMPAT_SWAP_ENDIAN))
        assert ig["x"].dtype == np.dtype("<u2")
        assert ig["x"].value == 0x1234

    def test_update_bad_descriptor_partial(self) -> None:
        ig = spead2.ItemGroup()
        good = raw_descriptor(id=0x1000, name=b"good", format=[("u", 8)])
        bad = raw_descriptor(id=0x1001, name=b"bad", numpy_header=b"{")
        with pytest.raises(ValueError, match="Cannot parse descriptor"):
            ig.update(FakeHeap([good, bad]))
        assert list(ig.keys()) == ["good"]

    def test_update_bad_value_partial(self) -> None:
        ig = spead2.ItemGroup()
        ig.add_item(0x1000, "a", "", (), format=[("u", 8)])
        ig.add_item(0x1001, "b", "", (4,), format=[("u", 8)])
        items = [FakeRawItem(b"\x05", 0x1000), FakeRawItem(b"\x01\x02", 0x1001)]
        with pytest.raises(ValueError, match="too few elements"):
            ig.update(FakeHeap([], items))
        assert ig["a"].value == 5
        assert ig["b"].value is None


# --------------------------------------------------------------------------
# Round trips through the native sender/receiver
# --------------------------------------------------------------------------


class TestNativeRoundTrip:
    def test_worked_example_data_heap(self) -> None:
        """protocol.md §14: data heap with cnt 5."""
        import spead2.send

        ig = spead2.ItemGroup()
        ig.add_item(0x1000, "a", "", (), format=[("u", 40)], value=0x0102030405)
        ig.add_item(0x1001, "b", "", (3,), ">u2", value=[1, 2, 3])
        heap = spead2.send.Heap(spead2.Flavour())
        heap.add_item(ig[0x1000])
        heap.add_item(ig[0x1001])
        packets = list(spead2.send.PacketGenerator(heap, 5, 1472))
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

    def _round_trip(self, send_ig, flavour=None, bug_compat=0):
        import spead2.recv
        import spead2.send

        if flavour is None:
            flavour = spead2.Flavour()
        gen = spead2.send.HeapGenerator(send_ig, flavour=flavour)
        stream = spead2.send.BytesStream(spead2.ThreadPool())
        stream.send_heap(gen.get_heap())
        stream.send_heap(gen.get_end())
        config = spead2.recv.StreamConfig(bug_compat=bug_compat)
        recv_stream = spead2.recv.Stream(spead2.ThreadPool(), config)
        recv_stream.add_buffer_reader(stream.getvalue())
        recv_ig = spead2.ItemGroup()
        for heap in recv_stream:
            recv_ig.update(heap)
        return recv_ig

    @pytest.mark.parametrize("bug_compat", [0, spead2.BUG_COMPAT_PYSPEAD_0_5_2])
    def test_round_trip(self, bug_compat) -> None:
        ig = spead2.ItemGroup()
        big = np.arange(100000, dtype="<u4")
        ig.add_item(0x1000, "u40", "an immediate", (), format=[("u", 40)], value=0x0102030405)
        ig.add_item(0x1001, "i24", "negative", (), format=[("i", 24)], value=-5)
        ig.add_item(0x1002, "big", "big array", big.shape, big.dtype, value=big)
        ig.add_item(0x1003, "str", "string", (None,), format=[("c", 8)], value="hello world")
        ig.add_item(0x1004, "bits", "4-bit", (3,), format=[("u", 4)], value=[1, 2, 15])
        fortran = np.arange(6, dtype=">i2").reshape(2, 3)
        ig.add_item(0x1005, "fortran", "", (2, 3), ">i2", order="F", value=fortran)
        ig.add_item(0x1006, "small", "", (2,), "<u2", value=[0x1234, 0x5678])
        ig.add_item(0x1007, "empty", "", (0,), "<f4", value=np.zeros(0, "<f4"))
        flavour = spead2.Flavour(4, 64, 40, bug_compat)
        out = self._round_trip(ig, flavour, bug_compat)
        assert list(out.keys()) == list(ig.keys())
        assert out["u40"].value == 0x0102030405
        assert out["i24"].value == -5
        np.testing.assert_array_equal(out["big"].value, big)
        assert out["str"].value == "hello world"
        assert out["bits"].value.tolist() == [1, 2, 15]
        np.testing.assert_array_equal(out["fortran"].value, fortran)
        assert out["fortran"].value.flags.f_contiguous
        np.testing.assert_array_equal(out["small"].value, [0x1234, 0x5678])
        assert out["empty"].value.shape == (0,)
        for name, item in ig.items():
            other = out[name]
            assert (other.id, other.description, other.shape, other.order, other.format) == (
                item.id,
                item.description,
                item.shape,
                item.order,
                item.format,
            )
            assert other.dtype == item.dtype
            assert other.version == 3
