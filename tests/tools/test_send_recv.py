"""spead2_send.py -> spead2_recv.py end to end, as separate processes over loopback.

UDP (IPv4, IPv6 with a bracketed literal), TCP, several destinations (substreams) into
one stream each or one ``--joint`` stream, a pcap file captured from spead2_send.py on
``lo``, Ctrl-C, and the output lines users' scripts read (spec §8.2, §8.3).
"""

from __future__ import annotations

import ctypes
import os
import re
import select
import socket
import struct
import sys
import time

import pytest
from pcap_support import PcapWriter
from tools_support import finish, free_port, interrupt, tool, wait_bound

STATS_NAMES = [
    "heaps", "incomplete_heaps_evicted", "incomplete_heaps_flushed", "packets", "batches", "max_batch",
    "single_packet_heaps", "search_dist", "worker_blocked",
]
# 64-byte heaps of two uint16 items, as in the docs' first session.
SMALL = ("--heap-size", "64", "--items", "2", "--dtype", "<u2")
# Slow enough that each heap has arrived before the next is sent, whichever socket.
SPACED = ("--rate", "0.00002", "--burst", "1")
SENT = re.compile(r"^Sent (\d+) bytes in (\d+\.\d{6})s, (\d+\.\d{6}) Gb/s$")


def shutdown_block(out: str, name: str) -> dict[str, int]:
    """The statistics printed after ``Shutting down stream NAME after N heaps``, checked for order."""
    lines = out.splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith(f"Shutting down stream {name} after ")]
    assert len(header) == 1, out
    block = lines[header[0] + 1 : header[0] + 1 + len(STATS_NAMES)]
    names = [line.split(": ")[0] for line in block]
    assert names == STATS_NAMES, out
    stats = {line.split(": ")[0]: int(line.split(": ")[1]) for line in block}
    stats["_after"] = int(lines[header[0]].rsplit(" ", 2)[1])
    return stats


def received(out: str, name: str) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(rf"^Received heap (\d+) on stream {re.escape(name)}$", out, re.M)]


def test_udp_values_and_descriptors(processes):
    port = free_port()
    recv = processes.start(tool("spead2_recv.py"), "--descriptors", "--values", f"127.0.0.1:{port}")
    wait_bound(port, process=recv)
    send = processes.run(tool("spead2_send.py"), "--heaps", "3", *SMALL, f"127.0.0.1:{port}")
    assert send.returncode == 0, send.stdout
    sent = SENT.match(send.stdout.strip())
    assert sent, send.stdout
    assert int(sent.group(1)) == 819  # 3 heaps of 64 bytes with descriptors in the first, and the end heap
    status, out = finish(recv)
    assert status == 0, out
    name = f"127.0.0.1:{port}"
    zeros = "[0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0]"
    descriptors = "".join(
        f"    Descriptor for Test item {i} (0x100{i})\n"
        "      description: A test item with arbitrary value\n"
        "      format:      None\n"
        "      dtype:       uint16\n"
        "      shape:       (16,)\n"
        for i in range(2)
    )
    expected = (
        f"Received heap 1 on stream {name}\n" + descriptors
        + f"Test item 0 = {zeros}\nTest item 1 = {zeros}\n"
        + "".join(
            f"Received heap {cnt} on stream {name}\nTest item 0 = {zeros}\nTest item 1 = {zeros}\n" for cnt in (2, 3)
        )
    )
    body = "\n".join(line for line in out.splitlines() if not line.startswith("WARNING:")) + "\n"
    assert body.startswith(expected), out
    stats = shutdown_block(out, name)
    assert stats["_after"] == 3
    assert stats["heaps"] == 3
    assert stats["packets"] == 4  # three data heaps and the end-of-stream heap, one packet each
    assert stats["incomplete_heaps_evicted"] == stats["incomplete_heaps_flushed"] == 0


def test_default_output_names_items(processes):
    port = free_port()
    recv = processes.start(tool("spead2_recv.py"), str(port))
    wait_bound(port, process=recv)
    assert processes.run(tool("spead2_send.py"), "--heaps", "2", *SMALL, f"127.0.0.1:{port}").returncode == 0
    status, out = finish(recv)
    assert status == 0
    body = [line for line in out.splitlines() if not line.startswith("WARNING:")]
    assert body[:6] == [
        f"Received heap 1 on stream {port}", "Test item 0", "Test item 1",
        f"Received heap 2 on stream {port}", "Test item 0", "Test item 1",
    ]


def test_ipv6_bracketed_endpoint(processes):
    port = free_port(host="::1")
    recv = processes.start(tool("spead2_recv.py"), f"[::1]:{port}")
    wait_bound(port, host="::1", process=recv)
    send = processes.run(tool("spead2_send.py"), "--heaps", "2", *SMALL, f"[::1]:{port}")
    assert send.returncode == 0, send.stdout
    status, out = finish(recv)
    assert status == 0
    assert received(out, f"[::1]:{port}") == [1, 2]


def test_large_heaps_many_packets(processes):
    port = free_port()
    recv = processes.start(tool("spead2_recv.py"), f"127.0.0.1:{port}")
    wait_bound(port, process=recv)
    send = processes.run(tool("spead2_send.py"), "--heaps", "5", "--heap-size", "1000000", "--rate", "1",
                         "--packet", "8972", f"127.0.0.1:{port}")
    assert send.returncode == 0
    status, out = finish(recv)
    assert received(out, f"127.0.0.1:{port}") == [1, 2, 3, 4, 5]
    stats = shutdown_block(out, f"127.0.0.1:{port}")
    assert stats["heaps"] == 5
    assert stats["packets"] > 5 * 1000000 // 8972


def test_tcp(processes):
    port = free_port()
    recv = processes.start(tool("spead2_recv.py"), "--tcp", f"127.0.0.1:{port}")
    wait_bound(port, socket.SOCK_STREAM, process=recv)
    send = processes.run(tool("spead2_send.py"), "--tcp", "--heaps", "4", "--heap-size", "100000",
                         f"127.0.0.1:{port}")
    assert send.returncode == 0, send.stdout
    assert SENT.match(send.stdout.strip().splitlines()[-1])
    status, out = finish(recv)
    assert status == 0, out
    assert received(out, f"127.0.0.1:{port}") == [1, 2, 3, 4]
    assert shutdown_block(out, f"127.0.0.1:{port}")["heaps"] == 4


def test_substreams_one_stream_each(processes):
    ports = [free_port(), free_port()]
    sources = [f"127.0.0.1:{port}" for port in ports]
    recv = processes.start(tool("spead2_recv.py"), *sources)
    for port in ports:
        wait_bound(port, process=recv)
    send = processes.run(tool("spead2_send.py"), "--heaps", "6", *SMALL, *sources)
    assert send.returncode == 0
    status, out = finish(recv)
    assert status == 0
    # heap i goes to destination i mod 2; each destination gets its own end-of-stream heap
    assert received(out, sources[0]) == [1, 3, 5]
    assert received(out, sources[1]) == [2, 4, 6]
    assert shutdown_block(out, sources[0])["heaps"] == 3
    assert shutdown_block(out, sources[1])["heaps"] == 3


def test_joint_stream(processes):
    ports = [free_port(), free_port()]
    sources = [f"127.0.0.1:{port}" for port in ports]
    recv = processes.start(tool("spead2_recv.py"), "--joint", *sources)
    for port in ports:
        wait_bound(port, process=recv)
    send = processes.run(tool("spead2_send.py"), "--heaps", "4", *SMALL, *SPACED, *sources)
    assert send.returncode == 0
    status, out = finish(recv)
    assert status == 0
    assert received(out, sources[0]) == [1, 2, 3, 4]  # one stream, named by its first source
    assert received(out, sources[1]) == []
    assert out.count("Shutting down stream") == 1
    assert shutdown_block(out, sources[0])["heaps"] == 4


def test_max_heaps_ends_without_summary(processes):
    port = free_port()
    recv = processes.start(tool("spead2_recv.py"), "--max-heaps", "2", f"127.0.0.1:{port}")
    wait_bound(port, process=recv)
    assert processes.run(tool("spead2_send.py"), "--heaps", "5", *SMALL, *SPACED,
                         f"127.0.0.1:{port}").returncode == 0
    status, out = finish(recv)
    assert status == 0
    assert received(out, f"127.0.0.1:{port}") == [1, 2]
    assert "Shutting down stream" not in out


def test_sigint_stops_every_stream(processes, tmp_path):
    ports = [free_port(), free_port()]
    # Log lines (e.g. the socket buffer warning) go to stderr at their own pace: kept
    # apart, so that they cannot land inside the statistics lines.
    with open(tmp_path / "stderr", "w+") as stderr:
        recv = processes.start(tool("spead2_recv.py"), f"127.0.0.1:{ports[0]}", str(ports[1]), stderr=stderr)
        for port in ports:
            wait_bound(port, process=recv)
        status, out = interrupt(recv)
        stderr.seek(0)
        errors = stderr.read()
    assert status == 0
    for name in (f"127.0.0.1:{ports[0]}", str(ports[1])):
        stats = shutdown_block(out, name)
        assert stats["_after"] == stats["heaps"] == 0
    assert "Traceback" not in out + errors


def test_sender_sigint_exits_1(processes):
    port = free_port()
    send = processes.start(tool("spead2_send.py"), "--rate", "0.01", f"127.0.0.1:{port}")
    time.sleep(1.0)
    status, out = interrupt(send)
    assert status == 1
    assert "Traceback" not in out


def test_heap_size_not_multiple_warns(processes):
    port = free_port()
    send = processes.run(tool("spead2_send.py"), "--heaps", "1", "--heap-size", "100", "--items", "3",
                         f"127.0.0.1:{port}")
    assert send.returncode == 0
    assert "Heap size is not an exact multiple: using 96 instead of 100" in send.stdout


def test_unknown_host_is_a_clean_error(processes):
    send = processes.run(tool("spead2_send.py"), "--heaps", "1", "no-such-host.invalid:8888")
    assert send.returncode == 1
    assert "spead2_send.py: error:" in send.stdout
    assert "Traceback" not in send.stdout


def test_missing_pcap_file_is_a_clean_error(processes, tmp_path):
    recv = processes.run(tool("spead2_recv.py"), str(tmp_path / "missing.pcap"))
    assert recv.returncode == 1
    assert "spead2_recv.py: error:" in recv.stdout
    assert "missing.pcap" in recv.stdout
    assert "Traceback" not in recv.stdout


# --------------------------------------------------------------------------
# pcap: capture spead2_send.py's packets on lo, then read the file
# --------------------------------------------------------------------------

ETH_P_ALL = 0x0003
SOL_PACKET = 263
SO_RCVBUFFORCE = 33
PACKET_VNET_HDR = 15
VNET_HDR = struct.Struct("<BBHHHH")  # flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
GSO_NONE = 0


SO_ATTACH_FILTER = 26


def attach_udp_port_filter(sock: socket.socket, port: int) -> ctypes.Array:
    """A classic BPF filter, as tcpdump's "udp dst port PORT": other lo traffic is not queued.

    Returns the program, which must stay alive while attached.
    """
    program = [  # (code, jt, jf, k)
        (0x28, 0, 0, 12),        # ldh [12]: EtherType
        (0x15, 0, 7, 0x0800),    # IPv4, else drop
        (0x30, 0, 0, 23),        # ldb [23]: IP protocol
        (0x15, 0, 5, 17),        # UDP, else drop
        (0x28, 0, 0, 20),        # ldh [20]: flags and fragment offset
        (0x45, 3, 0, 0x1FFF),    # a later fragment has no UDP header: drop
        (0xB1, 0, 0, 14),        # x = IP header length
        (0x48, 0, 0, 16),        # ldh [x + 16]: UDP destination port
        (0x15, 1, 0, port),      # the port: accept
        (0x06, 0, 0, 0),         # drop
        (0x06, 0, 0, 0x40000),   # accept the whole frame
    ]
    code = (ctypes.c_uint64 * len(program))(
        *[int.from_bytes(struct.pack("=HBBI", *insn), sys.byteorder) for insn in program]
    )
    fprog = struct.pack("HL", len(program), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    return code


def ipv4_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def segment(frame: bytes, gso_type: int, gso_size: int) -> list[bytes]:
    """The frames a NIC puts on the wire for one captured frame.

    Our sender uses UDP GSO: on the sending host a capture sees one large datagram
    that the device (here lo) splits into ``gso_size`` segments, each with its own IPv4
    and UDP header. Split it the same way, as a capture on the wire would show it.
    """
    ihl = (frame[14] & 0x0F) * 4
    if gso_type == GSO_NONE:
        return [frame]
    eth, ip, payload = frame[:14], frame[14 : 14 + ihl], frame[14 + ihl + 8 :]
    udp = frame[14 + ihl : 14 + ihl + 8]
    out = []
    for start in range(0, len(payload), gso_size):
        chunk = payload[start : start + gso_size]
        seg_ip = ip[:2] + struct.pack("!H", ihl + 8 + len(chunk)) + ip[4:10] + b"\0\0" + ip[12:]
        seg_ip = seg_ip[:10] + struct.pack("!H", ipv4_checksum(seg_ip)) + seg_ip[12:]
        seg_udp = udp[:4] + struct.pack("!HH", 8 + len(chunk), 0)
        out.append(eth + seg_ip + seg_udp + chunk)
    return out


def capture_udp_to(port: int, sock: socket.socket, until: float) -> list[bytes]:
    """Frames on lo carrying IPv4 UDP to ``port``, as on the wire, until none arrives for 0.5 s."""
    frames = []
    last = time.monotonic()
    while time.monotonic() < until and time.monotonic() - last < 0.5:
        ready, _, _ = select.select([sock], [], [], 0.1)
        if not ready:
            continue
        data, address = sock.recvfrom(1 << 17)
        if address[2] == socket.PACKET_OUTGOING:
            continue  # lo shows each frame twice: sent and received
        _, gso_type, _, gso_size, _, _ = VNET_HDR.unpack_from(data)
        frame = data[VNET_HDR.size :]
        if len(frame) < 14 + 20 + 8 or struct.unpack("!H", frame[12:14])[0] != 0x0800 or frame[23] != 17:
            continue
        ihl = (frame[14] & 0x0F) * 4
        if struct.unpack("!H", frame[14 + ihl + 2 : 14 + ihl + 4])[0] == port:
            frames += segment(frame, gso_type, gso_size)
            last = time.monotonic()
    return frames


@pytest.mark.skipif(os.geteuid() != 0, reason="capturing on lo needs CAP_NET_RAW (run as root)")
def test_pcap_file_captured_from_sender(processes, tmp_path):
    port = free_port()
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sniffer:
        sniffer.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        program = attach_udp_port_filter(sniffer, port)  # kept alive while attached
        sniffer.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)  # frames are kept until read
        sniffer.bind(("lo", 0))
        # A receiving socket, so that lo answers with no ICMP errors; the capture is what matters.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
            sink.bind(("127.0.0.1", port))
            send = processes.run(tool("spead2_send.py"), "--heaps", "3", "--heap-size", "20000",
                                 f"127.0.0.1:{port}")
            assert send.returncode == 0
            frames = capture_udp_to(port, sniffer, time.monotonic() + 10)
    del program  # the socket, and with it the filter, is closed
    assert len(frames) > 3 * 13, send.stdout  # 20000-byte heaps in 1472-byte packets, and the end heap
    assert max(len(frame) for frame in frames) == 14 + 1472 + 28
    writer = PcapWriter()
    for frame in frames:
        writer.add(frame)
    path = writer.write(tmp_path / "capture.pcap")
    recv = processes.run(tool("spead2_recv.py"), "--values", path)
    assert recv.returncode == 0, recv.stdout
    assert received(recv.stdout, path) == [1, 2, 3]
    stats = shutdown_block(recv.stdout, path)
    assert stats["heaps"] == 3
    assert stats["packets"] == len(frames)
