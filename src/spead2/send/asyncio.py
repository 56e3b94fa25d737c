"""asyncio send streams: each wraps a native ``…Asyncio`` stream class.

Completions are queued natively and delivered on the event loop: while sends are
outstanding the stream's ``fd`` is watched and ``process_callbacks`` resolves the
futures. Classes come from the installed plugins (``spead2_send_names`` entries whose
names end in ``Asyncio``), so a plugin's asyncio stream appears here without any
code of ours.
"""

from __future__ import annotations

import asyncio
import typing

from spead2 import _plugins

_SUFFIX = "Asyncio"


def _wrap_class(name: str, base: type) -> type:
    """Make ``name``: ``base`` with future-returning async_send_heap(s) and async_flush."""

    class Wrapped(base):  # type: ignore[misc, valid-type]
        _active: int  #: outstanding sends (read by tests, like the reference's)
        _last_queued_future: asyncio.Future | None

        def __init__(self, *args: typing.Any, **kwargs: typing.Any) -> None:
            super().__init__(*args, **kwargs)
            self._active = 0
            self._last_queued_future: asyncio.Future | None = None

        def _async_send(self, send: typing.Callable[[typing.Callable], bool]) -> asyncio.Future:
            loop = asyncio.get_event_loop()
            future = loop.create_future()

            def callback(exc: BaseException | None, bytes_transferred: int) -> None:
                # A cancelled future is harmless: the transmission itself went ahead.
                if not future.done():
                    if exc is not None:
                        future.set_exception(exc)
                    else:
                        future.set_result(bytes_transferred)
                self._active -= 1
                if self._active == 0:
                    loop.remove_reader(self.fd)
                    self._last_queued_future = None

            queued = send(callback)
            self._active += 1
            if self._active == 1:
                loop.add_reader(self.fd, self.process_callbacks)
            if queued:
                self._last_queued_future = future
            return future

        def async_send_heap(self, heap: typing.Any, cnt: int = -1, substream_index: int = 0,
                            rate: float = -1.0) -> asyncio.Future:
            """Queue a heap; the future gives the bytes sent or the OSError."""
            return self._async_send(lambda callback: base.async_send_heap(
                self, heap, callback, cnt, substream_index, rate))

        def async_send_heaps(self, heaps: typing.Any, mode: typing.Any) -> asyncio.Future:
            """Queue a group of heaps (list of HeapReference or HeapReferenceList) atomically."""
            return self._async_send(lambda callback: base.async_send_heaps(self, heaps, callback, mode))

        async def async_flush(self) -> None:
            """Wait for the heaps queued so far (not later ones); never raises their errors."""
            future = self._last_queued_future
            if future is not None:
                await asyncio.wait([future])

    Wrapped.__name__ = name
    Wrapped.__qualname__ = name
    Wrapped.__doc__ = f"asyncio variant of spead2.send.{name}, based on {base.__module__}.{base.__name__}."
    mixin = getattr(base, "_asyncio_mixin", None)
    if mixin is None:
        return Wrapped
    # Methods a plugin adds (TcpStream.connect) go on a subclass, as in spead2 4.x's
    # class TcpStream(<wrapped>(TcpStreamAsyncio)).
    extras = {key: value for key, value in vars(mixin).items() if not key.startswith("__")}
    extras["__doc__"] = Wrapped.__doc__  # the mixin's own describes the mixin
    extras["__module__"] = __name__
    subclass = type(name, (Wrapped,), extras)
    subclass.__qualname__ = name
    return subclass


def _asyncio_classes() -> dict[str, type]:
    return {
        name[: -len(_SUFFIX)]: _wrap_class(name[: -len(_SUFFIX)], cls)
        for name, cls in _plugins.collect("spead2_send_names").items()
        if name.endswith(_SUFFIX)
    }


globals().update(_asyncio_classes())
