"""Functional tests of the software rate limiter (spec python-api.md §2.2, §2.3, §2.8, §3).

These are *not* performance tests: they only assert lower bounds on elapsed
time (a rate-limited send cannot finish faster than the rate allows, with 5 %
slack for the initial burst and timer granularity), never upper bounds.  The
one exception is ``rate=0`` per heap, which is checked by giving the stream a
rate so low that a limited send would take minutes, and failing if the send
has not finished within a generous timeout.

The rate counts whole packets, headers included, in bytes per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import threading
import time

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.send
import spead2.send.asyncio
from spead2.send import GroupMode, HeapReference, HeapReferenceList, RateMethod

import support

TIMEOUT = 20.0
SLACK = 0.95

run_in_thread = functools.partial(support.run_in_thread, timeout=TIMEOUT)
run_async = functools.partial(support.run_async, timeout=TIMEOUT)


def make_heap(size: int) -> spead2.send.Heap:
    heap = spead2.send.Heap()
    heap.add_item(spead2.Item(0x1000, "data", "", shape=(size,), dtype=np.uint8,
                              value=np.zeros(size, np.uint8)))
    return heap


def timed(fn, *args, **kwargs):
    """(result, elapsed seconds) of ``fn(*args, **kwargs)`` run with a timeout."""

    def call():
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        return result, time.perf_counter() - start

    return run_in_thread(call)


@contextlib.contextmanager
def inproc_sender(config: spead2.send.StreamConfig, n_queues: int = 1):
    """An InprocStream over ``n_queues`` fresh queues, which are stopped on exit."""
    queues = [spead2.InprocQueue() for _ in range(n_queues)]
    try:
        yield spead2.send.InprocStream(spead2.ThreadPool(), queues, config)
    finally:
        for q in queues:
            q.stop()


def send_sync(config: spead2.send.StreamConfig, heaps, n_queues: int = 1, **kwargs):
    """Send ``heaps`` one by one (round-robin over substreams); return (bytes, seconds)."""
    with inproc_sender(config, n_queues) as stream:

        def body():
            total = 0
            for i, heap in enumerate(heaps):
                total += stream.send_heap(heap, substream_index=i % n_queues, **kwargs)
            return total

        return timed(body)


# --------------------------------------------------------------------------
# StreamConfig attributes
# --------------------------------------------------------------------------


class TestConfig:
    def test_defaults(self):
        config = spead2.send.StreamConfig()
        assert config.rate == 0.0
        assert config.burst_size == 65536
        assert config.burst_rate_ratio == 1.05
        assert config.rate_method is RateMethod.AUTO
        assert config.burst_rate == 0.0

    @pytest.mark.parametrize("rate", [0.0, 1.0, 12345.5, 1e9, 3e11])
    @pytest.mark.parametrize("ratio", [1.0, 1.05, 2.5, 100.0])
    def test_burst_rate(self, rate, ratio):
        config = spead2.send.StreamConfig(rate=rate, burst_rate_ratio=ratio)
        assert config.burst_rate == pytest.approx(rate * ratio)
        # Tracks later changes of either attribute.
        config.rate = rate * 2
        assert config.burst_rate == pytest.approx(rate * 2 * ratio)
        config.burst_rate_ratio = ratio + 1
        assert config.burst_rate == pytest.approx(rate * 2 * (ratio + 1))

    def test_burst_rate_read_only(self):
        config = spead2.send.StreamConfig(rate=10.0)
        with pytest.raises(AttributeError):
            config.burst_rate = 5.0
        with pytest.raises(AttributeError):
            spead2.send.StreamConfig(burst_rate=1.0)

    @pytest.mark.parametrize("bad", [-1.0, -1e-9, math.nan, math.inf, -math.inf])
    def test_bad_rate(self, bad):
        with pytest.raises(ValueError, match="rate must be non-negative"):
            spead2.send.StreamConfig(rate=bad)
        config = spead2.send.StreamConfig(rate=5.0)
        with pytest.raises(ValueError):
            config.rate = bad
        assert config.rate == 5.0

    @pytest.mark.parametrize("bad", [0.999, 0.0, -1.0, math.nan, math.inf])
    def test_bad_burst_rate_ratio(self, bad):
        with pytest.raises(ValueError, match="burst rate ratio must be at least 1.0 and finite"):
            spead2.send.StreamConfig(burst_rate_ratio=bad)

    def test_rate_accepts_int(self):
        config = spead2.send.StreamConfig(rate=1000)
        assert config.rate == 1000.0
        assert isinstance(config.rate, float)

    @pytest.mark.parametrize("method", list(RateMethod))
    def test_rate_method_members(self, method):
        config = spead2.send.StreamConfig(rate_method=method)
        assert config.rate_method is method
        other = spead2.send.StreamConfig()
        other.rate_method = method
        assert other.rate_method is method

    def test_rate_method_all_members_covered(self):
        assert {m.name for m in RateMethod} == {"SW", "HW", "AUTO"}

    @pytest.mark.parametrize("bad", [0, 1, "SW", None])
    def test_rate_method_wrong_type(self, bad):
        with pytest.raises(TypeError):
            spead2.send.StreamConfig(rate_method=bad)

    def test_burst_size(self):
        config = spead2.send.StreamConfig(burst_size=0)
        assert config.burst_size == 0
        config.burst_size = 1 << 40
        assert config.burst_size == 1 << 40
        with pytest.raises(TypeError):
            spead2.send.StreamConfig(burst_size=-1)


# --------------------------------------------------------------------------
# Rate limiting behaviour
# --------------------------------------------------------------------------


RATE = 20e6  # bytes per second


class TestLimiting:
    def test_sync_lower_bound(self):
        heaps = [make_heap(256 * 1024) for _ in range(16)]  # 4 MiB payload: >= ~0.21 s
        config = spead2.send.StreamConfig(rate=RATE, max_packet_size=8972)
        total, elapsed = send_sync(config, heaps)
        assert total > 4 * 1024 * 1024
        assert elapsed >= total / RATE * SLACK, (total, elapsed)

    def test_single_large_heap_lower_bound(self):
        heap = make_heap(4 * 1024 * 1024)
        config = spead2.send.StreamConfig(rate=RATE)
        total, elapsed = send_sync(config, [heap])
        assert elapsed >= total / RATE * SLACK, (total, elapsed)

    def test_headers_count(self):
        # Tiny packets: 48 of every 128 bytes are header.  A limiter that only
        # counted payload would finish in about 70 % of the time.
        rate = 4e6
        heap = make_heap(400_000)
        config = spead2.send.StreamConfig(rate=rate, max_packet_size=128)
        total, elapsed = send_sync(config, [heap])
        assert total > 1.4 * 400_000  # sanity: headers really are a big fraction
        # Pauses come between bursts: the first burst_size bytes leave at once.
        assert elapsed >= (total - config.burst_size) / rate * SLACK, (total, elapsed)

    @pytest.mark.parametrize("method", list(RateMethod))
    def test_every_rate_method_limits(self, method):
        # Over the inproc transport every method is done in software.
        heaps = [make_heap(512 * 1024) for _ in range(4)]  # 2 MiB: >= ~0.1 s
        config = spead2.send.StreamConfig(rate=RATE, rate_method=method, max_packet_size=8972)
        total, elapsed = send_sync(config, heaps)
        assert elapsed >= total / RATE * SLACK, (method, total, elapsed)

    def test_rate_shared_across_substreams(self):
        heaps = [make_heap(256 * 1024) for _ in range(12)]  # 3 MiB over 3 queues
        config = spead2.send.StreamConfig(rate=RATE, max_packet_size=8972)
        total, elapsed = send_sync(config, heaps, n_queues=3)
        assert elapsed >= total / RATE * SLACK, (total, elapsed)

    def test_rate_shared_across_substreams_in_one_group(self):
        """One ROUND_ROBIN group interleaves the packets of 3 substreams: a limiter per
        substream would let it out at 3x the rate (sequential sends cannot tell)."""
        n_queues = 3
        config = spead2.send.StreamConfig(rate=RATE, max_packet_size=8972, max_heaps=12)
        refs = HeapReferenceList([HeapReference(make_heap(256 * 1024), substream_index=i % n_queues)
                                  for i in range(12)])  # 3 MiB: >= ~0.15 s
        with inproc_sender(config, n_queues) as stream:
            total, elapsed = timed(stream.send_heaps, refs, GroupMode.ROUND_ROBIN)
        assert total > 3 * 1024 * 1024
        assert elapsed >= total / RATE * SLACK, (total, elapsed)

    def test_per_heap_rate(self):
        # Unlimited stream, limited heaps.
        rate = 10e6
        heaps = [make_heap(256 * 1024) for _ in range(6)]
        config = spead2.send.StreamConfig(max_packet_size=8972)
        total, elapsed = send_sync(config, heaps, rate=rate)
        assert elapsed >= total / rate * SLACK, (total, elapsed)

    def test_per_heap_rate_overrides_stream_rate(self):
        # A very slow stream (1 kB/s: would take ~1 hour) but fast heaps.
        heaps = [make_heap(512 * 1024) for _ in range(4)]
        config = spead2.send.StreamConfig(rate=1000.0, max_packet_size=8972)
        total, elapsed = send_sync(config, heaps, rate=RATE)
        assert elapsed >= total / RATE * SLACK, (total, elapsed)
        # (Completion at all within TIMEOUT shows the stream rate was not used.)

    def test_per_heap_rate_zero_disables_limit(self):
        # At the stream's 1 kB/s, 2 MiB would take over half an hour; with
        # rate=0 for each heap the send must complete (within TIMEOUT).
        heaps = [make_heap(512 * 1024) for _ in range(4)]
        config = spead2.send.StreamConfig(rate=1000.0, max_packet_size=8972)
        total, _ = send_sync(config, heaps, rate=0.0)
        assert total > 2 * 1024 * 1024

    def test_per_heap_rate_negative_uses_stream_rate(self):
        heaps = [make_heap(512 * 1024) for _ in range(4)]
        config = spead2.send.StreamConfig(rate=RATE, max_packet_size=8972)
        total, elapsed = send_sync(config, heaps, rate=-1.0)
        assert elapsed >= total / RATE * SLACK, (total, elapsed)

    def test_zero_rate_heap_between_limited_heaps(self):
        # The unlimited heap does not make the limited ones faster.
        rate = 10e6
        config = spead2.send.StreamConfig(rate=rate, max_packet_size=8972)
        limited = make_heap(1024 * 1024)
        with inproc_sender(config) as stream:

            def body():
                stream.send_heap(make_heap(4 * 1024 * 1024), rate=0.0)
                start = time.perf_counter()
                n = stream.send_heap(limited)
                return n, time.perf_counter() - start

            n, elapsed = run_in_thread(body)
        assert elapsed >= (n - config.burst_size) / rate * SLACK, (n, elapsed)

    def test_send_heaps_group(self):
        refs = [HeapReference(make_heap(256 * 1024)) for _ in range(8)]  # 2 MiB
        config = spead2.send.StreamConfig(rate=RATE, max_packet_size=8972, max_heaps=8)
        with inproc_sender(config) as stream:
            for mode in (GroupMode.SERIAL, GroupMode.ROUND_ROBIN):
                total, elapsed = timed(stream.send_heaps, HeapReferenceList(refs), mode)
                assert elapsed >= total / RATE * SLACK, (mode, total, elapsed)

    def test_send_heaps_per_reference_rate_zero(self):
        refs = [HeapReference(make_heap(256 * 1024), rate=0.0) for _ in range(8)]
        config = spead2.send.StreamConfig(rate=1000.0, max_packet_size=8972, max_heaps=8)
        with inproc_sender(config) as stream:
            total, _ = timed(stream.send_heaps, HeapReferenceList(refs), GroupMode.SERIAL)
        assert total > 2 * 1024 * 1024

    def test_idle_time_earns_no_credit(self):
        # After an idle period only burst_size bytes may go out back to back.
        rate = 10e6
        config = spead2.send.StreamConfig(rate=rate, max_packet_size=8972)
        heap = make_heap(1024 * 1024)
        with inproc_sender(config) as stream:

            def body():
                stream.send_heap(make_heap(1000))
                time.sleep(0.5)  # idle: enough time for 5 MB at the configured rate
                start = time.perf_counter()
                n = stream.send_heap(heap)
                return n, time.perf_counter() - start

            n, elapsed = run_in_thread(body)
        assert elapsed >= (n - config.burst_size) / rate * SLACK, (n, elapsed)

    def test_sleeps_only_between_bursts(self):
        """Within a burst packets go back to back: a 1 MB heap with a 2 MB burst_size
        leaves at once even at 100 kB/s (pacing every packet would take 10 s); the
        pause comes before the next burst."""
        rate = 100e3
        config = spead2.send.StreamConfig(rate=rate, burst_size=2 * 1024 * 1024, max_packet_size=8972)
        stream = spead2.send.InprocStream(spead2.ThreadPool(), [spead2.InprocQueue()], config)
        heap = make_heap(1024 * 1024)
        n, elapsed = timed(stream.send_heap, heap)
        assert elapsed < 0.5 * n / rate, (n, elapsed)
        # Nothing is queued, so destroying the stream (which flushes it) has no pause
        # before a next burst to wait out.
        streams = [stream]
        del stream
        _, destroyed = timed(streams.clear)
        assert destroyed < 0.5 * n / rate, (n, destroyed)

    def test_catch_up_no_faster_than_burst_rate(self):
        """A stream that fell behind (its pool stalled) catches up at the burst rate,
        not all at once. Only a lower bound on time is asserted."""
        rate, ratio = 10e6, 2.0
        pool = spead2.ThreadPool(1)
        # A receive stream on the same one-thread pool, blocked on its full ring,
        # occupies the worker: the sender's first pause (a pool timer) then overruns.
        blocker_queue = spead2.InprocQueue()
        for cnt in (1, 2, 3):
            for packet in spead2.send.PacketGenerator(make_heap(100), cnt, 1472):
                blocker_queue.add_packet(packet)
        blocker = spead2.recv.Stream(pool, spead2.recv.StreamConfig(), spead2.recv.RingStreamConfig(heaps=1))
        blocker.add_inproc_reader(blocker_queue)
        support.poll(lambda: blocker.stats["worker_blocked"] >= 1)

        config = spead2.send.StreamConfig(rate=rate, burst_rate_ratio=ratio, max_packet_size=8972)
        stream = spead2.send.InprocStream(pool, [spead2.InprocQueue()], config)
        heap = make_heap(2 * 1024 * 1024)
        times = {}

        def send():
            n = stream.send_heap(heap)
            times["done"] = time.perf_counter()
            return n

        def release():
            time.sleep(0.4)  # the rate schedule runs ~4 MB ahead meanwhile
            times["release"] = time.perf_counter()
            blocker_queue.stop()
            blocker.stop()

        thread = threading.Thread(target=release)
        thread.start()
        n = run_in_thread(send)
        thread.join()
        # All but the first burst or two was sent after the release, no faster than burst_rate.
        remaining = n - 2 * config.burst_size
        assert times["done"] - times["release"] >= remaining / (rate * ratio) * SLACK, (n, times)

    def test_received_data_intact_when_limited(self):
        q = spead2.InprocQueue()
        config = spead2.send.StreamConfig(rate=RATE, max_packet_size=1500)
        stream = spead2.send.InprocStream(spead2.ThreadPool(), [q], config)
        value = np.random.default_rng(3).integers(0, 256, 300_000, dtype=np.uint8)
        ig = spead2.send.ItemGroup()
        ig.add_item(0x1000, "v", "", shape=value.shape, dtype=value.dtype, value=value)
        run_in_thread(stream.send_heap, ig.get_heap())
        q.stop()
        rx = spead2.recv.Stream(spead2.ThreadPool())
        rx.add_inproc_reader(q)
        heaps = run_in_thread(list, rx)
        rig = spead2.ItemGroup()
        rig.update(heaps[0])
        np.testing.assert_array_equal(rig["v"].value, value)


# --------------------------------------------------------------------------
# asyncio sender
# --------------------------------------------------------------------------


class TestAsyncio:
    def test_asyncio_2mb_at_20mbps(self, queue):
        size = 2_000_000
        heaps = [make_heap(size // 8) for _ in range(8)]
        config = spead2.send.StreamConfig(rate=20e6, max_packet_size=8972, max_heaps=8)

        async def body():
            stream = spead2.send.asyncio.InprocStream(spead2.ThreadPool(), [queue], config)
            start = time.perf_counter()
            futures = [stream.async_send_heap(h) for h in heaps]
            totals = await asyncio.gather(*futures)
            return sum(totals), time.perf_counter() - start

        total, elapsed = run_async(body)
        assert total >= size
        assert elapsed >= 0.09, elapsed
        assert elapsed >= total / 20e6 * SLACK, (total, elapsed)

    def test_asyncio_window(self, queue):
        # The producer pattern from bench/rate_accuracy.py: keep 4 heaps queued.
        config = spead2.send.StreamConfig(rate=RATE, max_packet_size=8972, max_heaps=8)
        heap = make_heap(128 * 1024)

        async def body():
            stream = spead2.send.asyncio.InprocStream(spead2.ThreadPool(), [queue], config)
            window: list = []
            total = 0
            start = time.perf_counter()
            for _ in range(24):  # 3 MiB
                window.append(stream.async_send_heap(heap))
                if len(window) >= 4:
                    total += await window.pop(0)
            total += sum(await asyncio.gather(*window))
            return total, time.perf_counter() - start

        total, elapsed = run_async(body)
        assert elapsed >= total / RATE * SLACK, (total, elapsed)

    def test_asyncio_per_heap_rate_zero(self, queue):
        config = spead2.send.StreamConfig(rate=1000.0, max_packet_size=8972, max_heaps=8)
        heaps = [make_heap(512 * 1024) for _ in range(4)]

        async def body():
            stream = spead2.send.asyncio.InprocStream(spead2.ThreadPool(), [queue], config)
            return sum(await asyncio.gather(*(stream.async_send_heap(h, rate=0.0) for h in heaps)))

        assert run_async(body) > 2 * 1024 * 1024

    def test_asyncio_send_heaps(self, queue):
        config = spead2.send.StreamConfig(rate=RATE, max_packet_size=8972, max_heaps=8)
        refs = HeapReferenceList([HeapReference(make_heap(256 * 1024)) for _ in range(8)])

        async def body():
            stream = spead2.send.asyncio.InprocStream(spead2.ThreadPool(), [queue], config)
            start = time.perf_counter()
            total = await stream.async_send_heaps(refs, GroupMode.ROUND_ROBIN)
            return total, time.perf_counter() - start

        total, elapsed = run_async(body)
        assert elapsed >= total / RATE * SLACK, (total, elapsed)
