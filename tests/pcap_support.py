"""Writing classic pcap files, for the tests of the pcap reader, of spead2_recv.py and of
the documentation's examples; frames made up with ``ipv4_udp`` and ``ethernet``."""

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


def ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_udp(payload: bytes, dport: int, sport: int = 5000, src: str = "10.0.0.1", dst: str = "10.0.0.2",
             protocol: int = 17, options: bytes = b"", flags_frag: int = 0x4000) -> bytes:
    """An IPv4 datagram (header checksum filled in) carrying a UDP datagram.  The default
    addresses are only written into files: nothing is sent anywhere."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    total = 4 * ihl + len(udp)
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 0x1234, flags_frag, 64, protocol, 0,
                         bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))) + options
    header = header[:10] + struct.pack("!H", ip_checksum(header)) + header[12:]
    return header + udp


def ethernet(ip: bytes, ethertype: int = 0x0800) -> bytes:
    return bytes.fromhex("020000000002") + bytes.fromhex("020000000001") + struct.pack("!H", ethertype) + ip
