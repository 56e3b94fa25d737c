"""The core's built-in transports, registered like any third-party plugin."""

from __future__ import annotations

from typing import Any, Callable

from . import _core
from .hookspecs import hookimpl


def add_buffer_reader(self: Any, buffer: Any) -> None:
    """Feed the stream from a buffer of concatenated SPEAD packets (referenced, not
    copied). Reading stops at the first bytes that do not decode as a packet, and the
    stream stops at the end of the buffer."""
    _core.recv._add_buffer_reader(self, buffer)


def add_inproc_reader(self: Any, queue: Any) -> None:
    """Feed the stream from an :class:`spead2.InprocQueue`; the stream stops when the
    queue is stopped and drained."""
    _core.recv._add_inproc_reader(self, queue)


@hookimpl
def spead2_recv_reader_methods() -> dict[str, Callable[..., None]]:
    return {"add_buffer_reader": add_buffer_reader, "add_inproc_reader": add_inproc_reader}


@hookimpl
def spead2_names() -> dict[str, Any]:
    return {"InprocQueue": _core.InprocQueue}


@hookimpl
def spead2_send_names() -> dict[str, Any]:
    return {
        "BytesStream": _core.send.BytesStream,
        "InprocStream": _core.send.InprocStream,
        "InprocStreamAsyncio": _core.send.InprocStreamAsyncio,
    }
