"""spead2.recv.ChunkStreamConfig (spec §6.3) and the place callback's Python form (§6.4).

Capsules are made with ctypes (the C API's PyCapsule_New), as scipy.LowLevelCallable
and numba make them; nothing here calls the callback.
"""

from __future__ import annotations

import ctypes

import pytest

import spead2
import spead2.recv

SIGNATURE = b"void (void *, size_t)"
SIGNATURE_USER_DATA = b"void (void *, size_t, void *)"

_new_capsule = ctypes.pythonapi.PyCapsule_New
_new_capsule.restype = ctypes.py_object
_new_capsule.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
# Any real function's address will do: the callback is never called here.
_ADDRESS = ctypes.cast(ctypes.pythonapi.Py_IncRef, ctypes.c_void_p).value


def capsule(name: bytes | None) -> object:
    return _new_capsule(_ADDRESS, name, None)


def test_defaults():
    config = spead2.recv.ChunkStreamConfig()
    assert config.items == []
    assert config.max_chunks == 2 == spead2.recv.ChunkStreamConfig.DEFAULT_MAX_CHUNKS
    assert config.place is None
    assert config.max_heap_extra == 0
    assert config.packet_presence_payload_size == 0


def test_keywords():
    place = (capsule(SIGNATURE),)
    config = spead2.recv.ChunkStreamConfig(items=[spead2.HEAP_CNT_ID, 0x1600], max_chunks=5, place=place,
                                           max_heap_extra=16)
    assert config.items == [spead2.HEAP_CNT_ID, 0x1600]
    assert config.max_chunks == 5
    assert config.place is place
    assert config.max_heap_extra == 16
    with pytest.raises(TypeError):
        spead2.recv.ChunkStreamConfig([1])  # keyword-only


def test_items_is_a_copy():
    config = spead2.recv.ChunkStreamConfig(items=[1, 2])
    config.items.append(3)
    assert config.items == [1, 2]
    config.items = [4]
    assert config.items == [4]
    with pytest.raises(TypeError):
        config.items = [-1]


def test_max_chunks_zero():
    with pytest.raises(ValueError, match="max_chunks cannot be 0"):
        spead2.recv.ChunkStreamConfig(max_chunks=0)
    config = spead2.recv.ChunkStreamConfig()
    with pytest.raises(ValueError, match="max_chunks cannot be 0"):
        config.max_chunks = 0
    assert config.max_chunks == 2


def test_packet_presence():
    config = spead2.recv.ChunkStreamConfig()
    assert config.enable_packet_presence(1024) is config
    assert config.packet_presence_payload_size == 1024
    with pytest.raises(ValueError, match="payload_size must not be zero"):
        config.enable_packet_presence(0)
    assert config.disable_packet_presence() is config
    assert config.packet_presence_payload_size == 0


@pytest.mark.parametrize("name", [SIGNATURE, SIGNATURE_USER_DATA])
def test_place_signatures(name):
    config = spead2.recv.ChunkStreamConfig()
    for form in ((capsule(name),), [capsule(name)], (capsule(name), "user data kept alive", 42)):
        config.place = form
        assert config.place is form
    config.place = None
    assert config.place is None


def test_place_bad_objects():
    config = spead2.recv.ChunkStreamConfig()
    with pytest.raises(TypeError):
        config.place = 1
    with pytest.raises(IndexError, match="tuple index out of range"):
        config.place = ()
    with pytest.raises(TypeError, match="Object of type 'int' is not an instance of 'capsule'"):
        config.place = (1,)
    with pytest.raises(ValueError, match="Signature missing from capsule"):
        config.place = (capsule(None),)
    with pytest.raises(ValueError) as info:
        config.place = (capsule(b"int (void *)"),)
    assert str(info.value) == (
        'Invalid callback signature "int (void *)". Expected one of:\n'
        "  void (void *, size_t)\n"
        "  void (void *, size_t, void *)"
    )
    assert config.place is None  # every failure left the previous value
