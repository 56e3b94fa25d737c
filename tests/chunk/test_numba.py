"""spead2.numba.intp_to_voidptr and spead2.recv.numba.chunk_place_data (spec §7)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

numba = pytest.importorskip("numba")
from numba import types  # noqa: E402

from spead2.numba import intp_to_voidptr  # noqa: E402
from spead2.recv.numba import chunk_place_data  # noqa: E402

# (name, offset) of every field of struct chunk_place_data, as the spec lays it out.
LAYOUT = [
    ("packet", 0),
    ("packet_size", 8),
    ("items", 16),
    ("chunk_id", 24),
    ("heap_index", 32),
    ("heap_offset", 40),
    ("batch_stats", 48),
    ("extra", 56),
    ("extra_offset", 64),
    ("extra_size", 72),
]


def test_record_layout():
    assert isinstance(chunk_place_data, types.Record)
    assert chunk_place_data.size == 80
    assert chunk_place_data.aligned
    assert [(name, chunk_place_data.offset(name)) for name, _ in LAYOUT] == LAYOUT
    pointer_fields = ["packet", "items", "batch_stats", "extra"]
    assert all(chunk_place_data.typeof(name) == types.intp for name in pointer_fields)
    assert chunk_place_data.typeof("chunk_id") == types.int64
    for name in ["packet_size", "heap_index", "heap_offset", "extra_offset", "extra_size"]:
        assert chunk_place_data.typeof(name) == types.uintp


@pytest.mark.parametrize("int_type", [np.intp, np.uintp])
def test_intp_to_voidptr_reads_through_the_pointer(int_type):
    @numba.njit
    def second_item(address):
        return numba.carray(intp_to_voidptr(address), 3, dtype=np.int64)[1]

    values = np.array([10, 20, 30], np.int64)
    address = values.ctypes.data
    assert second_item(int_type(address)) == 20


def test_intp_to_voidptr_rejects_other_types():
    @numba.njit
    def convert(x):
        return intp_to_voidptr(x)

    with pytest.raises(numba.core.errors.TypingError):
        convert(1.5)
    with pytest.raises(numba.core.errors.TypingError):
        convert(np.int32(1))


def test_record_matches_the_native_struct():
    """A cfunc writing every output field through the record: the C side sees each at its offset."""

    @numba.cfunc(types.void(types.CPointer(chunk_place_data), types.uintp), nopython=True)
    def fill(data_ptr, data_size):
        data = numba.carray(data_ptr, 1)
        data[0].chunk_id = -5
        data[0].heap_index = 6
        data[0].heap_offset = 7
        data[0].extra_offset = 8
        data[0].extra_size = data_size

    raw = (ctypes.c_uint64 * 10)()
    ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t)(fill.address)(ctypes.addressof(raw), 80)
    assert list(raw) == [0, 0, 0, (1 << 64) - 5, 6, 7, 0, 0, 8, 80]
