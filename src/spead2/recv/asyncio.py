"""asyncio receiving: ``await stream.get()`` / ``async for heap in stream``, and the
asyncio chunk ring buffer (``await ring.get()``, ``await ring.put(chunk)``)."""

from __future__ import annotations

import asyncio
import collections
import typing

import spead2
import spead2.recv

_T = typing.TypeVar("_T")


class _FdWaiters:
    """FIFO of coroutines waiting for a non-blocking attempt to succeed.

    Each waiter brings its own attempt (a callable). ``retry`` is the exception by
    which an attempt says "not now" (e.g. :exc:`spead2.Empty`); ``fd`` becomes
    readable when an attempt may succeed. Only the oldest live waiter is ever tried,
    so waiters are served in call order, and the fd is watched only while someone
    waits. :exc:`spead2.Stopped` fails every waiter, since none can succeed any more.
    """

    def __init__(self, fd: int, retry: type[Exception]) -> None:
        self._fd = fd
        self._retry = retry
        # Results travel in one-element lists that the receiver empties, so that a
        # finished future does not keep the object alive.
        self._waiters: collections.deque[tuple[asyncio.Future[list[typing.Any]], typing.Callable[[], typing.Any]]] = (
            collections.deque()
        )
        self._loop: asyncio.AbstractEventLoop | None = None

    def _clear_done(self) -> None:
        # A cancelled waiter stays queued until it reaches the front.
        while self._waiters and self._waiters[0][0].done():
            self._waiters.popleft()

    def _stop_listening(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None

    def _ready(self) -> None:
        self._clear_done()
        if self._waiters:
            future, attempt = self._waiters[0]
            try:
                result = attempt()
            except self._retry:
                return  # spurious wake-up: keep waiting
            except spead2.Stopped as exc:
                for waiter, _ in self._waiters:
                    if not waiter.done():
                        # One instance each: a shared exception would collect every
                        # task's traceback.
                        waiter.set_exception(spead2.Stopped(*exc.args))
                self._waiters.clear()
            except Exception as exc:
                # Belongs to this waiter alone (e.g. an invalid argument).
                self._waiters.popleft()
                future.set_exception(exc)
            else:
                self._waiters.popleft()
                future.set_result([result])
            self._clear_done()
        if not self._waiters:
            self._stop_listening()

    async def run(self, attempt: typing.Callable[[], _T]) -> _T:
        """Return ``attempt()`` once it succeeds, waiting behind earlier callers."""
        self._clear_done()
        if not self._waiters:
            try:
                result = attempt()
            except self._retry:
                pass
            else:
                # Yield once so that a tight loop of ready results cannot starve the
                # event loop.
                await asyncio.sleep(0)
                return result
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[typing.Any]] = loop.create_future()
        self._waiters.append((future, attempt))
        if self._loop is None:
            self._loop = loop
            loop.add_reader(self._fd, self._ready)
        try:
            return (await future).pop()
        except asyncio.CancelledError:
            # Without this, cancelling every waiter (e.g. at the end of asyncio.run)
            # would leave the fd registered with a loop that may be closed next.
            self._clear_done()
            if not self._waiters:
                self._stop_listening()
            raise


class Stream(spead2.recv.Stream):
    """A :class:`spead2.recv.Stream` whose ``get`` is a coroutine.

    Concurrent ``get`` calls are served in call order; cancelling one is safe. Heaps
    are handed over in one-element lists so that a future does not keep a heap alive
    after it has been returned.
    """

    def __init__(self, *args: typing.Any, **kwargs: typing.Any) -> None:
        super().__init__(*args, **kwargs)
        self._get_waiters = _FdWaiters(self.fd, spead2.Empty)

    async def get(self) -> spead2.recv.Heap | spead2.recv.IncompleteHeap:
        """The next heap; raises :exc:`spead2.Stopped` once stopped and drained."""
        return await self._get_waiters.run(self.get_nowait)

    def __aiter__(self) -> Stream:
        """The stream itself: ``async for heap in stream``."""
        return self

    async def __anext__(self) -> spead2.recv.Heap | spead2.recv.IncompleteHeap:
        """The next heap, ending the iteration once stopped and drained."""
        try:
            return await self.get()
        except spead2.Stopped:
            raise StopAsyncIteration from None


# The facade assembles whatever plugins are installed; without spead2-chunk there
# is no native ring to build on.
if hasattr(spead2.recv, "ChunkRingbuffer"):

    class ChunkRingbuffer(spead2.recv.ChunkRingbuffer):
        """A :class:`spead2.recv.ChunkRingbuffer` whose ``get`` and ``put`` are coroutines.

        Concurrent ``get`` calls are served in call order, and so are concurrent
        ``put`` calls; a call cancelled while waiting is skipped (a ``put`` that fails
        or is cancelled before its chunk went in leaves the chunk with its buffers).
        It may be used as the data or free ring of a chunk stream or stream group,
        which then hands back this very object.
        """

        def __init__(self, maxsize: int) -> None:
            super().__init__(maxsize)
            self._get_waiters = _FdWaiters(self.data_fd, spead2.Empty)
            self._put_waiters = _FdWaiters(self.space_fd, spead2.Full)

        async def get(self) -> spead2.recv.Chunk:  # type: ignore[override]
            """The next chunk (the object that was put, buffers restored).

            Raises :exc:`spead2.Stopped` once the ring is stopped and drained.
            """
            return await self._get_waiters.run(self.get_nowait)

        async def put(self, chunk: spead2.recv.Chunk) -> None:  # type: ignore[override]
            """Append ``chunk``, waiting for space.

            Raises :exc:`spead2.Stopped` if the ring is stopped, and
            :exc:`ValueError` if ``chunk.data`` or ``chunk.present`` is not set; the
            chunk then keeps its buffers.
            """
            # Checked here too (put_nowait checks the same, in the same order) so that
            # an unusable chunk fails at once instead of after queueing behind others.
            if not isinstance(chunk, spead2.recv.Chunk):
                raise TypeError(f"expected spead2.recv.Chunk, not {type(chunk).__name__}")
            if chunk.data is None:
                raise ValueError("data buffer is not set")
            if chunk.present is None:
                raise ValueError("present buffer is not set")
            await self._put_waiters.run(lambda: self.put_nowait(chunk))

        def __aiter__(self) -> ChunkRingbuffer:
            """The ring itself: ``async for chunk in ring``."""
            return self

        async def __anext__(self) -> spead2.recv.Chunk:
            """The next chunk, ending the iteration once stopped and drained."""
            try:
                return await self.get()
            except spead2.Stopped:
                raise StopAsyncIteration from None
