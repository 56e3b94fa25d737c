# Native part of the spead2-xdp plugin; its classes are re-exported by spead2.recv and
# spead2.send, whose stubs describe them (the send classes in full).
from typing import Any

class XdpUnavailable(RuntimeError): ...

def interface_address(interface: str) -> str: ...

class recv:
    class UdpXdpConfig:
        DEFAULT_FRAME_SIZE: int
        DEFAULT_FRAME_COUNT: int
        DEFAULT_RING_SIZE: int
        DEFAULT_MAX_SIZE: int
        DEFAULT_MAX_POLL: int
        def __init__(
            self,
            *,
            interface: str = "",
            endpoints: list[tuple[str, int]] = ...,
            queue: int = 0,
            frame_size: int = 4096,
            frame_count: int = 4096,
            ring_size: int = 4096,
            mode: str = "auto",
            zero_copy: bool = True,
            max_size: int = 9200,
            busy_poll: bool = False,
            max_poll: int = 10,
            fallback: bool = False,
        ) -> None: ...
        interface: str
        endpoints: list[tuple[str, int]]
        queue: int
        frame_size: int
        frame_count: int
        ring_size: int
        mode: str
        zero_copy: bool
        max_size: int
        busy_poll: bool
        max_poll: int
        fallback: bool
    @staticmethod
    def add_udp_xdp_reader(stream: Any, config: recv.UdpXdpConfig) -> None: ...
    @staticmethod
    def count_fallback(stream: Any) -> None: ...

class send:
    UdpXdpConfig: Any
    UdpXdpStream: Any
    UdpXdpStreamAsyncio: Any
