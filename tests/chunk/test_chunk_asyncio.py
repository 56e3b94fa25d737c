"""spead2.recv.asyncio.ChunkRingbuffer (spec python-api.md §6.12, with §5 for the waiters).

Covers get/put waiting on the ring's fds, FIFO order of concurrent callers,
cancelled waiters being skipped, Stopped reaching pending and later callers,
chunks keeping their buffers when a put fails, async iteration, and a chunk
stream delivering into the asyncio ring.

Each coroutine test runs ``asyncio.run`` in a helper thread with a timeout, so a
broken wake-up fails the test instead of hanging the run.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.recv.asyncio
import spead2.send
from asyncio_support import loop_ticks_during, reader_registered, run_async

TIMEOUT = 5.0
AsyncRing = spead2.recv.asyncio.ChunkRingbuffer


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def make_chunk(chunk_id: int = -1, cls=spead2.recv.Chunk) -> spead2.recv.Chunk:
    return cls(present=np.zeros(4, np.uint8), data=np.zeros(64, np.uint8), chunk_id=chunk_id)


async def pending_tasks(coros) -> list[asyncio.Task]:
    """Start the coroutines one by one, each parked before the next starts (fixes the call order)."""
    tasks = []
    for coro in coros:
        tasks.append(asyncio.ensure_future(coro))
        await asyncio.sleep(0.01)
    assert not any(t.done() for t in tasks)
    return tasks


# --------------------------------------------------------------------------
# Class
# --------------------------------------------------------------------------


def test_class():
    ring = AsyncRing(3)
    assert isinstance(ring, spead2.recv.ChunkRingbuffer)
    assert AsyncRing.__name__ == "ChunkRingbuffer"
    assert ring.maxsize == 3
    assert ring.__aiter__() is ring
    for name in ("get", "put", "__anext__"):
        assert asyncio.iscoroutinefunction(getattr(AsyncRing, name)), name
    # The synchronous non-blocking calls are the native ones.
    chunk = make_chunk()
    ring.put_nowait(chunk)
    assert ring.qsize() == 1 and not ring.empty() and not ring.full()
    assert ring.get_nowait() is chunk
    with pytest.raises(spead2.Empty):
        ring.get_nowait()


# --------------------------------------------------------------------------
# get
# --------------------------------------------------------------------------


def test_get_ready_chunk_identity():
    ring = AsyncRing(2)
    chunk = make_chunk(5)
    present, data = chunk.present, chunk.data
    ring.put_nowait(chunk)
    assert chunk.data is None  # in flight

    async def body():
        return await ring.get()

    got = run_async(body)
    assert got is chunk
    assert got.present is present and got.data is data
    assert got.chunk_id == 5


def test_get_waits_for_put_from_thread():
    ring = AsyncRing(2)
    chunk = make_chunk(7)

    async def body():
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(ring.get())
        await asyncio.sleep(0.05)
        assert not task.done()
        assert reader_registered(loop, ring.data_fd)
        timer = threading.Timer(0.05, ring.put_nowait, (chunk,))
        timer.start()
        got = await task
        timer.join()
        assert not reader_registered(loop, ring.data_fd)
        return got

    got = run_async(body)
    assert got is chunk
    assert got.data is not None and got.present is not None


def test_get_fifo():
    ring = AsyncRing(8)

    async def body():
        tasks = await pending_tasks(ring.get() for _ in range(4))
        for i in range(4):
            ring.put_nowait(make_chunk(i))
        chunks = await asyncio.gather(*tasks)
        return [c.chunk_id for c in chunks]

    assert run_async(body) == [0, 1, 2, 3]


def test_get_fifo_staggered():
    ring = AsyncRing(8)

    async def body():
        tasks = await pending_tasks(ring.get() for _ in range(3))
        for i in range(3):
            ring.put_nowait(make_chunk(i))
            await asyncio.wait_for(asyncio.shield(tasks[i]), TIMEOUT)
            assert not any(t.done() for t in tasks[i + 1 :])
        return [t.result().chunk_id for t in tasks]

    assert run_async(body) == [0, 1, 2]


def test_new_get_queues_behind_waiter():
    """A get() started while another waits does not take the chunk meant for the waiter."""
    ring = AsyncRing(4)

    async def body():
        (early,) = await pending_tasks([ring.get()])
        ring.put_nowait(make_chunk(0))
        # Started before the loop has noticed data_fd: it must not jump the queue.
        late = asyncio.ensure_future(ring.get())
        assert (await early).chunk_id == 0
        ring.put_nowait(make_chunk(1))
        return (await late).chunk_id

    assert run_async(body) == 1


def test_cancelled_get_skipped():
    ring = AsyncRing(8)
    errors: list = []

    async def body():
        loop = asyncio.get_running_loop()
        tasks = await pending_tasks(ring.get() for _ in range(3))
        tasks[1].cancel()
        await asyncio.sleep(0)
        ring.put_nowait(make_chunk(10))
        ring.put_nowait(make_chunk(11))
        first = await tasks[0]
        third = await tasks[2]
        assert tasks[1].cancelled()
        assert not reader_registered(loop, ring.data_fd)
        assert ring.empty()
        return first.chunk_id, third.chunk_id

    assert run_async(body, loop_errors=errors) == (10, 11)
    assert errors == []


def test_cancelled_only_getter_unregisters_and_loses_nothing():
    ring = AsyncRing(2)
    chunk = make_chunk(3)

    async def body():
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(ring.get())
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not reader_registered(loop, ring.data_fd)
        ring.put_nowait(chunk)
        await asyncio.sleep(0.05)
        assert ring.qsize() == 1  # not taken on behalf of the cancelled getter
        return await ring.get()

    assert run_async(body) is chunk


def test_stop_wakes_getters_and_later_get_raises():
    ring = AsyncRing(2)

    async def body():
        loop = asyncio.get_running_loop()
        tasks = await pending_tasks(ring.get() for _ in range(3))
        loop.call_soon(ring.stop)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, spead2.Stopped) for r in results), results
        assert len({id(r) for r in results}) == 3  # one exception object per waiter
        assert not reader_registered(loop, ring.data_fd)
        with pytest.raises(spead2.Stopped):
            await ring.get()
        with pytest.raises(spead2.Stopped):
            await ring.get()

    run_async(body)


def test_stop_from_thread_wakes_getter():
    ring = AsyncRing(2)

    async def body():
        task = asyncio.ensure_future(ring.get())
        await asyncio.sleep(0.02)
        timer = threading.Timer(0.02, ring.stop)
        timer.start()
        with pytest.raises(spead2.Stopped):
            await task
        timer.join()

    run_async(body)


def test_remaining_chunks_returned_before_stopped():
    ring = AsyncRing(4)
    chunks = [make_chunk(i) for i in range(2)]

    async def body():
        tasks = await pending_tasks(ring.get() for _ in range(4))
        for chunk in chunks:
            ring.put_nowait(chunk)
        ring.stop()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert results[0] is chunks[0] and results[1] is chunks[1]
        assert all(isinstance(r, spead2.Stopped) for r in results[2:]), results

    run_async(body)


def test_get_after_stop_drains_first():
    ring = AsyncRing(4)
    chunk = make_chunk(1)
    ring.put_nowait(chunk)
    ring.stop()

    async def body():
        got = await ring.get()
        with pytest.raises(spead2.Stopped):
            await ring.get()
        return got

    assert run_async(body) is chunk


def test_ready_chunk_yields_to_loop():
    n = 10
    ring = AsyncRing(n)
    for i in range(n):
        ring.put_nowait(make_chunk(i))

    async def body():
        return await loop_ticks_during(ring.get, n)

    assert run_async(body) >= n - 1


def test_chunk_not_retained():
    """Neither the fast path nor the waiter path keeps a returned chunk alive."""
    ring = AsyncRing(2)

    async def body():
        loop = asyncio.get_running_loop()
        refs = []
        loop.call_later(0.02, ring.put_nowait, make_chunk(1))
        chunk = await ring.get()  # waiter path
        refs.append(weakref.ref(chunk))
        del chunk
        ring.put_nowait(make_chunk(2))
        chunk = await ring.get()  # fast path
        refs.append(weakref.ref(chunk))
        del chunk
        gc.collect()
        return [r() is None for r in refs]

    assert run_async(body) == [True, True]


def test_chunk_subclass_round_trip():
    class MyChunk(spead2.recv.Chunk):
        pass

    ring = AsyncRing(2)
    chunk = make_chunk(4, cls=MyChunk)
    chunk.label = "mine"

    async def body():
        await ring.put(chunk)
        return await ring.get()

    got = run_async(body)
    assert got is chunk
    assert type(got) is MyChunk and got.label == "mine"
    assert got.data is not None and got.present is not None


# --------------------------------------------------------------------------
# put
# --------------------------------------------------------------------------


def test_put_with_space():
    ring = AsyncRing(2)
    chunk = make_chunk(1)

    async def body():
        await ring.put(chunk)
        assert ring.qsize() == 1
        assert chunk.data is None  # moved into the ring
        return ring.get_nowait()

    assert run_async(body) is chunk


def test_put_waits_for_space():
    ring = AsyncRing(1)
    first, second = make_chunk(1), make_chunk(2)
    ring.put_nowait(first)
    taken = []

    async def body():
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(ring.put(second))
        await asyncio.sleep(0.05)
        assert not task.done()
        assert reader_registered(loop, ring.space_fd)
        assert second.data is not None  # still with the caller while waiting
        loop.call_later(0.02, lambda: taken.append(ring.get_nowait()))
        await task
        assert not reader_registered(loop, ring.space_fd)
        return ring.get_nowait()

    assert run_async(body) is second
    assert taken == [first]


def test_put_fifo():
    ring = AsyncRing(1)
    ring.put_nowait(make_chunk(0))

    async def body():
        tasks = await pending_tasks(ring.put(make_chunk(i)) for i in range(1, 4))
        got = []
        for _ in range(4):
            got.append((await ring.get()).chunk_id)
        await asyncio.gather(*tasks)
        return got

    assert run_async(body) == [0, 1, 2, 3]


def test_new_put_queues_behind_waiter():
    """A put() started while another waits does not take the space meant for the waiter."""
    ring = AsyncRing(1)
    ring.put_nowait(make_chunk(0))

    async def body():
        (early,) = await pending_tasks([ring.put(make_chunk(1))])
        assert ring.get_nowait().chunk_id == 0
        # Started before the loop has noticed space_fd: it must not jump the queue.
        late = asyncio.ensure_future(ring.put(make_chunk(2)))
        await early
        got = [ring.get_nowait().chunk_id]
        await late
        got.append(ring.get_nowait().chunk_id)
        return got

    assert run_async(body) == [1, 2]


def test_put_of_chunk_emptied_while_waiting():
    """A waiting put whose chunk lost its data meanwhile fails alone; the next put proceeds."""
    ring = AsyncRing(1)
    ring.put_nowait(make_chunk(0))
    spoilt, good = make_chunk(1), make_chunk(2)
    errors: list = []

    async def body():
        tasks = await pending_tasks([ring.put(spoilt), ring.put(good)])
        spoilt.data = None
        ring.get_nowait()
        with pytest.raises(ValueError, match="data buffer is not set"):
            await tasks[0]
        await tasks[1]
        return ring.get_nowait()

    assert run_async(body, loop_errors=errors) is good
    assert errors == []
    assert spoilt.present is not None


def test_cancelled_put_keeps_chunk():
    ring = AsyncRing(1)
    ring.put_nowait(make_chunk(0))
    cancelled, kept = make_chunk(1), make_chunk(2)
    present, data = cancelled.present, cancelled.data

    async def body():
        loop = asyncio.get_running_loop()
        tasks = await pending_tasks([ring.put(cancelled), ring.put(kept)])
        tasks[0].cancel()
        await asyncio.sleep(0)
        ids = [ring.get_nowait().chunk_id]
        await asyncio.wait_for(tasks[1], TIMEOUT)
        ids.append(ring.get_nowait().chunk_id)
        assert tasks[0].cancelled()
        assert ring.empty()
        assert not reader_registered(loop, ring.space_fd)
        return ids

    assert run_async(body) == [0, 2]
    assert cancelled.present is present and cancelled.data is data


def test_put_on_stopped_ring():
    ring = AsyncRing(2)
    ring.stop()
    chunk = make_chunk(1)
    present, data = chunk.present, chunk.data

    async def body():
        with pytest.raises(spead2.Stopped):
            await ring.put(chunk)

    run_async(body)
    assert chunk.present is present and chunk.data is data


def test_stop_wakes_putters():
    ring = AsyncRing(1)
    ring.put_nowait(make_chunk(0))
    chunks = [make_chunk(i) for i in range(1, 3)]

    async def body():
        loop = asyncio.get_running_loop()
        tasks = await pending_tasks(ring.put(c) for c in chunks)
        loop.call_soon(ring.stop)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, spead2.Stopped) for r in results), results
        assert not reader_registered(loop, ring.space_fd)
        # The chunk that was in before the stop is still there.
        assert (await ring.get()).chunk_id == 0

    run_async(body)
    assert all(c.data is not None and c.present is not None for c in chunks)


@pytest.mark.parametrize(
    ("missing", "message"), [("data", "data buffer is not set"), ("present", "present buffer is not set")]
)
@pytest.mark.parametrize("queued", [False, True], ids=["idle", "behind-waiter"])
def test_put_validation(missing, message, queued):
    ring = AsyncRing(1)
    if queued:
        ring.put_nowait(make_chunk(0))
    chunk = make_chunk(1)
    setattr(chunk, missing, None)

    async def body():
        waiter = asyncio.ensure_future(ring.put(make_chunk(2))) if queued else None
        await asyncio.sleep(0.01)
        # Fails at once, not when its turn would come.
        with pytest.raises(ValueError, match=message):
            await asyncio.wait_for(ring.put(chunk), 0.5)
        if waiter is not None:
            assert not waiter.done()
            waiter.cancel()
        assert ring.qsize() == (1 if queued else 0)

    run_async(body)


def test_put_both_missing_reports_data_first():
    ring = AsyncRing(1)

    async def body():
        with pytest.raises(ValueError, match="data buffer is not set"):
            await ring.put(spead2.recv.Chunk())

    run_async(body)


def test_put_wrong_type():
    ring = AsyncRing(1)

    async def body():
        with pytest.raises(TypeError):
            await ring.put(object())

    run_async(body)
    assert ring.empty()


# --------------------------------------------------------------------------
# async for
# --------------------------------------------------------------------------


def test_async_for_ends_at_stop():
    ring = AsyncRing(4)

    async def body():
        loop = asyncio.get_running_loop()
        ring.put_nowait(make_chunk(0))
        loop.call_later(0.02, ring.put_nowait, make_chunk(1))
        loop.call_later(0.04, ring.stop)
        return [chunk.chunk_id async for chunk in ring]

    assert run_async(body) == [0, 1]


def test_get_and_put_concurrently():
    """A producer and a consumer coroutine through a small ring: both sides wait in turn."""
    n = 50
    ring = AsyncRing(2)

    async def body():
        async def produce():
            for i in range(n):
                await ring.put(make_chunk(i))
            ring.stop()

        producer = asyncio.ensure_future(produce())
        got = [chunk.chunk_id async for chunk in ring]
        await producer
        return got

    assert run_async(body) == list(range(n))


# --------------------------------------------------------------------------
# With a chunk stream
# --------------------------------------------------------------------------

HEAPS_PER_CHUNK = 4
HEAP_SIZE = 1024


@pytest.fixture(scope="module")
def place():
    """A place callback: heap cnt c goes to chunk c // 4, slot c % 4; other heaps are dropped."""
    numba = pytest.importorskip("numba")
    scipy = pytest.importorskip("scipy")
    from numba import types

    from spead2.numba import intp_to_voidptr
    from spead2.recv.numba import chunk_place_data

    @numba.cfunc(types.void(types.CPointer(chunk_place_data), types.uintp), nopython=True)
    def place_fn(data_ptr, data_size):
        data = numba.carray(data_ptr, 1)
        items = numba.carray(intp_to_voidptr(data[0].items), 2, dtype=np.int64)
        if items[1] == HEAP_SIZE:
            data[0].chunk_id = items[0] // HEAPS_PER_CHUNK
            data[0].heap_index = items[0] % HEAPS_PER_CHUNK
            data[0].heap_offset = data[0].heap_index * HEAP_SIZE

    return scipy.LowLevelCallable(place_fn.ctypes, signature="void (void *, size_t)")


def test_chunk_ring_stream(place):
    n_chunks = 3
    config = spead2.recv.ChunkStreamConfig(
        items=[spead2.HEAP_CNT_ID, spead2.HEAP_LENGTH_ID], max_chunks=2, place=place
    )
    data_ring, free_ring = AsyncRing(4), AsyncRing(4)
    stream = spead2.recv.ChunkRingStream(
        spead2.ThreadPool(), spead2.recv.StreamConfig(), config, data_ring, free_ring
    )
    try:
        assert stream.data_ringbuffer is data_ring
        assert stream.free_ringbuffer is free_ring
        chunks = [
            spead2.recv.Chunk(present=np.empty(HEAPS_PER_CHUNK, np.uint8),
                              data=np.empty(HEAPS_PER_CHUNK * HEAP_SIZE, np.uint8))
            for _ in range(4)
        ]
        for chunk in chunks:
            stream.add_free_chunk(chunk)
        queue = spead2.InprocQueue()
        stream.add_inproc_reader(queue)
        sender = spead2.send.InprocStream(spead2.ThreadPool(), [queue])
        ig = spead2.send.ItemGroup(flavour=spead2.Flavour())
        ig.add_item(0x1000, "x", "", shape=(HEAP_SIZE,), dtype=np.uint8)
        for cnt in range(n_chunks * HEAPS_PER_CHUNK):
            ig["x"].value = np.full(HEAP_SIZE, cnt, np.uint8)
            sender.send_heap(ig.get_heap(descriptors="none", data="all"), cnt=cnt)
        sender.send_heap(ig.get_end())

        async def body():
            seen = []
            async for chunk in stream.data_ringbuffer:
                assert any(chunk is c for c in chunks)
                np.testing.assert_array_equal(chunk.present, 1)
                expected = np.repeat(np.arange(HEAPS_PER_CHUNK) + chunk.chunk_id * HEAPS_PER_CHUNK, HEAP_SIZE)
                np.testing.assert_array_equal(chunk.data, expected.astype(np.uint8))
                seen.append(chunk.chunk_id)
                stream.add_free_chunk(chunk)
            return seen

        assert run_async(body) == list(range(n_chunks))
    finally:
        stream.stop()
