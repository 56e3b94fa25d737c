# Type stubs for spead2.send.asyncio: future-returning wrappers of the native
# ...Asyncio send streams that the installed plugins provide (here: the core's,
# spead2-udp's, spead2-ibverbs' and spead2-xdp's; UdpIbvStream and UdpXdpStream
# exist only where those plugins are installed).

import asyncio
from typing import Any
from collections.abc import Sequence

from spead2 import ThreadPool as _ThreadPool
from spead2.send import (
    GroupMode,
    Heap,
    HeapReference,
    HeapReferenceList,
    InprocStreamAsyncio,
    StreamConfig,
    TcpStreamAsyncio,
    UdpIbvStreamAsyncio,
    UdpXdpStreamAsyncio,
    UdpStreamAsyncio,
)

class InprocStream(InprocStreamAsyncio):
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    _active: int
    _last_queued_future: asyncio.Future[int] | None
    def async_send_heap(  # type: ignore[override]
        self, heap: Heap, cnt: int = -1, substream_index: int = 0, rate: float = -1.0
    ) -> asyncio.Future[int]: ...
    def async_send_heaps(  # type: ignore[override]
        self, heaps: Sequence[HeapReference] | HeapReferenceList, mode: GroupMode
    ) -> asyncio.Future[int]: ...
    async def async_flush(self) -> None: ...

class UdpStream(UdpStreamAsyncio):
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    _active: int
    _last_queued_future: asyncio.Future[int] | None
    def async_send_heap(  # type: ignore[override]
        self, heap: Heap, cnt: int = -1, substream_index: int = 0, rate: float = -1.0
    ) -> asyncio.Future[int]: ...
    def async_send_heaps(  # type: ignore[override]
        self, heaps: Sequence[HeapReference] | HeapReferenceList, mode: GroupMode
    ) -> asyncio.Future[int]: ...
    async def async_flush(self) -> None: ...

class UdpIbvStream(UdpIbvStreamAsyncio):
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    _active: int
    _last_queued_future: asyncio.Future[int] | None
    def async_send_heap(  # type: ignore[override]
        self, heap: Heap, cnt: int = -1, substream_index: int = 0, rate: float = -1.0
    ) -> asyncio.Future[int]: ...
    def async_send_heaps(  # type: ignore[override]
        self, heaps: Sequence[HeapReference] | HeapReferenceList, mode: GroupMode
    ) -> asyncio.Future[int]: ...
    async def async_flush(self) -> None: ...

class UdpXdpStream(UdpXdpStreamAsyncio):
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    _active: int
    _last_queued_future: asyncio.Future[int] | None
    def async_send_heap(  # type: ignore[override]
        self, heap: Heap, cnt: int = -1, substream_index: int = 0, rate: float = -1.0
    ) -> asyncio.Future[int]: ...
    def async_send_heaps(  # type: ignore[override]
        self, heaps: Sequence[HeapReference] | HeapReferenceList, mode: GroupMode
    ) -> asyncio.Future[int]: ...
    async def async_flush(self) -> None: ...

class TcpStream(TcpStreamAsyncio):
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    _active: int
    _last_queued_future: asyncio.Future[int] | None
    @classmethod
    async def connect(  # type: ignore[override]
        cls,
        thread_pool: _ThreadPool,
        endpoints: Sequence[tuple[str, int]],
        config: StreamConfig = ...,
        buffer_size: int = 212992,
        interface_address: str = "",
    ) -> TcpStream: ...
    def async_send_heap(  # type: ignore[override]
        self, heap: Heap, cnt: int = -1, substream_index: int = 0, rate: float = -1.0
    ) -> asyncio.Future[int]: ...
    def async_send_heaps(  # type: ignore[override]
        self, heaps: Sequence[HeapReference] | HeapReferenceList, mode: GroupMode
    ) -> asyncio.Future[int]: ...
    async def async_flush(self) -> None: ...
