"""asyncio receive stream: ``await stream.get()`` and ``async for heap in stream``."""

from __future__ import annotations

import asyncio
import collections
import typing

import spead2
import spead2.recv


class Stream(spead2.recv.Stream):
    """A :class:`spead2.recv.Stream` whose ``get`` is a coroutine.

    Concurrent ``get`` calls are served in call order; cancelling one is safe. Heaps
    are handed over in one-element lists so that a future does not keep a heap alive
    after it has been returned.
    """

    def __init__(self, *args: typing.Any, **kwargs: typing.Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _clear_done_waiters(self) -> None:
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()

    def _stop_listening(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.fd)
            self._loop = None

    def _ready(self) -> None:
        self._clear_done_waiters()
        if self._waiters:
            try:
                heap = self.get_nowait()
            except spead2.Empty:
                return  # spurious wake-up: keep waiting
            except spead2.Stopped:
                for waiter in self._waiters:
                    if not waiter.done():
                        waiter.set_exception(spead2.Stopped("ring buffer has been stopped"))
                self._waiters.clear()
            else:
                self._waiters.popleft().set_result([heap])
                self._clear_done_waiters()
        if not self._waiters:
            self._stop_listening()

    async def get(self) -> spead2.recv.Heap | spead2.recv.IncompleteHeap:
        """The next heap; raises :exc:`spead2.Stopped` once stopped and drained."""
        self._clear_done_waiters()
        if not self._waiters:
            try:
                heap = self.get_nowait()
            except spead2.Empty:
                pass
            else:
                # Yield once so that a tight receive loop cannot starve the event loop.
                await asyncio.sleep(0)
                return heap
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append(waiter)
        if self._loop is None:
            self._loop = loop
            loop.add_reader(self.fd, self._ready)
        return (await waiter).pop()

    def __aiter__(self) -> "Stream":
        return self

    async def __anext__(self) -> spead2.recv.Heap | spead2.recv.IncompleteHeap:
        try:
            return await self.get()
        except spead2.Stopped:
            raise StopAsyncIteration from None
