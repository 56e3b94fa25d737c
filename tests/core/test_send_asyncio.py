"""Tests for asyncio sending (spec python-api.md §2.14 and §3), over the inproc transport.

Covers the native ``spead2._spead2.send.InprocStreamAsyncio`` (bool return,
callbacks, fd, process_callbacks, flush) and the wrapper
``spead2.send.asyncio.InprocStream`` (futures, ``_active``,
``_last_queued_future``, queue-full/EINVAL errors, async_flush, cancellation,
heap lifetimes, async_send_heaps).

Each coroutine test runs ``asyncio.run`` in a helper thread with a timeout, so
a hang fails the test instead of blocking the run.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import gc
import logging
import select
import time
import weakref

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.send
import spead2.send.asyncio
from spead2.send import GroupMode, HeapReference, HeapReferenceList

import support
from support import reader_registered

TIMEOUT = 10.0
NativeInproc = spead2._spead2.send.InprocStreamAsyncio
AsyncInproc = spead2.send.asyncio.InprocStream

run_in_thread = functools.partial(support.run_in_thread, timeout=TIMEOUT)
run_async = functools.partial(support.run_async, timeout=TIMEOUT)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def make_heap(size: int = 64, fill: int = 0) -> spead2.send.Heap:
    heap = spead2.send.Heap()
    value = np.full(size, fill, np.uint8)
    heap.add_item(spead2.Item(0x1000, "data", "", shape=(size,), dtype=np.uint8, value=value))
    return heap


def heap_bytes(heap, cnt: int = 1, max_packet_size: int = 1472) -> int:
    return sum(len(p) for p in spead2.send.PacketGenerator(heap, cnt, max_packet_size))


def receive_all(queue, timeout: float = TIMEOUT) -> list:
    """Stop ``queue`` and return all heaps that were sent into it."""
    queue.stop()
    stream = spead2.recv.Stream(spead2.ThreadPool(), spead2.recv.StreamConfig(max_heaps=8),
                                spead2.recv.RingStreamConfig(heaps=8))
    stream.add_inproc_reader(queue)
    try:
        return run_in_thread(list, stream, timeout=timeout)
    finally:
        run_in_thread(stream.stop)


def first_byte(heap) -> int:
    (raw,) = [item for item in heap.get_items() if item.id == 0x1000]
    return bytes(raw)[0]


# Slow heaps: 256 KiB at 2.5 MB/s takes ~0.1 s, so they are still in flight
# while the test does its (synchronous) checks.
SLOW_SIZE = 256 * 1024
SLOW_RATE = 2.5e6


@pytest.fixture
def log_records():
    handler = support.ListHandler()
    loggers = [logging.getLogger(name) for name in ("", "asyncio", "spead2")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler.records
    for logger in loggers:
        logger.removeHandler(handler)


# --------------------------------------------------------------------------
# Class layout
# --------------------------------------------------------------------------


def test_class_layout(thread_pool, queue):
    assert AsyncInproc.__name__ == "InprocStream"
    assert issubclass(AsyncInproc, NativeInproc)
    assert issubclass(AsyncInproc, spead2.send.Stream)
    assert not issubclass(AsyncInproc, spead2.send.InprocStream)
    assert not hasattr(spead2.send, "InprocStreamAsyncio")
    stream = AsyncInproc(thread_pool, [queue])
    assert stream.queues[0] is queue
    assert stream.num_substreams == 1
    assert isinstance(stream.fd, int)
    assert stream._active == 0
    assert stream._last_queued_future is None
    with pytest.raises(ValueError):
        AsyncInproc(thread_pool, [])


def test_constructor_keywords(thread_pool, queue):
    stream = AsyncInproc(thread_pool=thread_pool, queues=[queue],
                         config=spead2.send.StreamConfig(max_heaps=2))
    assert stream.queues[0] is queue


# --------------------------------------------------------------------------
# Native InprocStreamAsyncio (§2.14)
# --------------------------------------------------------------------------


class TestNative:
    def test_callback_and_fd(self, thread_pool, queue):
        stream = NativeInproc(thread_pool, [queue])
        heap = make_heap(3000)
        calls = []
        assert stream.async_send_heap(heap, lambda exc, n: calls.append((exc, n))) is True
        # No callback runs before process_callbacks.
        readable, _, _ = select.select([stream.fd], [], [], TIMEOUT)
        assert readable == [stream.fd]
        assert calls == []
        run_in_thread(stream.process_callbacks)
        assert calls == [(None, heap_bytes(heap))]
        assert len(receive_all(queue)) == 1

    def test_rejected_still_calls_back(self, thread_pool, queue):
        stream = NativeInproc(thread_pool, [queue])
        calls = []
        assert stream.async_send_heap(make_heap(), lambda exc, n: calls.append((exc, n)),
                                      substream_index=1) is False
        readable, _, _ = select.select([stream.fd], [], [], TIMEOUT)
        assert readable
        run_in_thread(stream.process_callbacks)
        assert len(calls) == 1
        exc, n = calls[0]
        assert isinstance(exc, OSError) and exc.errno == errno.EINVAL
        assert n == 0

    @pytest.mark.parametrize("as_list", [False, True], ids=["HeapReferenceList", "list"])
    def test_empty_group_rejected(self, thread_pool, queue, as_list):
        stream = NativeInproc(thread_pool, [queue])
        calls = []
        group = [] if as_list else HeapReferenceList([])
        assert stream.async_send_heaps(group, lambda exc, n: calls.append((exc, n)),
                                       GroupMode.SERIAL) is False
        select.select([stream.fd], [], [], TIMEOUT)
        run_in_thread(stream.process_callbacks)
        assert len(calls) == 1 and calls[0][0].errno == errno.EINVAL and calls[0][1] == 0

    def test_callbacks_in_order_and_flush(self, thread_pool, queue):
        stream = NativeInproc(thread_pool, [queue], spead2.send.StreamConfig(max_heaps=8))
        calls = []
        for i in range(5):
            assert stream.async_send_heap(make_heap(2000, i), lambda exc, n, i=i: calls.append(i))
        run_in_thread(stream.flush)
        # After flush every heap has completed: its callback is queued.
        while len(calls) < 5:
            readable, _, _ = select.select([stream.fd], [], [], TIMEOUT)
            assert readable, "fd not readable although callbacks are pending"
            run_in_thread(stream.process_callbacks)
        assert calls == [0, 1, 2, 3, 4]
        assert [first_byte(h) for h in receive_all(queue)] == [0, 1, 2, 3, 4]

    def test_flush_waits_for_completion(self, thread_pool, queue):
        """flush() returns only once every queued heap has completed: it cannot return
        before the rate allows, and right after it (no waiting, no retry) the fd is
        readable and a single process_callbacks() runs all the callbacks."""
        config = spead2.send.StreamConfig(max_heaps=8, rate=SLOW_RATE)
        stream = NativeInproc(thread_pool, [queue], config)
        heaps = [make_heap(SLOW_SIZE, i) for i in range(3)]
        calls = []
        start = time.perf_counter()
        for i, heap in enumerate(heaps):
            assert stream.async_send_heap(heap, lambda exc, n, i=i: calls.append((i, exc, n)))
        run_in_thread(stream.flush)
        elapsed = time.perf_counter() - start
        total = sum(heap_bytes(h, i + 1) for i, h in enumerate(heaps))
        assert elapsed >= (total - config.burst_size) / SLOW_RATE * 0.95, (total, elapsed)
        assert select.select([stream.fd], [], [], 0)[0] == [stream.fd], "no completion queued after flush"
        run_in_thread(stream.process_callbacks)
        assert calls == [(i, None, heap_bytes(h, i + 1)) for i, h in enumerate(heaps)]
        assert [first_byte(h) for h in receive_all(queue)] == [0, 1, 2]

    def test_callback_exception_propagates(self, thread_pool, queue):
        stream = NativeInproc(thread_pool, [queue])

        def callback(exc, n):
            raise ZeroDivisionError("from callback")

        assert stream.async_send_heap(make_heap(), callback)
        run_in_thread(stream.flush)
        select.select([stream.fd], [], [], TIMEOUT)
        with pytest.raises(ZeroDivisionError):
            run_in_thread(stream.process_callbacks)
        # The stream is still usable.
        calls = []
        assert stream.async_send_heap(make_heap(), lambda exc, n: calls.append(exc))
        run_in_thread(stream.flush)
        while not calls:
            assert select.select([stream.fd], [], [], TIMEOUT)[0]
            run_in_thread(stream.process_callbacks)
        assert calls == [None]

    def test_releases_heap_and_callback(self, thread_pool, queue):
        stream = NativeInproc(thread_pool, [queue])
        heap = make_heap()
        heap_ref = weakref.ref(heap)

        class Callback:
            def __call__(self, exc, n):
                pass

        callback = Callback()
        cb_ref = weakref.ref(callback)
        assert stream.async_send_heap(heap, callback)
        del heap, callback
        gc.collect()
        assert heap_ref() is not None, "stream must hold the heap until the callback has run"
        assert cb_ref() is not None, "stream must hold the callback until it has run"
        run_in_thread(stream.flush)
        select.select([stream.fd], [], [], TIMEOUT)
        run_in_thread(stream.process_callbacks)
        gc.collect()
        assert heap_ref() is None
        assert cb_ref() is None


# --------------------------------------------------------------------------
# spead2.send.asyncio.InprocStream (§3)
# --------------------------------------------------------------------------


class TestAsyncSendHeap:
    def test_future_resolves_to_bytes(self, thread_pool, queue):
        heaps = [make_heap(size, i) for i, size in enumerate((10, 1000, 100000))]

        async def body():
            stream = AsyncInproc(thread_pool, [queue])
            futures = [stream.async_send_heap(h) for h in heaps]
            for f in futures:
                assert isinstance(f, asyncio.Future)
                assert not asyncio.iscoroutine(f)
            return await asyncio.gather(*futures)

        results = run_async(body)
        assert results == [heap_bytes(h, i + 1) for i, h in enumerate(heaps)]
        received = receive_all(queue)
        assert [h.cnt for h in received] == [1, 2, 3]
        assert [first_byte(h) for h in received] == [0, 1, 2]

    def test_future_on_current_loop(self, thread_pool, queue):
        async def body():
            stream = AsyncInproc(thread_pool, [queue])
            future = stream.async_send_heap(make_heap())
            assert future.get_loop() is asyncio.get_running_loop()
            return await future

        assert run_async(body) > 0

    def test_explicit_cnt_and_substream(self, thread_pool):
        queues = [spead2.InprocQueue(), spead2.InprocQueue()]

        async def body():
            stream = AsyncInproc(thread_pool, queues)
            await stream.async_send_heap(make_heap(fill=1), cnt=100, substream_index=1)
            await stream.async_send_heap(make_heap(fill=2), cnt=200, substream_index=0)
            await stream.async_send_heap(make_heap(fill=3), substream_index=1)

        run_async(body)
        assert [(h.cnt, first_byte(h)) for h in receive_all(queues[0])] == [(200, 2)]
        assert [(h.cnt, first_byte(h)) for h in receive_all(queues[1])] == [(100, 1), (1, 3)]

    def test_queue_full(self, thread_pool, queue):
        config = spead2.send.StreamConfig(max_heaps=2, rate=SLOW_RATE)

        async def body():
            stream = AsyncInproc(thread_pool, [queue], config)
            f1 = stream.async_send_heap(make_heap(SLOW_SIZE, 1))
            f2 = stream.async_send_heap(make_heap(SLOW_SIZE, 2))
            f3 = stream.async_send_heap(make_heap(SLOW_SIZE, 3))
            # f3 was rejected, so it is not the last queued future.
            assert stream._last_queued_future is f2
            assert stream._active == 3
            with pytest.raises(BlockingIOError) as info:
                await f3
            assert info.value.errno == errno.EAGAIN
            assert not f1.done() or f1.exception() is None
            n1, n2 = await asyncio.gather(f1, f2)
            assert n1 == n2 == heap_bytes(make_heap(SLOW_SIZE))
            assert stream._active == 0
            # The queue has room again.
            assert await stream.async_send_heap(make_heap(10, 4)) > 0

        run_async(body)
        # The rejected heap was dropped, not queued.
        assert [first_byte(h) for h in receive_all(queue)] == [1, 2, 4]

    def test_bad_substream(self, thread_pool, queue):
        async def body():
            stream = AsyncInproc(thread_pool, [queue])
            future = stream.async_send_heap(make_heap(), substream_index=1)
            assert stream._last_queued_future is None
            with pytest.raises(OSError) as info:
                await future
            assert info.value.errno == errno.EINVAL
            assert stream._active == 0

        run_async(body)
        assert receive_all(queue) == []

    def test_cnt_out_of_range(self, thread_pool, queue):
        async def body():
            stream = AsyncInproc(thread_pool, [queue])
            with pytest.raises(OSError) as info:
                await stream.async_send_heap(make_heap(), cnt=2**40)  # default 40-bit addresses
            assert info.value.errno == errno.EINVAL

        run_async(body)

    def test_transport_error(self, thread_pool):
        q = spead2.InprocQueue()
        q.stop()

        async def body():
            stream = AsyncInproc(thread_pool, [q])
            future = stream.async_send_heap(make_heap())
            assert stream._last_queued_future is future  # it was queued; it fails later
            with pytest.raises(OSError) as info:
                await future
            assert info.value.errno == errno.ECANCELED
            assert stream._active == 0

        run_async(body)

    def test_active_and_reader(self, thread_pool, queue):
        async def body():
            loop = asyncio.get_running_loop()
            stream = AsyncInproc(thread_pool, [queue], spead2.send.StreamConfig(max_heaps=8))
            assert not reader_registered(loop, stream.fd)
            for round_ in range(2):  # the reader is re-registered on the next 0 -> 1
                futures = [stream.async_send_heap(make_heap(1000, i)) for i in range(3)]
                assert stream._active == 3
                assert reader_registered(loop, stream.fd)
                assert stream._last_queued_future is futures[-1]
                await asyncio.gather(*futures)
                assert stream._active == 0
                assert stream._last_queued_future is None
                assert not reader_registered(loop, stream.fd)
            # Rejected sends count as active too until their callback has run.
            bad = stream.async_send_heap(make_heap(), substream_index=5)
            assert stream._active == 1
            assert reader_registered(loop, stream.fd)
            with pytest.raises(OSError):
                await bad
            assert stream._active == 0
            assert not reader_registered(loop, stream.fd)
            assert loop.remove_reader(stream.fd) is False

        run_async(body)

    def test_cancel_pending_future(self, thread_pool, queue, log_records):
        errors: list = []

        async def body():
            stream = AsyncInproc(thread_pool, [queue], spead2.send.StreamConfig(rate=SLOW_RATE))
            slow = stream.async_send_heap(make_heap(SLOW_SIZE, 1))
            assert slow.cancel()
            later = stream.async_send_heap(make_heap(100, 2))
            assert await later > 0
            assert stream._active == 0
            # Another round after the cancelled callback has been processed.
            assert await stream.async_send_heap(make_heap(100, 3)) > 0
            assert stream._active == 0
            assert slow.cancelled()

        run_async(body, loop_errors=errors)
        assert errors == []
        bad = [r for r in log_records if r.levelno >= logging.ERROR]
        assert bad == [], [r.getMessage() for r in bad]
        # Cancelling the future does not cancel the transmission.
        assert [first_byte(h) for h in receive_all(queue)] == [1, 2, 3]

    def test_cancel_by_task_cancellation(self, thread_pool, queue):
        errors: list = []

        async def body():
            stream = AsyncInproc(thread_pool, [queue], spead2.send.StreamConfig(rate=SLOW_RATE))

            async def send():
                return await stream.async_send_heap(make_heap(SLOW_SIZE, 1))

            task = asyncio.ensure_future(send())
            await asyncio.sleep(0)  # the task is now awaiting the send future
            assert stream._active == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Completions are in order, so this one also waits for the cancelled send.
            assert await stream.async_send_heap(make_heap(10, 2)) > 0
            assert stream._active == 0

        run_async(body, loop_errors=errors)
        assert errors == []
        assert [first_byte(h) for h in receive_all(queue)] == [1, 2]

    def test_heap_released_after_completion(self, thread_pool, queue):
        async def body():
            stream = AsyncInproc(thread_pool, [queue], spead2.send.StreamConfig(rate=SLOW_RATE))
            heap = make_heap(SLOW_SIZE)
            ref = weakref.ref(heap)
            future = stream.async_send_heap(heap)
            del heap
            gc.collect()
            assert ref() is not None, "heap freed while still being sent"
            await future
            gc.collect()
            assert ref() is None, "stream still holds the heap after completion"

        run_async(body)

    def test_rejected_heap_released(self, thread_pool, queue):
        async def body():
            stream = AsyncInproc(thread_pool, [queue])
            heap = make_heap()
            ref = weakref.ref(heap)
            future = stream.async_send_heap(heap, substream_index=9)
            del heap
            with pytest.raises(OSError):
                await future
            gc.collect()
            assert ref() is None

        run_async(body)

    def test_value_buffer_released(self, thread_pool, queue):
        async def body():
            stream = AsyncInproc(thread_pool, [queue])
            value = np.arange(1000, dtype=np.uint8)
            ref = weakref.ref(value)
            heap = spead2.send.Heap()
            heap.add_item(spead2.Item(0x1000, "a", "", shape=value.shape, dtype=value.dtype, value=value))
            future = stream.async_send_heap(heap)
            del heap, value
            gc.collect()
            assert ref() is not None
            await future
            gc.collect()
            assert ref() is None

        run_async(body)


class TestAsyncSendHeaps:
    @pytest.mark.parametrize("as_list", [False, True], ids=["HeapReferenceList", "list"])
    @pytest.mark.parametrize("mode", [GroupMode.ROUND_ROBIN, GroupMode.SERIAL])
    def test_send_heaps(self, thread_pool, as_list, mode):
        queues = [spead2.InprocQueue(), spead2.InprocQueue()]
        heaps = [make_heap(size, i) for i, size in enumerate((100, 5000, 3000))]
        refs = [
            HeapReference(heaps[0], cnt=10, substream_index=0),
            HeapReference(heaps[1], cnt=11, substream_index=1),
            HeapReference(heaps[2], substream_index=0),
        ]
        group = refs if as_list else HeapReferenceList(refs)

        async def body():
            stream = AsyncInproc(thread_pool, queues, spead2.send.StreamConfig(max_heaps=4))
            future = stream.async_send_heaps(group, mode)
            assert isinstance(future, asyncio.Future)
            assert stream._last_queued_future is future
            assert stream._active == 1
            n = await future
            assert stream._active == 0
            # The same group can be sent again.
            n2 = await stream.async_send_heaps(group, mode)
            return n, n2

        n, n2 = run_async(body)
        expected = heap_bytes(heaps[0], 10) + heap_bytes(heaps[1], 11) + heap_bytes(heaps[2], 1)
        assert n == expected
        assert n2 == expected
        got0 = [(h.cnt, first_byte(h)) for h in receive_all(queues[0])]
        got1 = [(h.cnt, first_byte(h)) for h in receive_all(queues[1])]
        assert sorted(got0) == [(1, 2), (2, 2), (10, 0), (10, 0)]
        assert got1 == [(11, 1), (11, 1)]

    @pytest.mark.parametrize("as_list", [False, True], ids=["HeapReferenceList", "list"])
    def test_empty_group(self, thread_pool, queue, as_list):
        async def body():
            stream = AsyncInproc(thread_pool, [queue])
            for _ in range(2):
                group = [] if as_list else HeapReferenceList([])
                future = stream.async_send_heaps(group, GroupMode.SERIAL)
                assert stream._last_queued_future is None
                with pytest.raises(OSError) as info:
                    await future
                assert info.value.errno == errno.EINVAL
            assert stream._active == 0

        run_async(body)

    @pytest.mark.parametrize("as_list", [False, True], ids=["HeapReferenceList", "list"])
    def test_bad_substream_in_group(self, thread_pool, queue, as_list):
        async def body():
            stream = AsyncInproc(thread_pool, [queue])
            refs = [HeapReference(make_heap()), HeapReference(make_heap(), substream_index=1)]
            group = refs if as_list else HeapReferenceList(refs)
            with pytest.raises(OSError) as info:
                await stream.async_send_heaps(group, GroupMode.ROUND_ROBIN)
            assert info.value.errno == errno.EINVAL
            # The whole group was rejected and the cnt sequence restored.
            assert await stream.async_send_heap(make_heap(fill=7)) > 0

        run_async(body)
        assert [(h.cnt, first_byte(h)) for h in receive_all(queue)] == [(1, 7)]

    @pytest.mark.parametrize("as_list", [False, True], ids=["HeapReferenceList", "list"])
    def test_group_larger_than_queue(self, thread_pool, queue, as_list):
        async def body():
            stream = AsyncInproc(thread_pool, [queue], spead2.send.StreamConfig(max_heaps=2))
            refs = [HeapReference(make_heap()) for _ in range(3)]
            group = refs if as_list else HeapReferenceList(refs)
            with pytest.raises(BlockingIOError):
                await stream.async_send_heaps(group, GroupMode.SERIAL)

        run_async(body)
        assert receive_all(queue) == []

    def test_group_larger_than_free_slots(self, thread_pool, queue):
        """A group must fit in the slots left by heaps in flight, not just in max_heaps:
        with one slow heap in flight and max_heaps=3, a group of 3 is rejected whole
        (BlockingIOError, nothing sent) while a group of 2 is accepted."""
        async def body():
            stream = AsyncInproc(thread_pool, [queue], spead2.send.StreamConfig(max_heaps=3))
            slow = stream.async_send_heap(make_heap(SLOW_SIZE, 1), rate=SLOW_SIZE)  # ~1 s
            too_big = stream.async_send_heaps([HeapReference(make_heap(100, 2)) for _ in range(3)],
                                              GroupMode.SERIAL)
            fits = stream.async_send_heaps([HeapReference(make_heap(100, 3)) for _ in range(2)],
                                           GroupMode.SERIAL)
            with pytest.raises(BlockingIOError) as info:
                await too_big
            assert info.value.errno == errno.EAGAIN
            assert not slow.done(), "the rejection waited for the heap in flight"
            assert await fits == 2 * heap_bytes(make_heap(100))
            await slow

        run_async(body)
        assert [first_byte(h) for h in receive_all(queue)] == [1, 3, 3]

    def test_bad_mode_type(self, thread_pool, queue):
        async def body():
            stream = AsyncInproc(thread_pool, [queue])
            with pytest.raises(TypeError):
                stream.async_send_heaps([HeapReference(make_heap())], 0)
            assert stream._active == 0

        run_async(body)

    def test_heap_reference_list_released(self, thread_pool, queue):
        async def body():
            stream = AsyncInproc(thread_pool, [queue], spead2.send.StreamConfig(rate=SLOW_RATE))
            heap = make_heap(SLOW_SIZE)
            heap_ref = weakref.ref(heap)
            group = HeapReferenceList([HeapReference(heap)])
            future = stream.async_send_heaps(group, GroupMode.SERIAL)
            del heap, group
            gc.collect()
            assert heap_ref() is not None
            await future
            gc.collect()
            assert heap_ref() is None

        run_async(body)


class TestAsyncFlush:
    def test_flush_nothing(self, thread_pool, queue):
        async def body():
            stream = AsyncInproc(thread_pool, [queue])
            await stream.async_flush()
            assert stream._active == 0

        run_async(body)

    def test_flush_waits_for_queued(self, thread_pool, queue):
        async def body():
            stream = AsyncInproc(thread_pool, [queue], spead2.send.StreamConfig(max_heaps=8))
            futures = [stream.async_send_heap(make_heap(SLOW_SIZE, i), rate=10 * SLOW_RATE) for i in range(3)]
            await stream.async_flush()
            assert all(f.done() for f in futures)
            assert stream._active == 0
            assert stream._last_queued_future is None

        run_async(body)

    def test_flush_ignores_later_heaps(self, thread_pool, queue):
        async def body():
            stream = AsyncInproc(thread_pool, [queue], spead2.send.StreamConfig(max_heaps=8))
            early = [stream.async_send_heap(make_heap(1000, i), rate=0.0) for i in range(2)]
            flush = asyncio.ensure_future(stream.async_flush())
            await asyncio.sleep(0)  # let async_flush look at the queue
            # A heap taking ~1 s, queued after the flush started.
            late = stream.async_send_heap(make_heap(SLOW_SIZE, 9), rate=SLOW_SIZE)
            await asyncio.wait_for(flush, 0.9 * TIMEOUT)
            assert all(f.done() for f in early)
            assert not late.done(), "async_flush waited for a heap queued after it was called"
            await late

        run_async(body)

    def test_flush_does_not_raise(self, thread_pool):
        q = spead2.InprocQueue()
        q.stop()

        async def body():
            stream = AsyncInproc(thread_pool, [q])
            future = stream.async_send_heap(make_heap())
            await stream.async_flush()  # must not raise ECANCELED
            assert future.done()
            assert isinstance(future.exception(), OSError)
            assert future.exception().errno == errno.ECANCELED
            assert stream._active == 0

        run_async(body)

    def test_flush_after_rejection_only(self, thread_pool, queue):
        async def body():
            stream = AsyncInproc(thread_pool, [queue])
            bad = stream.async_send_heap(make_heap(), substream_index=3)
            await stream.async_flush()  # nothing was queued: returns at once
            with pytest.raises(OSError):
                await bad

        run_async(body)


def test_many_heaps_window(thread_pool, queue):
    """A producer keeping a window of futures sends everything, in order."""
    n = 200

    async def body():
        stream = AsyncInproc(thread_pool, [queue], spead2.send.StreamConfig(max_heaps=4))
        window = []
        total = 0
        for i in range(n):
            window.append(stream.async_send_heap(make_heap(2000, i % 256)))
            if len(window) >= 4:
                total += await window.pop(0)
        total += sum(await asyncio.gather(*window))
        assert stream._active == 0
        return total

    total = run_async(body, timeout=30)
    assert total == n * heap_bytes(make_heap(2000))
    heaps = receive_all(queue, timeout=30)
    assert [h.cnt for h in heaps] == list(range(1, n + 1))
    assert [first_byte(h) for h in heaps] == [i % 256 for i in range(n)]
