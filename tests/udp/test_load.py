"""UDP under load (spec python-api.md §2.8, §4.4, §4.8): a sender at full speed into a
stalled consumer, and one single-threaded ThreadPool serving several readers and a
rate-limited sender.

These check correctness properties under load (bounded memory, counted losses,
prompt stop, recovery, fair scheduling of the pool), not speed: the only
measurement is the sender's achieved rate, compared with its configured rate with a
tolerance meant to hold on a loaded two-core machine.
"""

from __future__ import annotations

import functools
import socket
import threading
import time

import pytest

import spead2
import spead2.recv
import spead2.send
import udp_support
from udp_support import port_of, simple_heap, simple_value, udp_socket

TIMEOUT = 10.0
run_in_thread = functools.partial(udp_support.run_in_thread, timeout=TIMEOUT)
MiB = 1 << 20


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class RingWatcher:
    """Samples a stream's ring size in the background; ``max_size`` is the largest seen."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.max_size = 0
        self.samples = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.max_size = max(self.max_size, self.stream.ringbuffer.size())
            self.samples += 1
            time.sleep(0.001)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(TIMEOUT)


def test_full_speed_into_stalled_consumer(thread_pool, make_stream):
    """Phase 1: 128 MiB at full speed while nobody reads.  The ring never holds more
    than its capacity, memory does not grow with the data sent, losses are counted.
    Phase 2: the consumer resumes and a rate-limited sender's heaps all arrive."""
    capacity = 4
    sock = udp_socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    stream = make_stream(spead2.ThreadPool(1), spead2.recv.StreamConfig(max_heaps=4),
                         spead2.recv.RingStreamConfig(heaps=capacity))
    assert stream.ringbuffer.capacity() == capacity
    stream.add_udp_reader(sock, max_size=9200)
    port = port_of(sock)
    sock.close()
    watcher = RingWatcher(stream)

    # Phase 1: full speed, consumer stalled.
    heap_size = 64 * 1024
    n1 = 2048  # 128 MiB
    sender = spead2.send.UdpStream(thread_pool, [("127.0.0.1", port)],
                                   spead2.send.StreamConfig(max_packet_size=8972, rate=0, max_heaps=8))
    heaps1 = [simple_heap(i, heap_size) for i in range(4)]
    packets_per_heap = len(udp_support.packets(heaps1[0], 1, 8972))
    rss_before = rss_bytes()

    def blast():
        for i in range(n1):
            sender.send_heap(heaps1[i % 4], cnt=i + 1)

    run_in_thread(blast, timeout=60)
    time.sleep(0.2)  # let the reader catch up with what the socket still holds
    rss_growth = rss_bytes() - rss_before
    assert stream.ringbuffer.size() <= capacity
    # worker_blocked is counted at once; the other statistics at the end of a batch,
    # which the blocked reader has not reached yet.
    assert stream.stats["worker_blocked"] >= 1
    assert rss_growth < 64 * MiB, f"memory grew by {rss_growth / MiB:.1f} MiB while 128 MiB were sent"

    # The consumer resumes: what the ring holds (and what the reader then takes from the
    # socket's backlog) are complete, intact phase-1 heaps.
    received1 = []
    while True:
        try:
            heap = stream.get_nowait()
        except spead2.Empty:
            time.sleep(0.05)
            try:
                heap = stream.get_nowait()
            except spead2.Empty:
                break
        received1.append(heap)
    assert len(received1) >= 1
    assert len(received1) < n1
    for heap in received1:
        assert 1 <= heap.cnt <= n1
        assert simple_value(heap) == ((heap.cnt - 1) % 4, heap_size)

    # Phase 2: a rate-limited sender; a consumer thread reads concurrently.
    collector = udp_support.Collector(stream, check=False)
    n2 = 30
    sender2 = spead2.send.UdpStream(thread_pool, [("127.0.0.1", port)],
                                    spead2.send.StreamConfig(max_packet_size=8972, rate=2e7))

    def phase2():
        for i in range(n2):
            sender2.send_heap(simple_heap(100 + i, 16384), cnt=10000 + i)
        sender2.send_heap(spead2.send.ItemGroup().get_end(), cnt=20000)

    run_in_thread(phase2)
    collector.join()
    watcher.stop()
    phase2_cnts = [c for c in collector.cnts if c >= 10000]
    assert phase2_cnts == [10000 + i for i in range(n2)]
    assert watcher.max_size <= capacity
    assert watcher.samples > 10
    final = stream.stats
    lost = final["transport_dropped_packets"] + final["incomplete_heaps_evicted"]
    assert lost > 0, dict(final.items())
    assert final["heaps"] >= len(received1) + len(collector.cnts)
    assert final["worker_blocked"] >= 1
    # On loopback the only loss is the socket's full buffer, which the kernel counts:
    # every datagram sent was either received or counted as dropped.
    sent_packets = (n1 * packets_per_heap + n2 * len(udp_support.packets(simple_heap(0, 16384), 1, 8972))
                    + len(udp_support.packets(spead2.send.ItemGroup().get_end(), 1, 8972)))
    assert final["packets"] + final["transport_dropped_packets"] == sent_packets, dict(final.items())
    assert final["malformed_packets"] == 0


def test_stop_while_worker_blocked_on_full_ring(thread_pool, make_stream):
    """stop() returns promptly even though the reader is blocked on a full ring and
    datagrams keep arriving; afterwards the ring's heaps can still be read, then Stopped."""
    sock = udp_socket()
    stream = make_stream(spead2.ThreadPool(1), spead2.recv.StreamConfig(),
                         spead2.recv.RingStreamConfig(heaps=2))
    stream.add_udp_reader(sock)
    port = port_of(sock)
    sock.close()
    sender = spead2.send.UdpStream(thread_pool, [("127.0.0.1", port)],
                                   spead2.send.StreamConfig(rate=0))
    stop_sending = threading.Event()

    def keep_sending():
        i = 0
        while not stop_sending.is_set() and i < 100000:
            try:
                sender.send_heap(simple_heap(i, 1000), cnt=i + 1)
            except OSError:
                pass
            i += 1

    feeder = threading.Thread(target=keep_sending, daemon=True)
    feeder.start()
    try:
        assert udp_support.poll(lambda: stream.stats["worker_blocked"] >= 1, timeout=TIMEOUT)
        t0 = time.monotonic()
        run_in_thread(stream.stop, timeout=3.0)
        assert time.monotonic() - t0 < 3.0
    finally:
        stop_sending.set()
        feeder.join(TIMEOUT)
    heaps = udp_support.drain(stream)
    assert 1 <= len(heaps) <= 2
    for heap in heaps:
        assert simple_value(heap) == ((heap.cnt - 1) % 256, 1000)
    with pytest.raises(spead2.Stopped):
        stream.get_nowait()


def test_single_thread_pool_serves_readers_and_sender():
    """ThreadPool(1) runs 4 UDP readers (2 streams x 2 sockets) and a rate-limited sender:
    every stream gets every heap sent to its readers, and the sender's achieved rate
    over >= 0.5 s is within [90 %, 105 %] of the configured one."""
    pool = spead2.ThreadPool(1)
    socks = [udp_socket(rcvbuf=16 * MiB) for _ in range(4)]
    streams = [spead2.recv.Stream(pool, spead2.recv.StreamConfig(max_heaps=8),
                                  spead2.recv.RingStreamConfig(heaps=16)) for _ in range(2)]
    for i, s in enumerate(socks):
        streams[i // 2].add_udp_reader(s)
    endpoints = [("127.0.0.1", port_of(s)) for s in socks]
    for s in socks:
        s.close()
    collectors = [udp_support.Collector(st, check=False) for st in streams]
    rate = 4e7
    heap_size = 32 * 1024
    sender = spead2.send.UdpStream(pool, endpoints,
                                   spead2.send.StreamConfig(max_packet_size=8972, rate=rate))
    heaps = [simple_heap(i, heap_size) for i in range(4)]
    result: dict = {}

    def send_for_a_while():
        # Two threads keep the stream's queue non-empty, so the achieved rate is the rate
        # limiter's (and the pool's), not that of Python waking up between heaps.
        lock = threading.Lock()
        state = {"next": 0, "total": 0}
        start = time.monotonic()

        def worker():
            while time.monotonic() - start < 0.6:
                with lock:
                    index = state["next"]
                    state["next"] += 1
                n = sender.send_heap(heaps[index % 4], cnt=index + 1, substream_index=index % 4)
                with lock:
                    state["total"] += n

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result["elapsed"] = time.monotonic() - start
        result["total"] = state["total"]
        result["count"] = state["next"]
        # One end-of-stream heap to each stream (through its first reader).
        for substream in (0, 2):
            sender.send_heap(spead2.send.ItemGroup().get_end(), cnt=1_000_000 + substream,
                             substream_index=substream)

    try:
        run_in_thread(send_for_a_while, timeout=TIMEOUT + 5)
        for c in collectors:
            c.join()
    finally:
        for st in streams:
            run_in_thread(st.stop)
    count = result["count"]
    achieved = result["total"] / result["elapsed"]
    assert 0.9 * rate <= achieved <= 1.05 * rate, f"achieved {achieved:.4g} B/s for a configured {rate:.4g}"
    expected = [
        sorted(c for c in range(1, count + 1) if (c - 1) % 4 in (0, 1)),
        sorted(c for c in range(1, count + 1) if (c - 1) % 4 in (2, 3)),
    ]
    for collector, want in zip(collectors, expected):
        assert sorted(collector.cnts) == want
    for stream in streams:
        assert stream.stats["transport_dropped_packets"] == 0
