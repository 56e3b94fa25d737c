"""Writing classic pcap files, for the tests of the pcap reader and of spead2_recv.py."""

from __future__ import annotations

import struct

LINKTYPE_ETHERNET = 1


class PcapWriter:
    """Classic pcap file: microsecond (or nanosecond) timestamps, little or big endian."""

    def __init__(self, linktype: int = LINKTYPE_ETHERNET, nanosecond: bool = False,
                 byteorder: str = "<", snaplen: int = 65535) -> None:
        self.order = byteorder
        magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
        self.data = bytearray(struct.pack(f"{byteorder}IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        self.time = 1_700_000_000

    def add(self, frame: bytes, caplen: int | None = None) -> None:
        captured = frame if caplen is None else frame[:caplen]
        self.time += 1
        self.data += struct.pack(f"{self.order}IIII", self.time, 0, len(captured), len(frame)) + captured

    def write(self, path) -> str:
        path.write_bytes(bytes(self.data))
        return str(path)
