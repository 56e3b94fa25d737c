"""Hook implementations of the spead2-udp plugin (entry point ``udp`` in group ``spead2``)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from spead2_core import _core
from spead2_core.hookspecs import hookimpl

from . import _udp


class _TcpConnect:
    """Adds ``connect`` to ``spead2.send.asyncio.TcpStream`` (see ``_asyncio_mixin``)."""

    @classmethod
    async def connect(cls, thread_pool: Any, endpoints: Any, config: Any = None,
                      buffer_size: int = _udp.send.TcpStreamAsyncio.DEFAULT_BUFFER_SIZE,
                      interface_address: str = "") -> Any:
        """Connect to the single endpoint without blocking the event loop; returns the
        connected stream or raises the ``OSError`` (e.g. ``ConnectionRefusedError``)."""
        loop = asyncio.get_event_loop()
        connected: asyncio.Future[None] = loop.create_future()

        def settle(exc: BaseException | None) -> None:
            if connected.done():
                return
            if exc is None:
                connected.set_result(None)
            else:
                connected.set_exception(exc)

        def callback(exc: BaseException | None) -> None:  # runs on a worker thread
            loop.call_soon_threadsafe(settle, exc)

        if config is None:
            config = _core.send.StreamConfig()
        stream = cls(callback, thread_pool, endpoints, config, buffer_size, interface_address)
        await connected
        return stream


_udp.send.TcpStreamAsyncio._asyncio_mixin = _TcpConnect


@hookimpl
def spead2_send_names() -> dict[str, Any]:
    return {
        "UdpStream": _udp.send.UdpStream,
        "UdpStreamAsyncio": _udp.send.UdpStreamAsyncio,
        "TcpStream": _udp.send.TcpStream,
        "TcpStreamAsyncio": _udp.send.TcpStreamAsyncio,
    }


@hookimpl
def spead2_recv_reader_methods() -> dict[str, Callable[..., None]]:
    methods = {
        "add_udp_reader": _udp.recv.add_udp_reader,
        "add_tcp_reader": _udp.recv.add_tcp_reader,
    }
    if _udp.HAVE_PCAP:
        methods["add_udp_pcap_file_reader"] = _udp.recv.add_udp_pcap_file_reader
    return methods
