"""Tests for spead2.MemoryPool as a receive allocator (spec python-api.md §1.6, §1.15, §4.2).

Covers data integrity through a pool, the "memory pool is empty when
allocating <n> bytes" warning and ``warn_on_empty``, requests outside
[lower, upper] bypassing the pool, and the ``thread_pool`` overload refilling
the pool in the background.

Heaps are fed through an InprocQueue.  Native logging is asynchronous, so the
log-based checks wait (bounded) for the log thread to catch up.
"""

from __future__ import annotations

import functools
import gc
import logging
import time

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.send
import support

TIMEOUT = 10.0
EMPTY_PREFIX = "memory pool is empty when allocating"

run_in_thread = functools.partial(support.run_in_thread, timeout=TIMEOUT)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


@pytest.fixture
def log(spead2_log):
    """The shared ``spead2_log`` capture fixture (conftest.py), under this module's name."""
    return spead2_log


def empty_warnings(log: support.ListHandler) -> list[logging.LogRecord]:
    with log.records_lock:
        return [r for r in log.records if r.getMessage().startswith(EMPTY_PREFIX)]


def make_heap(size: int, fill: int) -> spead2.send.Heap:
    """A heap whose payload is exactly ``size`` bytes (one item, no descriptors)."""
    heap = spead2.send.Heap()
    value = (np.arange(size, dtype=np.uint32) * 7 + fill).astype(np.uint8)
    heap.add_item(spead2.Item(0x1000, "data", "", shape=(size,), dtype=np.uint8, value=value))
    return heap


def expected_value(size: int, fill: int) -> np.ndarray:
    return (np.arange(size, dtype=np.uint32) * 7 + fill).astype(np.uint8)


def payload(heap) -> np.ndarray:
    (raw,) = [item for item in heap.get_items() if item.id == 0x1000]
    return np.asarray(raw)


def fill_queue(sizes, max_packet_size: int = 1472) -> spead2.InprocQueue:
    """A stopped queue holding one heap per entry of ``sizes`` (cnt 1, 2, ...)."""
    q = spead2.InprocQueue()
    stream = spead2.send.InprocStream(spead2.ThreadPool(), [q],
                                      spead2.send.StreamConfig(max_packet_size=max_packet_size))
    for i, size in enumerate(sizes):
        run_in_thread(stream.send_heap, make_heap(size, i))
    q.stop()
    return q


def receive(queue, allocator, ring_heaps: int = 4, timeout: float = TIMEOUT) -> list:
    stream = spead2.recv.Stream(
        spead2.ThreadPool(),
        spead2.recv.StreamConfig(memory_allocator=allocator, max_heaps=4),
        spead2.recv.RingStreamConfig(heaps=ring_heaps),
    )
    stream.add_inproc_reader(queue)
    try:
        return run_in_thread(list, stream, timeout=timeout)
    finally:
        run_in_thread(stream.stop)


# --------------------------------------------------------------------------
# Construction
# --------------------------------------------------------------------------


class TestConstruction:
    def test_plain_overload(self):
        pool = spead2.MemoryPool(1024, 4096, 8, 2)
        assert isinstance(pool, spead2.MemoryAllocator)
        pool = spead2.MemoryPool(lower=1024, upper=4096, max_free=8, initial=2,
                                 allocator=spead2.MmapAllocator())
        assert isinstance(pool, spead2.MemoryPool)

    def test_thread_pool_overload(self):
        tp = spead2.ThreadPool()
        pool = spead2.MemoryPool(tp, 1024, 4096, 8, 4, 2)
        assert isinstance(pool, spead2.MemoryPool)
        pool = spead2.MemoryPool(thread_pool=tp, lower=1024, upper=4096, max_free=8,
                                 initial=4, low_water=2, allocator=spead2.MemoryAllocator())
        assert isinstance(pool, spead2.MemoryPool)

    @pytest.mark.parametrize("args", [(-1, 4096, 8, 2), (1024, -1, 8, 2), (1024, 4096, -1, 2), (1024, 4096, 8, -1)])
    def test_negative_arguments(self, args):
        with pytest.raises(TypeError):
            spead2.MemoryPool(*args)

    def test_negative_low_water(self):
        with pytest.raises(TypeError):
            spead2.MemoryPool(spead2.ThreadPool(), 1024, 4096, 8, 4, -1)

    def test_warn_on_empty_attribute(self):
        pool = spead2.MemoryPool(1024, 4096, 8, 2)
        assert pool.warn_on_empty is True
        pool.warn_on_empty = False
        assert pool.warn_on_empty is False
        pool.warn_on_empty = True
        assert pool.warn_on_empty is True

    def test_same_object_from_config(self):
        pool = spead2.MemoryPool(1024, 4096, 8, 2)
        config = spead2.recv.StreamConfig(memory_allocator=pool)
        assert config.memory_allocator is pool
        stream = spead2.recv.Stream(spead2.ThreadPool(), config)
        try:
            assert stream.config.memory_allocator is pool
        finally:
            run_in_thread(stream.stop)


# --------------------------------------------------------------------------
# Data and warnings
# --------------------------------------------------------------------------


class TestReceive:
    @pytest.mark.parametrize("threaded", [False, True], ids=["plain", "thread_pool"])
    def test_correct_data(self, threaded):
        sizes = [5000, 20000, 65536, 1000, 40000] * 6
        q = fill_queue(sizes)
        if threaded:
            pool = spead2.MemoryPool(spead2.ThreadPool(), 1, 65536, 8, 4, 2)
        else:
            pool = spead2.MemoryPool(1, 65536, 8, 4)
        pool.warn_on_empty = False
        heaps = receive(q, pool)
        assert [h.cnt for h in heaps] == list(range(1, len(sizes) + 1))
        for i, (heap, size) in enumerate(zip(heaps, sizes)):
            np.testing.assert_array_equal(payload(heap), expected_value(size, i))

    def test_data_survives_reuse(self):
        # Keep the first heaps alive while later heaps reuse the pool's blocks
        # (max_free=1): earlier heaps must not be overwritten.
        sizes = [30000] * 12
        q = fill_queue(sizes)
        pool = spead2.MemoryPool(1000, 32768, 1, 1)
        pool.warn_on_empty = False
        heaps = receive(q, pool)
        kept = heaps[:3]
        del heaps[:3]
        gc.collect()
        for i, heap in enumerate(kept):
            np.testing.assert_array_equal(payload(heap), expected_value(30000, i))
        for i, heap in enumerate(heaps, 3):
            np.testing.assert_array_equal(payload(heap), expected_value(30000, i))

    def test_with_mmap_allocator(self):
        sizes = [10000, 50000, 3000]
        q = fill_queue(sizes)
        pool = spead2.MemoryPool(1, 65536, 4, 2, spead2.MmapAllocator())
        heaps = receive(q, pool)
        for i, (heap, size) in enumerate(zip(heaps, sizes)):
            np.testing.assert_array_equal(payload(heap), expected_value(size, i))

    def test_warn_on_empty(self, log):
        # No free blocks at all: every in-range allocation warns.
        q = fill_queue([10000, 10000, 12000])
        pool = spead2.MemoryPool(1000, 20000, 0, 0)
        heaps = receive(q, pool)
        assert len(heaps) == 3
        support.settle_log()
        warnings = empty_warnings(log)
        messages = sorted(r.getMessage() for r in warnings)
        assert messages == [f"{EMPTY_PREFIX} 10000 bytes"] * 2 + [f"{EMPTY_PREFIX} 12000 bytes"]
        assert all(r.levelno == logging.WARNING for r in warnings)
        assert all(r.name == "spead2" for r in warnings)

    def test_warn_when_pool_runs_dry(self, log):
        # 2 initial blocks; all heaps are kept alive, so from the third on the pool is dry.
        n = 8
        q = fill_queue([10000] * n)
        pool = spead2.MemoryPool(1000, 20000, 8, 2)
        heaps = receive(q, pool, ring_heaps=n)
        assert len(heaps) == n
        support.settle_log()
        assert len(empty_warnings(log)) == n - 2

    def test_warn_on_empty_false(self, log):
        q = fill_queue([10000, 10000, 12000])
        pool = spead2.MemoryPool(1000, 20000, 0, 0)
        pool.warn_on_empty = False
        heaps = receive(q, pool)
        assert len(heaps) == 3
        for i, heap in enumerate(heaps):
            np.testing.assert_array_equal(payload(heap), expected_value(len(payload(heap)), i))
        support.settle_log()
        assert empty_warnings(log) == []

    def test_warn_on_empty_toggled_back(self, log):
        pool = spead2.MemoryPool(1000, 20000, 0, 0)
        pool.warn_on_empty = False
        receive(fill_queue([10000]), pool)
        pool.warn_on_empty = True
        receive(fill_queue([11000]), pool)
        support.settle_log()
        assert [r.getMessage() for r in empty_warnings(log)] == [f"{EMPTY_PREFIX} 11000 bytes"]

    def test_outside_range_bypasses_pool(self, log):
        # With no free blocks, any allocation served by the pool would warn;
        # sizes below lower or above upper must not.
        lower, upper = 20000, 40000
        sizes = [500, 19999, 40001, 100000]
        q = fill_queue(sizes)
        pool = spead2.MemoryPool(lower, upper, 0, 0)
        heaps = receive(q, pool)
        assert [len(payload(h)) for h in heaps] == sizes
        for i, (heap, size) in enumerate(zip(heaps, sizes)):
            np.testing.assert_array_equal(payload(heap), expected_value(size, i))
        support.settle_log()
        assert empty_warnings(log) == []

    def test_range_is_inclusive(self, log):
        lower, upper = 20000, 40000
        q = fill_queue([lower, upper])
        pool = spead2.MemoryPool(lower, upper, 0, 0)
        heaps = receive(q, pool)
        assert len(heaps) == 2
        support.settle_log()
        assert sorted(r.getMessage() for r in empty_warnings(log)) == [
            f"{EMPTY_PREFIX} {lower} bytes", f"{EMPTY_PREFIX} {upper} bytes"]

    def test_freed_blocks_return_to_pool(self, log):
        # initial=1, max_free=1: heaps dropped as soon as they are received give
        # their block back, so the pool never runs dry.
        n = 10
        q = spead2.InprocQueue()
        pool = spead2.MemoryPool(1000, 20000, 1, 1)
        stream = spead2.recv.Stream(spead2.ThreadPool(), spead2.recv.StreamConfig(memory_allocator=pool),
                                    spead2.recv.RingStreamConfig(heaps=1))
        stream.add_inproc_reader(q)
        sender = spead2.send.InprocStream(spead2.ThreadPool(), [q])
        try:
            for i in range(n):
                run_in_thread(sender.send_heap, make_heap(10000, i))
                heap = run_in_thread(stream.get)
                np.testing.assert_array_equal(payload(heap), expected_value(10000, i))
                del heap
                gc.collect()
        finally:
            q.stop()
            run_in_thread(stream.stop)
        support.settle_log()
        assert empty_warnings(log) == []


# --------------------------------------------------------------------------
# Background refill (thread_pool overload)
# --------------------------------------------------------------------------


def receive_paced(pool, n: int, size: int) -> list:
    """Send ``n`` heaps one at a time, receiving (and keeping) each before the next."""
    q = spead2.InprocQueue()
    stream = spead2.recv.Stream(spead2.ThreadPool(), spead2.recv.StreamConfig(memory_allocator=pool),
                                spead2.recv.RingStreamConfig(heaps=2))
    stream.add_inproc_reader(q)
    sender = spead2.send.InprocStream(spead2.ThreadPool(), [q])
    heaps = []
    try:
        for i in range(n):
            run_in_thread(sender.send_heap, make_heap(size, i))
            heaps.append(run_in_thread(stream.get))
            time.sleep(0.02)  # give a background refill time to run
    finally:
        q.stop()
        run_in_thread(stream.stop)
    return heaps


class TestRefill:
    N = 24
    SIZE = 10000

    def test_refill_prevents_empty_pool(self, log):
        # Baseline: without a refill thread pool, every heap after the first 4 warns.
        plain = spead2.MemoryPool(1000, 20000, 64, 4)
        kept = receive_paced(plain, self.N, self.SIZE)
        support.settle_log()
        without = len(empty_warnings(log))
        assert without == self.N - 4
        for i, heap in enumerate(kept):
            np.testing.assert_array_equal(payload(heap), expected_value(self.SIZE, i))
        del kept
        with log.records_lock:
            log.records.clear()

        refill_pool = spead2.ThreadPool()
        pool = spead2.MemoryPool(refill_pool, 1000, 20000, 64, 4, 2)
        kept = receive_paced(pool, self.N, self.SIZE)
        support.settle_log()
        with_refill = len(empty_warnings(log))
        for i, heap in enumerate(kept):
            np.testing.assert_array_equal(payload(heap), expected_value(self.SIZE, i))
        # Heaps were consumed slowly, so the refill always kept up; allow a
        # little slack for scheduling, but it must be far below the baseline.
        assert with_refill <= 2, with_refill
        assert with_refill < without / 4

    def test_refill_after_burst(self, log):
        # A burst of kept heaps may outrun the refill, but the pool is topped up
        # in the background: once things are quiet, at least ``low_water`` blocks
        # are free again (every take that leaves fewer starts a refill up to
        # ``initial``), so the next ``low_water`` heaps are served without an
        # empty-pool warning.  A pool without a thread pool would warn for each.
        n, initial, low_water = 32, 4, 2
        pool = spead2.MemoryPool(spead2.ThreadPool(), 1000, 20000, 128, initial, low_water)
        burst = receive(fill_queue([self.SIZE] * n), pool, ring_heaps=n)
        assert len(burst) == n
        for i, heap in enumerate(burst):
            np.testing.assert_array_equal(payload(heap), expected_value(self.SIZE, i))
        time.sleep(1.0)
        support.settle_log()
        with log.records_lock:
            log.records.clear()
        later = receive(fill_queue([self.SIZE] * low_water), pool, ring_heaps=low_water)
        assert len(later) == low_water
        support.settle_log()
        assert empty_warnings(log) == []

    def test_no_refill_without_thread_pool(self, log):
        # Control for test_refill_after_burst: the same pattern with a plain pool.
        n, initial = 32, 4
        pool = spead2.MemoryPool(1000, 20000, 128, initial)
        burst = receive(fill_queue([self.SIZE] * n), pool, ring_heaps=n)
        assert len(burst) == n
        time.sleep(0.2)
        support.settle_log()
        with log.records_lock:
            log.records.clear()
        later = receive(fill_queue([self.SIZE] * 2), pool, ring_heaps=2)
        assert len(later) == 2
        support.settle_log()
        assert len(empty_warnings(log)) == 2

    def test_refill_respects_range(self, log):
        # Out-of-range requests neither warn nor trigger anything odd.
        pool = spead2.MemoryPool(spead2.ThreadPool(), 1000, 20000, 8, 4, 2)
        heaps = receive(fill_queue([50000, 100, 50000]), pool)
        assert [len(payload(h)) for h in heaps] == [50000, 100, 50000]
        support.settle_log()
        assert empty_warnings(log) == []
