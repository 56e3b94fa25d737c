# Native part of the spead2-udp plugin; the public names are re-exported by spead2.send
# and spead2.recv (see their stubs).
from typing import Any

HAVE_PCAP: bool

class _Module:
    def __getattr__(self, name: str) -> Any: ...

send: _Module
recv: _Module
