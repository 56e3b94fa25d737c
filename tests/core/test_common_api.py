"""API tests for the common part of spead2 (spec python-api.md §0.3–0.7, §1.1–1.6, §1.8, §1.15).

Covers module layout and constants, exceptions, Flavour, ThreadPool, the
memory allocators, RawDescriptor, the pybind11 argument-conversion rules,
``DEFAULT_*`` static properties, copy/pickle refusal and the asynchronous
logging bridge.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import pickle
import sys
import time

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.send
import support

LOG_TIMEOUT = 1.0

run_in_thread = functools.partial(support.run_in_thread, timeout=5.0)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def wait_for_record(handler: support.ListHandler, predicate, timeout: float = LOG_TIMEOUT):
    """Poll until a captured record satisfies *predicate*; return it or None."""
    deadline = time.monotonic() + timeout
    while True:
        for record in handler.snapshot():
            if predicate(record):
                return record
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


class Index:
    """Object implementing only ``__index__``."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


# --------------------------------------------------------------------------
# §0.1 / §1.1 module layout and exported names
# --------------------------------------------------------------------------

CONSTANTS = {
    "BUG_COMPAT_DESCRIPTOR_WIDTHS": 1,
    "BUG_COMPAT_SHAPE_BIT_1": 2,
    "BUG_COMPAT_SWAP_ENDIAN": 4,
    "BUG_COMPAT_PYSPEAD_0_5_2": 7,
    "NULL_ID": 0x00,
    "HEAP_CNT_ID": 0x01,
    "HEAP_LENGTH_ID": 0x02,
    "PAYLOAD_OFFSET_ID": 0x03,
    "PAYLOAD_LENGTH_ID": 0x04,
    "DESCRIPTOR_ID": 0x05,
    "STREAM_CTRL_ID": 0x06,
    "DESCRIPTOR_NAME_ID": 0x10,
    "DESCRIPTOR_DESCRIPTION_ID": 0x11,
    "DESCRIPTOR_SHAPE_ID": 0x12,
    "DESCRIPTOR_FORMAT_ID": 0x13,
    "DESCRIPTOR_ID_ID": 0x14,
    "DESCRIPTOR_DTYPE_ID": 0x15,
    "CTRL_STREAM_START": 0,
    "CTRL_DESCRIPTOR_REISSUE": 1,
    "CTRL_STREAM_STOP": 2,
    "CTRL_DESCRIPTOR_UPDATE": 3,
    "MEMCPY_STD": 0,
    "MEMCPY_NONTEMPORAL": 1,
}


@pytest.mark.parametrize("name,value", sorted(CONSTANTS.items()))
def test_constant_values(name: str, value: int) -> None:
    for module in (spead2, spead2._spead2):
        got = getattr(module, name)
        assert type(got) is int, f"{module.__name__}.{name} is {type(got)!r}"
        assert got == value


def test_stub_typo_constant_absent() -> None:
    # §0.8: the stubs' DESCTIPTOR_DTYPE_ID typo is not a runtime name.
    assert not hasattr(spead2, "DESCTIPTOR_DTYPE_ID")


def test_version() -> None:
    assert spead2.__version__ == "4.5.1"
    import spead2._version as version_module

    assert version_module.__version__ == "4.5.1"


def test_private_names() -> None:
    assert spead2._logger is logging.getLogger("spead2")
    assert spead2._UNRESERVED_ID == 0x1000
    assert spead2._FASTPATH_NONE == 0
    assert spead2._FASTPATH_IMMEDIATE == 1
    assert spead2._FASTPATH_NUMPY == 2
    assert callable(spead2._shape_elements)


# Public names of §1.1 that exist today (InprocQueue is not implemented yet).
PUBLIC_NAMES = [
    "Descriptor", "Empty", "Flavour", "Full", "Item", "ItemGroup",
    "MemoryAllocator", "MemoryPool", "MmapAllocator", "Stopped", "ThreadPool",
    "parse_range_list", "__version__",
] + list(CONSTANTS)


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_public_name_exported(name: str) -> None:
    assert hasattr(spead2, name)


def test_native_only_names() -> None:
    # RawDescriptor and log_info live only in the native module (§0.8, §1.1).
    assert not hasattr(spead2, "RawDescriptor")
    assert hasattr(spead2._spead2, "RawDescriptor")
    assert callable(spead2._spead2.log_info)
    # §1.16: IbvContext is not present in 4.5.
    assert not hasattr(spead2, "IbvContext")


def test_native_module_alias() -> None:
    native = spead2._spead2
    assert native.__name__ == "spead2._spead2"
    assert sys.modules["spead2._spead2"] is native
    assert sys.modules["spead2._spead2.send"] is native.send
    assert sys.modules["spead2._spead2.recv"] is native.recv
    assert sys.modules["spead2._spead2.recv.stream_stat_indices"] is native.recv.stream_stat_indices
    import spead2._spead2.recv.stream_stat_indices as ssi

    assert ssi.HEAPS == 0
    # The public re-exports are the very same objects.
    assert spead2.Flavour is native.Flavour
    assert spead2.ThreadPool is native.ThreadPool
    assert spead2.send.Heap is native.send.Heap
    assert spead2.recv.Stream is native.recv.Stream


@pytest.mark.parametrize(
    "cls,module",
    [
        (spead2.Flavour, "spead2._spead2"),
        (spead2.ThreadPool, "spead2._spead2"),
        (spead2.MemoryAllocator, "spead2._spead2"),
        (spead2.MmapAllocator, "spead2._spead2"),
        (spead2.MemoryPool, "spead2._spead2"),
        (spead2.Stopped, "spead2._spead2"),
        (spead2.Empty, "spead2._spead2"),
        (spead2.Full, "spead2._spead2"),
        (spead2._spead2.RawDescriptor, "spead2._spead2"),
        (spead2.send.Heap, "spead2._spead2.send"),
        (spead2.send.StreamConfig, "spead2._spead2.send"),
        (spead2.send.PacketGenerator, "spead2._spead2.send"),
        (spead2.send.HeapReference, "spead2._spead2.send"),
        (spead2.send.HeapReferenceList, "spead2._spead2.send"),
        (spead2.send.Stream, "spead2._spead2.send"),
        (spead2.send.BytesStream, "spead2._spead2.send"),
        (spead2.send.RateMethod, "spead2._spead2.send"),
        (spead2.send.GroupMode, "spead2._spead2.send"),
        (spead2.recv.Stream, "spead2._spead2.recv"),
        (spead2.recv.StreamConfig, "spead2._spead2.recv"),
        (spead2.recv.RingStreamConfig, "spead2._spead2.recv"),
        (spead2.recv.StreamStats, "spead2._spead2.recv"),
        (spead2.recv.StreamStatConfig, "spead2._spead2.recv"),
        (spead2.recv.Heap, "spead2._spead2.recv"),
        (spead2.recv.IncompleteHeap, "spead2._spead2.recv"),
    ],
    ids=lambda x: getattr(x, "__name__", x),
)
def test_native_class_module(cls, module: str) -> None:
    assert cls.__module__ == module


def test_flavour_instance_module() -> None:
    assert type(spead2.Flavour()).__module__ == "spead2._spead2"


# --------------------------------------------------------------------------
# §1.3 exceptions
# --------------------------------------------------------------------------


@pytest.mark.parametrize("exc", [spead2.Stopped, spead2.Empty, spead2.Full], ids=lambda e: e.__name__)
def test_exception_mro(exc) -> None:
    assert exc.__mro__ == (exc, Exception, BaseException, object)
    assert not issubclass(exc, RuntimeError)
    assert exc.__module__ == "spead2._spead2"
    # standard exception constructor
    e = exc("a", 2)
    assert e.args == ("a", 2)


def test_empty_and_stopped_messages() -> None:
    thread_pool = spead2.ThreadPool()
    stream = spead2.recv.Stream(thread_pool)
    with pytest.raises(spead2.Empty) as info:
        stream.get_nowait()
    assert info.value.args == ("ring buffer is empty",)
    stream.stop()
    with pytest.raises(spead2.Stopped) as info:
        stream.get_nowait()
    assert info.value.args == ("ring buffer has been stopped",)
    with pytest.raises(spead2.Stopped) as info:
        run_in_thread(stream.get)
    assert info.value.args == ("ring buffer has been stopped",)


# --------------------------------------------------------------------------
# §1.4 Flavour
# --------------------------------------------------------------------------


def test_flavour_default() -> None:
    f = spead2.Flavour()
    assert (f.version, f.item_pointer_bits, f.heap_address_bits, f.bug_compat) == (4, 64, 40, 0)


def test_flavour_keywords() -> None:
    f = spead2.Flavour(version=4, item_pointer_bits=64, heap_address_bits=48, bug_compat=2)
    assert (f.version, f.item_pointer_bits, f.heap_address_bits, f.bug_compat) == (4, 64, 48, 2)
    f = spead2.Flavour(4, 64, 16)
    assert f.bug_compat == 0


@pytest.mark.parametrize("hab", [8, 16, 24, 32, 40, 48, 56])
def test_flavour_valid_heap_address_bits(hab: int) -> None:
    assert spead2.Flavour(4, 64, hab).heap_address_bits == hab


@pytest.mark.parametrize(
    "args,message",
    [
        # Each row checks that the earlier validation step wins.
        ((5, 32, 41), "Version is not supported"),
        ((3, 64, 40), "Version is not supported"),
        ((4, 32, 41), "item_pointer_bits not supported"),
        ((4, 48, 40), "item_pointer_bits not supported"),
        ((4, 64, 0), "heap_address_bits out of range"),
        ((4, 64, -8), "heap_address_bits out of range"),
        ((4, 64, 64), "heap_address_bits out of range"),
        ((4, 64, 65), "heap_address_bits out of range"),
        ((4, 64, 72), "heap_address_bits out of range"),
        ((4, 64, 41), "heap_address_bits not a multiple of 8"),
        ((4, 64, 4), "heap_address_bits not a multiple of 8"),
        ((4, 64, 63), "heap_address_bits not a multiple of 8"),
    ],
)
def test_flavour_validation(args, message: str) -> None:
    with pytest.raises(ValueError) as info:
        spead2.Flavour(*args)
    assert str(info.value) == message


def test_flavour_bug_compat_not_validated() -> None:
    assert spead2.Flavour(4, 64, 40, 0xFFFFFFFF).bug_compat == 0xFFFFFFFF
    assert spead2.Flavour(4, 64, 40, 8).bug_compat == 8


@pytest.mark.parametrize("bug_compat", [-1, 2**32])
def test_flavour_bug_compat_out_of_range(bug_compat: int) -> None:
    with pytest.raises(TypeError):
        spead2.Flavour(4, 64, 40, bug_compat)


@pytest.mark.parametrize(
    "args", [(4.0, 64, 40), (4, 64.0, 40), (4, 64, 40.0), (4, 64, 40, 1.0), ("4", 64, 40)]
)
def test_flavour_non_int(args) -> None:
    with pytest.raises(TypeError):
        spead2.Flavour(*args)


def test_flavour_readonly() -> None:
    f = spead2.Flavour()
    for name in ("version", "item_pointer_bits", "heap_address_bits", "bug_compat"):
        with pytest.raises(AttributeError):
            setattr(f, name, 8)
    assert f.heap_address_bits == 40


def test_flavour_equality() -> None:
    a = spead2.Flavour(4, 64, 48, 2)
    assert a == spead2.Flavour(4, 64, 48, 2)
    assert not (a != spead2.Flavour(4, 64, 48, 2))
    assert a != spead2.Flavour(4, 64, 40, 2)
    assert not (a == spead2.Flavour(4, 64, 40, 2))
    assert a != spead2.Flavour(4, 64, 48, 0)
    assert spead2.Flavour() == spead2.Flavour(4, 64, 40, 0)


@pytest.mark.parametrize("other", [None, 1, "x", (4, 64, 40, 0), object()])
def test_flavour_compare_other_type(other) -> None:
    f = spead2.Flavour()
    assert (f == other) is False
    assert (f != other) is True


def test_flavour_unhashable() -> None:
    assert spead2.Flavour.__hash__ is None
    with pytest.raises(TypeError):
        hash(spead2.Flavour())
    with pytest.raises(TypeError):
        {spead2.Flavour()}


class MyFlavour(spead2.Flavour):
    def __init__(self) -> None:
        super().__init__(4, 64, 48, 0)
        self.extra = "extra"


def test_flavour_subclass() -> None:
    f = MyFlavour()
    assert f.extra == "extra"
    assert isinstance(f, spead2.Flavour)
    assert f.heap_address_bits == 48
    assert f == spead2.Flavour(4, 64, 48)
    assert spead2.Flavour(4, 64, 48) == f
    heap = spead2.send.Heap(f)
    assert heap.flavour == spead2.Flavour(4, 64, 48)
    packets = list(spead2.send.PacketGenerator(heap, 1, 1472))
    assert len(packets) == 1
    # 48-bit flavour: N = 2, A = 6
    assert packets[0][:4] == bytes([0x53, 0x04, 2, 6])


# --------------------------------------------------------------------------
# §1.5 ThreadPool
# --------------------------------------------------------------------------


def test_thread_pool_construct() -> None:
    spead2.ThreadPool().stop()
    spead2.ThreadPool(2).stop()
    spead2.ThreadPool(threads=3).stop()
    spead2.ThreadPool(2, []).stop()
    spead2.ThreadPool(threads=1, affinity=[]).stop()


@pytest.mark.parametrize("threads", [0, -1, -100])
def test_thread_pool_too_few_threads(threads: int) -> None:
    with pytest.raises(ValueError) as info:
        spead2.ThreadPool(threads)
    assert str(info.value) == "at least one thread is required"


@pytest.mark.parametrize("threads", [0, -1])
def test_thread_pool_too_few_threads_affinity(threads: int) -> None:
    with pytest.raises(ValueError) as info:
        spead2.ThreadPool(threads, [0])
    assert str(info.value) == "at least one thread is required"


def test_thread_pool_affinity_needs_threads() -> None:
    with pytest.raises(TypeError):
        spead2.ThreadPool(affinity=[0])


def test_thread_pool_affinity_valid() -> None:
    core = min(os.sched_getaffinity(0))
    pool = spead2.ThreadPool(2, [core])
    pool.stop()


def _thread_ids() -> set[int]:
    return {int(tid) for tid in os.listdir("/proc/self/task")}


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc to see threads")
@pytest.mark.parametrize(
    "affinity", ["none", "first", "first-last"], ids=["unpinned", "one-core", "round-robin"]
)
def test_thread_pool_workers(affinity) -> None:
    """The pool starts exactly `threads` workers; worker i is pinned to affinity[i % len]."""
    cores = sorted(os.sched_getaffinity(0))
    affinity = {"none": [], "first": [cores[0]], "first-last": [cores[0], cores[-1]]}[affinity]
    threads = 3
    before = _thread_ids()
    pool = spead2.ThreadPool(threads, affinity)
    try:
        workers = _thread_ids() - before
        assert len(workers) == threads
        if affinity:
            expected = sorted(str({affinity[i % len(affinity)]}) for i in range(threads))
        else:
            expected = [str(set(cores))] * threads
        # Workers pin themselves as they start: allow them a moment.
        def pinned():
            return sorted(str(os.sched_getaffinity(tid)) for tid in workers) == expected
        assert support.poll(pinned, timeout=2.0), [os.sched_getaffinity(tid) for tid in workers]
    finally:
        pool.stop()
    assert support.poll(lambda: not (_thread_ids() & workers), timeout=2.0), "workers outlived stop()"


def test_thread_pool_affinity_out_of_range_warns(spead2_log) -> None:
    pool = spead2.ThreadPool(1, [100000])  # must not raise
    record = wait_for_record(spead2_log, lambda r: r.levelno == logging.WARNING)
    pool.stop()
    assert record is not None, "expected a warning about the failed pinning"


def test_thread_pool_stop_idempotent() -> None:
    pool = spead2.ThreadPool(2)
    run_in_thread(pool.stop)
    run_in_thread(pool.stop)


def test_set_affinity_pins_calling_thread() -> None:
    core = max(os.sched_getaffinity(0))

    def body():
        spead2.ThreadPool.set_affinity(core)
        return os.sched_getaffinity(0)  # 0 = calling thread on Linux

    # Run in a throwaway thread so that the test process is not pinned.
    assert run_in_thread(body) == {core}


def test_set_affinity_out_of_range_warns(spead2_log) -> None:
    def body():
        spead2.ThreadPool.set_affinity(100000)  # must not raise
        return os.sched_getaffinity(0)

    before = os.sched_getaffinity(0)
    assert run_in_thread(body) == before
    record = wait_for_record(
        spead2_log, lambda r: r.levelno == logging.WARNING and "100000" in r.getMessage()
    )
    assert record is not None, "expected a warning mentioning core 100000"


def test_set_affinity_positional_only() -> None:
    with pytest.raises(TypeError):
        spead2.ThreadPool.set_affinity(core=0)


# --------------------------------------------------------------------------
# §1.6 memory allocators
# --------------------------------------------------------------------------


def test_memory_allocator() -> None:
    alloc = spead2.MemoryAllocator()
    assert type(alloc) is spead2.MemoryAllocator


def test_mmap_allocator() -> None:
    assert isinstance(spead2.MmapAllocator(), spead2.MemoryAllocator)
    assert isinstance(spead2.MmapAllocator(0, True), spead2.MemoryAllocator)
    assert isinstance(spead2.MmapAllocator(flags=0, prefer_huge=False), spead2.MemoryAllocator)


MAP_NORESERVE = 0x4000  # Linux: shows as "nr" in the mapping's VmFlags


def _receive_with(allocator, size: int):
    """Send one heap with a *size*-byte item and receive it through *allocator*."""
    ig = spead2.send.ItemGroup()
    ig.add_item(0x1000, "data", "", shape=(size,), dtype=np.uint8, value=np.arange(size, dtype=np.uint8))
    sender = spead2.send.BytesStream(spead2.ThreadPool(), spead2.send.StreamConfig(max_packet_size=9000))
    sender.send_heap(ig.get_heap())
    receiver = spead2.recv.Stream(spead2.ThreadPool(), spead2.recv.StreamConfig(memory_allocator=allocator))
    receiver.add_buffer_reader(sender.getvalue())
    heap = receiver.get()
    (item,) = heap.get_items()
    return heap, np.frombuffer(item, np.uint8)


def _vm_flags(address: int) -> set[str]:
    """The VmFlags of the mapping of this process that contains *address*."""
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and not fields[0].endswith(":"):
                start, end = (int(x, 16) for x in fields[0].split("-"))
                inside = start <= address < end
            elif inside and fields[0] == "VmFlags:":
                return set(fields[1:])
    raise AssertionError(f"no mapping contains {address:#x}")


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux /proc/self/smaps")
def test_mmap_allocator_passes_flags() -> None:
    """Payload memory comes from mmap with the user's extra flags."""
    size = 1 << 20
    heap, data = _receive_with(spead2.MmapAllocator(MAP_NORESERVE), size)
    assert np.array_equal(data, np.arange(size, dtype=np.uint8))
    assert "nr" in _vm_flags(data.ctypes.data)
    heap, data = _receive_with(spead2.MmapAllocator(), size)
    assert "nr" not in _vm_flags(data.ctypes.data)


def test_mmap_allocator_prefer_huge() -> None:
    """prefer_huge asks for huge pages and falls back to normal pages when none are reserved."""
    size = 4 << 20
    heap, data = _receive_with(spead2.MmapAllocator(prefer_huge=True), size)
    assert np.array_equal(data, np.arange(size, dtype=np.uint8))
    try:
        with open("/proc/sys/vm/nr_hugepages") as f:
            reserved = int(f.read())
    except OSError:
        reserved = 0
    if reserved and os.path.exists("/proc/self/smaps"):
        assert "ht" in _vm_flags(data.ctypes.data)


def test_mmap_allocator_float_flags() -> None:
    with pytest.raises(TypeError):
        spead2.MmapAllocator(1.5)


def test_memory_pool_basic_overload() -> None:
    pool = spead2.MemoryPool(16, 1024, 8, 2)
    assert isinstance(pool, spead2.MemoryAllocator)
    spead2.MemoryPool(16, 1024, 8, 2, spead2.MmapAllocator())
    spead2.MemoryPool(lower=16, upper=1024, max_free=8, initial=2, allocator=spead2.MemoryAllocator())
    spead2.MemoryPool(16, 1024, 8, 2, allocator=None)


def test_memory_pool_thread_pool_overload() -> None:
    thread_pool = spead2.ThreadPool()
    pool = spead2.MemoryPool(thread_pool, 16, 1024, 8, 4, 2)
    assert isinstance(pool, spead2.MemoryPool)
    pool = spead2.MemoryPool(
        thread_pool=thread_pool, lower=16, upper=1024, max_free=8, initial=4,
        low_water=2, allocator=spead2.MmapAllocator(),
    )
    assert pool.warn_on_empty is True


@pytest.mark.parametrize(
    "args",
    [(-1, 1024, 8, 2), (16, -1, 8, 2), (16, 1024, -8, 2), (16, 1024, 8, -2)],
)
def test_memory_pool_negative(args) -> None:
    with pytest.raises(TypeError):
        spead2.MemoryPool(*args)


def test_memory_pool_negative_thread_pool_overload() -> None:
    with pytest.raises(TypeError):
        spead2.MemoryPool(spead2.ThreadPool(), 16, 1024, 8, 4, -2)


def test_memory_pool_warn_on_empty() -> None:
    pool = spead2.MemoryPool(16, 1024, 8, 2)
    assert pool.warn_on_empty is True
    pool.warn_on_empty = False
    assert pool.warn_on_empty is False
    pool.warn_on_empty = True
    assert pool.warn_on_empty is True


# --------------------------------------------------------------------------
# §1.8 RawDescriptor
# --------------------------------------------------------------------------


def test_raw_descriptor_defaults() -> None:
    raw = spead2._spead2.RawDescriptor()
    assert raw.id == 0
    assert raw.name == b""
    assert raw.description == b""
    assert raw.shape == []
    assert raw.format == []
    assert raw.numpy_header == b""


def test_raw_descriptor_roundtrip() -> None:
    raw = spead2._spead2.RawDescriptor()
    raw.id = 0x1234
    raw.name = b"name"
    raw.description = b"desc"
    raw.shape = [2, None, 3]
    raw.format = [("u", 8), ("f", 32)]
    raw.numpy_header = b"{'descr': '<i2', 'fortran_order': False, 'shape': (3,)}"
    assert raw.id == 0x1234
    assert raw.name == b"name"
    assert raw.description == b"desc"
    assert raw.shape == [2, None, 3]
    assert raw.format == [("u", 8), ("f", 32)]
    assert raw.numpy_header == b"{'descr': '<i2', 'fortran_order': False, 'shape': (3,)}"
    assert type(raw.name) is bytes


def test_raw_descriptor_id_signed() -> None:
    raw = spead2._spead2.RawDescriptor()
    raw.id = -1
    assert raw.id == -1
    raw.id = 2**63 - 1
    assert raw.id == 2**63 - 1
    with pytest.raises(TypeError):
        raw.id = 2**63
    with pytest.raises(TypeError):
        raw.id = 1.0


@pytest.mark.parametrize("attr", ["name", "description", "numpy_header"])
def test_raw_descriptor_bytes_only(attr: str) -> None:
    raw = spead2._spead2.RawDescriptor()
    with pytest.raises(TypeError):
        setattr(raw, attr, "text")
    assert getattr(raw, attr) == b""


def test_raw_descriptor_shape_none_and_copy() -> None:
    raw = spead2._spead2.RawDescriptor()
    raw.shape = (None,)
    assert raw.shape == [None]
    raw.shape = [None, 5]
    got = raw.shape
    assert got == [None, 5]
    got.append(7)  # the getter returns a new list
    assert raw.shape == [None, 5]
    assert raw.shape is not raw.shape


def test_raw_descriptor_format_copy() -> None:
    raw = spead2._spead2.RawDescriptor()
    raw.format = [("i", 16)]
    got = raw.format
    got.append(("u", 8))
    assert raw.format == [("i", 16)]


def test_raw_descriptor_format_code_is_a_byte() -> None:
    # A code is one byte, read back as the character with that code point.
    raw = spead2._spead2.RawDescriptor()
    raw.format = [("é", 8), ("\x91", 16), ("\x00", 32), ("\xff", 64)]
    assert raw.format == [("é", 8), ("\x91", 16), ("\x00", 32), ("\xff", 64)]
    with pytest.raises(ValueError, match=r"code point not in range\(0x100\)"):
        raw.format = [("€", 8)]
    assert raw.format == [("é", 8), ("\x91", 16), ("\x00", 32), ("\xff", 64)]


# --------------------------------------------------------------------------
# §0.3 argument conversion rules
# --------------------------------------------------------------------------


def test_conversion_float_for_int() -> None:
    with pytest.raises(TypeError):
        spead2.send.StreamConfig(max_heaps=5.0)
    with pytest.raises(TypeError):
        spead2.recv.StreamConfig(max_heaps=5.0)
    with pytest.raises(TypeError):
        spead2.recv.RingStreamConfig(heaps=2.0)
    with pytest.raises(TypeError):
        spead2.ThreadPool(1.0)


def test_conversion_negative_unsigned() -> None:
    with pytest.raises(TypeError):
        spead2.send.StreamConfig(max_heaps=-1)
    with pytest.raises(TypeError):
        spead2.send.StreamConfig(max_packet_size=-1)
    with pytest.raises(TypeError):
        spead2.recv.StreamConfig(stream_id=-1)
    with pytest.raises(TypeError):
        spead2.recv.StreamConfig(max_heaps=-1)


def test_conversion_too_large_unsigned() -> None:
    with pytest.raises(TypeError):
        spead2.recv.StreamConfig(stream_id=2**64)
    assert spead2.recv.StreamConfig(stream_id=2**64 - 1).stream_id == 2**64 - 1


def test_conversion_bool_and_index_for_int() -> None:
    assert spead2.send.StreamConfig(max_heaps=True).max_heaps == 1
    assert spead2.send.StreamConfig(max_heaps=np.int64(7)).max_heaps == 7
    assert spead2.send.StreamConfig(max_heaps=np.uint16(9)).max_heaps == 9
    assert spead2.send.StreamConfig(max_heaps=Index(6)).max_heaps == 6
    assert spead2.recv.RingStreamConfig(heaps=True).heaps == 1


def test_conversion_int_for_float() -> None:
    config = spead2.send.StreamConfig(rate=5)
    assert config.rate == 5.0
    assert type(config.rate) is float
    config = spead2.send.StreamConfig(burst_rate_ratio=2)
    assert config.burst_rate_ratio == 2.0


def test_conversion_bool_params() -> None:
    assert spead2.recv.StreamConfig(stop_on_stop_item=0).stop_on_stop_item is False
    assert spead2.recv.StreamConfig(allow_out_of_order=1).allow_out_of_order is True
    assert spead2.recv.StreamConfig(explicit_start=np.bool_(True)).explicit_start is True
    assert spead2.recv.RingStreamConfig(contiguous_only=np.bool_(False)).contiguous_only is False
    heap = spead2.send.Heap()
    heap.repeat_pointers = 1
    assert heap.repeat_pointers is True


def test_conversion_string_params() -> None:
    with pytest.raises(TypeError):
        spead2.recv.StreamConfig().get_stat_index(3)


# --------------------------------------------------------------------------
# §0.3 copy/pickle and repr; DEFAULT_* static properties
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "factory",
    [
        spead2.send.StreamConfig,
        spead2.recv.StreamConfig,
        spead2.recv.RingStreamConfig,
        spead2.Flavour,
        spead2._spead2.RawDescriptor,
        spead2.send.Heap,
    ],
    ids=lambda f: f.__name__,
)
def test_not_copyable(factory) -> None:
    obj = factory()
    with pytest.raises(TypeError):
        copy.copy(obj)
    with pytest.raises(TypeError):
        copy.deepcopy(obj)
    with pytest.raises(TypeError):
        pickle.dumps(obj)


def test_copy_error_message() -> None:
    with pytest.raises(TypeError, match="cannot pickle"):
        copy.copy(spead2.send.StreamConfig())


def test_default_repr() -> None:
    f = spead2.Flavour()
    assert repr(f).startswith("<spead2._spead2.Flavour object at 0x")
    c = spead2.send.StreamConfig()
    assert repr(c).startswith("<spead2._spead2.send.StreamConfig object at 0x")


DEFAULTS = [
    (spead2.send.StreamConfig, "DEFAULT_MAX_PACKET_SIZE", 1472),
    (spead2.send.StreamConfig, "DEFAULT_MAX_HEAPS", 4),
    (spead2.send.StreamConfig, "DEFAULT_BURST_SIZE", 65536),
    (spead2.send.StreamConfig, "DEFAULT_BURST_RATE_RATIO", 1.05),
    (spead2.send.StreamConfig, "DEFAULT_RATE_METHOD", spead2.send.RateMethod.AUTO),
    (spead2.recv.StreamConfig, "DEFAULT_MAX_HEAPS", 4),
    (spead2.recv.RingStreamConfig, "DEFAULT_HEAPS", 4),
    (spead2.recv.Stream, "DEFAULT_UDP_MAX_SIZE", 9200),
    (spead2.recv.Stream, "DEFAULT_UDP_BUFFER_SIZE", 8388608),
    (spead2.recv.Stream, "DEFAULT_TCP_MAX_SIZE", 65536),
    (spead2.recv.Stream, "DEFAULT_TCP_BUFFER_SIZE", 212992),
]


@pytest.mark.parametrize("cls,name,value", DEFAULTS, ids=lambda x: getattr(x, "__name__", str(x)))
def test_default_constants(cls, name: str, value) -> None:
    got = getattr(cls, name)
    assert got == value
    assert type(got) is type(value)
    with pytest.raises(AttributeError):
        setattr(cls, name, value)
    assert getattr(cls, name) == value


@pytest.mark.parametrize(
    "factory,name,value",
    [
        (spead2.send.StreamConfig, "DEFAULT_MAX_PACKET_SIZE", 1472),
        (spead2.send.StreamConfig, "DEFAULT_RATE_METHOD", spead2.send.RateMethod.AUTO),
        (spead2.recv.StreamConfig, "DEFAULT_MAX_HEAPS", 4),
        (spead2.recv.RingStreamConfig, "DEFAULT_HEAPS", 4),
    ],
    ids=lambda x: getattr(x, "__name__", str(x)),
)
def test_default_constants_on_instance(factory, name: str, value) -> None:
    obj = factory()
    assert getattr(obj, name) == value
    with pytest.raises(AttributeError):
        setattr(obj, name, value)
    assert getattr(type(obj), name) == value


def test_default_constants_on_stream_instance() -> None:
    stream = spead2.recv.Stream(spead2.ThreadPool())
    try:
        assert stream.DEFAULT_UDP_MAX_SIZE == 9200
        with pytest.raises(AttributeError):
            stream.DEFAULT_UDP_MAX_SIZE = 1
    finally:
        stream.stop()


# --------------------------------------------------------------------------
# §1.15 logging
# --------------------------------------------------------------------------


def test_log_info(spead2_log) -> None:
    spead2._spead2.log_info("hello from test_log_info")
    record = wait_for_record(spead2_log, lambda r: r.getMessage() == "hello from test_log_info")
    assert record is not None, "log_info message did not reach the 'spead2' logger within 1 s"
    assert record.name == "spead2"
    assert record.levelno == logging.INFO


def test_log_info_positional_only() -> None:
    with pytest.raises(TypeError):
        spead2._spead2.log_info(msg="x")
    with pytest.raises(TypeError):
        spead2._spead2.log_info(3)


def test_log_info_from_other_thread(spead2_log) -> None:
    run_in_thread(lambda: spead2._spead2.log_info("from a thread"))
    record = wait_for_record(spead2_log, lambda r: r.getMessage() == "from a thread")
    assert record is not None
    assert record.levelno == logging.INFO


def test_log_order_preserved(spead2_log) -> None:
    for i in range(20):
        spead2._spead2.log_info(f"ordered {i}")
    assert wait_for_record(spead2_log, lambda r: r.getMessage() == "ordered 19") is not None
    msgs = [r.getMessage() for r in spead2_log.snapshot() if r.getMessage().startswith("ordered ")]
    assert msgs == [f"ordered {i}" for i in range(20)]
