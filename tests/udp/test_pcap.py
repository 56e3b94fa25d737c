"""add_udp_pcap_file_reader (spec python-api.md §0.2, §4.5): replaying UDP/IPv4 captures.

The capture files are written here in the classic pcap format (24-byte global
header, 16-byte record headers), with Ethernet (link type 1) or Linux cooked (SLL,
link type 113) framing around IPv4/UDP datagrams whose payloads are SPEAD packets
made by spead2.send.PacketGenerator.  Checked: heaps and payloads, end of stream
at end of file, BPF filters, IP options, non-UDP and fragmented frames, frames
captured truncated, truncated files, files that are not pcap and missing files.
"""

from __future__ import annotations

import functools
import struct
import threading
import time

import pytest

import spead2
import spead2.recv
import spead2.send
import udp_support
from pcap_support import LINKTYPE_ETHERNET, PcapWriter, ethernet, ipv4_udp
from udp_support import simple_heap, simple_value

if not hasattr(spead2.recv.Stream, "add_udp_pcap_file_reader"):
    pytest.skip("this build has no pcap support (no add_udp_pcap_file_reader)", allow_module_level=True)

TIMEOUT = 10.0
drain = functools.partial(udp_support.drain, timeout=TIMEOUT)

LINKTYPE_LINUX_SLL = 113


# --------------------------------------------------------------------------
# Writing pcap files
# --------------------------------------------------------------------------


def linux_sll(ip: bytes, protocol: int = 0x0800) -> bytes:
    # packet type 0 (to us), ARPHRD_ETHER, 6-byte address padded to 8, protocol
    return struct.pack("!HHH8sH", 0, 1, 6, bytes.fromhex("020000000001") + b"\0\0", protocol) + ip


def frame_for(linktype: int):
    return ethernet if linktype == LINKTYPE_ETHERNET else linux_sll


def item_heap_packets(n: int, data_size: int = 20000, max_packet_size: int = 1472) -> list[list[bytes]]:
    """The packets of ``n`` heaps of :func:`udp_support.make_item_group` (cnts 1..n)."""
    ig = udp_support.make_item_group(data_size)
    out = []
    for i in range(n):
        udp_support.fill_item_group(ig, i)
        out.append([bytes(p) for p in spead2.send.PacketGenerator(ig.get_heap(), i + 1, max_packet_size)])
    return out


@pytest.fixture
def pcap_stream(make_stream):
    """Factory: a stream reading the pcap file at ``path`` (with ``filter``)."""

    def make(path: str, filter: str | None = None, **kwargs):
        stream = make_stream(**kwargs) if kwargs else make_stream()
        if filter is None:
            stream.add_udp_pcap_file_reader(path)
        else:
            stream.add_udp_pcap_file_reader(path, filter)
        return stream

    return make


def decode_indices(heaps) -> list[int]:
    ig = spead2.ItemGroup()
    indices = []
    for heap in heaps:
        ig.update(heap)
        index = int(ig["counter"].value)
        udp_support.check_values(ig, index)
        indices.append(index)
    return indices


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


@pytest.mark.parametrize("linktype", [LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL], ids=["ethernet", "sll"])
def test_heaps_and_end_of_file(tmp_path, pcap_stream, linktype):
    """Multi-packet heaps with three kinds of items replay intact; the stream stops at
    the end of the file."""
    writer = PcapWriter(linktype)
    for heap_packets in item_heap_packets(4):
        for packet in heap_packets:
            writer.add(frame_for(linktype)(ipv4_udp(packet, 8888)))
    stream = pcap_stream(writer.write(tmp_path / "capture.pcap"))
    heaps = drain(stream)
    assert [h.cnt for h in heaps] == [1, 2, 3, 4]
    assert decode_indices(heaps) == [0, 1, 2, 3]
    stats = stream.stats
    assert stats["heaps"] == 4
    assert stats["packets"] == sum(len(p) for p in item_heap_packets(4))
    assert stats["malformed_packets"] == 0


@pytest.mark.parametrize("nanosecond,byteorder", [(True, "<"), (False, ">")], ids=["ns", "big-endian"])
def test_file_variants(tmp_path, pcap_stream, nanosecond, byteorder):
    writer = PcapWriter(nanosecond=nanosecond, byteorder=byteorder)
    for i in range(3):
        (packet,) = udp_support.packets(simple_heap(i, 100), i + 1)
        writer.add(ethernet(ipv4_udp(packet, 8888)))
    heaps = drain(pcap_stream(writer.write(tmp_path / "variant.pcap")))
    assert [(h.cnt, simple_value(h)) for h in heaps] == [(i + 1, (i, 100)) for i in range(3)]


def test_empty_capture(tmp_path, pcap_stream):
    """A capture with a header and no records: the stream stops at once."""
    assert drain(pcap_stream(PcapWriter().write(tmp_path / "empty.pcap"))) == []


def test_bpf_filter_selects_port(tmp_path, pcap_stream):
    """Heaps sent to two ports, interleaved; a filter "udp port X" keeps one of them."""
    writer = PcapWriter()
    for i in range(6):
        (packet,) = udp_support.packets(simple_heap(i, 100), i + 1)
        writer.add(ethernet(ipv4_udp(packet, 7000 + i % 2)))
    path = writer.write(tmp_path / "two_ports.pcap")
    for port, expected in [(7000, [1, 3, 5]), (7001, [2, 4, 6])]:
        heaps = drain(pcap_stream(path, f"udp port {port}"))
        assert [h.cnt for h in heaps] == expected
    heaps = drain(pcap_stream(path, "dst port 7001 and src host 10.0.0.1"))
    assert [h.cnt for h in heaps] == [2, 4, 6]
    assert [h.cnt for h in drain(pcap_stream(path, "udp port 9999"))] == []
    assert [h.cnt for h in drain(pcap_stream(path, ""))] == [1, 2, 3, 4, 5, 6]


def test_bpf_filter_on_sll_capture(tmp_path, pcap_stream):
    writer = PcapWriter(LINKTYPE_LINUX_SLL)
    for i in range(4):
        (packet,) = udp_support.packets(simple_heap(i, 100), i + 1)
        writer.add(linux_sll(ipv4_udp(packet, 7000 + i % 2)))
    heaps = drain(pcap_stream(writer.write(tmp_path / "sll.pcap"), "udp dst port 7001"))
    assert [h.cnt for h in heaps] == [2, 4]


def test_bad_filter(tmp_path, pcap_stream):
    path = PcapWriter().write(tmp_path / "empty.pcap")
    with pytest.raises(RuntimeError):
        pcap_stream(path, "this is not ( a filter")


def test_non_udp_frames_skipped(tmp_path, pcap_stream):
    """TCP-over-IPv4 frames and non-IP frames are ignored; the UDP ones are replayed."""
    (p1,) = udp_support.packets(simple_heap(1, 100), 1)
    (p2,) = udp_support.packets(simple_heap(2, 100), 2)
    (p3,) = udp_support.packets(simple_heap(3, 100), 3)
    writer = PcapWriter()
    writer.add(ethernet(ipv4_udp(p1, 8888)))
    writer.add(ethernet(ipv4_udp(p2, 8888, protocol=6)))  # claims to be TCP
    writer.add(ethernet(b"\x00" * 60, ethertype=0x0806))  # ARP-ish
    writer.add(ethernet(ipv4_udp(p3, 8888)))
    heaps = drain(pcap_stream(writer.write(tmp_path / "mixed.pcap")))
    assert [h.cnt for h in heaps] == [1, 3]


def test_ip_options(tmp_path, pcap_stream):
    """An IPv4 header with options (IHL 7): the UDP payload is found after them."""
    (packet,) = udp_support.packets(simple_heap(9, 200), 9)
    writer = PcapWriter()
    writer.add(ethernet(ipv4_udp(packet, 8888, options=b"\x01" * 8)))  # eight NOPs
    heaps = drain(pcap_stream(writer.write(tmp_path / "options.pcap")))
    assert [(h.cnt, simple_value(h)) for h in heaps] == [(9, (9, 200))]


def test_fragment_skipped(tmp_path, pcap_stream):
    """Only unfragmented datagrams are replayed: a first fragment (MF set) is not a packet."""
    (p1,) = udp_support.packets(simple_heap(1, 100), 1)
    (p2,) = udp_support.packets(simple_heap(2, 100), 2)
    writer = PcapWriter()
    writer.add(ethernet(ipv4_udp(p1, 8888, flags_frag=0x2000)))  # more fragments
    writer.add(ethernet(ipv4_udp(p2, 8888)))
    heaps = drain(pcap_stream(writer.write(tmp_path / "fragment.pcap")))
    assert [h.cnt for h in heaps] == [2]


def test_frame_captured_truncated(tmp_path, pcap_stream):
    """A record whose caplen is less than the frame length is skipped and counted as
    malformed; records after it are replayed."""
    (p1,) = udp_support.packets(simple_heap(1, 500), 1)
    (p2,) = udp_support.packets(simple_heap(2, 500), 2)
    (p3,) = udp_support.packets(simple_heap(3, 500), 3)
    writer = PcapWriter()
    writer.add(ethernet(ipv4_udp(p1, 8888)))
    writer.add(ethernet(ipv4_udp(p2, 8888)), caplen=200)
    writer.add(ethernet(ipv4_udp(p3, 8888)))
    stream = pcap_stream(writer.write(tmp_path / "snapped.pcap"))
    heaps = drain(stream)
    assert [(h.cnt, simple_value(h)) for h in heaps] == [(1, (1, 500)), (3, (3, 500))]
    assert stream.stats["malformed_packets"] == 1
    assert stream.stats["packets"] == 2


def test_snaplen_truncated_capture(tmp_path, pcap_stream):
    """All frames of a capture taken with a small snaplen are truncated: nothing is
    replayed, every frame is counted as malformed, and the stream still ends."""
    writer = PcapWriter(snaplen=128)
    for i in range(3):
        (packet,) = udp_support.packets(simple_heap(i, 1000), i + 1)
        writer.add(ethernet(ipv4_udp(packet, 8888)), caplen=128)
    stream = pcap_stream(writer.write(tmp_path / "snaplen.pcap"))
    assert drain(stream) == []
    assert stream.stats["malformed_packets"] == 3


def test_truncated_file(tmp_path, pcap_stream):
    """A file cut in the middle of a record: the complete records are replayed and the
    stream stops (no hang, no crash)."""
    writer = PcapWriter()
    for i in range(3):
        (packet,) = udp_support.packets(simple_heap(i, 300), i + 1)
        writer.add(ethernet(ipv4_udp(packet, 8888)))
    data = bytes(writer.data)
    third_record = len(data) - (16 + 14 + 20 + 8 + len(udp_support.packets(simple_heap(2, 300), 3)[0]))
    for cut in [third_record + 8, third_record + 16 + 40, len(data) - 1]:
        path = tmp_path / f"cut{cut}.pcap"
        path.write_bytes(data[:cut])
        heaps = drain(pcap_stream(str(path)))
        assert [(h.cnt, simple_value(h)) for h in heaps] == [(1, (0, 300)), (2, (1, 300))]


def test_truncated_global_header(tmp_path, pcap_stream):
    path = tmp_path / "short.pcap"
    path.write_bytes(bytes(PcapWriter().data)[:10])
    with pytest.raises(RuntimeError):
        pcap_stream(str(path))


@pytest.mark.parametrize("content", [b"", b"this is not a capture file at all" * 10, bytes(24)],
                         ids=["empty", "text", "zeros"])
def test_not_a_pcap_file(tmp_path, pcap_stream, content):
    path = tmp_path / "not.pcap"
    path.write_bytes(content)
    with pytest.raises(RuntimeError):
        pcap_stream(str(path))


def test_missing_file(tmp_path, pcap_stream):
    path = tmp_path / "does" / "not" / "exist.pcap"
    with pytest.raises(RuntimeError, match="exist.pcap"):
        pcap_stream(str(path))


def test_directory(tmp_path, pcap_stream):
    with pytest.raises(RuntimeError):
        pcap_stream(str(tmp_path))


def test_unsupported_link_type(tmp_path, pcap_stream):
    writer = PcapWriter(linktype=105)  # IEEE 802.11
    writer.add(b"\x00" * 100)
    with pytest.raises(RuntimeError):
        pcap_stream(writer.write(tmp_path / "wifi.pcap"))


def test_lossless_with_slow_consumer(tmp_path, pcap_stream):
    """The replay blocks on a full ring rather than dropping heaps."""
    writer = PcapWriter()
    n = 30
    for i in range(n):
        (packet,) = udp_support.packets(simple_heap(i, 100), i + 1)
        writer.add(ethernet(ipv4_udp(packet, 8888)))
    stream = pcap_stream(writer.write(tmp_path / "many.pcap"),
                         ring_config=spead2.recv.RingStreamConfig(heaps=2))
    time.sleep(0.1)
    assert stream.ringbuffer.size() <= 2
    received = []

    def consume():
        for heap in stream:
            received.append(heap.cnt)
            time.sleep(0.002)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert received == list(range(1, n + 1))
    assert stream.stats["worker_blocked"] > 0


def test_reader_with_other_readers(tmp_path, make_stream):
    """End of the pcap file stops the whole stream, including a UDP reader on it."""
    writer = PcapWriter()
    (packet,) = udp_support.packets(simple_heap(1, 100), 1)
    writer.add(ethernet(ipv4_udp(packet, 8888)))
    stream = make_stream()
    sock = udp_support.udp_socket()
    stream.add_udp_reader(sock)
    sock.close()
    stream.add_udp_pcap_file_reader(writer.write(tmp_path / "one.pcap"))
    assert [h.cnt for h in drain(stream)] == [1]
