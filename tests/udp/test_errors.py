"""Bad input to the network transports (spec python-api.md §0.3, §0.4, §2.9, §2.10, §4.5).

Each case is its own test: unresolvable names, ports in use or out of range, bad
endpoint lists, overload mismatches, oversize datagrams in both directions, missing
interfaces, and objects that are not (the right kind of) sockets.  None of them may
crash the process; the stream involved stays usable where the spec says so.
"""

from __future__ import annotations

import errno
import functools
import logging
import socket
import time

import pytest

import spead2
import spead2.recv
import spead2.send
import spead2.send.asyncio
import udp_support
from udp_support import free_port, port_of, simple_heap, simple_value, tcp_listener, udp_socket

TIMEOUT = 10.0
BAD_HOST = "no-such-host.invalid"
#: An address from TEST-NET-1 (RFC 5737), never assigned to this host.
ABSENT_ADDRESS = "192.0.2.1"

run_in_thread = functools.partial(udp_support.run_in_thread, timeout=TIMEOUT)
get_heaps = functools.partial(udp_support.get_heaps, timeout=TIMEOUT)

UDP_SENDERS = [spead2.send.UdpStream, spead2.send.asyncio.UdpStream]
TCP_SENDERS = [spead2.send.TcpStream]


@pytest.fixture(params=UDP_SENDERS, ids=["sync", "asyncio"])
def udp_sender_cls(request):
    return request.param


# --------------------------------------------------------------------------
# Name resolution
# --------------------------------------------------------------------------


class TestHostNotFound:
    def test_udp_sender(self, thread_pool, udp_sender_cls):
        with pytest.raises(RuntimeError, match="Host not found"):
            udp_sender_cls(thread_pool, [(BAD_HOST, 8888)])

    def test_udp_sender_second_endpoint(self, thread_pool):
        with pytest.raises(RuntimeError, match="Host not found"):
            spead2.send.UdpStream(thread_pool, [("127.0.0.1", 8888), (BAD_HOST, 8888)])

    def test_udp_sender_interface_address(self, thread_pool):
        with pytest.raises(RuntimeError, match="Host not found"):
            spead2.send.UdpStream(thread_pool, [("127.0.0.1", 8888)], interface_address=BAD_HOST)

    def test_tcp_sender(self, thread_pool):
        with pytest.raises(RuntimeError, match="Host not found"):
            run_in_thread(spead2.send.TcpStream, thread_pool, [(BAD_HOST, 8888)])

    def test_udp_reader_bind_hostname(self, make_stream):
        with pytest.raises(RuntimeError, match="Host not found"):
            make_stream().add_udp_reader(8888, bind_hostname=BAD_HOST)

    def test_udp_reader_multicast_group(self, make_stream):
        with pytest.raises(RuntimeError, match="Host not found"):
            make_stream().add_udp_reader(BAD_HOST, 8888, interface_address="127.0.0.1")

    def test_tcp_reader_bind_hostname(self, make_stream):
        with pytest.raises(RuntimeError, match="Host not found"):
            make_stream().add_tcp_reader(8888, bind_hostname=BAD_HOST)


# --------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------


class TestPorts:
    def test_udp_port_in_use(self, make_stream):
        with udp_socket() as taken:
            with pytest.raises(RuntimeError):
                make_stream().add_udp_reader(port_of(taken), bind_hostname="127.0.0.1")

    def test_udp_port_in_use_wildcard(self, make_stream):
        with udp_socket("0.0.0.0") as taken:
            with pytest.raises(RuntimeError):
                make_stream().add_udp_reader(port_of(taken))

    def test_tcp_port_in_use(self, make_stream):
        with tcp_listener() as taken:
            with pytest.raises(RuntimeError):
                make_stream().add_tcp_reader(port_of(taken), bind_hostname="127.0.0.1")

    def test_failed_add_leaves_stream_usable(self, thread_pool, make_stream):
        stream = make_stream()
        with udp_socket() as taken:
            with pytest.raises(RuntimeError):
                stream.add_udp_reader(port_of(taken), bind_hostname="127.0.0.1")
        sock = udp_socket()
        stream.add_udp_reader(sock)
        sender = spead2.send.UdpStream(thread_pool, [("127.0.0.1", port_of(sock))])
        sock.close()
        run_in_thread(sender.send_heap, simple_heap(4), cnt=4)
        (heap,) = get_heaps(stream, 1)
        assert simple_value(heap) == (4, 64)

    def test_second_unicast_reader_on_same_port(self, make_stream):
        """Unicast readers do not share a port (no SO_REUSEADDR): the second bind fails
        instead of silently splitting the datagrams between two sockets."""
        port = free_port()
        make_stream().add_udp_reader(port, bind_hostname="127.0.0.1")
        with pytest.raises(RuntimeError):
            make_stream().add_udp_reader(port, bind_hostname="127.0.0.1")
        with pytest.raises(RuntimeError):
            make_stream().add_udp_reader("127.0.0.1", port, interface_address="127.0.0.1")

    @pytest.mark.parametrize("port", [70000, -1, 65536])
    def test_udp_sender_port_out_of_range(self, thread_pool, udp_sender_cls, port):
        with pytest.raises(TypeError):
            udp_sender_cls(thread_pool, [("127.0.0.1", port)])

    @pytest.mark.parametrize("port", [70000, -1])
    def test_tcp_sender_port_out_of_range(self, thread_pool, port):
        with pytest.raises(TypeError):
            spead2.send.TcpStream(thread_pool, [("127.0.0.1", port)])

    @pytest.mark.parametrize("port", [70000, -1])
    def test_udp_reader_port_out_of_range(self, make_stream, port):
        stream = make_stream()
        with pytest.raises(TypeError):
            stream.add_udp_reader(port)
        with pytest.raises(TypeError):
            stream.add_udp_reader("239.255.1.1", port, interface_address="127.0.0.1")
        with pytest.raises(TypeError):
            stream.add_udp_reader("ff15::1", port, interface_index=1)

    def test_tcp_reader_port_out_of_range(self, make_stream):
        with pytest.raises(TypeError):
            make_stream().add_tcp_reader(70000)

    def test_port_as_float(self, thread_pool, make_stream):
        with pytest.raises(TypeError):
            spead2.send.UdpStream(thread_pool, [("127.0.0.1", 8888.0)])
        with pytest.raises(TypeError):
            make_stream().add_udp_reader(8888.0)


# --------------------------------------------------------------------------
# Endpoint lists and overloads
# --------------------------------------------------------------------------


class TestEndpoints:
    def test_empty_udp(self, thread_pool, udp_sender_cls):
        with pytest.raises(ValueError, match="Endpoint list must be non-empty"):
            udp_sender_cls(thread_pool, [])

    def test_empty_udp_ttl(self, thread_pool):
        with pytest.raises(ValueError, match="Endpoint list must be non-empty"):
            spead2.send.UdpStream(thread_pool, [], ttl=1)

    def test_empty_udp_socket_overload(self, thread_pool):
        with udp_socket() as sock:
            with pytest.raises(ValueError, match="Endpoint list must be non-empty"):
                spead2.send.UdpStream(thread_pool, sock, [])

    @pytest.mark.parametrize("endpoints", [
        [("127.0.0.1", 8888), ("::1", 8888)],
        [("::1", 8888), ("127.0.0.1", 8888)],
    ])
    def test_family_mismatch(self, thread_pool, udp_sender_cls, endpoints):
        with pytest.raises(ValueError, match="Endpoint does not match protocol of the socket"):
            udp_sender_cls(thread_pool, endpoints)

    def test_family_mismatch_socket(self, thread_pool):
        with udp_socket("::1") as sock:
            with pytest.raises(ValueError, match="Endpoint does not match protocol of the socket"):
                spead2.send.UdpStream(thread_pool, sock, [("127.0.0.1", 8888)])

    def test_ttl_with_unicast(self, thread_pool, udp_sender_cls):
        with pytest.raises(ValueError, match="not a multicast address"):
            udp_sender_cls(thread_pool, [("127.0.0.1", 8888)], ttl=1)

    def test_ttl_with_one_unicast_among_groups(self, thread_pool):
        with pytest.raises(ValueError, match="not a multicast address"):
            spead2.send.UdpStream(thread_pool, [("239.255.1.1", 8888), ("127.0.0.1", 8888)], ttl=1)

    def test_ttl_interface_address_with_unicast(self, thread_pool):
        with pytest.raises(ValueError, match="endpoint is not an IPv4 multicast address"):
            spead2.send.UdpStream(thread_pool, [("127.0.0.1", 8888)], ttl=1, interface_address="127.0.0.1")

    def test_ttl_interface_address_with_ipv6_group(self, thread_pool):
        with pytest.raises(ValueError, match="multicast address"):
            spead2.send.UdpStream(thread_pool, [("ff15::1", 8888)], ttl=1, interface_address="127.0.0.1")

    def test_ttl_interface_address_not_ipv4(self, thread_pool):
        with pytest.raises(ValueError, match="interface address is not an IPv4 address"):
            spead2.send.UdpStream(thread_pool, [("239.255.1.1", 8888)], ttl=1, interface_address="::1")

    def test_ttl_interface_index_with_ipv4_group(self, thread_pool):
        with pytest.raises(ValueError):
            spead2.send.UdpStream(thread_pool, [("239.255.1.1", 8888)], ttl=1, interface_index=1)

    def test_ttl_interface_index_with_ipv6_unicast(self, thread_pool):
        with pytest.raises(ValueError):
            spead2.send.UdpStream(thread_pool, [("::1", 8888)], ttl=1, interface_index=1)

    def test_tcp_two_endpoints(self, thread_pool):
        with pytest.raises(ValueError, match="endpoints must contain exactly one element"):
            spead2.send.TcpStream(thread_pool, [("127.0.0.1", 8888), ("127.0.0.1", 8889)])

    def test_tcp_no_endpoint(self, thread_pool):
        with pytest.raises(ValueError, match="endpoints must contain exactly one element"):
            spead2.send.TcpStream(thread_pool, [])

    def test_asyncio_tcp_two_endpoints(self, thread_pool):
        async def body():
            with pytest.raises(ValueError, match="endpoints must contain exactly one element"):
                await spead2.send.asyncio.TcpStream.connect(
                    thread_pool, [("127.0.0.1", 8888), ("127.0.0.1", 8889)])
            return True

        assert udp_support.run_async(body)

    def test_legacy_host_port_form(self, thread_pool):
        """The pre-4.0 (host, port) arguments are gone."""
        with pytest.raises(TypeError):
            spead2.send.UdpStream(thread_pool, "127.0.0.1", 8888)

    def test_thread_pool_none(self):
        with pytest.raises(TypeError):
            spead2.send.UdpStream(None, [("127.0.0.1", 8888)])
        with pytest.raises(TypeError):
            spead2.send.TcpStream(None, [("127.0.0.1", 8888)])


class TestMulticastArguments:
    def test_reader_group_not_multicast(self, make_stream):
        with pytest.raises(ValueError, match="not multicast and does not match interface address"):
            make_stream().add_udp_reader("10.1.2.3", 8888, interface_address="127.0.0.1")

    def test_reader_group_ipv6_with_interface_address(self, make_stream):
        with pytest.raises(ValueError, match="endpoint is not an IPv4 address"):
            make_stream().add_udp_reader("ff15::1", 8888, interface_address="127.0.0.1")

    def test_reader_interface_address_not_ipv4(self, make_stream):
        with pytest.raises(ValueError, match="interface address is not an IPv4 address"):
            make_stream().add_udp_reader("239.255.1.1", 8888, interface_address="::1")

    def test_reader_interface_index_with_ipv4_group(self, make_stream):
        with pytest.raises(ValueError, match="endpoint is not an IPv6 multicast address"):
            make_stream().add_udp_reader("239.255.1.1", 8888, interface_index=1)

    def test_reader_missing_interface_address(self, make_stream):
        """Joining a group on an address this host does not have: a clear exception."""
        stream = make_stream()
        with pytest.raises((RuntimeError, OSError)):
            stream.add_udp_reader("239.255.1.1", free_port(), interface_address=ABSENT_ADDRESS)

    def test_reader_missing_interface_index(self, make_stream):
        missing = max(index for index, _ in socket.if_nameindex()) + 1000
        with pytest.raises((RuntimeError, OSError)):
            make_stream().add_udp_reader("ff15::1", free_port("::1"), interface_index=missing)

    def test_sender_missing_interface_address(self, thread_pool, udp_sender_cls):
        with pytest.raises((RuntimeError, OSError)):
            udp_sender_cls(thread_pool, [("239.255.1.1", 8888)], ttl=1, interface_address=ABSENT_ADDRESS)

    def test_sender_unicast_missing_interface_address(self, thread_pool):
        """Overload 1 binds the source address: one that is not ours is an error."""
        with pytest.raises((RuntimeError, OSError)):
            spead2.send.UdpStream(thread_pool, [("127.0.0.1", 8888)], interface_address=ABSENT_ADDRESS)

    def test_sender_missing_interface_index(self, thread_pool):
        missing = max(index for index, _ in socket.if_nameindex()) + 1000
        with pytest.raises((RuntimeError, OSError)):
            spead2.send.UdpStream(thread_pool, [("ff15::1", 8888)], ttl=1, interface_index=missing)

    def test_tcp_sender_missing_interface_address(self, thread_pool):
        with tcp_listener() as listener:
            with pytest.raises((RuntimeError, OSError)):
                run_in_thread(spead2.send.TcpStream, thread_pool, [("127.0.0.1", port_of(listener))],
                              interface_address=ABSENT_ADDRESS)


# --------------------------------------------------------------------------
# Oversize datagrams
# --------------------------------------------------------------------------


class TestOversize:
    def test_datagram_larger_than_max_size(self, make_stream):
        """A datagram longer than max_size is dropped and counted as malformed; valid
        datagrams before and after it are received."""
        sock = udp_socket()
        stream = make_stream()
        stream.add_udp_reader(sock, max_size=1500)
        port = port_of(sock)
        sock.close()
        (big,) = udp_support.packets(simple_heap(1, 3000), 1, 9000)
        (small_before,) = udp_support.packets(simple_heap(2, 100), 2)
        (small_after,) = udp_support.packets(simple_heap(3, 100), 3)
        assert len(big) > 1500
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(small_before, ("127.0.0.1", port))
            tx.sendto(big, ("127.0.0.1", port))
            tx.sendto(small_after, ("127.0.0.1", port))
        heaps = get_heaps(stream, 2)
        assert [(h.cnt, simple_value(h)) for h in heaps] == [(2, (2, 100)), (3, (3, 100))]
        assert udp_support.poll(lambda: stream.stats["malformed_packets"] == 1, timeout=TIMEOUT)
        assert stream.stats["packets"] == 2

    def test_datagram_of_exactly_max_size(self, make_stream):
        sock = udp_socket()
        stream = make_stream()
        (packet,) = udp_support.packets(simple_heap(1, 2000), 1, 9000)
        stream.add_udp_reader(sock, max_size=len(packet))
        port = port_of(sock)
        sock.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(packet, ("127.0.0.1", port))
        (heap,) = get_heaps(stream, 1)
        assert simple_value(heap) == (1, 2000)
        assert stream.stats["malformed_packets"] == 0

    def test_garbage_datagrams(self, make_stream):
        sock = udp_socket()
        stream = make_stream()
        stream.add_udp_reader(sock)
        port = port_of(sock)
        sock.close()
        (valid,) = udp_support.packets(simple_heap(7, 100), 7)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for junk in [b"", b"\x00", bytes(100), b"S" * 64, valid[:20]]:
                tx.sendto(junk, ("127.0.0.1", port))
            tx.sendto(valid, ("127.0.0.1", port))
        (heap,) = get_heaps(stream, 1)
        assert simple_value(heap) == (7, 100)
        assert udp_support.poll(lambda: stream.stats["malformed_packets"] >= 4, timeout=TIMEOUT)

    def test_send_packet_too_big_for_udp(self, thread_pool):
        """max_packet_size 70000 cannot go in one UDP datagram: send_heap raises
        OSError(EMSGSIZE), and the stream still sends later (smaller) heaps."""
        with udp_socket() as rx:
            sender = spead2.send.UdpStream(thread_pool, [("127.0.0.1", port_of(rx))],
                                           spead2.send.StreamConfig(max_packet_size=70000))
            with pytest.raises(OSError) as info:
                run_in_thread(sender.send_heap, simple_heap(1, 100000), cnt=1)
            assert info.value.errno == errno.EMSGSIZE
            sent = run_in_thread(sender.send_heap, simple_heap(2, 1000), cnt=2)
            expected = udp_support.packets(simple_heap(2, 1000), 2, 70000)[0]
            assert sent == len(expected)
            # The packets of the failed heap that did fit (its 30088-byte tail) may have
            # gone out too, as with the reference; the later heap must follow them.
            rx.settimeout(TIMEOUT)
            datagrams = [rx.recv(70000)]
            while datagrams[-1] != expected and len(datagrams) < 3:
                datagrams.append(rx.recv(70000))
            assert datagrams[-1] == expected

    def test_send_packet_too_big_in_group(self, thread_pool):
        with udp_socket() as rx:
            sender = spead2.send.UdpStream(thread_pool, [("127.0.0.1", port_of(rx))],
                                           spead2.send.StreamConfig(max_packet_size=70000))
            refs = [spead2.send.HeapReference(simple_heap(1, 100000), cnt=1)]
            with pytest.raises(OSError) as info:
                run_in_thread(sender.send_heaps, refs, spead2.send.GroupMode.SERIAL)
            assert info.value.errno == errno.EMSGSIZE


# --------------------------------------------------------------------------
# Objects that are not sockets, or the wrong kind
# --------------------------------------------------------------------------


class NotASocket:
    pass


class FilenoOnly:
    """Has fileno() (of a UDP socket) but is not a socket.socket."""

    def __init__(self, sock):
        self._sock = sock

    def fileno(self):
        return self._sock.fileno()


class TestSocketObjects:
    @pytest.mark.parametrize("bad", [NotASocket(), b"socket", None, 1.5])
    def test_udp_reader_non_socket(self, make_stream, bad):
        with pytest.raises(TypeError):
            make_stream().add_udp_reader(bad)

    @pytest.mark.parametrize("bad", [NotASocket(), "socket", None])
    def test_tcp_reader_non_socket(self, make_stream, bad):
        with pytest.raises(TypeError):
            make_stream().add_tcp_reader(bad)

    @pytest.mark.parametrize("bad", [NotASocket(), 42, None])
    def test_udp_sender_non_socket(self, thread_pool, udp_sender_cls, bad):
        with pytest.raises(TypeError):
            udp_sender_cls(thread_pool, bad, [("127.0.0.1", 8888)])

    @pytest.mark.parametrize("bad", [NotASocket(), 42, None])
    def test_tcp_sender_non_socket(self, thread_pool, bad):
        with pytest.raises(TypeError):
            spead2.send.TcpStream(thread_pool, bad)

    def test_tcp_socket_to_udp_reader(self, make_stream):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            with pytest.raises(TypeError):
                make_stream().add_udp_reader(sock)

    def test_tcp_socket_to_udp_sender(self, thread_pool, udp_sender_cls):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            with pytest.raises(TypeError):
                udp_sender_cls(thread_pool, sock, [("127.0.0.1", 8888)])

    def test_udp_socket_to_tcp_reader(self, make_stream):
        with udp_socket() as sock:
            with pytest.raises(TypeError):
                make_stream().add_tcp_reader(sock)

    def test_udp_socket_to_tcp_sender(self, thread_pool):
        with udp_socket() as sock:
            with pytest.raises(TypeError):
                spead2.send.TcpStream(thread_pool, sock)
            with pytest.raises(TypeError):
                spead2.send.asyncio.TcpStream(thread_pool, sock)

    def test_unix_socket_to_udp_reader(self, make_stream):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            with pytest.raises(TypeError):
                make_stream().add_udp_reader(sock)

    def test_closed_socket(self, thread_pool, make_stream):
        sock = udp_socket()
        sock.close()
        with pytest.raises((TypeError, OSError, ValueError)):
            make_stream().add_udp_reader(sock)
        with pytest.raises((TypeError, OSError, ValueError)):
            spead2.send.UdpStream(thread_pool, sock, [("127.0.0.1", 8888)])


# --------------------------------------------------------------------------
# Buffer sizes the OS does not grant: a warning, not an error
# --------------------------------------------------------------------------


def settle_log(records: list) -> None:
    """Wait until every native log message issued so far has been forwarded: messages
    go through one log thread in order, so once a marker logged now has arrived, so has
    everything before it.  Then forget them."""
    marker = f"settle-{time.monotonic_ns()}"
    spead2._spead2.log_info(marker)
    assert udp_support.poll(lambda: any(marker in m for _, m in records), timeout=TIMEOUT)
    records.clear()


@pytest.fixture
def spead2_log():
    """``(level, message)`` of the records of the "spead2" logger (forwarded from native
    code by a log thread), starting empty even if earlier tests' messages were late."""
    records: list[tuple[int, str]] = []

    class Handler(logging.Handler):
        def emit(self, record):
            records.append((record.levelno, record.getMessage()))

    logger = logging.getLogger("spead2")
    handler = Handler(level=logging.INFO)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        settle_log(records)
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def buffer_warnings(records) -> list[str]:
    return [m for level, m in records if level >= logging.WARNING and "buffer" in m]


class TestBufferSize:
    HUGE = 1 << 30  # more than net.core.rmem_max / wmem_max allow

    def test_udp_reader_buffer_too_big(self, thread_pool, make_stream, spead2_log):
        port = free_port()
        stream = make_stream()
        stream.add_udp_reader(port, buffer_size=self.HUGE, bind_hostname="127.0.0.1")
        assert udp_support.poll(lambda: buffer_warnings(spead2_log), timeout=TIMEOUT)
        sender = spead2.send.UdpStream(thread_pool, [("127.0.0.1", port)])
        run_in_thread(sender.send_heap, simple_heap(1), cnt=1)
        assert [h.cnt for h in get_heaps(stream, 1)] == [1]

    def test_udp_sender_buffer_too_big(self, thread_pool, spead2_log):
        with udp_socket() as rx:
            sender = spead2.send.UdpStream(thread_pool, [("127.0.0.1", port_of(rx))], buffer_size=self.HUGE)
            assert udp_support.poll(lambda: buffer_warnings(spead2_log), timeout=TIMEOUT)
            run_in_thread(sender.send_heap, simple_heap(1), cnt=1)
            rx.settimeout(TIMEOUT)
            assert len(rx.recv(70000)) > 0

    def test_zero_buffer_size_keeps_os_default(self, thread_pool, make_stream, spead2_log):
        port = free_port()
        stream = make_stream()
        stream.add_udp_reader(port, buffer_size=0, bind_hostname="127.0.0.1")
        sender = spead2.send.UdpStream(thread_pool, [("127.0.0.1", port)], buffer_size=0)
        run_in_thread(sender.send_heap, simple_heap(2), cnt=2)
        assert [h.cnt for h in get_heaps(stream, 1)] == [2]
        marker = f"after-{time.monotonic_ns()}"
        spead2._spead2.log_info(marker)
        assert udp_support.poll(lambda: any(marker in m for _, m in spead2_log), timeout=TIMEOUT)
        assert buffer_warnings(spead2_log) == []
