"""Tests for the in-process transport (spec python-api.md §1.7, §2.12, §4.5, §4.8).

Covers spead2.InprocQueue (copy semantics, argument checking, stop),
spead2.send.InprocStream (queues, substream routing, errors) and
spead2.recv.Stream.add_inproc_reader (end of stream, late receivers, several
receivers on one queue, explicit start, heap contents and statistics).

Every call that could block runs in a helper thread with a timeout, and every
receive stream made through the ``make_stream`` fixture is stopped at teardown.
"""

from __future__ import annotations

import errno
import functools
import gc
import threading
import time

import numpy as np
import pytest

import spead2
import spead2.recv
import spead2.send
import spead2.send.asyncio
import support

TIMEOUT = 5.0

run_in_thread = functools.partial(support.run_in_thread, timeout=TIMEOUT)
drain = functools.partial(support.drain, timeout=TIMEOUT)
poll = functools.partial(support.poll, timeout=TIMEOUT)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def scalar_heap(value: int, flavour: spead2.Flavour | None = None) -> spead2.send.Heap:
    """A heap with a single 8-byte item (id 0x1000) holding ``value``; no descriptors."""
    heap = spead2.send.Heap(flavour) if flavour is not None else spead2.send.Heap()
    item = spead2.Item(0x1000, "value", "", shape=(), format=[("u", 64)], value=value)
    heap.add_item(item)
    return heap


def heap_value(heap) -> int:
    """The value sent by ``scalar_heap`` (decoded from the raw item)."""
    items = [item for item in heap.get_items() if item.id == 0x1000]
    assert len(items) == 1
    return int.from_bytes(bytes(items[0]), "big")


def packets_of(heap, cnt: int, max_packet_size: int = 1472) -> list[bytes]:
    return [bytes(p) for p in spead2.send.PacketGenerator(heap, cnt, max_packet_size)]


def undecodable_packets(n: int) -> list[bytes]:
    """``n`` packets that fail decoding: zeros, a bad version, a truncated payload."""
    (good,) = packets_of(scalar_heap(0), 99)
    kinds = [bytes(16), good[:1] + b"\x05" + good[2:], good[:-1]]
    return [kinds[i % len(kinds)] for i in range(n)]


def unsized_packets(n: int) -> list[bytes]:
    """``n`` well-formed single-packet heaps (cnts 100, 101, …) lacking HEAP_LENGTH."""
    return [support.raw_packet(100 + i, bytes(8), 0, None, [0x1000 << 40]) for i in range(n)]


# --------------------------------------------------------------------------
# InprocQueue
# --------------------------------------------------------------------------


class TestInprocQueue:
    def test_add_packet_copies_data(self, queue, make_stream):
        payload = np.arange(1, 65, dtype=np.uint8)
        heap = spead2.send.Heap()
        heap.add_item(spead2.Item(0x1000, "a", "", shape=(64,), dtype=np.uint8, value=payload))
        (packet,) = packets_of(heap, 7)
        buf = bytearray(packet)
        queue.add_packet(buf)
        # Overwrite the payload (the last 64 bytes) of the source after queueing it.
        buf[-64:] = bytes(64)
        (packet8,) = packets_of(heap, 8)
        arr = np.frombuffer(packet8, np.uint8).copy()
        queue.add_packet(arr)  # a numpy source this time
        arr[-64:] = 0xFF
        queue.stop()
        stream = make_stream(spead2.ThreadPool(), spead2.recv.StreamConfig(max_heaps=1))
        stream.add_inproc_reader(queue)
        heaps = drain(stream)
        assert sorted(h.cnt for h in heaps) == [7, 8]
        for received in heaps:
            raw = [item for item in received.get_items() if item.id == 0x1000]
            assert len(raw) == 1
            np.testing.assert_array_equal(np.asarray(raw[0]), payload)

    def test_add_packet_accepts_any_buffer(self, queue, make_stream):
        # The packet length (8 header + 5 * 8 pointers + 8 payload) is a multiple
        # of 8, so it can be viewed as an array of uint64 / a 2-D array.
        heap = scalar_heap(0x0102030405060708)
        (packet,) = packets_of(heap, 1)
        assert len(packet) % 8 == 0
        queue.add_packet(memoryview(packet))
        (packet2,) = packets_of(heap, 2)
        queue.add_packet(np.frombuffer(packet2, np.uint64))
        (packet3,) = packets_of(heap, 3)
        queue.add_packet(np.frombuffer(packet3, np.uint8).reshape(-1, 8))
        (packet4,) = packets_of(heap, 4)
        queue.add_packet(bytearray(packet4))
        queue.stop()
        stream = make_stream()
        stream.add_inproc_reader(queue)
        heaps = drain(stream)
        assert sorted(h.cnt for h in heaps) == [1, 2, 3, 4]
        assert all(heap_value(h) == 0x0102030405060708 for h in heaps)

    def test_add_packet_positional_only(self, queue):
        (packet,) = packets_of(scalar_heap(1), 1)
        with pytest.raises(TypeError):
            queue.add_packet(packet=packet)
        queue.add_packet(packet)  # positional is fine

    def test_add_packet_non_contiguous(self, queue):
        arr = np.zeros((16, 16), np.uint8)[:, ::2]
        assert not arr.flags.c_contiguous
        with pytest.raises(ValueError, match="ndarray is not C-contiguous"):
            queue.add_packet(arr)

    @pytest.mark.parametrize("bad", ["a string", 12345, None, [1, 2, 3]])
    def test_add_packet_not_a_buffer(self, queue, bad):
        with pytest.raises(TypeError):
            queue.add_packet(bad)

    def test_add_packet_after_stop(self):
        q = spead2.InprocQueue()
        q.stop()
        (packet,) = packets_of(scalar_heap(1), 1)
        with pytest.raises(spead2.Stopped):
            q.add_packet(packet)

    def test_stop_idempotent(self, make_stream):
        q = spead2.InprocQueue()
        q.add_packet(packets_of(scalar_heap(5), 1)[0])
        q.stop()
        q.stop()
        q.stop()
        stream = make_stream()
        stream.add_inproc_reader(q)
        heaps = drain(stream)
        assert [heap_value(h) for h in heaps] == [5]
        q.stop()

    def test_several_senders_one_queue(self, queue, make_stream, thread_pool):
        streams = [spead2.send.InprocStream(thread_pool, [queue]) for _ in range(3)]
        for i, s in enumerate(streams):
            s.set_cnt_sequence(i + 1, 3)
        for round_ in range(4):
            for i, s in enumerate(streams):
                run_in_thread(s.send_heap, scalar_heap(100 * i + round_))
        queue.stop()
        stream = make_stream()
        stream.add_inproc_reader(queue)
        heaps = drain(stream)
        assert sorted(h.cnt for h in heaps) == list(range(1, 13))
        assert sorted(heap_value(h) for h in heaps) == sorted(
            100 * i + r for i in range(3) for r in range(4)
        )


# --------------------------------------------------------------------------
# InprocStream
# --------------------------------------------------------------------------


class TestInprocStream:
    def test_queues_identity_and_order(self, thread_pool):
        queues = [spead2.InprocQueue() for _ in range(3)]
        stream = spead2.send.InprocStream(thread_pool, queues)
        got = stream.queues
        assert len(got) == 3
        for a, b in zip(got, queues):
            assert a is b
        assert stream.num_substreams == 3
        # Returned repeatedly as the same objects.
        assert all(a is b for a, b in zip(stream.queues, queues))

    def test_queues_read_only(self, thread_pool, queue):
        stream = spead2.send.InprocStream(thread_pool, [queue])
        with pytest.raises(AttributeError):
            stream.queues = [spead2.InprocQueue()]

    def test_num_substreams_single(self, thread_pool, queue):
        stream = spead2.send.InprocStream(thread_pool, [queue])
        assert stream.num_substreams == 1

    def test_queues_empty(self, thread_pool):
        with pytest.raises(ValueError, match="queues is empty"):
            spead2.send.InprocStream(thread_pool, [])

    def test_keyword_arguments(self, thread_pool, queue):
        config = spead2.send.StreamConfig(max_packet_size=9000)
        stream = spead2.send.InprocStream(thread_pool=thread_pool, queues=[queue], config=config)
        assert stream.queues[0] is queue

    def test_thread_pool_none(self, queue):
        with pytest.raises(TypeError):
            spead2.send.InprocStream(None, [queue])

    def test_queues_wrong_type(self, thread_pool):
        with pytest.raises(TypeError):
            spead2.send.InprocStream(thread_pool, [object()])

    @pytest.mark.parametrize("cls", [spead2.send.InprocStream, spead2.send.asyncio.InprocStream], ids=["sync", "asyncio"])
    @pytest.mark.parametrize("position", [0, 1])
    def test_queues_none(self, thread_pool, cls, position):
        # A None queue used to be accepted, and the first send then crashed.
        queues = [spead2.InprocQueue()]
        queues.insert(position, None)
        with pytest.raises(TypeError, match=rf"queues\[{position}\] must be a spead2.InprocQueue, not None"):
            cls(thread_pool, queues)

    def test_keeps_queues_alive(self, thread_pool, make_stream):
        stream = spead2.send.InprocStream(thread_pool, [spead2.InprocQueue()])
        gc.collect()
        q = stream.queues[0]
        run_in_thread(stream.send_heap, scalar_heap(42))
        q.stop()
        rx = make_stream()
        rx.add_inproc_reader(q)
        assert [heap_value(h) for h in drain(rx)] == [42]

    def test_substream_routing(self, thread_pool, make_stream):
        queues = [spead2.InprocQueue() for _ in range(3)]
        stream = spead2.send.InprocStream(thread_pool, queues)
        for i in (2, 0, 1, 2):
            run_in_thread(stream.send_heap, scalar_heap(1000 + i), substream_index=i)
        for q in queues:
            q.stop()
        received = []
        for q in queues:
            rx = make_stream()
            rx.add_inproc_reader(q)
            received.append([heap_value(h) for h in drain(rx)])
        assert received == [[1000], [1001], [1002, 1002]]

    def test_send_heaps_routing(self, thread_pool, make_stream):
        queues = [spead2.InprocQueue() for _ in range(2)]
        stream = spead2.send.InprocStream(thread_pool, queues)
        refs = [
            spead2.send.HeapReference(scalar_heap(10), cnt=10, substream_index=1),
            spead2.send.HeapReference(scalar_heap(11), cnt=11, substream_index=0),
            spead2.send.HeapReference(scalar_heap(12), cnt=12, substream_index=1),
        ]
        n = run_in_thread(stream.send_heaps, refs, spead2.send.GroupMode.ROUND_ROBIN)
        assert n > 0
        for q in queues:
            q.stop()
        got = []
        for q in queues:
            rx = make_stream()
            rx.add_inproc_reader(q)
            got.append(sorted((h.cnt, heap_value(h)) for h in drain(rx)))
        assert got == [[(11, 11)], [(10, 10), (12, 12)]]

    def test_bad_substream(self, thread_pool, queue):
        stream = spead2.send.InprocStream(thread_pool, [queue])
        with pytest.raises(OSError) as info:
            run_in_thread(stream.send_heap, scalar_heap(1), substream_index=1)
        assert info.value.errno == errno.EINVAL

    def test_send_returns_bytes(self, thread_pool, queue):
        stream = spead2.send.InprocStream(thread_pool, [queue])
        heap = scalar_heap(1)
        expected = sum(len(p) for p in packets_of(heap, 1))
        assert run_in_thread(stream.send_heap, heap) == expected

    def test_send_to_stopped_queue(self, thread_pool):
        q = spead2.InprocQueue()
        stream = spead2.send.InprocStream(thread_pool, [q])
        q.stop()
        with pytest.raises(OSError) as info:
            run_in_thread(stream.send_heap, scalar_heap(1))
        assert info.value.errno == errno.ECANCELED
        # The stream is still usable afterwards (the next error is reported again).
        with pytest.raises(OSError) as info:
            run_in_thread(stream.send_heap, scalar_heap(2))
        assert info.value.errno == errno.ECANCELED

    def test_send_to_one_stopped_queue(self, thread_pool, make_stream):
        good = spead2.InprocQueue()
        bad = spead2.InprocQueue()
        stream = spead2.send.InprocStream(thread_pool, [good, bad])
        bad.stop()
        with pytest.raises(OSError) as info:
            run_in_thread(stream.send_heap, scalar_heap(1), substream_index=1)
        assert info.value.errno == errno.ECANCELED
        run_in_thread(stream.send_heap, scalar_heap(2), substream_index=0)
        good.stop()
        rx = make_stream()
        rx.add_inproc_reader(good)
        assert [heap_value(h) for h in drain(rx)] == [2]


# --------------------------------------------------------------------------
# add_inproc_reader
# --------------------------------------------------------------------------


class TestInprocReader:
    def test_stops_when_queue_stopped_and_drained(self, thread_pool, queue, make_stream):
        stream = make_stream()
        stream.add_inproc_reader(queue)
        sender = spead2.send.InprocStream(thread_pool, [queue])
        for i in range(3):
            run_in_thread(sender.send_heap, scalar_heap(i))
        # Not stopped yet: after the three heaps the stream must still be running.
        got = [run_in_thread(stream.get) for _ in range(3)]
        assert [heap_value(h) for h in got] == [0, 1, 2]
        with pytest.raises(spead2.Empty):
            stream.get_nowait()
        queue.stop()
        with pytest.raises(spead2.Stopped):
            run_in_thread(stream.get)

    def test_blocked_get_released_by_queue_stop(self, queue, make_stream):
        stream = make_stream()
        stream.add_inproc_reader(queue)
        result: dict = {}

        def getter():
            try:
                stream.get()
            except BaseException as exc:  # noqa: BLE001
                result["exc"] = exc

        thread = threading.Thread(target=getter, daemon=True)
        thread.start()
        time.sleep(0.1)
        assert thread.is_alive()
        queue.stop()
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "get() still blocked after the queue was stopped"
        assert isinstance(result.get("exc"), spead2.Stopped)

    def test_queue_stopped_empty(self, make_stream):
        q = spead2.InprocQueue()
        q.stop()
        stream = make_stream()
        stream.add_inproc_reader(q)
        assert drain(stream) == []

    def test_remaining_packets_delivered_after_stop(self, thread_pool, make_stream):
        q = spead2.InprocQueue()
        sender = spead2.send.InprocStream(thread_pool, [q])
        heap = spead2.send.Heap()
        value = np.arange(100000, dtype=np.uint32)
        heap.add_item(spead2.Item(0x1000, "a", "", shape=value.shape, dtype=value.dtype, value=value))
        for _ in range(5):
            run_in_thread(sender.send_heap, heap)
        q.stop()
        # Small ring: the reader must keep draining the stopped queue.
        stream = make_stream(thread_pool, spead2.recv.StreamConfig(), spead2.recv.RingStreamConfig(heaps=1))
        stream.add_inproc_reader(q)
        heaps = drain(stream)
        assert [h.cnt for h in heaps] == [1, 2, 3, 4, 5]
        for h in heaps:
            (raw,) = [item for item in h.get_items() if item.id == 0x1000]
            np.testing.assert_array_equal(np.frombuffer(raw, value.dtype), value)

    def test_send_before_receiver_exists(self, thread_pool, make_stream):
        q = spead2.InprocQueue()
        sender = spead2.send.InprocStream(thread_pool, [q])
        ig = spead2.send.ItemGroup()
        ig.add_item(0x1000, "x", "", shape=(), format=[("u", 32)])
        for i in range(50):
            ig["x"].value = i
            run_in_thread(sender.send_heap, ig.get_heap())
        run_in_thread(sender.send_heap, ig.get_end())
        del sender
        q.stop()
        stream = make_stream(spead2.ThreadPool(), spead2.recv.StreamConfig(max_heaps=2))
        stream.add_inproc_reader(q)
        rig = spead2.ItemGroup()
        values = []
        for heap in drain(stream):
            rig.update(heap)
            values.append(rig["x"].value)
        assert values == list(range(50))

    def test_stop_item_stops_stream_without_queue_stop(self, thread_pool, queue, make_stream):
        stream = make_stream()
        stream.add_inproc_reader(queue)
        sender = spead2.send.InprocStream(thread_pool, [queue])
        ig = spead2.send.ItemGroup()
        ig.add_item(0x1000, "x", "", shape=(), format=[("u", 32)], value=7)
        run_in_thread(sender.send_heap, ig.get_heap())
        run_in_thread(sender.send_heap, ig.get_end())
        heaps = drain(stream)
        assert len(heaps) == 1

    def test_two_receivers_one_queue(self, make_stream):
        n = 400
        q = spead2.InprocQueue()
        streams = [
            make_stream(spead2.ThreadPool(), spead2.recv.StreamConfig(), spead2.recv.RingStreamConfig(heaps=n))
            for _ in range(2)
        ]
        for s in streams:
            s.add_inproc_reader(q)
        for i in range(n):
            q.add_packet(packets_of(scalar_heap(i), i + 1)[0])
        q.stop()
        results = [drain(s) for s in streams]
        cnts = [[h.cnt for h in r] for r in results]
        values = [[heap_value(h) for h in r] for r in results]
        for c, v in zip(cnts, values):
            assert [x - 1 for x in c] == v  # every heap intact
        all_cnts = cnts[0] + cnts[1]
        assert len(all_cnts) == n, "packets were lost or duplicated"
        assert sorted(all_cnts) == list(range(1, n + 1))
        assert not set(cnts[0]) & set(cnts[1])
        # Each receiver's share arrives in queue order.
        for c in cnts:
            assert c == sorted(c)

    def test_explicit_start(self, thread_pool, make_stream):
        q = spead2.InprocQueue()
        sender = spead2.send.InprocStream(thread_pool, [q])
        for i in range(3):
            run_in_thread(sender.send_heap, scalar_heap(i))
        q.stop()
        stream = make_stream(spead2.ThreadPool(), spead2.recv.StreamConfig(explicit_start=True))
        stream.add_inproc_reader(q)
        time.sleep(0.2)
        # Nothing read yet, and (importantly) the stream has not stopped either.
        with pytest.raises(spead2.Empty):
            stream.get_nowait()
        assert stream.stats["packets"] == 0
        stream.start()
        assert [heap_value(h) for h in drain(stream)] == [0, 1, 2]
        assert stream.stats["packets"] == 3

    def test_explicit_start_add_after_start(self, make_stream):
        stream = make_stream(spead2.ThreadPool(), spead2.recv.StreamConfig(explicit_start=True))
        q1 = spead2.InprocQueue()
        stream.add_inproc_reader(q1)
        stream.start()
        with pytest.raises(RuntimeError, match="Cannot add readers after explicit start"):
            stream.add_inproc_reader(spead2.InprocQueue())
        q1.stop()
        assert drain(stream) == []

    def test_add_reader_after_stop_ignored(self, make_stream):
        stream = make_stream()
        run_in_thread(stream.stop)
        q = spead2.InprocQueue()
        q.add_packet(packets_of(scalar_heap(1), 1)[0])
        stream.add_inproc_reader(q)
        q.stop()
        with pytest.raises(spead2.Stopped):
            run_in_thread(stream.get)

    def test_add_reader_wrong_type(self, make_stream):
        stream = make_stream()
        with pytest.raises(TypeError):
            stream.add_inproc_reader(None)
        with pytest.raises(TypeError):
            stream.add_inproc_reader(b"not a queue")

    def test_item_group_roundtrip_large(self, thread_pool, make_stream):
        rng = np.random.default_rng(1)
        big_u8 = rng.integers(0, 256, size=1 << 20, dtype=np.uint8)  # 1 MiB
        big_f64 = rng.standard_normal((512, 256))  # 1 MiB of float64, 2-D
        big_i16 = rng.integers(-30000, 30000, size=(1 << 19,), dtype=np.int16).astype(">i2")  # 1 MiB
        ig = spead2.send.ItemGroup()
        ig.add_item(0x1000, "u8", "bytes", shape=big_u8.shape, dtype=big_u8.dtype, value=big_u8)
        ig.add_item(0x1001, "f64", "floats", shape=big_f64.shape, dtype=big_f64.dtype, value=big_f64)
        ig.add_item(0x1002, "i16", "big-endian", shape=big_i16.shape, dtype=big_i16.dtype, value=big_i16)
        ig.add_item(0x1003, "name", "a string", shape=(None,), format=[("c", 8)], value="hello inproc")
        ig.add_item(0x1004, "scalar", "", shape=(), format=[("u", 32)], value=123456)
        ig.add_item(0x1005, "fortran", "", shape=(3, 4), dtype=np.dtype("<u2"), order="F",
                    value=np.arange(12, dtype="<u2").reshape(3, 4))
        q = spead2.InprocQueue()
        stream = make_stream(thread_pool, spead2.recv.StreamConfig(max_heaps=2))
        stream.add_inproc_reader(q)
        sender = spead2.send.InprocStream(spead2.ThreadPool(), [q], spead2.send.StreamConfig(max_packet_size=9000))
        run_in_thread(sender.send_heap, ig.get_heap(), timeout=20)
        ig["u8"].value = big_u8[::-1].copy()
        run_in_thread(sender.send_heap, ig.get_heap(), timeout=20)
        q.stop()
        heaps = drain(stream, timeout=20)
        assert len(heaps) == 2
        rig = spead2.ItemGroup()
        rig.update(heaps[0])
        assert set(rig.keys()) == {"u8", "f64", "i16", "name", "scalar", "fortran"}
        np.testing.assert_array_equal(rig["u8"].value, big_u8)
        np.testing.assert_array_equal(rig["f64"].value, big_f64)
        assert rig["f64"].value.shape == (512, 256)
        np.testing.assert_array_equal(rig["i16"].value, big_i16)
        assert rig["name"].value == "hello inproc"
        assert rig["scalar"].value == 123456
        np.testing.assert_array_equal(rig["fortran"].value, np.arange(12).reshape(3, 4))
        rig.update(heaps[1])
        np.testing.assert_array_equal(rig["u8"].value, big_u8[::-1])

    def test_stats(self, thread_pool, make_stream):
        q = spead2.InprocQueue()
        sender = spead2.send.InprocStream(thread_pool, [q], spead2.send.StreamConfig(max_packet_size=1024))
        heaps = []
        for size in (8, 5000, 100, 20000):
            heap = spead2.send.Heap()
            heap.add_item(spead2.Item(0x1000, "a", "", shape=(size,), dtype=np.uint8,
                                      value=np.full(size, 3, np.uint8)))
            heaps.append(heap)
        n_packets = 0
        n_single = 0
        for cnt, heap in enumerate(heaps, 1):
            count = len(packets_of(heap, cnt, 1024))
            n_packets += count
            n_single += count == 1
            run_in_thread(sender.send_heap, heap)
        q.stop()
        stream = make_stream()
        stream.add_inproc_reader(q)
        received = drain(stream)
        assert len(received) == 4
        stats = stream.stats
        assert stats["packets"] == n_packets
        assert stats["heaps"] == 4
        assert stats["single_packet_heaps"] == n_single
        assert stats["incomplete_heaps_evicted"] == 0
        assert stats["incomplete_heaps_flushed"] == 0
        assert stats["batches"] >= 1
        assert stats["max_batch"] >= 1

    @pytest.mark.parametrize(
        "bad_packets,config,counted",
        [
            (undecodable_packets, {}, "malformed_packets"),
            (unsized_packets, {"allow_unsized_heaps": False}, "rejected_packets"),
        ],
        ids=["malformed", "rejected"],
    )
    def test_reads_past_bad_packets(self, queue, make_stream, bad_packets, config, counted):
        """Unlike the buffer reader, the inproc reader drops each bad packet, counts it
        (malformed: failed decoding; rejected: refused by heap assembly) and keeps
        reading: a multi-packet heap interleaved with them still arrives intact."""
        value = np.arange(1000, dtype=np.uint16)
        heap = spead2.send.Heap()
        heap.add_item(spead2.Item(0x1000, "a", "", shape=value.shape, dtype=value.dtype, value=value))
        good = packets_of(heap, 1, 512)
        assert len(good) == 5
        for i, packet in enumerate(bad_packets(50)):
            queue.add_packet(packet)
            if i % 10 == 9:
                queue.add_packet(good.pop(0))
        assert not good
        queue.stop()
        stream = make_stream(spead2.ThreadPool(), spead2.recv.StreamConfig(**config))
        stream.add_inproc_reader(queue)
        (received,) = drain(stream)
        assert received.cnt == 1
        (raw,) = [item for item in received.get_items() if item.id == 0x1000]
        np.testing.assert_array_equal(np.frombuffer(raw, value.dtype), value)
        stats = stream.stats
        (other,) = {"malformed_packets", "rejected_packets"} - {counted}
        assert (stats[counted], stats[other], stats["heaps"]) == (50, 0, 1)

    def test_two_queues_one_stream(self, thread_pool, make_stream):
        # End of any lossless reader stops the whole stream (§4.5).
        q1 = spead2.InprocQueue()
        q2 = spead2.InprocQueue()
        stream = make_stream()
        stream.add_inproc_reader(q1)
        stream.add_inproc_reader(q2)
        q1.add_packet(packets_of(scalar_heap(1), 1)[0])
        assert heap_value(run_in_thread(stream.get)) == 1
        q2.add_packet(packets_of(scalar_heap(2), 2)[0])
        assert heap_value(run_in_thread(stream.get)) == 2
        q1.stop()
        with pytest.raises(spead2.Stopped):
            run_in_thread(stream.get)
        q2.stop()

    def test_full_ring_blocks_but_is_lossless(self, thread_pool, make_stream):
        q = spead2.InprocQueue()
        for i in range(20):
            q.add_packet(packets_of(scalar_heap(i), i + 1)[0])
        q.stop()
        stream = make_stream(spead2.ThreadPool(), spead2.recv.StreamConfig(), spead2.recv.RingStreamConfig(heaps=2))
        stream.add_inproc_reader(q)
        assert poll(lambda: stream.stats["worker_blocked"] > 0)
        assert [heap_value(h) for h in drain(stream)] == list(range(20))
