# Type stubs for spead2.recv.asyncio.

from typing import Any

from spead2.recv import Heap, IncompleteHeap
from spead2.recv import Stream as _Stream

class Stream(_Stream):
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    async def get(self) -> Heap | IncompleteHeap: ...  # type: ignore[override]
    def __aiter__(self) -> Stream: ...
    async def __anext__(self) -> Heap | IncompleteHeap: ...
