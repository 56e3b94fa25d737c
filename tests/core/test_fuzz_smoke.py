"""Smoke test for the receive fuzz target (fuzz/), runnable without clang.

Replays every reproducer in ``fuzz/crashes/`` (if any) and every seed input of the
fuzz corpus (``fuzz/corpus.py``: each test vector and each single packet of it)
through the installed Python API only -- ``spead2.recv.Stream`` with
``add_buffer_reader`` -- configured from the input's two-byte header exactly as
``fuzz/fuzz_recv.cpp`` does.  Every heap is drained and every item byte, descriptor
and statistic is read; a crash of the library would take the test run down, a hang is
turned into a failure by a watchdog, and the same cheap statistics cross-checks as the
fuzz target are asserted.
"""

import importlib.util
import pathlib
import threading

import pytest

import spead2
import spead2.recv

REPO = pathlib.Path(__file__).resolve().parents[2]
FUZZ_DIR = REPO / "fuzz"
CRASH_DIR = FUZZ_DIR / "crashes"
TIMEOUT = 30.0


def _load_corpus_module():
    spec = importlib.util.spec_from_file_location("spead2_fuzz_corpus", FUZZ_DIR / "corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus = _load_corpus_module()


def _crash_inputs():
    if not CRASH_DIR.is_dir():
        return []
    return sorted(p for p in CRASH_DIR.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix not in (".md", ".txt"))


CRASHES = _crash_inputs()
SEEDS = corpus.seed_inputs()


@pytest.fixture(scope="module")
def thread_pool():
    return spead2.ThreadPool(1)


def replay(thread_pool, data: bytes) -> None:
    stream_kw, ring_kw, packets = corpus.decode_header(data)
    config = spead2.recv.StreamConfig(**stream_kw)
    ring_config = spead2.recv.RingStreamConfig(**ring_kw)
    stream = spead2.recv.Stream(thread_pool, config, ring_config)
    expired = threading.Event()

    def expire():
        expired.set()
        stream.stop()

    watchdog = threading.Timer(TIMEOUT, expire)
    watchdog.daemon = True
    watchdog.start()
    delivered = 0
    checksum = 0
    try:
        stream.add_buffer_reader(packets)
        for heap in stream:
            delivered += 1
            checksum += heap.cnt
            for item in heap.get_items():
                checksum += item.id + item.immediate_value + sum(bytes(memoryview(item)))
            checksum += heap.is_start_of_stream() + heap.is_end_of_stream()
            if isinstance(heap, spead2.recv.Heap):
                for d in heap.get_descriptors():
                    checksum += d.id + len(d.name) + len(d.description) + len(d.numpy_header)
                    checksum += len(d.format) + len(d.shape)
            else:
                checksum += heap.heap_length + heap.received_length + len(heap.payload_ranges)
    finally:
        watchdog.cancel()
        stream.stop()
    assert not expired.is_set(), f"stream not drained within {TIMEOUT} s ({delivered} heaps so far)"

    values = stream.stats
    assert checksum >= 0
    assert delivered <= values["heaps"]
    if not ring_kw["contiguous_only"]:
        assert delivered == values["heaps"]
    assert values["incomplete_heaps_evicted"] + values["incomplete_heaps_flushed"] <= values["heaps"]
    assert values["rejected_packets"] <= values["packets"]
    assert values["malformed_packets"] <= 1
    decodable = corpus.split_packets(packets)
    assert values["packets"] <= len(decodable)
    if not stream_kw["stop_on_stop_item"]:
        assert values["packets"] == len(decodable)
        consumed = sum(len(p) for p in decodable)
        assert values["malformed_packets"] == (1 if consumed < len(packets) else 0)


def test_seeds_found():
    """The vectors are part of the repository, so there are always seeds to replay."""
    assert SEEDS, "no seed inputs: tests/vectors/*.bin missing?"


@pytest.mark.parametrize("path", CRASHES, ids=[p.name for p in CRASHES])
def test_crash_reproducer(thread_pool, path):
    replay(thread_pool, path.read_bytes())


@pytest.mark.parametrize("data", [value for _, value in SEEDS], ids=[name for name, _ in SEEDS])
def test_seed(thread_pool, data):
    replay(thread_pool, data)


def test_header_round_trip():
    """corpus.py's header encoding is the inverse of its decoding (the fuzz target's layout)."""
    for b0 in range(256):
        for b1 in range(32):
            stream_kw, ring_kw, rest = corpus.decode_header(bytes([b0, b1]) + b"xyz")
            assert rest == b"xyz"
            assert corpus.encode_header(stream_kw, ring_kw) == bytes([b0, b1])
