# Native part of the spead2-ibverbs plugin; the public names of its submodules are
# re-exported by spead2.send and spead2.recv (see their stubs), and IbvContext by
# spead2 where an RDMA device can be opened.
from typing import Any

class IbvContext:
    def __init__(self, interface: str) -> None: ...
    def reset(self) -> None: ...

def device_count() -> int: ...
def library_path() -> str: ...

class _Module:
    def __getattr__(self, name: str) -> Any: ...

send: _Module
recv: _Module
