"""TCP round trips over loopback (spec python-api.md §2.10, §2.14, §3, §4.5, §4.8).

Covers spead2.send.TcpStream (endpoint and connected-socket overloads),
spead2.send.asyncio.TcpStream (connect() and socket overload) and
spead2.recv.Stream.add_tcp_reader (port and listening-socket overloads): payloads,
end of stream when the peer closes, refused connections, stop() while waiting for
a connection, garbage bytes, a peer vanishing mid-heap, oversize packets, the
single accepted connection and back-pressure (TCP is lossless).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import gc
import socket
import subprocess
import sys
import threading
import time

import pytest

import spead2
import spead2.recv
import spead2.recv.asyncio
import spead2.send
import spead2.send.asyncio
import udp_support
from udp_support import Collector, free_port, port_of, simple_heap, simple_value, tcp_listener

TIMEOUT = 10.0
MiB = 1 << 20

run_in_thread = functools.partial(udp_support.run_in_thread, timeout=TIMEOUT)
run_async = functools.partial(udp_support.run_async, timeout=TIMEOUT)
drain = functools.partial(udp_support.drain, timeout=TIMEOUT)
get_heaps = functools.partial(udp_support.get_heaps, timeout=TIMEOUT)

HOSTS = ["127.0.0.1", "::1"]
#: For tests where spead2's TCP *sender* connects by endpoint.
SENDER_HOSTS = HOSTS


def tcp_config(max_packet_size: int = 8192, **kwargs) -> spead2.send.StreamConfig:
    return spead2.send.StreamConfig(max_packet_size=max_packet_size, **kwargs)


@pytest.fixture
def tcp_receiver(make_stream):
    """Factory: a receive stream with a TCP reader on a fresh listening socket of ``host``;
    returns ``(stream, port)``.  Extra keyword arguments go to the stream constructor,
    ``max_size`` to add_tcp_reader."""

    def make(host: str = "127.0.0.1", max_size: int | None = None, **kwargs):
        listener = tcp_listener(host)
        port = port_of(listener)
        stream = make_stream(**kwargs) if kwargs else make_stream()
        if max_size is None:
            stream.add_tcp_reader(listener)
        else:
            stream.add_tcp_reader(listener, max_size=max_size)
        listener.close()  # the reader has its own duplicate
        return stream, port

    return make


def raw_connect(host: str, port: int) -> socket.socket:
    return socket.create_connection((host, port), timeout=TIMEOUT)


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------


class TestRoundTrip:
    @pytest.mark.parametrize("host", SENDER_HOSTS)
    def test_endpoint_overload(self, thread_pool, tcp_receiver, host):
        """Three 1 MiB heaps and an end-of-stream heap over one connection."""
        stream, port = tcp_receiver(host)
        collector = Collector(stream)
        sender = spead2.send.TcpStream(thread_pool, [(host, port)], tcp_config())
        assert sender.num_substreams == 1
        sent = run_in_thread(udp_support.send_item_heaps, sender, 3)
        assert sent > 3 * MiB
        collector.join()
        assert collector.indices == [0, 1, 2]
        stats = stream.stats
        assert stats["heaps"] == 3
        assert stats["incomplete_heaps_flushed"] == 0
        assert stats["malformed_packets"] == 0

    @pytest.mark.parametrize("host", HOSTS)
    def test_stream_stops_when_sender_closes(self, thread_pool, tcp_receiver, host):
        """Without an end-of-stream heap, the receiver stops when the connection closes,
        after delivering everything that was sent."""
        stream, port = tcp_receiver(host)
        collector = Collector(stream)
        sock = raw_connect(host, port)
        sender = spead2.send.TcpStream(thread_pool, sock, tcp_config(65536))
        sock.close()
        run_in_thread(udp_support.send_item_heaps, sender, 4, 300000, end=False)
        del sender  # the last reference: closes the connection
        gc.collect()
        collector.join()
        assert collector.indices == [0, 1, 2, 3]

    def test_packet_of_exactly_max_size(self, thread_pool, tcp_receiver):
        """The receiver's default max_size (65536) accepts the largest packets of a sender
        with max_packet_size 65536."""
        stream, port = tcp_receiver()
        heap = simple_heap(3, 200000)
        expected = udp_support.packets(heap, 1, 65536)
        assert max(len(p) for p in expected) == 65536
        sender = spead2.send.TcpStream(thread_pool, [("127.0.0.1", port)], tcp_config(65536))
        run_in_thread(sender.send_heap, heap, cnt=1)
        del sender  # the last reference: closes the connection
        gc.collect()
        (received,) = drain(stream)
        assert simple_value(received) == (3, 200000)
        assert stream.stats["packets"] == len(expected)
        assert stream.stats["malformed_packets"] == 0

    @pytest.mark.parametrize("host", HOSTS)
    def test_socket_overload(self, thread_pool, tcp_receiver, host):
        """TcpStream(thread_pool, socket) uses a duplicate of a connected socket; closing
        the original does not close the connection, dropping the stream does."""
        stream, port = tcp_receiver(host)
        sock = raw_connect(host, port)
        sender = spead2.send.TcpStream(thread_pool, sock, tcp_config())
        sock.close()
        assert sender.num_substreams == 1
        run_in_thread(udp_support.send_item_heaps, sender, 2, 100000, end=False)
        del sender  # the last reference: closes the connection
        gc.collect()
        collector = Collector(stream)
        collector.join()
        assert collector.indices == [0, 1]

    @pytest.mark.parametrize("host", HOSTS)
    def test_add_tcp_reader_port(self, thread_pool, make_stream, host):
        """add_tcp_reader(port, bind_hostname=...) listens at once: a peer can connect
        right after the call."""
        port = free_port(host, socket.SOCK_STREAM)
        stream = make_stream()
        stream.add_tcp_reader(port, bind_hostname=host)
        with raw_connect(host, port) as peer:
            peer.sendall(b"".join(udp_support.packets(simple_heap(9, 5000), 9)))
        heaps = drain(stream)
        assert [(h.cnt, simple_value(h)) for h in heaps] == [(9, (9, 5000))]

    def test_add_tcp_reader_port_all_addresses(self, thread_pool, make_stream):
        """bind_hostname "" listens on every IPv4 address (127.0.0.2 reaches it)."""
        port = free_port("0.0.0.0", socket.SOCK_STREAM)
        stream = make_stream()
        stream.add_tcp_reader(port)
        sender = spead2.send.TcpStream(thread_pool, [("127.0.0.2", port)], tcp_config())
        run_in_thread(sender.send_heap, simple_heap(1), cnt=1)
        del sender  # the last reference: closes the connection
        gc.collect()
        assert [h.cnt for h in drain(stream)] == [1]

    def test_ipv6_with_explicit_interface_address(self, thread_pool, tcp_receiver):
        """An IPv6 connection whose local end is bound explicitly (interface_address "::1")."""
        stream, port = tcp_receiver("::1")
        sender = spead2.send.TcpStream(thread_pool, [("::1", port)], tcp_config(), interface_address="::1")
        run_in_thread(sender.send_heap, simple_heap(8, 3000), cnt=8)
        del sender  # the last reference: closes the connection
        gc.collect()
        assert [(h.cnt, simple_value(h)) for h in drain(stream)] == [(8, (8, 3000))]

    def test_interface_address_binds_local_end(self, thread_pool):
        listener = tcp_listener()
        try:
            sender = spead2.send.TcpStream(thread_pool, [("127.0.0.1", port_of(listener))], tcp_config(),
                                           interface_address="127.0.0.2")
            listener.settimeout(TIMEOUT)
            conn, addr = listener.accept()
            conn.close()
            assert addr[0] == "127.0.0.2"
            del sender
        finally:
            listener.close()

    def test_bytes_on_the_wire(self, thread_pool):
        """The byte stream is exactly the concatenation of the heap's packets."""
        listener = tcp_listener()
        try:
            heap = simple_heap(4, 30000)
            expected = b"".join(udp_support.packets(heap, 12, 8192))
            sender = spead2.send.TcpStream(thread_pool, [("127.0.0.1", port_of(listener))], tcp_config())
            listener.settimeout(TIMEOUT)
            conn, _ = listener.accept()
            assert run_in_thread(sender.send_heap, heap, cnt=12) == len(expected)
            del sender  # the last reference: closes the connection
            gc.collect()
            conn.settimeout(TIMEOUT)
            data = b""
            while chunk := conn.recv(1 << 16):
                data += chunk
            conn.close()
            assert data == expected
        finally:
            listener.close()

    def test_lossless_with_slow_consumer(self, thread_pool, tcp_receiver):
        """A consumer slower than the sender loses nothing: the reader blocks on the full
        ring (worker_blocked) and TCP back-pressure holds the sender."""
        stream, port = tcp_receiver(
            thread_pool=spead2.ThreadPool(),
            ring_config=spead2.recv.RingStreamConfig(heaps=2))
        n = 20
        sender = spead2.send.TcpStream(thread_pool, [("127.0.0.1", port)], tcp_config())

        def send_all():
            for i in range(n):
                sender.send_heap(simple_heap(i, 20000), cnt=i + 1)

        received = []

        def consume():
            for heap in stream:
                time.sleep(0.01)
                received.append((heap.cnt, simple_value(heap)))

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        run_in_thread(send_all)
        del sender  # the last reference: closes the connection
        gc.collect()
        consumer.join(TIMEOUT)
        assert not consumer.is_alive()
        assert received == [(i + 1, (i, 20000)) for i in range(n)]
        assert stream.stats["worker_blocked"] > 0

    def test_only_one_connection_is_accepted(self, thread_pool, tcp_receiver):
        """The reader serves one connection; what a second client sends never arrives."""
        stream, port = tcp_receiver()
        first = spead2.send.TcpStream(thread_pool, [("127.0.0.1", port)], tcp_config())
        run_in_thread(first.send_heap, simple_heap(1), cnt=1)
        (heap,) = get_heaps(stream, 1)
        assert heap.cnt == 1
        try:
            second = raw_connect("127.0.0.1", port)
        except OSError:
            second = None  # refused: nobody listens any more, which is fine too
        if second is not None:
            try:
                second.sendall(udp_support.packets(simple_heap(2), 2)[0])
            except OSError:
                pass
        udp_support.assert_no_heap(stream)
        del first  # the last reference: closes the connection
        gc.collect()
        assert drain(stream) == []
        if second is not None:
            second.close()


# --------------------------------------------------------------------------
# asyncio
# --------------------------------------------------------------------------


class TestAsyncio:
    @pytest.mark.parametrize("host", SENDER_HOSTS)
    def test_connect_and_send(self, thread_pool, host):
        listener = tcp_listener(host)
        port = port_of(listener)

        async def body():
            stream = spead2.recv.asyncio.Stream(thread_pool)
            stream.add_tcp_reader(listener)
            listener.close()
            sender = await spead2.send.asyncio.TcpStream.connect(thread_pool, [(host, port)], tcp_config())
            assert isinstance(sender, spead2.send.asyncio.TcpStream)
            ig = udp_support.make_item_group(200000)
            futures = []
            for i in range(3):
                udp_support.fill_item_group(ig, i)
                futures.append(sender.async_send_heap(ig.get_heap()))
            futures.append(sender.async_send_heap(ig.get_end()))
            sizes = await asyncio.gather(*futures)
            await sender.async_flush()
            rig = spead2.ItemGroup()
            indices = []
            async for heap in stream:
                rig.update(heap)
                index = int(rig["counter"].value)
                udp_support.check_values(rig, index)
                indices.append(index)
            return indices, sizes, sender._active

        indices, sizes, active = run_async(body)
        assert indices == [0, 1, 2]
        assert all(s > 200000 for s in sizes[:3])
        assert active == 0

    def test_socket_overload(self, thread_pool, tcp_receiver):
        stream, port = tcp_receiver()
        sock = raw_connect("127.0.0.1", port)

        async def body():
            sender = spead2.send.asyncio.TcpStream(thread_pool, sock, tcp_config())
            sock.close()
            n = await sender.async_send_heap(simple_heap(6, 3000), cnt=6)
            await sender.async_flush()
            return n

        assert run_async(body) == sum(len(p) for p in udp_support.packets(simple_heap(6, 3000), 6, 8192))
        gc.collect()
        assert [(h.cnt, simple_value(h)) for h in drain(stream)] == [(6, (6, 3000))]

    def test_connect_refused(self, thread_pool):
        port = free_port("127.0.0.1", socket.SOCK_STREAM)

        async def body():
            with pytest.raises(ConnectionRefusedError):
                await spead2.send.asyncio.TcpStream.connect(thread_pool, [("127.0.0.1", port)])
            return True

        assert run_async(body)


# --------------------------------------------------------------------------
# Failures and odd peers
# --------------------------------------------------------------------------


class TestPeers:
    @pytest.mark.parametrize("host", SENDER_HOSTS)
    def test_connection_refused(self, thread_pool, host):
        port = free_port(host, socket.SOCK_STREAM)
        with pytest.raises(ConnectionRefusedError):
            run_in_thread(spead2.send.TcpStream, thread_pool, [(host, port)])

    def test_stop_while_waiting_for_connection(self, tcp_receiver):
        stream, _ = tcp_receiver()
        time.sleep(0.05)
        run_in_thread(stream.stop, timeout=2.0)
        assert drain(stream) == []

    def test_stop_while_connected_and_idle(self, tcp_receiver):
        stream, port = tcp_receiver()
        peer = raw_connect("127.0.0.1", port)
        try:
            time.sleep(0.05)
            run_in_thread(stream.stop, timeout=2.0)
            assert drain(stream) == []
        finally:
            peer.close()

    def test_reader_added_after_stop_is_ignored(self, make_stream):
        stream = make_stream()
        run_in_thread(stream.stop)
        with tcp_listener() as listener:
            stream.add_tcp_reader(listener)  # no error, no data
        assert drain(stream) == []
        assert stream.stats["transport_dropped_packets"] == 0

    def test_peer_closes_without_data(self, tcp_receiver):
        stream, port = tcp_receiver()
        raw_connect("127.0.0.1", port).close()
        assert drain(stream) == []
        assert stream.stats["packets"] == 0

    @pytest.mark.parametrize("garbage", [b"\xff" * 24, bytes(8), b"SPEAD!!!" * 2])
    def test_garbage_then_valid_packet(self, tcp_receiver, garbage):
        """Bytes that are not a packet header are skipped (and counted as malformed), and
        a valid packet after them still makes a heap."""
        stream, port = tcp_receiver()
        (packet,) = udp_support.packets(simple_heap(5, 100), 7)
        with raw_connect("127.0.0.1", port) as peer:
            peer.sendall(garbage + packet)
        heaps = drain(stream)
        assert [(h.cnt, simple_value(h)) for h in heaps] == [(7, (5, 100))]
        assert stream.stats["malformed_packets"] >= 1
        assert stream.stats["packets"] == 1

    def test_garbage_between_packets(self, tcp_receiver):
        stream, port = tcp_receiver()
        first = udp_support.packets(simple_heap(1, 3000), 1)
        second = udp_support.packets(simple_heap(2, 3000), 2)
        with raw_connect("127.0.0.1", port) as peer:
            peer.sendall(b"".join(first) + b"\x00\x01\x02\x03\x04\x05\x06\x07" * 2 + b"".join(second))
        heaps = drain(stream)
        assert [(h.cnt, simple_value(h)) for h in heaps] == [(1, (1, 3000)), (2, (2, 3000))]
        assert stream.stats["malformed_packets"] >= 1

    def test_disconnect_mid_heap(self, tcp_receiver):
        """The peer sends two packets and half of a third of a heap, then closes: the
        stream stops (no hang), the partial packet is discarded and the incomplete heap
        is flushed."""
        stream, port = tcp_receiver(ring_config=spead2.recv.RingStreamConfig(contiguous_only=False))
        pkts = udp_support.packets(simple_heap(5, 5000), 8)
        with raw_connect("127.0.0.1", port) as peer:
            peer.sendall(pkts[0] + pkts[1] + pkts[2][:30])
        heaps = drain(stream)
        assert len(heaps) == 1
        assert isinstance(heaps[0], spead2.recv.IncompleteHeap)
        assert heaps[0].cnt == 8
        assert heaps[0].heap_length == 5000
        assert heaps[0].received_length == udp_support.payload_length(pkts[0]) + udp_support.payload_length(pkts[1])
        stats = stream.stats
        assert stats["packets"] == 2
        assert stats["incomplete_heaps_flushed"] == 1

    def test_disconnect_mid_heap_contiguous_only(self, tcp_receiver):
        stream, port = tcp_receiver()
        pkts = udp_support.packets(simple_heap(5, 5000), 8)
        with raw_connect("127.0.0.1", port) as peer:
            peer.sendall(pkts[0] + pkts[1][:-1])
        assert drain(stream) == []
        assert stream.stats["incomplete_heaps_flushed"] == 1

    def test_packet_longer_than_max_size_skipped(self, tcp_receiver):
        """A packet longer than max_size is skipped whole (counted as malformed); the next
        packet is parsed normally."""
        stream, port = tcp_receiver(max_size=2000)
        (big,) = udp_support.packets(simple_heap(5, 5000), 9, 9000)
        (small,) = udp_support.packets(simple_heap(6, 50), 10, 9000)
        (small2,) = udp_support.packets(simple_heap(6, 50), 11, 9000)
        assert len(big) > 2000
        with raw_connect("127.0.0.1", port) as peer:
            peer.sendall(big + small + big + small2)
        heaps = drain(stream)
        assert [(h.cnt, simple_value(h)) for h in heaps] == [(10, (6, 50)), (11, (6, 50))]
        assert stream.stats["malformed_packets"] == 2
        assert stream.stats["packets"] == 2

    def test_oversize_packet_split_across_segments(self, tcp_receiver):
        """Skipping an oversize packet works when its bytes arrive in several pieces."""
        stream, port = tcp_receiver(max_size=1000)
        (big,) = udp_support.packets(simple_heap(5, 60000), 9, 65536)
        (small,) = udp_support.packets(simple_heap(6, 50), 10, 9000)
        with raw_connect("127.0.0.1", port) as peer:
            peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(0, len(big), 7000):
                peer.sendall(big[i:i + 7000])
                time.sleep(0.002)
            peer.sendall(small)
        heaps = drain(stream)
        assert [(h.cnt, simple_value(h)) for h in heaps] == [(10, (6, 50))]

    def test_send_after_peer_closed(self, thread_pool):
        """When the receiving end has closed the connection, sends fail with an OSError
        (EPIPE / ECONNRESET) and keep failing; the process is not killed by SIGPIPE."""
        listener = tcp_listener()
        try:
            sender = spead2.send.TcpStream(thread_pool, [("127.0.0.1", port_of(listener))], tcp_config())
            listener.settimeout(TIMEOUT)
            conn, _ = listener.accept()
        finally:
            listener.close()
        run_in_thread(sender.send_heap, simple_heap(1), cnt=1)
        conn.close()  # with unread data: the kernel answers with a reset

        def send_until_error():
            for i in range(100):
                try:
                    sender.send_heap(simple_heap(i, 100000), cnt=i + 2)
                except OSError as exc:
                    return exc
                time.sleep(0.005)
            return None

        exc = run_in_thread(send_until_error)
        assert exc is not None, "sending to a closed connection never failed"
        assert exc.errno in (errno.EPIPE, errno.ECONNRESET)
        with pytest.raises(OSError):
            run_in_thread(sender.send_heap, simple_heap(0), cnt=1000)

    def test_stop_closes_connection(self, tcp_receiver):
        """stop() closes the accepted connection: the peer sees end of file (or a reset)."""
        stream, port = tcp_receiver()
        with raw_connect("127.0.0.1", port) as peer:
            peer.sendall(udp_support.packets(simple_heap(1), 1)[0])
            assert [h.cnt for h in get_heaps(stream, 1)] == [1]
            run_in_thread(stream.stop)
            peer.settimeout(2.0)
            try:
                data = peer.recv(100)
            except ConnectionResetError:
                data = b""
            except socket.timeout:
                pytest.fail("the connection is still open after stop()")
            assert data == b""

    def test_stop_closes_listener(self, tcp_receiver):
        """After stop() nobody listens on the reader's port any more."""
        stream, port = tcp_receiver()
        run_in_thread(stream.stop)
        with pytest.raises(ConnectionRefusedError):
            raw_connect("127.0.0.1", port).close()


# --------------------------------------------------------------------------
# Interpreter exit
# --------------------------------------------------------------------------

SHUTDOWN_SCRIPT = r'''
import socket, threading, time
import numpy as np
import spead2, spead2.send, spead2.recv
tp = spead2.ThreadPool(2)

def heap(v, n):
    h = spead2.send.Heap()
    h.add_item(spead2.Item(0x1000, "v", "", shape=(n,), dtype=np.uint8, value=np.full(n, v, np.uint8)))
    return h

def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock

# A UDP reader that is never stopped.
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
r1 = spead2.recv.Stream(tp)
r1.add_udp_reader(u)
# A TCP reader still waiting for its connection.
r2 = spead2.recv.Stream(tp)
r2.add_tcp_reader(listener())
# A TCP reader blocked on a full ring.
l3 = listener()
r3 = spead2.recv.Stream(tp, spead2.recv.StreamConfig(), spead2.recv.RingStreamConfig(heaps=1))
r3.add_tcp_reader(l3)
s3 = spead2.send.TcpStream(tp, [("127.0.0.1", l3.getsockname()[1])])
for i in range(3):
    s3.send_heap(heap(i, 1000), cnt=i + 1)
# A TCP sender stuck on a peer that never reads, in a daemon thread.
l4 = listener()
s4 = spead2.send.TcpStream(tp, [("127.0.0.1", l4.getsockname()[1])])

def stuck():
    for i in range(1000):
        s4.send_heap(heap(i, 1 << 20), cnt=i + 1)

threading.Thread(target=stuck, daemon=True).start()
# A UDP sender at full speed into the first reader, in a daemon thread.
s5 = spead2.send.UdpStream(tp, [("127.0.0.1", u.getsockname()[1])], spead2.send.StreamConfig(rate=0))

def blast():
    while True:
        s5.send_heap(heap(1, 100000))

threading.Thread(target=blast, daemon=True).start()
time.sleep(0.3)
print("exiting", flush=True)
'''


def test_interpreter_exit_with_busy_transports(tmp_path):
    """A process that leaves readers waiting, blocked and receiving, and senders stuck or
    busy in daemon threads, still exits (status 0) instead of hanging or crashing."""
    script = tmp_path / "shutdown.py"
    script.write_text(SHUTDOWN_SCRIPT)
    try:
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("the process did not exit within 20 s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "exiting"
