# Type stubs for spead2.recv.asyncio.
#
# ChunkRingbuffer exists at runtime only when the spead2-chunk plugin is installed.

from typing import Any

from spead2.recv import Chunk, Heap, IncompleteHeap
from spead2.recv import ChunkRingbuffer as _ChunkRingbuffer
from spead2.recv import Stream as _Stream

class Stream(_Stream):
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    async def get(self) -> Heap | IncompleteHeap: ...  # type: ignore[override]
    def __aiter__(self) -> Stream: ...
    async def __anext__(self) -> Heap | IncompleteHeap: ...

class ChunkRingbuffer(_ChunkRingbuffer):
    def __init__(self, maxsize: int) -> None: ...
    async def get(self) -> Chunk: ...  # type: ignore[override]
    async def put(self, chunk: Chunk) -> None: ...  # type: ignore[override]
    def __aiter__(self) -> ChunkRingbuffer: ...
    async def __anext__(self) -> Chunk: ...
