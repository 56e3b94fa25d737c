"""Tests for spead2.recv.asyncio.Stream (spec python-api.md §5), fed through InprocQueue.

Covers get() ordering, async iteration, concurrent (FIFO) getters,
cancellation of a pending get(), Stopped delivered to every waiter, get()
after stop, the fd reader being unregistered, and the one-yield-per-heap rule.

Each coroutine test runs ``asyncio.run`` in a helper thread with a timeout.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import threading
import weakref

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.recv.asyncio
import spead2.send
import support
from asyncio_support import loop_ticks_during, reader_registered

TIMEOUT = 10.0
AsyncStream = spead2.recv.asyncio.Stream

run_in_thread = functools.partial(support.run_in_thread, timeout=TIMEOUT)
run_async = functools.partial(support.run_async, timeout=TIMEOUT)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def packet(value: int, cnt: int) -> bytes:
    """A single-packet heap with cnt ``cnt`` and an 8-byte item 0x1000 = ``value``."""
    heap = spead2.send.Heap()
    heap.add_item(spead2.Item(0x1000, "v", "", shape=(), format=[("u", 64)], value=value))
    (pkt,) = [bytes(p) for p in spead2.send.PacketGenerator(heap, cnt, 1472)]
    return pkt


def value_of(heap) -> int:
    (raw,) = [item for item in heap.get_items() if item.id == 0x1000]
    return int.from_bytes(bytes(raw), "big")


async def wait_until(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


@pytest.fixture
def make_stream():
    created = []

    def make(*args, queue=None, **kwargs):
        if not args and "thread_pool" not in kwargs:
            args = (spead2.ThreadPool(),)
        stream = AsyncStream(*args, **kwargs)
        created.append(stream)
        if queue is not None:
            stream.add_inproc_reader(queue)
        return stream

    yield make
    for stream in created:
        run_in_thread(stream.stop)


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_class():
    assert issubclass(AsyncStream, spead2.recv.Stream)
    assert AsyncStream.__name__ == "Stream"
    assert asyncio.iscoroutinefunction(AsyncStream.get)
    assert asyncio.iscoroutinefunction(AsyncStream.__anext__)


def test_constructor_arguments(make_stream):
    config = spead2.recv.StreamConfig(max_heaps=3)
    ring = spead2.recv.RingStreamConfig(heaps=7)
    stream = make_stream(thread_pool=spead2.ThreadPool(), config=config, ring_config=ring)
    assert stream.config.max_heaps == 3
    assert stream.ring_config.heaps == 7
    assert stream.__aiter__() is stream


def test_get_in_order(make_stream):
    q = spead2.InprocQueue()
    for i in range(5):
        q.add_packet(packet(100 + i, i + 1))
    q.stop()
    stream = make_stream(queue=q)

    async def body():
        got = []
        for _ in range(5):
            heap = await stream.get()
            assert isinstance(heap, spead2.recv.Heap)
            got.append((heap.cnt, value_of(heap)))
        with pytest.raises(spead2.Stopped):
            await stream.get()
        # And again: still Stopped.
        with pytest.raises(spead2.Stopped):
            await stream.get()
        return got

    assert run_async(body) == [(i + 1, 100 + i) for i in range(5)]


def test_get_waits_for_data(make_stream):
    q = spead2.InprocQueue()
    stream = make_stream(queue=q)

    async def body():
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(stream.get())
        await asyncio.sleep(0.05)
        assert not task.done()
        assert reader_registered(loop, stream.fd)
        loop.call_later(0.05, q.add_packet, packet(7, 1))
        heap = await task
        assert value_of(heap) == 7
        assert not reader_registered(loop, stream.fd)
        q.stop()
        with pytest.raises(spead2.Stopped):
            await stream.get()
        assert not reader_registered(loop, stream.fd)

    run_async(body)


def test_item_group_values(make_stream):
    q = spead2.InprocQueue()
    sender = spead2.send.InprocStream(spead2.ThreadPool(), [q])
    ig = spead2.send.ItemGroup()
    arr = np.arange(300000, dtype=np.int32)  # > 1 MiB
    ig.add_item(0x1000, "arr", "", shape=arr.shape, dtype=arr.dtype, value=arr)
    ig.add_item(0x1001, "s", "", shape=(), format=[("u", 16)], value=0)
    for i in range(3):
        ig["s"].value = i
        run_in_thread(sender.send_heap, ig.get_heap())
    run_in_thread(sender.send_heap, ig.get_end())
    stream = make_stream(queue=q)

    async def body():
        rig = spead2.ItemGroup()
        values = []
        async for heap in stream:
            rig.update(heap)
            np.testing.assert_array_equal(rig["arr"].value, arr)
            values.append(rig["s"].value)
        return values

    assert run_async(body) == [0, 1, 2]


def test_async_for_ends_on_stop(make_stream):
    q = spead2.InprocQueue()
    stream = make_stream(queue=q)

    async def body():
        loop = asyncio.get_running_loop()
        for i in range(3):
            q.add_packet(packet(i, i + 1))
        loop.call_later(0.1, q.stop)
        got = [value_of(h) async for h in stream]
        return got

    assert run_async(body) == [0, 1, 2]


def test_async_for_ends_on_user_stop(make_stream):
    q = spead2.InprocQueue()
    stream = make_stream(queue=q)

    async def body():
        loop = asyncio.get_running_loop()
        q.add_packet(packet(1, 1))
        loop.call_later(0.1, stream.stop)
        got = [value_of(h) async for h in stream]
        return got

    assert run_async(body) == [1]
    q.stop()


def test_concurrent_gets_fifo(make_stream):
    q = spead2.InprocQueue()
    stream = make_stream(queue=q)

    async def body():
        tasks = []
        for _ in range(4):
            tasks.append(asyncio.ensure_future(stream.get()))
            await asyncio.sleep(0.01)  # fix the call order
        assert not any(t.done() for t in tasks)
        for i in range(4):
            q.add_packet(packet(i, i + 1))
        heaps = await asyncio.gather(*tasks)
        return [value_of(h) for h in heaps]

    assert run_async(body) == [0, 1, 2, 3]


def test_concurrent_gets_fifo_staggered(make_stream):
    q = spead2.InprocQueue()
    stream = make_stream(queue=q)

    async def body():
        tasks = []
        for _ in range(3):
            tasks.append(asyncio.ensure_future(stream.get()))
            await asyncio.sleep(0.01)
        for i in range(3):
            q.add_packet(packet(i, i + 1))
            await asyncio.wait_for(asyncio.shield(tasks[i]), 5)
            # Later waiters are still pending.
            assert not any(t.done() for t in tasks[i + 1:])
        return [value_of(t.result()) for t in tasks]

    assert run_async(body) == [0, 1, 2]


def test_cancelled_get_skipped(make_stream):
    q = spead2.InprocQueue()
    stream = make_stream(queue=q)
    errors: list = []

    async def body():
        loop = asyncio.get_running_loop()
        tasks = []
        for _ in range(3):
            tasks.append(asyncio.ensure_future(stream.get()))
            await asyncio.sleep(0.01)
        tasks[1].cancel()
        await asyncio.sleep(0)
        q.add_packet(packet(10, 1))
        q.add_packet(packet(11, 2))
        first = await tasks[0]
        third = await tasks[2]
        assert tasks[1].cancelled()
        assert not reader_registered(loop, stream.fd)
        # Nothing was lost: the heaps went to the remaining waiters in order.
        return value_of(first), value_of(third)

    assert run_async(body, loop_errors=errors) == (10, 11)
    assert errors == []


def test_cancelled_only_waiter(make_stream):
    q = spead2.InprocQueue()
    stream = make_stream(queue=q)

    async def body():
        task = asyncio.ensure_future(stream.get())
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        q.add_packet(packet(5, 1))
        await asyncio.sleep(0.1)
        # The heap is not consumed by the cancelled waiter.
        heap = await asyncio.wait_for(stream.get(), 5)
        return value_of(heap)

    assert run_async(body) == 5


def test_stopped_reaches_all_waiters(make_stream):
    q = spead2.InprocQueue()
    stream = make_stream(queue=q)

    async def body():
        loop = asyncio.get_running_loop()
        tasks = []
        for _ in range(4):
            tasks.append(asyncio.ensure_future(stream.get()))
            await asyncio.sleep(0.01)
        q.stop()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, spead2.Stopped) for r in results), results
        assert not reader_registered(loop, stream.fd)

    run_async(body)


def test_stopped_after_remaining_heaps(make_stream):
    q = spead2.InprocQueue()
    stream = make_stream(queue=q)

    async def body():
        tasks = []
        for _ in range(4):
            tasks.append(asyncio.ensure_future(stream.get()))
            await asyncio.sleep(0.01)
        q.add_packet(packet(1, 1))
        q.add_packet(packet(2, 2))
        q.stop()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert [value_of(r) for r in results[:2]] == [1, 2]
        assert all(isinstance(r, spead2.Stopped) for r in results[2:]), results

    run_async(body)


def test_user_stop_wakes_waiters(make_stream):
    q = spead2.InprocQueue()
    stream = make_stream(queue=q)

    async def body():
        tasks = [asyncio.ensure_future(stream.get()) for _ in range(2)]
        await asyncio.sleep(0.05)
        stream.stop()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, spead2.Stopped) for r in results), results

    run_async(body)
    q.stop()


def test_get_after_stop(make_stream):
    stream = make_stream()
    run_in_thread(stream.stop)

    async def body():
        with pytest.raises(spead2.Stopped):
            await stream.get()

    run_async(body)


def test_get_after_stop_drains_ring(make_stream):
    q = spead2.InprocQueue()
    q.add_packet(packet(3, 1))
    stream = make_stream(queue=q)

    async def body():
        await wait_until(lambda: stream.ringbuffer.size() == 1)
        stream.stop()
        heap = await stream.get()  # heaps already in the ring remain retrievable
        assert value_of(heap) == 3
        with pytest.raises(spead2.Stopped):
            await stream.get()

    run_async(body)
    q.stop()


def test_get_nowait_inherited(make_stream):
    q = spead2.InprocQueue()
    stream = make_stream(queue=q)
    with pytest.raises(spead2.Empty):
        stream.get_nowait()
    q.add_packet(packet(9, 1))
    q.stop()

    async def body():
        heap = await stream.get()
        assert value_of(heap) == 9
        with pytest.raises(spead2.Stopped):
            stream.get_nowait()

    run_async(body)


def test_ready_heap_yields_to_loop(make_stream):
    """get() with a heap already available still lets other tasks run."""
    n = 20
    q = spead2.InprocQueue()
    for i in range(n):
        q.add_packet(packet(i, i + 1))
    q.stop()
    stream = make_stream(spead2.ThreadPool(), spead2.recv.StreamConfig(),
                         spead2.recv.RingStreamConfig(heaps=n + 1), queue=q)

    async def body():
        await wait_until(lambda: stream.ringbuffer.size() == n)
        return await loop_ticks_during(stream.get, n)

    assert run_async(body) >= n - 1


def test_heap_not_retained(make_stream):
    """A returned heap is not kept alive by the stream's waiter machinery."""
    q = spead2.InprocQueue()
    stream = make_stream(queue=q)

    async def body():
        loop = asyncio.get_running_loop()
        refs = []
        # Waiter path (no heap available when get() is called) ...
        loop.call_later(0.05, q.add_packet, packet(1, 1))
        heap = await stream.get()
        refs.append(weakref.ref(heap))
        del heap
        # ... and fast path (heap already in the ring).
        q.add_packet(packet(2, 2))
        await wait_until(lambda: stream.ringbuffer.size() == 1)
        heap = await stream.get()
        refs.append(weakref.ref(heap))
        del heap
        gc.collect()
        return [r() is None for r in refs]

    assert run_async(body) == [True, True]
    q.stop()


def test_many_heaps_stress(make_stream):
    n = 2000
    q = spead2.InprocQueue()
    stream = make_stream(queue=q)

    def producer():
        for i in range(n):
            q.add_packet(packet(i, i + 1))
        q.stop()

    async def body():
        thread = threading.Thread(target=producer)
        thread.start()
        got = [value_of(h) async for h in stream]
        thread.join()
        return got

    assert run_async(body, timeout=30) == list(range(n))
